//! Borrowed image views (ARCHITECTURE.md "Borders and quantisation"): interleaved f32, 1 to 4 channels, a row stride in bytes
//! that may be negative (bottom-up images) or larger than the row.

/// Why an image description was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageError {
    #[error("image size {width}×{height} is invalid: width and height must be at least 1 and at most {MAX_SIDE}")]
    Size { width: i64, height: i64 },
    #[error("image has {0} channels; 1 to 4 are supported")]
    Channels(i64),
    #[error("row stride {stride} bytes is invalid: {reason}")]
    Stride { stride: i64, reason: String },
    #[error("image buffer holds {have} floats but its rows span {need}")]
    Buffer { have: usize, need: usize },
    #[error("{0}")]
    Mismatch(String),
}

/// Largest width or height accepted (a 64k-pixel side).
pub const MAX_SIDE: i64 = 65536;

/// Checked geometry shared by the views: returns (row stride in floats, offset of row 0 in
/// floats from the start of the buffer, floats the rows span).
pub(crate) fn geometry(
    width: i64,
    height: i64,
    channels: i64,
    row_stride_bytes: i64,
) -> Result<(isize, usize, usize), ImageError> {
    if width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(ImageError::Size { width, height });
    }
    if !(1..=4).contains(&channels) {
        return Err(ImageError::Channels(channels));
    }
    let row_bytes = width * channels * 4;
    let bad = |reason: String| ImageError::Stride { stride: row_stride_bytes, reason };
    if row_stride_bytes % 4 != 0 {
        return Err(bad("not a multiple of 4 (f32 samples)".into()));
    }
    if row_stride_bytes.unsigned_abs() < row_bytes as u64 {
        return Err(bad(format!("smaller than a row of {row_bytes} bytes")));
    }
    let stride = (row_stride_bytes / 4) as i128;
    let span = (height as i128 - 1) * stride.abs() + (width * channels) as i128;
    if span > isize::MAX as i128 / 4 {
        return Err(bad("the rows' span overflows the address space".into()));
    }
    let base = if stride < 0 { (height as i128 - 1) * -stride } else { 0 };
    Ok((stride as isize, base as usize, span as usize))
}

/// A read-only image view.
#[derive(Clone, Copy, Debug)]
pub struct ImageView<'a> {
    data: &'a [f32],
    base: usize,
    stride: isize,
    pub width: usize,
    pub height: usize,
    pub channels: usize,
}

/// A writable image view.
#[derive(Debug)]
pub struct ImageViewMut<'a> {
    data: &'a mut [f32],
    base: usize,
    stride: isize,
    pub width: usize,
    pub height: usize,
    pub channels: usize,
}

/// The element stride and first-row index of a view of a `len`-float buffer, checked to hold
/// every row.
fn layout(
    len: usize,
    width: usize,
    height: usize,
    channels: usize,
    row_stride_bytes: isize,
) -> Result<(isize, usize), ImageError> {
    let (stride, base, span) = geometry(width as i64, height as i64, channels as i64, row_stride_bytes as i64)?;
    if len < span {
        return Err(ImageError::Buffer { have: len, need: span });
    }
    Ok((stride, base))
}

impl<'a> ImageView<'a> {
    /// A view of `data`, which must hold every row. With a negative stride, row 0 is the last
    /// row in memory (the slice starts at the lowest address, row `height − 1`).
    pub fn new(
        data: &'a [f32],
        width: usize,
        height: usize,
        channels: usize,
        row_stride_bytes: isize,
    ) -> Result<Self, ImageError> {
        let (stride, base) = layout(data.len(), width, height, channels, row_stride_bytes)?;
        Ok(ImageView { data, base, stride, width, height, channels })
    }

    /// A tightly packed, top-down view.
    pub fn packed(data: &'a [f32], width: usize, height: usize, channels: usize) -> Result<Self, ImageError> {
        Self::new(data, width, height, channels, (width * channels * 4) as isize)
    }

    /// Row `y` (`width × channels` floats).
    pub fn row(&self, y: usize) -> &'a [f32] {
        let start = (self.base as isize + y as isize * self.stride) as usize;
        &self.data[start..start + self.width * self.channels]
    }

    /// All pixels as one slice, when the rows are packed top-down without gaps.
    pub fn packed_data(&self) -> Option<&'a [f32]> {
        let n = self.width * self.channels;
        (self.stride == n as isize).then(|| &self.data[self.base..self.base + n * self.height])
    }
}

impl<'a> ImageViewMut<'a> {
    /// See [`ImageView::new`].
    pub fn new(
        data: &'a mut [f32],
        width: usize,
        height: usize,
        channels: usize,
        row_stride_bytes: isize,
    ) -> Result<Self, ImageError> {
        let (stride, base) = layout(data.len(), width, height, channels, row_stride_bytes)?;
        Ok(ImageViewMut { data, base, stride, width, height, channels })
    }

    pub fn packed(data: &'a mut [f32], width: usize, height: usize, channels: usize) -> Result<Self, ImageError> {
        Self::new(data, width, height, channels, (width * channels * 4) as isize)
    }

    pub fn row_mut(&mut self, y: usize) -> &mut [f32] {
        let start = (self.base as isize + y as isize * self.stride) as usize;
        let n = self.width * self.channels;
        &mut self.data[start..start + n]
    }

    pub fn row(&self, y: usize) -> &[f32] {
        let start = (self.base as isize + y as isize * self.stride) as usize;
        &self.data[start..start + self.width * self.channels]
    }

    pub fn as_view(&self) -> ImageView<'_> {
        ImageView {
            data: self.data,
            base: self.base,
            stride: self.stride,
            width: self.width,
            height: self.height,
            channels: self.channels,
        }
    }

    /// Splits the view into its rows (top to bottom), for writing rows in parallel.
    pub fn rows_mut(&mut self) -> Vec<&mut [f32]> {
        let n = self.width * self.channels;
        let stride = self.stride.unsigned_abs();
        let mut rows: Vec<&mut [f32]> = self
            .data
            .chunks_mut(stride)
            .map(|c| {
                let len = n.min(c.len());
                &mut c[..len]
            })
            .collect();
        rows.truncate(self.height);
        if self.stride < 0 {
            rows.reverse();
        }
        rows
    }
}

/// An owned, tightly packed image.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub data: Vec<f32>,
}

impl Image {
    pub fn new(width: usize, height: usize, channels: usize) -> Image {
        Image { width, height, channels, data: vec![0.0; width * height * channels] }
    }

    pub fn view(&self) -> ImageView<'_> {
        ImageView::packed(&self.data, self.width, self.height, self.channels).expect("an owned image is consistent")
    }

    pub fn view_mut(&mut self) -> ImageViewMut<'_> {
        ImageViewMut::packed(&mut self.data, self.width, self.height, self.channels)
            .expect("an owned image is consistent")
    }

    pub fn from_view(v: &ImageView) -> Image {
        let mut data = Vec::with_capacity(v.width * v.height * v.channels);
        for y in 0..v.height {
            data.extend_from_slice(v.row(y));
        }
        Image { width: v.width, height: v.height, channels: v.channels, data }
    }

    pub fn pixel(&self, x: usize, y: usize) -> &[f32] {
        let i = (y * self.width + x) * self.channels;
        &self.data[i..i + self.channels]
    }
}

//! Host images at the plugin's edge (ARCHITECTURE.md "Front ends"): their geometry, their bit
//! depth (8-bit, 16-bit or float samples, converted to float on the way in and back on the way
//! out), premultiplication, and a hash of their content for the frame cache.
//!
//! Every read and write of host image memory lives here, each behind a `// SAFETY:` note; the
//! contract relied on: the OpenFX image stays fetched, and every row of its bounds is valid
//! memory, for the duration of the action.

use super::host::{ImageGuard, OfxError, OfxResult};
use super::sys::*;
use crate::image::ImageView;

/// A rectangle in pixel coordinates (y up), half open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rect {
    pub x1: i64,
    pub y1: i64,
    pub x2: i64,
    pub y2: i64,
}

impl Rect {
    pub fn from_ints(r: [i32; 4]) -> Rect {
        Rect { x1: r[0] as i64, y1: r[1] as i64, x2: r[2] as i64, y2: r[3] as i64 }
    }
    pub fn is_empty(&self) -> bool {
        self.x2 <= self.x1 || self.y2 <= self.y1
    }
    pub fn width(&self) -> usize {
        (self.x2 - self.x1).max(0) as usize
    }
    pub fn height(&self) -> usize {
        (self.y2 - self.y1).max(0) as usize
    }
    pub fn intersect(&self, o: &Rect) -> Rect {
        Rect { x1: self.x1.max(o.x1), y1: self.y1.max(o.y1), x2: self.x2.min(o.x2), y2: self.y2.min(o.y2) }
    }
    pub fn grow(&self, d: i64) -> Rect {
        Rect { x1: self.x1 - d, y1: self.y1 - d, x2: self.x2 + d, y2: self.y2 + d }
    }
    pub fn contains(&self, o: &Rect) -> bool {
        o.x1 >= self.x1 && o.y1 >= self.y1 && o.x2 <= self.x2 && o.y2 <= self.y2
    }
}

/// The sample types the plugin takes: 8-bit and 16-bit unsigned (0 … 1 over the full code range)
/// and 32-bit float.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum BitDepth {
    Byte,
    Short,
    Float,
}

impl BitDepth {
    /// Every depth, as declared to hosts (most precise last).
    pub const ALL: [BitDepth; 3] = [BitDepth::Byte, BitDepth::Short, BitDepth::Float];

    /// The OpenFX name (a NUL-terminated constant).
    pub fn ofx(self) -> &'static [u8] {
        match self {
            BitDepth::Byte => kOfxBitDepthByte,
            BitDepth::Short => kOfxBitDepthShort,
            BitDepth::Float => kOfxBitDepthFloat,
        }
    }

    pub fn from_ofx(name: &str) -> Option<BitDepth> {
        BitDepth::ALL.into_iter().find(|d| text(d.ofx()) == name)
    }

    /// Bytes per sample.
    pub fn bytes(self) -> usize {
        match self {
            BitDepth::Byte => 1,
            BitDepth::Short => 2,
            BitDepth::Float => 4,
        }
    }
}

/// A NUL-terminated ABI constant as text.
pub(crate) fn text(c: &[u8]) -> &str {
    std::str::from_utf8(&c[..c.len().saturating_sub(1)]).unwrap_or("")
}

/// The channel count of an OpenFX components name the plugin supports.
pub(crate) fn components_channels(c: &str) -> Option<usize> {
    match c {
        _ if c == text(kOfxImageComponentRGBA) => Some(4),
        _ if c == text(kOfxImageComponentRGB) => Some(3),
        _ if c == text(kOfxImageComponentAlpha) => Some(1),
        _ => None,
    }
}

/// A host image: its memory, bounds (pixel coordinates, bottom-up rows), row stride in bytes,
/// channels, sample type and whether its colour is unpremultiplied.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HostImage {
    data: *mut u8,
    pub bounds: Rect,
    row_bytes: i64,
    pub channels: usize,
    pub depth: BitDepth,
    pub unpremultiplied: bool,
}

impl HostImage {
    /// Reads and checks an image's properties; `unpremultiplied` is the clip's state, used when
    /// the image does not say.
    pub fn from_props(img: &ImageGuard, clip: &str, unpremultiplied: bool) -> OfxResult<HostImage> {
        let p = img.props();
        let depth_name = p.string(kOfxImageEffectPropPixelDepth, 0)?;
        let depth = BitDepth::from_ofx(&depth_name).ok_or_else(|| {
            OfxError::with_status(
                kOfxStatErrUnsupported,
                format!("{clip} image is {depth_name}; 8-bit, 16-bit and 32-bit float images are supported"),
            )
        })?;
        let comps = p.string(kOfxImageEffectPropComponents, 0)?;
        let channels = components_channels(&comps).ok_or_else(|| {
            OfxError::with_status(kOfxStatErrUnsupported, format!("{clip} image has unsupported components {comps}"))
        })?;
        let unpremultiplied = match p.string(kOfxImageEffectPropPreMultiplication, 0) {
            Ok(s) if !s.is_empty() => s == text(kOfxImageUnPreMultiplied),
            _ => unpremultiplied,
        };
        let data = p.pointer(kOfxImagePropData, 0)? as *mut u8;
        let bounds = Rect::from_ints(p.ints::<4>(kOfxImagePropBounds)?);
        let row_bytes = p.int(kOfxImagePropRowBytes, 0)? as i64;
        if data.is_null() {
            return Err(OfxError::failed(format!("{clip} image has no data")));
        }
        if bounds.is_empty() {
            return Err(OfxError::failed(format!("{clip} image has empty bounds")));
        }
        let size = depth.bytes() as i64;
        let row = bounds.width() as i64 * channels as i64 * size;
        if row_bytes % size != 0 || row_bytes.abs() < row || (data as usize) % size as usize != 0 {
            return Err(OfxError::failed(format!(
                "{clip} image has row bytes {row_bytes} for rows of {row} bytes (or misaligned {depth_name} data)"
            )));
        }
        Ok(HostImage { data, bounds, row_bytes, channels, depth, unpremultiplied })
    }

    /// Address of pixel (x, y) (no dereference; the caller keeps (x, y) inside the bounds).
    fn at(&self, x: i64, y: i64) -> *mut u8 {
        let offset =
            (y - self.bounds.y1) * self.row_bytes + (x - self.bounds.x1) * (self.channels * self.depth.bytes()) as i64;
        self.data.wrapping_offset(offset as isize)
    }

    /// The bytes of pixels `x1..x2` of row `y`.
    ///
    /// # Safety
    /// The span must lie inside the bounds, the image must stay fetched for `'a`, and no
    /// writable reference to the same memory may be alive.
    unsafe fn row<'a>(&self, y: i64, x1: i64, x2: i64) -> &'a [u8] {
        let n = (x2 - x1).max(0) as usize * self.channels * self.depth.bytes();
        // SAFETY: per the contract above the span is inside the host's memory for this row.
        unsafe { std::slice::from_raw_parts(self.at(x1, y), n) }
    }

    /// As [`HostImage::row`], writable.
    ///
    /// # Safety
    /// As for `row`, and no other reference to the span may be alive.
    unsafe fn row_mut<'a>(&self, y: i64, x1: i64, x2: i64) -> &'a mut [u8] {
        let n = (x2 - x1).max(0) as usize * self.channels * self.depth.bytes();
        // SAFETY: per the contract above the span is inside the host's memory and not aliased.
        unsafe { std::slice::from_raw_parts_mut(self.at(x1, y), n) }
    }

    /// Pointer to pixel (x1 of `r`, row y) and the float slice covering rows `r.y1..r.y2`,
    /// starting at the lowest address (float images).
    fn span(&self, r: &Rect) -> (*mut f32, usize) {
        let stride = self.row_bytes.unsigned_abs() as usize / 4;
        // The row at the lowest address: the bottom row for positive row bytes, the top one
        // for negative.
        let low_y = if self.row_bytes > 0 { r.y1 } else { r.y2 - 1 };
        let len = (r.height() - 1) * stride + r.width() * self.channels;
        (self.at(r.x1, low_y) as *mut f32, len)
    }

    /// A top-down view (row 0 = the top row, y = r.y2 − 1) of region `r` of a float image.
    ///
    /// # Safety
    /// `r` must lie inside the bounds, the image must be float, and the host's memory must hold
    /// every row of the bounds (as the OpenFX image contract guarantees) for `'a`.
    pub unsafe fn view<'a>(&self, r: &Rect) -> ImageView<'a> {
        debug_assert_eq!(self.depth, BitDepth::Float);
        let (p, len) = self.span(r);
        // SAFETY: per the contract above the span lies inside the host's image memory.
        let data = unsafe { std::slice::from_raw_parts(p as *const f32, len) };
        ImageView::new(data, r.width(), r.height(), self.channels, -self.row_bytes as isize)
            .expect("geometry was checked in from_props")
    }

    /// Region `r` as packed top-down floats (samples scaled to 0 … 1 from integer codes).
    ///
    /// # Safety
    /// `r` must lie inside the bounds and the image must stay fetched during the call.
    pub unsafe fn read(&self, r: &Rect) -> Vec<f32> {
        let n = r.width() * self.channels;
        let mut out = vec![0.0f32; n * r.height()];
        for (k, row) in out.chunks_exact_mut(n.max(1)).enumerate() {
            // SAFETY: row r.y2 − 1 − k of `r`, inside the bounds per the caller.
            decode(self.depth, unsafe { self.row(r.y2 - 1 - k as i64, r.x1, r.x2) }, row);
        }
        out
    }

    /// Writes `values` (packed floats) over pixels `x1..` of row `y`, converted to the image's
    /// sample type (integer codes rounded, clamped to their range).
    ///
    /// # Safety
    /// The span must lie inside the bounds, the image must stay fetched, and no other reference
    /// to the span may be alive.
    pub unsafe fn store_row(&self, y: i64, x1: i64, values: &[f32]) {
        let x2 = x1 + (values.len() / self.channels) as i64;
        // SAFETY: per the caller.
        encode(self.depth, values, unsafe { self.row_mut(y, x1, x2) });
    }

    /// Copies pixels `x1..x2` of row `y` of `src` (same sample type and channels) into this
    /// image at the same place.
    ///
    /// # Safety
    /// The span must lie inside both images' bounds, both must stay fetched, and the spans must
    /// not overlap.
    pub unsafe fn copy_row_from(&self, src: &HostImage, y: i64, x1: i64, x2: i64) {
        debug_assert!(src.depth == self.depth && src.channels == self.channels);
        // SAFETY: per the caller.
        unsafe { self.row_mut(y, x1, x2).copy_from_slice(src.row(y, x1, x2)) };
    }

    /// Feeds the raw bytes of region `r` to `hash`.
    ///
    /// # Safety
    /// `r` must lie inside the bounds and the image must stay fetched during the call.
    pub unsafe fn hash_into(&self, r: &Rect, hash: &mut ContentHash) {
        for y in r.y1..r.y2 {
            // SAFETY: row y of `r`, inside the bounds per the caller.
            hash.update(unsafe { self.row(y, r.x1, r.x2) });
        }
    }
}

/// Host samples to floats.
fn decode(depth: BitDepth, bytes: &[u8], out: &mut [f32]) {
    match depth {
        BitDepth::Byte => out.iter_mut().zip(bytes).for_each(|(o, &b)| *o = b as f32 / 255.0),
        BitDepth::Short => out
            .iter_mut()
            .zip(bytes.chunks_exact(2))
            .for_each(|(o, b)| *o = u16::from_ne_bytes([b[0], b[1]]) as f32 / 65535.0),
        BitDepth::Float => out
            .iter_mut()
            .zip(bytes.chunks_exact(4))
            .for_each(|(o, b)| *o = f32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
    }
}

/// Floats to host samples: integer codes are rounded and clamped (NaN becomes 0).
fn encode(depth: BitDepth, values: &[f32], out: &mut [u8]) {
    let code = |v: f32, top: f32| if v.is_nan() { 0.0 } else { (v.clamp(0.0, 1.0) * top).round() };
    match depth {
        BitDepth::Byte => out.iter_mut().zip(values).for_each(|(o, &v)| *o = code(v, 255.0) as u8),
        BitDepth::Short => out
            .chunks_exact_mut(2)
            .zip(values)
            .for_each(|(o, &v)| o.copy_from_slice(&(code(v, 65535.0) as u16).to_ne_bytes())),
        BitDepth::Float => out.chunks_exact_mut(4).zip(values).for_each(|(o, &v)| o.copy_from_slice(&v.to_ne_bytes())),
    }
}

/// `rgb ·= a` over packed RGBA floats.
pub(crate) fn premultiply(rgba: &mut [f32]) {
    for px in rgba.chunks_exact_mut(4) {
        let a = px[3];
        px[..3].iter_mut().for_each(|v| *v *= a);
    }
}

/// `rgb /= a` where `a > 0` over packed RGBA floats (transparent pixels keep their zeros).
pub(crate) fn unpremultiply(rgba: &mut [f32]) {
    for px in rgba.chunks_exact_mut(4) {
        let a = px[3];
        if a > 0.0 {
            px[..3].iter_mut().for_each(|v| *v /= a);
        }
    }
}

/// A 256-bit running hash of bytes (four lanes of xor, multiply by an odd constant and rotate,
/// each a bijection of the lane, so inputs of one length that differ in one 8-byte word always
/// hash differently). It tells frames apart for the frame cache; it is not cryptographic.
#[derive(Clone, Debug)]
pub(crate) struct ContentHash {
    lanes: [u64; 4],
    len: u64,
}

impl Default for ContentHash {
    fn default() -> ContentHash {
        ContentHash {
            lanes: [0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344, 0xa409_3822_299f_31d0, 0x082e_fa98_ec4e_6c89],
            len: 0,
        }
    }
}

const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

impl ContentHash {
    pub fn update(&mut self, bytes: &[u8]) {
        let mut blocks = bytes.chunks_exact(32);
        for b in &mut blocks {
            for (i, lane) in self.lanes.iter_mut().enumerate() {
                let w = u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
                *lane = ((*lane ^ w).wrapping_mul(MUL)).rotate_left(29);
            }
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 32];
            last[..rest.len()].copy_from_slice(rest);
            self.update(&last);
            self.len = self.len.wrapping_sub(32);
        }
        self.len = self.len.wrapping_add(bytes.len() as u64);
    }

    pub fn finish(&self) -> [u64; 5] {
        [self.lanes[0], self.lanes[1], self.lanes[2], self.lanes[3], self.len]
    }
}

/// Writes `window` of `out`: `result` (packed floats over `region`) where the region covers the
/// window, transparent black elsewhere (everywhere when `result` is empty). `unpremultiply`
/// divides colour by alpha on the way (an unpremultiplied Output).
///
/// # Safety
/// `window` must lie inside the Output bounds, the Output must stay fetched, and no other
/// reference to its memory may be alive.
pub(crate) unsafe fn compose(out: &HostImage, window: &Rect, region: &Rect, result: &[f32], unpremultiply_out: bool) {
    let c = out.channels;
    let mut row = vec![0.0f32; window.width() * c];
    for y in window.y1..window.y2 {
        row.fill(0.0);
        let (x0, x1) = (window.x1.max(region.x1), window.x2.min(region.x2));
        if !result.is_empty() && y >= region.y1 && y < region.y2 && x0 < x1 {
            let rk = (region.y2 - 1 - y) as usize; // row of the region, top-down
            let w = region.width();
            let (a, b) = (((x0 - region.x1) as usize) * c, ((x1 - region.x1) as usize) * c);
            let at = ((x0 - window.x1) as usize) * c;
            row[at..at + (b - a)].copy_from_slice(&result[rk * w * c + a..rk * w * c + b]);
            if unpremultiply_out && c == 4 {
                unpremultiply(&mut row[at..at + (b - a)]);
            }
        }
        // SAFETY: row y of the window, inside the Output bounds per the caller.
        unsafe { out.store_row(y, window.x1, &row) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_clamp() {
        let codes: Vec<u8> = (0..=255).collect();
        let mut f = vec![0.0; 256];
        decode(BitDepth::Byte, &codes, &mut f);
        let mut back = vec![0u8; 256];
        encode(BitDepth::Byte, &f, &mut back);
        assert_eq!(back, codes);
        let shorts: Vec<u8> = [0u16, 1, 257, 32768, 65534, 65535].iter().flat_map(|v| v.to_ne_bytes()).collect();
        let mut f = vec![0.0; 6];
        decode(BitDepth::Short, &shorts, &mut f);
        assert_eq!(f[5], 1.0);
        let mut back = vec![0u8; 12];
        encode(BitDepth::Short, &f, &mut back);
        assert_eq!(back, shorts);
        let mut out = [9u8; 4];
        encode(BitDepth::Byte, &[-0.5, 1.5, f32::NAN, 0.5], &mut out);
        assert_eq!(out, [0, 255, 0, 128]);
    }

    #[test]
    fn premultiply_then_unpremultiply_is_the_identity_where_alpha_is_positive() {
        let mut px = vec![1.0, 0.5, 0.25, 0.5, 1.0, 1.0, 1.0, 0.0];
        premultiply(&mut px);
        assert_eq!(px, [0.5, 0.25, 0.125, 0.5, 0.0, 0.0, 0.0, 0.0]);
        unpremultiply(&mut px);
        assert_eq!(px, [1.0, 0.5, 0.25, 0.5, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn one_changed_word_changes_the_hash() {
        let base: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let h = |b: &[u8]| {
            let mut c = ContentHash::default();
            c.update(b);
            c.finish()
        };
        let h0 = h(&base);
        assert_eq!(h0, h(&base.clone()));
        for i in [0, 31, 32, 500, 999] {
            let mut b = base.clone();
            b[i] ^= 1;
            assert_ne!(h(&b), h0, "byte {i}");
        }
        assert_ne!(h(&base[..999]), h0);
    }
}

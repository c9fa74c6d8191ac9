//! NumPy arrays as image views (ARCHITECTURE.md "Front ends"): float32, shape (H, W) or
//! (H, W, C) with C ≤ 4. An array whose pixels are packed (channels adjacent, pixels adjacent:
//! any C-contiguous array, a crop of one, a flip of its rows) is read and written in place with
//! its row stride, which may be negative or larger than a row; any other layout is copied by
//! NumPy first (`ascontiguousarray`) or, for `out=`, filled by NumPy from a packed result.

use crate::{ImageView, ImageViewMut};
use numpy::{PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// A float32 image array and where its pixels lie.
pub struct Array<'py> {
    /// The array read (the caller's, or NumPy's packed copy of it); kept alive while viewed.
    pub array: Bound<'py, PyUntypedArray>,
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    /// Whether the array is (H, W) rather than (H, W, C).
    pub flat: bool,
    /// The lowest address of any of its samples, the samples from there to the highest one,
    /// and the row stride in bytes.
    lowest: usize,
    span: usize,
    row_stride: isize,
}

/// Whether an array's pixels are packed: channels and pixels adjacent, rows apart by a whole
/// number of floats and not overlapping, aligned. Returns its row stride in bytes.
fn packed_row_stride(a: &Bound<'_, PyUntypedArray>, (h, w, c): (usize, usize, usize)) -> Option<isize> {
    let s = a.strides();
    let row_bytes = (w * c * 4) as isize;
    let pixels_packed = (a.ndim() == 2 || c == 1 || s[2] == 4) && (w == 1 || s[1] == (c * 4) as isize);
    let rows = if h == 1 { row_bytes } else { s[0] };
    let rows_ok = rows % 4 == 0 && rows.unsigned_abs() >= row_bytes as usize;
    (a.is_aligned() && pixels_packed && rows_ok).then_some(rows)
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type().name().map_or_else(|_| "?".to_string(), |n| n.to_string())
}

/// The geometry of argument `name`, checked: a float32 NumPy array of shape (H, W) or (H, W, C),
/// 1 ≤ C ≤ 4, H and W at least 1.
fn checked<'py>(name: &str, value: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyUntypedArray>, usize, usize, usize)> {
    let Ok(a) = value.cast::<PyUntypedArray>() else {
        return Err(PyTypeError::new_err(format!("{name}: expected a NumPy float32 array, got {}", type_name(value))));
    };
    let float32 = numpy::dtype::<f32>(value.py());
    if !a.dtype().is_equiv_to(&float32) {
        return Err(PyValueError::new_err(format!(
            "{name}: dtype is {}; float32 is required (use .astype(numpy.float32))",
            a.dtype()
        )));
    }
    let shape = a.shape().to_vec();
    let (h, w, c) = match shape[..] {
        [h, w] => (h, w, 1),
        [h, w, c] => (h, w, c),
        _ => return Err(PyValueError::new_err(format!("{name}: shape {shape:?}; expected (H, W) or (H, W, C)"))),
    };
    if !(1..=4).contains(&c) {
        return Err(PyValueError::new_err(format!("{name}: shape {shape:?} has {c} channels; 1 to 4 are supported")));
    }
    let side = crate::image::MAX_SIDE as usize;
    if !(1..=side).contains(&h) || !(1..=side).contains(&w) {
        return Err(PyValueError::new_err(format!("{name}: shape {shape:?}; each side must be 1 to {side} pixels")));
    }
    Ok((a.clone(), h, w, c))
}

impl<'py> Array<'py> {
    fn with_stride(a: Bound<'py, PyUntypedArray>, (h, w, c): (usize, usize, usize), row_stride: isize) -> Self {
        let data = data_address(&a);
        let back = if row_stride < 0 { (h - 1) * row_stride.unsigned_abs() } else { 0 };
        let span = (h - 1) * row_stride.unsigned_abs() / 4 + w * c;
        let flat = a.ndim() == 2;
        Array { array: a, width: w, height: h, channels: c, flat, lowest: data - back, span, row_stride }
    }

    /// Argument `name` as an input image: read in place when packed, else copied packed.
    pub fn input(name: &str, value: &Bound<'py, PyAny>) -> PyResult<Self> {
        let (a, h, w, c) = checked(name, value)?;
        if let Some(stride) = packed_row_stride(&a, (h, w, c)) {
            return Ok(Array::with_stride(a, (h, w, c), stride));
        }
        let numpy = value.py().import("numpy")?;
        let copy = numpy.call_method1("ascontiguousarray", (&a,))?.cast_into::<PyUntypedArray>()?;
        Ok(Array::with_stride(copy, (h, w, c), (w * c * 4) as isize))
    }

    /// Argument `name` as an output of `(h, w, c)` (and the input's dimensionality): a
    /// writable float32 array of that shape. `None` when its pixels are not packed (the
    /// result is then assigned through NumPy).
    pub fn output(name: &str, value: &Bound<'py, PyAny>, like: &Array) -> PyResult<Option<Self>> {
        let (a, h, w, c) = checked(name, value)?;
        if (h, w, c, a.ndim() == 2) != (like.height, like.width, like.channels, like.flat) {
            return Err(PyValueError::new_err(format!(
                "{name}: shape {:?} differs from the image's {:?}",
                a.shape(),
                like.array.shape()
            )));
        }
        if !a.getattr("flags")?.getattr("writeable")?.extract::<bool>()? {
            return Err(PyValueError::new_err(format!("{name}: the array is read-only")));
        }
        Ok(packed_row_stride(&a, (h, w, c)).map(|stride| Array::with_stride(a, (h, w, c), stride)))
    }

    /// Whether the memory of any sample of `self` could be that of a sample of `other`.
    pub fn overlaps(&self, other: &Array) -> bool {
        let end = |a: &Array| a.lowest + a.span * 4;
        self.lowest < end(other) && other.lowest < end(self)
    }

    /// The image as a view.
    pub fn view(&self) -> PyResult<ImageView<'_>> {
        // SAFETY: `lowest` and `span` were computed from the NumPy array's own data pointer,
        // shape and strides, so `[lowest, lowest + 4·span)` lies inside its buffer; the address
        // is 4-aligned (checked by `packed_row_stride`). `self.array` keeps the array, and so the
        // buffer, alive for the borrow. Writes through another view while this one lives are
        // excluded by the caller (`overlaps`); Python code writing the array from another thread
        // during a render races as it would with any extension that releases the GIL.
        let data = unsafe { std::slice::from_raw_parts(self.lowest as *const f32, self.span) };
        ImageView::new(data, self.width, self.height, self.channels, self.row_stride)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The image as a writable view.
    pub fn view_mut(&mut self) -> PyResult<ImageViewMut<'_>> {
        // SAFETY: as in `view`; the array is writable (checked by `output`), its rows do not
        // overlap one another (`packed_row_stride`), and the caller views no input that
        // overlaps it (`overlaps`), so this is the only reference to these samples.
        let data = unsafe { std::slice::from_raw_parts_mut(self.lowest as *mut f32, self.span) };
        ImageViewMut::new(data, self.width, self.height, self.channels, self.row_stride)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }
}

/// The address of an array's first element (NumPy's `data` pointer); the array is float32.
fn data_address(a: &Bound<'_, PyUntypedArray>) -> usize {
    a.cast::<PyArrayDyn<f32>>().map_or(0, |t| t.data() as usize)
}

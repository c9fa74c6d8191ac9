//! The render request's fields as keyword arguments of `render` (ARCHITECTURE.md "Front ends").
//!
//! [`render_options!`] lists each keyword once: its field of [`RenderOptions`], its type and its
//! help text. From that one list come the keyword parser, the defaults (always those of
//! `RenderOptions::default()`) and the help `sparsebokeh.render` shows. A new field of the request
//! is one line here (and one in `python/sparsebokeh/__init__.pyi`, which a test compares); a
//! field of a new type implements [`OptionValue`].

use crate::{Edges, Lens, LensMode, Output, RenderOptions};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// A value a keyword of `render` can hold: read from Python (an error names the keyword) and
/// shown as Python (the default in the help).
pub trait OptionValue: Sized {
    /// The Python type, for the help text.
    const TYPE: &'static str;
    fn from_py(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Self>;
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
}

fn wrong_type(name: &str, want: &str, value: &Bound<'_, PyAny>) -> PyErr {
    let got = value.get_type().name().map_or_else(|_| "?".to_string(), |n| n.to_string());
    PyTypeError::new_err(format!("{name}: expected {want}, got {got}"))
}

impl OptionValue for f64 {
    const TYPE: &'static str = "float";
    fn from_py(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        if value.is_instance_of::<pyo3::types::PyBool>() {
            return Err(wrong_type(name, "a number", value));
        }
        let v: f64 = value.extract().map_err(|_| wrong_type(name, "a number", value))?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(PyValueError::new_err(format!("{name}={v}: must be a finite number")))
        }
    }
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.into_pyobject(py)?.into_any())
    }
}

impl OptionValue for usize {
    const TYPE: &'static str = "int";
    fn from_py(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        if value.is_instance_of::<pyo3::types::PyBool>() {
            return Err(wrong_type(name, "an int", value));
        }
        let v: i64 = value.extract().map_err(|_| wrong_type(name, "an int", value))?;
        usize::try_from(v).map_err(|_| PyValueError::new_err(format!("{name}={v}: must be ≥ 0")))
    }
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.into_pyobject(py)?.into_any())
    }
}

impl OptionValue for bool {
    const TYPE: &'static str = "bool";
    fn from_py(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        value.extract().map_err(|_| wrong_type(name, "a bool", value))
    }
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.into_pyobject(py)?.to_owned().into_any())
    }
}

impl OptionValue for Option<[f64; 2]> {
    const TYPE: &'static str = "Optional[Tuple[float, float]]";
    fn from_py(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        if value.is_none() {
            return Ok(None);
        }
        let (x, y): (Bound<'_, PyAny>, Bound<'_, PyAny>) =
            value.extract().map_err(|_| wrong_type(name, "None or a pair (x, y)", value))?;
        Ok(Some([f64::from_py(name, &x)?, f64::from_py(name, &y)?]))
    }
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            None => Ok(py.None().into_bound(py)),
            Some([x, y]) => Ok((*x, *y).into_pyobject(py)?.into_any()),
        }
    }
}

/// An enum as one of its names (the CLI's flag values).
macro_rules! named_enum {
    ($t:ty, $type_text:literal { $($v:ident = $n:literal),* }) => {
        impl OptionValue for $t {
            const TYPE: &'static str = $type_text;
            fn from_py(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Self> {
                let s: String = value.extract().map_err(|_| wrong_type(name, "a str", value))?;
                match s.as_str() {
                    $($n => Ok(<$t>::$v),)*
                    _ => Err(PyValueError::new_err(format!(
                        "{name}={s:?}: must be one of {}", [$(concat!("'", $n, "'")),*].join(", ")
                    ))),
                }
            }
            fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let n = match self { $(<$t>::$v => $n),* };
                Ok(PyString::new(py, n).into_any())
            }
        }
    };
}
named_enum!(LensMode, "'depth' | 'inverse-depth' | 'coc'" { Depth = "depth", InverseDepth = "inverse-depth", Coc = "coc" });
named_enum!(Edges, "'layered' | 'gather'" { Layered = "layered", Gather = "gather" });
named_enum!(Output, "'result' | 'focal-plane-setup' | 'coc-map' | 'coc-map-normalised' | 'depth-slices'" {
    Result = "result", FocalPlaneSetup = "focal-plane-setup", CocMap = "coc-map",
    CocMapNormalised = "coc-map-normalised", DepthSlices = "depth-slices"
});

/// One keyword: name, type, default (from `RenderOptions::default()`) and help text.
pub struct Described<'py> {
    pub name: &'static str,
    pub type_text: &'static str,
    pub default: Bound<'py, PyAny>,
    pub help: &'static str,
}

/// The table of keywords: `/// help` then `name: Type => field.path;`.
macro_rules! render_options {
    ($($(#[doc = $doc:literal])+ $name:ident : $t:ty => $($field:ident).+ ;)*) => {
        /// The keywords of `render`, in order.
        pub const NAMES: &[&str] = &[$(stringify!($name)),*];

        /// Sets the field of keyword `key`; `Ok(false)` when no field has that name.
        fn set(options: &mut RenderOptions, key: &str, value: &Bound<'_, PyAny>) -> PyResult<bool> {
            match key {
                $(stringify!($name) => options.$($field).+ = <$t as OptionValue>::from_py(key, value)?,)*
                _ => return Ok(false),
            }
            Ok(true)
        }

        /// Every keyword with its type, default and help.
        pub fn describe(py: Python<'_>) -> PyResult<Vec<Described<'_>>> {
            let d = RenderOptions::default();
            Ok(vec![$(Described {
                name: stringify!($name),
                type_text: <$t as OptionValue>::TYPE,
                default: <$t as OptionValue>::to_py(&d.$($field).+, py)?,
                help: concat!($($doc, "\n"),+),
            }),*])
        }
    };
}

render_options! {
    /// How depth becomes a blur radius: 'depth' (thin lens, r = size·|z − focus|/z, 0 inside
    /// the dof band, clamped to maximum), 'inverse-depth' (the map holds 1/z, far = 0; focus
    /// and dof in the map's units) or 'coc' (the map holds the radius in pixels).
    mode: LensMode => lens.mode;
    /// Depth in focus (depth mode: z; inverse-depth: the map's value).
    focus: f64 => lens.focus;
    /// Width of the in-focus band around focus, in the same units.
    dof: f64 => lens.dof;
    /// Blur radius at infinite depth, in pixels at full resolution.
    size: f64 => lens.size;
    /// Largest blur radius in pixels at full resolution (at most 1024).
    maximum: f64 => lens.maximum;
    /// Render scale of a proxy render: every radius is multiplied by it.
    render_scale: f64 => lens.render_scale;
    /// Depth edges: 'layered' (occlusion-aware slices near depth edges: lights keep their own
    /// disc, no halos, see-through foreground) or 'gather' (each pixel with its own radius).
    edges: Edges => edges;
    /// What the render returns: 'result' (the blurred image), 'focal-plane-setup' (red in front
    /// of the in-focus band, green in it, blue behind), 'coc-map' (the radius in pixels),
    /// 'coc-map-normalised' (the radius over the maximum, 0–1) or 'depth-slices' (the layered
    /// blur's slices of signed CoC: warm in front, green in focus, cool behind, edges white).
    output: Output => output;
    /// Blend between the input (0) and the result (1); result output only.
    mix: f64 => mix;
    /// Blur radius in pixels of a render without depth (depth=None).
    radius: f64 => radius;
    /// Channel of a (H, W, C) depth array that holds depth (clamped to its last channel).
    depth_channel: usize => depth_channel;
    /// Use 1 − depth (normalised depth passes where white is near).
    invert_depth: bool => invert_depth;
    /// Rotation of the bokeh in degrees, counter-clockwise on screen.
    rotation: f64 => rotation;
    /// Aspect ratio of the bokeh, width / height (0.25–4; its height stays 2 × radius).
    aspect: f64 => aspect;
    /// The image's pixel aspect ratio (pixel width / height, 0.1–10): the bokeh is round on screen.
    pixel_aspect: f64 => pixel_aspect;
    /// Highlights: luminance (linear light) above which pixels are boosted before the blur.
    bloom_threshold: f64 => bloom_threshold;
    /// Highlights: a pixel of luminance Y above the threshold t is scaled by (Y + gain·(Y − t)) / Y
    /// before the blur; 0 = off.
    bloom_gain: f64 => bloom_gain;
    /// Encoding gamma of display-referred input: blurred in linear light (colour ** gamma, then
    /// ** (1 / gamma)); 1 = off.
    gamma: f64 => gamma;
    /// Focus from a point: (x, y) in pixels (x right, y down); focus becomes the median depth
    /// of the 5×5 pixels around it. None = off.
    focus_at: Option<[f64; 2]> => focus_at;
}

/// Every field of the request has its keyword above: a field added to `RenderOptions` or `Lens`
/// stops this module compiling (CI lints it with `--features python`) until it gets its line in
/// `render_options!` (and in the stub).
const _: fn(RenderOptions) = |o| {
    let RenderOptions {
        lens: Lens { mode: _, focus: _, dof: _, size: _, maximum: _, render_scale: _ },
        edges: _,
        output: _,
        mix: _,
        radius: _,
        depth_channel: _,
        invert_depth: _,
        rotation: _,
        aspect: _,
        pixel_aspect: _,
        bloom_threshold: _,
        bloom_gain: _,
        gamma: _,
        focus_at: _,
    } = o;
};

/// The request of `render`'s keywords: the defaults with each given keyword set. An unknown
/// keyword is a `TypeError`, a bad value a `TypeError` or `ValueError` naming it.
pub fn from_kwargs(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<RenderOptions> {
    let mut options = RenderOptions::default();
    for (key, value) in kwargs.into_iter().flat_map(|d| d.iter()) {
        let key: String = key.extract()?;
        if !set(&mut options, &key, &value)? {
            return Err(PyTypeError::new_err(format!(
                "render() got an unexpected keyword argument '{key}' (options: {})",
                NAMES.join(", ")
            )));
        }
    }
    Ok(options)
}

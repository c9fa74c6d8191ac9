//! The Python module `sparsebokeh._sparsebokeh` (ARCHITECTURE.md "Front ends"), a thin adapter
//! like the C API: NumPy arrays become image views, `render`'s keywords become one
//! `RenderOptions` (`options.rs`), and `Engine::render` does the work with the GIL released, on
//! an engine kept per thread. Errors become `ValueError` (bad input), `OSError` (files) or
//! `RuntimeError`; a panic is caught and raised as `RuntimeError`, never crossing into Python.
//! `python/sparsebokeh/__init__.py` wraps these functions with their documented signatures.

mod arrays;
mod bundle;
mod fit;
mod options;

use crate::io::{self, Role};
use crate::{BundleError, Engine, Image, RenderError, RenderOptions, RenderStats};
use arrays::Array;
use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::cell::RefCell;
use std::path::PathBuf;

fn bundle_error(e: BundleError) -> PyErr {
    match e {
        BundleError::Io { .. } | BundleError::Write { .. } => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

fn render_error(e: RenderError) -> PyErr {
    match e {
        RenderError::Threads(..) => PyRuntimeError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// The text of a caught panic.
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// A JSON value as Python objects (through the `json` module).
fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (v.to_string(),))
}

thread_local! {
    /// Each thread's engine, kept between renders with its frame buffers (as the CLI keeps one).
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's engine (rendering on all cores), with panics caught.
fn with_engine(f: impl FnOnce(&Engine) -> Result<RenderStats, RenderError>) -> PyResult<RenderStats> {
    let run = || {
        ENGINE.with(|cell| {
            let mut slot = cell.borrow_mut();
            let engine = match &mut *slot {
                Some(e) => e,
                empty => empty.insert(Engine::new(0)?),
            };
            f(engine)
        })
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(r) => r.map_err(render_error),
        Err(p) => Err(PyRuntimeError::new_err(format!("sparsebokeh: internal error: {}", panic_message(&p)))),
    }
}

/// A packed result of the image's shape as a new NumPy array (no copy).
fn to_array<'py>(py: Python<'py>, data: Vec<f32>, like: &Array) -> PyResult<Bound<'py, PyAny>> {
    let flat = PyArray1::from_vec(py, data);
    let shape = if like.flat { vec![like.height, like.width] } else { vec![like.height, like.width, like.channels] };
    Ok(flat.reshape(shape)?.into_any())
}

fn stats_dict<'py>(py: Python<'py>, s: &RenderStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("nonfinite_samples", s.nonfinite_samples)?;
    d.set_item("negative_samples", s.negative_samples)?;
    d.set_item("bad_depth", s.bad_depth)?;
    d.set_item("tables", s.tables)?;
    d.set_item("max_radius", s.max_radius)?;
    d.set_item("nonfinite_output", s.nonfinite_output)?;
    Ok(d)
}

/// Renders `image` (see `sparsebokeh.render`): returns the result (a new array, or `out`) and
/// what the render saw.
#[pyfunction]
#[pyo3(signature = (image, depth, bundle, out, options))]
fn _render<'py>(
    py: Python<'py>,
    image: &Bound<'py, PyAny>,
    depth: Option<&Bound<'py, PyAny>>,
    bundle: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
    let options: RenderOptions = options::from_kwargs(options)?;
    let src = Array::input("image", image)?;
    let depth = depth.map(|d| Array::input("depth", d)).transpose()?;
    if let Some(d) = depth.as_ref().filter(|d| (d.height, d.width) != (src.height, src.width)) {
        return Err(PyValueError::new_err(format!(
            "depth: {}×{} pixels (W×H) but the image is {}×{}",
            d.width, d.height, src.width, src.height
        )));
    }
    let bundle = bundle.map(|b| bundle::resolve(py, b)).transpose()?;
    // Render straight into `out` when its pixels are packed and it shares no memory with the
    // inputs; else into a new packed array (then assigned to `out` through NumPy).
    let direct = match out {
        Some(o) => Array::output("out", o, &src)?
            .filter(|o| !o.overlaps(&src) && !depth.as_ref().is_some_and(|d| o.overlaps(d))),
        None => None,
    };
    let (src_view, depth_view) = (src.view()?, depth.as_ref().map(|d| d.view()).transpose()?);
    let render = |dst: &mut crate::ImageViewMut| {
        with_engine(|e| e.render(bundle.as_deref(), &options, &src_view, depth_view.as_ref(), dst))
    };
    let (result, stats) = match (out, direct) {
        (Some(o), Some(mut target)) => {
            let mut dst = target.view_mut()?;
            let stats = py.detach(|| render(&mut dst))?;
            (o.clone(), stats)
        }
        (out, _) => {
            let mut data = vec![0f32; src.width * src.height * src.channels];
            let mut dst = crate::ImageViewMut::packed(&mut data, src.width, src.height, src.channels)
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            let stats = py.detach(|| render(&mut dst))?;
            let result = to_array(py, data, &src)?;
            match out {
                Some(o) => {
                    o.set_item(py.Ellipsis(), result)?;
                    (o.clone(), stats)
                }
                None => (result, stats),
            }
        }
    };
    Ok((result, stats_dict(py, &stats)?))
}

/// Checks `render`'s keywords for a render with or without depth, as a render would, without
/// rendering (`sparsebokeh.dask` checks a sequence's options before submitting it).
#[pyfunction]
#[pyo3(signature = (with_depth, options))]
fn check_options(with_depth: bool, options: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    options::from_kwargs(options)?.validate(with_depth).map_err(render_error)
}

/// Reads an image file (see `sparsebokeh.read_image`).
#[pyfunction]
#[pyo3(signature = (path, role = "color"))]
fn read_image<'py>(
    py: Python<'py>,
    path: PathBuf,
    role: &str,
) -> PyResult<(Bound<'py, PyAny>, Option<Bound<'py, PyAny>>)> {
    let role = match role {
        "color" => Role::Color,
        "data" => Role::Data,
        r => return Err(PyValueError::new_err(format!("role={r:?}: must be 'color' or 'data'"))),
    };
    let frame = py.detach(|| io::read(&path, role)).map_err(|e| PyOSError::new_err(e.to_string()))?;
    let Image { width, height, channels, data } = frame.color;
    let image = PyArray1::from_vec(py, data).reshape(vec![height, width, channels])?.into_any();
    let depth = match frame.depth {
        Some(z) => Some(PyArray1::from_vec(py, z).reshape(vec![height, width])?.into_any()),
        None => None,
    };
    Ok((image, depth))
}

/// Writes an image file (see `sparsebokeh.write_image`).
#[pyfunction]
#[pyo3(signature = (path, image, depth = None))]
fn write_image(
    py: Python<'_>,
    path: PathBuf,
    image: &Bound<'_, PyAny>,
    depth: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let src = Array::input("image", image)?;
    let image = Image::from_view(&src.view()?);
    let depth = match depth {
        None => None,
        Some(d) => {
            let z = Array::input("depth", d)?;
            if (z.width, z.height, z.channels) != (image.width, image.height, 1) {
                return Err(PyValueError::new_err(format!(
                    "depth: must be one channel of {}×{} pixels (W×H), got {}×{}×{}",
                    image.width, image.height, z.width, z.height, z.channels
                )));
            }
            if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("exr")) {
                return Err(PyValueError::new_err("depth: only an .exr file holds a depth channel"));
            }
            Some(Image::from_view(&z.view()?).data)
        }
    };
    let written = py.detach(|| match &depth {
        Some(z) => io::write_exr_with_depth(&path, &image, z),
        None => io::write(&path, &image),
    });
    written.map_err(|e| PyOSError::new_err(e.to_string()))
}

/// The names of the shipped bundles (see `sparsebokeh.shipped_bundles`).
#[pyfunction]
fn shipped_bundles() -> Vec<String> {
    crate::bundle::shipped_names()
}

/// `render`'s keywords: (name, type, default, help) for each, in order.
#[pyfunction]
fn render_options(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let rows = options::describe(py)?.into_iter().map(|d| (d.name, d.type_text, d.default, d.help.trim_end()));
    PyList::new(py, rows)
}

/// `fit`'s defaults, those of the library (`FitSpec::default()`, `DEFAULT_RADII`).
#[pyfunction]
fn fit_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let s = crate::fit::FitSpec::default();
    let d = PyDict::new(py);
    d.set_item("layers", s.layers)?;
    d.set_item("taps", s.taps)?;
    d.set_item("iterations", s.iterations)?;
    d.set_item("rounds", s.rounds)?;
    d.set_item("init", s.init.name())?;
    d.set_item("flat", s.flat)?;
    d.set_item("weights", if s.signed { "signed" } else { "non-negative" })?;
    d.set_item("lobe", s.lobe)?;
    d.set_item("seed", s.seed)?;
    d.set_item("radii", crate::fit::DEFAULT_RADII.to_vec())?;
    Ok(d)
}

#[pymodule]
fn _sparsebokeh(m: &Bound<'_, PyModule>) -> PyResult<()> {
    if let Err(e) = crate::cpu::check() {
        return Err(PyRuntimeError::new_err(e));
    }
    m.add_class::<bundle::PyBundle>()?;
    m.add_function(wrap_pyfunction!(_render, m)?)?;
    m.add_function(wrap_pyfunction!(fit::_fit, m)?)?;
    m.add_function(wrap_pyfunction!(check_options, m)?)?;
    m.add_function(wrap_pyfunction!(read_image, m)?)?;
    m.add_function(wrap_pyfunction!(write_image, m)?)?;
    m.add_function(wrap_pyfunction!(shipped_bundles, m)?)?;
    m.add_function(wrap_pyfunction!(render_options, m)?)?;
    m.add_function(wrap_pyfunction!(fit_defaults, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

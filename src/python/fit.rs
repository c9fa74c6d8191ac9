//! `sparsebokeh.fit`: the CLI's `sparsebokeh fit` flags as keywords, onto `fit::fit_bundle`
//! (ARCHITECTURE.md "Bundle format"). The bundle records the same canonical command line as
//! the CLI (`fit::command_line`), so the same flags give the same bytes.

use super::bundle::PyBundle;
use super::panic_message;
use crate::fit::{self, BasisOptions, FitSpec, FitTarget, Init};
use crate::shapes::{ApertureImage, ImageChannel, Shape, ShapeError};
use numpy::{PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

fn bad(name: &str, reason: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("{name}: {reason}"))
}

/// A count keyword (`layers`, `taps`...) as a `usize`, refusing a negative one by name.
fn count(name: &str, v: i64) -> PyResult<usize> {
    usize::try_from(v).map_err(|_| bad(name, format!("{v} must be ≥ 0")))
}

/// The shape keywords as `Shape::parse`'s parameters, typed as the CLI types them.
fn shape_params(ints: [(&str, Option<i64>); 2], floats: [(&str, Option<f64>); 5]) -> PyResult<Value> {
    let mut p = json!({});
    for (key, v) in ints.into_iter().filter_map(|(k, v)| Some((k, v?))) {
        let v = u32::try_from(v).map_err(|_| bad(key, format!("{v} is not a count")))?;
        p[key] = json!(v);
    }
    for (key, v) in floats.into_iter().filter_map(|(k, v)| Some((k, v?))) {
        if !v.is_finite() {
            let flag = fit::SHAPE_FLAGS.iter().find(|(k, _)| *k == key).map_or(key, |(_, f)| &f[2..]);
            return Err(bad(flag, format!("{v} must be a finite number")));
        }
        p[key] = json!(v);
    }
    Ok(p)
}

/// An aperture given as a 2-D array of transmission in [0, 1].
fn array_aperture(image: &Bound<'_, PyAny>) -> PyResult<Shape> {
    let numpy = image.py().import("numpy")?;
    let a = numpy.call_method1("ascontiguousarray", (image, numpy.getattr("float64")?))?;
    let a = a.cast_into::<numpy::PyArray2<f64>>().map_err(|_| bad("image", "expected a 2-D array (H, W)"))?;
    let (h, w) = (a.shape()[0], a.shape()[1]);
    let values: Vec<f64> = a.readonly().as_slice().map_err(|e| bad("image", e))?.to_vec();
    if values.iter().any(|v| !(v.is_finite() && (0.0..=1.0).contains(v))) {
        return Err(bad("image", "values must be finite and in 0..=1 (transmission)"));
    }
    if values.iter().all(|v| *v <= 0.0) {
        return Err(bad("image", "is black everywhere (no aperture)"));
    }
    let channel = ImageChannel::Luminance;
    Ok(Shape::Image(ApertureImage { name: "array".into(), width: w, height: h, channel, values: Arc::new(values) }))
}

fn shape_error(argument: &str, e: ShapeError) -> PyErr {
    match e {
        ShapeError::Image { .. } => PyOSError::new_err(format!("{argument}: {e}")),
        _ => bad(argument, e),
    }
}

/// The fit's options from the keywords, checked as the CLI checks its flags.
#[allow(clippy::too_many_arguments)]
fn spec(
    layers: i64,
    taps: i64,
    iterations: i64,
    rounds: i64,
    init: &str,
    flat: f64,
    weights: &str,
    lobe: f64,
    seed: u64,
) -> PyResult<FitSpec> {
    let init =
        Init::parse(init).ok_or_else(|| bad("init", format!("{init:?} is not radial, support, symmetric or auto")))?;
    let signed = match weights {
        "signed" => true,
        "non-negative" => false,
        w => return Err(bad("weights", format!("{w:?} is not 'signed' or 'non-negative'"))),
    };
    for (name, v) in [("flat", flat), ("lobe", lobe)] {
        if !v.is_finite() {
            return Err(bad(name, format!("{v} must be a finite number")));
        }
    }
    let (layers, taps) = (count("layers", layers)?, count("taps", taps)?);
    let (iterations, rounds) = (count("iterations", iterations)?, count("rounds", rounds)?);
    Ok(FitSpec { layers, taps, iterations, init, seed, rounds, flat, signed, lobe })
}

/// Fits a bundle (see `sparsebokeh.fit` in python/sparsebokeh/__init__.py for the keywords).
#[pyfunction]
#[pyo3(signature = (*, shape, image, sides, rotation, curvature, points, inner, sigma, offset, channel, radii,
    layers, taps, iterations, rounds, init, flat, weights, lobe, seed, name, description, progress))]
#[allow(clippy::too_many_arguments)]
pub fn _fit(
    py: Python<'_>,
    shape: Option<String>,
    image: Option<Bound<'_, PyAny>>,
    sides: Option<i64>,
    rotation: Option<f64>,
    curvature: Option<f64>,
    points: Option<i64>,
    inner: Option<f64>,
    sigma: Option<f64>,
    offset: Option<f64>,
    channel: &str,
    radii: Option<Vec<f64>>,
    layers: i64,
    taps: i64,
    iterations: i64,
    rounds: i64,
    init: &str,
    flat: f64,
    weights: &str,
    lobe: f64,
    seed: u64,
    name: Option<String>,
    description: String,
    progress: Option<Py<PyAny>>,
) -> PyResult<PyBundle> {
    let spec = spec(layers, taps, iterations, rounds, init, flat, weights, lobe, seed)?;
    let channel = ImageChannel::parse(channel)
        .ok_or_else(|| bad("channel", format!("{channel:?} is not auto, luminance or alpha")))?;
    let radii = radii.unwrap_or_else(|| fit::DEFAULT_RADII.to_vec());
    let floats =
        [("rotation_deg", rotation), ("curvature", curvature), ("inner", inner), ("sigma", sigma), ("offset", offset)];
    let params = shape_params([("sides", sides), ("points", points)], floats)?;
    let path = image.as_ref().and_then(|i| i.extract::<PathBuf>().ok());
    let (target_shape, target, default_name) = match (&shape, &image, &path) {
        (Some(s), None, _) => {
            let parsed = Shape::parse(s, &params).map_err(|e| shape_error("shape", e))?;
            (parsed, FitTarget::Shape { name: s, params: &params }, s.clone())
        }
        (None, Some(_), Some(p)) => {
            let parsed = py.detach(|| Shape::from_image_file(p, channel)).map_err(|e| shape_error("image", e))?;
            let stem = p.file_stem().map_or("image".into(), |s| s.to_string_lossy().into_owned());
            (parsed, FitTarget::ImageFile { path: p, channel }, stem)
        }
        (None, Some(a), None) => {
            let parsed = array_aperture(a)?;
            let Shape::Image(img) = &parsed else { return Err(bad("image", "not an aperture")) };
            let target = FitTarget::ImageArray { width: img.width, height: img.height };
            (parsed, target, "image".to_string())
        }
        _ => return Err(bad("shape", "give one of shape=NAME or image=PATH_OR_ARRAY")),
    };
    let name = name.unwrap_or(default_name);
    let command = fit::command_line(&target, &spec, &radii, None, &name, &description);
    let opts = BasisOptions { spec, radii, anchor: None, name, description, command, bridge: true, levels: None };
    run(py, &target_shape, &opts, progress)
}

/// Fits with the GIL released; `progress(radius, psnr_db)` is called (with the GIL) after each
/// radius, and the first exception it raises is raised when the fit ends.
fn run(py: Python<'_>, shape: &Shape, opts: &BasisOptions, progress: Option<Py<PyAny>>) -> PyResult<PyBundle> {
    let raised: Mutex<Option<PyErr>> = Mutex::new(None);
    let report = |r: f64, db: f64| {
        let Some(cb) = &progress else { return };
        Python::attach(|py| {
            if let Err(e) = cb.call1(py, (r, db)) {
                let mut slot = raised.lock().unwrap_or_else(|p| p.into_inner());
                slot.get_or_insert(e);
            }
        });
    };
    let fitted =
        py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fit::fit_bundle(shape, opts, &report))));
    if let Some(e) = raised.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    match fitted {
        Ok(Ok(b)) => Ok(PyBundle(Arc::new(b))),
        Ok(Err(fit::FitError::Shape(e))) => Err(shape_error("shape", e)),
        Ok(Err(fit::FitError::Invalid { field, reason })) => Err(bad(&field, reason)),
        Err(panic) => Err(PyRuntimeError::new_err(format!("sparsebokeh: internal error: {}", panic_message(&panic)))),
    }
}

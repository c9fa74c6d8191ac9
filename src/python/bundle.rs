//! `sparsebokeh.Bundle`: a loaded, validated bundle (ARCHITECTURE.md "Bundle format").

use super::{bundle_error, json_to_py};
use crate::Bundle;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::path::PathBuf;
use std::sync::Arc;

/// A bundle: one fitted sparse kernel complex per blur radius, for one aperture shape.
///
/// ``Bundle.load(path)`` reads a bundle file, ``Bundle.shipped(name)`` a shipped one by name
/// (``shipped_bundles()`` lists them), ``sparsebokeh.fit(...)`` fits a new one, and
/// ``Bundle(json_text)`` parses one from its JSON text. Every way validates it as the CLI does.
/// Bundles pickle (as their JSON text), so they can be sent to Dask workers.
#[pyclass(name = "Bundle", module = "sparsebokeh", frozen)]
pub struct PyBundle(pub Arc<Bundle>);

#[pymethods]
impl PyBundle {
    /// Parses and validates a bundle from its JSON text (what ``to_json()`` returns).
    #[new]
    fn new(py: Python<'_>, json_text: &str) -> PyResult<Self> {
        let bytes = json_text.as_bytes().to_vec();
        let b = py.detach(move || Bundle::from_slice(&bytes)).map_err(bundle_error)?;
        Ok(PyBundle(Arc::new(b)))
    }

    /// Reads and validates a bundle file (``OSError`` if it cannot be read, ``ValueError``
    /// if it is not a valid bundle; the message names the field and entry).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let b = py.detach(|| Bundle::load(&path)).map_err(bundle_error)?;
        Ok(PyBundle(Arc::new(b)))
    }

    /// A shipped bundle by name (``'disc'``, ``'hexagon'``...; see ``shipped_bundles()``),
    /// found in ``$SPARSEBOKEH_KERNELS``, ``<prefix>/share/sparsebokeh/kernels`` or the source
    /// tree the module was built from.
    #[staticmethod]
    fn shipped(py: Python<'_>, name: &str) -> PyResult<Self> {
        if name.is_empty() || name.contains('/') || name.ends_with(".json") {
            return Err(PyValueError::new_err(format!("name={name:?}: a shipped bundle's name, not a path")));
        }
        let b = py.detach(|| crate::locate(name)).map_err(bundle_error)?;
        Ok(PyBundle(Arc::new(b)))
    }

    /// Writes the bundle as JSON, atomically (a temporary file, then a rename).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.0.save(&path)).map_err(bundle_error)
    }

    /// The bundle's JSON text, exactly as ``save`` writes it.
    fn to_json(&self) -> String {
        self.0.to_json_string()
    }

    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }

    #[getter]
    fn description(&self) -> &str {
        &self.0.description
    }

    /// Layers per complex (L).
    #[getter]
    fn layers(&self) -> usize {
        self.0.layers
    }

    /// Taps per layer (N); a pixel costs layers × taps taps.
    #[getter]
    fn taps(&self) -> usize {
        self.0.taps
    }

    /// The radii of the entries, increasing (circle-of-confusion radii in pixels).
    #[getter]
    fn radii(&self) -> Vec<f64> {
        self.0.radii()
    }

    /// Each entry's kernel PSNR in dB against its target (None where the file records none).
    #[getter]
    fn psnr_db(&self) -> Vec<Option<f64>> {
        self.0.basis.iter().map(|e| e.psnr_db).collect()
    }

    /// The target shape and its parameters, as a dict.
    #[getter]
    fn target<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.0.target)
    }

    /// How the bundle was fitted (seed, iterations, init, the command line...), as a dict.
    #[getter]
    fn fit<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.0.fit)
    }

    fn __repr__(&self) -> String {
        let b = &self.0;
        format!("Bundle({:?}, layers={}, taps={}, radii={:?})", b.name, b.layers, b.taps, b.radii())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyBundle>().is_ok_and(|o| *o.get().0 == *self.0)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        Ok((slf.get_type().into_any(), (slf.get().0.to_json_string(),)))
    }
}

/// The bundle a render asks for: a `Bundle`, or a shipped name or file path (`str` or path-like).
pub fn resolve(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Arc<Bundle>> {
    if let Ok(b) = value.cast::<PyBundle>() {
        return Ok(b.get().0.clone());
    }
    let text: String = if let Ok(s) = value.cast::<PyString>() {
        s.to_str()?.to_string()
    } else if let Ok(p) = value.extract::<PathBuf>() {
        p.to_string_lossy().into_owned()
    } else {
        let got = value.get_type().name().map_or_else(|_| "?".to_string(), |n| n.to_string());
        return Err(PyTypeError::new_err(format!("bundle: expected a Bundle, a shipped name or a path, got {got}")));
    };
    let b = py.detach(|| crate::locate(&text)).map_err(bundle_error)?;
    Ok(Arc::new(b))
}

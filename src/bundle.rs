//! Kernel bundles (ARCHITECTURE.md "Bundle format"): a basis of fitted complexes, one per radius, for one aperture.
//! Load, validate, save, and interpolate by radius.

use crate::kernel::{Complex, Tap};
use serde_json::{json, Map, Value};
use std::path::Path;

/// The value of the `format` field.
pub const FORMAT: &str = "sparsebokeh-bundle";
/// The major version this build reads and writes.
pub const VERSION: u64 = 1;
/// Tolerance on the PSF mass of each entry (product of layer weight sums) around 1.
pub const MASS_TOLERANCE: f64 = 1e-3;
/// Largest layer count and taps per layer a bundle may declare.
pub const MAX_LAYERS: u64 = 16;
pub const MAX_TAPS: u64 = 4096;
/// Largest tap offset in pixels and largest basis radius a bundle may hold.
pub const MAX_OFFSET: f64 = 4096.0;
/// Largest bundle file this loader reads: 32 MiB (ARCHITECTURE.md "Hostile input"; parsing takes
/// up to ~21× the file's size, so a bundle can cost at most ~0.7 GB while it is read).
pub const MAX_FILE_BYTES: u64 = 32 << 20;
/// Smallest basis radius: the render's radius step (1/32 px). Below it, scaling the smallest
/// entry up to a render radius would overflow.
pub const MIN_BASIS_RADIUS: f64 = 1.0 / 32.0;
/// Tolerance on the mass of the complex interpolated between two entries (checked at 15 points
/// between each pair): what renders between entries must keep a constant frame constant.
pub const INTERPOLATED_MASS_TOLERANCE: f64 = 1e-2;

/// Why a bundle could not be read or used. The message names the field and the basis entry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read bundle {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("cannot write bundle {path}: {reason}")]
    Write { path: String, reason: String },
    #[error("bundle is not valid JSON: {0}")]
    Json(String),
    #[error("bundle field `{field}`: {reason}")]
    Invalid { field: String, reason: String },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> BundleError {
    BundleError::Invalid { field: field.into(), reason: reason.into() }
}

/// One basis entry: the complex fitted for one blur radius.
#[derive(Clone, Debug, PartialEq)]
pub struct BasisEntry {
    /// Circle-of-confusion radius in pixels.
    pub radius: f64,
    /// Kernel PSNR of the complex against its target at this radius (ARCHITECTURE.md "Bundle format").
    pub psnr_db: Option<f64>,
    pub complex: Complex,
}

/// A validated bundle.
#[derive(Clone, Debug, PartialEq)]
pub struct Bundle {
    pub name: String,
    pub description: String,
    pub layers: usize,
    pub taps: usize,
    /// The target's description, as written by the fitter (`{"shape": ..., "params": {...}}`).
    pub target: Value,
    /// Sorted by strictly increasing radius.
    pub basis: Vec<BasisEntry>,
    /// How the bundle was fitted (seed, iterations, command...), free-form.
    pub fit: Value,
    /// The complexes used at reduced resolution levels (ARCHITECTURE.md "Resolution levels"):
    /// a bundle of its own for the same target, usually with more taps per layer (a level at
    /// 1/2ᵏ resolution costs 4⁻ᵏ per output pixel) at the radii the levels render (about 6–24
    /// px). Absent: the levels use `basis`.
    pub levels: Option<Box<Bundle>>,
    /// The linear map of offsets (pixels, y down) this bundle's taps went through since it was
    /// read ([`Bundle::transformed`]; rotation and aspect of a render), so that what is drawn
    /// with the aperture's own shape (small lights, `render::stamp`) turns and stretches with
    /// the taps. Never written to a file: a read bundle has none.
    pub transform: Option<[[f64; 2]; 2]>,
}

/// What the engine should do at a given radius.
#[derive(Clone, Debug, PartialEq)]
pub enum AtRadius {
    /// r ≤ 0.5 px: the pixel passes through unchanged.
    PassThrough,
    Complex(Complex),
}

/// An f32 as the shortest decimal that reads back to the same f32 (not its f64 expansion).
fn short(x: f32) -> Value {
    json!(format!("{x}").parse::<f64>().unwrap_or(x as f64))
}

fn finite(v: &Value, field: &str) -> Result<f64, BundleError> {
    match v.as_f64() {
        Some(x) if x.is_finite() => Ok(x),
        Some(_) => Err(invalid(field, "must be a finite number")),
        None => Err(invalid(field, format!("must be a number, found {}", kind(v)))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn count(obj: &Map<String, Value>, field: &str, max: u64) -> Result<usize, BundleError> {
    let v = obj.get(field).ok_or_else(|| invalid(field, "missing"))?;
    match v.as_u64() {
        Some(n) if n >= 1 && n <= max => Ok(n as usize),
        Some(n) => Err(invalid(field, format!("{n} is outside 1..={max}"))),
        None => Err(invalid(field, format!("must be a positive integer, found {v}"))),
    }
}

impl Bundle {
    /// Reads and validates a bundle file.
    pub fn load(path: &Path) -> Result<Bundle, BundleError> {
        let io = |reason: String| BundleError::Io { path: path.display().to_string(), reason };
        use std::io::Read;
        let file = crate::io::open_regular(path).map_err(io)?;
        let len = file.metadata().map_err(|e| io(e.to_string()))?.len();
        let too_large = |n: u64| io(format!("{n} bytes is larger than the {MAX_FILE_BYTES}-byte limit on bundles"));
        if len > MAX_FILE_BYTES {
            return Err(too_large(len));
        }
        // Read at most one byte past the limit, whatever the size said.
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| io(e.to_string()))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large(bytes.len() as u64));
        }
        Bundle::from_slice(&bytes)
    }

    /// Parses and validates a bundle held in memory.
    pub fn from_slice(bytes: &[u8]) -> Result<Bundle, BundleError> {
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(BundleError::Json(format!(
                "{} bytes is larger than the {MAX_FILE_BYTES}-byte limit on bundles",
                bytes.len()
            )));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(BundleError::Json("the bundle is empty".into()));
        }
        let v: Value = serde_json::from_slice(bytes).map_err(|e| BundleError::Json(e.to_string()))?;
        Bundle::from_value(&v)
    }

    /// Validates a parsed JSON document against every rule of ARCHITECTURE.md "Bundle format".
    pub fn from_value(v: &Value) -> Result<Bundle, BundleError> {
        let obj =
            v.as_object().ok_or_else(|| invalid("(top level)", format!("must be an object, found {}", kind(v))))?;
        check_format_and_version(obj)?;
        let name = match obj.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => return Err(invalid("name", "must not be empty")),
            Some(other) => return Err(invalid("name", format!("must be a string, found {}", kind(other)))),
            None => return Err(invalid("name", "missing")),
        };
        let description = match obj.get("description") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(invalid("description", format!("must be a string, found {}", kind(other)))),
        };
        let layers = count(obj, "layers", MAX_LAYERS)?;
        let taps = count(obj, "taps", MAX_TAPS)?;
        let object_or_null = |field: &str| {
            let v = obj.get(field).cloned().unwrap_or(Value::Null);
            if v.is_object() || v.is_null() {
                Ok(v)
            } else {
                Err(invalid(field, format!("must be an object, found {}", kind(&v))))
            }
        };
        let target = object_or_null("target")?;
        let fit = object_or_null("fit")?;
        let entries = match obj.get("basis") {
            Some(Value::Array(a)) if !a.is_empty() => a,
            Some(Value::Array(_)) => return Err(invalid("basis", "must hold at least one entry")),
            Some(other) => return Err(invalid("basis", format!("must be an array, found {}", kind(other)))),
            None => return Err(invalid("basis", "missing")),
        };
        let mut basis: Vec<BasisEntry> = Vec::with_capacity(entries.len().min(1024));
        for (i, e) in entries.iter().enumerate() {
            let entry = basis_entry(i, e, basis.last().map(|p| p.radius), layers, taps)?;
            if let Some(prev) = basis.last() {
                check_interpolated_mass(i, prev, &entry)?;
            }
            basis.push(entry);
        }
        let levels = match obj.get("levels") {
            None | Some(Value::Null) => None,
            Some(l @ Value::Object(lo)) => {
                if lo.get("levels").is_some_and(|v| !v.is_null()) {
                    return Err(invalid("levels.levels", "a levels bundle holds no levels of its own"));
                }
                let inner = Bundle::from_value(l).map_err(|e| match e {
                    BundleError::Invalid { field, reason } => invalid(format!("levels.{field}"), reason),
                    other => other,
                })?;
                Some(Box::new(inner))
            }
            Some(other) => return Err(invalid("levels", format!("must be an object, found {}", kind(other)))),
        };
        Ok(Bundle { name, description, layers, taps, target, basis, fit, levels, transform: None })
    }

    /// The bundle as a JSON document of ARCHITECTURE.md "Bundle format".
    pub fn to_value(&self) -> Value {
        let basis: Vec<Value> = self
            .basis
            .iter()
            .map(|e| {
                let complex: Vec<Value> = e
                    .complex
                    .layers
                    .iter()
                    .map(|l| {
                        Value::Array(
                            l.iter().map(|t| json!({"x": short(t.x), "y": short(t.y), "w": short(t.w)})).collect(),
                        )
                    })
                    .collect();
                let mut m = Map::new();
                m.insert("radius".into(), json!(e.radius));
                if let Some(p) = e.psnr_db {
                    m.insert("psnr_db".into(), json!(p));
                }
                m.insert("complex".into(), Value::Array(complex));
                Value::Object(m)
            })
            .collect();
        let mut m = Map::new();
        m.insert("format".into(), json!(FORMAT));
        m.insert("version".into(), json!(VERSION));
        m.insert("name".into(), json!(self.name));
        m.insert("description".into(), json!(self.description));
        m.insert("layers".into(), json!(self.layers));
        m.insert("taps".into(), json!(self.taps));
        m.insert("target".into(), self.target.clone());
        m.insert("basis".into(), Value::Array(basis));
        if !self.fit.is_null() {
            m.insert("fit".into(), self.fit.clone());
        }
        if let Some(l) = &self.levels {
            m.insert("levels".into(), l.to_value());
        }
        Value::Object(m)
    }

    /// The bundle's JSON text: one tap per line, deterministic for the same bundle.
    pub fn to_json_string(&self) -> String {
        // Pretty-print, then fold each tap object onto one line to keep files readable.
        let pretty = serde_json::to_string_pretty(&self.to_value()).expect("a Value always serialises");
        let mut out = String::with_capacity(pretty.len());
        let mut lines = pretty.lines().peekable();
        while let Some(line) = lines.next() {
            let trimmed = line.trim_start();
            if trimmed == "{" && lines.peek().is_some_and(|n| n.trim_start().starts_with("\"x\":")) {
                let indent = &line[..line.len() - trimmed.len()];
                let mut obj = String::from("{");
                for inner in lines.by_ref() {
                    let t = inner.trim();
                    if t.starts_with('}') {
                        obj.push_str(t);
                        break;
                    }
                    obj.push_str(t);
                    if t.ends_with(',') {
                        obj.push(' ');
                    }
                }
                out.push_str(indent);
                out.push_str(&obj);
            } else {
                out.push_str(line);
            }
            out.push('\n');
        }
        out
    }

    /// Writes the bundle atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), BundleError> {
        crate::io::write_atomic(path, self.to_json_string().as_bytes())
            .map_err(|e| BundleError::Write { path: path.display().to_string(), reason: e.to_string() })
    }

    /// The bundle whose complexes the reduced resolution levels use: [`Bundle::levels`] when
    /// present, else this one.
    pub fn for_levels(&self) -> &Bundle {
        self.levels.as_deref().unwrap_or(self)
    }

    pub fn radii(&self) -> Vec<f64> {
        self.basis.iter().map(|e| e.radius).collect()
    }

    pub fn max_radius(&self) -> f64 {
        self.basis.last().map_or(0.0, |e| e.radius)
    }

    /// The complex to use at radius `r` (ARCHITECTURE.md "Kernels and bundles"): pass-through at r ≤ 0.5; below the smallest
    /// entry its offsets scaled by r / r_min; between two entries the lerp of their taps; above the
    /// largest its offsets scaled by r / r_max.
    pub fn at_radius(&self, r: f64) -> AtRadius {
        if r.is_nan() || r <= 0.5 {
            return AtRadius::PassThrough;
        }
        // A bundle built in code with no entries (the loader refuses one) blurs nothing.
        let (Some(first), Some(last)) = (self.basis.first(), self.basis.last()) else {
            return AtRadius::PassThrough;
        };
        if r <= first.radius {
            if r == first.radius {
                return AtRadius::Complex(first.complex.clone());
            }
            return AtRadius::Complex(first.complex.scaled(r / first.radius));
        }
        if r >= last.radius {
            if r == last.radius {
                return AtRadius::Complex(last.complex.clone());
            }
            return AtRadius::Complex(last.complex.scaled(r / last.radius));
        }
        // basis sorted: find b with r_a < r ≤ r_b.
        let j = self.basis.partition_point(|e| e.radius < r);
        let (a, b) = (&self.basis[j - 1], &self.basis[j]);
        if r == b.radius {
            return AtRadius::Complex(b.complex.clone());
        }
        let t = (r - a.radius) / (b.radius - a.radius);
        AtRadius::Complex(Complex::lerp(&a.complex, &b.complex, t))
    }
}

/// A linear map of tap offsets, `(x, y) → (m[0][0]·x + m[0][1]·y, m[1][0]·x + m[1][1]·y)`
/// (pixels, y down): the bokeh's rotation, aspect ratio and the image's pixel aspect ratio
/// (`RenderOptions::tap_transform`).
pub type Transform = [[f64; 2]; 2];

impl Bundle {
    /// The same bundle with every basis entry's tap offsets mapped by `m` (weights unchanged),
    /// its levels bundle's too.
    /// `at_radius` is linear in the offsets (lerp between entries, scaling outside them), so the
    /// complex this bundle gives at any radius is exactly the original's with its offsets mapped:
    /// the transform is applied once per render, never per tap table or pixel. Reaches, padding
    /// and regions of interest computed from the result grow with it.
    pub fn transformed(&self, m: &Transform) -> Bundle {
        let map = |t: &Tap| {
            let (x, y) = (t.x as f64, t.y as f64);
            Tap { x: (m[0][0] * x + m[0][1] * y) as f32, y: (m[1][0] * x + m[1][1] * y) as f32, w: t.w }
        };
        let basis = self
            .basis
            .iter()
            .map(|e| BasisEntry {
                radius: e.radius,
                psnr_db: None,
                complex: Complex::new(e.complex.layers.iter().map(|l| l.iter().map(map).collect()).collect()),
            })
            .collect();
        Bundle {
            name: self.name.clone(),
            description: self.description.clone(),
            layers: self.layers,
            taps: self.taps,
            target: self.target.clone(),
            basis,
            fit: self.fit.clone(),
            // The reduced levels' complexes turn and stretch with the rest.
            levels: self.levels.as_ref().map(|l| Box::new(l.transformed(m))),
            transform: Some(match self.transform {
                None => *m,
                Some(t) => [
                    [m[0][0] * t[0][0] + m[0][1] * t[1][0], m[0][0] * t[0][1] + m[0][1] * t[1][1]],
                    [m[1][0] * t[0][0] + m[1][1] * t[1][0], m[1][0] * t[0][1] + m[1][1] * t[1][1]],
                ],
            }),
        }
    }
}

/// The `format` and `version` fields: this format, a version this build reads.
fn check_format_and_version(obj: &serde_json::Map<String, Value>) -> Result<(), BundleError> {
    match obj.get("format") {
        Some(Value::String(s)) if s == FORMAT => {}
        Some(other) => return Err(invalid("format", format!("must be \"{FORMAT}\", found {other}"))),
        None => return Err(invalid("format", "missing")),
    }
    match obj.get("version").map(|v| (v, v.as_u64())) {
        Some((_, Some(n))) if (1..=VERSION).contains(&n) => Ok(()),
        Some((_, Some(n))) if n > VERSION => Err(invalid(
            "version",
            format!("{n} is newer than this build reads (version {VERSION}); update sparsebokeh"),
        )),
        Some((v, _)) => Err(invalid("version", format!("must be a positive integer, found {v}"))),
        None => Err(invalid("version", "missing")),
    }
}

/// Largest |w| of a tap a bundle may hold.
const MAX_WEIGHT: f64 = 1e6;

/// Entry `i` of `basis` (after one of radius `prev`): its radius, PSNR and complex of
/// `layers` × `taps` taps of unit mass.
fn basis_entry(i: usize, e: &Value, prev: Option<f64>, layers: usize, taps: usize) -> Result<BasisEntry, BundleError> {
    let at = |f: &str| format!("basis[{i}].{f}");
    let eo =
        e.as_object().ok_or_else(|| invalid(format!("basis[{i}]"), format!("must be an object, found {}", kind(e))))?;
    let radius = finite(eo.get("radius").ok_or_else(|| invalid(at("radius"), "missing"))?, &at("radius"))?;
    if !(MIN_BASIS_RADIUS..=MAX_OFFSET).contains(&radius) {
        return Err(invalid(at("radius"), format!("{radius} is outside [{MIN_BASIS_RADIUS}, {MAX_OFFSET}]")));
    }
    if let Some(prev) = prev.filter(|&p| radius <= p) {
        return Err(invalid(at("radius"), format!("radii must increase strictly: {radius} follows {prev}")));
    }
    let psnr_db = match eo.get("psnr_db") {
        None | Some(Value::Null) => None,
        Some(p) => Some(finite(p, &at("psnr_db"))?),
    };
    let cx = match eo.get("complex") {
        Some(Value::Array(a)) => a,
        Some(other) => return Err(invalid(at("complex"), format!("must be an array, found {}", kind(other)))),
        None => return Err(invalid(at("complex"), "missing")),
    };
    if cx.len() != layers {
        return Err(invalid(at("complex"), format!("has {} layers, `layers` says {layers}", cx.len())));
    }
    let complex = cx
        .iter()
        .enumerate()
        .map(|(l, layer)| layer_taps(&at(&format!("complex[{l}]")), layer, taps))
        .collect::<Result<Vec<_>, _>>()?;
    let complex = Complex::new(complex);
    let mass = complex.weight_sum();
    if (mass - 1.0).abs().is_nan() || (mass - 1.0).abs() > MASS_TOLERANCE {
        return Err(invalid(
            at("complex"),
            format!("weights must sum to 1 (product over layers of each layer's sum), found {mass:.6}"),
        ));
    }
    Ok(BasisEntry { radius, psnr_db, complex })
}

/// The mass of what renders between entries `i − 1` (`a`) and `i` (`b`): each layer's weight
/// sum moves linearly, so their product (the mass) can leave 1 between two entries of mass 1.
/// Checked at 15 evenly spaced points.
fn check_interpolated_mass(i: usize, a: &BasisEntry, b: &BasisEntry) -> Result<(), BundleError> {
    let sums = |c: &Complex| c.layers.iter().map(|l| l.iter().map(|t| t.w as f64).sum::<f64>()).collect::<Vec<_>>();
    let (sa, sb) = (sums(&a.complex), sums(&b.complex));
    for k in 1..16 {
        let t = k as f64 / 16.0;
        let mass: f64 = sa.iter().zip(&sb).map(|(x, y)| (1.0 - t) * x + t * y).product();
        if (mass - 1.0).abs().is_nan() || (mass - 1.0).abs() > INTERPOLATED_MASS_TOLERANCE {
            let r = a.radius + t * (b.radius - a.radius);
            return Err(invalid(
                format!("basis[{}]..basis[{i}]", i - 1),
                format!(
                    "the complex interpolated at radius {r} has weights summing to {mass:.6} (must be 1 within {INTERPOLATED_MASS_TOLERANCE}); each layer's sum must stay near constant between entries"
                ),
            ));
        }
    }
    Ok(())
}

/// One layer of a complex (named `lf` in messages): exactly `taps` finite taps in range.
fn layer_taps(lf: &str, layer: &Value, taps: usize) -> Result<Vec<Tap>, BundleError> {
    let la = layer.as_array().ok_or_else(|| invalid(lf, format!("must be an array of taps, found {}", kind(layer))))?;
    if la.len() != taps {
        return Err(invalid(lf, format!("has {} taps, `taps` says {taps}", la.len())));
    }
    la.iter()
        .enumerate()
        .map(|(k, t)| {
            let tf = format!("{lf}[{k}]");
            let to = t
                .as_object()
                .ok_or_else(|| invalid(&tf, format!("must be an object {{x, y, w}}, found {}", kind(t))))?;
            let get = |c: &str| -> Result<f32, BundleError> {
                let f = format!("{tf}.{c}");
                let x = finite(to.get(c).ok_or_else(|| invalid(&f, "missing"))?, &f)?;
                let limit = if c == "w" { MAX_WEIGHT } else { MAX_OFFSET };
                if x.abs() > limit {
                    return Err(invalid(&f, format!("{x} is outside ±{limit}")));
                }
                Ok(x as f32)
            };
            Ok(Tap { x: get("x")?, y: get("y")?, w: get("w")? })
        })
        .collect()
}

/// Folders searched for shipped bundles by name, in order: `$SPARSEBOKEH_KERNELS`, the install
/// prefix next to the running binary (`<prefix>/share/sparsebokeh/kernels`, for `<prefix>/bin`),
/// and the source tree's `bundle/kernels` this library was built from.
pub fn kernel_dirs() -> Vec<std::path::PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("SPARSEBOKEH_KERNELS") {
        dirs.push(std::path::PathBuf::from(d));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(prefix) = exe.parent().and_then(|b| b.parent()) {
            dirs.push(prefix.join("share/sparsebokeh/kernels"));
        }
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("bundle/kernels"));
    dirs
}

/// The names of the shipped bundles found in [`kernel_dirs`], sorted.
pub fn shipped_names() -> Vec<String> {
    let mut names: Vec<String> = kernel_dirs()
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            if p.extension()? != "json" {
                return None;
            }
            Some(p.file_stem()?.to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Loads a bundle given a file path or the name of a shipped bundle (`disc`, `hexagon`, ...).
pub fn locate(name_or_path: &str) -> Result<Bundle, BundleError> {
    let p = Path::new(name_or_path);
    if p.exists() || name_or_path.ends_with(".json") || name_or_path.contains('/') {
        return Bundle::load(p);
    }
    for d in kernel_dirs() {
        let candidate = d.join(format!("{name_or_path}.json"));
        if candidate.exists() {
            return Bundle::load(&candidate);
        }
    }
    Err(BundleError::Io {
        path: name_or_path.to_string(),
        reason: format!("no such file, and no shipped bundle of that name (shipped: {})", shipped_names().join(", ")),
    })
}

//! Target kernels: analytic aperture shapes and aperture images, rasterised by area averaging
//! onto the (2⌈r⌉+1)² grid of ARCHITECTURE.md "Bundle format" and normalised to unit sum.
//!
//! Analytic shapes are defined in units of the radius (the shape spans the unit circle, or for the
//! heart and images, its larger side spans 2 units) with y down the rows; each grid cell's value is
//! the fraction of the cell inside the shape, estimated with 8×8 sub-samples (the gaussian: its mean
//! over those sub-samples). Images are resampled exactly: each cell gets the area-weighted mean of
//! the image pixels it overlaps.

use super::psf::Grid;
use serde_json::{json, Map, Value};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Sub-samples per cell side for analytic shapes.
pub const SUBSAMPLES: usize = 8;

/// Why a shape could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShapeError {
    #[error("unknown shape `{0}` (known: disc, ngon, triangle, square, pentagon, hexagon, heptagon, octagon, heart, star, ring, gaussian, cat-eye, image)")]
    UnknownShape(String),
    #[error("shape parameter `{name}`: {reason}")]
    BadParam { name: String, reason: String },
    #[error("aperture image {path}: {reason}")]
    Image { path: String, reason: String },
    #[error("radius {0} must be a finite number > 0")]
    BadRadius(f64),
}

fn bad(name: &str, reason: impl Into<String>) -> ShapeError {
    ShapeError::BadParam { name: name.into(), reason: reason.into() }
}

/// Which channel of an aperture image is the aperture's transmission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageChannel {
    /// Alpha if the image has a non-opaque alpha channel, else luminance.
    Auto,
    Luminance,
    Alpha,
}

impl ImageChannel {
    pub fn name(self) -> &'static str {
        match self {
            ImageChannel::Auto => "auto",
            ImageChannel::Luminance => "luminance",
            ImageChannel::Alpha => "alpha",
        }
    }

    pub fn parse(s: &str) -> Option<ImageChannel> {
        match s {
            "auto" => Some(ImageChannel::Auto),
            "luminance" | "luma" => Some(ImageChannel::Luminance),
            "alpha" => Some(ImageChannel::Alpha),
            _ => None,
        }
    }
}

/// An aperture image reduced to one transmission channel in [0, 1], row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct ApertureImage {
    /// The file name it came from (for the bundle's `target` field).
    pub name: String,
    pub width: usize,
    pub height: usize,
    /// The channel actually used (never `Auto`).
    pub channel: ImageChannel,
    pub values: Arc<Vec<f64>>,
}

/// A target aperture shape.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Disc,
    /// Regular polygon; a vertex points up at rotation 0; `curvature` 0 (straight blades) to 1 (a disc).
    Ngon {
        sides: u32,
        rotation_deg: f64,
        curvature: f64,
    },
    Heart,
    /// `points` outer vertices on the unit circle, inner vertices at radius `inner`.
    Star {
        points: u32,
        inner: f64,
        rotation_deg: f64,
    },
    /// Mirror-lens donut: inner radius `inner` (fraction of the outer radius).
    Ring {
        inner: f64,
    },
    /// exp(−ρ²/2σ²) with σ = `sigma`·r (default ½), truncated to the grid.
    Gaussian {
        sigma: f64,
    },
    /// Cat's-eye vignetting: the unit disc clipped by a unit disc whose centre is `offset` away
    /// (fraction of r, to the right).
    CatEye {
        offset: f64,
    },
    Image(ApertureImage),
}

fn get_f(params: &Value, name: &str, default: f64) -> Result<f64, ShapeError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_f64() {
            Some(x) if x.is_finite() => Ok(x),
            _ => Err(bad(name, format!("must be a finite number, found {v}"))),
        },
    }
}

fn get_u(params: &Value, name: &str, default: u32, min: u32) -> Result<u32, ShapeError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_u64() {
            Some(n) if n >= min as u64 && n <= 64 => Ok(n as u32),
            _ => Err(bad(name, format!("must be an integer in {min}..=64, found {v}"))),
        },
    }
}

fn in_range(name: &str, v: f64, lo: f64, hi: f64) -> Result<f64, ShapeError> {
    if v >= lo && v <= hi {
        Ok(v)
    } else {
        Err(bad(name, format!("{v} is outside {lo}..={hi}")))
    }
}

impl Shape {
    /// The shape called `name` with parameters from a JSON object (missing ones take defaults:
    /// sides 6, rotation_deg 0, curvature 0, points 5, inner 0.5 (star: 0.45), sigma 0.5, offset 0.6).
    /// Polygon names (`triangle` … `octagon`) are n-gons. Images use [`Shape::from_image_file`].
    pub fn parse(name: &str, params: &Value) -> Result<Shape, ShapeError> {
        let named_sides = match name {
            "triangle" => Some(3),
            "square" => Some(4),
            "pentagon" => Some(5),
            "hexagon" => Some(6),
            "heptagon" => Some(7),
            "octagon" => Some(8),
            _ => None,
        };
        if let Some(s) = named_sides {
            let mut p = params.clone();
            if !p.is_object() {
                p = json!({});
            }
            if p.get("sides").is_none() {
                p["sides"] = json!(s);
            }
            return Shape::parse("ngon", &p);
        }
        match name {
            "disc" | "disk" | "circle" => Ok(Shape::Disc),
            "ngon" | "polygon" => Ok(Shape::Ngon {
                sides: get_u(params, "sides", 6, 3)?,
                rotation_deg: get_f(params, "rotation_deg", 0.0)?,
                curvature: in_range("curvature", get_f(params, "curvature", 0.0)?, 0.0, 1.0)?,
            }),
            "heart" => Ok(Shape::Heart),
            "star" => Ok(Shape::Star {
                points: get_u(params, "points", 5, 2)?,
                inner: in_range("inner", get_f(params, "inner", 0.45)?, 0.05, 1.0)?,
                rotation_deg: get_f(params, "rotation_deg", 0.0)?,
            }),
            "ring" | "donut" => Ok(Shape::Ring { inner: in_range("inner", get_f(params, "inner", 0.5)?, 0.0, 0.95)? }),
            "gaussian" => Ok(Shape::Gaussian { sigma: in_range("sigma", get_f(params, "sigma", 0.5)?, 0.05, 10.0)? }),
            "cat-eye" | "cateye" | "cat_eye" => {
                Ok(Shape::CatEye { offset: in_range("offset", get_f(params, "offset", 0.6)?, 0.0, 1.9)? })
            }
            other => Err(ShapeError::UnknownShape(other.to_string())),
        }
    }

    /// Parses the bundle's `target` field (`{"shape": ..., "params": {...}}`); image targets are
    /// read from `params.file` relative to `base_dir`.
    pub fn from_json(v: &Value, base_dir: &Path) -> Result<Shape, ShapeError> {
        let name = v.get("shape").and_then(Value::as_str).ok_or_else(|| bad("shape", "missing"))?;
        let params = v.get("params").cloned().unwrap_or(json!({}));
        if name == "image" {
            let file = params.get("file").and_then(Value::as_str).ok_or_else(|| bad("file", "missing"))?;
            let ch = params.get("channel").and_then(Value::as_str).unwrap_or("auto");
            let ch = ImageChannel::parse(ch).ok_or_else(|| bad("channel", format!("unknown channel `{ch}`")))?;
            return Shape::from_image_file(&base_dir.join(file), ch);
        }
        Shape::parse(name, &params)
    }

    /// [`Shape::from_json`] for analytic targets only: `None` for an aperture image (whose file
    /// a render does not read again) and for a target that does not parse.
    pub fn analytic_from_json(v: &Value) -> Option<Shape> {
        match v.get("shape").and_then(Value::as_str) {
            Some("image") => None,
            _ => Shape::from_json(v, Path::new("")).ok(),
        }
    }

    /// The shape's name as written in a bundle's `target`.
    pub fn name(&self) -> &'static str {
        match self {
            Shape::Disc => "disc",
            Shape::Ngon { .. } => "ngon",
            Shape::Heart => "heart",
            Shape::Star { .. } => "star",
            Shape::Ring { .. } => "ring",
            Shape::Gaussian { .. } => "gaussian",
            Shape::CatEye { .. } => "cat-eye",
            Shape::Image(_) => "image",
        }
    }

    /// `{"shape": NAME, "params": {...}}`, the bundle's `target` field.
    pub fn to_json(&self) -> Value {
        let params = match self {
            Shape::Disc | Shape::Heart => json!({}),
            Shape::Ngon { sides, rotation_deg, curvature } => {
                json!({"sides": sides, "rotation_deg": rotation_deg, "curvature": curvature})
            }
            Shape::Star { points, inner, rotation_deg } => {
                json!({"points": points, "inner": inner, "rotation_deg": rotation_deg})
            }
            Shape::Ring { inner } => json!({ "inner": inner }),
            Shape::Gaussian { sigma } => json!({ "sigma": sigma }),
            Shape::CatEye { offset } => json!({ "offset": offset }),
            Shape::Image(img) => json!({"file": img.name, "channel": img.channel.name(),
                "width": img.width, "height": img.height}),
        };
        let mut m = Map::new();
        m.insert("shape".into(), json!(self.name()));
        m.insert("params".into(), params);
        Value::Object(m)
    }

    /// Reads a PNG aperture image (8 or 16 bit, any colour type) and keeps one channel.
    pub fn from_image_file(path: &Path, channel: ImageChannel) -> Result<Shape, ShapeError> {
        let err = |reason: String| ShapeError::Image { path: path.display().to_string(), reason };
        let png = crate::io::decode_png(path).map_err(err)?;
        let (w, h, chans) = (png.width, png.height, png.channels);
        let sample = |i: usize| -> f64 { png.samples[i] as f64 / png.max as f64 };
        let has_alpha = chans == 2 || chans == 4;
        let alpha_used = match channel {
            ImageChannel::Alpha if !has_alpha => return Err(err("has no alpha channel".into())),
            ImageChannel::Alpha => true,
            ImageChannel::Luminance => false,
            ImageChannel::Auto => has_alpha && (0..w * h).any(|p| sample(p * chans + chans - 1) < 1.0),
        };
        let values: Vec<f64> = (0..w * h)
            .map(|p| {
                let s = |c: usize| sample(p * chans + c);
                if alpha_used {
                    s(chans - 1)
                } else if chans >= 3 {
                    0.2126 * s(0) + 0.7152 * s(1) + 0.0722 * s(2)
                } else {
                    s(0)
                }
            })
            .collect();
        if values.iter().all(|v| *v <= 0.0) {
            return Err(err("is black everywhere (no aperture)".into()));
        }
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let channel = if alpha_used { ImageChannel::Alpha } else { ImageChannel::Luminance };
        Ok(Shape::Image(ApertureImage { name, width: w, height: h, channel, values: Arc::new(values) }))
    }

    /// Whether the point `(u, v)` (in units of the radius, y down) is inside an analytic shape.
    fn inside(&self, u: f64, v: f64) -> bool {
        let rho = (u * u + v * v).sqrt();
        match self {
            Shape::Disc => rho <= 1.0,
            Shape::Ngon { sides, rotation_deg, curvature } => {
                let n = *sides as f64;
                let sector = std::f64::consts::TAU / n;
                // Angle measured from "up" (−y), clockwise on screen; vertices at multiples of the sector.
                let a = u.atan2(-v) - rotation_deg.to_radians();
                let rel = a.rem_euclid(sector) - sector * 0.5; // from the nearest edge normal
                let poly = rho * rel.cos() / (sector * 0.5).cos();
                (1.0 - curvature) * poly + curvature * rho <= 1.0
            }
            Shape::Heart => {
                let (cx, cy, scale) = heart_frame();
                // Heart curve (x² + y² − 1)³ ≤ x² y³ with y up.
                let x = u * scale + cx;
                let y = -v * scale + cy;
                let a = x * x + y * y - 1.0;
                a * a * a - x * x * y * y * y <= 0.0
            }
            Shape::Star { points, inner, rotation_deg } => {
                let n = *points as f64;
                let sector = std::f64::consts::TAU / n;
                let a = (u.atan2(-v) - rotation_deg.to_radians()).rem_euclid(sector);
                let a = if a > sector * 0.5 { sector - a } else { a };
                // Edge from the outer vertex (1, angle 0) to the inner vertex (inner, angle sector/2).
                let (ox, oy) = (0.0, 1.0);
                let (ix, iy) = (inner * (sector * 0.5).sin(), inner * (sector * 0.5).cos());
                let (px, py) = (rho * a.sin(), rho * a.cos());
                // Inside if p is on the origin's side of the edge.
                let cross = |x: f64, y: f64| (ix - ox) * (y - oy) - (iy - oy) * (x - ox);
                cross(px, py) * cross(0.0, 0.0) >= 0.0
            }
            Shape::Ring { inner } => rho <= 1.0 && rho >= *inner,
            Shape::CatEye { offset } => rho <= 1.0 && ((u - offset) * (u - offset) + v * v).sqrt() <= 1.0,
            Shape::Gaussian { .. } | Shape::Image(_) => unreachable!("not an indicator shape"),
        }
    }

    /// The target kernel at radius `r`: a grid of half ⌈r⌉ with unit sum.
    pub fn rasterize(&self, r: f64) -> Result<Grid, ShapeError> {
        self.rasterize_with(r, None)
    }

    /// The target kernel at radius `r` with the shape mapped by the linear map `m` of offsets
    /// (pixels, y down; as `RenderOptions::tap_transform` maps a bundle's taps), rasterised the
    /// same way (area fractions from [`SUBSAMPLES`]² sub-samples, each pulled back through
    /// `m⁻¹`) on a grid of half ⌈r·‖m‖⌉ (‖m‖ the largest stretch), unit sum. The reference for
    /// rotated and stretched bokeh; not for aperture images.
    pub fn rasterize_mapped(&self, r: f64, m: [[f64; 2]; 2]) -> Result<Grid, ShapeError> {
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        if matches!(self, Shape::Image(_)) || !(det.is_finite() && det != 0.0) {
            return Err(bad("transform", "needs an analytic shape and an invertible map"));
        }
        let inv = [[m[1][1] / det, -m[0][1] / det], [-m[1][0] / det, m[0][0] / det]];
        // The spectral norm of m: the largest |m·v| over unit v.
        let (a, b, c, d) = (m[0][0], m[0][1], m[1][0], m[1][1]);
        let f = (a * a + b * b + c * c + d * d) / 2.0;
        let stretch = (f + (f * f - det * det).max(0.0).sqrt()).sqrt();
        self.rasterize_with(r, Some((inv, (r * stretch - 1e-9).ceil() as i32)))
    }

    /// [`Shape::rasterize`], or with sample points pulled back through an inverse map onto a
    /// grid of the given half.
    fn rasterize_with(&self, r: f64, mapped: Option<([[f64; 2]; 2], i32)>) -> Result<Grid, ShapeError> {
        if !(r.is_finite() && r > 0.0) {
            return Err(ShapeError::BadRadius(r));
        }
        let half = mapped.map_or(r.ceil() as i32, |(_, h)| h.max(1));
        let mut g = match self {
            Shape::Image(img) => rasterize_image(img, r, half),
            _ => {
                let mut g = Grid::zeros(half);
                let ss = SUBSAMPLES;
                let side = g.side();
                for cy in 0..side {
                    for cx in 0..side {
                        let mut acc = 0.0;
                        for sy in 0..ss {
                            for sx in 0..ss {
                                let x = cx as f64 - half as f64 - 0.5 + (sx as f64 + 0.5) / ss as f64;
                                let y = cy as f64 - half as f64 - 0.5 + (sy as f64 + 0.5) / ss as f64;
                                let (x, y) = match mapped {
                                    None => (x, y),
                                    Some((m, _)) => (m[0][0] * x + m[0][1] * y, m[1][0] * x + m[1][1] * y),
                                };
                                acc += match self {
                                    Shape::Gaussian { sigma } => {
                                        let s = sigma * r;
                                        (-(x * x + y * y) / (2.0 * s * s)).exp()
                                    }
                                    _ => self.inside(x / r, y / r) as u8 as f64,
                                };
                            }
                        }
                        g.data[cy * side + cx] = acc;
                    }
                }
                g
            }
        };
        let s = g.sum();
        if s <= 0.0 {
            // A shape too thin to hit any sub-sample at this radius: fall back to the centre pixel.
            g.data.iter_mut().for_each(|v| *v = 0.0);
            g.add(0, 0, 1.0);
        } else {
            g.data.iter_mut().for_each(|v| *v /= s);
        }
        Ok(g)
    }
}

/// The heart curve's frame: its bounding-box centre and the scale that maps the unit
/// half-extent onto its larger half-side, computed once.
fn heart_frame() -> (f64, f64, f64) {
    static FRAME: OnceLock<(f64, f64, f64)> = OnceLock::new();
    *FRAME.get_or_init(|| {
        let n = 1200;
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for j in 0..=n {
            for i in 0..=n {
                let x = -1.6 + 3.2 * i as f64 / n as f64;
                let y = -1.6 + 3.2 * j as f64 / n as f64;
                let a = x * x + y * y - 1.0;
                if a * a * a - x * x * y * y * y <= 0.0 {
                    x0 = x0.min(x);
                    x1 = x1.max(x);
                    y0 = y0.min(y);
                    y1 = y1.max(y);
                }
            }
        }
        ((x0 + x1) / 2.0, (y0 + y1) / 2.0, ((x1 - x0) / 2.0).max((y1 - y0) / 2.0))
    })
}

/// Overlap length of [a0, a1] and [b0, b1].
fn overlap(a0: f64, a1: f64, b0: f64, b1: f64) -> f64 {
    (a1.min(b1) - a0.max(b0)).max(0.0)
}

/// Exact area averaging: the image, centred with its larger side spanning 2r, onto a grid of half `half`.
fn rasterize_image(img: &ApertureImage, r: f64, half: i32) -> Grid {
    let (w, h) = (img.width, img.height);
    let s = 2.0 * r / w.max(h) as f64; // grid pixels per image pixel
    let side = (2 * half + 1) as usize;
    // Per axis: for each image column, the grid cells it overlaps and by how much.
    let spans = |n: usize| -> Vec<Vec<(usize, f64)>> {
        (0..n)
            .map(|i| {
                let a0 = (i as f64 - n as f64 / 2.0) * s;
                let a1 = a0 + s;
                let lo = ((a0 + 0.5).floor() as i32).max(-half);
                let hi = ((a1 + 0.5).floor() as i32).min(half);
                (lo..=hi)
                    .filter_map(|c| {
                        let o = overlap(a0, a1, c as f64 - 0.5, c as f64 + 0.5);
                        (o > 0.0).then_some(((c + half) as usize, o))
                    })
                    .collect()
            })
            .collect()
    };
    let xs = spans(w);
    let ys = spans(h);
    // Rows first: tmp[j][cx] = Σ_i overlap_x · value.
    let mut tmp = vec![0.0; h * side];
    for j in 0..h {
        let row = &img.values[j * w..(j + 1) * w];
        let out = &mut tmp[j * side..(j + 1) * side];
        for (i, v) in row.iter().enumerate() {
            if *v != 0.0 {
                for &(c, o) in &xs[i] {
                    out[c] += o * v;
                }
            }
        }
    }
    let mut g = Grid::zeros(half);
    for (j, spans) in ys.iter().enumerate() {
        for &(c, o) in spans {
            for (dst, t) in g.data[c * side..(c + 1) * side].iter_mut().zip(&tmp[j * side..(j + 1) * side]) {
                *dst += o * t;
            }
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, w: u32, h: u32, color: png::ColorType, data: &[u8]) {
        let f = std::fs::File::create(path).unwrap();
        let mut e = png::Encoder::new(std::io::BufWriter::new(f), w, h);
        e.set_color(color);
        e.set_depth(png::BitDepth::Eight);
        e.write_header().unwrap().write_image_data(data).unwrap();
    }

    #[test]
    fn every_shape_is_unit_sum_on_the_right_grid_and_round_trips_json() {
        let shapes = [
            Shape::Disc,
            Shape::parse("hexagon", &json!({"curvature": 0.3})).unwrap(),
            Shape::Heart,
            Shape::parse("star", &json!({})).unwrap(),
            Shape::parse("ring", &json!({"inner": 0.6})).unwrap(),
            Shape::parse("gaussian", &json!({})).unwrap(),
            Shape::parse("cat-eye", &json!({})).unwrap(),
        ];
        for s in &shapes {
            for r in [0.7, 1.0, 3.5, 16.0] {
                let g = s.rasterize(r).unwrap();
                assert_eq!(g.half, r.ceil() as i32);
                assert!((g.sum() - 1.0).abs() < 1e-12, "{s:?} at {r}");
                assert!(g.data.iter().all(|v| *v >= 0.0));
            }
            let back = Shape::from_json(&s.to_json(), Path::new(".")).unwrap();
            assert_eq!(&back, s);
        }
    }

    #[test]
    fn shapes_have_their_geometry() {
        let hex = Shape::parse("hexagon", &json!({})).unwrap();
        assert!(hex.inside(0.0, -0.99)); // a vertex points up
        assert!(!hex.inside(0.99, 0.0)); // an edge at the side: apothem cos 30° ≈ 0.866
        assert!(hex.inside(0.85, 0.0));
        let round = Shape::parse("hexagon", &json!({"curvature": 1.0})).unwrap();
        assert!(round.inside(0.99, 0.0));
        let star = Shape::parse("star", &json!({"points": 5, "inner": 0.4})).unwrap();
        assert!(star.inside(0.0, -0.95) && !star.inside(0.0, 0.95) && star.inside(0.0, 0.35));
        let ring = Shape::Ring { inner: 0.5 };
        assert!(!ring.inside(0.0, 0.0) && ring.inside(0.7, 0.0));
        assert!(Shape::Heart.inside(0.0, 0.5) && !Shape::Heart.inside(0.0, -0.9));
        let eye = Shape::CatEye { offset: 0.6 };
        assert!(eye.inside(0.5, 0.0) && !eye.inside(-0.5, 0.0));
        assert!(matches!(Shape::parse("blob", &json!({})), Err(ShapeError::UnknownShape(_))));
        assert!(matches!(Shape::parse("ngon", &json!({"sides": 2})), Err(ShapeError::BadParam { .. })));
    }

    #[test]
    fn filled_circle_png_matches_the_analytic_disc() {
        let dir = tempfile::tempdir().unwrap();
        // A 512² grey image of an anti-aliased filled circle spanning the whole image.
        let n = 512u32;
        let ss = 4;
        let mut data = vec![0u8; (n * n) as usize];
        for j in 0..n {
            for i in 0..n {
                let mut c = 0;
                for sy in 0..ss {
                    for sx in 0..ss {
                        let x = i as f64 + (sx as f64 + 0.5) / ss as f64 - n as f64 / 2.0;
                        let y = j as f64 + (sy as f64 + 0.5) / ss as f64 - n as f64 / 2.0;
                        c += (x * x + y * y <= (n as f64 / 2.0).powi(2)) as u32;
                    }
                }
                data[(j * n + i) as usize] = ((c as f64 / (ss * ss) as f64) * 255.0).round() as u8;
            }
        }
        let path = dir.path().join("circle.png");
        write_png(&path, n, n, png::ColorType::Grayscale, &data);
        let img = Shape::from_image_file(&path, ImageChannel::Auto).unwrap();
        for r in [3.0, 8.0, 12.5] {
            let a = img.rasterize(r).unwrap();
            let b = Shape::Disc.rasterize(r).unwrap();
            let worst = a.data.iter().zip(&b.data).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-3, "r={r}: worst per-pixel difference {worst}");
        }
        // Alpha: the same circle as alpha over white.
        let rgba: Vec<u8> = data.iter().flat_map(|&a| [255, 255, 255, a]).collect();
        let path = dir.path().join("circle_alpha.png");
        write_png(&path, n, n, png::ColorType::Rgba, &rgba);
        let img = Shape::from_image_file(&path, ImageChannel::Auto).unwrap();
        let Shape::Image(ref ai) = img else { panic!() };
        assert_eq!(ai.channel, ImageChannel::Alpha);
        let a = img.rasterize(8.0).unwrap();
        let b = Shape::Disc.rasterize(8.0).unwrap();
        assert!(a.data.iter().zip(&b.data).all(|(p, q)| (p - q).abs() < 1e-3));
        assert!(matches!(
            Shape::from_image_file(&dir.path().join("missing.png"), ImageChannel::Auto),
            Err(ShapeError::Image { .. })
        ));
    }

    #[test]
    fn wide_image_spans_2r_across_its_larger_side() {
        let dir = tempfile::tempdir().unwrap();
        // 40×10 white bar: at r = 4 it covers x ∈ [−4, 4], y ∈ [−1, 1].
        let path = dir.path().join("bar.png");
        write_png(&path, 40, 10, png::ColorType::Grayscale, &[255u8; 400]);
        let g = Shape::from_image_file(&path, ImageChannel::Luminance).unwrap().rasterize(4.0).unwrap();
        let total: f64 = 8.0 * 2.0;
        assert!((g.get(0, 0) - 1.0 / total).abs() < 1e-12);
        assert!((g.get(4, 0) - 0.5 / total).abs() < 1e-12);
        assert!((g.get(0, 1) - 0.5 / total).abs() < 1e-12);
        assert_eq!(g.get(0, 2), 0.0);
    }
}

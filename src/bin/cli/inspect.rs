//! `sparsebokeh inspect`: a bundle's entries, and the PSF at a radius as an image.

use super::common::{check_output, failed, load_bundle, usage, Fail};
use clap::Args;
use sparsebokeh::psf::{complex_psf, interior_flatness, negative_lobe, psnr_db};
use sparsebokeh::shapes::Shape;
use sparsebokeh::{AtRadius, Bundle, Complex, Image, MAX_RADIUS};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A shipped bundle name or a .json path.
    pub bundle: String,
    /// Radius (px) whose PSF to write with --out.
    #[arg(long)]
    pub psf: Option<f64>,
    /// Where to write the PSF (.png: scaled so the peak is white; .exr: the values).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Largest PSF `--psf` writes, in samples (a 4096 × 4096 grid of f64, 128 MiB).
pub const MAX_PSF_SAMPLES: u64 = 1 << 24;

/// The shape a bundle was fitted to, if it names one this machine can rasterise (an image target's
/// path is relative to the bundle's folder).
fn bundle_shape(b: &Bundle, name_or_path: &str) -> Option<Shape> {
    let p = Path::new(name_or_path);
    let dir = if p.exists() { p.parent().unwrap_or(Path::new(".")).to_path_buf() } else { PathBuf::from(".") };
    Shape::from_json(&b.target, &dir).ok()
}

/// One row of the quality table: PSNR (ARCHITECTURE.md, bundle format), the most negative PSF value over the peak, and
/// the interior's std/mean (inside 0.8 r; "-" where the target has no flat interior).
fn quality_row(label: &str, complex: &Complex, r: f64, shape: Option<&Shape>, reach: String) {
    let psf = complex_psf(complex);
    let target = shape.and_then(|s| s.rasterize(r).ok());
    let psnr = target.as_ref().map_or("-".to_string(), |t| format!("{:.2}", psnr_db(&psf, t)));
    let flat =
        target.as_ref().and_then(|t| interior_flatness(&psf, t, r)).map_or("-".to_string(), |f| format!("{f:.4}"));
    println!("{label:>8}  {psnr:>9}  {:>+10.4}  {flat:>9}  {reach:>7}", negative_lobe(&psf));
}

/// Per entry, then per midpoint between entries (what the engine renders there).
fn print_quality(b: &Bundle, name_or_path: &str) {
    let shape = bundle_shape(b, name_or_path);
    println!("{:>8}  {:>9}  {:>10}  {:>9}  {:>7}", "radius", "psnr_db", "min/peak", "std/mean", "reach");
    for e in &b.basis {
        let stored = e.psnr_db.map_or("-".to_string(), |p| format!("{p:.2}"));
        match &shape {
            Some(s) => {
                quality_row(&format!("{}", e.radius), &e.complex, e.radius, Some(s), e.complex.reach().to_string())
            }
            None => println!("{:>8}  {stored:>9}  {:>+10.4}", e.radius, negative_lobe(&complex_psf(&e.complex))),
        }
    }
    println!("between entries (the engine's interpolation):");
    for w in b.basis.windows(2) {
        let r = 0.5 * (w[0].radius + w[1].radius);
        if let AtRadius::Complex(c) = b.at_radius(r) {
            quality_row(&format!("{r}"), &c, r, shape.as_ref(), String::new());
        }
    }
}

pub fn run(a: &InspectArgs) -> Result<(), Fail> {
    if let Some(out) = &a.out {
        check_output("--out ", out, &["exr", "png"])?;
    }
    let b = load_bundle("bundle", &a.bundle)?;
    println!("name:        {}", b.name);
    if !b.description.is_empty() {
        println!("description: {}", b.description);
    }
    println!("layers (L):  {}", b.layers);
    println!("taps (N):    {}  ({} taps per pixel)", b.taps, b.layers * b.taps);
    if !b.target.is_null() {
        println!("target:      {}", b.target);
    }
    println!("radii:       {}", b.radii().iter().map(|r| format!("{r}")).collect::<Vec<_>>().join(", "));
    print_quality(&b, &a.bundle);
    if !b.fit.is_null() {
        println!("fit:         {}", b.fit);
    }
    match (a.psf, &a.out) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(usage("--psf needs --out FILE")),
        (None, Some(_)) => Err(usage("--out needs --psf RADIUS")),
        (Some(r), Some(out)) => {
            if !(r.is_finite() && (0.0..=MAX_RADIUS).contains(&r)) {
                return Err(usage(format!("--psf {r}: must be a radius in 0..={MAX_RADIUS}")));
            }
            let complex = match b.at_radius(r) {
                AtRadius::PassThrough => Complex::identity(),
                AtRadius::Complex(c) => c,
            };
            let side = 2 * complex.reach() as u64 + 1;
            if side * side > MAX_PSF_SAMPLES {
                return Err(usage(format!(
                    "--psf {r}: the PSF there reaches {} px, a {side}×{side} grid, more than the {MAX_PSF_SAMPLES}-sample limit",
                    complex.reach()
                )));
            }
            let psf = complex_psf(&complex);
            let side = psf.side();
            let img =
                Image { width: side, height: side, channels: 1, data: psf.data.iter().map(|&v| v as f32).collect() };
            let peak = img.data.iter().cloned().fold(0.0f32, f32::max).max(f32::MIN_POSITIVE);
            sparsebokeh::io::write_data(out, &img, peak).map_err(|e| failed(e.to_string()))?;
            println!("wrote the PSF at r = {r} ({side}×{side}, peak {peak:.3e}) to {}", out.display());
            Ok(())
        }
    }
}

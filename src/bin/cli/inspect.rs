//! `sparsebokeh inspect`: a bundle's entries, and the PSF at a radius as an image.

use super::common::{check_output, failed, load_bundle, usage, Fail};
use clap::Args;
use sparsebokeh::levels::{impulse_psnr, impulse_response, level_weights, ImpulsePath};
use sparsebokeh::psf::{complex_psf, interior_flatness, negative_lobe, psnr_db};
use sparsebokeh::shapes::Shape;
use sparsebokeh::{AtRadius, Bundle, Complex, Engine, Image, MAX_RADIUS};
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
    /// Render impulses through the engine (one bright pixel, fixed and depth-driven paths, with
    /// the resolution levels) and print their PSNR against the target at 8–256 px, beside the
    /// same render at full resolution only; with --psf R --out FILE, write the rendered impulse
    /// response at R instead of the complex's PSF.
    #[arg(long)]
    pub impulse: bool,
}

/// The radii of the `--impulse` table.
pub const IMPULSE_RADII: [f64; 11] = [8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0, 96.0, 128.0, 192.0, 256.0];

/// The `--impulse` table: per radius, the rendered impulse's PSNR (lowest over phases) through
/// the fixed and depth-driven paths, with levels and at full resolution only.
fn print_impulse(b: &Bundle, shape: &Shape) -> Result<(), Fail> {
    let with = Engine::new(0).map_err(|e| failed(e.to_string()))?;
    let full = Engine::new(0).map_err(|e| failed(e.to_string()))?.with_levels(false);
    println!("rendered impulse response, PSNR dB (lowest over impulse positions):");
    println!(
        "{:>8}  {:>6}  {:>10}  {:>10}  {:>10}  {:>10}",
        "radius", "level", "fixed", "depth", "full fixed", "full depth"
    );
    for &r in &IMPULSE_RADII {
        let target = shape.rasterize(r).map_err(|e| failed(e.to_string()))?;
        let mut cells = Vec::new();
        for (engine, path) in [
            (&with, ImpulsePath::Fixed),
            (&with, ImpulsePath::Depth),
            (&full, ImpulsePath::Fixed),
            (&full, ImpulsePath::Depth),
        ] {
            cells.push(impulse_psnr(engine, b, r, path, &target).map_err(|e| failed(e.to_string()))?);
        }
        let (k, f) = level_weights(r as f32);
        let level = if f > 0.0 { format!("{k}+{}", k + 1) } else { k.to_string() };
        println!("{r:>8}  {level:>6}  {:>10.2}  {:>10.2}  {:>10.2}  {:>10.2}", cells[0], cells[1], cells[2], cells[3]);
    }
    Ok(())
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
    if a.impulse && a.psf.is_none() {
        let shape =
            bundle_shape(&b, &a.bundle).ok_or_else(|| usage("--impulse needs a bundle whose target shape is known"))?;
        print_impulse(&b, &shape)?;
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
            let psf = if a.impulse {
                let engine = Engine::new(0).map_err(|e| failed(e.to_string()))?;
                impulse_response(&engine, &b, r, ImpulsePath::Fixed, (0, 0)).map_err(|e| failed(e.to_string()))?
            } else {
                complex_psf(&complex)
            };
            let side = psf.side();
            let img =
                Image { width: side, height: side, channels: 1, data: psf.data.iter().map(|&v| v as f32).collect() };
            let peak = img.data.iter().cloned().fold(0.0f32, f32::max).max(f32::MIN_POSITIVE);
            sparsebokeh::io::write_data(out, &img, peak).map_err(|e| failed(e.to_string()))?;
            let what = if a.impulse { "rendered impulse response" } else { "PSF" };
            println!("wrote the {what} at r = {r} ({side}×{side}, peak {peak:.3e}) to {}", out.display());
            Ok(())
        }
    }
}

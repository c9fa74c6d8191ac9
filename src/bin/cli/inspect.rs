//! `sparsebokeh inspect`: a bundle's entries, and the PSF at a radius as an image.

use super::common::{check_output, failed, load_bundle, usage, Fail};
use clap::Args;
use sparsebokeh::psf::complex_psf;
use sparsebokeh::AtRadius;
use sparsebokeh::MAX_RADIUS;
use sparsebokeh::{Complex, Image};
use std::path::PathBuf;

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
    println!("{:>8}  {:>9}  {:>7}", "radius", "psnr_db", "reach");
    for e in &b.basis {
        let psnr = e.psnr_db.map_or("-".to_string(), |p| format!("{p:.2}"));
        println!("{:>8}  {:>9}  {:>7}", e.radius, psnr, e.complex.reach());
    }
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

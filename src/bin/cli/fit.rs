//! `sparsebokeh fit`: fit a kernel bundle to an aperture shape or image, a directory of images in
//! parallel, or compare the fitter with the baselines at one radius.

use super::common::Progress;
use clap::Args;
use rayon::prelude::*;
use serde_json::{json, Value};
use sparsebokeh::fit::{self, BasisOptions, FitSpec, FitTarget, Init, DEFAULT_RADII};
use sparsebokeh::psf::{complex_psf, psnr_db};
use sparsebokeh::shapes::{ImageChannel, Shape};
use sparsebokeh::MAX_RADIUS;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// Arguments of `sparsebokeh fit`.
#[derive(Args, Debug, Clone)]
pub struct FitArgs {
    /// Aperture shape: disc, ngon (or triangle…octagon), heart, star, ring, gaussian, cat-eye.
    #[arg(long, conflicts_with_all = ["image", "batch"])]
    pub shape: Option<String>,
    /// Aperture image (PNG): centred, its larger side spanning the diameter.
    #[arg(long, conflicts_with = "batch")]
    pub image: Option<PathBuf>,
    /// Channel of an aperture image: auto (alpha if present and not opaque), luminance, alpha.
    #[arg(long, default_value = "auto")]
    pub channel: String,
    /// n-gon: number of blades.
    #[arg(long)]
    pub sides: Option<u32>,
    /// n-gon, star: rotation in degrees (0: a vertex points up).
    #[arg(long)]
    pub rotation: Option<f64>,
    /// n-gon: blade curvature, 0 (straight) to 1 (a disc).
    #[arg(long)]
    pub curvature: Option<f64>,
    /// Star: number of points.
    #[arg(long)]
    pub points: Option<u32>,
    /// Star: inner radius ratio; ring: hole radius ratio.
    #[arg(long)]
    pub inner: Option<f64>,
    /// Gaussian: standard deviation as a fraction of the radius (default 0.5).
    #[arg(long)]
    pub sigma: Option<f64>,
    /// Cat-eye: offset of the clipping disc as a fraction of the radius (default 0.6).
    #[arg(long)]
    pub offset: Option<f64>,
    /// Layers per complex.
    #[arg(long, default_value_t = 3)]
    pub layers: usize,
    /// Taps per layer.
    #[arg(long, default_value_t = 32)]
    pub taps: usize,
    /// Radii of the bundle's entries, comma-separated (default 1,2,3,4,6,8,12,16,24,32,48,64).
    #[arg(long, value_delimiter = ',', conflicts_with = "radius")]
    pub radii: Option<Vec<f64>>,
    /// A single radius (a one-entry bundle; with --compare, the radius compared, default 32).
    #[arg(long)]
    pub radius: Option<f64>,
    /// Adam iterations of a fresh start (warm-started radii run half; each perturbation round an eighth).
    #[arg(long, default_value_t = 3000)]
    pub iterations: usize,
    /// Perturbation rounds: a warm-started radius runs two chains of half as many; a fresh fit (one
    /// radius, or a bundle's anchor) runs a population of up to 8 chains, 4–6 generations of 3/8 as many.
    #[arg(long, default_value_t = 32)]
    pub rounds: usize,
    /// Initial layout: radial, support, symmetric (quarter/half-turn symmetric targets) or auto (all that apply, the best kept).
    #[arg(long, default_value = "auto")]
    pub init: String,
    /// Weight of the flatness term: the squared error over the aperture's flat interior counts
    /// 1 + FLAT times, so the fit keeps a highlight's disc flat (no rings, no central dot).
    #[arg(long, default_value_t = fit::basis::DEFAULT_FLAT)]
    pub flat: f64,
    /// Tap weights: non-negative (the PSF is non-negative by construction) or signed (with the
    /// lobe term keeping the PSF's negative part near 0).
    #[arg(long, default_value = "non-negative")]
    pub weights: String,
    /// Weight of the lobe term: the squared negative part of the PSF counts LOBE times.
    #[arg(long, default_value_t = 0.0)]
    pub lobe: f64,
    /// Seed of the fit (the same seed gives the same taps).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also fit the complexes the reduced resolution levels render with (large radii), at this
    /// many taps per layer (a level at 1/2ᵏ resolution costs 4⁻ᵏ per pixel, so it affords more;
    /// the shipped bundles use 96). Default: none (the levels use the main basis).
    #[arg(long)]
    pub level_taps: Option<usize>,
    /// Radii of the reduced levels' complexes, comma-separated (with --level-taps; default
    /// 12,16,24,32,48: the reduced radii the levels render at).
    #[arg(long, value_delimiter = ',', requires = "level_taps")]
    pub level_radii: Option<Vec<f64>>,
    /// Output bundle (.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Bundle name (default: the shape's or image's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Bundle description.
    #[arg(long)]
    pub description: Option<String>,
    /// Fit every PNG in this directory (in parallel) into --out-dir.
    #[arg(long, requires = "out_dir")]
    pub batch: Option<PathBuf>,
    /// Where --batch writes its bundles (NAME.json per image).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Print a table comparing this fitter with simulated annealing and low-rank separable filters.
    #[arg(long)]
    pub compare: bool,
}

fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("sparsebokeh fit: {msg}");
    2
}

fn shape_params(a: &FitArgs) -> Value {
    let mut p = json!({});
    if let Some(v) = a.sides {
        p["sides"] = json!(v);
    }
    if let Some(v) = a.rotation {
        p["rotation_deg"] = json!(v);
    }
    if let Some(v) = a.curvature {
        p["curvature"] = json!(v);
    }
    if let Some(v) = a.points {
        p["points"] = json!(v);
    }
    if let Some(v) = a.inner {
        p["inner"] = json!(v);
    }
    if let Some(v) = a.sigma {
        p["sigma"] = json!(v);
    }
    if let Some(v) = a.offset {
        p["offset"] = json!(v);
    }
    p
}

/// The fit's spec, radii and aperture channel from the flags, checked.
fn checked_flags(args: &FitArgs) -> Result<(FitSpec, Vec<f64>, ImageChannel), String> {
    let Some(init) = Init::parse(&args.init) else {
        return Err(format!("--init: unknown init `{}` (radial, support, symmetric or auto)", args.init));
    };
    let Some(channel) = ImageChannel::parse(&args.channel) else {
        return Err(format!("--channel: unknown channel `{}` (auto, luminance or alpha)", args.channel));
    };
    let spec = FitSpec {
        layers: args.layers,
        taps: args.taps,
        iterations: args.iterations,
        init,
        seed: args.seed,
        rounds: args.rounds,
        flat: args.flat,
        signed: match args.weights.as_str() {
            "signed" => true,
            "non-negative" => false,
            w => return Err(format!("--weights: {w} is not signed or non-negative")),
        },
        lobe: args.lobe,
    };
    let (max_layers, max_taps) = (sparsebokeh::MAX_LAYERS as usize, sparsebokeh::MAX_TAPS as usize);
    if !(1..=max_layers).contains(&spec.layers) {
        return Err(format!("--layers: {} is outside 1..={max_layers}", spec.layers));
    }
    if !(1..=max_taps).contains(&spec.taps) {
        return Err(format!("--taps: {} is outside 1..={max_taps}", spec.taps));
    }
    if let Some(t) = args.level_taps.filter(|t| !(1..=max_taps).contains(t)) {
        return Err(format!("--level-taps: {t} is outside 1..={max_taps}"));
    }
    if let Some(r) =
        args.level_radii.iter().flatten().find(|r| !(r.is_finite() && **r > 0.0 && **r <= fit::MAX_FIT_RADIUS))
    {
        return Err(format!("--level-radii: {r} is outside (0, {}]", fit::MAX_FIT_RADIUS));
    }
    if spec.iterations == 0 {
        return Err("--iterations: must be at least 1".into());
    }
    if !(spec.flat.is_finite() && (0.0..=1000.0).contains(&spec.flat)) {
        return Err(format!("--flat: {} is outside 0..=1000", spec.flat));
    }
    if !(spec.lobe.is_finite() && spec.lobe >= 0.0) {
        return Err(format!("--lobe: {} must be a finite weight ≥ 0", spec.lobe));
    }
    let radii = match (&args.radius, &args.radii) {
        (Some(r), _) => vec![*r],
        (None, Some(list)) => list.clone(),
        (None, None) => DEFAULT_RADII.to_vec(),
    };
    let max = if args.compare { MAX_RADIUS } else { fit::MAX_FIT_RADIUS };
    if let Some(r) = radii.iter().find(|r| !(r.is_finite() && **r > 0.0 && **r <= max)) {
        return Err(format!("--radii/--radius: {r} is outside (0, {max}] (the largest radius a bundle is fitted at)"));
    }
    let params = [
        ("--rotation", args.rotation),
        ("--curvature", args.curvature),
        ("--inner", args.inner),
        ("--sigma", args.sigma),
        ("--offset", args.offset),
    ];
    if let Some((flag, Some(v))) = params.iter().find(|(_, v)| v.is_some_and(|v| !v.is_finite())) {
        return Err(format!("{flag} {v}: must be a finite number"));
    }
    Ok((spec, radii, channel))
}

/// The reduced levels' fit the flags ask for.
fn level_fit(args: &FitArgs) -> Option<fit::basis::LevelFit> {
    args.level_taps.map(|taps| fit::basis::LevelFit {
        taps,
        radii: args.level_radii.clone().unwrap_or_else(|| fit::basis::DEFAULT_LEVEL_RADII.to_vec()),
    })
}

/// Runs `sparsebokeh fit`; returns the process exit code (2 for bad flags or files).
pub fn run(args: &FitArgs) -> i32 {
    let (spec, radii, channel) = match checked_flags(args) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    if let Some(dir) = &args.batch {
        let Some(out_dir) = &args.out_dir else { return fail("--batch needs --out-dir DIR") };
        return run_batch(args, dir, out_dir, &spec, &radii, channel);
    }
    let params = shape_params(args);
    let (shape, target) = match (&args.shape, &args.image) {
        (Some(name), None) => match Shape::parse(name, &params) {
            Ok(s) => (s, FitTarget::Shape { name, params: &params }),
            Err(e) => return fail(format!("--shape {name}: {e}")),
        },
        (None, Some(path)) => match Shape::from_image_file(path, channel) {
            Ok(s) => (s, FitTarget::ImageFile { path, channel }),
            Err(e) => return fail(format!("--image: {e}")),
        },
        _ => return fail("give one of --shape NAME, --image FILE or --batch DIR"),
    };
    let name = args.name.clone().unwrap_or_else(|| match (&args.shape, &args.image) {
        (Some(n), _) => n.clone(),
        (_, Some(p)) => p.file_stem().map_or("image".into(), |s| s.to_string_lossy().into_owned()),
        _ => "kernel".into(),
    });
    if args.compare {
        return run_compare(&shape, &name, args.radius.unwrap_or(32.0), &spec);
    }
    let Some(out) = &args.out else { return fail("--out FILE is required (where the bundle is written)") };
    if let Err(e) = sparsebokeh::io::check_writable(out) {
        return fail(format!("--out {}: {e}; nothing was fitted", out.display()));
    }
    let description = args.description.clone().unwrap_or_default();
    let levels = level_fit(args);
    let command = fit::command_line(&target, &spec, &radii, levels.as_ref(), &name, &description);
    let opts =
        BasisOptions { spec, radii, anchor: None, name: name.clone(), description, command, bridge: true, levels };
    let progress = Progress::new(opts.radii.len(), &name);
    let report = |r: f64, db: f64| progress.step(format!("{name}: r={r}: {db:.2} dB"));
    let started = Instant::now();
    let bundle = match fit::fit_bundle(&shape, &opts, &report) {
        Ok(b) => b,
        Err(e) => {
            progress.finish();
            return fail(e);
        }
    };
    progress.finish();
    if let Err(e) = bundle.save(out) {
        return fail(format!("--out: {e}"));
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{}: {} radii in {seconds:.1} s -> {}", name, bundle.basis.len(), out.display());
    for e in &bundle.basis {
        println!("  r={:<5} {:6.2} dB", e.radius, e.psnr_db.unwrap_or(f64::NAN));
    }
    0
}

fn run_batch(args: &FitArgs, dir: &Path, out_dir: &Path, spec: &FitSpec, radii: &[f64], channel: ImageChannel) -> i32 {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return fail(format!("--batch {}: {e}", dir.display())),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("png")))
        .collect();
    files.sort();
    if files.is_empty() {
        return fail(format!("--batch {}: no .png files", dir.display()));
    }
    if let Err(e) = std::fs::create_dir_all(out_dir) {
        return fail(format!("--out-dir {}: {e}", out_dir.display()));
    }
    let progress = Progress::new(files.len() * radii.len(), "batch");
    let failures = Mutex::new(Vec::new());
    files.par_iter().for_each(|path| {
        let stem = path.file_stem().map_or("image".into(), |s| s.to_string_lossy().into_owned());
        let result = Shape::from_image_file(path, channel).map_err(|e| e.to_string()).and_then(|shape| {
            let description = args.description.clone().unwrap_or_default();
            let target = FitTarget::ImageFile { path, channel };
            let levels = level_fit(args);
            let command = fit::command_line(&target, spec, radii, levels.as_ref(), &stem, &description);
            let opts = BasisOptions {
                spec: spec.clone(),
                radii: radii.to_vec(),
                anchor: None,
                name: stem.clone(),
                description,
                command,
                bridge: true,
                levels,
            };
            let report = |r: f64, db: f64| progress.step(format!("{stem}: r={r}: {db:.2} dB"));
            let bundle = fit::fit_bundle(&shape, &opts, &report).map_err(|e| e.to_string())?;
            let out = out_dir.join(format!("{stem}.json"));
            bundle.save(&out).map_err(|e| e.to_string())?;
            Ok(out)
        });
        match result {
            Ok(out) => progress.step(format!("{} -> {}", path.display(), out.display())),
            Err(e) => failures.lock().unwrap_or_else(|p| p.into_inner()).push(format!("{}: {e}", path.display())),
        }
    });
    progress.finish();
    let failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    for f in &failures {
        eprintln!("sparsebokeh fit: {f}");
    }
    println!("{} of {} images fitted into {}", files.len() - failures.len(), files.len(), out_dir.display());
    if failures.is_empty() {
        0
    } else {
        2
    }
}

fn run_compare(shape: &Shape, name: &str, radius: f64, spec: &FitSpec) -> i32 {
    let target = match shape.rasterize(radius) {
        Ok(t) => t,
        Err(e) => return fail(format!("--radius: {e}")),
    };
    let budget = spec.layers * spec.taps;
    let t0 = Instant::now();
    let ours = fit::fit_target(&target, spec, None);
    let ours_s = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    // The budget `fit::baseline` documents for --compare: a fixed amount of annealing work.
    let anneal_iters = fit::baseline::anneal_default_iters(&target, spec.layers, spec.taps);
    let annealed = fit::baseline::anneal(&target, spec.layers, spec.taps, spec.seed, anneal_iters);
    let anneal_s = t0.elapsed().as_secs_f64();
    let anneal_db = psnr_db(&complex_psf(&annealed), &target);
    let t0 = Instant::now();
    let (rank, lowrank_tpp, lowrank_db) = fit::baseline::lowrank(&target, budget);
    let lowrank_s = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let plain = fit::baseline::recipe(&target, spec.layers, spec.taps, spec.seed);
    let plain_s = t0.elapsed().as_secs_f64();
    println!("{name} at radius {radius}, L={} N={} ({budget} taps per pixel budget)", spec.layers, spec.taps);
    println!("{:<40} {:>10} {:>9} {:>9}", "method", "taps/pixel", "PSNR dB", "fit s");
    let row = |m: String, tpp: usize, db: f64, s: f64| println!("{m:<40} {tpp:>10} {db:>9.2} {s:>9.2}");
    row(format!("sparse complex (Adam, {} init)", ours.init.name()), budget, ours.fitted.psnr_db, ours_s);
    row("simulated annealing".into(), budget, anneal_db, anneal_s);
    row(format!("low-rank separable (rank {rank})"), lowrank_tpp, lowrank_db, lowrank_s);
    row("plain recipe (Adam 1500 it, no search)".into(), budget, plain.psnr_db, plain_s);
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        fit: FitArgs,
    }

    fn args(list: &[&str]) -> FitArgs {
        Cli::try_parse_from(std::iter::once("fit").chain(list.iter().copied())).unwrap().fit
    }

    #[test]
    fn bad_flags_and_files_exit_2() {
        assert_eq!(run(&args(&["--shape", "disc", "--init", "spiral", "--out", "x.json"])), 2);
        assert_eq!(run(&args(&["--shape", "blob", "--out", "x.json"])), 2);
        assert_eq!(run(&args(&["--shape", "ngon", "--sides", "2", "--out", "x.json"])), 2);
        assert_eq!(run(&args(&["--image", "/nonexistent/aperture.png", "--out", "x.json"])), 2);
        assert_eq!(run(&args(&["--shape", "disc"])), 2); // no --out
        assert_eq!(run(&args(&["--shape", "disc", "--radius=-3", "--out", "x.json"])), 2);
        assert_eq!(run(&args(&["--batch", "/nonexistent/dir", "--out-dir", "/tmp"])), 2);
        assert!(Cli::try_parse_from(["fit", "--shape", "disc", "--image", "a.png"]).is_err());
    }

    #[test]
    fn fits_a_small_bundle_that_loads() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("hex.json");
        let a = args(&[
            "--shape",
            "hexagon",
            "--radii",
            "2,4",
            "--taps",
            "8",
            "--iterations",
            "100",
            "--rounds",
            "1",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(run(&a), 0);
        let b = sparsebokeh::Bundle::load(&out).unwrap();
        assert_eq!((b.layers, b.taps, b.basis.len()), (3, 8, 2));
        assert_eq!(b.target["params"]["sides"], 6);
        assert!(b.fit["command"].as_str().is_some());
    }
}

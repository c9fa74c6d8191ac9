//! `sparsebokeh bench`: the sparse engine beside what users would use instead, in one process:
//! fixed and depth-driven sparse blur, FFT convolution with the dense kernel, dense
//! direct convolution, and the low-rank separable baseline at the sparse complex's PSNR.

use super::common::{failed, load_bundle, Fail};
use clap::Args;
use serde_json::json;
use sparsebokeh::bundle::AtRadius;
use sparsebokeh::fit::baseline::lowrank::lowrank_psnr;
use sparsebokeh::kernel::psf::Grid;
use sparsebokeh::kernel::shapes::Shape;
use sparsebokeh::render::fft::FftConvolver;
use sparsebokeh::render::lowrank::LowRankFilter;
use sparsebokeh::render::plan::TapTable;
use sparsebokeh::render::Edges;
use sparsebokeh::{BasisEntry, Bundle, Complex, Engine, Image, ImageView, Lens, LensMode, Tap};
use std::time::Instant;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Bundle to time (a shipped name or a .json path).
    #[arg(long, default_value = "disc")]
    pub bundle: String,
    /// Timed runs per method (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Skip the 3840×2160 run (faster).
    #[arg(long)]
    pub no_4k: bool,
}

fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up: page faults, lazy tables
    let mut t: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[t.len() / 2]
}

/// Merged integer taps per pixel of a complex (what the fixed-radius loop executes).
fn int_taps(c: &Complex) -> usize {
    TapTable::from_complex(c.clone(), 0.0).integer_layers().iter().map(Vec::len).sum()
}

/// The CPU's clock in GHz from /proc/cpuinfo (nominal), if known.
fn cpu_ghz() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let mhz = info.lines().find(|l| l.starts_with("cpu MHz"))?.split(':').nth(1)?.trim().parse::<f64>().ok()?;
    Some(mhz / 1e3)
}

/// A one-layer "complex" whose taps are the dense kernel's cells: direct convolution through
/// the same SIMD loop as the sparse engine.
fn dense_as_bundle(k: &Grid) -> Bundle {
    let mut taps = Vec::new();
    for dy in -k.half..=k.half {
        for dx in -k.half..=k.half {
            let w = k.get(dx, dy);
            if w != 0.0 {
                taps.push(Tap { x: dx as f32, y: dy as f32, w: w as f32 });
            }
        }
    }
    let n = taps.len();
    Bundle {
        name: "dense".into(),
        description: String::new(),
        layers: 1,
        taps: n,
        target: serde_json::Value::Null,
        basis: vec![BasisEntry { radius: k.half as f64, psnr_db: None, complex: Complex::new(vec![taps]) }],
        fit: serde_json::Value::Null,
    }
}

pub fn run(a: &BenchArgs) -> Result<(), Fail> {
    let bundle = load_bundle("--bundle", &a.bundle)?;
    let (w, h) = (1920usize, 1080usize);
    let scene = sparsebokeh::scene::city(w, h);
    let src = &scene.color;
    let depth = Image { width: w, height: h, channels: 1, data: scene.depth.clone() };
    let mut out = Image::new(w, h, 4);
    let engine = Engine::new(0).map_err(|e| failed(e.to_string()))?;
    let one = Engine::new(1).map_err(|e| failed(e.to_string()))?;
    let threads = engine.threads();
    let runs = a.runs;
    let fail = |e: sparsebokeh::RenderError| failed(e.to_string());

    let AtRadius::Complex(c32) = bundle.at_radius(32.0) else { unreachable!() };
    let sparse_psnr = bundle.basis.iter().find(|e| e.radius == 32.0).and_then(|e| e.psnr_db);

    // 1. Fixed radius 32, and its scaling companions.
    let mut err = None;
    let mut fixed = |eng: &Engine, r: f64, img: &Image, out: &mut Image| {
        if let Err(e) = eng.blur_fixed(&bundle, r, &img.view(), &mut out.view_mut()) {
            err = Some(e);
        }
    };
    let fixed_ms = median_ms(runs, || fixed(&engine, 32.0, src, &mut out));
    let fixed_r8_ms = median_ms(runs, || fixed(&engine, 8.0, src, &mut out));
    let fixed_r64_ms = median_ms(runs, || fixed(&engine, 64.0, src, &mut out));
    let fixed_1thread_ms = median_ms(runs, || fixed(&one, 32.0, src, &mut out));
    let fixed_4k_ms = if a.no_4k {
        None
    } else {
        let big = sparsebokeh::scene::city(2 * w, 2 * h).color;
        let mut big_out = Image::new(2 * w, 2 * h, 4);
        Some(median_ms(runs, || fixed(&engine, 32.0, &big, &mut big_out)))
    };
    if let Some(e) = err {
        return Err(fail(e));
    }

    // 2. Depth-driven, CoC 0–32 px (the city scene: ground ramp, planes, hard-edged objects).
    let lens = Lens { mode: LensMode::Depth, focus: 5.0, dof: 0.0, size: 24.0, maximum: 32.0, render_scale: 1.0 };
    let mut err = None;
    let mut depth_run = |edges: Edges, out: &mut Image| {
        if let Err(e) =
            engine.blur_depth_with(&bundle, &lens, edges, &depth.view(), 0, &src.view(), &mut out.view_mut())
        {
            err = Some(e);
        }
    };
    let depth_ms = median_ms(runs, || depth_run(Edges::Gather, &mut out));
    let layered_ms = median_ms(runs, || depth_run(Edges::Layered, &mut out));
    if let Some(e) = err {
        return Err(fail(e));
    }

    // 3. FFT convolution with the dense disc kernel (planned once, outside the timing).
    let disc = Shape::parse("disc", &json!({})).and_then(|s| s.rasterize(32.0)).map_err(|e| failed(e.to_string()))?;
    let mut fft = FftConvolver::new(&disc, w, h).map_err(fail)?;
    let mut err = None;
    let fft_ms = median_ms(runs, || {
        if let Err(e) = fft.convolve(&src.view(), &mut out.view_mut()) {
            err = Some(e);
        }
    });

    // 4. Dense direct convolution (f32x8, the engine's loop) on a crop, scaled by pixel count.
    let dense = dense_as_bundle(&disc);
    let (cw, ch) = (384usize, 216usize);
    let crop =
        Image::from_view(&ImageView::new(&src.data, cw, ch, 4, (w * 16) as isize).map_err(|e| failed(e.to_string()))?);
    let mut crop_out = Image::new(cw, ch, 4);
    let dense_crop_ms = median_ms(runs.min(3), || {
        if let Err(e) = engine.blur_fixed(&dense, dense.basis[0].radius, &crop.view(), &mut crop_out.view_mut()) {
            err = Some(e);
        }
    });
    let dense_ms = dense_crop_ms * (w * h) as f64 / (cw * ch) as f64;

    // 5. Low-rank separable at the rank that matches the sparse complex's PSNR.
    let target_psnr = sparse_psnr.unwrap_or(f64::INFINITY);
    let max_rank = disc.side();
    let rank = (1..=max_rank).find(|&r| lowrank_psnr(&disc, r) >= target_psnr).unwrap_or(max_rank);
    let mut lr = LowRankFilter::from_kernel(&disc, rank);
    let lowrank_ms = median_ms(runs, || {
        if let Err(e) = lr.render(&src.view(), &mut out.view_mut()) {
            err = Some(e);
        }
    });
    if let Some(e) = err {
        return Err(fail(e));
    }

    // FLOP counts (multiply + add per tap per channel).
    let px = (w * h) as f64;
    let fixed_taps = int_taps(&c32);
    let bilinear_taps = 4 * bundle.layers * bundle.taps;
    let dense_taps = dense.taps;
    let lowrank_taps = lr.taps_per_pixel();
    let gflops = |taps: usize, ms: f64| taps as f64 * 4.0 * 2.0 * px / (ms * 1e-3) / 1e9;
    let lanes = if cfg!(target_feature = "avx512f") { 16.0 } else { 8.0 };
    let peak = cpu_ghz().map(|ghz| threads as f64 * 2.0 * lanes * 2.0 * ghz);

    if a.json {
        let j = json!({
            "frame": "1920x1080 RGBA f32",
            "bundle": bundle.name,
            "threads": threads,
            "simd": sparsebokeh::cpu::simd_level(),
            "fixed_ms": fixed_ms,
            "depth_ms": depth_ms,
            "layered_ms": layered_ms,
            "fft_ms": fft_ms,
            "dense_ms": dense_ms,
            "lowrank_ms": lowrank_ms,
            "lowrank_rank": rank,
            "fixed_4k_ms": fixed_4k_ms,
            "fixed_r8_ms": fixed_r8_ms,
            "fixed_r64_ms": fixed_r64_ms,
            "fixed_1thread_ms": fixed_1thread_ms,
            "sparse_psnr_db_r32": sparse_psnr,
            "lowrank_psnr_db": lowrank_psnr(&disc, rank),
            "ratios": {
                "depth_over_fixed": depth_ms / fixed_ms,
                "layered_over_fixed": layered_ms / fixed_ms,
                "fft_over_fixed": fft_ms / fixed_ms,
                "dense_over_fixed": dense_ms / fixed_ms,
                "fixed_4k_over_1080p": fixed_4k_ms.map(|t| t / fixed_ms),
                "r64_over_r8": fixed_r64_ms / fixed_r8_ms,
                "speedup_2_threads": fixed_1thread_ms / fixed_ms,
            },
        });
        println!("{}", serde_json::to_string_pretty(&j).unwrap());
        return Ok(());
    }
    println!(
        "sparsebokeh bench: 1920×1080 RGBA f32, bundle `{}` (L={}, N={}), {threads} threads",
        bundle.name, bundle.layers, bundle.taps
    );
    println!("SIMD: {}", sparsebokeh::cpu::simd_level());
    match peak {
        Some(p) => println!("peak: {p:.0} GFLOP/s ({threads} cores × 2 FMA × {lanes} lanes × 2 × clock)"),
        None => println!("peak: unknown (no clock in /proc/cpuinfo)"),
    }
    println!("{:<44} {:>10} {:>9} {:>10} {:>9}", "method", "ms", "× fixed", "taps/px", "GFLOP/s");
    let row = |name: &str, ms: f64, taps: Option<usize>| {
        let (t, g) = match taps {
            Some(t) => (t.to_string(), format!("{:.1}", gflops(t, ms))),
            None => ("-".into(), "-".into()),
        };
        println!("{name:<44} {ms:>10.1} {:>9.2} {t:>10} {g:>9}", ms / fixed_ms);
    };
    row("1. sparse fixed r=32", fixed_ms, Some(fixed_taps));
    row("2. sparse depth-driven 0–32 px (gather)", depth_ms, Some(bilinear_taps));
    row("   sparse depth-driven 0–32 px (layered)", layered_ms, None);
    row("3. FFT convolution, 65×65 disc", fft_ms, None);
    row("4. dense direct, 65×65 disc (crop, scaled)", dense_ms, Some(dense_taps));
    row(&format!("5. low-rank separable, rank {rank}"), lowrank_ms, Some(lowrank_taps));
    if let Some(t) = fixed_4k_ms {
        row("   sparse fixed r=32, 3840×2160", t, None);
    }
    row(
        "   sparse fixed r=8",
        fixed_r8_ms,
        Some(int_taps(&match bundle.at_radius(8.0) {
            AtRadius::Complex(c) => c,
            AtRadius::PassThrough => Complex::identity(),
        })),
    );
    row(
        "   sparse fixed r=64",
        fixed_r64_ms,
        Some(int_taps(&match bundle.at_radius(64.0) {
            AtRadius::Complex(c) => c,
            AtRadius::PassThrough => Complex::identity(),
        })),
    );
    row("   sparse fixed r=32, 1 thread", fixed_1thread_ms, Some(fixed_taps));
    println!(
        "PSNR at r=32: sparse {} dB, low-rank rank {rank} {:.2} dB",
        sparse_psnr.map_or("-".into(), |p| format!("{p:.2}")),
        lowrank_psnr(&disc, rank)
    );
    Ok(())
}

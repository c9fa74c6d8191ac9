//! `sparsebokeh bench`: the sparse engine beside what users would use instead, in one process:
//! fixed and depth-driven sparse blur, FFT convolution with the dense kernel, dense
//! direct convolution, and the low-rank separable baseline at the sparse complex's PSNR.

use super::common::{failed, load_bundle, Fail};
use clap::Args;
use serde_json::json;
use sparsebokeh::fit::baseline::lowrank::lowrank_psnr;
use sparsebokeh::plan::TapTable;
use sparsebokeh::psf::Grid;
use sparsebokeh::reference::FftConvolver;
use sparsebokeh::reference::LowRankFilter;
use sparsebokeh::shapes::Shape;
use sparsebokeh::AtRadius;
use sparsebokeh::Edges;
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
        levels: None,
        transform: None,
    }
}

/// The timings of one bench run (median ms).
struct Timings {
    threads: usize,
    fixed_ms: f64,
    fixed_r8_ms: f64,
    fixed_r64_ms: f64,
    fixed_r128_ms: f64,
    fixed_r256_ms: f64,
    /// Fixed r=32 and r=256 with every radius at full resolution (no levels).
    full_r32_ms: f64,
    full_r256_ms: f64,
    fixed_1thread_ms: f64,
    fixed_4k_ms: Option<f64>,
    depth_ms: f64,
    depth128_ms: f64,
    layered_ms: f64,
    lights_ms: f64,
    fft_ms: f64,
    fft128_ms: f64,
    dense_ms: f64,
    lowrank_ms: f64,
    /// The low-rank baseline's rank and taps per pixel, and the dense kernel's taps.
    rank: usize,
    lowrank_taps: usize,
    dense_taps: usize,
}

pub fn run(a: &BenchArgs) -> Result<(), Fail> {
    let bundle = load_bundle("--bundle", &a.bundle)?;
    let disc = Shape::parse("disc", &json!({})).and_then(|s| s.rasterize(32.0)).map_err(|e| failed(e.to_string()))?;
    let t = measure(a, &bundle, &disc).map_err(|e| failed(e.to_string()))?;
    let sparse_psnr = bundle.basis.iter().find(|e| e.radius == 32.0).and_then(|e| e.psnr_db);
    if a.json {
        print_json(&t, &bundle, &disc, sparse_psnr);
    } else {
        print_table(&t, &bundle, &disc, sparse_psnr);
    }
    Ok(())
}

/// Times the sparse engine and the baselines on the 1080p city scene.
fn measure(a: &BenchArgs, bundle: &Bundle, disc: &Grid) -> Result<Timings, String> {
    let (w, h) = (FRAME_W, FRAME_H);
    let scene = sparsebokeh::scene::city(w, h);
    let src = &scene.color;
    let mut out = Image::new(w, h, 4);
    let engine = Engine::new(0).map_err(|e| e.to_string())?;
    let one = Engine::new(1).map_err(|e| e.to_string())?;
    let runs = a.runs;
    let mut err: Option<String> = None;
    let mut keep = |r: Result<_, sparsebokeh::RenderError>| {
        if let Err(e) = r {
            err = Some(e.to_string());
        }
    };

    // 1. Fixed radius 32, and its scaling companions.
    let mut fixed = |eng: &Engine, r: f64, img: &Image, out: &mut Image| {
        keep(eng.blur_fixed(bundle, r, &img.view(), &mut out.view_mut()).map(|_| ()))
    };
    let fixed_ms = median_ms(runs, || fixed(&engine, 32.0, src, &mut out));
    let fixed_r8_ms = median_ms(runs, || fixed(&engine, 8.0, src, &mut out));
    let fixed_r64_ms = median_ms(runs, || fixed(&engine, 64.0, src, &mut out));
    let [fixed_r128_ms, fixed_r256_ms, full_r32_ms, full_r256_ms] = time_large(bundle, src, runs)?;
    let fixed_1thread_ms = median_ms(runs, || fixed(&one, 32.0, src, &mut out));
    let fixed_4k_ms = (!a.no_4k).then(|| {
        let big = sparsebokeh::scene::city(2 * w, 2 * h).color;
        let mut big_out = Image::new(2 * w, 2 * h, 4);
        median_ms(runs, || fixed(&engine, 32.0, &big, &mut big_out))
    });

    // 2. Depth-driven, CoC 0–32 px (the city scene: ground ramp, planes, hard-edged objects).
    let (depth_ms, layered_ms, lights_ms) = time_depth(&engine, bundle, &scene, runs).map_err(|e| e.to_string())?;
    let depth128_ms = time_depth_128(&engine, bundle, &scene, runs).map_err(|e| e.to_string())?;

    // 3. FFT convolution with the dense disc kernel (planned once, outside the timing).
    let mut fft = FftConvolver::new(disc, w, h).map_err(|e| e.to_string())?;
    let fft_ms = median_ms(runs, || keep(fft.convolve(&src.view(), &mut out.view_mut()).map(|_| ())));
    drop(fft);
    let disc128 = Shape::parse("disc", &json!({})).and_then(|s| s.rasterize(128.0)).map_err(|e| e.to_string())?;
    let mut fft128 = FftConvolver::new(&disc128, w, h).map_err(|e| e.to_string())?;
    let fft128_ms = median_ms(runs, || keep(fft128.convolve(&src.view(), &mut out.view_mut()).map(|_| ())));
    drop(fft128);

    // 4. Dense direct convolution (f32x8, the engine's loop) on a crop, scaled by pixel count.
    let (dense_ms, dense_taps) = time_dense(&engine, disc, src, runs)?;

    // 5. Low-rank separable at the rank that matches the sparse complex's PSNR.
    let target_psnr = bundle.basis.iter().find(|e| e.radius == 32.0).and_then(|e| e.psnr_db).unwrap_or(f64::INFINITY);
    let max_rank = disc.side();
    let rank = (1..=max_rank).find(|&r| lowrank_psnr(disc, r) >= target_psnr).unwrap_or(max_rank);
    let mut lr = LowRankFilter::from_kernel(disc, rank);
    let lowrank_ms = median_ms(runs, || keep(lr.render(&src.view(), &mut out.view_mut()).map(|_| ())));
    if let Some(e) = err {
        return Err(e);
    }
    Ok(Timings {
        threads: engine.threads(),
        fixed_ms,
        fixed_r8_ms,
        fixed_r64_ms,
        fixed_r128_ms,
        fixed_r256_ms,
        full_r32_ms,
        full_r256_ms,
        fixed_1thread_ms,
        fixed_4k_ms,
        depth_ms,
        depth128_ms,
        layered_ms,
        lights_ms,
        fft_ms,
        fft128_ms,
        dense_ms,
        lowrank_ms,
        rank,
        lowrank_taps: lr.taps_per_pixel(),
        dense_taps,
    })
}

/// Depth-driven blurs of the city scene, CoC 0–32 px: (gather ms, layered ms, layered ms on the
/// demo's version with a row of small HDR lights before the far wall).
fn time_depth(
    engine: &Engine,
    bundle: &Bundle,
    scene: &sparsebokeh::scene::Scene,
    runs: usize,
) -> Result<(f64, f64, f64), sparsebokeh::RenderError> {
    let (w, h) = (scene.color.width, scene.color.height);
    let lit = sparsebokeh::scene::city_with_lights(w, h);
    let lens = Lens { mode: LensMode::Depth, focus: 5.0, dof: 0.0, size: 24.0, maximum: 32.0, render_scale: 1.0 };
    let mut out = Image::new(w, h, 4);
    let mut result = Ok(());
    let mut time = |edges: Edges, s: &sparsebokeh::scene::Scene| {
        let depth = ImageView::new(&s.depth, w, h, 1, (w * 4) as isize).expect("a packed depth view");
        median_ms(runs, || {
            if let Err(e) =
                engine.blur_depth_with(bundle, &lens, edges, &depth, 0, &s.color.view(), &mut out.view_mut())
            {
                result = Err(e);
            }
        })
    };
    let times = (time(Edges::Gather, scene), time(Edges::Layered, scene), time(Edges::Layered, &lit));
    result.map(|_| times)
}

/// Fixed r=128 and r=256 with the resolution levels, and r=32 and r=256 at full resolution only
/// (median ms).
fn time_large(bundle: &Bundle, src: &Image, runs: usize) -> Result<[f64; 4], String> {
    let engine = Engine::new(0).map_err(|e| e.to_string())?;
    let full = Engine::new(0).map_err(|e| e.to_string())?.with_levels(false);
    let mut out = Image::new(src.width, src.height, src.channels);
    let mut err = None;
    let mut time = |eng: &Engine, r: f64, runs: usize| {
        median_ms(runs, || {
            if let Err(e) = eng.blur_fixed(bundle, r, &src.view(), &mut out.view_mut()) {
                err = Some(e.to_string());
            }
        })
    };
    let t = [
        time(&engine, 128.0, runs),
        time(&engine, 256.0, runs),
        time(&full, 32.0, runs),
        time(&full, 256.0, runs.min(3)),
    ];
    err.map_or(Ok(t), Err)
}

/// The depth-driven gather of the city scene with CoC 0–128 px (lens size and maximum × 4).
fn time_depth_128(
    engine: &Engine,
    bundle: &Bundle,
    scene: &sparsebokeh::scene::Scene,
    runs: usize,
) -> Result<f64, sparsebokeh::RenderError> {
    let (w, h) = (scene.color.width, scene.color.height);
    let lens = Lens { mode: LensMode::Depth, focus: 5.0, dof: 0.0, size: 96.0, maximum: 128.0, render_scale: 1.0 };
    let depth = ImageView::new(&scene.depth, w, h, 1, (w * 4) as isize).expect("a packed depth view");
    let mut out = Image::new(w, h, 4);
    let mut result = Ok(());
    let ms = median_ms(runs, || {
        if let Err(e) = engine.blur_depth(bundle, &lens, &depth, 0, &scene.color.view(), &mut out.view_mut()) {
            result = Err(e);
        }
    });
    result.map(|_| ms)
}

/// Dense direct convolution with `disc` through the engine's loop, timed on a crop of `src` and
/// scaled to the whole frame: (ms, taps per pixel).
fn time_dense(engine: &Engine, disc: &Grid, src: &Image, runs: usize) -> Result<(f64, usize), String> {
    let dense = dense_as_bundle(disc);
    let (cw, ch) = (384usize, 216usize);
    let crop =
        Image::from_view(&ImageView::new(&src.data, cw, ch, 4, (src.width * 16) as isize).map_err(|e| e.to_string())?);
    let mut crop_out = Image::new(cw, ch, 4);
    let mut err = None;
    let ms = median_ms(runs.min(3), || {
        if let Err(e) = engine.blur_fixed(&dense, dense.basis[0].radius, &crop.view(), &mut crop_out.view_mut()) {
            err = Some(e.to_string());
        }
    });
    match err {
        Some(e) => Err(e),
        None => Ok((ms * (src.width * src.height) as f64 / (cw * ch) as f64, dense.taps)),
    }
}

/// The frame the bench renders.
const FRAME_W: usize = 1920;
const FRAME_H: usize = 1080;

fn print_json(t: &Timings, bundle: &Bundle, disc: &Grid, sparse_psnr: Option<f64>) {
    let j = json!({
        "frame": "1920x1080 RGBA f32",
        "bundle": bundle.name,
        "threads": t.threads,
        "simd": sparsebokeh::cpu::simd_level(),
        "fixed_ms": t.fixed_ms,
        "depth_ms": t.depth_ms,
        "layered_ms": t.layered_ms,
        "layered_lights_ms": t.lights_ms,
        "fft_ms": t.fft_ms,
        "dense_ms": t.dense_ms,
        "lowrank_ms": t.lowrank_ms,
        "lowrank_rank": t.rank,
        "fixed_4k_ms": t.fixed_4k_ms,
        "fixed_r8_ms": t.fixed_r8_ms,
        "fixed_r64_ms": t.fixed_r64_ms,
        "fixed_r128_ms": t.fixed_r128_ms,
        "fixed_r256_ms": t.fixed_r256_ms,
        "full_resolution_r32_ms": t.full_r32_ms,
        "full_resolution_r256_ms": t.full_r256_ms,
        "depth_0_128_ms": t.depth128_ms,
        "fft_r128_ms": t.fft128_ms,
        "fixed_1thread_ms": t.fixed_1thread_ms,
        "sparse_psnr_db_r32": sparse_psnr,
        "lowrank_psnr_db": lowrank_psnr(disc, t.rank),
        "ratios": {
            "depth_over_fixed": t.depth_ms / t.fixed_ms,
            "layered_over_fixed": t.layered_ms / t.fixed_ms,
            "fft_over_fixed": t.fft_ms / t.fixed_ms,
            "dense_over_fixed": t.dense_ms / t.fixed_ms,
            "fixed_4k_over_1080p": t.fixed_4k_ms.map(|x| x / t.fixed_ms),
            "r64_over_r8": t.fixed_r64_ms / t.fixed_r8_ms,
            "r256_over_r8": t.fixed_r256_ms / t.fixed_r8_ms,
            "fft_over_fixed_r128": t.fft128_ms / t.fixed_r128_ms,
            "speedup_2_threads": t.fixed_1thread_ms / t.fixed_ms,
        },
    });
    println!("{}", serde_json::to_string_pretty(&j).unwrap());
}

/// The merged integer taps per pixel of the bundle's complex at radius `r`.
fn int_taps_at(bundle: &Bundle, r: f64) -> usize {
    int_taps(&match bundle.at_radius(r) {
        AtRadius::Complex(c) => c,
        AtRadius::PassThrough => Complex::identity(),
    })
}

fn print_table(t: &Timings, bundle: &Bundle, disc: &Grid, sparse_psnr: Option<f64>) {
    let threads = t.threads;
    let px = (FRAME_W * FRAME_H) as f64;
    // FLOP counts (multiply + add per tap per channel).
    let gflops = |taps: usize, ms: f64| taps as f64 * 4.0 * 2.0 * px / (ms * 1e-3) / 1e9;
    let lanes = if cfg!(target_feature = "avx512f") { 16.0 } else { 8.0 };
    println!(
        "sparsebokeh bench: 1920×1080 RGBA f32, bundle `{}` (L={}, N={}), {threads} threads",
        bundle.name, bundle.layers, bundle.taps
    );
    println!("SIMD: {}", sparsebokeh::cpu::simd_level());
    match cpu_ghz().map(|ghz| threads as f64 * 2.0 * lanes * 2.0 * ghz) {
        Some(p) => println!("peak: {p:.0} GFLOP/s ({threads} cores × 2 FMA × {lanes} lanes × 2 × clock)"),
        None => println!("peak: unknown (no clock in /proc/cpuinfo)"),
    }
    println!("{:<44} {:>10} {:>9} {:>10} {:>9}", "method", "ms", "× fixed", "taps/px", "GFLOP/s");
    let row = |name: &str, ms: f64, taps: Option<usize>| {
        let (tp, g) = match taps {
            Some(n) => (n.to_string(), format!("{:.1}", gflops(n, ms))),
            None => ("-".into(), "-".into()),
        };
        println!("{name:<44} {ms:>10.1} {:>9.2} {tp:>10} {g:>9}", ms / t.fixed_ms);
    };
    let fixed_taps = int_taps_at(bundle, 32.0);
    row("1. sparse fixed r=32 (resolution levels)", t.fixed_ms, None);
    row("2. sparse depth-driven 0–32 px (gather)", t.depth_ms, Some(4 * bundle.layers * bundle.taps));
    row("   sparse depth-driven 0–32 px (layered)", t.layered_ms, None);
    row("   layered, with a row of 13 small lights", t.lights_ms, None);
    row("3. FFT convolution, 65×65 disc", t.fft_ms, None);
    row("4. dense direct, 65×65 disc (crop, scaled)", t.dense_ms, Some(t.dense_taps));
    row(&format!("5. low-rank separable, rank {}", t.rank), t.lowrank_ms, Some(t.lowrank_taps));
    if let Some(ms) = t.fixed_4k_ms {
        row("   sparse fixed r=32, 3840×2160", ms, None);
    }
    row("   sparse fixed r=8", t.fixed_r8_ms, Some(int_taps_at(bundle, 8.0)));
    row("   sparse fixed r=64", t.fixed_r64_ms, None);
    row("   sparse fixed r=128", t.fixed_r128_ms, None);
    row("   sparse fixed r=256", t.fixed_r256_ms, None);
    row("   sparse depth-driven 0–128 px (gather)", t.depth128_ms, None);
    row("   FFT convolution, 257×257 disc (r=128)", t.fft128_ms, None);
    row("   full resolution only: fixed r=32", t.full_r32_ms, Some(fixed_taps));
    row("   full resolution only: fixed r=256", t.full_r256_ms, Some(int_taps_at(bundle, 256.0)));
    row("   sparse fixed r=32, 1 thread", t.fixed_1thread_ms, Some(fixed_taps));
    println!(
        "ratios: r256/r8 {:.2}, FFT/fixed at r=32 {:.2}, FFT/fixed at r=128 {:.2}, gather 0–32/fixed r=32 {:.2}, layered/fixed r=32 {:.2}",
        t.fixed_r256_ms / t.fixed_r8_ms,
        t.fft_ms / t.fixed_ms,
        t.fft128_ms / t.fixed_r128_ms,
        t.depth_ms / t.fixed_ms,
        t.layered_ms / t.fixed_ms
    );
    if let Some(ms) = t.fixed_4k_ms {
        println!("4K/1080p at r=32: {:.2}", ms / t.fixed_ms);
    }
    println!(
        "PSNR at r=32: sparse {} dB, low-rank rank {} {:.2} dB",
        sparse_psnr.map_or("-".into(), |p| format!("{p:.2}")),
        t.rank,
        lowrank_psnr(disc, t.rank)
    );
}

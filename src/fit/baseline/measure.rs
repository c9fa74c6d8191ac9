//! Timings and PSNR figures of the baselines, printed by an ignored test:
//! `cargo test --release --lib baseline::measure -- --ignored --nocapture`.
//! The targets here are local, supersampled stand-ins for `kernel/shapes.rs` (disc, heart, star).

use super::{anneal, anneal_default_iters, lowrank};
use crate::image::Image;
use crate::kernel::psf::{complex_psf, psnr_db, Grid};
use crate::render::fft::FftConvolver;
use crate::render::lowrank::LowRankFilter;
use std::time::Instant;

/// Rasterises the shape `inside(u, v)` (unit coordinates, v up) with its bounding box `[x0, x1] ×
/// [y0, y1]` centred and its larger side spanning 2r, 8×8 samples per pixel, unit sum.
fn shape(r: f64, bbox: [f64; 4], inside: impl Fn(f64, f64) -> bool) -> Grid {
    let half = r.ceil() as i32;
    let [x0, x1, y0, y1] = bbox;
    let s = 2.0 * r / (x1 - x0).max(y1 - y0);
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let mut g = Grid::zeros(half);
    for y in -half..=half {
        for x in -half..=half {
            let mut n = 0;
            for sy in 0..8 {
                for sx in 0..8 {
                    let px = x as f64 - 0.5 + (sx as f64 + 0.5) / 8.0;
                    let py = y as f64 - 0.5 + (sy as f64 + 0.5) / 8.0;
                    if inside(px / s + cx, -py / s + cy) {
                        n += 1;
                    }
                }
            }
            g.add(x, y, n as f64);
        }
    }
    let sum = g.sum();
    g.data.iter_mut().for_each(|v| *v /= sum);
    g
}

fn disc(r: f64) -> Grid {
    shape(r, [-1.0, 1.0, -1.0, 1.0], |u, v| u * u + v * v <= 1.0)
}

fn heart(r: f64) -> Grid {
    shape(r, [-1.14, 1.14, -1.0, 1.24], |u, v| {
        let a = u * u + v * v - 1.0;
        a * a * a - u * u * v * v * v <= 0.0
    })
}

fn star(r: f64) -> Grid {
    // Five points, inner radius 0.45, one point up.
    let pts: Vec<(f64, f64)> = (0..10)
        .map(|k| {
            let rad = if k % 2 == 0 { 1.0 } else { 0.45 };
            let a = std::f64::consts::FRAC_PI_2 + k as f64 * std::f64::consts::PI / 5.0;
            (rad * a.cos(), rad * a.sin())
        })
        .collect();
    shape(r, [-1.0, 1.0, -1.0, 1.0], move |u, v| {
        let mut inside = false;
        for i in 0..pts.len() {
            let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
            if (a.1 > v) != (b.1 > v) && u < a.0 + (v - a.1) * (b.0 - a.0) / (b.1 - a.1) {
                inside = !inside;
            }
        }
        inside
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn frame(w: usize, h: usize) -> Image {
    let mut img = Image::new(w, h, 4);
    for (i, v) in img.data.iter_mut().enumerate() {
        *v = ((i * 2654435761) % 1000) as f32 / 1000.0;
    }
    img
}

#[test]
#[ignore]
fn measure_render_baselines() {
    let (w, h) = (1920, 1080);
    let src = frame(w, h);
    let mut out = Image::new(w, h, 4);
    let k = disc(32.0);
    println!("threads: {}", rayon::current_num_threads());
    for min_taps in [96, 200, 300] {
        let (rank, taps, psnr) = lowrank(&k, min_taps);
        let mut f = LowRankFilter::from_kernel(&k, rank);
        f.render(&src.view(), &mut out.view_mut()).unwrap();
        let times: Vec<f64> = (0..5)
            .map(|_| {
                let t = Instant::now();
                f.render(&src.view(), &mut out.view_mut()).unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        println!(
            "lowrank disc r=32, ≥{min_taps} taps: rank {rank}, {taps} taps/px, {psnr:.2} dB, 1920×1080 RGBA median {:.1} ms {:?}",
            median(times.clone()),
            times.iter().map(|t| format!("{t:.1}")).collect::<Vec<_>>()
        );
    }
    let t = Instant::now();
    let mut fft = FftConvolver::new(&k, w, h).unwrap();
    let plan_ms = t.elapsed().as_secs_f64() * 1e3;
    fft.convolve(&src.view(), &mut out.view_mut()).unwrap();
    let times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            fft.convolve(&src.view(), &mut out.view_mut()).unwrap();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    println!(
        "fft 65×65 disc, 1920×1080 RGBA, padded {:?}: plan {plan_ms:.1} ms, median {:.1} ms {:?}",
        fft.padded_size(),
        median(times.clone()),
        times.iter().map(|t| format!("{t:.1}")).collect::<Vec<_>>()
    );
}

#[test]
#[ignore]
fn measure_fit_baselines() {
    let (layers, taps) = (3, 32);
    println!("| shape | r | method | taps/px | PSNR dB | seconds |");
    println!("|---|---|---|---|---|---|");
    for r in [16.0, 32.0] {
        for (name, target) in [("disc", disc(r)), ("heart", heart(r)), ("star", star(r))] {
            let t = Instant::now();
            let (rank, lr_taps, lr_psnr) = lowrank(&target, layers * taps);
            let lr_s = t.elapsed().as_secs_f64();
            let iters = anneal_default_iters(&target, layers, taps);
            let t = Instant::now();
            let c = anneal(&target, layers, taps, 1, iters);
            let an_s = t.elapsed().as_secs_f64();
            let an_psnr = psnr_db(&complex_psf(&c), &target);
            println!("| {name} | {r} | anneal ({iters} moves) | {} | {an_psnr:.2} | {an_s:.2} |", layers * taps);
            println!("| {name} | {r} | low-rank (rank {rank}) | {lr_taps} | {lr_psnr:.2} | {lr_s:.3} |");
        }
    }
}

/// Schedule sweep: `SWEEP="field=value,..." cargo test --release --lib baseline::measure::sweep -- --ignored`.
#[test]
#[ignore]
fn sweep_schedule() {
    use super::anneal::{anneal_with, Schedule};
    let mut s = Schedule::default();
    let iters: usize = std::env::var("ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(300_000);
    for kv in std::env::var("SWEEP").unwrap_or_default().split(',').filter(|x| !x.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap();
        let v: f64 = v.parse().unwrap();
        match k {
            "spread" => s.init_spread = v,
            "cool" => s.cooling = v,
            "px0" => s.step_px.0 = v,
            "px1" => s.step_px.1 = v,
            "w0" => s.step_w.0 = v,
            "w1" => s.step_w.1 = v,
            "pp" => s.p_position = v,
            _ => panic!("{k}"),
        }
    }
    let r = std::env::var("R").ok().and_then(|v| v.parse().ok()).unwrap_or(16.0);
    let mut line = format!("{s:?} iters {iters}:");
    let seeds: u64 = std::env::var("SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    for (name, target) in [("disc", disc(r)), ("heart", heart(r)), ("star", star(r))] {
        let p: Vec<f64> = (1..=seeds)
            .map(|seed| psnr_db(&complex_psf(&anneal_with(&target, 3, 32, seed, iters, &s)), &target))
            .collect();
        line += &format!(
            " {name} mean {:.2} min {:.2} max {:.2} |",
            p.iter().sum::<f64>() / p.len() as f64,
            p.iter().cloned().fold(f64::INFINITY, f64::min),
            p.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
        );
    }
    println!("{line}");
}

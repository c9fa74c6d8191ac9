//! The plain differentiable recipe: the method as the paper and the PyTorch reference
//! describe it, without this fitter's search — a baseline for `fit --compare`, so that the
//! reference figure the issue quotes can be measured here, on the same grid and the same PSNR.
//!
//! - PSF: the bilinear splat of each layer, convolved (the same loss and gradient as the fitter:
//!   [`crate::fit::loss_and_gradient`], MSE with PSF mass outside the grid counted).
//! - Starts: **radial**, one circle per layer, layer l (1 = finest) at radius l·Δr with its N taps
//!   evenly spaced and weights 1/N, Δr chosen so the radii sum to the target's support radius ρ;
//!   **support**, the coarsest layer's N taps rejection-sampled from the target's non-zero cells
//!   (uniform in the grid, kept where the target is non-zero) and the finer layers on circles of
//!   radius `(l / (L−1))·√(S / (N·π))` (S the support's cell count: the radius of one sample's
//!   share of the support).
//! - Adam (β = 0.9, 0.999, ε = 1e-8), the learning rate decaying linearly from 1e-3 to 1e-4, on
//!   offsets in units of the target's half-size (normalised coordinates, as a `grid_sample`-style
//!   implementation has them) and on weights; no clamping, no smoothing, no restarts.
//! - The better of the two starts is kept; [`crate::fit::finish`] rounds and renormalises it.
//!
//! The paper optimises a Charbonnier loss; this baseline uses the MSE of ARCHITECTURE.md "Bundle format" (what PSNR
//! measures), which can only help it on this metric.

use crate::fit::init::{support_radius, Rng};
use crate::fit::optimize::{finish, loss_and_gradient, Fitted, Params};
use crate::kernel::psf::Grid;

/// Adam steps of the recipe (the reference used 1500).
pub const RECIPE_ITERATIONS: usize = 1500;

fn circle(taps: usize, radius: f64) -> Vec<[f64; 3]> {
    (0..taps)
        .map(|i| {
            let a = std::f64::consts::TAU * i as f64 / taps as f64;
            [radius * a.cos(), radius * a.sin(), 1.0 / taps as f64]
        })
        .collect()
}

/// The recipe's radial start (layer 0 finest).
pub fn radial_start(target: &Grid, layers: usize, taps: usize) -> Params {
    let triangle = (layers * (layers + 1) / 2).max(1) as f64;
    let step = support_radius(target) / triangle;
    Params { layers: (1..=layers).map(|l| circle(taps, l as f64 * step)).collect() }
}

/// The recipe's support start (layer 0 finest, the last layer sampled from the support).
pub fn support_start(target: &Grid, layers: usize, taps: usize, seed: u64) -> Params {
    let mut rng = Rng::new(seed);
    let h = target.half as f64;
    let on_support = |x: f64, y: f64| target.get(x.round() as i32, y.round() as i32) > 0.0;
    let mut coarse = Vec::with_capacity(taps);
    let mut tries = 0;
    while coarse.len() < taps {
        let (x, y) = (rng.uniform(-h, h), rng.uniform(-h, h));
        tries += 1;
        if on_support(x, y) || tries > 1_000_000 {
            coarse.push([x, y, 1.0 / taps as f64]);
        }
    }
    let cells = target.data.iter().filter(|v| **v > 0.0).count().max(1) as f64;
    let share = (cells / (taps.max(1) as f64 * std::f64::consts::PI)).sqrt();
    let finer = layers.saturating_sub(1).max(1) as f64;
    let mut out: Vec<Vec<[f64; 3]>> = (1..layers).map(|l| circle(taps, l as f64 / finer * share)).collect();
    if layers > 0 {
        out.push(coarse);
    }
    Params { layers: out }
}

/// Adam as the recipe runs it, from `start`.
pub fn run(start: &Params, target: &Grid, iterations: usize) -> Params {
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
    let scale = target.half.max(1) as f64;
    let mut p = start.clone();
    let mut g = p.zeros_like();
    let mut m = p.zeros_like();
    let mut v = p.zeros_like();
    for it in 0..iterations {
        let lr = 1e-3 + (1e-4 - 1e-3) * it as f64 / iterations.max(1) as f64;
        loss_and_gradient(&p, target, Some(&mut g));
        let (c1, c2) = (1.0 - b1.powi(it as i32 + 1), 1.0 - b2.powi(it as i32 + 1));
        for ((pl, gl), (ml, vl)) in p.layers.iter_mut().zip(&g.layers).zip(m.layers.iter_mut().zip(&mut v.layers)) {
            for ((pt, gt), (mt, vt)) in pl.iter_mut().zip(gl).zip(ml.iter_mut().zip(vl.iter_mut())) {
                for k in 0..3 {
                    // Offsets live in normalised units (pixels / half-size): chain rule both ways.
                    let s = if k < 2 { scale } else { 1.0 };
                    let gk = gt[k] * s;
                    mt[k] = b1 * mt[k] + (1.0 - b1) * gk;
                    vt[k] = b2 * vt[k] + (1.0 - b2) * gk * gk;
                    pt[k] -= s * lr * (mt[k] / c1) / ((vt[k] / c2).sqrt() + eps);
                }
            }
        }
    }
    p
}

/// The recipe: both starts, [`RECIPE_ITERATIONS`] Adam steps each, the better kept.
pub fn recipe(target: &Grid, layers: usize, taps: usize, seed: u64) -> Fitted {
    let (a, b) = rayon::join(
        || finish(&run(&radial_start(target, layers, taps), target, RECIPE_ITERATIONS), target),
        || finish(&run(&support_start(target, layers, taps, seed), target, RECIPE_ITERATIONS), target),
    );
    if b.psnr_db > a.psnr_db {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::shapes::Shape;

    #[test]
    fn recipe_starts_follow_the_paper_and_the_run_lowers_the_loss() {
        let t = Shape::Disc.rasterize(8.0).unwrap();
        let r = radial_start(&t, 3, 16);
        // One circle per layer at l·Δr, the radii summing to the support radius.
        let radii: Vec<f64> = r.layers.iter().map(|l| l[0][0].hypot(l[0][1])).collect();
        assert!((radii[1] - 2.0 * radii[0]).abs() < 1e-9 && (radii[2] - 3.0 * radii[0]).abs() < 1e-9);
        assert!((radii.iter().sum::<f64>() - support_radius(&t)).abs() < 1e-9);
        let s = support_start(&t, 3, 16, 1);
        assert!(s.layers[2].iter().all(|p| t.get(p[0].round() as i32, p[1].round() as i32) > 0.0));
        let before = crate::fit::loss(&s, &t);
        let after = crate::fit::loss(&run(&s, &t, 300), &t);
        assert!(after < 0.5 * before, "{after} vs {before}");
    }
}

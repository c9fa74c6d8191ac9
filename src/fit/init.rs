//! Initial tap layouts: radial (taps on expanding circles, one scale per layer) and support
//! sampling (rejection sampling from the target's non-zero support, for non-convex shapes), and
//! the seeded PRNG the fitter uses.

use super::baseline::rng::SplitMix64;
use super::optimize::Params;
use crate::kernel::psf::Grid;

/// The fitter's seeded generator: the project's SplitMix64 (the same numbers on every platform
/// and thread count), its seed offset so fits and baselines with one seed draw different streams.
#[derive(Clone, Debug)]
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(SplitMix64::new(seed ^ 0x5EED_B0CE_u64))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0.next_f64()
    }

    /// Uniform in [a, b).
    pub fn uniform(&mut self, a: f64, b: f64) -> f64 {
        self.0.uniform(a, b)
    }
}

/// How a fit starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// [`radial`].
    Radial,
    /// [`support`].
    Support,
    /// Both from the same seed (and, for a target with quarter- or half-turn symmetry, the
    /// symmetric search of [`super::symmetry`]); the better fit is kept.
    Auto,
    /// The symmetric search of [`super::symmetry`] alone (radial for an asymmetric target).
    Symmetric,
}

impl Init {
    pub fn name(self) -> &'static str {
        match self {
            Init::Radial => "radial",
            Init::Support => "support",
            Init::Auto => "auto",
            Init::Symmetric => "symmetric",
        }
    }

    pub fn parse(s: &str) -> Option<Init> {
        match s {
            "radial" => Some(Init::Radial),
            "support" => Some(Init::Support),
            "auto" => Some(Init::Auto),
            "symmetric" => Some(Init::Symmetric),
            _ => None,
        }
    }
}

/// The radius of the target's support: the farthest cell centre holding more than 1% of the peak,
/// plus half a cell; at least 0.5.
pub fn support_radius(target: &Grid) -> f64 {
    let peak = target.max();
    let h = target.half;
    let mut r2: f64 = 0.0;
    for dy in -h..=h {
        for dx in -h..=h {
            if target.get(dx, dy) > 0.01 * peak {
                r2 = r2.max((dx * dx + dy * dy) as f64);
            }
        }
    }
    (r2.sqrt() + 0.5).max(0.5)
}

const GOLDEN_ANGLE: f64 = 2.399_963_229_728_653;

/// `n` taps on a sunflower spiral of radius `rho` (tap i on the circle of radius ρ·√((i+½)/n)),
/// rotated by `phase`, weights 1/n.
fn sunflower(n: usize, rho: f64, phase: f64) -> Vec<[f64; 3]> {
    (0..n)
        .map(|i| {
            let rad = rho * ((i as f64 + 0.5) / n as f64).sqrt();
            let a = phase + i as f64 * GOLDEN_ANGLE;
            [rad * a.cos(), rad * a.sin(), 1.0 / n as f64]
        })
        .collect()
}

/// The scale hierarchy shared by both inits: the coarsest layer spaces its `taps` taps evenly over
/// the target's support (spacing `s₀ = √(area / N)`), each finer layer fills one cell of the
/// layer above with its own taps (a disc of the cell's area, spacing `s₀/√N`, and so on). Returns
/// the radii of the finer layers' discs, finest first, and the coarse layer's radius so that the
/// cascade's reach matches the target's support radius.
fn scales(target: &Grid, layers: usize, taps: usize) -> (Vec<f64>, f64) {
    let extent = support_radius(target);
    let peak = target.max();
    let area = target.data.iter().filter(|v| **v > 0.01 * peak).count().max(1) as f64;
    let n = taps.max(1) as f64;
    let mut spacing = (area / n).sqrt();
    let mut fine = Vec::new();
    for _ in 1..layers {
        fine.push((spacing / std::f64::consts::PI.sqrt()).max(0.25));
        spacing /= n.sqrt();
    }
    fine.reverse();
    let coarse = (extent - fine.iter().sum::<f64>()).max(0.5 * extent);
    (fine, coarse)
}

/// The finest layer of a cascade of three or more: the identity (weight 1 at the origin) with its
/// other taps on the integer offsets around it (on the circles of radius 1, √2, 2, …) at weight 0.
/// Integer offsets splat without bilinear blur; with signed weights this layer learned a
/// sharpening (negative weights), with the fitter's non-negative weights it learns a small blur
/// that fills the gaps between the coarser layers' taps.
pub(crate) fn identity_layer(taps: usize) -> Vec<[f64; 3]> {
    let mut cells: Vec<(i32, i32)> = (-3..=3).flat_map(|y| (-3..=3).map(move |x| (x, y))).collect();
    cells.sort_by_key(|&(x, y)| (x * x + y * y, y, x));
    (0..taps)
        .map(|i| {
            let (x, y) = cells[i.min(cells.len() - 1)];
            [x as f64, y as f64, if i == 0 { 1.0 } else { 0.0 }]
        })
        .collect()
}

/// Radial init: each layer's taps on expanding circles (a sunflower spiral: tap i on the circle of
/// radius ρ·√((i+½)/N)), one scale per layer ([`scales`]): the coarsest covers the target's support
/// radius, each finer one fills the gaps between the taps of the layer above. Layer 0 is the finest;
/// with three layers or more it starts as [`identity_layer`].
pub fn radial(target: &Grid, layers: usize, taps: usize) -> Params {
    let (fine, coarse) = scales(target, layers, taps);
    let mut out: Vec<Vec<[f64; 3]>> =
        fine.iter().enumerate().map(|(l, &rho)| sunflower(taps, rho, 0.7 * (l + 1) as f64)).collect();
    if layers > 0 {
        out.push(sunflower(taps, coarse, 0.0));
    }
    if layers >= 3 {
        out[0] = identity_layer(taps);
    }
    Params { layers: out }
}

/// `k×k` taps on a square lattice of spacing `step` centred on the origin (plus `extra` taps of
/// weight 0 on the box's diagonal so every layer has N taps), weights 1/k².
fn box_layer(taps: usize, step: f64) -> Vec<[f64; 3]> {
    let k = (taps as f64).sqrt().floor().max(1.0) as usize;
    let c = (k as f64 - 1.0) / 2.0;
    let mut out: Vec<[f64; 3]> =
        (0..k * k).map(|i| [((i % k) as f64 - c) * step, ((i / k) as f64 - c) * step, 1.0 / (k * k) as f64]).collect();
    for e in 0..taps - k * k {
        let f = (e as f64 + 0.5) / (taps - k * k) as f64 - 0.5;
        out.push([f * step * k as f64 * 0.5, -f * step * k as f64 * 0.5, 0.0]);
    }
    out
}

/// Support sampling: the coarsest layer's taps are samples of the target's support, one per cell
/// of a square lattice with a seeded random phase (stratified rejection sampling: a lattice point
/// is kept if the target is non-zero there), the lattice step chosen so that as many of the N taps
/// as possible land on the support; each tap weighs the target's mass there. Each finer layer is a
/// √N×√N box filling one lattice cell of the layer above, so the layers tile the support. Taps
/// left over have weight 0. For non-convex shapes (heart, star), whose support a spiral cannot follow.
pub fn support(target: &Grid, layers: usize, taps: usize, seed: u64) -> Params {
    let mut rng = Rng::new(seed);
    if layers == 0 || taps == 0 {
        return Params { layers: vec![Vec::new(); layers] };
    }
    let peak = target.max();
    let h = target.half;
    let phase = (rng.next_f64(), rng.next_f64());
    let on_support = |x: f64, y: f64| target.get(x.round() as i32, y.round() as i32) > 0.01 * peak;
    let points = |step: f64| -> Vec<(f64, f64)> {
        let n = (h as f64 / step).ceil() as i32 + 1;
        let mut pts = Vec::new();
        for j in -n..=n {
            for i in -n..=n {
                let (x, y) = ((i as f64 + phase.0 - 0.5) * step, (j as f64 + phase.1 - 0.5) * step);
                if on_support(x, y) {
                    pts.push((x, y));
                }
            }
        }
        pts
    };
    // Smallest step (within 1%) whose lattice puts at most N points on the support.
    let (mut lo, mut hi) = (0.05, 2.0 * h as f64 + 2.0);
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        if points(mid).len() > taps {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let step = hi;
    let pts = points(step);
    let k = (taps as f64).sqrt().floor().max(1.0);
    let mut out = Vec::with_capacity(layers);
    let mut s = step / k;
    for _ in 1..layers {
        out.push(box_layer(taps, s));
        s /= k;
    }
    out.reverse();
    // Coarse layer: the lattice points, weighted by the target's mass in their cell.
    let mass = |x: f64, y: f64| -> f64 {
        let r = (step / 2.0).ceil() as i32;
        let (cx, cy) = (x.round() as i32, y.round() as i32);
        let mut m = 0.0;
        for dy in -r..=r {
            for dx in -r..=r {
                if (dx as f64 + cx as f64 - x).abs() <= step / 2.0 && (dy as f64 + cy as f64 - y).abs() <= step / 2.0 {
                    m += target.get(cx + dx, cy + dy);
                }
            }
        }
        m.max(1e-12)
    };
    let mut coarse: Vec<[f64; 3]> = pts.iter().map(|&(x, y)| [x, y, mass(x, y)]).collect();
    let total: f64 = coarse.iter().map(|t| t[2]).sum();
    coarse.iter_mut().for_each(|t| t[2] /= total);
    // Pad with rejection samples of weight 0.
    let mut tries = 0;
    while coarse.len() < taps {
        let x = rng.uniform(-(h as f64), h as f64);
        let y = rng.uniform(-(h as f64), h as f64);
        tries += 1;
        if on_support(x, y) || tries > 100_000 {
            coarse.push([x, y, 0.0]);
        }
    }
    out.push(coarse);
    if layers >= 3 {
        out[0] = identity_layer(taps);
    }
    Params { layers: out }
}

/// The start for `init` (for [`Init::Auto`], callers fit both; this returns the radial one).
pub fn initial(init: Init, target: &Grid, layers: usize, taps: usize, seed: u64) -> Params {
    match init {
        Init::Support => support(target, layers, taps, seed),
        Init::Radial | Init::Auto | Init::Symmetric => radial(target, layers, taps),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_seeded_and_uniform() {
        let mut a = Rng::new(5);
        let mut b = Rng::new(5);
        let xs: Vec<f64> = (0..1000).map(|_| a.next_f64()).collect();
        assert!(xs.iter().zip((0..1000).map(|_| b.next_f64())).all(|(x, y)| *x == y));
        let mean = xs.iter().sum::<f64>() / 1000.0;
        assert!((mean - 0.5).abs() < 0.05 && xs.iter().all(|x| (0.0..1.0).contains(x)));
    }

    #[test]
    fn inits_have_the_requested_shape_and_unit_layer_sums() {
        let mut t = Grid::zeros(8);
        for dy in -8..=8 {
            for dx in -8..=8 {
                if dx * dx + dy * dy <= 64 && dx > -3 {
                    t.add(dx, dy, 1.0);
                }
            }
        }
        for p in [radial(&t, 3, 16), support(&t, 3, 16, 1)] {
            assert_eq!(p.layers.len(), 3);
            for l in &p.layers {
                assert_eq!(l.len(), 16);
                assert!((l.iter().map(|t| t[2]).sum::<f64>() - 1.0).abs() < 1e-9);
                assert!(l.iter().all(|t| t[0].abs() <= 9.0 && t[1].abs() <= 9.0));
            }
        }
        // Support samples land on the support (x > −3 before shrinking).
        let s = support(&t, 3, 16, 2);
        assert!(s.layers[2].iter().all(|p| p[0] > -3.5));
        assert!(s.layers[2].iter().filter(|p| p[2] > 0.0).count() >= 10);
        assert_eq!(s, support(&t, 3, 16, 2));
        assert_ne!(s, support(&t, 3, 16, 3));
    }
}

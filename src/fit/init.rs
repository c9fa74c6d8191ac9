//! Initial tap layouts: radial (taps on expanding circles, one scale per layer) and support
//! sampling (rejection sampling from the target's non-zero support, for non-convex shapes), and
//! the seeded PRNG the fitter uses.

use super::optimize::Params;
use crate::kernel::psf::Grid;

/// SplitMix64: a small, seedable, portable PRNG (the same numbers on every platform and thread count).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5EED_B0CE_u64)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [a, b).
    pub fn uniform(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.next_f64()
    }
}

/// How a fit starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// [`radial`].
    Radial,
    /// [`support`].
    Support,
    /// Both from the same seed; the better fit is kept.
    Auto,
}

impl Init {
    pub fn name(self) -> &'static str {
        match self {
            Init::Radial => "radial",
            Init::Support => "support",
            Init::Auto => "auto",
        }
    }

    pub fn parse(s: &str) -> Option<Init> {
        match s {
            "radial" => Some(Init::Radial),
            "support" => Some(Init::Support),
            "auto" => Some(Init::Auto),
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

/// Radial init: each layer's taps on expanding circles; layer l's scale ∝ 2^l and the scales
/// sum to the target's support radius, so the layers act at different scales and the cascade's
/// reach matches the target's.
pub fn radial(target: &Grid, layers: usize, taps: usize) -> Params {
    let extent = support_radius(target);
    let weights: Vec<f64> = (0..layers).map(|l| (1u64 << l.min(30)) as f64).collect();
    let total: f64 = weights.iter().sum();
    Params {
        layers: (0..layers)
            .map(|l| sunflower(taps, extent * weights[l] / total, l as f64 * 0.7))
            .collect(),
    }
}

/// Support sampling: the last layer's taps are drawn (rejection sampling, seeded) from the
/// target's support with density ∝ the target, at the target's full scale less the other layers'
/// reach; the other layers start as small radial blurs that fill the gaps between samples.
pub fn support(target: &Grid, layers: usize, taps: usize, seed: u64) -> Params {
    let mut rng = Rng::new(seed);
    let extent = support_radius(target);
    let blur = if layers > 1 { (0.12 * extent).max(0.35) } else { 0.0 };
    let shrink = ((extent - blur * (layers - 1) as f64) / extent).max(0.3);
    let peak = target.max();
    let h = target.half as f64;
    let mut out: Vec<Vec<[f64; 3]>> = (0..layers.saturating_sub(1))
        .map(|l| sunflower(taps, blur * (1.0 + l as f64) / layers as f64 * 2.0, 1.3 * l as f64))
        .collect();
    let mut sampled = Vec::with_capacity(taps);
    let mut tries = 0usize;
    while sampled.len() < taps {
        let x = rng.uniform(-h - 0.5, h + 0.5);
        let y = rng.uniform(-h - 0.5, h + 0.5);
        let v = target.get(x.round() as i32, y.round() as i32);
        tries += 1;
        if rng.next_f64() * peak < v || tries > 1_000_000 {
            sampled.push([x * shrink, y * shrink, 1.0 / taps as f64]);
        }
    }
    out.push(sampled);
    Params { layers: out }
}

/// The start for `init` (for [`Init::Auto`], callers fit both; this returns the radial one).
pub fn initial(init: Init, target: &Grid, layers: usize, taps: usize, seed: u64) -> Params {
    match init {
        Init::Support => support(target, layers, taps, seed),
        Init::Radial | Init::Auto => radial(target, layers, taps),
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
                assert!((l.iter().map(|t| t[2]).sum::<f64>() - 1.0).abs() < 1e-12);
                assert!(l.iter().all(|t| t[0].abs() <= 9.0 && t[1].abs() <= 9.0));
            }
        }
        // Support samples land on the support (x > −3 before shrinking).
        let s = support(&t, 3, 16, 2);
        assert!(s.layers[2].iter().all(|p| p[0] > -3.5));
    }
}

//! Shared test helpers: a seeded PRNG, synthetic bundles and images.
#![allow(dead_code)]

use sparsebokeh::fit::baseline::rng::SplitMix64;
use sparsebokeh::{BasisEntry, Bundle};
use sparsebokeh::{Complex, Image, Tap};

/// The project's seeded generator (SplitMix64), with the short names the tests use.
pub struct Rng {
    inner: SplitMix64,
}

#[allow(non_snake_case)]
pub fn Rng(seed: u64) -> Rng {
    Rng { inner: SplitMix64::new(seed) }
}

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        self.inner.next_f64()
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        self.inner.uniform(lo, hi)
    }
}

/// A random complex of `layers` × `taps`, offsets within `radius / layers` per layer,
/// positive weights, each layer summing to 1.
pub fn random_complex(rng: &mut Rng, layers: usize, taps: usize, radius: f64) -> Complex {
    let reach = radius / layers as f64;
    let layers = (0..layers)
        .map(|_| {
            let mut l: Vec<Tap> = (0..taps)
                .map(|_| Tap {
                    x: rng.range(-reach, reach) as f32,
                    y: rng.range(-reach, reach) as f32,
                    w: rng.range(0.2, 1.0) as f32,
                })
                .collect();
            let s: f32 = l.iter().map(|t| t.w).sum();
            l.iter_mut().for_each(|t| t.w /= s);
            l
        })
        .collect();
    Complex::new(layers)
}

/// A bundle with random complexes at the given radii (taps correspond across entries because
/// each entry is the first one's taps perturbed and scaled).
pub fn random_bundle(seed: u64, layers: usize, taps: usize, radii: &[f64]) -> Bundle {
    let mut rng = Rng(seed);
    let base = random_complex(&mut rng, layers, taps, 1.0);
    let basis = radii
        .iter()
        .map(|&r| {
            let mut c = base.scaled(r);
            for l in &mut c.layers {
                for t in l.iter_mut() {
                    t.x += rng.range(-0.3, 0.3) as f32;
                    t.y += rng.range(-0.3, 0.3) as f32;
                    t.w *= rng.range(0.8, 1.2) as f32;
                }
                let s: f32 = l.iter().map(|t| t.w).sum();
                l.iter_mut().for_each(|t| t.w /= s);
            }
            BasisEntry { radius: r, psnr_db: None, complex: c }
        })
        .collect();
    Bundle {
        name: "test".into(),
        description: "random test bundle".into(),
        layers,
        taps,
        target: serde_json::Value::Null,
        basis,
        fit: serde_json::Value::Null,
        levels: None,
        transform: None,
    }
}

/// A textured image with values in [0, 1].
pub fn test_image(w: usize, h: usize, c: usize, seed: u64) -> Image {
    let mut rng = Rng(seed);
    let mut img = Image::new(w, h, c);
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                let smooth = 0.5 + 0.3 * ((x as f64 * 0.3 + ch as f64).sin() * (y as f64 * 0.2).cos());
                let v = if rng.f64() < 0.05 { 1.0 } else { smooth * 0.8 + 0.2 * rng.f64() };
                img.data[(y * w + x) * c + ch] = v.clamp(0.0, 1.0) as f32;
            }
        }
    }
    img
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// RMS over the pixels (4 channels) of `a` against `b` where `select` holds.
pub fn rms(a: &Image, b: &Image, select: &dyn Fn(usize) -> bool) -> f64 {
    let (mut se, mut n) = (0.0f64, 0usize);
    for i in 0..a.width * a.height {
        if select(i) {
            for ch in 0..4 {
                let d = (a.data[i * 4 + ch] - b.data[i * 4 + ch]) as f64;
                se += d * d;
            }
            n += 4;
        }
    }
    (se / n.max(1) as f64).sqrt()
}

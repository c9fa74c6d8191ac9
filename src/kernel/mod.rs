//! The kernel model: taps, layers and complexes (ARCHITECTURE.md "Kernels and bundles"), their dense PSF, and targets.

pub mod psf;
pub mod shapes;

use serde::{Deserialize, Serialize};

/// One sparse tap: an offset in pixels (x to the right, y down the rows) and a weight.
///
/// A layer computes `out(p) = Σ w · in(p − (x, y))` with bilinear sampling of `in`, so a tap
/// moves light from a source pixel to the pixel `(x, y)` away from it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tap {
    pub x: f32,
    pub y: f32,
    pub w: f32,
}

impl Tap {
    pub const IDENTITY: Tap = Tap { x: 0.0, y: 0.0, w: 1.0 };

    /// The integer cell of the offset and the bilinear fractions: the tap splats
    /// `(1−fx)(1−fy)` of its weight at `(ix, iy)`, `fx(1−fy)` at `(ix+1, iy)`, and so on.
    pub fn cell(&self) -> (i32, i32, f32, f32) {
        let fx = self.x.floor();
        let fy = self.y.floor();
        (fx as i32, fy as i32, self.x - fx, self.y - fy)
    }

    /// The largest |offset| in whole pixels that this tap's bilinear footprint touches.
    pub fn reach(&self) -> i32 {
        let (ix, iy, _, _) = self.cell();
        ix.abs().max((ix + 1).abs()).max(iy.abs()).max((iy + 1).abs())
    }
}

/// A layer of the cascade: its taps, applied together in one pass.
pub type Layer = Vec<Tap>;

/// A kernel complex: L layers applied one after another.
#[derive(Clone, Debug, PartialEq)]
pub struct Complex {
    pub layers: Vec<Layer>,
}

impl Complex {
    pub fn new(layers: Vec<Layer>) -> Complex {
        Complex { layers }
    }

    /// The complex that passes an image through unchanged (one layer, one tap at the origin).
    pub fn identity() -> Complex {
        Complex { layers: vec![vec![Tap::IDENTITY]] }
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Product over layers of each layer's weight sum: the PSF's total mass.
    pub fn weight_sum(&self) -> f64 {
        self.layers.iter().map(|l| l.iter().map(|t| t.w as f64).sum::<f64>()).product()
    }

    /// Reach of each layer in whole pixels (see [`Tap::reach`]).
    pub fn layer_reaches(&self) -> Vec<i32> {
        self.layers.iter().map(|l| l.iter().map(Tap::reach).max().unwrap_or(0)).collect()
    }

    /// The sum of the layers' reaches: how far one pixel's light can travel through the cascade.
    pub fn reach(&self) -> i32 {
        self.layer_reaches().iter().sum()
    }

    /// The same complex with every offset multiplied by `factor` (weights unchanged).
    pub fn scaled(&self, factor: f64) -> Complex {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                l.iter()
                    .map(|t| Tap { x: (t.x as f64 * factor) as f32, y: (t.y as f64 * factor) as f32, w: t.w })
                    .collect()
            })
            .collect();
        Complex { layers }
    }

    /// `a + (b − a)·t` for every tap parameter. `a` and `b` must have the same shape.
    pub fn lerp(a: &Complex, b: &Complex, t: f64) -> Complex {
        let mix = |p: f32, q: f32| (p as f64 + (q as f64 - p as f64) * t) as f32;
        Complex {
            layers: zip_taps(&a.layers, &b.layers, |ta, tb| Tap {
                x: mix(ta.x, tb.x),
                y: mix(ta.y, tb.y),
                w: mix(ta.w, tb.w),
            }),
        }
    }
}

/// Pairs the taps of two equally shaped lists of layers with `f`, layer by layer and tap by tap
/// (the interpolation of complexes, in f32 here and in f64 for the fitter's parameters).
pub fn zip_taps<T, U>(a: &[Vec<T>], b: &[Vec<T>], f: impl Fn(&T, &T) -> U) -> Vec<Vec<U>> {
    a.iter().zip(b).map(|(la, lb)| la.iter().zip(lb).map(|(p, q)| f(p, q)).collect()).collect()
}

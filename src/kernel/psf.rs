//! Dense point-spread functions: bilinear splat of each layer, full 2-D convolution of the
//! layers (ARCHITECTURE.md "Kernels and bundles"), and the kernel PSNR of ARCHITECTURE.md "Bundle format".

use super::{Complex, Tap};

/// A square grid of f64 centred on the origin: cell `(dx, dy)` for `−half ≤ dx, dy ≤ half`.
/// Used for PSFs and for target kernels.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub half: i32,
    pub data: Vec<f64>,
}

impl Grid {
    pub fn zeros(half: i32) -> Grid {
        let side = (2 * half + 1) as usize;
        Grid { half, data: vec![0.0; side * side] }
    }

    /// Cells per side: `2·half + 1`.
    pub fn side(&self) -> usize {
        (2 * self.half + 1) as usize
    }

    fn index(&self, dx: i32, dy: i32) -> Option<usize> {
        if dx.abs() > self.half || dy.abs() > self.half {
            return None;
        }
        Some((dy + self.half) as usize * self.side() + (dx + self.half) as usize)
    }

    /// The value at offset `(dx, dy)`, zero outside the grid.
    pub fn get(&self, dx: i32, dy: i32) -> f64 {
        self.index(dx, dy).map_or(0.0, |i| self.data[i])
    }

    /// Adds `v` at `(dx, dy)`; panics outside the grid (callers size the grid first).
    pub fn add(&mut self, dx: i32, dy: i32, v: f64) {
        let i = self.index(dx, dy).expect("grid cell inside the grid");
        self.data[i] += v;
    }

    pub fn sum(&self) -> f64 {
        self.data.iter().sum()
    }

    pub fn max(&self) -> f64 {
        self.data.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
    }

    /// Full 2-D convolution: the grid of `a * b`, half-size `a.half + b.half`.
    pub fn convolve(a: &Grid, b: &Grid) -> Grid {
        let mut out = Grid::zeros(a.half + b.half);
        // The non-zero cells of `b` once (a layer's splat touches at most 4 cells per tap).
        let mut cells = Vec::new();
        for by in -b.half..=b.half {
            for bx in -b.half..=b.half {
                let vb = b.get(bx, by);
                if vb != 0.0 {
                    cells.push((bx, by, vb));
                }
            }
        }
        for ay in -a.half..=a.half {
            for ax in -a.half..=a.half {
                let va = a.get(ax, ay);
                if va == 0.0 {
                    continue;
                }
                for &(bx, by, vb) in &cells {
                    out.add(ax + bx, ay + by, va * vb);
                }
            }
        }
        out
    }

    /// This grid re-cut to half-size `half`: cropped, or padded with zeros.
    pub fn recut(&self, half: i32) -> Grid {
        let mut out = Grid::zeros(half);
        for dy in -half..=half {
            for dx in -half..=half {
                let i = out.index(dx, dy).unwrap();
                out.data[i] = self.get(dx, dy);
            }
        }
        out
    }
}

/// One layer's PSF: each tap splatted bilinearly onto the pixel grid.
pub fn layer_psf(layer: &[Tap]) -> Grid {
    let half = layer.iter().map(Tap::reach).max().unwrap_or(0);
    let mut g = Grid::zeros(half);
    for t in layer {
        let (ix, iy, fx, fy) = t.cell();
        let (fx, fy, w) = (fx as f64, fy as f64, t.w as f64);
        g.add(ix, iy, w * (1.0 - fx) * (1.0 - fy));
        g.add(ix + 1, iy, w * fx * (1.0 - fy));
        g.add(ix, iy + 1, w * (1.0 - fx) * fy);
        g.add(ix + 1, iy + 1, w * fx * fy);
    }
    g
}

/// The complex's PSF: the convolution of its layers' PSFs (what one bright pixel becomes).
pub fn complex_psf(complex: &Complex) -> Grid {
    let mut psf = Grid::zeros(0);
    psf.data[0] = 1.0;
    for layer in &complex.layers {
        psf = Grid::convolve(&psf, &layer_psf(layer));
    }
    psf
}

/// Kernel PSNR of ARCHITECTURE.md "Bundle format": `10·log10(max(T)² / MSE)` between `psf` and the target `target`
/// over the target's grid, where PSF mass outside that grid counts as error.
pub fn psnr_db(psf: &Grid, target: &Grid) -> f64 {
    let mut se = 0.0;
    for dy in -psf.half.max(target.half)..=psf.half.max(target.half) {
        for dx in -psf.half.max(target.half)..=psf.half.max(target.half) {
            let d = psf.get(dx, dy) - target.get(dx, dy);
            se += d * d;
        }
    }
    let n = (target.side() * target.side()) as f64;
    let mse = se / n;
    let peak = target.max();
    if mse <= 0.0 {
        return f64::INFINITY;
    }
    10.0 * (peak * peak / mse).log10()
}

/// The most negative value of `psf` over its peak (0 when no value is negative): what a
/// highlight far brighter than its surroundings shows as a dark ring.
pub fn negative_lobe(psf: &Grid) -> f64 {
    let peak = psf.max();
    let low = psf.data.iter().cloned().fold(0.0, f64::min);
    if peak > 0.0 {
        low / peak
    } else {
        low
    }
}

/// Fraction of the radius inside which [`interior_flatness`] measures.
pub const INTERIOR_FRACTION: f64 = 0.8;

/// The interior of a flat target at radius `r`: the cells whose centre lies within
/// [`INTERIOR_FRACTION`]·r of the origin and where the target is at its peak (to 0.1 %); `None`
/// when those are fewer than half the cells within that distance (a target that is not flat
/// there: a gaussian, a star's arms).
pub fn interior_cells(target: &Grid, r: f64) -> Option<Vec<(i32, i32)>> {
    let peak = target.max();
    let reach = INTERIOR_FRACTION * r;
    let h = target.half;
    let mut within = 0usize;
    let mut cells = Vec::new();
    for dy in -h..=h {
        for dx in -h..=h {
            if ((dx * dx + dy * dy) as f64).sqrt() <= reach {
                within += 1;
                if target.get(dx, dy) >= 0.999 * peak {
                    cells.push((dx, dy));
                }
            }
        }
    }
    (cells.len() >= 2 && 2 * cells.len() >= within).then_some(cells)
}

/// The interior's relative variation: standard deviation over mean of `psf` on the
/// [`interior_cells`] of `target` at radius `r` (`None` where the target has no flat interior).
/// Onion rings and a central dot show here long before they cost PSNR.
pub fn interior_flatness(psf: &Grid, target: &Grid, r: f64) -> Option<f64> {
    let cells = interior_cells(target, r)?;
    let n = cells.len() as f64;
    let mean = cells.iter().map(|&(x, y)| psf.get(x, y)).sum::<f64>() / n;
    let var = cells.iter().map(|&(x, y)| (psf.get(x, y) - mean).powi(2)).sum::<f64>() / n;
    Some(var.sqrt() / mean.abs().max(f64::MIN_POSITIVE))
}

/// A unit-sum disc of cells whose centres lie within `r` (test fixture; the fitter's targets
/// are area-averaged, see `kernel::shapes`).
#[cfg(test)]
pub(crate) fn hard_disc(half: i32, r: f64) -> Grid {
    let mut g = Grid::zeros(half);
    for y in -half..=half {
        for x in -half..=half {
            if ((x * x + y * y) as f64) <= r * r {
                g.add(x, y, 1.0);
            }
        }
    }
    let s = g.sum();
    g.data.iter_mut().for_each(|v| *v /= s);
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splat_of_a_fractional_tap_is_bilinear() {
        let g = layer_psf(&[Tap { x: 1.25, y: -0.5, w: 2.0 }]);
        assert!((g.get(1, -1) - 2.0 * 0.75 * 0.5).abs() < 1e-12);
        assert!((g.get(2, -1) - 2.0 * 0.25 * 0.5).abs() < 1e-12);
        assert!((g.get(1, 0) - 2.0 * 0.75 * 0.5).abs() < 1e-12);
        assert!((g.get(2, 0) - 2.0 * 0.25 * 0.5).abs() < 1e-12);
        assert!((g.sum() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn complex_psf_mass_is_weight_product() {
        let c = Complex::new(vec![
            vec![Tap { x: 0.3, y: 0.0, w: 0.5 }, Tap { x: -2.7, y: 1.1, w: 0.25 }],
            vec![Tap { x: 4.5, y: -3.2, w: 2.0 }],
        ]);
        let p = complex_psf(&c);
        assert!((p.sum() - c.weight_sum()).abs() < 1e-9);
        assert_eq!(p.half, c.reach());
    }
}

//! The fitting loss, its exact gradient, and the Adam optimiser.
//!
//! Loss: the mean squared error between the complex's PSF and the target over the target's
//! (2⌈r⌉+1)² grid, PSF mass outside that grid counting as error (ARCHITECTURE.md "Bundle format"), so
//! `psnr_db = 10·log10(max(T)² / loss)`.
//!
//! Gradient, without a cost of (#parameters × PSF size): the PSF is `P_l * Q_l` where `P_l` is
//! layer l's splat and `Q_l` the convolution of the other layers, so
//! `∂loss/∂P_l(q) = (2/n)·Σ_p R(p)·Q_l(p − q)` (R = PSF − target): a correlation of the residual
//! with `Q_l`, needed only at the ≤ 4N cells that layer's taps touch. Each tap's gradient is then
//! those cells' values dotted with the derivatives of its four bilinear splat weights, which come
//! from the dual numbers of [`super::dual`]. One evaluation costs about
//! `L·(4N·|Q| + |PSF grid|·4N)` multiply-adds, whatever the number of parameters.
//!
//! Optimiser: Adam with a cosine learning-rate schedule, each layer stepping at its own scale
//! (a fraction of its starting extent); for the first half of the run the loss is seen through a
//! shrinking gaussian (coarse to fine); offsets are clamped to the reach limit (by default the
//! target's half size, so no layer reaches past the target's grid; the middle layers of three or
//! more to a fraction of it). [`finish`] rounds to f32
//! and makes each layer's weights sum to exactly 1.

use super::dual::{tap_splat, Dual};
use crate::kernel::psf::{complex_psf, psnr_db, Grid};
use crate::kernel::{zip_taps, Complex, Tap};
use wide::f64x4;

/// Tap parameters during a fit, in f64: `[x, y, w]`.
pub type TapParams = [f64; 3];

/// The parameters of a complex during a fit: `layers[l][i] = [x, y, w]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    pub layers: Vec<Vec<TapParams>>,
}

impl Params {
    pub fn from_complex(c: &Complex) -> Params {
        Params {
            layers: c.layers.iter().map(|l| l.iter().map(|t| [t.x as f64, t.y as f64, t.w as f64]).collect()).collect(),
        }
    }

    /// The complex with f32 taps (no renormalisation; see [`finish`]).
    pub fn to_complex(&self) -> Complex {
        Complex::new(
            self.layers
                .iter()
                .map(|l| l.iter().map(|p| Tap { x: p[0] as f32, y: p[1] as f32, w: p[2] as f32 }).collect())
                .collect(),
        )
    }

    pub fn zeros_like(&self) -> Params {
        Params { layers: self.layers.iter().map(|l| vec![[0.0; 3]; l.len()]).collect() }
    }

    /// The engine's interpolation between two complexes of the same shape (ARCHITECTURE.md "Kernels and bundles"):
    /// `a + t·(b − a)` for every tap's x, y and w.
    pub fn lerp(a: &Params, b: &Params, t: f64) -> Params {
        let mix = |p: f64, q: f64| p + t * (q - p);
        Params { layers: zip_taps(&a.layers, &b.layers, |p, q| [mix(p[0], q[0]), mix(p[1], q[1]), mix(p[2], q[2])]) }
    }

    /// Every offset multiplied by `factor`.
    pub fn scaled(&self, factor: f64) -> Params {
        Params {
            layers: self
                .layers
                .iter()
                .map(|l| l.iter().map(|p| [p[0] * factor, p[1] * factor, p[2]]).collect())
                .collect(),
        }
    }
}

/// One layer's bilinear splat: each tap's cell and four weights (duals seeded by x, y, w), the
/// layer's dense PSF and its non-zero cells.
struct Splat {
    half: i32,
    taps: Vec<(i32, i32, [Dual<3>; 4])>,
    grid: Grid,
    cells: Vec<(i32, i32, f64)>,
}

fn splat(layer: &[TapParams]) -> Splat {
    let taps: Vec<_> = layer.iter().map(|p| tap_splat(p[0], p[1], p[2])).collect();
    let half = taps.iter().map(|&(ix, iy, _)| ix.abs().max((ix + 1).abs()).max(iy.abs()).max((iy + 1).abs())).max();
    let half = half.unwrap_or(0);
    let mut grid = Grid::zeros(half);
    for &(ix, iy, s) in &taps {
        grid.add(ix, iy, s[0].v);
        grid.add(ix + 1, iy, s[1].v);
        grid.add(ix, iy + 1, s[2].v);
        grid.add(ix + 1, iy + 1, s[3].v);
    }
    let side = grid.side() as i32;
    let cells = grid
        .data
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != 0.0)
        .map(|(i, &v)| (i as i32 % side - half, i as i32 / side - half, v))
        .collect();
    Splat { half, taps, grid, cells }
}

/// Convolution of two sparse cell lists onto a grid of half `half` (≥ the sum of their halves).
fn convolve_cells(a: &[(i32, i32, f64)], b: &[(i32, i32, f64)], half: i32) -> Grid {
    let mut out = Grid::zeros(half);
    let side = out.side() as i32;
    for &(ax, ay, av) in a {
        for &(bx, by, bv) in b {
            out.data[((ay + by + half) * side + ax + bx + half) as usize] += av * bv;
        }
    }
    out
}

/// Convolution of a dense grid with a sparse cell list of half `cells_half`.
fn convolve_dense(d: &Grid, cells: &[(i32, i32, f64)], cells_half: i32) -> Grid {
    let half = d.half + cells_half;
    let mut out = Grid::zeros(half);
    let (os, ds) = (out.side(), d.side());
    for &(sx, sy, v) in cells {
        for (row, src) in d.data.chunks_exact(ds).enumerate() {
            let start = (row as i32 + sy + cells_half) as usize * os + (sx + cells_half) as usize;
            for (o, s) in out.data[start..start + ds].iter_mut().zip(src) {
                *o += v * s;
            }
        }
    }
    out
}

/// The convolution of the splats `which` (in order); the unit impulse if there are none.
fn convolve_layers(splats: &[Splat], which: &[usize]) -> Grid {
    match which {
        [] => {
            let mut g = Grid::zeros(0);
            g.data[0] = 1.0;
            g
        }
        [a] => splats[*a].grid.clone(),
        [a, b, rest @ ..] => {
            let (sa, sb) = (&splats[*a], &splats[*b]);
            let mut g = convolve_cells(&sa.cells, &sb.cells, sa.half + sb.half);
            for &m in rest {
                g = convolve_dense(&g, &splats[m].cells, splats[m].half);
            }
            g
        }
    }
}

fn load4(s: &[f64], k: usize) -> f64x4 {
    f64x4::new([s[k], s[k + 1], s[k + 2], s[k + 3]])
}

/// `[G(0,0), G(1,0), G(0,1), G(1,1)]` with `G(a,b) = Σ_u r(base + a + b·rs + u) · q(u)` over the
/// square grid `q` of side `qs` (row stride `rs` in `r`).
fn correlate4(r: &[f64], rs: usize, base: usize, q: &[f64], qs: usize) -> [f64; 4] {
    let (mut a00, mut a10, mut a01, mut a11) = (f64x4::ZERO, f64x4::ZERO, f64x4::ZERO, f64x4::ZERO);
    let mut tail = [0.0f64; 4];
    let body = qs / 4 * 4;
    for (row, qrow) in q.chunks_exact(qs).enumerate() {
        let r0 = &r[base + row * rs..base + row * rs + qs + 1];
        let r1 = &r[base + (row + 1) * rs..base + (row + 1) * rs + qs + 1];
        let mut k = 0;
        while k < body {
            let qv = load4(qrow, k);
            a00 = load4(r0, k).mul_add(qv, a00);
            a10 = load4(r0, k + 1).mul_add(qv, a10);
            a01 = load4(r1, k).mul_add(qv, a01);
            a11 = load4(r1, k + 1).mul_add(qv, a11);
            k += 4;
        }
        for k in body..qs {
            let qv = qrow[k];
            tail[0] += r0[k] * qv;
            tail[1] += r0[k + 1] * qv;
            tail[2] += r1[k] * qv;
            tail[3] += r1[k + 1] * qv;
        }
    }
    [a00.reduce_add() + tail[0], a10.reduce_add() + tail[1], a01.reduce_add() + tail[2], a11.reduce_add() + tail[3]]
}

/// The loss of `params` against `target` (see the module docs) and, if `grad` is given, its
/// exact gradient with respect to every tap's x, y and w (`grad` must be shaped like `params`).
pub fn loss_and_gradient(params: &Params, target: &Grid, grad: Option<&mut Params>) -> f64 {
    smoothed_loss_and_gradient(params, target, 0.0, grad)
}

/// Separable gaussian blur of a square grid (standard deviation `sigma` cells, zero outside).
fn blur(g: &Grid, sigma: f64) -> Grid {
    let rad = (3.0 * sigma).ceil() as usize;
    let mut k: Vec<f64> =
        (0..=2 * rad).map(|i| (-((i as f64 - rad as f64).powi(2)) / (2.0 * sigma * sigma)).exp()).collect();
    let s: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    let side = g.side();
    let mut tmp = vec![0.0; side * side];
    for (src, dst) in g.data.chunks_exact(side).zip(tmp.chunks_exact_mut(side)) {
        for (x, d) in dst.iter_mut().enumerate() {
            let lo = x.saturating_sub(rad);
            let hi = (x + rad).min(side - 1);
            *d = (lo..=hi).map(|i| src[i] * k[i + rad - x]).sum();
        }
    }
    let mut out = Grid::zeros(g.half);
    for y in 0..side {
        let lo = y.saturating_sub(rad);
        let hi = (y + rad).min(side - 1);
        for j in lo..=hi {
            let kv = k[j + rad - y];
            for (d, t) in out.data[y * side..(y + 1) * side].iter_mut().zip(&tmp[j * side..(j + 1) * side]) {
                *d += kv * t;
            }
        }
    }
    out
}

/// [`loss_and_gradient`] of the residual seen through a gaussian of standard deviation `sigma`
/// cells: `|B·R|²/n` with B the gaussian blur (the loss of both PSF and target blurred by σ). Early in a fit this lets taps feel the target beyond their 2×2 footprint; σ = 0
/// is the exact loss.
pub fn smoothed_loss_and_gradient(params: &Params, target: &Grid, sigma: f64, grad: Option<&mut Params>) -> f64 {
    objective_and_gradient(params, target, sigma, 0.0, 0.0, grad)
}

/// The cells of `target`'s interior that the flatness term weighs, as `(dx, dy)`: where the target
/// is at its peak (to 0.1 %) within [`FLAT_REACH`] of its support radius.
pub fn flat_cells(target: &Grid) -> Vec<(i32, i32)> {
    let peak = target.max();
    let reach = FLAT_REACH * super::init::support_radius(target);
    let h = target.half;
    let mut out = Vec::new();
    for dy in -h..=h {
        for dx in -h..=h {
            if ((dx * dx + dy * dy) as f64).sqrt() <= reach && target.get(dx, dy) >= 0.999 * peak {
                out.push((dx, dy));
            }
        }
    }
    out
}

/// How far out the flatness term reaches, as a fraction of the target's support radius.
pub const FLAT_REACH: f64 = 0.8;

/// The fitting objective: [`smoothed_loss_and_gradient`] plus `flat` × the mean squared error
/// over the target's flat interior ([`flat_cells`], summed over those cells and divided by the
/// whole grid's cell count, like the loss): a highlight shows the interior's pattern (rings, a
/// central dot) far more than the PSNR weighs it; plus `lobe` × the sum of the PSF's squared
/// negative values over the same cell count (every cell of the PSF, inside the target's grid and
/// out): with signed weights, what keeps the PSF's negative lobes — a dark ring round an HDR
/// highlight — near 0 while the signed taps still sharpen. `flat` = `lobe` = 0 is the loss of
/// ARCHITECTURE.md's PSNR definition.
pub fn objective_and_gradient(
    params: &Params,
    target: &Grid,
    sigma: f64,
    flat: f64,
    lobe: f64,
    grad: Option<&mut Params>,
) -> f64 {
    let splats: Vec<Splat> = params.layers.iter().map(|l| splat(l)).collect();
    let nl = splats.len();
    let total_half: i32 = splats.iter().map(|s| s.half).sum();
    // Q_l for every layer (the PSF of the others), and the PSF itself from Q_{L-1}.
    let others = |l: usize| (0..nl).filter(|&m| m != l).collect::<Vec<_>>();
    let qs: Vec<Grid> =
        if grad.is_some() { (0..nl).map(|l| convolve_layers(&splats, &others(l))).collect() } else { Vec::new() };
    let psf = if nl == 0 {
        convolve_layers(&splats, &[])
    } else if let Some(q) = qs.last() {
        convolve_dense(q, &splats[nl - 1].cells, splats[nl - 1].half)
    } else {
        let q = convolve_layers(&splats, &others(nl - 1));
        convolve_dense(&q, &splats[nl - 1].cells, splats[nl - 1].half)
    };
    // Residual on a grid covering both the PSF and the target.
    let m = total_half.max(target.half).max(psf.half);
    let mut residual = psf.recut(m);
    // The PSF's negative values (every cell, the target's grid and beyond).
    let below: Vec<(usize, f64)> = if lobe > 0.0 {
        residual.data.iter().enumerate().filter(|(_, v)| **v < 0.0).map(|(i, v)| (i, *v)).collect()
    } else {
        Vec::new()
    };
    let rside = residual.side();
    let tside = target.side();
    let off = (m - target.half) as usize;
    for (row, trow) in target.data.chunks_exact(tside).enumerate() {
        let start = (row + off) * rside + off;
        for (r, t) in residual.data[start..start + tside].iter_mut().zip(trow) {
            *r -= t;
        }
    }
    let n = (tside * tside) as f64;
    // The interior's residuals, before the blur below replaces them.
    let interior: Vec<(usize, f64)> = if flat > 0.0 {
        flat_cells(target)
            .into_iter()
            .map(|(x, y)| {
                let i = (y + m) as usize * rside + (x + m) as usize;
                (i, residual.data[i])
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut loss = if sigma > 0.0 {
        // loss = |B·R|² with B the (symmetric) blur on this grid, so ∂loss/∂R = 2·B(B·R): exactly
        // positive semi-definite, whatever the truncation of the gaussian.
        let br = blur(&residual, sigma);
        residual = blur(&br, sigma);
        br.data.iter().map(|v| v * v).sum::<f64>() / n
    } else {
        residual.data.iter().map(|r| r * r).sum::<f64>() / n
    };
    // + flat·Σ_interior R²/n, whose derivative adds flat·R there to ∂loss/∂R (×2/n below).
    for (i, r) in interior {
        loss += flat * r * r / n;
        residual.data[i] += flat * r;
    }
    // + lobe·Σ min(0, PSF)²/n, likewise.
    for (i, d) in below {
        loss += lobe * d * d / n;
        residual.data[i] += lobe * d;
    }
    let Some(grad) = grad else { return loss };
    tap_gradients(&splats, &qs, &residual, m, n, grad);
    loss
}

/// Each tap's gradient from `∂loss/∂PSF = (2/n)·residual` (grid of half `m`).
fn tap_gradients(splats: &[Splat], qs: &[Grid], residual: &Grid, m: i32, n: f64, grad: &mut Params) {
    let rside = residual.side();
    let scale = 2.0 / n;
    for (l, (sp, q)) in splats.iter().zip(qs).enumerate() {
        let qh = q.half;
        let qside = q.side();
        for (i, &(ix, iy, s)) in sp.taps.iter().enumerate() {
            // Cell (ix + ux, iy + uy) of the residual for u = (−qh, −qh).
            let base = (iy - qh + m) as usize * rside + (ix - qh + m) as usize;
            let g = correlate4(&residual.data, rside, base, &q.data, qside);
            let mut out = [0.0; 3];
            for (gk, sk) in g.iter().zip(&s) {
                for (o, d) in out.iter_mut().zip(&sk.g) {
                    *o += gk * d;
                }
            }
            for (o, v) in grad.layers[l][i].iter_mut().zip(out) {
                *o = v * scale;
            }
        }
    }
}

/// Where a new tap of layer `layer` would lower the loss fastest: the cell `q` of the target's
/// grid maximising `Σ_u (T − PSF)(q + u) · Q(u)` (Q the convolution of the other layers), i.e. the
/// steepest descent of the loss for mass added to that layer at `q`. Used by the fitter's
/// perturbation rounds to move a tap to where the residual is largest.
pub fn residual_peak(params: &Params, target: &Grid, layer: usize) -> (i32, i32) {
    let splats: Vec<Splat> = params.layers.iter().map(|l| splat(l)).collect();
    let nl = splats.len();
    let others: Vec<usize> = (0..nl).filter(|&m| m != layer).collect();
    let q = convolve_layers(&splats, &others);
    let psf = convolve_dense(&q, &splats[layer].cells, splats[layer].half);
    let h = target.half;
    // Residual T − PSF on a grid wide enough for every q in the target's grid and u in Q's.
    let m = h + q.half;
    let mut residual = psf.recut(m);
    residual.data.iter_mut().for_each(|v| *v = -*v);
    let rside = residual.side();
    let tside = target.side();
    let off = (m - h) as usize;
    for (row, trow) in target.data.chunks_exact(tside).enumerate() {
        let start = (row + off) * rside + off;
        for (r, t) in residual.data[start..start + tside].iter_mut().zip(trow) {
            *r += t;
        }
    }
    let qside = q.side();
    let reach = splats[layer].half.min(h);
    let mut best = (0, 0, f64::NEG_INFINITY);
    for qy in -reach..=reach {
        for qx in -reach..=reach {
            // Cell (qx + ux, qy + uy) for u = (−q.half, −q.half) onwards.
            let base = (qy - q.half + m) as usize * rside + (qx - q.half + m) as usize;
            let mut score = 0.0;
            for (row, qrow) in q.data.chunks_exact(qside).enumerate() {
                let r = &residual.data[base + row * rside..base + row * rside + qside];
                score += r.iter().zip(qrow).map(|(a, b)| a * b).sum::<f64>();
            }
            if score > best.2 {
                best = (qx, qy, score);
            }
        }
    }
    (best.0, best.1)
}

/// The loss alone.
pub fn loss(params: &Params, target: &Grid) -> f64 {
    loss_and_gradient(params, target, None)
}

/// Options of [`optimize`].
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub iterations: usize,
    /// Adam step for offsets at the start of the schedule, as a fraction of each layer's starting extent.
    pub lr_position: f64,
    /// Adam step for weights at the start, as a fraction of the mean tap weight 1/N (signed
    /// weights) or of the weight itself (`non_negative`: a step of ln w).
    pub lr_weight: f64,
    /// The schedule ends at this fraction of the starting steps (cosine decay).
    pub lr_final: f64,
    /// How far each layer's taps may go: `|x|, |y| ≤ reach_limit` (in pixels); `None` = the target's half.
    pub reach_limit: Option<f64>,
    /// With three layers or more, the middle layers (neither the finest nor the coarsest) may go
    /// only `max(inner_reach · reach_limit, 4)` pixels: otherwise near-zero taps drift to the
    /// limit, where they cost iterations (the other layers' PSF grows) and are scaled further with
    /// each larger radius of a bundle.
    pub inner_reach: f64,
    /// Coarse-to-fine: the loss is first seen through a gaussian of σ = `smooth`·(target half)
    /// cells, shrinking linearly to 0 at `smooth_until`·iterations; the exact loss after that.
    pub smooth: f64,
    pub smooth_until: f64,
    /// Keep every tap weight positive (multiplicative steps, see [`adam`]): each layer's splat
    /// is then non-negative, so is the complex's PSF, and so is any interpolation between two
    /// such complexes (lerped non-negative weights stay non-negative). A lens's PSF is never
    /// negative; a negative lobe turns into a dark ring around an HDR highlight. Off, weights
    /// step additively and may go negative (sharper edges, higher PSNR, rings).
    pub non_negative: bool,
    /// The flatness weight of [`objective_and_gradient`] for callers whose objective is the
    /// target's alone (the symmetric search); see `FitSpec::flat`.
    pub flat: f64,
    /// The lobe weight of [`objective_and_gradient`], likewise.
    pub lobe: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            iterations: 2000,
            lr_position: 0.02,
            lr_weight: 0.02,
            lr_final: 0.01,
            reach_limit: None,
            inner_reach: 0.6,
            smooth: 0.1,
            smooth_until: 0.5,
            non_negative: true,
            flat: 0.0,
            lobe: 0.0,
        }
    }
}

/// The result of a fit: the complex (renormalised to unit mass, f32 taps) and its PSNR (ARCHITECTURE.md "Bundle format").
#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    pub complex: Complex,
    pub psnr_db: f64,
    /// The exact loss of `complex` (f32 taps, renormalised): `psnr_db` is `loss_to_psnr_db` of it.
    pub final_loss: f64,
}

/// Adam on the loss from `init`, then [`finish`]. Deterministic (single-threaded, fixed order).
pub fn optimize(init: &Params, target: &Grid, opts: &Options) -> Fitted {
    let params = optimize_params(init, target, opts, &mut |_, _| {});
    finish(&params, target)
}

/// Adam with a cosine learning-rate schedule; `progress(iteration, loss)` is called every iteration.
/// Offsets are clamped to the reach limit after each step.
pub fn optimize_params(init: &Params, target: &Grid, opts: &Options, progress: &mut dyn FnMut(usize, f64)) -> Params {
    let ntaps = init.layers.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let mut eval = |p: &Params, sigma: f64, grad: &mut Params| smoothed_loss_and_gradient(p, target, sigma, Some(grad));
    adam(init, target, opts, ntaps, &mut eval, progress)
}

/// The Adam loop of [`optimize_params`] over any parameterisation of a complex: `eval(p, σ, grad)`
/// returns the loss seen through a gaussian of σ cells and writes its gradient (shaped like `p`).
/// Each layer of `p` steps at its own scale: offsets by `lr_position` × the layer's starting
/// extent (the largest |offset|, at least half a pixel), weights by `lr_weight / taps` (a fraction of the mean weight of a full layer).
/// Offsets are clamped to the reach limit after every step; the clamp is a box, so it commutes
/// with the quarter and half turns of [`super::symmetry`].
pub(crate) fn adam(
    init: &Params,
    target: &Grid,
    opts: &Options,
    taps: usize,
    eval: &mut dyn FnMut(&Params, f64, &mut Params) -> f64,
    progress: &mut dyn FnMut(usize, f64),
) -> Params {
    let (b1, b2, eps) = (0.9, 0.999, 1e-12);
    let half = target.half.max(1) as f64;
    let limit = opts.reach_limit.unwrap_or(target.half.max(1) as f64) - 1e-3;
    let ntaps = taps.max(1) as f64;
    let lr0: Vec<[f64; 3]> = init
        .layers
        .iter()
        .map(|l| {
            let extent = l.iter().map(|t| t[0].abs().max(t[1].abs())).fold(0.5, f64::max);
            [opts.lr_position * extent, opts.lr_position * extent, opts.lr_weight / ntaps]
        })
        .collect();
    let mut p = init.clone();
    let inner = limit.min((opts.inner_reach * limit).max(4.0));
    clamp(&mut p, limit, inner);
    // Non-negative weights step multiplicatively: Adam on ln w (∂loss/∂ln w = w·∂loss/∂w), each
    // step a fraction `lr_weight` of the weight itself, never below `floor`. Measured on the disc
    // at radius 16, this beats projecting additive steps onto w ≥ 0 (19.4 vs 19.3 dB with the
    // flatness term off): a weight at the floor can still grow back.
    let logw = opts.non_negative;
    let floor = WEIGHT_FLOOR / ntaps;
    if logw {
        p.layers.iter_mut().flatten().for_each(|t| t[2] = t[2].max(floor));
    }
    let mut grad = p.zeros_like();
    let mut m1 = p.zeros_like();
    let mut m2 = p.zeros_like();
    let (mut b1t, mut b2t) = (1.0, 1.0);
    let iters = opts.iterations.max(1);
    for it in 0..opts.iterations {
        let t = it as f64 / iters as f64;
        let sigma = opts.smooth * half * (1.0 - t / opts.smooth_until.max(1e-9)).max(0.0);
        let sigma = if sigma < 0.25 { 0.0 } else { sigma };
        let l = eval(&p, sigma, &mut grad);
        progress(it, l);
        let sched = opts.lr_final + (1.0 - opts.lr_final) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
        b1t *= b1;
        b2t *= b2;
        for (((pl, gl), (ml, vl)), lr) in
            p.layers.iter_mut().zip(&grad.layers).zip(m1.layers.iter_mut().zip(&mut m2.layers)).zip(&lr0)
        {
            for ((pt, gt), (mt, vt)) in pl.iter_mut().zip(gl).zip(ml.iter_mut().zip(vl.iter_mut())) {
                for k in 0..3 {
                    let g = if logw && k == 2 { gt[k] * pt[k] } else { gt[k] };
                    mt[k] = b1 * mt[k] + (1.0 - b1) * g;
                    vt[k] = b2 * vt[k] + (1.0 - b2) * g * g;
                    let mhat = mt[k] / (1.0 - b1t);
                    let vhat = vt[k] / (1.0 - b2t);
                    if logw && k == 2 {
                        pt[k] = (pt[k] * (-opts.lr_weight * sched * mhat / (vhat.sqrt() + eps)).exp()).max(floor);
                    } else {
                        pt[k] -= lr[k] * sched * mhat / (vhat.sqrt() + eps);
                    }
                }
            }
        }
        clamp(&mut p, limit, inner);
    }
    p
}

/// The smallest weight of a non-negative fit, as a fraction of the mean weight 1/N: small enough
/// to change no PSF visibly, large enough for a multiplicative step to grow it back.
pub const WEIGHT_FLOOR: f64 = 1e-4;

/// Clamps every offset to `limit`, those of the middle layers to `inner`.
fn clamp(p: &mut Params, limit: f64, inner: f64) {
    let nl = p.layers.len();
    for (i, l) in p.layers.iter_mut().enumerate() {
        let limit = if i > 0 && i + 1 < nl { inner } else { limit };
        for t in l.iter_mut() {
            t[0] = t[0].clamp(-limit, limit);
            t[1] = t[1].clamp(-limit, limit);
        }
    }
}

/// Rounds to f32 taps and renormalises the weights so that every layer sums to 1 (so the product
/// over layers is 1, as the bundle loader requires), then measures the PSNR (ARCHITECTURE.md "Bundle format").
/// Dividing each layer by its own sum leaves the PSF's shape unchanged when the product of the
/// sums is positive; otherwise (a degenerate fit) the weights are reset to 1/N.
pub fn finish(params: &Params, target: &Grid) -> Fitted {
    let sums: Vec<f64> = params.layers.iter().map(|l| l.iter().map(|t| t[2]).sum()).collect();
    let ok = sums.iter().all(|s| s.abs() > 1e-9) && sums.iter().product::<f64>() > 0.0;
    let mut p = params.clone();
    for (l, s) in p.layers.iter_mut().zip(&sums) {
        let n = l.len() as f64;
        for t in l.iter_mut() {
            t[2] = if ok { t[2] / s } else { 1.0 / n };
        }
    }
    let mut complex = p.to_complex();
    // f32 rounding leaves each layer's sum within ~1e-7 of 1; fold the remainder into the largest tap.
    for layer in &mut complex.layers {
        let sum: f64 = layer.iter().map(|t| t.w as f64).sum();
        if let Some(big) = layer.iter_mut().max_by(|a, b| a.w.abs().total_cmp(&b.w.abs())) {
            big.w = (big.w as f64 + (1.0 - sum)) as f32;
        }
    }
    let psf = complex_psf(&complex);
    let psnr = psnr_db(&psf, target);
    let final_loss = loss(&Params::from_complex(&complex), target);
    Fitted { complex, psnr_db: psnr, final_loss }
}

/// The kernel PSNR (ARCHITECTURE.md "Bundle format") of a loss value against `target`.
pub fn loss_to_psnr_db(loss: f64, target: &Grid) -> f64 {
    let peak = target.max();
    10.0 * (peak * peak / loss).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(state: &mut u64) -> f64 {
        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*state >> 11) as f64) / ((1u64 << 53) as f64)
    }

    fn disc(half: i32, r: f64) -> Grid {
        let mut g = Grid::zeros(half);
        for dy in -half..=half {
            for dx in -half..=half {
                if ((dx * dx + dy * dy) as f64) <= r * r {
                    g.add(dx, dy, 1.0);
                }
            }
        }
        let s = g.sum();
        g.data.iter_mut().for_each(|v| *v /= s);
        g
    }

    fn random_params(layers: usize, taps: usize, spread: f64, seed: u64) -> Params {
        let mut s = seed;
        let coord = |s: &mut u64| {
            // Keep every coordinate's fraction in [0.1, 0.9] so ±h never crosses a cell edge.
            let v = (lcg(s) * 2.0 - 1.0) * spread;
            let f = v - v.floor();
            v.floor() + 0.1 + 0.8 * f
        };
        Params {
            layers: (0..layers)
                .map(|_| {
                    (0..taps)
                        .map(|_| [coord(&mut s), coord(&mut s), 0.5 / taps as f64 + lcg(&mut s) / taps as f64])
                        .collect()
                })
                .collect(),
        }
    }

    #[test]
    fn loss_matches_dense_psf_and_psnr() {
        let target = disc(6, 5.5);
        let p = random_params(3, 7, 3.0, 7);
        let l = loss(&p, &target);
        let psf = complex_psf(&p.to_complex());
        let direct = psnr_db(&psf, &target);
        // f32 rounding of the taps aside, the same number.
        assert!((loss_to_psnr_db(l, &target) - direct).abs() < 1e-4, "{} vs {direct}", loss_to_psnr_db(l, &target));
    }

    #[test]
    fn gradient_matches_central_differences_for_every_parameter() {
        // Spread 4 on a half-5 target: the PSF spills outside the grid, so that term is exercised too.
        // The fifth case checks the coarse-to-fine (smoothed) loss too, the next two the
        // flatness term, exact and smoothed, the last two the lobe term (every third weight
        // negated, so the PSF has negative cells).
        for (layers, taps, seed, sigma, flat, lobe) in [
            (3, 6, 1u64, 0.0, 0.0, 0.0),
            (2, 5, 2, 0.0, 0.0, 0.0),
            (1, 4, 3, 0.0, 0.0, 0.0),
            (4, 3, 4, 0.0, 0.0, 0.0),
            (3, 5, 5, 1.3, 0.0, 0.0),
            (3, 5, 6, 0.0, 3.0, 0.0),
            (3, 5, 7, 1.3, 2.0, 0.0),
            (3, 5, 8, 0.0, 0.0, 40.0),
            (2, 6, 9, 1.3, 2.0, 40.0),
        ] {
            let target = disc(5, 4.5);
            let mut p = random_params(layers, taps, 4.0, seed);
            if lobe > 0.0 {
                p.layers.iter_mut().flatten().step_by(3).for_each(|t| t[2] = -t[2]);
                assert!(complex_psf(&p.to_complex()).data.iter().any(|v| *v < 0.0));
            }
            let mut g = p.zeros_like();
            let loss = |p: &Params, t: &Grid| objective_and_gradient(p, t, sigma, flat, lobe, None);
            objective_and_gradient(&p, &target, sigma, flat, lobe, Some(&mut g));
            for l in 0..layers {
                for i in 0..taps {
                    for k in 0..3 {
                        let h = 1e-6;
                        let mut plus = p.clone();
                        plus.layers[l][i][k] += h;
                        let mut minus = p.clone();
                        minus.layers[l][i][k] -= h;
                        let fd = (loss(&plus, &target) - loss(&minus, &target)) / (2.0 * h);
                        let an = g.layers[l][i][k];
                        let err = (fd - an).abs() / fd.abs().max(an.abs()).max(1e-300);
                        assert!(
                            err <= 1e-3 || (fd - an).abs() < 1e-13,
                            "L={layers} layer {l} tap {i} param {}: analytic {an:e}, central difference {fd:e}, rel {err:e}",
                            ["x", "y", "w"][k]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn flatness_term_is_the_interior_squared_error_of_the_dense_psf() {
        let target = disc(6, 5.5);
        let p = random_params(3, 7, 3.0, 11);
        let psf = complex_psf(&p.to_complex());
        let cells = flat_cells(&target);
        // The disc's cells within 0.8 of its support radius (5.5 + 0.5 = 6.0): centres within 4.8.
        assert_eq!(
            cells.len(),
            (-6i32..=6)
                .flat_map(|y| (-6i32..=6).map(move |x| x * x + y * y))
                .filter(|&d| (d as f64) <= 4.8 * 4.8)
                .count()
        );
        let n = (target.side() * target.side()) as f64;
        let se: f64 = cells.iter().map(|&(x, y)| (psf.get(x, y) - target.get(x, y)).powi(2)).sum();
        let with = objective_and_gradient(&p, &target, 0.0, 2.5, 0.0, None);
        let without = loss(&p, &target);
        assert!(((with - without) - 2.5 * se / n).abs() < 1e-6 * with, "{with} - {without} vs {}", 2.5 * se / n);
    }

    #[test]
    fn lobe_term_is_the_squared_negative_part_of_the_dense_psf() {
        let target = disc(6, 5.5);
        let mut p = random_params(3, 7, 3.0, 13);
        p.layers.iter_mut().flatten().step_by(3).for_each(|t| t[2] = -t[2]);
        let psf = complex_psf(&p.to_complex());
        let n = (target.side() * target.side()) as f64;
        let neg: f64 = psf.data.iter().map(|v| v.min(0.0).powi(2)).sum();
        assert!(neg > 0.0);
        let with = objective_and_gradient(&p, &target, 0.0, 0.0, 70.0, None);
        let without = loss(&p, &target);
        assert!(((with - without) - 70.0 * neg / n).abs() < 1e-5 * with, "{with} - {without} vs {}", 70.0 * neg / n);
    }

    #[test]
    fn non_negative_fits_keep_every_weight_positive() {
        let target = disc(8, 7.5);
        let start = random_params(3, 8, 4.0, 12);
        let b = optimize(&start, &target, &Options { iterations: 300, ..Options::default() });
        let low = b.complex.layers.iter().flatten().map(|t| t.w).fold(f32::INFINITY, f32::min);
        assert!(low > 0.0, "{low}");
        let psf = complex_psf(&b.complex);
        assert!(psf.data.iter().all(|v| *v >= 0.0));
    }

    #[test]
    fn finish_renormalises_to_unit_mass() {
        let target = disc(4, 4.0);
        let mut p = random_params(3, 5, 2.0, 9);
        p.layers[1].iter_mut().for_each(|t| t[2] *= 3.0);
        let f = finish(&p, &target);
        for l in &f.complex.layers {
            let s: f64 = l.iter().map(|t| t.w as f64).sum();
            assert!((s - 1.0).abs() < 1e-6);
        }
        assert!((f.complex.weight_sum() - 1.0).abs() < 1e-5);
    }
}

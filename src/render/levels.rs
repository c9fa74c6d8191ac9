//! Multi-resolution rendering (ARCHITECTURE.md "Resolution levels"): a blur of radius r holds no
//! detail finer than a few pixels, so radii from [`LEVEL_START`] up are blurred on a reduced copy
//! of the frame — level k is the frame averaged over 2ᵏ × 2ᵏ blocks, blurred with the complex at
//! r / 2ᵏ — and interpolated back bilinearly. A pixel's level is continuous in log₂ r: across
//! the top [`BLEND_OCTAVES`] of every octave it blends level k into level k + 1, so neither a ramp
//! of radii nor an animated radius shows a seam or a step.
//!
//! Level k costs 4⁻ᵏ per pixel of what a full-resolution blur at radius r/2ᵏ costs, so the work
//! per output pixel stops growing with the radius, and the complex is used where its fit is best
//! (the shipped bundles measure highest at radii 8–16).

use super::engine::{add_counts, run_masked, sample_counts, source_stats, RenderError, RenderStats, Scratch, TileMask};
use super::plan::Plan;
use crate::bundle::Bundle;
use crate::image::{ImageView, ImageViewMut};
use rayon::prelude::*;

/// The radius (full-resolution px) from which level k carries all of a pixel's weight
/// (index k; level 0 below `LEVEL_STARTS[1]`). Level k renders the complex at r / 2ᵏ: these
/// starts keep every reduced radius within 13.5–48 px. Chosen from the rendered impulse
/// response (`sparsebokeh inspect --impulse`; ARCHITECTURE.md "Resolution levels"): a level
/// cannot draw a rim sharper than about one of its pixels, so a reduced radius of 8 px at 4×
/// reduction (r = 32) measured 16.9 dB where 16 px at 2× measures 20.0 and full resolution
/// 18.6.
pub const LEVEL_STARTS: [f32; MAX_LEVEL + 1] = [0.0, 32.0, 96.0, 192.0, 384.0, 768.0, 1536.0];

/// The radius from which level 1 is used at all (blending in): `LEVEL_STARTS[1]` less
/// [`BLEND_OCTAVES`].
pub const LEVEL_START: f32 = 26.908685;

/// The part of an octave of radius below each level's start across which a pixel blends from
/// the level below into it (so neither a ramp of radii nor an animated radius shows a step).
pub const BLEND_OCTAVES: f32 = 0.25;

/// The coarsest level (blocks of 2⁶ = 64 px).
pub const MAX_LEVEL: usize = 6;

/// The levels a pixel of radius `r` uses: level `k` with weight `1 − f` and level `k + 1` with
/// weight `f` (`f` = 0 when only level `k` is used).
pub fn level_weights(r: f32) -> (usize, f32) {
    // NaN, and every radius below the first blend, stay at full resolution.
    if r.is_nan() || r <= LEVEL_START {
        return (0, 0.0);
    }
    let k = (1..=MAX_LEVEL).rev().find(|&j| r >= LEVEL_STARTS[j]).unwrap_or(0);
    if k == MAX_LEVEL {
        return (k, 0.0);
    }
    // Blend over the last BLEND_OCTAVES before the next level's start, linearly in log r.
    let next = LEVEL_STARTS[k + 1];
    let from = next * (-BLEND_OCTAVES).exp2();
    if r <= from {
        return (k, 0.0);
    }
    (k, ((r / from).log2() / BLEND_OCTAVES).clamp(0.0, 1.0))
}

/// The weight of level `j` for a pixel of radius `r`.
fn weight_of(r: f32, j: usize) -> f32 {
    let (k, f) = level_weights(r);
    if j == k {
        1.0 - f
    } else if j == k + 1 {
        f
    } else {
        0.0
    }
}

/// The smallest and largest full-resolution radius that gives level `j` some weight.
fn radius_range(j: usize) -> (f32, f32) {
    let lo = if j == 0 { 0.0 } else { LEVEL_STARTS[j] * (-BLEND_OCTAVES).exp2() };
    let hi = if j >= MAX_LEVEL { f32::INFINITY } else { LEVEL_STARTS[j + 1] };
    (lo, hi)
}

/// How far an output pixel reads through the reduced levels at radii up to `max_radius`
/// (full-resolution px): per level in use, the reach of its complexes at its reduced radii,
/// the interpolation back (2 reduced px) and the decimation (4 px of each level below it),
/// scaled to full resolution.
pub fn reach(bundle: &Bundle, max_radius: f64) -> usize {
    let b = bundle.for_levels();
    (1..=MAX_LEVEL)
        .filter(|&j| (radius_range(j).0 as f64) < max_radius)
        .map(|j| {
            let r = max_radius.min(radius_range(j).1 as f64) / (1u64 << j) as f64;
            let low = super::request::full_resolution_reach(b, r);
            (low + 2 + 4) << j
        })
        .max()
        .unwrap_or(0)
}

/// A frame at one level: `w × h` pixels of `c` channels, packed.
pub(crate) struct Reduced {
    pub w: usize,
    pub h: usize,
    pub c: usize,
    pub data: Vec<f32>,
}

impl Reduced {
    fn view(&self) -> ImageView<'_> {
        ImageView::packed(&self.data, self.w, self.h, self.c).expect("a reduced frame is consistent")
    }
}

/// The decimation filter of one halving: weights of the source pixels `2p − 3 ..= 2p + 4` for
/// reduced pixel p (centred between source pixels 2p and 2p + 1): the Catmull-Rom cubic at
/// their distances (0.25, 0.75, 1.25, 1.75 reduced px), normalised. It keeps the centroid and
/// adds no second moment, so a level blurs no wider than its complex (a box or tent average
/// would widen every rim by a pixel of the level).
fn down_taps() -> [f32; 8] {
    let mut w = [0.0f32; 8];
    for (i, v) in w.iter_mut().enumerate() {
        *v = cubic((i as f32 - 3.5) / 2.0);
    }
    let s: f32 = w.iter().sum();
    w.map(|v| v / s)
}

/// The Catmull-Rom cubic convolution kernel.
fn cubic(d: f32) -> f32 {
    let d = d.abs();
    if d < 1.0 {
        1.5 * d * d * d - 2.5 * d * d + 1.0
    } else if d < 2.0 {
        -0.5 * d * d * d + 2.5 * d * d - 4.0 * d + 2.0
    } else {
        0.0
    }
}

/// `acc += k · v`, element by element (vectorised by the compiler).
fn axpy(acc: &mut [f32], k: f32, v: &[f32]) {
    acc.iter_mut().zip(v).for_each(|(a, x)| *a += k * x);
}

/// `src` decimated by 2 in each direction with [`down_taps`] (edge pixels replicated, as the
/// full frame's border is); non-finite samples count as 0. Columns first (whole rows at a
/// time), then rows.
fn halve(src: &ImageView, scratch: &Scratch) -> (Reduced, (usize, usize)) {
    let (w, h, c) = (src.width, src.height, src.channels);
    let (hw, hh) = (w.div_ceil(2), h.div_ceil(2));
    let taps = down_taps();
    let at = |p: usize, i: usize, n: usize| (2 * p as i64 - 3 + i as i64).clamp(0, n as i64 - 1) as usize;
    let mut data = scratch.take(hw * hh * c);
    let counts = data
        .par_chunks_mut(hw * c)
        .enumerate()
        .map_init(
            || vec![0.0f32; w * c],
            |col, (y, out)| {
                // The source's bad samples, counted on the two rows this reduced row owns.
                let counts = (2 * y..(2 * y + 2).min(h)).map(|sy| sample_counts(src.row(sy))).fold((0, 0), add_counts);
                col.iter_mut().for_each(|v| *v = 0.0);
                for (i, &k) in taps.iter().enumerate() {
                    let row = src.row(at(y, i, h));
                    if row.iter().all(|v| v.is_finite()) {
                        axpy(col, k, row);
                    } else {
                        col.iter_mut().zip(row).for_each(|(a, v)| *a += k * if v.is_finite() { *v } else { 0.0 });
                    }
                }
                match c {
                    1 => halve_row::<1>(col, out, &taps, w),
                    2 => halve_row::<2>(col, out, &taps, w),
                    3 => halve_row::<3>(col, out, &taps, w),
                    _ => halve_row::<4>(col, out, &taps, w),
                }
                counts
            },
        )
        .reduce(|| (0, 0), add_counts);
    (Reduced { w: hw, h: hh, c, data }, counts)
}

/// One row decimated along x: `out` (⌈w/2⌉ pixels of `C` channels) from `row` (`w` pixels).
fn halve_row<const C: usize>(row: &[f32], out: &mut [f32], taps: &[f32; 8], w: usize) {
    let px = |x: i64| -> [f32; C] {
        let x = x.clamp(0, w as i64 - 1) as usize * C;
        row[x..x + C].try_into().expect("C channels")
    };
    for (x, o) in out.chunks_exact_mut(C).enumerate() {
        let base = 2 * x as i64 - 3;
        let mut acc = [0.0f32; C];
        if base >= 0 && base + 8 <= w as i64 {
            let s = &row[base as usize * C..(base as usize + 8) * C];
            for (k, p) in taps.iter().zip(s.chunks_exact(C)) {
                for ch in 0..C {
                    acc[ch] += k * p[ch];
                }
            }
        } else {
            for (i, k) in taps.iter().enumerate() {
                let p = px(base + i as i64);
                for ch in 0..C {
                    acc[ch] += k * p[ch];
                }
            }
        }
        o.copy_from_slice(&acc);
    }
}

/// The frame at levels 1..=`top` (index 0 of the result is level 1), and the source's bad
/// samples counted on the way.
fn pyramid(src: &ImageView, top: usize, scratch: &Scratch) -> (Vec<Reduced>, RenderStats) {
    let mut levels: Vec<Reduced> = Vec::with_capacity(top);
    let mut stats = RenderStats::default();
    for _ in 0..top {
        let next = match levels.last() {
            None => {
                let (first, (nonfinite_samples, negative_samples)) = halve(src, scratch);
                stats = RenderStats { nonfinite_samples, negative_samples, ..Default::default() };
                first
            }
            Some(prev) => halve(&prev.view(), scratch).0,
        };
        levels.push(next);
    }
    (levels, stats)
}

/// The interpolation back from a level-`j` frame of `n` pixels at full-resolution column (or
/// row) `i` (Catmull-Rom): the four reduced pixels read and their weights (pixel centres
/// aligned: reduced pixel p covers full pixels p·2ʲ .. p·2ʲ + 2ʲ − 1; edge pixels replicated).
fn up_taps(i: usize, n: usize, j: usize) -> [(usize, f32); 4] {
    let s = (1usize << j) as f32;
    let u = (i as f32 + 0.5) / s - 0.5;
    let p = u.floor();
    let t = u - p;
    let idx = |d: i64| (p as i64 + d).clamp(0, n as i64 - 1) as usize;
    [(idx(-1), cubic(1.0 + t)), (idx(0), cubic(t)), (idx(1), cubic(1.0 - t)), (idx(2), cubic(2.0 - t))]
}

/// One reduced row interpolated along x to full width (`cols`: each column's taps).
fn up_row<const C: usize>(src: &[f32], out: &mut [f32], cols: &[[(usize, f32); 4]]) {
    for (o, taps) in out.chunks_exact_mut(C).zip(cols) {
        let mut acc = [0.0f32; C];
        for &(p, k) in taps {
            let v: &[f32] = &src[p * C..p * C + C];
            for ch in 0..C {
                acc[ch] += k * v[ch];
            }
        }
        o.copy_from_slice(&acc);
    }
}

/// A level's blurred frame, interpolated back along rows (full width, the level's height), and
/// the level it stands for.
struct Blurred {
    j: usize,
    h: usize,
    /// `h` rows of the full width.
    rows: Vec<f32>,
}

impl Blurred {
    /// The blurred level `j` frame `f`, interpolated along its rows to `w` columns.
    fn new(j: usize, f: Reduced, w: usize, scratch: &Scratch) -> Blurred {
        let c = f.c;
        let cols: Vec<[(usize, f32); 4]> = (0..w).map(|x| up_taps(x, f.w, j)).collect();
        let mut rows = scratch.take(w * f.h * c);
        rows.par_chunks_mut(w * c).enumerate().for_each(|(y, out)| {
            let src = &f.data[y * f.w * c..(y + 1) * f.w * c];
            match c {
                1 => up_row::<1>(src, out, &cols),
                2 => up_row::<2>(src, out, &cols),
                3 => up_row::<3>(src, out, &cols),
                _ => up_row::<4>(src, out, &cols),
            }
        });
        scratch.give(f.data);
        Blurred { j, h: f.h, rows }
    }

    /// `out` = this level's interpolation at full-resolution row `y`.
    fn row_into(&self, y: usize, out: &mut [f32]) {
        let n = out.len();
        out.iter_mut().for_each(|v| *v = 0.0);
        for (p, k) in up_taps(y, self.h, self.j) {
            axpy(out, k, &self.rows[p * n..(p + 1) * n]);
        }
    }
}

/// A fixed blur through the levels of `radius` (see the module's text), when it uses a reduced
/// level, with no sample below 0 where the source has none; `None` when it is a
/// full-resolution blur (the caller renders it as before).
/// `src` = `None` blurs `dst` in place.
pub(crate) fn blur_fixed(
    bundle: &Bundle,
    radius: f64,
    src: Option<&ImageView>,
    dst: &mut ImageViewMut,
    scratch: &Scratch,
) -> Result<Option<RenderStats>, RenderError> {
    let (k, f) = level_weights(radius as f32);
    if (k, f) == (0, 0.0) {
        return Ok(None);
    }
    let used: Vec<(usize, f32)> = [(k, 1.0 - f), (k + 1, f)].into_iter().filter(|&(_, w)| w > 0.0).collect();
    let plans: Vec<(usize, f32, Plan)> = used
        .iter()
        .map(|&(j, w)| {
            let b = if j == 0 { bundle } else { bundle.for_levels() };
            (j, w, Plan::uniform(b, radius / (1u64 << j) as f64))
        })
        .collect();
    let (w, h, c) = (dst.width, dst.height, dst.channels);
    for (j, _, plan) in &plans {
        super::engine::check_work_size(plan, w.div_ceil(1 << j), h.div_ceil(1 << j), c)?;
    }
    let top = plans.iter().map(|p| p.0).max().unwrap_or(0);
    let (pyr, mut stats) = {
        let in_place = dst.as_view();
        pyramid(src.unwrap_or(&in_place), top, scratch)
    };
    stats.tables = plans.len();
    stats.max_radius = radius as f32;
    let mut blurred = Vec::new();
    let mut full_weight = 0.0f32;
    for (j, wt, plan) in &plans {
        if *j == 0 {
            full_weight = *wt;
            match src {
                Some(src) => {
                    run_masked(plan, src, dst, radius as f32, None, scratch);
                }
                None => {
                    super::engine::run_in_place(plan, dst, radius as f32, scratch);
                }
            }
            continue;
        }
        let input = &pyr[j - 1];
        let mut out = scratch.take(input.data.len());
        let mut ov = ImageViewMut::packed(&mut out, input.w, input.h, input.c).expect("consistent");
        run_masked(plan, &input.view(), &mut ov, (radius / (1u64 << j) as f64) as f32, None, scratch);
        let level = Blurred::new(*j, Reduced { w: input.w, h: input.h, c: input.c, data: out }, w, scratch);
        blurred.push((level, *wt));
    }
    pyr.into_iter().for_each(|r| scratch.give(r.data));
    // A lens never makes light negative (`engine::keep_non_negative`), done here row by row.
    let clamp = stats.negative_samples == 0;
    let n = w * c;
    dst.rows_mut().into_par_iter().enumerate().for_each_init(
        || vec![0.0f32; n],
        |tmp, (y, row)| {
            if full_weight == 0.0 {
                row.iter_mut().for_each(|v| *v = 0.0);
            } else if full_weight != 1.0 {
                row.iter_mut().for_each(|v| *v *= full_weight);
            }
            for (b, k) in &blurred {
                b.row_into(y, tmp);
                axpy(row, *k, tmp);
            }
            if clamp {
                row.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        },
    );
    blurred.into_iter().for_each(|(b, _)| scratch.give(b.rows));
    Ok(Some(stats))
}

/// Whether a pixel (`x`, `y`) lies in the tiles of `mask` (all pixels without one).
fn in_mask(mask: Option<&TileMask>, x: usize, y: usize) -> bool {
    mask.map_or(true, |m| m.on[(y / m.tile) * m.tw + x / m.tile])
}

/// The levels some pixel within `mask` gives weight to.
fn used_levels(radii: &[f32], w: usize, mask: Option<&TileMask>) -> Vec<bool> {
    radii
        .par_chunks(w)
        .enumerate()
        .fold(
            || vec![false; MAX_LEVEL + 1],
            |mut used, (y, row)| {
                for (_, &r) in row.iter().enumerate().filter(|(x, _)| in_mask(mask, *x, y)) {
                    let (k, f) = level_weights(r);
                    used[k] |= f < 1.0;
                    if f > 0.0 {
                        used[k + 1] = true;
                    }
                }
                used
            },
        )
        .reduce(|| vec![false; MAX_LEVEL + 1], |a, b| a.iter().zip(&b).map(|(x, y)| *x || *y).collect())
}

/// The plan of one level of a gather and the tiles of that level's frame it computes.
struct LevelPlan {
    j: usize,
    plan: Plan,
    tiles: TileMask,
}

/// The plans of every level in use, each checked against the working-frame limit before
/// anything is rendered. Level 0 takes the radii beyond its range clamped (those pixels take
/// none of it); a reduced pixel's radius is the mean over its block, clamped into the level's
/// range, and a level computes the tiles that need it grown by one (the interpolation back
/// reads two reduced pixels past them).
fn level_plans(
    bundle: &Bundle,
    radii: &[f32],
    (w, h, c): (usize, usize, usize),
    mask: Option<&TileMask>,
) -> Result<Vec<LevelPlan>, RenderError> {
    let used = used_levels(radii, w, mask);
    let mut plans = Vec::new();
    for j in (0..=MAX_LEVEL).filter(|&j| used[j]) {
        let (lw, lh) = (w.div_ceil(1 << j), h.div_ceil(1 << j));
        let (lo, hi) = radius_range(j);
        let (hi, s) = (hi.min(super::lens::MAX_RADIUS as f32), (1usize << j) as f32);
        let rj: Vec<f32> = if j == 0 {
            radii.par_iter().map(|&r| r.min(hi)).collect()
        } else {
            (0..lh)
                .into_par_iter()
                .flat_map_iter(|ly| {
                    (0..lw).map(move |lx| {
                        let (mut sum, mut n) = (0.0f32, 0.0f32);
                        for y in ly << j..((ly + 1) << j).min(h) {
                            sum += radii[y * w + (lx << j)..y * w + ((lx + 1) << j).min(w)].iter().sum::<f32>();
                            n += (((lx + 1) << j).min(w) - (lx << j)) as f32;
                        }
                        (sum / n).clamp(lo, hi) / s
                    })
                })
                .collect()
        };
        let plan = Plan::per_pixel(if j == 0 { bundle } else { bundle.for_levels() }, &rj);
        super::engine::check_work_size(&plan, lw, lh, c)?;
        let need = level_mask(radii, w, h, j, mask);
        let tiles = if j == 0 { need } else { reduce_mask(&need, j, lw, lh).dilated(1) };
        plans.push(LevelPlan { j, plan, tiles });
    }
    Ok(plans)
}

/// A depth-driven gather through the levels: each pixel filtered with its own radius, at the
/// levels its radius gives it, with no sample below 0 where the source has none. With `mask`,
/// only its tiles are written (the rest of `dst` is left as it was). `radii` are
/// full-resolution px, one per pixel.
pub(crate) fn blur_radii(
    bundle: &Bundle,
    radii: &[f32],
    src: &ImageView,
    dst: &mut ImageViewMut,
    mask: Option<&TileMask>,
    scratch: &Scratch,
) -> Result<RenderStats, RenderError> {
    let (w, c) = (src.width, src.channels);
    let max_r = radii.par_iter().copied().reduce(|| 0.0f32, f32::max);
    let plans = level_plans(bundle, radii, (w, src.height, c), mask)?;
    let top = plans.last().map_or(0, |p| p.j);
    let (pyr, counted) = pyramid(src, top, scratch);
    let mut stats = if top > 0 { counted } else { source_stats(src) };
    stats.max_radius = max_r;
    stats.tables = plans.iter().map(|p| p.plan.tables.len()).sum();
    let mut blurred = Vec::new();
    for LevelPlan { j, plan, tiles } in &plans {
        let max_low = radius_range(*j).1.min(max_r) / (1usize << j) as f32;
        if *j == 0 {
            run_masked(plan, src, dst, max_low, Some(tiles), scratch);
            continue;
        }
        let input = &pyr[j - 1];
        let mut out = scratch.take(input.data.len());
        let mut ov = ImageViewMut::packed(&mut out, input.w, input.h, c).expect("consistent");
        run_masked(plan, &input.view(), &mut ov, max_low, Some(tiles), scratch);
        blurred.push(Blurred::new(*j, Reduced { w: input.w, h: input.h, c, data: out }, w, scratch));
    }
    pyr.into_iter().for_each(|r| scratch.give(r.data));
    combine(dst, radii, mask, &blurred, stats.negative_samples == 0);
    blurred.into_iter().for_each(|b| scratch.give(b.rows));
    Ok(stats)
}

/// Each pixel of `dst` within `mask`: its level-0 value there (weighted) plus its weight of
/// every reduced level's interpolation; then, with `clamp` (a source without negative samples),
/// no sample below 0 (`engine::keep_non_negative`).
fn combine(dst: &mut ImageViewMut, radii: &[f32], mask: Option<&TileMask>, blurred: &[Blurred], clamp: bool) {
    let (w, c) = (dst.width, dst.channels);
    let n = w * c;
    dst.rows_mut().into_par_iter().enumerate().for_each_init(
        || (vec![0.0f32; n], vec![0.0f32; w]),
        |(tmp, wt), (y, row)| {
            let rrow = &radii[y * w..(y + 1) * w];
            let spans: Vec<(usize, usize)> = match mask {
                Some(m) => m.spans(y, w),
                None => vec![(0, w)],
            };
            // A row at full resolution only is already in `dst`.
            if blurred.is_empty() || rrow.iter().all(|&r| r.is_nan() || r <= LEVEL_START) {
                if clamp {
                    for &(a, b) in &spans {
                        row[a * c..b * c].iter_mut().for_each(|v| *v = v.max(0.0));
                    }
                }
                return;
            }
            for x in spans.iter().flat_map(|&(a, b)| a..b) {
                let w0 = weight_of(rrow[x], 0);
                let o = &mut row[x * c..(x + 1) * c];
                if w0 == 0.0 {
                    o.iter_mut().for_each(|v| *v = 0.0);
                } else if w0 != 1.0 {
                    o.iter_mut().for_each(|v| *v *= w0);
                }
            }
            for lv in blurred {
                wt.iter_mut().for_each(|v| *v = 0.0);
                for x in spans.iter().flat_map(|&(a, b)| a..b) {
                    wt[x] = weight_of(rrow[x], lv.j);
                }
                if wt.iter().all(|&k| k == 0.0) {
                    continue;
                }
                lv.row_into(y, tmp);
                for (x, &k) in wt.iter().enumerate().filter(|(_, k)| **k > 0.0) {
                    row[x * c..(x + 1) * c].iter_mut().zip(&tmp[x * c..(x + 1) * c]).for_each(|(o, v)| *o += k * v);
                }
            }
            if clamp {
                for &(a, b) in &spans {
                    row[a * c..b * c].iter_mut().for_each(|v| *v = v.max(0.0));
                }
            }
        },
    );
}

/// The tiles (of the full frame, 16 px) holding a pixel of `mask` to which level `j` gives weight.
fn level_mask(radii: &[f32], w: usize, h: usize, j: usize, mask: Option<&TileMask>) -> TileMask {
    let m = TileMask::from_pixels(LEVEL_TILE, w, h, radii, |r| weight_of(r, j) > 0.0);
    match mask {
        None => m,
        Some(outer) => {
            debug_assert_eq!(outer.tile, LEVEL_TILE);
            TileMask { on: m.on.iter().zip(&outer.on).map(|(a, b)| *a && *b).collect(), ..m }
        }
    }
}

/// A full-frame tile mask as a mask of the level-`j` frame (`lw × lh`, the same tile size).
fn reduce_mask(m: &TileMask, j: usize, lw: usize, lh: usize) -> TileMask {
    let mut out = TileMask::new(m.tile, lw, lh);
    for ty in 0..m.th {
        for tx in 0..m.tw {
            if m.on[ty * m.tw + tx] {
                out.on[(ty >> j).min(out.th - 1) * out.tw + (tx >> j).min(out.tw - 1)] = true;
            }
        }
    }
    out
}

/// How an impulse is rendered by [`impulse_response`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImpulsePath {
    /// `Engine::blur_fixed` at the radius.
    Fixed,
    /// `Engine::blur_depth` with a constant CoC of the radius (the depth-driven gather).
    Depth,
}

/// The rendered impulse response at radius `r`: a one-channel frame holding one pixel of value 1
/// at `phase` (0..64, 0..64) past a multiple of 64 px, rendered through `engine` along `path`,
/// cut out round that pixel on a grid wide enough to hold all its light. This is the figure a
/// user sees (ARCHITECTURE.md "Resolution levels"): the complex, the levels and the
/// interpolation back together.
pub fn impulse_response(
    engine: &super::Engine,
    bundle: &Bundle,
    r: f64,
    path: ImpulsePath,
    phase: (usize, usize),
) -> Result<crate::kernel::psf::Grid, RenderError> {
    use crate::bundle::AtRadius;
    let reach = match bundle.at_radius(r) {
        AtRadius::Complex(c) => c.reach() as usize,
        AtRadius::PassThrough => 0,
    };
    let (k, _) = level_weights(r as f32);
    let half = reach + (4usize << k.min(MAX_LEVEL)) + 2;
    // The impulse sits at a multiple of 64 plus `phase`, at least `half` from every edge.
    let origin = half.next_multiple_of(64);
    let (px, py) = (origin + phase.0 % 64, origin + phase.1 % 64);
    let side = origin + 64 + half + 1;
    let mut src = vec![0.0f32; side * side];
    src[py * side + px] = 1.0;
    let mut out = vec![0.0f32; side * side];
    let sv = ImageView::packed(&src, side, side, 1).expect("consistent");
    let mut ov = ImageViewMut::packed(&mut out, side, side, 1).expect("consistent");
    match path {
        ImpulsePath::Fixed => {
            engine.blur_fixed(bundle, r, &sv, &mut ov)?;
        }
        ImpulsePath::Depth => {
            let depth = vec![r as f32; side * side];
            let dv = ImageView::packed(&depth, side, side, 1).expect("consistent");
            let lens = super::Lens {
                mode: super::LensMode::Coc,
                focus: 0.0,
                dof: 0.0,
                size: 1.0,
                maximum: r.max(1.0),
                render_scale: 1.0,
            };
            engine.blur_depth(bundle, &lens, &dv, 0, &sv, &mut ov)?;
        }
    }
    let mut g = crate::kernel::psf::Grid::zeros(half as i32);
    let gs = g.side();
    for dy in 0..gs {
        for dx in 0..gs {
            g.data[dy * gs + dx] = out[(py + dy - half) * side + px + dx - half] as f64;
        }
    }
    Ok(g)
}

/// The lowest PSNR (ARCHITECTURE.md "Bundle format") of the rendered impulse response at `r`
/// against `target`, over the impulse's positions against the pixel grid of the coarsest level
/// `r` uses: on a block corner and half a block in, along each axis.
pub fn impulse_psnr(
    engine: &super::Engine,
    bundle: &Bundle,
    r: f64,
    path: ImpulsePath,
    target: &crate::kernel::psf::Grid,
) -> Result<f64, RenderError> {
    let (k, f) = level_weights(r as f32);
    let h = (1usize << (k + (f > 0.0) as usize)) / 2;
    let phases = if h == 0 { vec![(0, 0)] } else { vec![(0, 0), (h, 0), (0, h), (h, h)] };
    let mut worst = f64::INFINITY;
    for phase in phases {
        let g = impulse_response(engine, bundle, r, path, phase)?;
        worst = worst.min(crate::kernel::psf::psnr_db(&g, target));
    }
    Ok(worst)
}

/// The tile of the level masks: the engine's gather tile.
const LEVEL_TILE: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_continuous_and_sum_to_one() {
        let mut prev = level_weights(0.0);
        let mut r = 0.0f32;
        while r < 2048.0 {
            let (k, f) = level_weights(r);
            assert!((0.0..=1.0).contains(&f));
            assert!(k <= MAX_LEVEL);
            // The weights of each level move by small steps.
            for j in 0..=MAX_LEVEL {
                let before = if j == prev.0 {
                    1.0 - prev.1
                } else if j == prev.0 + 1 {
                    prev.1
                } else {
                    0.0
                };
                let now = weight_of(r, j);
                assert!((now - before).abs() < 0.02, "r={r} level {j}: {before} -> {now}");
            }
            prev = (k, f);
            r += 0.01 * r.max(1.0) / 8.0;
        }
        assert_eq!(level_weights(8.0), (0, 0.0));
        assert_eq!(level_weights(LEVEL_START), (0, 0.0));
        assert_eq!(level_weights(32.0), (1, 0.0));
        assert_eq!(level_weights(64.0), (1, 0.0));
        assert_eq!(level_weights(96.0), (2, 0.0));
        assert_eq!(level_weights(1024.0), (5, 0.0));
        assert_eq!(level_weights(1e9), (MAX_LEVEL, 0.0));
        let (k, f) = level_weights(30.0);
        assert_eq!(k, 0);
        assert!(f > 0.0 && f < 1.0);
    }

    #[test]
    fn ranges_cover_the_weights() {
        for i in 1..20000 {
            let r = i as f32 * 0.1;
            for j in 0..=MAX_LEVEL {
                let (lo, hi) = radius_range(j);
                if weight_of(r, j) > 0.0 {
                    assert!(r > lo && r < hi || (j == 0 && r <= hi), "r={r} j={j} range {lo}..{hi}");
                }
            }
        }
    }
}

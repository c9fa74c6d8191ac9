//! Layered (occlusion-aware, scatter-exact) lens blur.
//!
//! What a lens does: every source point spreads its light with the PSF of its *own* circle of
//! confusion, and nearer points occlude farther ones. Gather (each output pixel filtering with
//! its own radius) gets this right inside a surface but not where the radius jumps: a small light
//! before a far sky would be spread with the sky's radius. So near depth edges the frame is split
//! by signed CoC (negative in front of the focal plane) into **slices of one radius each**, and
//! every slice is blurred with the complex at exactly that radius — within a slice, gather and
//! scatter are the same thing. The stages:
//!
//! 1. [`Ladder`]: slice centres 1 px apart up to [`SLICE_LINEAR_PX`], then [`SLICE_STEP_RATIO`]
//!    of the radius apart; a pixel between two centres is shared by both with tent weights
//!    summing to 1, so energy is kept and a depth ramp blends without banding. A light's disc is
//!    the blend of the two neighbouring radii: its half-peak radius is within half a step of its
//!    own.
//! 2. [`locate_pixels`]: each pixel's place on the ladder, and per slice the tiles holding its
//!    pixels.
//! 3. [`slice_jobs`]: per slice, the connected groups of tiles it must produce (in the band, within
//!    its reach of its own pixels), each a region with its input rectangle.
//! 4. [`slice_source`]: a region's premultiplied colour with a coverage channel — its own pixels
//!    by matte, plus the pixels of nearer slices as opaque coverage whose colour (hidden from the
//!    camera) is filled by pull-push ([`pull_push`]; Gortler et al. 1996, Kraus & Strengert 2007)
//!    from what is at this slice or farther, so blurred rims of a nearer object show a plausible
//!    background and one surface shared by two slices does not occlude itself.
//! 5. [`blur_region`]: the fixed-radius engine (merged integer taps) over the region's tiles.
//! 6. [`composite`]: front to back, `acc += T·C`, `T ·= 1 − coverage`; then [`finish`] blends
//!    the result into the gather result by the edge weight.
//!
//! The engine uses this only near depth edges ([`edge_weight`]: within the PSF's measured spread
//! of a jump in CoC, fading out beyond it) and gather elsewhere, which is exact inside a surface.

use super::engine::{run_masked, Pools, Scratch, TileMask};
use super::plan::Plan;
use crate::bundle::Bundle;
use crate::image::{ImageView, ImageViewMut};
use rayon::prelude::*;

/// Slice centres are this many px apart up to this radius (a light's half-peak radius is then
/// within half a px of its own)...
pub const SLICE_LINEAR_PX: f32 = 32.0;
/// ...and this fraction of the radius apart beyond it (bounding the slice count: about 150 on
/// each side of focus at the largest radius, 1024 px).
pub const SLICE_STEP_RATIO: f32 = 1.0 / SLICE_LINEAR_PX;

/// The slice centres: signed CoC in px, near to far, 0 (in focus) among them.
#[derive(Clone, Debug, PartialEq)]
pub struct Ladder {
    centres: Vec<f32>,
}

impl Ladder {
    /// The centres needed for signed CoC values in `[lo, hi]`: steps of 1 px, then of
    /// [`SLICE_STEP_RATIO`] of the radius, the last centre on each side exactly the largest |CoC|
    /// there (so a far wall at one depth lies in one slice).
    pub fn new(lo: f32, hi: f32) -> Ladder {
        let side = |m: f32| {
            let mut v: Vec<f32> = Vec::new();
            let mut c = 0.0f32;
            while m > 0.0 {
                let step = (c * SLICE_STEP_RATIO).max(1.0);
                if c + step >= m {
                    // End exactly at m: move the last centre there when m is under half a step
                    // past it.
                    match v.last_mut() {
                        Some(last) if m - c < 0.5 * step => *last = m,
                        _ => v.push(m),
                    }
                    break;
                }
                c += step;
                v.push(c);
            }
            v
        };
        let mut centres: Vec<f32> = side(-lo.min(0.0)).into_iter().rev().map(|c| -c).collect();
        centres.push(0.0);
        centres.extend(side(hi.max(0.0)));
        Ladder { centres }
    }

    pub fn centres(&self) -> &[f32] {
        &self.centres
    }

    /// Where a signed CoC falls: between centres j and j+1, with weight `t` on j+1.
    pub fn locate(&self, s: f32) -> (usize, f32) {
        let c = &self.centres;
        let n = c.len();
        if n == 1 || s <= c[0] {
            return (0, 0.0);
        }
        if s >= c[n - 1] {
            return (n - 2, 1.0);
        }
        let j = c.partition_point(|&v| v <= s).saturating_sub(1).min(n - 2);
        (j, (s - c[j]) / (c[j + 1] - c[j]))
    }
}

/// Own matte m_k and nearer mass N_k of a pixel located at (j, t) for slice k.
fn masses(j: usize, t: f32, k: usize) -> (f32, f32) {
    if k < j {
        (0.0, 0.0)
    } else if k == j {
        (1.0 - t, 0.0)
    } else if k == j + 1 {
        (t, 1.0 - t)
    } else {
        (0.0, 1.0)
    }
}

/// A rectangle of the frame: columns x0..x1, rows y0..y1.
#[derive(Clone, Copy, Debug)]
struct Rect {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

impl Rect {
    fn grow(&self, by: usize, w: usize, h: usize) -> Rect {
        Rect {
            x0: self.x0.saturating_sub(by),
            y0: self.y0.saturating_sub(by),
            x1: (self.x1 + by).min(w),
            y1: (self.y1 + by).min(h),
        }
    }
    fn width(&self) -> usize {
        self.x1 - self.x0
    }
    fn height(&self) -> usize {
        self.y1 - self.y0
    }
}

/// The two cells of a grid `f` times coarser (`n` cells) that cell `i` interpolates between,
/// and the weight of the second (cell centres aligned: i ↦ (i + ½)/f − ½).
fn parent_span(i: usize, n: usize, f: usize) -> (usize, usize, f32) {
    let f = ((i as f32 + 0.5) / f as f32 - 0.5).max(0.0);
    let p0 = (f.floor() as usize).min(n - 1);
    let p1 = (p0 + 1).min(n - 1);
    (p0, p1, f - f.floor())
}

/// The 8-connected groups of active tiles of `m`, each as a mask of its own.
fn components(m: &TileMask) -> Vec<TileMask> {
    let mut seen = vec![false; m.on.len()];
    let mut out = Vec::new();
    for start in 0..m.on.len() {
        if !m.on[start] || seen[start] {
            continue;
        }
        let mut comp = TileMask { tile: m.tile, tw: m.tw, th: m.th, on: vec![false; m.on.len()] };
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(i) = stack.pop() {
            comp.on[i] = true;
            let (tx, ty) = ((i % m.tw) as isize, (i / m.tw) as isize);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (x, y) = (tx + dx, ty + dy);
                    if x >= 0 && y >= 0 && (x as usize) < m.tw && (y as usize) < m.th {
                        let j = y as usize * m.tw + x as usize;
                        if m.on[j] && !seen[j] {
                            seen[j] = true;
                            stack.push(j);
                        }
                    }
                }
            }
        }
        out.push(comp);
    }
    out
}

/// The pixel rectangle covered by the active tiles of `m`, if any.
fn tile_bounds(m: &TileMask, w: usize, h: usize) -> Option<Rect> {
    let mut r: Option<Rect> = None;
    for ty in 0..m.th {
        for tx in 0..m.tw {
            if m.on[ty * m.tw + tx] {
                let (x0, y0) = (tx * m.tile, ty * m.tile);
                let (x1, y1) = ((x0 + m.tile).min(w), (y0 + m.tile).min(h));
                let b = r.get_or_insert(Rect { x0, y0, x1, y1 });
                b.x0 = b.x0.min(x0);
                b.y0 = b.y0.min(y0);
                b.x1 = b.x1.max(x1);
                b.y1 = b.y1.max(y1);
            }
        }
    }
    r
}

/// Pull-push fill: the weighted average colour of the neighbourhood for every pixel, from
/// weights `wt` (1 = known, 0 = unknown) and colours `col` (`ci` channels), on a `w × h` grid.
/// Pull: halve the grid, summing premultiplied colour and weight, the weight clamped at 1;
/// push: from the coarsest level down, each pixel takes what its weight lacks from its parent.
pub fn pull_push(col: &[f32], wt: &[f32], w: usize, h: usize, ci: usize) -> Vec<f32> {
    struct Level {
        c: Vec<f32>,
        w: Vec<f32>,
        lw: usize,
        lh: usize,
    }
    let mut c0 = vec![0.0f32; w * h * ci];
    c0.par_chunks_mut(w * ci).zip(col.par_chunks(w * ci)).zip(wt.par_chunks(w)).for_each(|((o, i), a)| {
        for ((o, i), &a) in o.chunks_exact_mut(ci).zip(i.chunks_exact(ci)).zip(a) {
            o.iter_mut().zip(i).for_each(|(o, i)| *o = i * a);
        }
    });
    let mut levels = vec![Level { c: c0, w: wt.to_vec(), lw: w, lh: h }];
    loop {
        let prev = levels.last().unwrap();
        if prev.lw == 1 && prev.lh == 1 {
            break;
        }
        let (lw, lh) = (prev.lw, prev.lh);
        let (nw, nh) = (lw.div_ceil(2), lh.div_ceil(2));
        let mut nc = vec![0.0f32; nw * nh * ci];
        let mut nwt = vec![0.0f32; nw * nh];
        nc.par_chunks_mut(nw * ci).zip(nwt.par_chunks_mut(nw)).enumerate().for_each(|(oy, (crow, wrow))| {
            for y in (2 * oy)..(2 * oy + 2).min(lh) {
                for x in 0..lw {
                    let (i, o) = (y * lw + x, x / 2);
                    wrow[o] += prev.w[i];
                    for ch in 0..ci {
                        crow[o * ci + ch] += prev.c[i * ci + ch];
                    }
                }
            }
            for (o, a) in wrow.iter_mut().enumerate() {
                if *a > 1.0 {
                    let s = 1.0 / *a;
                    crow[o * ci..o * ci + ci].iter_mut().for_each(|v| *v *= s);
                    *a = 1.0;
                }
            }
        });
        levels.push(Level { c: nc, w: nwt, lw: nw, lh: nh });
    }
    for li in (0..levels.len() - 1).rev() {
        let (lower, upper) = levels.split_at_mut(li + 1);
        let (cur, up) = (&mut lower[li], &upper[0]);
        let lw = cur.lw;
        cur.c.par_chunks_mut(lw * ci).zip(cur.w.par_chunks_mut(lw)).enumerate().for_each(|(y, (crow, wrow))| {
            // Parents by bilinear interpolation (pixel centres: x ↦ (x + ½)/2 − ½), so that the
            // fill is smooth rather than blocks of the coarse levels.
            let (y0, y1, ty) = parent_span(y, up.lh, 2);
            let mut pc = vec![0.0f32; ci];
            for x in 0..lw {
                let a = wrow[x].min(1.0);
                let missing = 1.0 - a;
                if missing <= 0.0 {
                    continue;
                }
                let (x0, x1, tx) = parent_span(x, up.lw, 2);
                let taps = [
                    (y0 * up.lw + x0, (1.0 - tx) * (1.0 - ty)),
                    (y0 * up.lw + x1, tx * (1.0 - ty)),
                    (y1 * up.lw + x0, (1.0 - tx) * ty),
                    (y1 * up.lw + x1, tx * ty),
                ];
                let pw: f32 = taps.iter().map(|&(u, k)| k * up.w[u]).sum();
                if pw <= 0.0 {
                    continue;
                }
                pc.iter_mut().for_each(|v| *v = 0.0);
                for &(u, k) in &taps {
                    for (ch, v) in pc.iter_mut().enumerate() {
                        *v += k * up.c[u * ci + ch];
                    }
                }
                // Premultiplied arithmetic: add `missing·pw` of weight with the parents' colour.
                for ch in 0..ci {
                    crow[x * ci + ch] += pc[ch] * missing;
                }
                wrow[x] = a + missing * pw;
            }
        });
    }
    let Level { c: mut out, w: weights, .. } = levels.swap_remove(0);
    out.par_chunks_mut(ci).zip(weights.par_iter()).for_each(|(c, &a)| {
        if a > 0.0 {
            c.iter_mut().for_each(|v| *v /= a);
        }
    });
    out
}

/// Tile side for skipping work: slices are computed only in tiles where the result is used.
const TILE: usize = 16;

/// Pixels (times channels) of blurred regions held at once before they are composited: regions
/// are blurred in parallel in batches of about this size.
const BATCH_FLOATS: usize = 1 << 23;

/// What every stage of one layered render reads.
struct Frame<'a> {
    /// Premultiplied colour plus coverage, `ci` channels per pixel, row-major `w × h`.
    img: &'a [f32],
    ci: usize,
    w: usize,
    /// Per pixel: between which ladder centres it lies (j, t).
    located: &'a [(u32, f32)],
}

/// One region of one slice: the output tiles (frame tile grid), their pixel rectangle, and the
/// input rectangle its blur reads (its origin on the tile grid).
struct SliceJob {
    k: usize,
    comp: TileMask,
    out_r: Rect,
    in_r: Rect,
}

/// The regions of one slice and what blurs them.
struct Slice {
    plan: Plan,
    reach: usize,
    pass_through: bool,
}

/// Each pixel of `relevant`'s tiles located on the ladder (others left at (0, 0)), and per
/// slice the tiles holding pixels of its own (found per row of tiles, in parallel).
fn locate_pixels(
    ladder: &Ladder,
    signed: &[f32],
    relevant: &TileMask,
    w: usize,
    h: usize,
    pools: &Pools,
) -> (Vec<(u32, f32)>, Vec<TileMask>) {
    let n = ladder.centres().len();
    let tw = relevant.tw;
    let mut located = pools.located.take(w * h, (0, 0.0));
    let per_row: Vec<Vec<(usize, usize)>> = located
        .par_chunks_mut(w * TILE)
        .enumerate()
        .map(|(ty, rows)| {
            let mut own = Vec::new();
            for (dy, row) in rows.chunks_mut(w).enumerate() {
                let y = ty * TILE + dy;
                for (a, b) in relevant.spans(y, w) {
                    for (x, l) in row[a..b].iter_mut().enumerate().map(|(i, l)| (a + i, l)) {
                        let (j, t) = ladder.locate(signed[y * w + x]);
                        *l = (j as u32, t);
                        if t < 1.0 {
                            own.push((j, x / TILE));
                        }
                        if t > 0.0 && j + 1 < n {
                            own.push((j + 1, x / TILE));
                        }
                    }
                }
            }
            own.sort_unstable();
            own.dedup();
            own
        })
        .collect();
    let mut owns: Vec<TileMask> = vec![TileMask::new(TILE, w, h); n];
    for (ty, own) in per_row.into_iter().enumerate() {
        for (k, tx) in own {
            owns[k].on[ty * tw + tx] = true;
        }
    }
    (located, owns)
}

/// The regions slice k must produce: the tiles of `band` within `reach` of its own tiles, per
/// connected group, each with the input rectangle its blur reads.
fn slice_jobs(k: usize, own: &TileMask, band: &TileMask, reach: usize, w: usize, h: usize) -> Vec<SliceJob> {
    let near_own = own.dilated(reach);
    let mut active = band.clone();
    active.on.iter_mut().zip(&near_own.on).for_each(|(a, &n)| *a = *a && n);
    components(&active)
        .into_iter()
        .filter_map(|comp| {
            let out_r = tile_bounds(&comp, w, h)?;
            let grown = out_r.grow(reach, w, h);
            let in_r = Rect { x0: grown.x0 / TILE * TILE, y0: grown.y0 / TILE * TILE, ..grown };
            Some(SliceJob { k, comp, out_r, in_r })
        })
        .collect()
}

/// Coarse cells (`fb × fb` pixels) of a region for its fill: per cell, slice k's own pixels by
/// matte (Σ m·colour, coverage channel included) averaged over what is at slice k or farther
/// (Σ(1 − n), n the nearer mass), and that mass per pixel of the cell; and whether the region
/// holds any nearer mass to fill at all. Only the pixels of `need` are read.
fn fill_cells(f: &Frame, job: &SliceJob, need: &TileMask, fb: usize) -> (Vec<f32>, Vec<f32>, bool) {
    let (ci, r) = (f.ci, job.in_r);
    let (rw, rh) = (r.width(), r.height());
    let (lw, lh) = (rw.div_ceil(fb), rh.div_ceil(fb));
    let (mut col, mut far) = (vec![0.0f32; lw * lh * ci], vec![0.0f32; lw * lh]);
    let hidden = col
        .par_chunks_mut(lw * ci)
        .zip(far.par_chunks_mut(lw))
        .enumerate()
        .map(|(ly, (col, far))| {
            let mut hidden = false;
            let ys = ly * fb..((ly + 1) * fb).min(rh);
            for y in ys.clone() {
                let base = (y + r.y0) * f.w + r.x0;
                for (a, b) in need.spans(y, rw) {
                    for x in a..b {
                        let (j, t) = f.located[base + x];
                        let (m, n) = masses(j as usize, t, job.k);
                        hidden |= n > 0.0;
                        let cell = x / fb;
                        if m != 0.0 {
                            let px = &f.img[(base + x) * ci..(base + x + 1) * ci];
                            col[cell * ci..(cell + 1) * ci].iter_mut().zip(px).for_each(|(o, &v)| *o += m * v);
                        }
                        far[cell] += 1.0 - n;
                    }
                }
            }
            for cell in 0..lw {
                let count = (ys.len() * ((cell + 1) * fb).min(rw).saturating_sub(cell * fb)) as f32;
                if far[cell] > 0.0 {
                    col[cell * ci..(cell + 1) * ci].iter_mut().for_each(|v| *v /= far[cell]);
                }
                far[cell] /= count;
            }
            hidden
        })
        .reduce(|| false, |a, b| a || b);
    (col, far, hidden)
}

/// Resolution factor of the fills: they are seen only through a blur, so they are computed on
/// a grid this many times coarser and interpolated bilinearly.
const FILL_FACTOR: usize = 4;

/// The source of one region of slice k (`ci` channels, the input rectangle's size, zero outside
/// the tiles its blur reads): own pixels by matte m, and the nearer mass n filled with slice k's
/// own pixels averaged over what lies behind it locally (premultiplied: their colour with
/// coverage = slice k's share of the neighbourhood behind the hole). Summed
/// front to back over the slices, the shares of the surfaces behind a nearer object fill its
/// hole once, each in proportion to how much of the neighbourhood it covers — a slice with a
/// few pixels near a post does not close the hole for everything behind it.
fn slice_source(f: &Frame, job: &SliceJob, need: &TileMask) -> Vec<f32> {
    let (ci, r) = (f.ci, job.in_r);
    let (rw, rh) = (r.width(), r.height());
    let fb = if rw >= 2 * FILL_FACTOR && rh >= 2 * FILL_FACTOR { FILL_FACTOR } else { 1 };
    let (lw, lh) = (rw.div_ceil(fb), rh.div_ceil(fb));
    let (col, far, hidden) = fill_cells(f, job, need, fb);
    let fill = if hidden { pull_push(&col, &far, lw, lh, ci) } else { Vec::new() };
    let col_spans: Vec<(usize, usize, f32)> = (0..rw).map(|x| parent_span(x, lw, fb)).collect();
    let mut source = crate::render::frame_buffer::<f32>(rw * rh * ci);
    source.par_chunks_mut(rw * ci).enumerate().for_each(|(y, row)| {
        let base = (y + r.y0) * f.w + r.x0;
        let (y0, y1, ty) = parent_span(y, lh, fb);
        for (a, b) in need.spans(y, rw) {
            for x in a..b {
                let (j, t) = f.located[base + x];
                let (m, n) = masses(j as usize, t, job.k);
                let px = &f.img[(base + x) * ci..(base + x + 1) * ci];
                let out = &mut row[x * ci..(x + 1) * ci];
                out.iter_mut().zip(px).for_each(|(o, &v)| *o = m * v);
                if n > 0.0 {
                    let (x0, x1, tx) = col_spans[x];
                    let taps = [
                        (y0 * lw + x0, (1.0 - tx) * (1.0 - ty)),
                        (y0 * lw + x1, tx * (1.0 - ty)),
                        (y1 * lw + x0, (1.0 - tx) * ty),
                        (y1 * lw + x1, tx * ty),
                    ];
                    for (ch, o) in out.iter_mut().enumerate() {
                        *o += n * taps.iter().map(|&(i, k)| k * fill[i * ci + ch]).sum::<f32>();
                    }
                }
            }
        }
    });
    source
}

/// One region of a slice, blurred at the slice's radius (the input rectangle's size; valid in
/// the region's output tiles).
fn blur_region(f: &Frame, job: &SliceJob, slice: &Slice, scratch: &Scratch) -> Vec<f32> {
    let (tx0, ty0) = (job.in_r.x0 / TILE, job.in_r.y0 / TILE);
    let (rw, rh) = (job.in_r.width(), job.in_r.height());
    let need = job.comp.dilated(slice.reach).crop(tx0, ty0, rw, rh);
    let source = slice_source(f, job, &need);
    if slice.pass_through {
        return source;
    }
    let mut blurred = crate::render::frame_buffer::<f32>(rw * rh * f.ci);
    let mask = job.comp.crop(tx0, ty0, rw, rh);
    let sv = ImageView::packed(&source, rw, rh, f.ci).expect("a region buffer is consistent");
    let mut bv = ImageViewMut::packed(&mut blurred, rw, rh, f.ci).expect("a region buffer is consistent");
    run_masked(&slice.plan, &sv, &mut bv, slice.plan.tables[0].radius as f32, Some(&mask), scratch);
    blurred
}

/// Composites a blurred region over what nearer slices left: `acc += T·C`, `T ·= 1 − coverage`,
/// in the region's output tiles.
fn composite(job: &SliceJob, blurred: &[f32], ci: usize, w: usize, acc: &mut [f32], trans: &mut [f32]) {
    let (out_r, in_r) = (job.out_r, job.in_r);
    let rw = in_r.width();
    let rows = out_r.y0..out_r.y1;
    let acc_rows = acc[rows.start * w * ci..rows.end * w * ci].par_chunks_mut(w * ci);
    let trans_rows = trans[rows.start * w..rows.end * w].par_chunks_mut(w);
    acc_rows.zip(trans_rows).enumerate().for_each(|(i, (arow, trow))| {
        let y = out_r.y0 + i;
        let line = &blurred[(y - in_r.y0) * rw * ci..(y - in_r.y0 + 1) * rw * ci];
        for (a, b) in job.comp.spans(y, w) {
            for x in a..b {
                let tr = trow[x];
                if tr <= 0.0 {
                    continue;
                }
                let px = &line[(x - in_r.x0) * ci..(x - in_r.x0 + 1) * ci];
                arow[x * ci..(x + 1) * ci].iter_mut().zip(px).for_each(|(o, &v)| *o += tr * v);
                trow[x] = tr * (1.0 - px[ci - 1].clamp(0.0, 1.0));
            }
        }
    });
}

/// The layered result where it is used, blended into `dst` (the gather result) by `weight`: the
/// added coverage channel dropped (colour normalised by it: the input was opaque).
fn finish(acc: &[f32], weight: &[f32], ci: usize, dst: &mut ImageViewMut) {
    let (w, c) = (dst.width, dst.channels);
    let has_alpha = ci == c;
    let mut rows = dst.rows_mut();
    rows.par_iter_mut().enumerate().for_each(|(y, out)| {
        let mut l = [0.0f32; 4];
        for (x, o) in out.chunks_exact_mut(c).enumerate() {
            let e = weight[y * w + x];
            if e <= 0.0 {
                continue;
            }
            let a = &acc[(y * w + x) * ci..(y * w + x + 1) * ci];
            if has_alpha {
                l[..c].copy_from_slice(a);
            } else {
                let cov = a[c];
                for ch in 0..c {
                    l[ch] = if cov > 1e-6 { a[ch] / cov } else { 0.0 };
                }
            }
            if e >= 1.0 {
                o.copy_from_slice(&l[..c]);
            } else {
                o.iter_mut().zip(&l).for_each(|(g, &l)| *g += e * (l - *g));
            }
        }
    });
}

/// The source as premultiplied colour plus coverage (the alpha channel when there is one),
/// non-finite samples as 0: borrowed when the source already has that layout.
fn working_image<'a>(src: &'a ImageView, finite: bool) -> (std::borrow::Cow<'a, [f32]>, usize) {
    let (w, c) = (src.width, src.channels);
    let has_alpha = c == 2 || c == 4;
    let ci = if has_alpha { c } else { c + 1 };
    if let Some(d) = src.packed_data().filter(|_| has_alpha && finite) {
        return (std::borrow::Cow::Borrowed(d), ci);
    }
    let mut img = crate::render::frame_buffer::<f32>(w * src.height * ci);
    img.par_chunks_mut(w * ci).enumerate().for_each(|(y, row)| {
        for (o, p) in row.chunks_exact_mut(ci).zip(src.row(y).chunks_exact(c)) {
            for (d, &v) in o.iter_mut().zip(p) {
                *d = if v.is_finite() { v } else { 0.0 };
            }
            if !has_alpha {
                o[c] = 1.0;
            }
        }
    });
    (std::borrow::Cow::Owned(img), ci)
}

/// Layered blur of `src` with per-pixel signed CoC `signed` (row-major), blended into `dst`
/// (which holds the gather result) by `weight` (see [`edge_weight`]): where the weight is 1 the
/// layered result replaces it, where it is 0 `dst` is left as it was; returns the number of
/// slices rendered. `finite`: the source holds no NaN or infinity (the gather pass counted them).
pub(crate) fn blur_layered(
    bundle: &Bundle,
    signed: &[f32],
    weight: &[f32],
    src: &ImageView,
    finite: bool,
    dst: &mut ImageViewMut,
    scratch: &Scratch,
) -> usize {
    let (w, h) = (src.width, src.height);
    let (img, ci) = working_image(src, finite);
    let (lo, hi) = signed
        .par_iter()
        .fold(|| (0.0f32, 0.0f32), |(a, b), &s| (a.min(s), b.max(s)))
        .reduce(|| (0.0, 0.0), |x, y| (x.0.min(y.0), x.1.max(y.1)));
    let ladder = Ladder::new(lo, hi);
    let band = TileMask::from_pixels(TILE, w, h, weight, |e| e > 0.0);
    // Only pixels within the largest blur reach (and a tile) of the band are ever read.
    let relevant = band.dilated(reach_px(bundle, lo.abs().max(hi)) + TILE);
    let (located, owns) = locate_pixels(&ladder, signed, &relevant, w, h, &scratch.1);
    let slices: Vec<Option<Slice>> = owns
        .par_iter()
        .zip(ladder.centres())
        .map(|(own, &c)| {
            own.any().then(|| {
                let plan = Plan::uniform(bundle, c.abs() as f64);
                let reach = plan.reaches.iter().map(|&r| r.max(0) as usize).sum();
                Slice { plan, reach, pass_through: c.abs() <= 0.5 }
            })
        })
        .collect();
    let jobs: Vec<SliceJob> = (0..slices.len())
        .into_par_iter()
        .flat_map_iter(|k| match &slices[k] {
            Some(s) => slice_jobs(k, &owns[k], &band, s.reach, w, h),
            None => Vec::new(),
        })
        .collect();
    let frame = Frame { img: &img, ci, w, located: &located };
    let mut acc = scratch.1.floats.take(w * h * ci, 0.0);
    let mut trans = scratch.1.floats.take(w * h, 1.0);
    let mut batch = Vec::new();
    let mut floats = 0;
    for (i, job) in jobs.iter().enumerate() {
        batch.push(job);
        floats += job.in_r.width() * job.in_r.height() * ci;
        if floats >= BATCH_FLOATS || i + 1 == jobs.len() {
            let blurred: Vec<Vec<f32>> = batch
                .par_iter()
                .map(|j| blur_region(&frame, j, slices[j.k].as_ref().expect("a job's slice"), scratch))
                .collect();
            for (j, b) in batch.drain(..).zip(&blurred) {
                composite(j, b, ci, w, &mut acc, &mut trans);
            }
            floats = 0;
        }
    }
    finish(&acc, weight, ci, dst);
    scratch.1.floats.give(acc);
    scratch.1.floats.give(trans);
    scratch.1.located.give(located);
    slices.iter().filter(|s| s.is_some()).count()
}

/// How far (whole px) the complex at `radius` can move a pixel's light: the sum of its layers'
/// reaches.
fn reach_px(bundle: &Bundle, radius: f32) -> usize {
    crate::render::plan::TapTable::new(bundle, radius as f64).complex.reach().max(0) as usize
}

/// A CoC difference between neighbours counts as a depth edge above this many px...
pub const JUMP_PX: f32 = 0.5;
/// ...and above this fraction of the larger radius (a light 2 px smaller than the sky behind it
/// still needs its own slice; a steep but continuous ramp does not).
pub const JUMP_RATIO: f32 = 0.05;

/// Whether neighbouring signed CoCs `a` and `b` differ by a depth edge.
pub(crate) fn is_jump(a: f32, b: f32) -> bool {
    let d = (a - b).abs();
    d > JUMP_PX && d > JUMP_RATIO * a.abs().max(b.abs())
}

/// How much of the layered result to use per pixel: 1 near a depth edge (a jump in signed CoC
/// between neighbouring pixels larger than [`JUMP_PX`] and [`JUMP_RATIO`] of the radius), within
/// the band B = `band_for(r)` px of the larger radius r of the jump (its blur's spread: a jump
/// between small radii needs a narrow band), fading linearly to 0 over a quarter of B beyond it,
/// and 0 farther out. Elsewhere the gather result stands: it is exact inside a surface, and a
/// continuous depth ramp stays free of slice banding. The whole spread is layered, so a light's
/// disc is its own out to its rim.
///
/// Distances are chamfer distances (steps 1 and √2, two raster sweeps, within 8 % of
/// euclidean): each pixel keeps the largest (B + fade) − distance over the jumps, with that
/// jump's fade.
pub fn edge_weight(signed: &[f32], w: usize, h: usize, band_for: &(dyn Fn(f32) -> usize + Sync)) -> Vec<f32> {
    edge_weight_with(signed, w, h, band_for, &Pools::default())
}

/// [`edge_weight`] with its working arrays (and the result) from `pools`.
pub(crate) fn edge_weight_with(
    signed: &[f32],
    w: usize,
    h: usize,
    band_for: &(dyn Fn(f32) -> usize + Sync),
    pools: &Pools,
) -> Vec<f32> {
    let jump = is_jump;
    // (band left, fade of its jump) per pixel; the band left is −∞ far from every jump.
    let mut s = pools.pairs.take(w * h, (f32::NEG_INFINITY, 0.0));
    // Jump pixels, and per row of tiles the tiles holding one (with their widest band).
    let tw = w.div_ceil(TILE);
    let jump_tiles: Vec<Vec<f32>> = s
        .par_chunks_mut(w * TILE)
        .enumerate()
        .map(|(ty, rows)| {
            let mut tiles = vec![0.0f32; tw];
            for (dy, row) in rows.chunks_mut(w).enumerate() {
                let y = ty * TILE + dy;
                let line = &signed[y * w..(y + 1) * w];
                let above = (y > 0).then(|| &signed[(y - 1) * w..y * w]);
                let below = (y + 1 < h).then(|| &signed[(y + 1) * w..(y + 2) * w]);
                // The largest |CoC| of a jump at each pixel of the row (−1: none).
                let mut edge = |x: usize, other: f32| {
                    let v = line[x];
                    if jump(v, other) {
                        let r = v.abs().max(other.abs());
                        let band = band_for(r).max(1) as f32;
                        let fade = (band / 4.0).max(1.0);
                        if band + fade > row[x].0 {
                            row[x] = (band + fade, fade);
                        }
                        tiles[x / TILE] = tiles[x / TILE].max(band + fade);
                    }
                };
                for x in 0..w {
                    if x + 1 < w {
                        edge(x, line[x + 1]);
                    }
                    if x > 0 {
                        edge(x, line[x - 1]);
                    }
                    if let Some(a) = above {
                        edge(x, a[x]);
                    }
                    if let Some(b) = below {
                        edge(x, b[x]);
                    }
                }
            }
            tiles
        })
        .collect();
    // The sweeps visit only the tiles within the widest band of a jump tile.
    let mut active = TileMask::new(TILE, w, h);
    let widest = jump_tiles.iter().flatten().fold(0.0f32, |m, &b| m.max(b));
    let any = widest > 0.0;
    for (ty, row) in jump_tiles.iter().enumerate() {
        for (tx, &b) in row.iter().enumerate() {
            active.on[ty * tw + tx] = b > 0.0;
        }
    }
    let active = active.dilated(widest.ceil() as usize);
    let mut weight = pools.floats.take(w * h, 0.0);
    if !any {
        pools.pairs.give(s);
        return weight;
    }
    // Each connected group of active tiles is independent of the others (their tiles do not
    // touch): the groups are swept in parallel, each on a copy of its bounding box, and only
    // their own tiles are written back.
    let swept: Vec<Swept> = components(&active)
        .into_par_iter()
        .filter_map(|comp| {
            let r = tile_bounds(&comp, w, h)?;
            let (bw, bh) = (r.width(), r.height());
            let mut local: Vec<(f32, f32)> = Vec::with_capacity(bw * bh);
            for y in r.y0..r.y1 {
                local.extend_from_slice(&s[y * w + r.x0..y * w + r.x1]);
            }
            let spans: Vec<Vec<(usize, usize)>> = (r.y0..r.y1)
                .map(|y| comp.spans(y, w).into_iter().map(|(a, b)| (a - r.x0, b - r.x0)).collect())
                .collect();
            chamfer(&mut local, bw, bh, &spans);
            Some((r, comp, local))
        })
        .collect();
    for (r, comp, local) in swept {
        for y in r.y0..r.y1 {
            for (a, b) in comp.spans(y, w) {
                let from = (y - r.y0) * r.width();
                s[y * w + a..y * w + b].copy_from_slice(&local[from + a - r.x0..from + b - r.x0]);
            }
        }
    }
    weight.par_iter_mut().zip(s.par_iter()).for_each(|(o, &(left, fade))| {
        if left > 0.0 {
            *o = (left / fade).clamp(0.0, 1.0);
        }
    });
    pools.pairs.give(s);
    weight
}

/// One group of tiles after its chamfer sweeps: its box, its tiles, the box's (band left, fade).
type Swept = (Rect, TileMask, Vec<(f32, f32)>);

/// Chamfer sweeps (steps 1 and √2) over the columns `spans[y]` of each row of a `w × h` grid of
/// (band left, fade) pairs: every visited pixel ends with the largest band left over its
/// neighbours' minus the step, with that neighbour's band. Forward: left, up-left, up, up-right;
/// backward: the mirror.
fn chamfer(s: &mut [(f32, f32)], w: usize, h: usize, spans: &[Vec<(usize, usize)>]) {
    let d = std::f32::consts::SQRT_2;
    let relax = |s: &mut [(f32, f32)], i: usize, n: usize, cost: f32| {
        let cand = s[n].0 - cost;
        if cand > s[i].0 {
            s[i] = (cand, s[n].1);
        }
    };
    for (y, row) in spans.iter().enumerate() {
        for x in row.iter().flat_map(|&(a, b)| a..b) {
            let i = y * w + x;
            if x > 0 {
                relax(s, i, i - 1, 1.0);
            }
            if y > 0 {
                relax(s, i, i - w, 1.0);
                if x > 0 {
                    relax(s, i, i - w - 1, d);
                }
                if x + 1 < w {
                    relax(s, i, i - w + 1, d);
                }
            }
        }
    }
    for (y, row) in spans.iter().enumerate().rev() {
        for x in row.iter().rev().flat_map(|&(a, b)| (a..b).rev()) {
            let i = y * w + x;
            if x + 1 < w {
                relax(s, i, i + 1, 1.0);
            }
            if y + 1 < h {
                relax(s, i, i + w, 1.0);
                if x + 1 < w {
                    relax(s, i, i + w + 1, d);
                }
                if x > 0 {
                    relax(s, i, i + w - 1, d);
                }
            }
        }
    }
}

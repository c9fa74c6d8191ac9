//! Layered (occlusion-aware, scatter-true) lens blur.
//!
//! What a lens does: every source point spreads its light with the PSF of its *own* circle of
//! confusion, and nearer points occlude farther ones. Gather (each output pixel filtering with
//! its own radius) is right inside a surface but not where the radius jumps: a small light before
//! a far sky would spread with the sky's radius. Near depth edges the frame is therefore split
//! into layers, blurred separately and composited front to back:
//!
//! * **Surfaces** lie on a coarse ladder of signed CoC (1, 4, 16 … px each side of focus, the
//!   last one the largest |CoC| there), each slice blurred with per-pixel radii (its own pixels'
//!   CoC, carried past its silhouette by pull-push), so a depth ramp is blurred as gather would
//!   and a far wall at one depth is one slice.
//! * **Small features** ([`super::sprites`]: lights, glints, anything bordered by depth edges and
//!   at most a few hundred pixels) lie on a fine ladder, slices 1 px of radius apart, each blurred
//!   at exactly its radius: a light keeps its own disc whatever surrounds it.
//!
//! A pixel between two centres of its ladder is shared by both with tent weights summing to 1
//! (energy kept, no banding). The two ladders merge into one front-to-back order. The stages:
//!
//! 1. [`Layers::new`]: the merged ladder; [`locate_pixels`]: each pixel's two layers and weight,
//!    and per layer the tiles holding its pixels.
//! 2. [`slice_jobs`]: per layer, the connected groups of tiles it must produce (in the band,
//!    within its reach of its own pixels), each a region with its input rectangle.
//! 3. [`slice_source`]: a region's premultiplied colour plus coverage — its own pixels by matte,
//!    and (surface layers) the pixels of nearer layers filled ([`pull_push`]; Gortler et al.
//!    1996, Kraus & Strengert 2007) with this layer's own colour in proportion to its share of
//!    what lies behind them, so a nearer object's blurred rim shows the background; its radii.
//! 4. [`blur_region`]: the engine's passes over the region's tiles.
//! 5. [`composite`]: front to back, `acc += T·C`, `T ·= 1 − coverage`; [`finish`] blends the
//!    result into the gather result by the edge weight.
//!
//! The engine uses this only near depth edges ([`edge_weight_with`]: within the PSF's measured spread
//! of a jump in CoC, fading out beyond it) and gather elsewhere, which is exact inside a surface.

use super::engine::{run_masked, Pools, Scratch, TileMask};
use super::plan::Plan;
use crate::bundle::Bundle;
use crate::image::{ImageView, ImageViewMut};
use rayon::prelude::*;

/// Ratio between successive surface slice radii (1, 4, 16 … px on each side of focus).
pub const SLICE_RATIO: f32 = 4.0;

/// Small-feature slices are this many px apart up to [`FINE_LINEAR_PX`]: a light's half-peak
/// radius is then within half a px of its own...
pub const FINE_STEP_PX: f32 = 0.5;
/// ...and a fraction 1 / FINE_LINEAR_PX of the radius apart beyond it (about 150 slices each
/// side of focus up to 1024 px).
pub const FINE_LINEAR_PX: f32 = 64.0;

/// Step (px) the per-pixel radii of a surface slice are rounded to (fewer tap tables, longer
/// runs of one table).
pub const SLICE_RADIUS_STEP: f32 = 0.25;

/// Signed CoC centres (near to far, 0 among them) of one ladder.
#[derive(Clone, Debug, PartialEq)]
pub struct Ladder {
    centres: Vec<f32>,
}

impl Ladder {
    /// The surface ladder for values in `[lo, hi]`: 0, then 1, 4, 16 … px each side, the last
    /// centre on each side exactly the largest |CoC| there.
    pub fn coarse(lo: f32, hi: f32) -> Ladder {
        Ladder::from_sides(lo, hi, |m| {
            let mut v = Vec::new();
            let mut c = 1.0f32;
            while c < m {
                v.push(c);
                c *= SLICE_RATIO;
            }
            match v.last_mut() {
                Some(last) if m < *last * SLICE_RATIO.sqrt() => *last = m.max(1.0),
                _ => v.push(m.max(1.0)),
            }
            v
        })
    }

    /// The small-feature ladder for values in `[lo, hi]`: steps of [`FINE_STEP_PX`], then of
    /// 1 / [`FINE_LINEAR_PX`] of the radius, ending exactly at the largest |CoC| each side.
    pub fn fine(lo: f32, hi: f32) -> Ladder {
        Ladder::from_sides(lo, hi, |m| {
            let mut v: Vec<f32> = Vec::new();
            let mut c = 0.0f32;
            loop {
                let step = (c / FINE_LINEAR_PX).max(FINE_STEP_PX);
                if c + step >= m {
                    // End exactly at m: move the last centre there when m is under half a step
                    // past it.
                    match v.last_mut() {
                        Some(last) if m - c < 0.5 * step => *last = m,
                        _ => v.push(m),
                    }
                    return v;
                }
                c += step;
                v.push(c);
            }
        })
    }

    /// Centre 0 and each side's centres from `side(m)` (increasing, for the side's largest |CoC|
    /// m > 0), the near side negated.
    fn from_sides(lo: f32, hi: f32, side: impl Fn(f32) -> Vec<f32>) -> Ladder {
        let side = |m: f32| if m > 0.0 { side(m) } else { Vec::new() };
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

/// A pixel's place in the composite: its two layers (positions in front-to-back order) and the
/// weight `t` of the second.
pub(crate) type Loc = (u32, u32, f32);

/// The layers of one render in front-to-back order: both ladders merged by centre (a small
/// feature before a surface at the same centre).
#[derive(Clone, Debug)]
struct Layers {
    surfaces: Ladder,
    features: Ladder,
    /// (centre, is a small feature) per layer, front to back.
    order: Vec<(f32, bool)>,
    /// Position in `order` of each surface centre, and of each small-feature centre.
    surface_pos: Vec<u32>,
    feature_pos: Vec<u32>,
}

impl Layers {
    fn new(surfaces: Ladder, features: Ladder) -> Layers {
        let mut all: Vec<(f32, bool, usize)> =
            surfaces.centres().iter().enumerate().map(|(i, &c)| (c, false, i)).collect();
        all.extend(features.centres().iter().enumerate().map(|(i, &c)| (c, true, i)));
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
        let (mut surface_pos, mut feature_pos) = (vec![0; surfaces.centres().len()], vec![0; features.centres().len()]);
        for (p, &(_, feature, i)) in all.iter().enumerate() {
            if feature {
                feature_pos[i] = p as u32;
            } else {
                surface_pos[i] = p as u32;
            }
        }
        let order = all.iter().map(|&(c, f, _)| (c, f)).collect();
        Layers { surfaces, features, order, surface_pos, feature_pos }
    }

    /// Where a pixel of signed CoC `s` lies (on the small-feature ladder if `feature`).
    fn locate(&self, s: f32, feature: bool) -> Loc {
        let (ladder, pos) =
            if feature { (&self.features, &self.feature_pos) } else { (&self.surfaces, &self.surface_pos) };
        let (j, t) = ladder.locate(s);
        (pos[j], pos[(j + 1).min(pos.len() - 1)], t)
    }
}

/// Own matte m and nearer mass n of a pixel at `loc` for the layer at position `p`.
fn masses(loc: Loc, p: u32) -> (f32, f32) {
    let (a, b, t) = loc;
    let part = |at: u32, share: f32| (if at == p { share } else { 0.0 }, if at < p { share } else { 0.0 });
    let ((ma, na), (mb, nb)) = (part(a, 1.0 - t), part(b, t));
    (ma + mb, na + nb)
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

/// One level of a pull-push pyramid: premultiplied colour (`ci` channels) and weight.
struct Level {
    c: Vec<f32>,
    w: Vec<f32>,
    lw: usize,
    lh: usize,
}

/// Pull-push fill: the weighted average colour of the neighbourhood for every pixel, from
/// weights `wt` (1 = known, 0 = unknown) and colours `col` (`ci` channels), on a `w × h` grid.
/// Pull: halve the grid, summing premultiplied colour and weight, the weight clamped at 1;
/// push: from the coarsest level down, each pixel takes what its weight lacks from its parent.
pub fn pull_push(col: &[f32], wt: &[f32], w: usize, h: usize, ci: usize) -> Vec<f32> {
    let mut c0 = vec![0.0f32; w * h * ci];
    c0.par_chunks_mut(w * ci).zip(col.par_chunks(w * ci)).zip(wt.par_chunks(w)).for_each(|((o, i), a)| {
        for ((o, i), &a) in o.chunks_exact_mut(ci).zip(i.chunks_exact(ci)).zip(a) {
            o.iter_mut().zip(i).for_each(|(o, i)| *o = i * a);
        }
    });
    let mut levels = vec![Level { c: c0, w: wt.to_vec(), lw: w, lh: h }];
    while levels.last().is_some_and(|l| l.lw > 1 || l.lh > 1) {
        let next = pull(levels.last().expect("a level"), ci);
        levels.push(next);
    }
    for li in (0..levels.len() - 1).rev() {
        let (lower, upper) = levels.split_at_mut(li + 1);
        push(&mut lower[li], &upper[0], ci);
    }
    let Level { c: mut out, w: weights, .. } = levels.swap_remove(0);
    out.par_chunks_mut(ci).zip(weights.par_iter()).for_each(|(c, &a)| {
        if a > 0.0 {
            c.iter_mut().for_each(|v| *v /= a);
        }
    });
    out
}

/// The next coarser level: 2×2 sums, weights clamped at 1 (colour scaled with them).
fn pull(prev: &Level, ci: usize) -> Level {
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
    Level { c: nc, w: nwt, lw: nw, lh: nh }
}

/// Fills what `cur`'s weights lack from the coarser level `up`, interpolated bilinearly
/// (pixel centres: x ↦ (x + ½)/2 − ½), so that the fill is smooth rather than blocks.
fn push(cur: &mut Level, up: &Level, ci: usize) {
    let lw = cur.lw;
    cur.c.par_chunks_mut(lw * ci).zip(cur.w.par_chunks_mut(lw)).enumerate().for_each(|(y, (crow, wrow))| {
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

/// Tile side for skipping work: layers are computed only in tiles where the result is used.
const TILE: usize = 16;

/// Floats of regions held at once before they are composited: regions are blurred in parallel
/// in batches of about this size.
const BATCH_FLOATS: usize = 1 << 23;

/// What every stage of one layered render reads.
struct Frame<'a> {
    bundle: &'a Bundle,
    /// Premultiplied colour plus coverage, `ci` channels per pixel, row-major `w × h`.
    img: &'a [f32],
    ci: usize,
    w: usize,
    signed: &'a [f32],
    located: &'a [Loc],
}

/// One layer of the composite and how it is blurred.
struct Layer {
    /// Its centre (signed CoC, px).
    centre: f32,
    /// A small-feature slice: one radius, no fill.
    feature: bool,
    /// The blur of a small-feature slice (one radius); surface slices plan per region.
    plan: Option<Plan>,
    /// How far its blur reads (px).
    reach: usize,
}

/// One region of one layer: the output tiles (frame tile grid), their pixel rectangle, and the
/// input rectangle its blur reads (its origin on the tile grid).
struct SliceJob {
    p: u32,
    comp: TileMask,
    out_r: Rect,
    in_r: Rect,
}

/// Each pixel of `relevant`'s tiles located in the layers (others left in front with no
/// weight), and per layer the tiles holding pixels of its own (per row of tiles, in parallel).
fn locate_pixels(
    layers: &Layers,
    signed: &[f32],
    feature: &[bool],
    relevant: &TileMask,
    (w, h): (usize, usize),
    pools: &Pools,
) -> (Vec<Loc>, Vec<TileMask>) {
    let mut located = pools.located.take(w * h, (0, 0, 0.0));
    let (n, tw) = (layers.order.len(), w.div_ceil(TILE));
    // Per row of tiles: whether each layer owns a pixel in each tile (layer-major).
    let per_row: Vec<Vec<bool>> = located
        .par_chunks_mut(w * TILE)
        .enumerate()
        .map(|(ty, rows)| {
            let mut own = vec![false; n * tw];
            for (dy, row) in rows.chunks_mut(w).enumerate() {
                let y = ty * TILE + dy;
                for (a, b) in relevant.spans(y, w) {
                    for (x, slot) in row.iter_mut().enumerate().take(b).skip(a) {
                        let i = y * w + x;
                        let loc = layers.locate(signed[i], feature[i]);
                        *slot = loc;
                        if loc.2 < 1.0 {
                            own[loc.0 as usize * tw + x / TILE] = true;
                        }
                        if loc.2 > 0.0 {
                            own[loc.1 as usize * tw + x / TILE] = true;
                        }
                    }
                }
            }
            own
        })
        .collect();
    let mut owns: Vec<TileMask> = vec![TileMask::new(TILE, w, h); n];
    for (ty, own) in per_row.into_iter().enumerate() {
        for (p, m) in owns.iter_mut().enumerate() {
            m.on[ty * tw..(ty + 1) * tw].copy_from_slice(&own[p * tw..(p + 1) * tw]);
        }
    }
    (located, owns)
}

/// The regions layer `p` must produce: the tiles of `band` within `reach` of its own tiles, per
/// connected group, each with the input rectangle its blur reads.
fn slice_jobs(p: u32, own: &TileMask, band: &TileMask, reach: usize, w: usize, h: usize) -> Vec<SliceJob> {
    let near_own = own.dilated(reach);
    let mut active = band.clone();
    active.on.iter_mut().zip(&near_own.on).for_each(|(a, &n)| *a = *a && n);
    components(&active)
        .into_iter()
        .filter_map(|comp| {
            let out_r = tile_bounds(&comp, w, h)?;
            let grown = out_r.grow(reach, w, h);
            let in_r = Rect { x0: grown.x0 / TILE * TILE, y0: grown.y0 / TILE * TILE, ..grown };
            Some(SliceJob { p, comp, out_r, in_r })
        })
        .collect()
}

/// One pass over a region's pixels (those of `need`'s tiles), summed per block of `d × d`
/// pixels: own pixels by matte m (Σ m·colour, coverage included, `ci` channels), the nearer mass
/// Σ n, Σ m·|CoC|, Σ m, and what is at this layer or farther, Σ (1 − n). Blocks outside `need`
/// hold zeros.
struct BlockSums {
    col: Vec<f32>,
    near: Vec<f32>,
    rad: Vec<f32>,
    own: Vec<f32>,
    far: Vec<f32>,
}

fn block_sums(f: &Frame, job: &SliceJob, need: &TileMask, d: usize) -> BlockSums {
    let (ci, r) = (f.ci, job.in_r);
    let (rw, rh) = (r.width(), r.height());
    let (bw, bh) = (rw.div_ceil(d), rh.div_ceil(d));
    let mut b = BlockSums {
        col: crate::render::frame_buffer::<f32>(bw * bh * ci),
        near: vec![0.0; bw * bh],
        rad: vec![0.0; bw * bh],
        own: vec![0.0; bw * bh],
        far: vec![0.0; bw * bh],
    };
    let rows = b.col.par_chunks_mut(bw * ci).zip(b.near.par_chunks_mut(bw));
    let rows = rows.zip(b.rad.par_chunks_mut(bw).zip(b.own.par_chunks_mut(bw).zip(b.far.par_chunks_mut(bw))));
    rows.enumerate().for_each(|(by, ((col, near), (rad, (own, far))))| {
        // `d` divides the tile side: a block lies in one tile row and column, so the block
        // row's first pixel row tells its spans.
        let spans = need.spans(by * d, rw);
        for y in by * d..(by * d + d).min(rh) {
            let base = (y + r.y0) * f.w + r.x0;
            for &(a, e) in &spans {
                for x in a..e {
                    let (m, n) = masses(f.located[base + x], job.p);
                    let bx = x / d;
                    if m != 0.0 {
                        let px = &f.img[(base + x) * ci..(base + x + 1) * ci];
                        col[bx * ci..(bx + 1) * ci].iter_mut().zip(px).for_each(|(o, &v)| *o += m * v);
                        rad[bx] += m * f.signed[base + x].abs();
                        own[bx] += m;
                    }
                    near[bx] += n;
                    far[bx] += 1.0 - n;
                }
            }
        }
    });
    b
}

/// Coarse cells of `k × k` blocks of a region, for its fills: per cell, the layer's own pixels
/// by matte (Σ m·colour) over what is at this layer or farther (Σ(1 − n)) and that mass per pixel
/// of the cell; the own pixels' mean |CoC| and their matte per pixel; and whether the region
/// holds nearer mass at all.
fn fill_cells(b: &BlockSums, k: usize, (rw, rh, d, ci): (usize, usize, usize, usize)) -> FillCells {
    let (bw, bh) = (rw.div_ceil(d), rh.div_ceil(d));
    let (lw, lh) = (bw.div_ceil(k), bh.div_ceil(k));
    let mut cells = FillCells {
        col: vec![0.0; lw * lh * ci],
        far: vec![0.0; lw * lh],
        rad: vec![0.0; lw * lh],
        own: vec![0.0; lw * lh],
        hidden: b.near.par_iter().any(|&n| n > 0.0),
    };
    let rows = cells.col.par_chunks_mut(lw * ci).zip(cells.far.par_chunks_mut(lw));
    let rows = rows.zip(cells.rad.par_chunks_mut(lw).zip(cells.own.par_chunks_mut(lw)));
    rows.enumerate().for_each(|(ly, ((col, far), (rad, own)))| {
        for by in ly * k..(ly * k + k).min(bh) {
            for bx in 0..bw {
                let (cell, i) = (bx / k, by * bw + bx);
                col[cell * ci..(cell + 1) * ci]
                    .iter_mut()
                    .zip(&b.col[i * ci..(i + 1) * ci])
                    .for_each(|(o, &v)| *o += v);
                far[cell] += b.far[i];
                rad[cell] += b.rad[i];
                own[cell] += b.own[i];
            }
        }
        let fb = k * d;
        let ys = ly * fb..((ly + 1) * fb).min(rh);
        for cell in 0..lw {
            let count = (ys.len() * ((cell + 1) * fb).min(rw).saturating_sub(cell * fb)) as f32;
            if far[cell] > 0.0 {
                col[cell * ci..(cell + 1) * ci].iter_mut().for_each(|v| *v /= far[cell]);
            }
            if own[cell] > 0.0 {
                rad[cell] /= own[cell];
            }
            far[cell] /= count;
            own[cell] /= count;
        }
    });
    cells
}

/// See [`fill_cells`].
struct FillCells {
    col: Vec<f32>,
    far: Vec<f32>,
    rad: Vec<f32>,
    own: Vec<f32>,
    hidden: bool,
}

/// Resolution factor of the fills: they are seen only through a blur, so they are computed on
/// a grid this many blocks coarser and interpolated bilinearly.
const FILL_FACTOR: usize = 4;

/// A region's source on blocks of `d × d` pixels (`ci` channels, the input rectangle's size
/// over `d`, zero outside the tiles its blur reads) and, for a surface layer, the radius of the
/// blur at that resolution per block. Own pixels enter by matte m. A surface layer also fills
/// the nearer mass n with its own pixels averaged over what lies behind it there
/// (premultiplied: its colour, with coverage its share of that neighbourhood): summed front to
/// back, the surfaces behind a nearer object fill its hole once, each in proportion to how much
/// of the neighbourhood it covers. Its radius is the own pixels' |CoC| by matte and the nearby
/// own pixels' |CoC| for the rest, over `d`, rounded to [`SLICE_RADIUS_STEP`]. The fills are
/// smooth, so each block reads them once, at its centre.
fn slice_source(f: &Frame, job: &SliceJob, need: &TileMask, feature: bool, d: usize) -> (Vec<f32>, Vec<f32>) {
    let (ci, r) = (f.ci, job.in_r);
    let (rw, rh) = (r.width(), r.height());
    let (bw, bh) = (rw.div_ceil(d), rh.div_ceil(d));
    let k = if rw >= 2 * FILL_FACTOR * d && rh >= 2 * FILL_FACTOR * d { FILL_FACTOR } else { 1 };
    let (fb, lw, lh) = (k * d, bw.div_ceil(k), bh.div_ceil(k));
    let sums = block_sums(f, job, need, d);
    let (fill, fill_r) = if feature {
        (Vec::new(), Vec::new())
    } else {
        let c = fill_cells(&sums, k, (rw, rh, d, ci));
        let fill = if c.hidden { pull_push(&c.col, &c.far, lw, lh, ci) } else { Vec::new() };
        (fill, pull_push(&c.rad, &c.own, lw, lh, 1))
    };
    // The fill cells a block centre interpolates between, per block column.
    let centre = |i: usize, len: usize, n: usize| {
        let c = (i * d) as f32 + ((d.min(len - i * d)) as f32 - 1.0) / 2.0;
        let p = ((c + 0.5) / fb as f32 - 0.5).max(0.0);
        let p0 = (p.floor() as usize).min(n - 1);
        (p0, (p0 + 1).min(n - 1), p - p.floor())
    };
    let col_spans: Vec<(usize, usize, f32)> = (0..bw).map(|bx| centre(bx, rw, lw)).collect();
    let BlockSums { col: mut source, near, rad, own, .. } = sums;
    let mut radii = crate::render::frame_buffer::<f32>(bw * bh);
    source.par_chunks_mut(bw * ci).zip(radii.par_chunks_mut(bw)).enumerate().for_each(|(by, (row, rrow))| {
        let rows = (by * d + d).min(rh) - by * d;
        let (y0, y1, ty) = centre(by, rh, lh);
        for (a, b) in need.spans(by * d, rw) {
            for bx in a / d..b.div_ceil(d) {
                let (i, cnt) = (by * bw + bx, (rows * ((bx * d + d).min(rw) - bx * d)) as f32);
                let (x0, x1, tx) = col_spans[bx];
                let taps = [
                    (y0 * lw + x0, (1.0 - tx) * (1.0 - ty)),
                    (y0 * lw + x1, tx * (1.0 - ty)),
                    (y1 * lw + x0, (1.0 - tx) * ty),
                    (y1 * lw + x1, tx * ty),
                ];
                let at = |g: &[f32], n: usize, ch: usize| taps.iter().map(|&(i, k)| k * g[i * n + ch]).sum::<f32>();
                let out = &mut row[bx * ci..(bx + 1) * ci];
                // Own pixels by matte; the nearer mass and the radius of the rest from the fills.
                if near[i] > 0.0 && !fill.is_empty() {
                    out.iter_mut().enumerate().for_each(|(ch, o)| *o += near[i] * at(&fill, ci, ch));
                }
                let (mut rd, rest) = (rad[i], cnt - own[i]);
                if rest > 0.0 && !feature {
                    rd += rest * at(&fill_r, 1, 0);
                }
                out.iter_mut().for_each(|o| *o /= cnt);
                rrow[bx] = (rd / cnt / d as f32 / SLICE_RADIUS_STEP).round() * SLICE_RADIUS_STEP;
            }
        }
    });
    (source, radii)
}

/// Surface layers centred this many px or more from focus are blurred at half resolution (the
/// complex at half the radius on 2×2 averages, interpolated back): a blur that wide holds
/// nothing finer than two pixels, and it costs a quarter. Small features are always blurred at full
/// resolution, so a light's disc keeps its rim and its centroid follows the light exactly.
pub const HALF_RES_FROM: f32 = 4.0;

/// One region of a layer, blurred (the input rectangle's size; valid in its output tiles).
fn blur_region(f: &Frame, job: &SliceJob, layer: &Layer, scratch: &Scratch) -> Vec<f32> {
    let (tx0, ty0) = (job.in_r.x0 / TILE, job.in_r.y0 / TILE);
    let (rw, rh) = (job.in_r.width(), job.in_r.height());
    let need = job.comp.dilated(layer.reach).crop(tx0, ty0, rw, rh);
    let mask = job.comp.crop(tx0, ty0, rw, rh);
    let d = if !layer.feature && layer.centre.abs() >= HALF_RES_FROM { 2 } else { 1 };
    let (source, radii) = slice_source(f, job, &need, layer.feature, d);
    if layer.feature {
        if let Some(out) = stamped(f.bundle, layer.centre.abs(), &source, (rw, rh, f.ci), scratch) {
            return out;
        }
    }
    if let Some(plan) = &layer.plan {
        return blur_with(plan, source, (rw, rh, f.ci), &mask, scratch);
    }
    // Radii of half a px or less pass through: nothing to blur.
    if radii.par_iter().all(|&r| r <= 0.5) {
        return source;
    }
    let plan = Plan::per_pixel(f.bundle, &radii);
    if d == 1 {
        return blur_with(&plan, source, (rw, rh, f.ci), &mask, scratch);
    }
    // At half resolution the interpolation back reads one blurred pixel past the output tiles:
    // blur one tile more on every side.
    let (bw, bh) = (rw.div_ceil(d), rh.div_ceil(d));
    let half_mask = TileMask { tile: TILE / 2, ..mask.dilated(1) };
    let half = blur_with(&plan, source, (bw, bh, f.ci), &half_mask, scratch);
    let full = upsample(&half, (bw, bh), (rw, rh, f.ci), &mask, scratch.take(rw * rh * f.ci));
    scratch.give(half);
    full
}

/// `source` (`w × h × c`, a slice at one radius `r`) scattered with the aperture's own shape
/// (`render::stamp`), when the bundle has one at `r` and that costs no more than twice the
/// sparse blur of the whole buffer would; `None`: the complex does it.
fn stamped(
    bundle: &Bundle,
    r: f32,
    source: &[f32],
    (w, h, c): (usize, usize, usize),
    scratch: &Scratch,
) -> Option<Vec<f32>> {
    let stamp = scratch.1.stamps.get(bundle, r)?;
    let lit = source.par_chunks(c).filter(|px| px.iter().any(|&v| v != 0.0)).count();
    let taps = bundle.layers * bundle.taps * 4;
    if lit * stamp.cells() > 2 * w * h * taps {
        return None;
    }
    let mut out = scratch.take(w * h * c);
    out.fill(0.0);
    stamp.scatter(source, (w, h, c), &mut out);
    Some(out)
}

/// `source` (`w × h × c`) blurred by `plan` in the tiles of `mask`.
fn blur_with(
    plan: &Plan,
    source: Vec<f32>,
    (w, h, c): (usize, usize, usize),
    mask: &TileMask,
    scratch: &Scratch,
) -> Vec<f32> {
    // Only the tiles of `mask` are written, and only they are read.
    let mut blurred = scratch.take(w * h * c);
    let sv = ImageView::packed(&source, w, h, c).expect("a region buffer is consistent");
    let mut bv = ImageViewMut::packed(&mut blurred, w, h, c).expect("a region buffer is consistent");
    let max_r = plan.tables.iter().map(|t| t.radius as f32).fold(0.0, f32::max);
    run_masked(plan, &sv, &mut bv, max_r, Some(mask), scratch);
    blurred
}

/// A `hw × hh × c` buffer interpolated bilinearly to `w × h` (pixel centres aligned), in the
/// tiles of `mask` only, into `out` (the rest of it is left as it was: nothing reads it).
fn upsample(
    v: &[f32],
    (hw, hh): (usize, usize),
    (w, h, c): (usize, usize, usize),
    mask: &TileMask,
    mut out: Vec<f32>,
) -> Vec<f32> {
    let cols: Vec<(usize, usize, f32)> = (0..w).map(|x| parent_span(x, hw, 2)).collect();
    debug_assert_eq!(out.len(), w * h * c);
    out.par_chunks_mut(w * c).enumerate().for_each(|(y, row)| {
        let (y0, y1, ty) = parent_span(y, hh, 2);
        let (top, bottom) = (&v[y0 * hw * c..(y0 + 1) * hw * c], &v[y1 * hw * c..(y1 + 1) * hw * c]);
        for (a, b) in mask.spans(y, w) {
            for (x, &(x0, x1, tx)) in cols.iter().enumerate().take(b).skip(a) {
                let o = &mut row[x * c..(x + 1) * c];
                let (t0, t1) = (&top[x0 * c..(x0 + 1) * c], &top[x1 * c..(x1 + 1) * c]);
                let (b0, b1) = (&bottom[x0 * c..(x0 + 1) * c], &bottom[x1 * c..(x1 + 1) * c]);
                for ch in 0..c {
                    let t = t0[ch] + (t1[ch] - t0[ch]) * tx;
                    let u = b0[ch] + (b1[ch] - b0[ch]) * tx;
                    o[ch] = t + (u - t) * ty;
                }
            }
        }
    });
    out
}

/// Composites a blurred region over what nearer layers left: `acc += T·C`, then `T ·= 1 −
/// coverage` — except that a small feature's coverage only waits (`pending`) until the next
/// surface layer at that pixel: small features do not occlude one another, so the two tent
/// halves of one light (or two overlapping lights) add up instead of one hiding part of the
/// other, while the wall behind them is still covered by them. `trans` holds (T, pending).
fn composite(
    job: &SliceJob,
    blurred: &[f32],
    ci: usize,
    w: usize,
    feature: bool,
    acc: &mut [f32],
    trans: &mut [(f32, f32)],
) {
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
                let (mut tr, pending) = trow[x];
                if !feature && pending > 0.0 {
                    tr = (tr - pending).max(0.0);
                    trow[x] = (tr, 0.0);
                }
                if tr <= 0.0 {
                    continue;
                }
                let px = &line[(x - in_r.x0) * ci..(x - in_r.x0 + 1) * ci];
                arow[x * ci..(x + 1) * ci].iter_mut().zip(px).for_each(|(o, &v)| *o += tr * v);
                let cover = tr * px[ci - 1].clamp(0.0, 1.0);
                trow[x] = if feature { (tr, pending + cover) } else { (tr - cover, 0.0) };
            }
        }
    });
}

/// The layered result where it is used, blended into `dst` (the gather result) by `weight`.
/// For an opaque source (no alpha channel — the coverage channel was added — or alpha 1
/// everywhere) the colour is normalised by the composited coverage, so what no layer covered
/// (a hole the fills did not quite close) takes the colour around it instead of going dark: a
/// constant frame stays constant. A source with transparency keeps its composited alpha.
fn finish(acc: &[f32], weight: &[f32], ci: usize, opaque: bool, dst: &mut ImageViewMut) {
    let (w, c) = (dst.width, dst.channels);
    let mut rows = dst.rows_mut();
    rows.par_iter_mut().enumerate().for_each(|(y, out)| {
        let mut l = [0.0f32; 4];
        for (x, o) in out.chunks_exact_mut(c).enumerate() {
            let e = weight[y * w + x];
            if e <= 0.0 {
                continue;
            }
            let a = &acc[(y * w + x) * ci..(y * w + x + 1) * ci];
            let cov = a[ci - 1];
            if opaque && cov > 1e-6 {
                // Colour over coverage; an alpha channel (the coverage itself) becomes 1.
                l[..c].iter_mut().zip(a).for_each(|(l, &v)| *l = v / cov);
            } else if opaque {
                l[..c].iter_mut().for_each(|l| *l = 0.0);
            } else {
                l[..c].copy_from_slice(&a[..c]);
            }
            if e >= 1.0 {
                o.copy_from_slice(&l[..c]);
            } else {
                o.iter_mut().zip(&l).for_each(|(g, &l)| *g += e * (l - *g));
            }
        }
    });
}

/// Whether every pixel of `img` (`ci` channels, the last one coverage) is fully covered.
fn is_opaque(img: &[f32], ci: usize) -> bool {
    img.par_chunks(ci).all(|p| p[ci - 1] == 1.0)
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

/// The layers of a render, front to back, from its signed CoC range per kind of pixel.
fn build_layers(bundle: &Bundle, signed: &[f32], feature: &[bool]) -> (Layers, Vec<Layer>) {
    let range = |want: bool| {
        signed
            .par_iter()
            .zip(feature)
            .filter(|&(_, &f)| f == want)
            .fold(|| (0.0f32, 0.0f32), |(a, b), (&s, _)| (a.min(s), b.max(s)))
            .reduce(|| (0.0, 0.0), |x, y| (x.0.min(y.0), x.1.max(y.1)))
    };
    let ((slo, shi), (flo, fhi)) = (range(false), range(true));
    let layers = Layers::new(Ladder::coarse(slo, shi), Ladder::fine(flo, fhi));
    let surfaces = layers.surfaces.centres();
    let info = layers
        .order
        .par_iter()
        .map(|&(c, feature)| {
            if feature {
                let reach = super::request::blur_reach(bundle, c.abs() as f64);
                Layer { centre: c, feature, plan: Some(Plan::uniform(bundle, c.abs() as f64)), reach }
            } else {
                // Its own pixels lie between the neighbouring centres.
                let k = surfaces.iter().position(|&s| s == c).unwrap_or(0);
                let r_max = [k.wrapping_sub(1), k, k + 1]
                    .iter()
                    .filter_map(|&i| surfaces.get(i))
                    .fold(c.abs(), |m, s| m.max(s.abs()));
                Layer { centre: c, feature, plan: None, reach: super::request::blur_reach(bundle, r_max as f64) }
            }
        })
        .collect();
    (layers, info)
}

/// What the layered blur knows per pixel (row-major): the signed CoC, whether the pixel is a
/// small feature ([`super::sprites`]), and the weight of the layered result ([`edge_weight_with`]).
#[derive(Clone, Copy)]
pub(crate) struct PixelMaps<'a> {
    pub signed: &'a [f32],
    pub feature: &'a [bool],
    pub weight: &'a [f32],
}

/// Layered blur of `src` with per-pixel signed CoC `signed` (row-major), blended into `dst`
/// (which holds the gather result) by `weight` (see [`edge_weight_with`]): where the weight is 1 the
/// layered result replaces it, where it is 0 `dst` is left as it was; returns the number of
/// layers rendered. `finite`: the source holds no NaN or infinity (the gather pass counted them).
pub(crate) fn blur_layered(
    bundle: &Bundle,
    maps: &PixelMaps,
    src: &ImageView,
    finite: bool,
    dst: &mut ImageViewMut,
    scratch: &Scratch,
) -> usize {
    let PixelMaps { signed, feature, weight } = *maps;
    let (w, h) = (src.width, src.height);
    let (img, ci) = working_image(src, finite);
    let (layers, info) = build_layers(bundle, signed, feature);
    let band = TileMask::from_pixels(TILE, w, h, weight, |e| e > 0.0);
    // Only pixels within the largest blur reach (and a tile) of the band are ever read.
    let widest = info.iter().map(|l| l.reach).max().unwrap_or(0);
    let relevant = band.dilated(widest + TILE);
    let (located, owns) = locate_pixels(&layers, signed, feature, &relevant, (w, h), &scratch.1);
    let jobs: Vec<SliceJob> = (0..info.len())
        .into_par_iter()
        .flat_map_iter(|p| {
            if owns[p].any() {
                slice_jobs(p as u32, &owns[p], &band, info[p].reach, w, h)
            } else {
                Vec::new()
            }
        })
        .collect();
    let frame = Frame { bundle, img: &img, ci, w, signed, located: &located };
    let mut acc = scratch.1.floats.take(w * h * ci, 0.0);
    let mut trans = scratch.1.pairs.take(w * h, (1.0, 0.0));
    let mut start = 0;
    while start < jobs.len() {
        // A batch of regions, blurred in parallel, composited in order.
        let mut end = start;
        let mut floats = 0;
        while end < jobs.len() && (end == start || floats < BATCH_FLOATS) {
            floats += jobs[end].in_r.width() * jobs[end].in_r.height() * ci;
            end += 1;
        }
        let blurred: Vec<Vec<f32>> =
            jobs[start..end].par_iter().map(|j| blur_region(&frame, j, &info[j.p as usize], scratch)).collect();
        for (j, b) in jobs[start..end].iter().zip(blurred) {
            composite(j, &b, ci, w, info[j.p as usize].feature, &mut acc, &mut trans);
            scratch.give(b);
        }
        start = end;
    }
    // An added coverage channel is 1 everywhere: opaque without looking.
    let opaque = ci > src.channels || is_opaque(&img, ci);
    finish(&acc, weight, ci, opaque, dst);
    scratch.1.floats.give(acc);
    scratch.1.pairs.give(trans);
    scratch.1.located.give(located);
    owns.iter().filter(|o| o.any()).count()
}

/// Adds to `dst` the light `excess` (pixel index, colour per channel) scattered with each
/// pixel's own CoC: the small-feature ladder (one radius per slice, tent weights), each slice
/// blurred in the tiles within its reach of its pixels. Nothing occludes it (see
/// [`super::highlights`]).
pub(crate) fn scatter_add(
    bundle: &Bundle,
    signed: &[f32],
    excess: &[(usize, [f32; 4])],
    dst: &mut ImageViewMut,
    scratch: &Scratch,
) {
    let (w, h, c) = (dst.width, dst.height, dst.channels);
    let (lo, hi) = excess.iter().fold((0.0f32, 0.0f32), |(a, b), &(i, _)| (a.min(signed[i]), b.max(signed[i])));
    let ladder = Ladder::fine(lo, hi);
    let mut per_centre: Vec<Vec<(usize, f32)>> = vec![Vec::new(); ladder.centres().len()];
    for (e, &(i, _)) in excess.iter().enumerate() {
        let (j, t) = ladder.locate(signed[i]);
        per_centre[j].push((e, 1.0 - t));
        if t > 0.0 {
            per_centre[j + 1].push((e, t));
        }
    }
    for (k, pixels) in per_centre.iter().enumerate().filter(|(_, p)| !p.is_empty()) {
        let plan = Plan::uniform(bundle, ladder.centres()[k].abs() as f64);
        let reach = super::request::blur_reach(bundle, ladder.centres()[k].abs() as f64);
        let mut own = TileMask::new(TILE, w, h);
        for &(e, _) in pixels {
            let i = excess[e].0;
            own.on[(i / w / TILE) * own.tw + (i % w) / TILE] = true;
        }
        let all = TileMask { on: vec![true; own.on.len()], ..own.clone() };
        let jobs = slice_jobs(k as u32, &own, &all, reach, w, h);
        let blurred: Vec<Vec<f32>> = jobs
            .par_iter()
            .map(|job| {
                let (rw, rh) = (job.in_r.width(), job.in_r.height());
                let mut source = vec![0.0f32; rw * rh * c];
                for &(e, m) in pixels {
                    let (i, col) = excess[e];
                    let (x, y) = (i % w, i / w);
                    if (job.in_r.x0..job.in_r.x1).contains(&x) && (job.in_r.y0..job.in_r.y1).contains(&y) {
                        let o = ((y - job.in_r.y0) * rw + x - job.in_r.x0) * c;
                        source[o..o + c].iter_mut().zip(&col).for_each(|(s, &v)| *s += m * v);
                    }
                }
                let r = ladder.centres()[k].abs();
                if let Some(out) = stamped(bundle, r, &source, (rw, rh, c), scratch) {
                    return out;
                }
                let mask = job.comp.crop(job.in_r.x0 / TILE, job.in_r.y0 / TILE, rw, rh);
                blur_with(&plan, source, (rw, rh, c), &mask, scratch)
            })
            .collect();
        for (job, b) in jobs.iter().zip(&blurred) {
            let rw = job.in_r.width();
            for y in job.out_r.y0..job.out_r.y1 {
                let line = &b[(y - job.in_r.y0) * rw * c..(y - job.in_r.y0 + 1) * rw * c];
                let row = dst.row_mut(y);
                for (a, bnd) in job.comp.spans(y, w) {
                    let (from, to) = ((a - job.in_r.x0) * c, (bnd - job.in_r.x0) * c);
                    row[a * c..bnd * c].iter_mut().zip(&line[from..to]).for_each(|(o, &v)| *o += v);
                }
            }
        }
    }
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
///
/// `edges` holds the frame's edge masks ([`super::edges`]). Working arrays (and the result)
/// come from `pools`; the pixels of small features
/// ([`super::sprites`]) count as edges too (their own CoC's band around them).
pub(crate) fn edge_weight_with(
    signed: &[f32],
    edges: &[u8],
    features: &[bool],
    w: usize,
    h: usize,
    band_for: &(dyn Fn(f32) -> usize + Sync),
    pools: &Pools,
) -> Vec<f32> {
    // (band left, fade of its jump) per pixel; the band left is −∞ far from every jump.
    let mut s = pools.pairs.take(w * h, (f32::NEG_INFINITY, 0.0));
    let active = seed_edges(signed, edges, features, w, h, band_for, &mut s);
    let mut weight = pools.floats.take(w * h, 0.0);
    if let Some(active) = active {
        sweep_groups(&mut s, &active, w, h);
        weight.par_iter_mut().zip(s.par_iter()).for_each(|(o, &(left, fade))| {
            if left > 0.0 {
                *o = (left / fade).clamp(0.0, 1.0);
            }
        });
    }
    pools.pairs.give(s);
    weight
}

/// Seeds `s` at every edge pixel with (band + fade, fade) of its jump (and small features with
/// their own CoC's), and returns the tiles the sweeps must visit (within the widest band of a
/// seeded tile), if any pixel was seeded.
fn seed_edges(
    signed: &[f32],
    edges: &[u8],
    features: &[bool],
    w: usize,
    h: usize,
    band_for: &(dyn Fn(f32) -> usize + Sync),
    s: &mut [(f32, f32)],
) -> Option<TileMask> {
    let tw = w.div_ceil(TILE);
    // Per row of tiles, the widest band seeded in each tile.
    let seeded: Vec<Vec<f32>> = s
        .par_chunks_mut(w * TILE)
        .enumerate()
        .map(|(ty, rows)| {
            let mut tiles = vec![0.0f32; tw];
            for (dy, row) in rows.chunks_mut(w).enumerate() {
                let y = ty * TILE + dy;
                let line = &signed[y * w..(y + 1) * w];
                let above = (y > 0).then(|| &signed[(y - 1) * w..y * w]);
                let below = (y + 1 < h).then(|| &signed[(y + 1) * w..(y + 2) * w]);
                let mut seed = |x: usize, r: f32| {
                    let band = band_for(r).max(1) as f32;
                    let fade = (band / 4.0).max(1.0);
                    if band + fade > row[x].0 {
                        row[x] = (band + fade, fade);
                    }
                    tiles[x / TILE] = tiles[x / TILE].max(band + fade);
                };
                for x in 0..w {
                    let (v, e) = (line[x], edges[y * w + x]);
                    if e & 0b1111 != 0 {
                        // The four axis neighbours: bits 0–3 of the mask (super::edges::DIRS).
                        let others = [
                            (x + 1 < w).then(|| line[x + 1]),
                            (x > 0).then(|| line[x - 1]),
                            below.map(|b| b[x]),
                            above.map(|a| a[x]),
                        ];
                        for (k, o) in others.into_iter().enumerate() {
                            if let Some(o) = o.filter(|_| e >> k & 1 == 1) {
                                seed(x, v.abs().max(o.abs()));
                            }
                        }
                    }
                    if features[y * w + x] {
                        seed(x, v.abs());
                    }
                }
            }
            tiles
        })
        .collect();
    let widest = seeded.iter().flatten().fold(0.0f32, |m, &b| m.max(b));
    if widest <= 0.0 {
        return None;
    }
    let mut active = TileMask::new(TILE, w, h);
    for (ty, row) in seeded.iter().enumerate() {
        for (tx, &b) in row.iter().enumerate() {
            active.on[ty * tw + tx] = b > 0.0;
        }
    }
    Some(active.dilated(widest.ceil() as usize))
}

/// Chamfer sweeps over the `active` tiles of `s`. Each connected group of active tiles is
/// independent of the others (their tiles do not touch): the groups are swept in parallel, each
/// on a copy of its bounding box, and only their own tiles are written back.
fn sweep_groups(s: &mut [(f32, f32)], active: &TileMask, w: usize, h: usize) {
    let swept: Vec<Swept> = components(active)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladders_step_as_documented_and_end_at_the_extremes() {
        let fine = Ladder::fine(-1.75, 40.0);
        let c = fine.centres();
        assert_eq!(&c[..6], &[-1.75, -1.5, -1.0, -0.5, 0.0, 0.5]);
        // 0.5 px apart up to 32 px, then 1/64 of the radius; the last centre is 40 exactly.
        assert!(c.windows(2).filter(|w| w[1] <= 32.0).all(|w| (w[1] - w[0] - 0.5).abs() < 1e-6 || w[0] < 0.0));
        assert!(c.windows(2).filter(|w| w[0] >= 32.0).all(|w| w[1] - w[0] >= 0.5 && w[1] - w[0] <= 1.5 * 40.0 / 64.0));
        assert_eq!(*c.last().unwrap(), 40.0);
        let coarse = Ladder::coarse(-32.0, 18.0);
        assert_eq!(coarse.centres(), &[-32.0, -16.0, -4.0, -1.0, 0.0, 1.0, 4.0, 18.0]);
    }

    #[test]
    fn locate_gives_tent_weights_that_sum_to_one() {
        let l = Ladder::fine(0.0, 10.0);
        assert_eq!(l.locate(3.125), (6, 0.25));
        assert_eq!(l.locate(-1.0), (0, 0.0));
        assert_eq!(l.locate(10.0), (19, 1.0));
        let (j, t) = l.locate(7.6);
        assert!((l.centres()[j] * (1.0 - t) + l.centres()[j + 1] * t - 7.6).abs() < 1e-5);
    }

    #[test]
    fn merged_layers_order_small_features_first_and_split_mass() {
        let layers = Layers::new(Ladder::coarse(0.0, 16.0), Ladder::fine(0.0, 3.0));
        // Front to back by centre; at an equal centre the small feature comes first.
        let order: Vec<(f32, bool)> = layers.order.clone();
        assert!(order.windows(2).all(|w| w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 && !w[1].1)));
        // A surface pixel at 2.5 px: between the surface centres 1 and 4, with weight 0.5 on 4.
        let loc = layers.locate(2.5, false);
        let n = order.len() as u32;
        let own: f32 = (0..n).map(|p| masses(loc, p).0).sum();
        assert!((own - 1.0).abs() < 1e-6);
        // Nearer mass grows front to back and is 1 behind both of its layers.
        let nearer: Vec<f32> = (0..n).map(|p| masses(loc, p).1).collect();
        assert!(nearer.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(nearer[n as usize - 1], 1.0);
        // A small-feature pixel at 2.25 px lies on the fine ladder (centres 2 and 2.5).
        let (a, b, t) = layers.locate(2.25, true);
        assert_eq!((order[a as usize], order[b as usize], t), ((2.0, true), (2.5, true), 0.5));
    }

    #[test]
    fn pull_push_fills_holes_and_keeps_known_pixels() {
        // A 6×4 grid, colour 1 on the left half and 3 on the right, the middle two columns unknown.
        let (w, h) = (6, 4);
        let col: Vec<f32> = (0..w * h).map(|i| if i % w < 3 { 1.0 } else { 3.0 }).collect();
        let wt: Vec<f32> = (0..w * h).map(|i| if (2..4).contains(&(i % w)) { 0.0 } else { 1.0 }).collect();
        let out = pull_push(&col, &wt, w, h, 1);
        for (i, (&o, &k)) in out.iter().zip(&wt).enumerate() {
            if k == 1.0 {
                assert_eq!(o, col[i]);
            } else {
                assert!((1.0..=3.0).contains(&o), "pixel {i}: {o}");
            }
        }
        // The unknown columns lean towards their own side.
        assert!(out[2] < out[3]);
    }

    #[test]
    fn compositing_is_front_to_back_over() {
        // Two one-tile regions over a 16×16 frame: a half-covering red in front of an opaque blue.
        let (w, ci) = (16, 4);
        let mut comp = TileMask::new(TILE, w, w);
        comp.on[0] = true;
        let r = Rect { x0: 0, y0: 0, x1: w, y1: w };
        let job = |p| SliceJob { p, comp: comp.clone(), out_r: r, in_r: r };
        let front: Vec<f32> = [0.5, 0.0, 0.0, 0.5].repeat(w * w);
        let back: Vec<f32> = [0.0, 0.0, 1.0, 1.0].repeat(w * w);
        let (mut acc, mut trans) = (vec![0.0; w * w * ci], vec![(1.0, 0.0); w * w]);
        composite(&job(0), &front, ci, w, false, &mut acc, &mut trans);
        composite(&job(1), &back, ci, w, false, &mut acc, &mut trans);
        assert_eq!(&acc[..4], &[0.5, 0.0, 0.5, 1.0]);
        assert_eq!(trans[0], (0.0, 0.0));
        // Small features add up (no self-occlusion) but still cover the surface behind them.
        let (mut acc, mut trans) = (vec![0.0; w * w * ci], vec![(1.0, 0.0); w * w]);
        composite(&job(0), &front, ci, w, true, &mut acc, &mut trans);
        composite(&job(1), &front, ci, w, true, &mut acc, &mut trans);
        composite(&job(2), &back, ci, w, false, &mut acc, &mut trans);
        assert_eq!(&acc[..4], &[1.0, 0.0, 0.0, 1.0]);
    }
}

//! Layered (occlusion-aware) lens blur (DESIGN §1, "layered").
//!
//! The frame is split by signed CoC (negative in front of the focal plane) into slices with
//! overlapping tent mattes that sum to 1, so a pixel between two slice radii is shared by both
//! and the blur radius varies without banding. Everything under 1 px falls in the in-focus
//! slice. Slices are composited front to back with "over", each slice k being
//!
//! * its own pixels, weighted by their matte m_k, plus
//! * the pixels of nearer slices (mass N_k), whose colour — hidden from the camera — is filled
//!   by pull-push (Gortler et al. 1996, Kraus & Strengert 2007) from the pixels at slice k or
//!   farther, so blurred rims of a nearer object show a plausible background,
//!
//! premultiplied with a coverage channel and blurred by the sparse complex with the radii of
//! its own pixels (spread past its silhouette by pull-push). Because slice k carries the nearer
//! mass as filled, opaque coverage, one surface shared between two adjacent slices composites
//! to the blend of the two blurs (no self-occlusion), while a nearer surface occludes what is
//! behind it and turns see-through where its own blur thins out.
//!
//! The engine uses this only near depth edges ([`edge_weight`]: within the PSF's measured
//! spread of a jump in CoC, fading out over the band's last quarter) and gather elsewhere, which
//! is exact inside a surface. Work stays near one extra pass:
//! * slice centres 1, 4, 16 … px on each side of focus, the last one the largest |CoC| there,
//!   so a wall at one depth is one slice;
//! * each slice is processed per connected group of 16-px tiles it must produce (in the band,
//!   within its reach of its own pixels), and only in the tiles its blur reads;
//! * fills are computed on 4×-coarser cells (8× for half-resolution slices) and interpolated;
//! * slices of radius ≥ [`HALF_RES_FROM`] px are blurred at half resolution (the complex at
//!   half the radius on 2×2 averages) and interpolated back: a blur that wide holds nothing
//!   finer than two pixels.

use super::engine::{run_radii, Pools, Scratch, TileMask};
use crate::bundle::Bundle;
use crate::image::{ImageView, ImageViewMut};
use rayon::prelude::*;

/// Ratio between successive slice radii (1, 4, 16, ... px on each side of focus; the last
/// centre on each side is the largest |CoC| of that side, so a far wall at one depth lies in one
/// slice).
pub const SLICE_RATIO: f32 = 4.0;

/// The slice centres (signed CoC in px, near to far) needed for values in `[lo, hi]`.
pub fn slice_centres(lo: f32, hi: f32) -> Vec<f32> {
    let side = |m: f32| {
        let mut v = Vec::new();
        if m <= 0.0 {
            return v;
        }
        let mut c = 1.0f32;
        while c < m {
            v.push(c);
            c *= SLICE_RATIO;
        }
        // End exactly at m: replace the last rung when m is close above it.
        match v.last_mut() {
            Some(last) if m < *last * SLICE_RATIO.sqrt() => *last = m.max(1.0),
            _ => v.push(m.max(1.0)),
        }
        v
    };
    let mut centres: Vec<f32> = side(-lo.min(0.0)).into_iter().rev().map(|c| -c).collect();
    centres.push(0.0);
    centres.extend(side(hi.max(0.0)));
    centres
}

/// Where a signed CoC falls: between centres j and j+1, with weight `t` on j+1.
fn locate(centres: &[f32], s: f32) -> (usize, f32) {
    let n = centres.len();
    if s <= centres[0] {
        return (0, 0.0);
    }
    if s >= centres[n - 1] {
        return (n.saturating_sub(2), if n > 1 { 1.0 } else { 0.0 });
    }
    let j = centres.partition_point(|&c| c <= s).saturating_sub(1).min(n - 2);
    (j, (s - centres[j]) / (centres[j + 1] - centres[j]))
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

/// Resolution factor of the fills: they are seen only through a blur, so they are computed on
/// a grid this many times coarser and interpolated bilinearly (known pixels keep their value).
const FILL_FACTOR: usize = 4;

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

/// Step (px) the radii inside a slice are rounded to.
pub const SLICE_RADIUS_STEP: f32 = 0.25;

/// One region of a slice, blurred: its output tiles, output and input rectangles, the blurred
/// slice (`bw × bh` pixels at `1/d` resolution), `bw`, `bh`, `d`.
type SliceRegion = (TileMask, Rect, Rect, Vec<f32>, usize, usize, usize);

/// How far (whole px) the complex at `radius` can move a pixel's light: the sum of its layers'
/// reaches (the margin a slice's blur reads around its output).
fn reach_px(bundle: &Bundle, radius: f32) -> usize {
    crate::render::plan::TapTable::new(bundle, radius as f64).complex.reach().max(0) as usize
}

/// Slices of this radius (px) or more are blurred at half resolution.
pub const HALF_RES_FROM: f32 = 4.0;

/// Tile side for skipping work: slices are computed only in tiles where the result is used.
const TILE: usize = 16;

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
    let (w, h, c) = (src.width, src.height, src.channels);
    // Working layout: premultiplied colour plus coverage (the alpha channel when there is one).
    let has_alpha = c == 2 || c == 4;
    let ci = if has_alpha { c } else { c + 1 };
    // The source itself when it already has that layout (packed, with alpha, all finite).
    let borrowed = src.packed_data().filter(|_| has_alpha && finite);
    let img: std::borrow::Cow<[f32]> = match borrowed {
        Some(d) => std::borrow::Cow::Borrowed(d),
        None => {
            let mut img = crate::render::frame_buffer::<f32>(w * h * ci);
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
            std::borrow::Cow::Owned(img)
        }
    };
    let (lo, hi) = signed
        .par_iter()
        .fold(|| (0.0f32, 0.0f32), |(a, b), &s| (a.min(s), b.max(s)))
        .reduce(|| (0.0, 0.0), |x, y| (x.0.min(y.0), x.1.max(y.1)));
    let centres = slice_centres(lo, hi);
    // The tiles where the layered result is used.
    let band = TileMask::from_pixels(TILE, w, h, weight, |e| e > 0.0);
    let tw = band.tw;
    // Only pixels within the largest blur reach (and a tile) of those tiles are ever read.
    let widest = reach_px(bundle, lo.abs().max(hi));
    let relevant = band.dilated(widest + TILE);
    // Where each pixel falls between the slice centres, and each slice's tiles with pixels of its
    // own (per row of tiles, in parallel).
    let mut located = scratch.1.located.take(w * h, (0, 0.0));
    let per_row: Vec<Vec<Vec<bool>>> = located
        .par_chunks_mut(w * TILE)
        .enumerate()
        .map(|(ty, rows)| {
            let mut o = vec![vec![false; tw]; centres.len()];
            for (dy, row) in rows.chunks_mut(w).enumerate() {
                let y = ty * TILE + dy;
                for (a, b) in relevant.spans(y, w) {
                    for (x, l) in row[a..b].iter_mut().enumerate().map(|(i, l)| (a + i, l)) {
                        let tx = x / TILE;
                        let (j, t) = locate(&centres, signed[y * w + x]);
                        *l = (j as u32, t);
                        if t < 1.0 {
                            o[j][tx] = true;
                        }
                        if t > 0.0 && j + 1 < centres.len() {
                            o[j + 1][tx] = true;
                        }
                    }
                }
            }
            o
        })
        .collect();
    let mut owns: Vec<TileMask> = vec![TileMask::new(TILE, w, h); centres.len()];
    for (ty, o) in per_row.into_iter().enumerate() {
        for (k, row) in o.into_iter().enumerate() {
            owns[k].on[ty * tw..(ty + 1) * tw].copy_from_slice(&row);
        }
    }
    let mut acc = scratch.1.floats.take(w * h * ci, 0.0);
    let mut trans = scratch.1.floats.take(w * h, 1.0);
    let mut slices = 0;
    for (k, own) in owns.iter().enumerate() {
        if !own.any() {
            continue;
        }
        let radius = centres[k].abs();
        // Reach of the largest radius this slice uses (its own pixels lie between the
        // neighbouring centres).
        let r_max =
            [k.wrapping_sub(1), k, k + 1].iter().filter_map(|&i| centres.get(i)).fold(radius, |m, c| m.max(c.abs()));
        let reach = reach_px(bundle, r_max);
        // Tiles this slice must produce: in the band, and within its reach of its own pixels.
        let near_own = own.dilated(reach);
        let mut active = band.clone();
        active.on.iter_mut().zip(&near_own.on).for_each(|(a, &n)| *a = *a && n);
        if !active.any() {
            continue;
        }
        slices += 1;
        // Each connected group of active tiles is its own region, so far-apart edges (two posts
        // at the frame's sides) do not make one frame-wide region.
        // The slice's regions are independent: blurred in parallel, then composited in turn.
        let regions: Vec<SliceRegion> = components(&active)
            .into_par_iter()
            .filter_map(|comp| {
                let out_r = tile_bounds(&comp, w, h)?;
                // The input region: grown by the reach, its origin on the tile grid.
                let grown = out_r.grow(reach, w, h);
                let in_r = Rect { x0: grown.x0 / TILE * TILE, y0: grown.y0 / TILE * TILE, ..grown };
                let (rw, rh) = (in_r.width(), in_r.height());
                let region_mask = comp.crop(in_r.x0 / TILE, in_r.y0 / TILE, rw, rh);
                // Large radii are blurred at half resolution (see below).
                let d = if radius >= HALF_RES_FROM { 2 } else { 1 };
                // The region's tiles the blur reads: the output tiles grown by the reach, and by one
                // tile more at half resolution (in region tile coordinates; the region's origin is on
                // the tile grid).
                let need =
                    comp.dilated(reach + if d == 2 { TILE } else { 0 }).crop(in_r.x0 / TILE, in_r.y0 / TILE, rw, rh);
                if std::env::var_os("SB_DEBUG").is_some() {
                    eprintln!("slice {k} c={} out {:?} in {rw}x{rh} reach {reach}", centres[k], out_r);
                }
                // The slice is built on the blur's grid: blocks of d×d pixels (large radii are
                // blurred at half resolution: the complex at half the radius on 2×2 averages,
                // interpolated back; a blur that wide holds nothing finer).
                let (bw, bh) = (rw.div_ceil(d), rh.div_ceil(d));
                let block = |i: usize, len: usize| i * d..(i * d + d).min(len);
                // One read of the region's pixels, per block: what its source needs (the known
                // colour — own matte m plus the known share 1 − n of the hidden part n —, the
                // fill's share n², the own radii by matte, the filled radius's share 1 − m) and
                // what the fills need (the colour and weight of what is at slice k or farther, the
                // own matte).
                let (sa, ca) = (ci + 3, ci + 2);
                let mut sums = crate::render::frame_buffer::<f32>(bw * bh * sa);
                let mut far = crate::render::frame_buffer::<f32>(bw * bh * ca);
                let hidden = sums
                    .par_chunks_mut(bw * sa)
                    .zip(far.par_chunks_mut(bw * ca))
                    .enumerate()
                    .map(|(by, (srow, frow))| {
                        let mut hidden = false;
                        let ys = block(by, rh);
                        for (a, b) in need.spans(by * d, rw) {
                            for bx in a / d..b.div_ceil(d) {
                                let (o, fo) = (&mut srow[bx * sa..bx * sa + sa], &mut frow[bx * ca..bx * ca + ca]);
                                for y in ys.clone() {
                                    let base = (y + in_r.y0) * w + in_r.x0;
                                    for x in block(bx, rw) {
                                        let (j, t) = located[base + x];
                                        let j = j as usize;
                                        let (m, n) = masses(j, t, k);
                                        let px = &img[(base + x) * ci..(base + x) * ci + ci];
                                        let known = m + n * (1.0 - n);
                                        if known != 0.0 {
                                            o[..ci].iter_mut().zip(px).for_each(|(o, &v)| *o += known * v);
                                        }
                                        let own = m.clamp(0.0, 1.0);
                                        let r = own * signed[base + x].abs();
                                        o[ci] += n * n;
                                        o[ci + 1] += r;
                                        o[ci + 2] += 1.0 - own;
                                        let a = 1.0 - n;
                                        hidden |= n > 0.0;
                                        if a != 0.0 {
                                            fo[..ci].iter_mut().zip(px).for_each(|(o, &v)| *o += a * v);
                                        }
                                        fo[ci] += a;
                                        fo[ci + 1] += own;
                                    }
                                }
                            }
                        }
                        hidden
                    })
                    .reduce(|| false, |a, b| a || b);
                // Coarse cells (FILL_FACTOR² blocks; single blocks on small regions) for the fills:
                // the colour of what is at slice k or farther, weighted by 1 − nearer mass (the
                // slice's hidden pixels are filled from it), and the own pixels' |CoC|, weighted by
                // the own matte (the slice's blur continues past its silhouette with the radius it
                // has inside). Weights are per pixel of the cell.
                let fb = if bw >= 2 * FILL_FACTOR && bh >= 2 * FILL_FACTOR { FILL_FACTOR } else { 1 };
                let f = fb * d;
                let (lw, lh) = (bw.div_ceil(fb), bh.div_ceil(fb));
                let mut lc = vec![0.0f32; lw * lh * ci];
                let mut lwt = vec![0.0f32; lw * lh];
                let mut lr = vec![0.0f32; lw * lh];
                let mut lrw = vec![0.0f32; lw * lh];
                lc.par_chunks_mut(lw * ci)
                    .zip(lwt.par_chunks_mut(lw))
                    .zip(lr.par_chunks_mut(lw).zip(lrw.par_chunks_mut(lw)))
                    .enumerate()
                    .for_each(|(ly, ((crow, wrow), (rrow, rwrow)))| {
                        for by in ly * fb..((ly + 1) * fb).min(bh) {
                            for bx in 0..bw {
                                let (o, fo) = (
                                    &sums[(by * bw + bx) * sa..(by * bw + bx + 1) * sa],
                                    &far[(by * bw + bx) * ca..(by * bw + bx + 1) * ca],
                                );
                                let cell = bx / fb;
                                crow[cell * ci..cell * ci + ci].iter_mut().zip(&fo[..ci]).for_each(|(d, &v)| *d += v);
                                wrow[cell] += fo[ci];
                                rrow[cell] += o[ci + 1];
                                rwrow[cell] += fo[ci + 1];
                            }
                        }
                        let rows = (((ly + 1) * f).min(rh) - ly * f) as f32;
                        for cell in 0..lw {
                            let n = rows * ((cell + 1) * f).min(rw).saturating_sub(cell * f) as f32;
                            if wrow[cell] > 0.0 {
                                crow[cell * ci..cell * ci + ci].iter_mut().for_each(|d| *d /= wrow[cell]);
                            }
                            wrow[cell] /= n;
                            if rwrow[cell] > 0.0 {
                                rrow[cell] /= rwrow[cell];
                            }
                            rwrow[cell] /= n;
                        }
                    });
                drop(far);
                let fill = if hidden { pull_push(&lc, &lwt, lw, lh, ci) } else { Vec::new() };
                let fill_r = pull_push(&lr, &lrw, lw, lh, 1);
                // The slice's source (own pixels by matte, nearer pixels as filled coverage) and its
                // radius per block (own pixels' |CoC| by matte, the filled radius for the rest), the
                // radii rounded to SLICE_RADIUS_STEP: the filled radii vary smoothly, and fewer
                // distinct radii give long runs of one tap table (the fast merged-integer loop).
                // The fills are smooth (bilinear between coarse cells), so each block reads them
                // once, at its centre.
                let mut source = crate::render::frame_buffer::<f32>(bw * bh * ci);
                let mut radii = crate::render::frame_buffer::<f32>(bw * bh);
                let centre = |i: usize, n: usize, len: usize| {
                    let c = (i * d) as f32 + ((d.min(len - i * d)) as f32 - 1.0) / 2.0;
                    let p = ((c + 0.5) / f as f32 - 0.5).max(0.0);
                    let p0 = (p.floor() as usize).min(n - 1);
                    (p0, (p0 + 1).min(n - 1), p - p.floor())
                };
                let col_spans: Vec<(usize, usize, f32)> = (0..bw).map(|bx| centre(bx, lw, rw)).collect();
                source.par_chunks_mut(bw * ci).zip(radii.par_chunks_mut(bw)).enumerate().for_each(
                    |(by, (row, rrow))| {
                        let ys = block(by, rh);
                        let (y0, y1, ty) = centre(by, lh, rh);
                        for (a, b) in need.spans(by * d, rw) {
                            for bx in a / d..b.div_ceil(d) {
                                let o = &sums[(by * bw + bx) * sa..(by * bw + bx + 1) * sa];
                                let (x0, x1, tx) = col_spans[bx];
                                let taps = [
                                    (y0 * lw + x0, (1.0 - tx) * (1.0 - ty)),
                                    (y0 * lw + x1, tx * (1.0 - ty)),
                                    (y1 * lw + x0, (1.0 - tx) * ty),
                                    (y1 * lw + x1, tx * ty),
                                ];
                                let at = |g: &[f32], n: usize, ch: usize| {
                                    taps.iter().map(|&(i, k)| k * g[i * n + ch]).sum::<f32>()
                                };
                                let cnt = (ys.len() * block(bx, rw).len()) as f32;
                                let (fill_share, mut rad, rad_share) = (o[ci], o[ci + 1], o[ci + 2]);
                                for (ch, out) in row[bx * ci..bx * ci + ci].iter_mut().enumerate() {
                                    let hidden = if fill_share > 0.0 { fill_share * at(&fill, ci, ch) } else { 0.0 };
                                    *out = (o[ch] + hidden) / cnt;
                                }
                                if rad_share > 0.0 {
                                    rad += rad_share * at(&fill_r, 1, 0);
                                }
                                rrow[bx] = (rad / cnt / d as f32 / SLICE_RADIUS_STEP).round() * SLICE_RADIUS_STEP;
                            }
                        }
                    },
                );
                drop(sums);
                // A slice whose radii all pass through (≤ 0.5 px, DESIGN §1) is its own blur.
                if radii.par_iter().all(|&r| r <= 0.5) {
                    return Some((comp, out_r, in_r, source, bw, bh, d));
                }
                let mut blurred = crate::render::frame_buffer::<f32>(bw * bh * ci);
                {
                    // At half resolution the interpolation back reads one blurred pixel past the output
                    // tiles: blur one tile more on every side.
                    let mask = TileMask {
                        tile: TILE / d,
                        ..if d == 1 { region_mask.clone() } else { region_mask.dilated(1) }
                    };
                    let sv = ImageView::packed(&source, bw, bh, ci).expect("slice buffer");
                    let mut bv = ImageViewMut::packed(&mut blurred, bw, bh, ci).expect("slice buffer");
                    run_radii(bundle, &radii, &sv, &mut bv, &mask, scratch);
                }
                Some((comp, out_r, in_r, blurred, bw, bh, d))
            })
            .collect();
        for (comp, out_r, in_r, blurred, bw, bh, d) in regions {
            // Front to back: acc += T·C; T ·= (1 − coverage).
            let rows = out_r.y0..out_r.y1;
            let (acc_rows, trans_rows) = (
                acc[rows.start * w * ci..rows.end * w * ci].par_chunks_mut(w * ci),
                trans[rows.start * w..rows.end * w].par_chunks_mut(w),
            );
            // Half-resolution slices: the columns' parent spans once per region.
            let col_spans: Vec<(usize, usize, f32)> = if d == 1 {
                Vec::new()
            } else {
                (out_r.x0..out_r.x1).map(|x| parent_span(x - in_r.x0, bw, d)).collect()
            };
            acc_rows.zip(trans_rows).enumerate().for_each(|(i, (arow, trow))| {
                let y = out_r.y0 + i;
                let by = y - in_r.y0;
                // This row of the blurred slice (for d = 2: the two parent rows blended).
                let line: std::borrow::Cow<[f32]> = if d == 1 {
                    std::borrow::Cow::Borrowed(&blurred[by * bw * ci..(by + 1) * bw * ci])
                } else {
                    let (y0, y1, ty) = parent_span(by, bh, d);
                    let (r0, r1) =
                        (&blurred[y0 * bw * ci..(y0 + 1) * bw * ci], &blurred[y1 * bw * ci..(y1 + 1) * bw * ci]);
                    std::borrow::Cow::Owned(r0.iter().zip(r1).map(|(&a, &b)| a + (b - a) * ty).collect())
                };
                let mut b = [0.0f32; 4];
                for x in out_r.x0..out_r.x1 {
                    if !comp.on[(y / TILE) * comp.tw + x / TILE] {
                        continue;
                    }
                    let tr = trow[x];
                    if tr <= 0.0 {
                        continue;
                    }
                    let bx = x - in_r.x0;
                    if d == 1 {
                        b[..ci].copy_from_slice(&line[bx * ci..bx * ci + ci]);
                    } else {
                        let (x0, x1, tx) = col_spans[x - out_r.x0];
                        let (p0, p1) = (&line[x0 * ci..x0 * ci + ci], &line[x1 * ci..x1 * ci + ci]);
                        for ((v, &a), &c) in b.iter_mut().zip(p0).zip(p1) {
                            *v = a + (c - a) * tx;
                        }
                    }
                    for ch in 0..ci {
                        arow[x * ci + ch] += tr * b[ch];
                    }
                    trow[x] = tr * (1.0 - b[ci - 1].clamp(0.0, 1.0));
                }
            });
        }
    }
    // Out, where the layered result is used: drop the added coverage channel (normalising colour
    // by it: the input was opaque), blended with the gather result by the weight.
    let mut rows = dst.rows_mut();
    rows.par_iter_mut().enumerate().for_each(|(y, out)| {
        let mut l = [0.0f32; 4];
        for (x, o) in out.chunks_exact_mut(c).enumerate() {
            let e = weight[y * w + x];
            if e <= 0.0 {
                continue;
            }
            let a = &acc[(y * w + x) * ci..(y * w + x) * ci + ci];
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
    scratch.1.floats.give(acc);
    scratch.1.floats.give(trans);
    scratch.1.located.give(located);
    slices
}

/// How much of the layered result to use per pixel: 1 near a depth edge (a jump in signed
/// CoC between neighbouring pixels larger than 1 px or 15 % of the radius), within the band
/// B = `band_for(r)` px of the larger radius r of the jump (its blur's spread: a jump between
/// small radii needs a narrow band), fading linearly to 0 over the band's last quarter, and 0
/// beyond it. Elsewhere the gather result stands: it is exact inside a surface, and a
/// continuous depth ramp stays free of slice banding.
///
/// Distances are chamfer distances (steps 1 and √2, two raster sweeps, within 8 % of
/// euclidean): each pixel keeps the largest B − distance over the jumps, with that jump's B.
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
    let jump = |a: f32, b: f32| {
        let d = (a - b).abs();
        d > 1.0 && d > 0.15 * a.abs().max(b.abs())
    };
    // (band left, band of its jump) per pixel; the band left is −∞ far from every jump.
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
                        if band > row[x].0 {
                            row[x] = (band, band);
                        }
                        tiles[x / TILE] = tiles[x / TILE].max(band);
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
    weight.par_iter_mut().zip(s.par_iter()).for_each(|(o, &(left, band))| {
        if left > 0.0 {
            *o = (left / (band / 4.0).max(1.0)).clamp(0.0, 1.0);
        }
    });
    pools.pairs.give(s);
    weight
}

/// One group of tiles after its chamfer sweeps: its box, its tiles, the box's (band left, band).
type Swept = (Rect, TileMask, Vec<(f32, f32)>);

/// Chamfer sweeps (steps 1 and √2) over the columns `spans[y]` of each row of a `w × h` grid of
/// (band left, band) pairs: every visited pixel ends with the largest band left over its
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

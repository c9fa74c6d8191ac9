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
//! premultiplied with a coverage channel and blurred by the sparse complex at the slice's
//! radius (the fixed-radius fast path). Because slice k carries the nearer mass as filled,
//! opaque coverage, one surface shared between two adjacent slices composites to the blend of
//! the two blurs (no self-occlusion), while a nearer surface occludes what is behind it and
//! turns see-through where its own blur thins out.
//!
//! Work: each slice is processed only over the bounding box of its own pixels, grown by its
//! blur reach, so sparse slices cost little.

use super::engine::{run_radii, Scratch, TileMask};
use crate::bundle::Bundle;
use crate::image::{ImageView, ImageViewMut};
use rayon::prelude::*;

/// Ratio between successive slice radii (1, 1.35, 1.82, ... px on each side of focus).
pub const SLICE_RATIO: f32 = 2.0;

/// The slice centres (signed CoC in px, near to far) needed for values in `[lo, hi]`.
pub fn slice_centres(lo: f32, hi: f32) -> Vec<f32> {
    let side = |m: f32| {
        let mut v = Vec::new();
        let mut c = 1.0f32;
        while m > 0.0 && c < m * SLICE_RATIO {
            v.push(c);
            if c >= m {
                break;
            }
            c *= SLICE_RATIO;
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

/// Resolution factor of the fills: they are seen only through a blur.
const FILL_FACTOR: usize = 4;

/// [`pull_push`] with the finest levels skipped: known pixels keep their value (weighted by
/// `wt`), the rest comes from the fill computed on a grid `f` times coarser and interpolated
/// bilinearly.
fn pull_push_coarse(col: &[f32], wt: &[f32], w: usize, h: usize, ci: usize, f: usize) -> Vec<f32> {
    if f <= 1 || w < 2 * f || h < 2 * f {
        return pull_push(col, wt, w, h, ci);
    }
    let (lw, lh) = (w.div_ceil(f), h.div_ceil(f));
    // Coarse cells: mean weight, weighted mean colour.
    let mut lc = vec![0.0f32; lw * lh * ci];
    let mut lwt = vec![0.0f32; lw * lh];
    lc.par_chunks_mut(lw * ci).zip(lwt.par_chunks_mut(lw)).enumerate().for_each(|(ly, (crow, wrow))| {
        for lx in 0..lw {
            let (mut n, mut sw) = (0.0f32, 0.0f32);
            let o = &mut crow[lx * ci..lx * ci + ci];
            for y in ly * f..((ly + 1) * f).min(h) {
                for x in lx * f..((lx + 1) * f).min(w) {
                    let a = wt[y * w + x];
                    n += 1.0;
                    sw += a;
                    for (d, &v) in o.iter_mut().zip(&col[(y * w + x) * ci..(y * w + x) * ci + ci]) {
                        *d += a * v;
                    }
                }
            }
            if sw > 0.0 {
                o.iter_mut().for_each(|d| *d /= sw);
            }
            wrow[lx] = sw / n;
        }
    });
    let coarse = pull_push(&lc, &lwt, lw, lh, ci);
    let mut out = vec![0.0f32; w * h * ci];
    out.par_chunks_mut(w * ci).enumerate().for_each(|(y, row)| {
        let (y0, y1, ty) = parent_span(y, lh, f);
        for x in 0..w {
            let a = wt[y * w + x].clamp(0.0, 1.0);
            let (x0, x1, tx) = parent_span(x, lw, f);
            for ch in 0..ci {
                let at = |xx: usize, yy: usize| coarse[(yy * lw + xx) * ci + ch];
                let top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * tx;
                let bottom = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * tx;
                let fill = top + (bottom - top) * ty;
                row[x * ci + ch] = a * col[(y * w + x) * ci + ch] + (1.0 - a) * fill;
            }
        }
    });
    out
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

/// Step (px) the radii inside a slice are rounded to.
pub const SLICE_RADIUS_STEP: f32 = 0.25;

/// Tile side for skipping work: slices are computed only in tiles where the result is used.
const TILE: usize = 32;

/// Layered blur of `src` with per-pixel signed CoC `signed` (row-major) into `dst` (packed,
/// the source's channels), computed where `weight` (see [`edge_weight`]) is non-zero (other
/// pixels of `dst` are left as they were); returns the number of slices rendered.
pub(crate) fn blur_layered(
    bundle: &Bundle,
    signed: &[f32],
    weight: &[f32],
    src: &ImageView,
    dst: &mut [f32],
    scratch: &Scratch,
) -> usize {
    let (w, h, c) = (src.width, src.height, src.channels);
    // Working layout: premultiplied colour plus coverage (the alpha channel when there is one).
    let has_alpha = c == 2 || c == 4;
    let ci = if has_alpha { c } else { c + 1 };
    let mut img = vec![0.0f32; w * h * ci];
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
    let (lo, hi) = signed.iter().fold((0.0f32, 0.0f32), |(a, b), &s| (a.min(s), b.max(s)));
    let centres = slice_centres(lo, hi);
    let located: Vec<(usize, f32)> = signed.par_iter().map(|&s| locate(&centres, s)).collect();

    // The tiles where the layered result is used, and each slice's tiles with pixels of its own.
    let mut band = TileMask::new(TILE, w, h);
    let mut owns: Vec<TileMask> = vec![band.clone(); centres.len()];
    for y in 0..h {
        for x in 0..w {
            let tile = (y / TILE) * band.tw + x / TILE;
            if weight[y * w + x] > 0.0 {
                band.on[tile] = true;
            }
            let (j, t) = located[y * w + x];
            for (k, m) in [(j, 1.0 - t), (j + 1, t)] {
                if m > 0.0 && k < centres.len() {
                    owns[k].on[tile] = true;
                }
            }
        }
    }

    let mut acc = vec![0.0f32; w * h * ci];
    let mut trans = vec![1.0f32; w * h];
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
        let reach = crate::render::plan::TapTable::new(bundle, r_max as f64).complex.reach().max(0) as usize;
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
        for comp in components(&active) {
            let Some(out_r) = tile_bounds(&comp, w, h) else { continue };
            // The input region: grown by the reach, its origin on the tile grid.
            let grown = out_r.grow(reach, w, h);
            let in_r = Rect { x0: grown.x0 / TILE * TILE, y0: grown.y0 / TILE * TILE, ..grown };
            let mut region_mask = TileMask::new(TILE, in_r.width(), in_r.height());
            for ty in 0..region_mask.th {
                for tx in 0..region_mask.tw {
                    let (fx, fy) = (tx + in_r.x0 / TILE, ty + in_r.y0 / TILE);
                    region_mask.on[ty * region_mask.tw + tx] = comp.on[fy * comp.tw + fx];
                }
            }
            let (rw, rh) = (in_r.width(), in_r.height());
            if std::env::var_os("SB_DEBUG").is_some() {
                eprintln!("slice {k} c={} out {:?} in {rw}x{rh} reach {reach}", centres[k], out_r);
            }
            // Weights for the fill: mass at slice k or farther.
            // Per pixel of the region: the colour, the weight of what is at slice k or farther (for
            // the fill), the own matte and |CoC| (for the slice's radii).
            let mut wt = vec![0.0f32; rw * rh];
            let mut col = vec![0.0f32; rw * rh * ci];
            let mut own_wt = vec![0.0f32; rw * rh];
            let mut own_r = vec![0.0f32; rw * rh];
            col.par_chunks_mut(rw * ci)
                .zip(wt.par_chunks_mut(rw))
                .zip(own_wt.par_chunks_mut(rw).zip(own_r.par_chunks_mut(rw)))
                .enumerate()
                .for_each(|(y, ((crow, wrow), (orow, rrow)))| {
                    let fy = y + in_r.y0;
                    for x in 0..rw {
                        let f = fy * w + x + in_r.x0;
                        let (j, t) = located[f];
                        let (own, nearer) = masses(j, t, k);
                        wrow[x] = 1.0 - nearer;
                        orow[x] = own;
                        rrow[x] = signed[f].abs();
                        crow[x * ci..x * ci + ci].copy_from_slice(&img[f * ci..f * ci + ci]);
                    }
                });
            let needs_fill = wt.iter().any(|&v| v < 1.0);
            let fill = if needs_fill { pull_push_coarse(&col, &wt, rw, rh, ci, FILL_FACTOR) } else { Vec::new() };
            // The slice's source: own pixels by matte, nearer pixels as filled coverage.
            let mut source = vec![0.0f32; rw * rh * ci];
            source.par_chunks_mut(rw * ci).enumerate().for_each(|(y, row)| {
                for (x, o) in row.chunks_exact_mut(ci).enumerate() {
                    let (fx, fy) = (x + in_r.x0, y + in_r.y0);
                    let (j, t) = located[fy * w + fx];
                    let (m, n) = masses(j, t, k);
                    let i = y * rw + x;
                    for ch in 0..ci {
                        let mut v = m * img[(fy * w + fx) * ci + ch];
                        if n > 0.0 {
                            v += n * fill[i * ci + ch];
                        }
                        o[ch] = v;
                    }
                }
            });
            // The slice's radius per pixel: its own pixels' |CoC|, spread outwards by pull-push so
            // that the slice's blur continues past its silhouette with the radius it has inside.
            // Rounded to SLICE_RADIUS_STEP: the filled radii vary smoothly, and fewer distinct
            // radii give long runs of one tap table (the fast merged-integer loop).
            let mut radii = pull_push_coarse(&own_r, &own_wt, rw, rh, 1, FILL_FACTOR);
            radii.iter_mut().for_each(|r| *r = (*r / SLICE_RADIUS_STEP).round() * SLICE_RADIUS_STEP);
            let mut blurred = vec![0.0f32; rw * rh * ci];
            {
                let sv = ImageView::packed(&source, rw, rh, ci).expect("slice buffer");
                let mut bv = ImageViewMut::packed(&mut blurred, rw, rh, ci).expect("slice buffer");
                run_radii(bundle, &radii, &sv, &mut bv, &region_mask, scratch);
            }
            // Front to back: acc += T·C; T ·= (1 − coverage).
            let (acc_rows, trans_rows) = (acc.par_chunks_mut(w * ci), trans.par_chunks_mut(w));
            acc_rows.zip(trans_rows).enumerate().for_each(|(y, (arow, trow))| {
                if y < out_r.y0 || y >= out_r.y1 {
                    return;
                }
                let by = y - in_r.y0;
                for x in out_r.x0..out_r.x1 {
                    if !comp.on[(y / TILE) * comp.tw + x / TILE] {
                        continue;
                    }
                    let bx = x - in_r.x0;
                    let b = &blurred[(by * rw + bx) * ci..(by * rw + bx) * ci + ci];
                    let tr = trow[x];
                    if tr <= 0.0 {
                        continue;
                    }
                    for ch in 0..ci {
                        arow[x * ci + ch] += tr * b[ch];
                    }
                    trow[x] = tr * (1.0 - b[ci - 1].clamp(0.0, 1.0));
                }
            });
        }
    }
    // Out: drop the added coverage channel (normalising colour by it: the input was opaque).
    dst.par_chunks_mut(w * c).enumerate().for_each(|(y, out)| {
        for (o, a) in out.chunks_exact_mut(c).zip(acc[y * w * ci..(y + 1) * w * ci].chunks_exact(ci)) {
            if has_alpha {
                o.copy_from_slice(a);
            } else {
                let cov = a[c];
                for ch in 0..c {
                    o[ch] = if cov > 1e-6 { a[ch] / cov } else { 0.0 };
                }
            }
        }
    });
    slices
}

/// How much of the layered result to use per pixel: 1 near a depth edge (a jump in signed
/// CoC between neighbouring pixels larger than 1 px or 15 % of the radius), within the band
/// `band_for(r)` px of the larger radius r of the jump (its blur's reach: a jump between small
/// radii needs a narrow band), fading to 0 over another half band. Elsewhere the gather result
/// stands: it is exact inside a surface, and a continuous depth ramp stays free of slice banding.
pub fn edge_weight(signed: &[f32], w: usize, h: usize, band_for: &(dyn Fn(f32) -> usize + Sync)) -> Vec<f32> {
    let jump = |a: f32, b: f32| (a - b).abs() > 1.0f32.max(0.15 * a.abs().max(b.abs()));
    // Each jump pixel's band, rounded up to a multiple of 4 px so that few classes are dilated.
    let mut class = vec![0u32; w * h];
    class.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        for (x, cell) in row.iter_mut().enumerate() {
            let i = y * w + x;
            let mut r = -1.0f32;
            for j in
                [(x + 1 < w).then(|| i + 1), (x > 0).then(|| i - 1), (y + 1 < h).then(|| i + w), (y > 0).then(|| i - w)]
                    .into_iter()
                    .flatten()
            {
                if jump(signed[i], signed[j]) {
                    r = r.max(signed[i].abs().max(signed[j].abs()));
                }
            }
            if r >= 0.0 {
                *cell = (band_for(r).max(1) as u32).div_ceil(4) * 4;
            }
        }
    });
    let mut classes: Vec<u32> = class.iter().copied().filter(|&b| b > 0).collect();
    classes.sort_unstable();
    classes.dedup();
    let mut weight = vec![0.0f32; w * h];
    for b in classes {
        let mask: Vec<f32> = class.par_iter().map(|&c| if c == b { 1.0 } else { 0.0 }).collect();
        let band = b as usize;
        let dilated = box_pass(&box_pass(&mask, w, h, band, true, Reduce::Max), w, h, band, false, Reduce::Max);
        let fade = (band / 2).max(1);
        let soft = box_pass(&box_pass(&dilated, w, h, fade, true, Reduce::Mean), w, h, fade, false, Reduce::Mean);
        weight.par_iter_mut().zip(soft.par_iter()).for_each(|(o, &v)| *o = o.max(v.clamp(0.0, 1.0)));
    }
    weight
}

#[derive(Clone, Copy, PartialEq)]
enum Reduce {
    Max,
    Mean,
}

/// One separable box pass of half-width `r` along rows (`horizontal`) or columns (done as rows
/// of the transposed grid), lines in parallel.
fn box_pass(v: &[f32], w: usize, h: usize, r: usize, horizontal: bool, op: Reduce) -> Vec<f32> {
    if !horizontal {
        return transpose(&box_pass(&transpose(v, w, h), h, w, r, true, op), h, w);
    }
    let mut out = vec![0.0f32; w * h];
    out.par_chunks_mut(w).zip(v.par_chunks(w)).for_each(|(o, line)| box_line(line, o, r, op));
    out
}

/// The `h × w` transpose of a `w × h` grid.
fn transpose(v: &[f32], w: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; w * h];
    out.par_chunks_mut(h).enumerate().for_each(|(x, col)| {
        for (y, o) in col.iter_mut().enumerate() {
            *o = v[y * w + x];
        }
    });
    out
}

fn box_line(line: &[f32], out: &mut [f32], r: usize, op: Reduce) {
    let n = line.len();
    match op {
        Reduce::Mean => {
            // Running sum over the clamped window.
            let mut prefix = vec![0.0f64; n + 1];
            for i in 0..n {
                prefix[i + 1] = prefix[i] + line[i] as f64;
            }
            for (i, o) in out.iter_mut().enumerate() {
                let (a, b) = (i.saturating_sub(r), (i + r + 1).min(n));
                *o = ((prefix[b] - prefix[a]) / (2 * r + 1) as f64) as f32;
            }
        }
        Reduce::Max => {
            // Distance to the nearest set sample along the line, both ways.
            let mut dist = vec![usize::MAX; n];
            let mut last: Option<usize> = None;
            for i in 0..n {
                if line[i] > 0.0 {
                    last = Some(i);
                }
                if let Some(l) = last {
                    dist[i] = i - l;
                }
            }
            last = None;
            for i in (0..n).rev() {
                if line[i] > 0.0 {
                    last = Some(i);
                }
                if let Some(l) = last {
                    dist[i] = dist[i].min(l - i);
                }
            }
            for (o, d) in out.iter_mut().zip(dist) {
                *o = if d <= r { 1.0 } else { 0.0 };
            }
        }
    }
}

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

use super::engine::run_radii;
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

/// Pull-push fill: the weighted average colour of the neighbourhood for every pixel, from
/// weights `wt` (1 = known, 0 = unknown) and colours `col` (`ci` channels), on a `w × h` grid.
pub fn pull_push(col: &[f32], wt: &[f32], w: usize, h: usize, ci: usize) -> Vec<f32> {
    // Level 0: premultiplied by weight.
    let mut levels: Vec<(Vec<f32>, Vec<f32>, usize, usize)> = Vec::new();
    let mut pc: Vec<f32> = col.chunks_exact(ci).zip(wt).flat_map(|(c, &a)| c.iter().map(move |v| v * a)).collect();
    let mut pw = wt.to_vec();
    let (mut lw, mut lh) = (w, h);
    loop {
        levels.push((pc.clone(), pw.clone(), lw, lh));
        if lw == 1 && lh == 1 {
            break;
        }
        let (nw, nh) = (lw.div_ceil(2), lh.div_ceil(2));
        let mut nc = vec![0.0f32; nw * nh * ci];
        let mut nwt = vec![0.0f32; nw * nh];
        for y in 0..lh {
            for x in 0..lw {
                let (i, o) = (y * lw + x, (y / 2) * nw + x / 2);
                nwt[o] += pw[i];
                for c in 0..ci {
                    nc[o * ci + c] += pc[i * ci + c];
                }
            }
        }
        // Clamp the weight at 1 (renormalising the colour with it).
        for o in 0..nw * nh {
            if nwt[o] > 1.0 {
                let s = 1.0 / nwt[o];
                nc[o * ci..o * ci + ci].iter_mut().for_each(|v| *v *= s);
                nwt[o] = 1.0;
            }
        }
        pc = nc;
        pw = nwt;
        lw = nw;
        lh = nh;
    }
    // Push: from the coarsest level down, fill what each level lacks from the one above.
    let (mut up_c, mut up_w, mut uw) = {
        let (c, wt, lw, _) = levels.pop().unwrap();
        (c, wt, lw)
    };
    while let Some((mut c, mut wt, lw, lh)) = levels.pop() {
        for y in 0..lh {
            for x in 0..lw {
                let (i, u) = (y * lw + x, (y / 2) * uw + x / 2);
                let a = wt[i].min(1.0);
                let missing = 1.0 - a;
                if missing > 0.0 && up_w[u] > 0.0 {
                    let s = missing / up_w[u];
                    for ch in 0..ci {
                        c[i * ci + ch] += up_c[u * ci + ch] * s * up_w[u];
                    }
                    wt[i] = a + missing * up_w[u];
                }
            }
        }
        up_c = c;
        up_w = wt;
        uw = lw;
    }
    // Un-premultiply.
    up_c.chunks_exact_mut(ci).zip(&up_w).for_each(|(c, &a)| {
        if a > 0.0 {
            c.iter_mut().for_each(|v| *v /= a);
        }
    });
    up_c
}

/// Layered blur of `src` with per-pixel signed CoC `signed` (row-major) into `dst` (packed,
/// the source's channels); returns the number of slices rendered.
pub fn blur_layered(bundle: &Bundle, signed: &[f32], src: &ImageView, dst: &mut [f32]) -> usize {
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

    // Each slice's own bounding box.
    let mut boxes: Vec<Option<Rect>> = vec![None; centres.len()];
    for y in 0..h {
        for x in 0..w {
            let (j, t) = located[y * w + x];
            for (k, m) in [(j, 1.0 - t), (j + 1, t)] {
                if m > 0.0 && k < centres.len() {
                    let b = boxes[k].get_or_insert(Rect { x0: x, y0: y, x1: x + 1, y1: y + 1 });
                    b.x0 = b.x0.min(x);
                    b.x1 = b.x1.max(x + 1);
                    b.y0 = b.y0.min(y);
                    b.y1 = b.y1.max(y + 1);
                }
            }
        }
    }

    let mut acc = vec![0.0f32; w * h * ci];
    let mut trans = vec![1.0f32; w * h];
    let mut slices = 0;
    for (k, own) in boxes.iter().enumerate() {
        let Some(own) = own else { continue };
        slices += 1;
        let radius = centres[k].abs();
        // Reach of the largest radius this slice uses (its own pixels lie between the
        // neighbouring centres).
        let r_max =
            [k.wrapping_sub(1), k, k + 1].iter().filter_map(|&i| centres.get(i)).fold(radius, |m, c| m.max(c.abs()));
        let reach = crate::render::plan::TapTable::new(bundle, r_max as f64).complex.reach().max(0) as usize;
        let out_r = own.grow(reach, w, h);
        let in_r = out_r.grow(reach, w, h);
        let (rw, rh) = (in_r.width(), in_r.height());
        // Weights for the fill: mass at slice k or farther.
        let mut wt = vec![0.0f32; rw * rh];
        let mut col = vec![0.0f32; rw * rh * ci];
        for y in 0..rh {
            for x in 0..rw {
                let (fx, fy) = (x + in_r.x0, y + in_r.y0);
                let (j, t) = located[fy * w + fx];
                let (_, nearer) = masses(j, t, k);
                let i = y * rw + x;
                wt[i] = 1.0 - nearer;
                col[i * ci..i * ci + ci].copy_from_slice(&img[(fy * w + fx) * ci..(fy * w + fx) * ci + ci]);
            }
        }
        let needs_fill = wt.iter().any(|&v| v < 1.0);
        let fill = if needs_fill { pull_push(&col, &wt, rw, rh, ci) } else { Vec::new() };
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
        let own_wt: Vec<f32> = (0..rw * rh)
            .map(|i| {
                let (j, t) = located[(i / rw + in_r.y0) * w + i % rw + in_r.x0];
                masses(j, t, k).0
            })
            .collect();
        let own_r: Vec<f32> = (0..rw * rh).map(|i| signed[(i / rw + in_r.y0) * w + i % rw + in_r.x0].abs()).collect();
        let radii = pull_push(&own_r, &own_wt, rw, rh, 1);
        let mut blurred = vec![0.0f32; rw * rh * ci];
        {
            let sv = ImageView::packed(&source, rw, rh, ci).expect("slice buffer");
            let mut bv = ImageViewMut::packed(&mut blurred, rw, rh, ci).expect("slice buffer");
            run_radii(bundle, &radii, &sv, &mut bv);
        }
        // Front to back: acc += T·C; T ·= (1 − coverage).
        let (acc_rows, trans_rows) = (acc.par_chunks_mut(w * ci), trans.par_chunks_mut(w));
        acc_rows.zip(trans_rows).enumerate().for_each(|(y, (arow, trow))| {
            if y < out_r.y0 || y >= out_r.y1 {
                return;
            }
            let by = y - in_r.y0;
            for x in out_r.x0..out_r.x1 {
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

/// How much of the layered result to use per pixel: 1 within `band` px of a depth edge (a jump
/// in signed CoC between neighbouring pixels larger than 1 px or 15 % of the radius), fading
/// to 0 over another `band / 2` px. Elsewhere the gather result stands: it is exact inside a
/// surface, and a continuous depth ramp stays free of slice banding.
pub fn edge_weight(signed: &[f32], w: usize, h: usize, band: usize) -> Vec<f32> {
    let jump = |a: f32, b: f32| (a - b).abs() > 1.0f32.max(0.15 * a.abs().max(b.abs()));
    let mut mask = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if (x + 1 < w && jump(signed[i], signed[i + 1])) || (y + 1 < h && jump(signed[i], signed[i + w])) {
                mask[i] = 1.0;
                if x + 1 < w {
                    mask[i + 1] = 1.0;
                }
                if y + 1 < h {
                    mask[i + w] = 1.0;
                }
            }
        }
    }
    let dilated = box_pass(&box_pass(&mask, w, h, band, true, Reduce::Max), w, h, band, false, Reduce::Max);
    let fade = (band / 2).max(1);
    box_pass(&box_pass(&dilated, w, h, fade, true, Reduce::Mean), w, h, fade, false, Reduce::Mean)
        .iter()
        .zip(&dilated)
        .map(|(&soft, &hard)| soft.max(hard * 0.0).clamp(0.0, 1.0))
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Reduce {
    Max,
    Mean,
}

/// One separable box pass of half-width `r` along rows (`horizontal`) or columns.
fn box_pass(v: &[f32], w: usize, h: usize, r: usize, horizontal: bool, op: Reduce) -> Vec<f32> {
    let (n, lines) = if horizontal { (w, h) } else { (h, w) };
    let at = |line: usize, i: usize| if horizontal { line * w + i } else { i * w + line };
    let mut out = vec![0.0f32; w * h];
    for line in 0..lines {
        match op {
            Reduce::Mean => {
                // Running sum over the clamped window.
                let mut prefix = vec![0.0f64; n + 1];
                for i in 0..n {
                    prefix[i + 1] = prefix[i] + v[at(line, i)] as f64;
                }
                for i in 0..n {
                    let (a, b) = (i.saturating_sub(r), (i + r + 1).min(n));
                    out[at(line, i)] = ((prefix[b] - prefix[a]) / (2 * r + 1) as f64) as f32;
                }
            }
            Reduce::Max => {
                // Distance to the nearest set sample along the line, both ways.
                let mut last: Option<usize> = None;
                let mut dist = vec![usize::MAX; n];
                for i in 0..n {
                    if v[at(line, i)] > 0.0 {
                        last = Some(i);
                    }
                    if let Some(l) = last {
                        dist[i] = i - l;
                    }
                }
                last = None;
                for i in (0..n).rev() {
                    if v[at(line, i)] > 0.0 {
                        last = Some(i);
                    }
                    if let Some(l) = last {
                        dist[i] = dist[i].min(l - i);
                    }
                }
                for i in 0..n {
                    out[at(line, i)] = if dist[i] <= r { 1.0 } else { 0.0 };
                }
            }
        }
    }
    out
}

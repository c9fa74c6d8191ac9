//! Small features: what must keep its own circle of confusion whatever lies around it. Two
//! kinds: the pixels of connected groups bordered by depth edges and no larger than
//! [`SPRITE_MAX_PX`] (a light before the sky, a glint, a distant window seen past a post), and
//! highlights — pixels [`HIGHLIGHT_CONTRAST`] times brighter than their surroundings — where the
//! CoC changes across their disc (a street light on a receding road). The layered engine blurs
//! them on a ladder of its own, 1 px of radius apart, each slice at one radius (scatter);
//! surfaces are blurred with per-pixel radii on a coarser ladder (gather, exact inside them).

use super::edges::neighbour;
use crate::image::ImageView;
use rayon::prelude::*;

/// A pixel this many times brighter than its surroundings is a highlight.
pub const HIGHLIGHT_CONTRAST: f32 = 4.0;

/// Distance (px) of the ring of samples that tells a highlight's surroundings (past the rim of
/// a light a few pixels wide).
const RING_PX: usize = 6;

/// CoC change (px) across a highlight's disc beyond which gather would misplace its rim.
const COC_TOLERANCE: f32 = 0.5;

/// Largest group of pixels (8-connected, no depth edge inside) treated as a small feature.
pub const SPRITE_MAX_PX: usize = 1024;

/// When more than 1 / SMALL_SHARE_LIMIT of the frame lies in small groups, only the highlights
/// among them stay small features.
const SMALL_SHARE_LIMIT: usize = 16;

/// The small features of a frame, per pixel (row-major).
pub(crate) struct Features {
    /// In a small group bordered by depth edges.
    pub small: Vec<bool>,
    /// A highlight over which the CoC changes.
    pub highlight: Vec<bool>,
}

/// The small features of a `w × h` frame with signed CoC `signed`, luminance map `lum` and edge
/// masks `edges` ([`super::edges`]).
pub(crate) fn small_features(signed: &[f32], lum: &[f32], edges: &[u8], (w, h): (usize, usize)) -> Features {
    let mut small = small_groups(edges, w, h);
    // A depth map of noise (foliage, a broken Z pass) makes every pixel a small group: past this
    // share of the frame, groups count only where they are highlights, which bounds the work of
    // the 1-px ladder to what is worth it.
    if small.par_iter().filter(|&&s| s).count() > w * h / SMALL_SHARE_LIMIT {
        small.par_iter_mut().enumerate().for_each(|(i, s)| *s = *s && is_highlight(lum, w, h, i % w, i / w));
    }
    let mut highlight = vec![false; w * h];
    highlight.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        for (x, f) in row.iter_mut().enumerate() {
            *f = is_highlight(lum, w, h, x, y) && coc_varies(signed, w, h, x, y);
        }
    });
    Features { small, highlight }
}

/// The luminance of every pixel (see [`super::silhouette::luminance`]), written into `out`
/// (`width × height` values).
pub(crate) fn luminance_into(src: &ImageView, out: &mut [f32]) {
    out.par_chunks_mut(src.width.max(1)).enumerate().for_each(|(y, row)| {
        for (o, p) in row.iter_mut().zip(src.row(y).chunks_exact(src.channels)) {
            *o = super::silhouette::luminance(p);
        }
    });
}

/// The surroundings of pixel (x, y): the pixels of the darker half of eight samples on a ring
/// of [`RING_PX`] (frame edges clamped).
pub(crate) fn surroundings(lum: &[f32], w: usize, h: usize, x: usize, y: usize) -> [usize; 4] {
    let d = RING_PX as i64;
    let at = |dx: i64, dy: i64| {
        let u = (x as i64 + dx).clamp(0, w as i64 - 1) as usize;
        let v = (y as i64 + dy).clamp(0, h as i64 - 1) as usize;
        v * w + u
    };
    let mut ring = [at(d, 0), at(-d, 0), at(0, d), at(0, -d), at(d, d), at(-d, d), at(d, -d), at(-d, -d)];
    ring.sort_by(|&a, &b| lum[a].total_cmp(&lum[b]));
    [ring[0], ring[1], ring[2], ring[3]]
}

/// Whether pixel (x, y) is [`HIGHLIGHT_CONTRAST`] times brighter than its [`surroundings`].
fn is_highlight(lum: &[f32], w: usize, h: usize, x: usize, y: usize) -> bool {
    let l = lum[y * w + x];
    if l <= 0.0 {
        return false;
    }
    // The darker half's mean is at least the darkest sample: most pixels stop here.
    let d = RING_PX;
    let (x0, x1, y0, y1) = (x.saturating_sub(d), (x + d).min(w - 1), y.saturating_sub(d), (y + d).min(h - 1));
    let darkest = [(x0, y0), (x, y0), (x1, y0), (x0, y), (x1, y), (x0, y1), (x, y1), (x1, y1)]
        .iter()
        .map(|&(u, v)| lum[v * w + u])
        .fold(f32::INFINITY, f32::min);
    l > HIGHLIGHT_CONTRAST * darkest
        && l > HIGHLIGHT_CONTRAST * surroundings(lum, w, h, x, y).iter().map(|&i| lum[i]).sum::<f32>() / 4.0
}

/// Whether the CoC of the same surface a radius away from pixel (x, y), in the four axis
/// directions, differs from its own by more than [`COC_TOLERANCE`]. Samples on another surface
/// (a CoC differing by more than a quarter) do not count: the layered blur separates surfaces,
/// and a light on a wall at one depth keeps its radius there.
fn coc_varies(signed: &[f32], w: usize, h: usize, x: usize, y: usize) -> bool {
    let s = signed[y * w + x];
    let d = s.abs().round().max(1.0) as i64;
    [(d, 0), (-d, 0), (0, d), (0, -d)].iter().any(|&(dx, dy)| {
        let u = (x as i64 + dx).clamp(0, w as i64 - 1) as usize;
        let v = (y as i64 + dy).clamp(0, h as i64 - 1) as usize;
        let diff = (signed[v * w + u] - s).abs();
        diff > COC_TOLERANCE && diff <= 0.25 * s.abs() + 1.0
    })
}

/// Per pixel of a `w × h` signed CoC map (row-major): whether it belongs to a small group
/// bordered by depth edges. Searches start only at pixels on a depth edge and stop as soon as a
/// group is known to be large, so the cost follows the edges, not the frame.
fn small_groups(edges: &[u8], w: usize, h: usize) -> Vec<bool> {
    const UNSEEN: u8 = 0;
    const SMALL: u8 = 1;
    const LARGE: u8 = 2;
    let mut state = vec![UNSEEN; w * h];
    // The neighbours of pixel i on its own surface (no depth edge between).
    let neighbours =
        |i: usize| (0..8).filter(move |&k| edges[i] >> k & 1 == 0).filter_map(move |k| neighbour(i, k, (w, h)));
    let (mut group, mut stack) = (Vec::new(), Vec::new());
    // The search that last reached each pixel (seed + 1; 0: none).
    let mut reached = vec![0u32; w * h];
    for seed in 0..w * h {
        if state[seed] != UNSEEN || edges[seed] == 0 {
            continue;
        }
        group.clear();
        stack.clear();
        stack.push(seed);
        let id = seed as u32 + 1;
        reached[seed] = id;
        let mut large = false;
        while let Some(i) = stack.pop() {
            group.push(i);
            if group.len() > SPRITE_MAX_PX {
                large = true;
                break;
            }
            for j in neighbours(i) {
                if reached[j] == id {
                    continue;
                }
                if state[j] == LARGE {
                    large = true;
                    break;
                }
                reached[j] = id;
                stack.push(j);
            }
            if large {
                break;
            }
        }
        let mark = if large { LARGE } else { SMALL };
        for &i in group.iter().chain(&stack) {
            state[i] = mark;
        }
    }
    state.into_iter().map(|s| s == SMALL).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges_of(signed: &[f32], size: (usize, usize)) -> Vec<u8> {
        let mut e = vec![0u8; signed.len()];
        super::super::edges::edge_bits_into(signed, size, &mut e);
        e
    }

    /// A 3×3 light and a 40×40 square before a far background: the light is small, the square
    /// and the background are not.
    #[test]
    fn lights_are_small_and_surfaces_are_not() {
        let (w, h) = (80, 60);
        let mut signed = vec![28.0f32; w * h];
        for y in 10..13 {
            for x in 10..13 {
                signed[y * w + x] = 14.0;
            }
        }
        for y in 15..55 {
            for x in 30..70 {
                signed[y * w + x] = -10.0;
            }
        }
        let small = small_groups(&edges_of(&signed, (w, h)), w, h);
        assert!(small[11 * w + 11] && small[10 * w + 12]);
        assert!(!small[20 * w + 40] && !small[15 * w + 30]);
        assert!(!small[0] && !small[9 * w + 11]);
        assert_eq!(small.iter().filter(|&&s| s).count(), 9);
    }

    /// Depth noise (every pixel its own group) keeps only the highlights as small features.
    #[test]
    fn depth_noise_leaves_only_highlights() {
        let (w, h) = (64, 64);
        // Noise: each pixel one of 16 CoCs 2 px apart (a scrambled index), so groups are tiny.
        let signed: Vec<f32> =
            (0..w * h).map(|i| 5.0 + 2.0 * ((i as u32).wrapping_mul(2654435761) >> 28) as f32).collect();
        let mut lum = vec![0.1f32; w * h];
        lum[30 * w + 30] = 50.0;
        let f = small_features(&signed, &lum, &edges_of(&signed, (w, h)), (w, h));
        assert!(f.small[30 * w + 30]);
        assert_eq!(f.small.iter().filter(|&&s| s).count(), 1);
    }

    /// A continuous ramp with a light on it (same CoC as the ramp there): one surface.
    #[test]
    fn a_light_on_a_ramp_is_part_of_the_ramp() {
        let (w, h) = (64, 64);
        let signed: Vec<f32> = (0..w * h).map(|i| 5.0 + 0.2 * (i / w) as f32).collect();
        assert!(small_groups(&edges_of(&signed, (w, h)), w, h).iter().all(|&s| !s));
    }
}

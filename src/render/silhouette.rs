//! Mixed pixels at silhouettes: the light of a pixel that two surfaces share travels with the
//! CoC of the surface that gave it most of its light.
//!
//! A depth pass stores one depth per pixel (the surface hit at the pixel's centre, say), but the
//! colour of a pixel on a silhouette mixes both surfaces. For a small HDR light before a dark
//! wall, the light's anti-aliased rim (a third of its energy, for a light a few pixels wide) then
//! carries the wall's CoC and spreads as a wide glow round the light's own disc. Each pixel on a
//! depth edge is modelled as `α·other + (1 − α)·own`, with `own` the mean colour of its
//! neighbours on its own surface and `other` the brightest neighbour across the edge; it takes
//! the other surface's CoC when that part holds more of its light, α·L_other > (1 − α)·L_own,
//! and the other is a highlight ([`CONTRAST`] times brighter). Two passes reach the second pixel
//! of a soft rim.

use super::layered::is_jump;
use rayon::prelude::*;

/// Passes over the frame (each reaches one pixel further into a rim).
const PASSES: usize = 2;

/// How much brighter than the pixel's own surface the other must be for the pixel to be read as
/// a mix: only a highlight's rim moves (a textured edge between two ordinary surfaces keeps the
/// depth pass's answer, which is then as likely right as the guess).
const CONTRAST: f32 = 4.0;

/// Reassigns the signed CoC of mixed silhouette pixels of a `w × h` frame whose luminance map is
/// `lum` (see the module doc); returns
/// how many pixels changed. The first pass looks at the pixels beside a depth edge; later passes
/// only at the neighbours of those changed in the pass before, which take their CoC from one of
/// them, so a rim grows outwards from its surface and never oscillates. `edges` holds the
/// frame's edge masks ([`super::edges`]) and is kept up to date as CoCs move.
pub(crate) fn assign_mixed_pixels(signed: &mut [f32], lum: &[f32], (w, h): (usize, usize), edges: &mut [u8]) -> usize {
    // Candidates: pixels with a depth edge among their eight neighbours.
    let mut candidates: Vec<usize> = (0..w * h).into_par_iter().filter(|&i| edges[i] != 0).collect();
    if candidates.is_empty() {
        return 0;
    }
    let mut changed_before: Vec<usize> = Vec::new();
    let mut changed = 0;
    for pass in 0..PASSES {
        // After the first pass, a pixel takes its CoC only from one changed in the pass before.
        let from: std::collections::HashSet<usize> = changed_before.iter().copied().collect();
        let allow = |q: usize| pass == 0 || from.contains(&q);
        let moves: Vec<(usize, f32)> = candidates
            .par_iter()
            .filter(|&&i| edges[i] != 0)
            .filter_map(|&i| mixed_pixel(signed, lum, (w, h), (i % w, i / w), &allow).map(|v| (i, v)))
            .collect();
        if moves.is_empty() {
            break;
        }
        for &(i, v) in &moves {
            signed[i] = v;
        }
        changed += moves.len();
        changed_before = moves.iter().map(|&(i, _)| i).collect();
        super::edges::update(signed, (w, h), edges, &changed_before);
        // Next: the unchanged neighbours of what changed.
        let done: std::collections::HashSet<usize> = changed_before.iter().copied().collect();
        candidates = changed_before
            .iter()
            .flat_map(|&i| {
                let (x, y) = ((i % w) as i64, (i / w) as i64);
                (-1..=1).flat_map(move |dy| (-1..=1).map(move |dx| (x + dx, y + dy)))
            })
            .filter(|&(u, v)| u >= 0 && v >= 0 && u < w as i64 && v < h as i64)
            .map(|(u, v)| v as usize * w + u as usize)
            .filter(|i| !done.contains(i))
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
    }
    changed
}

/// The light of a pixel: the mean of its first three channels (premultiplied colour), or its one
/// channel; non-finite samples as 0.
pub(crate) fn luminance(p: &[f32]) -> f32 {
    let c = p.len().clamp(1, 3);
    let c = if p.len() == 2 { 1 } else { c };
    p[..c].iter().map(|&v| if v.is_finite() { v.max(0.0) } else { 0.0 }).sum::<f32>() / c as f32
}

/// The CoC pixel (x, y) should take, if not its own: that of its brightest neighbour across a
/// depth edge (among those `from` allows) when that surface gave it most of its light. The caller
/// passes only pixels with a depth edge among their neighbours.
fn mixed_pixel(
    signed: &[f32],
    lum: &[f32],
    (w, h): (usize, usize),
    (x, y): (usize, usize),
    from: &dyn Fn(usize) -> bool,
) -> Option<f32> {
    let i = y * w + x;
    let s = signed[i];
    let (x0, x1, y0, y1) = (x.saturating_sub(1), (x + 1).min(w - 1), y.saturating_sub(1), (y + 1).min(h - 1));
    // The brightest neighbour across an edge, and the mean light of the pixel's own surface.
    let (mut other, mut own_sum, mut own_n) = (None::<usize>, 0.0f32, 0usize);
    for q in (y0..=y1).flat_map(|v| (x0..=x1).map(move |u| v * w + u)).filter(|&q| q != i) {
        if !is_jump(s, signed[q]) {
            own_sum += lum[q];
            own_n += 1;
        } else if from(q) && other.map_or(true, |o| lum[q] > lum[o]) {
            other = Some(q);
        }
    }
    let q = other?;
    if own_n == 0 {
        return None;
    }
    let (l_own, l_other, l) = (own_sum / own_n as f32, lum[q], lum[i]);
    if l_other <= CONTRAST * l_own || l <= l_own {
        return None;
    }
    let alpha = ((l - l_own) / (l_other - l_own)).min(1.0);
    (alpha * l_other > (1.0 - alpha) * l_own).then_some(signed[q])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges_of(signed: &[f32], size: (usize, usize)) -> Vec<u8> {
        let mut e = vec![0u8; signed.len()];
        super::super::edges::edge_bits_into(signed, size, &mut e);
        e
    }

    /// A 3×3 light (value 100, CoC 10) with a rim of mixed pixels carrying the wall's CoC (30)
    /// on a dim wall (0.05): the rim takes the light's CoC, the wall keeps its own.
    #[test]
    fn a_light_rim_takes_the_light_coc() {
        let (w, h) = (9, 9);
        let mut img = vec![0.05f32; w * h];
        let mut signed = vec![30.0f32; w * h];
        for y in 3..6 {
            for x in 3..6 {
                img[y * w + x] = 100.0;
                signed[y * w + x] = 10.0;
            }
        }
        // The rim: a quarter covered by the light, depth of the wall.
        for (x, y) in [(2, 4), (6, 4), (4, 2), (4, 6)] {
            img[y * w + x] = 0.25 * 100.0 + 0.75 * 0.05;
        }
        // A second ring: a hundredth covered.
        img[4 * w + 1] = 0.01 * 100.0 + 0.99 * 0.05;
        let mut edges = edges_of(&signed, (w, h));
        let n = assign_mixed_pixels(&mut signed, &img, (w, h), &mut edges);
        for (x, y) in [(2, 4), (6, 4), (4, 2), (4, 6), (1, 4)] {
            assert_eq!(signed[y * w + x], 10.0, "rim pixel ({x}, {y})");
        }
        assert_eq!(n, 5);
        assert_eq!(signed[0], 30.0);
        assert_eq!(signed[4 * w], 30.0);
    }

    /// Where the colour says the pixel is its own surface's, nothing changes: a dark post edge
    /// pixel whose colour is the post's.
    #[test]
    fn a_pixel_of_its_own_colour_keeps_its_coc() {
        let (w, h) = (6, 3);
        let img: Vec<f32> = (0..w * h).map(|i| if i % w < 3 { 0.1 } else { 0.5 }).collect();
        let mut signed: Vec<f32> = (0..w * h).map(|i| if i % w < 3 { -20.0 } else { 5.0 }).collect();
        let before = signed.clone();
        let mut edges = edges_of(&signed, (w, h));
        assert_eq!(assign_mixed_pixels(&mut signed, &img, (w, h), &mut edges), 0);
        assert_eq!(signed, before);
    }
}

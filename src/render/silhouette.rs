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
use crate::image::ImageView;
use rayon::prelude::*;

/// Passes over the frame (each reaches one pixel further into a rim).
const PASSES: usize = 2;

/// How much brighter than the pixel's own surface the other must be for the pixel to be read as
/// a mix: only a highlight's rim moves (a textured edge between two ordinary surfaces keeps the
/// depth pass's answer, which is then as likely right as the guess).
const CONTRAST: f32 = 4.0;

/// Reassigns the signed CoC of mixed silhouette pixels of `src` (see the module doc); returns
/// how many pixels changed. A pixel changes at most once; after the first pass, only pixels
/// next to one changed in the pass before are looked at, and they take their CoC from one of
/// those, so a rim grows outwards from its surface and never oscillates.
pub(crate) fn assign_mixed_pixels(signed: &mut [f32], src: &ImageView) -> usize {
    let (w, h) = (src.width, src.height);
    let lum: Vec<f32> = (0..h)
        .into_par_iter()
        .flat_map_iter(|y| src.row(y).chunks_exact(src.channels).map(luminance).collect::<Vec<_>>())
        .collect();
    // 0: unchanged; k: changed in pass k.
    let mut pass_of = vec![0u8; w * h];
    let mut changed = 0;
    for pass in 1..=PASSES as u8 {
        let before = signed.to_vec();
        let prev = pass_of.clone();
        let n: usize = signed
            .par_chunks_mut(w)
            .zip(pass_of.par_chunks_mut(w))
            .enumerate()
            .map(|(y, (row, marks))| {
                let mut n = 0;
                for x in 0..w {
                    if marks[x] != 0 {
                        continue;
                    }
                    let from = |q: usize| pass == 1 || prev[q] == pass - 1;
                    if let Some(v) = mixed_pixel(&before, &lum, (w, h), (x, y), &from) {
                        row[x] = v;
                        marks[x] = pass;
                        n += 1;
                    }
                }
                n
            })
            .sum();
        changed += n;
        if n == 0 {
            break;
        }
    }
    changed
}

/// The light of a pixel: the mean of its first three channels (premultiplied colour), or its one
/// channel; non-finite samples as 0.
pub(crate) fn luminance(p: &[f32]) -> f32 {
    let c = p.len().min(3).max(1);
    let c = if p.len() == 2 { 1 } else { c };
    p[..c].iter().map(|&v| if v.is_finite() { v.max(0.0) } else { 0.0 }).sum::<f32>() / c as f32
}

/// The CoC pixel (x, y) should take, if not its own: that of its brightest neighbour across a
/// depth edge (among those `from` allows) when that surface gave it most of its light.
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
    // Most pixels are inside a surface: no edge among their neighbours.
    let any_edge = (y0..=y1).any(|v| (x0..=x1).any(|u| is_jump(s, signed[v * w + u])));
    if !any_edge {
        return None;
    }
    // The brightest neighbour across an edge, and the mean light of the pixel's own surface.
    let (mut other, mut own_sum, mut own_n) = (None::<usize>, 0.0f32, 0usize);
    for q in (y0..=y1).flat_map(|v| (x0..=x1).map(move |u| v * w + u)).filter(|&q| q != i) {
        if !is_jump(s, signed[q]) {
            own_sum += lum[q];
            own_n += 1;
        } else if from(q) && other.is_none_or(|o| lum[q] > lum[o]) {
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
        let view = ImageView::packed(&img, w, h, 1).unwrap();
        let n = assign_mixed_pixels(&mut signed, &view);
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
        let view = ImageView::packed(&img, w, h, 1).unwrap();
        assert_eq!(assign_mixed_pixels(&mut signed, &view), 0);
        assert_eq!(signed, before);
    }
}

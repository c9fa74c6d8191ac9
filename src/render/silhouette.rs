//! Mixed pixels at silhouettes: the light of a pixel that two surfaces share travels with the
//! CoC of the surface that gave it most of its light.
//!
//! A depth pass stores one depth per pixel (the surface hit at the pixel's centre, say), but the
//! colour of a pixel on a silhouette mixes both surfaces. For a small HDR light before a dark
//! wall, the light's anti-aliased rim (a third of its energy, for a light a few pixels wide) then
//! carries the wall's CoC and spreads as a wide glow round the light's own disc. Each pixel on a
//! depth edge is modelled as `α·other + (1 − α)·own`, with `own` the mean colour of its
//! neighbours on its own surface and `other` the brightest neighbour across the edge; it takes
//! the other surface's CoC when that part holds more of its light, α·L_other > (1 − α)·L_own.
//! Two passes reach the second pixel of a soft rim.

use super::layered::is_jump;
use crate::image::ImageView;
use rayon::prelude::*;

/// Passes over the frame (each reaches one pixel further into a rim).
const PASSES: usize = 2;

/// Reassigns the signed CoC of mixed silhouette pixels of `src` (see the module doc); returns
/// how many pixels changed.
pub(crate) fn assign_mixed_pixels(signed: &mut [f32], src: &ImageView) -> usize {
    let (w, h) = (src.width, src.height);
    let lum: Vec<f32> = (0..h)
        .into_par_iter()
        .flat_map_iter(|y| src.row(y).chunks_exact(src.channels).map(|p| luminance(p)).collect::<Vec<_>>())
        .collect();
    let mut changed = 0;
    for _ in 0..PASSES {
        let before = signed.to_vec();
        let n: usize = signed
            .par_chunks_mut(w)
            .enumerate()
            .map(|(y, row)| {
                let mut n = 0;
                for (x, s) in row.iter_mut().enumerate() {
                    if let Some(v) = mixed_pixel(&before, &lum, w, h, x, y) {
                        *s = v;
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
fn luminance(p: &[f32]) -> f32 {
    let c = p.len().min(3).max(1);
    let c = if p.len() == 2 { 1 } else { c };
    p[..c].iter().map(|&v| if v.is_finite() { v.max(0.0) } else { 0.0 }).sum::<f32>() / c as f32
}

/// The CoC pixel (x, y) should take, if not its own.
fn mixed_pixel(signed: &[f32], lum: &[f32], w: usize, h: usize, x: usize, y: usize) -> Option<f32> {
    let i = y * w + x;
    let s = signed[i];
    let neighbours = (-1i64..=1)
        .flat_map(|dy| (-1i64..=1).map(move |dx| (dx, dy)))
        .filter(|&(dx, dy)| (dx, dy) != (0, 0))
        .map(|(dx, dy)| (x as i64 + dx, y as i64 + dy))
        .filter(|&(u, v)| u >= 0 && v >= 0 && u < w as i64 && v < h as i64)
        .map(|(u, v)| v as usize * w + u as usize);
    // The brightest neighbour across an edge, and the mean light of the pixel's own surface.
    let (mut other, mut own_sum, mut own_n) = (None::<usize>, 0.0f32, 0usize);
    for q in neighbours {
        if is_jump(s, signed[q]) {
            if other.is_none_or(|o| lum[q] > lum[o]) {
                other = Some(q);
            }
        } else {
            own_sum += lum[q];
            own_n += 1;
        }
    }
    let q = other?;
    if own_n == 0 {
        return None;
    }
    let (l_own, l_other, l) = (own_sum / own_n as f32, lum[q], lum[i]);
    if l_other <= l_own || l <= l_own {
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

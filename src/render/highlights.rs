//! Highlights on a surface whose CoC changes across their disc (a street light on a receding
//! road): gather would spread a light with the radius of the pixels around it, an egg instead of
//! a disc. Their light above the surface's is taken out of the frame ([`split`]), the rest is
//! blurred as usual, and the excess is scattered on top at each light's own radius
//! ([`super::layered::scatter_add`]).

use super::sprites::surroundings;
use crate::image::{Image, ImageView};
use rayon::prelude::*;

/// The frame (`lum`: its luminance map) with each highlight pixel of `mask` replaced by its surroundings' mean colour, and
/// the excess taken out: (pixel index, colour above the surroundings, as many channels as the
/// frame; coverage unchanged). `buf` holds `w × h × channels` floats (its contents are
/// overwritten).
pub(crate) fn split(src: &ImageView, lum: &[f32], mask: &[bool], buf: Vec<f32>) -> (Image, Vec<(usize, [f32; 4])>) {
    let (w, h, c) = (src.width, src.height, src.channels);
    let mut rest = Image { width: w, height: h, channels: c, data: buf };
    rest.data.par_chunks_mut(w * c).enumerate().for_each(|(y, row)| row.copy_from_slice(&src.row(y)[..w * c]));
    let colour_channels = if c == 2 || c == 4 { c - 1 } else { c };
    let excess: Vec<(usize, [f32; 4])> = (0..w * h)
        .into_par_iter()
        .filter(|&i| mask[i])
        .map(|i| {
            let around = surroundings(lum, w, h, i % w, i / w);
            let mut e = [0.0f32; 4];
            for (ch, e) in e.iter_mut().enumerate().take(colour_channels) {
                let base = around.iter().map(|&q| rest.data[q * c + ch]).sum::<f32>() / 4.0;
                let v = rest.data[i * c + ch];
                *e = if v.is_finite() { (v - base).max(0.0) } else { 0.0 };
            }
            (i, e)
        })
        .collect();
    for &(i, e) in &excess {
        rest.data[i * c..i * c + colour_channels].iter_mut().zip(&e).for_each(|(v, e)| *v -= e);
    }
    (rest, excess)
}

//! The low-rank separable baseline renderer: a dense kernel approximated by `r` separable terms
//! (see [`crate::fit::baseline::lowrank`]), each applied as a horizontal pass and a vertical pass,
//! the terms summed. `r · 2 · (2h+1)` taps per pixel.
//!
//! Boundaries are edge-replicated like the engine's and [`super::dense::convolve_clamped`]'s:
//! clamping is separable, so clamping x in the horizontal pass and y in the vertical pass gives
//! exactly the convolution of the edge-replicated frame. Non-finite samples count as 0.
//!
//! Threading: rayon over rows in the horizontal pass and over bands of rows in the vertical pass;
//! each output value is computed by one fixed sequence of operations, so the pixels do not depend
//! on the thread count.

use super::RenderError;
use crate::fit::baseline::separable_factors;
use crate::image::{ImageView, ImageViewMut};
use crate::kernel::psf::Grid;
use rayon::prelude::*;

/// Output rows per parallel task in the vertical pass.
const BAND_ROWS: usize = 16;
/// Floats per column strip in the vertical pass (the band's source rows stay in L2).
const STRIP: usize = 1024;

/// A rank-r separable filter, ready to render frames (holds its scratch frame between calls).
#[derive(Clone, Debug)]
pub struct LowRankFilter {
    /// `(column, row)` filter pairs, index `k` meaning offset `k − half`.
    terms: Vec<(Vec<f32>, Vec<f32>)>,
    half: usize,
    scratch: Vec<f32>,
    /// Vertical-pass tiling: output rows per task and floats per column strip.
    band_rows: usize,
    strip: usize,
}

impl LowRankFilter {
    /// A filter from `(column, row)` pairs, all of the same odd length `2·half + 1`:
    /// `K(dx, dy) = Σ column[dy + half] · row[dx + half]`.
    pub fn new(terms: Vec<(Vec<f32>, Vec<f32>)>) -> Result<LowRankFilter, RenderError> {
        let len = terms.first().map_or(1, |t| t.0.len());
        if len % 2 == 0 || terms.iter().any(|(c, r)| c.len() != len || r.len() != len) {
            return Err(RenderError::Mismatch(format!(
                "separable filters must all have the same odd length (the first has {len})"
            )));
        }
        if terms.iter().any(|(c, r)| c.iter().chain(r).any(|v| !v.is_finite())) {
            return Err(RenderError::Mismatch("separable filter with a non-finite tap".into()));
        }
        Ok(LowRankFilter { terms, half: len / 2, scratch: Vec::new(), band_rows: BAND_ROWS, strip: STRIP })
    }

    /// The rank-`rank` separable approximation of `kernel`.
    pub fn from_kernel(kernel: &Grid, rank: usize) -> LowRankFilter {
        LowRankFilter::new(separable_factors(kernel, rank)).expect("SVD factors have the kernel's odd side")
    }

    /// Overrides the vertical pass's tiling (for tuning; results do not depend on it).
    pub fn set_tiling(&mut self, band_rows: usize, strip: usize) {
        self.band_rows = band_rows.max(1);
        self.strip = strip.max(1);
    }

    pub fn rank(&self) -> usize {
        self.terms.len()
    }

    /// Taps per pixel: `rank · 2 · (2·half + 1)`.
    pub fn taps_per_pixel(&self) -> usize {
        self.terms.len() * 2 * (2 * self.half + 1)
    }

    /// The dense kernel this filter applies (the sum of its outer products), in f64.
    pub fn kernel(&self) -> Grid {
        let h = self.half as i32;
        let mut g = Grid::zeros(h);
        let side = g.side();
        for (c, r) in &self.terms {
            for (i, cv) in c.iter().enumerate() {
                for (j, rv) in r.iter().enumerate() {
                    g.data[i * side + j] += *cv as f64 * *rv as f64;
                }
            }
        }
        g
    }

    /// Filters `src` into `dst` (same size and channels; 1 to 4 channels).
    pub fn render(&mut self, src: &ImageView, dst: &mut ImageViewMut) -> Result<(), RenderError> {
        if src.width != dst.width || src.height != dst.height || src.channels != dst.channels {
            return Err(RenderError::Mismatch(format!(
                "source is {}×{}×{} but the output is {}×{}×{}",
                src.width, src.height, src.channels, dst.width, dst.height, dst.channels
            )));
        }
        let (w, h, c) = (src.width, src.height, src.channels);
        let row_len = w * c;
        self.scratch.resize(row_len * h, 0.0);
        let (half, band_rows, strip) = (self.half, self.band_rows, self.strip);
        let mut dst_rows = dst.rows_mut();
        for (term, (col, row)) in self.terms.iter().enumerate() {
            // Horizontal pass: scratch(x, y) = Σ_dx row[dx + half] · src(clamp(x − dx), y).
            self.scratch.par_chunks_mut(row_len).enumerate().for_each_init(
                || vec![0.0f32; (w + 2 * half) * c],
                |padded, (y, out)| {
                    let s = src.row(y);
                    for (i, px) in padded.chunks_exact_mut(c).enumerate() {
                        let sx = (i as isize - half as isize).clamp(0, w as isize - 1) as usize;
                        for (p, v) in px.iter_mut().zip(&s[sx * c..sx * c + c]) {
                            *p = if v.is_finite() { *v } else { 0.0 };
                        }
                    }
                    out.iter_mut().for_each(|o| *o = 0.0);
                    // dx = k − half reads padded index x − dx + half = x + 2·half − k.
                    let src_at = |k: usize| &padded[(2 * half - k) * c..(2 * half - k) * c + row_len];
                    accumulate_taps(out, row, src_at);
                },
            );
            // Vertical pass: dst(x, y) (+)= Σ_dy column[dy + half] · scratch(x, clamp(y − dy)).
            let scratch = &self.scratch;
            dst_rows.par_chunks_mut(band_rows).enumerate().for_each_init(
                || vec![0.0f32; strip],
                |acc, (band, rows)| {
                    for x0 in (0..row_len).step_by(strip) {
                        let x1 = (x0 + strip).min(row_len);
                        let acc = &mut acc[..x1 - x0];
                        for (dy_row, out) in rows.iter_mut().enumerate() {
                            let y = band * band_rows + dy_row;
                            acc.iter_mut().for_each(|a| *a = 0.0);
                            let src_at = |k: usize| {
                                let sy = (y as isize + half as isize - k as isize).clamp(0, h as isize - 1) as usize;
                                &scratch[sy * row_len + x0..sy * row_len + x1]
                            };
                            accumulate_taps(acc, col, src_at);
                            let out = &mut out[x0..x1];
                            if term == 0 {
                                out.copy_from_slice(acc);
                            } else {
                                out.iter_mut().zip(acc.iter()).for_each(|(o, a)| *o += a);
                            }
                        }
                    }
                },
            );
        }
        if self.terms.is_empty() {
            dst_rows.iter_mut().for_each(|r| r.iter_mut().for_each(|v| *v = 0.0));
        }
        Ok(())
    }
}

/// `out[i] += Σ_k taps[k] · src_at(k)[i]`, four taps per sweep over `out` (fewer loads and
/// stores per multiply-add than one tap at a time), each step a fused multiply-add.
fn accumulate_taps<'s>(out: &mut [f32], taps: &[f32], src_at: impl Fn(usize) -> &'s [f32]) {
    let n = out.len();
    let mut k = 0;
    while k + 4 <= taps.len() {
        let (f0, f1, f2, f3) = (taps[k], taps[k + 1], taps[k + 2], taps[k + 3]);
        let (a, b, c, d) = (&src_at(k)[..n], &src_at(k + 1)[..n], &src_at(k + 2)[..n], &src_at(k + 3)[..n]);
        for ((((o, a), b), c), d) in out.iter_mut().zip(a).zip(b).zip(c).zip(d) {
            *o = f3.mul_add(*d, f2.mul_add(*c, f1.mul_add(*b, f0.mul_add(*a, *o))));
        }
        k += 4;
    }
    while k < taps.len() {
        let f = taps[k];
        for (o, a) in out.iter_mut().zip(&src_at(k)[..n]) {
            *o = f.mul_add(*a, *o);
        }
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::baseline::rng::SplitMix64;
    use crate::image::Image;
    use crate::render::dense::convolve_clamped;

    fn disc(half: i32, r: f64) -> Grid {
        crate::kernel::psf::hard_disc(half, r)
    }

    fn noise(w: usize, h: usize, c: usize, seed: u64) -> Image {
        let mut r = SplitMix64::new(seed);
        let mut img = Image::new(w, h, c);
        img.data.iter_mut().for_each(|v| *v = r.uniform(0.0, 2.0) as f32);
        img
    }

    #[test]
    fn matches_dense_convolution_with_the_reconstructed_kernel() {
        for &(w, h, c, half, rank) in &[(37, 23, 4, 5, 2), (19, 41, 1, 7, 3), (9, 6, 3, 6, 1), (1300, 20, 2, 3, 2)] {
            let k = disc(half, half as f64 - 0.3);
            let mut f = LowRankFilter::from_kernel(&k, rank);
            assert_eq!(f.rank(), rank);
            assert_eq!(f.taps_per_pixel(), rank * 2 * (2 * half as usize + 1));
            let src = noise(w, h, c, w as u64);
            let mut out = Image::new(w, h, c);
            f.render(&src.view(), &mut out.view_mut()).unwrap();
            let want = convolve_clamped(&src.view(), &f.kernel());
            let err = out.data.iter().zip(&want.data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(err <= 1e-4, "{w}×{h}×{c} half {half} rank {rank}: max error {err}");
        }
    }

    #[test]
    fn bottom_up_views_non_finite_input_and_thread_count() {
        let (w, h, c) = (31, 17, 4);
        let k = disc(4, 4.0);
        let mut f = LowRankFilter::from_kernel(&k, 2);
        let mut src = noise(w, h, c, 5);
        src.data[7] = f32::NAN;
        src.data[100] = f32::INFINITY;
        let mut clean = src.clone();
        clean.data[7] = 0.0;
        clean.data[100] = 0.0;
        let want = convolve_clamped(&clean.view(), &f.kernel());
        // The same frame stored bottom-up (negative stride).
        let mut flipped = Vec::new();
        for y in (0..h).rev() {
            flipped.extend_from_slice(&src.data[y * w * c..(y + 1) * w * c]);
        }
        let stride = -((w * c * 4) as isize);
        let view = ImageView::new(&flipped, w, h, c, stride).unwrap();
        let mut out_buf = vec![0.0f32; w * h * c];
        f.render(&view, &mut ImageViewMut::new(&mut out_buf, w, h, c, stride).unwrap()).unwrap();
        for y in 0..h {
            let got = &out_buf[(h - 1 - y) * w * c..(h - y) * w * c];
            for (a, b) in got.iter().zip(&want.data[y * w * c..(y + 1) * w * c]) {
                assert!((a - b).abs() <= 1e-4);
            }
        }
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let mut single = Image::new(w, h, c);
        one.install(|| f.render(&src.view(), &mut single.view_mut())).unwrap();
        let mut multi = Image::new(w, h, c);
        f.render(&src.view(), &mut multi.view_mut()).unwrap();
        assert_eq!(single, multi);
        let mut wrong = Image::new(w, h + 1, c);
        assert!(f.render(&src.view(), &mut wrong.view_mut()).is_err());
    }
}

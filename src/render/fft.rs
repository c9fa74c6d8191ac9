//! FFT convolution of a frame with a dense kernel: the method users reach for for a fixed blur,
//! kept as the baseline the engine is benchmarked against.
//!
//! The frame is extended by edge replication (ARCHITECTURE.md "Borders and quantisation") by `half` pixels on every side into a
//! padded array of an FFT-friendly size (even, factors 2, 3, 5, 7 only) at least `w + 2·half` by
//! `h + 2·half`, so the circular convolution equals the linear one on the frame:
//! `out(p) = Σ_d k(d) · in(clamp(p − d))`, exactly like [`super::dense::convolve_clamped`].
//!
//! 2-D real FFT: real-to-complex transforms of the rows (`realfft`), then complex transforms of
//! the `pw/2 + 1` columns (`rustfft`) after a blocked transpose so each column is contiguous; the
//! product with the kernel's spectrum (computed once, scaled by `1/(pw·ph)`) is taken per column
//! before the inverse column transform; then transpose back and complex-to-real rows. All
//! channels go through the same passes. Plans, the kernel spectrum and the work buffers live in
//! [`FftConvolver`] and are reused across frames; rayon splits every pass over rows or columns.

use super::RenderError;
use crate::image::{ImageView, ImageViewMut};
use crate::kernel::psf::Grid;
use rayon::prelude::*;
use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// Columns (or rows) moved per task in the transposes.
const TRANSPOSE_BLOCK: usize = 16;
/// Columns transformed per task.
const COLUMN_BATCH: usize = 8;

/// The smallest even size ≥ `n` whose only prime factors are 2, 3, 5 and 7.
pub fn fft_size(n: usize) -> usize {
    let mut m = n.max(2);
    loop {
        if m % 2 == 0 {
            let mut r = m;
            for p in [2, 3, 5, 7] {
                while r % p == 0 {
                    r /= p;
                }
            }
            if r == 1 {
                return m;
            }
        }
        m += 1;
    }
}

/// A planned FFT convolution of `width × height` frames (1 to 4 channels) with one kernel.
pub struct FftConvolver {
    width: usize,
    height: usize,
    half: usize,
    /// Padded size: `pw` columns, `ph` rows; `wc = pw/2 + 1` complex bins per row.
    pw: usize,
    ph: usize,
    wc: usize,
    row_fwd: Arc<dyn RealToComplex<f32>>,
    row_inv: Arc<dyn ComplexToReal<f32>>,
    col_fwd: Arc<dyn Fft<f32>>,
    col_inv: Arc<dyn Fft<f32>>,
    /// The kernel's 2-D spectrum, column-major (`wc` columns of `ph`), scaled by `1/(pw·ph)`.
    spectrum: Vec<Complex32>,
    /// Row-major spectra: `ph` rows of `channels · wc` bins.
    rows: Vec<Complex32>,
    /// Column-major spectra: `channels · wc` columns of `ph` bins.
    cols: Vec<Complex32>,
}

impl FftConvolver {
    /// Plans the transforms for `width × height` frames and computes the kernel's spectrum.
    pub fn new(kernel: &Grid, width: usize, height: usize) -> Result<FftConvolver, RenderError> {
        if width == 0 || height == 0 || kernel.half < 0 {
            return Err(RenderError::Mismatch(format!("cannot plan an FFT blur of a {width}×{height} frame")));
        }
        if kernel.data.iter().any(|v| !v.is_finite()) {
            return Err(RenderError::Mismatch("the FFT blur kernel has a non-finite value".into()));
        }
        let half = kernel.half as usize;
        let (pw, ph) = (fft_size(width + 2 * half), fft_size(height + 2 * half));
        if (pw as u128) * (ph as u128) * 8 > (isize::MAX as u128) / 64 {
            return Err(RenderError::TooLarge(pw as u128 * ph as u128));
        }
        let wc = pw / 2 + 1;
        let mut real_planner = RealFftPlanner::<f32>::new();
        let mut planner = FftPlanner::<f32>::new();
        let mut conv = FftConvolver {
            width,
            height,
            half,
            pw,
            ph,
            wc,
            row_fwd: real_planner.plan_fft_forward(pw),
            row_inv: real_planner.plan_fft_inverse(pw),
            col_fwd: planner.plan_fft_forward(ph),
            col_inv: planner.plan_fft_inverse(ph),
            spectrum: Vec::new(),
            rows: Vec::new(),
            cols: Vec::new(),
        };
        // The kernel at circular offsets, scaled so the unnormalised inverse gives the convolution.
        let scale = 1.0 / (pw as f64 * ph as f64);
        let mut real = vec![0.0f32; pw];
        let mut scratch = conv.row_fwd.make_scratch_vec();
        let mut rows = vec![Complex32::new(0.0, 0.0); ph * wc];
        let h = kernel.half;
        for dy in -h..=h {
            real.iter_mut().for_each(|v| *v = 0.0);
            for dx in -h..=h {
                real[dx.rem_euclid(pw as i32) as usize] = (kernel.get(dx, dy) * scale) as f32;
            }
            let i = dy.rem_euclid(ph as i32) as usize;
            conv.row_fwd.process_with_scratch(&mut real, &mut rows[i * wc..(i + 1) * wc], &mut scratch).expect("sizes");
        }
        let mut spectrum = vec![Complex32::new(0.0, 0.0); wc * ph];
        transpose(&rows, &mut spectrum, ph, wc);
        let mut scratch = vec![Complex32::new(0.0, 0.0); conv.col_fwd.get_inplace_scratch_len()];
        for col in spectrum.chunks_exact_mut(ph) {
            conv.col_fwd.process_with_scratch(col, &mut scratch);
        }
        conv.spectrum = spectrum;
        Ok(conv)
    }

    /// The padded transform size `(columns, rows)`.
    pub fn padded_size(&self) -> (usize, usize) {
        (self.pw, self.ph)
    }

    /// Convolves `src` into `dst` (both of the planned size, same channels, 1 to 4).
    pub fn convolve(&mut self, src: &ImageView, dst: &mut ImageViewMut) -> Result<(), RenderError> {
        if src.width != self.width || src.height != self.height {
            return Err(RenderError::Mismatch(format!(
                "the FFT blur was planned for {}×{} frames, not {}×{}",
                self.width, self.height, src.width, src.height
            )));
        }
        if dst.width != src.width || dst.height != src.height || dst.channels != src.channels {
            return Err(RenderError::Mismatch(format!(
                "source is {}×{}×{} but the output is {}×{}×{}",
                src.width, src.height, src.channels, dst.width, dst.height, dst.channels
            )));
        }
        let (w, h, c) = (self.width, self.height, src.channels);
        let (pw, ph, wc, half) = (self.pw, self.ph, self.wc, self.half);
        let stride = c * wc;
        self.rows.resize(ph * stride, Complex32::new(0.0, 0.0));
        self.cols.resize(ph * stride, Complex32::new(0.0, 0.0));

        // 1. Rows of the edge-replicated frame, forward real transforms.
        let row_fwd = &self.row_fwd;
        self.rows.par_chunks_mut(stride).enumerate().for_each_init(
            || (vec![0.0f32; pw], row_fwd.make_scratch_vec()),
            |(real, scratch), (i, out)| {
                let s = src.row((i as isize - half as isize).clamp(0, h as isize - 1) as usize);
                for ch in 0..c {
                    for (j, v) in real.iter_mut().enumerate() {
                        let x = (j as isize - half as isize).clamp(0, w as isize - 1) as usize;
                        let s = s[x * c + ch];
                        *v = if s.is_finite() { s } else { 0.0 };
                    }
                    row_fwd.process_with_scratch(real, &mut out[ch * wc..(ch + 1) * wc], scratch).expect("sizes");
                }
            },
        );

        // 2. Columns: transpose, forward, times the kernel's spectrum, inverse, transpose back.
        transpose(&self.rows, &mut self.cols, ph, stride);
        let (col_fwd, col_inv, spectrum) = (&self.col_fwd, &self.col_inv, &self.spectrum);
        let scratch_len = col_fwd.get_inplace_scratch_len().max(col_inv.get_inplace_scratch_len());
        self.cols.par_chunks_mut(COLUMN_BATCH * ph).enumerate().for_each_init(
            || vec![Complex32::new(0.0, 0.0); scratch_len],
            |scratch, (b, block)| {
                col_fwd.process_with_scratch(block, scratch);
                for (k, col) in block.chunks_exact_mut(ph).enumerate() {
                    let bin = (b * COLUMN_BATCH + k) % wc;
                    for (v, s) in col.iter_mut().zip(&spectrum[bin * ph..(bin + 1) * ph]) {
                        *v *= s;
                    }
                }
                col_inv.process_with_scratch(block, scratch);
            },
        );
        transpose(&self.cols, &mut self.rows, stride, ph);

        // 3. Inverse real transforms of the rows that land on the frame.
        let row_inv = &self.row_inv;
        let mut dst_rows = dst.rows_mut();
        self.rows[half * stride..(half + h) * stride]
            .par_chunks_mut(stride)
            .zip(dst_rows.par_iter_mut())
            .for_each_init(
                || (vec![0.0f32; pw], row_inv.make_scratch_vec()),
                |(real, scratch), (spec, out)| {
                    for ch in 0..c {
                        let bins = &mut spec[ch * wc..(ch + 1) * wc];
                        // A real signal's spectrum is real at DC and at the Nyquist bin (pw is even).
                        bins[0].im = 0.0;
                        bins[wc - 1].im = 0.0;
                        row_inv.process_with_scratch(bins, real, scratch).expect("sizes");
                        for (x, v) in real[half..half + w].iter().enumerate() {
                            out[x * c + ch] = *v;
                        }
                    }
                },
            );
        Ok(())
    }
}

/// `dst` (`n_cols` rows of `n_rows`) = the transpose of `src` (`n_rows` rows of `n_cols`), in
/// parallel blocks of destination rows.
fn transpose(src: &[Complex32], dst: &mut [Complex32], n_rows: usize, n_cols: usize) {
    debug_assert_eq!(src.len(), n_rows * n_cols);
    dst[..n_rows * n_cols].par_chunks_mut(TRANSPOSE_BLOCK * n_rows).enumerate().for_each(|(b, block)| {
        let k0 = b * TRANSPOSE_BLOCK;
        let kn = block.len() / n_rows;
        for i0 in (0..n_rows).step_by(TRANSPOSE_BLOCK) {
            let i1 = (i0 + TRANSPOSE_BLOCK).min(n_rows);
            for k in 0..kn {
                let out = &mut block[k * n_rows..(k + 1) * n_rows];
                for i in i0..i1 {
                    out[i] = src[i * n_cols + k0 + k];
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::baseline::rng::SplitMix64;
    use crate::image::Image;
    use crate::render::dense::convolve_clamped;

    fn random_kernel(half: i32, seed: u64) -> Grid {
        let mut r = SplitMix64::new(seed);
        let mut g = Grid::zeros(half);
        g.data.iter_mut().for_each(|v| *v = r.next_f64());
        let s = g.sum();
        g.data.iter_mut().for_each(|v| *v /= s);
        g
    }

    #[test]
    fn fft_sizes_are_even_and_seven_smooth() {
        assert_eq!(fft_size(1), 2);
        assert_eq!(fft_size(11), 12);
        assert_eq!(fft_size(1984), 2000);
        assert_eq!(fft_size(1144), 1152);
        assert_eq!(fft_size(127), 128);
        assert_eq!(fft_size(123), 126);
    }

    #[test]
    fn matches_dense_convolution() {
        for &(w, h, c, half) in &[(40, 27, 4, 6), (13, 9, 1, 3), (8, 31, 3, 10), (25, 25, 2, 0)] {
            let k = random_kernel(half, half as u64 + 1);
            let mut r = SplitMix64::new(w as u64);
            let mut src = Image::new(w, h, c);
            src.data.iter_mut().for_each(|v| *v = r.uniform(0.0, 4.0) as f32);
            let mut fft = FftConvolver::new(&k, w, h).unwrap();
            let mut out = Image::new(w, h, c);
            fft.convolve(&src.view(), &mut out.view_mut()).unwrap();
            let want = convolve_clamped(&src.view(), &k);
            let err = out.data.iter().zip(&want.data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(err <= 1e-4, "{w}×{h}×{c} half {half}: max error {err}");
            // Reuse across frames: a second, different frame through the same plan.
            src.data.iter_mut().for_each(|v| *v = 1.0 - *v);
            src.data[0] = f32::NAN;
            fft.convolve(&src.view(), &mut out.view_mut()).unwrap();
            src.data[0] = 0.0;
            let want = convolve_clamped(&src.view(), &k);
            let err = out.data.iter().zip(&want.data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(err <= 1e-4, "second frame {w}×{h}×{c}: max error {err}");
        }
    }

    #[test]
    fn a_delta_kernel_shifts_and_size_mismatch_is_refused() {
        let mut k = Grid::zeros(3);
        k.add(2, -1, 1.0);
        let (w, h) = (16, 12);
        let mut src = Image::new(w, h, 1);
        src.data.iter_mut().enumerate().for_each(|(i, v)| *v = i as f32);
        let mut fft = FftConvolver::new(&k, w, h).unwrap();
        let mut out = Image::new(w, h, 1);
        fft.convolve(&src.view(), &mut out.view_mut()).unwrap();
        for y in 0..h {
            for x in 0..w {
                // out(x, y) = in(clamp(x − 2), clamp(y + 1)).
                let (sx, sy) = ((x as i64 - 2).clamp(0, w as i64 - 1), (y as i64 + 1).clamp(0, h as i64 - 1));
                assert!((out.pixel(x, y)[0] - src.pixel(sx as usize, sy as usize)[0]).abs() < 2e-4);
            }
        }
        // The same pixels whatever the thread count.
        let mut r = SplitMix64::new(9);
        src.data.iter_mut().for_each(|v| *v = r.next_f64() as f32);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let mut single = Image::new(w, h, 1);
        one.install(|| fft.convolve(&src.view(), &mut single.view_mut())).unwrap();
        let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        three.install(|| fft.convolve(&src.view(), &mut out.view_mut())).unwrap();
        assert_eq!(single, out);
        let other = Image::new(w + 1, h, 1);
        let mut other_out = Image::new(w + 1, h, 1);
        assert!(fft.convolve(&other.view(), &mut other_out.view_mut()).is_err());
    }
}

//! The inner loops, with `wide` (ARCHITECTURE.md "Conventions": built for x86-64-v3, f32x8 is one AVX2 register and
//! `mul_add` one FMA).

use super::plan::TableTap;
use wide::{f32x4, f32x8};

/// `out[i] += w · inp[i]` over the common length, eight floats at a time.
#[inline]
pub fn axpy(out: &mut [f32], inp: &[f32], w: f32) {
    let n = out.len().min(inp.len());
    let (out, inp) = (&mut out[..n], &inp[..n]);
    let wv = f32x8::splat(w);
    let mut oc = out.chunks_exact_mut(8);
    let mut ic = inp.chunks_exact(8);
    for (o, i) in (&mut oc).zip(&mut ic) {
        let ov = f32x8::from(<[f32; 8]>::try_from(&*o).unwrap());
        let iv = f32x8::from(<[f32; 8]>::try_from(i).unwrap());
        o.copy_from_slice(&iv.mul_add(wv, ov).to_array());
    }
    for (o, i) in oc.into_remainder().iter_mut().zip(ic.remainder()) {
        *o = i.mul_add(w, *o);
    }
}

/// `out[i] = Σ_taps w · input[start + i]` for every tap `(start, w)`: the merged-integer-tap
/// loop. Blocks of 32 floats stay in four f32x8 accumulators while every tap is applied, so
/// each output float is written once and the taps' input rows stay in L1.
#[inline]
pub fn taps_block(out: &mut [f32], input: &[f32], taps: &[(usize, f32)]) {
    const B: usize = 32;
    let n = out.len();
    let full = n / B * B;
    // Every read below is `input[start + i]` with `i < n`: check the farthest once, so the hot
    // loop carries no bounds checks.
    let end = taps.iter().map(|&(start, _)| start + n).max().unwrap_or(0);
    assert!(end <= input.len(), "tap reads past the padded input ({end} > {})", input.len());
    let load = |i: usize| {
        debug_assert!(i + 8 <= input.len());
        // The render module denies unsafe code; this load is one of its two exceptions (the
        // other: the memory hint in `frame_buffer`): the hot loop's bounds are checked once, above.
        // SAFETY: i + 8 ≤ start + full ≤ start + n ≤ end ≤ input.len(), checked above; the
        // unaligned 8-float read stays inside `input`.
        #[allow(unsafe_code)]
        unsafe {
            f32x8::from(std::ptr::read_unaligned(input.as_ptr().add(i) as *const [f32; 8]))
        }
    };
    for (bi, block) in out[..full].chunks_exact_mut(B).enumerate() {
        let o = bi * B;
        let mut acc = [f32x8::ZERO; 4];
        for &(start, w) in taps {
            let wv = f32x8::splat(w);
            let i = start + o;
            acc[0] = load(i).mul_add(wv, acc[0]);
            acc[1] = load(i + 8).mul_add(wv, acc[1]);
            acc[2] = load(i + 16).mul_add(wv, acc[2]);
            acc[3] = load(i + 24).mul_add(wv, acc[3]);
        }
        for (k, a) in acc.iter().enumerate() {
            block[k * 8..k * 8 + 8].copy_from_slice(&a.to_array());
        }
    }
    let tail = &mut out[full..];
    if !tail.is_empty() {
        tail.fill(0.0);
        for &(start, w) in taps {
            axpy(tail, &input[start + full..start + n], w);
        }
    }
}

/// One output pixel of a depth-driven layer: `Σ_taps Σ_corners w · in(p − offset)` for `C`
/// interleaved channels. `src` is the padded input, `wp` its width in pixels, `(x, y)` the
/// output pixel; every read must lie inside `src` (the engine's padding guarantees it).
#[inline]
pub fn gather_pixel<const C: usize>(src: &[f32], wp: usize, x: usize, y: usize, taps: &[TableTap]) -> [f32; C] {
    if C == 4 {
        let mut acc = f32x4::ZERO;
        for t in taps {
            let sx = (x as isize - t.dx as isize) as usize;
            let sy = (y as isize - t.dy as isize) as usize;
            let i0 = (sy * wp + sx) * 4;
            let i1 = i0 - wp * 4;
            let load = |i: usize| f32x4::from(<[f32; 4]>::try_from(&src[i..i + 4]).unwrap());
            acc = load(i0).mul_add(f32x4::splat(t.w[0]), acc);
            acc = load(i0 - 4).mul_add(f32x4::splat(t.w[1]), acc);
            acc = load(i1).mul_add(f32x4::splat(t.w[2]), acc);
            acc = load(i1 - 4).mul_add(f32x4::splat(t.w[3]), acc);
        }
        let a = acc.to_array();
        let mut out = [0.0; C];
        out.copy_from_slice(&a[..C]);
        out
    } else {
        let mut acc = [0.0f32; C];
        for t in taps {
            let sx = (x as isize - t.dx as isize) as usize;
            let sy = (y as isize - t.dy as isize) as usize;
            let i0 = (sy * wp + sx) * C;
            let i1 = i0 - wp * C;
            for c in 0..C {
                acc[c] = src[i0 + c].mul_add(t.w[0], acc[c]);
                acc[c] = src[i0 - C + c].mul_add(t.w[1], acc[c]);
                acc[c] = src[i1 + c].mul_add(t.w[2], acc[c]);
                acc[c] = src[i1 - C + c].mul_add(t.w[3], acc[c]);
            }
        }
        acc
    }
}

//! The slow, obviously-correct f64 reference of the engine's semantics, for tests and benches.
//!
//! It shares nothing with the engine's tables or loops: taps are interpolated here in f64 from
//! the bundle's basis entries, sampling is written as bilinear interpolation of the input (not
//! as a splat), and the frame is extended by edge replication.

use crate::bundle::Bundle;
use crate::image::{Image, ImageView};
use crate::kernel::psf::Grid;

use super::plan::{bucket, bucket_radius};

/// A tap in f64.
#[derive(Clone, Copy, Debug)]
pub struct Tap64 {
    pub x: f64,
    pub y: f64,
    pub w: f64,
}

/// The complex at radius `r` per ARCHITECTURE.md "Kernels and bundles", interpolated in f64; `None` = pass through.
pub fn complex_at(bundle: &Bundle, r: f64) -> Option<Vec<Vec<Tap64>>> {
    if r <= 0.5 {
        return None;
    }
    let to64 = |layers: &Vec<Vec<crate::kernel::Tap>>, scale: f64| -> Vec<Vec<Tap64>> {
        layers
            .iter()
            .map(|l| l.iter().map(|t| Tap64 { x: t.x as f64 * scale, y: t.y as f64 * scale, w: t.w as f64 }).collect())
            .collect()
    };
    let b = &bundle.basis;
    let (first, last) = (&b[0], &b[b.len() - 1]);
    if r <= first.radius {
        return Some(to64(&first.complex.layers, r / first.radius));
    }
    if r >= last.radius {
        return Some(to64(&last.complex.layers, r / last.radius));
    }
    let mut i = 0;
    while b[i + 1].radius < r {
        i += 1;
    }
    let (ea, eb) = (&b[i], &b[i + 1]);
    let t = (r - ea.radius) / (eb.radius - ea.radius);
    let (la, lb) = (to64(&ea.complex.layers, 1.0), to64(&eb.complex.layers, 1.0));
    Some(
        la.iter()
            .zip(&lb)
            .map(|(p, q)| {
                p.iter()
                    .zip(q)
                    .map(|(a, b)| Tap64 {
                        x: a.x + (b.x - a.x) * t,
                        y: a.y + (b.y - a.y) * t,
                        w: a.w + (b.w - a.w) * t,
                    })
                    .collect()
            })
            .collect(),
    )
}

/// A frame on an extended domain: `pad` extra pixels on every side, f64 samples.
struct Field {
    pad: i64,
    w: i64,
    h: i64,
    c: usize,
    data: Vec<f64>,
}

impl Field {
    fn get(&self, x: i64, y: i64, ch: usize) -> f64 {
        let (wp, hp) = (self.w + 2 * self.pad, self.h + 2 * self.pad);
        let xi = (x + self.pad).clamp(0, wp - 1);
        let yi = (y + self.pad).clamp(0, hp - 1);
        self.data[((yi * wp + xi) as usize) * self.c + ch]
    }

    /// Bilinear sample at the continuous position (x, y) in frame coordinates.
    fn bilinear(&self, x: f64, y: f64, ch: usize) -> f64 {
        let (x0, y0) = (x.floor(), y.floor());
        let (ax, ay) = (x - x0, y - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        (1.0 - ax) * (1.0 - ay) * self.get(x0, y0, ch)
            + ax * (1.0 - ay) * self.get(x0 + 1, y0, ch)
            + (1.0 - ax) * ay * self.get(x0, y0 + 1, ch)
            + ax * ay * self.get(x0 + 1, y0 + 1, ch)
    }
}

/// The cascade with per-pixel radii (row-major), on the edge-replicated frame, in f64. Radii are
/// quantised exactly as the engine defines it (1/32 px).
pub fn blur_reference(bundle: &Bundle, radii: &[f32], src: &ImageView) -> Image {
    let (w, h, c) = (src.width as i64, src.height as i64, src.channels);
    let complexes: Vec<Option<Vec<Vec<Tap64>>>> =
        radii.iter().map(|&r| complex_at(bundle, bucket_radius(bucket(r)))).collect();
    let reach = |layer: usize| -> i64 {
        complexes
            .iter()
            .flatten()
            .flat_map(|cx| cx[layer].iter())
            .map(|t| (t.x.abs().ceil() as i64 + 1).max(t.y.abs().ceil() as i64 + 1))
            .max()
            .unwrap_or(1)
    };
    let layers = bundle.layers;
    let total: i64 = (0..layers).map(reach).sum::<i64>() + 2;
    let radius_at = |x: i64, y: i64| (y.clamp(0, h - 1) * w + x.clamp(0, w - 1)) as usize;
    // Layer 0 input: the edge-replicated source on the whole extended domain.
    let mut field = Field { pad: total, w, h, c, data: Vec::new() };
    for y in -total..h + total {
        let row = src.row(y.clamp(0, h - 1) as usize);
        for x in -total..w + total {
            for ch in 0..c {
                let v = row[x.clamp(0, w - 1) as usize * c + ch] as f64;
                field.data.push(if v.is_finite() { v } else { 0.0 });
            }
        }
    }
    for l in 0..layers {
        let mut next = Field { pad: total, w, h, c, data: vec![0.0; field.data.len()] };
        let wp = w + 2 * total;
        for y in -total..h + total {
            for x in -total..w + total {
                let i = (((y + total) * wp + (x + total)) as usize) * c;
                for ch in 0..c {
                    next.data[i + ch] = match &complexes[radius_at(x, y)] {
                        None => field.get(x, y, ch),
                        Some(cx) => {
                            cx[l].iter().map(|t| t.w * field.bilinear(x as f64 - t.x, y as f64 - t.y, ch)).sum()
                        }
                    };
                }
            }
        }
        field = next;
    }
    let mut out = Image::new(w as usize, h as usize, c);
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                out.data[((y * w + x) as usize) * c + ch] = field.get(x, y, ch) as f32;
            }
        }
    }
    out
}

/// Direct convolution of the edge-replicated frame with a dense kernel `k`:
/// `out(p) = Σ_k k(d) · in(clamp(p − d))`, in f64.
pub fn convolve_clamped(src: &ImageView, k: &Grid) -> Image {
    let (w, h, c) = (src.width as i64, src.height as i64, src.channels);
    let mut out = Image::new(w as usize, h as usize, c);
    let taps: Vec<(i64, i64, f64)> = (-k.half..=k.half)
        .flat_map(|dy| (-k.half..=k.half).map(move |dx| (dx, dy)))
        .map(|(dx, dy)| (dx as i64, dy as i64, k.get(dx, dy)))
        .filter(|t| t.2 != 0.0)
        .collect();
    let mut acc = vec![0.0f64; c];
    for y in 0..h {
        for x in 0..w {
            acc.iter_mut().for_each(|a| *a = 0.0);
            for &(dx, dy, kv) in &taps {
                let row = src.row((y - dy).clamp(0, h - 1) as usize);
                let sx = (x - dx).clamp(0, w - 1) as usize;
                for ch in 0..c {
                    let v = row[sx * c + ch] as f64;
                    acc[ch] += kv * if v.is_finite() { v } else { 0.0 };
                }
            }
            let i = ((y * w + x) as usize) * c;
            for (o, a) in out.data[i..i + c].iter_mut().zip(&acc) {
                *o = *a as f32;
            }
        }
    }
    out
}

//! The aperture's own shape, for light that is scattered rather than gathered: the small
//! features of a layered render (lights, glints) and the loose highlights of a surface. Each
//! of their slices is one radius, so its light can be drawn with the bundle's target itself —
//! the dense kernel the complexes were fitted to, rasterised at that radius and turned and
//! stretched by the bundle's [`Bundle::transform`] — instead of the sparse complex that
//! approximates it: a highlight's disc then has the aperture's crisp rim and flat interior (the
//! complex's rim is a few pixels soft and its interior mottled by a few percent, which is what
//! shows first on a bokeh ball). The cost is the feature's pixels times the stamp's cells,
//! small for what is small; a slice where that would exceed the sparse blur of its region
//! keeps the complex (ARCHITECTURE.md "Gather and layered").

use crate::kernel::shapes::Shape;
use crate::Bundle;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Largest stamp half-side (cells): past it (radii of a few hundred pixels, where the
/// resolution levels soften every rim anyway) a slice keeps the complex.
pub const MAX_STAMP_HALF: i32 = 160;

/// Stamps kept between frames; the cache is emptied when it holds this many.
const CACHE_CAP: usize = 512;

/// A rasterised aperture: `side × side` weights summing to 1, centred, with each row's
/// non-zero span.
pub(crate) struct Stamp {
    half: usize,
    side: usize,
    data: Vec<f32>,
    spans: Vec<(usize, usize)>,
    cells: usize,
}

impl Stamp {
    fn new(half: usize, data: Vec<f32>) -> Stamp {
        let side = 2 * half + 1;
        let spans: Vec<(usize, usize)> = data
            .chunks_exact(side)
            .map(|row| match (row.iter().position(|&v| v != 0.0), row.iter().rposition(|&v| v != 0.0)) {
                (Some(a), Some(b)) => (a, b + 1),
                _ => (0, 0),
            })
            .collect();
        let cells = spans.iter().map(|(a, b)| b - a).sum();
        Stamp { half, side, data, spans, cells }
    }

    /// Non-zero cells (the work per scattered pixel and channel).
    pub fn cells(&self) -> usize {
        self.cells
    }

    /// Adds `source` (`w × h × c`, row-major) scattered with this stamp into `out` (same
    /// shape): every pixel with some non-zero channel spreads over the stamp centred on it,
    /// clipped to the buffer.
    pub fn scatter(&self, source: &[f32], (w, h, c): (usize, usize, usize), out: &mut [f32]) {
        let half = self.half as isize;
        for (i, px) in source.chunks_exact(c).enumerate() {
            if px.iter().all(|&v| v == 0.0) {
                continue;
            }
            let (x, y) = ((i % w) as isize, (i / w) as isize);
            for (sy, &(a, b)) in self.spans.iter().enumerate() {
                let oy = y + sy as isize - half;
                if a == b || oy < 0 || oy >= h as isize {
                    continue;
                }
                // Columns of the stamp that land inside the buffer.
                let lo = (a as isize).max(half - x) as usize;
                let hi = (b as isize).min(w as isize + half - x);
                if hi <= lo as isize {
                    continue;
                }
                let hi = hi as usize;
                let weights = &self.data[sy * self.side + lo..sy * self.side + hi];
                let start = (oy as usize * w + (x + lo as isize - half) as usize) * c;
                let line = &mut out[start..start + (hi - lo) * c];
                for (o, &k) in line.chunks_exact_mut(c).zip(weights) {
                    o.iter_mut().zip(px).for_each(|(o, &v)| *o += k * v);
                }
            }
        }
    }
}

/// A stamp's key: the target (JSON text), the transform's and the radius's bits.
type StampKey = (String, [u64; 4], u32);

/// Stamps by [`StampKey`], shared by the engine's renders (`None`: the complex does it).
#[derive(Default)]
pub(crate) struct StampCache(Mutex<HashMap<StampKey, Option<Arc<Stamp>>>>);

impl StampCache {
    /// The stamp of `bundle`'s aperture at `radius` (px), or `None` where the complex must do:
    /// radius 0.5 or less (nothing to blur), a target that is an image (its file is not read
    /// again per render) or that does not parse, a stamp wider than [`MAX_STAMP_HALF`].
    pub fn get(&self, bundle: &Bundle, radius: f32) -> Option<Arc<Stamp>> {
        if !(radius > 0.5 && radius.is_finite()) {
            return None;
        }
        let m = bundle.transform.unwrap_or([[1.0, 0.0], [0.0, 1.0]]);
        let key = (bundle.target.to_string(), [m[0][0], m[0][1], m[1][0], m[1][1]].map(f64::to_bits), radius.to_bits());
        if let Some(found) = self.0.lock().ok().and_then(|g| g.get(&key).cloned()) {
            return found;
        }
        let made = build(bundle, radius as f64).map(Arc::new);
        if let Ok(mut g) = self.0.lock() {
            if g.len() >= CACHE_CAP {
                g.clear();
            }
            g.insert(key, made.clone());
        }
        made
    }
}

/// The stamp of [`StampCache::get`], computed.
fn build(bundle: &Bundle, r: f64) -> Option<Stamp> {
    let shape = Shape::analytic_from_json(&bundle.target)?;
    // The half-side before rasterising: a huge stretched stamp is not built at all.
    let stretch = bundle.transform.map_or(1.0, |m| m.iter().flatten().map(|v| v.abs()).sum::<f64>());
    if r * stretch > MAX_STAMP_HALF as f64 {
        return None;
    }
    let grid = match bundle.transform {
        None => shape.rasterize(r),
        Some(m) => shape.rasterize_mapped(r, m),
    }
    .ok()?;
    if grid.half > MAX_STAMP_HALF || grid.data.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return None;
    }
    Some(Stamp::new(grid.half as usize, grid.data.iter().map(|&v| v as f32).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_scatters_like_a_direct_sum_and_clips_at_the_border() {
        // 3×3 stamp with distinct weights, one pixel near the corner of a 5×4 buffer.
        let data: Vec<f32> = (1..=9).map(|v| v as f32 / 45.0).collect();
        let stamp = Stamp::new(1, data.clone());
        let (w, h, c) = (5, 4, 2);
        let mut src = vec![0.0f32; w * h * c];
        src[0] = 2.0; // pixel (0, 0), channel 0
        src[((2 * w) + 3) * c + 1] = 1.0; // pixel (3, 2), channel 1
        let mut out = vec![0.0f32; w * h * c];
        stamp.scatter(&src, (w, h, c), &mut out);
        let mut want = vec![0.0f32; w * h * c];
        for (px, py, ch, v) in [(0isize, 0isize, 0usize, 2.0f32), (3, 2, 1, 1.0)] {
            for dy in -1..=1isize {
                for dx in -1..=1isize {
                    let (x, y) = (px + dx, py + dy);
                    if x >= 0 && y >= 0 && x < w as isize && y < h as isize {
                        want[(y as usize * w + x as usize) * c + ch] += v * data[((dy + 1) * 3 + dx + 1) as usize];
                    }
                }
            }
        }
        assert_eq!(out, want);
        assert_eq!(stamp.cells(), 9);
    }

    #[test]
    fn stamps_follow_the_target_and_its_transform() {
        let cache = StampCache::default();
        let disc = crate::locate("disc").unwrap();
        assert!(cache.get(&disc, 0.5).is_none());
        let s = cache.get(&disc, 10.0).unwrap();
        assert_eq!(s.half, 10);
        let sum: f32 = s.data.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5);
        // The same stamp comes back from the cache.
        assert!(Arc::ptr_eq(&s, &cache.get(&disc, 10.0).unwrap()));
        // Stretched 2× horizontally: wider than tall.
        let wide = disc.transformed(&[[2.0, 0.0], [0.0, 1.0]]);
        let t = cache.get(&wide, 10.0).unwrap();
        let row = |y: usize| t.data[y * t.side..(y + 1) * t.side].iter().filter(|&&v| v > 0.0).count();
        let col = |x: usize| (0..t.side).filter(|&y| t.data[y * t.side + x] > 0.0).count();
        assert!(row(t.half) >= 2 * col(t.half) - 2, "{} vs {}", row(t.half), col(t.half));
        // Too wide a stamp: the complex does it.
        assert!(cache.get(&disc, MAX_STAMP_HALF as f32 + 1.0).is_none());
    }
}

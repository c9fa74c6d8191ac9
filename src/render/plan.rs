//! Per-frame tap tables (ARCHITECTURE.md "Kernels and bundles"): the radius is quantised to 1/[`STEPS_PER_PX`] px, each
//! radius bucket in use gets its complex (interpolated once from the bundle) laid out for the
//! inner loops, and each pixel holds the index of its table — so the per-pixel work is a table
//! look-up, not a lerp.

use crate::bundle::{AtRadius, Bundle};
use crate::kernel::psf::layer_psf;
use crate::kernel::Complex;

/// Radius buckets per pixel of radius: radii are rounded to the nearest 1/32 px.
pub const STEPS_PER_PX: f32 = 32.0;

/// The bucket of radius `r` (r ≥ 0, finite, ≤ 1024).
pub fn bucket(r: f32) -> u32 {
    (r.max(0.0) * STEPS_PER_PX).round() as u32
}

/// The radius a bucket stands for.
pub fn bucket_radius(b: u32) -> f64 {
    b as f64 / STEPS_PER_PX as f64
}

/// A bilinear tap laid out for the depth-driven loop: the output pixel p reads the input at
/// `p − (dx, dy)`, `p − (dx+1, dy)`, `p − (dx, dy+1)`, `p − (dx+1, dy+1)` with weights `w`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TableTap {
    pub dx: i32,
    pub dy: i32,
    pub w: [f32; 4],
}

/// One merged integer tap of a layer's splatted PSF: `out(p) += w · in(p − (dx, dy))`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IntTap {
    pub dx: i32,
    pub dy: i32,
    pub w: f32,
}

/// The taps of one radius bucket, per layer.
#[derive(Clone, Debug, PartialEq)]
pub struct TapTable {
    pub radius: f64,
    /// The complex used at this radius (identity for pass-through).
    pub complex: Complex,
    pub layers: Vec<Vec<TableTap>>,
    pub reaches: Vec<i32>,
    integer: std::sync::OnceLock<Vec<Vec<IntTap>>>,
}

impl TapTable {
    /// The table of the bundle at radius `r`; a pass-through radius gives identity layers so
    /// every table has the bundle's layer count.
    pub fn new(bundle: &Bundle, r: f64) -> TapTable {
        let complex = match bundle.at_radius(r) {
            AtRadius::PassThrough => Complex::new(vec![vec![crate::kernel::Tap::IDENTITY]; bundle.layers]),
            AtRadius::Complex(c) => c,
        };
        TapTable::from_complex(complex, r)
    }

    pub fn from_complex(complex: Complex, r: f64) -> TapTable {
        let layers: Vec<Vec<TableTap>> = complex
            .layers
            .iter()
            .map(|l| {
                l.iter()
                    .map(|t| {
                        let (dx, dy, fx, fy) = t.cell();
                        let w = [
                            t.w * (1.0 - fx) * (1.0 - fy),
                            t.w * fx * (1.0 - fy),
                            t.w * (1.0 - fx) * fy,
                            t.w * fx * fy,
                        ];
                        TableTap { dx, dy, w }
                    })
                    .collect()
            })
            .collect();
        let reaches = complex.layer_reaches();
        TapTable { radius: r, complex, layers, reaches, integer: Default::default() }
    }

    /// Each layer's splatted PSF as merged integer taps (zero weights dropped), sorted by row:
    /// the fixed-radius fast path, where a bilinear tap at a fixed fraction is 4 integer taps
    /// that merge with their neighbours.
    pub fn integer_layers(&self) -> &[Vec<IntTap>] {
        self.integer.get_or_init(|| self.build_integer_layers())
    }

    fn build_integer_layers(&self) -> Vec<Vec<IntTap>> {
        self.complex
            .layers
            .iter()
            .map(|l| {
                let g = layer_psf(l);
                let mut taps = Vec::new();
                for dy in -g.half..=g.half {
                    for dx in -g.half..=g.half {
                        let w = g.get(dx, dy);
                        if w != 0.0 {
                            taps.push(IntTap { dx, dy, w: w as f32 });
                        }
                    }
                }
                taps
            })
            .collect()
    }
}

/// The plan of one frame: the tables in use and each pixel's table.
#[derive(Clone, Debug)]
pub struct Plan {
    pub tables: Vec<TapTable>,
    /// Per pixel (row-major, the frame's size) the index into `tables`; empty when the frame
    /// uses one table everywhere.
    pub pixel_table: Vec<u16>,
    /// Per layer, the largest reach over the tables in use.
    pub reaches: Vec<i32>,
}

impl Plan {
    /// A plan with one radius for every pixel (not quantised: a fixed blur uses its exact radius).
    pub fn uniform(bundle: &Bundle, radius: f64) -> Plan {
        let table = TapTable::new(bundle, radius);
        let reaches = table.reaches.clone();
        Plan { tables: vec![table], pixel_table: Vec::new(), reaches }
    }

    /// A plan for per-pixel radii (each finite, 0 ≤ r ≤ 1024).
    pub fn per_pixel(bundle: &Bundle, radii: &[f32]) -> Plan {
        use rayon::prelude::*;
        // The buckets in use, gathered per chunk of pixels in parallel.
        let used = radii
            .par_chunks(1 << 14)
            .map(|c| {
                let mut used = Vec::new();
                for &r in c {
                    let b = bucket(r) as usize;
                    if b >= used.len() {
                        used.resize(b + 1, false);
                    }
                    used[b] = true;
                }
                used
            })
            .reduce(Vec::new, |a, b| {
                let (mut long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
                long.iter_mut().zip(short).for_each(|(l, s)| *l |= s);
                long
            });
        let max_bucket = used.len().saturating_sub(1);
        let used_buckets: Vec<u32> = (0..=max_bucket as u32).filter(|&b| used[b as usize]).collect();
        if used_buckets.len() == 1 {
            return Plan::uniform(bundle, bucket_radius(used_buckets[0]));
        }
        let mut index = vec![0u16; max_bucket + 1];
        for (i, &b) in used_buckets.iter().enumerate() {
            index[b as usize] = i as u16;
        }
        let tables: Vec<TapTable> = used_buckets.par_iter().map(|&b| TapTable::new(bundle, bucket_radius(b))).collect();
        let pixel_table = radii.par_iter().map(|&r| index[bucket(r) as usize]).collect();
        let mut reaches = vec![0; bundle.layers];
        for t in &tables {
            for (r, &tr) in reaches.iter_mut().zip(&t.reaches) {
                *r = (*r).max(tr);
            }
        }
        Plan { tables, pixel_table, reaches }
    }

    pub fn is_uniform(&self) -> bool {
        self.pixel_table.is_empty()
    }
}

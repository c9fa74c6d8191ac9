//! The render engine: L passes over a padded copy of the frame, ping-pong buffers, rayon over
//! rows. Fixed-radius blur is the special case of a constant CoC (one tap table: the merged
//! integer fast path); depth-driven blur looks up each pixel's table.
//!
//! Boundaries: the frame is extended by edge replication (ARCHITECTURE.md "Borders and quantisation"). The padded domain is
//! wide enough (the sum of the layers' reaches) that each layer is computed only where all its
//! reads are real data, so the result is exactly the cascade applied to the infinitely extended
//! frame — and, at a fixed radius, exactly the convolution of that frame with the complex's PSF.

use super::lens::{Lens, LensError, MAX_RADIUS};
use super::plan::{Plan, TapTable};
use super::simd;
use crate::bundle::Bundle;
use crate::image::{ImageView, ImageViewMut};
use rayon::prelude::*;
use std::borrow::Cow;

/// Why a render was refused. Nothing is written to the output when one is returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    #[error("{0}")]
    Lens(#[from] LensError),
    #[error("blur radius {0} is invalid: it must be finite, ≥ 0 and ≤ {max} px", max = MAX_RADIUS)]
    Radius(f64),
    #[error("render option `{field}` = {value} is invalid: {reason}")]
    Option { field: &'static str, value: f64, reason: &'static str },
    #[error("this render blurs, but no bundle was given")]
    NoBundle,
    #[error("at this radius the bundle's taps reach {0} px, more than the {max} px limit", max = super::request::MAX_REACH)]
    Reach(usize),
    #[error("{0}")]
    Mismatch(String),
    #[error("cannot start {0} render threads: {1}")]
    Threads(usize, String),
    #[error("the blur reaches too far for this frame: its padded working frame would hold {0} floats (limit 2^28)")]
    TooLarge(u128),
    #[error("the bundle's {taps} taps per radius table, in up to {tables} tables for this frame's radii, would need {total} taps (limit {max}); use a smaller bundle, a smaller --maximum or a fixed radius", max = super::request::MAX_TABLE_TAPS)]
    Tables { taps: usize, tables: u64, total: u128 },
}

/// How depth edges are treated (ARCHITECTURE.md, "Gather and layered").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Edges {
    /// Every output pixel filters with its own radius (the paper's formulation): exact inside
    /// a surface; halos and cut-off foreground blur at depth jumps.
    Gather,
    /// Depth slices blurred separately and composited front to back, hidden background filled
    /// (the default of every front end: it meets its targets).
    #[default]
    Layered,
}

/// What a render saw and did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RenderStats {
    /// Source samples that were NaN or ±Inf (treated as 0).
    pub nonfinite_samples: usize,
    /// Finite source samples below 0. Where there are none, no output sample is below 0 either
    /// (see [`keep_non_negative`]).
    pub negative_samples: usize,
    /// Depth values that were non-finite or negative (ARCHITECTURE.md "Depth to radius").
    pub bad_depth: usize,
    /// Radius tables built for the frame.
    pub tables: usize,
    /// Largest radius used.
    pub max_radius: f32,
    /// Output samples that came out NaN or ±Inf (finite source values so large that their
    /// blur overflows f32); a front end should warn (ARCHITECTURE.md "Hostile input").
    pub nonfinite_output: usize,
}

/// Runs renders on a thread pool of a chosen size (0 = all cores, rayon's global pool).
pub struct Engine {
    pool: Option<rayon::ThreadPool>,
    /// The padded ping-pong buffers, kept between frames (no page faults per frame).
    scratch: Scratch,
    /// Whether large radii are blurred at reduced resolution (`render::levels`; on by default).
    levels: bool,
    /// How turned and stretched bundles are refitted (`fit::turn`); `None`: mapped taps only.
    refit: Option<crate::fit::turn::TurnRefit>,
}

/// Refitted bundles kept by the process (a rotation being set, then rendered over a sequence),
/// shared by every engine (a plugin keeps several); each is made once, later callers with the
/// same key wait for it.
const REFITS_KEPT: usize = 4;

type RefitSlot = std::sync::Arc<std::sync::OnceLock<std::sync::Arc<Bundle>>>;

/// See [`REFITS_KEPT`]: the last few refitted bundles, by fingerprint of bundle, map and budget.
static REFITS: std::sync::Mutex<Vec<(u64, RefitSlot)>> = std::sync::Mutex::new(Vec::new());

/// A hash of everything in `bundle` that a refit reads (target, fit settings, every tap, the
/// levels), of the map `m` and of the refit's budget.
fn fingerprint(bundle: &Bundle, m: [[f64; 2]; 2], refit: &crate::fit::turn::TurnRefit) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut b = Some(bundle);
    while let Some(x) = b {
        x.target.to_string().hash(&mut h);
        x.fit.to_string().hash(&mut h);
        x.transform.map(|t| t.map(|r| r.map(f64::to_bits))).hash(&mut h);
        for e in &x.basis {
            e.radius.to_bits().hash(&mut h);
            for t in e.complex.layers.iter().flatten() {
                [t.x, t.y, t.w].map(f32::to_bits).hash(&mut h);
            }
        }
        b = x.levels.as_deref();
    }
    m.map(|r| r.map(f64::to_bits)).hash(&mut h);
    (refit.iterations, refit.rounds, refit.tolerance_db.to_bits()).hash(&mut h);
    h.finish()
}

/// Reusable frame buffers. Their old contents are never read: buffer A is written whole before
/// a render reads it, and every layer writes the region the next one reads.
/// The layered engine's frame-sized working arrays are kept too (in [`Pools`]).
#[derive(Default)]
pub(crate) struct Scratch(Pool<f32>, pub Pools);

/// Frame-sized arrays of the layered engine kept between frames, by element type.
#[derive(Default)]
pub(crate) struct Pools {
    pub floats: Pool<f32>,
    pub pairs: Pool<(f32, f32)>,
    pub located: Pool<super::layered::Loc>,
    pub flags: Pool<bool>,
    pub bytes: Pool<u8>,
    /// The aperture's shape at the radii small features are drawn with (`render::stamp`).
    pub stamps: super::stamp::StampCache,
}

/// Arrays of one element type kept between frames, so that a frame does not page its working
/// memory in again (the largest [`Pool::KEEP`] are kept).
pub(crate) struct Pool<T>(std::sync::Mutex<Vec<Vec<T>>>);

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Pool(std::sync::Mutex::new(Vec::new()))
    }
}

impl<T: Copy + Default + Send + Sync> Pool<T> {
    const KEEP: usize = 6;

    /// An array of `n` copies of `fill`: the smallest kept one that is large enough, else a new one.
    pub fn take(&self, n: usize, fill: T) -> Vec<T> {
        let mut v = self.take_dirty(n);
        v.par_iter_mut().for_each(|e| *e = fill);
        v
    }

    /// An array of `n` elements whose contents are unspecified (for one written whole).
    pub fn take_dirty(&self, n: usize) -> Vec<T> {
        let kept = self.0.lock().ok().and_then(|mut g| {
            let i = (0..g.len()).filter(|&i| g[i].capacity() >= n).min_by_key(|&i| g[i].capacity())?;
            Some(g.swap_remove(i))
        });
        match kept {
            Some(mut v) => {
                v.resize(n, T::default());
                v
            }
            None => crate::render::frame_buffer::<T>(n),
        }
    }

    /// Keeps `v` for a later frame.
    pub fn give(&self, v: Vec<T>) {
        self.give_keeping(v, Self::KEEP);
    }

    /// Keeps `v` for a later frame, and the largest `keep` arrays in all.
    fn give_keeping(&self, v: Vec<T>, keep: usize) {
        if let Ok(mut g) = self.0.lock() {
            if v.capacity() > 0 {
                g.push(v);
                g.sort_by_key(|b| std::cmp::Reverse(b.capacity()));
                g.truncate(keep);
            }
        }
    }
}

impl Scratch {
    /// Buffers kept: the padded pair of a whole-frame render, and a pair per worker thread for
    /// the regions the layered engine blurs in parallel (no more than a render holds at once).
    fn keep() -> usize {
        // The resolution levels add a reduced frame, its padded pair, its blurred result and
        // that result widened back per level in use (ARCHITECTURE.md "Resolution levels").
        8 + 2 * rayon::current_num_threads()
    }

    /// A buffer of `n` floats (contents unspecified): the smallest kept one that is large enough
    /// (its pages already in memory), else a new one.
    pub(crate) fn take(&self, n: usize) -> Vec<f32> {
        self.0.take_dirty(n)
    }

    /// Returns a buffer for later renders (the largest [`Scratch::keep`] are kept).
    pub(crate) fn give(&self, v: Vec<f32>) {
        self.0.give_keeping(v, Self::keep());
    }
}

impl Engine {
    pub fn new(threads: usize) -> Result<Engine, RenderError> {
        let pool = if threads == 0 {
            None
        } else {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .map_err(|e| RenderError::Threads(threads, e.to_string()))?,
            )
        };
        Ok(Engine { pool, scratch: Scratch::default(), levels: true, refit: None })
    }

    /// This engine blurring every radius at full resolution (`false`), or large radii at the
    /// reduced levels of ARCHITECTURE.md "Resolution levels" (`true`, the default). Full
    /// resolution is the exact cascade (a fixed blur equals the dense convolution with the
    /// complex's PSF); it is kept for references, tests and the bench's comparison.
    pub fn with_levels(mut self, on: bool) -> Engine {
        self.levels = on;
        self
    }

    /// How bundles turned or stretched by a render's rotation, aspect or pixel aspect are
    /// refitted to the mapped aperture (`fit::turn`, once per bundle and map, the last
    /// [`REFITS_KEPT`] kept); `None` (the default) renders the mapped taps as they are. Off by
    /// default: each entry is refitted on its own, so the taps of neighbouring entries no longer
    /// correspond and a radius between two entries renders blotchy (ARCHITECTURE.md "The
    /// render request").
    pub fn with_turn_refit(mut self, refit: Option<crate::fit::turn::TurnRefit>) -> Engine {
        self.refit = refit;
        self
    }

    /// `bundle` as a render with `options` blurs with it: [`RenderOptions::shaped`], refitted
    /// when the map is no quarter turn (those move taps from pixel to pixel exactly).
    pub(crate) fn shaped<'b>(&self, options: &super::RenderOptions, bundle: &'b Bundle) -> Cow<'b, Bundle> {
        let (Some(m), Some(refit)) = (options.shape_map(bundle), self.refit) else { return options.shaped(bundle) };
        if m.iter().flatten().all(|v| *v == 0.0 || v.abs() == 1.0) {
            return options.shaped(bundle);
        }
        let key = fingerprint(bundle, m, &refit);
        let slot: RefitSlot = {
            let mut g = REFITS.lock().unwrap_or_else(|e| e.into_inner());
            match g.iter().find(|(k, _)| *k == key) {
                Some((_, slot)) => slot.clone(),
                None => {
                    if g.len() >= REFITS_KEPT {
                        g.remove(0);
                    }
                    let slot = RefitSlot::default();
                    g.push((key, slot.clone()));
                    slot
                }
            }
        };
        let made = slot.get_or_init(|| {
            let refitted = self.install(|| crate::fit::turn::refit_transformed(bundle, m, &refit));
            std::sync::Arc::new(refitted.unwrap_or_else(|| bundle.transformed(&m)))
        });
        Cow::Owned((**made).clone())
    }

    /// Threads this engine renders with.
    pub fn threads(&self) -> usize {
        self.pool.as_ref().map_or_else(rayon::current_num_threads, |p| p.current_num_threads())
    }

    fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(p) => p.install(f),
            None => f(),
        }
    }

    /// Blurs `src` into `dst` with the bundle's complex at one radius.
    pub fn blur_fixed(
        &self,
        bundle: &Bundle,
        radius: f64,
        src: &ImageView,
        dst: &mut ImageViewMut,
    ) -> Result<RenderStats, RenderError> {
        check_radius(radius)?;
        check_pair(src, dst)?;
        self.install(|| {
            if self.levels {
                if let Some(stats) = super::levels::blur_fixed(bundle, radius, Some(src), dst, &self.scratch)? {
                    return Ok(stats);
                }
            }
            let plan = Plan::uniform(bundle, radius);
            check_work(&plan, src)?;
            Ok(run(&plan, src, dst, radius as f32, &self.scratch))
        })
    }

    /// Blurs `image` in place with the bundle's complex at one radius: the same pixels as
    /// [`Engine::blur_fixed`], without a second frame in memory.
    pub fn blur_fixed_in_place(
        &self,
        bundle: &Bundle,
        radius: f64,
        image: &mut ImageViewMut,
    ) -> Result<RenderStats, RenderError> {
        check_radius(radius)?;
        self.install(|| {
            if self.levels {
                if let Some(stats) = super::levels::blur_fixed(bundle, radius, None, image, &self.scratch)? {
                    return Ok(stats);
                }
            }
            let plan = Plan::uniform(bundle, radius);
            check_work(&plan, &image.as_view())?;
            let stats = run_in_place(&plan, image, radius as f32, &self.scratch);
            keep_non_negative(&stats, image);
            Ok(stats)
        })
    }

    /// Blurs `src` into `dst` with each pixel's radius from `depth` through `lens`.
    pub fn blur_depth(
        &self,
        bundle: &Bundle,
        lens: &Lens,
        depth: &ImageView,
        depth_channel: usize,
        src: &ImageView,
        dst: &mut ImageViewMut,
    ) -> Result<RenderStats, RenderError> {
        check_depth(lens, depth, src, dst)?;
        self.install(|| {
            let (radii, bad) = lens.coc_map(depth, depth_channel);
            let mut stats = self.blur_radii_inner(bundle, &radii, src, dst)?;
            stats.bad_depth = bad;
            Ok(stats)
        })
    }

    /// Blurs `src` into `dst` with each pixel's radius from `depth` through `lens`, treating
    /// depth edges as `edges` says.
    #[allow(clippy::too_many_arguments)]
    pub fn blur_depth_with(
        &self,
        bundle: &Bundle,
        lens: &Lens,
        edges: Edges,
        depth: &ImageView,
        depth_channel: usize,
        src: &ImageView,
        dst: &mut ImageViewMut,
    ) -> Result<RenderStats, RenderError> {
        if edges == Edges::Gather {
            return self.blur_depth(bundle, lens, depth, depth_channel, src, dst);
        }
        check_depth(lens, depth, src, dst)?;
        self.install(|| {
            let (w, h) = (src.width, src.height);
            let pools = &self.scratch.1;
            let mut signed = pools.floats.take_dirty(w * h);
            let bad = lens.signed_coc_into(depth, depth_channel, &mut signed);
            let mut lum = pools.floats.take_dirty(w * h);
            super::sprites::luminance_into(src, &mut lum);
            let mut edges = pools.bytes.take_dirty(w * h);
            super::edges::edge_bits_into(&signed, (w, h), &mut edges);
            super::silhouette::assign_mixed_pixels(&mut signed, &lum, (w, h), &mut edges);
            let max_radius = signed.par_iter().map(|s| s.abs()).reduce(|| 0.0f32, f32::max);
            // Layered near depth edges (weight > 0, see layered::edge_weight_with), gather elsewhere:
            // gather is computed only in the tiles with some weight below 1.
            let mut radii = pools.floats.take_dirty(w * h);
            radii.par_iter_mut().zip(&signed).for_each(|(r, s)| *r = s.abs());
            // With levels, each level builds and checks its own plan (`levels::blur_radii`).
            let plan = if self.levels { None } else { Some(Plan::per_pixel(bundle, &radii)) };
            if let Some(plan) = &plan {
                check_work(plan, src)?;
            }
            // The blur's spread per whole radius (rounded up), looked up per jump.
            let band_for = spread_table(bundle, max_radius);
            let features = super::sprites::small_features(&signed, &lum, &edges, (w, h));
            let weight = super::layered::edge_weight_with(&signed, &edges, &features.small, w, h, &band_for, pools);
            // Highlights on a surface whose CoC changes across their disc, away from depth
            // edges: their light above the surface's is scattered on top (gather sees the
            // surface without them). Near edges they are small features of the layered blur.
            let mut loose = pools.flags.take_dirty(w * h);
            loose.par_iter_mut().zip(&features.highlight).zip(&weight).for_each(|((o, &f), &e)| *o = f && e <= 0.0);
            let split = loose
                .contains(&true)
                .then(|| super::highlights::split(src, &lum, &loose, self.scratch.take(w * h * src.channels)));
            let src = split.as_ref().map_or(*src, |(rest, _)| rest.view());
            let mut small = pools.flags.take_dirty(w * h);
            small.par_iter_mut().enumerate().for_each(|(i, o)| {
                *o = features.small[i] || (features.highlight[i] && weight[i] > 0.0);
            });
            let gather_tiles = TileMask::from_pixels(GATHER_TILE, w, h, &weight, |e| e < 1.0);
            let stats = match &plan {
                None => super::levels::blur_radii(bundle, &radii, &src, dst, Some(&gather_tiles), &self.scratch)?,
                Some(plan) => run_masked(plan, &src, dst, max_radius, Some(&gather_tiles), &self.scratch),
            };
            let slices = if weight.iter().any(|&e| e > 0.0) {
                let finite = stats.nonfinite_samples == 0;
                let maps = super::layered::PixelMaps { signed: &signed, feature: &small, weight: &weight };
                super::layered::blur_layered(bundle, &maps, &src, finite, dst, &self.scratch)
            } else {
                0
            };
            if let Some((_, excess)) = &split {
                super::layered::scatter_add(bundle, &signed, excess, dst, &self.scratch);
            }
            if let Some((rest, _)) = split {
                self.scratch.give(rest.data);
            }
            pools.bytes.give(edges);
            [weight, signed, lum, radii].into_iter().for_each(|v| pools.floats.give(v));
            [loose, small, features.small, features.highlight].into_iter().for_each(|v| pools.flags.give(v));
            keep_non_negative(&stats, dst);
            Ok(RenderStats { bad_depth: bad, tables: stats.tables + slices, max_radius, ..stats })
        })
    }

    fn blur_radii_inner(
        &self,
        bundle: &Bundle,
        radii: &[f32],
        src: &ImageView,
        dst: &mut ImageViewMut,
    ) -> Result<RenderStats, RenderError> {
        if self.levels {
            return super::levels::blur_radii(bundle, radii, src, dst, None, &self.scratch);
        }
        let plan = Plan::per_pixel(bundle, radii);
        check_work(&plan, src)?;
        Ok(run(&plan, src, dst, radii.iter().copied().fold(0.0, f32::max), &self.scratch))
    }
}

/// How far (px, rounded up) the complex at `radius` spreads a pixel's light: the smallest
/// distance from the centre outside which at most [`SPREAD_TAIL`] of its PSF's absolute mass
/// falls (at least 1). Smaller than the taps' reach, which bounds rather than measures.
pub(crate) fn psf_spread(bundle: &Bundle, radius: f64) -> usize {
    let complex = TapTable::new(bundle, radius).complex;
    let psf = crate::kernel::psf::complex_psf(&complex);
    let half = psf.half;
    // Absolute mass per whole distance from the centre.
    let mut ring = vec![0.0f64; (2.0 * half as f64).ceil() as usize + 2];
    for dy in -half..=half {
        for dx in -half..=half {
            let d = ((dx * dx + dy * dy) as f64).sqrt().ceil() as usize;
            ring[d] += psf.get(dx, dy).abs();
        }
    }
    let total: f64 = ring.iter().sum();
    let mut outside = total;
    for (d, m) in ring.iter().enumerate() {
        outside -= m;
        if outside <= SPREAD_TAIL * total {
            return d.max(1);
        }
    }
    ring.len().max(1)
}

/// [`psf_spread`] for any radius up to `max_radius`: measured (once, when first asked) per whole
/// radius up to the bundle's largest entry, and beyond it (where the engine scales that entry's
/// offsets) scaled with the radius, so a frame whose CoC reaches 1024 px costs no more to set up
/// than one at the largest entry, and a frame without depth edges measures nothing.
fn spread_table(bundle: &Bundle, max_radius: f32) -> impl Fn(f32) -> usize + Sync + '_ {
    let largest = bundle.max_radius().ceil().max(1.0) as usize;
    let top = (max_radius.ceil() as usize).min(largest);
    let measured: Vec<std::sync::OnceLock<usize>> = (0..=top).map(|_| std::sync::OnceLock::new()).collect();
    move |r: f32| {
        let whole = r.max(0.0).ceil() as usize;
        let at = |k: usize| *measured[k].get_or_init(|| psf_spread(bundle, k as f64));
        if whole <= top {
            at(whole)
        } else {
            (at(top) as f32 * r / top.max(1) as f32).ceil() as usize + 1
        }
    }
}

/// The share of a PSF's absolute mass allowed beyond [`psf_spread`].
const SPREAD_TAIL: f64 = 1e-3;

/// Tile side of the gather pass of a layered render (tiles where the layered result is used
/// alone are skipped).
const GATHER_TILE: usize = 16;

/// Largest padded working buffer, in floats (two are allocated): 1 GiB each, room for an 8K
/// RGBA frame padded by ~1000 px (ARCHITECTURE.md "Hostile input").
pub const MAX_WORK_FLOATS: u128 = 1 << 28;

/// Refuses a render whose padded working frame would be absurd (a far-reaching bundle at a
/// large radius on a large frame) before anything is allocated.
fn check_work(plan: &Plan, src: &ImageView) -> Result<(), RenderError> {
    check_work_size(plan, src.width, src.height, src.channels)
}

/// The padded working frame of `plan` on a `w × h × c` frame stays within [`MAX_WORK_FLOATS`].
pub(crate) fn check_work_size(plan: &Plan, w: usize, h: usize, c: usize) -> Result<(), RenderError> {
    let pad = super::request::padding(&plan.reaches) as u128;
    let floats = (w as u128 + 2 * pad) * (h as u128 + 2 * pad) * c as u128;
    if floats > MAX_WORK_FLOATS {
        return Err(RenderError::TooLarge(floats));
    }
    Ok(())
}

/// A fixed radius must be finite, ≥ 0 and ≤ [`MAX_RADIUS`].
fn check_radius(radius: f64) -> Result<(), RenderError> {
    if radius.is_finite() && (0.0..=MAX_RADIUS).contains(&radius) {
        Ok(())
    } else {
        Err(RenderError::Radius(radius))
    }
}

/// The checks of a depth-driven render: a usable lens, matching source, output and depth.
fn check_depth(lens: &Lens, depth: &ImageView, src: &ImageView, dst: &ImageViewMut) -> Result<(), RenderError> {
    lens.validate()?;
    check_pair(src, dst)?;
    check_size(depth, src)
}

/// A depth image must have the source's width and height.
pub(super) fn check_size(depth: &ImageView, src: &ImageView) -> Result<(), RenderError> {
    if depth.width != src.width || depth.height != src.height {
        return Err(RenderError::Mismatch(format!(
            "depth image is {}×{} but the source is {}×{}",
            depth.width, depth.height, src.width, src.height
        )));
    }
    Ok(())
}

pub(super) fn check_pair(src: &ImageView, dst: &ImageViewMut) -> Result<(), RenderError> {
    if src.width != dst.width || src.height != dst.height || src.channels != dst.channels {
        return Err(RenderError::Mismatch(format!(
            "source is {}×{}×{} but the output is {}×{}×{}",
            src.width, src.height, src.channels, dst.width, dst.height, dst.channels
        )));
    }
    Ok(())
}

/// The padded domain of one render: the frame plus `pad` pixels on every side.
struct Padded {
    pad: usize,
    wp: usize,
    hp: usize,
    c: usize,
}

impl Padded {
    fn row_len(&self) -> usize {
        self.wp * self.c
    }
}

/// Square tiles of the frame that a render must produce; the rest is skipped (left as it was
/// in the output), so sparse work costs what it covers.
#[derive(Clone, Debug)]
pub(crate) struct TileMask {
    pub tile: usize,
    pub tw: usize,
    pub th: usize,
    pub on: Vec<bool>,
}

impl TileMask {
    pub fn new(tile: usize, w: usize, h: usize) -> TileMask {
        let (tw, th) = (w.div_ceil(tile), h.div_ceil(tile));
        TileMask { tile, tw, th, on: vec![false; tw * th] }
    }

    /// The tiles of a `w × h` grid of `values` (row-major) holding a value for which `pick` is
    /// true, found per row of tiles in parallel.
    pub fn from_pixels(tile: usize, w: usize, h: usize, values: &[f32], pick: impl Fn(f32) -> bool + Sync) -> TileMask {
        let mut m = TileMask::new(tile, w, h);
        let tw = m.tw;
        m.on.par_chunks_mut(tw).zip(values.par_chunks(w * tile)).for_each(|(on, rows)| {
            for row in rows.chunks(w) {
                for (o, chunk) in on.iter_mut().zip(row.chunks(tile)) {
                    *o = *o || chunk.iter().any(|&v| pick(v));
                }
            }
        });
        m
    }

    /// The `w × h` pixel window of this mask whose origin is tile (`tx0`, `ty0`), as a mask of
    /// its own.
    pub fn crop(&self, tx0: usize, ty0: usize, w: usize, h: usize) -> TileMask {
        let mut m = TileMask::new(self.tile, w, h);
        for ty in 0..m.th {
            for tx in 0..m.tw {
                m.on[ty * m.tw + tx] = self.on[(ty + ty0) * self.tw + tx + tx0];
            }
        }
        m
    }

    pub fn any(&self) -> bool {
        self.on.iter().any(|&b| b)
    }

    /// The mask grown by `px` pixels (rounded up to whole tiles) in every direction.
    pub fn dilated(&self, px: usize) -> TileMask {
        let n = px.div_ceil(self.tile);
        let (tw, th) = (self.tw, self.th);
        // Separable: along rows, then along columns (a square grown by n tiles).
        let mut rows = vec![false; self.on.len()];
        for ty in 0..th {
            let line = &self.on[ty * tw..(ty + 1) * tw];
            let out = &mut rows[ty * tw..(ty + 1) * tw];
            for (tx, &on) in line.iter().enumerate() {
                if on {
                    out[tx.saturating_sub(n)..(tx + n + 1).min(tw)].iter_mut().for_each(|o| *o = true);
                }
            }
        }
        let mut out = TileMask { tile: self.tile, tw, th, on: vec![false; self.on.len()] };
        for ty in 0..th {
            for tx in 0..tw {
                if rows[ty * tw + tx] {
                    for y in ty.saturating_sub(n)..(ty + n + 1).min(th) {
                        out.on[y * tw + tx] = true;
                    }
                }
            }
        }
        out
    }

    /// The column spans (frame coordinates) of the active tiles in frame row `y`.
    pub(crate) fn spans(&self, y: usize, w: usize) -> Vec<(usize, usize)> {
        let ty = y / self.tile;
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for tx in 0..self.tw {
            if self.on[ty * self.tw + tx] {
                let (a, b) = (tx * self.tile, ((tx + 1) * self.tile).min(w));
                match spans.last_mut() {
                    Some(last) if last.1 == a => last.1 = b,
                    _ => spans.push((a, b)),
                }
            }
        }
        spans
    }
}

fn run(plan: &Plan, src: &ImageView, dst: &mut ImageViewMut, max_r: f32, scratch: &Scratch) -> RenderStats {
    let stats = run_masked(plan, src, dst, max_r, None, scratch);
    keep_non_negative(&stats, dst);
    stats
}

/// A lens never makes light negative: where the source holds no negative sample, output samples
/// below 0 (a kernel with negative lobes rings below zero round a highlight) are set to 0. A
/// source with negative values (wide-gamut colour, signed data) is left as the cascade gives it.
fn keep_non_negative(stats: &RenderStats, dst: &mut ImageViewMut) {
    if stats.negative_samples == 0 {
        dst.rows_mut().par_iter_mut().for_each(|row| row.iter_mut().filter(|v| **v < 0.0).for_each(|v| *v = 0.0));
    }
}

/// Padded column ranges of padded row `yp` to compute: the whole `lo..wp−lo`, or the active
/// tiles of `mask` (tiles at the frame's edge extend into the padding).
fn row_ranges(
    mask: Option<&TileMask>,
    geo: &Padded,
    w: usize,
    h: usize,
    yp: usize,
    lo: usize,
) -> Vec<std::ops::Range<usize>> {
    let full = lo..geo.wp - lo;
    let Some(m) = mask else { return vec![full] };
    let y = (yp as isize - geo.pad as isize).clamp(0, h as isize - 1) as usize;
    m.spans(y, w)
        .into_iter()
        .map(|(a, b)| {
            let start = if a == 0 { full.start } else { (a + geo.pad).max(full.start) };
            let end = if b == w { full.end } else { (b + geo.pad).min(full.end) };
            start..end
        })
        .filter(|r| r.start < r.end)
        .collect()
}

pub(crate) fn run_masked(
    plan: &Plan,
    src: &ImageView,
    dst: &mut ImageViewMut,
    max_r: f32,
    mask: Option<&TileMask>,
    scratch: &Scratch,
) -> RenderStats {
    let (a, geo, stats) = pad_source(plan, src, max_r, scratch);
    run_layers(plan, a, &geo, dst, mask, scratch);
    stats
}

/// `plan` applied to `image` in place: buffer A holds the whole source, so the frame itself can
/// take the result.
pub(crate) fn run_in_place(plan: &Plan, image: &mut ImageViewMut, max_r: f32, scratch: &Scratch) -> RenderStats {
    let (a, geo, stats) = pad_source(plan, &image.as_view(), max_r, scratch);
    run_layers(plan, a, &geo, image, None, scratch);
    stats
}

/// The non-finite and the negative samples of `row`.
pub(crate) fn sample_counts(row: &[f32]) -> (usize, usize) {
    row.iter().fold((0, 0), |(n, m), v| (n + !v.is_finite() as usize, m + (*v < 0.0) as usize))
}

/// Two [`sample_counts`] added.
pub(crate) fn add_counts(a: (usize, usize), b: (usize, usize)) -> (usize, usize) {
    (a.0 + b.0, a.1 + b.1)
}

/// The source's non-finite and negative samples counted (the other fields 0).
pub(crate) fn source_stats(src: &ImageView) -> RenderStats {
    let (nonfinite_samples, negative_samples) =
        (0..src.height).into_par_iter().map(|y| sample_counts(src.row(y))).reduce(|| (0, 0), add_counts);
    RenderStats { nonfinite_samples, negative_samples, ..Default::default() }
}

/// The padded geometry of a plan on a frame, buffer A (the source edge-replicated, non-finite
/// samples replaced by 0), and the stats of the source.
fn pad_source(plan: &Plan, src: &ImageView, max_r: f32, scratch: &Scratch) -> (Vec<f32>, Padded, RenderStats) {
    let (w, h, c) = (src.width, src.height, src.channels);
    let pad = super::request::padding(&plan.reaches);
    let geo = Padded { pad, wp: w + 2 * pad, hp: h + 2 * pad, c };
    let stats = RenderStats { tables: plan.tables.len(), max_radius: max_r, ..source_stats(src) };
    let mut a = scratch.take(geo.wp * geo.hp * c);
    a.par_chunks_mut(geo.row_len()).enumerate().for_each(|(yp, row)| {
        let srow = src.row((yp as isize - pad as isize).clamp(0, h as isize - 1) as usize);
        for (xp, px) in row.chunks_exact_mut(c).enumerate() {
            let sx = (xp as isize - pad as isize).clamp(0, w as isize - 1) as usize;
            for (o, &v) in px.iter_mut().zip(&srow[sx * c..sx * c + c]) {
                *o = if v.is_finite() { v } else { 0.0 };
            }
        }
    });
    (a, geo, stats)
}

/// The layer passes from buffer A into `dst` (the frame's size).
fn run_layers(
    plan: &Plan,
    mut a: Vec<f32>,
    geo: &Padded,
    dst: &mut ImageViewMut,
    mask: Option<&TileMask>,
    scratch: &Scratch,
) {
    let (w, h, c, pad) = (dst.width, dst.height, geo.c, geo.pad);
    let layers = plan.reaches.len();
    let mut b = if layers > 1 { scratch.take(a.len()) } else { Vec::new() };

    // Layer l computes the padded region shrunk by the reaches of layers 0..=l on every side,
    // so its reads stay inside what layer l−1 computed; the last layer's region is the frame.
    // With a mask, layer l computes the tiles the later layers read: the mask grown by their
    // reaches.
    let mut shrink = 0usize;
    for l in 0..layers {
        shrink += plan.reaches[l] as usize;
        let later: usize = plan.reaches[l + 1..].iter().map(|&r| r as usize).sum();
        let layer_mask = mask.map(|m| m.dilated(later));
        let (input, output) = if l % 2 == 0 { (&a, &mut b) } else { (&b, &mut a) };
        // Bands of BAND_ROWS rows run in parallel; inside a band, strips of STRIP_PX columns
        // are done row after row, so the input rows a strip reads stay in L2.
        let band = |rows: &mut [&mut [f32]], y0: usize, lo: usize, out_x0: usize| {
            let ranges: Vec<Vec<std::ops::Range<usize>>> =
                (0..rows.len()).map(|i| row_ranges(layer_mask.as_ref(), geo, w, h, y0 + i, lo)).collect();
            let (first, last) =
                ranges.iter().flatten().fold((usize::MAX, 0), |(a, b), r| (a.min(r.start), b.max(r.end)));
            let mut s0 = first;
            while s0 < last {
                let s1 = (s0 + STRIP_PX).min(last);
                for (i, row) in rows.iter_mut().enumerate() {
                    for xs in &ranges[i] {
                        let (a, b) = (xs.start.max(s0), xs.end.min(s1));
                        if a < b {
                            let o = &mut row[(a - out_x0) * c..(b - out_x0) * c];
                            layer_row(plan, l, input, geo, w, h, y0 + i, a..b, o);
                        }
                    }
                }
                s0 = s1;
            }
        };
        if l + 1 == layers {
            let mut rows = dst.rows_mut();
            rows.par_chunks_mut(BAND_ROWS)
                .enumerate()
                .for_each(|(bi, chunk)| band(chunk, pad + bi * BAND_ROWS, pad, pad));
        } else {
            let lo = shrink;
            output.par_chunks_mut(geo.row_len() * BAND_ROWS).enumerate().for_each(|(bi, chunk)| {
                let y0 = bi * BAND_ROWS;
                let mut rows: Vec<&mut [f32]> = chunk
                    .chunks_mut(geo.row_len())
                    .enumerate()
                    .filter(|(i, _)| y0 + i >= lo && y0 + i < geo.hp - lo)
                    .map(|(_, r)| r)
                    .collect();
                // Rows before `lo` are skipped: the band's first computed row.
                let first = (y0..y0 + BAND_ROWS).find(|&y| y >= lo).unwrap_or(y0);
                band(&mut rows, first, lo, 0);
            });
        }
    }
    scratch.give(a);
    scratch.give(b);
}

/// Rows per parallel band and columns per cache strip of a layer pass.
const BAND_ROWS: usize = 16;
const STRIP_PX: usize = 256;

/// `out` = the merged integer taps applied along padded row `yp` from column `x0` on
/// (`out.len() / C` pixels).
fn int_taps_run(taps: &[super::plan::IntTap], input: &[f32], geo: &Padded, yp: usize, x0: usize, out: &mut [f32]) {
    let c = geo.c;
    let starts: Vec<(usize, f32)> = taps
        .iter()
        .map(|t| {
            let sy = (yp as isize - t.dy as isize) as usize;
            (sy * geo.row_len() + (x0 as isize - t.dx as isize) as usize * c, t.w)
        })
        .collect();
    simd::taps_block(out, input, &starts);
}

/// Pixels in a run of one radius table from which the merged integer taps beat the gather.
const RUN_MIN: usize = 6;

/// Computes padded row `yp`, columns `xs`, of layer `l` into `out` (length |xs|·C).
#[allow(clippy::too_many_arguments)]
fn layer_row(
    plan: &Plan,
    l: usize,
    input: &[f32],
    geo: &Padded,
    w: usize,
    h: usize,
    yp: usize,
    xs: std::ops::Range<usize>,
    out: &mut [f32],
) {
    let c = geo.c;
    if plan.is_uniform() {
        // Fixed radius: merged integer taps along the row.
        int_taps_run(&plan.tables[0].integer_layers()[l], input, geo, yp, xs.start, out);
        return;
    }
    let sy = (yp as isize - geo.pad as isize).clamp(0, h as isize - 1) as usize;
    let table_row = &plan.pixel_table[sy * w..(sy + 1) * w];
    let table_at = |xp: usize| table_row[(xp as isize - geo.pad as isize).clamp(0, w as isize - 1) as usize];
    // Runs of pixels sharing a radius table: long runs take the merged integer taps along the
    // run (the fixed-radius loop), short ones the per-pixel bilinear gather.
    let mut x = xs.start;
    while x < xs.end {
        let t = table_at(x);
        let mut e = x + 1;
        while e < xs.end && table_at(e) == t {
            e += 1;
        }
        let table = &plan.tables[t as usize];
        let run = &mut out[(x - xs.start) * c..(e - xs.start) * c];
        if e - x >= RUN_MIN {
            int_taps_run(&table.integer_layers()[l], input, geo, yp, x, run);
        } else {
            let taps = &table.layers[l];
            for (o, xp) in run.chunks_exact_mut(c).zip(x..e) {
                match c {
                    1 => o.copy_from_slice(&simd::gather_pixel::<1>(input, geo.wp, xp, yp, taps)),
                    2 => o.copy_from_slice(&simd::gather_pixel::<2>(input, geo.wp, xp, yp, taps)),
                    3 => o.copy_from_slice(&simd::gather_pixel::<3>(input, geo.wp, xp, yp, taps)),
                    _ => o.copy_from_slice(&simd::gather_pixel::<4>(input, geo.wp, xp, yp, taps)),
                }
            }
        }
        x = e;
    }
}

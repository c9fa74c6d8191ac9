//! The render request (ARCHITECTURE.md, "The render request"): everything a front end can ask
//! of a frame is one [`RenderOptions`] value with one `Default`, rendered by
//! [`Engine::render`]. The CLI, the C API and the OpenFX plugin map their inputs onto it and add
//! nothing of their own.
//!
//! A render runs these stages, in order:
//! 1. **checks**: the options ([`RenderOptions::validate`]) and the images;
//! 2. **depth**: the chosen channel of the depth image, inverted (`1 − z`) when asked;
//! 3. **output**: the blurred frame, the focal-plane setup tint or the CoC map;
//! 4. **mix**: the result blended with the source (result output only).
//!
//! A new option is a field here, a stage (or a line in one), and one line per front end.

use super::engine::{Edges, Engine, RenderError, RenderStats};
use super::lens::{Lens, LensMode, MAX_RADIUS};
use super::plan::{bucket, bucket_radius};
use crate::bundle::{AtRadius, Bundle};
use crate::image::{ImageView, ImageViewMut};

/// What a render writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Output {
    /// The blurred frame (blended with the source by [`RenderOptions::mix`]).
    #[default]
    Result,
    /// The source tinted by where each pixel lies: red in front of the in-focus band, green in
    /// it, blue behind it.
    FocalPlaneSetup,
    /// The circle-of-confusion radius in full-resolution pixels in every colour channel (alpha 1).
    CocMap,
    /// The CoC map divided by the largest radius the options allow (the lens maximum with depth,
    /// the radius without): 0 in focus, 1 at the maximum, so hosts that clip to 0–1 show it.
    CocMapNormalised,
}

/// Everything a front end can ask of one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RenderOptions {
    /// How depth maps to a blur radius, and the render scale of proxy renders.
    pub lens: Lens,
    /// How depth edges are treated.
    pub edges: Edges,
    /// What the render writes.
    pub output: Output,
    /// Blend between the source (0) and the result (1); result output only.
    pub mix: f64,
    /// The blur radius (full-resolution pixels) of a render without a depth image.
    pub radius: f64,
    /// The channel of the depth image that holds depth (clamped to its last channel).
    pub depth_channel: usize,
    /// Use `1 − value` of the depth channel (normalised depth passes where white is near).
    pub invert_depth: bool,
}

impl Default for RenderOptions {
    /// The defaults every front end shares (the CLI's flags, `sb_options_default`, the OpenFX
    /// parameters; `tests/defaults.rs` checks they agree).
    fn default() -> Self {
        RenderOptions {
            lens: Lens::default(),
            edges: Edges::default(),
            output: Output::default(),
            mix: 1.0,
            radius: 8.0,
            depth_channel: 0,
            invert_depth: false,
        }
    }
}

impl RenderOptions {
    /// Checks the options a render with (`with_depth`) or without a depth image uses.
    pub fn validate(&self, with_depth: bool) -> Result<(), RenderError> {
        if with_depth {
            self.lens.validate()?;
        } else {
            self.lens.validate_render_scale()?;
        }
        if !(self.mix.is_finite() && (0.0..=1.0).contains(&self.mix)) {
            return Err(RenderError::Option { field: "mix", value: self.mix, reason: "must be in 0..=1" });
        }
        if !(self.radius.is_finite() && (0.0..=MAX_RADIUS).contains(&self.radius)) {
            return Err(RenderError::Radius(self.radius));
        }
        Ok(())
    }

    /// The largest blur radius (pixels at render scale) these options can produce.
    pub fn max_radius(&self, with_depth: bool) -> f64 {
        let l = &self.lens;
        let r = if !with_depth {
            self.radius
        } else if l.mode != LensMode::Coc && l.size == 0.0 {
            0.0
        } else {
            l.maximum
        };
        (r * l.render_scale).min(MAX_RADIUS)
    }

    /// Whether a render leaves the source unchanged (no blur, or a mix of 0).
    pub fn passes_through(&self, with_depth: bool) -> bool {
        self.output == Output::Result && (self.mix == 0.0 || self.max_radius(with_depth) <= 0.5)
    }

    /// Whether a render needs a bundle: a result that is not a pass-through.
    pub fn needs_bundle(&self, with_depth: bool) -> bool {
        self.output == Output::Result && !self.passes_through(with_depth)
    }

    /// Whether a render takes the layered path, which reads the whole frame for any output pixel.
    pub fn is_layered(&self, with_depth: bool) -> bool {
        self.edges == Edges::Layered && with_depth && self.needs_bundle(with_depth)
    }

    /// How far (pixels at render scale) an output pixel reads from the source: [`blur_reach`]
    /// at [`RenderOptions::max_radius`], 0 when nothing is blurred. The layered path reads the
    /// whole frame besides (see [`RenderOptions::is_layered`]).
    pub fn reach(&self, bundle: &Bundle, with_depth: bool) -> usize {
        if self.needs_bundle(with_depth) {
            blur_reach(bundle, self.max_radius(with_depth))
        } else {
            0
        }
    }
}

/// How far (in pixels) a blur at radii up to `max_radius` reads: at full resolution, the sum
/// over layers of each layer's largest reach at any radius ≤ `max_radius`, plus one pixel per
/// layer of margin (the reach of an interpolated complex never exceeds that of its end points,
/// so the basis entries up to `max_radius`, `max_radius` itself and its 1/32-px bucket bound
/// it); and the same through the reduced resolution levels (`levels::reach`), whichever is
/// larger. The one reach function: the engine's working-frame guard, the C API's size guard and
/// the OpenFX regions of interest all use it.
pub fn blur_reach(bundle: &Bundle, max_radius: f64) -> usize {
    full_resolution_reach(bundle, max_radius).max(super::levels::reach(bundle, max_radius))
}

/// The full-resolution part of [`blur_reach`] (also the reach of one level's plan, in that
/// level's pixels).
pub(crate) fn full_resolution_reach(bundle: &Bundle, max_radius: f64) -> usize {
    if max_radius <= 0.5 {
        return 0;
    }
    let mut per_layer = vec![0i32; bundle.layers];
    let mut consider = |r: f64| {
        if let AtRadius::Complex(c) = bundle.at_radius(r) {
            for (p, l) in per_layer.iter_mut().zip(c.layer_reaches()) {
                *p = (*p).max(l);
            }
        }
    };
    for e in bundle.basis.iter().filter(|e| e.radius <= max_radius) {
        consider(e.radius);
    }
    consider(max_radius);
    consider(bucket_radius(bucket(max_radius.min(MAX_RADIUS) as f32)));
    padding(&per_layer) + per_layer.len()
}

/// Largest [`blur_reach`] a render accepts, in pixels.
pub const MAX_REACH: usize = 8192;

/// Largest number of taps the radius tables of one render may hold (tables × layers × taps per
/// layer; a table also holds merged integer taps, ~50 bytes a tap in all): 2^24, ~0.8 GB.
pub const MAX_TABLE_TAPS: u128 = 1 << 24;

/// Refuses, before anything is built, a blur of a `width × height × channels` frame at radii up
/// to `max_radius` that reaches more than [`MAX_REACH`], whose padded working frame would
/// exceed [`super::engine::MAX_WORK_FLOATS`], or (`per_pixel`: a radius per pixel, one table per
/// 1/32 px in use) whose radius tables could exceed [`MAX_TABLE_TAPS`]. `Engine::render` and
/// the C API's plain blurs use it.
pub(crate) fn check_reach(
    bundle: &Bundle,
    max_radius: f64,
    (width, height, channels): (usize, usize, usize),
    per_pixel: bool,
) -> Result<(), RenderError> {
    if per_pixel {
        let buckets = super::plan::bucket(max_radius.min(MAX_RADIUS) as f32) as u64 + 1;
        let tables = buckets.min(width as u64 * height as u64);
        let taps = bundle.layers * bundle.taps;
        let total = tables as u128 * taps as u128;
        if total > MAX_TABLE_TAPS {
            return Err(RenderError::Tables { taps, tables, total });
        }
    }
    let pad = blur_reach(bundle, max_radius);
    if pad > MAX_REACH {
        return Err(RenderError::Reach(pad));
    }
    let floats = (width as u128 + 2 * pad as u128) * (height as u128 + 2 * pad as u128) * channels as u128;
    if floats > super::engine::MAX_WORK_FLOATS {
        return Err(RenderError::TooLarge(floats));
    }
    Ok(())
}

/// The padding a cascade of layers with these reaches needs around the frame: their sum.
pub(crate) fn padding(layer_reaches: &[i32]) -> usize {
    layer_reaches.iter().map(|&r| r.max(0) as usize).sum()
}

/// The NaN and ±Inf samples of a view.
fn count_nonfinite(view: &ImageView) -> usize {
    use rayon::prelude::*;
    (0..view.height).into_par_iter().map(|y| view.row(y).iter().filter(|v| !v.is_finite()).count()).sum()
}

/// The tints of the focal-plane setup output.
const NEAR_TINT: [f32; 3] = [1.0, 0.25, 0.25];
const FOCUS_TINT: [f32; 3] = [0.25, 1.0, 0.25];
const FAR_TINT: [f32; 3] = [0.25, 0.25, 1.0];

/// The depth of a render: a view and the channel to read.
struct Depth<'a> {
    view: ImageView<'a>,
    channel: usize,
}

impl Engine {
    /// Renders `src` into `dst` as `options` ask: with each pixel's radius from `depth` when
    /// given, else at `options.radius`. `bundle` may be `None` when
    /// [`RenderOptions::needs_bundle`] is false. Nothing is written when an error is returned.
    pub fn render(
        &self,
        bundle: Option<&Bundle>,
        options: &RenderOptions,
        src: &ImageView,
        depth: Option<&ImageView>,
        dst: &mut ImageViewMut,
    ) -> Result<RenderStats, RenderError> {
        let with_depth = depth.is_some();
        options.validate(with_depth)?;
        super::engine::check_pair(src, dst)?;
        if let Some(d) = depth {
            super::engine::check_size(d, src)?;
        }
        let bundle = match bundle {
            Some(b) if options.needs_bundle(with_depth) => {
                let size = (src.width, src.height, src.channels);
                check_reach(b, options.max_radius(with_depth), size, with_depth)?;
                Some(b)
            }
            Some(b) => Some(b),
            None if options.needs_bundle(with_depth) => return Err(RenderError::NoBundle),
            None => None,
        };
        // Stage 2: the depth values.
        let inverted = depth.filter(|_| options.invert_depth).map(|d| invert_channel(d, options.depth_channel));
        let depth = match (&inverted, depth) {
            (Some(values), Some(d)) => {
                let view = ImageView::packed(values, d.width, d.height, 1)
                    .map_err(|e| RenderError::Mismatch(e.to_string()))?;
                Some(Depth { view, channel: 0 })
            }
            (None, Some(d)) => Some(Depth { view: *d, channel: options.depth_channel.min(d.channels - 1) }),
            _ => None,
        };
        // Stage 3: the output.
        let stats = match options.output {
            Output::Result => self.result(bundle, options, src, depth.as_ref(), dst)?,
            Output::FocalPlaneSetup => focal_plane_setup(options, src, depth.as_ref(), dst),
            Output::CocMap | Output::CocMapNormalised => coc_output(options, depth.as_ref(), dst),
        };
        // Stage 4: the mix.
        if options.output == Output::Result && options.mix < 1.0 {
            mix_with_source(options.mix as f32, src, dst);
        }
        Ok(RenderStats { nonfinite_output: count_nonfinite(&dst.as_view()), ..stats })
    }

    /// Renders `image` in place as `options` ask, without depth (at `options.radius`): the same
    /// pixels as [`Engine::render`]; a plain blur keeps one frame in memory.
    pub fn render_in_place(
        &self,
        bundle: Option<&Bundle>,
        options: &RenderOptions,
        image: &mut ImageViewMut,
    ) -> Result<RenderStats, RenderError> {
        options.validate(false)?;
        let plain = options.output == Output::Result && options.mix == 1.0;
        match bundle {
            Some(b) if plain && options.needs_bundle(false) => {
                let r = options.max_radius(false);
                check_reach(b, r, (image.width, image.height, image.channels), false)?;
                let stats = self.blur_fixed_in_place(b, r, image)?;
                Ok(RenderStats { nonfinite_output: count_nonfinite(&image.as_view()), ..stats })
            }
            _ if plain && !options.needs_bundle(false) => Ok(RenderStats::default()),
            _ => {
                let src = crate::image::Image::from_view(&image.as_view());
                self.render(bundle, options, &src.view(), None, image)
            }
        }
    }

    /// The blurred frame (or the source, when nothing is blurred).
    fn result(
        &self,
        bundle: Option<&Bundle>,
        options: &RenderOptions,
        src: &ImageView,
        depth: Option<&Depth>,
        dst: &mut ImageViewMut,
    ) -> Result<RenderStats, RenderError> {
        match (bundle, depth) {
            (Some(b), Some(d)) if !options.passes_through(true) => {
                self.blur_depth_with(b, &options.lens, options.edges, &d.view, d.channel, src, dst)
            }
            (Some(b), None) if !options.passes_through(false) => {
                self.blur_fixed(b, options.max_radius(false), src, dst)
            }
            _ => {
                for y in 0..src.height {
                    dst.row_mut(y).copy_from_slice(src.row(y));
                }
                Ok(RenderStats::default())
            }
        }
    }
}

/// One channel of a depth image as `1 − value`, packed row-major.
fn invert_channel(depth: &ImageView, channel: usize) -> Vec<f32> {
    let ch = channel.min(depth.channels - 1);
    let mut values = Vec::with_capacity(depth.width * depth.height);
    for y in 0..depth.height {
        values.extend(depth.row(y).chunks_exact(depth.channels).map(|px| 1.0 - px[ch]));
    }
    values
}

/// The depth value of pixel `x` of row `y`.
fn depth_at(d: &Depth, x: usize, y: usize) -> f32 {
    let c = d.view.channels;
    d.view.row(y)[x * c + d.channel]
}

/// The focal-plane setup: the source tinted by where each pixel's depth lies.
fn focal_plane_setup(
    options: &RenderOptions,
    src: &ImageView,
    depth: Option<&Depth>,
    dst: &mut ImageViewMut,
) -> RenderStats {
    let c = src.channels;
    let mut stats = RenderStats::default();
    for y in 0..src.height {
        let srow = src.row(y);
        let orow = dst.row_mut(y);
        for (x, (o, s)) in orow.chunks_exact_mut(c).zip(srow.chunks_exact(c)).enumerate() {
            let tint = match depth {
                Some(d) => {
                    let (tint, bad) = focal_tint(&options.lens, depth_at(d, x, y));
                    stats.bad_depth += bad as usize;
                    tint
                }
                None if options.max_radius(false) > 0.5 => FAR_TINT,
                None => FOCUS_TINT,
            };
            o.copy_from_slice(s);
            if c >= 3 {
                o.iter_mut().zip(tint).for_each(|(v, t)| *v *= t);
            }
        }
    }
    stats
}

/// The focal-plane-setup tint of a depth value (in front of the in-focus band, in it, behind
/// it), and whether the value was bad.
fn focal_tint(lens: &Lens, z: f32) -> ([f32; 3], bool) {
    let (r, bad) = lens.coc_radius(z);
    if r == 0.0 {
        return (FOCUS_TINT, bad);
    }
    let z = z as f64;
    let near = match lens.mode {
        LensMode::Depth => z.is_finite() && z > 0.0 && z < lens.focus,
        LensMode::InverseDepth => z.is_finite() && z > lens.focus,
        LensMode::Coc => false,
    };
    (if near { NEAR_TINT } else { FAR_TINT }, bad)
}

/// The CoC map: each pixel's radius in full-resolution pixels (so the map reads the same at
/// every proxy scale) in every channel, alpha 1; normalised, that radius over the largest one
/// the options allow (0 when that is 0).
fn coc_output(options: &RenderOptions, depth: Option<&Depth>, dst: &mut ImageViewMut) -> RenderStats {
    let c = dst.channels;
    let mut stats = RenderStats::default();
    let largest = if depth.is_some() { options.lens.maximum } else { options.radius };
    let unit = match options.output {
        Output::CocMapNormalised if largest > 0.0 => largest as f32,
        Output::CocMapNormalised => f32::INFINITY,
        _ => 1.0,
    };
    for y in 0..dst.height {
        for (x, px) in dst.row_mut(y).chunks_exact_mut(c).enumerate() {
            let r = match depth {
                Some(d) => {
                    let (r, bad) = options.lens.coc_radius(depth_at(d, x, y));
                    stats.bad_depth += bad as usize;
                    (r as f64 / options.lens.render_scale) as f32
                }
                None => options.radius as f32,
            };
            stats.max_radius = stats.max_radius.max(r);
            px.fill(r / unit);
            if c == 4 {
                px[3] = 1.0;
            }
        }
    }
    stats
}

/// `dst = mix · dst + (1 − mix) · src`.
fn mix_with_source(mix: f32, src: &ImageView, dst: &mut ImageViewMut) {
    for y in 0..src.height {
        for (o, &s) in dst.row_mut(y).iter_mut().zip(src.row(y)) {
            *o = mix * *o + (1.0 - mix) * s;
        }
    }
}

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
use crate::bundle::{AtRadius, Bundle, Transform};
use crate::image::{ImageView, ImageViewMut};
use std::borrow::Cow;

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
    /// The depth slices of the layered blur: each pixel coloured by the slice of signed CoC it
    /// lies in (the surface ladder 0, ±1, ±4, ±16 … px; a pixel between two slice centres mixes
    /// their colours), shaded by the source's luminance; pixels on a depth edge (where the
    /// layered path takes over from gather) are white. See [`slice_colour`].
    DepthSlices,
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
    /// Rotation of the bokeh in degrees, counter-clockwise on screen.
    pub rotation: f64,
    /// Aspect ratio of the bokeh (width / height, [`ASPECT_RANGE`]): its width is `aspect`
    /// times its height, which stays 2 × the radius (anamorphic ovals: below 1 tall, above 1
    /// wide).
    pub aspect: f64,
    /// The image's pixel aspect ratio (a pixel's width / height, [`PIXEL_ASPECT_RANGE`]): tap x
    /// offsets are divided by it so the bokeh is round on screen. Front ends take it from the
    /// image (OpenFX `kOfxImagePropPixelAspectRatio`), as the render scale.
    pub pixel_aspect: f64,
    /// Highlights: luminance (linear light) above which pixels are boosted before the blur.
    pub bloom_threshold: f64,
    /// Highlights: how much luminance above [`RenderOptions::bloom_threshold`] is added per unit
    /// of excess (a pixel of luminance Y > t is scaled by `(Y + gain·(Y − t)) / Y`); 0 = off.
    pub bloom_gain: f64,
    /// The encoding gamma of display-referred input: colour is raised to `gamma` before the blur
    /// (and bloom) and to `1/gamma` after, so it is blurred in linear light; 1 = off.
    pub gamma: f64,
    /// Focus from a point: the focal plane becomes the median depth of the [`FOCUS_WINDOW`]²
    /// pixels around this point (pixel coordinates of the rendered frame: x right, y down from
    /// its top-left corner; the pixel holding the point is the window's centre). `None` = off.
    pub focus_at: Option<[f64; 2]>,
}

/// The range of [`RenderOptions::aspect`].
pub const ASPECT_RANGE: std::ops::RangeInclusive<f64> = 0.25..=4.0;
/// The range of [`RenderOptions::pixel_aspect`].
pub const PIXEL_ASPECT_RANGE: std::ops::RangeInclusive<f64> = 0.1..=10.0;
/// The side of the window whose median depth focus-from-point takes (pixels, odd).
pub const FOCUS_WINDOW: usize = 5;

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
            rotation: 0.0,
            aspect: 1.0,
            pixel_aspect: 1.0,
            bloom_threshold: 0.8,
            bloom_gain: 0.0,
            gamma: 1.0,
            focus_at: None,
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
        let option = |field: &'static str, value: f64, ok: bool, reason: &'static str| {
            if ok && value.is_finite() {
                Ok(())
            } else {
                Err(RenderError::Option { field, value, reason })
            }
        };
        option("rotation", self.rotation, self.rotation.abs() <= 1e6, "must be a finite number of degrees")?;
        option("aspect", self.aspect, ASPECT_RANGE.contains(&self.aspect), "must be in 0.25..=4")?;
        let par = self.pixel_aspect;
        option("pixel_aspect", par, PIXEL_ASPECT_RANGE.contains(&par), "must be in 0.1..=10")?;
        let t = self.bloom_threshold;
        option("bloom_threshold", t, (0.0..=1e6).contains(&t), "must be in 0..=1e6")?;
        option("bloom_gain", self.bloom_gain, (0.0..=1e3).contains(&self.bloom_gain), "must be in 0..=1000")?;
        option("gamma", self.gamma, (0.1..=10.0).contains(&self.gamma), "must be in 0.1..=10")?;
        if let Some([x, y]) = self.focus_at {
            option("focus_at x", x, x.abs() <= 1e9, "must be a finite pixel coordinate")?;
            option("focus_at y", y, y.abs() <= 1e9, "must be a finite pixel coordinate")?;
        }
        Ok(())
    }

    /// The linear map of tap offsets these options ask for (pixels, y down): stretch x by
    /// `aspect`, rotate by `rotation` counter-clockwise on screen, divide x by `pixel_aspect`.
    /// `None` when it is the identity (the defaults: renders are bit-identical to untransformed
    /// ones). Quarter turns are exact.
    pub fn tap_transform(&self) -> Option<Transform> {
        self.transform_turning(self.rotation)
    }

    /// [`RenderOptions::tap_transform`] with the rotation `rotation` (degrees).
    fn transform_turning(&self, rotation: f64) -> Option<Transform> {
        if rotation.rem_euclid(360.0) == 0.0 && self.aspect == 1.0 && self.pixel_aspect == 1.0 {
            return None;
        }
        let turn = rotation.rem_euclid(360.0);
        let (sin, cos) = match turn {
            0.0 => (0.0, 1.0),
            90.0 => (1.0, 0.0),
            180.0 => (0.0, -1.0),
            270.0 => (-1.0, 0.0),
            _ => turn.to_radians().sin_cos(),
        };
        // y points down: a counter-clockwise turn on screen maps (1, 0) to (cos, −sin).
        let (a, p) = (self.aspect, 1.0 / self.pixel_aspect);
        Some([[p * cos * a, p * sin], [-sin * a, cos]])
    }

    /// The bundle a render with these options blurs with: `bundle` with its offsets mapped by
    /// [`RenderOptions::tap_transform`] (borrowed unchanged when that is the identity).
    ///
    /// A rotation of the aperture by one of its symmetries is no rotation, so a round bokeh
    /// is never rotated, and (without aspect or pixel aspect) the rotation is first moved by
    /// whole symmetry steps of the bundle's target (an n-gon's or star's 360°/n) to the turn
    /// nearest a quarter turn: quarter turns move taps from pixel to pixel exactly, while other
    /// angles change each tap's bilinear fractions and blur the rim (ARCHITECTURE.md "The render
    /// request"). A hexagon turned 30° is the shipped hexagon turned 90°.
    pub fn shaped<'b>(&self, bundle: &'b Bundle) -> Cow<'b, Bundle> {
        match self.shape_map(bundle) {
            None => Cow::Borrowed(bundle),
            Some(m) => Cow::Owned(bundle.transformed(&m)),
        }
    }

    /// The map [`RenderOptions::shaped`] applies to `bundle`'s offsets (`None`: the identity).
    pub fn shape_map(&self, bundle: &Bundle) -> Option<[[f64; 2]; 2]> {
        let rotation = match symmetry_step(bundle) {
            Some(step) if self.aspect == 1.0 && self.pixel_aspect == 1.0 => nearest_quarter(self.rotation, step),
            _ => self.rotation,
        };
        self.transform_turning(rotation)
    }

    /// Whether highlights are boosted or colour is linearised before the blur.
    fn preprocesses(&self) -> bool {
        self.bloom_gain > 0.0 || self.gamma != 1.0
    }

    /// These options with focus-from-point resolved on `depth` (the channel `channel` of the
    /// rendered frame's depth, or of any part of it: `origin` is the frame position of `depth`'s
    /// top-left pixel): `lens.focus` becomes the median of the finite depth values (`1 − z` when
    /// `invert_depth`) in the [`FOCUS_WINDOW`]² window around `focus_at` clipped to `depth`
    /// (the lower of the two middle values of an even count), and `focus_at` is cleared. Left
    /// as they are (but cleared) when the window holds no finite value or the lens reads CoC
    /// directly. A front end that renders a part of the frame resolves focus on a view that
    /// holds the window, then renders the part.
    pub fn resolve_focus(&self, depth: &ImageView, channel: usize, origin: [i64; 2]) -> RenderOptions {
        let mut o = *self;
        let Some([fx, fy]) = self.focus_at else { return o };
        o.focus_at = None;
        if self.lens.mode == LensMode::Coc || depth.channels == 0 {
            return o;
        }
        let ch = channel.min(depth.channels - 1);
        let half = (FOCUS_WINDOW / 2) as i64;
        let (cx, cy) = (fx.floor() as i64 - origin[0], fy.floor() as i64 - origin[1]);
        let mut values = Vec::with_capacity(FOCUS_WINDOW * FOCUS_WINDOW);
        for y in (cy - half).max(0)..(cy + half + 1).min(depth.height as i64) {
            let row = depth.row(y as usize);
            for x in (cx - half).max(0)..(cx + half + 1).min(depth.width as i64) {
                let v = row[x as usize * depth.channels + ch];
                let v = if self.invert_depth { 1.0 - v } else { v };
                if v.is_finite() {
                    values.push(v);
                }
            }
        }
        if !values.is_empty() {
            values.sort_by(f32::total_cmp);
            o.lens.focus = values[(values.len() - 1) / 2] as f64;
        }
        o
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
            blur_reach(&self.shaped(bundle), self.max_radius(with_depth))
        } else {
            0
        }
    }
}

/// The rotation step (degrees) that maps a bundle's target onto itself: 360/n for an n-gon or
/// an n-pointed star, 0 for a shape round about its centre (disc, ring, gaussian: any turn),
/// `None` for the others (heart, cat-eye, images, unknown).
fn symmetry_step(bundle: &Bundle) -> Option<f64> {
    let count = |key: &str| bundle.target["params"][key].as_u64().filter(|&n| n >= 1).map(|n| 360.0 / n as f64);
    match bundle.target["shape"].as_str()? {
        "disc" | "ring" | "gaussian" => Some(0.0),
        "ngon" => count("sides"),
        "star" => count("points"),
        _ => None,
    }
}

/// `rotation` moved by whole `step`s (0: any amount) to the angle nearest a multiple of 90°,
/// the smallest such move (ties: the smaller angle).
fn nearest_quarter(rotation: f64, step: f64) -> f64 {
    if step == 0.0 {
        return 0.0;
    }
    let off = |a: f64| {
        let q = a.rem_euclid(90.0);
        q.min(90.0 - q)
    };
    // Symmetry steps that are not divisors of 360 repeat after at most 360 of them.
    let steps = (360.0 / step).ceil() as i64;
    let mut best = rotation;
    for k in 0..steps.clamp(1, 360) {
        let a = rotation + k as f64 * step;
        if off(a) < off(best) - 1e-9 {
            best = a;
        }
    }
    let q = (best / 90.0).round() * 90.0;
    if (best - q).abs() < 1e-9 {
        q
    } else {
        best
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
        // Focus from a point: the focal plane is the depth under it.
        let resolved = match depth {
            Some(d) => options.resolve_focus(d, options.depth_channel, [0, 0]),
            None => RenderOptions { focus_at: None, ..*options },
        };
        let options = &resolved;
        // The bundle with the bokeh's rotation, aspect and the pixel aspect applied to its taps.
        let shaped = match bundle {
            Some(b) if options.needs_bundle(with_depth) => {
                let b = self.shaped(options, b);
                let size = (src.width, src.height, src.channels);
                check_reach(&b, options.max_radius(with_depth), size, with_depth)?;
                Some(b)
            }
            Some(b) => Some(Cow::Borrowed(b)),
            None if options.needs_bundle(with_depth) => return Err(RenderError::NoBundle),
            None => None,
        };
        let bundle = shaped.as_deref();
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
            Output::DepthSlices => depth_slices(options, src, depth.as_ref(), dst),
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
        let plain = options.output == Output::Result && options.mix == 1.0 && !options.preprocesses();
        match bundle {
            Some(b) if plain && options.needs_bundle(false) => {
                let r = options.max_radius(false);
                let b = self.shaped(options, b);
                check_reach(&b, r, (image.width, image.height, image.channels), false)?;
                let stats = self.blur_fixed_in_place(&b, r, image)?;
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
        let blurs = bundle.is_some() && !options.passes_through(depth.is_some());
        // Highlights and linear light: the blur reads a boosted, linearised copy of the source.
        let pre = (blurs && options.preprocesses()).then(|| preprocess(options, src));
        let src = &pre.as_ref().map_or(*src, |i| i.view());
        let stats = match (bundle, depth) {
            (Some(b), Some(d)) if blurs => {
                self.blur_depth_with(b, &options.lens, options.edges, &d.view, d.channel, src, dst)?
            }
            (Some(b), None) if blurs => self.blur_fixed(b, options.max_radius(false), src, dst)?,
            _ => {
                for y in 0..src.height {
                    dst.row_mut(y).copy_from_slice(src.row(y));
                }
                RenderStats::default()
            }
        };
        if blurs && options.gamma != 1.0 {
            encode_gamma(options.gamma as f32, dst);
        }
        Ok(stats)
    }
}

/// The colour channels of a pixel of `c` channels: all but alpha (the last of 2 or 4).
fn colour_channels(c: usize) -> usize {
    match c {
        2 => 1,
        4 => 3,
        c => c,
    }
}

/// Rec. 709 luminance of a pixel's colour channels (one channel: itself).
fn luminance(colour: &[f32]) -> f32 {
    match colour {
        [r, g, b, ..] => 0.2126 * r + 0.7152 * g + 0.0722 * b,
        [y, ..] => *y,
        [] => 0.0,
    }
}

/// `v` raised to `g`, sign kept (signed data stays signed).
fn signed_pow(v: f32, g: f32) -> f32 {
    if v < 0.0 {
        -(-v).powf(g)
    } else {
        v.powf(g)
    }
}

/// The source as the blur reads it: colour raised to `gamma` (linear light), then each pixel
/// whose luminance Y exceeds the bloom threshold t scaled by `(Y + gain·(Y − t)) / Y`. Alpha is
/// left as it is.
fn preprocess(options: &RenderOptions, src: &ImageView) -> crate::image::Image {
    use rayon::prelude::*;
    let mut img = crate::image::Image::from_view(src);
    let (c, gamma) = (img.channels, options.gamma as f32);
    let cc = colour_channels(c);
    let (t, gain) = (options.bloom_threshold as f32, options.bloom_gain as f32);
    img.data.par_chunks_mut(c.max(1) * 1024).for_each(|chunk| {
        for px in chunk.chunks_exact_mut(c) {
            let colour = &mut px[..cc];
            if gamma != 1.0 {
                colour.iter_mut().for_each(|v| *v = signed_pow(*v, gamma));
            }
            let y = luminance(colour);
            if gain > 0.0 && y > t {
                let k = (y + gain * (y - t)) / y;
                colour.iter_mut().for_each(|v| *v *= k);
            }
        }
    });
    img
}

/// Returns a linear-light result to its encoding: colour raised to `1 / gamma`.
fn encode_gamma(gamma: f32, dst: &mut ImageViewMut) {
    let (c, inv) = (dst.channels, 1.0 / gamma);
    let cc = colour_channels(c);
    for y in 0..dst.height {
        for px in dst.row_mut(y).chunks_exact_mut(c) {
            px[..cc].iter_mut().for_each(|v| *v = signed_pow(*v, inv));
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

/// The colours of the depth-slices view, from the nearest slice to the farthest: in front of
/// focus warm, in focus green, behind it cool.
const SLICE_NEAR: [[f32; 3]; 4] = [[1.0, 0.95, 0.2], [1.0, 0.55, 0.1], [0.95, 0.2, 0.15], [0.8, 0.1, 0.5]];
const SLICE_FOCUS: [f32; 3] = [0.2, 0.9, 0.3];
const SLICE_FAR: [[f32; 3]; 4] = [[0.2, 0.8, 0.9], [0.2, 0.45, 1.0], [0.45, 0.2, 0.95], [0.75, 0.4, 1.0]];

/// The colour of slice `k` of a ladder whose in-focus slice is `zero`: the near side's colours
/// count outwards from focus, the far side's too (repeating past the fourth).
pub fn slice_colour(k: usize, zero: usize) -> [f32; 3] {
    match k.cmp(&zero) {
        std::cmp::Ordering::Equal => SLICE_FOCUS,
        std::cmp::Ordering::Less => SLICE_NEAR[(zero - k - 1) % SLICE_NEAR.len()],
        std::cmp::Ordering::Greater => SLICE_FAR[(k - zero - 1) % SLICE_FAR.len()],
    }
}

/// The depth-slices view ([`Output::DepthSlices`]): each pixel's signed CoC located on the
/// surface ladder of the frame (`layered::Ladder::coarse` over its CoC range), coloured by its
/// two slices' colours mixed by its tent weight and shaded by the source's luminance (0.35 to
/// 1); pixels on a depth edge (a jump to their right or lower neighbour, `layered::is_jump`) are
/// white. Alpha is 1. Without depth the frame is one slice, at the render's radius.
fn depth_slices(
    options: &RenderOptions,
    src: &ImageView,
    depth: Option<&Depth>,
    dst: &mut ImageViewMut,
) -> RenderStats {
    use super::layered::{is_jump, Ladder};
    let (w, h, c) = (dst.width, dst.height, dst.channels);
    let mut stats = RenderStats::default();
    let signed: Vec<f32> = match depth {
        Some(d) => {
            let (s, bad) = options.lens.signed_coc_map(&d.view, d.channel);
            stats.bad_depth = bad;
            s
        }
        None => vec![options.max_radius(false) as f32; w * h],
    };
    let lo = signed.iter().copied().fold(0.0f32, f32::min);
    let hi = signed.iter().copied().fold(0.0f32, f32::max);
    let ladder = Ladder::coarse(lo, hi);
    let zero = ladder.centres().iter().position(|&v| v == 0.0).unwrap_or(0);
    for y in 0..h {
        let srow = src.row(y);
        let orow = dst.row_mut(y);
        for x in 0..w {
            let s = signed[y * w + x];
            let edge =
                (x + 1 < w && is_jump(s, signed[y * w + x + 1])) || (y + 1 < h && is_jump(s, signed[(y + 1) * w + x]));
            let (j, t) = ladder.locate(s);
            let (a, b) = (slice_colour(j, zero), slice_colour((j + 1).min(ladder.centres().len() - 1), zero));
            let shade = 0.35 + 0.65 * luminance(&srow[x * c..x * c + colour_channels(c)]).clamp(0.0, 1.0);
            let px = &mut orow[x * c..(x + 1) * c];
            for (k, o) in px.iter_mut().enumerate().take(colour_channels(c)) {
                let k = k.min(2);
                *o = if edge { 1.0 } else { ((1.0 - t) * a[k] + t * b[k]) * shade };
            }
            if c == 2 || c == 4 {
                px[c - 1] = 1.0;
            }
            stats.max_radius = stats.max_radius.max(s.abs());
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

//! The plugin's parameters, declared once in [`PARAMS`] (name, kind, label, hint, hard and
//! display range, when enabled, and where the value goes in the render request) and expanded
//! into the description, the handles and the read. Names and choice orders are a contract with
//! saved projects (they follow Nuke's ZDefocus where one exists): append, never reorder or
//! rename. Defaults are those of [`RenderOptions::default`].
//!
//! A new parameter is one row of [`PARAMS`] (see ARCHITECTURE.md, "Where to add things").

use super::host::{OfxError, OfxResult, Suites};
use super::sys::*;
use crate::render::lens::MAX_RADIUS;
use crate::render::{Edges, LensMode, Output, RenderOptions};

/// Parameter names. Never rename: saved projects store values under these names.
pub mod names {
    pub const FILTER_TYPE: &str = "filter_type";
    pub const FILTER_FILE: &str = "filter_file";
    pub const MATH: &str = "math";
    pub const INVERT_DEPTH: &str = "invert_depth";
    pub const DEPTH_CHANNEL: &str = "depth_channel";
    pub const CENTER: &str = "center";
    pub const DOF: &str = "dof";
    pub const SIZE: &str = "size";
    pub const MAX_SIZE: &str = "max_size";
    pub const OUTPUT: &str = "output";
    pub const MIX: &str = "mix";
    pub const RADIUS: &str = "radius";
    pub const EDGES: &str = "edges";
    pub const DEPTH_FROM: &str = "depth_from";
    pub const ROTATION: &str = "rotation";
    pub const ASPECT: &str = "aspect";
    pub const BLADES: &str = "blades";
    pub const ROUNDNESS: &str = "roundness";
    pub const BLOOM_THRESHOLD: &str = "bloom_threshold";
    pub const BLOOM_GAIN: &str = "bloom_gain";
    pub const GAMMA: &str = "gamma";
    pub const FOCUS_FROM_POINT: &str = "focus_from_point";
    pub const FOCAL_POINT: &str = "focal_point";
}

/// The shipped bundles, in the order they were added to the `filter_type` choice. Append-only:
/// hosts save the option index in projects.
pub const SHIPPED_SHAPES: [&str; 7] = ["disc", "hexagon", "octagon", "heart", "star", "ring", "gaussian"];
/// The `filter_type` index of "Custom file": fixed where it was added (after the first seven
/// shipped shapes); shapes shipped later are listed after it.
pub const CUSTOM_FILE_INDEX: usize = 7;
/// The `filter_type` index of "blades": the bundle is picked by the Blades and Roundness
/// parameters (appended after "Custom file").
pub const BLADES_INDEX: usize = 8;
/// The `filter_type` options: the shipped shapes, "Custom file" at [`CUSTOM_FILE_INDEX`] and
/// the bladed apertures at [`BLADES_INDEX`]. Append-only.
pub const SHAPE_OPTIONS: [&str; 9] = shape_options();

const fn shape_options() -> [&'static str; 9] {
    let mut out = [""; 9];
    let mut i = 0;
    while i < CUSTOM_FILE_INDEX {
        out[i] = SHIPPED_SHAPES[i];
        i += 1;
    }
    out[CUSTOM_FILE_INDEX] = "Custom file";
    out[BLADES_INDEX] = "blades (Blades, Roundness)";
    out
}

/// Options of `blades`: the number of aperture blades.
pub const BLADES_OPTIONS: [&str; 5] = ["5", "6", "7", "8", "9"];
/// Options of `roundness`: how rounded the blades are (n-gon curvature 0, 0.25, 0.6).
pub const ROUNDNESS_OPTIONS: [&str; 3] = ["straight", "slightly rounded", "rounded"];
/// The shipped bundle of each blade count (rows, [`BLADES_OPTIONS`]) and roundness (columns,
/// [`ROUNDNESS_OPTIONS`]); straight hexagon and octagon are the bundles shipped before.
pub const BLADES_BUNDLES: [[&str; 3]; 5] = [
    ["blades5", "blades5-slightly-rounded", "blades5-rounded"],
    ["hexagon", "blades6-slightly-rounded", "blades6-rounded"],
    ["blades7", "blades7-slightly-rounded", "blades7-rounded"],
    ["octagon", "blades8-slightly-rounded", "blades8-rounded"],
    ["blades9", "blades9-slightly-rounded", "blades9-rounded"],
];

/// The shape of `filter_type` option `index` (a valid index) with the Blades and Roundness
/// indices `blades`; a custom file's path is read from `filter_file`.
fn shape_at(index: usize, blades: (usize, usize)) -> Shape {
    match index {
        CUSTOM_FILE_INDEX => Shape::CustomFile(String::new()),
        BLADES_INDEX => Shape::Blades(BLADES_BUNDLES[blades.0][blades.1]),
        i => Shape::Shipped(SHIPPED_SHAPES[i.min(SHIPPED_SHAPES.len() - 1)]),
    }
}

/// The `filter_type` index of a shape.
fn shape_index(shape: &Shape) -> usize {
    match shape {
        Shape::CustomFile(_) => CUSTOM_FILE_INDEX,
        Shape::Blades(_) => BLADES_INDEX,
        Shape::Shipped(name) => SHIPPED_SHAPES.iter().position(|o| o == name).unwrap_or(0),
    }
}

/// Options of `math` (index order is saved in projects).
pub const MATH_OPTIONS: [&str; 3] = ["depth", "far = 0", "direct"];
/// Options of `depth_channel`.
pub const CHANNEL_OPTIONS: [&str; 4] = ["red", "green", "blue", "alpha"];
/// Options of `edges` (ARCHITECTURE.md, "Gather and layered").
pub const EDGES_OPTIONS: [&str; 2] = ["gather", "layered"];
/// Options of `output`: "CoC map" holds radii in full-resolution pixels; the normalised map holds
/// radius / Maximum (0 … 1, for hosts that clip to that range).
pub const OUTPUT_OPTIONS: [&str; 5] =
    ["result", "focal plane setup", "CoC map", "CoC map normalised (radius / Maximum)", "depth slices"];
/// Options of `depth_from`: the Depth input, or a channel (Depth Channel) of the Source itself,
/// for hosts with a single input.
pub const DEPTH_FROM_OPTIONS: [&str; 2] = ["Depth input", "Source"];

const LENS_MODES: [LensMode; 3] = [LensMode::Depth, LensMode::InverseDepth, LensMode::Coc];
const EDGES: [Edges; 2] = [Edges::Gather, Edges::Layered];
const OUTPUTS: [Output; 5] =
    [Output::Result, Output::FocalPlaneSetup, Output::CocMap, Output::CocMapNormalised, Output::DepthSlices];

/// The index of `v` in `all` (every value is listed).
fn index_of<T: PartialEq>(all: &[T], v: &T) -> i32 {
    all.iter().position(|a| a == v).unwrap_or(0) as i32
}

/// Which bundle to blur with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    Shipped(&'static str),
    CustomFile(String),
    /// "blades": the shipped bundle of the Blades and Roundness choices.
    Blades(&'static str),
}

/// Every parameter's value at one time: the shape, the render request (render scale 1; the
/// plugin applies the host's) and where depth comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct Values {
    pub shape: Shape,
    pub options: RenderOptions,
    /// Depth is the Depth Channel of the Source image, not the Depth input.
    pub depth_from_source: bool,
    /// The Blades and Roundness option indices (the bundle when Bokeh Shape is "blades").
    pub blades: (usize, usize),
    /// Focus from the Focal Point (canonical coordinates): the plugin sets the request's
    /// `focus_at` from it.
    pub focus_from_point: bool,
    pub focal_point: [f64; 2],
}

impl Default for Values {
    /// The parameters' defaults, as described to the host.
    fn default() -> Values {
        Values {
            shape: Shape::Shipped(SHIPPED_SHAPES[0]),
            options: RenderOptions::default(),
            depth_from_source: false,
            blades: (1, 0),
            focus_from_point: RenderOptions::default().focus_at.is_some(),
            focal_point: [0.0, 0.0],
        }
    }
}

/// A parameter's kind, with its options or ranges.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Choice(&'static [&'static str]),
    /// A number: values are clamped to `min..=max` when read; the slider spans
    /// `max(min, 0)..=display_max`, or `-display_max..=display_max` when `min` < 0.
    Double {
        min: f64,
        max: f64,
        display_max: f64,
    },
    /// A point in canonical coordinates (shown by hosts as an on-screen handle).
    Point,
    Bool,
    /// A path to an existing file.
    File,
}

/// When a parameter applies; the others are greyed out. "Depth" means a Depth input is connected
/// or depth comes from the Source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    Always,
    DepthConnected,
    DepthNotConnected,
    CustomShape,
    /// Bokeh Shape is "blades".
    BladesShape,
}

/// A parameter's value as the host holds it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i32),
    Double(f64),
    Point([f64; 2]),
    Text(String),
}

/// One parameter: how it is described, when it applies and where its value goes.
pub struct Param {
    pub name: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub kind: Kind,
    pub when: When,
    /// The parameter's value in a [`Values`] (its default: that of `Values::default()`).
    pub get: fn(&Values) -> Value,
    /// Stores a checked value (a valid option index, a finite number in range).
    pub set: fn(&mut Values, Value),
}

fn int(v: Value) -> usize {
    match v {
        Value::Int(i) => i.max(0) as usize,
        _ => 0,
    }
}

fn double(v: Value) -> f64 {
    match v {
        Value::Double(d) => d,
        _ => 0.0,
    }
}

fn point(v: Value) -> [f64; 2] {
    match v {
        Value::Point(p) => p,
        _ => [0.0, 0.0],
    }
}

/// Every parameter, in the order the host shows them. Append new ones; never reorder or rename.
pub static PARAMS: [Param; 23] = [
    Param {
        name: names::FILTER_TYPE,
        label: "Bokeh Shape",
        hint: "Aperture shape: one of the kernel bundles shipped with the plugin, or a bundle file of your own \
               (fitted with `sparsebokeh fit`).",
        kind: Kind::Choice(&SHAPE_OPTIONS),
        when: When::Always,
        get: |v| Value::Int(shape_index(&v.shape) as i32),
        set: |v, x| v.shape = shape_at(int(x), v.blades),
    },
    Param {
        name: names::FILTER_FILE,
        label: "Bundle File",
        hint: "A sparsebokeh kernel bundle (.json), used when Bokeh Shape is \"Custom file\".",
        kind: Kind::File,
        when: When::CustomShape,
        get: |v| Value::Text(if let Shape::CustomFile(f) = &v.shape { f.clone() } else { String::new() }),
        set: |v, x| {
            if let (Shape::CustomFile(f), Value::Text(t)) = (&mut v.shape, x) {
                *f = t;
            }
        },
    },
    Param {
        name: names::MATH,
        label: "Math",
        hint: "How the depth channel maps to blur: depth = distance z (thin lens); far = 0 = the channel holds 1/z \
               (far is 0); direct = the channel holds the blur radius in pixels.",
        kind: Kind::Choice(&MATH_OPTIONS),
        when: When::DepthConnected,
        get: |v| Value::Int(index_of(&LENS_MODES, &v.options.lens.mode)),
        set: |v, x| v.options.lens.mode = LENS_MODES[int(x)],
    },
    Param {
        name: names::INVERT_DEPTH,
        label: "Invert Depth",
        hint: "Use 1 − value of the depth channel (for normalised depth passes where white is near).",
        kind: Kind::Bool,
        when: When::DepthConnected,
        get: |v| Value::Int(v.options.invert_depth as i32),
        set: |v, x| v.options.invert_depth = int(x) != 0,
    },
    Param {
        name: names::DEPTH_CHANNEL,
        label: "Depth Channel",
        hint: "The channel of the Depth input that holds depth (a single-channel input uses its only channel).",
        kind: Kind::Choice(&CHANNEL_OPTIONS),
        when: When::DepthConnected,
        get: |v| Value::Int(v.options.depth_channel as i32),
        set: |v, x| v.options.depth_channel = int(x),
    },
    Param {
        name: names::EDGES,
        label: "Depth Edges",
        hint: "gather: every pixel blurs with its own radius (fast, exact inside surfaces, halos at depth \
               edges). layered: near depth edges the frame is blurred in depth slices composited front to back, \
               so foreground blur spills over the background (needs the whole Source frame for every tile).",
        kind: Kind::Choice(&EDGES_OPTIONS),
        when: When::DepthConnected,
        get: |v| Value::Int(index_of(&EDGES, &v.options.edges)),
        set: |v, x| v.options.edges = EDGES[int(x)],
    },
    Param {
        name: names::CENTER,
        label: "Focal Plane (C)",
        hint: "The depth in focus, in the depth channel's units (depth or 1/z).",
        kind: Kind::Double { min: 0.0, max: 1e12, display_max: 100.0 },
        when: When::DepthConnected,
        get: |v| Value::Double(v.options.lens.focus),
        set: |v, x| v.options.lens.focus = double(x),
    },
    Param {
        name: names::DOF,
        label: "Depth of Field",
        hint: "Width of the band around the focal plane that stays sharp, in the depth channel's units.",
        kind: Kind::Double { min: 0.0, max: 1e12, display_max: 10.0 },
        when: When::DepthConnected,
        get: |v| Value::Double(v.options.lens.dof),
        set: |v, x| v.options.lens.dof = double(x),
    },
    Param {
        name: names::SIZE,
        label: "Size",
        hint: "Blur radius at infinite depth, in pixels at full resolution (depth and far = 0 math).",
        kind: Kind::Double { min: 0.0, max: MAX_RADIUS, display_max: 100.0 },
        when: When::DepthConnected,
        get: |v| Value::Double(v.options.lens.size),
        set: |v, x| v.options.lens.size = double(x),
    },
    Param {
        name: names::MAX_SIZE,
        label: "Maximum",
        hint: "Largest blur radius, in pixels at full resolution. Larger radii are clamped.",
        kind: Kind::Double { min: 0.0, max: MAX_RADIUS, display_max: 200.0 },
        when: When::DepthConnected,
        get: |v| Value::Double(v.options.lens.maximum),
        set: |v, x| v.options.lens.maximum = double(x),
    },
    Param {
        name: names::OUTPUT,
        label: "Output",
        hint: "result: the blurred image. focal plane setup: the source tinted red in front of the focal band, \
               green inside it, blue behind it. CoC map: the blur radius in full-resolution pixels (values above \
               1: hosts that clip to 0-1 show white). CoC map normalised: the radius divided by Maximum (Radius \
               without depth), 0 in focus to 1 at the largest blur.",
        kind: Kind::Choice(&OUTPUT_OPTIONS),
        when: When::Always,
        get: |v| Value::Int(index_of(&OUTPUTS, &v.options.output)),
        set: |v, x| v.options.output = OUTPUTS[int(x)],
    },
    Param {
        name: names::MIX,
        label: "Mix",
        hint: "Blend between the source (0) and the blurred result (1).",
        kind: Kind::Double { min: 0.0, max: 1.0, display_max: 1.0 },
        when: When::Always,
        get: |v| Value::Double(v.options.mix),
        set: |v, x| v.options.mix = double(x),
    },
    Param {
        name: names::RADIUS,
        label: "Radius (no Depth)",
        hint: "Blur radius in pixels at full resolution, used for the whole frame when the Depth input is not \
               connected.",
        kind: Kind::Double { min: 0.0, max: MAX_RADIUS, display_max: 100.0 },
        when: When::DepthNotConnected,
        get: |v| Value::Double(v.options.radius),
        set: |v, x| v.options.radius = double(x),
    },
    Param {
        name: names::DEPTH_FROM,
        label: "Depth From",
        hint: "Depth input: depth is the Depth input's Depth Channel. Source: depth is the Depth Channel of the \
               Source itself (e.g. its alpha), for hosts with a single input; that channel passes through \
               unblurred and colour is not (un)premultiplied by it.",
        kind: Kind::Choice(&DEPTH_FROM_OPTIONS),
        when: When::Always,
        get: |v| Value::Int(v.depth_from_source as i32),
        set: |v, x| v.depth_from_source = int(x) == 1,
    },
    Param {
        name: names::ROTATION,
        label: "Rotation",
        hint: "Rotation of the bokeh in degrees, counter-clockwise on screen (applied to the kernel's taps: \
               exact, no refit).",
        kind: Kind::Double { min: -3600.0, max: 3600.0, display_max: 180.0 },
        when: When::Always,
        get: |v| Value::Double(v.options.rotation),
        set: |v, x| v.options.rotation = double(x),
    },
    Param {
        name: names::ASPECT,
        label: "Aspect Ratio",
        hint: "Width / height of the bokeh (0.25 to 4): below 1 tall ovals, above 1 wide ones (anamorphic \
               bokeh). The height stays that of the radius. The Source's pixel aspect ratio is applied besides, so \
               1 is round on screen.",
        kind: Kind::Double { min: 0.25, max: 4.0, display_max: 4.0 },
        when: When::Always,
        get: |v| Value::Double(v.options.aspect),
        set: |v, x| v.options.aspect = double(x),
    },
    Param {
        name: names::BLADES,
        label: "Blades",
        hint: "Number of aperture blades, when Bokeh Shape is \"blades\" (picks a shipped n-gon bundle).",
        kind: Kind::Choice(&BLADES_OPTIONS),
        when: When::BladesShape,
        get: |v| Value::Int(v.blades.0 as i32),
        set: |v, x| {
            v.blades.0 = int(x);
            if shape_index(&v.shape) == BLADES_INDEX {
                v.shape = shape_at(BLADES_INDEX, v.blades);
            }
        },
    },
    Param {
        name: names::ROUNDNESS,
        label: "Roundness",
        hint: "How rounded the blades are, when Bokeh Shape is \"blades\": straight (a polygon), slightly \
               rounded, rounded (towards a disc).",
        kind: Kind::Choice(&ROUNDNESS_OPTIONS),
        when: When::BladesShape,
        get: |v| Value::Int(v.blades.1 as i32),
        set: |v, x| {
            v.blades.1 = int(x);
            if shape_index(&v.shape) == BLADES_INDEX {
                v.shape = shape_at(BLADES_INDEX, v.blades);
            }
        },
    },
    Param {
        name: names::BLOOM_THRESHOLD,
        label: "Bloom Threshold",
        hint: "Highlights: luminance (linear light) above which pixels are boosted before the blur, so \
               display-referred footage gives bright, solid bokeh balls. Used when Bloom Gain is above 0.",
        kind: Kind::Double { min: 0.0, max: 1e6, display_max: 4.0 },
        when: When::Always,
        get: |v| Value::Double(v.options.bloom_threshold),
        set: |v, x| v.options.bloom_threshold = double(x),
    },
    Param {
        name: names::BLOOM_GAIN,
        label: "Bloom Gain",
        hint: "Highlights: a pixel of luminance Y above the threshold t is scaled by (Y + gain × (Y − t)) / Y \
               before the blur. 0: off.",
        kind: Kind::Double { min: 0.0, max: 1000.0, display_max: 20.0 },
        when: When::Always,
        get: |v| Value::Double(v.options.bloom_gain),
        set: |v, x| v.options.bloom_gain = double(x),
    },
    Param {
        name: names::GAMMA,
        label: "Gamma",
        hint: "Encoding gamma of display-referred input: colour is raised to Gamma before the blur and to \
               1 / Gamma after, so it is blurred in linear light (2.2 for typical 8-bit video). 1: off (linear \
               input).",
        kind: Kind::Double { min: 0.1, max: 10.0, display_max: 3.0 },
        when: When::Always,
        get: |v| Value::Double(v.options.gamma),
        set: |v, x| v.options.gamma = double(x),
    },
    Param {
        name: names::FOCUS_FROM_POINT,
        label: "Focus From Point",
        hint: "The focal plane becomes the depth under Focal Point (the median of the 5 × 5 pixels around it) \
               instead of Focal Plane (C): click on the subject.",
        kind: Kind::Bool,
        when: When::DepthConnected,
        get: |v| Value::Int(v.focus_from_point as i32),
        set: |v, x| v.focus_from_point = int(x) != 0,
    },
    Param {
        name: names::FOCAL_POINT,
        label: "Focal Point",
        hint: "The point whose depth is in focus when Focus From Point is on (canonical coordinates; drag \
               the on-screen handle onto the subject).",
        kind: Kind::Point,
        when: When::DepthConnected,
        get: |v| Value::Point(v.focal_point),
        set: |v, x| v.focal_point = point(x),
    },
];

impl Param {
    /// Defines the parameter on a context descriptor, with its default from `Values::default()`.
    fn define(&self, s: &Suites, set: OfxParamSetHandle, defaults: &Values) -> OfxResult<()> {
        let kind: &[u8] = match self.kind {
            Kind::Choice(_) => kOfxParamTypeChoice,
            Kind::Double { .. } => kOfxParamTypeDouble,
            Kind::Bool => kOfxParamTypeBoolean,
            Kind::File => kOfxParamTypeString,
            Kind::Point => kOfxParamTypeDouble2D,
        };
        let p = s.param_define(set, kind, self.name)?;
        p.set_string(kOfxPropLabel, 0, self.label)?;
        p.set_string(kOfxParamPropHint, 0, self.hint)?;
        match (self.kind, (self.get)(defaults)) {
            (Kind::Choice(options), Value::Int(d)) => {
                for (i, o) in options.iter().enumerate() {
                    p.set_string(kOfxParamPropChoiceOption, i as i32, o)?;
                }
                p.set_int(kOfxParamPropDefault, 0, d)?;
            }
            (Kind::Double { min, max, display_max }, Value::Double(d)) => {
                p.set_double(kOfxParamPropDefault, 0, d)?;
                // The slider's range first, the hard range last: a host that reads whichever of
                // the two it meets last as the limit (MLT) then keeps the hard one.
                p.set_double(kOfxParamPropDisplayMin, 0, if min < 0.0 { -display_max } else { min })?;
                p.set_double(kOfxParamPropDisplayMax, 0, display_max)?;
                p.set_double(kOfxParamPropMin, 0, min)?;
                p.set_double(kOfxParamPropMax, 0, max)?;
            }
            (Kind::Bool, Value::Int(d)) => p.set_int(kOfxParamPropDefault, 0, d)?,
            (Kind::Point, Value::Point(d)) => {
                p.set_double(kOfxParamPropDefault, 0, d[0])?;
                p.set_double(kOfxParamPropDefault, 1, d[1])?;
                p.set_cstr(kOfxParamPropDoubleType, 0, kOfxParamDoubleTypeXYAbsolute)?;
            }
            (Kind::File, Value::Text(d)) => {
                p.set_cstr(kOfxParamPropStringMode, 0, kOfxParamStringIsFilePath)?;
                p.set_int(kOfxParamPropStringFilePathExists, 0, 1)?;
                p.set_string(kOfxParamPropDefault, 0, &d)?;
                p.set_int(kOfxParamPropAnimates, 0, 0)?;
            }
            (kind, d) => unreachable!("parameter {}: a {kind:?} with a default of {d:?}", self.name),
        }
        if self.when != When::Always {
            p.set_int(kOfxParamPropEnabled, 0, enabled(self.when, false, shape_index(&defaults.shape)) as i32)?;
        }
        Ok(())
    }

    /// The parameter's value at `time`, checked: a valid option, a finite number (clamped to
    /// its range).
    fn read(&self, s: &Suites, h: OfxParamHandle, time: f64) -> OfxResult<Value> {
        let invalid = |what: String| OfxError::with_status(kOfxStatErrValue, format!("parameter {} {what}", self.name));
        Ok(match self.kind {
            Kind::Choice(options) => {
                let v = s.param_int(h, time)?;
                if v < 0 || v as usize >= options.len() {
                    return Err(invalid(format!("has no option {v}")));
                }
                Value::Int(v)
            }
            Kind::Double { min, max, .. } => {
                let v = s.param_double(h, time)?;
                if !v.is_finite() {
                    return Err(invalid("is not a finite number".into()));
                }
                Value::Double(v.clamp(min, max))
            }
            Kind::Bool => Value::Int((s.param_int(h, time)? != 0) as i32),
            Kind::File => Value::Text(s.param_string(h, time)?),
            Kind::Point => {
                let p = s.param_double2(h, time)?;
                if !p.iter().all(|c| c.is_finite()) {
                    return Err(invalid("is not a finite point".into()));
                }
                Value::Point(p)
            }
        })
    }
}

/// Whether a parameter applying `when` is enabled, with depth connected or not and Bokeh
/// Shape at option `shape`.
pub fn enabled(when: When, depth_connected: bool, shape: usize) -> bool {
    match when {
        When::Always => true,
        When::DepthConnected => depth_connected,
        When::DepthNotConnected => !depth_connected,
        When::CustomShape => shape == CUSTOM_FILE_INDEX,
        When::BladesShape => shape == BLADES_INDEX,
    }
}

/// Defines every parameter on a context descriptor (DescribeInContext).
pub(crate) fn describe(s: &Suites, set: OfxParamSetHandle) -> OfxResult<()> {
    let defaults = Values::default();
    PARAMS.iter().try_for_each(|p| p.define(s, set, &defaults))
}

/// The parameter handles of one instance, in the order of [`PARAMS`].
#[derive(Clone, Debug)]
pub struct Handles(Vec<OfxParamHandle>);

impl Handles {
    pub(crate) fn fetch(s: &Suites, set: OfxParamSetHandle) -> OfxResult<Handles> {
        PARAMS.iter().map(|p| s.param_handle(set, p.name)).collect::<OfxResult<_>>().map(Handles)
    }

    /// The handle of the parameter `name` (one of [`names`]).
    pub fn get(&self, name: &str) -> OfxParamHandle {
        let i = PARAMS.iter().position(|p| p.name == name).expect("a parameter of the table");
        self.0[i]
    }

    /// Every handle with its parameter.
    pub fn iter(&self) -> impl Iterator<Item = (&'static Param, OfxParamHandle)> + '_ {
        PARAMS.iter().zip(self.0.iter().copied())
    }

    /// Every value at `time`, checked.
    pub(crate) fn read(&self, s: &Suites, time: f64) -> OfxResult<Values> {
        let mut v = Values::default();
        for (p, h) in self.iter() {
            (p.set)(&mut v, p.read(s, h, time)?);
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_file_keeps_its_index_and_shipped_shapes_round_trip() {
        assert_eq!(SHAPE_OPTIONS[CUSTOM_FILE_INDEX], "Custom file");
        for (i, _) in SHAPE_OPTIONS.iter().enumerate() {
            assert_eq!(shape_index(&shape_at(i, (0, 2))), i);
        }
        // Every blade count and roundness picks its own bundle.
        let names: std::collections::HashSet<_> = BLADES_BUNDLES.iter().flatten().collect();
        assert_eq!(names.len(), BLADES_OPTIONS.len() * ROUNDNESS_OPTIONS.len());
    }

    #[test]
    fn every_value_survives_get_then_set() {
        let mut v = Values { shape: Shape::CustomFile("a.json".into()), ..Values::default() };
        v.options.mix = 0.25;
        v.options.edges = Edges::Gather;
        v.options.output = Output::CocMapNormalised;
        v.depth_from_source = true;
        v.options.rotation = 30.0;
        v.options.aspect = 1.6;
        v.options.bloom_gain = 2.0;
        v.options.bloom_threshold = 0.5;
        v.options.gamma = 2.2;
        v.focus_from_point = true;
        v.focal_point = [12.5, -3.0];
        v.blades = (3, 1);
        let mut w = Values::default();
        for p in &PARAMS {
            (p.set)(&mut w, (p.get)(&v));
        }
        assert_eq!(w, v);
        // "blades" with Blades 9 and Roundness "rounded": the shape follows both.
        let mut v = Values::default();
        for (name, x) in [(names::FILTER_TYPE, BLADES_INDEX), (names::BLADES, 4), (names::ROUNDNESS, 2)] {
            let p = PARAMS.iter().find(|p| p.name == name).unwrap();
            (p.set)(&mut v, Value::Int(x as i32));
        }
        assert_eq!(v.shape, Shape::Blades("blades9-rounded"));
        // Six straight blades are the shipped hexagon, still under "blades".
        let p = PARAMS.iter().find(|p| p.name == names::BLADES).unwrap();
        (p.set)(&mut v, Value::Int(1));
        let p = PARAMS.iter().find(|p| p.name == names::ROUNDNESS).unwrap();
        (p.set)(&mut v, Value::Int(0));
        assert_eq!(v.shape, Shape::Blades("hexagon"));
    }
}

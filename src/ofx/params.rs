//! The plugin's parameters: names (a contract — saved projects refer to them, so they follow
//! Nuke's ZDefocus where one exists and never change), descriptions, and reading their values at
//! a time.

use super::host::{OfxError, OfxResult, Suites};
use super::sys::*;
use crate::render::lens::MAX_RADIUS;
use crate::render::{Edges, LensMode};

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
}

/// The shipped bundles, in the order of the `filter_type` choice. Hosts save the option index in
/// projects: never reorder; a new shape would go after "Custom file".
pub const SHIPPED_SHAPES: [&str; 7] = ["disc", "hexagon", "octagon", "heart", "star", "ring", "gaussian"];
/// The `filter_type` options: the shipped shapes, then the custom bundle file.
pub const SHAPE_OPTIONS: [&str; 8] = ["disc", "hexagon", "octagon", "heart", "star", "ring", "gaussian", "Custom file"];

/// Options of `math` (index order is saved in projects).
pub const MATH_OPTIONS: [&str; 3] = ["depth", "far = 0", "direct"];
/// Options of `depth_channel`.
pub const CHANNEL_OPTIONS: [&str; 4] = ["red", "green", "blue", "alpha"];
/// Options of `edges` (DESIGN §1: gather, or layered slices near depth edges).
pub const EDGES_OPTIONS: [&str; 2] = ["gather", "layered"];
/// Options of `output`.
pub const OUTPUT_OPTIONS: [&str; 3] = ["result", "focal plane setup", "CoC map"];

/// What the Output clip shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputMode {
    /// The blurred image (mixed with the source by `mix`).
    Result,
    /// The source tinted: red in front of the in-focus band, green inside it, blue behind it.
    FocalPlaneSetup,
    /// The circle-of-confusion radius in full-resolution pixels, in every colour channel.
    CocMap,
}

/// Which bundle to blur with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    Shipped(&'static str),
    CustomFile(String),
}

/// Every parameter's value at one time.
#[derive(Clone, Debug, PartialEq)]
pub struct Values {
    pub shape: Shape,
    pub math: LensMode,
    pub invert_depth: bool,
    pub depth_channel: usize,
    pub center: f64,
    pub dof: f64,
    pub size: f64,
    pub max_size: f64,
    pub output: OutputMode,
    pub mix: f64,
    pub radius: f64,
    pub edges: Edges,
}

impl Default for Values {
    /// The parameters' defaults, as described to the host.
    fn default() -> Values {
        Values {
            shape: Shape::Shipped(SHIPPED_SHAPES[0]),
            math: LensMode::Depth,
            invert_depth: false,
            depth_channel: 0,
            center: 1.0,
            dof: 0.0,
            size: 10.0,
            max_size: 32.0,
            output: OutputMode::Result,
            mix: 1.0,
            radius: 8.0,
            // Layered: it meets its targets (DESIGN §1).
            edges: Edges::Layered,
        }
    }
}

struct Choice {
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    options: &'static [&'static str],
    default: i32,
}

struct Double {
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    default: f64,
    min: f64,
    max: f64,
    display_max: f64,
}

fn define_choice(s: &Suites, set: OfxParamSetHandle, c: &Choice) -> OfxResult<()> {
    let p = s.param_define(set, kOfxParamTypeChoice, c.name)?;
    p.set_string(kOfxPropLabel, 0, c.label)?;
    p.set_string(kOfxParamPropHint, 0, c.hint)?;
    for (i, o) in c.options.iter().enumerate() {
        p.set_string(kOfxParamPropChoiceOption, i as i32, o)?;
    }
    p.set_int(kOfxParamPropDefault, 0, c.default)?;
    Ok(())
}

fn define_double(s: &Suites, set: OfxParamSetHandle, d: &Double) -> OfxResult<()> {
    let p = s.param_define(set, kOfxParamTypeDouble, d.name)?;
    p.set_string(kOfxPropLabel, 0, d.label)?;
    p.set_string(kOfxParamPropHint, 0, d.hint)?;
    p.set_double(kOfxParamPropDefault, 0, d.default)?;
    p.set_double(kOfxParamPropMin, 0, d.min)?;
    p.set_double(kOfxParamPropMax, 0, d.max)?;
    p.set_double(kOfxParamPropDisplayMin, 0, d.min.max(0.0))?;
    p.set_double(kOfxParamPropDisplayMax, 0, d.display_max)?;
    Ok(())
}

/// Defines every parameter on a context descriptor (DescribeInContext).
pub(crate) fn describe(s: &Suites, set: OfxParamSetHandle) -> OfxResult<()> {
    let d = Values::default();
    define_choice(
        s,
        set,
        &Choice {
            name: names::FILTER_TYPE,
            label: "Bokeh Shape",
            hint: "Aperture shape: one of the kernel bundles shipped with the plugin, or a bundle file of your own \
                   (fitted with `sparsebokeh fit`).",
            options: &SHAPE_OPTIONS,
            default: 0,
        },
    )?;
    let f = s.param_define(set, kOfxParamTypeString, names::FILTER_FILE)?;
    f.set_string(kOfxPropLabel, 0, "Bundle File")?;
    f.set_string(
        kOfxParamPropHint,
        0,
        "A sparsebokeh kernel bundle (.json), used when Bokeh Shape is \"Custom file\".",
    )?;
    f.set_cstr(kOfxParamPropStringMode, 0, kOfxParamStringIsFilePath)?;
    f.set_int(kOfxParamPropStringFilePathExists, 0, 1)?;
    f.set_string(kOfxParamPropDefault, 0, "")?;
    f.set_int(kOfxParamPropAnimates, 0, 0)?;
    f.set_int(kOfxParamPropEnabled, 0, 0)?;
    define_choice(
        s,
        set,
        &Choice {
            name: names::MATH,
            label: "Math",
            hint:
                "How the depth channel maps to blur: depth = distance z (thin lens); far = 0 = the channel holds 1/z \
                   (far is 0); direct = the channel holds the blur radius in pixels.",
            options: &MATH_OPTIONS,
            default: 0,
        },
    )?;
    let b = s.param_define(set, kOfxParamTypeBoolean, names::INVERT_DEPTH)?;
    b.set_string(kOfxPropLabel, 0, "Invert Depth")?;
    b.set_string(
        kOfxParamPropHint,
        0,
        "Use 1 − value of the depth channel (for normalised depth passes where white is near).",
    )?;
    b.set_int(kOfxParamPropDefault, 0, d.invert_depth as i32)?;
    define_choice(
        s,
        set,
        &Choice {
            name: names::DEPTH_CHANNEL,
            label: "Depth Channel",
            hint: "The channel of the Depth input that holds depth (a single-channel input uses its only channel).",
            options: &CHANNEL_OPTIONS,
            default: d.depth_channel as i32,
        },
    )?;
    define_choice(
        s,
        set,
        &Choice {
            name: names::EDGES,
            label: "Depth Edges",
            hint: "gather: every pixel blurs with its own radius (fast, exact inside surfaces, halos at depth \
                   edges). layered: near depth edges the frame is blurred in depth slices composited front to back, \
                   so foreground blur spills over the background (needs the whole Source frame for every tile).",
            options: &EDGES_OPTIONS,
            default: (d.edges == Edges::Layered) as i32,
        },
    )?;
    define_double(
        s,
        set,
        &Double {
            name: names::CENTER,
            label: "Focal Plane (C)",
            hint: "The depth in focus, in the depth channel's units (depth or 1/z).",
            default: d.center,
            min: 0.0,
            max: 1e12,
            display_max: 100.0,
        },
    )?;
    define_double(
        s,
        set,
        &Double {
            name: names::DOF,
            label: "Depth of Field",
            hint: "Width of the band around the focal plane that stays sharp, in the depth channel's units.",
            default: d.dof,
            min: 0.0,
            max: 1e12,
            display_max: 10.0,
        },
    )?;
    define_double(
        s,
        set,
        &Double {
            name: names::SIZE,
            label: "Size",
            hint: "Blur radius at infinite depth, in pixels at full resolution (depth and far = 0 math).",
            default: d.size,
            min: 0.0,
            max: MAX_RADIUS,
            display_max: 100.0,
        },
    )?;
    define_double(
        s,
        set,
        &Double {
            name: names::MAX_SIZE,
            label: "Maximum",
            hint: "Largest blur radius, in pixels at full resolution. Larger radii are clamped.",
            default: d.max_size,
            min: 0.0,
            max: MAX_RADIUS,
            display_max: 200.0,
        },
    )?;
    define_choice(
        s,
        set,
        &Choice {
            name: names::OUTPUT,
            label: "Output",
            hint: "result: the blurred image. focal plane setup: the source tinted red in front of the focal band, \
                   green inside it, blue behind it. CoC map: the blur radius in full-resolution pixels.",
            options: &OUTPUT_OPTIONS,
            default: 0,
        },
    )?;
    define_double(
        s,
        set,
        &Double {
            name: names::MIX,
            label: "Mix",
            hint: "Blend between the source (0) and the blurred result (1).",
            default: d.mix,
            min: 0.0,
            max: 1.0,
            display_max: 1.0,
        },
    )?;
    define_double(
        s,
        set,
        &Double {
            name: names::RADIUS,
            label: "Radius (no Depth)",
            hint: "Blur radius in pixels at full resolution, used for the whole frame when the Depth input is not \
                   connected.",
            default: d.radius,
            min: 0.0,
            max: MAX_RADIUS,
            display_max: 100.0,
        },
    )?;
    Ok(())
}

/// The parameter handles of one instance.
#[derive(Clone, Copy, Debug)]
pub struct Handles {
    pub filter_type: OfxParamHandle,
    pub filter_file: OfxParamHandle,
    pub math: OfxParamHandle,
    pub invert_depth: OfxParamHandle,
    pub depth_channel: OfxParamHandle,
    pub center: OfxParamHandle,
    pub dof: OfxParamHandle,
    pub size: OfxParamHandle,
    pub max_size: OfxParamHandle,
    pub output: OfxParamHandle,
    pub mix: OfxParamHandle,
    pub radius: OfxParamHandle,
    pub edges: OfxParamHandle,
}

impl Handles {
    pub(crate) fn fetch(s: &Suites, set: OfxParamSetHandle) -> OfxResult<Handles> {
        Ok(Handles {
            filter_type: s.param_handle(set, names::FILTER_TYPE)?,
            filter_file: s.param_handle(set, names::FILTER_FILE)?,
            math: s.param_handle(set, names::MATH)?,
            invert_depth: s.param_handle(set, names::INVERT_DEPTH)?,
            depth_channel: s.param_handle(set, names::DEPTH_CHANNEL)?,
            center: s.param_handle(set, names::CENTER)?,
            dof: s.param_handle(set, names::DOF)?,
            size: s.param_handle(set, names::SIZE)?,
            max_size: s.param_handle(set, names::MAX_SIZE)?,
            output: s.param_handle(set, names::OUTPUT)?,
            mix: s.param_handle(set, names::MIX)?,
            radius: s.param_handle(set, names::RADIUS)?,
            edges: s.param_handle(set, names::EDGES)?,
        })
    }

    /// Every value at `time`, checked.
    pub(crate) fn read(&self, s: &Suites, time: f64) -> OfxResult<Values> {
        let choice = |h, n: usize, name: &str| -> OfxResult<usize> {
            let v = s.param_int(h, time)?;
            if v < 0 || v as usize >= n {
                return Err(OfxError::with_status(kOfxStatErrValue, format!("parameter {name} has no option {v}")));
            }
            Ok(v as usize)
        };
        let shape_index = choice(self.filter_type, SHAPE_OPTIONS.len(), names::FILTER_TYPE)?;
        let shape = if shape_index < SHIPPED_SHAPES.len() {
            Shape::Shipped(SHIPPED_SHAPES[shape_index])
        } else {
            Shape::CustomFile(s.param_string(self.filter_file, time)?)
        };
        let math = match choice(self.math, MATH_OPTIONS.len(), names::MATH)? {
            0 => LensMode::Depth,
            1 => LensMode::InverseDepth,
            _ => LensMode::Coc,
        };
        let output = match choice(self.output, OUTPUT_OPTIONS.len(), names::OUTPUT)? {
            0 => OutputMode::Result,
            1 => OutputMode::FocalPlaneSetup,
            _ => OutputMode::CocMap,
        };
        let finite = |h, name: &str| -> OfxResult<f64> {
            let v = s.param_double(h, time)?;
            if !v.is_finite() {
                return Err(OfxError::with_status(
                    kOfxStatErrValue,
                    format!("parameter {name} is not a finite number"),
                ));
            }
            Ok(v)
        };
        Ok(Values {
            shape,
            math,
            invert_depth: s.param_int(self.invert_depth, time)? != 0,
            depth_channel: choice(self.depth_channel, CHANNEL_OPTIONS.len(), names::DEPTH_CHANNEL)?,
            center: finite(self.center, names::CENTER)?,
            dof: finite(self.dof, names::DOF)?.max(0.0),
            size: finite(self.size, names::SIZE)?.clamp(0.0, MAX_RADIUS),
            max_size: finite(self.max_size, names::MAX_SIZE)?.clamp(0.0, MAX_RADIUS),
            output,
            mix: finite(self.mix, names::MIX)?.clamp(0.0, 1.0),
            radius: finite(self.radius, names::RADIUS)?.clamp(0.0, MAX_RADIUS),
            edges: match choice(self.edges, EDGES_OPTIONS.len(), names::EDGES)? {
                0 => Edges::Gather,
                _ => Edges::Layered,
            },
        })
    }
}

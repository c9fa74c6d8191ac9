//! `sparsebokeh render`: frames and frame-numbered sequences.

use super::common::{check_output, failed, load_bundle, usage, Fail, Progress};
use clap::{Args, ValueEnum};
use sparsebokeh::io::{self, Role};
use sparsebokeh::MAX_RADIUS;
use sparsebokeh::{Edges, Output, RenderOptions};
use sparsebokeh::{Engine, Image, Lens, LensMode};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Thin lens on depth z: r = size·|z − focus|/z.
    Depth,
    /// The depth channel holds 1/z (far = 0).
    InverseDepth,
    /// The depth channel holds the radius in pixels.
    Coc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EdgesArg {
    /// Each pixel filters with its own radius (halos and cut-off foreground blur at depth edges).
    Gather,
    /// Depth slices composited front to back near depth edges (no halos, see-through foreground).
    Layered,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    /// The blurred image (blended with the input by --mix).
    Result,
    /// The input tinted red in front of the in-focus band, green inside it, blue behind it.
    FocalPlaneSetup,
    /// The blur radius in pixels.
    CocMap,
    /// The blur radius over the largest allowed (--maximum with depth, --radius without): 0 to 1.
    CocMapNormalised,
    /// The layered blur's depth slices: warm in front of focus, green in focus, cool behind,
    /// depth edges white.
    DepthSlices,
}

/// The flags' enums, both ways: each flag value is one library value.
macro_rules! flag_enum {
    ($flag:ident <=> $lib:ident { $($v:ident = $w:ident),* }) => {
        impl From<$flag> for $lib {
            fn from(e: $flag) -> $lib {
                match e { $($flag::$v => $lib::$w),* }
            }
        }
        impl From<$lib> for $flag {
            fn from(e: $lib) -> $flag {
                match e { $($lib::$w => $flag::$v),* }
            }
        }
    };
}
flag_enum!(Mode <=> LensMode { Depth = Depth, InverseDepth = InverseDepth, Coc = Coc });
flag_enum!(EdgesArg <=> Edges { Gather = Gather, Layered = Layered });
flag_enum!(OutputArg <=> Output { Result = Result, FocalPlaneSetup = FocalPlaneSetup, CocMap = CocMap, CocMapNormalised = CocMapNormalised, DepthSlices = DepthSlices });

/// The defaults of the flags: those of the library's render request.
fn defaults() -> RenderOptions {
    RenderOptions::default()
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// Input image (.exr with RGBA and optionally Z/depth, or .png); may hold a frame number
    /// pattern such as in.%04d.exr with --frames.
    pub input: String,
    /// Output image (.exr or .png), or a pattern such as out.%04d.exr.
    pub output: String,
    /// Depth image (.exr or .png; pattern allowed); default: the input's Z/depth channel.
    #[arg(long)]
    pub depth: Option<String>,
    /// Bundle: a shipped name (disc, hexagon, ...) or a .json path.
    #[arg(long, default_value = "disc")]
    pub bundle: String,
    /// How depth becomes a blur radius.
    #[arg(long, value_enum, default_value_t = defaults().lens.mode.into())]
    pub mode: Mode,
    /// Depth in focus (depth mode: z; inverse-depth: the map's value).
    #[arg(long, default_value_t = defaults().lens.focus, allow_negative_numbers = true)]
    pub focus: f64,
    /// Width of the in-focus band around --focus.
    #[arg(long, default_value_t = defaults().lens.dof, allow_negative_numbers = true)]
    pub dof: f64,
    /// Blur radius at infinite depth, in pixels.
    #[arg(long, default_value_t = defaults().lens.size, allow_negative_numbers = true)]
    pub size: f64,
    /// Largest blur radius in pixels (at most the engine's MAX_RADIUS, 1024).
    #[arg(long, default_value_t = defaults().lens.maximum, allow_negative_numbers = true)]
    pub maximum: f64,
    /// Fixed blur radius in pixels (no depth needed).
    #[arg(long, allow_negative_numbers = true)]
    pub radius: Option<f64>,
    /// Frame range for sequences, e.g. 1-48 or 7.
    #[arg(long)]
    pub frames: Option<String>,
    /// Depth-edge handling: layered (occlusion-aware slices near depth edges) or gather (each
    /// pixel with its own radius).
    #[arg(long, value_enum, default_value_t = defaults().edges.into())]
    pub edges: EdgesArg,
    /// What to write: the blurred image, the focal-plane setup or the CoC map.
    #[arg(long, value_enum, default_value_t = defaults().output.into())]
    pub output_kind: OutputArg,
    /// Blend between the input (0) and the blurred result (1).
    #[arg(long, default_value_t = defaults().mix, allow_negative_numbers = true)]
    pub mix: f64,
    /// Use 1 − depth (normalised depth maps where white is near).
    #[arg(long, default_value_t = defaults().invert_depth)]
    pub invert_depth: bool,
    /// Rotation of the bokeh in degrees, counter-clockwise on screen.
    #[arg(long, default_value_t = defaults().rotation, allow_negative_numbers = true)]
    pub rotation: f64,
    /// Aspect ratio of the bokeh, width / height (0.25 to 4; its height stays 2 × radius):
    /// anamorphic ovals.
    #[arg(long, default_value_t = defaults().aspect, allow_negative_numbers = true)]
    pub aspect: f64,
    /// The image's pixel aspect ratio (a pixel's width / height, 0.1 to 10): the bokeh is made
    /// round on screen (tap x offsets divided by it).
    #[arg(long, default_value_t = defaults().pixel_aspect, allow_negative_numbers = true)]
    pub pixel_aspect: f64,
    /// Highlights: luminance (linear light) above which pixels are boosted before the blur.
    #[arg(long, default_value_t = defaults().bloom_threshold, allow_negative_numbers = true)]
    pub bloom_threshold: f64,
    /// Highlights: a pixel of luminance Y above the threshold t is scaled by (Y + gain·(Y − t)) / Y
    /// before the blur (bright, solid bokeh from display-referred footage); 0 = off.
    #[arg(long, default_value_t = defaults().bloom_gain, allow_negative_numbers = true)]
    pub bloom_gain: f64,
    /// Encoding gamma of display-referred input: colour is raised to GAMMA before the blur and
    /// to 1/GAMMA after (blurred in linear light; 2.2 for typical 8-bit footage); 1 = off.
    #[arg(long, default_value_t = defaults().gamma, allow_negative_numbers = true)]
    pub gamma: f64,
    /// Focus from a point: the focal plane (--focus) becomes the median depth of the 5×5 pixels
    /// around pixel X,Y of the input (x right, y down from the top-left). Default: off.
    #[arg(long, value_name = "X,Y", value_parser = parse_point, allow_hyphen_values = true)]
    pub focus_at: Option<[f64; 2]>,
    /// Render threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// A point `X,Y` of finite numbers.
fn parse_point(s: &str) -> Result<[f64; 2], String> {
    let bad = || format!("`{s}`: expected X,Y (pixels, e.g. 480,270)");
    let (x, y) = s.split_once(',').ok_or_else(bad)?;
    let (x, y): (f64, f64) = (x.trim().parse().map_err(|_| bad())?, y.trim().parse().map_err(|_| bad())?);
    if x.is_finite() && y.is_finite() {
        Ok([x, y])
    } else {
        Err(bad())
    }
}

/// Most digits a frame pattern may pad to (`%016d`).
pub const MAX_FRAME_DIGITS: usize = 16;

/// Refuses a frame pattern padding to more than [`MAX_FRAME_DIGITS`] digits (`%070000d`).
fn check_pattern(flag: &str, pattern: &str) -> Result<(), Fail> {
    let Some(rest) = pattern.find('%').map(|i| &pattern[i + 1..]) else { return Ok(()) };
    let Some(spec) = rest.find('d').map(|e| &rest[..e]) else { return Ok(()) };
    let digits = spec.trim_start_matches('0');
    if spec.chars().all(|c| c.is_ascii_digit())
        && digits.parse::<usize>().map_or(!digits.is_empty(), |w| w > MAX_FRAME_DIGITS)
    {
        return Err(usage(format!(
            "{flag}{pattern}: the frame number pads to {digits} digits; at most {MAX_FRAME_DIGITS} are allowed"
        )));
    }
    Ok(())
}

/// `in.%04d.exr` with frame 7 → `in.0007.exr`; `None` when the path has no pattern.
pub fn frame_path(pattern: &str, frame: i64) -> Option<String> {
    let start = pattern.find('%')?;
    let rest = &pattern[start + 1..];
    let end = rest.find('d')?;
    let spec = &rest[..end];
    if !spec.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let width: usize = if spec.is_empty() { 0 } else { spec.trim_start_matches('0').parse().unwrap_or(0) };
    let width = width.min(MAX_FRAME_DIGITS);
    let num =
        if frame < 0 { format!("-{:0w$}", -frame, w = width.saturating_sub(1)) } else { format!("{frame:0width$}") };
    Some(format!("{}{}{}", &pattern[..start], num, &rest[end + 1..]))
}

fn parse_frames(s: &str) -> Result<Vec<i64>, Fail> {
    let bad = || usage(format!("--frames {s}: expected FIRST-LAST or one frame number, e.g. 1-48"));
    let (a, b) = match s.split_once('-') {
        Some((a, b)) if !a.is_empty() => (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?),
        _ => {
            let f: i64 = s.trim().parse().map_err(|_| bad())?;
            (f, f)
        }
    };
    if b < a || b - a > 1_000_000 {
        return Err(bad());
    }
    Ok((a..=b).collect())
}

fn check_finite(flag: &str, v: f64) -> Result<(), Fail> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(usage(format!("{flag} {v}: must be a finite number")))
    }
}

/// The render request of the flags.
fn options(a: &RenderArgs) -> RenderOptions {
    RenderOptions {
        lens: Lens {
            mode: a.mode.into(),
            focus: a.focus,
            dof: a.dof,
            size: a.size,
            maximum: a.maximum,
            ..defaults().lens
        },
        edges: a.edges.into(),
        output: a.output_kind.into(),
        mix: a.mix,
        radius: a.radius.unwrap_or(defaults().radius),
        invert_depth: a.invert_depth,
        rotation: a.rotation,
        aspect: a.aspect,
        pixel_aspect: a.pixel_aspect,
        bloom_threshold: a.bloom_threshold,
        bloom_gain: a.bloom_gain,
        gamma: a.gamma,
        focus_at: a.focus_at,
        ..defaults()
    }
}

pub fn run(a: &RenderArgs) -> Result<(), Fail> {
    for (flag, v) in [("--focus", a.focus), ("--dof", a.dof), ("--size", a.size), ("--maximum", a.maximum)] {
        check_finite(flag, v)?;
    }
    if let Some(r) = a.radius {
        if !(r.is_finite() && (0.0..=MAX_RADIUS).contains(&r)) {
            return Err(usage(format!("--radius {r}: must be a number of pixels in 0..={MAX_RADIUS}")));
        }
    }
    let max_threads = sparsebokeh::capi::MAX_THREADS as usize;
    if a.threads > max_threads {
        return Err(usage(format!("--threads {}: at most {max_threads} render threads", a.threads)));
    }
    check_pattern("", &a.input)?;
    check_pattern("", &a.output)?;
    if let Some(d) = &a.depth {
        check_pattern("--depth ", d)?;
    }
    let options = options(a);
    if a.radius.is_none() {
        let lens = options.lens;
        lens.validate().map_err(|e| usage(format!("{e} (flag --{})", lens_flag(&e))))?;
    }
    options.validate(a.radius.is_none()).map_err(|e| usage(e.to_string()))?;
    let bundle = load_bundle("--bundle", &a.bundle)?;
    let engine = Engine::new(a.threads).map_err(|e| usage(format!("--threads {}: {e}", a.threads)))?;
    let jobs = jobs(a)?;
    let setup = Setup { bundle: &bundle, engine: &engine, options, fixed: a.radius.is_some() };
    // Nothing is skipped or half done silently: every output can be written and, in a
    // sequence, every frame (and its depth) decodes, before the first frame renders.
    for (input, depth, output) in &jobs {
        check_output("", Path::new(output), &["exr", "png"])?;
        if !Path::new(input).exists() {
            return Err(usage(format!("{input}: input frame not found")));
        }
        if let Some(d) = depth.as_ref().filter(|d| !Path::new(d).exists()) {
            return Err(usage(format!("{d}: input frame not found")));
        }
    }
    if jobs.len() > 1 {
        for (input, depth, _) in &jobs {
            load_frame(&setup, input, depth.as_deref())
                .map_err(|e| usage(format!("{}; no frame was rendered", e.message)))?;
        }
    }
    let progress = Progress::new(jobs.len(), "render");
    let mut failures = Vec::new();
    for (i, (input, depth, output)) in jobs.iter().enumerate() {
        match render_frame(&setup, input, depth.as_deref(), output) {
            Ok(line) => progress.done(i, &format!("{output}: {line}")),
            Err(e) => {
                progress.done(i, &format!("{output}: FAILED: {}", e.message));
                failures.push(e);
            }
        }
    }
    progress.finish();
    match failures.len() {
        0 => Ok(()),
        1 if jobs.len() == 1 => Err(failures.pop().unwrap()),
        n => Err(Fail {
            code: failures.iter().map(|f| f.code).max().unwrap_or(1),
            message: format!("{n} of {} frames failed", jobs.len()),
        }),
    }
}

/// The frames to do: (input, depth, output) paths.
fn jobs(a: &RenderArgs) -> Result<Vec<(String, Option<String>, String)>, Fail> {
    let Some(spec) = &a.frames else {
        if frame_path(&a.input, 0).is_some() {
            return Err(usage(format!("{}: a frame pattern needs --frames", a.input)));
        }
        return Ok(vec![(a.input.clone(), a.depth.clone(), a.output.clone())]);
    };
    let frames = parse_frames(spec)?;
    let out_pat = frame_path(&a.output, 0)
        .map(|_| a.output.clone())
        .ok_or_else(|| usage(format!("{}: --frames needs a frame pattern such as out.%04d.exr", a.output)))?;
    if frame_path(&a.input, 0).is_none() {
        return Err(usage(format!("{}: --frames needs a frame pattern such as in.%04d.exr", a.input)));
    }
    Ok(frames
        .iter()
        .map(|&f| {
            let depth = a.depth.as_ref().map(|d| frame_path(d, f).unwrap_or_else(|| d.clone()));
            (frame_path(&a.input, f).unwrap(), depth, frame_path(&out_pat, f).unwrap())
        })
        .collect())
}

fn lens_flag(e: &sparsebokeh::LensError) -> &'static str {
    let sparsebokeh::LensError::Param { field, .. } = e;
    field
}

/// What every frame of a render shares.
struct Setup<'a> {
    bundle: &'a sparsebokeh::Bundle,
    engine: &'a Engine,
    options: RenderOptions,
    /// A fixed --radius: no depth is read.
    fixed: bool,
}

/// A frame's source and (unless the blur is fixed) its depth, decoded and checked.
fn load_frame(setup: &Setup, input: &str, depth_path: Option<&str>) -> Result<(Image, Option<Image>), Fail> {
    let frame = io::read(Path::new(input), Role::Color).map_err(|e| usage(e.to_string()))?;
    let src = frame.color;
    if setup.fixed {
        return Ok((src, None));
    }
    let depth = match depth_path {
        Some(d) => {
            let img = io::read(Path::new(d), Role::Data).map_err(|e| usage(e.to_string()))?;
            match img.depth {
                Some(z) => Image { width: img.color.width, height: img.color.height, channels: 1, data: z },
                None => img.color,
            }
        }
        None => match frame.depth {
            Some(z) => Image { width: src.width, height: src.height, channels: 1, data: z },
            None => {
                return Err(usage(format!(
                    "{input}: no depth found (looked for {}; the file holds {}); pass --depth FILE or a fixed --radius",
                    io::DEPTH_NAMES,
                    if frame.channels.is_empty() { "no named channels".to_string() } else { frame.channels.join(", ") }
                )))
            }
        },
    };
    if depth.width != src.width || depth.height != src.height {
        return Err(usage(format!(
            "{}: depth is {}×{} but {input} is {}×{}",
            depth_path.unwrap_or(input),
            depth.width,
            depth.height,
            src.width,
            src.height
        )));
    }
    Ok((src, Some(depth)))
}

fn render_frame(setup: &Setup, input: &str, depth_path: Option<&str>, output: &str) -> Result<String, Fail> {
    let Setup { bundle, engine, options, .. } = setup;
    let (mut src, depth) = load_frame(setup, input, depth_path)?;
    let (w, h) = (src.width, src.height);
    let started = std::time::Instant::now();
    // A fixed blur renders in place (one frame in memory); a depth blur into a second frame.
    let mut out = Image::new(if depth.is_none() { 0 } else { w }, h, src.channels);
    let stats = match &depth {
        None => engine.render_in_place(Some(bundle), options, &mut src.view_mut()),
        Some(z) => engine.render(Some(bundle), options, &src.view(), Some(&z.view()), &mut out.view_mut()),
    }
    .map_err(|e| usage(format!("{input}: {e}")))?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let result = if depth.is_none() { &src } else { &out };
    io::write(Path::new(output), result).map_err(|e| failed(e.to_string()))?;
    let mut line = format!("{w}×{h} in {ms:.1} ms, {} radius tables", stats.tables);
    if stats.nonfinite_samples > 0 {
        line += &format!(", warning: {} NaN/Inf samples treated as 0", stats.nonfinite_samples);
    }
    if stats.bad_depth > 0 {
        line += &format!(", warning: {} non-finite or negative depth values treated as far", stats.bad_depth);
    }
    if stats.nonfinite_output > 0 {
        line += &format!(
            ", warning: {} output samples are NaN/Inf (source values too large to blur in 32-bit float)",
            stats.nonfinite_output
        );
    }
    Ok(line)
}

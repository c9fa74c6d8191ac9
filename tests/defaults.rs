//! Every front end's defaults agree with `RenderOptions::default()`: the CLI's flags (read from
//! `sparsebokeh render --help`), the C API's `sb_options_default` and `sb_lens_default`, and the
//! defaults the OpenFX plugin describes (its parameter table).

use sparsebokeh::capi::*;
use sparsebokeh::ofx::params::{names, Value, Values, PARAMS};
use sparsebokeh::LensMode;
use sparsebokeh::{Edges, Output, RenderOptions};
use std::collections::HashMap;
use std::process::Command;

fn defaults() -> RenderOptions {
    RenderOptions::default()
}

/// The `[default: …]` of each long flag in `sparsebokeh render --help`.
fn cli_defaults() -> HashMap<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_sparsebokeh")).args(["render", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut flag = String::new();
    let mut map = HashMap::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("--") {
            flag = rest.split_whitespace().next().unwrap_or("").to_string();
        }
        if let Some(i) = line.find("[default: ") {
            let v = &line[i + 10..];
            map.insert(flag.clone(), v[..v.find(']').unwrap()].to_string());
        }
    }
    map
}

#[test]
fn cli_flags_default_to_the_render_request() {
    let d = defaults();
    let cli = cli_defaults();
    let mode = match d.lens.mode {
        LensMode::Depth => "depth",
        LensMode::InverseDepth => "inverse-depth",
        LensMode::Coc => "coc",
    };
    let edges = if d.edges == Edges::Layered { "layered" } else { "gather" };
    let output = match d.output {
        Output::Result => "result",
        Output::FocalPlaneSetup => "focal-plane-setup",
        Output::CocMap => "coc-map",
        Output::CocMapNormalised => "coc-map-normalised",
        Output::DepthSlices => "depth-slices",
    };
    let want = [
        ("mode", mode.to_string()),
        ("focus", d.lens.focus.to_string()),
        ("dof", d.lens.dof.to_string()),
        ("size", d.lens.size.to_string()),
        ("maximum", d.lens.maximum.to_string()),
        ("edges", edges.to_string()),
        ("output-kind", output.to_string()),
        ("mix", d.mix.to_string()),
        ("rotation", d.rotation.to_string()),
        ("aspect", d.aspect.to_string()),
        ("pixel-aspect", d.pixel_aspect.to_string()),
        ("bloom-threshold", d.bloom_threshold.to_string()),
        ("bloom-gain", d.bloom_gain.to_string()),
        ("gamma", d.gamma.to_string()),
    ];
    // --invert-depth is a switch: off unless given, as in the request; --focus-at likewise.
    assert!(!d.invert_depth);
    assert_eq!(d.focus_at, None);
    assert!(!cli.contains_key("focus-at"));
    for (flag, v) in want {
        assert_eq!(cli.get(flag), Some(&v), "--{flag} (all: {cli:?})");
    }
}

#[test]
fn c_defaults_are_the_render_request() {
    let d = defaults();
    let o = default_options();
    assert_eq!(o.struct_size as usize, std::mem::size_of::<SbOptions>());
    assert_eq!((o.mode, o.edges, o.output), (SB_LENS_DEPTH, SB_EDGES_LAYERED, SB_OUTPUT_RESULT));
    assert_eq!(d.lens.mode, LensMode::Depth);
    assert_eq!(d.edges, Edges::Layered);
    assert_eq!(d.output, Output::Result);
    let l = d.lens;
    assert_eq!(
        [o.focus, o.dof, o.size, o.maximum, o.render_scale],
        [l.focus, l.dof, l.size, l.maximum, l.render_scale]
    );
    assert_eq!([o.mix, o.radius], [d.mix, d.radius]);
    assert_eq!((o.depth_channel as usize, o.invert_depth != 0), (d.depth_channel, d.invert_depth));
    assert_eq!(
        [o.rotation, o.aspect, o.pixel_aspect, o.bloom_threshold, o.bloom_gain, o.gamma],
        [d.rotation, d.aspect, d.pixel_aspect, d.bloom_threshold, d.bloom_gain, d.gamma]
    );
    assert_eq!(o.focus_from_point != 0, d.focus_at.is_some());
    // Through the exported functions too.
    let mut from_c = std::mem::MaybeUninit::<SbOptions>::uninit();
    let mut lens = std::mem::MaybeUninit::<SbLens>::uninit();
    // SAFETY: valid out pointers; both functions fill every field on success.
    let (from_c, lens) = unsafe {
        assert_eq!(sb_options_default(from_c.as_mut_ptr()), SbStatus::Ok);
        assert_eq!(sb_lens_default(lens.as_mut_ptr()), SbStatus::Ok);
        (from_c.assume_init(), lens.assume_init())
    };
    assert_eq!(format!("{from_c:?}"), format!("{o:?}"));
    assert_eq!(lens.struct_size as usize, std::mem::size_of::<SbLens>());
    assert_eq!((lens.mode, lens.edges), (o.mode, o.edges));
    assert_eq!(
        [lens.focus, lens.dof, lens.size, lens.maximum, lens.render_scale],
        [l.focus, l.dof, l.size, l.maximum, l.render_scale]
    );
}

#[test]
fn ofx_parameters_describe_the_render_request() {
    let d = defaults();
    let described: HashMap<&str, Value> = PARAMS.iter().map(|p| (p.name, (p.get)(&Values::default()))).collect();
    let want = [
        (names::MATH, Value::Int(0)),
        (names::INVERT_DEPTH, Value::Int(d.invert_depth as i32)),
        (names::DEPTH_CHANNEL, Value::Int(d.depth_channel as i32)),
        (names::EDGES, Value::Int(1)),
        (names::CENTER, Value::Double(d.lens.focus)),
        (names::DOF, Value::Double(d.lens.dof)),
        (names::SIZE, Value::Double(d.lens.size)),
        (names::MAX_SIZE, Value::Double(d.lens.maximum)),
        (names::OUTPUT, Value::Int(0)),
        (names::MIX, Value::Double(d.mix)),
        (names::RADIUS, Value::Double(d.radius)),
        (names::DEPTH_FROM, Value::Int(0)),
        (names::ROTATION, Value::Double(d.rotation)),
        (names::ASPECT, Value::Double(d.aspect)),
        (names::BLOOM_THRESHOLD, Value::Double(d.bloom_threshold)),
        (names::BLOOM_GAIN, Value::Double(d.bloom_gain)),
        (names::GAMMA, Value::Double(d.gamma)),
        (names::FOCUS_FROM_POINT, Value::Int(d.focus_at.is_some() as i32)),
    ];
    assert_eq!((d.lens.mode, d.edges, d.output), (LensMode::Depth, Edges::Layered, Output::Result));
    for (name, v) in want {
        assert_eq!(described[name], v, "parameter {name}");
    }
    assert_eq!(Values::default().options, d);
}

//! The C API: C and C++ programs in tests/c/ built with the `cc` crate and linked
//! against the cdylib, byte-exact comparison with the Rust API, the bad-input matrix (through C
//! and, row by row, from Rust), exported symbols, the header's version and the pkg-config file.

mod common;

use common::{random_bundle, test_image, Rng};
use serde_json::Value;
use sparsebokeh::capi::*;
use sparsebokeh::Bundle;
use sparsebokeh::Edges;
use sparsebokeh::{Engine, Image, Lens, LensMode};
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

// ---- building and running C programs ---------------------------------------------------------

/// The directory holding the cdylib `cargo test` built with this test (target/<profile>/deps,
/// or target/<profile>).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for dir in [deps, deps.parent().unwrap()] {
        if dir.join("libsparsebokeh.so").exists() {
            return dir.to_path_buf();
        }
    }
    panic!("libsparsebokeh.so not found next to {} (cargo builds the cdylib with the lib)", exe.display());
}

fn target_triple() -> &'static str {
    if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        "x86_64-unknown-linux-gnu"
    } else if cfg!(all(target_arch = "aarch64", target_os = "linux")) {
        "aarch64-unknown-linux-gnu"
    } else {
        panic!("the C tests know Linux targets only")
    }
}

/// Compiles and links `sources` (paths relative to the package) into `exe` against the cdylib,
/// with every warning an error.
fn build_program(sources: &[&str], exe: &Path, cpp: bool) {
    let tool = cc::Build::new()
        .cpp(cpp)
        .target(target_triple())
        .host(target_triple())
        .opt_level(1)
        .debug(false)
        .cargo_metadata(false)
        .warnings(false)
        .get_compiler();
    let mut cmd = tool.to_command();
    if cpp {
        cmd.args(["-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic"]);
    } else {
        cmd.args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]);
    }
    let lib = lib_dir();
    cmd.arg("-I").arg(Path::new(ROOT).join("include"));
    for s in sources {
        cmd.arg(Path::new(ROOT).join(s));
    }
    cmd.arg("-o").arg(exe);
    cmd.arg("-L").arg(&lib).arg("-lsparsebokeh").arg(format!("-Wl,-rpath,{}", lib.display()));
    let out = cmd.output().expect("run the C compiler");
    assert!(
        out.status.success(),
        "compiling {sources:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run(exe: &Path, args: &[&Path]) -> String {
    // cargo test's LD_LIBRARY_PATH lists target/<profile> too, whose uplifted copy of the cdylib
    // may be stale (cargo test refreshes the one in deps/): point the loader at ours only.
    let out = Command::new(exe).env("LD_LIBRARY_PATH", lib_dir()).args(args).output().expect("run the C program");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}\n{}",
        exe.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

// ---- test data ---------------------------------------------------------------------------------

/// The valid test bundle: L = 2, N = 4, radii 2, 4, 8.
fn test_bundle() -> Bundle {
    random_bundle(7, 2, 4, &[2.0, 4.0, 8.0])
}

fn write_raw(path: &Path, data: &[f32]) {
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn read_raw(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn bytes_of(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The bundle files of the bad-input matrix, written into `dir`.
fn write_bundle_files(dir: &Path) {
    let valid = test_bundle().to_json_string();
    let value: Value = serde_json::from_str(&valid).unwrap();
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v = value.clone();
        f(&mut v);
        serde_json::to_string_pretty(&v).unwrap()
    };
    let first_w = valid.find("\"w\": ").unwrap() + 5;
    let w_end = first_w + valid[first_w..].find(['}', ',']).unwrap();
    let files: Vec<(&str, String)> = vec![
        ("valid.json", valid.clone()),
        ("empty.json", String::new()),
        ("truncated.json", valid[..valid.len() / 2].to_string()),
        ("not-json.json", "this is not JSON {".to_string()),
        ("other-shape-array.json", "[1, 2, 3]".to_string()),
        ("other-shape-object.json", r#"{"hello": "world", "basis": 3}"#.to_string()),
        ("nan.json", format!("{}NaN{}", &valid[..first_w], &valid[w_end..])),
        ("nan-string.json", format!("{}\"NaN\"{}", &valid[..first_w], &valid[w_end..])),
        ("taps-1e9.json", edit(&|v| v["taps"] = Value::from(1_000_000_000u64))),
        (
            "unsorted-radii.json",
            edit(&|v| {
                let basis = v["basis"].as_array_mut().unwrap();
                basis.swap(0, 1);
            }),
        ),
        ("version-99.json", edit(&|v| v["version"] = Value::from(99))),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    std::fs::create_dir_all(dir.join("directory.json")).unwrap();
    // A valid bundle whose taps reach 4000 px at radius 2: any real radius is too large.
    let mut far = random_bundle(3, 2, 4, &[2.0]);
    for l in &mut far.basis[0].complex.layers {
        l[0].x = 4000.0;
    }
    far.save(&dir.join("far.json")).unwrap();
}

fn test_lens() -> Lens {
    Lens { mode: LensMode::Depth, focus: 2.0, dof: 0.25, size: 6.0, maximum: 9.0, render_scale: 1.0 }
}

fn depth_ramp(w: usize, h: usize, seed: u64) -> Image {
    let mut rng = Rng(seed);
    let mut z = Image::new(w, h, 1);
    for y in 0..h {
        for x in 0..w {
            z.data[y * w + x] = (0.8 + 3.0 * x as f64 / w as f64 + 0.3 * rng.f64()) as f32;
        }
    }
    z.data[5] = f32::NAN;
    z.data[w + 3] = -1.0;
    z
}

// ---- the C programs ------------------------------------------------------------------------------

#[test]
fn c_blur_matches_rust_api_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("blur_compare");
    build_program(&["tests/c/blur_compare.c"], &exe, false);

    let (w, h, c) = (37, 23, 4);
    let bundle = test_bundle();
    let bundle_path = dir.path().join("bundle.json");
    bundle.save(&bundle_path).unwrap();
    let bundle = Bundle::load(&bundle_path).unwrap();
    let src = test_image(w, h, c, 11);
    let depth = depth_ramp(w, h, 12);
    write_raw(&dir.path().join("src.raw"), &src.data);
    write_raw(&dir.path().join("depth.raw"), &depth.data);
    let (ws, hs, cs) = (w.to_string(), h.to_string(), c.to_string());
    let out = run(
        &exe,
        &[
            &bundle_path,
            &dir.path().join("src.raw"),
            &dir.path().join("depth.raw"),
            Path::new(&ws),
            Path::new(&hs),
            Path::new(&cs),
            dir.path(),
        ],
    );
    assert!(out.contains("blur_compare: done"), "{out}");

    let engine = Engine::new(0).unwrap();
    let mut fixed = Image::new(w, h, c);
    engine.blur_fixed(&bundle, 3.3, &src.view(), &mut fixed.view_mut()).unwrap();
    assert_eq!(read_raw(&dir.path().join("fixed.raw")), bytes_of(&fixed.data), "fixed blur differs");

    let mut blurred = Image::new(w, h, c);
    let stats =
        engine.blur_depth(&bundle, &test_lens(), &depth.view(), 0, &src.view(), &mut blurred.view_mut()).unwrap();
    assert!(out.contains(&format!("bad_depth {} ", stats.bad_depth)), "{out}");
    assert_eq!(stats.bad_depth, 2);
    for name in ["depth.raw", "depth_t1.raw", "depth_t3.raw", "depth_flipped.raw"] {
        assert_eq!(read_raw(&dir.path().join(name)), bytes_of(&blurred.data), "{name} differs from the Rust API");
    }
    let mut layered = Image::new(w, h, c);
    engine
        .blur_depth_with(&bundle, &test_lens(), Edges::Layered, &depth.view(), 0, &src.view(), &mut layered.view_mut())
        .unwrap();
    for name in ["layered.raw", "layered_flipped.raw"] {
        assert_eq!(read_raw(&dir.path().join(name)), bytes_of(&layered.data), "{name} differs from the Rust API");
    }
    assert_ne!(layered.data, blurred.data, "the test scene should have depth edges where layered differs");
    let (coc, _) = test_lens().coc_map(&depth.view(), 0);
    assert_eq!(read_raw(&dir.path().join("coc.raw")), bytes_of(&coc), "CoC map differs");
    // The blur did something.
    assert_ne!(fixed.data, src.data);
}

#[test]
fn c_bad_input_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("bad_inputs");
    build_program(&["tests/c/bad_inputs.c"], &exe, false);
    write_bundle_files(dir.path());
    let out = run(&exe, &[dir.path()]);
    assert!(out.contains("bad_inputs: 0 failure(s)"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    let ok = out.lines().filter(|l| l.starts_with("ok ")).count();
    // Every case prints one "ok" line: a C program that silently skipped cases would fail here.
    assert!(ok >= 200, "only {ok} cases passed:\n{out}");
    println!("{out}{ok} bad-input cases passed through the C API");
}

#[test]
fn cxx_program_compiles_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("cxx_smoke");
    build_program(&["tests/c/cxx_smoke.cpp"], &exe, true);
    let bundle_path = dir.path().join("bundle.json");
    test_bundle().save(&bundle_path).unwrap();
    let out = run(&exe, &[&bundle_path]);
    assert!(out.starts_with("cxx_smoke: "), "{out}");
}

#[test]
fn header_compiles_as_cxx11_with_gxx() {
    let Ok(v) = Command::new("g++").arg("--version").output() else {
        println!("skipped: g++ is not installed");
        return;
    };
    assert!(v.status.success());
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("header.cpp");
    std::fs::write(
        &src,
        "#include \"sparsebokeh.h\"\nint main() { sb_image i = {nullptr, 0, 0, 0, 0}; return i.width; }\n",
    )
    .unwrap();
    let out = Command::new("g++")
        .args(["-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only", "-I"])
        .arg(Path::new(ROOT).join("include"))
        .arg(&src)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn example_blur_c_runs() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("blur");
    build_program(&["examples/c/blur.c"], &exe, false);
    let bundle_path = dir.path().join("bundle.json");
    test_bundle().save(&bundle_path).unwrap();
    let out = run(&exe, &[&bundle_path]);
    assert!(out.contains("bundle \"test\": 2 layers x 4 taps, 3 radii"), "{out}");
    assert!(out.contains("blurred 64x48"), "{out}");
}

// ---- symbols, version, pkg-config -----------------------------------------------------------

/// Only `sb_*` and the two OpenFX entry points may be exported by the cdylib.
/// Every struct's size and field offsets and every enum value, as the Rust side has them, in
/// the lines `tests/c/layout.c` prints.
fn rust_layout() -> String {
    use std::mem::{offset_of, size_of};
    let mut lines = Vec::new();
    macro_rules! size {
        ($c:literal, $t:ty) => {
            lines.push(format!("sizeof({}) {}", $c, size_of::<$t>()))
        };
    }
    macro_rules! fields {
        ($c:literal, $t:ty, $($f:ident),*) => {
            $(lines.push(format!("{}.{} {}", $c, stringify!($f), offset_of!($t, $f)));)*
        };
    }
    size!("sb_image", SbImage);
    fields!("sb_image", SbImage, data, row_stride_bytes, width, height, channels);
    size!("sb_lens", SbLens);
    fields!("sb_lens", SbLens, struct_size, mode, edges, focus, dof, size, maximum, render_scale);
    size!("sb_options", SbOptions);
    fields!(
        "sb_options",
        SbOptions,
        struct_size,
        mode,
        edges,
        output,
        focus,
        dof,
        size,
        maximum,
        render_scale,
        mix,
        radius,
        depth_channel,
        invert_depth,
        rotation,
        aspect,
        pixel_aspect,
        bloom_threshold,
        bloom_gain,
        gamma,
        focus_x,
        focus_y,
        focus_from_point
    );
    size!("sb_stats", SbStats);
    fields!("sb_stats", SbStats, nonfinite_samples, bad_depth, max_radius, tables);
    size!("sb_status", SbStatus);
    let statuses = [
        ("SB_OK", SbStatus::Ok),
        ("SB_ERR_NULL_POINTER", SbStatus::NullPointer),
        ("SB_ERR_IMAGE", SbStatus::Image),
        ("SB_ERR_SIZE_MISMATCH", SbStatus::SizeMismatch),
        ("SB_ERR_OVERLAP", SbStatus::Overlap),
        ("SB_ERR_LENS", SbStatus::Lens),
        ("SB_ERR_INVALID_ARGUMENT", SbStatus::InvalidArgument),
        ("SB_ERR_UNSUPPORTED", SbStatus::Unsupported),
        ("SB_ERR_IO", SbStatus::Io),
        ("SB_ERR_BUNDLE_PARSE", SbStatus::BundleParse),
        ("SB_ERR_BUNDLE_INVALID", SbStatus::BundleInvalid),
        ("SB_ERR_BUNDLE_VERSION", SbStatus::BundleVersion),
        ("SB_ERR_BUFFER_TOO_SMALL", SbStatus::BufferTooSmall),
        ("SB_ERR_TOO_LARGE", SbStatus::TooLarge),
        ("SB_ERR_CPU", SbStatus::Cpu),
        ("SB_ERR_THREADS", SbStatus::Threads),
        ("SB_ERR_INTERNAL", SbStatus::Internal),
    ];
    for (name, v) in statuses {
        lines.push(format!("{name} {}", v as i32));
    }
    for (name, v) in [
        ("SB_LENS_DEPTH", SB_LENS_DEPTH),
        ("SB_LENS_INVERSE_DEPTH", SB_LENS_INVERSE_DEPTH),
        ("SB_LENS_COC", SB_LENS_COC),
        ("SB_EDGES_GATHER", SB_EDGES_GATHER),
        ("SB_EDGES_LAYERED", SB_EDGES_LAYERED),
        ("SB_OUTPUT_RESULT", SB_OUTPUT_RESULT),
        ("SB_OUTPUT_FOCAL_PLANE_SETUP", SB_OUTPUT_FOCAL_PLANE_SETUP),
        ("SB_OUTPUT_COC_MAP", SB_OUTPUT_COC_MAP),
        ("SB_OUTPUT_COC_MAP_NORMALISED", SB_OUTPUT_COC_MAP_NORMALISED),
        ("SB_OUTPUT_DEPTH_SLICES", SB_OUTPUT_DEPTH_SLICES),
    ] {
        lines.push(format!("{name} {v}"));
    }
    lines.join("\n") + "\n"
}

#[test]
fn c_layout_matches_rust_in_c99_and_cxx() {
    let dir = tempfile::tempdir().unwrap();
    let want = rust_layout();
    for cpp in [false, true] {
        let exe = dir.path().join(if cpp { "layout_cxx" } else { "layout_c99" });
        build_program(&["tests/c/layout.c"], &exe, cpp);
        let got = run(&exe, &[]);
        assert_eq!(got, want, "the header's layout ({}) differs from the Rust side", if cpp { "C++" } else { "C99" });
    }
}

#[test]
fn sized_structs_refuse_a_wrong_struct_size() {
    let b = load_valid();
    let mut f = Frame::new();
    let (s, d) = (f.src(), f.dst());
    let o = default_options();
    for (size, want) in [(0u32, SbStatus::InvalidArgument), (o.struct_size + 8, SbStatus::Unsupported)] {
        let bad = SbOptions { struct_size: size, ..o };
        // SAFETY: valid descriptors of live, disjoint buffers.
        let st = unsafe { sb_render(std::ptr::null(), b, &bad, &s, std::ptr::null(), &d, std::ptr::null_mut()) };
        assert_eq!(st, want, "struct_size {size}: {}", last_error());
        let lens = SbLens { struct_size: size, ..lens() };
        let depth = f.depth();
        assert_eq!(blur_depth(b, lens, s, depth, d), want);
    }
    // SAFETY: valid descriptors.
    let st = unsafe { sb_render(std::ptr::null(), b, &o, &s, std::ptr::null(), &d, std::ptr::null_mut()) };
    assert_eq!(st, SbStatus::Ok, "{}", last_error());
    // SAFETY: a live handle, freed once.
    unsafe { sb_bundle_free(b) };
}

#[test]
fn options_of_a_caller_built_before_the_lens_character_fields_take_their_defaults() {
    let b = load_valid();
    let mut f = Frame::new();
    let (s, d) = (f.src(), f.dst());
    let o = default_options();
    let render = |opts: &SbOptions| {
        // SAFETY: valid descriptors of live, disjoint buffers.
        let st = unsafe { sb_render(std::ptr::null(), b, opts, &s, std::ptr::null(), &d, std::ptr::null_mut()) };
        assert_eq!(st, SbStatus::Ok, "{}", last_error());
        f.dst.clone()
    };
    let want = render(&SbOptions { radius: 5.0, ..o });
    // An older caller's struct ends before `rotation`: what lies past it is not read.
    let older = std::mem::offset_of!(SbOptions, rotation) as u32;
    let got = render(&SbOptions { struct_size: older, radius: 5.0, rotation: 45.0, aspect: 3.0, ..o });
    assert_eq!(got, want);
    let turned = render(&SbOptions { radius: 5.0, rotation: 45.0, aspect: 3.0, ..o });
    assert_ne!(turned, want, "the full-size struct reads its rotation");
    // SAFETY: a live handle, freed once.
    unsafe { sb_bundle_free(b) };
}

#[test]
fn cdylib_exports_only_sb_symbols() {
    let so = lib_dir().join("libsparsebokeh.so");
    let out = match Command::new("nm").args(["-D", "--defined-only"]).arg(&so).output() {
        Ok(o) => o,
        Err(e) => {
            println!("skipped: nm is not available ({e})");
            return;
        }
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let symbols: Vec<&str> = text.lines().filter_map(|l| l.split_whitespace().last()).collect();
    let leaked: Vec<&&str> = symbols
        .iter()
        .filter(|s| !(s.starts_with("sb_") || **s == "OfxGetNumberOfPlugins" || **s == "OfxGetPlugin"))
        .collect();
    assert!(leaked.is_empty(), "symbols other than sb_* exported from {}: {leaked:?}\n{text}", so.display());
    for f in ["sb_version", "sb_last_error", "sb_bundle_load", "sb_blur_depth", "sb_blur_fixed", "sb_coc_map"] {
        assert!(symbols.contains(&f), "{f} is not exported:\n{text}");
    }
}

/// Every function the header declares is exported, and every exported `sb_` function is
/// declared in the header.
#[test]
fn header_declares_exactly_the_exported_functions() {
    let header = std::fs::read_to_string(Path::new(ROOT).join("include/sparsebokeh.h")).unwrap();
    let mut declared: Vec<String> = Vec::new();
    for line in header.lines() {
        if line.starts_with(' ') || line.starts_with('#') || line.starts_with('*') || line.starts_with('/') {
            continue;
        }
        for (open, _) in line.match_indices("sb_") {
            let name: String =
                line[open..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
            if line[open + name.len()..].starts_with('(') {
                declared.push(name);
                break;
            }
        }
    }
    declared.sort();
    let source = std::fs::read_to_string(Path::new(ROOT).join("src/capi.rs")).unwrap();
    let mut exported: Vec<String> = source
        .split("#[no_mangle]")
        .skip(1)
        .map(|chunk| {
            let at = chunk.find("fn sb_").unwrap() + 3;
            chunk[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
        })
        .collect();
    exported.sort();
    assert!(declared.len() >= 19, "{declared:?}");
    assert_eq!(declared, exported);
}

#[test]
fn version_matches_header_and_cargo() {
    let header = std::fs::read_to_string(Path::new(ROOT).join("include/sparsebokeh.h")).unwrap();
    let define = |name: &str| -> u32 {
        let line = header.lines().find(|l| l.starts_with(&format!("#define {name} "))).unwrap();
        line.split_whitespace().nth(2).unwrap().parse().unwrap()
    };
    let v = sb_version();
    assert_eq!(v >> 16, define("SB_VERSION_MAJOR"));
    assert_eq!((v >> 8) & 0xff, define("SB_VERSION_MINOR"));
    assert_eq!(v & 0xff, define("SB_VERSION_PATCH"));
    // SAFETY: sb_version_string returns a static NUL-terminated string.
    let text = unsafe { CStr::from_ptr(sb_version_string()) }.to_str().unwrap();
    assert_eq!(text, env!("CARGO_PKG_VERSION"));
}

#[test]
fn pkg_config_file_is_valid() {
    let template = std::fs::read_to_string(Path::new(ROOT).join("sparsebokeh.pc.in")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pc = template.replace("@PREFIX@", "/opt/sb").replace("@VERSION@", env!("CARGO_PKG_VERSION"));
    assert!(!pc.contains('@'), "unsubstituted placeholder in\n{pc}");
    std::fs::write(dir.path().join("sparsebokeh.pc"), pc).unwrap();
    let query = |arg: &str| {
        let out = Command::new("pkg-config").env("PKG_CONFIG_PATH", dir.path()).args([arg, "sparsebokeh"]).output()?;
        assert!(out.status.success(), "pkg-config {arg}: {}", String::from_utf8_lossy(&out.stderr));
        Ok::<String, std::io::Error>(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let version = match query("--modversion") {
        Ok(v) => v,
        Err(e) => {
            println!("skipped: pkg-config is not available ({e})");
            return;
        }
    };
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let text = format!("{} {}", query("--cflags").unwrap(), query("--libs").unwrap());
    assert!(text.contains("-I/opt/sb/include"), "{text}");
    assert!(text.contains("-L/opt/sb/lib -lsparsebokeh"), "{text}");
}

// ---- the bad-input matrix from Rust, row by row ----------------------------------------------

const SENTINEL: f32 = -1234.5;

struct Frame {
    src: Vec<f32>,
    dst: Vec<f32>,
    depth: Vec<f32>,
    w: i32,
    h: i32,
    c: i32,
}

impl Frame {
    fn new() -> Frame {
        let (w, h, c) = (8, 6, 4);
        let n = (w * h * c) as usize;
        Frame {
            src: (0..n).map(|i| (i % 13) as f32 / 13.0).collect(),
            dst: vec![SENTINEL; n],
            depth: (0..(w * h) as usize).map(|i| 1.0 + (i % 5) as f32).collect(),
            w,
            h,
            c,
        }
    }
    fn src(&mut self) -> SbImage {
        SbImage {
            data: self.src.as_mut_ptr(),
            row_stride_bytes: (self.w * self.c * 4) as isize,
            width: self.w,
            height: self.h,
            channels: self.c,
        }
    }
    fn dst(&mut self) -> SbImage {
        SbImage { data: self.dst.as_mut_ptr(), ..self.src() }
    }
    fn depth(&mut self) -> SbImage {
        SbImage {
            data: self.depth.as_mut_ptr(),
            row_stride_bytes: (self.w * 4) as isize,
            width: self.w,
            height: self.h,
            channels: 1,
        }
    }
    fn untouched(&self) -> bool {
        self.dst.iter().all(|&v| v == SENTINEL)
    }
}

/// What `sb_options_default` fills in.
fn default_options() -> SbOptions {
    let mut o = std::mem::MaybeUninit::<SbOptions>::uninit();
    // SAFETY: a valid out pointer; sb_options_default fills every field on success.
    unsafe {
        assert_eq!(sb_options_default(o.as_mut_ptr()), SbStatus::Ok);
        o.assume_init()
    }
}

fn last_error() -> String {
    // SAFETY: sb_last_error returns a valid NUL-terminated string owned by this thread.
    unsafe { CStr::from_ptr(sb_last_error()) }.to_string_lossy().into_owned()
}

fn lens() -> SbLens {
    let mut l = std::mem::MaybeUninit::<SbLens>::uninit();
    // SAFETY: a valid out pointer; sb_lens_default fills every field on success.
    let l = unsafe {
        assert_eq!(sb_lens_default(l.as_mut_ptr()), SbStatus::Ok);
        l.assume_init()
    };
    SbLens { focus: 2.0, size: 4.0, maximum: 6.0, ..l }
}

fn load_valid() -> *mut SbBundle {
    let json = test_bundle().to_json_string();
    let mut b = std::ptr::null_mut();
    // SAFETY: valid pointers.
    assert_eq!(unsafe { sb_bundle_load_memory(json.as_ptr().cast(), json.len(), &mut b) }, SbStatus::Ok);
    b
}

/// Runs `call` on a fresh frame and checks the status, the message and the untouched output.
fn expect(name: &str, want: SbStatus, call: impl FnOnce(&mut Frame, *mut SbBundle) -> SbStatus) {
    let bundle = load_valid();
    let mut f = Frame::new();
    let got = call(&mut f, bundle);
    let msg = last_error();
    // SAFETY: a live handle, freed once.
    unsafe { sb_bundle_free(bundle) };
    assert_eq!(got, want, "{name}: {msg}");
    assert!(!msg.is_empty(), "{name}: empty message");
    assert!(f.untouched(), "{name}: the destination was written");
    assert_eq!(f.src, Frame::new().src, "{name}: the source was written");
}

fn blur_fixed(f: &mut Frame, b: *mut SbBundle, src: SbImage, dst: SbImage, radius: f64) -> SbStatus {
    let _ = f;
    // SAFETY: the descriptors describe memory owned by the frame, or are refused before use.
    unsafe { sb_blur_fixed(std::ptr::null(), b, radius, &src, &dst, std::ptr::null_mut()) }
}

fn blur_depth(b: *mut SbBundle, lens: SbLens, src: SbImage, depth: SbImage, dst: SbImage) -> SbStatus {
    // SAFETY: as above.
    unsafe { sb_blur_depth(std::ptr::null(), b, &lens, &src, &depth, 0, &dst, std::ptr::null_mut()) }
}

#[test]
fn matrix_null_bundle() {
    expect("fixed", SbStatus::NullPointer, |f, _| {
        let (s, d) = (f.src(), f.dst());
        blur_fixed(f, std::ptr::null_mut(), s, d, 2.0)
    });
    expect("depth", SbStatus::NullPointer, |f, _| {
        blur_depth(std::ptr::null_mut(), lens(), f.src(), f.depth(), f.dst())
    });
}

#[test]
fn matrix_null_images_and_lens() {
    expect("src", SbStatus::NullPointer, |f, b| {
        let d = f.dst();
        // SAFETY: NULL src is refused.
        unsafe { sb_blur_fixed(std::ptr::null(), b, 2.0, std::ptr::null(), &d, std::ptr::null_mut()) }
    });
    expect("depth", SbStatus::NullPointer, |f, b| {
        let (s, d, l) = (f.src(), f.dst(), lens());
        // SAFETY: NULL depth is refused.
        unsafe { sb_blur_depth(std::ptr::null(), b, &l, &s, std::ptr::null(), 0, &d, std::ptr::null_mut()) }
    });
    expect("lens", SbStatus::NullPointer, |f, b| {
        let (s, z, d) = (f.src(), f.depth(), f.dst());
        // SAFETY: NULL lens is refused.
        unsafe { sb_blur_depth(std::ptr::null(), b, std::ptr::null(), &s, &z, 0, &d, std::ptr::null_mut()) }
    });
}

#[test]
fn matrix_null_data() {
    expect("src data", SbStatus::NullPointer, |f, b| {
        let (s, d) = (SbImage { data: std::ptr::null_mut(), ..f.src() }, f.dst());
        blur_fixed(f, b, s, d, 2.0)
    });
    expect("dst data", SbStatus::NullPointer, |f, b| {
        let (s, d) = (f.src(), SbImage { data: std::ptr::null_mut(), ..f.dst() });
        blur_fixed(f, b, s, d, 2.0)
    });
    expect("depth data", SbStatus::NullPointer, |f, b| {
        blur_depth(b, lens(), f.src(), SbImage { data: std::ptr::null_mut(), ..f.depth() }, f.dst())
    });
}

#[test]
fn matrix_width_height_zero_or_negative() {
    for (w, h) in [(0, 6), (8, 0), (-1, 6), (8, -6), (i32::MIN, 6), (8, i32::MIN), (70000, 1)] {
        expect(&format!("src {w}×{h}"), SbStatus::Image, |f, b| {
            let (s, d) = (SbImage { width: w, height: h, ..f.src() }, f.dst());
            blur_fixed(f, b, s, d, 2.0)
        });
        expect(&format!("depth {w}×{h}"), SbStatus::Image, |f, b| {
            blur_depth(b, lens(), f.src(), SbImage { width: w, height: h, ..f.depth() }, f.dst())
        });
    }
}

#[test]
fn matrix_channels_0_or_5() {
    for c in [0, 5, -1, i32::MAX] {
        expect(&format!("channels {c}"), SbStatus::Image, |f, b| {
            let (s, d) = (SbImage { channels: c, ..f.src() }, f.dst());
            blur_fixed(f, b, s, d, 2.0)
        });
    }
}

#[test]
fn matrix_stride_smaller_than_row() {
    for stride in [8 * 4 * 4 - 4, -(8 * 4 * 4 - 4), 4, 0, 8 * 4 * 4 + 2] {
        expect(&format!("stride {stride}"), SbStatus::Image, |f, b| {
            let (s, d) = (f.src(), SbImage { row_stride_bytes: stride, ..f.dst() });
            blur_fixed(f, b, s, d, 2.0)
        });
    }
}

#[test]
fn matrix_stride_span_overflows_size_t() {
    for stride in [isize::MAX - 3, -(isize::MAX - 3), isize::MIN, -(1isize << 60)] {
        expect(&format!("stride {stride}"), SbStatus::Image, |f, b| {
            let (s, d) = (SbImage { row_stride_bytes: stride, ..f.src() }, f.dst());
            blur_fixed(f, b, s, d, 2.0)
        });
    }
}

#[test]
fn matrix_src_dst_overlap() {
    expect("same buffer", SbStatus::Overlap, |f, b| {
        let (s, d) = (f.src(), f.src());
        blur_fixed(f, b, s, d, 2.0)
    });
    expect("one row shared", SbStatus::Overlap, |f, b| {
        let s = SbImage { height: 3, ..f.src() };
        // SAFETY: two rows into the 6-row source buffer: in bounds.
        let d = SbImage { data: unsafe { s.data.add(2 * 8 * 4) }, ..s };
        blur_fixed(f, b, s, d, 2.0)
    });
    expect("depth overlaps dst", SbStatus::Overlap, |f, b| {
        let src = SbImage { data: f.dst.as_mut_ptr(), ..f.src() };
        let z = SbImage { ..f.src() };
        // SAFETY: refused before use.
        unsafe { sb_blur_depth(std::ptr::null(), b, &lens(), &src, &z, 3, &f.src(), std::ptr::null_mut()) }
    });
}

#[test]
fn matrix_depth_of_another_size() {
    for (w, h) in [(7, 6), (8, 5), (4, 3)] {
        expect(&format!("depth {w}×{h}"), SbStatus::SizeMismatch, |f, b| {
            blur_depth(b, lens(), f.src(), SbImage { width: w, height: h, ..f.depth() }, f.dst())
        });
    }
}

#[test]
fn matrix_nan_inf_lens_parameters() {
    let (nan, inf) = (f64::NAN, f64::INFINITY);
    let cases: Vec<(&str, SbLens)> = vec![
        ("focus NaN", SbLens { focus: nan, ..lens() }),
        ("focus Inf", SbLens { focus: inf, ..lens() }),
        ("dof NaN", SbLens { dof: nan, ..lens() }),
        ("dof -Inf", SbLens { dof: -inf, ..lens() }),
        ("size Inf", SbLens { size: inf, ..lens() }),
        ("maximum NaN", SbLens { maximum: nan, ..lens() }),
        ("render_scale Inf", SbLens { render_scale: inf, ..lens() }),
        ("render_scale NaN", SbLens { render_scale: nan, ..lens() }),
        ("mode 3", SbLens { mode: 3, ..lens() }),
        ("edges 5", SbLens { edges: 5, ..lens() }),
    ];
    for (name, l) in cases {
        expect(name, SbStatus::Lens, |f, b| blur_depth(b, l, f.src(), f.depth(), f.dst()));
    }
    expect("edges -1", SbStatus::Lens, |f, b| {
        blur_depth(b, SbLens { edges: -1, ..lens() }, f.src(), f.depth(), f.dst())
    });
    expect("layered with dof NaN", SbStatus::Lens, |f, b| {
        blur_depth(b, SbLens { edges: SB_EDGES_LAYERED, dof: nan, ..lens() }, f.src(), f.depth(), f.dst())
    });
    for r in [nan, inf, -inf, -0.5, 1025.0] {
        expect(&format!("radius {r}"), SbStatus::InvalidArgument, |f, b| {
            let (s, d) = (f.src(), f.dst());
            blur_fixed(f, b, s, d, r)
        });
    }
}

/// Loads `file` from `dir` through the C API, from the file and from memory.
fn expect_bundle(dir: &Path, file: &str, want: SbStatus) {
    let path = dir.join(file);
    let cpath = CString::new(path.to_str().unwrap()).unwrap();
    let mut out: *mut SbBundle = std::ptr::NonNull::dangling().as_ptr();
    // SAFETY: valid pointers.
    let got = unsafe { sb_bundle_load(cpath.as_ptr(), &mut out) };
    assert_eq!(got, want, "{file}: {}", last_error());
    assert!(!last_error().is_empty(), "{file}: empty message");
    assert!(out.is_null(), "{file}: *out not reset");
    if let Ok(bytes) = std::fs::read(&path) {
        let mut out: *mut SbBundle = std::ptr::NonNull::dangling().as_ptr();
        // SAFETY: valid pointers; an empty Vec's pointer is dangling but size is 0.
        let got = unsafe { sb_bundle_load_memory(bytes.as_ptr().cast(), bytes.len(), &mut out) };
        assert_eq!(got, want, "{file} (memory): {}", last_error());
        assert!(!last_error().is_empty() && out.is_null(), "{file} (memory)");
    }
}

#[test]
fn matrix_bundle_files() {
    let dir = tempfile::tempdir().unwrap();
    write_bundle_files(dir.path());
    expect_bundle(dir.path(), "missing.json", SbStatus::Io);
    expect_bundle(dir.path(), "directory.json", SbStatus::Io);
    expect_bundle(dir.path(), "empty.json", SbStatus::BundleParse);
    expect_bundle(dir.path(), "truncated.json", SbStatus::BundleParse);
    expect_bundle(dir.path(), "not-json.json", SbStatus::BundleParse);
    expect_bundle(dir.path(), "other-shape-array.json", SbStatus::BundleInvalid);
    expect_bundle(dir.path(), "other-shape-object.json", SbStatus::BundleInvalid);
    expect_bundle(dir.path(), "nan.json", SbStatus::BundleParse);
    expect_bundle(dir.path(), "nan-string.json", SbStatus::BundleInvalid);
    expect_bundle(dir.path(), "taps-1e9.json", SbStatus::BundleInvalid);
    expect_bundle(dir.path(), "unsorted-radii.json", SbStatus::BundleInvalid);
    expect_bundle(dir.path(), "version-99.json", SbStatus::BundleVersion);
    // And the valid one loads, with its queries.
    let b = load_valid();
    let mut radii = [0.0; 3];
    // SAFETY: a live handle and a 3-element buffer.
    unsafe {
        assert_eq!(sb_bundle_layers(b), 2);
        assert_eq!(sb_bundle_taps(b), 4);
        assert_eq!(sb_bundle_radius_count(b), 3);
        assert_eq!(sb_bundle_radii(b, radii.as_mut_ptr(), 3), SbStatus::Ok);
        assert_eq!(CStr::from_ptr(sb_bundle_name(b)).to_str().unwrap(), "test");
        sb_bundle_free(b);
    }
    assert_eq!(radii, [2.0, 4.0, 8.0]);
}

#[test]
fn matrix_too_large_render() {
    let dir = tempfile::tempdir().unwrap();
    write_bundle_files(dir.path());
    let path = CString::new(dir.path().join("far.json").to_str().unwrap()).unwrap();
    let mut far = std::ptr::null_mut();
    // SAFETY: valid pointers.
    assert_eq!(unsafe { sb_bundle_load(path.as_ptr(), &mut far) }, SbStatus::Ok);
    expect("fixed", SbStatus::TooLarge, |f, _| {
        let (s, d) = (f.src(), f.dst());
        blur_fixed(f, far, s, d, 100.0)
    });
    // SAFETY: a live handle, freed once.
    unsafe { sb_bundle_free(far) };
}

#[test]
fn free_functions_accept_null_and_queries_handle_null() {
    // SAFETY: NULL is allowed everywhere here.
    unsafe {
        sb_bundle_free(std::ptr::null_mut());
        sb_context_free(std::ptr::null_mut());
        assert!(sb_bundle_name(std::ptr::null()).is_null());
        assert_eq!(sb_bundle_layers(std::ptr::null()), 0);
        assert_eq!(sb_bundle_radius_count(std::ptr::null()), 0);
        assert!(sb_context_threads(std::ptr::null()) >= 1);
        assert!(!CStr::from_ptr(sb_status_string(12345)).to_bytes().is_empty());
    }
}

#[test]
fn last_error_is_per_thread_and_cleared_by_success() {
    // SAFETY: a NULL bundle is refused.
    let s = unsafe { sb_bundle_radii(std::ptr::null(), std::ptr::null_mut(), 0) };
    assert_eq!(s, SbStatus::NullPointer);
    assert!(last_error().contains("bundle"));
    std::thread::spawn(|| assert_eq!(last_error(), "")).join().unwrap();
    let mut l = lens();
    // SAFETY: valid pointer.
    assert_eq!(unsafe { sb_lens_default(&mut l) }, SbStatus::Ok);
    assert_eq!(last_error(), "");
}

#[test]
fn context_threads_give_identical_pixels() {
    let b = load_valid();
    let mut outs = Vec::new();
    for threads in [0u32, 1, 2, 5] {
        let mut ctx = std::ptr::null_mut();
        // SAFETY: valid out pointer.
        assert_eq!(unsafe { sb_context_create(threads, &mut ctx) }, SbStatus::Ok);
        let mut f = Frame::new();
        let (s, z, d, l) = (f.src(), f.depth(), f.dst(), lens());
        // SAFETY: descriptors of the frame's own buffers; a live context and bundle.
        let st = unsafe { sb_blur_depth(ctx, b, &l, &s, &z, 0, &d, std::ptr::null_mut()) };
        assert_eq!(st, SbStatus::Ok, "{}", last_error());
        if threads > 0 {
            // SAFETY: a live context.
            assert_eq!(unsafe { sb_context_threads(ctx) }, threads);
        }
        // SAFETY: a live context, freed once.
        unsafe { sb_context_free(ctx) };
        outs.push(f.dst);
    }
    assert!(outs.windows(2).all(|w| w[0] == w[1]));
    // SAFETY: a live handle.
    unsafe { sb_bundle_free(b) };
}

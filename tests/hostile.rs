//! Issue 15, "Hostile input": one test per item. Each asserts the exit code (or status), that the
//! message names the cause, and what is left on disk (ARCHITECTURE.md "Hostile input").

mod common;
mod hostile_util;
use common::*;
use hostile_util::*;

use sparsebokeh::io::{self, Role};
use sparsebokeh::{BasisEntry, Bundle, Complex, Image, Tap};
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A folder with a small valid bundle `k.json` and a 12×8 RGBA EXR `in.exr` with a Z channel.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("k.json");
    random_bundle(3, 2, 4, &[2.0, 4.0, 8.0]).save(&bundle).unwrap();
    let input = dir.path().join("in.exr");
    let depth: Vec<f32> = (0..12 * 8).map(|i| 1.0 + (i % 12) as f32).collect();
    io::write_exr_with_depth(&input, &test_image(12, 8, 4, 1), &depth).unwrap();
    (dir, bundle, input)
}

/// A bundle of one-tap layers: each entry's layer `l` holds one tap at (x, 0) of weight `w[l]`.
fn tap_bundle(entries: &[(f64, f32, &[f32])]) -> Bundle {
    let layers = entries[0].2.len();
    let basis = entries
        .iter()
        .map(|&(radius, x, ws)| BasisEntry {
            radius,
            psnr_db: None,
            complex: Complex::new(ws.iter().map(|&w| vec![Tap { x, y: 0.0, w }]).collect()),
        })
        .collect();
    Bundle {
        name: "hostile".into(),
        description: String::new(),
        layers,
        taps: 1,
        target: serde_json::Value::Null,
        basis,
        fit: serde_json::Value::Null,
        levels: None,
        transform: None,
    }
}

#[test]
fn item01_image_sides_over_65536_and_demo_sizes_exit_2() {
    let (dir, bundle, _) = setup();
    for (w, h) in [(70000u32, 1u32), (1, 65537)] {
        let input = dir.path().join(format!("wide{w}.png"));
        std::fs::write(&input, png_grey(w, h)).unwrap();
        let out = dir.path().join("out.png");
        let o = run(&["render", s(&input), s(&out), "--radius", "2", "--bundle", s(&bundle)], 60);
        assert_refused(&o, &["declares", "65536"]);
        assert!(!out.exists());
    }
    for (w, h) in [("0", "10"), ("10", "0"), ("70000", "10")] {
        let out = dir.path().join(format!("demo{w}x{h}"));
        let o = run(&["demo", "--out", s(&out), "--width", w, "--height", h], 60);
        assert_refused(&o, &["--width", "65536"]);
        assert!(!out.exists(), "nothing is created for a refused demo");
    }
}

#[test]
fn item02_declared_sizes_are_checked_before_decoding() {
    let (dir, bundle, _) = setup();
    let png = dir.path().join("huge.png");
    std::fs::write(&png, png_declaring(100_000, 100_000, 6, 8, 64)).unwrap();
    let exr = dir.path().join("huge.exr");
    write_exr(&exr, (4, 4), &[(None, (0, 0, 4, 4), &[("R", 0.5), ("G", 0.5), ("B", 0.5)])]);
    let mut bytes = std::fs::read(&exr).unwrap();
    patch_exr_windows(&mut bytes, 100_000, 100_000);
    std::fs::write(&exr, bytes).unwrap();
    for input in [&png, &exr] {
        let out = dir.path().join("out.exr");
        let o = run_limited(&["render", s(input), s(&out), "--radius", "2", "--bundle", s(&bundle)], 60, Some(1 << 30));
        assert_refused(&o, &["declares 100000×100000"]);
        assert!(!out.exists());
    }
    // The aperture image of `fit` goes through the same check.
    let o = run_limited(&["fit", "--image", s(&png), "--out", s(&dir.path().join("b.json"))], 60, Some(1 << 30));
    assert_refused(&o, &["declares 100000×100000"]);
    // A PNG of 8192 × 8193 (just over 2^26 pixels) is refused by the pixel limit.
    std::fs::write(&png, png_declaring(8192, 8193, 0, 8, 64)).unwrap();
    let o = run(&["render", s(&png), s(&dir.path().join("o.png")), "--radius", "2", "--bundle", s(&bundle)], 60);
    assert_refused(&o, &["67117056 pixels", "67108864"]);
    assert_eq!(files_in(dir.path()), ["huge.exr", "huge.png", "in.exr", "k.json"]);
}

#[test]
fn item03_frame_pattern_wider_than_16_digits_exit_2() {
    let (dir, bundle, _) = setup();
    let input = format!("{}/in.%070000d.exr", dir.path().display());
    let output = format!("{}/out.%04d.exr", dir.path().display());
    let o = run(&["render", &input, &output, "--frames", "1-2", "--radius", "2", "--bundle", s(&bundle)], 30);
    assert_refused(&o, &["70000 digits", "16"]);
    assert_eq!(files_in(dir.path()), ["in.exr", "k.json"]);
}

#[test]
fn item04_failed_stdout_does_not_panic() {
    use std::process::{Command, Stdio};
    // A closed pipe (`inspect disc | head -1`): quiet, 141 as SIGPIPE would give. The pipe's
    // reading end is closed before the child starts, so its first write fails (with the end
    // closed after the start, a small output could fit the pipe's buffer first).
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just created by pipe(2) and are owned here alone.
    let (read_end, write_end) = unsafe {
        use std::os::fd::FromRawFd;
        (std::os::fd::OwnedFd::from_raw_fd(fds[0]), std::os::fd::OwnedFd::from_raw_fd(fds[1]))
    };
    drop(read_end);
    let o = Command::new(env!("CARGO_BIN_EXE_sparsebokeh"))
        .args(["inspect", "disc"])
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(141), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
    // A full device: a message and exit 1.
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_sparsebokeh")).args(["inspect", "disc"]).stdout(full).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot write to standard output"), "{}", stderr(&o));
}

#[test]
fn item05_fifos_and_devices_are_refused_without_blocking() {
    let (dir, bundle, input) = setup();
    let fifo = dir.path().join("pipe.json");
    let c = std::ffi::CString::new(s(&fifo)).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let fifo_png = dir.path().join("pipe.png");
    let c2 = std::ffi::CString::new(s(&fifo_png)).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c2.as_ptr(), 0o644) }, 0);
    let out = dir.path().join("out.exr");
    for b in [s(&fifo), "/dev/zero", "/dev/urandom"] {
        let o = run(&["render", s(&input), s(&out), "--radius", "2", "--bundle", b], 20);
        assert_refused(&o, &["not a regular file"]);
    }
    let o = run(&["render", s(&fifo_png), s(&out), "--radius", "2", "--bundle", s(&bundle)], 20);
    assert_refused(&o, &["not a regular file", "named pipe"]);
    assert!(!out.exists());
    // The C API: SB_ERR_IO, at once.
    let mut b: *mut sparsebokeh::capi::SbBundle = std::ptr::null_mut();
    let status = unsafe { sparsebokeh::capi::sb_bundle_load(c.as_ptr(), &mut b) };
    assert_eq!(status, sparsebokeh::capi::SbStatus::Io);
    assert!(b.is_null());
    let zero = std::ffi::CString::new("/dev/zero").unwrap();
    assert_eq!(unsafe { sparsebokeh::capi::sb_bundle_load(zero.as_ptr(), &mut b) }, sparsebokeh::capi::SbStatus::Io);
}

#[test]
fn item06_bundles_over_32_mib_are_refused_before_parsing() {
    let (dir, _, input) = setup();
    let big = dir.path().join("big.json");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(sparsebokeh::MAX_FILE_BYTES + 1).unwrap(); // sparse: no disk used
    let out = dir.path().join("out.exr");
    let o = run_limited(&["render", s(&input), s(&out), "--radius", "2", "--bundle", s(&big)], 20, Some(1 << 30));
    assert_refused(&o, &["33554433 bytes", "33554432-byte limit"]);
    assert!(!out.exists());
}

#[test]
fn item07_hostile_valid_bundles_are_bounded() {
    let (dir, _, _) = setup();
    let out = dir.path().join("out.exr");
    // 16 layers × 4096 taps: the tables of a depth render up to 1024 px are refused up front.
    let mut rng = Rng(7);
    let mut wide = random_bundle(5, 16, 4096, &[1.0, 2.0]);
    wide.basis.iter_mut().for_each(|e| e.complex = random_complex(&mut rng, 16, 4096, 1.0));
    let wide_path = dir.path().join("wide.json");
    wide.save(&wide_path).unwrap();
    let input = dir.path().join("64.exr");
    let depth: Vec<f32> = (0..64 * 64).map(|i| 1.0 + i as f32).collect();
    io::write_exr_with_depth(&input, &test_image(64, 64, 4, 1), &depth).unwrap();
    let o = run_limited(
        &[
            "render",
            s(&input),
            s(&out),
            "--bundle",
            s(&wide_path),
            "--maximum",
            "1024",
            "--size",
            "1024",
            "--edges",
            "gather",
        ],
        120,
        Some(CHILD_ADDRESS_SPACE),
    );
    assert_refused(&o, &["taps", "limit 16777216"]);
    // Taps reaching 4096 px on a 1×1 frame: the padded working frame is refused.
    let far = tap_bundle(&[(1.0, 4096.0, &[1.0])]);
    let far_path = dir.path().join("far.json");
    far.save(&far_path).unwrap();
    let one = dir.path().join("one.exr");
    io::write(&one, &test_image(1, 1, 4, 1)).unwrap();
    let o = run_limited(
        &["render", s(&one), s(&out), "--radius", "1", "--bundle", s(&far_path)],
        60,
        Some(CHILD_ADDRESS_SPACE),
    );
    assert_refused(&o, &["padded working frame", "2^28"]);
    // `inspect --psf 1024` of it: the PSF grid is refused.
    let psf = dir.path().join("psf.exr");
    let o = run_limited(&["inspect", s(&far_path), "--psf", "1024", "--out", s(&psf)], 60, Some(CHILD_ADDRESS_SPACE));
    assert_refused(&o, &["--psf 1024", "16777216-sample limit"]);
    assert!(!out.exists() && !psf.exists());
}

#[test]
fn item08_layered_setup_does_not_grow_with_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.exr");
    io::write_exr_with_depth(&input, &test_image(1, 1, 4, 1), &[50.0]).unwrap();
    let out = dir.path().join("out.exr");
    let started = std::time::Instant::now();
    let o = run(&["render", s(&input), s(&out), "--maximum", "1024", "--size", "1024", "--focus", "1"], 120);
    assert!(o.status.success(), "{}", stderr(&o));
    // A hang detector, not a benchmark: ~1 s here, ~60 s before the fix.
    assert!(started.elapsed().as_secs_f64() < 15.0, "a 1×1 layered render took {:?}", started.elapsed());
}

#[test]
fn item09_threads_beyond_1024_exit_2() {
    let (dir, bundle, input) = setup();
    let out = dir.path().join("out.exr");
    let o = run(&["render", s(&input), s(&out), "--radius", "2", "--bundle", s(&bundle), "--threads", "100000"], 20);
    assert_refused(&o, &["--threads 100000", "at most 1024"]);
    assert!(!out.exists());
}

#[test]
fn item10_fit_radii_beyond_the_fit_limit_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b.json");
    let o = run(&["fit", "--shape", "disc", "--radii", "1024", "--out", s(&out)], 20);
    assert_refused(&o, &["1024", "(0, 256]"]);
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn item11_layered_keeps_a_constant_frame_constant() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (128, 96);
    let mut img = Image::new(w, h, 4);
    img.data.chunks_exact_mut(4).for_each(|p| p.copy_from_slice(&[0.3, 0.6, 0.1, 1.0]));
    let mut rng = Rng(11);
    let blocks: Vec<f32> = (0..(w / 8) * (h / 8)).map(|_| rng.range(0.5, 8.0) as f32).collect();
    let depth: Vec<f32> = (0..w * h).map(|i| blocks[(i / w / 8) * (w / 8) + (i % w) / 8]).collect();
    let input = dir.path().join("in.exr");
    io::write_exr_with_depth(&input, &img, &depth).unwrap();
    let out = dir.path().join("out.exr");
    let o = run(&["render", s(&input), s(&out), "--bundle", "heart", "--maximum", "8", "--size", "8"], 120);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = io::read(&out, Role::Color).unwrap().color;
    assert!(max_abs_diff(&got.data, &img.data) < 1e-3);
}

#[test]
fn item12_interpolated_mass_is_validated_between_entries() {
    let (dir, _, input) = setup();
    let b = tap_bundle(&[(4.0, 1.0, &[4.0, 0.25]), (8.0, 2.0, &[0.25, 4.0])]);
    let path = dir.path().join("mass.json");
    b.save(&path).unwrap();
    let err = Bundle::load(&path).unwrap_err().to_string();
    assert!(err.contains("basis[0]..basis[1]") && err.contains("interpolated at radius"), "{err}");
    let out = dir.path().join("out.exr");
    let o = run(&["render", s(&input), s(&out), "--radius", "6", "--bundle", s(&path)], 20);
    assert_refused(&o, &["interpolated at radius", "must be 1 within 0.01"]);
    assert!(!out.exists());
}

#[test]
fn item13_subnormal_basis_radius_is_refused() {
    let (dir, _, input) = setup();
    let b = tap_bundle(&[(1e-320, 0.5, &[1.0]), (4.0, 2.0, &[1.0])]);
    let path = dir.path().join("tiny.json");
    b.save(&path).unwrap();
    let out = dir.path().join("out.exr");
    let o = run(&["render", s(&input), s(&out), "--radius", "5", "--bundle", s(&path)], 20);
    assert_refused(&o, &["basis[0].radius", "outside [0.03125"]);
    assert!(!out.exists());
}

#[test]
fn item14_nonfinite_outputs_are_counted() {
    let (dir, bundle, _) = setup();
    let mut img = test_image(16, 16, 4, 2);
    img.data[(8 * 16 + 8) * 4] = 3e38;
    let input = dir.path().join("hot.exr");
    io::write(&input, &img).unwrap();
    let out = dir.path().join("out.exr");
    let o = run(&["render", s(&input), s(&out), "--radius", "5", "--bundle", s(&bundle)], 30);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = io::read(&out, Role::Color).unwrap().color;
    let bad = got.data.iter().filter(|v| !v.is_finite()).count();
    if bad > 0 {
        assert!(stderr(&o).contains(&format!("{bad} output samples are NaN/Inf")), "{}", stderr(&o));
    }
}

#[test]
fn item15_a_truncated_frame_stops_a_sequence_before_anything_is_written() {
    let (dir, bundle, input) = setup();
    let bytes = std::fs::read(&input).unwrap();
    for f in 1..=5 {
        let p = dir.path().join(format!("in.{f:04}.exr"));
        std::fs::write(&p, if f == 3 { &bytes[..bytes.len() / 2] } else { &bytes[..] }).unwrap();
        std::fs::write(dir.path().join(format!("out.{f:04}.exr")), b"old").unwrap();
    }
    let (i, o) = (dir.path().join("in.%04d.exr"), dir.path().join("out.%04d.exr"));
    let r = run(&["render", s(&i), s(&o), "--frames", "1-5", "--bundle", s(&bundle), "--focus", "3"], 60);
    assert_refused(&r, &["in.0003.exr", "no frame was rendered"]);
    for f in 1..=5 {
        assert_eq!(std::fs::read(dir.path().join(format!("out.{f:04}.exr"))).unwrap(), b"old", "frame {f}");
    }
    assert!(!files_in(dir.path()).iter().any(|n| n.contains(".tmp.")));
}

#[test]
fn item16_exr_layers_windows_depth_only_and_alpha() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.exr");
    // Depth only (a Z channel, or a part named Depth) reads as data, not as colour.
    write_exr(&p, (4, 3), &[(None, (0, 0, 4, 3), &[("Z", 2.5)])]);
    let f = io::read(&p, Role::Data).unwrap();
    assert_eq!((f.color.channels, f.color.data[0], f.depth.as_ref().unwrap()[0]), (1, 2.5, 2.5));
    assert!(io::read(&p, Role::Color).unwrap_err().to_string().contains("no colour channels"));
    write_exr(&p, (4, 3), &[(Some("Depth"), (0, 0, 4, 3), &[("V", 7.0)])]);
    assert_eq!(io::read(&p, Role::Data).unwrap().depth.unwrap()[5], 7.0);
    // A data window inside a larger display window lands where it is; outside it is 0.
    write_exr(&p, (6, 5), &[(None, (2, 1, 3, 2), &[("R", 1.0), ("G", 1.0), ("B", 1.0), ("A", 1.0)])]);
    let c = io::read(&p, Role::Color).unwrap().color;
    assert_eq!((c.width, c.height), (6, 5));
    assert_eq!((c.pixel(2, 1)[3], c.pixel(4, 2)[3], c.pixel(0, 0)[3], c.pixel(5, 3)[3]), (1.0, 1.0, 0.0, 0.0));
    // Y + A keeps its alpha.
    write_exr(&p, (2, 2), &[(None, (0, 0, 2, 2), &[("Y", 0.25), ("A", 0.5)])]);
    let c = io::read(&p, Role::Color).unwrap().color;
    assert_eq!((c.channels, c.data[0], c.data[1]), (2, 0.25, 0.5));
    // R and G of layer a with B of layer b are not one colour.
    write_exr(&p, (2, 2), &[(None, (0, 0, 2, 2), &[("a.R", 0.1), ("a.G", 0.2), ("b.B", 0.3)])]);
    let e = io::read(&p, Role::Color).unwrap_err().to_string();
    assert!(e.contains("no colour channels") && e.contains("a.R") && e.contains("b.B"), "{e}");
    // Through the CLI: a depth-only file as --depth renders.
    let bundle = dir.path().join("k.json");
    random_bundle(3, 2, 4, &[2.0, 4.0]).save(&bundle).unwrap();
    let (input, depth, out) = (dir.path().join("in.exr"), dir.path().join("z.exr"), dir.path().join("out.exr"));
    io::write(&input, &test_image(4, 3, 4, 1)).unwrap();
    write_exr(&depth, (4, 3), &[(None, (0, 0, 4, 3), &[("Z", 4.0)])]);
    let o = run(&["render", s(&input), s(&out), "--depth", s(&depth), "--bundle", s(&bundle), "--focus", "2"], 30);
    assert!(o.status.success() && out.exists(), "{}", stderr(&o));
}

#[test]
fn item17_fit_refuses_nan_shape_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b.json");
    for flag in ["--rotation", "--sigma"] {
        let o = run(&["fit", "--shape", "gaussian", flag, "nan", "--radius", "2", "--out", s(&out)], 20);
        assert_refused(&o, &[flag, "finite"]);
    }
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn item18_sigterm_and_sigint_leave_no_temporary_files() {
    let (dir, bundle, _) = setup();
    let input = dir.path().join("big.exr");
    io::write(&input, &test_image(1500, 1000, 4, 3)).unwrap();
    for (i, sig) in [libc::SIGTERM, libc::SIGINT, libc::SIGTERM, libc::SIGINT, libc::SIGTERM].iter().enumerate() {
        let out = dir.path().join("out.exr");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_sparsebokeh"))
            .args(["render", s(&input), s(&out), "--radius", "3", "--bundle", s(&bundle)])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(150 + 120 * i as u64));
        unsafe { libc::kill(child.id() as i32, *sig) };
        let status = child.wait_with_output().unwrap().status;
        assert_ne!(status.code(), Some(101));
        let names = files_in(dir.path());
        assert!(!names.iter().any(|n| n.contains(".tmp.")), "signal {sig}: {names:?}");
    }
}

#[test]
fn item19_output_replaces_only_regular_files() {
    let (dir, bundle, input) = setup();
    let target = dir.path().join("target.exr");
    std::fs::write(&target, b"keep").unwrap();
    let link = dir.path().join("link.exr");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = run(&["render", s(&input), s(&link), "--radius", "2", "--bundle", s(&bundle)], 30);
    assert_refused(&o, &["symbolic link", "only a regular file is replaced"]);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    let fifo = dir.path().join("fifo.png");
    let c = std::ffi::CString::new(s(&fifo)).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let o = run(&["render", s(&input), s(&fifo), "--radius", "2", "--bundle", s(&bundle)], 30);
    assert_refused(&o, &["named pipe"]);
    // The library's writer refuses too (a race between the check and the write).
    let e = io::write(&link, &test_image(2, 2, 4, 1)).unwrap_err().to_string();
    assert!(e.contains("symbolic link"), "{e}");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
}

#[test]
fn item20_bundle_ofx_checks_its_library_and_is_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, b"not a library").unwrap();
    let out = dir.path().join("plugins");
    std::fs::create_dir(&out).unwrap();
    let o = run(&["bundle-ofx", "--out", s(&out), "--library", s(&text)], 30);
    assert_refused(&o, &["notes.txt", "not a shared library"]);
    assert!(files_in(&out).is_empty());
    // A library that passes, with a bad kernel: nothing is created.
    let lib = dir.path().join("libfake.so");
    std::fs::write(&lib, b"\x7fELF....OfxGetPlugin....").unwrap();
    let kernels = dir.path().join("kernels");
    std::fs::create_dir(&kernels).unwrap();
    random_bundle(1, 2, 3, &[2.0]).save(&kernels.join("a.json")).unwrap();
    std::fs::write(kernels.join("b.json"), b"{ broken").unwrap();
    let o = run(&["bundle-ofx", "--out", s(&out), "--library", s(&lib), "--kernels", s(&kernels)], 30);
    assert_refused(&o, &["not valid JSON"]);
    assert!(files_in(&out).is_empty());
    // Fixed, it is made whole.
    std::fs::remove_file(kernels.join("b.json")).unwrap();
    let o = run(&["bundle-ofx", "--out", s(&out), "--library", s(&lib), "--kernels", s(&kernels)], 30);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(files_in(&out), ["SparseBokeh.ofx.bundle"]);
    assert!(out.join("SparseBokeh.ofx.bundle/Contents/Resources/kernels/a.json").exists());
}

#[test]
fn item21_unwritable_outputs_exit_2_before_any_work() {
    let (dir, bundle, input) = setup();
    let sub = dir.path().join("sub.exr");
    std::fs::create_dir(&sub).unwrap();
    for (out, words) in [(dir.path().join("nodir/out.exr"), "does not exist"), (sub.clone(), "is a directory")] {
        let o = run(&["render", s(&input), s(&out), "--radius", "2", "--bundle", s(&bundle)], 30);
        assert_refused(&o, &[words, "nothing was written"]);
    }
    // A read-only folder (root writes anyway: skipped then).
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
    if unsafe { libc::geteuid() } != 0 {
        let o = run(&["render", s(&input), s(&ro.join("o.exr")), "--radius", "2", "--bundle", s(&bundle)], 30);
        assert_refused(&o, &["not writable", "nothing was written"]);
    }
    assert!(files_in(&ro).is_empty());
    let o = run(&["inspect", s(&bundle), "--psf", "4", "--out", s(&dir.path().join("x.jpg"))], 30);
    assert_refused(&o, &["x.jpg", "must end in .exr or .png"]);
    let o = run(&["fit", "--shape", "disc", "--radius", "2", "--out", s(&dir.path().join("nodir/b.json"))], 30);
    assert_refused(&o, &["nodir", "does not exist", "nothing was fitted"]);
    assert!(!stderr(&o).contains("cannot read bundle"));
    assert_eq!(files_in(dir.path()), ["in.exr", "k.json", "ro", "sub.exr"]);
}

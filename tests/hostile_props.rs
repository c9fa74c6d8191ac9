//! Issue 15's property tests: random image headers (PNG and EXR: declared sizes, channel sets,
//! parts, windows) and random bundle mutations, each rendered by the CLI in a child process
//! whose address space is limited to `CHILD_ADDRESS_SPACE` (3 GiB) with a deadline. Whatever
//! the input: no panic, no abort (exit 0 or 2, never a signal), and no output on error.

mod common;
mod hostile_util;
use common::*;
use hostile_util::*;

use proptest::prelude::*;
use serde_json::Value;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Renders `input` (fixed radius, or the file's depth) into a fresh output under the limit and
/// checks the outcome; returns the exit code.
fn render_checked(dir: &Path, input: &Path, bundle: &str, extra: &[&str]) -> i32 {
    let out = dir.join("out.exr");
    let _ = std::fs::remove_file(&out);
    let mut args = vec!["render", s(input), s(&out), "--bundle", bundle, "--threads", "2"];
    args.extend_from_slice(extra);
    let o = run_limited(&args, 120, Some(CHILD_ADDRESS_SPACE));
    let e = stderr(&o);
    assert!(!e.contains("panicked") && !e.contains("memory allocation"), "{args:?}: {e}");
    let code = o.status.code().unwrap_or_else(|| panic!("{args:?} died of a signal: {:?}; {e}", o.status));
    assert!(code == 0 || code == 2, "{args:?}: exit {code}: {e}");
    assert_eq!(out.exists(), code == 0, "{args:?}: output left after an error (or none after success): {e}");
    assert!(!files_in(dir).iter().any(|n| n.contains(".tmp.")), "temporary file left");
    code
}

/// A part with its name owned.
type OwnedPart = (Option<String>, Window, Vec<(&'static str, f32)>);

fn side() -> impl Strategy<Value = u32> {
    prop_oneof![1u32..40, Just(0), Just(65536), Just(65537), Just(100_000), Just(u32::MAX >> 1), 8000u32..9000]
}

const CHANNELS: [&str; 9] = ["R", "G", "B", "A", "Y", "Z", "a.R", "b.G", "depth"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_png_headers_never_crash(w in side(), h in side(), color in prop::sample::select(vec![0u8, 2, 3, 4, 6, 5]),
                                      depth in prop::sample::select(vec![1u8, 2, 4, 8, 16, 3]), zeros in 0usize..5000) {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("k.json");
        random_bundle(1, 2, 3, &[2.0, 4.0]).save(&bundle).unwrap();
        let input = dir.path().join("in.png");
        std::fs::write(&input, png_declaring(w, h, color, depth, zeros)).unwrap();
        render_checked(dir.path(), &input, s(&bundle), &["--radius", "2"]);
    }

    #[test]
    fn random_exr_headers_never_crash(
        parts in prop::collection::vec(
            (prop::option::of(prop::sample::select(vec!["rgba", "Depth", "Z", "beauty"])),
             (-3i32..4, -3i32..4, 1usize..7, 1usize..7),
             prop::sample::subsequence(CHANNELS.to_vec(), 1..5)),
            1..4),
        display in (1usize..8, 1usize..8),
        declared in prop::option::of((1i32..200_000, 1i32..200_000)),
        fixed in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("k.json");
        random_bundle(1, 2, 3, &[2.0, 4.0]).save(&bundle).unwrap();
        let input = dir.path().join("in.exr");
        // Part names must be unique in a multi-part file.
        let named: Vec<OwnedPart> = parts
            .iter()
            .enumerate()
            .map(|(i, (n, win, ch))| (n.map(|n| format!("{n}{i}")).or_else(|| (parts.len() > 1).then(|| format!("p{i}"))), *win, ch.iter().map(|c| (*c, 0.5)).collect()))
            .collect();
        let refs: Vec<ExrPart> =
            named.iter().map(|(n, w, c)| (n.as_deref(), *w, c.as_slice())).collect();
        write_exr(&input, display, &refs);
        if let Some((w, h)) = declared {
            let mut bytes = std::fs::read(&input).unwrap();
            patch_exr_windows(&mut bytes, w, h);
            std::fs::write(&input, bytes).unwrap();
        }
        let extra: &[&str] = if fixed { &["--radius", "2"] } else { &["--focus", "0.4", "--maximum", "4"] };
        render_checked(dir.path(), &input, s(&bundle), extra);
    }
}

/// One hostile value for a number in a bundle.
fn hostile_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(serde_json::json!(0.0)),
        Just(serde_json::json!(-1.0)),
        Just(serde_json::json!(1e-320)),
        Just(serde_json::json!(4096.0)),
        Just(serde_json::json!(-4096.0)),
        Just(serde_json::json!(1e6)),
        Just(serde_json::json!(1e300)),
        Just(serde_json::json!(1024.0)),
        Just(serde_json::json!(0.03125)),
        Just(Value::Null),
        Just(serde_json::json!("x")),
        (-50.0f64..50.0).prop_map(|v| serde_json::json!(v)),
    ]
}

/// Applies mutation `kind` at position `at` (an index into the bundle's numbers) with `v`.
fn mutate(bundle: &mut Value, kind: u8, at: usize, v: Value) {
    let basis = bundle["basis"].as_array_mut().unwrap();
    let n = basis.len();
    let entry = &mut basis[at % n];
    match kind % 6 {
        0 => entry["radius"] = v,
        1 | 2 => {
            let layers = entry["complex"].as_array_mut().unwrap();
            let nl = layers.len();
            let taps = layers[at % nl].as_array_mut().unwrap();
            let nt = taps.len();
            let field = ["x", "y", "w"][(at / 7) % 3];
            taps[(at / 3) % nt][field] = v;
        }
        3 => bundle[["layers", "taps"][at % 2]] = v,
        4 => {
            // Scale every offset of an entry: a far-reaching but otherwise valid bundle.
            let f = v.as_f64().unwrap_or(100.0);
            for layer in entry["complex"].as_array_mut().unwrap() {
                for t in layer.as_array_mut().unwrap() {
                    for c in ["x", "y"] {
                        let x = t[c].as_f64().unwrap_or(0.0) * f;
                        t[c] = serde_json::json!(x);
                    }
                }
            }
        }
        _ => {
            let dup = basis[at % n].clone();
            basis.push(dup);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn bundle_mutations_that_render_never_crash(
        mutations in prop::collection::vec((any::<u8>(), any::<usize>(), hostile_number()), 1..4),
        radius in prop::sample::select(vec!["0.7", "3", "64", "1024"]),
        with_depth in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut doc = random_bundle(9, 3, 4, &[1.0, 4.0, 16.0]).to_value();
        for (kind, at, v) in mutations {
            mutate(&mut doc, kind, at, v);
        }
        let bundle = dir.path().join("k.json");
        std::fs::write(&bundle, serde_json::to_string(&doc).unwrap()).unwrap();
        let input = dir.path().join("in.exr");
        let depth: Vec<f32> = (0..24 * 16).map(|i| 0.5 + (i % 24) as f32).collect();
        sparsebokeh::io::write_exr_with_depth(&input, &test_image(24, 16, 4, 2), &depth).unwrap();
        let extra: Vec<&str> = if with_depth {
            vec!["--focus", "1", "--size", radius, "--maximum", radius, "--edges", "gather"]
        } else {
            vec!["--radius", radius]
        };
        render_checked(dir.path(), &input, s(&bundle), &extra);
    }
}

//! Bundle format (ARCHITECTURE.md "Bundle format"): round trip, and one test per validation rule, each checking that
//! the message names the field (and the basis entry where there is one).

mod common;
use common::*;

use serde_json::{json, Value};
use sparsebokeh::{Bundle, BundleError};

fn valid() -> Value {
    random_bundle(1, 2, 3, &[2.0, 4.0, 8.0]).to_value()
}

fn refuse(v: Value, field: &str) -> String {
    let err = Bundle::from_value(&v).expect_err("must be refused");
    let msg = err.to_string();
    assert!(msg.contains(field), "message `{msg}` should name `{field}`");
    msg
}

#[test]
fn round_trip_through_json_text_and_files() {
    let b = random_bundle(1, 3, 5, &[1.0, 2.5, 7.0]);
    let text = b.to_json_string();
    let back = Bundle::from_slice(text.as_bytes()).unwrap();
    assert_eq!(back, b);
    assert_eq!(back.to_json_string(), text, "saving is deterministic");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.json");
    b.save(&path).unwrap();
    assert_eq!(Bundle::load(&path).unwrap(), b);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
}

#[test]
fn rule_format_must_be_sparsebokeh_bundle() {
    let mut v = valid();
    v["format"] = json!("other");
    refuse(v.clone(), "format");
    v.as_object_mut().unwrap().remove("format");
    refuse(v, "format");
}

#[test]
fn rule_higher_major_version_is_refused() {
    let mut v = valid();
    v["version"] = json!(99);
    let msg = refuse(v.clone(), "version");
    assert!(msg.contains("99"));
    v["version"] = json!("1");
    refuse(v, "version");
}

#[test]
fn rule_name_is_a_non_empty_string() {
    let mut v = valid();
    v["name"] = json!("");
    refuse(v.clone(), "name");
    v["name"] = json!(3);
    refuse(v, "name");
}

#[test]
fn rule_layers_and_taps_are_positive_bounded_integers() {
    for f in ["layers", "taps"] {
        let mut v = valid();
        v[f] = json!(0);
        refuse(v.clone(), f);
        v[f] = json!(1_000_000_000u64);
        refuse(v.clone(), f);
        v[f] = json!(2.5);
        refuse(v, f);
    }
}

#[test]
fn rule_basis_is_a_non_empty_array() {
    let mut v = valid();
    v["basis"] = json!([]);
    refuse(v.clone(), "basis");
    v["basis"] = json!({});
    refuse(v, "basis");
}

#[test]
fn rule_radii_are_positive_and_strictly_increasing() {
    let mut v = valid();
    v["basis"][2]["radius"] = json!(3.0);
    let msg = refuse(v.clone(), "basis[2].radius");
    assert!(msg.contains("increase"));
    v["basis"][2]["radius"] = json!(4.0);
    refuse(v.clone(), "basis[2].radius");
    v["basis"][0]["radius"] = json!(-1.0);
    refuse(v, "basis[0].radius");
}

#[test]
fn rule_each_complex_has_exactly_layers_arrays() {
    let mut v = valid();
    v["basis"][1]["complex"].as_array_mut().unwrap().pop();
    refuse(v, "basis[1].complex");
}

#[test]
fn rule_each_layer_has_exactly_taps_taps() {
    let mut v = valid();
    v["basis"][2]["complex"][1].as_array_mut().unwrap().pop();
    refuse(v, "basis[2].complex[1]");
}

#[test]
fn rule_every_number_is_finite() {
    // JSON has no NaN literal: a file with one does not parse, and says so.
    let text = valid().to_string().replacen("\"w\":", "\"w\":NaN,\"q\":", 1);
    assert!(matches!(Bundle::from_slice(text.as_bytes()), Err(BundleError::Json(_))));
    let text = valid().to_string().replacen("\"x\":", "\"x\":1e999,\"q\":", 1);
    assert!(Bundle::from_slice(text.as_bytes()).is_err());
    let mut v = valid();
    v["basis"][1]["complex"][0][2]["y"] = json!("1.0");
    refuse(v.clone(), "basis[1].complex[0][2].y");
    v["basis"][1]["complex"][0][2]["y"] = json!(1e5);
    refuse(v.clone(), "basis[1].complex[0][2].y");
    v["basis"][1]["complex"][0][2]["y"] = json!(0.5);
    v["basis"][1]["complex"][0][2].as_object_mut().unwrap().remove("w");
    refuse(v, "basis[1].complex[0][2].w");
}

#[test]
fn rule_weights_sum_to_one() {
    let mut v = valid();
    let w = v["basis"][0]["complex"][1][0]["w"].as_f64().unwrap();
    v["basis"][0]["complex"][1][0]["w"] = json!(w + 0.01);
    let msg = refuse(v.clone(), "basis[0].complex");
    assert!(msg.contains("sum to 1"));
    v["basis"][0]["complex"][1][0]["w"] = json!(w + 0.0004);
    Bundle::from_value(&v).expect("within 1e-3 is accepted");
}

#[test]
fn rule_psnr_if_present_is_a_number() {
    let mut v = valid();
    v["basis"][0]["psnr_db"] = json!("high");
    refuse(v, "basis[0].psnr_db");
}

#[test]
fn unknown_fields_are_ignored() {
    let mut v = valid();
    v["future_field"] = json!({"a": 1});
    v["basis"][0]["extra"] = json!(true);
    Bundle::from_value(&v).unwrap();
}

#[test]
fn empty_truncated_and_non_json_files_are_refused_with_a_message() {
    let text = valid().to_string();
    for bytes in [&b""[..], b"  \n", &text.as_bytes()[..text.len() / 2], b"not json", b"[1,2,3]"] {
        let err = Bundle::from_slice(bytes).unwrap_err().to_string();
        assert!(!err.is_empty());
    }
    let missing = Bundle::load(std::path::Path::new("/nonexistent/bundle.json")).unwrap_err().to_string();
    assert!(missing.contains("/nonexistent/bundle.json"), "{missing}");
}

#[test]
fn saved_bundles_keep_field_order_and_one_tap_per_line() {
    let b = random_bundle(1, 2, 3, &[2.0, 4.0]);
    let text = b.to_json_string();
    assert!(text.trim_start().starts_with("{\n  \"format\": \"sparsebokeh-bundle\""), "{}", &text[..80]);
    let tap_lines = text.lines().filter(|l| l.trim_start().starts_with("{\"x\":")).count();
    assert_eq!(tap_lines, 2 * 2 * 3, "one line per tap");
}

#[test]
fn shipped_bundles_are_written_as_the_saver_writes_them() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bundle/kernels");
    for name in ["disc", "hexagon", "octagon", "heart", "star", "ring", "gaussian"] {
        let path = dir.join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path).unwrap();
        let b = Bundle::from_slice(text.as_bytes()).unwrap();
        assert_eq!((b.layers, b.taps, b.basis.len()), (3, 56, 12), "{name}");
        assert_eq!(b.to_json_string(), text, "{name}.json is not in the saver's format");
    }
}

/// The dense PSF of what the engine renders at radius `r` from `b` (an entry, or the lerp
/// between the two entries around r, ARCHITECTURE.md).
fn rendered_psf(b: &Bundle, r: f64) -> sparsebokeh::psf::Grid {
    let sparsebokeh::AtRadius::Complex(c) = b.at_radius(r) else { panic!("r={r} passes through") };
    sparsebokeh::psf::complex_psf(&c)
}

/// Standard deviation over mean of `psf` on the cells whose centre lies within 0.8·r, computed
/// here from the dense PSF alone (for disc and hexagon every such cell is fully inside the
/// aperture: the hexagon's inscribed radius is 0.866·r).
fn std_over_mean_inside(psf: &sparsebokeh::psf::Grid, r: f64) -> f64 {
    let reach = 0.8 * r;
    let h = reach.floor() as i32;
    let vals: Vec<f64> = (-h..=h)
        .flat_map(|y| (-h..=h).map(move |x| (x, y)))
        .filter(|&(x, y)| ((x * x + y * y) as f64).sqrt() <= reach)
        .map(|(x, y)| psf.get(x, y))
        .collect();
    let n = vals.len() as f64;
    let mean = vals.iter().sum::<f64>() / n;
    (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt() / mean
}

#[test]
fn shipped_bundles_have_no_negative_lobe_at_entries_or_between_them() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bundle/kernels");
    for name in ["disc", "hexagon", "octagon", "heart", "star", "ring", "gaussian"] {
        let b = Bundle::load(&dir.join(format!("{name}.json"))).unwrap();
        // Non-negative weights: every lerp of two entries is non-negative too.
        for (i, e) in b.basis.iter().enumerate() {
            let low = e.complex.layers.iter().flatten().map(|t| t.w).fold(f32::INFINITY, f32::min);
            assert!(low >= 0.0, "{name} basis[{i}] (r={}): a tap weighs {low}", e.radius);
        }
        let mut radii = b.radii();
        radii.extend(b.basis.windows(2).map(|w| 0.5 * (w[0].radius + w[1].radius)));
        radii.extend([0.75, 80.0]); // scaled below the smallest entry and above the largest
        for r in radii {
            let psf = rendered_psf(&b, r);
            let (low, peak) = psf.data.iter().fold((0.0f64, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            assert!(low >= -0.005 * peak, "{name} r={r}: most negative {low:e}, peak {peak:e}");
        }
    }
}

#[test]
fn shipped_disc_and_hexagon_have_a_flat_interior_and_keep_their_psnr() {
    use sparsebokeh::psf::{interior_flatness, psnr_db};
    use sparsebokeh::shapes::Shape;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bundle/kernels");
    // (name, PSNR floor at r = 16): the bars, 1 dB under the signed fits (21.1 and 23.8
    // dB). Non-negative 3×32 fits with a flat interior measured 18.19 and 20.97 dB: such a fit
    // keeps its finest layer as the identity up to r = 24 (a fresh disc r=16 fit: 3×32 18.66 dB,
    // 2×32 18.65), so the shipped bundles are 3×56 with `--flat 2` (disc 20.85, hexagon 23.27).
    for (name, floor16) in [("disc", 20.1), ("hexagon", 22.8)] {
        let b = Bundle::load(&dir.join(format!("{name}.json"))).unwrap();
        let shape = Shape::from_json(&b.target, &dir).unwrap();
        // Entries: the bars. Half-way between entries (measured up to 0.046): 0.05.
        for r in [8.0, 10.0, 12.0, 14.0, 16.0, 20.0, 24.0, 28.0, 32.0] {
            let psf = rendered_psf(&b, r);
            let flat = std_over_mean_inside(&psf, r);
            let entry = b.radii().contains(&r);
            let bar = if !entry {
                0.05
            } else if r <= 16.0 {
                0.03
            } else {
                0.04
            };
            assert!(flat <= bar, "{name} r={r}: std/mean inside 0.8 r = {flat:.4} > {bar}");
            // The library's measure (what `inspect` prints) is the same figure.
            let lib = interior_flatness(&psf, &shape.rasterize(r).unwrap(), r).unwrap();
            assert!((lib - flat).abs() < 1e-9, "{name} r={r}: {lib} vs {flat}");
        }
        let db = psnr_db(&rendered_psf(&b, 16.0), &shape.rasterize(16.0).unwrap());
        assert!(db >= floor16, "{name} r=16: {db:.2} dB < {floor16}");
    }
}

#[test]
fn levels_bundle_round_trips_and_is_validated_by_the_same_rules() {
    let mut b = random_bundle(1, 3, 5, &[1.0, 2.5, 7.0]);
    b.levels = Some(Box::new(random_bundle(2, 2, 9, &[12.0, 16.0])));
    let back = Bundle::from_slice(b.to_json_string().as_bytes()).unwrap();
    assert_eq!(back, b);
    assert_eq!(back.for_levels().taps, 9);
    // A broken entry inside `levels` is named with its path.
    let mut v = b.to_value();
    v["levels"]["basis"][1]["radius"] = json!(1.0);
    refuse(v, "levels.basis");
    // A levels bundle holds no levels of its own.
    let mut v = b.to_value();
    v["levels"]["levels"] = valid();
    refuse(v, "levels.levels");
    let mut v = b.to_value();
    v["levels"] = json!([1, 2]);
    refuse(v, "levels");
}

#[test]
fn blade_bundles_are_the_n_gons_their_choices_name() {
    use sparsebokeh::ofx::params::{BLADES_BUNDLES, BLADES_OPTIONS};
    let curvatures = [0.0, 0.25, 0.6];
    for (i, row) in BLADES_BUNDLES.iter().enumerate() {
        let sides: u64 = BLADES_OPTIONS[i].parse().unwrap();
        for (j, name) in row.iter().enumerate() {
            let b = sparsebokeh::locate(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(b.target["shape"], "ngon", "{name}");
            assert_eq!(b.target["params"]["sides"].as_u64(), Some(sides), "{name}");
            assert_eq!(b.target["params"]["curvature"].as_f64(), Some(curvatures[j]), "{name}");
            assert_eq!((b.layers, b.taps), (3, 56), "{name}");
            let command = b.fit["command"].as_str().unwrap();
            assert!(command.contains("--flat 2") && command.contains("--taps 56"), "{name}: {command}");
            // Every entry from r = 8 renders its aperture at 17.5 dB or better.
            for e in b.basis.iter().filter(|e| e.radius >= 8.0) {
                assert!(e.psnr_db.unwrap() >= 17.5, "{name} r={}: {:?} dB", e.radius, e.psnr_db);
            }
        }
    }
}

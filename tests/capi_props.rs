//! Property tests of the C API: random and mutated bundle JSON and random image
//! descriptors and lenses go through the `sb_*` entry points. No crash, no hang, no panic caught
//! by the barrier (SB_ERR_INTERNAL), every failure a status with a message, the destination
//! untouched on failure, and the status the one a model of the checks predicts.
//!
//! 12,000 cases in all (see CASES_*), on small images so the suite stays well under two minutes.

mod common;

use common::random_bundle;
use proptest::prelude::*;
use serde_json::Value;
use sparsebokeh::capi::*;
use sparsebokeh::Bundle;
use sparsebokeh::{Lens, LensMode};
use std::ffi::CStr;
use std::sync::OnceLock;

const CASES_BYTES: u32 = 2000;
const CASES_TEXT: u32 = 1000;
const CASES_BYTE_MUTATIONS: u32 = 3000;
const CASES_FIELD_MUTATIONS: u32 = 3000;
const CASES_DESCRIPTORS: u32 = 3000;

const SENTINEL: f32 = -1234.5;

fn valid_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| random_bundle(7, 2, 4, &[2.0, 4.0, 8.0]).to_json_string())
}

fn last_error() -> String {
    // SAFETY: sb_last_error returns a valid NUL-terminated string owned by this thread.
    unsafe { CStr::from_ptr(sb_last_error()) }.to_string_lossy().into_owned()
}

/// A failure must be a documented status (never the panic barrier's) with a message.
fn check_status(what: &str, status: SbStatus) -> Result<(), TestCaseError> {
    let msg = last_error();
    prop_assert_ne!(status, SbStatus::Internal, "{}: a panic reached the barrier: {}", what, msg);
    if status == SbStatus::Ok {
        prop_assert!(msg.is_empty(), "{}: message after success: {}", what, msg);
    } else {
        prop_assert!(!msg.is_empty(), "{}: {:?} without a message", what, status);
    }
    Ok(())
}

/// Loads `bytes` through the C API and checks the outcome against the Rust loader. A bundle
/// that loads is queried and, when its taps stay near, used for two small blurs.
fn load_and_use(bytes: &[u8]) -> Result<(), TestCaseError> {
    let mut out: *mut SbBundle = std::ptr::NonNull::dangling().as_ptr();
    // SAFETY: `bytes` is readable for its length; `out` is writable.
    let status = unsafe { sb_bundle_load_memory(bytes.as_ptr().cast(), bytes.len(), &mut out) };
    check_status("load", status)?;
    let rust = Bundle::from_slice(bytes);
    prop_assert_eq!(status == SbStatus::Ok, rust.is_ok(), "C and Rust loaders disagree: {}", last_error());
    if status != SbStatus::Ok {
        prop_assert!(out.is_null());
        prop_assert!(matches!(status, SbStatus::BundleParse | SbStatus::BundleInvalid | SbStatus::BundleVersion));
        return Ok(());
    }
    let bundle = rust.unwrap();
    let b = out;
    // SAFETY: `b` is a live handle until the sb_bundle_free below.
    unsafe {
        prop_assert_eq!(sb_bundle_layers(b), bundle.layers);
        prop_assert_eq!(sb_bundle_taps(b), bundle.taps);
        let n = sb_bundle_radius_count(b);
        let mut radii = vec![0.0; n];
        prop_assert_eq!(sb_bundle_radii(b, radii.as_mut_ptr(), n), SbStatus::Ok);
        prop_assert_eq!(radii, bundle.radii());
        prop_assert!(!sb_bundle_name(b).is_null());
    }
    // Blur only bundles whose taps stay within a few pixels: a mutation may legally push an
    // offset to 4096 px, which is slow (not wrong) to render in a debug build.
    let extent = bundle
        .basis
        .iter()
        .flat_map(|e| e.complex.layers.iter().flatten())
        .map(|t| t.x.abs().max(t.y.abs()))
        .fold(0.0, f32::max);
    if extent <= 16.0 {
        let (w, h, c) = (6, 5, 3);
        let mut src: Vec<f32> = (0..w * h * c).map(|i| (i % 7) as f32 / 7.0).collect();
        let mut dst = vec![SENTINEL; w * h * c];
        let si = SbImage {
            data: src.as_mut_ptr(),
            row_stride_bytes: (w * c * 4) as isize,
            width: 6,
            height: 5,
            channels: 3,
        };
        let di = SbImage { data: dst.as_mut_ptr(), ..si };
        // SAFETY: both descriptors describe their own, disjoint, live buffers.
        let st = unsafe { sb_blur_fixed(std::ptr::null(), b, 1.5, &si, &di, std::ptr::null_mut()) };
        check_status("blur_fixed", st)?;
        prop_assert_eq!(st, SbStatus::Ok);
        let mut radii: Vec<f32> = (0..w * h).map(|i| (i % 4) as f32).collect();
        let zi =
            SbImage { data: radii.as_mut_ptr(), row_stride_bytes: (w * 4) as isize, width: 6, height: 5, channels: 1 };
        let lens = SbLens {
            struct_size: std::mem::size_of::<SbLens>() as u32,
            mode: SB_LENS_COC,
            edges: SB_EDGES_GATHER,
            focus: 1.0,
            dof: 0.0,
            size: 4.0,
            maximum: 4.0,
            render_scale: 1.0,
        };
        // SAFETY: as above.
        let st = unsafe { sb_blur_depth(std::ptr::null(), b, &lens, &si, &zi, 0, &di, std::ptr::null_mut()) };
        check_status("blur_depth", st)?;
        prop_assert_eq!(st, SbStatus::Ok);
    }
    // SAFETY: a live handle, freed once.
    unsafe { sb_bundle_free(b) };
    Ok(())
}

// ---- bundle bytes ----------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum ByteEdit {
    Flip(usize, u8),
    Delete(usize),
    Insert(usize, u8),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| ByteEdit::Flip(p, b)),
        any::<usize>().prop_map(ByteEdit::Delete),
        (any::<usize>(), prop::sample::select(b"{}[]\":,.-+eE0123456789 NaI\\\x00\xff".to_vec()))
            .prop_map(|(p, b)| ByteEdit::Insert(p, b)),
        any::<usize>().prop_map(ByteEdit::Truncate),
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| ByteEdit::Duplicate(p, n)),
    ]
}

fn apply_byte_edit(bytes: &mut Vec<u8>, e: &ByteEdit) {
    let n = bytes.len();
    if n == 0 {
        return;
    }
    match *e {
        ByteEdit::Flip(p, b) => bytes[p % n] ^= b | 1,
        ByteEdit::Delete(p) => {
            bytes.remove(p % n);
        }
        ByteEdit::Insert(p, b) => bytes.insert(p % (n + 1), b),
        ByteEdit::Truncate(p) => bytes.truncate(p % n),
        ByteEdit::Duplicate(p, len) => {
            let s = p % n;
            let chunk: Vec<u8> = bytes[s..(s + len).min(n)].to_vec();
            bytes.splice(s..s, chunk);
        }
    }
}

// ---- bundle fields ---------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum FieldEdit {
    /// Walk the path (child index modulo the children) and replace the value there.
    Replace(Vec<usize>, Value),
    /// Walk the path and remove that child from its object or array.
    Remove(Vec<usize>),
    /// Walk the path; if it is an array, duplicate or swap elements.
    Duplicate(Vec<usize>, usize),
    Swap(Vec<usize>, usize, usize),
}

fn json_value() -> impl Strategy<Value = Value> {
    let numbers = prop::sample::select(vec![
        0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 4.0, 8.0, 99.0, 1e9, -1e9, 1e300, -1e300, 4096.0, 4097.0, 1e6, 1e-300, 16.0,
        17.0, 3.0,
    ]);
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        numbers.prop_map(|x| serde_json::json!(x)),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec!["", "sparsebokeh-bundle", "NaN", "x", "\u{0}"]).prop_map(Value::from),
        Just(Value::Array(vec![])),
        Just(serde_json::json!({})),
        Just(serde_json::json!([{"x": 0.0, "y": 0.0, "w": 1.0}])),
    ]
}

fn field_edit() -> impl Strategy<Value = FieldEdit> {
    let path = prop::collection::vec(any::<usize>(), 0..7);
    prop_oneof![
        3 => (path.clone(), json_value()).prop_map(|(p, v)| FieldEdit::Replace(p, v)),
        2 => path.clone().prop_map(FieldEdit::Remove),
        1 => (path.clone(), any::<usize>()).prop_map(|(p, i)| FieldEdit::Duplicate(p, i)),
        1 => (path, any::<usize>(), any::<usize>()).prop_map(|(p, i, j)| FieldEdit::Swap(p, i, j)),
    ]
}

enum Key {
    Name(String),
    Index(usize),
}

/// The value `path` leads to (child index modulo the children), stopping early at a leaf.
fn walk<'a>(v: &'a mut Value, path: &[usize]) -> &'a mut Value {
    let Some((&i, rest)) = path.split_first() else { return v };
    let key = match &*v {
        Value::Object(m) if !m.is_empty() => Key::Name(m.keys().nth(i % m.len()).unwrap().clone()),
        Value::Array(a) if !a.is_empty() => Key::Index(i % a.len()),
        _ => return v,
    };
    match key {
        Key::Name(k) => walk(v.get_mut(k.as_str()).unwrap(), rest),
        Key::Index(n) => walk(v.get_mut(n).unwrap(), rest),
    }
}

fn apply_field_edit(doc: &mut Value, e: &FieldEdit) {
    match e {
        FieldEdit::Replace(p, new) => *walk(doc, p) = new.clone(),
        FieldEdit::Remove(p) => {
            let (last, head) = match p.split_last() {
                Some(x) => x,
                None => return,
            };
            match walk(doc, head) {
                Value::Object(m) if !m.is_empty() => {
                    let k = m.keys().nth(last % m.len()).unwrap().clone();
                    m.remove(&k);
                }
                Value::Array(a) if !a.is_empty() => {
                    let n = a.len();
                    a.remove(last % n);
                }
                _ => {}
            }
        }
        FieldEdit::Duplicate(p, i) => {
            if let Value::Array(a) = walk(doc, p) {
                if !a.is_empty() {
                    let x = a[i % a.len()].clone();
                    a.insert(i % a.len(), x);
                }
            }
        }
        FieldEdit::Swap(p, i, j) => {
            if let Value::Array(a) = walk(doc, p) {
                if !a.is_empty() {
                    let n = a.len();
                    a.swap(i % n, j % n);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES_BYTES))]
    #[test]
    fn random_bytes_are_refused_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        load_and_use(&bytes)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES_TEXT))]
    #[test]
    fn random_json_like_text_is_refused_cleanly(text in "[{}\\[\\]\":,0-9.eE+\\- a-z]{0,300}") {
        load_and_use(text.as_bytes())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES_BYTE_MUTATIONS))]
    #[test]
    fn byte_mutations_of_a_valid_bundle(edits in prop::collection::vec(byte_edit(), 1..6)) {
        let mut bytes = valid_json().as_bytes().to_vec();
        for e in &edits {
            apply_byte_edit(&mut bytes, e);
        }
        load_and_use(&bytes)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES_FIELD_MUTATIONS))]
    #[test]
    fn field_mutations_of_a_valid_bundle(edits in prop::collection::vec(field_edit(), 1..4)) {
        let mut doc: Value = serde_json::from_str(valid_json()).unwrap();
        for e in &edits {
            apply_field_edit(&mut doc, e);
        }
        load_and_use(serde_json::to_string(&doc).unwrap().as_bytes())?;
    }
}

// ---- image descriptors and lenses ---------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Data {
    Valid,
    Null,
    Misaligned,
}

#[derive(Clone, Copy, Debug)]
enum Stride {
    /// The row plus `extra` floats, negated for bottom-up.
    Row {
        extra: isize,
        bottom_up: bool,
    },
    /// One float short of a row.
    Short,
    /// Not a multiple of 4.
    Odd,
    Zero,
    /// Values whose span overflows (or, for one row, that are harmless).
    Huge(isize),
}

#[derive(Clone, Copy, Debug)]
struct Spec {
    width: i32,
    height: i32,
    channels: i32,
    stride: Stride,
    data: Data,
}

fn side() -> impl Strategy<Value = i32> {
    prop_oneof![40 => 1i32..=7, 1 => -2i32..=0, 1 => prop::sample::select(vec![i32::MIN, i32::MAX, 65537, 100_000])]
}

fn spec() -> impl Strategy<Value = Spec> {
    let stride = prop_oneof![
        40 => (0isize..3, any::<bool>()).prop_map(|(extra, bottom_up)| Stride::Row { extra, bottom_up }),
        1 => Just(Stride::Short),
        1 => Just(Stride::Odd),
        1 => Just(Stride::Zero),
        // Never a huge *positive* stride a few rows tall: its rows would be accepted (the span
        // fits the address space) and read far outside the test's buffer, as a caller's lie
        // about its buffer would. Only strides the C API can prove wrong are generated.
        1 => prop::sample::select(vec![isize::MAX - 3, isize::MIN, -(1isize << 60), -(isize::MAX - 3)])
            .prop_map(Stride::Huge),
    ];
    let data = prop_oneof![40 => Just(Data::Valid), 1 => Just(Data::Null), 1 => Just(Data::Misaligned)];
    (side(), side(), prop_oneof![40 => 1i32..=4, 1 => -1i32..=0, 1 => 5i32..=6], stride, data)
        .prop_map(|(width, height, channels, stride, data)| Spec { width, height, channels, stride, data })
}

/// An image buffer for a spec: the descriptor, its buffer, and what the C API must say of it
/// (Ok, NullPointer or Image).
struct Built {
    desc: SbImage,
    buffer: Vec<f32>,
    expect: SbStatus,
    /// Indices into `buffer` of the floats the rows cover.
    pixels: Vec<usize>,
}

fn build(spec: &Spec, fill: f32) -> Built {
    let (w, h, c) = (spec.width as i64, spec.height as i64, spec.channels as i64);
    let sizes_ok = (1..=65536).contains(&w) && (1..=65536).contains(&h) && (1..=4).contains(&c);
    let row = if sizes_ok { w * c * 4 } else { 16 };
    let stride_bytes: isize = match spec.stride {
        Stride::Row { extra, bottom_up } => {
            let s = row as isize + extra * 4;
            if bottom_up {
                -s
            } else {
                s
            }
        }
        Stride::Short => row as isize - 4,
        Stride::Odd => row as isize + 2,
        Stride::Zero => 0,
        Stride::Huge(s) => s,
    };
    // The model of the checks: sizes, channels, stride multiple of 4 and ≥ a row, span.
    let stride_floats = (stride_bytes / 4) as i128;
    let span = (h as i128 - 1) * stride_floats.abs() + (w * c) as i128;
    let base = if stride_bytes < 0 { (h as i128 - 1) * stride_floats.abs() } else { 0 };
    let geometry_ok = sizes_ok
        && stride_bytes % 4 == 0
        && stride_bytes.unsigned_abs() as i128 >= row as i128
        && span <= isize::MAX as i128 / 4
        // A base this far below the buffer is below address 0 (user space is < 2^57).
        && base * 4 < (1i128 << 57);
    let expect = match (spec.data, geometry_ok) {
        (Data::Null, _) => SbStatus::NullPointer,
        (Data::Misaligned, _) | (_, false) => SbStatus::Image,
        (Data::Valid, true) => SbStatus::Ok,
    };
    if expect != SbStatus::Ok {
        let mut buffer = vec![fill; 8];
        let data = match spec.data {
            Data::Null => std::ptr::null_mut(),
            // SAFETY: one byte into an 8-float buffer; never dereferenced (the C API refuses it).
            Data::Misaligned => unsafe { buffer.as_mut_ptr().cast::<u8>().add(1).cast::<f32>() },
            Data::Valid => buffer.as_mut_ptr(),
        };
        let desc = SbImage {
            data,
            row_stride_bytes: stride_bytes,
            width: spec.width,
            height: spec.height,
            channels: spec.channels,
        };
        return Built { desc, buffer, expect, pixels: vec![] };
    }
    assert!(span <= 1 << 16, "generator made a valid image of span {span}: {spec:?}");
    let mut buffer = vec![fill; span as usize];
    let mut pixels = Vec::new();
    for y in 0..h as i128 {
        let start = (base + y * stride_floats) as usize;
        pixels.extend(start..start + (w * c) as usize);
    }
    // SAFETY: base < span = buffer.len().
    let data = unsafe { buffer.as_mut_ptr().add(base as usize) };
    let desc = SbImage {
        data,
        row_stride_bytes: stride_bytes,
        width: spec.width,
        height: spec.height,
        channels: spec.channels,
    };
    Built { desc, buffer, expect, pixels }
}

fn lens_param() -> impl Strategy<Value = f64> {
    prop_oneof![
        40 => prop::sample::select(vec![0.5, 1.0, 2.0, 3.0]),
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, 2000.0, 1e-9]),
    ]
}

fn lens() -> impl Strategy<Value = SbLens> {
    (
        prop_oneof![40 => 0i32..=2, 1 => prop::sample::select(vec![-1, 3, i32::MAX])],
        prop_oneof![20 => Just(0i32), 20 => Just(1i32), 1 => prop::sample::select(vec![-1, 2, i32::MAX])],
        (lens_param(), lens_param(), lens_param(), lens_param(), prop_oneof![8 => Just(1.0), 1 => lens_param()]),
    )
        .prop_map(|(mode, edges, (focus, dof, size, maximum, render_scale))| SbLens {
            struct_size: std::mem::size_of::<SbLens>() as u32,
            mode,
            edges,
            focus,
            dof,
            size,
            maximum,
            render_scale,
        })
}

/// What the C API must say of a lens.
fn lens_expect(l: &SbLens) -> SbStatus {
    let mode = match l.mode {
        0 => LensMode::Depth,
        1 => LensMode::InverseDepth,
        2 => LensMode::Coc,
        _ => return SbStatus::Lens,
    };
    if !(0..=1).contains(&l.edges) {
        return SbStatus::Lens;
    }
    let lens =
        Lens { mode, focus: l.focus, dof: l.dof, size: l.size, maximum: l.maximum, render_scale: l.render_scale };
    if lens.validate().is_ok() {
        SbStatus::Ok
    } else {
        SbStatus::Lens
    }
}

fn first_failure(checks: &[SbStatus]) -> SbStatus {
    checks.iter().copied().find(|s| *s != SbStatus::Ok).unwrap_or(SbStatus::Ok)
}

/// The destination is untouched on failure; on success only its rows' floats changed.
fn check_dst(status: SbStatus, dst: &Built) -> Result<(), TestCaseError> {
    if status == SbStatus::Ok {
        let mut inside = vec![false; dst.buffer.len()];
        for &i in &dst.pixels {
            inside[i] = true;
        }
        for (i, v) in dst.buffer.iter().enumerate() {
            if !inside[i] {
                prop_assert_eq!(*v, SENTINEL, "float {} between rows was written", i);
            }
        }
    } else {
        prop_assert!(dst.buffer.iter().all(|&v| v == SENTINEL), "the destination was written on {:?}", status);
    }
    Ok(())
}

fn bundle_handle() -> *mut SbBundle {
    let json = valid_json();
    let mut b = std::ptr::null_mut();
    // SAFETY: valid pointers.
    assert_eq!(unsafe { sb_bundle_load_memory(json.as_ptr().cast(), json.len(), &mut b) }, SbStatus::Ok);
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES_DESCRIPTORS))]
    #[test]
    fn random_descriptors_and_lenses(
        src_spec in spec(),
        dst_spec in spec(),
        depth_spec in spec(),
        same in 0u8..4,
        lens in lens(),
        depth_channel in prop_oneof![8 => 0i32..=1, 1 => -1i32..=4],
        radius in prop_oneof![20 => 0.0f64..6.0, 1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, -1.0, 1025.0])],
    ) {
        // Often give dst and depth the source's geometry so the renders get past the checks.
        let dst_spec = if same & 1 == 0 { Spec { data: dst_spec.data, ..src_spec } } else { dst_spec };
        let depth_spec = if same & 2 == 0 { Spec { channels: depth_spec.channels, data: depth_spec.data, ..src_spec } } else { depth_spec };
        let b = bundle_handle();
        let src = build(&src_spec, 0.25);
        let depth = build(&depth_spec, 2.0);
        let same_size = |a: &Spec, b: &Spec| a.width == b.width && a.height == b.height;
        let radius_ok = radius.is_finite() && (0.0..=1024.0).contains(&radius);

        // sb_blur_fixed: src, dst, radius, size/channels.
        let dst = build(&dst_spec, SENTINEL);
        // SAFETY: every descriptor describes its own live buffer or is refused before use.
        let st = unsafe { sb_blur_fixed(std::ptr::null(), b, radius, &src.desc, &dst.desc, std::ptr::null_mut()) };
        check_status("blur_fixed", st)?;
        let want = first_failure(&[
            src.expect,
            dst.expect,
            if radius_ok { SbStatus::Ok } else { SbStatus::InvalidArgument },
            if same_size(&src_spec, &dst_spec) && src_spec.channels == dst_spec.channels { SbStatus::Ok } else { SbStatus::SizeMismatch },
        ]);
        prop_assert_eq!(st, want, "blur_fixed: {}", last_error());
        check_dst(st, &dst)?;

        // sb_blur_depth: lens, src, depth, dst, depth channel, sizes.
        let dst = build(&dst_spec, SENTINEL);
        // SAFETY: as above.
        let st = unsafe { sb_blur_depth(std::ptr::null(), b, &lens, &src.desc, &depth.desc, depth_channel, &dst.desc, std::ptr::null_mut()) };
        check_status("blur_depth", st)?;
        let want = first_failure(&[
            lens_expect(&lens),
            src.expect,
            depth.expect,
            dst.expect,
            if depth_channel >= 0 && depth_channel < depth_spec.channels { SbStatus::Ok } else { SbStatus::InvalidArgument },
            if same_size(&src_spec, &dst_spec) && src_spec.channels == dst_spec.channels { SbStatus::Ok } else { SbStatus::SizeMismatch },
            if same_size(&src_spec, &depth_spec) { SbStatus::Ok } else { SbStatus::SizeMismatch },
        ]);
        prop_assert_eq!(st, want, "blur_depth: {}", last_error());
        check_dst(st, &dst)?;

        // sb_coc_map: lens, depth, dst (1 channel, depth's size).
        let coc_spec = Spec { channels: 1, ..dst_spec };
        let dst = build(&coc_spec, SENTINEL);
        // SAFETY: as above.
        let st = unsafe { sb_coc_map(&lens, &depth.desc, depth_channel, &dst.desc, std::ptr::null_mut()) };
        check_status("coc_map", st)?;
        let want = first_failure(&[
            lens_expect(&lens),
            depth.expect,
            dst.expect,
            if depth_channel >= 0 && depth_channel < depth_spec.channels { SbStatus::Ok } else { SbStatus::InvalidArgument },
            if same_size(&depth_spec, &coc_spec) { SbStatus::Ok } else { SbStatus::SizeMismatch },
        ]);
        prop_assert_eq!(st, want, "coc_map: {}", last_error());
        check_dst(st, &dst)?;
        // SAFETY: a live handle, freed once.
        unsafe { sb_bundle_free(b) };
    }
}

//! The render engine against independent references: dense convolution with the complex's PSF
//! (fixed radius) and the f64 cascade of `render::dense` (depth-driven).

mod common;
use common::*;

use sparsebokeh::plan::{Plan, TapTable};
use sparsebokeh::psf::complex_psf;
use sparsebokeh::reference::{blur_reference, convolve_clamped};
use sparsebokeh::Edges;
use sparsebokeh::{AtRadius, BasisEntry, Bundle};
use sparsebokeh::{Engine, Image, ImageView, ImageViewMut, Lens, LensMode};

/// Lays `img` out with the given row stride in bytes (negative: bottom-up) in a fresh buffer,
/// and returns the buffer.
fn strided(img: &Image, stride_bytes: isize) -> Vec<f32> {
    let row = img.width * img.channels;
    let s = stride_bytes.unsigned_abs() / 4;
    let mut buf = vec![-7.0f32; (img.height - 1) * s + row];
    for y in 0..img.height {
        let mem_row = if stride_bytes < 0 { img.height - 1 - y } else { y };
        buf[mem_row * s..mem_row * s + row].copy_from_slice(&img.data[y * row..(y + 1) * row]);
    }
    buf
}

fn unstrided(buf: &[f32], w: usize, h: usize, c: usize, stride_bytes: isize) -> Image {
    Image::from_view(&ImageView::new(buf, w, h, c, stride_bytes).unwrap())
}

fn fixed_case(w: usize, h: usize, c: usize, radius: f64, stride_pad: isize, negative: bool) {
    let bundle = random_bundle(11, 3, 8, &[2.0, 4.0, 8.0]);
    let img = test_image(w, h, c, 5);
    let mut stride = (w * c * 4) as isize + stride_pad * 4;
    if negative {
        stride = -stride;
    }
    let src_buf = strided(&img, stride);
    let mut dst_buf = vec![0.0f32; src_buf.len()];
    let src = ImageView::new(&src_buf, w, h, c, stride).unwrap();
    let mut dst = ImageViewMut::new(&mut dst_buf, w, h, c, stride).unwrap();
    Engine::new(2).unwrap().blur_fixed(&bundle, radius, &src, &mut dst).unwrap();
    let got = unstrided(&dst_buf, w, h, c, stride);

    let complex = match bundle.at_radius(radius) {
        AtRadius::Complex(c) => c,
        AtRadius::PassThrough => panic!("radius {radius} blurs"),
    };
    let want = convolve_clamped(&img.view(), &complex_psf(&complex));
    let err = max_abs_diff(&got.data, &want.data);
    assert!(err <= 1e-4, "{w}×{h}×{c} r={radius} stride={stride}: max abs error {err}");
    // The bytes between rows (stride padding) are not touched.
    if stride_pad > 0 {
        let s = stride.unsigned_abs() / 4;
        for r in 0..h - 1 {
            assert!(dst_buf[r * s + w * c..(r + 1) * s].iter().all(|&v| v == 0.0));
        }
    }
}

#[test]
fn fixed_radius_matches_dense_psf_convolution_1_3_4_channels() {
    for c in [1, 3, 4] {
        fixed_case(37, 29, c, 6.0, 0, false);
    }
}

#[test]
fn fixed_radius_matches_with_positive_and_negative_strides() {
    for c in [1, 3, 4] {
        fixed_case(23, 17, c, 5.3, 3, false);
        fixed_case(23, 17, c, 5.3, 0, true);
        fixed_case(23, 17, c, 5.3, 5, true);
    }
}

#[test]
fn fixed_radius_on_an_image_smaller_than_the_kernel() {
    // Radius 12 is above the largest entry (scaled): the PSF spans ~25 px, the image 6×5.
    for c in [1, 3, 4] {
        fixed_case(6, 5, c, 12.0, 0, false);
        fixed_case(1, 1, c, 8.0, 0, true);
    }
}

#[test]
fn fixed_radius_at_or_below_half_a_pixel_passes_through() {
    let bundle = random_bundle(3, 3, 8, &[2.0, 4.0]);
    let img = test_image(9, 7, 4, 1);
    let mut out = Image::new(9, 7, 4);
    Engine::new(1).unwrap().blur_fixed(&bundle, 0.5, &img.view(), &mut out.view_mut()).unwrap();
    assert_eq!(out.data, img.data);
}

fn depth_case(mode: LensMode, depth: &[f32], w: usize, h: usize) {
    let bundle = random_bundle(21, 3, 6, &[1.0, 3.0, 6.0]);
    let img = test_image(w, h, 4, 9);
    let lens = match mode {
        LensMode::Depth => Lens { mode, focus: 2.0, dof: 0.2, size: 10.0, maximum: 7.5, render_scale: 1.0 },
        LensMode::InverseDepth => Lens { mode, focus: 0.5, dof: 0.05, size: 9.0, maximum: 7.0, render_scale: 1.0 },
        LensMode::Coc => Lens { mode, focus: 1.0, dof: 0.0, size: 0.0, maximum: 7.0, render_scale: 0.75 },
    };
    let dimg = Image { width: w, height: h, channels: 1, data: depth.to_vec() };
    let mut out = Image::new(w, h, 4);
    let stats =
        Engine::new(2).unwrap().blur_depth(&bundle, &lens, &dimg.view(), 0, &img.view(), &mut out.view_mut()).unwrap();
    assert!(stats.tables >= 2, "{mode:?}: the depth map should use several radii");
    let (radii, _) = lens.coc_map(&dimg.view(), 0);
    let want = blur_reference(&bundle, &radii, &img.view());
    let err = max_abs_diff(&out.data, &want.data);
    assert!(err <= 1e-3, "{mode:?}: max abs error {err}");
}

fn ramp(w: usize, h: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..h).flat_map(|_| (0..w).map(move |x| lo + (hi - lo) * x as f32 / (w - 1) as f32)).collect()
}

fn step(w: usize, h: usize, near: f32, far: f32) -> Vec<f32> {
    (0..h).flat_map(|y| (0..w).map(move |x| if x + y / 3 < w / 2 { near } else { far })).collect()
}

#[test]
fn depth_driven_matches_dense_reference_on_a_ramp() {
    let (w, h) = (32, 20);
    depth_case(LensMode::Depth, &ramp(w, h, 0.8, 9.0), w, h);
    depth_case(LensMode::InverseDepth, &ramp(w, h, 1.0, 0.0), w, h);
    depth_case(LensMode::Coc, &ramp(w, h, -7.0, 7.0), w, h);
}

#[test]
fn depth_driven_matches_dense_reference_on_a_step_edge() {
    let (w, h) = (30, 22);
    depth_case(LensMode::Depth, &step(w, h, 2.0, 50.0), w, h);
    depth_case(LensMode::InverseDepth, &step(w, h, 0.5, 0.02), w, h);
    depth_case(LensMode::Coc, &step(w, h, 0.0, 6.5), w, h);
}

fn single_entry(bundle: &Bundle, radius: f64, complex: sparsebokeh::Complex) -> Bundle {
    Bundle { basis: vec![BasisEntry { radius, psnr_db: None, complex }], ..bundle.clone() }
}

#[test]
fn interpolation_equals_the_entry_at_basis_radii_and_the_lerp_between() {
    let bundle = random_bundle(5, 3, 8, &[2.0, 4.0, 8.0]);
    let img = test_image(24, 18, 4, 2);
    let engine = Engine::new(2).unwrap();
    let render = |b: &Bundle, r: f64| {
        let mut out = Image::new(24, 18, 4);
        engine.blur_fixed(b, r, &img.view(), &mut out.view_mut()).unwrap();
        out
    };
    for e in &bundle.basis {
        // The table is the entry exactly, and so is the rendered frame.
        assert_eq!(TapTable::new(&bundle, e.radius).complex, e.complex);
        let solo = single_entry(&bundle, e.radius, e.complex.clone());
        assert_eq!(render(&bundle, e.radius).data, render(&solo, e.radius).data, "r = {}", e.radius);
    }
    for (r, (a, b)) in [(3.0, (0, 1)), (5.5, (1, 2)), (7.96875, (1, 2))] {
        let (ea, eb) = (&bundle.basis[a], &bundle.basis[b]);
        let t = (r - ea.radius) / (eb.radius - ea.radius);
        let lerped = sparsebokeh::Complex::lerp(&ea.complex, &eb.complex, t);
        assert_eq!(TapTable::new(&bundle, r).complex, lerped);
        let solo = single_entry(&bundle, r, lerped);
        assert_eq!(render(&bundle, r).data, render(&solo, r).data, "r = {r}");
    }
    // Above the largest entry: its offsets scaled; between 0.5 and the smallest: scaled down.
    assert_eq!(TapTable::new(&bundle, 16.0).complex, bundle.basis[2].complex.scaled(2.0));
    assert_eq!(TapTable::new(&bundle, 1.0).complex, bundle.basis[0].complex.scaled(0.5));
}

#[test]
fn per_pixel_plan_uses_one_table_per_quantised_radius() {
    let bundle = random_bundle(5, 2, 4, &[2.0, 4.0]);
    let radii = [0.0, 0.2, 3.0, 3.01, 3.02, 7.5, 7.5];
    let plan = Plan::per_pixel(&bundle, &radii);
    // 0 and 0.2 round to different buckets (0, 6/32): both pass through; 3.0 and 3.01 share one.
    assert_eq!(plan.tables.len(), 5);
    assert_eq!(plan.pixel_table[2], plan.pixel_table[3]);
}

#[test]
fn one_and_two_threads_give_identical_bits() {
    let bundle = random_bundle(8, 3, 8, &[2.0, 4.0, 8.0]);
    let (w, h) = (61, 47);
    let img = test_image(w, h, 4, 4);
    let depth = Image { width: w, height: h, channels: 1, data: step(w, h, 1.5, 40.0) };
    let lens = Lens { mode: LensMode::Depth, focus: 2.0, dof: 0.1, size: 9.0, maximum: 9.0, render_scale: 1.0 };
    let run = |threads: usize| {
        let e = Engine::new(threads).unwrap();
        let mut fixed = Image::new(w, h, 4);
        e.blur_fixed(&bundle, 6.3, &img.view(), &mut fixed.view_mut()).unwrap();
        let mut depthed = Image::new(w, h, 4);
        e.blur_depth(&bundle, &lens, &depth.view(), 0, &img.view(), &mut depthed.view_mut()).unwrap();
        let mut layered = Image::new(w, h, 4);
        e.blur_depth_with(&bundle, &lens, Edges::Layered, &depth.view(), 0, &img.view(), &mut layered.view_mut())
            .unwrap();
        (fixed.data, depthed.data, layered.data)
    };
    let (f1, d1, l1) = run(1);
    let (f2, d2, l2) = run(2);
    assert!(l1.iter().zip(&l2).all(|(a, b)| a.to_bits() == b.to_bits()), "layered");
    assert!(f1.iter().zip(&f2).all(|(a, b)| a.to_bits() == b.to_bits()));
    assert!(d1.iter().zip(&d2).all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn nonfinite_samples_and_depth_have_a_defined_result() {
    let bundle = random_bundle(8, 2, 4, &[2.0, 4.0]);
    let mut img = test_image(16, 12, 4, 4);
    img.data[5] = f32::NAN;
    img.data[77] = f32::INFINITY;
    let mut depth = Image { width: 16, height: 12, channels: 1, data: vec![3.0; 16 * 12] };
    depth.data[10] = f32::NAN;
    depth.data[11] = -1.0;
    depth.data[12] = f32::NEG_INFINITY;
    let lens = Lens { mode: LensMode::Depth, focus: 3.0, dof: 0.0, size: 4.0, maximum: 4.0, render_scale: 1.0 };
    let mut out = Image::new(16, 12, 4);
    let stats =
        Engine::new(1).unwrap().blur_depth(&bundle, &lens, &depth.view(), 0, &img.view(), &mut out.view_mut()).unwrap();
    assert_eq!(stats.nonfinite_samples, 2);
    assert_eq!(stats.bad_depth, 3);
    assert!(out.data.iter().all(|v| v.is_finite()));
    // Bad depth is infinitely far: radius = size.
    assert_eq!(lens.coc_radius(f32::NAN), (4.0, true));
}

#[test]
fn bad_radius_mismatched_sizes_and_bad_lens_are_errors_and_write_nothing() {
    let bundle = random_bundle(8, 2, 4, &[2.0, 4.0]);
    let img = test_image(8, 8, 4, 4);
    let e = Engine::new(1).unwrap();
    for r in [-1.0, f64::NAN, f64::INFINITY, 2048.0] {
        let mut out = Image { width: 8, height: 8, channels: 4, data: vec![9.0; 256] };
        assert!(e.blur_fixed(&bundle, r, &img.view(), &mut out.view_mut()).is_err(), "radius {r}");
        assert!(out.data.iter().all(|&v| v == 9.0));
    }
    let mut small = Image::new(7, 8, 4);
    let msg = e.blur_fixed(&bundle, 3.0, &img.view(), &mut small.view_mut()).unwrap_err().to_string();
    assert!(msg.contains("8×8×4") && msg.contains("7×8×4"), "{msg}");
    let depth = Image::new(8, 7, 1);
    let mut out = Image::new(8, 8, 4);
    let lens = Lens::default();
    assert!(e.blur_depth(&bundle, &lens, &depth.view(), 0, &img.view(), &mut out.view_mut()).is_err());
    let depth = Image::new(8, 8, 1);
    for bad in [
        Lens { maximum: f64::NAN, ..lens },
        Lens { maximum: 1025.0, ..lens },
        Lens { size: -1.0, ..lens },
        Lens { focus: f64::INFINITY, ..lens },
        Lens { render_scale: 0.0, ..lens },
    ] {
        let err = e.blur_depth(&bundle, &bad, &depth.view(), 0, &img.view(), &mut out.view_mut()).unwrap_err();
        assert!(err.to_string().contains("lens"), "{err}");
    }
    assert!(out.data.iter().all(|&v| v == 0.0));
}

#[test]
fn image_views_refuse_bad_geometry() {
    let buf = vec![0.0f32; 64];
    assert!(ImageView::new(&buf, 0, 4, 4, 16).is_err());
    assert!(ImageView::new(&buf, 4, 4, 5, 80).is_err());
    assert!(ImageView::new(&buf, 4, 4, 4, 32).is_err(), "stride smaller than a row");
    assert!(ImageView::new(&buf, 4, 4, 4, 66).is_err(), "stride not a multiple of 4");
    assert!(ImageView::new(&buf, 4, 5, 4, 64).is_err(), "buffer too short");
    assert!(ImageView::new(&buf, 4, 2, 4, isize::MIN + 4).is_err(), "span overflows");
    let v = ImageView::new(&buf, 4, 4, 4, -64).unwrap();
    assert_eq!(v.row(0).as_ptr(), buf[48..].as_ptr(), "row 0 of a bottom-up view is last in memory");
}

#[test]
fn a_far_reaching_bundle_at_a_large_radius_is_refused_before_allocating() {
    let mut bundle = random_bundle(2, 3, 2, &[1.0]);
    bundle.basis[0].complex.layers[0][0].x = 4000.0;
    let img = test_image(64, 64, 4, 1);
    let mut out = Image { width: 64, height: 64, channels: 4, data: vec![5.0; 64 * 64 * 4] };
    let err = Engine::new(1).unwrap().blur_fixed(&bundle, 1000.0, &img.view(), &mut out.view_mut()).unwrap_err();
    assert!(matches!(err, sparsebokeh::RenderError::TooLarge(_)), "{err}");
    assert!(out.data.iter().all(|&v| v == 5.0));
}

#[test]
fn in_place_fixed_blur_equals_the_two_buffer_blur() {
    let bundle = random_bundle(4, 3, 8, &[2.0, 4.0, 8.0]);
    for c in [1, 3, 4] {
        let img = test_image(29, 23, c, 6);
        let mut want = Image::new(29, 23, c);
        let e = Engine::new(2).unwrap();
        e.blur_fixed(&bundle, 5.5, &img.view(), &mut want.view_mut()).unwrap();
        let stride = -((29 * c * 4) as isize);
        let mut buf = strided(&img, stride);
        e.blur_fixed_in_place(&bundle, 5.5, &mut ImageViewMut::new(&mut buf, 29, 23, c, stride).unwrap()).unwrap();
        assert_eq!(unstrided(&buf, 29, 23, c, stride).data, want.data);
    }
}

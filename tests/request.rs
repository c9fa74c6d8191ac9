//! The render request: each stage of `Engine::render` against what it must equal.

mod common;

use common::{random_bundle, test_image};
use sparsebokeh::{Edges, Engine, Image, Lens, LensMode, Output, RenderError, RenderOptions};

fn depth_ramp(w: usize, h: usize) -> Image {
    let data = (0..w * h).map(|i| 0.5 + 3.0 * (i % w) as f32 / w as f32).collect();
    Image { width: w, height: h, channels: 1, data }
}

fn options() -> RenderOptions {
    RenderOptions {
        lens: Lens { mode: LensMode::Depth, focus: 1.5, dof: 0.1, size: 6.0, maximum: 6.0, render_scale: 1.0 },
        edges: Edges::Gather,
        ..RenderOptions::default()
    }
}

fn render(e: &Engine, o: &RenderOptions, src: &Image, depth: Option<&Image>) -> Result<Image, RenderError> {
    let bundle = random_bundle(3, 2, 6, &[2.0, 4.0, 8.0]);
    let mut out = Image::new(src.width, src.height, src.channels);
    let dv = depth.map(|d| d.view());
    e.render(Some(&bundle), o, &src.view(), dv.as_ref(), &mut out.view_mut())?;
    Ok(out)
}

#[test]
fn mix_blends_the_result_with_the_source() {
    let e = Engine::new(1).unwrap();
    let (src, depth) = (test_image(24, 16, 4, 1), depth_ramp(24, 16));
    let full = render(&e, &options(), &src, Some(&depth)).unwrap();
    let half = render(&e, &RenderOptions { mix: 0.25, ..options() }, &src, Some(&depth)).unwrap();
    for ((h, f), s) in half.data.iter().zip(&full.data).zip(&src.data) {
        assert!((h - (0.25 * f + 0.75 * s)).abs() < 1e-6);
    }
    let none = render(&e, &RenderOptions { mix: 0.0, ..options() }, &src, Some(&depth)).unwrap();
    assert_eq!(none.data, src.data);
    let bad = render(&e, &RenderOptions { mix: 1.5, ..options() }, &src, Some(&depth)).unwrap_err();
    assert!(bad.to_string().contains("mix"), "{bad}");
}

#[test]
fn invert_depth_and_channel_choice_are_the_depth_stage() {
    let e = Engine::new(1).unwrap();
    let (src, depth) = (test_image(20, 12, 3, 2), depth_ramp(20, 12));
    let flipped = Image { data: depth.data.iter().map(|z| 1.0 - z).collect(), ..depth.clone() };
    let o = RenderOptions { lens: Lens { mode: LensMode::InverseDepth, focus: 0.4, ..options().lens }, ..options() };
    let a = render(&e, &RenderOptions { invert_depth: true, ..o }, &src, Some(&flipped)).unwrap();
    let b = render(&e, &o, &src, Some(&depth)).unwrap();
    assert_eq!(a.data, b.data);
    // Depth in the third channel of a three-channel image.
    let wide = Image {
        width: depth.width,
        height: depth.height,
        channels: 3,
        data: depth.data.iter().flat_map(|&z| [9.0, 9.0, z]).collect(),
    };
    let c = render(&e, &RenderOptions { depth_channel: 2, ..o }, &src, Some(&wide)).unwrap();
    assert_eq!(c.data, b.data);
}

#[test]
fn coc_map_and_focal_plane_setup_need_no_bundle() {
    let e = Engine::new(1).unwrap();
    let (src, depth) = (test_image(10, 6, 4, 3), depth_ramp(10, 6));
    let o = RenderOptions { output: Output::CocMap, lens: Lens { render_scale: 0.5, ..options().lens }, ..options() };
    let mut out = Image::new(10, 6, 4);
    e.render(None, &o, &src.view(), Some(&depth.view()), &mut out.view_mut()).unwrap();
    for (px, &z) in out.data.chunks(4).zip(&depth.data) {
        let r = o.lens.coc_radius(z).0 / 0.5;
        assert_eq!(px, [r, r, r, 1.0]);
    }
    let setup = RenderOptions { output: Output::FocalPlaneSetup, ..options() };
    e.render(None, &setup, &src.view(), Some(&depth.view()), &mut out.view_mut()).unwrap();
    // z = 0.5 is in front of the focal plane (red), the far end behind it (blue).
    assert_eq!(out.data[..4], [src.data[0], src.data[1] * 0.25, src.data[2] * 0.25, src.data[3]]);
    let mut untouched = Image { data: vec![7.0; 10 * 6 * 4], ..Image::new(10, 6, 4) };
    let err = e.render(None, &options(), &src.view(), Some(&depth.view()), &mut untouched.view_mut()).unwrap_err();
    assert_eq!(err, RenderError::NoBundle);
    assert!(untouched.data.iter().all(|&v| v == 7.0));
}

#[test]
fn render_in_place_equals_render() {
    let e = Engine::new(1).unwrap();
    let bundle = random_bundle(3, 2, 6, &[2.0, 4.0, 8.0]);
    let src = test_image(18, 14, 4, 4);
    for o in [
        RenderOptions { radius: 3.5, ..options() },
        RenderOptions { radius: 3.5, mix: 0.5, ..options() },
        RenderOptions { radius: 0.25, ..options() },
        RenderOptions { radius: 3.5, output: Output::FocalPlaneSetup, ..options() },
    ] {
        let mut a = Image::new(18, 14, 4);
        e.render(Some(&bundle), &o, &src.view(), None, &mut a.view_mut()).unwrap();
        let mut b = src.clone();
        e.render_in_place(Some(&bundle), &o, &mut b.view_mut()).unwrap();
        assert_eq!(a.data, b.data, "{o:?}");
    }
}

#[test]
fn a_blur_that_reaches_too_far_is_refused_before_any_work() {
    let e = Engine::new(1).unwrap();
    // Taps reaching 4000 px per layer at radius 2 (8002 px in all, within the limit); above the
    // largest entry offsets scale with the radius: 12003 px at radius 3.
    let mut far = random_bundle(3, 2, 4, &[2.0]);
    for l in &mut far.basis[0].complex.layers {
        l[0].x = 4000.0;
    }
    let src = test_image(8, 8, 4, 5);
    let mut out = Image { data: vec![7.0; 8 * 8 * 4], ..Image::new(8, 8, 4) };
    for radius in [3.0, 100.0] {
        let o = RenderOptions { radius, ..options() };
        let err = e.render(Some(&far), &o, &src.view(), None, &mut out.view_mut()).unwrap_err();
        assert!(matches!(err, RenderError::Reach(_) | RenderError::TooLarge(_)), "{err}");
    }
    assert!(out.data.iter().all(|&v| v == 7.0));
}

#[test]
fn a_bundle_without_entries_passes_through_instead_of_panicking() {
    let mut empty = random_bundle(3, 2, 4, &[2.0]);
    empty.basis.clear();
    let e = Engine::new(1).unwrap();
    let src = test_image(6, 5, 4, 6);
    let mut out = Image::new(6, 5, 4);
    e.render(Some(&empty), &RenderOptions { radius: 3.0, ..options() }, &src.view(), None, &mut out.view_mut())
        .unwrap();
    assert_eq!(out.data, src.data);
}

#[test]
fn normalised_coc_map_is_the_radius_over_the_maximum() {
    let e = Engine::new(1).unwrap();
    let (src, depth) = (test_image(12, 5, 4, 3), depth_ramp(12, 5));
    // maximum 4 < size 6, so the far end of the ramp is clamped: values reach exactly 1.
    let lens = Lens { maximum: 4.0, render_scale: 0.5, ..options().lens };
    let o = RenderOptions { output: Output::CocMapNormalised, lens, ..options() };
    let mut out = Image::new(12, 5, 4);
    e.render(None, &o, &src.view(), Some(&depth.view()), &mut out.view_mut()).unwrap();
    let mut top = 0.0f32;
    for (px, &z) in out.data.chunks(4).zip(&depth.data) {
        // The thin-lens formula written out: size·|z − focus|/z, 0 inside dof/2, at most maximum.
        let z = z as f64;
        let r = if (z - 1.5).abs() <= 0.05 { 0.0 } else { (6.0 * (z - 1.5).abs() / z).min(4.0) };
        let want = (r / 4.0) as f32;
        assert!((px[0] - want).abs() < 1e-6 && px[0] == px[1] && px[1] == px[2], "z {z}: {px:?} vs {want}");
        assert_eq!(px[3], 1.0);
        top = top.max(px[0]);
    }
    assert_eq!(top, 1.0, "the clamped far end reads 1");
    // Without depth: the radius over itself (1), or 0 at radius 0.
    let flat = RenderOptions { output: Output::CocMapNormalised, radius: 5.0, ..options() };
    e.render(None, &flat, &src.view(), None, &mut out.view_mut()).unwrap();
    assert!(out.data.chunks(4).all(|px| px == [1.0, 1.0, 1.0, 1.0]));
    e.render(None, &RenderOptions { radius: 0.0, ..flat }, &src.view(), None, &mut out.view_mut()).unwrap();
    assert!(out.data.chunks(4).all(|px| px == [0.0, 0.0, 0.0, 1.0]));
}

#[test]
fn render_scales_above_one_scale_radii_up() {
    let e = Engine::new(1).unwrap();
    let bundle = random_bundle(3, 2, 6, &[2.0, 4.0, 8.0]);
    let src = test_image(30, 22, 4, 6);
    for scale in [1.5, 2.0] {
        // Without depth: the fixed blur at radius × scale.
        let o = RenderOptions { radius: 3.0, lens: Lens { render_scale: scale, ..options().lens }, ..options() };
        let mut got = Image::new(30, 22, 4);
        e.render(Some(&bundle), &o, &src.view(), None, &mut got.view_mut()).unwrap();
        let mut want = Image::new(30, 22, 4);
        e.blur_fixed(&bundle, 3.0 * scale, &src.view(), &mut want.view_mut()).unwrap();
        assert_eq!(got.data, want.data, "scale {scale}");
        assert_eq!(o.max_radius(false), 3.0 * scale);
    }
    // Radii stop at the largest radius the engine takes.
    let o = RenderOptions { radius: 1000.0, lens: Lens { render_scale: 2.0, ..options().lens }, ..options() };
    assert_eq!(o.max_radius(false), 1024.0);
    assert!(o.validate(true).is_ok() && o.validate(false).is_ok());
    let bad = RenderOptions { lens: Lens { render_scale: 0.0, ..options().lens }, ..options() };
    assert!(bad.validate(false).is_err());
}

//! Lens character (issue #18): the bokeh's rotation and aspect ratio, the image's pixel aspect
//! ratio, highlights (bloom, gamma), focus from a point and the depth-slices view, each against
//! an independent reference: rasterised targets, dense convolution, references computed here.

mod common;

use common::{random_bundle, test_image};
use sparsebokeh::psf::{complex_psf, psnr_db, Grid};
use sparsebokeh::reference::convolve_clamped;
use sparsebokeh::shapes::Shape;
use sparsebokeh::{
    locate, slice_colour, AtRadius, Bundle, Edges, Engine, Image, Lens, LensMode, Output, RenderOptions,
};

/// The engine's impulse response with `options` (no depth, at `options.radius`): a frame of one
/// bright pixel at its centre, rendered, read back as a grid around the centre holding all the
/// blur reaches.
fn impulse(engine: &Engine, bundle: &Bundle, options: &RenderOptions) -> Grid {
    let half = options.reach(bundle, false) as i32 + 2;
    let side = (2 * half + 1) as usize;
    let mut src = Image::new(side, side, 1);
    src.data[half as usize * side + half as usize] = 1.0;
    let mut out = Image::new(side, side, 1);
    engine.render(Some(bundle), options, &src.view(), None, &mut out.view_mut()).unwrap();
    Grid { half, data: out.data.iter().map(|&v| v as f64).collect() }
}

/// PSNR of the engine's impulse response at radius `r`, rotated and stretched, against the
/// bundle's target shape mapped by the same transform and rasterised by the same code
/// (`Shape::rasterize_mapped`: the same sub-sampling as the fit's targets).
fn transformed_psnr(engine: &Engine, bundle: &Bundle, r: f64, rotation: f64, aspect: f64) -> f64 {
    let shape = Shape::from_json(&bundle.target, std::path::Path::new(".")).unwrap();
    let options = RenderOptions { radius: r, rotation, aspect, ..RenderOptions::default() };
    let psf = impulse(engine, bundle, &options);
    let m = options.tap_transform().unwrap_or([[1.0, 0.0], [0.0, 1.0]]);
    psnr_db(&psf, &shape.rasterize_mapped(r, m).unwrap())
}

const RADII: [f64; 9] = [4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0];

#[test]
fn a_hexagon_turned_30_degrees_keeps_the_psnr_of_its_fit() {
    let engine = Engine::new(0).unwrap().with_turn_refit(Some(sparsebokeh::fit::turn::TurnRefit::default()));
    let unrefitted = Engine::new(0).unwrap();
    let hexagon = locate("hexagon").unwrap();
    for r in RADII {
        let straight = transformed_psnr(&engine, &hexagon, r, 0.0, 1.0);
        // The measure is the fit's: untransformed, it is the entry's recorded PSNR (at full
        // resolution; larger radii render through the resolution levels).
        let full_resolution = sparsebokeh::levels::level_weights(r as f32) == (0, 0.0);
        if let Some(e) = hexagon.basis.iter().find(|e| e.radius == r && full_resolution) {
            assert!((straight - e.psnr_db.unwrap()).abs() < 0.01, "r={r}: {straight} vs {:?}", e.psnr_db);
        }
        let turned = transformed_psnr(&engine, &hexagon, r, 30.0, 1.0);
        let generic = transformed_psnr(&engine, &hexagon, r, 15.0, 1.0);
        let mapped = transformed_psnr(&unrefitted, &hexagon, r, 15.0, 1.0);
        eprintln!(
            "hexagon r={r:4}: 0° {straight:6.2} dB, 30° {turned:6.2} dB, 15° {generic:6.2} dB (mapped taps {mapped:6.2} dB)"
        );
        assert!(turned >= straight - 0.5, "r={r}: 30° {turned:.2} dB vs {straight:.2} dB untransformed");
        // Angles that are no symmetry of the aperture: the mapped taps sit at pixel phases the
        // fit did not choose (15.3 dB at r = 4); an engine with the refit (`fit::turn`, off by
        // default: radii between entries suffer) refits them. Where the
        // untransformed hexagon's edges lie along the pixel grid (r = 6, 8, 16) the turned one
        // stays up to 3 dB below it (ARCHITECTURE.md "The render request").
        assert!(generic >= mapped - 0.01, "r={r}: refit {generic:.2} dB vs mapped {mapped:.2} dB");
        assert!(generic >= straight - 3.0, "r={r}: 15° {generic:.2} dB vs {straight:.2} dB");
        if r == 4.0 || r == 12.0 || r >= 24.0 {
            assert!(generic >= straight - 0.5, "r={r}: 15° {generic:.2} dB vs {straight:.2} dB");
        }
    }
}

#[test]
fn quarter_turns_and_symmetries_are_exact_and_a_disc_never_turns() {
    let engine = Engine::new(1).unwrap();
    let src = test_image(40, 30, 4, 5);
    let render = |b: &Bundle, rotation: f64| {
        let o = RenderOptions { radius: 9.0, rotation, ..RenderOptions::default() };
        let mut out = Image::new(40, 30, 4);
        engine.render(Some(b), &o, &src.view(), None, &mut out.view_mut()).unwrap();
        out.data
    };
    let disc = locate("disc").unwrap();
    assert_eq!(render(&disc, 37.0), render(&disc, 0.0));
    let hexagon = locate("hexagon").unwrap();
    assert_eq!(render(&hexagon, 30.0), render(&hexagon, 90.0));
    assert_eq!(render(&hexagon, 360.0), render(&hexagon, 0.0));
    assert_ne!(render(&hexagon, 15.0), render(&hexagon, 0.0));
    // Quarter turns map taps exactly (no rounding of sin and cos).
    let o = RenderOptions { radius: 9.0, rotation: 90.0, ..RenderOptions::default() };
    let m = o.tap_transform().unwrap();
    assert_eq!(m, [[0.0, 1.0], [-1.0, 0.0]]);
}

/// The second moments of a grid: (var x, var y).
fn spread(g: &Grid) -> (f64, f64) {
    let (mut s, mut sx, mut sy, mut sxx, mut syy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for dy in -g.half..=g.half {
        for dx in -g.half..=g.half {
            let v = g.get(dx, dy);
            let (x, y) = (dx as f64, dy as f64);
            s += v;
            sx += v * x;
            sy += v * y;
            sxx += v * x * x;
            syy += v * y * y;
        }
    }
    (sxx / s - (sx / s).powi(2), syy / s - (sy / s).powi(2))
}

#[test]
fn aspect_and_pixel_aspect_stretch_the_impulse_response_like_the_target() {
    let engine = Engine::new(0).unwrap();
    let disc = locate("disc").unwrap();
    let shape = Shape::Disc;
    for r in [8.0, 16.0, 32.0] {
        for (aspect, par) in [(1.6, 1.0), (0.5, 1.0), (1.0, 16.0 / 15.0), (2.0, 2.0)] {
            let o = RenderOptions { radius: r, aspect, pixel_aspect: par, ..RenderOptions::default() };
            let psf = impulse(&engine, &disc, &o);
            let target = shape.rasterize_mapped(r, o.tap_transform().unwrap()).unwrap();
            let ((px, py), (tx, ty)) = (spread(&psf), spread(&target));
            let ratio = (px / py).sqrt() / (tx / ty).sqrt();
            let psnr = psnr_db(&psf, &target);
            eprintln!(
                "disc r={r}: aspect {aspect} par {par:.4}: width/height {:.4} (target {:.4}), {psnr:.2} dB",
                (px / py).sqrt(),
                (tx / ty).sqrt()
            );
            assert!((ratio - 1.0).abs() < 0.02, "r={r} aspect {aspect} par {par}: ratio {ratio}");
            assert!(psnr > 14.0, "r={r} aspect {aspect} par {par}: {psnr} dB");
        }
    }
    // Reach grows with the stretch: what the blur reads is inside the region it asks for.
    let wide = RenderOptions { radius: 20.0, aspect: 4.0, ..RenderOptions::default() };
    assert!(wide.reach(&disc, false) >= 4 * 20);
}

#[test]
fn defaults_are_bit_identical_to_the_untransformed_render() {
    let engine = Engine::new(2).unwrap();
    let bundle = locate("hexagon").unwrap();
    let src = test_image(48, 36, 4, 9);
    let depth = Image {
        width: 48,
        height: 36,
        channels: 1,
        data: (0..48 * 36).map(|i| 0.6 + (i % 48) as f32 / 20.0).collect(),
    };
    let lens = Lens { mode: LensMode::Depth, focus: 1.2, dof: 0.0, size: 12.0, maximum: 12.0, render_scale: 1.0 };
    for edges in [Edges::Gather, Edges::Layered] {
        let base = RenderOptions { lens, edges, ..RenderOptions::default() };
        let mut want = Image::new(48, 36, 4);
        engine.blur_depth_with(&bundle, &lens, edges, &depth.view(), 0, &src.view(), &mut want.view_mut()).unwrap();
        // Off: rotation a whole turn, a bloom threshold without gain, gamma 1.
        for o in [base, RenderOptions { rotation: 360.0, bloom_threshold: 0.1, ..base }] {
            let mut got = Image::new(48, 36, 4);
            engine.render(Some(&bundle), &o, &src.view(), Some(&depth.view()), &mut got.view_mut()).unwrap();
            assert_eq!(got.data, want.data, "{edges:?}");
        }
    }
    let mut want = Image::new(48, 36, 4);
    engine.blur_fixed(&bundle, 8.0, &src.view(), &mut want.view_mut()).unwrap();
    let mut got = src.clone();
    engine.render_in_place(Some(&bundle), &RenderOptions::default(), &mut got.view_mut()).unwrap();
    assert_eq!(got.data, want.data);
}

/// Bloom and gamma as a NumPy user would write them, in f64: linearise, boost, convolve with
/// the complex's dense PSF on the edge-replicated frame, re-encode.
fn highlights_reference(src: &Image, bundle: &Bundle, r: f64, threshold: f64, gain: f64, gamma: f64) -> Image {
    let mut pre = src.clone();
    for px in pre.data.chunks_exact_mut(4) {
        let lin: Vec<f64> = px[..3].iter().map(|&v| (v as f64).powf(gamma)).collect();
        let y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
        let k = if gain > 0.0 && y > threshold { (y + gain * (y - threshold)) / y } else { 1.0 };
        for (o, l) in px.iter_mut().zip(&lin) {
            *o = (l * k) as f32;
        }
    }
    let AtRadius::Complex(c) = bundle.at_radius(r) else { panic!("r={r} blurs") };
    let mut out = convolve_clamped(&pre.view(), &complex_psf(&c));
    for px in out.data.chunks_exact_mut(4) {
        for v in &mut px[..3] {
            *v = (v.max(0.0) as f64).powf(1.0 / gamma) as f32;
        }
    }
    out
}

#[test]
fn bloom_and_gamma_match_a_reference_on_a_small_frame() {
    let engine = Engine::new(1).unwrap();
    let bundle = random_bundle(11, 2, 8, &[2.0, 4.0]);
    let (w, h) = (14, 11);
    let mut src = test_image(w, h, 4, 21);
    // Two highlights over the threshold, one just under.
    for (x, y, v) in [(3, 3, 1.0f32), (9, 6, 0.95), (6, 8, 0.7)] {
        src.data[(y * w + x) * 4..(y * w + x) * 4 + 3].fill(v);
    }
    for (threshold, gain, gamma) in [(0.8, 4.0, 1.0), (0.5, 0.0, 2.2), (0.6, 8.0, 2.2)] {
        let o = RenderOptions {
            radius: 3.0,
            bloom_threshold: threshold,
            bloom_gain: gain,
            gamma,
            ..RenderOptions::default()
        };
        let mut got = Image::new(w, h, 4);
        engine.render(Some(&bundle), &o, &src.view(), None, &mut got.view_mut()).unwrap();
        let want = highlights_reference(&src, &bundle, 3.0, threshold, gain, gamma);
        let worst = got.data.iter().zip(&want.data).map(|(a, b)| (a - b).abs() / b.abs().max(1.0)).fold(0.0, f32::max);
        assert!(worst < 2e-5, "threshold {threshold} gain {gain} gamma {gamma}: worst {worst}");
        // In place, the same.
        let mut inplace = src.clone();
        engine.render_in_place(Some(&bundle), &o, &mut inplace.view_mut()).unwrap();
        assert_eq!(inplace.data, got.data);
    }
    // Bloom brightens: the boosted highlight carries more light into its surroundings.
    let plain = highlights_reference(&src, &bundle, 3.0, 0.8, 0.0, 1.0);
    let boosted = highlights_reference(&src, &bundle, 3.0, 0.8, 4.0, 1.0);
    assert!(boosted.data.iter().sum::<f32>() > plain.data.iter().sum::<f32>() + 1.0);
}

/// A depth image of three planes: z = 1 left, 2 middle, 4 right.
fn planes(w: usize, h: usize) -> Image {
    let data = (0..w * h)
        .map(|i| match (i % w) * 3 / w {
            0 => 1.0,
            1 => 2.0,
            _ => 4.0,
        })
        .collect();
    Image { width: w, height: h, channels: 1, data }
}

#[test]
fn focus_from_a_point_equals_focus_set_by_hand() {
    let engine = Engine::new(2).unwrap();
    let bundle = locate("disc").unwrap();
    let (w, h) = (60, 24);
    let src = test_image(w, h, 4, 3);
    let mut depth = planes(w, h);
    // Noise in the window: the median, not the value under the point, is the focus.
    depth.data[12 * w + 30] = 9.0;
    depth.data[11 * w + 31] = f32::NAN;
    let lens = Lens { mode: LensMode::Depth, focus: 1.0, dof: 0.0, size: 6.0, maximum: 6.0, render_scale: 1.0 };
    let depth_scaled = Image { data: depth.data.iter().map(|z| z * 0.2).collect(), ..depth.clone() };
    for (point, invert) in [([30.4, 12.9], false), ([1.0, 1.0], false), ([58.5, 20.0], false), ([30.0, 12.0], true)] {
        let depth = if invert { &depth_scaled } else { &depth };
        let o = RenderOptions { lens, focus_at: Some(point), invert_depth: invert, ..RenderOptions::default() };
        let mut got = Image::new(w, h, 4);
        engine.render(Some(&bundle), &o, &src.view(), Some(&depth.view()), &mut got.view_mut()).unwrap();
        // The median by hand: the 5×5 window around the point's pixel, inside the frame, finite.
        let (cx, cy) = (point[0].floor() as i64, point[1].floor() as i64);
        let mut window: Vec<f32> = Vec::new();
        for y in (cy - 2).max(0)..=(cy + 2).min(h as i64 - 1) {
            for x in (cx - 2).max(0)..=(cx + 2).min(w as i64 - 1) {
                let z = depth.data[y as usize * w + x as usize];
                let z = if invert { 1.0 - z } else { z };
                if z.is_finite() {
                    window.push(z);
                }
            }
        }
        window.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let focus = window[(window.len() - 1) / 2] as f64;
        let by_hand = RenderOptions { lens: Lens { focus, ..lens }, invert_depth: invert, ..RenderOptions::default() };
        let mut want = Image::new(w, h, 4);
        engine.render(Some(&bundle), &by_hand, &src.view(), Some(&depth.view()), &mut want.view_mut()).unwrap();
        assert_eq!(got.data, want.data, "point {point:?}: focus {focus}");
    }
}

#[test]
fn depth_slices_colour_each_plane_by_its_slice_and_edges_white() {
    let engine = Engine::new(1).unwrap();
    let (w, h) = (30, 6);
    let mut src = Image::new(w, h, 4);
    src.data.iter_mut().for_each(|v| *v = 1.0);
    let depth = planes(w, h);
    // focus 2, size 8: z = 1 → CoC −8·(1−2)/1 = 8 in front, z = 2 → 0, z = 4 → 4 behind.
    let lens = Lens { mode: LensMode::Depth, focus: 2.0, dof: 0.0, size: 8.0, maximum: 32.0, render_scale: 1.0 };
    let o = RenderOptions { lens, output: Output::DepthSlices, ..RenderOptions::default() };
    let mut out = Image::new(w, h, 4);
    engine.render(None, &o, &src.view(), Some(&depth.view()), &mut out.view_mut()).unwrap();
    // The ladder for CoC −8 … 4: centres −8, −4, −1, 0, 1, 4 (in-focus slice at index 3).
    let px = |x: usize| &out.data[(2 * w + x) * 4..(2 * w + x) * 4 + 4];
    assert_eq!(px(3)[..3], slice_colour(0, 3)); // z = 1: the nearest slice
    assert_eq!(px(15)[..3], slice_colour(3, 3)); // in focus
    assert_eq!(px(25)[..3], slice_colour(5, 3)); // z = 4: the farthest slice
    assert_eq!(px(9), [1.0; 4]); // the edge between the near and the in-focus plane
    assert_eq!(px(3)[3], 1.0);
    assert!(slice_colour(0, 3) != slice_colour(5, 3) && slice_colour(3, 3) != slice_colour(5, 3));
}

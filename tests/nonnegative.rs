//! A lens never makes light negative: whatever bundle the loader accepts — including ones with
//! negative taps, whose PSF rings below zero — a non-negative frame renders to a non-negative
//! frame, through every path (fixed, gather, layered).

mod common;
use common::*;

use sparsebokeh::{Bundle, Edges, Engine, Image, Lens, LensMode, RenderOptions};

/// A random bundle with sharpening taps (some weights negative, each layer summing to 1),
/// round-tripped through the loader's validation.
fn signed_bundle(seed: u64) -> Bundle {
    let mut b = random_bundle(seed, 3, 16, &[1.0, 2.0, 4.0, 8.0, 16.0]);
    let mut rng = Rng(seed ^ 0x5eed);
    for e in &mut b.basis {
        for l in &mut e.complex.layers {
            for t in l.iter_mut() {
                if rng.f64() < 0.3 {
                    t.w *= -0.5;
                }
            }
            let s: f32 = l.iter().map(|t| t.w).sum();
            l.iter_mut().for_each(|t| t.w /= s);
        }
    }
    Bundle::from_value(&b.to_value()).expect("the loader accepts signed taps")
}

#[test]
fn non_negative_frames_stay_non_negative() {
    let engine = Engine::new(2).unwrap();
    for seed in 0..6u64 {
        let bundle = signed_bundle(seed);
        assert!(bundle.basis.iter().any(|e| e.complex.layers.iter().flatten().any(|t| t.w < 0.0)));
        let (w, h) = (72, 56);
        let mut rng = Rng(seed + 100);
        let mut img = Image::new(w, h, 4);
        for (i, v) in img.data.iter_mut().enumerate() {
            // HDR highlights on a dim frame, alpha 1.
            *v = if i % 4 == 3 {
                1.0
            } else if rng.f64() < 0.02 {
                40.0 * rng.f64() as f32
            } else {
                0.1 * rng.f64() as f32
            };
        }
        let depth = Image {
            width: w,
            height: h,
            channels: 1,
            data: (0..w * h)
                .map(|i| if (i % w / 9 + i / w / 7) % 3 == 0 { 1.5 } else { 6.0 + (i % 5) as f32 })
                .collect(),
        };
        let lens = Lens { mode: LensMode::Depth, focus: 3.0, dof: 0.0, size: 14.0, maximum: 14.0, render_scale: 1.0 };
        for (edges, with_depth) in [(Edges::Gather, false), (Edges::Gather, true), (Edges::Layered, true)] {
            let options = RenderOptions { lens, edges, radius: 7.5, ..RenderOptions::default() };
            let mut out = Image::new(w, h, 4);
            let d = depth.view();
            engine.render(Some(&bundle), &options, &img.view(), with_depth.then_some(&d), &mut out.view_mut()).unwrap();
            let min = out.data.iter().copied().fold(f32::INFINITY, f32::min);
            assert!(min >= 0.0, "seed {seed} {edges:?} depth {with_depth}: minimum {min}");
        }
        // In place, too.
        let mut copy = img.clone();
        let options = RenderOptions { radius: 7.5, ..RenderOptions::default() };
        engine.render_in_place(Some(&bundle), &options, &mut copy.view_mut()).unwrap();
        assert!(copy.data.iter().all(|&v| v >= 0.0), "seed {seed}: in place");
    }
}

/// A frame with negative values (signed data) is left as the cascade gives it: the clamp applies
/// only to light.
#[test]
fn signed_frames_are_not_clamped() {
    let engine = Engine::new(2).unwrap();
    let bundle = signed_bundle(9);
    let (w, h) = (40, 30);
    let img = Image {
        width: w,
        height: h,
        channels: 1,
        data: (0..w * h).map(|i| if i % 7 == 0 { -1.0 } else { 0.5 }).collect(),
    };
    let options = RenderOptions { radius: 6.0, ..RenderOptions::default() };
    let mut out = Image::new(w, h, 1);
    engine.render(Some(&bundle), &options, &img.view(), None, &mut out.view_mut()).unwrap();
    assert!(out.data.iter().any(|&v| v < 0.0));
}

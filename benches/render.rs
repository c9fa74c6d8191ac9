//! Render benches: 1920×1080 RGBA f32, L=3, N=32 (the shipped disc bundle), fixed
//! radius 32 and depth-driven 0–32 px, beside the dense reference on a crop scaled to the frame.

use criterion::{criterion_group, criterion_main, Criterion};
use sparsebokeh::psf::complex_psf;
use sparsebokeh::reference::convolve_clamped;
use sparsebokeh::AtRadius;
use sparsebokeh::{Engine, Image, Lens, LensMode};
use std::time::Instant;

const W: usize = 1920;
const H: usize = 1080;

fn frame() -> (Image, Image) {
    let scene = sparsebokeh::scene::city(W, H);
    (scene.color, Image { width: W, height: H, channels: 1, data: scene.depth })
}

fn bench_render(c: &mut Criterion) {
    let bundle = sparsebokeh::locate("disc").expect("the shipped disc bundle (bundle/kernels/disc.json)");
    let (img, depth) = frame();
    let engine = Engine::new(0).unwrap();
    let mut out = Image::new(W, H, 4);
    let mut g = c.benchmark_group("render_1080p_rgba");
    g.sample_size(10);
    g.bench_function("fixed_r32", |b| {
        b.iter(|| engine.blur_fixed(&bundle, 32.0, &img.view(), &mut out.view_mut()).unwrap())
    });
    // CoC 0–32 px over the scene (focus on the middle plane).
    let lens = Lens { mode: LensMode::Depth, focus: 5.0, dof: 0.0, size: 32.0, maximum: 32.0, render_scale: 1.0 };
    g.bench_function("depth_0_32", |b| {
        b.iter(|| engine.blur_depth(&bundle, &lens, &depth.view(), 0, &img.view(), &mut out.view_mut()).unwrap())
    });
    g.finish();

    // The dense reference on a 96×54 crop, scaled by pixel count (printed, not a criterion
    // sample: one crop takes seconds).
    let AtRadius::Complex(cx) = bundle.at_radius(32.0) else { unreachable!() };
    let psf = complex_psf(&cx);
    let crop = Image::from_view(
        &sparsebokeh::ImageView::new(&img.data[..W * 54 * 4], 96, 54, 4, (W * 4 * 4) as isize).unwrap(),
    );
    let t = Instant::now();
    let _ = convolve_clamped(&crop.view(), &psf);
    let secs = t.elapsed().as_secs_f64() * (W * H) as f64 / (96.0 * 54.0);
    println!(
        "dense reference (f64 direct convolution, {}×{} PSF), scaled to 1920×1080: {:.0} ms",
        psf.side(),
        psf.side(),
        secs * 1e3
    );
}

criterion_group!(benches, bench_render);
criterion_main!(benches);

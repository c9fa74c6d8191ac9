//! `sparsebokeh demo`: a synthetic scene blurred with a shipped bundle, before and after.

use super::common::{failed, load_bundle, usage, Fail};
use clap::Args;
use sparsebokeh::io;
use sparsebokeh::Edges;
use sparsebokeh::{Engine, Image, Lens, LensMode, RenderOptions};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Folder for before.png, after.png (layered), after_gather.png, after_anamorphic.png
    /// (aspect 1.6, bloom threshold 1, gain 2), depth.png and coc.png.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Bundle to blur with (a shipped name or a .json path).
    #[arg(long, default_value = "hexagon")]
    pub bundle: String,
    /// Frame width and height.
    #[arg(long, default_value_t = 960)]
    pub width: usize,
    #[arg(long, default_value_t = 540)]
    pub height: usize,
}

pub fn run(a: &DemoArgs) -> Result<(), Fail> {
    io::check_frame_size(a.width as u64, a.height as u64)
        .map_err(|e| usage(format!("--width {} --height {}: the demo frame {e}", a.width, a.height)))?;
    let bundle = load_bundle("--bundle", &a.bundle)?;
    std::fs::create_dir_all(&a.out).map_err(|e| failed(format!("{}: {e}", a.out.display())))?;
    let scene = sparsebokeh::scene::city_with_lights(a.width, a.height);
    let (w, h) = (a.width, a.height);
    let depth = Image { width: w, height: h, channels: 1, data: scene.depth.clone() };
    let lens = Lens { mode: LensMode::Depth, focus: 5.0, dof: 0.0, size: 14.0, maximum: 32.0, render_scale: 1.0 };
    let engine = Engine::new(0).map_err(|e| failed(e.to_string()))?;
    // The same request with each depth-edge treatment: (image, milliseconds).
    let render = |options: RenderOptions| -> Result<(Image, f64), Fail> {
        let mut out = Image::new(w, h, 4);
        let t = std::time::Instant::now();
        engine
            .render(Some(&bundle), &options, &scene.color.view(), Some(&depth.view()), &mut out.view_mut())
            .map_err(|e| failed(e.to_string()))?;
        Ok((out, t.elapsed().as_secs_f64() * 1e3))
    };
    let base = RenderOptions { lens, ..RenderOptions::default() };
    let (after, ms) = render(RenderOptions { edges: Edges::Layered, ..base })?;
    let (after_gather, gather_ms) = render(RenderOptions { edges: Edges::Gather, ..base })?;
    // Lens character: anamorphic ovals (1.6 wide for 1 high) and highlights above luminance 1
    // (the city lights, not the lit windows or tiles) boosted before the blur.
    let anamorphic = RenderOptions { aspect: 1.6, rotation: 0.0, bloom_threshold: 1.0, bloom_gain: 2.0, ..base };
    let (after_anamorphic, _) = render(anamorphic)?;
    let (coc, _) = lens.coc_map(&depth.view(), 0);
    let coc = Image { width: w, height: h, channels: 1, data: coc };
    let write = |name: &str, img: &Image, data_scale: Option<f32>| {
        let p = a.out.join(name);
        match data_scale {
            None => io::write(&p, img),
            Some(s) => io::write_data(&p, img, s),
        }
        .map_err(|e| failed(e.to_string()))?;
        println!("wrote {}", p.display());
        Ok::<(), Fail>(())
    };
    write("before.png", &scene.color, None)?;
    write("after.png", &after, None)?;
    write("after_gather.png", &after_gather, None)?;
    write("after_anamorphic.png", &after_anamorphic, None)?;
    // depth.png: near is white, far is black (1/z scaled so z = 1 is white).
    let inv = Image { width: w, height: h, channels: 1, data: scene.depth.iter().map(|z| 1.0 / z.max(1.0)).collect() };
    write("depth.png", &inv, Some(1.0))?;
    write("coc.png", &coc, Some(lens.maximum as f32))?;
    println!(
        "{w}×{h} depth-driven lens blur with bundle `{}` (L={}, N={}): layered {ms:.0} ms, gather {gather_ms:.0} ms on {} threads; focus on z = {}",
        bundle.name,
        bundle.layers,
        bundle.taps,
        engine.threads(),
        lens.focus
    );
    Ok(())
}

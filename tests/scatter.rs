//! Scatter semantics (every light spreads with its own circle of confusion) against exact
//! references: scenes of fronto-parallel planes whose true defocused image is the back-to-front
//! over-composite of each plane blurred at the plane's own CoC: surfaces by the complex's dense
//! PSF, lights (sparse planes) by the aperture's own shape, as a lens draws them.
//! Small HDR lights are measured one by one: the radius at half their peak, the 10–90 % width of
//! their rim and their energy, each against the same measure of the reference.

mod common;
use common::*;

use sparsebokeh::psf::{complex_psf, Grid};
use sparsebokeh::reference::convolve_clamped;
use sparsebokeh::shapes::Shape;
use sparsebokeh::{locate, AtRadius, Bundle, Edges, Engine, Image, Lens, LensMode};

/// The shipped disc: the kernel users see on highlights.
fn disc() -> Bundle {
    locate("disc").expect("the shipped disc bundle")
}

fn lens(focus: f64, size: f64) -> Lens {
    Lens { mode: LensMode::Depth, focus, dof: 0.0, size, maximum: 40.0, render_scale: 1.0 }
}

/// The depth at which `lens` gives signed CoC `r` (r > 0 behind the focal plane, r < 0 in front).
fn depth_for(lens: &Lens, r: f64) -> f32 {
    // r = size·(z − f)/z  ⇒  z = size·f/(size − r)
    (lens.size * lens.focus / (lens.size - r)) as f32
}

fn psf(bundle: &Bundle, r: f64) -> Option<Grid> {
    match bundle.at_radius(r) {
        AtRadius::PassThrough => None,
        AtRadius::Complex(c) => Some(complex_psf(&c)),
    }
}

/// A plane blurred by the dense PSF at radius `r` (edge-replicated borders).
fn blur_plane(bundle: &Bundle, plane: &Image, r: f64) -> Image {
    match psf(bundle, r) {
        None => plane.clone(),
        Some(k) => convolve_clamped(&plane.view(), &k),
    }
}

/// The aperture itself at radius `r`: the bundle's target rasterised (what a lens draws, and
/// what the fit approximates), or `None` at r ≤ 0.5.
fn aperture(bundle: &Bundle, r: f64) -> Option<Grid> {
    let shape = Shape::from_json(&bundle.target, std::path::Path::new(".")).unwrap();
    (r > 0.5).then(|| shape.rasterize(r).unwrap())
}

/// A sparse plane (most pixels transparent black: lights) scattered with the aperture's own
/// shape at `r` (the engine draws small features and highlights with it), where each non-zero
/// pixel's light lands inside the frame (no border handling needed).
fn scatter_plane(bundle: &Bundle, plane: &Image, r: f64) -> Image {
    let Some(k) = aperture(bundle, r) else { return plane.clone() };
    let (w, h) = (plane.width as i64, plane.height as i64);
    let mut out = Image::new(plane.width, plane.height, 4);
    for y in 0..h {
        for x in 0..w {
            let i = ((y * w + x) * 4) as usize;
            if plane.data[i..i + 4].iter().all(|&v| v == 0.0) {
                continue;
            }
            for dy in -k.half..=k.half {
                for dx in -k.half..=k.half {
                    let (u, v) = (x + dx as i64, y + dy as i64);
                    let kv = k.get(dx, dy) as f32;
                    if kv != 0.0 && u >= 0 && v >= 0 && u < w && v < h {
                        let o = ((v * w + u) * 4) as usize;
                        for ch in 0..4 {
                            out.data[o + ch] += kv * plane.data[i + ch];
                        }
                    }
                }
            }
        }
    }
    out
}

/// `front` over `back` (premultiplied).
fn over(front: &Image, back: &Image) -> Image {
    let mut out = back.clone();
    for (o, f) in out.data.chunks_exact_mut(4).zip(front.data.chunks_exact(4)) {
        let a = f[3];
        for ch in 0..4 {
            o[ch] = f[ch] + (1.0 - a) * o[ch];
        }
    }
    out
}

/// A light: a square of `side` px with top-left corner `(x, y)` and linear colour `rgb`.
#[derive(Clone, Copy, Debug)]
struct Light {
    x: usize,
    y: usize,
    side: usize,
    rgb: [f32; 3],
}

impl Light {
    fn centre(&self) -> (f64, f64) {
        let c = (self.side as f64 - 1.0) / 2.0;
        (self.x as f64 + c, self.y as f64 + c)
    }
    fn pixels(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (self.y..self.y + self.side).flat_map(move |y| (self.x..self.x + self.side).map(move |x| (x, y)))
    }
}

/// Lights of 1–5 px and HDR values 5–50 on a grid with `spacing` px between centres and
/// `margin` px to the frame's border: (lights, width, height).
fn light_grid(cols: usize, rows: usize, spacing: usize, margin: usize, seed: u64) -> (Vec<Light>, usize, usize) {
    let mut rng = Rng(seed);
    let mut lights = Vec::new();
    for j in 0..rows {
        for i in 0..cols {
            let side = 1 + (i + 2 * j) % 5;
            let k = rng.range(5.0, 50.0) as f32;
            let hue = rng.f64() as f32;
            let rgb = [k, k * (0.5 + 0.4 * hue), k * (0.3 + 0.5 * (1.0 - hue))];
            let (cx, cy) = (margin + i * spacing, margin + j * spacing);
            lights.push(Light { x: cx - side / 2, y: cy - side / 2, side, rgb });
        }
    }
    (lights, 2 * margin + (cols - 1) * spacing, 2 * margin + (rows - 1) * spacing)
}

/// The plane of the lights (opaque where a light is, transparent black elsewhere).
fn light_plane(lights: &[Light], w: usize, h: usize) -> Image {
    let mut img = Image::new(w, h, 4);
    for l in lights {
        for (x, y) in l.pixels() {
            let i = (y * w + x) * 4;
            img.data[i..i + 4].copy_from_slice(&[l.rgb[0], l.rgb[1], l.rgb[2], 1.0]);
        }
    }
    img
}

/// A textured opaque background with values in [0, 0.6].
fn background(w: usize, h: usize, seed: u64) -> Image {
    let t = test_image(w, h, 3, seed);
    let mut img = Image::new(w, h, 4);
    for i in 0..w * h {
        for ch in 0..3 {
            img.data[i * 4 + ch] = 0.6 * t.data[i * 3 + ch] * [0.4, 0.6, 1.0][ch];
        }
        img.data[i * 4 + 3] = 1.0;
    }
    img
}

/// The frame (front-most colour) and depth of lights at `z_lights` over a background whose depth
/// is `bg_depth(x, y)`; each light's depth is `light_depth(light)`.
fn flatten(
    lights: &[Light],
    bg: &Image,
    bg_depth: &dyn Fn(usize, usize) -> f32,
    light_z: &dyn Fn(&Light) -> f32,
) -> (Image, Image) {
    let (w, h) = (bg.width, bg.height);
    let mut color = bg.clone();
    let mut depth =
        Image { width: w, height: h, channels: 1, data: (0..w * h).map(|i| bg_depth(i % w, i / w)).collect() };
    for l in lights {
        let z = light_z(l);
        for (x, y) in l.pixels() {
            let i = y * w + x;
            color.data[i * 4..i * 4 + 4].copy_from_slice(&[l.rgb[0], l.rgb[1], l.rgb[2], 1.0]);
            depth.data[i] = z;
        }
    }
    (color, depth)
}

fn render(engine: &Engine, bundle: &Bundle, lens: &Lens, edges: Edges, color: &Image, depth: &Image) -> Image {
    let mut out = Image::new(color.width, color.height, 4);
    engine.blur_depth_with(bundle, lens, edges, &depth.view(), 0, &color.view(), &mut out.view_mut()).unwrap();
    out
}

/// What one light became: radius at half its peak, 10–90 % rim width, energy (sum of RGB).
#[derive(Clone, Copy, Debug)]
struct Spot {
    half: f64,
    rim: f64,
    energy: f64,
    centroid: (f64, f64),
}

/// Measures the light centred at `c` in `d` (the render minus the same render without the
/// light), within `reach` px: the azimuthal mean luminance profile in 1-px rings, its plateau
/// (median inside 0.6 of the light's own radius `r_own`), and where it falls through 90 %, 50 %
/// and 10 % of the plateau (outermost crossings, linear between rings).
fn measure(d: &Image, c: (f64, f64), r_own: f64, reach: f64) -> Spot {
    let w = d.width;
    let n = reach.ceil() as usize + 2;
    let (mut sum, mut cnt) = (vec![0.0f64; n], vec![0usize; n]);
    let (mut energy, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    let (x0, x1) = ((c.0 - reach).floor().max(0.0) as usize, ((c.0 + reach).ceil() as usize).min(w - 1));
    let (y0, y1) = ((c.1 - reach).floor().max(0.0) as usize, ((c.1 + reach).ceil() as usize).min(d.height - 1));
    for y in y0..=y1 {
        for x in x0..=x1 {
            let rho = ((x as f64 - c.0).powi(2) + (y as f64 - c.1).powi(2)).sqrt();
            if rho > reach {
                continue;
            }
            let i = (y * w + x) * 4;
            let v: f64 = d.data[i..i + 3].iter().map(|&v| v as f64).sum();
            energy += v;
            mx += v * x as f64;
            my += v * y as f64;
            let k = rho.round() as usize;
            sum[k] += v;
            cnt[k] += 1;
        }
    }
    let profile: Vec<f64> = sum.iter().zip(&cnt).map(|(s, &n)| if n > 0 { s / n as f64 } else { 0.0 }).collect();
    let mut inner: Vec<f64> = profile[..=((0.6 * r_own).floor() as usize).max(1)].to_vec();
    inner.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let plateau = inner[inner.len() / 2];
    let crossing = |frac: f64| {
        let level = frac * plateau;
        let last = (0..profile.len()).rev().find(|&k| profile[k] >= level).unwrap_or(0);
        if last + 1 >= profile.len() {
            return last as f64;
        }
        let (a, b) = (profile[last], profile[last + 1]);
        last as f64 + (a - level) / (a - b).max(1e-30)
    };
    Spot { half: crossing(0.5), rim: crossing(0.1) - crossing(0.9), energy, centroid: (mx / energy, my / energy) }
}

fn minus(a: &Image, b: &Image) -> Image {
    let mut d = a.clone();
    d.data.iter_mut().zip(&b.data).for_each(|(x, y)| *x -= y);
    d
}

/// Pixels within `reach` of a light.
fn near_lights(lights: &[Light], w: usize, h: usize, reach: f64) -> Vec<bool> {
    (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f64, (i / w) as f64);
            lights.iter().any(|l| {
                let (cx, cy) = l.centre();
                (x - cx).hypot(y - cy) <= reach + l.side as f64 / 2.0
            })
        })
        .collect()
}

/// The lights' own contribution to the reference and to our render: each minus the same scene
/// with the lights' pixels painted with the background (at the lights' depth).
fn light_only(
    bundle: &Bundle,
    lens: &Lens,
    lights: &[Light],
    bg: &Image,
    (frame, depth): (&Image, &Image),
    (r_light, r_bg): (f64, f64),
    (truth, ours): (&Image, &Image),
) -> (Image, Image) {
    let (w, h) = (bg.width, bg.height);
    let mut patch = Image::new(w, h, 4);
    for l in lights {
        for (x, y) in l.pixels() {
            let i = (y * w + x) * 4;
            patch.data[i..i + 4].copy_from_slice(&bg.data[i..i + 4]);
        }
    }
    let truth_patch = over(&scatter_plane(bundle, &patch, r_light), &blur_plane(bundle, bg, r_bg));
    // The frame as rendered (a marker included), the lights' pixels painted with the background.
    let mut color = frame.clone();
    for l in lights {
        for (x, y) in l.pixels() {
            let i = (y * w + x) * 4;
            color.data[i..i + 4].copy_from_slice(&bg.data[i..i + 4]);
        }
    }
    let engine = Engine::new(2).unwrap();
    let ours_patch = render(&engine, bundle, lens, Edges::Layered, &color, depth);
    (minus(truth, &truth_patch), minus(ours, &ours_patch))
}

/// Lights at signed CoC `s_light` over a textured plane at `s_bg` (`lens` focused so that
/// both are what they say): each light against the reference, the band's RMS against gather's;
/// returns our render, the reference and the lights.
/// With `marker`, a dim pixel (1e-3) at the frame's corner lies at that CoC, so the slices of the
/// lights are not at their own radius (a ladder ends at its largest CoC): their discs are the
/// blend of the two slices around them.
fn lights_over_plane(
    lens: &Lens,
    s_light: f64,
    s_bg: f64,
    seed: u64,
    marker: Option<f64>,
) -> (Image, Image, Vec<Light>) {
    let bundle = disc();
    let (r_light, r_bg) = (s_light.abs(), s_bg.abs());
    let (z1, z2) = (depth_for(lens, s_light), depth_for(lens, s_bg));
    let spacing = (2.0 * r_light.max(r_bg)) as usize + 12;
    let (lights, w, h) = light_grid(3, 2, spacing, r_light.max(r_bg) as usize + 8, seed);
    let bg = background(w, h, seed + 1);
    let (mut color, mut depth) = flatten(&lights, &bg, &|_, _| z2, &|_| z1);
    if let Some(m) = marker {
        color.data[..4].copy_from_slice(&[1e-3, 1e-3, 1e-3, 1.0]);
        depth.data[0] = depth_for(lens, m);
    }
    let bg_blur = blur_plane(&bundle, &bg, r_bg);
    let truth = over(&scatter_plane(&bundle, &light_plane(&lights, w, h), r_light), &bg_blur);
    let engine = Engine::new(2).unwrap();
    let ours = render(&engine, &bundle, lens, Edges::Layered, &color, &depth);
    let gather = render(&engine, &bundle, lens, Edges::Gather, &color, &depth);
    // Each light's own contribution: the render minus the same render with the lights' pixels
    // showing the background's colour (same depth), and the same in the reference.
    let (d_truth, d_ours) = light_only(&bundle, lens, &lights, &bg, (&color, &depth), (r_light, r_bg), (&truth, &ours));
    // The whole of each light's PSF (its rim and the kernel's tail), short of its neighbours.
    let reach = r_light + 8.0;
    for l in &lights {
        let t = measure(&d_truth, l.centre(), r_light, reach);
        let o = measure(&d_ours, l.centre(), r_light, reach);
        eprintln!("light {}px CoC {s_light} over {s_bg}: truth {t:?}\n    ours {o:?}", l.side);
        assert!((o.half - t.half).abs() <= 0.5, "half-peak radius {} vs {}", o.half, t.half);
        assert!((o.rim - t.rim).abs() <= 1.0, "rim width {} vs {}", o.rim, t.rim);
        assert!((o.energy / t.energy - 1.0).abs() <= 0.01, "energy {} vs {}", o.energy, t.energy);
    }
    let band = near_lights(&lights, w, h, r_light.max(r_bg) + 2.0);
    let (band_o, band_g) = (rms(&ours, &truth, &|i| band[i]), rms(&gather, &truth, &|i| band[i]));
    eprintln!("band rms: layered {band_o:.5} gather {band_g:.5} ({:.1}x)", band_g / band_o);
    assert!(band_o * 4.0 <= band_g, "band rms {band_o} vs gather {band_g}");
    (ours, truth, lights)
}

/// Lights at CoC `r_light` before a textured plane at `r_bg`, both behind the focal plane.
fn night_lights(r_light: f64, r_bg: f64, seed: u64) {
    lights_over_plane(&lens(2.0, 48.0), r_light, r_bg, seed, None);
}

#[test]
fn night_lights_small_before_a_far_sky() {
    night_lights(14.0, 28.0, 1);
}

#[test]
fn night_lights_close_in_radius_to_their_background() {
    night_lights(22.0, 28.0, 2);
}

#[test]
fn night_lights_small_radii() {
    night_lights(8.0, 20.0, 3);
}

#[test]
fn night_lights_large_radii() {
    night_lights(30.0, 40.0, 4);
}

/// Radii between two slice centres: the light's disc is the blend of its two neighbours.
#[test]
fn night_lights_between_slice_radii() {
    lights_over_plane(&lens(2.0, 48.0), 17.4, 23.3, 5, Some(21.0));
    lights_over_plane(&lens(2.0, 48.0), 11.6, 35.7, 6, Some(14.0));
    lights_over_plane(&lens(2.0, 48.0), 25.5, 36.0, 12, Some(31.0));
}

/// Near-field bokeh: lights in front of the focal plane over a sharp background; away from the
/// lights' discs the background is the sharp background (plus the far tail of the lights' PSF,
/// as in the reference; the layered band ends where at most 0.1 % of a light's PSF mass lies
/// beyond it, which for HDR lights of value 50 is up to ~1e-3 of a pixel).
#[test]
fn lights_in_front_of_the_focal_plane_over_a_sharp_background() {
    let lens = lens(4.0, 48.0);
    for (s_light, seed) in [(-12.0, 7), (-25.5, 8)] {
        let (ours, truth, lights) = lights_over_plane(&lens, s_light, 0.0, seed, Some(s_light - 2.5));
        // A disc between two slices is up to 1 px wider than the light's own, plus its rim.
        let near = near_lights(&lights, ours.width, ours.height, -s_light + 5.0);
        // The dim marker at the corner is not in the reference: its own disc is left out.
        let marker = |i: usize| ((i % ours.width) as f64).hypot((i / ours.width) as f64) <= -s_light + 8.0;
        let away = (0..ours.width * ours.height)
            .filter(|&i| !near[i] && !marker(i))
            .map(|i| max_abs_diff(&ours.data[i * 4..i * 4 + 4], &truth.data[i * 4..i * 4 + 4]))
            .fold(0.0f32, f32::max);
        eprintln!("background away from the lights: max difference to the reference {away}");
        assert!(away <= 1e-3, "the sharp background is {away} off away from the lights");
    }
}

/// Lights embedded in a receding ground plane (a continuous depth ramp, each light at the depth
/// of the ground where it lies): each light keeps its own radius; without the lights, layered
/// and gather agree on the ramp.
#[test]
fn lights_on_a_receding_ground_plane() {
    let bundle = disc();
    let lens = lens(2.0, 48.0);
    let (lights, w, h) = light_grid(3, 3, 90, 44, 9);
    let ground = background(w, h, 10);
    // z from 3 (CoC 16) at the top to 12 (CoC 40) at the bottom.
    let z_at = |y: usize| 3.0 + 9.0 * y as f32 / (h - 1) as f32;
    let (color, depth) = flatten(&lights, &ground, &|_, y| z_at(y), &|l| z_at(l.centre().1 as usize));
    let (_, ramp_depth) = flatten(&[], &ground, &|_, y| z_at(y), &|_| 0.0);
    let engine = Engine::new(2).unwrap();
    let ours = render(&engine, &bundle, &lens, Edges::Layered, &color, &depth);
    let (_, ours_patch) =
        (0, render(&engine, &bundle, &lens, Edges::Layered, &flatten(&[], &ground, &|_, _| 0.0, &|_| 0.0).0, &depth));
    let d_ours = minus(&ours, &ours_patch);
    for l in &lights {
        let r_own = lens.coc_radius(z_at(l.centre().1 as usize)).0 as f64;
        let mut own = Image::new(w, h, 4);
        for (x, y) in l.pixels() {
            let i = (y * w + x) * 4;
            for ch in 0..3 {
                own.data[i + ch] = l.rgb[ch] - ground.data[i + ch];
            }
        }
        let t = measure(&scatter_plane(&bundle, &own, r_own), l.centre(), r_own, r_own + 4.0);
        let o = measure(&d_ours, l.centre(), r_own, r_own + 4.0);
        eprintln!("light {}px on the ramp, own CoC {r_own:.2}: truth {t:?}\n    ours {o:?}", l.side);
        assert!((o.half - t.half).abs() <= 0.5, "half-peak radius {} vs {}", o.half, t.half);
    }
    // The same ramp without lights: layered equals gather.
    let plain = flatten(&[], &ground, &|_, _| 0.0, &|_| 0.0).0;
    let l = render(&engine, &bundle, &lens, Edges::Layered, &plain, &ramp_depth);
    let g = render(&engine, &bundle, &lens, Edges::Gather, &plain, &ramp_depth);
    let err = max_abs_diff(&l.data, &g.data);
    eprintln!("light-free ramp: layered vs gather max abs difference {err}");
    assert!(err <= 1e-3, "layered vs gather on the ramp: {err}");
}

/// A light receding (own CoC 17 → 22 px over 25 frames) while drifting 0.3 px per frame across
/// a dim sky at infinity: its energy stays the input's, its centroid steps 0.3 px, its radius
/// grows monotonically — a sequence does not flicker.
#[test]
fn a_moving_light_does_not_flicker() {
    let bundle = disc();
    let lens = Lens { maximum: 40.0, ..lens(2.0, 28.0) };
    let (w, h) = (120, 100);
    let sky = 0.02f32;
    let engine = Engine::new(2).unwrap();
    let (mut last_half, mut last_cx) = (0.0f64, None::<f64>);
    for f in 0..25 {
        let r = 17.0 + 5.0 * f as f64 / 24.0;
        let (x0, y0) = (50.0 + 0.3 * f as f64, 48.3);
        // A 3×3 px light, box-filtered onto the pixel grid.
        let cover = |x: usize, y: usize| {
            let ox = ((x as f64 + 1.0).min(x0 + 3.0) - (x as f64).max(x0)).max(0.0);
            let oy = ((y as f64 + 1.0).min(y0 + 3.0) - (y as f64).max(y0)).max(0.0);
            (ox * oy) as f32
        };
        let mut color = Image::new(w, h, 4);
        let mut plain = Image::new(w, h, 4);
        let mut depth = Image { width: w, height: h, channels: 1, data: vec![1e9; w * h] };
        let mut input_energy = 0.0f64;
        for y in 0..h {
            for x in 0..w {
                let (i, a) = (y * w + x, cover(x, y));
                let v = 30.0 * a + sky * (1.0 - a);
                color.data[i * 4..i * 4 + 4].copy_from_slice(&[v, v, v, 1.0]);
                plain.data[i * 4..i * 4 + 4].copy_from_slice(&[sky, sky, sky, 1.0]);
                if a > 0.0 {
                    depth.data[i] = depth_for(&lens, r);
                    input_energy += 3.0 * (v - sky) as f64;
                }
                if i == 0 {
                    // A marker at CoC 24 (a small feature: the sky is at 28), so the light's
                    // slices are not at its own radius but around it (a ladder ends at its
                    // largest CoC): its disc is the blend of the two slices around it.
                    depth.data[0] = depth_for(&lens, 24.0);
                }
            }
        }
        let ours = render(&engine, &bundle, &lens, Edges::Layered, &color, &depth);
        let base = render(&engine, &bundle, &lens, Edges::Layered, &plain, &depth);
        let o = measure(&minus(&ours, &base), (x0 + 1.5 - 0.5, y0 + 1.5 - 0.5), r, r + 6.0);
        eprintln!("frame {f}: CoC {r:.3} energy {:.5} of the input, {o:?}", o.energy / input_energy);
        assert!((o.energy / input_energy - 1.0).abs() <= 0.01, "frame {f}: energy {} vs {input_energy}", o.energy);
        if let Some(cx) = last_cx {
            assert!((o.centroid.0 - cx - 0.3).abs() <= 0.05, "frame {f}: centroid step {}", o.centroid.0 - cx);
        }
        assert!(o.half >= last_half - 0.02, "frame {f}: radius {} after {last_half}", o.half);
        (last_half, last_cx) = (o.half, Some(o.centroid.0));
    }
}

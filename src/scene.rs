//! Synthetic scenes for the demo, tests and benches: fronto-parallel textured planes at several
//! depths with small HDR highlights, flattened to a frame (colour of the front-most surface,
//! premultiplied linear RGBA) and its depth.

use crate::image::Image;

/// A flattened frame: colour and a depth (z) per pixel.
#[derive(Clone, Debug)]
pub struct Scene {
    pub color: Image,
    pub depth: Vec<f32>,
}

fn hash(x: u32, y: u32, seed: u32) -> f32 {
    let mut h = x.wrapping_mul(0x8da6_b343) ^ y.wrapping_mul(0xd816_3841) ^ seed.wrapping_mul(0xcb1a_b31f);
    h ^= h >> 13;
    h = h.wrapping_mul(0x5bd1_e995);
    h ^= h >> 15;
    (h & 0xff_ffff) as f32 / 16_777_216.0
}

/// The demo's scene: a far wall of windows with city-light highlights (z = 20), an in-focus
/// board of coloured tiles in the middle (z = 5), a ground ramp, foreground posts (z = 1.8) and a
/// red ball (z = 1.4).
/// Depth focus for the middle plane: 5.
pub fn city(width: usize, height: usize) -> Scene {
    let mut color = Image::new(width, height, 4);
    let mut depth = vec![0.0f32; width * height];
    let (wf, hf) = (width as f32, height as f32);
    for y in 0..height {
        for x in 0..width {
            let (u, v) = (x as f32 / wf, y as f32 / hf);
            // Far wall: dusk gradient with window grid and scattered HDR lights.
            let mut z = 20.0;
            let sky = [0.08 + 0.10 * (1.0 - v), 0.06 + 0.08 * (1.0 - v), 0.16 + 0.18 * (1.0 - v)];
            let mut rgb = sky;
            let (cx, cy) = (x / 12, y / 10);
            let window = (x % 12) < 6 && (y % 10) < 5 && v < 0.62 && hash(cx as u32, cy as u32, 1) < 0.18;
            if window {
                let warm = hash(cx as u32, cy as u32, 2);
                rgb = [0.30 + 0.25 * warm, 0.20 + 0.15 * warm, 0.08];
            }
            let lx = (x as u32) / 23;
            let ly = (y as u32) / 19;
            if v < 0.62 && hash(lx, ly, 3) < 0.30 {
                // one small light per cell, placed within it
                let px = lx * 23 + (hash(lx, ly, 4) * 20.0) as u32;
                let py = ly * 19 + (hash(lx, ly, 5) * 16.0) as u32;
                if x as u32 == px && y as u32 == py {
                    let k = 12.0 + 30.0 * hash(lx, ly, 6);
                    let hue = hash(lx, ly, 7);
                    rgb = [k * (0.9 + 0.1 * hue), k * (0.55 + 0.35 * hue), k * (0.25 + 0.6 * (1.0 - hue))];
                }
            }
            // Ground ramp in the lower part, receding from z = 2 (bottom) to z = 20 (horizon).
            if v > 0.62 {
                let t = (v - 0.62) / 0.38;
                z = 1.0 / (1.0 / 20.0 + t * (1.0 / 2.0 - 1.0 / 20.0));
                let stripe = ((z * 2.0).floor() as i32 % 2 == 0) as i32 as f32;
                rgb = [0.10 + 0.08 * stripe, 0.12 + 0.06 * stripe, 0.10 + 0.04 * stripe];
            }
            // Middle board: tiles in focus.
            if (0.30..0.70).contains(&u) && (0.22..0.58).contains(&v) {
                z = 5.0;
                let (tx, ty) = (((u - 0.30) * 40.0) as u32, ((v - 0.22) * 36.0) as u32);
                let h = hash(tx, ty, 8);
                let edge = ((u - 0.30) * 40.0).fract() < 0.08 || ((v - 0.22) * 36.0).fract() < 0.08;
                rgb = if edge {
                    [0.02, 0.02, 0.02]
                } else {
                    [0.2 + 0.7 * h, 0.2 + 0.6 * hash(tx, ty, 9), 0.2 + 0.7 * hash(tx, ty, 10)]
                };
            }
            // Foreground posts with a bright lamp on top.
            for &(pu, pw) in &[(0.10f32, 0.035f32), (0.86, 0.05)] {
                if (u - pu).abs() < pw / 2.0 && v > 0.18 {
                    z = 1.8;
                    let shade = 0.5 + 0.5 * ((u - pu) / pw * std::f32::consts::PI).cos();
                    rgb = [0.25 * shade + 0.05, 0.18 * shade + 0.04, 0.12 * shade + 0.03];
                }
                let (dx, dy) = ((u - pu) * wf, (v - 0.17) * hf);
                if dx * dx + dy * dy < 4.0 {
                    z = 1.8;
                    rgb = [25.0, 20.0, 12.0];
                }
            }
            // A foreground ball (z = 1.4) overlapping the in-focus board's corner: its blur must
            // spread over the sharp board and turn see-through at its rim.
            let (bx, by) = ((u - 0.66) * wf, (v - 0.60) * hf);
            let br = 0.10 * hf;
            if bx * bx + by * by < br * br {
                z = 1.4;
                let shade = 0.35 + 0.65 * (1.0 - (bx * bx + by * by) / (br * br)).sqrt();
                let stripe = if ((bx + by) / (0.25 * br)).floor() as i32 % 2 == 0 { 1.0 } else { 0.6 };
                rgb = [0.75 * shade * stripe, 0.12 * shade, 0.10 * shade];
            }
            let i = (y * width + x) * 4;
            color.data[i..i + 4].copy_from_slice(&[rgb[0], rgb[1], rgb[2], 1.0]);
            depth[y * width + x] = z;
        }
    }
    Scene { color, depth }
}

/// The demo's scene ([`city`]) with a row of small lights (2–4 px, HDR, warm and cold) at a
/// middle depth (z = 8) in front of the far wall: in a lens blur each keeps a disc of its own
/// radius with a crisp rim, smaller than the wall's discs behind it.
pub fn city_with_lights(width: usize, height: usize) -> Scene {
    let mut scene = city(width, height);
    let (wf, hf) = (width as f32, height as f32);
    let n = 13;
    for k in 0..n {
        let side = (2 + k % 3) as usize;
        let cx = (0.04 + 0.92 * (k as f32 + 0.5) / n as f32) * wf;
        let cy = (0.09 + 0.03 * hash(k, 0, 11)) * hf;
        let warm = hash(k, 0, 12);
        let k_hdr = 15.0 + 25.0 * hash(k, 0, 13);
        let rgb = [k_hdr * (0.7 + 0.3 * warm), k_hdr * 0.75, k_hdr * (1.0 - 0.6 * warm)];
        let (x0, y0) = (cx as usize - side / 2, cy as usize - side / 2);
        for y in y0..(y0 + side).min(height) {
            for x in x0..(x0 + side).min(width) {
                let i = y * width + x;
                scene.color.data[i * 4..i * 4 + 4].copy_from_slice(&[rgb[0], rgb[1], rgb[2], 1.0]);
                scene.depth[i] = 8.0;
            }
        }
    }
    scene
}

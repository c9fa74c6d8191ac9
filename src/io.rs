//! Image files (ARCHITECTURE.md "Borders and quantisation"): EXR (single- or multi-part, depth from a `Z`/`depth` channel or a
//! `Depth` part) and PNG 8/16-bit, chosen by extension; atomic writes.
//!
//! PNG colour is sRGB with straight alpha: it is read into linear, premultiplied RGBA and written
//! back the same way. EXR is linear and premultiplied already. Depth PNGs are read as data.

pub use crate::image::Image;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why an image file could not be read or written; the message names the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct IoError {
    pub path: String,
    pub reason: String,
}

fn err(path: &Path, reason: impl Into<String>) -> IoError {
    IoError { path: path.display().to_string(), reason: reason.into() }
}

/// A decoded frame: colour (1–4 channels) and, when the file had one, a depth channel.
#[derive(Clone, Debug)]
pub struct Frame {
    pub color: Image,
    pub depth: Option<Vec<f32>>,
    /// Every channel the file holds, as `part/channel` (for error messages).
    pub channels: Vec<String>,
}

/// What a file is read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Colour: PNG converted from sRGB to linear and premultiplied.
    Color,
    /// Data (depth): values as stored, PNG scaled to [0, 1].
    Data,
}

fn extension(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase()
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees a half-written file and a failure leaves no file behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    with_temp(path, |tmp| {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = extension(path);
    path.with_file_name(format!(".{name}.{}.tmp.{ext}", std::process::id()))
}

fn with_temp(path: &Path, write: impl FnOnce(&Path) -> std::io::Result<()>) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let result = write(&tmp).and_then(|_| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

pub fn srgb_to_linear(v: f32) -> f32 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

pub fn linear_to_srgb(v: f32) -> f32 {
    if v <= 0.0031308 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

/// Reads an image file by extension (`.exr`, `.png`).
pub fn read(path: &Path, role: Role) -> Result<Frame, IoError> {
    if !path.exists() {
        return Err(err(path, "no such file"));
    }
    match extension(path).as_str() {
        "exr" => read_exr(path),
        "png" => Ok(Frame { color: read_png(path, role)?, depth: None, channels: Vec::new() }),
        other => Err(err(path, format!("unsupported image type `.{other}` (use .exr or .png)"))),
    }
}

/// Writes an image file by extension, atomically.
pub fn write(path: &Path, image: &Image) -> Result<(), IoError> {
    match extension(path).as_str() {
        "exr" => write_exr(path, image),
        "png" => write_png(path, image, Role::Color),
        other => Err(err(path, format!("unsupported output type `.{other}` (use .exr or .png)"))),
    }
}

/// Writes a one-channel data image (depth, CoC map, PSF) scaled by `1/scale` to PNG (8-bit
/// grey, no sRGB curve) or EXR (the values as they are).
pub fn write_data(path: &Path, image: &Image, scale: f32) -> Result<(), IoError> {
    match extension(path).as_str() {
        "exr" => write_exr(path, image),
        "png" => {
            let mut scaled = image.clone();
            scaled.data.iter_mut().for_each(|v| *v /= scale);
            write_png(path, &scaled, Role::Data)
        }
        other => Err(err(path, format!("unsupported output type `.{other}` (use .exr or .png)"))),
    }
}

/// A decoded PNG: its samples (8-bit values or 16-bit ones, interleaved), the largest sample
/// value (255 or 65535), and its geometry. Palettes are expanded.
pub(crate) struct DecodedPng {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub samples: Vec<u16>,
    pub max: u16,
}

/// Decodes a PNG file (any colour type, 8 or 16 bit): the one PNG decoder of the crate (images
/// here, aperture images in `kernel::shapes`). Errors are the decoder's text.
pub(crate) fn decode_png(path: &Path) -> Result<DecodedPng, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(|e| format!("not a readable PNG: {e}"))?;
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).map_err(|e| format!("not a readable PNG: {e}"))?;
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err("indexed PNG was not expanded".into()),
    };
    let (width, height) = (info.width as usize, info.height as usize);
    let n = width * height * channels;
    let (samples, max) = match info.bit_depth {
        png::BitDepth::Sixteen => {
            (buf[..n * 2].chunks_exact(2).map(|b| u16::from_be_bytes([b[0], b[1]])).collect(), u16::MAX)
        }
        _ => (buf[..n].iter().map(|&b| b as u16).collect(), u8::MAX as u16),
    };
    Ok(DecodedPng { width, height, channels, samples, max })
}

fn read_png(path: &Path, role: Role) -> Result<Image, IoError> {
    let png = decode_png(path).map_err(|e| err(path, e))?;
    let (w, h, channels) = (png.width, png.height, png.channels);
    let raw: Vec<f32> = png.samples.iter().map(|&v| v as f32 / png.max as f32).collect();
    if role == Role::Data {
        // Depth: the first channel only.
        let data = raw.chunks_exact(channels).map(|p| p[0]).collect();
        return Ok(Image { width: w, height: h, channels: 1, data });
    }
    // Colour: grey+alpha becomes RGBA; sRGB to linear; premultiply.
    let out_c = if channels == 2 { 4 } else { channels };
    let mut data = Vec::with_capacity(w * h * out_c);
    for p in raw.chunks_exact(channels) {
        let (rgb, a): (Vec<f32>, Option<f32>) = match channels {
            1 => (vec![p[0]], None),
            2 => (vec![p[0], p[0], p[0]], Some(p[1])),
            3 => (p.to_vec(), None),
            _ => (p[..3].to_vec(), Some(p[3])),
        };
        let alpha = a.unwrap_or(1.0);
        data.extend(rgb.iter().map(|&v| srgb_to_linear(v) * alpha));
        if let Some(a) = a {
            data.push(a);
        }
    }
    Ok(Image { width: w, height: h, channels: out_c, data })
}

fn write_png(path: &Path, image: &Image, role: Role) -> Result<(), IoError> {
    let color_type = match image.channels {
        1 => png::ColorType::Grayscale,
        2 => png::ColorType::GrayscaleAlpha,
        3 => png::ColorType::Rgb,
        _ => png::ColorType::Rgba,
    };
    let c = image.channels;
    let mut bytes = Vec::with_capacity(image.data.len());
    for p in image.data.chunks_exact(c) {
        let has_alpha = c == 2 || c == 4;
        let alpha = if has_alpha { p[c - 1].clamp(0.0, 1.0) } else { 1.0 };
        for (i, &v) in p.iter().enumerate() {
            let is_alpha = has_alpha && i == c - 1;
            let v = if !v.is_finite() {
                0.0
            } else if is_alpha || role == Role::Data {
                v
            } else {
                let straight = if alpha > 0.0 { v / alpha } else { 0.0 };
                linear_to_srgb(straight.clamp(0.0, 1.0))
            };
            bytes.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
        }
    }
    let mut encoded = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut encoded, image.width as u32, image.height as u32);
        enc.set_color(color_type);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| err(path, e.to_string()))?;
        writer.write_image_data(&bytes).map_err(|e| err(path, e.to_string()))?;
    }
    write_atomic(path, &encoded).map_err(|e| err(path, e.to_string()))
}

/// The last name component of an EXR channel (`Combined.R` → `R`), lower-cased.
fn short_name(name: &str) -> String {
    name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase()
}

fn read_exr(path: &Path) -> Result<Frame, IoError> {
    use exr::prelude::*;
    let image = read()
        .no_deep_data()
        .largest_resolution_level()
        .all_channels()
        .all_layers()
        .all_attributes()
        .from_file(path)
        .map_err(|e| err(path, format!("not a readable EXR: {e}")))?;
    let samples = |s: &FlatSamples| -> Vec<f32> {
        match s {
            FlatSamples::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
            FlatSamples::F32(v) => v.clone(),
            FlatSamples::U32(v) => v.iter().map(|&x| x as f32).collect(),
        }
    };
    let mut color: Option<crate::image::Image> = None;
    let mut depth: Option<Vec<f32>> = None;
    let mut size: Option<(usize, usize)> = None;
    let mut tried = Vec::new();
    for layer in &image.layer_data {
        let (w, h) = (layer.size.0, layer.size.1);
        let part = layer.attributes.layer_name.as_ref().map(|t| t.to_string()).unwrap_or_default();
        let part_l = part.to_ascii_lowercase();
        let chans = &layer.channel_data.list;
        let find = |names: &[&str]| chans.iter().find(|c| names.contains(&short_name(&c.name.to_string()).as_str()));
        for c in chans.iter() {
            tried.push(if part.is_empty() { c.name.to_string() } else { format!("{part}/{}", c.name) });
        }
        if let Some((sw, sh)) = size {
            if (sw, sh) != (w, h) {
                continue;
            }
        }
        if color.is_none() {
            let rgba: Vec<_> = ["r", "g", "b", "a"].iter().map(|n| find(&[n])).collect();
            let picked: Vec<_> = if rgba[0].is_some() && rgba[1].is_some() && rgba[2].is_some() {
                rgba.into_iter().flatten().collect()
            } else if let Some(y) = find(&["y"]) {
                vec![y]
            } else {
                Vec::new()
            };
            if !picked.is_empty() {
                let planes: Vec<Vec<f32>> = picked.iter().map(|c| samples(&c.sample_data)).collect();
                let c = planes.len();
                let mut data = vec![0.0; w * h * c];
                for (ci, plane) in planes.iter().enumerate() {
                    for (i, &v) in plane.iter().enumerate() {
                        data[i * c + ci] = v;
                    }
                }
                color = Some(crate::image::Image { width: w, height: h, channels: c, data });
                size = Some((w, h));
            }
        }
        if depth.is_none() {
            let d = find(&["z", "depth"]).or_else(|| {
                if part_l.contains("depth") || part_l == "z" {
                    find(&["v", "z", "y", "r"])
                } else {
                    None
                }
            });
            if let Some(d) = d {
                depth = Some(samples(&d.sample_data));
                size.get_or_insert((w, h));
            }
        }
    }
    match color {
        Some(color) => {
            if let Some(d) = &depth {
                if d.len() != color.width * color.height {
                    return Err(err(path, "the depth part's size differs from the colour part's"));
                }
            }
            Ok(Frame { color, depth, channels: tried })
        }
        None => {
            Err(err(path, format!("no colour channels (R,G,B[,A] or Y) found; channels present: {}", tried.join(", "))))
        }
    }
}

/// The channel and part names tried for depth, for error messages.
pub const DEPTH_NAMES: &str =
    "a channel named Z or depth (any part), or a part named Depth/Z with a channel V, Z, Y or R";

fn write_exr(path: &Path, image: &Image) -> Result<(), IoError> {
    use exr::prelude::*;
    if image.channels == 4 {
        // RGBA straight from the interleaved pixels: no per-channel copy of the frame.
        let (w, data) = (image.width, &image.data);
        let px = move |p: Vec2<usize>| {
            let i = (p.1 * w + p.0) * 4;
            (data[i], data[i + 1], data[i + 2], data[i + 3])
        };
        let out = exr::image::Image::from_channels((image.width, image.height), SpecificChannels::rgba(px));
        return with_temp(path, |tmp| out.write().to_file(tmp).map_err(|e| std::io::Error::other(e.to_string())))
            .map_err(|e| err(path, e.to_string()));
    }
    write_exr_parts(path, image, vec![(None, exr_planes(image))])
}

/// The image's channels as EXR planes named Y, Y A, R G B or R G B A.
fn exr_planes(image: &Image) -> Vec<exr::prelude::AnyChannel<exr::prelude::FlatSamples>> {
    use exr::prelude::*;
    let names: &[&str] = match image.channels {
        1 => &["Y"],
        2 => &["Y", "A"],
        3 => &["R", "G", "B"],
        _ => &["R", "G", "B", "A"],
    };
    let c = image.channels;
    names
        .iter()
        .enumerate()
        .map(|(ci, n)| AnyChannel::new(*n, FlatSamples::F32(image.data.chunks_exact(c).map(|p| p[ci]).collect())))
        .collect()
}

/// Writes parts (an optional name and its planes, each the image's size) to an EXR, atomically.
fn write_exr_parts(
    path: &Path,
    image: &Image,
    parts: Vec<(Option<&str>, Vec<exr::prelude::AnyChannel<exr::prelude::FlatSamples>>)>,
) -> Result<(), IoError> {
    use exr::prelude::*;
    let size = (image.width, image.height);
    let layers: Vec<_> = parts
        .into_iter()
        .map(|(name, planes)| {
            let attributes = name.map_or_else(LayerAttributes::default, LayerAttributes::named);
            Layer::new(size, attributes, Encoding::FAST_LOSSLESS, AnyChannels::sort(planes.into()))
        })
        .collect();
    let out = exr::image::Image::from_layers(ImageAttributes::new(IntegerBounds::from_dimensions(size)), layers);
    let write = |tmp: &Path| out.write().to_file(tmp).map_err(|e| std::io::Error::other(e.to_string()));
    with_temp(path, write).map_err(|e| err(path, e.to_string()))
}

/// Writes colour plus a `Z` channel to an EXR (for tests and the demo).
pub fn write_exr_with_depth(path: &Path, image: &Image, depth: &[f32]) -> Result<(), IoError> {
    use exr::prelude::*;
    let mut planes = exr_planes(image);
    planes.push(AnyChannel::new("Z", FlatSamples::F32(depth.to_vec())));
    write_exr_parts(path, image, vec![(None, planes)])
}

/// Writes a multi-part EXR as Blender does: colour in a part named `color_part` (R, G, B, A)
/// and depth in a part named `depth_part` with one channel `depth_channel`.
pub fn write_exr_multipart(
    path: &Path,
    image: &Image,
    color_part: &str,
    depth: &[f32],
    depth_part: &str,
    depth_channel: &str,
) -> Result<(), IoError> {
    use exr::prelude::*;
    let depth_planes = vec![AnyChannel::new(depth_channel, FlatSamples::F32(depth.to_vec()))];
    write_exr_parts(path, image, vec![(Some(color_part), exr_planes(image)), (Some(depth_part), depth_planes)])
}

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

/// Largest frame a file may declare or a front end may ask for, in pixels (width × height):
/// 2^26, e.g. 8192 × 8192 (ARCHITECTURE.md "Hostile input").
pub const MAX_PIXELS: u64 = 1 << 26;
/// Largest number of samples (pixels × channels, over all parts) an EXR file may declare.
pub const MAX_FILE_SAMPLES: u64 = 8 * MAX_PIXELS;

/// Refuses a declared frame size beyond [`MAX_SIDE`](crate::image::MAX_SIDE) per side or
/// [`MAX_PIXELS`] in all; the message starts "declares W×H".
pub fn check_frame_size(width: u64, height: u64) -> Result<(), String> {
    let max_side = crate::image::MAX_SIDE as u64;
    if width == 0 || height == 0 || width > max_side || height > max_side {
        return Err(format!("declares {width}×{height}: each side must be 1 to {max_side} pixels"));
    }
    if width * height > MAX_PIXELS {
        return Err(format!(
            "declares {width}×{height} = {} pixels, more than the limit of {MAX_PIXELS} pixels per frame",
            width * height
        ));
    }
    Ok(())
}

/// Opens `path` for reading only if it is a regular file (after following symlinks): a FIFO,
/// device, socket or directory is refused without blocking (the open is non-blocking, and
/// nothing is read before the check).
pub fn open_regular(path: &Path) -> Result<std::fs::File, String> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        _ => e.to_string(),
    })?;
    let kind = file.metadata().map_err(|e| e.to_string())?.file_type();
    if !kind.is_file() {
        return Err(format!("not a regular file (a {}); only regular files are read", file_kind(&kind)));
    }
    Ok(file)
}

/// What a non-regular file is, for messages.
pub fn file_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "named pipe";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "device";
        }
        if kind.is_socket() {
            return "socket";
        }
    }
    if kind.is_dir() {
        "directory"
    } else if kind.is_symlink() {
        "symbolic link"
    } else {
        "special file"
    }
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
    check_output(path).map_err(std::io::Error::other)?;
    let tmp = temp_path(path);
    let slot = temp_files::register(&tmp);
    let result = write(&tmp).and_then(|_| {
        // Checked again just before the rename: only a regular file (or nothing) is replaced.
        check_output(path).map_err(std::io::Error::other)?;
        std::fs::rename(&tmp, path)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    temp_files::unregister(slot);
    result
}

/// Refuses an output path where something other than a regular file is (a device, a symbolic
/// link, a directory, a named pipe): a write replaces a regular file or creates one, nothing else.
pub fn check_output(path: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(m) => Err(format!("is a {}; only a regular file is replaced", file_kind(&m.file_type()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Checks, before any work, that `path` can be written: its folder exists and takes a new file
/// (a probe file is created and removed) and nothing but a regular file is at `path`.
pub fn check_writable(path: &Path) -> Result<(), String> {
    check_output(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{} is not a folder", dir.display())),
        Err(_) => return Err(format!("the folder {} does not exist", dir.display())),
    }
    let probe = temp_path(path);
    let slot = temp_files::register(&probe);
    let made = std::fs::OpenOptions::new().write(true).create_new(true).open(&probe);
    let _ = std::fs::remove_file(&probe);
    temp_files::unregister(slot);
    made.map(|_| ()).map_err(|e| format!("the folder {} is not writable: {e}", dir.display()))
}

/// Removes the temporary files of writes in progress when the process gets SIGINT, SIGTERM or
/// SIGHUP, then dies of the signal as it would have. For programs (the CLI calls it first
/// thing); the library never installs handlers by itself. SIGKILL cannot be caught: a killed
/// process can leave a `.NAME.PID.tmp.EXT` file next to its output.
pub fn remove_temp_files_on_signal() {
    temp_files::install();
}

/// The temporary files being written, in fixed slots a signal handler can read.
mod temp_files {
    use std::path::Path;
    use std::sync::atomic::{AtomicPtr, Ordering};

    const SLOTS: usize = 64;
    static PATHS: [AtomicPtr<libc::c_char>; SLOTS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];

    /// Records `path` (when a slot is free); returns the slot.
    pub fn register(path: &Path) -> Option<usize> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        let raw = c.into_raw();
        for (i, slot) in PATHS.iter().enumerate() {
            if slot.compare_exchange(std::ptr::null_mut(), raw, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                return Some(i);
            }
        }
        // SAFETY: `raw` came from `into_raw` above and was not stored.
        drop(unsafe { std::ffi::CString::from_raw(raw) });
        None
    }

    /// Forgets a slot. The path's few bytes are not freed: a signal handler running on another
    /// thread may still be reading them.
    pub fn unregister(slot: Option<usize>) {
        if let Some(i) = slot {
            PATHS[i].store(std::ptr::null_mut(), Ordering::SeqCst);
        }
    }

    extern "C" fn on_signal(sig: libc::c_int) {
        for slot in &PATHS {
            let p = slot.load(Ordering::SeqCst);
            if !p.is_null() {
                // SAFETY: `p` is a NUL-terminated path that is never freed; unlink is
                // async-signal-safe.
                unsafe { libc::unlink(p) };
            }
        }
        // SAFETY: signal and raise are async-signal-safe; the default action ends the process.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }

    pub fn install() {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: installs a handler that only calls async-signal-safe functions.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, std::ptr::null_mut());
            }
        }
    }
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
    match extension(path).as_str() {
        "exr" => read_exr(path, role),
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
    let file = open_regular(path)?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(|e| format!("not a readable PNG: {e}"))?;
    // The declared size is checked before the frame's buffer is allocated.
    let declared = reader.info().size();
    check_frame_size(declared.0 as u64, declared.1 as u64).map_err(|e| format!("the PNG header {e}"))?;
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

fn read_exr(path: &Path, role: Role) -> Result<Frame, IoError> {
    use std::io::{Seek, SeekFrom};
    let file = open_regular(path).map_err(|e| err(path, e))?;
    let mut reader = std::io::BufReader::new(file);
    let meta = exr::meta::MetaData::read_from_buffered(&mut reader, false)
        .map_err(|e| err(path, format!("not a readable EXR: {e}")))?;
    check_exr_headers(&meta.headers).map_err(|e| err(path, e))?;
    reader.seek(SeekFrom::Start(0)).map_err(|e| err(path, e.to_string()))?;
    use exr::prelude::{ReadChannels, ReadLayers};
    let image = exr::prelude::read()
        .no_deep_data()
        .largest_resolution_level()
        .all_channels()
        .all_layers()
        .all_attributes()
        .from_buffered(reader)
        .map_err(|e| err(path, format!("not a readable EXR: {e}")))?;
    let pick = ExrPick::of(&image);
    let display = image.attributes.display_window;
    let (w, h) = (display.size.0, display.size.1);
    let depth =
        pick.depth.map(|d| pick.plane(&image, d, display, f32::INFINITY)).transpose().map_err(|e| err(path, e))?;
    let color = match (&pick.color, &depth) {
        (Some(channels), _) => {
            let planes = channels.iter().map(|&c| pick.plane(&image, c, display, 0.0)).collect::<Result<Vec<_>, _>>();
            let planes = planes.map_err(|e| err(path, e))?;
            let c = planes.len();
            let mut data = vec![0.0; w * h * c];
            for (ci, plane) in planes.iter().enumerate() {
                data.iter_mut().skip(ci).step_by(c).zip(plane).for_each(|(d, &v)| *d = v);
            }
            Image { width: w, height: h, channels: c, data }
        }
        // A depth-only file read as data: the depth is the image.
        (None, Some(z)) if role == Role::Data => Image { width: w, height: h, channels: 1, data: z.clone() },
        (None, _) => {
            return Err(err(
                path,
                format!(
                    "no colour channels (R, G, B [, A] of one layer, or Y [, A]) found; channels present: {}",
                    pick.names.join(", ")
                ),
            ))
        }
    };
    Ok(Frame { color, depth, channels: pick.names })
}

/// Refuses, from the headers alone, an EXR whose parts would decode to more than the limits
/// (ARCHITECTURE.md "Hostile input"): each part and the display window within
/// [`MAX_SIDE`](crate::image::MAX_SIDE) per side and [`MAX_PIXELS`], all parts together within
/// [`MAX_FILE_SAMPLES`] samples.
fn check_exr_headers(headers: &[exr::meta::header::Header]) -> Result<(), String> {
    let mut samples: u128 = 0;
    for (i, h) in headers.iter().enumerate() {
        let (w, hh) = (h.layer_size.0 as u64, h.layer_size.1 as u64);
        check_frame_size(w, hh).map_err(|e| format!("part {i}'s data window {e}"))?;
        let d = h.shared_attributes.display_window.size;
        check_frame_size(d.0 as u64, d.1 as u64).map_err(|e| format!("the display window {e}"))?;
        samples += w as u128 * hh as u128 * h.channels.list.len() as u128;
        if let Some(c) = h.channels.list.iter().find(|c| c.sampling.0 != 1 || c.sampling.1 != 1) {
            return Err(format!(
                "channel {} is subsampled ({}×{}); only full-resolution channels are read",
                c.name, c.sampling.0, c.sampling.1
            ));
        }
    }
    if samples > MAX_FILE_SAMPLES as u128 {
        return Err(format!("its parts hold {samples} samples, more than the limit of {MAX_FILE_SAMPLES}"));
    }
    Ok(())
}

/// Which channels of a decoded EXR are colour and depth: (layer, channel) indices.
struct ExrPick {
    color: Option<Vec<(usize, usize)>>,
    depth: Option<(usize, usize)>,
    /// Every channel as `part/channel`.
    names: Vec<String>,
}

/// Channels of one layer: (part index, part name lower-cased, name prefix, [(short name, channel index)]).
type ExrGroup = (usize, String, String, Vec<(String, usize)>);

type ExrImage = exr::image::Image<exr::image::Layers<exr::image::AnyChannels<exr::image::FlatSamples>>>;

impl ExrPick {
    /// Colour: the first layer (part and name prefix, `a` of `a.R`) holding R, G and B (with its
    /// own A), else the first holding Y (with its own A); channels of different layers are never
    /// mixed. Depth: the first channel named Z or depth, else V/Z/Y/R of a part or layer named
    /// Depth or Z.
    fn of(image: &ExrImage) -> ExrPick {
        let mut groups: Vec<ExrGroup> = Vec::new();
        let mut names = Vec::new();
        for (li, layer) in image.layer_data.iter().enumerate() {
            let part = layer.attributes.layer_name.as_ref().map(|t| t.to_string()).unwrap_or_default();
            for (ci, c) in layer.channel_data.list.iter().enumerate() {
                let full = c.name.to_string();
                names.push(if part.is_empty() { full.clone() } else { format!("{part}/{full}") });
                let prefix = full.rsplit_once('.').map_or(String::new(), |(p, _)| p.to_string());
                let short = short_name(&full);
                match groups.iter_mut().find(|g| g.0 == li && g.2 == prefix) {
                    Some(g) => g.3.push((short, ci)),
                    None => groups.push((li, part.to_ascii_lowercase(), prefix, vec![(short, ci)])),
                }
            }
        }
        let find = |g: &ExrGroup, n: &str| g.3.iter().find(|(s, _)| s == n).map(|&(_, ci)| (g.0, ci));
        let is_depth_layer = |g: &ExrGroup| {
            let prefix = short_name(&g.2);
            g.1.contains("depth") || g.1 == "z" || prefix == "depth" || prefix == "z"
        };
        let with_alpha = |g, first: Vec<Option<(usize, usize)>>| -> Option<Vec<(usize, usize)>> {
            let mut v: Vec<(usize, usize)> = first.into_iter().collect::<Option<_>>()?;
            v.extend(find(g, "a"));
            Some(v)
        };
        let colour_groups = || groups.iter().filter(|g| !is_depth_layer(g));
        let color = colour_groups()
            .find_map(|g| with_alpha(g, vec![find(g, "r"), find(g, "g"), find(g, "b")]))
            .or_else(|| colour_groups().find_map(|g| with_alpha(g, vec![find(g, "y")])));
        let depth = groups.iter().find_map(|g| find(g, "z").or_else(|| find(g, "depth"))).or_else(|| {
            groups
                .iter()
                .filter(|g| is_depth_layer(g))
                .find_map(|g| ["v", "z", "y", "r"].iter().find_map(|n| find(g, n)))
        });
        ExrPick { color, depth, names }
    }

    /// Channel `(layer, channel)` placed in the display window: samples outside its data
    /// window are `fill`, data outside the display window is cropped.
    fn plane(
        &self,
        image: &ExrImage,
        (li, ci): (usize, usize),
        display: exr::prelude::IntegerBounds,
        fill: f32,
    ) -> Result<Vec<f32>, String> {
        use exr::prelude::FlatSamples;
        let layer = &image.layer_data[li];
        let s: Vec<f32> = match &layer.channel_data.list[ci].sample_data {
            FlatSamples::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
            FlatSamples::F32(v) => v.clone(),
            FlatSamples::U32(v) => v.iter().map(|&x| x as f32).collect(),
        };
        let (dw, dh) = (layer.size.0, layer.size.1);
        if s.len() != dw * dh {
            return Err(format!(
                "channel {} holds {} samples for a {dw}×{dh} data window",
                layer.channel_data.list[ci].name,
                s.len()
            ));
        }
        let origin = layer.attributes.layer_position;
        if origin == display.position && layer.size == display.size {
            return Ok(s);
        }
        let (w, h) = (display.size.0, display.size.1);
        let (ox, oy) = (origin.0 as i64 - display.position.0 as i64, origin.1 as i64 - display.position.1 as i64);
        let mut out = vec![fill; w * h];
        for y in 0..dh {
            let ty = y as i64 + oy;
            if ty < 0 || ty >= h as i64 {
                continue;
            }
            for x in 0..dw {
                let tx = x as i64 + ox;
                if (0..w as i64).contains(&tx) {
                    out[ty as usize * w + tx as usize] = s[y * dw + x];
                }
            }
        }
        Ok(out)
    }
}

/// The channel and part names tried for depth, for error messages.
pub const DEPTH_NAMES: &str =
    "a channel named Z or depth (any part), or a part named Depth/Z with a channel V, Z, Y or R";

/// How EXR files are written: exr's `FAST_LOSSLESS` (RLE in 64×64 tiles) with the tiles stored
/// in increasing order. In its unspecified order, tiles are stored as the parallel compression
/// finishes them, so the same image could give different bytes on a loaded machine; sorted, the
/// same image always gives the same file (a farm's or a Dask retry's frame is the CLI's frame).
const EXR_ENCODING: exr::prelude::Encoding =
    exr::prelude::Encoding { line_order: exr::prelude::LineOrder::Increasing, ..exr::prelude::Encoding::FAST_LOSSLESS };

fn write_exr(path: &Path, image: &Image) -> Result<(), IoError> {
    use exr::prelude::*;
    if image.channels == 4 {
        // RGBA straight from the interleaved pixels: no per-channel copy of the frame.
        let (w, data) = (image.width, &image.data);
        let px = move |p: Vec2<usize>| {
            let i = (p.1 * w + p.0) * 4;
            (data[i], data[i + 1], data[i + 2], data[i + 3])
        };
        let size = (image.width, image.height);
        let out = exr::image::Image::from_encoded_channels(size, EXR_ENCODING, SpecificChannels::rgba(px));
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
            Layer::new(size, attributes, EXR_ENCODING, AnyChannels::sort(planes.into()))
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

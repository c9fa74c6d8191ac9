//! What the hostile-input tests share: running the CLI (optionally under an address-space
//! limit, with a deadline), hand-made PNG and EXR files, and listing what is left on disk.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Address space a child may map in the property tests: 3 GiB. The engine's own limits
/// (2^28-float working frames, 2^24 table taps, 2^26-pixel frames) fit well under it for the
/// small frames used; a memory bomb (a 40 GB allocation) does not.
pub const CHILD_ADDRESS_SPACE: u64 = 3 << 30;

/// Runs `sparsebokeh ARGS` with a deadline (killed after `secs`: a hang fails the test).
pub fn run(args: &[&str], secs: u64) -> Output {
    run_limited(args, secs, None)
}

/// Runs `sparsebokeh ARGS` with RLIMIT_AS set to `limit` bytes in the child (when given).
pub fn run_limited(args: &[&str], secs: u64, limit: Option<u64>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sparsebokeh"));
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(bytes) = limit {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
                if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().expect("run sparsebokeh");
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "sparsebokeh {args:?} still running after {secs} s; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 2 with a message containing every one of `words`, and no panic.
pub fn assert_refused(o: &Output, words: &[&str]) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "expected exit 2; stderr: {e}");
    assert!(!e.contains("panicked"), "{e}");
    for w in words {
        assert!(e.contains(w), "the message should name `{w}`: {e}");
    }
}

/// The names in `dir`, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A PNG whose header declares `width × height` (colour type and bit depth as given) followed by
/// a small valid zlib stream of `idat_zeros` zero bytes: what a hostile file can claim.
pub fn png_declaring(width: u32, height: u32, color_type: u8, bit_depth: u8, idat_zeros: usize) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, color_type, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    // A stored (uncompressed) deflate block of zeros, in a zlib wrapper.
    let n = idat_zeros.min(65535);
    let mut z = vec![0x78, 0x01, 0x01];
    z.extend_from_slice(&(n as u16).to_le_bytes());
    z.extend_from_slice(&(!(n as u16)).to_le_bytes());
    z.extend(std::iter::repeat(0u8).take(n));
    z.extend_from_slice(&1u32.to_be_bytes()); // adler32 of zeros: 1 (unchecked by most)
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A real 8-bit grey PNG of `w × h`.
pub fn png_grey(w: u32, h: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, w, h);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().unwrap();
        wr.write_image_data(&vec![128u8; (w * h) as usize]).unwrap();
    }
    bytes
}

/// A data window: x, y, width, height.
pub type Window = (i32, i32, usize, usize);
/// One part of a test EXR: its name, data window and channels (name, constant value).
pub type ExrPart<'a> = (Option<&'a str>, Window, &'a [(&'a str, f32)]);

/// Writes an EXR of one or more parts: each part a name (or none), its data window (x, y, w,
/// h) and its channels (name, value); the display window is `display` (w, h) at the origin.
pub fn write_exr(path: &Path, display: (usize, usize), parts: &[ExrPart]) {
    use exr::prelude::*;
    let layers: Vec<_> = parts
        .iter()
        .map(|(name, (x, y, w, h), chans)| {
            let mut attributes = name.map_or_else(LayerAttributes::default, LayerAttributes::named);
            attributes.layer_position = Vec2(*x, *y);
            let planes: Vec<AnyChannel<FlatSamples>> =
                chans.iter().map(|(n, v)| AnyChannel::new(*n, FlatSamples::F32(vec![*v; w * h]))).collect();
            Layer::new((*w, *h), attributes, Encoding::UNCOMPRESSED, AnyChannels::sort(planes.into()))
        })
        .collect();
    let image = exr::image::Image::from_layers(ImageAttributes::new(IntegerBounds::from_dimensions(display)), layers);
    image.write().to_file(path).unwrap();
}

/// Overwrites the first `dataWindow` and `displayWindow` boxes of an EXR's bytes with
/// (0, 0)–(w − 1, h − 1): a header declaring `w × h` over a small file.
pub fn patch_exr_windows(bytes: &mut [u8], w: i32, h: i32) {
    for name in [&b"dataWindow\0box2i\0"[..], &b"displayWindow\0box2i\0"[..]] {
        if let Some(at) = bytes.windows(name.len()).position(|win| win == name) {
            let v = at + name.len() + 4;
            for (i, x) in [0i32, 0, w - 1, h - 1].iter().enumerate() {
                bytes[v + 4 * i..v + 4 * i + 4].copy_from_slice(&x.to_le_bytes());
            }
        }
    }
}

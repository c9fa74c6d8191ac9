//! The C API (ARCHITECTURE.md, "Front ends"), declared in `include/sparsebokeh.h`: a thin adapter over the Rust API.
//!
//! Every `extern "C"` entry point runs inside [`barrier`] (a `catch_unwind`), so a panic never
//! unwinds into C: it becomes [`SbStatus::Internal`]. Handles are boxed Rust values passed to C
//! as opaque pointers; the free functions accept NULL. The only global mutable state is the
//! thread-local text behind [`sb_last_error`]. Image descriptors are checked with overflow-free
//! arithmetic (and for overlap between inputs and outputs) *before* any slice is formed, and
//! outputs are written only after every check has passed.
//!
//! Every entry point is `unsafe`: the caller promises that non-NULL pointers point at what the
//! header says (a live handle, a readable `sb_image`, a buffer spanning the described rows).

use crate::bundle::{Bundle, BundleError, MAX_FILE_BYTES};
use crate::image::{geometry, ImageView, ImageViewMut};
use crate::render::request::check_reach;
use crate::render::{Edges, Engine, Lens, LensMode, Output, RenderError, RenderOptions, RenderStats};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::os::raw::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Status codes returned by the C API (`sb_status` in the header; the values are ABI).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SbStatus {
    Ok = 0,
    NullPointer = 1,
    Image = 2,
    SizeMismatch = 3,
    Overlap = 4,
    Lens = 5,
    InvalidArgument = 6,
    Unsupported = 7,
    Io = 8,
    BundleParse = 9,
    BundleInvalid = 10,
    BundleVersion = 11,
    BufferTooSmall = 12,
    TooLarge = 13,
    Cpu = 14,
    Threads = 15,
    Internal = 16,
}

impl SbStatus {
    fn describe(self) -> &'static CStr {
        match self {
            SbStatus::Ok => c"success",
            SbStatus::NullPointer => c"a required pointer is NULL",
            SbStatus::Image => c"an image descriptor is invalid",
            SbStatus::SizeMismatch => c"images do not have matching sizes or channel counts",
            SbStatus::Overlap => c"an output image overlaps an input image in memory",
            SbStatus::Lens => c"a lens parameter is invalid",
            SbStatus::InvalidArgument => c"an argument is out of range",
            SbStatus::Unsupported => c"the requested feature is not supported by this version",
            SbStatus::Io => c"the bundle file cannot be read",
            SbStatus::BundleParse => c"the bundle is not valid JSON",
            SbStatus::BundleInvalid => c"the bundle does not follow the bundle format",
            SbStatus::BundleVersion => c"the bundle's format version is missing or unsupported",
            SbStatus::BufferTooSmall => c"the output buffer is too small",
            SbStatus::TooLarge => c"the request is too large",
            SbStatus::Cpu => c"this CPU lacks instructions this build needs",
            SbStatus::Threads => c"the render threads cannot be started",
            SbStatus::Internal => c"internal error (a bug in sparsebokeh)",
        }
    }
}

/// `sb_image`: an interleaved f32 image in caller memory. Row `y` starts at
/// `data + y * row_stride_bytes` bytes; with a negative stride `data` is row 0 and rows go to
/// lower addresses (OpenFX bottom-up images).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SbImage {
    pub data: *mut f32,
    pub row_stride_bytes: isize,
    pub width: i32,
    pub height: i32,
    pub channels: i32,
}

/// `sb_lens`: how depth maps to a blur radius (ARCHITECTURE.md, "Depth to radius"). `mode` and
/// `edges` are plain integers so an out-of-range value from C is a status, not undefined
/// behaviour. `struct_size` (= `sizeof(sb_lens)`, set by `sb_lens_default`) lets later versions
/// add fields at the end.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SbLens {
    pub struct_size: u32,
    pub mode: i32,
    pub edges: i32,
    pub focus: f64,
    pub dof: f64,
    pub size: f64,
    pub maximum: f64,
    pub render_scale: f64,
}

/// `sb_options`: the render request of `sb_render` ([`RenderOptions`] for C): the lens fields of
/// `sb_lens`, then the output kind, mix, the radius of a render without depth, the depth channel
/// and whether to invert it. `struct_size` (= `sizeof(sb_options)`, set by `sb_options_default`)
/// lets later versions add fields at the end.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SbOptions {
    pub struct_size: u32,
    pub mode: i32,
    pub edges: i32,
    pub output: i32,
    pub focus: f64,
    pub dof: f64,
    pub size: f64,
    pub maximum: f64,
    pub render_scale: f64,
    pub mix: f64,
    pub radius: f64,
    pub depth_channel: i32,
    pub invert_depth: i32,
    pub rotation: f64,
    pub aspect: f64,
    pub pixel_aspect: f64,
    pub bloom_threshold: f64,
    pub bloom_gain: f64,
    pub gamma: f64,
    pub focus_x: f64,
    pub focus_y: f64,
    pub focus_from_point: i32,
}

/// `sb_stats`: what a call saw.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SbStats {
    pub nonfinite_samples: u64,
    pub bad_depth: u64,
    pub max_radius: f32,
    pub tables: u32,
}

pub const SB_LENS_DEPTH: i32 = 0;
pub const SB_LENS_INVERSE_DEPTH: i32 = 1;
pub const SB_LENS_COC: i32 = 2;
pub const SB_EDGES_GATHER: i32 = 0;
pub const SB_EDGES_LAYERED: i32 = 1;
pub const SB_OUTPUT_RESULT: i32 = 0;
pub const SB_OUTPUT_FOCAL_PLANE_SETUP: i32 = 1;
pub const SB_OUTPUT_COC_MAP: i32 = 2;
pub const SB_OUTPUT_COC_MAP_NORMALISED: i32 = 3;
pub const SB_OUTPUT_DEPTH_SLICES: i32 = 4;

/// Largest thread count `sb_context_create` accepts.
pub const MAX_THREADS: u32 = 1024;

/// `sb_bundle`: a validated bundle and its name for C.
pub struct SbBundle {
    bundle: Bundle,
    name: CString,
}

/// `sb_context`: a render engine with its thread pool.
pub struct SbContext {
    engine: Engine,
}

const _: () = {
    const fn assert_sync<T: Sync + Send>() {}
    assert_sync::<SbContext>();
    assert_sync::<SbBundle>();
};

/// A failed call: its status and message.
struct Failure {
    status: SbStatus,
    message: String,
}

fn fail(status: SbStatus, message: impl Into<String>) -> Failure {
    Failure { status, message: message.into() }
}

type Outcome = Result<(), Failure>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    let text = CString::new(message.replace('\0', "\u{FFFD}")).unwrap_or_default();
    // During thread teardown the slot may be gone; there is nobody left to read it then.
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = text);
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// The panic barrier for status-returning entry points: runs `f`, records its message (empty on
/// success) and returns its status; a panic becomes [`SbStatus::Internal`].
fn barrier(f: impl FnOnce() -> Outcome) -> SbStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            set_last_error("");
            SbStatus::Ok
        }
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.status
        }
        Err(payload) => {
            let text = panic_text(&*payload);
            // Dropping a payload could itself panic; keep that inside the barrier too.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            set_last_error(&format!("internal error (please report): {text}"));
            SbStatus::Internal
        }
    }
}

/// The panic barrier for entry points that return a value: `fallback` on panic.
fn barrier_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            let text = panic_text(&*payload);
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            set_last_error(&format!("internal error (please report): {text}"));
            fallback
        }
    }
}

fn cpu_check() -> Outcome {
    crate::cpu::check().map_err(|m| fail(SbStatus::Cpu, m))
}

fn bundle_failure(e: BundleError) -> Failure {
    let status = match &e {
        BundleError::Io { .. } | BundleError::Write { .. } => SbStatus::Io,
        BundleError::Json(_) => SbStatus::BundleParse,
        BundleError::Invalid { field, .. } if field == "version" => SbStatus::BundleVersion,
        BundleError::Invalid { .. } => SbStatus::BundleInvalid,
    };
    fail(status, e.to_string())
}

fn render_failure(e: RenderError) -> Failure {
    let status = match &e {
        RenderError::Lens(_) => SbStatus::Lens,
        RenderError::Radius(_) | RenderError::Option { .. } => SbStatus::InvalidArgument,
        RenderError::NoBundle => SbStatus::NullPointer,
        RenderError::Mismatch(_) => SbStatus::SizeMismatch,
        RenderError::Threads(..) => SbStatus::Threads,
        RenderError::TooLarge(_) | RenderError::Reach(_) | RenderError::Tables { .. } => SbStatus::TooLarge,
    };
    fail(status, e.to_string())
}

/// An image descriptor that passed every check: the byte range its rows span.
#[derive(Clone, Copy, Debug)]
struct Checked {
    /// Lowest address of the rows (row `height − 1` when the stride is negative).
    lo: usize,
    /// One past the highest byte the rows span.
    hi: usize,
    floats: usize,
    width: usize,
    height: usize,
    channels: usize,
    /// Row stride in bytes.
    stride_bytes: isize,
}

impl Checked {
    fn overlaps(&self, other: &Checked) -> bool {
        self.lo < other.hi && other.lo < self.hi
    }

    /// # Safety
    /// The descriptor's memory must be readable for the view's lifetime and not written
    /// through any other reference meanwhile.
    unsafe fn view<'a>(&self) -> ImageView<'a> {
        // SAFETY: `lo` is non-null, 4-byte aligned, and `floats * 4 ≤ isize::MAX` bytes lie
        // between `lo` and `hi` without wrapping (checked in `check_image`); the caller vouches
        // that this memory is a live, readable buffer (the header's contract).
        let data = unsafe { std::slice::from_raw_parts(self.lo as *const f32, self.floats) };
        ImageView::new(data, self.width, self.height, self.channels, self.stride_bytes).expect("geometry checked")
    }

    /// # Safety
    /// The descriptor's memory must be writable for the view's lifetime and not accessed
    /// through any other reference meanwhile (callers check overlap with the inputs first).
    unsafe fn view_mut<'a>(&self) -> ImageViewMut<'a> {
        // SAFETY: as in `view`; in addition the caller has checked that no input of the call
        // overlaps this range, so this is the only reference to these bytes.
        let data = unsafe { std::slice::from_raw_parts_mut(self.lo as *mut f32, self.floats) };
        ImageViewMut::new(data, self.width, self.height, self.channels, self.stride_bytes).expect("geometry checked")
    }
}

/// Reads and checks `*image` (named `what` in messages) without touching its pixels.
///
/// # Safety
/// `image` must be NULL or point at a readable `sb_image`.
unsafe fn check_image(image: *const SbImage, what: &str) -> Result<Checked, Failure> {
    if image.is_null() {
        return Err(fail(SbStatus::NullPointer, format!("`{what}` is NULL")));
    }
    // SAFETY: non-null, and the caller promises it points at an `sb_image`; read unaligned so a
    // misaligned descriptor is not undefined behaviour.
    let d = unsafe { std::ptr::read_unaligned(image) };
    if d.data.is_null() {
        return Err(fail(SbStatus::NullPointer, format!("`{what}->data` is NULL")));
    }
    let bad = |reason: String| fail(SbStatus::Image, format!("`{what}`: {reason}"));
    let (_, base, floats) = geometry(d.width as i64, d.height as i64, d.channels as i64, d.row_stride_bytes as i64)
        .map_err(|e| bad(e.to_string()))?;
    let addr = d.data as usize;
    if addr % std::mem::align_of::<f32>() != 0 {
        return Err(bad(format!("`data` ({addr:#x}) is not aligned to 4 bytes")));
    }
    let lo = base
        .checked_mul(4)
        .and_then(|b| addr.checked_sub(b))
        .filter(|&lo| lo != 0)
        .ok_or_else(|| bad("with this negative stride the rows would start below address 0".into()))?;
    let bytes = floats.checked_mul(4).filter(|&b| b <= isize::MAX as usize);
    let hi = bytes
        .and_then(|b| lo.checked_add(b))
        .ok_or_else(|| bad("the rows' span overflows the address space".into()))?;
    Ok(Checked {
        lo,
        hi,
        floats,
        width: d.width as usize,
        height: d.height as usize,
        channels: d.channels as usize,
        stride_bytes: d.row_stride_bytes,
    })
}

/// Reads a caller-filled struct that starts with a `uint32_t struct_size`: that many bytes
/// over `defaults`. A size below `T`'s (a caller that did not set it) is refused; so is a larger
/// one (a header newer than this library: fields it would ignore).
///
/// # Safety
/// `ptr` must be NULL or point at `struct_size` readable bytes.
unsafe fn read_sized<T: Copy>(ptr: *const T, what: &str) -> Result<T, Failure> {
    if ptr.is_null() {
        return Err(fail(SbStatus::NullPointer, format!("`{what}` is NULL")));
    }
    // SAFETY: non-null; every sized struct starts with its u32 size (read unaligned so a
    // misaligned struct is not undefined behaviour).
    let size = unsafe { std::ptr::read_unaligned(ptr as *const u32) } as usize;
    let want = std::mem::size_of::<T>();
    if size < want {
        return Err(fail(
            SbStatus::InvalidArgument,
            format!("`{what}->struct_size` is {size}, expected {want}: fill it with its *_default function"),
        ));
    }
    if size > want {
        return Err(fail(
            SbStatus::Unsupported,
            format!("`{what}->struct_size` is {size}: this library knows {want} bytes (a newer header?)"),
        ));
    }
    // SAFETY: `size` = size_of::<T>() readable bytes, per the caller.
    Ok(unsafe { std::ptr::read_unaligned(ptr) })
}

/// [`read_sized`] that also takes an older caller's struct: a `struct_size` of `older` bytes
/// (the size of the struct before fields were appended) reads those bytes over `defaults`.
///
/// # Safety
/// `ptr` must be NULL or point at `struct_size` readable bytes.
unsafe fn read_sized_from<T: Copy>(ptr: *const T, what: &str, older: usize, defaults: T) -> Result<T, Failure> {
    if !ptr.is_null() {
        // SAFETY: non-null; the struct starts with its u32 size (read unaligned).
        let size = unsafe { std::ptr::read_unaligned(ptr as *const u32) } as usize;
        if size == older && older < std::mem::size_of::<T>() {
            let mut out = defaults;
            // SAFETY: the caller's struct holds `older` readable bytes (its struct_size); `out`
            // is a `T` of more than `older` bytes, plain data (`Copy`, every field a number),
            // and the two do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(ptr as *const u8, &mut out as *mut T as *mut u8, older) };
            return Ok(out);
        }
    }
    // SAFETY: per the caller.
    unsafe { read_sized(ptr, what) }
}

/// The lens mode of a C value.
fn lens_mode(mode: i32, what: &str) -> Result<LensMode, Failure> {
    match mode {
        SB_LENS_DEPTH => Ok(LensMode::Depth),
        SB_LENS_INVERSE_DEPTH => Ok(LensMode::InverseDepth),
        SB_LENS_COC => Ok(LensMode::Coc),
        m => Err(fail(
            SbStatus::Lens,
            format!("{what} `mode` = {m} is not one of SB_LENS_DEPTH (0), SB_LENS_INVERSE_DEPTH (1), SB_LENS_COC (2)"),
        )),
    }
}

/// The edge treatment of a C value.
fn edges_of(edges: i32, what: &str) -> Result<Edges, Failure> {
    match edges {
        SB_EDGES_GATHER => Ok(Edges::Gather),
        SB_EDGES_LAYERED => Ok(Edges::Layered),
        e => Err(fail(
            SbStatus::Lens,
            format!("{what} `edges` = {e} is not one of SB_EDGES_GATHER (0), SB_EDGES_LAYERED (1)"),
        )),
    }
}

/// Reads and checks `*lens`.
///
/// # Safety
/// `lens` must be NULL or point at a readable `sb_lens`.
unsafe fn check_lens(lens: *const SbLens) -> Result<(Lens, Edges), Failure> {
    // SAFETY: per the caller.
    let l = unsafe { read_sized(lens, "lens") }?;
    let (mode, edges) = (lens_mode(l.mode, "lens")?, edges_of(l.edges, "lens")?);
    let lens =
        Lens { mode, focus: l.focus, dof: l.dof, size: l.size, maximum: l.maximum, render_scale: l.render_scale };
    lens.validate().map_err(|e| fail(SbStatus::Lens, e.to_string()))?;
    Ok((lens, edges))
}

/// Reads `*options` into a render request (checked by the engine).
///
/// # Safety
/// `options` must be NULL or point at a readable `sb_options`.
unsafe fn read_options(options: *const SbOptions) -> Result<RenderOptions, Failure> {
    // SAFETY: per the caller.
    // A caller built with the first 0.2 header fills the fields up to `invert_depth`; the
    // lens-character fields appended since then take their defaults.
    let first = std::mem::offset_of!(SbOptions, rotation);
    // SAFETY: per the caller.
    let o = unsafe { read_sized_from(options, "options", first, default_options()) }?;
    let output = match o.output {
        SB_OUTPUT_RESULT => Output::Result,
        SB_OUTPUT_FOCAL_PLANE_SETUP => Output::FocalPlaneSetup,
        SB_OUTPUT_COC_MAP => Output::CocMap,
        SB_OUTPUT_COC_MAP_NORMALISED => Output::CocMapNormalised,
        SB_OUTPUT_DEPTH_SLICES => Output::DepthSlices,
        v => {
            return Err(fail(
                SbStatus::InvalidArgument,
                format!("options `output` = {v} is not one of SB_OUTPUT_RESULT (0), SB_OUTPUT_FOCAL_PLANE_SETUP (1), SB_OUTPUT_COC_MAP (2), SB_OUTPUT_COC_MAP_NORMALISED (3), SB_OUTPUT_DEPTH_SLICES (4)"),
            ))
        }
    };
    let (mode, edges) = (lens_mode(o.mode, "options")?, edges_of(o.edges, "options")?);
    let lens =
        Lens { mode, focus: o.focus, dof: o.dof, size: o.size, maximum: o.maximum, render_scale: o.render_scale };
    let depth_channel = usize::try_from(o.depth_channel).map_err(|_| {
        fail(SbStatus::InvalidArgument, format!("options `depth_channel` = {} is negative", o.depth_channel))
    })?;
    Ok(RenderOptions {
        lens,
        edges,
        output,
        mix: o.mix,
        radius: o.radius,
        depth_channel,
        invert_depth: o.invert_depth != 0,
        rotation: o.rotation,
        aspect: o.aspect,
        pixel_aspect: o.pixel_aspect,
        bloom_threshold: o.bloom_threshold,
        bloom_gain: o.bloom_gain,
        gamma: o.gamma,
        focus_at: (o.focus_from_point != 0).then_some([o.focus_x, o.focus_y]),
    })
}

/// # Safety
/// `bundle` must be NULL or a live handle from `sb_bundle_load*`.
unsafe fn bundle_ref<'a>(bundle: *const SbBundle) -> Result<&'a SbBundle, Failure> {
    // SAFETY: NULL or a live handle (the caller's promise); live handles are never mutated.
    unsafe { bundle.as_ref() }.ok_or_else(|| fail(SbStatus::NullPointer, "`bundle` is NULL"))
}

fn depth_channel_index(channel: c_int, depth: &Checked) -> Result<usize, Failure> {
    match usize::try_from(channel) {
        Ok(c) if c < depth.channels => Ok(c),
        _ => Err(fail(
            SbStatus::InvalidArgument,
            format!("depth channel {channel} does not exist: the depth image has {} channel(s)", depth.channels),
        )),
    }
}

/// `src` and `dst` must have the same width, height and channels.
fn same_shape(s: &Checked, d: &Checked) -> Outcome {
    if s.width != d.width || s.height != d.height || s.channels != d.channels {
        return Err(fail(
            SbStatus::SizeMismatch,
            format!(
                "`src` is {}×{}×{} but `dst` is {}×{}×{}",
                s.width, s.height, s.channels, d.width, d.height, d.channels
            ),
        ));
    }
    Ok(())
}

fn same_size(a: &Checked, b: &Checked, what: &str) -> Outcome {
    if a.width != b.width || a.height != b.height {
        return Err(fail(
            SbStatus::SizeMismatch,
            format!("{what} is {}×{} but the source is {}×{}", b.width, b.height, a.width, a.height),
        ));
    }
    Ok(())
}

fn no_overlap(input: &Checked, what: &str, output: &Checked, out_what: &str) -> Outcome {
    if input.overlaps(output) {
        return Err(fail(
            SbStatus::Overlap,
            format!(
                "`{out_what}` (bytes {:#x}..{:#x}) overlaps `{what}` (bytes {:#x}..{:#x}); render into a separate buffer",
                output.lo, output.hi, input.lo, input.hi
            ),
        ));
    }
    Ok(())
}

/// Refuses a plain blur whose reach or padded working frame would be absurd, before the
/// engine builds anything (the engine's own guard, which `sb_render` runs inside
/// `Engine::render`).
fn check_render_size(bundle: &Bundle, max_radius: f64, src: &Checked, per_pixel: bool) -> Outcome {
    check_reach(bundle, max_radius, (src.width, src.height, src.channels), per_pixel).map_err(render_failure)
}

/// # Safety
/// `out` must be NULL or writable.
unsafe fn write_stats(out: *mut SbStats, stats: &RenderStats) {
    let s = SbStats {
        nonfinite_samples: stats.nonfinite_samples as u64,
        bad_depth: stats.bad_depth as u64,
        max_radius: stats.max_radius,
        tables: stats.tables as u32,
    };
    if !out.is_null() {
        // SAFETY: non-null and, per the caller, writable; unaligned write for robustness.
        unsafe { std::ptr::write_unaligned(out, s) };
    }
}

fn with_engine<R>(ctx: *const SbContext, f: impl FnOnce(&Engine) -> Result<R, Failure>) -> Result<R, Failure> {
    // SAFETY: NULL or a live handle from `sb_context_create` (the caller's promise).
    match unsafe { ctx.as_ref() } {
        Some(c) => f(&c.engine),
        None => f(&Engine::new(0).map_err(render_failure)?),
    }
}

const fn parse_u32(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut v = 0u32;
    while i < b.len() {
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    v
}

/// The library version as `(major << 16) | (minor << 8) | patch`.
pub const VERSION_NUMBER: u32 = (parse_u32(env!("CARGO_PKG_VERSION_MAJOR")) << 16)
    | (parse_u32(env!("CARGO_PKG_VERSION_MINOR")) << 8)
    | parse_u32(env!("CARGO_PKG_VERSION_PATCH"));

const VERSION_TEXT: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
    Ok(s) => s,
    Err(_) => panic!("the package version has no interior NUL"),
};

// ---------------------------------------------------------------------------------------------
// Entry points. The header documents each; the comments here say what Rust guarantees.

/// `sb_version`: the library version, `(major << 16) | (minor << 8) | patch`.
#[no_mangle]
pub extern "C" fn sb_version() -> u32 {
    barrier_value(0, || VERSION_NUMBER)
}

/// `sb_version_string`: the version as static text, e.g. `"0.1.0"`.
#[no_mangle]
pub extern "C" fn sb_version_string() -> *const c_char {
    barrier_value(c"".as_ptr(), || VERSION_TEXT.as_ptr())
}

/// `sb_status_string`: a static description of a status code (never NULL).
#[no_mangle]
pub extern "C" fn sb_status_string(status: c_int) -> *const c_char {
    barrier_value(c"unknown status".as_ptr(), || {
        let all = [
            SbStatus::Ok,
            SbStatus::NullPointer,
            SbStatus::Image,
            SbStatus::SizeMismatch,
            SbStatus::Overlap,
            SbStatus::Lens,
            SbStatus::InvalidArgument,
            SbStatus::Unsupported,
            SbStatus::Io,
            SbStatus::BundleParse,
            SbStatus::BundleInvalid,
            SbStatus::BundleVersion,
            SbStatus::BufferTooSmall,
            SbStatus::TooLarge,
            SbStatus::Cpu,
            SbStatus::Threads,
            SbStatus::Internal,
        ];
        all.iter().find(|s| **s as c_int == status).map_or(c"unknown status".as_ptr(), |s| s.describe().as_ptr())
    })
}

/// `sb_last_error`: the calling thread's message for its last failed call ("" after a success).
#[no_mangle]
pub extern "C" fn sb_last_error() -> *const c_char {
    barrier_value(c"".as_ptr(), || {
        // The CString stays in the thread-local until the next status-returning call on this
        // thread replaces it, so the pointer is valid until then.
        LAST_ERROR.try_with(|e| e.borrow().as_ptr()).unwrap_or(c"".as_ptr())
    })
}

/// The C value of a lens mode.
fn mode_value(mode: LensMode) -> i32 {
    match mode {
        LensMode::Depth => SB_LENS_DEPTH,
        LensMode::InverseDepth => SB_LENS_INVERSE_DEPTH,
        LensMode::Coc => SB_LENS_COC,
    }
}

/// The C value of an edge treatment.
fn edges_value(edges: Edges) -> i32 {
    match edges {
        Edges::Gather => SB_EDGES_GATHER,
        Edges::Layered => SB_EDGES_LAYERED,
    }
}

/// The C value of an output kind.
fn output_value(output: Output) -> i32 {
    match output {
        Output::Result => SB_OUTPUT_RESULT,
        Output::FocalPlaneSetup => SB_OUTPUT_FOCAL_PLANE_SETUP,
        Output::CocMap => SB_OUTPUT_COC_MAP,
        Output::CocMapNormalised => SB_OUTPUT_COC_MAP_NORMALISED,
        Output::DepthSlices => SB_OUTPUT_DEPTH_SLICES,
    }
}

/// The defaults of `sb_options` ([`RenderOptions::default`]).
pub fn default_options() -> SbOptions {
    let d = RenderOptions::default();
    let l = d.lens;
    SbOptions {
        struct_size: std::mem::size_of::<SbOptions>() as u32,
        mode: mode_value(l.mode),
        edges: edges_value(d.edges),
        output: output_value(d.output),
        focus: l.focus,
        dof: l.dof,
        size: l.size,
        maximum: l.maximum,
        render_scale: l.render_scale,
        mix: d.mix,
        radius: d.radius,
        depth_channel: d.depth_channel as i32,
        invert_depth: d.invert_depth as i32,
        rotation: d.rotation,
        aspect: d.aspect,
        pixel_aspect: d.pixel_aspect,
        bloom_threshold: d.bloom_threshold,
        bloom_gain: d.bloom_gain,
        gamma: d.gamma,
        focus_x: d.focus_at.map_or(0.0, |p| p[0]),
        focus_y: d.focus_at.map_or(0.0, |p| p[1]),
        focus_from_point: d.focus_at.is_some() as i32,
    }
}

/// The defaults of `sb_lens` (the lens and edges of [`RenderOptions::default`]).
pub fn default_lens() -> SbLens {
    let o = default_options();
    SbLens {
        struct_size: std::mem::size_of::<SbLens>() as u32,
        mode: o.mode,
        edges: o.edges,
        focus: o.focus,
        dof: o.dof,
        size: o.size,
        maximum: o.maximum,
        render_scale: o.render_scale,
    }
}

/// Writes `value` to `*out` (NULL: a status).
///
/// # Safety
/// `out` must be NULL or point at writable memory for a `T`.
unsafe fn write_out<T>(out: *mut T, what: &str, value: T) -> Outcome {
    if out.is_null() {
        return Err(fail(SbStatus::NullPointer, format!("`{what}` is NULL")));
    }
    // SAFETY: non-null and writable per the caller; unaligned write for robustness.
    unsafe { std::ptr::write_unaligned(out, value) };
    Ok(())
}

/// `sb_lens_default`: fills `*lens` with the defaults (and its `struct_size`).
///
/// # Safety
/// `lens` must be NULL or point at writable memory for an `sb_lens`.
#[no_mangle]
pub unsafe extern "C" fn sb_lens_default(lens: *mut SbLens) -> SbStatus {
    // SAFETY: per the caller.
    barrier(|| unsafe { write_out(lens, "lens", default_lens()) })
}

/// `sb_options_default`: fills `*options` with the defaults (and its `struct_size`).
///
/// # Safety
/// `options` must be NULL or point at writable memory for an `sb_options`.
#[no_mangle]
pub unsafe extern "C" fn sb_options_default(options: *mut SbOptions) -> SbStatus {
    // SAFETY: per the caller.
    barrier(|| unsafe { write_out(options, "options", default_options()) })
}

/// `sb_context_create`: a render context with `threads` threads (0 = all cores).
///
/// # Safety
/// `out` must be NULL or point at writable memory for a pointer.
#[no_mangle]
pub unsafe extern "C" fn sb_context_create(threads: u32, out: *mut *mut SbContext) -> SbStatus {
    barrier(|| {
        if out.is_null() {
            return Err(fail(SbStatus::NullPointer, "`out` is NULL"));
        }
        // SAFETY: non-null and writable per the caller; cleared first so a failure leaves NULL.
        unsafe { out.write_unaligned(std::ptr::null_mut()) };
        cpu_check()?;
        if threads > MAX_THREADS {
            return Err(fail(SbStatus::InvalidArgument, format!("{threads} threads: at most {MAX_THREADS}")));
        }
        let engine = Engine::new(threads as usize).map_err(render_failure)?;
        let handle = Box::into_raw(Box::new(SbContext { engine }));
        // SAFETY: as above.
        unsafe { out.write_unaligned(handle) };
        Ok(())
    })
}

/// Frees a handle made by `Box::into_raw`; NULL is a no-op.
///
/// # Safety
/// `handle` must be NULL or a live handle of this type, not used afterwards.
unsafe fn free_handle<T>(handle: *mut T) {
    if !handle.is_null() {
        // SAFETY: per the caller, a live `Box::into_raw` handle, freed once.
        drop(unsafe { Box::from_raw(handle) });
    }
}

/// `sb_context_free`: frees a context; NULL is a no-op.
///
/// # Safety
/// `ctx` must be NULL or a live handle from `sb_context_create`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn sb_context_free(ctx: *mut SbContext) {
    // SAFETY: NULL or a live handle made by `Box::into_raw` in `sb_context_create` (the caller's
    // promise), freed once.
    barrier_value((), || unsafe { free_handle(ctx) })
}

/// `sb_context_threads`: the threads a context renders with (NULL: the default context's).
///
/// # Safety
/// `ctx` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn sb_context_threads(ctx: *const SbContext) -> u32 {
    barrier_value(0, || with_engine(ctx, |e| Ok(e.threads() as u32)).unwrap_or(0))
}

fn make_bundle(bundle: Bundle) -> SbBundle {
    let name = CString::new(bundle.name.replace('\0', "\u{FFFD}")).unwrap_or_default();
    SbBundle { bundle, name }
}

/// # Safety
/// `out` must be NULL or writable.
unsafe fn load_into(out: *mut *mut SbBundle, load: impl FnOnce() -> Result<Bundle, Failure>) -> Outcome {
    if out.is_null() {
        return Err(fail(SbStatus::NullPointer, "`out` is NULL"));
    }
    // SAFETY: non-null and writable per the caller; cleared first so a failure leaves NULL.
    unsafe { out.write_unaligned(std::ptr::null_mut()) };
    cpu_check()?;
    let handle = Box::into_raw(Box::new(make_bundle(load()?)));
    // SAFETY: as above.
    unsafe { out.write_unaligned(handle) };
    Ok(())
}

/// `sb_bundle_load`: reads and validates a bundle file.
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sb_bundle_load(path: *const c_char, out: *mut *mut SbBundle) -> SbStatus {
    barrier(|| {
        let load = || {
            if path.is_null() {
                return Err(fail(SbStatus::NullPointer, "`path` is NULL"));
            }
            // SAFETY: non-null and NUL-terminated per the caller.
            let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
            #[cfg(unix)]
            let p = std::path::PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(bytes));
            #[cfg(not(unix))]
            let p = std::path::PathBuf::from(
                std::str::from_utf8(bytes).map_err(|_| fail(SbStatus::InvalidArgument, "`path` is not valid UTF-8"))?,
            );
            Bundle::load(&p).map_err(bundle_failure)
        };
        // SAFETY: `out` is NULL or writable per the caller.
        unsafe { load_into(out, load) }
    })
}

/// `sb_bundle_load_memory`: parses and validates a bundle held in memory.
///
/// # Safety
/// `data` must be NULL or readable for `size` bytes; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sb_bundle_load_memory(data: *const c_void, size: usize, out: *mut *mut SbBundle) -> SbStatus {
    barrier(|| {
        let load = || {
            if data.is_null() && size > 0 {
                return Err(fail(SbStatus::NullPointer, format!("`data` is NULL but `size` is {size}")));
            }
            if size as u64 > MAX_FILE_BYTES {
                return Err(fail(
                    SbStatus::TooLarge,
                    format!("a {size}-byte bundle is larger than the {MAX_FILE_BYTES}-byte limit"),
                ));
            }
            let bytes: &[u8] = if size == 0 {
                &[]
            } else {
                // SAFETY: non-null, `size` ≤ 32 MiB < isize::MAX, readable per the caller.
                unsafe { std::slice::from_raw_parts(data as *const u8, size) }
            };
            Bundle::from_slice(bytes).map_err(bundle_failure)
        };
        // SAFETY: `out` is NULL or writable per the caller.
        unsafe { load_into(out, load) }
    })
}

/// `sb_bundle_free`: frees a bundle; NULL is a no-op.
///
/// # Safety
/// `bundle` must be NULL or a live handle from `sb_bundle_load*`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn sb_bundle_free(bundle: *mut SbBundle) {
    // SAFETY: NULL or a live handle made by `Box::into_raw` in `load_into` (the caller's
    // promise), freed once.
    barrier_value((), || unsafe { free_handle(bundle) })
}

/// `sb_bundle_name`: the bundle's name, owned by the handle (NULL for a NULL handle).
///
/// # Safety
/// `bundle` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn sb_bundle_name(bundle: *const SbBundle) -> *const c_char {
    barrier_value(std::ptr::null(), || {
        // SAFETY: per the caller.
        unsafe { bundle.as_ref() }.map_or(std::ptr::null(), |b| b.name.as_ptr())
    })
}

/// `sb_bundle_layers`: layers per complex (0 for a NULL handle).
///
/// # Safety
/// `bundle` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn sb_bundle_layers(bundle: *const SbBundle) -> usize {
    // SAFETY: per the caller.
    barrier_value(0, || unsafe { bundle.as_ref() }.map_or(0, |b| b.bundle.layers))
}

/// `sb_bundle_taps`: taps per layer (0 for a NULL handle).
///
/// # Safety
/// `bundle` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn sb_bundle_taps(bundle: *const SbBundle) -> usize {
    // SAFETY: per the caller.
    barrier_value(0, || unsafe { bundle.as_ref() }.map_or(0, |b| b.bundle.taps))
}

/// `sb_bundle_radius_count`: basis entries (0 for a NULL handle).
///
/// # Safety
/// `bundle` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn sb_bundle_radius_count(bundle: *const SbBundle) -> usize {
    // SAFETY: per the caller.
    barrier_value(0, || unsafe { bundle.as_ref() }.map_or(0, |b| b.bundle.basis.len()))
}

/// `sb_bundle_radii`: copies the basis radii (increasing) into `out[0..count]`.
///
/// # Safety
/// `bundle` NULL or a live handle; `out` NULL or writable for `capacity` doubles.
#[no_mangle]
pub unsafe extern "C" fn sb_bundle_radii(bundle: *const SbBundle, out: *mut f64, capacity: usize) -> SbStatus {
    barrier(|| {
        // SAFETY: per the caller.
        let b = unsafe { bundle_ref(bundle) }?;
        if out.is_null() {
            return Err(fail(SbStatus::NullPointer, "`out` is NULL"));
        }
        let radii = b.bundle.radii();
        if capacity < radii.len() {
            return Err(fail(
                SbStatus::BufferTooSmall,
                format!("`out` holds {capacity} radii but the bundle has {}", radii.len()),
            ));
        }
        for (i, r) in radii.iter().enumerate() {
            // SAFETY: i < radii.len() ≤ capacity, and `out` is writable for `capacity` doubles.
            unsafe { out.add(i).write_unaligned(*r) };
        }
        Ok(())
    })
}

/// `sb_blur_fixed`: blurs `src` into `dst` with the bundle's kernel at one radius.
///
/// # Safety
/// Pointers NULL or valid per the header; `src->data`/`dst->data` must span the described rows.
#[no_mangle]
pub unsafe extern "C" fn sb_blur_fixed(
    ctx: *const SbContext,
    bundle: *const SbBundle,
    radius: f64,
    src: *const SbImage,
    dst: *const SbImage,
    stats: *mut SbStats,
) -> SbStatus {
    barrier(|| {
        cpu_check()?;
        // SAFETY (this block's calls): every pointer is NULL or valid per the caller; NULLs
        // are reported by the checks.
        let (b, s, d) = unsafe { (bundle_ref(bundle)?, check_image(src, "src")?, check_image(dst, "dst")?) };
        if !(radius.is_finite() && (0.0..=crate::render::lens::MAX_RADIUS).contains(&radius)) {
            return Err(render_failure(RenderError::Radius(radius)));
        }
        same_shape(&s, &d)?;
        no_overlap(&s, "src", &d, "dst")?;
        check_render_size(&b.bundle, radius, &s, false)?;
        // SAFETY: both ranges are checked and disjoint; the caller owns the memory for the
        // duration of the call.
        let (sv, mut dv) = unsafe { (s.view(), d.view_mut()) };
        let st = with_engine(ctx, |e| e.blur_fixed(&b.bundle, radius, &sv, &mut dv).map_err(render_failure))?;
        // SAFETY: `stats` NULL or writable per the caller.
        unsafe { write_stats(stats, &st) };
        Ok(())
    })
}

/// `sb_blur_depth`: blurs `src` into `dst`, each pixel's radius from `depth` through `lens`.
///
/// # Safety
/// Pointers NULL or valid per the header; image data must span the described rows.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn sb_blur_depth(
    ctx: *const SbContext,
    bundle: *const SbBundle,
    lens: *const SbLens,
    src: *const SbImage,
    depth: *const SbImage,
    depth_channel: c_int,
    dst: *const SbImage,
    stats: *mut SbStats,
) -> SbStatus {
    barrier(|| {
        cpu_check()?;
        // SAFETY (this block's calls): every pointer is NULL or valid per the caller.
        let (b, (l, edges), s, z, d) = unsafe {
            (
                bundle_ref(bundle)?,
                check_lens(lens)?,
                check_image(src, "src")?,
                check_image(depth, "depth")?,
                check_image(dst, "dst")?,
            )
        };
        let channel = depth_channel_index(depth_channel, &z)?;
        same_shape(&s, &d)?;
        same_size(&s, &z, "`depth`")?;
        no_overlap(&s, "src", &d, "dst")?;
        no_overlap(&z, "depth", &d, "dst")?;
        check_render_size(&b.bundle, l.maximum * l.render_scale, &s, true)?;
        // SAFETY: all ranges checked; `dst` overlaps neither input (inputs may share memory,
        // both being read-only); the caller owns the memory for the duration of the call.
        let (sv, zv, mut dv) = unsafe { (s.view(), z.view(), d.view_mut()) };
        let st = with_engine(ctx, |e| {
            e.blur_depth_with(&b.bundle, &l, edges, &zv, channel, &sv, &mut dv).map_err(render_failure)
        })?;
        // SAFETY: `stats` NULL or writable per the caller.
        unsafe { write_stats(stats, &st) };
        Ok(())
    })
}

/// `sb_render`: renders `src` into `dst` as `options` ask (the one render request: blur,
/// focal-plane setup or CoC map, mix), each pixel's radius from `depth` when it is not NULL.
///
/// # Safety
/// Pointers NULL or valid per the header; image data must span the described rows.
#[no_mangle]
pub unsafe extern "C" fn sb_render(
    ctx: *const SbContext,
    bundle: *const SbBundle,
    options: *const SbOptions,
    src: *const SbImage,
    depth: *const SbImage,
    dst: *const SbImage,
    stats: *mut SbStats,
) -> SbStatus {
    barrier(|| {
        cpu_check()?;
        // SAFETY (this block's calls): every pointer is NULL or valid per the caller; NULLs
        // are reported by the checks, and a NULL depth or bundle is allowed.
        let (o, s, d) = unsafe { (read_options(options)?, check_image(src, "src")?, check_image(dst, "dst")?) };
        let z = if depth.is_null() { None } else { Some(unsafe { check_image(depth, "depth")? }) };
        // SAFETY: as above.
        let b = unsafe { bundle.as_ref() }.map(|b| &b.bundle);
        same_shape(&s, &d)?;
        no_overlap(&s, "src", &d, "dst")?;
        if let Some(z) = &z {
            depth_channel_index(o.depth_channel as c_int, z)?;
            same_size(&s, z, "`depth`")?;
            no_overlap(z, "depth", &d, "dst")?;
        }
        o.validate(z.is_some()).map_err(render_failure)?;
        // SAFETY: all ranges checked; `dst` overlaps neither input; the caller owns the memory
        // for the duration of the call.
        let (sv, zv, mut dv) = unsafe { (s.view(), z.map(|z| z.view()), d.view_mut()) };
        let st = with_engine(ctx, |e| e.render(b, &o, &sv, zv.as_ref(), &mut dv).map_err(render_failure))?;
        // SAFETY: `stats` NULL or writable per the caller.
        unsafe { write_stats(stats, &st) };
        Ok(())
    })
}

/// `sb_coc_map`: writes each pixel's blur radius (pixels, render scale applied) into the
/// one-channel image `dst`.
///
/// # Safety
/// Pointers NULL or valid per the header; image data must span the described rows.
#[no_mangle]
pub unsafe extern "C" fn sb_coc_map(
    lens: *const SbLens,
    depth: *const SbImage,
    depth_channel: c_int,
    dst: *const SbImage,
    stats: *mut SbStats,
) -> SbStatus {
    barrier(|| {
        cpu_check()?;
        // SAFETY (this block's calls): every pointer is NULL or valid per the caller.
        let ((l, _), z, d) = unsafe { (check_lens(lens)?, check_image(depth, "depth")?, check_image(dst, "dst")?) };
        let channel = depth_channel_index(depth_channel, &z)?;
        if d.channels != 1 {
            return Err(fail(
                SbStatus::SizeMismatch,
                format!("`dst` has {} channels; the CoC map needs 1", d.channels),
            ));
        }
        if z.width != d.width || z.height != d.height {
            return Err(fail(
                SbStatus::SizeMismatch,
                format!("`dst` is {}×{} but `depth` is {}×{}", d.width, d.height, z.width, z.height),
            ));
        }
        no_overlap(&z, "depth", &d, "dst")?;
        // SAFETY: ranges checked and disjoint; the caller owns the memory during the call.
        let (zv, mut dv) = unsafe { (z.view(), d.view_mut()) };
        let (radii, bad) = l.coc_map(&zv, channel);
        let w = d.width;
        for (y, row) in dv.rows_mut().into_iter().enumerate() {
            row.copy_from_slice(&radii[y * w..(y + 1) * w]);
        }
        let st =
            RenderStats { bad_depth: bad, max_radius: radii.iter().copied().fold(0.0, f32::max), ..Default::default() };
        // SAFETY: `stats` NULL or writable per the caller.
        unsafe { write_stats(stats, &st) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error_text() -> String {
        // SAFETY: sb_last_error returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(sb_last_error()) }.to_string_lossy().into_owned()
    }

    #[test]
    fn barrier_turns_a_panic_into_a_status_and_a_message() {
        let status = barrier(|| panic!("boom {}", 42));
        assert_eq!(status, SbStatus::Internal);
        assert!(last_error_text().contains("boom 42"), "{}", last_error_text());
        let status = barrier(|| std::panic::panic_any(7u8));
        assert_eq!(status, SbStatus::Internal);
        assert!(last_error_text().contains("unknown panic payload"));
        assert_eq!(barrier_value(5, || -> i32 { panic!("value") }), 5);
        assert!(last_error_text().contains("value"));
        assert_eq!(barrier(|| Ok(())), SbStatus::Ok);
        assert_eq!(last_error_text(), "");
    }

    #[test]
    fn messages_with_nul_bytes_survive() {
        assert_eq!(barrier(|| Err(fail(SbStatus::Image, "a\0b"))), SbStatus::Image);
        assert_eq!(last_error_text(), "a\u{FFFD}b");
    }

    #[test]
    fn status_strings_cover_every_status() {
        for s in 0..=16 {
            // SAFETY: static strings.
            let text = unsafe { CStr::from_ptr(sb_status_string(s)) }.to_str().unwrap();
            assert_ne!(text, "unknown status", "status {s}");
        }
        // SAFETY: static string.
        assert_eq!(unsafe { CStr::from_ptr(sb_status_string(17)) }.to_str().unwrap(), "unknown status");
    }

    #[test]
    fn version_number_matches_the_package() {
        let v = format!("{}.{}.{}", VERSION_NUMBER >> 16, (VERSION_NUMBER >> 8) & 0xff, VERSION_NUMBER & 0xff);
        assert_eq!(v, env!("CARGO_PKG_VERSION"));
    }
}

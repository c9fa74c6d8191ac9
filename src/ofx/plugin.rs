//! The exported entry points, the plugin record and the actions.
//!
//! Every entry point runs inside `catch_unwind`: a panic becomes `kOfxStatFailed` (with a message
//! through the host's message suite when it has one), never an unwind into the host.

use super::cache::{FrameCache, FrameKey};
use super::host::{self, ImageGuard, OfxError, OfxResult, Props, Suites};
use super::params::{self, Handles, Shape, Values, When};
use super::pixels::{compose, premultiply, text, BitDepth, ContentHash, HostImage, Rect};
use super::sys::*;
use crate::bundle::Bundle;
use crate::image::{ImageView, ImageViewMut};
use crate::render::{Edges, Engine, Lens, Output, RenderOptions};
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

/// The plugin's identifier: a contract, saved projects refer to it.
pub const PLUGIN_ID: &str = "org.sparsebokeh.LensBlur";
pub const PLUGIN_LABEL: &str = "Sparse Lens Blur";
pub const PLUGIN_GROUP: &str = "Filter/Blur";
pub const VERSION_MAJOR: u32 = 1;
pub const VERSION_MINOR: u32 = 0;

/// Clip names (the Filter context mandates "Source" and "Output").
pub const CLIP_SOURCE: &str = "Source";
pub const CLIP_DEPTH: &str = "Depth";
pub const CLIP_OUTPUT: &str = "Output";

struct PluginRecord(OfxPlugin);

// SAFETY: the record is immutable and its pointers are to 'static NUL-terminated strings and to
// functions; hosts only read it.
unsafe impl Sync for PluginRecord {}

static PLUGIN: PluginRecord = PluginRecord(OfxPlugin {
    pluginApi: kOfxImageEffectPluginApi.as_ptr() as *const c_char,
    apiVersion: kOfxImageEffectPluginApiVersion,
    pluginIdentifier: c"org.sparsebokeh.LensBlur".as_ptr(),
    pluginVersionMajor: VERSION_MAJOR,
    pluginVersionMinor: VERSION_MINOR,
    setHost: Some(set_host),
    mainEntry: Some(main_entry),
});

/// How many plugins this binary holds (one).
#[no_mangle]
pub extern "C" fn OfxGetNumberOfPlugins() -> c_int {
    catch_unwind(|| 1).unwrap_or(0)
}

/// The plugin record for index `nth` (0), or NULL for any other index.
#[no_mangle]
pub extern "C" fn OfxGetPlugin(nth: c_int) -> *mut OfxPlugin {
    catch_unwind(|| if nth == 0 { &PLUGIN.0 as *const OfxPlugin as *mut OfxPlugin } else { std::ptr::null_mut() })
        .unwrap_or(std::ptr::null_mut())
}

extern "C" fn set_host(host: *mut OfxHost) {
    let _ = catch_unwind(|| host::set_host(host));
}

extern "C" fn main_entry(
    action: *const c_char,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxStatus {
    let mut rendering = false;
    let result = catch_unwind(AssertUnwindSafe(|| {
        if action.is_null() {
            return Err(OfxError::with_status(kOfxStatErrBadHandle, "the host passed a NULL action"));
        }
        // SAFETY: the host passes the action as a NUL-terminated string valid for this call.
        let action = unsafe { CStr::from_ptr(action) }.to_bytes_with_nul();
        rendering = action == kOfxImageEffectActionRender;
        dispatch(action, handle as OfxImageEffectHandle, in_args, out_args)
    }));
    let (status, message) = match result {
        Ok(Ok(status)) => (status, None),
        Ok(Err(e)) => (e.status, Some(e.message)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            (kOfxStatFailed, Some(format!("internal error: {what}")))
        }
    };
    // Posting can itself misbehave in a broken host: keep it behind the barrier too.
    let _ = catch_unwind(AssertUnwindSafe(|| report(handle, message, rendering && status == kOfxStatOK)));
    status
}

/// Shows an action's error: on an instance once while it lasts (persistently where the host can;
/// a missing bundle fails InstanceChanged, both regions of interest and Render of every frame),
/// elsewhere as a plain message. A good render clears what was shown.
fn report(handle: *const c_void, message: Option<String>, rendered: bool) {
    let Some(s) = host::suites_if_loaded() else {
        if let Some(m) = message {
            host::post_without_suites(kOfxMessageError, &format!("{PLUGIN_LABEL}: {m}"));
        }
        return;
    };
    if message.is_none() && !rendered {
        return;
    }
    let inst = if handle.is_null() { None } else { instance(&s, handle as OfxImageEffectHandle).ok() };
    match (inst, message) {
        (Some(i), Some(m)) => i.show(&s, handle, &m),
        (Some(i), None) => i.clear_shown(&s, handle),
        (None, Some(m)) => s.post(handle, kOfxMessageError, &format!("{PLUGIN_LABEL}: {m}")),
        (None, None) => {}
    }
}

fn dispatch(
    action: &[u8],
    effect: OfxImageEffectHandle,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxResult<OfxStatus> {
    if action == kOfxActionLoad {
        return load();
    }
    if action == kOfxActionUnload {
        host::unload();
        bundle_cache().lock().unwrap_or_else(|e| e.into_inner()).clear();
        // The render threads end with the binary's use.
        *RENDERER.write().unwrap_or_else(|e| e.into_inner()) = None;
        return Ok(kOfxStatOK);
    }
    let s = host::suites()?;
    let s = &s;
    match action {
        a if a == kOfxActionDescribe => describe(s, effect),
        a if a == kOfxImageEffectActionDescribeInContext => describe_in_context(s, effect, in_args),
        a if a == kOfxActionCreateInstance => create_instance(s, effect),
        a if a == kOfxActionDestroyInstance => destroy_instance(s, effect),
        a if a == kOfxImageEffectActionGetRegionOfDefinition => region_of_definition(s, effect, in_args, out_args),
        a if a == kOfxImageEffectActionGetRegionsOfInterest => regions_of_interest(s, effect, in_args, out_args),
        a if a == kOfxImageEffectActionGetClipPreferences => clip_preferences(s, effect, out_args),
        a if a == kOfxImageEffectActionIsIdentity => is_identity(s, effect, in_args, out_args),
        a if a == kOfxImageEffectActionRender => render(s, effect, in_args),
        a if a == kOfxActionInstanceChanged => instance_changed(s, effect, in_args),
        a if a == kOfxActionPurgeCaches => {
            bundle_cache().lock().unwrap_or_else(|e| e.into_inner()).clear();
            if let Ok(inst) = instance(s, effect) {
                inst.frames.clear();
            }
            Ok(kOfxStatOK)
        }
        _ => Ok(kOfxStatReplyDefault),
    }
}

// ---------------------------------------------------------------------------------------------
// Global state: the render pool (sized by the host), the bundle cache, the resource path.

/// The render pool and the engines that render on it: one per frame in flight, each keeping its
/// frame buffers for the next frame (frames rendered at once would otherwise take turns with
/// one engine's buffers and page fresh ones in).
struct Renderer {
    pool: rayon::ThreadPool,
    engines: Mutex<Vec<Engine>>,
}

impl Renderer {
    /// Engines kept between frames (more frames at once make new ones, dropped after).
    const KEEP: usize = 4;

    /// Runs `f` on the pool with an engine no other render is using.
    fn run<R: Send>(&self, f: impl FnOnce(&Engine) -> R + Send) -> OfxResult<R> {
        let kept = self.engines.lock().unwrap_or_else(|e| e.into_inner()).pop();
        // Engine::new(0) renders on the pool it is called in: `install` puts it on this one.
        let engine = match kept {
            Some(e) => e,
            None => Engine::new(0).map_err(|e| OfxError::failed(e.to_string()))?,
        };
        let r = self.pool.install(|| f(&engine));
        let mut engines = self.engines.lock().unwrap_or_else(|e| e.into_inner());
        if engines.len() < Self::KEEP {
            engines.push(engine);
        }
        Ok(r)
    }
}

/// The one pool every render of the binary runs on, sized to the CPU count the host's
/// multi-thread suite reports at Load (ARCHITECTURE.md "Front ends"): frames the host renders at
/// once share it instead of each bringing a pool of its own. Dropped at Unload.
static RENDERER: RwLock<Option<Arc<Renderer>>> = RwLock::new(None);

fn renderer() -> OfxResult<Arc<Renderer>> {
    if let Some(r) = &*RENDERER.read().unwrap_or_else(|e| e.into_inner()) {
        return Ok(r.clone());
    }
    let threads = host::suites()?.cpus;
    let mut slot = RENDERER.write().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = &*slot {
        return Ok(r.clone());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("sparsebokeh-{i}"))
        .build()
        .map_err(|e| OfxError::failed(format!("cannot start {threads} render threads: {e}")))?;
    let r = Arc::new(Renderer { pool, engines: Mutex::new(Vec::new()) });
    *slot = Some(r.clone());
    Ok(r)
}

/// Key of the bundle cache: the file and what it looked like when loaded, so an edited custom
/// bundle is read again while an unchanged one is read once.
type CacheKey = (PathBuf, Option<std::time::SystemTime>, u64);

fn bundle_cache() -> &'static Mutex<HashMap<CacheKey, Arc<Bundle>>> {
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, Arc<Bundle>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The bundle path the host reported in Describe (`kOfxPluginPropFilePath`).
static PLUGIN_FILE_PATH: RwLock<Option<PathBuf>> = RwLock::new(None);

/// Loads a bundle file once and shares it.
pub fn cached_bundle(path: &Path) -> OfxResult<Arc<Bundle>> {
    let meta =
        std::fs::metadata(path).map_err(|e| OfxError::failed(format!("cannot read bundle {}: {e}", path.display())))?;
    let key = (path.to_path_buf(), meta.modified().ok(), meta.len());
    let mut cache = bundle_cache().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(b) = cache.get(&key) {
        return Ok(b.clone());
    }
    let b = Arc::new(Bundle::load(path).map_err(|e| OfxError::failed(e.to_string()))?);
    cache.retain(|k, _| k.0 != key.0);
    cache.insert(key, b.clone());
    Ok(b)
}

/// The directory of the binary holding this code (the .ofx inside the bundle), via `dladdr`.
fn binary_dir() -> Option<PathBuf> {
    // SAFETY: dladdr only reads the loader's tables; `info` is a plain out-struct and the address
    // is a function of this binary.
    let name = unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(binary_dir as *const c_void, &mut info) == 0 || info.dli_fname.is_null() {
            return None;
        }
        CStr::from_ptr(info.dli_fname).to_string_lossy().into_owned()
    };
    Path::new(&name).canonicalize().ok()?.parent().map(Path::to_path_buf)
}

/// Where a shipped bundle may live, in order of preference: the bundle folder the host reported,
/// the folder next to the binary (`Contents/<arch>/../Resources/kernels`), then the folders the
/// CLI searches ([`crate::bundle::kernel_dirs`]: `$SPARSEBOKEH_KERNELS`, an install prefix, this
/// source tree's `bundle/kernels`).
pub fn shipped_bundle_candidates(name: &str) -> Vec<PathBuf> {
    let file = format!("{name}.json");
    let mut v = Vec::new();
    if let Some(p) = PLUGIN_FILE_PATH.read().ok().and_then(|p| p.clone()) {
        v.push(p.join("Contents/Resources/kernels").join(&file));
    }
    if let Some(d) = binary_dir() {
        v.push(d.join("../Resources/kernels").join(&file));
    }
    v.extend(crate::bundle::kernel_dirs().into_iter().map(|d| d.join(&file)));
    v
}

fn bundle_for(shape: &Shape) -> OfxResult<Arc<Bundle>> {
    match shape {
        Shape::CustomFile(f) if f.trim().is_empty() => {
            Err(OfxError::failed("Bokeh Shape is \"Custom file\" but no bundle file is set"))
        }
        Shape::CustomFile(f) => cached_bundle(Path::new(f.trim())),
        Shape::Shipped(name) | Shape::Blades(name) => {
            let candidates = shipped_bundle_candidates(name);
            match candidates.iter().find(|p| p.is_file()) {
                Some(p) => cached_bundle(p),
                None => Err(OfxError::failed(format!(
                    "the shipped bundle `{name}` is missing; looked in {}",
                    candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
                ))),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Geometry shared by the actions.

/// The render request of the parameters at a render scale, for a Source of pixel aspect ratio
/// `par` (focus from a point is resolved at render, see [`focus_window`]).
fn request(v: &Values, scale: f64, par: f64) -> RenderOptions {
    RenderOptions { lens: Lens { render_scale: scale, ..v.options.lens }, pixel_aspect: par, ..v.options }
}

/// The Source clip's pixel aspect ratio (`kOfxImagePropPixelAspectRatio`), 1 when the host does
/// not say, clamped to the range the request takes.
fn source_par(s: &Suites, inst: &Instance) -> f64 {
    let range = crate::render::PIXEL_ASPECT_RANGE;
    s.clip_props(inst.source)
        .and_then(|p| p.double(kOfxImagePropPixelAspectRatio, 0))
        .ok()
        .filter(|p| p.is_finite() && *p > 0.0)
        .map_or(1.0, |p| p.clamp(*range.start(), *range.end()))
}

/// Focus from a point: the pixel under the Focal Point (pixel coordinates at the render scale,
/// y up) and the window around it whose median depth is the focal plane
/// ([`crate::render::FOCUS_WINDOW`]² pixels); `None` when focus from a point is off.
fn focus_window(v: &Values, scale: f64, par: f64) -> Option<([i64; 2], Rect)> {
    if !v.focus_from_point {
        return None;
    }
    let [fx, fy] = v.focal_point;
    let (px, py) = ((fx * scale / par).floor() as i64, (fy * scale).floor() as i64);
    let half = (crate::render::FOCUS_WINDOW / 2) as i64;
    Some(([px, py], Rect { x1: px - half, y1: py - half, x2: px + half + 1, y2: py + half + 1 }))
}

/// `options` with focus from a point resolved on the depth image `img` (its `channel`), as
/// [`RenderOptions::resolve_focus`] does for a whole frame: only the window is read.
fn resolve_focus(options: RenderOptions, img: &HostImage, (pixel, window): ([i64; 2], Rect)) -> RenderOptions {
    let r = window.intersect(&img.bounds);
    if r.is_empty() {
        return options;
    }
    let data;
    let view = if img.depth == BitDepth::Float {
        // SAFETY: `r` is inside the image's bounds; the image stays fetched during the call.
        unsafe { img.view(&r) }
    } else {
        // SAFETY: as above.
        data = unsafe { img.read(&r) };
        match ImageView::packed(&data, r.width(), r.height(), img.channels) {
            Ok(v) => v,
            Err(_) => return options,
        }
    };
    // The view's rows run top-down from row r.y2 − 1.
    let at = [(pixel[0] - r.x1) as f64 + 0.5, (r.y2 - 1 - pixel[1]) as f64 + 0.5];
    RenderOptions { focus_at: Some(at), ..options }.resolve_focus(&view, options.depth_channel, [0, 0])
}

/// What the render-time actions (regions of interest, identity, render) read first: the
/// instance, the action's arguments, the time, the render scale and the parameters at that time.
struct ActionArgs<'s> {
    inst: &'s Instance,
    args: Props<'s>,
    time: f64,
    scale: f64,
    /// The Source's pixel aspect ratio.
    par: f64,
    values: Values,
}

impl<'s> ActionArgs<'s> {
    fn read(s: &'s Suites, effect: OfxImageEffectHandle, in_args: OfxPropertySetHandle) -> OfxResult<ActionArgs<'s>> {
        let inst = instance(s, effect)?;
        let args = s.props(in_args)?;
        let time = args.double(kOfxPropTime, 0)?;
        let scale = render_scale(&args)?;
        let values = inst.params.read(s, time)?;
        let par = source_par(s, inst);
        Ok(ActionArgs { inst, args, time, scale, par, values })
    }
}

fn render_scale(args: &Props) -> OfxResult<f64> {
    let [sx, sy] = args.doubles::<2>(kOfxImageEffectPropRenderScale)?;
    // No upper bound: a host asks for more than 1 when it zooms in or scales up (MLT).
    if !(sx.is_finite() && sx > 0.0 && sy.is_finite() && sy > 0.0) {
        return Err(OfxError::with_status(kOfxStatErrValue, format!("render scale ({sx}, {sy}) is not positive")));
    }
    // Radii are isotropic: use the mean of the two axes (they are equal in every known host).
    Ok((sx + sy) / 2.0)
}

// ---------------------------------------------------------------------------------------------
// Instances.

/// Per-instance data, reached through `kOfxPropInstanceData`. Handles are fixed for the
/// instance's life; the last bundle used sits behind a mutex so concurrent renders share it.
pub struct Instance {
    source: OfxImageClipHandle,
    depth: OfxImageClipHandle,
    output: OfxImageClipHandle,
    params: Handles,
    last_bundle: Mutex<Option<(Shape, Arc<Bundle>)>>,
    /// The last layered results (the tiles of one frame copy from them).
    frames: FrameCache,
    /// The error shown on the instance, posted once and cleared by the next good render.
    shown: Mutex<Option<String>>,
}

// SAFETY: the handles are opaque host tokens that the host allows any render thread of this
// instance to use (the plugin declares full thread safety); the mutable state is behind a Mutex.
unsafe impl Send for Instance {}
// SAFETY: as above.
unsafe impl Sync for Instance {}

impl Instance {
    fn bundle(&self, shape: &Shape) -> OfxResult<Arc<Bundle>> {
        // Shipped bundles never change: reuse the last one without touching the file system.
        if let Shape::Shipped(_) | Shape::Blades(_) = shape {
            if let Some((s, b)) = &*self.last_bundle.lock().unwrap_or_else(|e| e.into_inner()) {
                if s == shape {
                    return Ok(b.clone());
                }
            }
        }
        let b = bundle_for(shape)?;
        *self.last_bundle.lock().unwrap_or_else(|e| e.into_inner()) = Some((shape.clone(), b.clone()));
        Ok(b)
    }

    fn depth_connected(&self, s: &Suites) -> bool {
        s.clip_props(self.depth).and_then(|p| p.int(kOfxImageClipPropConnected, 0)).map(|c| c != 0).unwrap_or(false)
    }

    /// Whether a render has depth: from the Source, or a connected Depth input.
    fn has_depth(&self, s: &Suites, v: &Values) -> bool {
        v.depth_from_source || self.depth_connected(s)
    }

    /// Shows an error once: the same text again (the other actions of the frame, the next
    /// frames) is not posted again until it was cleared.
    fn show(&self, s: &Suites, effect: *const c_void, message: &str) {
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        if shown.as_deref() != Some(message) {
            *shown = Some(message.to_string());
            s.post_persistent(effect, kOfxMessageError, &format!("{PLUGIN_LABEL}: {message}"));
        }
    }

    /// Clears a shown error (the cause was fixed).
    fn clear_shown(&self, s: &Suites, effect: *const c_void) {
        if self.shown.lock().unwrap_or_else(|e| e.into_inner()).take().is_some() {
            s.clear_persistent(effect);
        }
    }
}

fn instance<'a>(s: &Suites, effect: OfxImageEffectHandle) -> OfxResult<&'a Instance> {
    let p = s.effect_props(effect)?.pointer(kOfxPropInstanceData, 0)?;
    if p.is_null() {
        return Err(OfxError::with_status(kOfxStatErrBadHandle, "the instance has no data (CreateInstance failed?)"));
    }
    // SAFETY: the pointer was set by create_instance from a Box<Instance> and stays valid until
    // destroy_instance, which hosts never run concurrently with another action on the instance.
    Ok(unsafe { &*(p as *const Instance) })
}

// ---------------------------------------------------------------------------------------------
// Actions.

fn load() -> OfxResult<OfxStatus> {
    crate::cpu::check().map_err(OfxError::failed)?;
    host::load()?;
    // The pool is sized to this host's CPU count when the first render needs it.
    *RENDERER.write().unwrap_or_else(|e| e.into_inner()) = None;
    Ok(kOfxStatOK)
}

fn describe(s: &Suites, effect: OfxImageEffectHandle) -> OfxResult<OfxStatus> {
    let p = s.effect_props(effect)?;
    p.set_string(kOfxPropLabel, 0, PLUGIN_LABEL)?;
    p.set_string(kOfxImageEffectPluginPropGrouping, 0, PLUGIN_GROUP)?;
    p.set_string(
        kOfxPropPluginDescription,
        0,
        "Depth-driven lens blur with the bokeh of a sparse kernel complex (sparsebokeh). Plug a depth pass into \
         Depth; without it the whole frame is blurred by Radius.",
    )?;
    p.set_cstr(kOfxImageEffectPropSupportedContexts, 0, kOfxImageEffectContextFilter)?;
    p.set_cstr(kOfxImageEffectPropSupportedContexts, 1, kOfxImageEffectContextGeneral)?;
    // 8-bit, 16-bit and float: converted to float at the edge, written back in the Output's depth.
    for (i, d) in BitDepth::ALL.iter().enumerate() {
        p.set_cstr(kOfxImageEffectPropSupportedPixelDepths, i as i32, d.ofx())?;
    }
    p.set_int(kOfxImageEffectPluginPropSingleInstance, 0, 0)?;
    p.set_cstr(kOfxImageEffectPluginRenderThreadSafety, 0, kOfxImageEffectRenderFullySafe)?;
    // The plugin threads each frame itself (one pool sized to the host's CPU count): the host
    // need not split frames.
    p.set_int(kOfxImageEffectPluginPropHostFrameThreading, 0, 0)?;
    p.set_int(kOfxImageEffectPropSupportsMultiResolution, 0, 1)?;
    p.set_int(kOfxImageEffectPropSupportsTiles, 0, 1)?;
    p.set_int(kOfxImageEffectPropTemporalClipAccess, 0, 0)?;
    // Optional properties: a host that does not know them may refuse them.
    let _ = p.set_int(kOfxImageEffectPropSupportsMultipleClipDepths, 0, 0);
    let _ = p.set_int(kOfxImageEffectPropSupportsMultipleClipPARs, 0, 0);
    let _ = p.set_string(kOfxPropVersionLabel, 0, &format!("{VERSION_MAJOR}.{VERSION_MINOR}"));
    if let Ok(path) = p.string(kOfxPluginPropFilePath, 0) {
        if !path.is_empty() {
            *PLUGIN_FILE_PATH.write().unwrap_or_else(|e| e.into_inner()) = Some(PathBuf::from(path));
        }
    }
    Ok(kOfxStatOK)
}

fn describe_in_context(
    s: &Suites,
    effect: OfxImageEffectHandle,
    in_args: OfxPropertySetHandle,
) -> OfxResult<OfxStatus> {
    let context = s.props(in_args)?.string(kOfxImageEffectPropContext, 0)?;
    let known: [&[u8]; 2] = [kOfxImageEffectContextFilter, kOfxImageEffectContextGeneral];
    if !known.iter().any(|k| &k[..k.len() - 1] == context.as_bytes()) {
        return Err(OfxError::with_status(kOfxStatErrUnsupported, format!("context {context} is not supported")));
    }
    let components: [&[u8]; 3] = [kOfxImageComponentRGBA, kOfxImageComponentRGB, kOfxImageComponentAlpha];
    for (name, optional, label) in
        [(CLIP_SOURCE, false, "Source"), (CLIP_DEPTH, true, "Depth"), (CLIP_OUTPUT, false, "Output")]
    {
        let c = s.clip_define(effect, name)?;
        for (i, comp) in components.iter().enumerate() {
            c.set_cstr(kOfxImageEffectPropSupportedComponents, i as i32, comp)?;
        }
        c.set_int(kOfxImageEffectPropSupportsTiles, 0, 1)?;
        c.set_int(kOfxImageEffectPropTemporalClipAccess, 0, 0)?;
        if name != CLIP_OUTPUT {
            c.set_int(kOfxImageClipPropOptional, 0, optional as i32)?;
        }
        let _ = c.set_string(kOfxPropLabel, 0, label);
    }
    params::describe(s, s.param_set(effect)?)?;
    Ok(kOfxStatOK)
}

fn create_instance(s: &Suites, effect: OfxImageEffectHandle) -> OfxResult<OfxStatus> {
    let inst = Box::new(Instance {
        source: s.clip_handle(effect, CLIP_SOURCE)?,
        depth: s.clip_handle(effect, CLIP_DEPTH)?,
        output: s.clip_handle(effect, CLIP_OUTPUT)?,
        params: Handles::fetch(s, s.param_set(effect)?)?,
        last_bundle: Mutex::new(None),
        frames: FrameCache::default(),
        shown: Mutex::new(None),
    });
    let props = s.effect_props(effect)?;
    let raw = Box::into_raw(inst);
    if let Err(e) = props.set_pointer(kOfxPropInstanceData, 0, raw as *mut c_void) {
        // SAFETY: `raw` came from Box::into_raw just above and was not handed out.
        drop(unsafe { Box::from_raw(raw) });
        return Err(e);
    }
    // SAFETY: just stored; no other action runs on the instance during CreateInstance.
    update_enabled(s, unsafe { &*raw }, 0.0);
    Ok(kOfxStatOK)
}

fn destroy_instance(s: &Suites, effect: OfxImageEffectHandle) -> OfxResult<OfxStatus> {
    let props = s.effect_props(effect)?;
    let p = props.pointer(kOfxPropInstanceData, 0)?;
    if !p.is_null() {
        props.set_pointer(kOfxPropInstanceData, 0, std::ptr::null_mut())?;
        // SAFETY: `p` is the Box<Instance> stored by create_instance; the property now holds
        // NULL, so it is freed exactly once, and no other action runs during DestroyInstance.
        drop(unsafe { Box::from_raw(p as *mut Instance) });
    }
    Ok(kOfxStatOK)
}

fn region_of_definition(
    s: &Suites,
    effect: OfxImageEffectHandle,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxResult<OfxStatus> {
    let inst = instance(s, effect)?;
    let time = s.props(in_args)?.double(kOfxPropTime, 0)?;
    // The blur replicates the source's edges, so it defines exactly the source's region
    // (canonical coordinates do not depend on the render scale).
    let rod = match s.clip_rod(inst.source, time) {
        Ok(r) => r,
        Err(_) => return Ok(kOfxStatReplyDefault),
    };
    let out = s.props(out_args)?;
    for (i, v) in [rod.x1, rod.y1, rod.x2, rod.y2].into_iter().enumerate() {
        out.set_double(kOfxImageEffectPropRegionOfDefinition, i as i32, v)?;
    }
    Ok(kOfxStatOK)
}

/// The region of interest on Source and Depth for an output region (canonical coordinates):
/// the region grown by the blur's reach at the largest radius, in canonical units (a pixel is
/// `par / scale` canonical units wide and `1 / scale` high).
pub fn roi_for(region: [f64; 4], reach_px: usize, scale: [f64; 2], par: f64) -> [f64; 4] {
    let dx = reach_px as f64 * par / scale[0];
    let dy = reach_px as f64 / scale[1];
    [region[0] - dx, region[1] - dy, region[2] + dx, region[3] + dy]
}

fn regions_of_interest(
    s: &Suites,
    effect: OfxImageEffectHandle,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxResult<OfxStatus> {
    let a = ActionArgs::read(s, effect, in_args)?;
    let (inst, args, time, v) = (a.inst, &a.args, a.time, &a.values);
    let scale_xy = args.doubles::<2>(kOfxImageEffectPropRenderScale)?;
    let region = args.doubles::<4>(kOfxImageEffectPropRegionOfInterest)?;
    let depth = inst.has_depth(s, v);
    let par = a.par;
    let options = request(v, a.scale, par);
    let reach = if options.needs_bundle(depth) { options.reach(&*inst.bundle(&v.shape)?, depth) } else { 0 };
    let mut roi = roi_for(region, reach, scale_xy, par);
    if options.is_layered(depth) {
        // Layered blur fills hidden background from anywhere in the frame: it needs all of it.
        if let Ok(r) = s.clip_rod(inst.source, time) {
            roi = [r.x1, r.y1, r.x2, r.y2];
        }
    }
    // Focus from a point reads the depth in a window around the point: the depth's region of
    // interest holds it (canonical coordinates of the window's pixels).
    let mut depth_roi = roi;
    if let Some((_, w)) = focus_window(v, a.scale, par).filter(|_| depth) {
        let (sx, sy) = (par / a.scale, 1.0 / a.scale);
        let window = [w.x1 as f64 * sx, w.y1 as f64 * sy, w.x2 as f64 * sx, w.y2 as f64 * sy];
        depth_roi = [roi[0].min(window[0]), roi[1].min(window[1]), roi[2].max(window[2]), roi[3].max(window[3])];
    }
    let out = s.props(out_args)?;
    let prefix = std::str::from_utf8(&kOfxImageClipPropRoIPrefix[..kOfxImageClipPropRoIPrefix.len() - 1])
        .expect("ASCII constant");
    let source_roi = if v.depth_from_source { depth_roi } else { roi };
    for (i, v) in source_roi.iter().enumerate() {
        out.set_double_named(&format!("{prefix}{CLIP_SOURCE}"), i as i32, *v)?;
    }
    if depth && !v.depth_from_source {
        for (i, v) in depth_roi.iter().enumerate() {
            out.set_double_named(&format!("{prefix}{CLIP_DEPTH}"), i as i32, *v)?;
        }
    }
    Ok(kOfxStatOK)
}

fn clip_preferences(s: &Suites, effect: OfxImageEffectHandle, out_args: OfxPropertySetHandle) -> OfxResult<OfxStatus> {
    let inst = instance(s, effect)?;
    let out = s.props(out_args)?;
    let src = s.clip_props(inst.source)?;
    let comps = src.string(kOfxImageEffectPropComponents, 0).unwrap_or_default();
    let supported: [&[u8]; 3] = [kOfxImageComponentRGBA, kOfxImageComponentRGB, kOfxImageComponentAlpha];
    let comp_prefix = text(kOfxImageClipPropComponentsPrefix);
    let depth_prefix = text(kOfxImageClipPropDepthPrefix);
    if supported.iter().any(|c| text(c) == comps) {
        out.set_string_named(&format!("{comp_prefix}{CLIP_OUTPUT}"), 0, &comps)?;
        out.set_string_named(&format!("{comp_prefix}{CLIP_SOURCE}"), 0, &comps)?;
    }
    // Every clip in the Source's depth (8-bit, 16-bit or float; float for anything else), so
    // the Output comes back in the depth the host works in.
    let source_depth = src.string(kOfxImageEffectPropPixelDepth, 0).ok().and_then(|d| BitDepth::from_ofx(&d));
    let depth = text(source_depth.unwrap_or(BitDepth::Float).ofx());
    out.set_string_named(&format!("{depth_prefix}{CLIP_OUTPUT}"), 0, depth)?;
    out.set_string_named(&format!("{depth_prefix}{CLIP_SOURCE}"), 0, depth)?;
    if inst.depth_connected(s) {
        let _ = out.set_string_named(&format!("{depth_prefix}{CLIP_DEPTH}"), 0, depth);
    }
    if let Ok(premult) = src.string(kOfxImageEffectPropPreMultiplication, 0) {
        if !premult.is_empty() {
            out.set_string(kOfxImageEffectPropPreMultiplication, 0, &premult)?;
        }
    }
    Ok(kOfxStatOK)
}

fn is_identity(
    s: &Suites,
    effect: OfxImageEffectHandle,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxResult<OfxStatus> {
    let ActionArgs { inst, time, scale, par, values, .. } = ActionArgs::read(s, effect, in_args)?;
    if !request(&values, scale, par).passes_through(inst.has_depth(s, &values)) {
        return Ok(kOfxStatReplyDefault);
    }
    let out = s.props(out_args)?;
    out.set_string(kOfxPropName, 0, CLIP_SOURCE)?;
    out.set_double(kOfxPropTime, 0, time)?;
    Ok(kOfxStatOK)
}

/// Keeps the parameters that do not apply greyed out.
fn update_enabled(s: &Suites, inst: &Instance, time: f64) {
    let filter_type = inst.params.get(params::names::FILTER_TYPE);
    let shape = s.param_int(filter_type, time).map(|i| i.max(0) as usize).ok();
    let from_source = s.param_int(inst.params.get(params::names::DEPTH_FROM), time).is_ok_and(|i| i == 1);
    let depth = inst.depth_connected(s) || from_source;
    for (p, h) in inst.params.iter() {
        let on = match p.when {
            When::Always => continue,
            when @ (When::CustomShape | When::BladesShape) => match shape {
                Some(i) => params::enabled(when, depth, i),
                None => continue,
            },
            when => params::enabled(when, depth, 0),
        };
        if let Ok(props) = s.param_props(h) {
            let _ = props.set_int(kOfxParamPropEnabled, 0, on as i32);
        }
    }
}

fn instance_changed(s: &Suites, effect: OfxImageEffectHandle, in_args: OfxPropertySetHandle) -> OfxResult<OfxStatus> {
    let inst = instance(s, effect)?;
    let args = s.props(in_args)?;
    let name = args.string(kOfxPropName, 0).unwrap_or_default();
    let time = args.double(kOfxPropTime, 0).unwrap_or(0.0);
    let enabling = [params::names::FILTER_TYPE, params::names::FILTER_FILE, params::names::DEPTH_FROM, CLIP_DEPTH];
    let picks_bundle =
        [params::names::FILTER_TYPE, params::names::FILTER_FILE, params::names::BLADES, params::names::ROUNDNESS];
    if enabling.contains(&name.as_str()) {
        update_enabled(s, inst, time);
    }
    if picks_bundle.contains(&name.as_str()) {
        // Check the bundle now so a bad file is reported when it is chosen, not at render; a
        // good one clears what was shown.
        let v = inst.params.read(s, time)?;
        match inst.bundle(&v.shape) {
            Ok(_) => inst.clear_shown(s, effect as *const c_void),
            Err(_) if matches!(&v.shape, Shape::CustomFile(f) if f.trim().is_empty()) => {}
            Err(e) => inst.show(s, effect as *const c_void, &e.message),
        }
        return Ok(kOfxStatOK);
    }
    Ok(if name == CLIP_DEPTH || name == params::names::DEPTH_FROM { kOfxStatOK } else { kOfxStatReplyDefault })
}

// ---------------------------------------------------------------------------------------------
// Render.

/// Whether a clip's colour is unpremultiplied (its `kOfxImageEffectPropPreMultiplication`).
fn clip_unpremultiplied(s: &Suites, clip: OfxImageClipHandle) -> bool {
    s.clip_props(clip)
        .and_then(|p| p.string(kOfxImageEffectPropPreMultiplication, 0))
        .is_ok_and(|p| p == text(kOfxImageUnPreMultiplied))
}

/// The images of one render: the host's guards (released when this is dropped) and their
/// geometry.
struct Frames<'s> {
    out: HostImage,
    src: HostImage,
    depth: Option<HostImage>,
    _guards: Vec<ImageGuard<'s>>,
}

impl<'s> Frames<'s> {
    /// Fetches Output, Source and (`with_depth`) Depth at `time` and checks them against the
    /// render window.
    fn fetch(s: &'s Suites, inst: &Instance, time: f64, with_depth: bool, window: &Rect) -> OfxResult<Frames<'s>> {
        let out_img =
            s.clip_image(inst.output, time)?.ok_or_else(|| OfxError::failed("the host gave no Output image"))?;
        let out = HostImage::from_props(&out_img, CLIP_OUTPUT, clip_unpremultiplied(s, inst.output))?;
        if !out.bounds.contains(window) {
            return Err(OfxError::failed(format!(
                "the render window {window:?} is not inside the Output image bounds {:?}",
                out.bounds
            )));
        }
        let src_img =
            s.clip_image(inst.source, time)?.ok_or_else(|| OfxError::failed("the host gave no Source image"))?;
        let src = HostImage::from_props(&src_img, CLIP_SOURCE, clip_unpremultiplied(s, inst.source))?;
        if src.channels != out.channels {
            return Err(OfxError::failed(format!(
                "Source has {} channels but Output has {} (clip preferences were not applied)",
                src.channels, out.channels
            )));
        }
        let mut guards = vec![out_img, src_img];
        let mut depth = None;
        if with_depth {
            let d = s.clip_image(inst.depth, time)?.ok_or_else(|| OfxError::failed("the host gave no Depth image"))?;
            depth = Some(HostImage::from_props(&d, CLIP_DEPTH, false)?);
            guards.push(d);
        }
        Ok(Frames { out, src, depth, _guards: guards })
    }
}

/// One render's work: the images, the request, the region of the Source it reads and how its
/// colour is converted.
struct Job<'f> {
    frames: &'f Frames<'f>,
    bundle: Option<&'f Bundle>,
    options: &'f RenderOptions,
    region: Rect,
    /// Depth is a channel of the Source (which passes through and is not coverage).
    depth_from_source: bool,
}

impl Job<'_> {
    /// The Source is unpremultiplied RGBA: premultiply it before the blur.
    fn premultiply_source(&self) -> bool {
        let src = &self.frames.src;
        src.channels == 4 && src.unpremultiplied && !self.depth_from_source
    }

    /// The Output is unpremultiplied RGBA: unpremultiply the result.
    fn unpremultiply_output(&self) -> bool {
        let out = &self.frames.out;
        out.channels == 4 && out.unpremultiplied && !self.depth_from_source
    }

    /// What a layered result depends on: the request, the bundle, the region and the content
    /// and layout of every input.
    fn key(&self, time: f64) -> FrameKey {
        let f = self.frames;
        let mut inputs = Vec::new();
        for img in std::iter::once(&f.src).chain(&f.depth) {
            let mut h = ContentHash::default();
            // SAFETY: the region is inside the Source bounds, and inside the Depth bounds when
            // `render_region` will accept it (else the key is never used: it fails first); the
            // images stay fetched while `frames` lives.
            unsafe { img.hash_into(&self.region.intersect(&img.bounds), &mut h) };
            inputs.push(h.finish());
        }
        let layout = |i: &HostImage| format!("{:?} {} {} {:?}", i.depth, i.channels, i.unpremultiplied, i.bounds);
        FrameKey {
            time,
            options: *self.options,
            bundle: self.bundle.map_or(0, |b| b as *const Bundle as usize),
            region: self.region,
            inputs,
            layout: format!(
                "{} | {} | {} | {}",
                layout(&f.src),
                f.depth.as_ref().map(layout).unwrap_or_default(),
                self.depth_from_source,
                self.premultiply_source()
            ),
        }
    }
}

fn render(s: &Suites, effect: OfxImageEffectHandle, in_args: OfxPropertySetHandle) -> OfxResult<OfxStatus> {
    let ActionArgs { inst, args, time, scale, par, values: v } = ActionArgs::read(s, effect, in_args)?;
    let window = Rect::from_ints(args.ints::<4>(kOfxImageEffectPropRenderWindow)?);
    if window.is_empty() {
        return Ok(kOfxStatOK);
    }
    let with_depth = inst.has_depth(s, &v);
    let mut options = request(&v, scale, par);
    // Draft renders (the host's scrubbing quality) take the cheaper gather path.
    if args.int(kOfxImageEffectPropRenderQualityDraft, 0).unwrap_or(0) != 0 {
        options.edges = Edges::Gather;
    }
    let frames = Frames::fetch(s, inst, time, with_depth && !v.depth_from_source, &window)?;
    if let Some(focus) = focus_window(&v, scale, par).filter(|_| with_depth) {
        let img = if v.depth_from_source { Some(&frames.src) } else { frames.depth.as_ref() };
        if let Some(img) = img {
            options = resolve_focus(options, img, focus);
        }
    }
    if options.passes_through(with_depth) {
        // Hosts that never ask IsIdentity (MLT) pay a copy, not a render.
        // SAFETY: the window is inside the Output bounds (checked in `Frames::fetch`).
        unsafe { copy_source(&frames, &window) };
        return Ok(kOfxStatOK);
    }
    let bundle = if options.needs_bundle(with_depth) { Some(inst.bundle(&v.shape)?) } else { None };
    // The source region the window's pixels depend on: the window grown by the blur's reach, or
    // the whole frame for the layered blur (its hidden-background fill is global).
    let layered = options.is_layered(with_depth);
    let region = match &bundle {
        Some(_) if layered => frames.src.bounds,
        Some(b) => window.grow(options.reach(b, with_depth) as i64).intersect(&frames.src.bounds),
        None => window.intersect(&frames.src.bounds),
    };
    if region.is_empty() || region.intersect(&window).is_empty() {
        // No source under the window: transparent black.
        // SAFETY: as above.
        unsafe { compose(&frames.out, &window, &region, &[], false) };
        return Ok(kOfxStatOK);
    }
    if s.aborted(effect) {
        return Ok(kOfxStatOK);
    }
    let job = Job {
        frames: &frames,
        bundle: bundle.as_deref(),
        options: &options,
        region,
        depth_from_source: v.depth_from_source,
    };
    let result = if layered {
        // The other tiles of this frame copy the whole-frame result (ARCHITECTURE.md "Front ends").
        inst.frames.get_or_render(job.key(time), || render_region(&job))?
    } else {
        Arc::new(render_region(&job)?)
    };
    // SAFETY: as above; the views of `render_region` are gone.
    unsafe { compose(&frames.out, &window, &region, &result, job.unpremultiply_output()) };
    Ok(kOfxStatOK)
}

/// Copies the Source under the window to the Output (transparent black outside the Source).
///
/// # Safety
/// The window must lie inside the Output bounds, and the images stay fetched.
unsafe fn copy_source(f: &Frames<'_>, window: &Rect) {
    let inside = window.intersect(&f.src.bounds);
    if f.src.depth == f.out.depth && f.src.channels == f.out.channels && inside == *window {
        // Same format: raw row copies, bands of rows in parallel on the render pool (sized by
        // the host), no conversion and nothing written twice.
        struct Images<'a>(&'a HostImage, &'a HostImage);
        // SAFETY: the images stay fetched during the copy; each task writes its own rows of
        // the Output and only reads the Source.
        unsafe impl Sync for Images<'_> {}
        let images = Images(&f.out, &f.src);
        let rows = |y1: i64, y2: i64| {
            let Images(out, src) = &images;
            for y in y1..y2 {
                // SAFETY: row y of the window, inside both images' bounds (per the caller).
                unsafe { out.copy_row_from(src, y, window.x1, window.x2) };
            }
        };
        const BAND: i64 = 32;
        let copy_all = || {
            use rayon::prelude::*;
            let bands = (window.y2 - window.y1 + BAND - 1) / BAND;
            (0..bands)
                .into_par_iter()
                .for_each(|b| rows(window.y1 + b * BAND, (window.y1 + (b + 1) * BAND).min(window.y2)));
        };
        match renderer() {
            Ok(r) => r.pool.install(copy_all),
            Err(_) => rows(window.y1, window.y2),
        }
        return;
    }
    // SAFETY: `inside` is inside the Source bounds; the window inside the Output's.
    let data = if inside.is_empty() { Vec::new() } else { unsafe { f.src.read(&inside) } };
    // SAFETY: per the caller.
    unsafe { compose(&f.out, window, &inside, &data, false) };
}

/// Renders the job's region of the Source (with the Depth's same region) through the engine,
/// into a packed buffer of the region's size: 8- and 16-bit images are converted to floats and
/// an unpremultiplied Source is premultiplied first.
fn render_region(job: &Job<'_>) -> OfxResult<Vec<f32>> {
    let (frames, region) = (job.frames, &job.region);
    let (w, h, c) = (region.width(), region.height(), frames.src.channels);
    let bad = |e: crate::image::ImageError| OfxError::failed(e.to_string());
    let copy = frames.src.depth != BitDepth::Float || job.premultiply_source();
    // SAFETY: `region` is inside the Source bounds; the image stays fetched while `frames`
    // lives, and is only read (the engine writes into `result`, our own memory, and the Output
    // is written after this view is gone, so an Output that shares the Source's memory is fine).
    let mut src_data = if copy { unsafe { frames.src.read(region) } } else { Vec::new() };
    if job.premultiply_source() {
        premultiply(&mut src_data);
    }
    let src =
        if copy { ImageView::packed(&src_data, w, h, c).map_err(bad)? } else { unsafe { frames.src.view(region) } };
    let depth_data;
    let depth = match &frames.depth {
        Some(d) if !d.bounds.contains(region) => {
            return Err(OfxError::failed(format!(
                "the Depth image covers {:?} but the blur needs {:?}: connect a depth pass of the Source's size",
                d.bounds, region
            )))
        }
        // SAFETY: `region` is inside the Depth bounds (checked); the view is only read.
        Some(d) if d.depth == BitDepth::Float => Some(unsafe { d.view(region) }),
        Some(d) => {
            // SAFETY: as above.
            depth_data = unsafe { d.read(region) };
            Some(ImageView::packed(&depth_data, w, h, d.channels).map_err(bad)?)
        }
        None if job.depth_from_source => Some(src),
        None => None,
    };
    let mut result = vec![0.0f32; w * h * c];
    let mut dst = ImageViewMut::packed(&mut result, w, h, c).map_err(bad)?;
    let (bundle, options) = (job.bundle, job.options);
    renderer()?
        .run(|engine| engine.render(bundle, options, &src, depth.as_ref(), &mut dst))?
        .map_err(|e| OfxError::failed(e.to_string()))?;
    if job.depth_from_source && job.options.output == Output::Result {
        // The channel that holds depth passes through unblurred (as ZDefocus keeps its depth).
        let ch = job.options.depth_channel.min(c - 1);
        for y in 0..h {
            for (o, s) in result[y * w * c..(y + 1) * w * c].chunks_exact_mut(c).zip(src.row(y).chunks_exact(c)) {
                o[ch] = s[ch];
            }
        }
    }
    Ok(result)
}

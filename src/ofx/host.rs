//! Access to the host's suites: fetched once in the Load action, checked for every function the
//! plugin calls, and wrapped in small functions that turn statuses into [`OfxError`]s.
//!
//! Every raw call into the host lives here (and in the image views of `plugin.rs`), each behind a
//! `// SAFETY:` note. The contract relied on throughout: the host keeps suites, handles and
//! property sets valid for the duration of the action that received or fetched them.

use super::sys::*;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::RwLock;

/// An action's failure: the status to return and a message for the user.
#[derive(Clone, Debug, PartialEq)]
pub struct OfxError {
    pub status: OfxStatus,
    pub message: String,
}

impl OfxError {
    pub fn failed(message: impl Into<String>) -> OfxError {
        OfxError { status: kOfxStatFailed, message: message.into() }
    }

    pub fn with_status(status: OfxStatus, message: impl Into<String>) -> OfxError {
        OfxError { status, message: message.into() }
    }
}

pub type OfxResult<T> = Result<T, OfxError>;

/// The `OfxHost` given to `setHost` (valid while the binary is loaded).
static HOST: AtomicPtr<OfxHost> = AtomicPtr::new(ptr::null_mut());
/// The suites fetched in Load, cleared in Unload.
static SUITES: RwLock<Option<Suites>> = RwLock::new(None);

pub fn set_host(host: *mut OfxHost) {
    HOST.store(host, Ordering::Release);
}

/// Function pointers of the property suite the plugin calls (all required).
#[derive(Clone, Copy)]
pub struct PropertySuite {
    set_pointer: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *mut c_void) -> OfxStatus,
    set_string: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *const c_char) -> OfxStatus,
    set_double: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, f64) -> OfxStatus,
    set_int: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, c_int) -> OfxStatus,
    get_pointer: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *mut *mut c_void) -> OfxStatus,
    get_string: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *mut *mut c_char) -> OfxStatus,
    get_double: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *mut f64) -> OfxStatus,
    get_int: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *mut c_int) -> OfxStatus,
}

/// Function pointers of the parameter suite the plugin calls (all required).
#[derive(Clone, Copy)]
pub struct ParameterSuite {
    define:
        unsafe extern "C" fn(OfxParamSetHandle, *const c_char, *const c_char, *mut OfxPropertySetHandle) -> OfxStatus,
    get_handle: unsafe extern "C" fn(
        OfxParamSetHandle,
        *const c_char,
        *mut OfxParamHandle,
        *mut OfxPropertySetHandle,
    ) -> OfxStatus,
    get_property_set: unsafe extern "C" fn(OfxParamHandle, *mut OfxPropertySetHandle) -> OfxStatus,
    get_value_at_time: unsafe extern "C" fn(OfxParamHandle, OfxTime, ...) -> OfxStatus,
}

/// Function pointers of the image effect suite the plugin calls (all required).
#[derive(Clone, Copy)]
pub struct EffectSuite {
    get_property_set: unsafe extern "C" fn(OfxImageEffectHandle, *mut OfxPropertySetHandle) -> OfxStatus,
    get_param_set: unsafe extern "C" fn(OfxImageEffectHandle, *mut OfxParamSetHandle) -> OfxStatus,
    clip_define: unsafe extern "C" fn(OfxImageEffectHandle, *const c_char, *mut OfxPropertySetHandle) -> OfxStatus,
    clip_get_handle: unsafe extern "C" fn(
        OfxImageEffectHandle,
        *const c_char,
        *mut OfxImageClipHandle,
        *mut OfxPropertySetHandle,
    ) -> OfxStatus,
    clip_get_property_set: unsafe extern "C" fn(OfxImageClipHandle, *mut OfxPropertySetHandle) -> OfxStatus,
    clip_get_image:
        unsafe extern "C" fn(OfxImageClipHandle, OfxTime, *const OfxRectD, *mut OfxPropertySetHandle) -> OfxStatus,
    clip_release_image: unsafe extern "C" fn(OfxPropertySetHandle) -> OfxStatus,
    clip_get_rod: unsafe extern "C" fn(OfxImageClipHandle, OfxTime, *mut OfxRectD) -> OfxStatus,
    abort: Option<unsafe extern "C" fn(OfxImageEffectHandle) -> c_int>,
}

type MessageFn = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const c_char, ...) -> OfxStatus;
type ClearFn = unsafe extern "C" fn(*mut c_void) -> OfxStatus;

/// Every suite the plugin uses. Property, parameter and image effect suites are required; the
/// message suite is used when the host has it (version 2's persistent messages when offered).
/// Memory and multi-thread suites, which every image effect host must provide, are required at
/// Load too: the plugin allocates with Rust and renders on its own pool, sized to the CPU count
/// the multi-thread suite reports (`cpus`).
#[derive(Clone, Copy)]
pub struct Suites {
    pub prop: PropertySuite,
    pub param: ParameterSuite,
    pub effect: EffectSuite,
    message: Option<MessageFn>,
    persistent: Option<(MessageFn, ClearFn)>,
    /// The host's `multiThreadNumCPUs` (at least 1; the machine's count when it does not say).
    pub cpus: usize,
}

// SAFETY: the suites are tables of host functions that the OpenFX contract allows any thread to
// call while the binary is loaded (the plugin declares full render thread safety, and hosts
// serialise what they must).
unsafe impl Send for Suites {}
// SAFETY: as above; the struct is immutable after Load.
unsafe impl Sync for Suites {}

fn required<T>(f: Option<T>, suite: &str, name: &str) -> OfxResult<T> {
    f.ok_or_else(|| {
        OfxError::with_status(
            kOfxStatErrMissingHostFeature,
            format!("the host's {suite} suite has no {name} function, which Sparse Lens Blur needs"),
        )
    })
}

/// Fetches and checks the suites (the Load action).
pub fn load() -> OfxResult<()> {
    let host = HOST.load(Ordering::Acquire);
    if host.is_null() {
        return Err(OfxError::with_status(kOfxStatErrMissingHostFeature, "the host did not call setHost before Load"));
    }
    // SAFETY: `host` came from setHost and stays valid while the binary is loaded.
    let host = unsafe { &*host };
    let fetch = required(host.fetchSuite, "host", "fetchSuite")?;
    let get = |name: &[u8], version: c_int| -> *const c_void {
        // SAFETY: `fetch` is the host's fetchSuite; `name` is a NUL-terminated constant.
        unsafe { fetch(host.host, name.as_ptr().cast(), version) }
    };
    let need = |p: *const c_void, name: &str| -> OfxResult<*const c_void> {
        if p.is_null() {
            Err(OfxError::with_status(
                kOfxStatErrMissingHostFeature,
                format!("the host does not provide the {name} suite (version 1), which Sparse Lens Blur needs"),
            ))
        } else {
            Ok(p)
        }
    };
    let prop = need(get(kOfxPropertySuite, 1), "property")?;
    let param = need(get(kOfxParameterSuite, 1), "parameter")?;
    let effect = need(get(kOfxImageEffectSuite, 1), "image effect")?;
    need(get(kOfxMemorySuite, 1), "memory")?;
    let threads = need(get(kOfxMultiThreadSuite, 1), "multi-thread")?;
    let (message, persistent) = message_suites(get(kOfxMessageSuite, 1), get(kOfxMessageSuite, 2));

    // SAFETY: a non-null suite pointer returned for a suite name and version 1 points to that
    // version's struct, valid while the binary is loaded.
    let (p, q, e) = unsafe {
        (
            &*(prop as *const OfxPropertySuiteV1),
            &*(param as *const OfxParameterSuiteV1),
            &*(effect as *const OfxImageEffectSuiteV1),
        )
    };
    let suites = Suites {
        prop: PropertySuite {
            set_pointer: required(p.propSetPointer, "property", "propSetPointer")?,
            set_string: required(p.propSetString, "property", "propSetString")?,
            set_double: required(p.propSetDouble, "property", "propSetDouble")?,
            set_int: required(p.propSetInt, "property", "propSetInt")?,
            get_pointer: required(p.propGetPointer, "property", "propGetPointer")?,
            get_string: required(p.propGetString, "property", "propGetString")?,
            get_double: required(p.propGetDouble, "property", "propGetDouble")?,
            get_int: required(p.propGetInt, "property", "propGetInt")?,
        },
        param: ParameterSuite {
            define: required(q.paramDefine, "parameter", "paramDefine")?,
            get_handle: required(q.paramGetHandle, "parameter", "paramGetHandle")?,
            get_property_set: required(q.paramGetPropertySet, "parameter", "paramGetPropertySet")?,
            get_value_at_time: required(q.paramGetValueAtTime, "parameter", "paramGetValueAtTime")?,
        },
        effect: EffectSuite {
            get_property_set: required(e.getPropertySet, "image effect", "getPropertySet")?,
            get_param_set: required(e.getParamSet, "image effect", "getParamSet")?,
            clip_define: required(e.clipDefine, "image effect", "clipDefine")?,
            clip_get_handle: required(e.clipGetHandle, "image effect", "clipGetHandle")?,
            clip_get_property_set: required(e.clipGetPropertySet, "image effect", "clipGetPropertySet")?,
            clip_get_image: required(e.clipGetImage, "image effect", "clipGetImage")?,
            clip_release_image: required(e.clipReleaseImage, "image effect", "clipReleaseImage")?,
            clip_get_rod: required(e.clipGetRegionOfDefinition, "image effect", "clipGetRegionOfDefinition")?,
            abort: e.abort,
        },
        message,
        persistent,
        // SAFETY: non-null pointer to the version 1 multi-thread suite, valid while loaded.
        cpus: host_cpus(unsafe { &*(threads as *const OfxMultiThreadSuiteV1) }),
    };
    *SUITES.write().unwrap_or_else(|e| e.into_inner()) = Some(suites);
    Ok(())
}

/// The message function of the version 1 suite and the persistent-message functions of version 2,
/// when the host offers them (null pointers: not offered).
fn message_suites(v1: *const c_void, v2: *const c_void) -> (Option<MessageFn>, Option<(MessageFn, ClearFn)>) {
    let message = if v1.is_null() {
        None
    } else {
        // SAFETY: non-null pointer to the version 1 message suite, valid while loaded.
        unsafe { (*(v1 as *const OfxMessageSuiteV1)).message }
    };
    let persistent = if v2.is_null() {
        None
    } else {
        // SAFETY: non-null pointer to the version 2 message suite, valid while loaded.
        let m = unsafe { &*(v2 as *const OfxMessageSuiteV2) };
        m.setPersistentMessage.zip(m.clearPersistentMessage)
    };
    (message, persistent)
}

/// The CPU count the host's multi-thread suite reports, or the machine's when it cannot say.
fn host_cpus(suite: &OfxMultiThreadSuiteV1) -> usize {
    let machine = || std::thread::available_parallelism().map_or(1, |n| n.get());
    let Some(f) = suite.multiThreadNumCPUs else { return machine() };
    let mut n: std::ffi::c_uint = 0;
    // SAFETY: the host's multiThreadNumCPUs with a live out-pointer.
    match unsafe { f(&mut n) } {
        s if s == kOfxStatOK && n >= 1 => (n as usize).min(1024),
        _ => machine(),
    }
}

/// Posts a message when Load failed: fetches the message suite directly from the host record.
pub fn post_without_suites(kind: &[u8], text: &str) {
    let host = HOST.load(Ordering::Acquire);
    if host.is_null() {
        return;
    }
    // SAFETY: `host` came from setHost and stays valid while the binary is loaded.
    let host = unsafe { &*host };
    let Some(fetch) = host.fetchSuite else { return };
    // SAFETY: the host's fetchSuite with a NUL-terminated suite name.
    let suite = unsafe { fetch(host.host, kOfxMessageSuite.as_ptr().cast(), 1) } as *const OfxMessageSuiteV1;
    if suite.is_null() {
        return;
    }
    // SAFETY: a non-null version 1 message suite, valid while the binary is loaded.
    if let Some(f) = unsafe { (*suite).message } {
        let t = cstring(text);
        // SAFETY: format "%s" with one NUL-terminated string argument; NULL handle is allowed.
        unsafe { f(ptr::null_mut(), kind.as_ptr().cast(), c"SparseLensBlur".as_ptr(), c"%s".as_ptr(), t.as_ptr()) };
    }
}

/// Forgets the suites (the Unload action).
pub fn unload() {
    *SUITES.write().unwrap_or_else(|e| e.into_inner()) = None;
}

/// The suites, or an error when Load has not run (or failed).
pub fn suites() -> OfxResult<Suites> {
    SUITES
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .copied()
        .ok_or_else(|| OfxError::failed("the plugin was not loaded (Load failed or was not called)"))
}

/// The suites if Load succeeded, for best-effort messages.
pub fn suites_if_loaded() -> Option<Suites> {
    SUITES.read().ok().and_then(|s| s.as_ref().copied())
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).expect("NUL bytes were replaced")
}

fn check(status: OfxStatus, what: impl FnOnce() -> String) -> OfxResult<()> {
    if status == kOfxStatOK {
        Ok(())
    } else {
        Err(OfxError::failed(format!("{} failed with status {status}", what())))
    }
}

fn name_of(p: &[u8]) -> &str {
    CStr::from_bytes_with_nul(p).ok().and_then(|c| c.to_str().ok()).unwrap_or("?")
}

/// Property access on one property set.
#[derive(Clone, Copy)]
pub struct Props<'s> {
    pub handle: OfxPropertySetHandle,
    suite: &'s PropertySuite,
}

impl<'s> Props<'s> {
    pub fn new(suites: &'s Suites, handle: OfxPropertySetHandle) -> OfxResult<Props<'s>> {
        if handle.is_null() {
            return Err(OfxError::with_status(kOfxStatErrBadHandle, "the host passed a NULL property set"));
        }
        Ok(Props { handle, suite: &suites.prop })
    }

    pub fn set_int(&self, name: &[u8], index: i32, v: i32) -> OfxResult<()> {
        // SAFETY: valid property set for this action, NUL-terminated name.
        check(unsafe { (self.suite.set_int)(self.handle, name.as_ptr().cast(), index, v) }, || {
            format!("setting {}", name_of(name))
        })
    }

    pub fn set_double(&self, name: &[u8], index: i32, v: f64) -> OfxResult<()> {
        // SAFETY: valid property set for this action, NUL-terminated name.
        check(unsafe { (self.suite.set_double)(self.handle, name.as_ptr().cast(), index, v) }, || {
            format!("setting {}", name_of(name))
        })
    }

    pub fn set_string(&self, name: &[u8], index: i32, v: &str) -> OfxResult<()> {
        let v = cstring(v);
        // SAFETY: valid property set, NUL-terminated name and value (the host copies the value).
        check(unsafe { (self.suite.set_string)(self.handle, name.as_ptr().cast(), index, v.as_ptr()) }, || {
            format!("setting {}", name_of(name))
        })
    }

    /// Sets a string property to one of the ABI's NUL-terminated string constants.
    pub fn set_cstr(&self, name: &[u8], index: i32, v: &[u8]) -> OfxResult<()> {
        debug_assert_eq!(v.last(), Some(&0));
        // SAFETY: valid property set, NUL-terminated name and value (bindgen constants).
        check(unsafe { (self.suite.set_string)(self.handle, name.as_ptr().cast(), index, v.as_ptr().cast()) }, || {
            format!("setting {}", name_of(name))
        })
    }

    /// Sets a string property whose name is built at run time (per-clip argument names).
    pub fn set_string_named(&self, name: &str, index: i32, v: &str) -> OfxResult<()> {
        let n = cstring(name);
        let v = cstring(v);
        // SAFETY: valid property set, NUL-terminated name and value.
        check(unsafe { (self.suite.set_string)(self.handle, n.as_ptr(), index, v.as_ptr()) }, || {
            format!("setting {name}")
        })
    }

    pub fn set_double_named(&self, name: &str, index: i32, v: f64) -> OfxResult<()> {
        let n = cstring(name);
        // SAFETY: valid property set, NUL-terminated name.
        check(unsafe { (self.suite.set_double)(self.handle, n.as_ptr(), index, v) }, || format!("setting {name}"))
    }

    pub fn set_pointer(&self, name: &[u8], index: i32, v: *mut c_void) -> OfxResult<()> {
        // SAFETY: valid property set for this action, NUL-terminated name.
        check(unsafe { (self.suite.set_pointer)(self.handle, name.as_ptr().cast(), index, v) }, || {
            format!("setting {}", name_of(name))
        })
    }

    pub fn int(&self, name: &[u8], index: i32) -> OfxResult<i32> {
        let mut v: c_int = 0;
        // SAFETY: valid property set, NUL-terminated name, `v` is a live out-pointer.
        check(unsafe { (self.suite.get_int)(self.handle, name.as_ptr().cast(), index, &mut v) }, || {
            format!("reading {}[{index}]", name_of(name))
        })?;
        Ok(v)
    }

    pub fn double(&self, name: &[u8], index: i32) -> OfxResult<f64> {
        let mut v = 0.0f64;
        // SAFETY: valid property set, NUL-terminated name, `v` is a live out-pointer.
        check(unsafe { (self.suite.get_double)(self.handle, name.as_ptr().cast(), index, &mut v) }, || {
            format!("reading {}[{index}]", name_of(name))
        })?;
        Ok(v)
    }

    pub fn pointer(&self, name: &[u8], index: i32) -> OfxResult<*mut c_void> {
        let mut v: *mut c_void = ptr::null_mut();
        // SAFETY: valid property set, NUL-terminated name, `v` is a live out-pointer.
        check(unsafe { (self.suite.get_pointer)(self.handle, name.as_ptr().cast(), index, &mut v) }, || {
            format!("reading {}[{index}]", name_of(name))
        })?;
        Ok(v)
    }

    pub fn string(&self, name: &[u8], index: i32) -> OfxResult<String> {
        let mut v: *mut c_char = ptr::null_mut();
        // SAFETY: valid property set, NUL-terminated name, `v` is a live out-pointer.
        check(unsafe { (self.suite.get_string)(self.handle, name.as_ptr().cast(), index, &mut v) }, || {
            format!("reading {}[{index}]", name_of(name))
        })?;
        if v.is_null() {
            return Ok(String::new());
        }
        // SAFETY: the host returned a NUL-terminated string it owns, valid during this action.
        Ok(unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned())
    }

    pub fn ints<const N: usize>(&self, name: &[u8]) -> OfxResult<[i32; N]> {
        let mut out = [0; N];
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.int(name, i as i32)?;
        }
        Ok(out)
    }

    pub fn doubles<const N: usize>(&self, name: &[u8]) -> OfxResult<[f64; N]> {
        let mut out = [0.0; N];
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.double(name, i as i32)?;
        }
        Ok(out)
    }
}

impl Suites {
    pub fn props(&self, handle: OfxPropertySetHandle) -> OfxResult<Props<'_>> {
        Props::new(self, handle)
    }

    /// The property set of an effect (descriptor or instance).
    pub fn effect_props(&self, effect: OfxImageEffectHandle) -> OfxResult<Props<'_>> {
        if effect.is_null() {
            return Err(OfxError::with_status(kOfxStatErrBadHandle, "the host passed a NULL effect handle"));
        }
        let mut h: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: non-null effect handle given by the host for this action; `h` is an out-pointer.
        check(unsafe { (self.effect.get_property_set)(effect, &mut h) }, || "getPropertySet".into())?;
        self.props(h)
    }

    pub fn param_set(&self, effect: OfxImageEffectHandle) -> OfxResult<OfxParamSetHandle> {
        let mut h: OfxParamSetHandle = ptr::null_mut();
        // SAFETY: effect handle given by the host for this action; `h` is an out-pointer.
        check(unsafe { (self.effect.get_param_set)(effect, &mut h) }, || "getParamSet".into())?;
        if h.is_null() {
            return Err(OfxError::failed("the host returned a NULL parameter set"));
        }
        Ok(h)
    }

    pub fn clip_define(&self, effect: OfxImageEffectHandle, name: &str) -> OfxResult<Props<'_>> {
        let n = cstring(name);
        let mut h: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: descriptor handle of DescribeInContext; NUL-terminated name; out-pointer.
        check(unsafe { (self.effect.clip_define)(effect, n.as_ptr(), &mut h) }, || format!("clipDefine({name})"))?;
        self.props(h)
    }

    pub fn clip_handle(&self, effect: OfxImageEffectHandle, name: &str) -> OfxResult<OfxImageClipHandle> {
        let n = cstring(name);
        let mut clip: OfxImageClipHandle = ptr::null_mut();
        let mut props: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: instance handle; NUL-terminated name; out-pointers.
        check(unsafe { (self.effect.clip_get_handle)(effect, n.as_ptr(), &mut clip, &mut props) }, || {
            format!("clipGetHandle({name})")
        })?;
        if clip.is_null() {
            return Err(OfxError::failed(format!("the host returned a NULL handle for clip {name}")));
        }
        Ok(clip)
    }

    pub fn clip_props(&self, clip: OfxImageClipHandle) -> OfxResult<Props<'_>> {
        let mut h: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: clip handle obtained from clipGetHandle for a live instance; out-pointer.
        check(unsafe { (self.effect.clip_get_property_set)(clip, &mut h) }, || "clipGetPropertySet".into())?;
        self.props(h)
    }

    /// The clip's region of definition in canonical coordinates.
    pub fn clip_rod(&self, clip: OfxImageClipHandle, time: f64) -> OfxResult<OfxRectD> {
        let mut r = OfxRectD { x1: 0.0, y1: 0.0, x2: 0.0, y2: 0.0 };
        // SAFETY: clip handle of a live instance; `r` is an out-pointer.
        check(unsafe { (self.effect.clip_get_rod)(clip, time, &mut r) }, || "clipGetRegionOfDefinition".into())?;
        Ok(r)
    }

    /// Fetches an image (released when the guard drops); `None` when the host has no image.
    pub fn clip_image(&self, clip: OfxImageClipHandle, time: f64) -> OfxResult<Option<ImageGuard<'_>>> {
        let mut h: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: clip handle of a live instance; NULL region asks for the default region.
        let st = unsafe { (self.effect.clip_get_image)(clip, time, ptr::null(), &mut h) };
        if st != kOfxStatOK || h.is_null() {
            if !h.is_null() {
                // SAFETY: the host returned a handle; give it back.
                unsafe { (self.effect.clip_release_image)(h) };
            }
            return Ok(None);
        }
        Ok(Some(ImageGuard { handle: h, suites: self }))
    }

    /// Whether the host asks the current render to stop.
    pub fn aborted(&self, effect: OfxImageEffectHandle) -> bool {
        match self.effect.abort {
            // SAFETY: instance handle of the running render action.
            Some(f) => unsafe { f(effect) != 0 },
            None => false,
        }
    }

    pub fn param_define(&self, set: OfxParamSetHandle, kind: &[u8], name: &str) -> OfxResult<Props<'_>> {
        let n = cstring(name);
        let mut h: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: parameter set of the descriptor; NUL-terminated type and name; out-pointer.
        check(unsafe { (self.param.define)(set, kind.as_ptr().cast(), n.as_ptr(), &mut h) }, || {
            format!("paramDefine({name})")
        })?;
        self.props(h)
    }

    pub fn param_handle(&self, set: OfxParamSetHandle, name: &str) -> OfxResult<OfxParamHandle> {
        let n = cstring(name);
        let mut h: OfxParamHandle = ptr::null_mut();
        // SAFETY: parameter set of a live instance; NUL-terminated name; out-pointer (props unused).
        check(unsafe { (self.param.get_handle)(set, n.as_ptr(), &mut h, ptr::null_mut()) }, || {
            format!("paramGetHandle({name})")
        })?;
        if h.is_null() {
            return Err(OfxError::failed(format!("the host returned a NULL handle for parameter {name}")));
        }
        Ok(h)
    }

    pub fn param_props(&self, param: OfxParamHandle) -> OfxResult<Props<'_>> {
        let mut h: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: parameter handle of a live instance; out-pointer.
        check(unsafe { (self.param.get_property_set)(param, &mut h) }, || "paramGetPropertySet".into())?;
        self.props(h)
    }

    pub fn param_double(&self, param: OfxParamHandle, time: f64) -> OfxResult<f64> {
        let mut v = 0.0f64;
        // SAFETY: a double parameter takes one `double *` after the time.
        check(unsafe { (self.param.get_value_at_time)(param, time, &mut v as *mut f64) }, || {
            "paramGetValueAtTime".into()
        })?;
        Ok(v)
    }

    /// Double2D parameters.
    pub fn param_double2(&self, param: OfxParamHandle, time: f64) -> OfxResult<[f64; 2]> {
        let (mut x, mut y) = (0.0f64, 0.0f64);
        // SAFETY: a Double2D parameter takes two `double *` after the time.
        check(unsafe { (self.param.get_value_at_time)(param, time, &mut x as *mut f64, &mut y as *mut f64) }, || {
            "paramGetValueAtTime".into()
        })?;
        Ok([x, y])
    }

    /// Integer, boolean and choice parameters.
    pub fn param_int(&self, param: OfxParamHandle, time: f64) -> OfxResult<i32> {
        let mut v: c_int = 0;
        // SAFETY: integer, boolean and choice parameters take one `int *` after the time.
        check(unsafe { (self.param.get_value_at_time)(param, time, &mut v as *mut c_int) }, || {
            "paramGetValueAtTime".into()
        })?;
        Ok(v)
    }

    pub fn param_string(&self, param: OfxParamHandle, time: f64) -> OfxResult<String> {
        let mut v: *mut c_char = ptr::null_mut();
        // SAFETY: a string parameter takes one `char **` after the time.
        check(unsafe { (self.param.get_value_at_time)(param, time, &mut v as *mut *mut c_char) }, || {
            "paramGetValueAtTime".into()
        })?;
        if v.is_null() {
            return Ok(String::new());
        }
        // SAFETY: the host returned a NUL-terminated string it owns, valid during this action.
        Ok(unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned())
    }

    /// Posts a message to the user when the host has a message suite (best effort).
    pub fn post(&self, handle: *const c_void, kind: &[u8], text: &str) {
        if let Some(f) = self.message {
            let t = cstring(text);
            // SAFETY: the format is the constant "%s" and the single vararg is a NUL-terminated
            // string, so the host's printf reads exactly what is passed; `handle` may be NULL.
            unsafe {
                f(handle as *mut c_void, kind.as_ptr().cast(), c"SparseLensBlur".as_ptr(), c"%s".as_ptr(), t.as_ptr());
            }
        }
    }
}

impl Suites {
    /// Shows an error on the effect until [`Suites::clear_persistent`]: a persistent message
    /// when the host has them (message suite version 2), else an ordinary one.
    pub fn post_persistent(&self, handle: *const c_void, kind: &[u8], text: &str) {
        match self.persistent {
            Some((set, _)) => {
                let t = cstring(text);
                // SAFETY: as in `post`: format "%s" and one NUL-terminated string.
                unsafe {
                    set(
                        handle as *mut c_void,
                        kind.as_ptr().cast(),
                        c"SparseLensBlur".as_ptr(),
                        c"%s".as_ptr(),
                        t.as_ptr(),
                    );
                }
            }
            None => self.post(handle, kind, text),
        }
    }

    /// Clears the persistent message of an effect (nothing to do without version 2).
    pub fn clear_persistent(&self, handle: *const c_void) {
        if let Some((_, clear)) = self.persistent {
            // SAFETY: the host's clearPersistentMessage on the effect handle of this action.
            unsafe { clear(handle as *mut c_void) };
        }
    }
}

/// A fetched image, released on drop.
pub struct ImageGuard<'s> {
    pub handle: OfxPropertySetHandle,
    suites: &'s Suites,
}

impl ImageGuard<'_> {
    pub fn props(&self) -> Props<'_> {
        Props { handle: self.handle, suite: &self.suites.prop }
    }
}

impl Drop for ImageGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle came from clipGetImage in this action and is released once.
        unsafe { (self.suites.effect.clip_release_image)(self.handle) };
    }
}

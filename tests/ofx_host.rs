//! A minimal OpenFX host written in Rust: it dlopens the built plugin library (libsparsebokeh.so),
//! supplies property, parameter, image effect, memory, multi-thread and message suites, and drives
//! Load → Describe → DescribeInContext → CreateInstance → set params → GetRegionsOfInterest →
//! IsIdentity → Render → DestroyInstance → Unload on images it allocates, comparing the plugin's
//! output with the Rust engine on the same data.
//!
//! The variadic host functions (paramGetValue[AtTime], message) are defined with the fixed
//! arguments the plugin passes: on x86-64 System V, variadic arguments travel in the same
//! registers as fixed ones, so this is exact there (and the test only runs there).
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use common::{max_abs_diff, random_bundle, test_image};
use sparsebokeh::blur_reach;
use sparsebokeh::ofx::plugin::PLUGIN_ID;
use sparsebokeh::ofx::sys::*;
use sparsebokeh::Edges;
use sparsebokeh::{AtRadius, Bundle, Engine, Image, Lens, LensMode};
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

// ------------------------------------------------------------------------------------------------
// Property sets.

#[derive(Clone, Debug)]
enum V {
    I(i32),
    D(f64),
    /// A Double2D parameter's value.
    D2([f64; 2]),
    S(CString),
    P(*mut c_void),
}
// SAFETY (test host): pointers stored in properties are only handed back to the plugin.
unsafe impl Send for V {}

#[derive(Default)]
struct PropSet {
    props: Mutex<HashMap<String, Vec<V>>>,
    /// Property names in the order they were first set.
    order: Mutex<Vec<String>>,
}

impl PropSet {
    fn handle(&self) -> OfxPropertySetHandle {
        self as *const PropSet as OfxPropertySetHandle
    }
    fn set(&self, name: &str, i: usize, v: V) {
        let mut m = self.props.lock().unwrap();
        if !m.contains_key(name) {
            self.order.lock().unwrap().push(name.to_string());
        }
        let e = m.entry(name.to_string()).or_default();
        if e.len() <= i {
            e.resize(i + 1, v.clone());
        }
        e[i] = v;
    }
    fn get(&self, name: &str, i: usize) -> Option<V> {
        self.props.lock().unwrap().get(name).and_then(|e| e.get(i).cloned())
    }
    fn all(&self, name: &str) -> Vec<V> {
        self.props.lock().unwrap().get(name).cloned().unwrap_or_default()
    }
    fn string(&self, name: &str, i: usize) -> Option<String> {
        match self.get(name, i) {
            Some(V::S(s)) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        }
    }
    fn int(&self, name: &str, i: usize) -> Option<i32> {
        match self.get(name, i) {
            Some(V::I(v)) => Some(v),
            _ => None,
        }
    }
    fn double(&self, name: &str, i: usize) -> Option<f64> {
        match self.get(name, i) {
            Some(V::D(v)) => Some(v),
            Some(V::I(v)) => Some(v as f64),
            _ => None,
        }
    }
}

fn k(c: &[u8]) -> &str {
    CStr::from_bytes_with_nul(c).unwrap().to_str().unwrap()
}

unsafe fn cs(p: *const c_char) -> String {
    CStr::from_ptr(p).to_string_lossy().into_owned()
}

unsafe fn props<'a>(h: OfxPropertySetHandle) -> Option<&'a PropSet> {
    (h as *const PropSet).as_ref()
}

unsafe fn set_prop(h: OfxPropertySetHandle, n: *const c_char, i: c_int, v: V) -> OfxStatus {
    match props(h) {
        Some(p) if i >= 0 && !n.is_null() => {
            p.set(&cs(n), i as usize, v);
            kOfxStatOK
        }
        Some(_) => kOfxStatErrBadIndex,
        None => kOfxStatErrBadHandle,
    }
}

unsafe fn get_prop(h: OfxPropertySetHandle, n: *const c_char, i: c_int) -> Result<V, OfxStatus> {
    let p = props(h).ok_or(kOfxStatErrBadHandle)?;
    let name = cs(n);
    let all = p.props.lock().unwrap();
    let e = all.get(&name).ok_or(kOfxStatErrUnknown)?;
    e.get(i as usize).cloned().ok_or(kOfxStatErrBadIndex)
}

unsafe extern "C" fn prop_set_pointer(
    h: OfxPropertySetHandle,
    n: *const c_char,
    i: c_int,
    v: *mut c_void,
) -> OfxStatus {
    set_prop(h, n, i, V::P(v))
}
unsafe extern "C" fn prop_set_string(
    h: OfxPropertySetHandle,
    n: *const c_char,
    i: c_int,
    v: *const c_char,
) -> OfxStatus {
    set_prop(h, n, i, V::S(CStr::from_ptr(v).to_owned()))
}
unsafe extern "C" fn prop_set_double(h: OfxPropertySetHandle, n: *const c_char, i: c_int, v: f64) -> OfxStatus {
    set_prop(h, n, i, V::D(v))
}
unsafe extern "C" fn prop_set_int(h: OfxPropertySetHandle, n: *const c_char, i: c_int, v: c_int) -> OfxStatus {
    set_prop(h, n, i, V::I(v))
}
unsafe extern "C" fn prop_get_pointer(
    h: OfxPropertySetHandle,
    n: *const c_char,
    i: c_int,
    out: *mut *mut c_void,
) -> OfxStatus {
    match get_prop(h, n, i) {
        Ok(V::P(p)) => {
            *out = p;
            kOfxStatOK
        }
        Ok(_) => kOfxStatErrValue,
        Err(e) => e,
    }
}
unsafe extern "C" fn prop_get_string(
    h: OfxPropertySetHandle,
    n: *const c_char,
    i: c_int,
    out: *mut *mut c_char,
) -> OfxStatus {
    // The returned pointer stays valid while the property keeps this value (the map owns it).
    let Some(p) = props(h) else { return kOfxStatErrBadHandle };
    let all = p.props.lock().unwrap();
    match all.get(&cs(n)).map(|e| e.get(i as usize)) {
        Some(Some(V::S(s))) => {
            *out = s.as_ptr() as *mut c_char;
            kOfxStatOK
        }
        Some(Some(_)) => kOfxStatErrValue,
        Some(None) => kOfxStatErrBadIndex,
        None => kOfxStatErrUnknown,
    }
}
unsafe extern "C" fn prop_get_double(h: OfxPropertySetHandle, n: *const c_char, i: c_int, out: *mut f64) -> OfxStatus {
    match get_prop(h, n, i) {
        Ok(V::D(v)) => {
            *out = v;
            kOfxStatOK
        }
        Ok(_) => kOfxStatErrValue,
        Err(e) => e,
    }
}
unsafe extern "C" fn prop_get_int(h: OfxPropertySetHandle, n: *const c_char, i: c_int, out: *mut c_int) -> OfxStatus {
    match get_prop(h, n, i) {
        Ok(V::I(v)) => {
            *out = v;
            kOfxStatOK
        }
        Ok(_) => kOfxStatErrValue,
        Err(e) => e,
    }
}
unsafe extern "C" fn prop_reset(h: OfxPropertySetHandle, n: *const c_char) -> OfxStatus {
    match props(h) {
        Some(p) => {
            p.props.lock().unwrap().remove(&cs(n));
            kOfxStatOK
        }
        None => kOfxStatErrBadHandle,
    }
}
unsafe extern "C" fn prop_get_dimension(h: OfxPropertySetHandle, n: *const c_char, count: *mut c_int) -> OfxStatus {
    match props(h) {
        Some(p) => {
            *count = p.all(&cs(n)).len() as c_int;
            kOfxStatOK
        }
        None => kOfxStatErrBadHandle,
    }
}

// ------------------------------------------------------------------------------------------------
// Parameters, clips, effects.

struct Param {
    kind: String,
    props: PropSet,
    value: Mutex<V>,
}

#[derive(Default)]
struct ParamSet {
    props: PropSet,
    params: Mutex<HashMap<String, Box<Param>>>,
}

/// An image the host hands out: memory owned by the test, described OpenFX style.
#[derive(Clone, Copy)]
struct HostImg {
    data: *mut c_void,
    bounds: [i32; 4],
    row_bytes: i32,
    components: &'static [u8],
    /// kOfxBitDepthFloat, kOfxBitDepthShort or kOfxBitDepthByte.
    depth: &'static [u8],
}
// SAFETY (test host): the memory outlives every render that uses it.
unsafe impl Send for HostImg {}

#[derive(Default)]
struct Clip {
    props: PropSet,
    /// Images by frame; a missing frame makes clipGetImage fail.
    images: Mutex<HashMap<i64, HostImg>>,
    rod: Mutex<[f64; 4]>,
}

#[derive(Default)]
struct Effect {
    props: PropSet,
    params: ParamSet,
    clips: Mutex<HashMap<String, Box<Clip>>>,
}

impl Effect {
    fn handle(&self) -> OfxImageEffectHandle {
        self as *const Effect as OfxImageEffectHandle
    }
    fn clip(&self, name: &str) -> &Clip {
        let clips = self.clips.lock().unwrap();
        let c: &Clip = clips.get(name).unwrap_or_else(|| panic!("clip {name} defined"));
        // SAFETY (test host): clips are boxed and never removed while the effect lives.
        unsafe { &*(c as *const Clip) }
    }
    fn set_param(&self, name: &str, v: V) {
        let params = self.params.params.lock().unwrap();
        *params.get(name).unwrap_or_else(|| panic!("parameter {name} defined")).value.lock().unwrap() = v;
    }
}

unsafe fn effect<'a>(h: OfxImageEffectHandle) -> Option<&'a Effect> {
    (h as *const Effect).as_ref()
}

static OUTSTANDING_IMAGES: AtomicIsize = AtomicIsize::new(0);

unsafe extern "C" fn get_property_set(e: OfxImageEffectHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    match effect(e) {
        Some(e) => {
            *out = e.props.handle();
            kOfxStatOK
        }
        None => kOfxStatErrBadHandle,
    }
}
unsafe extern "C" fn get_param_set(e: OfxImageEffectHandle, out: *mut OfxParamSetHandle) -> OfxStatus {
    match effect(e) {
        Some(e) => {
            *out = &e.params as *const ParamSet as OfxParamSetHandle;
            kOfxStatOK
        }
        None => kOfxStatErrBadHandle,
    }
}
unsafe extern "C" fn clip_define(
    e: OfxImageEffectHandle,
    n: *const c_char,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    let Some(e) = effect(e) else { return kOfxStatErrBadHandle };
    let c = Box::<Clip>::default();
    c.props.set(k(kOfxPropName), 0, V::S(CStr::from_ptr(n).to_owned()));
    c.props.set(k(kOfxPropType), 0, V::S(CString::new(k(kOfxTypeClip)).unwrap()));
    *out = c.props.handle();
    e.clips.lock().unwrap().insert(cs(n), c);
    kOfxStatOK
}
unsafe extern "C" fn clip_get_handle(
    e: OfxImageEffectHandle,
    n: *const c_char,
    clip: *mut OfxImageClipHandle,
    ps: *mut OfxPropertySetHandle,
) -> OfxStatus {
    let Some(e) = effect(e) else { return kOfxStatErrBadHandle };
    let clips = e.clips.lock().unwrap();
    match clips.get(&cs(n)) {
        Some(c) => {
            *clip = &**c as *const Clip as OfxImageClipHandle;
            if !ps.is_null() {
                *ps = c.props.handle();
            }
            kOfxStatOK
        }
        None => kOfxStatErrUnknown,
    }
}
unsafe extern "C" fn clip_get_property_set(c: OfxImageClipHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    match (c as *const Clip).as_ref() {
        Some(c) => {
            *out = c.props.handle();
            kOfxStatOK
        }
        None => kOfxStatErrBadHandle,
    }
}
unsafe extern "C" fn clip_get_image(
    c: OfxImageClipHandle,
    time: f64,
    _region: *const OfxRectD,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    let Some(c) = (c as *const Clip).as_ref() else { return kOfxStatErrBadHandle };
    let Some(img) = c.images.lock().unwrap().get(&(time as i64)).copied() else { return kOfxStatFailed };
    let p = Box::<PropSet>::default();
    p.set(k(kOfxPropType), 0, V::S(CString::new(k(kOfxTypeImage)).unwrap()));
    p.set(k(kOfxImagePropData), 0, V::P(img.data));
    for (i, b) in img.bounds.iter().enumerate() {
        p.set(k(kOfxImagePropBounds), i, V::I(*b));
        p.set(k(kOfxImagePropRegionOfDefinition), i, V::I(*b));
    }
    p.set(k(kOfxImagePropRowBytes), 0, V::I(img.row_bytes));
    p.set(k(kOfxImageEffectPropComponents), 0, V::S(CString::new(k(img.components)).unwrap()));
    p.set(k(kOfxImageEffectPropPixelDepth), 0, V::S(CString::new(k(img.depth)).unwrap()));
    let par = c.props.get(k(kOfxImagePropPixelAspectRatio), 0).unwrap_or(V::D(1.0));
    p.set(k(kOfxImagePropPixelAspectRatio), 0, par);
    if let Some(premult) = c.props.get(k(kOfxImageEffectPropPreMultiplication), 0) {
        p.set(k(kOfxImageEffectPropPreMultiplication), 0, premult);
    }
    *out = Box::into_raw(p) as OfxPropertySetHandle;
    OUTSTANDING_IMAGES.fetch_add(1, Ordering::SeqCst);
    kOfxStatOK
}
unsafe extern "C" fn clip_release_image(h: OfxPropertySetHandle) -> OfxStatus {
    if h.is_null() {
        return kOfxStatErrBadHandle;
    }
    drop(Box::from_raw(h as *mut PropSet));
    OUTSTANDING_IMAGES.fetch_sub(1, Ordering::SeqCst);
    kOfxStatOK
}
unsafe extern "C" fn clip_get_rod(c: OfxImageClipHandle, _time: f64, out: *mut OfxRectD) -> OfxStatus {
    let Some(c) = (c as *const Clip).as_ref() else { return kOfxStatErrBadHandle };
    let r = *c.rod.lock().unwrap();
    *out = OfxRectD { x1: r[0], y1: r[1], x2: r[2], y2: r[3] };
    kOfxStatOK
}
unsafe extern "C" fn abort_never(_e: OfxImageEffectHandle) -> c_int {
    0
}

unsafe fn param_set<'a>(h: OfxParamSetHandle) -> Option<&'a ParamSet> {
    (h as *const ParamSet).as_ref()
}
unsafe extern "C" fn param_define(
    s: OfxParamSetHandle,
    kind: *const c_char,
    n: *const c_char,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    let Some(s) = param_set(s) else { return kOfxStatErrBadHandle };
    let mut params = s.params.lock().unwrap();
    if params.contains_key(&cs(n)) {
        return kOfxStatErrExists;
    }
    let p = Box::new(Param { kind: cs(kind), props: PropSet::default(), value: Mutex::new(V::I(0)) });
    p.props.set(k(kOfxParamPropType), 0, V::S(CStr::from_ptr(kind).to_owned()));
    p.props.set(k(kOfxPropName), 0, V::S(CStr::from_ptr(n).to_owned()));
    if !out.is_null() {
        *out = p.props.handle();
    }
    params.insert(cs(n), p);
    kOfxStatOK
}
unsafe extern "C" fn param_get_handle(
    s: OfxParamSetHandle,
    n: *const c_char,
    out: *mut OfxParamHandle,
    ps: *mut OfxPropertySetHandle,
) -> OfxStatus {
    let Some(s) = param_set(s) else { return kOfxStatErrBadHandle };
    let params = s.params.lock().unwrap();
    match params.get(&cs(n)) {
        Some(p) => {
            *out = &**p as *const Param as OfxParamHandle;
            if !ps.is_null() {
                *ps = p.props.handle();
            }
            kOfxStatOK
        }
        None => kOfxStatErrUnknown,
    }
}
unsafe extern "C" fn param_set_get_property_set(s: OfxParamSetHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    match param_set(s) {
        Some(s) => {
            *out = s.props.handle();
            kOfxStatOK
        }
        None => kOfxStatErrBadHandle,
    }
}
unsafe extern "C" fn param_get_property_set(p: OfxParamHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    match (p as *const Param).as_ref() {
        Some(p) => {
            *out = p.props.handle();
            kOfxStatOK
        }
        None => kOfxStatErrBadHandle,
    }
}
/// Writes a one-dimensional parameter's value through the plugin's out-pointer.
unsafe fn write_value(p: OfxParamHandle, out: *mut c_void, out2: *mut c_void) -> OfxStatus {
    let Some(p) = (p as *const Param).as_ref() else { return kOfxStatErrBadHandle };
    let v = p.value.lock().unwrap();
    match (&*v, p.kind.as_str()) {
        (V::D(d), "OfxParamTypeDouble") => *(out as *mut f64) = *d,
        (V::D2([x, y]), "OfxParamTypeDouble2D") => {
            *(out as *mut f64) = *x;
            *(out2 as *mut f64) = *y;
        }
        (V::I(i), "OfxParamTypeInteger" | "OfxParamTypeChoice" | "OfxParamTypeBoolean") => *(out as *mut c_int) = *i,
        (V::S(s), "OfxParamTypeString") => *(out as *mut *const c_char) = s.as_ptr(),
        _ => return kOfxStatErrValue,
    }
    kOfxStatOK
}
/// The second out-pointer is read only for Double2D parameters (for the others it is whatever
/// the register holds).
unsafe extern "C" fn param_get_value_at_time(
    p: OfxParamHandle,
    _time: f64,
    out: *mut c_void,
    out2: *mut c_void,
) -> OfxStatus {
    write_value(p, out, out2)
}
unsafe extern "C" fn param_get_value(p: OfxParamHandle, out: *mut c_void, out2: *mut c_void) -> OfxStatus {
    write_value(p, out, out2)
}

static MESSAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn message(
    _h: *mut c_void,
    kind: *const c_char,
    _id: *const c_char,
    format: *const c_char,
    arg: *const c_char,
) -> OfxStatus {
    // The plugin always passes format "%s" and one string.
    let text = if cs(format) == "%s" { cs(arg) } else { cs(format) };
    MESSAGES.lock().unwrap().push(format!("{}: {text}", cs(kind)));
    kOfxStatOK
}

/// Persistent messages (message suite version 2): "set KIND: TEXT" and "clear", in order.
static PERSISTENT: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn set_persistent(
    h: *mut c_void,
    kind: *const c_char,
    id: *const c_char,
    format: *const c_char,
    arg: *const c_char,
) -> OfxStatus {
    let text = if cs(format) == "%s" { cs(arg) } else { cs(format) };
    PERSISTENT.lock().unwrap().push(format!("set {}: {text}", cs(kind)));
    // Also in the message log, so that tests looking for an error's text find it there.
    message(h, kind, id, format, arg)
}
unsafe extern "C" fn clear_persistent(_h: *mut c_void) -> OfxStatus {
    PERSISTENT.lock().unwrap().push("clear".into());
    kOfxStatOK
}

unsafe extern "C" fn memory_alloc(_h: *mut c_void, n: usize, out: *mut *mut c_void) -> OfxStatus {
    *out = libc_malloc(n);
    if (*out).is_null() {
        kOfxStatErrMemory
    } else {
        kOfxStatOK
    }
}
unsafe extern "C" fn memory_free(p: *mut c_void) -> OfxStatus {
    libc_free(p);
    kOfxStatOK
}
extern "C" {
    #[link_name = "malloc"]
    fn libc_malloc(n: usize) -> *mut c_void;
    #[link_name = "free"]
    fn libc_free(p: *mut c_void);
}
unsafe extern "C" fn multi_thread(
    f: Option<unsafe extern "C" fn(c_uint, c_uint, *mut c_void)>,
    n: c_uint,
    arg: *mut c_void,
) -> OfxStatus {
    if let Some(f) = f {
        for i in 0..n {
            f(i, n, arg);
        }
    }
    kOfxStatOK
}
unsafe extern "C" fn num_cpus(n: *mut c_uint) -> OfxStatus {
    *n = 1;
    kOfxStatOK
}

// ------------------------------------------------------------------------------------------------
// Suites and the host record.

struct Suites {
    prop: OfxPropertySuiteV1,
    param: OfxParameterSuiteV1,
    effect: OfxImageEffectSuiteV1,
    memory: OfxMemorySuiteV1,
    thread: OfxMultiThreadSuiteV1,
    message: OfxMessageSuiteV1,
    message2: OfxMessageSuiteV2,
}

fn property_suite() -> OfxPropertySuiteV1 {
    OfxPropertySuiteV1 {
        propSetPointer: Some(prop_set_pointer),
        propSetString: Some(prop_set_string),
        propSetDouble: Some(prop_set_double),
        propSetInt: Some(prop_set_int),
        propSetPointerN: None,
        propSetStringN: None,
        propSetDoubleN: None,
        propSetIntN: None,
        propGetPointer: Some(prop_get_pointer),
        propGetString: Some(prop_get_string),
        propGetDouble: Some(prop_get_double),
        propGetInt: Some(prop_get_int),
        propGetPointerN: None,
        propGetStringN: None,
        propGetDoubleN: None,
        propGetIntN: None,
        propReset: Some(prop_reset),
        propGetDimension: Some(prop_get_dimension),
    }
}

fn suites() -> Suites {
    type GetAtTime = unsafe extern "C" fn(OfxParamHandle, OfxTime, ...) -> OfxStatus;
    type Get = unsafe extern "C" fn(OfxParamHandle, ...) -> OfxStatus;
    type Msg = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const c_char, ...) -> OfxStatus;
    // SAFETY (x86-64 System V): a variadic callee and a fixed-argument callee receive these
    // arguments in the same registers; the plugin passes exactly the arguments declared here.
    let (get_at_time, get, msg) = unsafe {
        (
            std::mem::transmute::<
                unsafe extern "C" fn(OfxParamHandle, f64, *mut c_void, *mut c_void) -> OfxStatus,
                GetAtTime,
            >(param_get_value_at_time),
            std::mem::transmute::<unsafe extern "C" fn(OfxParamHandle, *mut c_void, *mut c_void) -> OfxStatus, Get>(
                param_get_value,
            ),
            std::mem::transmute::<
                unsafe extern "C" fn(
                    *mut c_void,
                    *const c_char,
                    *const c_char,
                    *const c_char,
                    *const c_char,
                ) -> OfxStatus,
                Msg,
            >(message),
        )
    };
    // SAFETY: as above, for setPersistentMessage.
    let set_msg = unsafe {
        std::mem::transmute::<
            unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const c_char, *const c_char) -> OfxStatus,
            Msg,
        >(set_persistent)
    };
    Suites {
        prop: property_suite(),
        param: OfxParameterSuiteV1 {
            paramDefine: Some(param_define),
            paramGetHandle: Some(param_get_handle),
            paramSetGetPropertySet: Some(param_set_get_property_set),
            paramGetPropertySet: Some(param_get_property_set),
            paramGetValue: Some(get),
            paramGetValueAtTime: Some(get_at_time),
            paramGetDerivative: None,
            paramGetIntegral: None,
            paramSetValue: None,
            paramSetValueAtTime: None,
            paramGetNumKeys: None,
            paramGetKeyTime: None,
            paramGetKeyIndex: None,
            paramDeleteKey: None,
            paramDeleteAllKeys: None,
            paramCopy: None,
            paramEditBegin: None,
            paramEditEnd: None,
        },
        effect: OfxImageEffectSuiteV1 {
            getPropertySet: Some(get_property_set),
            getParamSet: Some(get_param_set),
            clipDefine: Some(clip_define),
            clipGetHandle: Some(clip_get_handle),
            clipGetPropertySet: Some(clip_get_property_set),
            clipGetImage: Some(clip_get_image),
            clipReleaseImage: Some(clip_release_image),
            clipGetRegionOfDefinition: Some(clip_get_rod),
            abort: Some(abort_never),
            imageMemoryAlloc: None,
            imageMemoryFree: None,
            imageMemoryLock: None,
            imageMemoryUnlock: None,
        },
        memory: OfxMemorySuiteV1 { memoryAlloc: Some(memory_alloc), memoryFree: Some(memory_free) },
        thread: OfxMultiThreadSuiteV1 {
            multiThread: Some(multi_thread),
            multiThreadNumCPUs: Some(num_cpus),
            multiThreadIndex: None,
            multiThreadIsSpawnedThread: None,
            mutexCreate: None,
            mutexDestroy: None,
            mutexLock: None,
            mutexUnLock: None,
            mutexTryLock: None,
        },
        message: OfxMessageSuiteV1 { message: Some(msg) },
        message2: OfxMessageSuiteV2 {
            message: Some(msg),
            setPersistentMessage: Some(set_msg),
            clearPersistentMessage: Some(clear_persistent),
        },
    }
}

/// The property suite handed out; tests may swap in a broken one.
static BROKEN_PROPERTY_SUITE: AtomicBool = AtomicBool::new(false);

struct HostGlobals {
    suites: Suites,
    broken_prop: OfxPropertySuiteV1,
    host_props: PropSet,
}
// SAFETY (test host): immutable after creation; function pointers only.
unsafe impl Sync for HostGlobals {}
unsafe impl Send for HostGlobals {}

fn globals() -> &'static HostGlobals {
    static G: OnceLock<HostGlobals> = OnceLock::new();
    G.get_or_init(|| {
        let host_props = PropSet::default();
        host_props.set(k(kOfxPropName), 0, V::S(CString::new("org.sparsebokeh.TestHost").unwrap()));
        host_props.set(k(kOfxPropType), 0, V::S(CString::new(k(kOfxTypeImageEffectHost)).unwrap()));
        let mut broken_prop = property_suite();
        broken_prop.propGetInt = None;
        HostGlobals { suites: suites(), broken_prop, host_props }
    })
}

unsafe extern "C" fn fetch_suite(_host: OfxPropertySetHandle, name: *const c_char, version: c_int) -> *const c_void {
    let g = globals();
    let name = cs(name);
    let p: *const c_void = match (name.as_str(), version) {
        ("OfxPropertySuite", 1) if BROKEN_PROPERTY_SUITE.load(Ordering::SeqCst) => {
            &g.broken_prop as *const _ as *const c_void
        }
        ("OfxPropertySuite", 1) => &g.suites.prop as *const _ as *const c_void,
        ("OfxParameterSuite", 1) => &g.suites.param as *const _ as *const c_void,
        ("OfxImageEffectSuite", 1) => &g.suites.effect as *const _ as *const c_void,
        ("OfxMemorySuite", 1) => &g.suites.memory as *const _ as *const c_void,
        ("OfxMultiThreadSuite", 1) => &g.suites.thread as *const _ as *const c_void,
        ("OfxMessageSuite", 1) => &g.suites.message as *const _ as *const c_void,
        ("OfxMessageSuite", 2) => &g.suites.message2 as *const _ as *const c_void,
        _ => ptr::null(),
    };
    p
}

struct HostRecord(OfxHost);
// SAFETY (test host): immutable.
unsafe impl Sync for HostRecord {}
unsafe impl Send for HostRecord {}

fn host_record() -> *mut OfxHost {
    static H: OnceLock<HostRecord> = OnceLock::new();
    let h =
        H.get_or_init(|| HostRecord(OfxHost { host: globals().host_props.handle(), fetchSuite: Some(fetch_suite) }));
    &h.0 as *const OfxHost as *mut OfxHost
}

// ------------------------------------------------------------------------------------------------
// The plugin library.

struct Plugin {
    _lib: libloading::Library,
    record: *mut OfxPlugin,
}
// SAFETY (test host): the record is immutable and the library stays loaded.
unsafe impl Sync for Plugin {}
unsafe impl Send for Plugin {}

fn library_path() -> PathBuf {
    // The test runs from target/<profile>/deps/, where cargo builds the cdylib next to it (the
    // copy in target/<profile>/ is only refreshed by `cargo build`).
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let p = deps.join("libsparsebokeh.so");
    assert!(p.is_file(), "the plugin library {} was not built", p.display());
    p
}

fn plugin() -> &'static Plugin {
    static P: OnceLock<Plugin> = OnceLock::new();
    P.get_or_init(|| unsafe {
        let lib = libloading::Library::new(library_path()).expect("dlopen the plugin");
        let count: libloading::Symbol<unsafe extern "C" fn() -> c_int> = lib.get(b"OfxGetNumberOfPlugins").unwrap();
        assert_eq!(count(), 1);
        let get: libloading::Symbol<unsafe extern "C" fn(c_int) -> *mut OfxPlugin> = lib.get(b"OfxGetPlugin").unwrap();
        assert!(get(1).is_null());
        assert!(get(-1).is_null());
        let record = get(0);
        assert!(!record.is_null());
        Plugin { record, _lib: lib }
    })
}

/// Serialises the tests: the plugin's Load/Unload state is per process.
fn lock() -> MutexGuard<'static, ()> {
    static L: Mutex<()> = Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

fn call(action: &[u8], handle: *const c_void, in_args: Option<&PropSet>, out_args: Option<&PropSet>) -> OfxStatus {
    let p = unsafe { &*plugin().record };
    let entry = p.mainEntry.expect("mainEntry");
    unsafe {
        entry(
            action.as_ptr().cast(),
            handle,
            in_args.map_or(ptr::null_mut(), |p| p.handle()),
            out_args.map_or(ptr::null_mut(), |p| p.handle()),
        )
    }
}

fn load() {
    let p = unsafe { &*plugin().record };
    unsafe { (p.setHost.expect("setHost"))(host_record()) };
    assert_eq!(call(kOfxActionLoad, ptr::null(), None, None), kOfxStatOK, "Load: {:?}", messages());
}

fn messages() -> Vec<String> {
    MESSAGES.lock().unwrap().clone()
}

fn take_messages() -> Vec<String> {
    std::mem::take(&mut *MESSAGES.lock().unwrap())
}

/// Describe and DescribeInContext(Filter); returns the context descriptor.
fn describe() -> (Box<Effect>, Box<Effect>) {
    let desc = Box::<Effect>::default();
    desc.props.set(k(kOfxPropType), 0, V::S(CString::new(k(kOfxTypeImageEffect)).unwrap()));
    assert_eq!(call(kOfxActionDescribe, desc.handle() as *const c_void, None, None), kOfxStatOK, "{:?}", messages());
    let ctx = Box::<Effect>::default();
    let args = PropSet::default();
    args.set(k(kOfxImageEffectPropContext), 0, V::S(CString::new(k(kOfxImageEffectContextFilter)).unwrap()));
    let st = call(kOfxImageEffectActionDescribeInContext, ctx.handle() as *const c_void, Some(&args), None);
    assert_eq!(st, kOfxStatOK, "{:?}", messages());
    (desc, ctx)
}

/// Builds an instance from the context descriptor the way a host does (clips and parameters with
/// their defaults), then runs CreateInstance.
fn create_instance(ctx: &Effect, with_depth: bool) -> Box<Effect> {
    let inst = Box::<Effect>::default();
    inst.props.set(k(kOfxPropType), 0, V::S(CString::new(k(kOfxTypeImageEffectInstance)).unwrap()));
    inst.props.set(k(kOfxImageEffectPropContext), 0, V::S(CString::new(k(kOfxImageEffectContextFilter)).unwrap()));
    inst.props.set(k(kOfxPropInstanceData), 0, V::P(ptr::null_mut()));
    for name in ctx.clips.lock().unwrap().keys() {
        let c = Box::<Clip>::default();
        c.props.set(k(kOfxPropName), 0, V::S(CString::new(name.as_str()).unwrap()));
        let connected = name != "Depth" || with_depth;
        c.props.set(k(kOfxImageClipPropConnected), 0, V::I(connected as i32));
        c.props.set(k(kOfxImageEffectPropComponents), 0, V::S(CString::new(k(kOfxImageComponentRGBA)).unwrap()));
        c.props.set(k(kOfxImageEffectPropPixelDepth), 0, V::S(CString::new(k(kOfxBitDepthFloat)).unwrap()));
        c.props.set(k(kOfxImageEffectPropPreMultiplication), 0, V::S(CString::new(k(kOfxImagePreMultiplied)).unwrap()));
        inst.clips.lock().unwrap().insert(name.clone(), c);
    }
    for (name, p) in ctx.params.params.lock().unwrap().iter() {
        let v = match p.props.get(k(kOfxParamPropDefault), 0) {
            Some(V::D(x)) if p.kind == k(kOfxParamTypeDouble2D) => {
                V::D2([x, p.props.double(k(kOfxParamPropDefault), 1).unwrap_or(0.0)])
            }
            Some(v) => v,
            None if p.kind == k(kOfxParamTypeString) => V::S(CString::default()),
            None if p.kind == k(kOfxParamTypeDouble) => V::D(0.0),
            None => V::I(0),
        };
        let q = Box::new(Param { kind: p.kind.clone(), props: PropSet::default(), value: Mutex::new(v) });
        for (key, vals) in p.props.props.lock().unwrap().iter() {
            for (i, v) in vals.iter().enumerate() {
                q.props.set(key, i, v.clone());
            }
        }
        inst.params.params.lock().unwrap().insert(name.clone(), q);
    }
    let st = call(kOfxActionCreateInstance, inst.handle() as *const c_void, None, None);
    assert_eq!(st, kOfxStatOK, "CreateInstance: {:?}", messages());
    inst
}

fn destroy(inst: Box<Effect>) {
    assert_eq!(call(kOfxActionDestroyInstance, inst.handle() as *const c_void, None, None), kOfxStatOK);
    assert!(matches!(inst.props.get(k(kOfxPropInstanceData), 0), Some(V::P(p)) if p.is_null()));
}

fn unload() {
    assert_eq!(call(kOfxActionUnload, ptr::null(), None, None), kOfxStatOK);
    assert_eq!(OUTSTANDING_IMAGES.load(Ordering::SeqCst), 0, "every image was released");
}

// ------------------------------------------------------------------------------------------------
// Images in OpenFX layout.

/// An image buffer shaped as a host would: bounds in pixel coordinates (y up), rows `stride`
/// floats apart, bottom-up in memory (positive row bytes) or top-down (negative).
struct Buffer {
    mem: Vec<f32>,
    bounds: [i32; 4],
    channels: usize,
    stride: usize,
    top_down: bool,
}

impl Buffer {
    /// Lays out `img` (top-down rows, row 0 = the top, y = y2 − 1) with its bottom-left pixel at
    /// (x0, y0), `pad` extra floats per row, in the given memory order.
    fn from_image(img: &Image, x0: i32, y0: i32, pad: usize, top_down: bool) -> Buffer {
        let stride = img.width * img.channels + pad;
        let mut mem = vec![-99.0f32; stride * img.height];
        for r in 0..img.height {
            let m = if top_down { r } else { img.height - 1 - r };
            let n = img.width * img.channels;
            mem[m * stride..m * stride + n].copy_from_slice(&img.data[r * n..(r + 1) * n]);
        }
        Buffer {
            mem,
            bounds: [x0, y0, x0 + img.width as i32, y0 + img.height as i32],
            channels: img.channels,
            stride,
            top_down,
        }
    }

    fn host_img(&mut self) -> HostImg {
        let h = (self.bounds[3] - self.bounds[1]) as usize;
        let bytes = (self.stride * 4) as i32;
        // The data pointer addresses pixel (x1, y1), the bottom-left one.
        let (offset, row_bytes) = if self.top_down { ((h - 1) * self.stride, -bytes) } else { (0, bytes) };
        let components: &'static [u8] = match self.channels {
            4 => kOfxImageComponentRGBA,
            3 => kOfxImageComponentRGB,
            _ => kOfxImageComponentAlpha,
        };
        HostImg {
            data: unsafe { self.mem.as_mut_ptr().add(offset) } as *mut c_void,
            bounds: self.bounds,
            row_bytes,
            components,
            depth: kOfxBitDepthFloat,
        }
    }

    /// Pixel (x, y) in pixel coordinates.
    fn pixel(&self, x: i32, y: i32) -> &[f32] {
        let h = (self.bounds[3] - self.bounds[1]) as usize;
        let r = (y - self.bounds[1]) as usize; // bottom-up row index
        let m = if self.top_down { h - 1 - r } else { r };
        let i = m * self.stride + (x - self.bounds[0]) as usize * self.channels;
        &self.mem[i..i + self.channels]
    }

    /// The region (x1, y1, x2, y2) as a top-down packed image.
    fn region(&self, r: [i32; 4]) -> Image {
        let mut img = Image::new((r[2] - r[0]) as usize, (r[3] - r[1]) as usize, self.channels);
        for (row, y) in (r[1]..r[3]).rev().enumerate() {
            for (col, x) in (r[0]..r[2]).enumerate() {
                let i = (row * img.width + col) * self.channels;
                img.data[i..i + self.channels].copy_from_slice(self.pixel(x, y));
            }
        }
        img
    }
}

/// A depth image: a smooth ramp 0.4 … 5 with a step, in channel `ch`, noise elsewhere.
fn depth_image(w: usize, h: usize, c: usize, ch: usize) -> Image {
    let noise = test_image(w, h, c, 99);
    let mut img = Image::new(w, h, c);
    for y in 0..h {
        for x in 0..w {
            for k in 0..c {
                let i = (y * w + x) * c + k;
                img.data[i] = if k == ch {
                    let z = 0.4 + 4.6 * (x as f32 / w as f32) * (0.5 + 0.5 * y as f32 / h as f32);
                    if (x / 7 + y / 5) % 3 == 0 {
                        z * 0.5
                    } else {
                        z
                    }
                } else {
                    noise.data[i] * 10.0
                };
            }
        }
    }
    img
}

fn write_bundle(dir: &Path) -> (PathBuf, Bundle) {
    let b = random_bundle(7, 2, 4, &[2.0, 4.0, 8.0]);
    for e in &b.basis {
        for l in &e.complex.layers {
            let s: f32 = l.iter().map(|t| t.w).sum();
            assert!((s - 1.0).abs() < 1e-5, "each layer's weights sum to 1");
        }
    }
    let path = dir.join("test_bundle.json");
    b.save(&path).unwrap();
    // What the plugin will see is what the file holds (f32 → JSON → f32 round trip).
    let loaded = Bundle::load(&path).unwrap();
    (path, loaded)
}

struct Scene {
    bundle: Bundle,
    path: PathBuf,
    lens: Lens,
    channel: usize,
}

fn set_scene_params(inst: &Effect, s: &Scene) {
    inst.set_param("filter_type", V::I(7));
    inst.set_param("filter_file", V::S(CString::new(s.path.to_str().unwrap()).unwrap()));
    inst.set_param(
        "math",
        V::I(match s.lens.mode {
            LensMode::Depth => 0,
            LensMode::InverseDepth => 1,
            LensMode::Coc => 2,
        }),
    );
    inst.set_param("depth_channel", V::I(s.channel as i32));
    inst.set_param("center", V::D(s.lens.focus));
    inst.set_param("dof", V::D(s.lens.dof));
    inst.set_param("size", V::D(s.lens.size));
    inst.set_param("max_size", V::D(s.lens.maximum));
    inst.set_param("mix", V::D(1.0));
    inst.set_param("output", V::I(0));
    inst.set_param("edges", V::I(0));
}

fn render_args(time: f64, window: [i32; 4], scale: f64) -> PropSet {
    let a = PropSet::default();
    a.set(k(kOfxPropTime), 0, V::D(time));
    for (i, v) in window.iter().enumerate() {
        a.set(k(kOfxImageEffectPropRenderWindow), i, V::I(*v));
    }
    a.set(k(kOfxImageEffectPropRenderScale), 0, V::D(scale));
    a.set(k(kOfxImageEffectPropRenderScale), 1, V::D(scale));
    a.set(k(kOfxImageEffectPropFieldToRender), 0, V::S(CString::new(k(kOfxImageFieldNone)).unwrap()));
    a.set(k(kOfxImageEffectPropRenderQualityDraft), 0, V::I(0));
    a
}

fn render(inst: &Effect, time: f64, window: [i32; 4], scale: f64) -> OfxStatus {
    let args = render_args(time, window, scale);
    call(kOfxImageEffectActionRender, inst.handle() as *const c_void, Some(&args), None)
}

fn engine_reference(s: &Scene, src: &Image, depth: &Image, scale: f64) -> Image {
    let mut out = Image::new(src.width, src.height, src.channels);
    let lens = Lens { render_scale: scale, ..s.lens };
    Engine::new(1)
        .unwrap()
        .blur_depth(&s.bundle, &lens, &depth.view(), s.channel, &src.view(), &mut out.view_mut())
        .unwrap();
    out
}

fn scene(dir: &Path) -> Scene {
    let (path, bundle) = write_bundle(dir);
    Scene {
        bundle,
        path,
        lens: Lens { mode: LensMode::Depth, focus: 1.5, dof: 0.2, size: 6.0, maximum: 10.0, render_scale: 1.0 },
        channel: 1,
    }
}

// ------------------------------------------------------------------------------------------------
// Tests.

#[test]
fn describe_declares_the_contract() {
    let _g = lock();
    load();
    let (desc, ctx) = describe();
    let p = &desc.props;
    assert_eq!(p.string(k(kOfxPropLabel), 0).as_deref(), Some("Sparse Lens Blur"));
    assert_eq!(p.string(k(kOfxImageEffectPluginPropGrouping), 0).as_deref(), Some("Filter/Blur"));
    assert_eq!(p.string(k(kOfxImageEffectPropSupportedContexts), 0).as_deref(), Some(k(kOfxImageEffectContextFilter)));
    assert_eq!(p.string(k(kOfxImageEffectPropSupportedContexts), 1).as_deref(), Some(k(kOfxImageEffectContextGeneral)));
    assert_eq!(p.all(k(kOfxImageEffectPropSupportedPixelDepths)).len(), 3);
    let depths: [&[u8]; 3] = [kOfxBitDepthByte, kOfxBitDepthShort, kOfxBitDepthFloat];
    for (i, d) in depths.into_iter().enumerate() {
        assert_eq!(p.string(k(kOfxImageEffectPropSupportedPixelDepths), i).as_deref(), Some(k(d)));
    }
    assert_eq!(
        p.string(k(kOfxImageEffectPluginRenderThreadSafety), 0).as_deref(),
        Some(k(kOfxImageEffectRenderFullySafe))
    );
    assert_eq!(p.int(k(kOfxImageEffectPropSupportsTiles), 0), Some(1));
    let record = unsafe { &*plugin().record };
    assert_eq!(unsafe { CStr::from_ptr(record.pluginIdentifier) }.to_str().unwrap(), PLUGIN_ID);
    assert_eq!(PLUGIN_ID, "org.sparsebokeh.LensBlur");
    assert_eq!(unsafe { CStr::from_ptr(record.pluginApi) }.to_str().unwrap(), k(kOfxImageEffectPluginApi));
    assert_eq!((record.apiVersion, record.pluginVersionMajor, record.pluginVersionMinor), (1, 1, 0));

    let mut clips: Vec<String> = ctx.clips.lock().unwrap().keys().cloned().collect();
    clips.sort();
    assert_eq!(clips, ["Depth", "Output", "Source"]);
    assert_eq!(ctx.clip("Depth").props.int(k(kOfxImageClipPropOptional), 0), Some(1));
    assert_eq!(ctx.clip("Source").props.int(k(kOfxImageClipPropOptional), 0), Some(0));
    let comps = ctx.clip("Source").props.all(k(kOfxImageEffectPropSupportedComponents));
    assert_eq!(comps.len(), 3);
    let mut params: Vec<String> = ctx.params.params.lock().unwrap().keys().cloned().collect();
    params.sort();
    assert_eq!(
        params,
        [
            "aspect",
            "blades",
            "bloom_gain",
            "bloom_threshold",
            "center",
            "depth_channel",
            "depth_from",
            "dof",
            "edges",
            "filter_file",
            "filter_type",
            "focal_point",
            "focus_from_point",
            "gamma",
            "invert_depth",
            "math",
            "max_size",
            "mix",
            "output",
            "radius",
            "rotation",
            "roundness",
            "size"
        ]
    );
    // Every parameter has a hint; the focal point is an on-screen point.
    for (name, p) in ctx.params.params.lock().unwrap().iter() {
        assert!(p.props.get(k(kOfxParamPropHint), 0).is_some(), "{name} has a hint");
    }
    {
        let params = ctx.params.params.lock().unwrap();
        let point = &params["focal_point"];
        assert_eq!(point.kind, k(kOfxParamTypeDouble2D));
        let kind = point.props.get(k(kOfxParamPropDoubleType), 0);
        assert!(matches!(kind, Some(V::S(t)) if t.to_str().unwrap() == k(kOfxParamDoubleTypeXYAbsolute)));
    }
    let shapes = ctx.params.params.lock().unwrap()["filter_type"].props.all(k(kOfxParamPropChoiceOption));
    let shapes: Vec<String> = shapes
        .iter()
        .map(|v| match v {
            V::S(s) => s.to_string_lossy().into_owned(),
            _ => panic!(),
        })
        .collect();
    // Append-only: the first eight never move.
    assert_eq!(
        shapes,
        [
            "disc",
            "hexagon",
            "octagon",
            "heart",
            "star",
            "ring",
            "gaussian",
            "Custom file",
            "blades (Blades, Roundness)"
        ]
    );

    // A second context is accepted, an unsupported one refused with a status.
    let general = Box::<Effect>::default();
    let args = PropSet::default();
    args.set(k(kOfxImageEffectPropContext), 0, V::S(CString::new(k(kOfxImageEffectContextGeneral)).unwrap()));
    assert_eq!(call(kOfxImageEffectActionDescribeInContext, general.handle() as *const c_void, Some(&args), None), 0);
    let gen = Box::<Effect>::default();
    args.set(k(kOfxImageEffectPropContext), 0, V::S(CString::new(k(kOfxImageEffectContextGenerator)).unwrap()));
    let st = call(kOfxImageEffectActionDescribeInContext, gen.handle() as *const c_void, Some(&args), None);
    assert_eq!(st, kOfxStatErrUnsupported);
    take_messages();
    unload();
}

/// Sets up Source, Depth and Output images for frame `time` and returns their buffers.
fn attach(
    inst: &Effect,
    time: i64,
    src: &Image,
    depth: &Image,
    origin: (i32, i32),
    layouts: [(usize, bool); 3],
) -> (Buffer, Buffer, Buffer) {
    let (x0, y0) = origin;
    let mut s = Buffer::from_image(src, x0, y0, layouts[0].0, layouts[0].1);
    let mut d = Buffer::from_image(depth, x0, y0, layouts[1].0, layouts[1].1);
    let mut o =
        Buffer::from_image(&Image::new(src.width, src.height, src.channels), x0, y0, layouts[2].0, layouts[2].1);
    o.mem.iter_mut().for_each(|v| *v = -7.0);
    inst.clip("Source").images.lock().unwrap().insert(time, s.host_img());
    inst.clip("Depth").images.lock().unwrap().insert(time, d.host_img());
    inst.clip("Output").images.lock().unwrap().insert(time, o.host_img());
    let rod = [x0 as f64, y0 as f64, (x0 + src.width as i32) as f64, (y0 + src.height as i32) as f64];
    *inst.clip("Source").rod.lock().unwrap() = rod;
    *inst.clip("Depth").rod.lock().unwrap() = rod;
    (s, d, o)
}

#[test]
fn render_matches_the_engine() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let s = scene(dir.path());
    load();
    let (_desc, ctx) = describe();
    let inst = create_instance(&ctx, true);
    set_scene_params(&inst, &s);

    let (w, h) = (48usize, 40usize);
    let src = test_image(w, h, 4, 3);
    let depth = depth_image(w, h, 4, s.channel);
    let want = engine_reference(&s, &src, &depth, 1.0);
    assert!(max_abs_diff(&want.data, &src.data) > 0.05, "the scene really blurs");

    // Whole frame, bottom-up images with padded rows, bounds offset from the origin.
    let (x0, y0) = (10, -5);
    let full = [x0, y0, x0 + w as i32, y0 + h as i32];
    let (_s, _d, out) = attach(&inst, 1, &src, &depth, (x0, y0), [(0, false), (3, false), (8, false)]);
    assert_eq!(render(&inst, 1.0, full, 1.0), kOfxStatOK, "{:?}", take_messages());
    let got = out.region(full);
    let err = max_abs_diff(&got.data, &want.data);
    assert!(err <= 1e-6, "whole frame differs from Engine::blur_depth by {err}");

    // A render window smaller than the frame: only the window is written, and it matches.
    let (_s, _d, out) = attach(&inst, 2, &src, &depth, (x0, y0), [(0, false), (0, false), (0, false)]);
    let window = [x0 + 5, y0 + 7, x0 + 30, y0 + 26];
    assert_eq!(render(&inst, 2.0, window, 1.0), kOfxStatOK, "{:?}", take_messages());
    let got = out.region(window);
    let want_w = crop(&want, full, window);
    let err = max_abs_diff(&got.data, &want_w.data);
    assert!(err <= 1e-6, "render window differs by {err}");
    for y in full[1]..full[3] {
        for x in full[0]..full[2] {
            let inside = x >= window[0] && x < window[2] && y >= window[1] && y < window[3];
            if !inside {
                assert!(out.pixel(x, y).iter().all(|&v| v == -7.0), "pixel ({x}, {y}) outside the window was written");
            }
        }
    }

    // Negative row bytes (top-down memory) on every clip, mixed with padding.
    let (_s, _d, out) = attach(&inst, 3, &src, &depth, (x0, y0), [(4, true), (0, true), (5, true)]);
    assert_eq!(render(&inst, 3.0, full, 1.0), kOfxStatOK, "{:?}", take_messages());
    let err = max_abs_diff(&out.region(full).data, &want.data);
    assert!(err <= 1e-6, "negative row bytes differ by {err}");

    // Four tiles equal the whole frame.
    let (_s, _d, out) = attach(&inst, 4, &src, &depth, (x0, y0), [(0, true), (0, false), (2, false)]);
    let (mx, my) = (x0 + 19, y0 + 23);
    for t in
        [[full[0], full[1], mx, my], [mx, full[1], full[2], my], [full[0], my, mx, full[3]], [mx, my, full[2], full[3]]]
    {
        assert_eq!(render(&inst, 4.0, t, 1.0), kOfxStatOK, "{:?}", take_messages());
    }
    let err = max_abs_diff(&out.region(full).data, &want.data);
    assert!(err <= 1e-6, "4 tiles differ from the whole frame by {err}");

    // Render scale 0.5: half-size images, radii halved.
    let (hw, hh) = (w / 2, h / 2);
    let src_half = test_image(hw, hh, 4, 5);
    let depth_half = depth_image(hw, hh, 4, s.channel);
    let want_half = engine_reference(&s, &src_half, &depth_half, 0.5);
    let (_s, _d, out) = attach(&inst, 5, &src_half, &depth_half, (5, -2), [(0, false), (0, true), (0, false)]);
    let half = [5, -2, 5 + hw as i32, -2 + hh as i32];
    assert_eq!(render(&inst, 5.0, half, 0.5), kOfxStatOK, "{:?}", take_messages());
    let err = max_abs_diff(&out.region(half).data, &want_half.data);
    assert!(err <= 1e-6, "render scale 0.5 differs from the engine at half size by {err}");
    let not_half = engine_reference(&s, &src_half, &depth_half, 1.0);
    assert!(max_abs_diff(&out.region(half).data, &not_half.data) > 1e-3, "render scale changes the result");

    // Two renders at once from two host threads equal the two made one after the other.
    let src_b = test_image(w, h, 4, 11);
    let want_b = engine_reference(&s, &src_b, &depth, 1.0);
    let (_s6, _d6, out6) = attach(&inst, 6, &src, &depth, (x0, y0), [(0, false), (0, false), (0, false)]);
    let (_s7, _d7, out7) = attach(&inst, 7, &src_b, &depth, (x0, y0), [(0, true), (0, false), (0, true)]);
    let shared: &Effect = &inst;
    let statuses: Vec<OfxStatus> = std::thread::scope(|sc| {
        let a = sc.spawn(move || render(shared, 6.0, full, 1.0));
        let b = sc.spawn(move || render(shared, 7.0, full, 1.0));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    assert_eq!(statuses, [kOfxStatOK, kOfxStatOK], "{:?}", take_messages());
    assert!(max_abs_diff(&out6.region(full).data, &want.data) <= 1e-6);
    assert!(max_abs_diff(&out7.region(full).data, &want_b.data) <= 1e-6);

    destroy(inst);
    unload();
}

fn crop(img: &Image, frame: [i32; 4], r: [i32; 4]) -> Image {
    // `img` is top-down over `frame`; return region r (pixel coordinates), top-down.
    let mut out = Image::new((r[2] - r[0]) as usize, (r[3] - r[1]) as usize, img.channels);
    for (row, y) in (r[1]..r[3]).rev().enumerate() {
        let src_row = (frame[3] - 1 - y) as usize;
        for (col, x) in (r[0]..r[2]).enumerate() {
            let sx = (x - frame[0]) as usize;
            let i = (src_row * img.width + sx) * img.channels;
            let o = (row * out.width + col) * img.channels;
            out.data[o..o + img.channels].copy_from_slice(&img.data[i..i + img.channels]);
        }
    }
    out
}

#[test]
fn roi_identity_and_fixed_radius() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let s = scene(dir.path());
    load();
    let (_desc, ctx) = describe();
    let inst = create_instance(&ctx, true);
    set_scene_params(&inst, &s);
    let (x0, y0) = (0, 0);
    let src = test_image(32, 24, 4, 8);
    let depth = depth_image(32, 24, 4, s.channel);
    let _bufs = attach(&inst, 1, &src, &depth, (x0, y0), [(0, false), (0, false), (0, false)]);

    // Regions of interest: the output region grown by the complex's reach at maximum × scale.
    for scale in [1.0, 0.5] {
        let args = PropSet::default();
        args.set(k(kOfxPropTime), 0, V::D(1.0));
        args.set(k(kOfxImageEffectPropRenderScale), 0, V::D(scale));
        args.set(k(kOfxImageEffectPropRenderScale), 1, V::D(scale));
        let region = [10.0, 12.0, 20.0, 18.0];
        for (i, v) in region.iter().enumerate() {
            args.set(k(kOfxImageEffectPropRegionOfInterest), i, V::D(*v));
        }
        let out = PropSet::default();
        let st =
            call(kOfxImageEffectActionGetRegionsOfInterest, inst.handle() as *const c_void, Some(&args), Some(&out));
        assert_eq!(st, kOfxStatOK, "{:?}", take_messages());
        let roi: Vec<f64> = (0..4).map(|i| out.double("OfxImageClipPropRoI_Source", i).unwrap()).collect();
        let droi: Vec<f64> = (0..4).map(|i| out.double("OfxImageClipPropRoI_Depth", i).unwrap()).collect();
        assert_eq!(roi, droi);
        let rmax = s.lens.maximum * scale;
        let complex_reach = match s.bundle.at_radius(rmax) {
            AtRadius::Complex(c) => c.reach() as f64,
            AtRadius::PassThrough => 0.0,
        };
        let grow_px = (region[0] - roi[0]) * scale;
        assert!(grow_px >= complex_reach, "ROI grows {grow_px} px, the complex reaches {complex_reach} px");
        assert!(grow_px <= complex_reach + 2.0 * s.bundle.layers as f64 + 8.0, "ROI grows {grow_px} px: too much");
        assert_eq!(grow_px, blur_reach(&s.bundle, rmax) as f64);
        for (i, sign) in [(0usize, -1.0), (1, -1.0), (2, 1.0), (3, 1.0)] {
            assert!((roi[i] - (region[i] + sign * grow_px / scale)).abs() < 1e-9);
        }
    }

    // Region of definition: the Source's.
    let args = render_args(1.0, [0, 0, 32, 24], 1.0);
    let out = PropSet::default();
    let st = call(kOfxImageEffectActionGetRegionOfDefinition, inst.handle() as *const c_void, Some(&args), Some(&out));
    assert_eq!(st, kOfxStatOK);
    let rod: Vec<f64> = (0..4).map(|i| out.double(k(kOfxImageEffectPropRegionOfDefinition), i).unwrap()).collect();
    assert_eq!(rod, [0.0, 0.0, 32.0, 24.0]);

    // Clip preferences: float everywhere, output components and premultiplication of Source.
    let out = PropSet::default();
    let st = call(kOfxImageEffectActionGetClipPreferences, inst.handle() as *const c_void, None, Some(&out));
    assert_eq!(st, kOfxStatOK);
    assert_eq!(out.string("OfxImageClipPropComponents_Output", 0).as_deref(), Some(k(kOfxImageComponentRGBA)));
    assert_eq!(out.string("OfxImageClipPropDepth_Output", 0).as_deref(), Some(k(kOfxBitDepthFloat)));
    assert_eq!(out.string(k(kOfxImageEffectPropPreMultiplication), 0).as_deref(), Some(k(kOfxImagePreMultiplied)));

    // IsIdentity: size = 0 passes the source through; size > 0 renders.
    let identity = |inst: &Effect| {
        let args = render_args(1.0, [0, 0, 32, 24], 1.0);
        let out = PropSet::default();
        let st = call(kOfxImageEffectActionIsIdentity, inst.handle() as *const c_void, Some(&args), Some(&out));
        (st, out.string(k(kOfxPropName), 0))
    };
    assert_eq!(identity(&inst).0, kOfxStatReplyDefault);
    inst.set_param("size", V::D(0.0));
    assert_eq!(identity(&inst), (kOfxStatOK, Some("Source".to_string())));
    inst.set_param("size", V::D(s.lens.size));
    inst.set_param("mix", V::D(0.0));
    assert_eq!(identity(&inst).0, kOfxStatOK);
    inst.set_param("mix", V::D(1.0));

    // Mix blends with the source.
    inst.set_param("mix", V::D(0.25));
    let (_sb, _db, out) = attach(&inst, 2, &src, &depth, (x0, y0), [(0, false), (0, false), (0, false)]);
    assert_eq!(render(&inst, 2.0, [0, 0, 32, 24], 1.0), kOfxStatOK, "{:?}", take_messages());
    let blurred = engine_reference(&s, &src, &depth, 1.0);
    let want: Vec<f32> = blurred.data.iter().zip(&src.data).map(|(b, a)| 0.25 * b + 0.75 * a).collect();
    assert!(max_abs_diff(&out.region([0, 0, 32, 24]).data, &want) <= 1e-6);
    inst.set_param("mix", V::D(1.0));
    destroy(inst);

    // Without a Depth clip: a fixed radius over the frame, scaled by the render scale.
    let inst = create_instance(&ctx, false);
    set_scene_params(&inst, &s);
    inst.set_param("radius", V::D(5.0));
    let (_sb, _db, out) = attach(&inst, 3, &src, &depth, (x0, y0), [(0, false), (0, false), (0, false)]);
    assert_eq!(render(&inst, 3.0, [0, 0, 32, 24], 0.5), kOfxStatOK, "{:?}", take_messages());
    let mut want = Image::new(32, 24, 4);
    Engine::new(1).unwrap().blur_fixed(&s.bundle, 2.5, &src.view(), &mut want.view_mut()).unwrap();
    let err = max_abs_diff(&out.region([0, 0, 32, 24]).data, &want.data);
    assert!(err <= 1e-6, "fixed radius differs by {err}");
    destroy(inst);
    unload();
}

#[test]
fn bad_host_behaviour_is_an_error_status() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let s = scene(dir.path());

    // A property suite missing a function: Load refuses with a status.
    BROKEN_PROPERTY_SUITE.store(true, Ordering::SeqCst);
    let p = unsafe { &*plugin().record };
    unsafe { (p.setHost.unwrap())(host_record()) };
    let st = call(kOfxActionLoad, ptr::null(), None, None);
    BROKEN_PROPERTY_SUITE.store(false, Ordering::SeqCst);
    assert_eq!(st, kOfxStatErrMissingHostFeature);
    let m = take_messages();
    assert!(m.iter().any(|m| m.contains("propGetInt")), "{m:?}");
    // Actions before a successful Load fail cleanly.
    let desc = Box::<Effect>::default();
    assert_eq!(call(kOfxActionDescribe, desc.handle() as *const c_void, None, None), kOfxStatFailed);

    load();
    // An unknown action is not trapped; a NULL action is an error.
    assert_eq!(call(b"OfxActionNoSuchThing\0", ptr::null(), None, None), kOfxStatReplyDefault);
    let entry = p.mainEntry.unwrap();
    assert_eq!(unsafe { entry(ptr::null(), ptr::null(), ptr::null_mut(), ptr::null_mut()) }, kOfxStatErrBadHandle);
    // Describe with a NULL handle.
    assert_eq!(call(kOfxActionDescribe, ptr::null(), None, None), kOfxStatErrBadHandle);

    let (_desc, ctx) = describe();
    let inst = create_instance(&ctx, true);
    set_scene_params(&inst, &s);
    let (w, h) = (24usize, 20usize);
    let src = test_image(w, h, 4, 1);
    let depth = depth_image(w, h, 4, s.channel);
    let full = [0, 0, w as i32, h as i32];
    take_messages();

    // Missing Depth image (clip connected, no image): error status and a message.
    let _b1 = attach(&inst, 1, &src, &depth, (0, 0), [(0, false), (0, false), (0, false)]);
    inst.clip("Depth").images.lock().unwrap().remove(&1);
    assert_eq!(render(&inst, 1.0, full, 1.0), kOfxStatFailed);
    assert!(take_messages().iter().any(|m| m.contains("Depth")));

    // A Depth image of another size.
    let small_depth = depth_image(w - 6, h - 4, 4, s.channel);
    let _b2 = attach(&inst, 2, &src, &depth, (0, 0), [(0, false), (0, false), (0, false)]);
    let mut dsmall = Buffer::from_image(&small_depth, 0, 0, 0, false);
    inst.clip("Depth").images.lock().unwrap().insert(2, dsmall.host_img());
    assert_eq!(render(&inst, 2.0, full, 1.0), kOfxStatFailed);
    assert!(take_messages().iter().any(|m| m.contains("Depth")));

    // A NULL (failed) Source image.
    let _b3 = attach(&inst, 3, &src, &depth, (0, 0), [(0, false), (0, false), (0, false)]);
    inst.clip("Source").images.lock().unwrap().remove(&3);
    assert_eq!(render(&inst, 3.0, full, 1.0), kOfxStatFailed);
    assert!(take_messages().iter().any(|m| m.contains("Source")));

    // A render window outside the Output image.
    let _b4 = attach(&inst, 4, &src, &depth, (0, 0), [(0, false), (0, false), (0, false)]);
    assert_eq!(render(&inst, 4.0, [0, 0, w as i32 + 5, h as i32], 1.0), kOfxStatFailed);
    take_messages();

    // A bundle file that does not exist, and a shipped shape that is not installed here.
    inst.set_param("filter_file", V::S(CString::new("/nonexistent/bundle.json").unwrap()));
    assert_eq!(render(&inst, 4.0, full, 1.0), kOfxStatFailed);
    assert!(take_messages().iter().any(|m| m.contains("/nonexistent/bundle.json")));
    inst.set_param("filter_type", V::I(6));
    let has_gaussian = sparsebokeh::ofx::plugin::shipped_bundle_candidates("gaussian").iter().any(|p| p.is_file());
    let st = render(&inst, 4.0, full, 1.0);
    if has_gaussian {
        assert_eq!(st, kOfxStatOK);
    } else {
        assert_eq!(st, kOfxStatFailed);
        assert!(take_messages().iter().any(|m| m.contains("gaussian")));
    }

    // Render on a handle whose instance data is gone.
    destroy(inst);
    let ghost = Box::<Effect>::default();
    ghost.props.set(k(kOfxPropInstanceData), 0, V::P(ptr::null_mut()));
    assert_ne!(render(&ghost, 1.0, full, 1.0), kOfxStatOK);
    take_messages();
    unload();
}

#[test]
fn make_ofx_bundle_lays_out_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let kernels = dir.path().join("kernels");
    std::fs::create_dir_all(&kernels).unwrap();
    let (path, _) = write_bundle(&kernels);
    std::fs::write(kernels.join("README.txt"), "not a bundle").unwrap();
    let out = dir.path().join("out");
    let root = sparsebokeh::ofx::make_ofx_bundle(&out, &library_path(), &kernels).unwrap();
    assert_eq!(root, out.join("SparseBokeh.ofx.bundle"));
    assert!(root.join("Contents/Info.plist").is_file());
    let plist = std::fs::read_to_string(root.join("Contents/Info.plist")).unwrap();
    assert!(plist.contains("SparseBokeh.ofx"));
    assert!(root.join("Contents/Linux-x86-64/SparseBokeh.ofx").is_file());
    assert!(root.join("Contents/Resources/kernels").join(path.file_name().unwrap()).is_file());
    assert!(!root.join("Contents/Resources/kernels/README.txt").exists());
    let icon = std::fs::read(root.join("Contents/Resources/org.sparsebokeh.LensBlur.png")).unwrap();
    let info = png::Decoder::new(std::io::Cursor::new(icon)).read_info().unwrap().info().clone();
    assert_eq!((info.width, info.height), (128, 128));
    // A broken bundle in the kernels folder is refused.
    std::fs::write(kernels.join("broken.json"), "{}").unwrap();
    assert!(sparsebokeh::ofx::make_ofx_bundle(&out, &library_path(), &kernels).is_err());
}

#[test]
fn diagnostic_outputs_and_instance_changed() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let s = scene(dir.path());
    load();
    let (_desc, ctx) = describe();
    let inst = create_instance(&ctx, true);
    set_scene_params(&inst, &s);
    let (w, h) = (20usize, 16usize);
    let src = test_image(w, h, 4, 21);
    let depth = depth_image(w, h, 4, s.channel);
    let full = [0, 0, w as i32, h as i32];

    // CoC map: the radius in full-resolution pixels in R, G and B, alpha 1 — at any render scale.
    inst.set_param("output", V::I(2));
    let (_s1, _d1, out) = attach(&inst, 1, &src, &depth, (0, 0), [(0, false), (0, false), (0, false)]);
    assert_eq!(render(&inst, 1.0, full, 0.5), kOfxStatOK, "{:?}", take_messages());
    let got = out.region(full);
    let lens = Lens { render_scale: 0.5, ..s.lens };
    for i in 0..w * h {
        let z = depth.data[i * 4 + s.channel];
        let r = lens.coc_radius(z).0 as f64 / 0.5;
        assert!((got.data[i * 4] as f64 - r).abs() < 1e-5, "pixel {i}: {} vs {r}", got.data[i * 4]);
        assert_eq!(got.data[i * 4 + 3], 1.0);
    }

    // Focal plane setup: near pixels keep red and lose green/blue, in-focus ones keep green.
    inst.set_param("output", V::I(1));
    let (_s2, _d2, out) = attach(&inst, 2, &src, &depth, (0, 0), [(0, false), (0, false), (0, false)]);
    assert_eq!(render(&inst, 2.0, full, 1.0), kOfxStatOK, "{:?}", take_messages());
    let got = out.region(full);
    let (mut near, mut far) = (0, 0);
    for i in 0..w * h {
        let z = depth.data[i * 4 + s.channel] as f64;
        let (px, sp) = (&got.data[i * 4..i * 4 + 4], &src.data[i * 4..i * 4 + 4]);
        assert_eq!(px[3], sp[3], "alpha is kept");
        if z < s.lens.focus - s.lens.dof / 2.0 {
            near += 1;
            assert_eq!((px[0], px[1], px[2]), (sp[0], sp[1] * 0.25, sp[2] * 0.25));
        } else if z > s.lens.focus + s.lens.dof / 2.0 {
            far += 1;
            assert_eq!((px[0], px[1], px[2]), (sp[0] * 0.25, sp[1] * 0.25, sp[2]));
        }
    }
    assert!(near > 0 && far > 0, "the scene has near ({near}) and far ({far}) pixels");

    // InstanceChanged: the bundle file is enabled only for "Custom file"; a bad file is reported.
    let enabled =
        |inst: &Effect, name: &str| inst.params.params.lock().unwrap()[name].props.int(k(kOfxParamPropEnabled), 0);
    let changed = |inst: &Effect, name: &str| {
        let args = PropSet::default();
        args.set(k(kOfxPropType), 0, V::S(CString::new(k(kOfxTypeParameter)).unwrap()));
        args.set(k(kOfxPropName), 0, V::S(CString::new(name).unwrap()));
        args.set(k(kOfxPropChangeReason), 0, V::S(CString::new(k(kOfxChangeUserEdited)).unwrap()));
        args.set(k(kOfxPropTime), 0, V::D(1.0));
        call(kOfxActionInstanceChanged, inst.handle() as *const c_void, Some(&args), None)
    };
    take_messages();
    assert_eq!(changed(&inst, "filter_type"), kOfxStatOK);
    assert_eq!(enabled(&inst, "filter_file"), Some(1));
    assert_eq!(enabled(&inst, "radius"), Some(0), "Radius is for frames without Depth");
    inst.set_param("filter_file", V::S(CString::new(dir.path().join("missing.json").to_str().unwrap()).unwrap()));
    assert_eq!(changed(&inst, "filter_file"), kOfxStatOK);
    assert!(take_messages().iter().any(|m| m.contains("missing.json")));
    inst.set_param("filter_type", V::I(0));
    assert_eq!(changed(&inst, "filter_type"), kOfxStatOK);
    assert_eq!(enabled(&inst, "filter_file"), Some(0));
    assert_eq!(changed(&inst, "mix"), kOfxStatReplyDefault);
    destroy(inst);
    unload();
}

#[test]
fn layered_edges_match_the_engine_in_windows_and_tiles() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let s = scene(dir.path());
    load();
    let (_desc, ctx) = describe();
    let inst = create_instance(&ctx, true);
    set_scene_params(&inst, &s);
    // The default is layered (ARCHITECTURE.md "Kernels and bundles": it meets its targets).
    let default = ctx.params.params.lock().unwrap()["edges"].props.int(k(kOfxParamPropDefault), 0);
    assert_eq!(default, Some(1));
    inst.set_param("edges", V::I(1));

    let (w, h) = (40usize, 32usize);
    let src = test_image(w, h, 4, 13);
    let depth = depth_image(w, h, 4, s.channel);
    let mut want = Image::new(w, h, 4);
    Engine::new(1)
        .unwrap()
        .blur_depth_with(
            &s.bundle,
            &s.lens,
            Edges::Layered,
            &depth.view(),
            s.channel,
            &src.view(),
            &mut want.view_mut(),
        )
        .unwrap();
    let gather = engine_reference(&s, &src, &depth, 1.0);
    assert!(max_abs_diff(&want.data, &gather.data) > 1e-3, "layered differs from gather in this scene");

    let (x0, y0) = (3, 4);
    let full = [x0, y0, x0 + w as i32, y0 + h as i32];
    let (_s1, _d1, out) = attach(&inst, 1, &src, &depth, (x0, y0), [(0, false), (2, true), (1, false)]);
    assert_eq!(render(&inst, 1.0, full, 1.0), kOfxStatOK, "{:?}", take_messages());
    let err = max_abs_diff(&out.region(full).data, &want.data);
    assert!(err <= 1e-6, "layered whole frame differs by {err}");

    let window = [x0 + 6, y0 + 3, x0 + 27, y0 + 20];
    let (_s2, _d2, out) = attach(&inst, 2, &src, &depth, (x0, y0), [(0, true), (0, false), (0, true)]);
    assert_eq!(render(&inst, 2.0, window, 1.0), kOfxStatOK, "{:?}", take_messages());
    let err = max_abs_diff(&out.region(window).data, &crop(&want, full, window).data);
    assert!(err <= 1e-6, "layered render window differs by {err}");

    let (_s3, _d3, out) = attach(&inst, 3, &src, &depth, (x0, y0), [(0, false), (0, false), (0, false)]);
    let (mx, my) = (x0 + 17, y0 + 11);
    for t in
        [[full[0], full[1], mx, my], [mx, full[1], full[2], my], [full[0], my, mx, full[3]], [mx, my, full[2], full[3]]]
    {
        assert_eq!(render(&inst, 3.0, t, 1.0), kOfxStatOK, "{:?}", take_messages());
    }
    let err = max_abs_diff(&out.region(full).data, &want.data);
    assert!(err <= 1e-6, "layered tiles differ from the whole frame by {err}");

    // A draft render (host scrubbing) takes the gather path.
    let (_s4, _d4, out) = attach(&inst, 4, &src, &depth, (x0, y0), [(0, false), (0, false), (0, false)]);
    let args = render_args(4.0, window, 1.0);
    args.set(k(kOfxImageEffectPropRenderQualityDraft), 0, V::I(1));
    assert_eq!(call(kOfxImageEffectActionRender, inst.handle() as *const c_void, Some(&args), None), kOfxStatOK);
    let err = max_abs_diff(&out.region(window).data, &crop(&gather, full, window).data);
    assert!(err <= 1e-6, "draft render differs from gather by {err}");

    // The layered blur asks for the whole Source frame.
    let args = PropSet::default();
    args.set(k(kOfxPropTime), 0, V::D(1.0));
    args.set(k(kOfxImageEffectPropRenderScale), 0, V::D(1.0));
    args.set(k(kOfxImageEffectPropRenderScale), 1, V::D(1.0));
    for (i, v) in [10.0, 10.0, 12.0, 12.0].iter().enumerate() {
        args.set(k(kOfxImageEffectPropRegionOfInterest), i, V::D(*v));
    }
    let out = PropSet::default();
    let st = call(kOfxImageEffectActionGetRegionsOfInterest, inst.handle() as *const c_void, Some(&args), Some(&out));
    assert_eq!(st, kOfxStatOK);
    let roi: Vec<f64> = (0..4).map(|i| out.double("OfxImageClipPropRoI_Source", i).unwrap()).collect();
    assert_eq!(roi, full.iter().map(|&v| v as f64).collect::<Vec<_>>());
    destroy(inst);
    unload();
}

#[test]
fn shipped_shapes_are_found_in_the_bundle_the_host_reports() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let s = scene(dir.path());
    // A plugin bundle folder with the test bundle installed as the shipped "star".
    let bundle_dir = dir.path().join("SparseBokeh.ofx.bundle");
    let kernels = bundle_dir.join("Contents/Resources/kernels");
    std::fs::create_dir_all(&kernels).unwrap();
    std::fs::copy(&s.path, kernels.join("star.json")).unwrap();

    load();
    let desc = Box::<Effect>::default();
    desc.props.set(k(kOfxPluginPropFilePath), 0, V::S(CString::new(bundle_dir.to_str().unwrap()).unwrap()));
    assert_eq!(call(kOfxActionDescribe, desc.handle() as *const c_void, None, None), kOfxStatOK);
    let (_d, ctx) = describe();
    let inst = create_instance(&ctx, true);
    set_scene_params(&inst, &s);
    inst.set_param("filter_type", V::I(4)); // star
    inst.set_param("filter_file", V::S(CString::new("/nonexistent/ignored.json").unwrap()));
    let (w, h) = (24usize, 20usize);
    let src = test_image(w, h, 4, 31);
    let depth = depth_image(w, h, 4, s.channel);
    let full = [0, 0, w as i32, h as i32];
    let (_s1, _d1, out) = attach(&inst, 1, &src, &depth, (0, 0), [(0, false), (0, false), (0, false)]);
    assert_eq!(render(&inst, 1.0, full, 1.0), kOfxStatOK, "{:?}", take_messages());
    let want = engine_reference(&s, &src, &depth, 1.0);
    assert!(max_abs_diff(&out.region(full).data, &want.data) <= 1e-6);
    destroy(inst);
    unload();
}

// ------------------------------------------------------------------------------------------------
// What real hosts do (MLT's OpenFX module, the official HostSupport library): render scales
// above 1, unpremultiplied and 8/16-bit images, no IsIdentity, a single input, hard ranges,
// clipping to 0–1, tiles of a layered frame, one error per cause.

/// An 8- or 16-bit image laid out as a host would (bottom-up rows, `pad` spare bytes a row).
struct IntBuffer {
    mem: Vec<u16>,
    bounds: [i32; 4],
    channels: usize,
    bytes: usize,
    stride: usize,
}

impl IntBuffer {
    /// Codes `codes` (packed, top row first) as `bytes`-byte samples at (x0, y0).
    fn new(codes: &[u16], w: usize, h: usize, c: usize, bytes: usize, origin: (i32, i32)) -> IntBuffer {
        let stride = w * c * bytes + 2 * bytes;
        let mut mem = vec![0u16; (stride * h).div_ceil(2)];
        let raw = unsafe { std::slice::from_raw_parts_mut(mem.as_mut_ptr() as *mut u8, stride * h) };
        for r in 0..h {
            let m = h - 1 - r; // bottom-up in memory
            for i in 0..w * c {
                let v = codes[r * w * c + i];
                let at = m * stride + i * bytes;
                if bytes == 1 {
                    raw[at] = v as u8;
                } else {
                    raw[at..at + 2].copy_from_slice(&v.to_ne_bytes());
                }
            }
        }
        let bounds = [origin.0, origin.1, origin.0 + w as i32, origin.1 + h as i32];
        IntBuffer { mem, bounds, channels: c, bytes, stride }
    }

    fn host_img(&mut self) -> HostImg {
        HostImg {
            data: self.mem.as_mut_ptr() as *mut c_void,
            bounds: self.bounds,
            row_bytes: self.stride as i32,
            components: if self.channels == 4 { kOfxImageComponentRGBA } else { kOfxImageComponentAlpha },
            depth: if self.bytes == 1 { kOfxBitDepthByte } else { kOfxBitDepthShort },
        }
    }

    /// Every code, top row first.
    fn codes(&self) -> Vec<u16> {
        let (w, h) = ((self.bounds[2] - self.bounds[0]) as usize, (self.bounds[3] - self.bounds[1]) as usize);
        let raw = unsafe { std::slice::from_raw_parts(self.mem.as_ptr() as *const u8, self.stride * h) };
        let mut out = Vec::with_capacity(w * h * self.channels);
        for r in 0..h {
            let m = h - 1 - r;
            for i in 0..w * self.channels {
                let at = m * self.stride + i * self.bytes;
                out.push(if self.bytes == 1 { raw[at] as u16 } else { u16::from_ne_bytes([raw[at], raw[at + 1]]) });
            }
        }
        out
    }
}

fn set_clip_string(inst: &Effect, clip: &str, prop: &[u8], value: &[u8]) {
    inst.clip(clip).props.set(k(prop), 0, V::S(CString::new(k(value)).unwrap()));
}

/// Min of `n` timings of `f`, in seconds.
fn best_of(n: usize, mut f: impl FnMut()) -> f64 {
    (0..n)
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn render_scales_above_one_blur_more() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let s = scene(dir.path());
    load();
    let (_desc, ctx) = describe();
    let inst = create_instance(&ctx, true);
    set_scene_params(&inst, &s);
    let (w, h) = (36usize, 30usize);
    let src = test_image(w, h, 4, 41);
    let depth = depth_image(w, h, 4, s.channel);
    let full = [0, 0, w as i32, h as i32];
    for (t, scale) in [(1i64, 1.5), (2, 2.0)] {
        let (_s, _d, out) = attach(&inst, t, &src, &depth, (0, 0), [(0, false), (0, false), (0, false)]);
        assert_eq!(render(&inst, t as f64, full, scale), kOfxStatOK, "scale {scale}: {:?}", take_messages());
        let want = engine_reference(&s, &src, &depth, scale);
        let err = max_abs_diff(&out.region(full).data, &want.data);
        assert!(err <= 1e-6, "render scale {scale} differs from the engine by {err}");
        let at_one = engine_reference(&s, &src, &depth, 1.0);
        assert!(max_abs_diff(&out.region(full).data, &at_one.data) > 1e-3, "scale {scale} blurs more than 1");
        // The region of interest grows by the reach at maximum × scale, in canonical units.
        let args = PropSet::default();
        args.set(k(kOfxPropTime), 0, V::D(t as f64));
        args.set(k(kOfxImageEffectPropRenderScale), 0, V::D(scale));
        args.set(k(kOfxImageEffectPropRenderScale), 1, V::D(scale));
        for (i, v) in [10.0, 10.0, 12.0, 12.0].iter().enumerate() {
            args.set(k(kOfxImageEffectPropRegionOfInterest), i, V::D(*v));
        }
        let roi = PropSet::default();
        let st =
            call(kOfxImageEffectActionGetRegionsOfInterest, inst.handle() as *const c_void, Some(&args), Some(&roi));
        assert_eq!(st, kOfxStatOK);
        let grow = 10.0 - roi.double("OfxImageClipPropRoI_Source", 0).unwrap();
        assert_eq!(grow * scale, blur_reach(&s.bundle, s.lens.maximum * scale) as f64);
    }
    destroy(inst);
    unload();
}

/// A red square on a transparent ground of colour `ground` (unpremultiplied RGBA).
fn red_square(w: usize, h: usize, ground: f32) -> Image {
    let mut img = Image::new(w, h, 4);
    for y in 0..h {
        for x in 0..w {
            let inside = (w / 3..2 * w / 3).contains(&x) && (h / 3..2 * h / 3).contains(&y);
            let px = if inside { [1.0, 0.0, 0.0, 1.0] } else { [ground, ground, ground, 0.0] };
            img.data[(y * w + x) * 4..(y * w + x) * 4 + 4].copy_from_slice(&px);
        }
    }
    img
}

#[test]
fn unpremultiplied_rims_keep_their_colour() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let s = scene(dir.path());
    load();
    let (_desc, ctx) = describe();
    let inst = create_instance(&ctx, false);
    set_scene_params(&inst, &s);
    inst.set_param("radius", V::D(5.0));
    let (w, h) = (42usize, 36usize);
    let full = [0, 0, w as i32, h as i32];
    let engine = Engine::new(1).unwrap();
    for (t, ground) in [(1i64, 0.0f32), (2, 1.0)] {
        let src = red_square(w, h, ground);
        for clip in ["Source", "Output"] {
            set_clip_string(&inst, clip, kOfxImageEffectPropPreMultiplication, kOfxImageUnPreMultiplied);
        }
        let (_s, _d, out) = attach(&inst, t, &src, &src, (0, 0), [(0, false), (0, false), (0, false)]);
        assert_eq!(render(&inst, t as f64, full, 1.0), kOfxStatOK, "{:?}", take_messages());
        let got = out.region(full);
        // Reference: the blur of the premultiplied square (its alpha is the coverage).
        let mut pre = src.clone();
        pre.data.chunks_mut(4).for_each(|p| (0..3).for_each(|i| p[i] *= p[3]));
        let mut blurred = Image::new(w, h, 4);
        engine.blur_fixed(&s.bundle, 5.0, &pre.view(), &mut blurred.view_mut()).unwrap();
        let (mut rim, mut worst) = (0, 0.0f32);
        for (g, b) in got.data.chunks(4).zip(blurred.data.chunks(4)) {
            assert!((g[3] - b[3]).abs() <= 1e-6, "alpha is the blurred coverage");
            if g[3] > 0.0 {
                worst = worst.max((g[0] - 1.0).abs()).max(g[1].abs()).max(g[2].abs());
                rim += (g[3] > 0.05 && g[3] < 0.95) as usize;
            } else {
                assert!(g[..3].iter().all(|&v| v == 0.0), "transparent pixels are transparent black: {g:?}");
            }
        }
        println!("unpremultiplied ground {ground}: {rim} rim pixels, colour within {worst:e} of red");
        assert!(rim > 20, "the blur makes a soft rim ({rim} pixels)");
        assert!(worst <= 1e-3, "rims keep their colour within 1e-3 (off by {worst})");
        if ground == 1.0 {
            // Declared premultiplied, the same image turns the rim pink: the state matters.
            for clip in ["Source", "Output"] {
                set_clip_string(&inst, clip, kOfxImageEffectPropPreMultiplication, kOfxImagePreMultiplied);
            }
            let (_s, _d, out) = attach(&inst, 7, &src, &src, (0, 0), [(0, false), (0, false), (0, false)]);
            assert_eq!(render(&inst, 7.0, full, 1.0), kOfxStatOK);
            let pink = out.region(full).data.chunks(4).filter(|p| p[3] > 0.05 && p[1] / p[3] > 0.1).count();
            assert!(pink > 20, "declared premultiplied, {pink} rim pixels turn pink");
        }
    }
    destroy(inst);
    unload();
}

#[test]
fn byte_and_short_images_round_trip_within_one_code_of_float() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let s = scene(dir.path());
    load();
    let (_desc, ctx) = describe();
    let inst = create_instance(&ctx, true);
    set_scene_params(&inst, &s);
    // Depth as 1/z in 0..1 ("far = 0"), which 8- and 16-bit samples can hold.
    inst.set_param("math", V::I(1));
    inst.set_param("center", V::D(0.5));
    inst.set_param("dof", V::D(0.05));
    let (w, h) = (34usize, 26usize);
    let full = [0, 0, w as i32, h as i32];
    let colour = test_image(w, h, 4, 51);
    let ramp = depth_image(w, h, 4, s.channel);
    for (t, bytes) in [(1i64, 1usize), (2, 2)] {
        let top = if bytes == 1 { 255.0f32 } else { 65535.0 };
        let code = |v: f32| (v.clamp(0.0, 1.0) * top).round() as u16;
        let src_codes: Vec<u16> = colour.data.iter().map(|&v| code(v)).collect();
        let depth_codes: Vec<u16> = ramp.data.iter().map(|&z| code(1.0 / z)).collect();
        // The float path on exactly the values the codes stand for.
        let as_float = |codes: &[u16]| Image {
            width: w,
            height: h,
            channels: 4,
            data: codes.iter().map(|&c| c as f32 / top).collect(),
        };
        let (_s, _d, fout) =
            attach(&inst, 10 + t, &as_float(&src_codes), &as_float(&depth_codes), (0, 0), [(0, false); 3]);
        assert_eq!(render(&inst, (10 + t) as f64, full, 1.0), kOfxStatOK, "{:?}", take_messages());
        let float_out = fout.region(full);
        assert!(max_abs_diff(&float_out.data, &as_float(&src_codes).data) > 0.02, "the scene blurs");
        let mut sb = IntBuffer::new(&src_codes, w, h, 4, bytes, (0, 0));
        let mut db = IntBuffer::new(&depth_codes, w, h, 4, bytes, (0, 0));
        let mut ob = IntBuffer::new(&vec![7; w * h * 4], w, h, 4, bytes, (0, 0));
        inst.clip("Source").images.lock().unwrap().insert(t, sb.host_img());
        inst.clip("Depth").images.lock().unwrap().insert(t, db.host_img());
        inst.clip("Output").images.lock().unwrap().insert(t, ob.host_img());
        assert_eq!(render(&inst, t as f64, full, 1.0), kOfxStatOK, "{:?}", take_messages());
        let got = ob.codes();
        let worst = got.iter().zip(&float_out.data).map(|(&g, &f)| (g as i32 - code(f) as i32).abs()).max().unwrap();
        println!("{}-bit: output within {worst} code(s) of the float path", bytes * 8);
        assert!(worst <= 1, "{}-bit output differs from the float path by {worst} codes", bytes * 8);
        // Clip preferences ask for the Source's depth on every clip.
        set_clip_string(
            &inst,
            "Source",
            kOfxImageEffectPropPixelDepth,
            if bytes == 1 { kOfxBitDepthByte } else { kOfxBitDepthShort },
        );
        let prefs = PropSet::default();
        let st = call(kOfxImageEffectActionGetClipPreferences, inst.handle() as *const c_void, None, Some(&prefs));
        assert_eq!(st, kOfxStatOK);
        let want = k(if bytes == 1 { kOfxBitDepthByte } else { kOfxBitDepthShort });
        assert_eq!(prefs.string("OfxImageClipPropDepth_Output", 0).as_deref(), Some(want));
        // Identity on an integer image is a copy of its codes.
        inst.set_param("size", V::D(0.0));
        assert_eq!(render(&inst, t as f64, full, 1.0), kOfxStatOK);
        assert_eq!(ob.codes(), src_codes);
        inst.set_param("size", V::D(s.lens.size));
    }
    destroy(inst);
    unload();
}

/// Median of `n` timings of `f`, in seconds.
fn median_of(n: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..n)
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[n / 2]
}

#[test]
fn identity_in_render_costs_a_copy() {
    let _g = lock();
    load();
    let (_desc, ctx) = describe();
    // The plugin's default parameters (the shipped disc, Radius 8, no Depth): the blur a user
    // gets when the filter is first applied.
    let inst = create_instance(&ctx, false);
    let (w, h) = (1920usize, 1080usize);
    let full = [0, 0, w as i32, h as i32];
    let src = test_image(w, h, 4, 61);
    let (_s, _d, out) = attach(&inst, 1, &src, &src, (0, 0), [(0, false), (0, false), (0, false)]);
    assert_eq!(render(&inst, 1.0, full, 1.0), kOfxStatOK, "{:?}", take_messages());
    let blur = median_of(5, || assert_eq!(render(&inst, 1.0, full, 1.0), kOfxStatOK));
    assert!(max_abs_diff(&out.region(full).data, &src.data) > 0.05);
    inst.set_param("radius", V::D(0.0));
    assert_eq!(render(&inst, 1.0, full, 1.0), kOfxStatOK);
    let copy = median_of(9, || assert_eq!(render(&inst, 1.0, full, 1.0), kOfxStatOK));
    assert_eq!(out.region(full).data, src.data, "radius 0 passes the source through");
    println!(
        "1080p RGBA float: blur at the default parameters {:.1} ms, radius 0 in Render {:.1} ms ({:.1} %)",
        blur * 1e3,
        copy * 1e3,
        100.0 * copy / blur
    );
    assert!(copy <= 0.05 * blur, "identity in Render costs {copy:.4} s, a blur {blur:.4} s");
    destroy(inst);
    unload();
}

#[test]
fn depth_from_source_alpha_equals_the_depth_clip_render() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let s = scene(dir.path());
    load();
    let (_desc, ctx) = describe();
    let (w, h) = (40usize, 30usize);
    let full = [0, 0, w as i32, h as i32];
    // Colour with depth in its alpha (as a single-input host would carry it).
    let mut src = test_image(w, h, 4, 71);
    let ramp = depth_image(w, h, 4, 3);
    src.data.chunks_mut(4).zip(ramp.data.chunks(4)).for_each(|(p, d)| p[3] = d[3]);
    let mut results = Vec::new();
    for (t, from_source) in [(1i64, false), (2, true)] {
        let inst = create_instance(&ctx, !from_source);
        set_scene_params(&inst, &s);
        inst.set_param("depth_channel", V::I(3));
        inst.set_param("depth_from", V::I(from_source as i32));
        let (_s, _d, out) = attach(&inst, t, &src, &src, (0, 0), [(0, false), (0, false), (0, false)]);
        assert_eq!(render(&inst, t as f64, full, 1.0), kOfxStatOK, "{:?}", take_messages());
        results.push(out.region(full));
        if from_source {
            // The depth parameters apply, and only the Source is asked for.
            let args = PropSet::default();
            args.set(k(kOfxPropName), 0, V::S(CString::new("depth_from").unwrap()));
            args.set(k(kOfxPropTime), 0, V::D(1.0));
            assert_eq!(call(kOfxActionInstanceChanged, inst.handle() as *const c_void, Some(&args), None), kOfxStatOK);
            let on = inst.params.params.lock().unwrap()["center"].props.int(k(kOfxParamPropEnabled), 0);
            assert_eq!(on, Some(1));
            let args = render_args(1.0, full, 1.0);
            for (i, v) in [10.0, 10.0, 12.0, 12.0].iter().enumerate() {
                args.set(k(kOfxImageEffectPropRegionOfInterest), i, V::D(*v));
            }
            let roi = PropSet::default();
            let st = call(
                kOfxImageEffectActionGetRegionsOfInterest,
                inst.handle() as *const c_void,
                Some(&args),
                Some(&roi),
            );
            assert_eq!(st, kOfxStatOK);
            assert!(roi.double("OfxImageClipPropRoI_Source", 0).unwrap() < 10.0, "the Source ROI grows");
            assert_eq!(roi.double("OfxImageClipPropRoI_Depth", 0), None);
        }
        destroy(inst);
    }
    let (clip, own) = (&results[0], &results[1]);
    let mut worst = 0.0f32;
    for ((a, b), sp) in clip.data.chunks(4).zip(own.data.chunks(4)).zip(src.data.chunks(4)) {
        worst = worst.max(max_abs_diff(&a[..3], &b[..3]));
        assert_eq!(b[3], sp[3], "the depth channel passes through");
    }
    println!("depth from Source alpha vs the Depth clip: colour differs by {worst:e}");
    assert!(worst <= 1e-6, "depth from Source alpha differs from the Depth-clip render by {worst}");
    assert!(max_abs_diff(&own.data, &src.data) > 0.05, "the scene blurs");
    unload();
}

#[test]
fn parameters_have_hard_ranges_apart_from_display_ranges() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let s = scene(dir.path());
    load();
    let (_desc, ctx) = describe();
    let params = ctx.params.params.lock().unwrap();
    for (name, p) in params.iter().filter(|(_, p)| p.kind == k(kOfxParamTypeDouble)) {
        let get = |prop: &[u8]| p.props.double(k(prop), 0).unwrap_or_else(|| panic!("{name} has no {}", k(prop)));
        let (min, max) = (get(kOfxParamPropMin), get(kOfxParamPropMax));
        let (dmin, dmax) = (get(kOfxParamPropDisplayMin), get(kOfxParamPropDisplayMax));
        assert!(min <= dmin && dmin < dmax && dmax <= max, "{name}: {min} ≤ {dmin} < {dmax} ≤ {max}");
        // A host that takes the last range it meets as the limit (MLT) keeps the hard one.
        let order = p.props.order.lock().unwrap().clone();
        let at = |prop: &[u8]| order.iter().position(|n| n == k(prop)).unwrap();
        assert!(at(kOfxParamPropDisplayMax) < at(kOfxParamPropMax), "{name}: {order:?}");
        assert!(at(kOfxParamPropDisplayMin) < at(kOfxParamPropMin), "{name}: {order:?}");
        if ["radius", "size", "max_size"].contains(&name.as_str()) {
            assert_eq!((min, max), (0.0, 1024.0), "{name}");
            assert!(dmax <= 200.0, "{name}'s slider stays useful");
        }
    }
    drop(params);
    // A radius beyond the slider (150 > 100) renders as asked; beyond the hard range, at 1024.
    let inst = create_instance(&ctx, false);
    set_scene_params(&inst, &s);
    let (w, h) = (16usize, 12usize);
    let src = test_image(w, h, 4, 81);
    let full = [0, 0, w as i32, h as i32];
    let engine = Engine::new(1).unwrap();
    for (t, radius, used) in [(1i64, 150.0, 150.0), (2, 5000.0, 1024.0)] {
        inst.set_param("radius", V::D(radius));
        let (_s, _d, out) = attach(&inst, t, &src, &src, (0, 0), [(0, false), (0, false), (0, false)]);
        assert_eq!(render(&inst, t as f64, full, 1.0), kOfxStatOK, "{:?}", take_messages());
        let mut want = Image::new(w, h, 4);
        engine.blur_fixed(&s.bundle, used, &src.view(), &mut want.view_mut()).unwrap();
        assert!(max_abs_diff(&out.region(full).data, &want.data) <= 1e-6, "radius {radius}");
    }
    destroy(inst);
    unload();
}

#[test]
fn normalised_coc_map_reads_zero_to_one() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let s = scene(dir.path());
    load();
    let (_desc, ctx) = describe();
    let options = ctx.params.params.lock().unwrap()["output"].props.all(k(kOfxParamPropChoiceOption));
    assert_eq!(options.len(), 5, "CoC map normalised and depth slices are appended");
    let inst = create_instance(&ctx, true);
    set_scene_params(&inst, &s);
    inst.set_param("output", V::I(3));
    let (w, h) = (30usize, 20usize);
    let src = test_image(w, h, 4, 91);
    let depth = depth_image(w, h, 4, s.channel);
    let full = [0, 0, w as i32, h as i32];
    let (_s, _d, out) = attach(&inst, 1, &src, &depth, (0, 0), [(0, false), (0, false), (0, false)]);
    assert_eq!(render(&inst, 1.0, full, 0.5), kOfxStatOK, "{:?}", take_messages());
    let got = out.region(full);
    let (mut top, mut zero) = (0.0f32, 0);
    for i in 0..w * h {
        // The thin lens written out: size·|z − focus|/z, 0 inside dof/2, clamped to maximum.
        let z = depth.data[i * 4 + s.channel] as f64;
        let l = &s.lens;
        let r =
            if (z - l.focus).abs() <= l.dof / 2.0 { 0.0 } else { (l.size * (z - l.focus).abs() / z).min(l.maximum) };
        let want = (r / l.maximum) as f32;
        assert!((got.data[i * 4] - want).abs() < 1e-5, "pixel {i}: {} vs {want}", got.data[i * 4]);
        assert!((0.0..=1.0).contains(&got.data[i * 4]));
        top = top.max(got.data[i * 4]);
        zero += (want == 0.0) as usize;
    }
    assert!(top > 0.5 && zero > 0, "the map spans in-focus ({zero} px) to blurred (max {top})");
    destroy(inst);
    unload();
}

#[test]
fn a_missing_bundle_is_one_message_until_fixed() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let s = scene(dir.path());
    load();
    let (_desc, ctx) = describe();
    let inst = create_instance(&ctx, true);
    set_scene_params(&inst, &s);
    let missing = dir.path().join("later.json");
    inst.set_param("filter_file", V::S(CString::new(missing.to_str().unwrap()).unwrap()));
    let (w, h) = (20usize, 16usize);
    let src = test_image(w, h, 4, 95);
    let depth = depth_image(w, h, 4, s.channel);
    let full = [0, 0, w as i32, h as i32];
    take_messages();
    PERSISTENT.lock().unwrap().clear();
    let changed = || {
        let args = PropSet::default();
        args.set(k(kOfxPropName), 0, V::S(CString::new("filter_file").unwrap()));
        args.set(k(kOfxPropTime), 0, V::D(1.0));
        call(kOfxActionInstanceChanged, inst.handle() as *const c_void, Some(&args), None)
    };
    // What a host does per frame: InstanceChanged (once), regions of interest twice, Render.
    let frame = |t: i64| {
        let bufs = attach(&inst, t, &src, &depth, (0, 0), [(0, false), (0, false), (0, false)]);
        for _ in 0..2 {
            let args = render_args(t as f64, full, 1.0);
            for (i, v) in [0.0, 0.0, w as f64, h as f64].iter().enumerate() {
                args.set(k(kOfxImageEffectPropRegionOfInterest), i, V::D(*v));
            }
            call(
                kOfxImageEffectActionGetRegionsOfInterest,
                inst.handle() as *const c_void,
                Some(&args),
                Some(&PropSet::default()),
            );
        }
        (render(&inst, t as f64, full, 1.0), bufs)
    };
    assert_eq!(changed(), kOfxStatOK);
    for t in 1..=3 {
        assert_eq!(frame(t).0, kOfxStatFailed);
    }
    let posted = take_messages();
    let persistent = PERSISTENT.lock().unwrap().clone();
    println!("missing bundle over 3 frames: {} message(s), persistent log {persistent:?}", posted.len());
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(posted[0].contains("later.json"), "{posted:?}");
    assert_eq!(persistent.len(), 1, "{persistent:?}");
    assert!(persistent[0].starts_with("set OfxMessageError") && persistent[0].contains("later.json"));
    // Fixed: the next render works and clears it; broken again: one message again.
    std::fs::copy(&s.path, &missing).unwrap();
    let (st, (_s, _d, out)) = frame(4);
    assert_eq!(st, kOfxStatOK);
    assert!(max_abs_diff(&out.region(full).data, &engine_reference(&s, &src, &depth, 1.0).data) <= 1e-6);
    assert_eq!(PERSISTENT.lock().unwrap().last().map(String::as_str), Some("clear"));
    assert_eq!(frame(5).0, kOfxStatOK);
    assert_eq!(PERSISTENT.lock().unwrap().len(), 2, "cleared once");
    std::fs::remove_file(&missing).unwrap();
    inst.set_param("filter_file", V::S(CString::new(dir.path().join("gone.json").to_str().unwrap()).unwrap()));
    assert_eq!(changed(), kOfxStatOK);
    assert_eq!(frame(6).0, kOfxStatFailed);
    assert_eq!(take_messages().len(), 1);
    assert_eq!(PERSISTENT.lock().unwrap().len(), 3);
    destroy(inst);
    unload();
}

#[test]
fn layered_tiles_copy_the_whole_frame() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let s = scene(dir.path());
    load();
    let (_desc, ctx) = describe();
    let inst = create_instance(&ctx, true);
    set_scene_params(&inst, &s);
    inst.set_param("edges", V::I(1));
    let (w, h) = (240usize, 180usize);
    let src = test_image(w, h, 4, 97);
    let depth = depth_image(w, h, 4, s.channel);
    let full = [0, 0, w as i32, h as i32];
    let layered = |src: &Image| {
        let mut want = Image::new(w, h, 4);
        Engine::new(1)
            .unwrap()
            .blur_depth_with(
                &s.bundle,
                &s.lens,
                Edges::Layered,
                &depth.view(),
                s.channel,
                &src.view(),
                &mut want.view_mut(),
            )
            .unwrap();
        want
    };
    let want = layered(&src);
    // Every time is a new frame (the cache is keyed by time): whole frames render each time.
    let mut keep = Vec::new();
    let mut t = 0i64;
    let whole = best_of(3, || {
        t += 1;
        let b = attach(&inst, t, &src, &depth, (0, 0), [(0, false), (0, false), (0, false)]);
        assert_eq!(render(&inst, t as f64, full, 1.0), kOfxStatOK);
        keep.push(b);
    });
    let (mx, my) = (w as i32 / 2 + 3, h as i32 / 2 - 5);
    let tiles = [[0, 0, mx, my], [mx, 0, full[2], my], [0, my, mx, full[3]], [mx, my, full[2], full[3]]];
    let tiled = best_of(3, || {
        t += 1;
        let b = attach(&inst, t, &src, &depth, (0, 0), [(0, false), (0, false), (0, false)]);
        for tile in tiles {
            assert_eq!(render(&inst, t as f64, tile, 1.0), kOfxStatOK);
        }
        keep.push(b);
    });
    for (_, _, out) in &keep {
        assert!(max_abs_diff(&out.region(full).data, &want.data) <= 1e-6, "a frame differs from the engine");
    }
    println!(
        "layered {w}x{h}: whole frame {:.1} ms, 4 tiles {:.1} ms ({:.2}x)",
        whole * 1e3,
        tiled * 1e3,
        tiled / whole
    );
    assert!(tiled <= 1.3 * whole, "4 tiles take {tiled:.4} s, one whole frame {whole:.4} s");
    // Same time and buffers, new content (a host reusing its memory): rendered afresh.
    let (mut sb, _d, out) = attach(&inst, 100, &src, &depth, (0, 0), [(0, false), (0, false), (0, false)]);
    assert_eq!(render(&inst, 100.0, tiles[0], 1.0), kOfxStatOK);
    let other = test_image(w, h, 4, 98);
    sb.mem.copy_from_slice(&Buffer::from_image(&other, 0, 0, 0, false).mem);
    for tile in tiles {
        assert_eq!(render(&inst, 100.0, tile, 1.0), kOfxStatOK);
    }
    assert!(max_abs_diff(&out.region(full).data, &layered(&other).data) <= 1e-6, "a changed Source renders afresh");
    // A changed parameter too.
    inst.set_param("size", V::D(3.0));
    assert_eq!(render(&inst, 100.0, full, 1.0), kOfxStatOK);
    assert!(max_abs_diff(&out.region(full).data, &layered(&other).data) > 1e-3, "a changed size renders afresh");
    destroy(inst);
    unload();
}

/// Second moments (var x, var y) of channel 0 of an image about its centroid.
fn moments(img: &Image) -> (f64, f64) {
    let (mut s, mut sx, mut sy, mut sxx, mut syy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for y in 0..img.height {
        for x in 0..img.width {
            let v = img.data[(y * img.width + x) * img.channels] as f64;
            let (fx, fy) = (x as f64, y as f64);
            s += v;
            sx += v * fx;
            sy += v * fy;
            sxx += v * fx * fx;
            syy += v * fy * fy;
        }
    }
    (sxx / s - (sx / s).powi(2), syy / s - (sy / s).powi(2))
}

#[test]
fn a_disc_is_round_on_screen_with_pixel_aspect_16_15() {
    let _g = lock();
    load();
    let (_desc, ctx) = describe();
    let inst = create_instance(&ctx, false);
    let (w, h) = (96usize, 72usize);
    let full = [0, 0, w as i32, h as i32];
    let mut src = Image::new(w, h, 4);
    src.data[((h / 2) * w + w / 2) * 4..((h / 2) * w + w / 2) * 4 + 4].fill(1.0);
    inst.set_param("radius", V::D(12.0));
    let mut ratios = Vec::new();
    for (t, par) in [(1i64, 1.0), (2, 16.0 / 15.0)] {
        inst.clip("Source").props.set(k(kOfxImagePropPixelAspectRatio), 0, V::D(par));
        let (_s, _d, out) = attach(&inst, t, &src, &src, (0, 0), [(0, false), (0, false), (0, false)]);
        assert_eq!(render(&inst, t as f64, full, 1.0), kOfxStatOK, "{:?}", take_messages());
        let (vx, vy) = moments(&out.region(full));
        // On screen a pixel is `par` wide: the disc's width there over its height.
        let ratio = vx.sqrt() * par / vy.sqrt();
        println!(
            "PAR {par:.4}: disc {:.2} × {:.2} px, on screen width/height {ratio:.4}",
            vx.sqrt() * 4.0,
            vy.sqrt() * 4.0
        );
        ratios.push(ratio);
        assert!((ratio - 1.0).abs() < 0.02, "PAR {par}: on-screen width/height {ratio}");
        // The regions of interest grow by the reach in canonical units (a pixel is `par` wide).
        let args = PropSet::default();
        args.set(k(kOfxPropTime), 0, V::D(t as f64));
        args.set(k(kOfxImageEffectPropRenderScale), 0, V::D(1.0));
        args.set(k(kOfxImageEffectPropRenderScale), 1, V::D(1.0));
        for (i, v) in [40.0, 30.0, 50.0, 40.0].iter().enumerate() {
            args.set(k(kOfxImageEffectPropRegionOfInterest), i, V::D(*v));
        }
        let roi = PropSet::default();
        let st =
            call(kOfxImageEffectActionGetRegionsOfInterest, inst.handle() as *const c_void, Some(&args), Some(&roi));
        assert_eq!(st, kOfxStatOK);
        let r: Vec<f64> = (0..4).map(|i| roi.double("OfxImageClipPropRoI_Source", i).unwrap()).collect();
        assert!(((40.0 - r[0]) - (30.0 - r[1]) * par).abs() < 1e-9, "{r:?}");
    }
    inst.clip("Source").props.set(k(kOfxImagePropPixelAspectRatio), 0, V::D(1.0));
    destroy(inst);
    unload();
}

#[test]
fn blades_and_roundness_pick_their_bundle() {
    let _g = lock();
    load();
    let (_desc, ctx) = describe();
    let inst = create_instance(&ctx, false);
    let (w, h) = (40usize, 30usize);
    let full = [0, 0, w as i32, h as i32];
    let src = test_image(w, h, 4, 17);
    let engine = Engine::new(1).unwrap();
    inst.set_param("filter_type", V::I(8));
    inst.set_param("radius", V::D(7.0));
    let mut seen = Vec::new();
    for (t, blades, roundness, name) in [
        (1i64, 0, 2, "blades5-rounded"),
        (2, 0, 0, "blades5"),
        (3, 1, 0, "hexagon"),
        (4, 1, 1, "blades6-slightly-rounded"),
    ] {
        inst.set_param("blades", V::I(blades));
        inst.set_param("roundness", V::I(roundness));
        let (_s, _d, out) = attach(&inst, t, &src, &src, (0, 0), [(0, false), (0, false), (0, false)]);
        assert_eq!(render(&inst, t as f64, full, 1.0), kOfxStatOK, "{name}: {:?}", take_messages());
        let bundle = sparsebokeh::locate(name).unwrap();
        let mut want = Image::new(w, h, 4);
        engine.blur_fixed(&bundle, 7.0, &src.view(), &mut want.view_mut()).unwrap();
        let got = out.region(full);
        let d = max_abs_diff(&got.data, &want.data);
        assert!(d <= 1e-6, "{name}: the render differs from the bundle's by {d}");
        seen.push(got.data);
    }
    assert!(seen.windows(2).all(|p| max_abs_diff(&p[0], &p[1]) > 1e-3), "each choice renders its own bundle");
    destroy(inst);
    unload();
}

#[test]
fn focus_from_point_equals_the_focal_plane_set_by_hand() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let s = scene(dir.path());
    load();
    let (_desc, ctx) = describe();
    let (w, h) = (48usize, 32usize);
    let src = test_image(w, h, 4, 5);
    let depth = depth_image(w, h, 4, s.channel);
    let full = [0, 0, w as i32, h as i32];
    // The point in canonical coordinates (y up) and its pixel's row in the top-down image.
    let (px, py) = (30usize, 9usize);
    let point = [px as f64 + 0.25, py as f64 + 0.75];
    let row = h - 1 - py;
    let mut window: Vec<f32> = Vec::new();
    for y in row - 2..=row + 2 {
        for x in px - 2..=px + 2 {
            window.push(depth.data[(y * w + x) * 4 + s.channel]);
        }
    }
    window.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let focus = window[12] as f64;
    let mut frames = Vec::new();
    for (t, from_point) in [(1i64, true), (2, false)] {
        let inst = create_instance(&ctx, true);
        set_scene_params(&inst, &s);
        if from_point {
            inst.set_param("focus_from_point", V::I(1));
            inst.set_param("focal_point", V::D2(point));
        } else {
            inst.set_param("center", V::D(focus));
        }
        let (_s, _d, out) = attach(&inst, t, &src, &depth, (0, 0), [(0, false), (0, false), (0, false)]);
        // A tile far from the point: the point's window is read from the Depth all the same.
        let tile = [0, 20, 16, 32];
        assert_eq!(render(&inst, t as f64, tile, 1.0), kOfxStatOK, "{:?}", take_messages());
        assert_eq!(render(&inst, t as f64, full, 1.0), kOfxStatOK, "{:?}", take_messages());
        frames.push(out.region(full).data);
        if from_point {
            // The Depth's region of interest holds the point's window.
            let args = PropSet::default();
            args.set(k(kOfxPropTime), 0, V::D(1.0));
            args.set(k(kOfxImageEffectPropRenderScale), 0, V::D(1.0));
            args.set(k(kOfxImageEffectPropRenderScale), 1, V::D(1.0));
            for (i, v) in [0.0, 20.0, 4.0, 24.0].iter().enumerate() {
                args.set(k(kOfxImageEffectPropRegionOfInterest), i, V::D(*v));
            }
            let roi = PropSet::default();
            let st = call(
                kOfxImageEffectActionGetRegionsOfInterest,
                inst.handle() as *const c_void,
                Some(&args),
                Some(&roi),
            );
            assert_eq!(st, kOfxStatOK);
            let d: Vec<f64> = (0..4).map(|i| roi.double("OfxImageClipPropRoI_Depth", i).unwrap()).collect();
            assert!(d[0] <= (px - 2) as f64 && d[1] <= (py - 2) as f64 && d[2] >= (px + 3) as f64, "{d:?}");
        }
        destroy(inst);
    }
    assert_eq!(frames[0], frames[1], "focus from the point = focus {focus} by hand");
    unload();
}

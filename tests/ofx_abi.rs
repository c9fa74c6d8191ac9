//! Pins the OpenFX ABI declared in include/ofx/ (through the bindgen output `sparsebokeh::ofx::sys`)
//! against the published OpenFX headers of AcademySoftwareFoundation/openfx (include/ofxCore.h,
//! ofxProperty.h, ofxParam.h, ofxImageEffect.h, ofxMemory.h, ofxMultiThread.h, ofxMessage.h).
//!
//! Every number and string below was typed in from those published headers — member order of each
//! suite struct (so offsets are 8 × position on x86-64), each function's parameter list, and each
//! #define's value — not derived from this project's headers, so a wrong header fails here.
#![cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]

use sparsebokeh::ofx::sys::*;
use std::ffi::CStr;
use std::mem::{offset_of, size_of};
use std::os::raw::{c_char, c_int, c_uint, c_void};

/// Checks a struct's size and the offset of each named field.
macro_rules! layout {
    ($ty:ty, size $size:expr, [$($field:ident @ $off:expr),* $(,)?]) => {{
        assert_eq!(size_of::<$ty>(), $size, "size of {}", stringify!($ty));
        $(assert_eq!(offset_of!($ty, $field), $off, "offset of {}::{}", stringify!($ty), stringify!($field));)*
    }};
}

/// Compile-time check of a function pointer member's exact signature.
macro_rules! signature {
    ($ty:ty, $field:ident, fn($($arg:ty),* $(,)?) -> $ret:ty) => {{
        fn check(s: &$ty) -> Option<unsafe extern "C" fn($($arg),*) -> $ret> {
            s.$field
        }
        let _ = check;
    }};
    ($ty:ty, $field:ident, variadic fn($($arg:ty),* $(,)?) -> $ret:ty) => {{
        fn check(s: &$ty) -> Option<unsafe extern "C" fn($($arg),*, ...) -> $ret> {
            s.$field
        }
        let _ = check;
    }};
}

fn text(bytes: &[u8]) -> &str {
    CStr::from_bytes_with_nul(bytes).expect("constant is NUL-terminated").to_str().expect("ASCII")
}

type PS = OfxPropertySetHandle;
type Str = *const c_char;

#[test]
fn core_structs() {
    layout!(OfxHost, size 16, [host @ 0, fetchSuite @ 8]);
    signature!(OfxHost, fetchSuite, fn(PS, Str, c_int) -> *const c_void);
    layout!(OfxPlugin, size 48, [
        pluginApi @ 0, apiVersion @ 8, pluginIdentifier @ 16, pluginVersionMajor @ 24,
        pluginVersionMinor @ 28, setHost @ 32, mainEntry @ 40,
    ]);
    fn entry(p: &OfxPlugin) -> Option<unsafe extern "C" fn(Str, *const c_void, PS, PS) -> OfxStatus> {
        p.mainEntry
    }
    fn set_host(p: &OfxPlugin) -> Option<unsafe extern "C" fn(*mut OfxHost)> {
        p.setHost
    }
    let _ = (entry, set_host);
    layout!(OfxRangeI, size 8, [min @ 0, max @ 4]);
    layout!(OfxRangeD, size 16, [min @ 0, max @ 8]);
    layout!(OfxPointI, size 8, [x @ 0, y @ 4]);
    layout!(OfxPointD, size 16, [x @ 0, y @ 8]);
    layout!(OfxRectI, size 16, [x1 @ 0, y1 @ 4, x2 @ 8, y2 @ 12]);
    layout!(OfxRectD, size 32, [x1 @ 0, y1 @ 8, x2 @ 16, y2 @ 24]);
    assert_eq!(size_of::<OfxStatus>(), 4);
    assert_eq!(size_of::<OfxTime>(), 8);
}

#[test]
fn property_suite() {
    layout!(OfxPropertySuiteV1, size 144, [
        propSetPointer @ 0, propSetString @ 8, propSetDouble @ 16, propSetInt @ 24,
        propSetPointerN @ 32, propSetStringN @ 40, propSetDoubleN @ 48, propSetIntN @ 56,
        propGetPointer @ 64, propGetString @ 72, propGetDouble @ 80, propGetInt @ 88,
        propGetPointerN @ 96, propGetStringN @ 104, propGetDoubleN @ 112, propGetIntN @ 120,
        propReset @ 128, propGetDimension @ 136,
    ]);
    type S = OfxPropertySuiteV1;
    signature!(S, propSetPointer, fn(PS, Str, c_int, *mut c_void) -> OfxStatus);
    signature!(S, propSetString, fn(PS, Str, c_int, Str) -> OfxStatus);
    signature!(S, propSetDouble, fn(PS, Str, c_int, f64) -> OfxStatus);
    signature!(S, propSetInt, fn(PS, Str, c_int, c_int) -> OfxStatus);
    signature!(S, propSetPointerN, fn(PS, Str, c_int, *const *mut c_void) -> OfxStatus);
    signature!(S, propSetStringN, fn(PS, Str, c_int, *const *const c_char) -> OfxStatus);
    signature!(S, propSetDoubleN, fn(PS, Str, c_int, *const f64) -> OfxStatus);
    signature!(S, propSetIntN, fn(PS, Str, c_int, *const c_int) -> OfxStatus);
    signature!(S, propGetPointer, fn(PS, Str, c_int, *mut *mut c_void) -> OfxStatus);
    signature!(S, propGetString, fn(PS, Str, c_int, *mut *mut c_char) -> OfxStatus);
    signature!(S, propGetDouble, fn(PS, Str, c_int, *mut f64) -> OfxStatus);
    signature!(S, propGetInt, fn(PS, Str, c_int, *mut c_int) -> OfxStatus);
    signature!(S, propGetPointerN, fn(PS, Str, c_int, *mut *mut c_void) -> OfxStatus);
    signature!(S, propGetStringN, fn(PS, Str, c_int, *mut *mut c_char) -> OfxStatus);
    signature!(S, propGetDoubleN, fn(PS, Str, c_int, *mut f64) -> OfxStatus);
    signature!(S, propGetIntN, fn(PS, Str, c_int, *mut c_int) -> OfxStatus);
    signature!(S, propReset, fn(PS, Str) -> OfxStatus);
    signature!(S, propGetDimension, fn(PS, Str, *mut c_int) -> OfxStatus);
}

#[test]
fn parameter_suite() {
    layout!(OfxParameterSuiteV1, size 144, [
        paramDefine @ 0, paramGetHandle @ 8, paramSetGetPropertySet @ 16, paramGetPropertySet @ 24,
        paramGetValue @ 32, paramGetValueAtTime @ 40, paramGetDerivative @ 48, paramGetIntegral @ 56,
        paramSetValue @ 64, paramSetValueAtTime @ 72, paramGetNumKeys @ 80, paramGetKeyTime @ 88,
        paramGetKeyIndex @ 96, paramDeleteKey @ 104, paramDeleteAllKeys @ 112, paramCopy @ 120,
        paramEditBegin @ 128, paramEditEnd @ 136,
    ]);
    type S = OfxParameterSuiteV1;
    type PSet = OfxParamSetHandle;
    type P = OfxParamHandle;
    signature!(S, paramDefine, fn(PSet, Str, Str, *mut PS) -> OfxStatus);
    signature!(S, paramGetHandle, fn(PSet, Str, *mut P, *mut PS) -> OfxStatus);
    signature!(S, paramSetGetPropertySet, fn(PSet, *mut PS) -> OfxStatus);
    signature!(S, paramGetPropertySet, fn(P, *mut PS) -> OfxStatus);
    signature!(S, paramGetValue, variadic fn(P) -> OfxStatus);
    signature!(S, paramGetValueAtTime, variadic fn(P, f64) -> OfxStatus);
    signature!(S, paramGetDerivative, variadic fn(P, f64) -> OfxStatus);
    signature!(S, paramGetIntegral, variadic fn(P, f64, f64) -> OfxStatus);
    signature!(S, paramSetValue, variadic fn(P) -> OfxStatus);
    signature!(S, paramSetValueAtTime, variadic fn(P, f64) -> OfxStatus);
    signature!(S, paramGetNumKeys, fn(P, *mut c_uint) -> OfxStatus);
    signature!(S, paramGetKeyTime, fn(P, c_uint, *mut f64) -> OfxStatus);
    signature!(S, paramGetKeyIndex, fn(P, f64, c_int, *mut c_int) -> OfxStatus);
    signature!(S, paramDeleteKey, fn(P, f64) -> OfxStatus);
    signature!(S, paramDeleteAllKeys, fn(P) -> OfxStatus);
    signature!(S, paramCopy, fn(P, P, f64, *const OfxRangeD) -> OfxStatus);
    signature!(S, paramEditBegin, fn(PSet, Str) -> OfxStatus);
    signature!(S, paramEditEnd, fn(PSet) -> OfxStatus);
}

#[test]
fn image_effect_suite() {
    layout!(OfxImageEffectSuiteV1, size 104, [
        getPropertySet @ 0, getParamSet @ 8, clipDefine @ 16, clipGetHandle @ 24, clipGetPropertySet @ 32,
        clipGetImage @ 40, clipReleaseImage @ 48, clipGetRegionOfDefinition @ 56, abort @ 64,
        imageMemoryAlloc @ 72, imageMemoryFree @ 80, imageMemoryLock @ 88, imageMemoryUnlock @ 96,
    ]);
    type S = OfxImageEffectSuiteV1;
    type E = OfxImageEffectHandle;
    type C = OfxImageClipHandle;
    type M = OfxImageMemoryHandle;
    signature!(S, getPropertySet, fn(E, *mut PS) -> OfxStatus);
    signature!(S, getParamSet, fn(E, *mut OfxParamSetHandle) -> OfxStatus);
    signature!(S, clipDefine, fn(E, Str, *mut PS) -> OfxStatus);
    signature!(S, clipGetHandle, fn(E, Str, *mut C, *mut PS) -> OfxStatus);
    signature!(S, clipGetPropertySet, fn(C, *mut PS) -> OfxStatus);
    signature!(S, clipGetImage, fn(C, f64, *const OfxRectD, *mut PS) -> OfxStatus);
    signature!(S, clipReleaseImage, fn(PS) -> OfxStatus);
    signature!(S, clipGetRegionOfDefinition, fn(C, f64, *mut OfxRectD) -> OfxStatus);
    signature!(S, abort, fn(E) -> c_int);
    signature!(S, imageMemoryAlloc, fn(E, usize, *mut M) -> OfxStatus);
    signature!(S, imageMemoryFree, fn(M) -> OfxStatus);
    signature!(S, imageMemoryLock, fn(M, *mut *mut c_void) -> OfxStatus);
    signature!(S, imageMemoryUnlock, fn(M) -> OfxStatus);
}

#[test]
fn memory_multithread_message_suites() {
    layout!(OfxMemorySuiteV1, size 16, [memoryAlloc @ 0, memoryFree @ 8]);
    signature!(OfxMemorySuiteV1, memoryAlloc, fn(*mut c_void, usize, *mut *mut c_void) -> OfxStatus);
    signature!(OfxMemorySuiteV1, memoryFree, fn(*mut c_void) -> OfxStatus);

    layout!(OfxMultiThreadSuiteV1, size 72, [
        multiThread @ 0, multiThreadNumCPUs @ 8, multiThreadIndex @ 16, multiThreadIsSpawnedThread @ 24,
        mutexCreate @ 32, mutexDestroy @ 40, mutexLock @ 48, mutexUnLock @ 56, mutexTryLock @ 64,
    ]);
    type T = OfxMultiThreadSuiteV1;
    type ThreadFn = Option<unsafe extern "C" fn(c_uint, c_uint, *mut c_void)>;
    signature!(T, multiThread, fn(ThreadFn, c_uint, *mut c_void) -> OfxStatus);
    signature!(T, multiThreadNumCPUs, fn(*mut c_uint) -> OfxStatus);
    signature!(T, multiThreadIndex, fn(*mut c_uint) -> OfxStatus);
    signature!(T, multiThreadIsSpawnedThread, fn() -> c_int);
    signature!(T, mutexCreate, fn(*mut OfxMutexHandle, c_int) -> OfxStatus);
    signature!(T, mutexDestroy, fn(OfxMutexHandle) -> OfxStatus);
    signature!(T, mutexLock, fn(OfxMutexHandle) -> OfxStatus);
    signature!(T, mutexUnLock, fn(OfxMutexHandle) -> OfxStatus);
    signature!(T, mutexTryLock, fn(OfxMutexHandle) -> OfxStatus);

    layout!(OfxMessageSuiteV1, size 8, [message @ 0]);
    signature!(OfxMessageSuiteV1, message, variadic fn(*mut c_void, Str, Str, Str) -> OfxStatus);
    layout!(OfxMessageSuiteV2, size 24, [message @ 0, setPersistentMessage @ 8, clearPersistentMessage @ 16]);
    signature!(OfxMessageSuiteV2, message, variadic fn(*mut c_void, Str, Str, Str) -> OfxStatus);
    signature!(OfxMessageSuiteV2, setPersistentMessage, variadic fn(*mut c_void, Str, Str, Str) -> OfxStatus);
    signature!(OfxMessageSuiteV2, clearPersistentMessage, fn(*mut c_void) -> OfxStatus);
}

#[test]
fn status_codes_and_numbers() {
    let codes = [
        (kOfxStatOK, 0),
        (kOfxStatFailed, 1),
        (kOfxStatErrFatal, 2),
        (kOfxStatErrUnknown, 3),
        (kOfxStatErrMissingHostFeature, 4),
        (kOfxStatErrUnsupported, 5),
        (kOfxStatErrExists, 6),
        (kOfxStatErrFormat, 7),
        (kOfxStatErrMemory, 8),
        (kOfxStatErrBadHandle, 9),
        (kOfxStatErrBadIndex, 10),
        (kOfxStatErrValue, 11),
        (kOfxStatReplyYes, 12),
        (kOfxStatReplyNo, 13),
        (kOfxStatReplyDefault, 14),
        (kOfxStatErrImageFormat, 1000),
        (kOfxImageEffectPluginApiVersion, 1),
        (kOfxFlagInfiniteMax, i32::MAX),
        (kOfxFlagInfiniteMin, i32::MIN),
    ];
    for (i, (have, want)) in codes.iter().enumerate() {
        assert_eq!(have, want, "numeric constant #{i}");
    }
}

#[test]
fn strings() {
    let pairs: &[(&[u8], &str)] = &[
        // ofxCore.h
        (kOfxActionLoad, "OfxActionLoad"),
        (kOfxActionDescribe, "OfxActionDescribe"),
        (kOfxActionUnload, "OfxActionUnload"),
        (kOfxActionPurgeCaches, "OfxActionPurgeCaches"),
        (kOfxActionSyncPrivateData, "OfxActionSyncPrivateData"),
        (kOfxActionCreateInstance, "OfxActionCreateInstance"),
        (kOfxActionDestroyInstance, "OfxActionDestroyInstance"),
        (kOfxActionInstanceChanged, "OfxActionInstanceChanged"),
        (kOfxActionBeginInstanceChanged, "OfxActionBeginInstanceChanged"),
        (kOfxActionEndInstanceChanged, "OfxActionEndInstanceChanged"),
        (kOfxActionBeginInstanceEdit, "OfxActionBeginInstanceEdit"),
        (kOfxActionEndInstanceEdit, "OfxActionEndInstanceEdit"),
        (kOfxPropAPIVersion, "OfxPropAPIVersion"),
        (kOfxPropTime, "OfxPropTime"),
        (kOfxPropIsInteractive, "OfxPropIsInteractive"),
        (kOfxPluginPropFilePath, "OfxPluginPropFilePath"),
        (kOfxPropInstanceData, "OfxPropInstanceData"),
        (kOfxPropType, "OfxPropType"),
        (kOfxPropName, "OfxPropName"),
        (kOfxPropVersion, "OfxPropVersion"),
        (kOfxPropVersionLabel, "OfxPropVersionLabel"),
        (kOfxPropPluginDescription, "OfxPropPluginDescription"),
        (kOfxPropLabel, "OfxPropLabel"),
        (kOfxPropIcon, "OfxPropIcon"),
        (kOfxPropShortLabel, "OfxPropShortLabel"),
        (kOfxPropLongLabel, "OfxPropLongLabel"),
        (kOfxPropChangeReason, "OfxPropChangeReason"),
        (kOfxPropEffectInstance, "OfxPropEffectInstance"),
        (kOfxPropHostOSHandle, "OfxPropHostOSHandle"),
        (kOfxChangeUserEdited, "OfxChangeUserEdited"),
        (kOfxChangePluginEdited, "OfxChangePluginEdited"),
        (kOfxChangeTime, "OfxChangeTime"),
        (kOfxBitDepthNone, "OfxBitDepthNone"),
        (kOfxBitDepthByte, "OfxBitDepthByte"),
        (kOfxBitDepthShort, "OfxBitDepthShort"),
        (kOfxBitDepthHalf, "OfxBitDepthHalf"),
        (kOfxBitDepthFloat, "OfxBitDepthFloat"),
        // ofxProperty.h, ofxMemory.h, ofxMultiThread.h, ofxMessage.h
        (kOfxPropertySuite, "OfxPropertySuite"),
        (kOfxMemorySuite, "OfxMemorySuite"),
        (kOfxMultiThreadSuite, "OfxMultiThreadSuite"),
        (kOfxMessageSuite, "OfxMessageSuite"),
        (kOfxMessageFatal, "OfxMessageFatal"),
        (kOfxMessageError, "OfxMessageError"),
        (kOfxMessageWarning, "OfxMessageWarning"),
        (kOfxMessageMessage, "OfxMessageMessage"),
        (kOfxMessageLog, "OfxMessageLog"),
        (kOfxMessageQuestion, "OfxMessageQuestion"),
        // ofxParam.h
        (kOfxParameterSuite, "OfxParameterSuite"),
        (kOfxTypeParameter, "OfxTypeParameter"),
        (kOfxTypeParameterInstance, "OfxTypeParameterInstance"),
        (kOfxParamTypeInteger, "OfxParamTypeInteger"),
        (kOfxParamTypeDouble, "OfxParamTypeDouble"),
        (kOfxParamTypeBoolean, "OfxParamTypeBoolean"),
        (kOfxParamTypeChoice, "OfxParamTypeChoice"),
        (kOfxParamTypeRGBA, "OfxParamTypeRGBA"),
        (kOfxParamTypeRGB, "OfxParamTypeRGB"),
        (kOfxParamTypeDouble2D, "OfxParamTypeDouble2D"),
        (kOfxParamTypeInteger2D, "OfxParamTypeInteger2D"),
        (kOfxParamTypeDouble3D, "OfxParamTypeDouble3D"),
        (kOfxParamTypeInteger3D, "OfxParamTypeInteger3D"),
        (kOfxParamTypeString, "OfxParamTypeString"),
        (kOfxParamTypeCustom, "OfxParamTypeCustom"),
        (kOfxParamTypeGroup, "OfxParamTypeGroup"),
        (kOfxParamTypePage, "OfxParamTypePage"),
        (kOfxParamTypePushButton, "OfxParamTypePushButton"),
        (kOfxParamPropType, "OfxParamPropType"),
        (kOfxParamPropAnimates, "OfxParamPropAnimates"),
        (kOfxParamPropCanUndo, "OfxParamPropCanUndo"),
        (kOfxParamPropIsAnimating, "OfxParamPropIsAnimating"),
        (kOfxParamPropPersistant, "OfxParamPropPersistant"),
        (kOfxParamPropEvaluateOnChange, "OfxParamPropEvaluateOnChange"),
        (kOfxParamPropSecret, "OfxParamPropSecret"),
        (kOfxParamPropScriptName, "OfxParamPropScriptName"),
        (kOfxParamPropCacheInvalidation, "OfxParamPropCacheInvalidation"),
        (kOfxParamInvalidateValueChange, "OfxParamInvalidateValueChange"),
        (kOfxParamInvalidateValueChangeToEnd, "OfxParamInvalidateValueChangeToEnd"),
        (kOfxParamInvalidateAll, "OfxParamInvalidateAll"),
        (kOfxParamPropHint, "OfxParamPropHint"),
        (kOfxParamPropDefault, "OfxParamPropDefault"),
        (kOfxParamPropDoubleType, "OfxParamPropDoubleType"),
        (kOfxParamDoubleTypePlain, "OfxParamDoubleTypePlain"),
        (kOfxParamDoubleTypeScale, "OfxParamDoubleTypeScale"),
        (kOfxParamDoubleTypeAngle, "OfxParamDoubleTypeAngle"),
        (kOfxParamDoubleTypeTime, "OfxParamDoubleTypeTime"),
        (kOfxParamDoubleTypeAbsoluteTime, "OfxParamDoubleTypeAbsoluteTime"),
        (kOfxParamDoubleTypeX, "OfxParamDoubleTypeX"),
        (kOfxParamDoubleTypeY, "OfxParamDoubleTypeY"),
        (kOfxParamDoubleTypeXAbsolute, "OfxParamDoubleTypeXAbsolute"),
        (kOfxParamDoubleTypeYAbsolute, "OfxParamDoubleTypeYAbsolute"),
        (kOfxParamDoubleTypeXY, "OfxParamDoubleTypeXY"),
        (kOfxParamDoubleTypeXYAbsolute, "OfxParamDoubleTypeXYAbsolute"),
        (kOfxParamPropPageChild, "OfxParamPropPageChild"),
        (kOfxParamPropParent, "OfxParamPropParent"),
        (kOfxParamPropGroupOpen, "OfxParamPropGroupOpen"),
        (kOfxParamPropEnabled, "OfxParamPropEnabled"),
        (kOfxParamPropDataPtr, "OfxParamPropDataPtr"),
        (kOfxParamPropChoiceOption, "OfxParamPropChoiceOption"),
        (kOfxParamPropMin, "OfxParamPropMin"),
        (kOfxParamPropMax, "OfxParamPropMax"),
        (kOfxParamPropDisplayMin, "OfxParamPropDisplayMin"),
        (kOfxParamPropDisplayMax, "OfxParamPropDisplayMax"),
        (kOfxParamPropIncrement, "OfxParamPropIncrement"),
        (kOfxParamPropDigits, "OfxParamPropDigits"),
        (kOfxParamPropStringMode, "OfxParamPropStringMode"),
        (kOfxParamPropStringFilePathExists, "OfxParamPropStringFilePathExists"),
        (kOfxParamStringIsSingleLine, "OfxParamStringIsSingleLine"),
        (kOfxParamStringIsMultiLine, "OfxParamStringIsMultiLine"),
        (kOfxParamStringIsFilePath, "OfxParamStringIsFilePath"),
        (kOfxParamStringIsDirectoryPath, "OfxParamStringIsDirectoryPath"),
        (kOfxParamStringIsLabel, "OfxParamStringIsLabel"),
        (kOfxPluginPropParamPageOrder, "OfxPluginPropParamPageOrder"),
        // ofxImageEffect.h
        (kOfxImageEffectPluginApi, "OfxImageEffectPluginAPI"),
        (kOfxImageComponentNone, "OfxImageComponentNone"),
        (kOfxImageComponentRGBA, "OfxImageComponentRGBA"),
        (kOfxImageComponentRGB, "OfxImageComponentRGB"),
        (kOfxImageComponentAlpha, "OfxImageComponentAlpha"),
        (kOfxImageEffectContextGenerator, "OfxImageEffectContextGenerator"),
        (kOfxImageEffectContextFilter, "OfxImageEffectContextFilter"),
        (kOfxImageEffectContextTransition, "OfxImageEffectContextTransition"),
        (kOfxImageEffectContextPaint, "OfxImageEffectContextPaint"),
        (kOfxImageEffectContextGeneral, "OfxImageEffectContextGeneral"),
        (kOfxImageEffectContextRetimer, "OfxImageEffectContextRetimer"),
        (kOfxTypeImageEffectHost, "OfxTypeImageEffectHost"),
        (kOfxTypeImageEffect, "OfxTypeImageEffect"),
        (kOfxTypeImageEffectInstance, "OfxTypeImageEffectInstance"),
        (kOfxTypeClip, "OfxTypeClip"),
        (kOfxTypeImage, "OfxTypeImage"),
        (kOfxImageEffectActionGetRegionOfDefinition, "OfxImageEffectActionGetRegionOfDefinition"),
        (kOfxImageEffectActionGetRegionsOfInterest, "OfxImageEffectActionGetRegionsOfInterest"),
        (kOfxImageEffectActionGetTimeDomain, "OfxImageEffectActionGetTimeDomain"),
        (kOfxImageEffectActionGetFramesNeeded, "OfxImageEffectActionGetFramesNeeded"),
        (kOfxImageEffectActionGetClipPreferences, "OfxImageEffectActionGetClipPreferences"),
        (kOfxImageEffectActionIsIdentity, "OfxImageEffectActionIsIdentity"),
        (kOfxImageEffectActionRender, "OfxImageEffectActionRender"),
        (kOfxImageEffectActionBeginSequenceRender, "OfxImageEffectActionBeginSequenceRender"),
        (kOfxImageEffectActionEndSequenceRender, "OfxImageEffectActionEndSequenceRender"),
        (kOfxImageEffectActionDescribeInContext, "OfxImageEffectActionDescribeInContext"),
        (kOfxImageEffectPropSupportedContexts, "OfxImageEffectPropSupportedContexts"),
        (kOfxImageEffectPropPluginHandle, "OfxImageEffectPropPluginHandle"),
        (kOfxImageEffectHostPropIsBackground, "OfxImageEffectHostPropIsBackground"),
        (kOfxImageEffectPluginPropSingleInstance, "OfxImageEffectPluginPropSingleInstance"),
        (kOfxImageEffectPluginRenderThreadSafety, "OfxImageEffectPluginRenderThreadSafety"),
        (kOfxImageEffectRenderUnsafe, "OfxImageEffectRenderUnsafe"),
        (kOfxImageEffectRenderInstanceSafe, "OfxImageEffectRenderInstanceSafe"),
        (kOfxImageEffectRenderFullySafe, "OfxImageEffectRenderFullySafe"),
        (kOfxImageEffectPluginPropHostFrameThreading, "OfxImageEffectPluginPropHostFrameThreading"),
        // The published value really lacks "Supports".
        (kOfxImageEffectPropSupportsMultipleClipDepths, "OfxImageEffectPropMultipleClipDepths"),
        (kOfxImageEffectPropSupportsMultipleClipPARs, "OfxImageEffectPropSupportsMultipleClipPARs"),
        (kOfxImageEffectPropClipPreferencesSlaveParam, "OfxImageEffectPropClipPreferencesSlaveParam"),
        (kOfxImageEffectInstancePropSequentialRender, "OfxImageEffectInstancePropSequentialRender"),
        (kOfxImageEffectPluginPropGrouping, "OfxImageEffectPluginPropGrouping"),
        (kOfxImageEffectPropSupportsMultiResolution, "OfxImageEffectPropSupportsMultiResolution"),
        (kOfxImageEffectPropSupportsTiles, "OfxImageEffectPropSupportsTiles"),
        (kOfxImageEffectPropTemporalClipAccess, "OfxImageEffectPropTemporalClipAccess"),
        (kOfxImageEffectPropContext, "OfxImageEffectPropContext"),
        (kOfxImageEffectPropPixelDepth, "OfxImageEffectPropPixelDepth"),
        (kOfxImageEffectPropComponents, "OfxImageEffectPropComponents"),
        (kOfxImageClipPropUnmappedPixelDepth, "OfxImageClipPropUnmappedPixelDepth"),
        (kOfxImageClipPropUnmappedComponents, "OfxImageClipPropUnmappedComponents"),
        (kOfxImageEffectPropPreMultiplication, "OfxImageEffectPropPreMultiplication"),
        (kOfxImageOpaque, "OfxImageOpaque"),
        (kOfxImagePreMultiplied, "OfxImageAlphaPremultiplied"),
        (kOfxImageUnPreMultiplied, "OfxImageAlphaUnPremultiplied"),
        (kOfxImageEffectPropSupportedPixelDepths, "OfxImageEffectPropSupportedPixelDepths"),
        (kOfxImageEffectPropSupportedComponents, "OfxImageEffectPropSupportedComponents"),
        (kOfxImageClipPropOptional, "OfxImageClipPropOptional"),
        (kOfxImageClipPropIsMask, "OfxImageClipPropIsMask"),
        (kOfxImagePropPixelAspectRatio, "OfxImagePropPixelAspectRatio"),
        (kOfxImageEffectPropFrameRate, "OfxImageEffectPropFrameRate"),
        (kOfxImageEffectPropFrameStep, "OfxImageEffectPropFrameStep"),
        (kOfxImageEffectPropFrameRange, "OfxImageEffectPropFrameRange"),
        (kOfxImageClipPropConnected, "OfxImageClipPropConnected"),
        (kOfxImageEffectFrameVarying, "OfxImageEffectFrameVarying"),
        (kOfxImageEffectPropRenderScale, "OfxImageEffectPropRenderScale"),
        (kOfxImageEffectPropRenderQualityDraft, "OfxImageEffectPropRenderQualityDraft"),
        (kOfxImageEffectPropSequentialRenderStatus, "OfxImageEffectPropSequentialRenderStatus"),
        (kOfxImageEffectPropInteractiveRenderStatus, "OfxImageEffectPropInteractiveRenderStatus"),
        (kOfxImageEffectPropProjectSize, "OfxImageEffectPropProjectSize"),
        (kOfxImageEffectPropProjectOffset, "OfxImageEffectPropProjectOffset"),
        (kOfxImageEffectPropProjectExtent, "OfxImageEffectPropProjectExtent"),
        (kOfxImageClipPropFieldOrder, "OfxImageClipPropFieldOrder"),
        (kOfxImagePropData, "OfxImagePropData"),
        (kOfxImagePropBounds, "OfxImagePropBounds"),
        (kOfxImagePropRegionOfDefinition, "OfxImagePropRegionOfDefinition"),
        (kOfxImagePropRowBytes, "OfxImagePropRowBytes"),
        (kOfxImagePropField, "OfxImagePropField"),
        (kOfxImagePropUniqueIdentifier, "OfxImagePropUniqueIdentifier"),
        (kOfxImageEffectPropFieldToRender, "OfxImageEffectPropFieldToRender"),
        (kOfxImageEffectPropRegionOfDefinition, "OfxImageEffectPropRegionOfDefinition"),
        (kOfxImageEffectPropRegionOfInterest, "OfxImageEffectPropRegionOfInterest"),
        (kOfxImageEffectPropRenderWindow, "OfxImageEffectPropRenderWindow"),
        (kOfxImageFieldNone, "OfxFieldNone"),
        (kOfxImageFieldLower, "OfxFieldLower"),
        (kOfxImageFieldUpper, "OfxFieldUpper"),
        (kOfxImageFieldBoth, "OfxFieldBoth"),
        (kOfxImageEffectSuite, "OfxImageEffectSuite"),
        // Per-clip argument prefixes, as the action documentation of ofxImageEffect.h spells them.
        (kOfxImageClipPropRoIPrefix, "OfxImageClipPropRoI_"),
        (kOfxImageClipPropComponentsPrefix, "OfxImageClipPropComponents_"),
        (kOfxImageClipPropDepthPrefix, "OfxImageClipPropDepth_"),
        (kOfxImageClipPropPARPrefix, "OfxImageClipPropPAR_"),
    ];
    for (bytes, want) in pairs {
        assert_eq!(text(bytes), *want);
    }
}

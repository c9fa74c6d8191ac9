//! Rendering: depth to CoC, per-frame tap tables, SIMD inner loops, the threaded engine, and
//! the dense reference.

pub mod dense;
pub mod edges;
pub mod engine;
pub mod fft;
pub mod highlights;
pub mod layered;
pub mod lens;
pub mod levels;
pub mod lowrank;
pub mod plan;
pub mod request;
pub mod silhouette;
pub mod simd;
pub mod sprites;
pub(crate) mod stamp;

pub use engine::{Edges, Engine, RenderError, RenderStats};
pub use lens::{Lens, LensError, LensMode};
pub use request::{blur_reach, slice_colour, Output, RenderOptions, ASPECT_RANGE, FOCUS_WINDOW, PIXEL_ASPECT_RANGE};

/// A zeroed buffer of `n` values for a frame-sized working array. On Linux, buffers of 4 MiB
/// or more ask for transparent huge pages before they are first touched: a 1080p RGBA frame
/// otherwise costs ~8,000 page faults each time such a buffer is allocated and written.
pub(crate) fn frame_buffer<T: Copy + Default>(n: usize) -> Vec<T> {
    let v = vec![T::default(); n];
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = n * std::mem::size_of::<T>();
        if bytes >= 2 * HUGE {
            let start = v.as_ptr() as usize;
            let first = start.next_multiple_of(HUGE);
            let end = (start + bytes) / HUGE * HUGE;
            if end > first {
                // The render module denies unsafe code; this hint is one of its two exceptions
                // (the other: the SIMD load in `simd::taps_block`).
                // SAFETY: [first, end) lies inside the allocation of `v` (rounded inwards to
                // whole huge pages); MADV_HUGEPAGE is only a hint about how to back those pages
                // and changes neither their contents nor the allocation.
                #[allow(unsafe_code)]
                unsafe {
                    libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
                }
            }
        }
    }
    v
}

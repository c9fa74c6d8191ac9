//! sparsebokeh: spatially-varying lens blur with differentiable sparse kernel complexes.
//!
//! A dense kernel is approximated by a cascade of sparse layers (a *complex*); a *bundle* holds
//! one complex per blur radius, and the engine interpolates between them per pixel from a depth
//! channel. See ARCHITECTURE.md at the repository root for the modules, the render request and
//! the bundle format.
//!
//! The public API is what this file exports: the render request ([`RenderOptions`],
//! [`Engine::render`]), bundles, images, and a few modules for what front ends, tests and
//! benches need ([`shapes`], [`psf`], [`plan`], [`reference`](mod@reference), [`io`], [`fit`]). The core
//! modules (`kernel`, `bundle`, `render`, `image`) are private, and free of FFI: unsafe code is
//! denied in them (and in `fit`) but for the two commented exceptions in `render`.

#[deny(unsafe_code)]
mod bundle;
#[deny(unsafe_code)]
mod image;
#[deny(unsafe_code)]
mod kernel;
#[deny(unsafe_code)]
mod render;

pub mod capi;
pub mod cpu;
#[deny(unsafe_code)]
pub mod fit;
pub mod io;
pub mod ofx;
#[cfg(feature = "python")]
mod python;
pub mod scene;

pub use bundle::{
    kernel_dirs, locate, AtRadius, BasisEntry, Bundle, BundleError, Transform, INTERPOLATED_MASS_TOLERANCE,
    MAX_FILE_BYTES, MAX_LAYERS, MAX_OFFSET, MAX_TAPS, MIN_BASIS_RADIUS,
};
pub use image::{Image, ImageError, ImageView, ImageViewMut};
pub use kernel::{Complex, Layer, Tap};
pub use render::lens::MAX_RADIUS;
pub use render::{
    blur_reach, slice_colour, Edges, Engine, Lens, LensError, LensMode, Output, RenderError, RenderOptions,
    RenderStats, ASPECT_RANGE, FOCUS_WINDOW, PIXEL_ASPECT_RANGE,
};

/// Target aperture shapes: analytic ones and aperture images.
pub mod shapes {
    pub use crate::kernel::shapes::*;
}

/// Dense point-spread functions of complexes and the kernel PSNR.
pub mod psf {
    pub use crate::kernel::psf::*;
}

/// Per-frame tap tables: how the engine lays out a complex per radius bucket.
pub mod plan {
    pub use crate::render::plan::*;
}

/// The slow references and the baselines the engine is tested and benchmarked against: the
/// dense f64 reference, FFT convolution and low-rank separable filters.
/// Resolution levels: which levels a radius is blurred at, and the rendered impulse response.
pub mod levels {
    pub use crate::render::levels::{
        impulse_psnr, impulse_response, level_weights, ImpulsePath, BLEND_OCTAVES, LEVEL_START, MAX_LEVEL,
    };
}

pub mod reference {
    pub use crate::render::dense::*;
    pub use crate::render::fft::*;
    pub use crate::render::lowrank::*;
}

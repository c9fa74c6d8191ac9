//! sparsebokeh: spatially-varying lens blur with differentiable sparse kernel complexes.
//!
//! A dense kernel is approximated by a cascade of sparse layers (a *complex*); a *bundle* holds
//! one complex per blur radius, and the engine interpolates between them per pixel from a depth
//! channel. See ARCHITECTURE.md at the repository root for the modules, the render request and the bundle format.

#[deny(unsafe_code)]
pub mod bundle;
pub mod capi;
pub mod cpu;
#[deny(unsafe_code)]
pub mod fit;
pub mod image;
pub mod io;
#[deny(unsafe_code)]
pub mod kernel;
pub mod ofx;
#[deny(unsafe_code)]
pub mod render;
pub mod scene;

pub use bundle::{AtRadius, BasisEntry, Bundle, BundleError};
pub use image::{Image, ImageError, ImageView, ImageViewMut};
pub use kernel::{Complex, Layer, Tap};
pub use render::{Engine, Lens, LensMode, RenderError, RenderStats};

//! sparsebokeh: spatially-varying lens blur with differentiable sparse kernel complexes.
//!
//! A dense kernel is approximated by a cascade of sparse layers (a *complex*); a *bundle* holds
//! one complex per blur radius, and the engine interpolates between them per pixel from a depth
//! channel. See DESIGN.md for the architecture and file formats.

pub mod bundle;
pub mod capi;
pub mod cpu;
pub mod fit;
pub mod image;
pub mod io;
pub mod kernel;
pub mod ofx;
pub mod render;
pub mod scene;

pub use bundle::{AtRadius, BasisEntry, Bundle, BundleError};
pub use image::{Image, ImageError, ImageView, ImageViewMut};
pub use kernel::{Complex, Layer, Tap};
pub use render::{Engine, Lens, LensMode, RenderError, RenderStats};

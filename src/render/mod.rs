//! Rendering: depth to CoC, per-frame tap tables, SIMD inner loops, the threaded engine, and
//! the dense reference.

pub mod dense;
pub mod engine;
pub mod fft;
pub mod layered;
pub mod lens;
pub mod lowrank;
pub mod plan;
pub mod simd;

pub use engine::{Edges, Engine, RenderError, RenderStats};
pub use lens::{Lens, LensError, LensMode};

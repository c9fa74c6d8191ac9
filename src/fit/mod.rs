//! Fitting kernel complexes to target kernels: dual numbers, initial layouts, the loss with its
//! exact gradient and Adam, and whole-bundle fitting; `baseline` holds the methods compared
//! against (simulated annealing, low-rank separable filters).
//!
//! ```text
//! let shape = Shape::parse("hexagon", &json!({"curvature": 0.2}))?;     // kernel::shapes
//! let one = fit::fit_radius(&shape, 16.0, &FitSpec::default())?;        // one radius, fresh start
//! println!("{:.2} dB", one.fitted.psnr_db);                             // one.fitted.complex: f32 taps
//! let opts = BasisOptions { name: "hexagon".into(), ..BasisOptions::default() };
//! let bundle = fit::fit_bundle(&shape, &opts, &|radius, db| eprintln!("r={radius}: {db:.2} dB"))?;
//! bundle.save(Path::new("hexagon.json"))?;
//! ```
//!
//! Everything is deterministic for a `FitSpec::seed`, whatever rayon's thread count.

pub mod baseline;
pub mod basis;
pub mod command;
pub mod dual;
pub mod init;
pub mod optimize;
pub mod symmetry;
pub mod turn;

pub use basis::{
    fit_bundle, fit_radius, fit_target, BasisOptions, FitError, FitSpec, TargetFit, DEFAULT_RADII, MAX_FIT_RADIUS,
};
pub use command::{command_line, FitTarget, SHAPE_FLAGS};
pub use dual::Dual;
pub use init::{Init, Rng};
pub use optimize::{finish, loss, loss_and_gradient, optimize, Fitted, Options, Params};

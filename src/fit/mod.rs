//! Fitting kernel complexes to target kernels: dual numbers, initial layouts, the loss with its
//! exact gradient and Adam, and whole-bundle fitting; `baseline` holds the methods compared
//! against (simulated annealing, low-rank separable filters).

pub mod baseline;
pub mod basis;
pub mod dual;
pub mod init;
pub mod optimize;

pub use basis::{fit_bundle, fit_radius, fit_target, BasisOptions, FitError, FitSpec, TargetFit, DEFAULT_RADII};
pub use dual::Dual;
pub use init::{Init, Rng};
pub use optimize::{finish, loss, loss_and_gradient, optimize, Fitted, Options, Params};

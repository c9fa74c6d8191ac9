//! Baselines the sparse-complex fitter is compared against (`fit --compare`, benches):
//! simulated annealing over taps ([`anneal`]) and the rank-r separable SVD approximation
//! ([`lowrank`]).

pub mod anneal;
pub mod lowrank;
pub mod rng;

#[cfg(test)]
mod measure;

pub use anneal::{anneal, anneal_default_iters};
pub use lowrank::{lowrank, lowrank_psnr, separable_factors};

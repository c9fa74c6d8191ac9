//! Baselines the sparse-complex fitter is compared against (`fit --compare`, benches):
//! simulated annealing over taps ([`anneal`]), the rank-r separable SVD approximation
//! ([`lowrank`]), and the plain differentiable recipe of the paper and the reference
//! ([`recipe`]: one Adam run per start, none of this fitter's search).
//!
//! `fit --compare` budgets them as follows: annealing gets
//! `anneal(target, L, N, seed, anneal_default_iters(target, L, N))`, a fixed amount of work (about
//! 4–5 s on one core of the 2-core development machine, whatever the radius); low-rank gets the
//! smallest rank with at least `L·N` taps per pixel, `lowrank(target, L * N)`. The renderers of
//! the baselines are [`crate::reference::LowRankFilter`] and [`crate::reference::FftConvolver`].

pub mod anneal;
pub mod lowrank;
pub mod recipe;
pub mod rng;

#[cfg(test)]
mod measure;

pub use anneal::{anneal, anneal_default_iters};
pub use lowrank::{lowrank, lowrank_psnr, separable_factors};
pub use recipe::recipe;

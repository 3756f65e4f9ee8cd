//! Likelihoods: the log densities a sampler explores besides the prior.
//!
//! - [`gaussian`]: [`GaussianLikelihood`], experimental data sets given an
//!   emulator, with covariance = emulator covariance + experimental covariance.
//! - [`product`]: [`IndependentProduct`], independent likelihoods (one per
//!   data set and emulator) multiplied.
//!
//! A model written in any language, run as a child process, is an external
//! target: [`crate::targets::external`](mod@crate::targets::external).

pub mod gaussian;
pub mod product;

pub use gaussian::{DataSet, GaussianLikelihood};
pub use product::IndependentProduct;

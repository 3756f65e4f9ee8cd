//! Likelihoods: the log densities a sampler explores besides the prior.
//!
//! - [`gaussian`]: [`GaussianLikelihood`], experimental data sets given an
//!   emulator, with covariance = emulator covariance + experimental covariance.
//! - [`product`]: [`IndependentProduct`], independent likelihoods (one per
//!   data set and emulator) multiplied.
//! - [`external`]: [`ExternalTarget`], a model written in any language, run as
//!   a child process that answers batches of points over a line protocol on
//!   its standard input and output (see [the protocol](external#the-protocol)).

pub mod external;
pub mod gaussian;
pub mod product;

pub use external::{ExternalOptions, ExternalTarget};
pub use gaussian::{DataSet, GaussianLikelihood};
pub use product::IndependentProduct;

//! Likelihoods: the log densities a sampler explores besides the prior.
//!
//! - [`external`]: [`ExternalTarget`], a model written in any language, run as
//!   a child process that answers batches of points over a line protocol on
//!   its standard input and output (see [the protocol](external#the-protocol)).

pub mod external;

pub use external::{ExternalOptions, ExternalTarget};

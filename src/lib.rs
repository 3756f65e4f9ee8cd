//! # seqcal: sequential Bayesian calibration
//!
//! seqcal calibrates an expensive model against several experimental data
//! sets, stage by stage: the posterior of one stage, kept as a chain, becomes
//! the prior of the next. This crate is the engine behind the `seqcal`
//! binary; its modules are usable directly from Rust.
//!
//! - [`prior`]: built-in priors (uniform box, normal, truncated normal,
//!   product, defensive mixture) and the [`prior::PriorRegistry`] of plugins.
//! - [`chain`]: the [`chain::Chain`] type and its files: HDF5 compatible with
//!   emcee's `HDFBackend` in both directions, incremental
//!   [`chain::ChainWriter`], CSV import/export and streaming summaries.
//! - [`likelihood`]: the likelihoods of a calibration (data sets given
//!   emulators).
//! - [`diagnostics`]: MCMC convergence diagnostics of chains: FFT
//!   autocorrelation function and integrated autocorrelation time, effective
//!   sample size, split R-hat and Monte Carlo standard error.
//! - [`targets`]: built-in test posteriors with known answers, and
//!   [`targets::external`](mod@targets::external): a model written in any language, run as a child
//!   process speaking a line protocol (`cmd:COMMAND`).
//! - [`sampler`]: the ensemble sampler and the loop that drives it.
//! - [`pipeline`]: staged calibrations (`seqcal run`); [`report`]: what they write.
//! - [`memory`]: sizes checked against the memory available before allocating.
//! - [`cli`]: the command-line interface; [`cli::main_with`] runs it with a
//!   prior registry the caller may extend.
//!
//! The contracts shared with plugins ([`Prior`](seqcal_api::Prior),
//! [`LogDensity`](seqcal_api::LogDensity), ...) live in [`seqcal_api`],
//! re-exported here as [`api`].
#![warn(missing_docs)]

pub mod chain;
pub mod cli;
pub mod config;
/// MCMC convergence diagnostics: autocorrelation time, ESS, split R-hat, MCSE.
pub mod diagnostics;
mod error;
pub mod likelihood;
mod math;
pub mod memory;
pub mod pipeline;
pub mod prior;
pub mod report;
pub mod sampler;
pub mod table;
pub mod targets;
pub mod two_stage;

pub use error::{Error, InContext, Result, ResultExt};
pub use seqcal_api as api;

/// seqcal's version, written into every file it produces.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

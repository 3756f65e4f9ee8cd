//! # seqcal-api: the contracts every seqcal component speaks
//!
//! This crate is deliberately tiny: it holds the traits that connect seqcal's
//! pieces and the error types they return, and nothing heavy. A user who wants
//! a custom prior or likelihood depends on this crate alone, implements the
//! trait, and registers it with a seqcal binary of their own.
//!
//! - [`ParamSpace`]: named parameters and their support intervals.
//! - [`Prior`]: a normalized density over a [`ParamSpace`] that can be sampled.
//! - [`LogDensity`]: any unnormalized log density (likelihood, composite target,
//!   test target); errors say whether they are [recoverable](DensityError::Reject)
//!   or [fatal](DensityError::Fatal).
//! - [`Emulator`]: predictive mean and covariance of a model's outputs.
//! - [`PriorPlugin`]: builds a [`Prior`] from a TOML table, found by its `kind`,
//!   with a [`StageContext`]: the stage's space, a [`ChainSource`] (plugins never
//!   read seqcal's chain files themselves) and the registry for nested priors.
//! - [`parse_table`]: a plugin's table into the plugin's own serde type, with
//!   the messages seqcal's own priors give (unknown keys list the known ones).
//! - [`DefensiveMixture`]: `(1-ε)·P + ε·Q`, for plugins that offer one.
//! - [`check_memory`]: sizes a user chooses, checked against available memory
//!   before anything is allocated.
#![warn(missing_docs)]

mod chains;
mod density;
mod emulator;
mod error;
mod histogram;
mod memory;
mod mixture;
mod plugin;
mod prior;
mod settings;
mod space;

pub use chains::{ChainDraws, ChainError, ChainRef, ChainSource, NoChains};
pub use density::LogDensity;
pub use emulator::{Emulator, Prediction};
pub use error::{DensityError, EmulatorError, PriorError, SpaceError};
pub use histogram::kl_counts;
pub use memory::{available_bytes, check_memory, MemoryError};
pub use mixture::{main_share, DefensiveMixture};
pub use plugin::{PriorFactory, PriorPlugin, StageContext};
pub use prior::Prior;
pub use settings::{check_keys, field_names, parse_table, KeyDoc};
pub use space::ParamSpace;

/// Re-exported so that implementors name the same versions seqcal uses.
pub use ndarray;
/// Re-exported so that implementors name the same versions seqcal uses.
pub use rand;
/// Re-exported so that implementors name the same versions seqcal uses.
pub use toml;

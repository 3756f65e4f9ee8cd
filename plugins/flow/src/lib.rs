//! # seqcal-flow: normalizing-flow priors trained on earlier posterior chains
//!
//! The posterior of one calibration stage is known only as a chain of draws;
//! this crate turns it into a smooth, normalized [`seqcal_api::Prior`] for the
//! next stage, and registers it as the prior kind `flow` ([`FlowPlugin`]).
//!
//! ## The structure, bottom up (no module imports one above it)
//!
//! - [`spec`]: what a flow is ([`FlowSpec`], [`FlowKind`], [`Activation`]);
//!   [`params`]: its parameters' names, defined once.
//! - [`kernel`]: plain-Rust kernels of the affine coupling (forward, backward),
//!   vectorized through [`seqcal_vmath`]; [`fused`]: the coupling as one candle
//!   op with its own backward pass (fast f32 training on the CPU);
//!   [`spline_kernel`] and [`spline_fused`]: the same for the rational-quadratic
//!   spline coupling in the data → base direction (log densities, training).
//! - [`layers`]: invertible layers on candle with forward, inverse and
//!   `log|det J|` (affine coupling, scale-and-shift, ActNorm, MADE/MAF,
//!   rational-quadratic splines, LU-decomposed linear).
//! - [`build`]: the one builder of every architecture: the plan of layers, the
//!   parameters with their shapes, their initial values, the candle layers, and
//!   the check that a set of weights fits a spec.
//! - [`model`]: [`Flow`], the built layers with a differentiable `log_prob` on
//!   candle tensors; [`fast`]: [`fast::FastFlow`], plain-Rust f64 evaluation of
//!   a RealNVP flow, parallel over fixed blocks of rows.
//! - [`density`]: [`DiffLogDensity`], a log density on candle tensors
//!   differentiable in its input, implemented by [`Flow`] and [`FlowPrior`]
//!   (what a reverse-KL fit of a composite target needs of each factor).
//! - [`train`]: losses (NLL, KL, Jeffreys, importance weights honoured), the
//!   learning-rate schedule, settings, data, and the loop (Adam on mini-batches,
//!   validation split, early stopping, sizes checked against memory first).
//! - [`bijector`]: logit / log transforms of bounded parameters, so that the
//!   prior has exactly zero mass outside the box and stays normalized.
//! - [`prior`]: [`FlowPrior`], a trained flow as a [`seqcal_api::Prior`];
//!   [`io`]: safetensors weights with a JSON sidecar whose density-defining
//!   fields are digested into the weights file and verified on load.
//! - [`arch`]: the architecture asked for ([`Arch`]: a kind, or `auto`, which
//!   gives one- and two-parameter chains spline couplings);
//!   [`options`]: the user's settings ([`FlowOptions`] → [`CheckedFlowOptions`]);
//!   [`table`]: the `flow` prior table; [`trainer`]: the one path from a chain
//!   (given by a [`seqcal_api::ChainSource`], never read here) to a trained
//!   prior, with a per-run cache for pipelines ([`FlowTrainer`]);
//!   [`plugin`]: [`FlowPlugin`].
//! - [`testdata`]: seeded 7-D densities with exact log densities.
//!
//! A new architecture is a [`FlowKind`] variant, its layer in [`layers`], and
//! its place in [`build`].
//!
//! # Reference
//! Roch & Shen, *Learning informed prior distributions with normalizing flows for
//! Bayesian analysis*; Dinh, Sohl-Dickstein & Bengio (2017), *Density estimation
//! using Real NVP*, ICLR.
#![warn(missing_docs)]

pub mod arch;
pub mod bijector;
pub mod build;
pub mod density;
pub mod error;
pub mod fast;
pub mod fused;
pub mod io;
pub mod kernel;
pub mod layers;
pub mod model;
mod named;
pub mod options;
pub mod params;
pub mod plugin;
pub mod prior;
pub mod spec;
pub mod spline_fused;
pub mod spline_kernel;
pub mod table;
pub mod testdata;
#[cfg(test)]
mod testutil;
pub mod train;
pub mod trainer;

pub use arch::Arch;
pub use density::DiffLogDensity;
pub use error::{FlowError, Result};
pub use model::Flow;
pub use options::{CheckedFlowOptions, FlowOptions};
pub use plugin::FlowPlugin;
pub use prior::{FlowPrior, SourceLogDensity};
pub use spec::{Activation, FlowKind, FlowSpec};
pub use table::FlowTable;
pub use train::{Loss, LrSchedule, TrainMetrics, TrainSettings};
pub use trainer::{train_on_draws, train_on_draws_with, FlowTrainer, NoSources, SourcePosteriors, TrainingDraws};

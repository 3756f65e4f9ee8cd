//! # seqcal-flow: normalizing-flow priors trained on earlier posterior chains
//!
//! The posterior of one calibration stage is known only as a chain of draws;
//! this crate turns it into a smooth, normalized [`seqcal_api::Prior`] for the
//! next stage:
//!
//! - [`layers`]: invertible layers on candle with forward, inverse and `log|det J|`
//!   (RealNVP affine coupling, per-dimension scale-and-shift, ActNorm);
//! - [`flows`]: the layer library beyond RealNVP (ActNorm, MADE / masked affine
//!   autoregressive, rational-quadratic spline coupling and autoregressive layers,
//!   LU-decomposed linear) and the architectures built from it ([`FlowKind`]);
//! - [`fused`] and [`kernel`]: the affine coupling as one candle op with its own
//!   backward pass (fast f32 training on the CPU);
//! - [`fast`]: [`fast::FastFlow`], plain-Rust f64 evaluation of a trained RealNVP flow
//!   (log density and sampling), parallel over fixed blocks of rows;
//! - [`model`]: the architecture `F = L ∘ (A_o ∘ A_e)^N` of the NF-prior paper;
//! - [`bijector`]: logit / log transforms of bounded parameters, so that the
//!   prior has exactly zero mass outside the box and stays normalized;
//! - [`train`]: the NLL, KL and Jeffreys losses (importance weights honoured),
//!   Adam with mini-batches, validation split and early stopping;
//! - [`io`]: safetensors weights with a JSON sidecar;
//! - [`prior`]: [`FlowPrior`], the trained flow as a [`seqcal_api::Prior`].
//!
//! # Reference
//! Roch & Shen, *Learning informed prior distributions with normalizing flows for
//! Bayesian analysis*; Dinh, Sohl-Dickstein & Bengio (2017), *Density estimation
//! using Real NVP*, ICLR.
#![warn(missing_docs)]

pub mod bijector;
pub mod error;
pub mod fast;
pub mod flows;
pub mod fused;
pub mod io;
pub mod kernel;
pub mod layers;
pub mod model;
pub mod prior;
pub mod testdata;
pub mod train;

pub use error::{FlowError, Result};
pub use flows::FlowKind;
pub use layers::Activation;
pub use model::{Flow, FlowSpec};
pub use prior::FlowPrior;
pub use train::{Loss, LrSchedule, TrainMetrics, TrainSettings};

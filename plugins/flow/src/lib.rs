//! # seqcal-flow: normalizing-flow priors trained on earlier posterior chains
//!
//! The posterior of one calibration stage is known only as a chain of draws;
//! this crate turns it into a smooth, normalized [`seqcal_api::Prior`] for the
//! next stage. Planned contents (see the project's issue on flow priors):
//! a flow layer library on candle (RealNVP affine couplings, scale-and-shift,
//! ActNorm, masked affine coupling, rational-quadratic splines, LU
//! permutations), the KL / Jeffreys / NLL training losses, logit handling of
//! box bounds so that the prior has no mass outside the box, safetensors
//! save/load with a JSON sidecar, and `FlowPrior`, registered as prior kind
//! `flow`.
//!
//! It is empty until that work lands; the workspace already links it so the
//! dependency direction (`seqcal-api` <- `seqcal-flow` <- `seqcal`) is fixed.
#![warn(missing_docs)]

//! # seqcal-two-stage: two-stage normalizing-flow composite targets
//!
//! Stage 1 fits forward-KL flows to sub-vectors known only through samples;
//! stage 2 fits a reverse-KL flow to the unnormalized composite target
//! `h(y0) * prod g_i(y_i)`, where `h` holds the analytically known terms
//! (Darvishi et al., *Estimating Complex Densities using Two-Stage
//! Normalizing Flows*). The Two-Stage Fully Bayesian Metropolis-within-Gibbs
//! baseline lives here too, for comparison.
#![warn(missing_docs)]

pub mod examples;
pub mod tsfb;

//! What the executor is given (a [`Job`]) and what it returns (an [`Outcome`]).

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{Array1, Array2, Array3};
use seqcal_api::ParamSpace;

use crate::sampler::contract::{ExtraGroup, Field};
use crate::sampler::posterior::Posterior;
use crate::targets::Transform;
use crate::Result;

/// The chain file a run writes.
#[derive(Debug, Clone)]
pub struct OutputFile<'a> {
    /// Where.
    pub path: &'a Path,
    /// Continue the run stored there (if it holds one) instead of starting over.
    pub resume: bool,
    /// What must not change between a run and its `--resume` (attribute
    /// `run`); `None`: not checked.
    pub identity: Option<String>,
}

/// Everything a run needs besides the sampler's settings.
pub struct Job<'a> {
    /// The posterior.
    pub posterior: &'a Posterior,
    /// Sampler coordinates -> stored parameters (`None`: the same).
    pub transform: Option<&'a dyn Transform>,
    /// The stored parameters (names and bounds of the chain file).
    pub space: &'a ParamSpace,
    /// The sampler's seed.
    pub seed: u64,
    /// Show a progress bar (on a terminal only).
    pub progress: bool,
    /// The chain file, if any.
    pub output: Option<OutputFile<'a>>,
    /// Initial draws in sampler coordinates, `n × dim` for the `n` asked;
    /// called only when the run starts afresh, before the output is created.
    pub start: &'a dyn Fn(usize) -> Result<Array2<f64>>,
    /// Provenance attributes of a new chain file (target, prior, stage, ...).
    pub attrs: BTreeMap<String, String>,
}

impl std::fmt::Debug for Job<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("seed", &self.seed).field("output", &self.output).field("attrs", &self.attrs).finish_non_exhaustive()
    }
}

/// What a run did; [`Outcome::diagnose`] summarizes it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The sampler's kind.
    pub kind: &'static str,
    /// Walkers or particles per row.
    pub draws_per_row: usize,
    /// Steps made by this call.
    pub steps_run: usize,
    /// Steps already in the file before this call (`--resume`).
    pub done_before: usize,
    /// Leading rows dropped from the summaries (recorded as `burn`).
    pub burn: usize,
    /// Seconds of wall time of this call.
    pub wall_seconds: f64,
    /// Likelihood evaluations of this call.
    pub evaluations: u64,
    /// Seconds spent inside the prior and likelihood.
    pub density_seconds: f64,
    /// Evaluations the likelihood rejected (recoverable errors, NaN).
    pub failed_evaluations: u64,
    /// Proposals with a non-finite log posterior (rejected).
    pub non_finite: u64,
    /// Accepted proposals per walker over the whole chain.
    pub accepted: Array1<f64>,
    /// Every row of the chain (resumed part included), stored parameters:
    /// `rows × draws × dim`.
    pub draws: Array3<f64>,
    /// Log posterior of every stored draw, `rows × draws`.
    pub log_prob: Array2<f64>,
    /// Weights of the draws of the last row, for a weighted sampler.
    pub weights: Option<Array1<f64>>,
    /// The last step's named fields.
    pub fields: Vec<Field>,
    /// Walkers stranded in a minor mode at the end.
    pub stranded_now: usize,
    /// Log evidence and its standard error.
    pub log_z: Option<(f64, f64)>,
    /// The sampler's extra results.
    pub extra: Option<ExtraGroup>,
}

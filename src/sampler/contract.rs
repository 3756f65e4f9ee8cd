//! The contract between a sampler and the [`executor`](super::executor).
//!
//! A sampler only samples: it starts from its settings, a seed and the
//! initial draws, makes one step at a time on a [`Posterior`], and can save
//! and restore its whole state. Everything else (the chain file and its
//! provenance, checkpoints, `--resume`, Ctrl-C, the progress bar, the counts
//! and diagnostics of the summary) is the executor's, the same for every
//! sampler. A new sampler is a module under `src/sampler/` implementing
//! [`Sampler`], a variant of [`SamplerSettings`](super::SamplerSettings) and
//! one arm in [`execute`](super::executor::execute).

use std::collections::BTreeMap;

use ndarray::{Array1, Array2, ArrayView2};

use super::posterior::{Evaluation, Posterior};
use crate::chain::SamplerState;
use crate::Result;

/// One named scalar of a step's report or of the final output.
pub type Field = (&'static str, f64);

/// What one step did, for the progress bar and the `--json` summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepReport {
    /// Named scalars, shown in this order on the progress bar (`acceptance`;
    /// `temperature`, `ess`, `calls`, ...). The last step's fields go into
    /// the summary under their names.
    pub fields: Vec<Field>,
    /// Which draws accepted their proposal in this step, when that means
    /// something (counted per walker in the chain's `accepted`).
    pub accepted: Option<Vec<bool>>,
}

/// One row of the chain: every walker's (or particle's) current position in
/// the sampler's coordinates, with its log densities.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// `draws × dim`, sampler coordinates.
    pub positions: ArrayView2<'a, f64>,
    /// One evaluation per draw.
    pub evaluations: &'a [Evaluation],
}

/// A group of extra results a sampler stores in the chain file (e.g. `smc`:
/// the temperature ladder, ESS per step, log Z) and reports in the summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtraGroup {
    /// Group name in the chain file (`mcmc/<name>`).
    pub name: String,
    /// Scalars, stored as attributes and reported in the summary.
    pub scalars: BTreeMap<String, f64>,
    /// 1-D arrays, stored as datasets and reported in the summary.
    pub arrays: BTreeMap<String, Vec<f64>>,
    /// 2-D arrays (`rows × dim`), stored as datasets only (e.g. equal-weight
    /// resampled draws in the sampler's coordinates, mapped by the executor
    /// to the stored parameters when the name is `resampled`).
    pub tables: BTreeMap<String, Array2<f64>>,
}

/// What a sampler leaves when it is done.
#[derive(Debug, Clone, Default)]
pub struct FinalOutput {
    /// The final draws (sampler coordinates) and their evaluations, for a
    /// sampler whose steps write no rows ([`Sampler::row`] is `None`): the
    /// executor stores them as the chain's one row.
    pub draws: Option<(Array2<f64>, Vec<Evaluation>)>,
    /// Importance weight of each final draw (unnormalized, finite, >= 0);
    /// stored as the chain's `weights` and honoured by every reader.
    pub weights: Option<Array1<f64>>,
    /// Log evidence and its standard error, when the sampler estimates them.
    pub log_z: Option<(f64, f64)>,
    /// Extra datasets and attributes for the chain file and the summary.
    pub extra: Option<ExtraGroup>,
}

/// A sampler the executor can drive.
///
/// Implementations must be deterministic given the seed: the same seed,
/// settings and initial draws give the same bytes whatever the thread count
/// (draw random numbers from streams owned by the sampler, never from the
/// order in which a parallel batch finishes), and a sampler restored from a
/// state saved after step `k` must make exactly the steps the original made
/// after `k`.
pub trait Sampler: Sized {
    /// The sampler's settings (a variant of [`SamplerSettings`](super::SamplerSettings)).
    type Config;

    /// The name stored in the chain's `sampler` attribute (`ensemble`, `smc`).
    const KIND: &'static str;

    /// Whether every step appends a row to the chain ([`row`](Self::row) is
    /// `Some`); `false` for a sampler whose output is its final draws.
    const WRITES_ROWS: bool = true;

    /// Draws per row and initial draws asked of the caller (walkers, particles).
    fn draws(config: &Self::Config) -> usize;

    /// Steps to make, if known in advance (the ensemble's iterations); `None`
    /// for a sampler that decides when it is done ([`done`](Self::done)).
    fn planned_steps(config: &Self::Config) -> Option<usize>;

    /// Provenance attributes written once into a new chain file (moves,
    /// particles, ...); the executor adds `sampler`, `seed` and `beta`.
    fn attrs(config: &Self::Config) -> BTreeMap<String, String>;

    /// Starts from `x0` (`draws × dim`, sampler coordinates) with `seed`;
    /// evaluates the initial draws on `posterior`.
    ///
    /// # Errors
    /// Settings that do not fit the problem, initial draws where the
    /// posterior is zero, a fatal density error.
    fn start(config: &Self::Config, posterior: &Posterior, x0: Array2<f64>, seed: u64) -> Result<Self>;

    /// Rebuilds the sampler from a state it [`save`](Self::save)d, with the
    /// same settings and seed; `attrs` are the chain file's attributes.
    ///
    /// # Errors
    /// A state of another sampler, kind or shape.
    fn restore(config: &Self::Config, state: &SamplerState, seed: u64, attrs: &BTreeMap<String, String>) -> Result<Self>;

    /// Makes step `iteration` (1-based over the whole run, resumed steps
    /// included).
    ///
    /// # Errors
    /// A fatal density error; a limit the settings set was reached.
    fn step(&mut self, posterior: &Posterior, iteration: usize) -> Result<StepReport>;

    /// Whether the sampler has reached its end (SMC: the posterior's
    /// temperature). Samplers with [`planned_steps`](Self::planned_steps)
    /// may keep the default `false`.
    fn done(&self) -> bool {
        false
    }

    /// The full state after `iteration` steps: enough to continue bit for
    /// bit. `positions` and the first column of `values` (the log
    /// posterior) must be the current row's when the sampler writes rows
    /// (they are checked against the chain on resume); anything else goes in
    /// `blob` (bytes the sampler alone reads, e.g. a serialized struct).
    /// `accepted` holds the accepted proposals per draw so far.
    fn save(&self, iteration: usize) -> SamplerState;

    /// The row to append to the chain after each step; `None` for a sampler
    /// that does not [`WRITES_ROWS`](Self::WRITES_ROWS) (its output is its
    /// final draws, [`FinalOutput::draws`]).
    fn row(&self) -> Option<Row<'_>>;

    /// Walkers stranded in a minor mode now (reported, not acted on).
    fn stranded(&self) -> usize {
        0
    }

    /// The final output, after the last step.
    fn finish(&mut self) -> FinalOutput;
}

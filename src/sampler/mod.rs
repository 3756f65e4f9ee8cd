//! Samplers, their settings, and the one executor that drives them.
//!
//! - [`Posterior`]: a prior times a (tempered) likelihood, evaluated in
//!   batches, serially or in parallel, with failures counted.
//! - [`contract`]: the [`Sampler`] trait every sampler implements (start,
//!   step, save and restore its state, report, final output).
//! - [`settings`]: [`SamplerSettings`], one enum tagged by `kind`, read the
//!   same from the command line and from pipeline files.
//! - [`executor`]: [`execute`] owns the loop, the chain file, checkpoints,
//!   `--resume`, the progress bar, Ctrl-C and the summary's diagnostics.
//! - [`ensemble`]: the affine-invariant ensemble sampler and its moves.
//! - [`smc`]: tempered sequential Monte Carlo with flow-preconditioned
//!   mutations and the evidence.
//! - [`interrupt`]: Ctrl-C during sampling stops at a consistent checkpoint.

pub mod contract;
pub mod ensemble;
pub mod executor;
pub mod interrupt;
mod posterior;
pub mod settings;
pub mod smc;

pub use contract::{ExtraGroup, FinalOutput, Row, Sampler, StepReport};
pub use executor::{check_problem, execute, run_bytes, Diagnosis, Job, Outcome, OutputFile};
pub use posterior::{Counters, Evaluation, Parallelism, Posterior, Scratch};
pub use settings::{merge_tables, EnsembleConfig, SamplerSettings, SmcConfig};

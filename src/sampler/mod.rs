//! Samplers and the loop that drives them.
//!
//! - [`Posterior`]: a prior times a (tempered) likelihood, evaluated in
//!   batches, serially or in parallel, with failures counted.
//! - [`ensemble`]: the affine-invariant ensemble sampler and its moves.
//! - [`run`]: the driver that owns seeding, progress, checkpointing and
//!   storage, and resumes a killed run bit for bit.
//! - [`interrupt`]: Ctrl-C during sampling stops at a consistent checkpoint.

pub mod ensemble;
pub mod interrupt;
mod posterior;
pub mod run;
pub mod smc;

pub use posterior::{Counters, Evaluation, Parallelism, Posterior, Scratch};

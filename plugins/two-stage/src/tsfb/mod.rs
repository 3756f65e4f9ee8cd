//! TSFB, the two-stage fully Bayesian baseline: Metropolis-within-Gibbs on
//! a composite target that recycles each sample-based component's draws as
//! independence proposals for its block, with the exact Gibbs draw of a
//! hierarchical population mean where the terms allow it.
//!
//! With a block proposed from its own pool (draws of `g_i`), `g_i` cancels
//! from the acceptance ratio, which keeps only the analytic terms minus the
//! divided-out density. The draws can only take values the pool holds, so
//! where the composite puts its mass far from the pool (a software prior far
//! from the population), few pool draws are ever accepted: that is the
//! baseline's weakness the two-stage flows remove.

pub mod mwg;
mod native;
mod run;

pub use mwg::{sweep, Conjugate, PoolBlock, SweepOutput};
pub use run::{run_tsfb, TsfbResult};

/// Settings of a TSFB run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsfbSettings {
    /// Gibbs sweeps in all, burn-in included.
    pub iterations: usize,
    /// Sweeps discarded at the start (the random walks adapt during them).
    pub burn: usize,
    /// Seed of the run's one random stream.
    pub seed: u64,
}

impl Default for TsfbSettings {
    /// 30 000 sweeps, the first 3 000 discarded, seed 0.
    fn default() -> Self {
        TsfbSettings { iterations: 30_000, burn: 3_000, seed: 0 }
    }
}

//! The affine-invariant ensemble sampler.
//!
//! Walkers are split at random into two halves each step; each half moves
//! using the other half's positions (the red/blue split), so the proposals of
//! a half are independent and their posterior evaluations run as one batch,
//! in parallel when that pays. Every walker has its own random stream
//! (ChaCha8, stream = walker index) and the move choice and split use one
//! more stream, so a seed gives the same chain whatever the thread count.
//!
//! # Reference
//! Goodman & Weare (2010), *Ensemble samplers with affine invariance*,
//! CAMCoS 5(1). Foreman-Mackey, Hogg, Lang & Goodman (2013), *emcee: the MCMC
//! hammer*, PASP 125. Ter Braak (2006), *A Markov chain Monte Carlo version of
//! the genetic algorithm Differential Evolution*, Stat. Comput. 16. Ter Braak &
//! Vrugt (2008), *Differential Evolution Markov Chain with snooker updater and
//! fewer chains*, Stat. Comput. 18.

mod algorithm;
mod hyperparams;
mod moves;
mod sampler;

pub use algorithm::{Ensemble, StepReport, STATE_KIND};
pub use hyperparams::{parse_moves, EnsembleSettings, MoveDoc, MoveKind, WeightedMove, MOVES};
pub use sampler::EnsembleSampler;

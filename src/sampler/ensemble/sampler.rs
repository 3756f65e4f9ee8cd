//! The ensemble sampler behind the [`Sampler`] contract: the moves of
//! [`Ensemble`], the relocation of stranded walkers during burn-in and the
//! acceptance counts.

use std::collections::BTreeMap;

use ndarray::{Array1, Array2};

use super::algorithm::Ensemble;
use super::hyperparams::{parse_moves, EnsembleSettings};
use crate::chain::SamplerState;
use crate::sampler::contract::{FinalOutput, Row, Sampler, StepReport};
use crate::sampler::posterior::Posterior;
use crate::sampler::settings::EnsembleConfig;
use crate::Result;

/// Attribute holding the iteration up to which stranded walkers are moved.
const RELOCATE_UNTIL: &str = "relocate_until";

/// The ensemble sampler as the executor drives it.
#[derive(Debug)]
pub struct EnsembleSampler {
    ens: Ensemble,
    accepted: Array1<f64>,
    relocate_until: usize,
    relocated: usize,
    recent_acc: f64,
    steps_seen: usize,
}

impl EnsembleSampler {
    /// The moves and walkers of `config`.
    ///
    /// # Errors
    /// An unknown move.
    pub fn settings(config: &EnsembleConfig) -> Result<EnsembleSettings> {
        Ok(EnsembleSettings { walkers: config.walkers, moves: parse_moves(&config.moves)? })
    }

    /// The iteration up to which stranded walkers are moved: `relocate_stuck`,
    /// else the burn-in of the planned steps.
    pub fn relocate_until(config: &EnsembleConfig) -> usize {
        config.relocate_stuck.unwrap_or_else(|| config.burn_for(config.steps))
    }

    fn wrap(ens: Ensemble, accepted: Array1<f64>, relocate_until: usize) -> Self {
        EnsembleSampler { ens, accepted, relocate_until, relocated: 0, recent_acc: 0.0, steps_seen: 0 }
    }
}

impl Sampler for EnsembleSampler {
    type Config = EnsembleConfig;
    const KIND: &'static str = "ensemble";

    fn draws(config: &EnsembleConfig) -> usize {
        config.walkers
    }

    fn planned_steps(config: &EnsembleConfig) -> Option<usize> {
        Some(config.steps)
    }

    fn attrs(config: &EnsembleConfig) -> BTreeMap<String, String> {
        let moves = Self::settings(config).map(|s| s.moves_spec()).unwrap_or_else(|_| config.moves.clone());
        BTreeMap::from([("moves".to_string(), moves), (RELOCATE_UNTIL.to_string(), Self::relocate_until(config).to_string())])
    }

    fn start(config: &EnsembleConfig, posterior: &Posterior, x0: Array2<f64>, seed: u64) -> Result<Self> {
        let settings = Self::settings(config)?;
        let ens = Ensemble::new(x0, posterior, &settings, seed)?;
        Ok(Self::wrap(ens, Array1::zeros(config.walkers), Self::relocate_until(config)))
    }

    fn restore(config: &EnsembleConfig, state: &SamplerState, seed: u64, attrs: &BTreeMap<String, String>) -> Result<Self> {
        let settings = Self::settings(config)?;
        let ens = Ensemble::from_state(state, &settings, seed)?;
        // A resumed run keeps the relocation window of the run that created the file.
        let stored = attrs.get(RELOCATE_UNTIL).and_then(|v| v.parse().ok());
        let until = config.relocate_stuck.or(stored).unwrap_or_else(|| Self::relocate_until(config));
        Ok(Self::wrap(ens, state.accepted.clone(), until))
    }

    fn step(&mut self, posterior: &Posterior, iteration: usize) -> Result<StepReport> {
        let rep = self.ens.step(posterior)?;
        if iteration <= self.relocate_until && iteration % 50 == 0 {
            self.relocated += self.ens.relocate_stuck();
        }
        let w = rep.accepted.len();
        let n_acc = rep.accepted.iter().filter(|a| **a).count();
        let frac = n_acc as f64 / w as f64;
        self.recent_acc = if self.steps_seen == 0 { frac } else { 0.98 * self.recent_acc + 0.02 * frac };
        self.steps_seen += 1;
        for (a, &ok) in self.accepted.iter_mut().zip(&rep.accepted) {
            *a += ok as u8 as f64;
        }
        Ok(StepReport { fields: vec![("acceptance", self.recent_acc), ("relocated", self.relocated as f64)], accepted: Some(rep.accepted) })
    }

    fn save(&self, iteration: usize) -> SamplerState {
        let mut st = self.ens.state();
        st.iteration = iteration;
        st.accepted.assign(&self.accepted);
        st
    }

    fn row(&self) -> Option<Row<'_>> {
        Some(Row { positions: self.ens.positions().view(), evaluations: self.ens.evaluations() })
    }

    fn stranded(&self) -> usize {
        self.ens.stranded().len()
    }

    fn finish(&mut self) -> FinalOutput {
        FinalOutput::default()
    }
}

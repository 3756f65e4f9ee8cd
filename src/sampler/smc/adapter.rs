//! [`Smc`] behind the [`Sampler`] contract: the executor drives its steps,
//! checkpoints its state bytes, shows temperature, ESS, calls and
//! acceptance, and stores the final weighted particles with the `smc` group
//! (temperature ladder, ESS per step, log Z and its error, calls).

use std::collections::BTreeMap;

use ndarray::{Array1, Array2};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::settings::{Resampling, SmcSettings};
use super::Smc;
use crate::chain::SamplerState;
use crate::sampler::contract::{ExtraGroup, FinalOutput, Row, Sampler, StepReport};
use crate::sampler::posterior::{Evaluation, Posterior};
use crate::sampler::settings::{Resampling as ConfigResampling, SmcConfig};
use crate::{Error, Result};

/// Kind of the stored sampler state.
const STATE_KIND: &str = "smc-v1";

/// The SMC sampler as the executor drives it.
#[derive(Debug)]
pub struct SmcSampler {
    smc: Smc,
    max_calls: Option<u64>,
    resampled: usize,
    seed: u64,
}

impl SmcSampler {
    /// The sampler's settings from the user's.
    pub fn settings(config: &SmcConfig) -> SmcSettings {
        SmcSettings {
            particles: config.particles,
            target_ess: config.target_ess,
            resampling: match config.resampling {
                ConfigResampling::Systematic => Resampling::Systematic,
                ConfigResampling::Residual => Resampling::Residual,
                ConfigResampling::Multinomial => Resampling::Multinomial,
            },
            flow: config.flow,
            ..SmcSettings::default()
        }
    }

    /// The wrapped sampler.
    pub fn smc(&self) -> &Smc {
        &self.smc
    }
}

impl Sampler for SmcSampler {
    type Config = SmcConfig;
    const KIND: &'static str = "smc";
    const WRITES_ROWS: bool = false;

    fn draws(config: &SmcConfig) -> usize {
        config.particles
    }

    fn planned_steps(_config: &SmcConfig) -> Option<usize> {
        None
    }

    fn attrs(config: &SmcConfig) -> BTreeMap<String, String> {
        let s = Self::settings(config);
        BTreeMap::from([
            ("particles".to_string(), s.particles.to_string()),
            ("target_ess".to_string(), s.target_ess.to_string()),
            ("resampling".to_string(), format!("{:?}", s.resampling).to_lowercase()),
            ("flow".to_string(), s.flow.to_string()),
            ("evidence_samples".to_string(), s.evidence_samples.to_string()),
        ])
    }

    /// The initial draws are the sampler's own: `x0` is not used, as SMC
    /// must start from exact draws of its reference (the prior).
    fn start(config: &SmcConfig, posterior: &Posterior, _x0: Array2<f64>, seed: u64) -> Result<Self> {
        let smc = Smc::new(posterior, Self::settings(config), seed)?;
        Ok(SmcSampler { smc, max_calls: config.max_calls, resampled: config.resampled, seed })
    }

    fn restore(config: &SmcConfig, state: &SamplerState, seed: u64, _attrs: &BTreeMap<String, String>) -> Result<Self> {
        if state.kind != STATE_KIND {
            return Err(Error::Usage(format!(
                "cannot resume: the stored sampler state is of kind {:?}, not {STATE_KIND}; start over with --force",
                state.kind
            )));
        }
        let smc = Smc::from_state_bytes(Self::settings(config), seed, &state.blob)?;
        Ok(SmcSampler { smc, max_calls: config.max_calls, resampled: config.resampled, seed })
    }

    fn step(&mut self, posterior: &Posterior, _iteration: usize) -> Result<StepReport> {
        let it = self.smc.step(posterior)?;
        if let Some(max) = self.max_calls {
            if it.calls > max && !self.smc.done() {
                return Err(Error::Usage(format!(
                    "smc: {} likelihood calls made (max_calls = {max}) and the particles are only at temperature {:.4}: raise max_calls",
                    it.calls, it.beta
                )));
            }
        }
        Ok(StepReport {
            fields: vec![("temperature", it.beta), ("ess", it.ess), ("calls", it.calls as f64), ("acceptance", it.accept), ("log_z", it.log_z)],
            accepted: None,
        })
    }

    fn done(&self) -> bool {
        self.smc.done()
    }

    fn save(&self, iteration: usize) -> SamplerState {
        let (positions, values) = match self.smc.particles() {
            Some((x, lp, ll)) => {
                let b = self.smc.beta();
                let values = Array2::from_shape_fn((x.nrows(), 3), |(i, j)| match j {
                    0 => lp[i] + b * ll[i],
                    1 => lp[i],
                    _ => ll[i],
                });
                (x, values)
            }
            None => (Array2::zeros((0, 0)), Array2::zeros((0, 3))),
        };
        SamplerState {
            kind: STATE_KIND.into(),
            accepted: Array1::zeros(positions.nrows()),
            positions,
            values,
            rng: Array2::zeros((0, 2)),
            iteration,
            blob: self.smc.state_bytes(),
        }
    }

    fn row(&self) -> Option<Row<'_>> {
        None
    }

    fn finish(&mut self) -> FinalOutput {
        let Ok(o) = self.smc.output() else {
            return FinalOutput::default();
        };
        let beta = self.smc.beta();
        let evals: Vec<Evaluation> =
            o.log_prior.iter().zip(&o.log_lik).map(|(&lp, &ll)| Evaluation { log_post: lp + beta * ll, log_prior: lp, log_lik: ll }).collect();
        let mut extra = ExtraGroup { name: "smc".into(), ..ExtraGroup::default() };
        let hist = self.smc.history();
        extra.scalars.insert("log_z".into(), o.log_z);
        extra.scalars.insert("log_z_err".into(), o.log_z_err);
        extra.scalars.insert("log_z_path".into(), o.log_z_path.0);
        extra.scalars.insert("log_z_path_err".into(), o.log_z_path.1);
        if let Some((z, e)) = o.log_z_is {
            extra.scalars.insert("log_z_is".into(), z);
            extra.scalars.insert("log_z_is_err".into(), e);
        }
        extra.scalars.insert("likelihood_calls".into(), o.likelihood_calls as f64);
        extra.arrays.insert("temperatures".into(), o.temperatures.clone());
        extra.arrays.insert("ess".into(), o.ess.clone());
        extra.arrays.insert("calls".into(), hist.iter().map(|h| h.calls as f64).collect());
        extra.arrays.insert("acceptance".into(), hist.iter().skip(1).map(|h| h.accept).collect());
        extra.arrays.insert("sweeps".into(), hist.iter().skip(1).map(|h| h.sweeps as f64).collect());
        // Persistent sampling's estimate of the posterior: every stored
        // particle with its weight at the final temperature.
        extra.tables.insert("persistent".into(), o.persistent.0.clone());
        extra.arrays.insert("persistent_weights".into(), o.persistent.1.clone());
        if self.resampled > 0 {
            // Equal-weight draws from the final particles (their weights are equal).
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x2545_f491_4f6c_dd1d);
            let n = o.particles.nrows();
            let idx: Vec<usize> = (0..self.resampled).map(|_| rng.random_range(0..n)).collect();
            extra.tables.insert("resampled".into(), o.particles.select(ndarray::Axis(0), &idx));
        }
        FinalOutput {
            draws: Some((o.particles, evals)),
            weights: Some(Array1::from(o.weights)),
            log_z: Some((o.log_z, o.log_z_err)),
            extra: Some(extra),
        }
    }
}

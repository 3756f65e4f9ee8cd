//! Sampler settings: one serde enum tagged by `kind`, the same from the
//! command line, a stage file's `[sampler]` table and a pipeline's
//! `[defaults.sampler]` or per-stage `sampler` table.
//!
//! Every table is read as it is written (a TOML table), merged key by key
//! ([`merge_tables`]: a stage's keys over the defaults', the command line's
//! flags over a stage file's) and parsed once into [`SamplerSettings`]
//! ([`SamplerSettings::from_table`]), which fills the defaults documented on
//! each field and checks every value. What depends on the problem (walkers
//! against the dimension, the memory a run takes) is checked where the
//! dimension is known, by the sampler itself.
//!
//! ```toml
//! [sampler]
//! kind = "ensemble"        # the default
//! walkers = 32
//! steps = 5000
//!
//! [sampler]
//! kind = "smc"
//! particles = 500
//! target_ess = 0.9
//! ```

use serde::{Deserialize, Serialize};

pub use crate::sampler::smc::{Resampling, SmcSettings};
use crate::{Error, Result};

/// The sampler kinds, in the order `--sampler` and messages list them.
pub const KINDS: [&str; 2] = ["ensemble", "smc"];

/// Keys every kind accepts.
const COMMON_KEYS: [&str; 4] = ["seed", "beta", "checkpoint_every", "kind"];

/// A sampler and its settings (`kind = "ensemble"` or `kind = "smc"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SamplerSettings {
    /// The affine-invariant ensemble sampler.
    Ensemble(EnsembleConfig),
    /// Sequential Monte Carlo: tempered from the prior to the posterior.
    Smc(SmcConfig),
}

/// Settings of the ensemble sampler (`kind = "ensemble"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnsembleConfig {
    /// Walkers, at least twice the number of parameters. Default 32.
    pub walkers: usize,
    /// Total iterations in the chain. Default 5000.
    pub steps: usize,
    /// Leading iterations dropped from summaries, comparisons and the
    /// training of flow priors (they stay in the chain file). Default: a
    /// fifth of `steps`.
    pub burn: Option<usize>,
    /// Moves with weights, e.g. `stretch:0.8,de:0.2`. Default `stretch`.
    pub moves: String,
    /// Seed. Default: 0 for `seqcal sample`; derived from the pipeline's seed
    /// and the stage's name for a pipeline stage.
    pub seed: Option<u64>,
    /// Tempering exponent: posterior = prior × likelihood^beta. Default 1.
    pub beta: f64,
    /// Iterations per flush of the chain file (and its sampler state). Default 100.
    pub checkpoint_every: u64,
    /// During the first this many iterations, every 50 steps, walkers
    /// stranded far below the ensemble are moved onto others (not detailed
    /// balance: keep it within the burn-in). 0 = never. Default: the burn-in.
    pub relocate_stuck: Option<usize>,
}

impl Default for EnsembleConfig {
    fn default() -> Self {
        EnsembleConfig {
            walkers: 32,
            steps: 5000,
            burn: None,
            moves: "stretch".into(),
            seed: None,
            beta: 1.0,
            checkpoint_every: 100,
            relocate_stuck: None,
        }
    }
}

impl EnsembleConfig {
    /// The burn-in: `burn`, else a fifth of `iterations`.
    pub fn burn_for(&self, iterations: usize) -> usize {
        self.burn.unwrap_or(iterations / 5).min(iterations)
    }
}

/// Settings of the SMC sampler (`kind = "smc"`): the algorithm's main keys
/// (with [`SmcSettings`]'s defaults) and the run's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmcConfig {
    /// Particles mutated at each temperature (the final temperature's are
    /// the run's draws). Default 500.
    pub particles: usize,
    /// Fraction of the stored particles (persistent sampling: every
    /// temperature's) the effective sample size of their weights keeps at
    /// each temperature, up to that fraction of twice `particles`, in
    /// (0, 1). Default 0.9.
    pub target_ess: f64,
    /// Resampling scheme: `systematic` (default), `residual` or `multinomial`.
    pub resampling: Resampling,
    /// Precondition the mutations with a normalizing flow fitted to the
    /// particles. Default true.
    pub flow: bool,
    /// Stop after this many likelihood calls (an error: the posterior was
    /// not reached). Default: no limit.
    pub max_calls: Option<u64>,
    /// Seed, as for the ensemble sampler.
    pub seed: Option<u64>,
    /// Tempering exponent of the final posterior. Default 1.
    pub beta: f64,
    /// Temperature steps per flush of the sampler state. Default 1.
    pub checkpoint_every: u64,
    /// Also store this many equal-weight draws resampled from the final
    /// particles (group `smc`, dataset `resampled`). Default 0: none.
    pub resampled: usize,
}

impl Default for SmcConfig {
    fn default() -> Self {
        let a = SmcSettings::default();
        SmcConfig {
            particles: a.particles,
            target_ess: a.target_ess,
            resampling: a.resampling,
            flow: a.flow,
            max_calls: None,
            seed: None,
            beta: 1.0,
            checkpoint_every: 1,
            resampled: 0,
        }
    }
}

impl SmcConfig {
    /// The algorithm's settings: these keys, the algorithm's defaults for the rest.
    pub fn algorithm(&self) -> SmcSettings {
        SmcSettings { particles: self.particles, target_ess: self.target_ess, resampling: self.resampling, flow: self.flow, ..SmcSettings::default() }
    }
}

/// `over` with every key it leaves unset taken from `under`. When both name
/// a `kind` and the kinds differ, only the keys every kind accepts (`seed`,
/// `beta`, `checkpoint_every`) come from `under`: an ensemble's `walkers` in
/// `[defaults.sampler]` does not leak into a stage that asks for `smc`.
pub fn merge_tables(over: &toml::Table, under: &toml::Table) -> toml::Table {
    let kind = |t: &toml::Table| t.get("kind").and_then(toml::Value::as_str).unwrap_or("ensemble").to_string();
    let same = !over.contains_key("kind") || kind(over) == kind(under);
    let mut out = over.clone();
    for (k, v) in under {
        if !out.contains_key(k) && (same || COMMON_KEYS.contains(&k.as_str())) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

impl Default for SamplerSettings {
    fn default() -> Self {
        SamplerSettings::Ensemble(EnsembleConfig::default())
    }
}

impl SamplerSettings {
    /// Parses and checks a sampler table (`kind` defaults to `ensemble`).
    ///
    /// # Errors
    /// An unknown kind or key, a value of the wrong type or out of range; one
    /// message naming the key.
    pub fn from_table(table: &toml::Table) -> Result<Self> {
        let mut t = table.clone();
        let kind = match t.get("kind") {
            None => "ensemble".to_string(),
            Some(toml::Value::String(k)) => k.clone(),
            Some(v) => return Err(Error::Usage(format!("sampler kind = {v}: expected a string, one of {}", KINDS.join(", ")))),
        };
        if !KINDS.contains(&kind.as_str()) {
            return Err(Error::Usage(format!("unknown sampler {kind:?}; samplers: {}", KINDS.join(", "))));
        }
        t.insert("kind".into(), kind.clone().into());
        let s: SamplerSettings =
            toml::Value::Table(t).try_into().map_err(|e: toml::de::Error| Error::Usage(format!("sampler {kind}: {}", e.message())))?;
        s.check()?;
        Ok(s)
    }

    /// The kind's name (`ensemble`, `smc`).
    pub fn kind(&self) -> &'static str {
        match self {
            SamplerSettings::Ensemble(_) => "ensemble",
            SamplerSettings::Smc(_) => "smc",
        }
    }

    /// The explicit seed, if the table gives one.
    pub fn seed(&self) -> Option<u64> {
        match self {
            SamplerSettings::Ensemble(c) => c.seed,
            SamplerSettings::Smc(c) => c.seed,
        }
    }

    /// The tempering exponent of the posterior.
    pub fn beta(&self) -> f64 {
        match self {
            SamplerSettings::Ensemble(c) => c.beta,
            SamplerSettings::Smc(c) => c.beta,
        }
    }

    /// Steps per flush of the chain file and the sampler state.
    pub fn checkpoint_every(&self) -> usize {
        match self {
            SamplerSettings::Ensemble(c) => c.checkpoint_every,
            SamplerSettings::Smc(c) => c.checkpoint_every,
        }
        .max(1) as usize
    }

    /// Checks every value that does not depend on the problem.
    ///
    /// # Errors
    /// The first value out of range, in words.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Usage(format!("sampler {}: {m}", self.kind())));
        let beta = self.beta();
        if !(beta >= 0.0 && beta.is_finite()) {
            return bad(format!("beta = {beta} must be finite and >= 0"));
        }
        if self.checkpoint_every_raw() == 0 {
            return bad("checkpoint_every = 0: at least 1".into());
        }
        match self {
            SamplerSettings::Ensemble(c) => {
                if c.steps == 0 {
                    return bad("steps = 0: at least one iteration".into());
                }
                if let Some(b) = c.burn.filter(|&b| b >= c.steps) {
                    return bad(format!(
                        "burn = {b} is not below steps = {}: burn-in drops the first iterations, the rest are the posterior; lower burn or raise steps",
                        c.steps
                    ));
                }
                crate::sampler::ensemble::parse_moves(&c.moves)?;
            }
            SamplerSettings::Smc(c) => {
                c.algorithm().check()?;
                if c.max_calls == Some(0) {
                    return bad("max_calls = 0: at least one likelihood call".into());
                }
            }
        }
        Ok(())
    }

    /// How large a run is, in words: `32 walkers x 5000 iterations`, `2000 particles`.
    pub fn size_text(&self) -> String {
        match self {
            SamplerSettings::Ensemble(c) => format!("{} walkers x {} iterations", c.walkers, c.steps),
            SamplerSettings::Smc(c) => format!("{} particles", c.particles),
        }
    }

    /// The ensemble's moves as text (`stretch:1`); for SMC its mutation
    /// (`flow-preconditioned` or `random-walk`).
    pub fn moves_text(&self) -> String {
        match self {
            SamplerSettings::Ensemble(c) => crate::sampler::ensemble::parse_moves(&c.moves)
                .map(|m| crate::sampler::ensemble::EnsembleSettings { walkers: c.walkers, moves: m }.moves_spec())
                .unwrap_or_else(|_| c.moves.clone()),
            SamplerSettings::Smc(c) => if c.flow { "flow-preconditioned" } else { "random-walk" }.to_string(),
        }
    }

    fn checkpoint_every_raw(&self) -> u64 {
        match self {
            SamplerSettings::Ensemble(c) => c.checkpoint_every,
            SamplerSettings::Smc(c) => c.checkpoint_every,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> toml::Table {
        toml::from_str(s).unwrap()
    }

    #[test]
    fn an_empty_table_is_the_documented_ensemble_defaults() {
        let s = SamplerSettings::from_table(&toml::Table::new()).unwrap();
        let SamplerSettings::Ensemble(c) = &s else { panic!("{s:?}") };
        assert_eq!((c.walkers, c.steps, c.checkpoint_every, c.burn_for(c.steps)), (32, 5000, 100, 1000));
        assert_eq!(c.moves, "stretch");
        let s = SamplerSettings::from_table(&table("kind = \"smc\"")).unwrap();
        let SamplerSettings::Smc(c) = &s else { panic!("{s:?}") };
        assert_eq!((c.particles, c.target_ess, c.resampling, c.flow), (500, 0.9, Resampling::Systematic, true));
        assert_eq!(c.algorithm(), SmcSettings::default());
    }

    #[test]
    fn unknown_kinds_keys_and_bad_values_are_named() {
        let e = SamplerSettings::from_table(&table("kind = \"hmc\"")).unwrap_err().to_string();
        assert!(e.contains("unknown sampler \"hmc\"; samplers: ensemble, smc"), "{e}");
        let e = SamplerSettings::from_table(&table("walkerz = 3")).unwrap_err().to_string();
        assert!(e.contains("unknown field `walkerz`"), "{e}");
        let e = SamplerSettings::from_table(&table("kind = \"smc\"\nwalkers = 3")).unwrap_err().to_string();
        assert!(e.contains("sampler smc") && e.contains("unknown field `walkers`"), "{e}");
        let e = SamplerSettings::from_table(&table("kind = \"smc\"\ntarget_ess = 1.5")).unwrap_err().to_string();
        assert!(e.contains("target_ess must lie in (0, 1), got 1.5"), "{e}");
        let e = SamplerSettings::from_table(&table("steps = 10\nburn = 10")).unwrap_err().to_string();
        assert!(e.contains("burn = 10 is not below steps = 10"), "{e}");
        let e = SamplerSettings::from_table(&table("moves = \"hop\"")).unwrap_err().to_string();
        assert!(e.contains("unknown move \"hop\""), "{e}");
        let e = SamplerSettings::from_table(&table("kind = \"smc\"\nresampling = \"best\"")).unwrap_err().to_string();
        assert!(e.contains("unknown variant `best`"), "{e}");
    }

    #[test]
    fn merging_keeps_other_kinds_keys_out() {
        let defaults = table("walkers = 64\nseed = 3\nsteps = 100");
        let m = merge_tables(&table("steps = 200"), &defaults);
        assert_eq!(m, table("walkers = 64\nseed = 3\nsteps = 200"));
        let m = merge_tables(&table("kind = \"smc\""), &defaults);
        assert_eq!(m, table("kind = \"smc\"\nseed = 3"));
        assert!(SamplerSettings::from_table(&m).is_ok());
    }
}

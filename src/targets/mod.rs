//! Built-in test targets, selected as `NAME[:key=value,...]`.
//!
//! A [`Target`] is everything a sampler needs to run on a problem without a
//! pipeline: its parameters, its prior (where it has a proper one), its log
//! likelihood, where to start the walkers, and its known log-evidence.
//!
//! Targets whose parameters are constrained (a scale `sigma > 0`, a
//! probability, ordered means) and whose model carries its own, possibly
//! improper, prior (the posteriordb models) are sampled on an unconstrained
//! scale: their [`Target::likelihood`] is the full log posterior in
//! unconstrained coordinates, Jacobian included, [`Target::prior`] is `None`,
//! and [`Target::transform`] maps the sampler's coordinates to the
//! parameters stored in the chain.

mod analytic;
mod external;

pub use external::external;
mod posteriordb;

use seqcal_api::{LogDensity, ParamSpace, Prior};

use crate::{Error, Result};

/// Maps the sampler's coordinates `u` (unconstrained) to the model's
/// parameters `theta` (stored in the chain).
pub trait Transform: Send + Sync {
    /// Names of the sampler's coordinates (e.g. `log_sigma`).
    fn sampler_names(&self) -> Vec<String>;
    /// `theta = T(u)`; `theta` has the length of the target's space.
    fn constrain(&self, u: &[f64], theta: &mut [f64]);
    /// `u = T⁻¹(theta)`, for starting walkers from stored draws; false when
    /// `theta` is outside the support.
    fn unconstrain(&self, theta: &[f64], u: &mut [f64]) -> bool;
}

/// A sampling problem with everything needed to run it.
pub struct Target {
    /// Name as given on the command line (`gaussian`, `arK`, ...).
    pub name: String,
    /// One line: what it is and what makes it hard.
    pub description: String,
    /// Parameters as stored in the chain.
    pub space: ParamSpace,
    /// Proper prior on the sampler's coordinates, or `None` when the
    /// likelihood already holds the model's full log posterior.
    pub prior: Option<Box<dyn Prior>>,
    /// Log likelihood on the sampler's coordinates (the full log posterior when
    /// `prior` is `None`).
    pub likelihood: Box<dyn LogDensity>,
    /// Sampler coordinates -> stored parameters; `None` for the identity.
    pub transform: Option<Box<dyn Transform>>,
    /// Where walkers start when not from the prior (and no `--init` file).
    pub init: Option<Box<dyn Prior>>,
    /// Exact log-evidence `log ∫ prior × likelihood`, where known.
    pub log_z: Option<f64>,
}

/// `key=value` settings of a target spec.
#[derive(Debug, Default, Clone)]
pub struct TargetArgs {
    name: String,
    pairs: Vec<(String, String)>,
    used: std::cell::RefCell<Vec<String>>,
}

impl TargetArgs {
    /// Parses `NAME[:key=value,...]`.
    ///
    /// # Errors
    /// A setting without `=`.
    pub fn parse(spec: &str) -> Result<Self> {
        let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let mut pairs = Vec::new();
        for kv in rest.split(',').filter(|s| !s.trim().is_empty()) {
            let (k, v) = kv.split_once('=').ok_or_else(|| Error::Usage(format!("target setting {kv:?} in {spec:?} must look like key=value")))?;
            pairs.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        Ok(TargetArgs { name: name.trim().to_owned(), pairs, used: Default::default() })
    }

    /// The target's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A numeric setting, or `default`.
    ///
    /// # Errors
    /// A value that does not parse.
    pub fn get<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T> {
        self.used.borrow_mut().push(key.to_owned());
        match self.pairs.iter().find(|(k, _)| k == key) {
            None => Ok(default),
            Some((_, v)) => v.parse().map_err(|_| Error::Usage(format!("target {}: {key}={v} is not a valid value", self.name))),
        }
    }

    /// Errors on settings no getter asked for (typos).
    ///
    /// # Errors
    /// The first unknown setting, with the known ones.
    pub fn finish(&self) -> Result<()> {
        let used = self.used.borrow();
        if let Some((k, _)) = self.pairs.iter().find(|(k, _)| !used.contains(k)) {
            return Err(Error::Usage(format!("target {} has no setting {k:?}; it takes: {}", self.name, if used.is_empty() { "none".to_string() } else { used.join(", ") })));
        }
        Ok(())
    }
}

/// A registry entry: name, one-line description and constructor.
pub struct TargetEntry {
    /// Name used in `--target`.
    pub name: &'static str,
    /// Settings and what the target is.
    pub help: &'static str,
    /// Builds the target from its settings.
    pub build: fn(&TargetArgs) -> Result<Target>,
}

/// Every built-in target.
pub fn registry() -> Vec<TargetEntry> {
    let mut v = analytic::entries();
    v.extend(posteriordb::entries());
    v.sort_by_key(|e| e.name);
    v
}

/// Builds a target from `NAME[:key=value,...]`.
///
/// # Errors
/// Unknown name (the error lists the known ones), bad settings.
pub fn build(spec: &str) -> Result<Target> {
    let args = TargetArgs::parse(spec)?;
    let reg = registry();
    let entry = reg.iter().find(|e| e.name == args.name()).ok_or_else(|| {
        Error::Usage(format!(
            "unknown target {:?}; built-in targets: {} (or cmd:COMMAND for an external model; see `seqcal sample --list-targets`)",
            args.name(),
            reg.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
        ))
    })?;
    let t = (entry.build)(&args)?;
    args.finish()?;
    Ok(t)
}

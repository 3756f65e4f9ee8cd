//! The [`Target`] type: a sampling problem with its parameters, prior,
//! likelihood and transform, and the `key=value` settings it is built from.

use std::sync::Arc;

use seqcal_api::{LogDensity, ParamSpace, Prior};

use super::transform::{PulledBack, Transform};
use crate::{Error, Result};

/// A sampling problem with everything needed to run it.
#[derive(Debug)]
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
    pub transform: Option<Arc<dyn Transform>>,
    /// Where walkers start when not from the prior (and no `--init` file).
    pub init: Option<Box<dyn Prior>>,
    /// Exact log-evidence `log ∫ prior × likelihood`, where known.
    pub log_z: Option<f64>,
    /// What a prior given by the user (`--prior`) does: see [`PriorUse`].
    pub prior_use: PriorUse,
}

/// What a prior given by the user does to a [`Target`]
/// ([`Target::set_prior`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PriorUse {
    /// It takes the place of [`Target::prior`] (the built-in analytic
    /// targets: their prior is separate from their likelihood).
    Replaces,
    /// It multiplies into the likelihood, which may already hold the
    /// model's own priors (external models). A prior on constrained stored
    /// parameters is pulled back to the sampler's coordinates through the
    /// target's transform, log-Jacobian included.
    Multiplies,
    /// It is refused: the likelihood already is the model's full posterior
    /// on a transformed scale (the posteriordb targets).
    Refused,
}

impl Target {
    /// Uses `prior`, a prior over the stored parameters ([`Target::space`]),
    /// as [`PriorUse`] says.
    ///
    /// # Errors
    /// A target that refuses a prior; a prior whose parameters are not the
    /// target's.
    pub fn set_prior(&mut self, prior: Box<dyn Prior>) -> Result<()> {
        if self.prior_use == PriorUse::Refused {
            return Err(Error::Usage(format!("target {} carries its own prior on a transformed scale; a prior cannot replace it", self.name)));
        }
        if prior.names() != self.space.names() {
            return Err(Error::Usage(format!(
                "the prior is over [{}] but the parameters of target {} are [{}]",
                prior.names().join(", "),
                self.name,
                self.space.names().join(", ")
            )));
        }
        self.prior = Some(match &self.transform {
            None => prior,
            Some(t) => Box::new(PulledBack::new(prior, Arc::clone(t))?),
        });
        Ok(())
    }
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
            return Err(Error::Usage(format!(
                "target {} has no setting {k:?}; it takes: {}",
                self.name,
                if used.is_empty() { "none".to_string() } else { used.join(", ") }
            )));
        }
        Ok(())
    }
}

/// A registry entry: name, one-line description and constructor.
#[derive(Debug)]
pub struct TargetEntry {
    /// Name used in `--target`.
    pub name: &'static str,
    /// Settings and what the target is.
    pub help: &'static str,
    /// Builds the target from its settings.
    pub build: fn(&TargetArgs) -> Result<Target>,
}

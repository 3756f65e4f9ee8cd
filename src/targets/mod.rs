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
//!
//! `cmd:COMMAND` is a model in another process ([`external`](mod@external)); it may
//! declare constrained parameters, stored through a [`transform`].

mod analytic;
pub mod external;
mod posteriordb;
mod target;
pub mod transform;

pub use external::external;
pub use target::{PriorUse, Target, TargetArgs, TargetEntry};
pub use transform::Transform;

use crate::{Error, Result};

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

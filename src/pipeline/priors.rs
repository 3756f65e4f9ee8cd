//! A stage's prior table: walking it and the check, before anything runs,
//! that every kind is registered and every table's settings parse. Flow
//! priors trained on a chain are trained by seqcal-flow's
//! [`FlowTrainer`](seqcal_flow::FlowTrainer); the pipeline only hands it the
//! finished stages' chains through a [`ChainFiles`](crate::prior::ChainFiles)
//! source.

use crate::prior::PriorRegistry;
use crate::{Error, Result};
use seqcal_api::PriorFactory;

/// Calls `f` on every prior table in `t` (a table with a `kind` key, `t`
/// itself included), parents before the tables nested in them (`base`,
/// `blocks`, a mixture's components).
pub(super) fn for_each_prior(t: &mut toml::Table, f: &mut impl FnMut(&mut toml::Table) -> Result<()>) -> Result<()> {
    if t.contains_key("kind") {
        f(t)?;
    }
    for (_, v) in t.iter_mut() {
        match v {
            toml::Value::Table(inner) => for_each_prior(inner, f)?,
            toml::Value::Array(items) => {
                for i in items.iter_mut().filter_map(|i| i.as_table_mut()) {
                    for_each_prior(i, f)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks a stage's prior table before anything runs: every kind is
/// registered and every table's settings parse (the plugin's own check).
pub(super) fn check_prior(prior: &toml::Table, registry: &PriorRegistry, in_stage: &dyn Fn(String) -> Error) -> Result<()> {
    let known = registry.kinds();
    let mut prior = prior.clone();
    for_each_prior(&mut prior, &mut |t| {
        let kind = t.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
        if !known.iter().any(|k| k == kind) {
            return Err(in_stage(format!("unknown prior kind {kind:?}; known kinds: {}", known.join(", "))));
        }
        registry.check(t).map_err(|e| in_stage(format!("prior: {e}")))
    })
}

/// The files a stage's prior table reads (flow models, chains), resolved by
/// the caller: their bytes go into the stage's cache key.
pub(super) fn prior_input_files(prior: &toml::Table, registry: &PriorRegistry) -> Vec<String> {
    let mut prior = prior.clone();
    let mut files = Vec::new();
    let _ = for_each_prior(&mut prior, &mut |t| {
        files.extend(registry.input_files(t));
        Ok(())
    });
    files
}

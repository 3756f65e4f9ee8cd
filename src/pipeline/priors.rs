//! A stage's prior table: walking it, the `[defaults.flow]` keys, the check
//! that every kind is registered, and the training of every `flow` table
//! with `from = "<stage>"` or `chain = "file.h5"` (on the chain after its
//! burn-in, saved next to the stage's chain so the report holds it).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use seqcal_api::PriorFactory;
use seqcal_flow::FlowPrior;

use super::context::RunContext;
use crate::chain;
use crate::prior::flow::{options_from_table, train_on_chain};
use crate::prior::PriorRegistry;
use crate::{Error, Result};

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

/// Calls `f` on every `flow` table in a prior table (itself included).
pub(super) fn for_each_flow(t: &mut toml::Table, f: &mut impl FnMut(&mut toml::Table) -> Result<()>) -> Result<()> {
    for_each_prior(t, &mut |t| if t.get("kind").and_then(|k| k.as_str()) == Some("flow") { f(t) } else { Ok(()) })
}

/// Fills every `flow` table's unset training keys from `[defaults.flow]`.
pub(super) fn merge_flow_defaults(t: &mut toml::Table, defaults: &toml::Table) {
    let _ = for_each_flow(t, &mut |t| {
        for (k, v) in defaults {
            t.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Ok(())
    });
}

/// Checks a stage's prior table before anything runs: every kind is
/// registered, every flow table's training settings parse.
pub(super) fn check_prior(prior: &toml::Table, registry: &PriorRegistry, in_stage: &dyn Fn(String) -> Error) -> Result<()> {
    let known = registry.kinds();
    let mut prior = prior.clone();
    for_each_prior(&mut prior, &mut |t| {
        let kind = t.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
        if !known.iter().any(|k| k == kind) {
            return Err(in_stage(format!("unknown prior kind {kind:?}; known kinds: {}", known.join(", "))));
        }
        if kind == "flow" && (t.contains_key("from") || t.contains_key("chain")) {
            options_from_table(t).map_err(|e| in_stage(format!("prior: {e}")))?;
        }
        Ok(())
    })
}

/// Trains the flow priors of a run's stages.
pub(super) struct FlowTrainer<'a> {
    /// The run's inputs.
    pub ctx: RunContext<'a>,
    /// Burn-in of every finished stage, by name.
    pub burn: BTreeMap<String, usize>,
    /// Flows trained in this run, by source chain and training settings: two
    /// stages whose priors train the same flow on the same chain (B → A with
    /// and without a defensive mixture) share one training. Training is
    /// seeded, so the copy is exactly what a second training would give.
    pub trained: RefCell<BTreeMap<String, PathBuf>>,
}

impl FlowTrainer<'_> {
    /// Replaces every `flow` table trained on a chain by one that loads the
    /// model trained here (saved in `stage_dir`); returns the trained flows.
    pub(super) fn train_flows(&self, prior: &mut toml::Table, stage_dir: &Path) -> Result<Vec<(String, FlowPrior)>> {
        let mut flows = Vec::new();
        let mut k = 0;
        let RunContext { pipeline: p, source, layout, space, say } = self.ctx;
        for_each_flow(prior, &mut |t| {
            let (chain_path, burn, label) = if let Some(from) = t.get("from").and_then(|v| v.as_str()) {
                let burn = *self.burn.get(from).ok_or_else(|| Error::Usage(format!("stage {from:?} has no result: run it first")))?;
                (layout.chain(from), burn, format!("stage {from}"))
            } else if let Some(c) = t.get("chain").and_then(|v| v.as_str()) {
                (p.resolve(Path::new(c)), 0, c.to_string())
            } else {
                if let Some(m) = t.get("model").and_then(|v| v.as_str()) {
                    let path = p.resolve(Path::new(m));
                    let f = FlowPrior::load(&path).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
                    flows.push((m.to_string(), f));
                }
                return Ok(());
            };
            let opts = options_from_table(t).map_err(|e| Error::config(source, e.to_string()))?;
            let name = if k == 0 { "flow_prior.safetensors".to_string() } else { format!("flow_prior_{k}.safetensors") };
            k += 1;
            let path = stage_dir.join(&name);
            let key = format!("{}|{burn}|{opts:?}", chain_path.display());
            let earlier = self.trained.borrow().get(&key).cloned();
            let flow = match earlier {
                Some(src) => {
                    for (from, to) in [(src.clone(), path.clone()), (src.with_extension("json"), path.with_extension("json"))] {
                        std::fs::copy(&from, &to).map_err(|e| Error::io(&to, e))?;
                    }
                    say.say(format!("  the flow prior on {label} with these settings was trained earlier in this run: reusing {}", src.display()));
                    FlowPrior::load(&path).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?
                }
                None => {
                    let chain = chain::read_any(&chain_path)?.discard(burn);
                    let n = chain.iterations() * chain.walkers();
                    say.say(format!("  training a flow prior on {label} ({n} draws, loss {:?}, {} steps)", opts.train.loss, opts.train.steps));
                    let mut opts = opts;
                    opts.train.quiet = !say.0;
                    let t0 = Instant::now();
                    let flow = train_on_chain(&chain, &chain_path, Some(space), &opts)?;
                    flow.save(&path).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
                    say.say(format!("  flow trained in {:.1} s -> {}", t0.elapsed().as_secs_f64(), path.display()));
                    self.trained.borrow_mut().insert(key, path.clone());
                    flow
                }
            };
            for key in ["from", "chain"] {
                t.remove(key);
            }
            // Absolute: the prior builder resolves relative paths against the
            // pipeline file's folder, not the working directory `--runs-dir` is relative to.
            let abs = std::path::absolute(&path).map_err(|e| Error::io(&path, e))?;
            t.insert("model".into(), abs.display().to_string().into());
            flows.push((label, flow));
            Ok(())
        })?;
        Ok(flows)
    }
}

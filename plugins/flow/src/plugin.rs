//! [`FlowPlugin`]: the prior kind `flow` for seqcal's prior registry (see
//! [`crate::table`] for the table).
//!
//! # Reference
//! Roch & Shen, *Learning informed prior distributions with normalizing flows for
//! Bayesian analysis*.

use seqcal_api::{DefensiveMixture, KeyDoc, Prior, PriorError, PriorPlugin, StageContext};
use toml::{Table, Value};

use crate::options::{FlowOptions, OPTION_HELP};
use crate::table::{FlowSource, FlowTable, KIND};
use crate::trainer::flow_of;

/// The `flow` prior plugin: a normalizing flow loaded from a model file or
/// trained on a chain the context provides, optionally in a defensive mixture
/// with a base prior.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowPlugin;

impl PriorPlugin for FlowPlugin {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn summary(&self) -> &'static str {
        "normalizing flow trained on a chain: model = \"f.safetensors\" | chain = \"c.h5\" | from = \"<stage>\", training settings, epsilon + base for a defensive mixture"
    }

    fn build(&self, t: &Table, ctx: &StageContext<'_>) -> Result<Box<dyn Prior>, PriorError> {
        let table = FlowTable::parse(t)?;
        let (_, flow) = flow_of(&table, ctx)?;
        if let Some(space) = ctx.space {
            if flow.names() != space.names() {
                return Err(PriorError::spec(
                    KIND,
                    format!("the flow is over [{}] but the stage's parameters are [{}]", flow.names().join(", "), space.names().join(", ")),
                ));
            }
        }
        match table.mixture {
            None => Ok(Box::new(flow)),
            Some((eps, base)) => {
                let base = ctx.factory.build(&base, ctx)?;
                Ok(Box::new(DefensiveMixture::new(Box::new(flow), base, eps)?))
            }
        }
    }

    fn check(&self, t: &Table) -> Result<(), PriorError> {
        let table = FlowTable::parse(t)?;
        if !matches!(table.source, FlowSource::Model(_)) {
            table.options.check().map_err(|e| PriorError::spec(KIND, e.to_string()))?;
            crate::trainer::check_source(&table)?;
        }
        Ok(())
    }

    fn input_files(&self, t: &Table) -> Vec<String> {
        ["chain", "model"].iter().filter_map(|k| t.get(*k).and_then(Value::as_str)).map(str::to_owned).collect()
    }

    fn keys(&self) -> Vec<KeyDoc> {
        let defaults = FlowOptions::default_values();
        let doc = |name: &str, default: Option<String>, help: &str| KeyDoc { name: name.into(), default, help: help.into() };
        let mut keys = vec![
            doc("model", None, "a trained model (.safetensors, its .json sidecar beside it); or"),
            doc("chain", None, "train on this chain file (.h5 or .csv); or"),
            doc("from", None, "train on this earlier stage's chain, after its burn-in"),
        ];
        for (name, help) in OPTION_HELP {
            keys.push(doc(name, defaults.get(*name).map(Value::to_string), help));
        }
        keys.push(doc("epsilon", None, "weight of `base` in a defensive mixture (1-epsilon) flow + epsilon base"));
        keys.push(doc("base", None, "the mixture's base prior, a table with its own kind"));
        keys
    }
}

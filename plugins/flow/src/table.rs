//! The `flow` prior table:
//!
//! ```toml
//! kind = "flow"
//! model = "prior.safetensors"        # a trained model (sidecar prior.json next to it), or
//! chain = "stage1.h5"                # train on a chain file, or
//! from = "stage1"                    # train on an earlier stage's chain (after its burn-in)
//! loss = "kl"                        # training settings: see FlowOptions (all optional)
//! layers = 6
//! epsilon = 0.05                     # optional defensive mixture with `base`
//! base = { kind = "uniform", bounds = [[0, 1], [0, 1]] }
//! ```
//!
//! [`FlowTable::parse`] reads one (unknown keys refused, listing the known
//! ones); [`for_each_flow`] finds every `flow` table inside a prior table (a
//! mixture's component, a product's block) and [`merge_defaults`] fills their
//! unset keys from a pipeline's `[defaults.flow]`.

use seqcal_api::{check_keys, field_names, parse_table, PriorError};
use serde::Deserialize;
use toml::{Table, Value};

use crate::options::FlowOptions;

/// The prior kind this crate registers.
pub const KIND: &str = "flow";

/// Where a `flow` table's flow comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowSource {
    /// `model = "file.safetensors"`: a trained model.
    Model(String),
    /// `chain = "file.h5"`: train on a chain file.
    Chain(String),
    /// `from = "<stage>"`: train on an earlier stage's chain.
    Stage(String),
}

/// The keys of a `flow` table besides the training settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SourceKeys {
    model: Option<String>,
    chain: Option<String>,
    from: Option<String>,
    epsilon: Option<f64>,
    base: Option<Table>,
}

/// A parsed `flow` table.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowTable {
    /// Where the flow comes from.
    pub source: FlowSource,
    /// Training settings (used when the source is a chain).
    pub options: FlowOptions,
    /// `(epsilon, base)` of a defensive mixture `(1-ε)·flow + ε·base`.
    pub mixture: Option<(f64, Table)>,
}

impl FlowTable {
    /// Every key a `flow` table takes, in the order messages list them.
    pub fn keys() -> Vec<&'static str> {
        let src = field_names::<SourceKeys>();
        let mut keys = src[..3].to_vec();
        keys.extend(field_names::<FlowOptions>());
        keys.extend(&src[3..]);
        keys
    }

    /// Parses a `flow` table (its `kind` key included or not).
    ///
    /// # Errors
    /// An unknown key (the message lists the known ones), a value of the wrong
    /// type, not exactly one of `model`, `chain`, `from`, or only one of
    /// `epsilon` and `base`.
    pub fn parse(t: &Table) -> Result<Self, PriorError> {
        check_keys(KIND, t, &Self::keys())?;
        let option_keys = field_names::<FlowOptions>();
        let (opts, src): (Table, Table) = t.iter().map(|(k, v)| (k.clone(), v.clone())).partition(|(k, _)| option_keys.contains(&k.as_str()));
        let options: FlowOptions = parse_table(KIND, &opts)?;
        let s: SourceKeys = parse_table(KIND, &src)?;
        let source = match (s.model, s.chain, s.from) {
            (Some(m), None, None) => FlowSource::Model(m),
            (None, Some(c), None) => FlowSource::Chain(c),
            (None, None, Some(f)) => FlowSource::Stage(f),
            _ => return Err(PriorError::spec(KIND, "give exactly one of model = \"prior.safetensors\", chain = \"file.h5\" or from = \"<stage>\"")),
        };
        let mixture = match (s.epsilon, s.base) {
            (None, None) => None,
            (Some(e), Some(b)) => Some((e, b)),
            _ => {
                return Err(PriorError::spec(
                    KIND,
                    "a defensive mixture needs both epsilon (e.g. 0.05) and base = { kind = ... } (the stage's base prior)",
                ))
            }
        };
        Ok(FlowTable { source, options, mixture })
    }
}

/// Calls `f` on every `flow` table in `t` (`t` itself included), parents
/// before the tables nested in them, keys in the table's order.
///
/// # Errors
/// The first error of `f`.
pub fn for_each_flow<E>(t: &mut Table, f: &mut impl FnMut(&mut Table) -> Result<(), E>) -> Result<(), E> {
    if t.get("kind").and_then(Value::as_str) == Some(KIND) {
        f(t)?;
    }
    for (_, v) in t.iter_mut() {
        match v {
            Value::Table(inner) => for_each_flow(inner, f)?,
            Value::Array(items) => {
                for i in items.iter_mut().filter_map(Value::as_table_mut) {
                    for_each_flow(i, f)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Fills every `flow` table's unset keys in `prior` from `defaults` (a
/// pipeline's `[defaults.flow]`).
pub fn merge_defaults(prior: &mut Table, defaults: &Table) {
    let _ = for_each_flow(prior, &mut |t| -> Result<(), ()> {
        for (k, v) in defaults {
            t.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Ok(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FlowTable, String> {
        FlowTable::parse(&text.parse().unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn tables_parse_with_their_settings_and_mistakes_are_named() {
        let t = parse(
            "kind = \"flow\"\nfrom = \"A\"\narch = \"nsf_ar\"\nbins = 4\ntail_bound = 3.0\nlu = true\nepsilon = 0.1\nbase = { kind = \"uniform\" }",
        )
        .unwrap();
        assert_eq!(t.source, FlowSource::Stage("A".into()));
        assert_eq!((t.options.arch, t.options.bins, t.options.tail_bound, t.options.lu), (crate::Arch::Kind(crate::FlowKind::NsfAr), 4, 3.0, true));
        assert_eq!(t.mixture.as_ref().map(|m| m.0), Some(0.1));
        assert_eq!(parse("model = \"m.safetensors\"").unwrap().options, FlowOptions::default());
        for (text, want) in [
            ("from = \"A\"\nlayer = 2", "unknown key \"layer\"; this prior takes: model, chain, from, loss, layers, hidden, depth, activation, actnorm, arch, bins, tail_bound, lu, steps, batch, lr, lr_schedule, seed, val_fraction, stop_at_floor, ema, reverse_draws, bounded, epsilon, base"),
            ("from = \"A\"\narch = \"glow\"", "unknown flow architecture \"glow\""),
            ("from = \"A\"\nlu = 1", "\"lu\" must be true or false, got 1"),
            ("from = \"A\"\nhidden = -3", "\"hidden\" must be a non-negative integer, got -3"),
            ("from = \"A\"\nlr = \"fast\"", "\"lr\" must be a number, got \"fast\""),
            ("from = \"A\"\nchain = \"c.h5\"", "exactly one of"),
            ("layers = 2", "exactly one of"),
            ("from = \"A\"\nepsilon = 0.1", "needs both epsilon"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.starts_with("prior \"flow\": ") && e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn defaults_fill_every_nested_flow_table_without_overriding() {
        let mut prior: Table =
            "kind = \"mixture\"\nepsilon = 0.1\nmain = { kind = \"flow\", from = \"A\", steps = 7 }\ndefensive = { kind = \"uniform\" }"
                .parse()
                .unwrap();
        merge_defaults(&mut prior, &"steps = 100\nloss = \"nll\"".parse().unwrap());
        let main = prior["main"].as_table().unwrap();
        assert_eq!((main["steps"].as_integer(), main["loss"].as_str()), (Some(7), Some("nll")));
        assert!(!prior["defensive"].as_table().unwrap().contains_key("loss"));
        let mut n = 0;
        for_each_flow(&mut prior, &mut |_| -> Result<(), ()> {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 1);
    }
}

//! Value types of the built-in priors' tables (parsed with
//! [`seqcal_api::parse_table`]) and the lookups every leaf prior shares:
//! names and bounds from the table or else from the stage.

use std::fmt;

use seqcal_api::{KeyDoc, ParamSpace, PriorError, StageContext};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// A bound: a number, or `"inf"` / `"-inf"` (TOML's `inf` works too).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Num(pub f64);

struct NumVisitor;

impl Visitor<'_> for NumVisitor {
    type Value = Num;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, \"inf\" or \"-inf\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
        Ok(Num(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
        Ok(Num(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
        Ok(Num(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
        match v {
            "inf" | "+inf" => Ok(Num(f64::INFINITY)),
            "-inf" => Ok(Num(f64::NEG_INFINITY)),
            _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumVisitor)
    }
}

/// One number per parameter, or one number for all of them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PerParam {
    /// The same value for every parameter.
    One(f64),
    /// One value per parameter.
    Each(Vec<f64>),
}

struct PerParamVisitor;

impl<'de> Visitor<'de> for PerParamVisitor {
    type Value = PerParam;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or a list of numbers")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<PerParam, E> {
        Ok(PerParam::One(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<PerParam, E> {
        Ok(PerParam::One(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<PerParam, E> {
        match NumVisitor.visit_str::<E>(v) {
            Ok(Num(x)) => Ok(PerParam::One(x)),
            Err(_) => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PerParam, A::Error> {
        let mut out = Vec::new();
        while let Some(Num(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(PerParam::Each(out))
    }
}

impl<'de> Deserialize<'de> for PerParam {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PerParamVisitor)
    }
}

impl PerParam {
    /// The `dim` values of key `key` (`missing` when the key is absent).
    pub(crate) fn values(v: Option<&PerParam>, kind: &str, key: &str, dim: usize) -> Result<Vec<f64>, PriorError> {
        match v {
            None => Err(PriorError::spec(kind, format!("missing key {key:?} (one number per parameter)"))),
            Some(PerParam::One(x)) => Ok(vec![*x; dim]),
            Some(PerParam::Each(list)) if list.len() == dim => Ok(list.clone()),
            Some(PerParam::Each(list)) => {
                Err(PriorError::spec(kind, format!("{key:?} has {} values but the prior has {dim} parameters", list.len())))
            }
        }
    }
}

/// `[lower, upper]` of one parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BoundPair(pub f64, pub f64);

impl<'de> Deserialize<'de> for BoundPair {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BoundPair;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a [lower, upper] pair")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BoundPair, A::Error> {
                let lower: Num = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let upper: Num = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
                if seq.next_element::<Num>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                Ok(BoundPair(lower.0, upper.0))
            }
        }
        d.deserialize_any(V)
    }
}

/// `names` from the table, or else the stage's names.
pub(crate) fn names(names: Option<Vec<String>>, kind: &str, ctx: &StageContext<'_>) -> Result<Vec<String>, PriorError> {
    match names {
        Some(n) => Ok(n),
        None => ctx
            .space
            .map(|s| s.names().to_vec())
            .ok_or_else(|| PriorError::spec(kind, "missing key \"names\" (the parameter names this prior is over)")),
    }
}

/// Bounds from the table, else from the stage's space when the names match.
pub(crate) fn bounds_or_stage(bounds: Option<Vec<BoundPair>>, names: &[String], ctx: &StageContext<'_>) -> Option<Vec<(f64, f64)>> {
    match bounds {
        Some(b) => Some(b.into_iter().map(|BoundPair(l, u)| (l, u)).collect()),
        None => ctx.space.filter(|s| s.names() == names).map(|s| s.bounds().to_vec()),
    }
}

/// A space with the given names and bounds; errors name the prior kind.
pub(crate) fn space(kind: &str, names: Vec<String>, bounds: Vec<(f64, f64)>) -> Result<ParamSpace, PriorError> {
    ParamSpace::new(names, bounds).map_err(|e| PriorError::spec(kind, e.to_string()))
}

/// A key without a default, for listings.
pub(crate) fn key(name: &str, help: &str) -> KeyDoc {
    KeyDoc { name: name.into(), default: None, help: help.into() }
}

/// The registry entry of a built-in kind: `pub struct $plugin;` whose
/// [`PriorPlugin`](seqcal_api::PriorPlugin) parses a table into the serde
/// type `$options` (unknown keys refused) and builds the prior with its
/// `check(ctx)`, documenting each key as `key => help`.
macro_rules! builtin_plugin {
    ($(#[$doc:meta])* $plugin:ident, $options:ty, $kind:literal, $summary:expr, { $($key:literal => $help:expr),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $plugin;

        impl seqcal_api::PriorPlugin for $plugin {
            fn kind(&self) -> &'static str {
                $kind
            }
            fn summary(&self) -> &'static str {
                $summary
            }
            fn build(
                &self,
                t: &toml::Table,
                ctx: &seqcal_api::StageContext<'_>,
            ) -> Result<Box<dyn seqcal_api::Prior>, seqcal_api::PriorError> {
                Ok(Box::new(seqcal_api::parse_table::<$options>($kind, t)?.check(ctx)?))
            }
            fn keys(&self) -> Vec<seqcal_api::KeyDoc> {
                vec![$($crate::prior::spec::key($key, $help)),*]
            }
        }
    };
}
pub(crate) use builtin_plugin;

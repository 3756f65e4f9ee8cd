//! Terms from TOML tables: `{ kind = "normal", mean = 0, sd = [1, 2] }` and the like.

use std::sync::Arc;

use toml::{Table, Value};

use super::library::{Flat, HierarchicalNormal, LogNormal, Normal, Uniform};
use crate::error::{Result, TwoStageError};
use seqcal_flow::density::DiffLogDensity;

/// The kinds [`term_from_table`] knows, with their fields.
pub const TERM_KINDS: &[(&str, &str)] = &[
    ("normal", "mean, sd (numbers or arrays, one per coordinate)"),
    ("lognormal", "mu, sigma (numbers or arrays): log x ~ N(mu, sigma^2)"),
    ("uniform", "lower, upper (numbers or arrays)"),
    ("flat", "no fields"),
    ("hierarchical_normal", "tau: on (theta_1..theta_k, gamma), theta_i ~ N(gamma, tau^2)"),
];

/// Keys a term table may carry that belong to the file around it, not to the term.
const OUTER_KEYS: &[&str] = &["kind", "coords", "label", "names"];

/// Builds the analytic term `kind` on `dim` coordinates from the fields of
/// `table` (keys `kind`, `coords`, `label` and `names` are the caller's and
/// are ignored). Kinds: see [`TERM_KINDS`]; `log-normal`, `log_normal`,
/// `hierarchical-normal` and `hierarchical` are accepted too.
///
/// # Errors
/// An unknown kind, a missing or unknown field, a value of the wrong type or
/// length, a non-positive scale, an empty or reversed interval: one message
/// naming the field.
pub fn term_from_table(kind: &str, table: &Table, dim: usize) -> Result<Arc<dyn DiffLogDensity>> {
    let canon = kind.trim().to_ascii_lowercase().replace('-', "_");
    let known: &[&str] = match canon.as_str() {
        "normal" => &["mean", "sd"],
        "lognormal" | "log_normal" => &["mu", "sigma"],
        "uniform" => &["lower", "upper"],
        "flat" => &[],
        "hierarchical_normal" | "hierarchical" => &["tau"],
        _ => {
            let kinds: Vec<&str> = TERM_KINDS.iter().map(|k| k.0).collect();
            return Err(TwoStageError::invalid(format!("unknown term kind {kind:?}: use {}", kinds.join(", "))));
        }
    };
    if let Some(k) = table.keys().find(|k| !known.contains(&k.as_str()) && !OUTER_KEYS.contains(&k.as_str())) {
        let fields = if known.is_empty() { "none".to_string() } else { known.join(", ") };
        return Err(TwoStageError::invalid(format!("term {kind:?}: unknown field {k:?} (its fields: {fields})")));
    }
    if dim == 0 {
        return Err(TwoStageError::invalid(format!("term {kind:?}: it covers no coordinate")));
    }
    let field = |name: &str| vector(kind, table, name, dim);
    let positive = |name: &str, v: &[f64]| -> Result<()> {
        match v.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            Some(s) => Err(TwoStageError::invalid(format!("term {kind:?}: {name} must be positive and finite, got {s}"))),
            None => Ok(()),
        }
    };
    Ok(match canon.as_str() {
        "normal" => {
            let (mean, sd) = (field("mean")?, field("sd")?);
            positive("sd", &sd)?;
            Arc::new(Normal { mean, sd })
        }
        "lognormal" | "log_normal" => {
            let (mu, sigma) = (field("mu")?, field("sigma")?);
            positive("sigma", &sigma)?;
            Arc::new(LogNormal { mu, sigma })
        }
        "uniform" => {
            let (lower, upper) = (field("lower")?, field("upper")?);
            for (j, (l, u)) in lower.iter().zip(&upper).enumerate() {
                if !(l.is_finite() && u.is_finite() && l < u) {
                    return Err(TwoStageError::invalid(format!("term {kind:?}: coordinate {j}: lower {l} must be below upper {u}, both finite")));
                }
            }
            Arc::new(Uniform { lower, upper })
        }
        "flat" => Arc::new(Flat { dim }),
        _ => {
            if dim < 2 {
                return Err(TwoStageError::invalid(format!(
                    "term {kind:?}: it needs at least two coordinates (theta_1..theta_k, then gamma), got {dim}"
                )));
            }
            let tau = scalar(kind, table, "tau")?;
            positive("tau", &[tau])?;
            Arc::new(HierarchicalNormal { k: dim - 1, tau })
        }
    })
}

fn number(kind: &str, name: &str, v: &Value) -> Result<f64> {
    let x = match v {
        Value::Float(f) => *f,
        Value::Integer(i) => *i as f64,
        other => return Err(TwoStageError::invalid(format!("term {kind:?}: {name} must be a number, got {other}"))),
    };
    if x.is_nan() {
        return Err(TwoStageError::invalid(format!("term {kind:?}: {name} is not a number")));
    }
    Ok(x)
}

fn scalar(kind: &str, table: &Table, name: &str) -> Result<f64> {
    match table.get(name) {
        None => Err(TwoStageError::invalid(format!("term {kind:?}: missing field {name:?}"))),
        Some(v) => number(kind, name, v),
    }
}

/// A number (repeated `dim` times) or an array of `dim` numbers.
fn vector(kind: &str, table: &Table, name: &str, dim: usize) -> Result<Vec<f64>> {
    match table.get(name) {
        None => Err(TwoStageError::invalid(format!("term {kind:?}: missing field {name:?}"))),
        Some(Value::Array(a)) => {
            if a.len() != dim {
                return Err(TwoStageError::invalid(format!("term {kind:?}: {name} has {} values but the term covers {dim} coordinates", a.len())));
            }
            a.iter().map(|v| number(kind, name, v)).collect()
        }
        Some(v) => Ok(vec![number(kind, name, v)?; dim]),
    }
}

//! Reading prior tables: typed getters whose errors name the prior kind, the
//! key and what was expected.

use seqcal_api::{ParamSpace, PriorError, StageContext};
use toml::{Table, Value};

/// Rejects keys the plugin does not know, so that a typo (`sd` vs `sigma`)
/// is an error instead of a silently ignored setting.
pub(crate) fn check_keys(spec: &Table, kind: &str, allowed: &[&str]) -> Result<(), PriorError> {
    for key in spec.keys() {
        if key != "kind" && !allowed.contains(&key.as_str()) {
            return Err(PriorError::spec(
                kind,
                format!("unknown key {key:?}; this prior takes: {}", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Integer(i) => Some(*i as f64),
        Value::String(s) => match s.as_str() {
            "inf" | "+inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// A number.
pub(crate) fn f64_key(spec: &Table, kind: &str, key: &str) -> Result<Option<f64>, PriorError> {
    match spec.get(key) {
        None => Ok(None),
        Some(v) => as_f64(v)
            .map(Some)
            .ok_or_else(|| PriorError::spec(kind, format!("{key:?} must be a number, got {v}"))),
    }
}

/// A list of `dim` numbers, or one number repeated `dim` times.
pub(crate) fn f64_list(spec: &Table, kind: &str, key: &str, dim: usize) -> Result<Vec<f64>, PriorError> {
    let v = spec
        .get(key)
        .ok_or_else(|| PriorError::spec(kind, format!("missing key {key:?} (one number per parameter)")))?;
    let list = match v {
        Value::Array(items) => items
            .iter()
            .map(|x| as_f64(x).ok_or_else(|| PriorError::spec(kind, format!("{key:?} holds {x}, not a number"))))
            .collect::<Result<Vec<_>, _>>()?,
        other => vec![as_f64(other).ok_or_else(|| PriorError::spec(kind, format!("{key:?} must be a number or a list of numbers")))?; dim],
    };
    if list.len() != dim {
        return Err(PriorError::spec(
            kind,
            format!("{key:?} has {} values but the prior has {dim} parameters", list.len()),
        ));
    }
    Ok(list)
}

/// `bounds = [[lower, upper], ...]`, if present.
pub(crate) fn bounds_key(spec: &Table, kind: &str) -> Result<Option<Vec<(f64, f64)>>, PriorError> {
    let Some(v) = spec.get("bounds") else { return Ok(None) };
    let bad = || PriorError::spec(kind, "\"bounds\" must be a list of [lower, upper] pairs, one per parameter");
    let items = v.as_array().ok_or_else(bad)?;
    items
        .iter()
        .map(|pair| {
            let pair = pair.as_array().ok_or_else(bad)?;
            match pair.as_slice() {
                [l, u] => Ok((as_f64(l).ok_or_else(bad)?, as_f64(u).ok_or_else(bad)?)),
                _ => Err(bad()),
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `names = [...]` from the table, or else the stage's names.
pub(crate) fn names(spec: &Table, kind: &str, ctx: &StageContext<'_>) -> Result<Vec<String>, PriorError> {
    match spec.get("names") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|n| {
                n.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| PriorError::spec(kind, format!("\"names\" holds {n}, not a string")))
            })
            .collect(),
        Some(other) => Err(PriorError::spec(kind, format!("\"names\" must be a list of strings, got {other}"))),
        None => ctx.space.map(|s| s.names().to_vec()).ok_or_else(|| {
            PriorError::spec(kind, "missing key \"names\" (the parameter names this prior is over)")
        }),
    }
}

/// Bounds from the table, else from the stage's space when the names match.
pub(crate) fn bounds_or_stage(
    spec: &Table,
    kind: &str,
    names: &[String],
    ctx: &StageContext<'_>,
) -> Result<Option<Vec<(f64, f64)>>, PriorError> {
    if let Some(b) = bounds_key(spec, kind)? {
        return Ok(Some(b));
    }
    Ok(ctx.space.filter(|s| s.names() == names).map(|s| s.bounds().to_vec()))
}

/// A sub-table (a mixture's component).
pub(crate) fn table<'t>(spec: &'t Table, kind: &str, key: &str) -> Result<&'t Table, PriorError> {
    spec.get(key)
        .ok_or_else(|| PriorError::spec(kind, format!("missing table {key:?} (a prior with its own kind)")))?
        .as_table()
        .ok_or_else(|| PriorError::spec(kind, format!("{key:?} must be a table, e.g. {key} = {{ kind = \"uniform\", ... }}")))
}

/// A space with the given names and bounds; errors name the prior kind.
pub(crate) fn space(kind: &str, names: Vec<String>, bounds: Vec<(f64, f64)>) -> Result<ParamSpace, PriorError> {
    ParamSpace::new(names, bounds).map_err(|e| PriorError::spec(kind, e.to_string()))
}

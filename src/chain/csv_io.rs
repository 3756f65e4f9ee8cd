//! CSV import and export of chains.
//!
//! Columns are the parameter names plus optional reserved columns:
//! `iteration` and `walker` (both, to keep the ensemble's shape), `log_prob`,
//! `log_prior`, `log_likelihood` and `weight`. A CSV holding only parameter
//! columns (a published posterior sample, say) becomes a chain of one walker
//! with one draw per row and an unknown log posterior.

use std::path::Path;

use ndarray::{Array1, Array2, Array3};

use super::Chain;
use crate::{Error, Result};

const RESERVED: [&str; 6] = ["iteration", "walker", "log_prob", "log_prior", "log_likelihood", "weight"];

/// Writes `chain` as CSV (`iteration, walker, names..., log_prob, ...`),
/// iteration-major, through a temporary file renamed into place.
///
/// # Errors
/// A parameter named like a reserved column, or a failed write.
pub fn write_csv(chain: &Chain, path: &Path) -> Result<()> {
    if let Some(n) = chain.names.iter().find(|n| RESERVED.contains(&n.as_str())) {
        return Err(Error::chain(path, format!("parameter name {n:?} clashes with a reserved CSV column ({})", RESERVED.join(", "))));
    }
    super::write_atomically(path, |tmp| {
        let mut w = csv::Writer::from_path(tmp).map_err(|e| Error::chain(path, e.to_string()))?;
        let extra: Vec<(&str, &Array2<f64>)> =
            [("log_prob", &chain.log_prob), ("log_prior", &chain.log_prior), ("log_likelihood", &chain.log_likelihood), ("weight", &chain.weights)]
                .into_iter()
                .filter_map(|(n, a)| a.as_ref().map(|a| (n, a)))
                .collect();
        let mut header = vec!["iteration".to_string(), "walker".to_string()];
        header.extend(chain.names.iter().cloned());
        header.extend(extra.iter().map(|(n, _)| n.to_string()));
        let err = |e: csv::Error| Error::chain(path, e.to_string());
        w.write_record(&header).map_err(err)?;
        let mut rec = Vec::with_capacity(header.len());
        for i in 0..chain.iterations() {
            for k in 0..chain.walkers() {
                rec.clear();
                rec.push(i.to_string());
                rec.push(k.to_string());
                rec.extend((0..chain.dim()).map(|j| format_f64(chain.draws[[i, k, j]])));
                rec.extend(extra.iter().map(|(_, a)| format_f64(a[[i, k]])));
                w.write_record(&rec).map_err(err)?;
            }
        }
        w.flush().map_err(|e| Error::io(path, e))
    })
}

/// Shortest representation that reads back to the same f64.
fn format_f64(v: f64) -> String {
    if v == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        format!("{v:?}")
    }
}

/// Reads a chain from CSV (see the module docs for the columns).
///
/// # Errors
/// A malformed row (wrong number of fields, a value that is not a number, NaN
/// or infinity in a draw), a missing or repeated (iteration, walker) pair,
/// or no parameter column; the message gives the line.
pub fn read_csv(path: &Path) -> Result<Chain> {
    let table = crate::table::read_csv(path, crate::table::Values::Any)?;
    let header = &table.header;
    let col = |name: &str| table.position(name);
    let params: Vec<usize> = (0..header.len()).filter(|&i| !RESERVED.contains(&header[i].as_str())).collect();
    if params.is_empty() {
        return Err(Error::Csv { path: path.into(), line: 1, message: "no parameter columns in the header".into() });
    }
    let names: Vec<String> = params.iter().map(|&i| header[i].clone()).collect();
    seqcal_api::ParamSpace::unbounded(names.clone()).map_err(|e| Error::Csv { path: path.into(), line: 1, message: e.to_string() })?;
    let (it_col, wk_col) = (col("iteration"), col("walker"));
    if it_col.is_some() != wk_col.is_some() {
        return Err(Error::Csv { path: path.into(), line: 1, message: "give both 'iteration' and 'walker' columns, or neither".into() });
    }
    let extra: Vec<Option<usize>> = ["log_prob", "log_prior", "log_likelihood", "weight"].iter().map(|n| col(n)).collect();

    let mut rows: Vec<(usize, usize, Vec<f64>, Vec<f64>)> = Vec::with_capacity(table.data.nrows());
    for (r, rec) in table.data.rows().into_iter().enumerate() {
        let line = table.line_of(r).unwrap_or(0);
        let index = |i: Option<usize>| -> Result<usize> {
            match i {
                None => Ok(0),
                Some(i) => {
                    let v = rec[i];
                    if v >= 0.0 && v.fract() == 0.0 && v < u32::MAX as f64 {
                        Ok(v as usize)
                    } else {
                        Err(Error::Csv { path: path.into(), line, message: format!("column {:?}: {v} is not a non-negative integer", header[i]) })
                    }
                }
            }
        };
        let draw: Vec<f64> = params.iter().map(|&i| rec[i]).collect();
        if let Some((j, v)) = draw.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(Error::Csv { path: path.into(), line, message: format!("column {:?} is {v}: draws must be finite", names[j]) });
        }
        let ex = extra.iter().map(|c| c.map_or(f64::NAN, |i| rec[i])).collect();
        let (it, wk) = if it_col.is_some() { (index(it_col)?, index(wk_col)?) } else { (rows.len(), 0) };
        rows.push((it, wk, draw, ex));
    }
    if rows.is_empty() {
        return Err(Error::Csv { path: path.into(), line: 2, message: "no rows".into() });
    }
    let n = rows.iter().map(|r| r.0).max().unwrap_or(0) + 1;
    let w = rows.iter().map(|r| r.1).max().unwrap_or(0) + 1;
    if n * w != rows.len() {
        return Err(Error::chain(
            path,
            format!("{} rows do not fill {n} iterations x {w} walkers: every (iteration, walker) pair must appear exactly once", rows.len()),
        ));
    }
    let d = names.len();
    let mut draws = Array3::from_elem((n, w, d), f64::NAN);
    let mut ex_arr: Vec<Option<Array2<f64>>> = extra.iter().map(|c| c.map(|_| Array2::from_elem((n, w), f64::NAN))).collect();
    let mut seen = Array2::from_elem((n, w), false);
    for (it, wk, draw, ex) in rows {
        if std::mem::replace(&mut seen[[it, wk]], true) {
            return Err(Error::chain(path, format!("iteration {it}, walker {wk} appears twice")));
        }
        for (j, v) in draw.into_iter().enumerate() {
            draws[[it, wk, j]] = v;
        }
        for (a, v) in ex_arr.iter_mut().zip(ex) {
            if let Some(a) = a {
                a[[it, wk]] = v;
            }
        }
    }
    let mut ex_iter = ex_arr.into_iter();
    let mut next = || ex_iter.next().flatten();
    let chain = Chain {
        names,
        bounds: vec![(f64::NEG_INFINITY, f64::INFINITY); d],
        draws,
        log_prob: next(),
        log_prior: next(),
        log_likelihood: next(),
        weights: next(),
        accepted: Array1::zeros(w),
        attrs: Default::default(),
    };
    chain.validate(path)?;
    Ok(chain)
}

//! The draws of each sample-based component: read from its chain file (HDF5
//! or CSV, through seqcal's own chain readers) or from an earlier pipeline
//! stage's chain (through a [`ChainSource`]), cut to the component's columns
//! and checked (every name present, every value finite, every draw within
//! the coordinates' bounds) before any training.

use ndarray::Array2;
use seqcal_api::{ChainDraws, ChainRef, ChainSource};

use super::spec::{ComponentSpec, DrawSource, Spec};
use crate::chain::read_any;
use crate::prior::chain_draws;
use crate::{Error, Result};

/// Fewest draws a component may have: a flow fitted to fewer is noise.
pub const MIN_DRAWS: usize = 20;

/// A component's draws, ready for stage 1.
#[derive(Debug, Clone)]
pub struct ComponentDraws {
    /// The component's label.
    pub label: String,
    /// The coordinates the columns are, in order.
    pub names: Vec<String>,
    /// `n × names.len()` draws.
    pub draws: Array2<f64>,
    /// Importance weights of the draws, when the chain has them.
    pub weights: Option<Vec<f64>>,
    /// The support of the columns, when any side is finite.
    pub bounds: Option<Vec<(f64, f64)>>,
    /// Where they came from (file or stage), for the report.
    pub source: String,
}

/// Reads every component of `spec`; `stages` serves `from = "<stage>"`
/// (`None` outside a pipeline, where such a component is an error).
///
/// # Errors
/// A missing or unreadable file, an unknown stage, a name the chain lacks, a
/// non-finite value, a draw outside its coordinate's bounds, too few draws.
pub fn load_components(spec: &Spec, stages: Option<&dyn ChainSource>) -> Result<Vec<ComponentDraws>> {
    spec.components.iter().map(|c| load_component(spec, c, stages)).collect()
}

fn load_component(spec: &Spec, c: &ComponentSpec, stages: Option<&dyn ChainSource>) -> Result<ComponentDraws> {
    let bad = |m: String| Error::config(&spec.path, format!("[[component]] {:?}: {m}", c.label));
    let cd: ChainDraws = match &c.source {
        DrawSource::File(p) => {
            if !p.is_file() {
                return Err(bad(format!("chain file {} does not exist (relative paths are read from the spec's folder)", p.display())));
            }
            let chain = read_any(p).map_err(|e| bad(format!("reading its chain: {e}")))?;
            if c.discard >= chain.iterations() {
                return Err(bad(format!("discard = {} leaves none of the chain's {} iterations", c.discard, chain.iterations())));
            }
            chain_draws(&chain.discard(c.discard), p.display().to_string(), p, c.discard)
        }
        DrawSource::Stage(s) => {
            let Some(src) = stages else {
                return Err(bad(format!(
                    "from = {s:?} names a pipeline stage, which only a two-stage stage of a pipeline can read: give chain = \"file.h5\" here"
                )));
            };
            if c.discard > 0 {
                return Err(bad("discard applies to chain files; a stage's recorded burn-in is dropped already".into()));
            }
            src.draws(ChainRef::Stage(s)).map_err(|e| bad(e.to_string()))?
        }
    };
    select(spec, c, &cd).map_err(bad)
}

/// Cuts `cd` to the component's columns and checks the values.
fn select(spec: &Spec, c: &ComponentSpec, cd: &ChainDraws) -> std::result::Result<ComponentDraws, String> {
    let mut cols = Vec::with_capacity(c.names.len());
    for n in &c.names {
        match cd.names.iter().position(|m| m == n) {
            Some(j) => cols.push(j),
            None => return Err(format!("{} has no column {n:?}; its columns: {}", cd.label, cd.names.join(", "))),
        }
    }
    let rows = cd.x.nrows();
    if rows < MIN_DRAWS {
        return Err(format!("{} holds {rows} draws; stage 1 needs at least {MIN_DRAWS}", cd.label));
    }
    let coords: Vec<&super::spec::Coordinate> = c.coords.iter().map(|&k| &spec.coordinates[k]).collect();
    let mut draws = Array2::zeros((rows, cols.len()));
    for (k, &j) in cols.iter().enumerate() {
        let (lo, hi) = coords[k].bounds;
        for i in 0..rows {
            let v = cd.x[[i, j]];
            if !v.is_finite() {
                return Err(format!("{} holds {v} in column {:?} (draw {}): every draw must be finite", cd.label, c.names[k], i + 1));
            }
            if v < lo || v > hi {
                return Err(format!(
                    "{}: draw {} of column {:?} is {v}, outside the bounds [{lo}, {hi}] of coordinate {:?}",
                    cd.label,
                    i + 1,
                    c.names[k],
                    coords[k].name
                ));
            }
            draws[[i, k]] = v;
        }
    }
    if let Some(w) = &cd.weights {
        if let Some(x) = w.iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
            return Err(format!("{} has an importance weight {x}: weights must be finite and non-negative", cd.label));
        }
        if w.iter().all(|x| *x == 0.0) {
            return Err(format!("{}: every importance weight is zero", cd.label));
        }
    }
    // The coordinates' declared bounds; where a coordinate declares none, the chain's.
    let bounds: Vec<(f64, f64)> = coords
        .iter()
        .zip(&cols)
        .map(|(co, &j)| if co.bounds.0.is_finite() || co.bounds.1.is_finite() { co.bounds } else { cd.bounds.get(j).copied().unwrap_or(co.bounds) })
        .collect();
    let any_finite = bounds.iter().any(|b| b.0.is_finite() || b.1.is_finite());
    Ok(ComponentDraws {
        label: c.label.clone(),
        names: coords.iter().map(|co| co.name.clone()).collect(),
        draws,
        weights: cd.weights.clone(),
        bounds: any_finite.then_some(bounds),
        source: cd.source.clone(),
    })
}

//! The [`Chain`] value: draws `iterations × walkers × parameters` with their
//! per-draw arrays, names, bounds and provenance, and the checks of its values.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{s, Array1, Array2, Array3, Axis};

use super::columns::{Column, Columns, PerDraw};
use crate::{Error, Result};

/// Draws of a sampler run (or of any sampler that produced a chain).
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// Parameter names, one per column of the last axis of `draws`.
    pub names: Vec<String>,
    /// Support interval of each parameter (`±∞` where unbounded).
    pub bounds: Vec<(f64, f64)>,
    /// Draws, `iterations × walkers × dim`.
    pub draws: Array3<f64>,
    /// Log posterior of each draw (`iterations × walkers`), when known.
    pub log_prob: Option<Array2<f64>>,
    /// Log prior of each draw, when stored.
    pub log_prior: Option<Array2<f64>>,
    /// Log likelihood of each draw, when stored.
    pub log_likelihood: Option<Array2<f64>>,
    /// Importance weights of each draw (unnormalized), when the draws are weighted.
    pub weights: Option<Array2<f64>>,
    /// Number of accepted proposals per walker over the whole run.
    pub accepted: Array1<f64>,
    /// Provenance and settings (`seed`, `sampler`, `prior`, ...).
    pub attrs: BTreeMap<String, String>,
}

impl Chain {
    /// A chain with only draws; names default to `x0, x1, ...` and bounds to
    /// the real line.
    pub fn from_draws(draws: Array3<f64>) -> Self {
        let (_, w, d) = draws.dim();
        Chain {
            names: seqcal_api::ParamSpace::default_names(d),
            bounds: vec![(f64::NEG_INFINITY, f64::INFINITY); d],
            draws,
            log_prob: None,
            log_prior: None,
            log_likelihood: None,
            weights: None,
            accepted: Array1::zeros(w),
            attrs: BTreeMap::new(),
        }
    }

    /// Number of iterations (rows).
    pub fn iterations(&self) -> usize {
        self.draws.dim().0
    }

    /// Number of walkers.
    pub fn walkers(&self) -> usize {
        self.draws.dim().1
    }

    /// Number of parameters.
    pub fn dim(&self) -> usize {
        self.draws.dim().2
    }

    /// Which optional arrays are present.
    pub fn columns(&self) -> Columns {
        self.per_draw().present()
    }

    /// The per-draw arrays, as one [`PerDraw`] of references.
    pub fn per_draw(&self) -> PerDraw<Option<&Array2<f64>>> {
        PerDraw {
            log_prob: self.log_prob.as_ref(),
            log_prior: self.log_prior.as_ref(),
            log_likelihood: self.log_likelihood.as_ref(),
            weights: self.weights.as_ref(),
        }
    }

    /// Replaces every per-draw array.
    pub fn set_per_draw(&mut self, p: PerDraw<Option<Array2<f64>>>) {
        let PerDraw { log_prob, log_prior, log_likelihood, weights } = p;
        (self.log_prob, self.log_prior, self.log_likelihood, self.weights) = (log_prob, log_prior, log_likelihood, weights);
    }

    /// Fraction of accepted proposals per walker (`accepted / iterations`),
    /// as emcee's `acceptance_fraction`.
    pub fn acceptance_fraction(&self) -> Array1<f64> {
        let n = self.iterations().max(1) as f64;
        self.accepted.mapv(|a| a / n)
    }

    /// Checks shapes and values: every array agrees with `draws` in shape,
    /// names are unique and one per parameter, draws are finite, log
    /// densities are not NaN or `+∞`, weights are finite and non-negative.
    /// `source` names the file in the error.
    ///
    /// # Errors
    /// The first problem found, with its iteration, walker and parameter.
    pub fn validate(&self, source: &Path) -> Result<()> {
        let (n, w, d) = self.draws.dim();
        if self.names.len() != d {
            return Err(Error::chain(source, format!("{} parameter names for {d} parameters", self.names.len())));
        }
        if self.bounds.len() != d {
            return Err(Error::chain(source, format!("{} bounds for {d} parameters", self.bounds.len())));
        }
        seqcal_api::ParamSpace::new(self.names.clone(), self.bounds.clone()).map_err(|e| Error::chain(source, e.to_string()))?;
        if self.accepted.len() != w {
            return Err(Error::chain(source, format!("'accepted' has {} entries for {w} walkers", self.accepted.len())));
        }
        check_finite_draws(source, &self.draws, 0, &self.names)?;
        for (c, arr) in self.per_draw().present_iter() {
            if arr.dim() != (n, w) {
                return Err(Error::chain(source, format!("'{}' has shape {:?} but the chain has {n} iterations x {w} walkers", c.name(), arr.dim())));
            }
            check_per_draw(source, c, arr.view(), 0)?;
        }
        Ok(())
    }

    /// The chain without its first `n` iterations (emcee's `discard`).
    pub fn discard(&self, n: usize) -> Chain {
        self.select_rows(n.min(self.iterations()), 1)
    }

    /// Every `k`-th iteration, starting from the `k`-th (emcee's `thin`;
    /// `k = 0` is treated as 1).
    pub fn thin(&self, k: usize) -> Chain {
        let k = k.max(1);
        self.select_rows(k - 1, k)
    }

    fn select_rows(&self, start: usize, step: usize) -> Chain {
        let start = start.min(self.iterations());
        let mut c = Chain {
            names: self.names.clone(),
            bounds: self.bounds.clone(),
            draws: self.draws.slice(s![start..;step, .., ..]).to_owned(),
            log_prob: None,
            log_prior: None,
            log_likelihood: None,
            weights: None,
            accepted: self.accepted.clone(),
            attrs: self.attrs.clone(),
        };
        c.set_per_draw(self.per_draw().map(|_, a| a.map(|a| a.slice(s![start..;step, ..]).to_owned())));
        c
    }

    /// Draws flattened to `(iterations * walkers) × dim`, iteration-major
    /// (emcee's `flat=True`).
    pub fn flat(&self) -> Array2<f64> {
        let (n, w, d) = self.draws.dim();
        self.draws.to_shape((n * w, d)).map(|a| a.to_owned()).unwrap_or_else(|_| {
            // Not contiguous (a strided view): copy row by row.
            let mut out = Array2::zeros((n * w, d));
            for (i, mut row) in out.axis_iter_mut(Axis(0)).enumerate() {
                row.assign(&self.draws.slice(s![i / w.max(1), i % w.max(1), ..]));
            }
            out
        })
    }

    /// A per-draw array flattened like [`flat`](Chain::flat).
    pub fn flat_column(a: &Array2<f64>) -> Array1<f64> {
        a.iter().copied().collect()
    }
}

/// Draws must be finite: a NaN or infinity in a chain is a corrupt file, not
/// a draw. `row0` is the iteration of the first row (for block reads).
pub(crate) fn check_finite_draws(source: &Path, draws: &Array3<f64>, row0: usize, names: &[String]) -> Result<()> {
    if let Some(((i, w, j), v)) = draws.indexed_iter().find(|(_, v)| !v.is_finite()) {
        let name = names.get(j).map(String::as_str).unwrap_or("?");
        return Err(Error::chain(
            source,
            format!("draw at iteration {}, walker {w}, parameter {name:?} is {v}: a chain must hold finite values", row0 + i),
        ));
    }
    Ok(())
}

/// Log densities may be `-∞` (zero density) but never NaN or `+∞`; weights
/// must be finite and non-negative ([`Column::valid`]).
pub(crate) fn check_per_draw(source: &Path, c: Column, a: ndarray::ArrayView2<'_, f64>, row0: usize) -> Result<()> {
    if let Some(((i, w), v)) = a.indexed_iter().find(|(_, v)| !c.valid(**v)) {
        return Err(Error::chain(source, format!("'{}' at iteration {}, walker {w} is {v}", c.name(), row0 + i)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    fn chain(n: usize, w: usize, d: usize) -> Chain {
        let draws = Array::from_shape_fn((n, w, d), |(i, j, k)| (i * 100 + j * 10 + k) as f64);
        let mut c = Chain::from_draws(draws);
        c.log_prob = Some(Array::from_shape_fn((n, w), |(i, j)| -((i + j) as f64)));
        c
    }

    #[test]
    fn views_match_emcee_semantics() {
        let c = chain(10, 3, 2);
        // emcee: v[discard + thin - 1 : iteration : thin]
        let t = c.discard(2).thin(3);
        // v[2 + 3 - 1 : 10 : 3] keeps iterations 4 and 7.
        assert_eq!(t.iterations(), 2);
        assert_eq!(t.draws[[0, 0, 0]], 400.0);
        assert_eq!(t.draws[[1, 0, 0]], 700.0);
        assert_eq!(t.log_prob.as_ref().unwrap()[[1, 1]], -8.0);
        let f = c.flat();
        assert_eq!(f.dim(), (30, 2));
        assert_eq!(f.row(4).to_vec(), vec![110.0, 111.0]); // iteration 1, walker 1
        assert_eq!(c.discard(50).iterations(), 0);
        assert_eq!(c.thin(0).iterations(), 10);
    }

    #[test]
    fn validate_names_the_bad_value() {
        let mut c = chain(4, 2, 2);
        c.validate(Path::new("x.h5")).unwrap();
        c.draws[[2, 1, 1]] = f64::NAN;
        let e = c.validate(Path::new("x.h5")).unwrap_err().to_string();
        assert!(e.contains("iteration 2, walker 1, parameter \"x1\" is NaN"), "{e}");
        let mut c = chain(4, 2, 2);
        c.log_prob.as_mut().unwrap()[[3, 0]] = f64::INFINITY;
        assert!(c.validate(Path::new("x.h5")).unwrap_err().to_string().contains("'log_prob' at iteration 3"));
        let mut c = chain(4, 2, 2);
        c.log_prob.as_mut().unwrap()[[3, 0]] = f64::NEG_INFINITY;
        c.validate(Path::new("x.h5")).unwrap();
    }
}

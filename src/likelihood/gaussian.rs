//! The calibration likelihood: experimental data given an emulator.
//!
//! For each data set (a block of observables with measured values `y` and
//! experimental covariance `Σ_exp`), the model's prediction at `θ` has mean
//! `μ(θ)` and emulator covariance `Σ_emu(θ)` on the same observables, and
//!
//! `log L_b(θ) = −½ rᵀ S⁻¹ r − ½ log det S − (n_b/2) log 2π`, `r = y − μ(θ)`,
//! `S = Σ_emu(θ) + Σ_exp`,
//!
//! evaluated through the Cholesky factor of `S`. Data sets are independent
//! blocks: the log likelihood is the sum over the blocks in use, so a stage can
//! use any subset. A covariance that is not positive definite, or a prediction
//! that is not finite, rejects that point ([`DensityError::Reject`]), never the run.
//!
//! # Reference
//! C. E. Rasmussen and C. K. I. Williams, *Gaussian Processes for Machine
//! Learning*, MIT Press 2006, appendix A.2 and algorithm 2.1 (Gaussian log
//! density through a Cholesky factor); J. E. Bernhard et al., Phys. Rev. C 94,
//! 024907 (2016), section V (emulator covariance added to the experimental one).

use std::sync::Arc;

use nalgebra::{DMatrix, DVector};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use seqcal_api::{DensityError, Emulator, LogDensity};

use crate::{Error, Result};

/// One experimental data set: which emulator outputs it measures, the values
/// and their covariance.
#[derive(Debug, Clone)]
pub struct DataSet {
    /// Name, for messages and for choosing subsets.
    pub name: String,
    /// Emulator output index of each measured value.
    pub indices: Vec<usize>,
    /// Measured values.
    pub values: Vec<f64>,
    /// Experimental covariance (`n × n`).
    pub cov: DMatrix<f64>,
}

/// The error of data set `name` holding unusable values.
fn bad_data(name: &str, message: String) -> Error {
    Error::Data { input: format!("data set '{name}'"), message }
}

impl DataSet {
    /// A data set with independent errors (standard deviations `sd`).
    ///
    /// # Errors
    /// Lengths that differ, non-finite values, an sd that is not positive.
    pub fn with_errors(name: &str, indices: Vec<usize>, values: Vec<f64>, sd: &[f64]) -> Result<DataSet> {
        if let Some(s) = sd.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(bad_data(name, format!("error {s} is not a positive number")));
        }
        let cov = DMatrix::from_diagonal(&DVector::from_iterator(sd.len(), sd.iter().map(|s| s * s)));
        DataSet::with_cov(name, indices, values, cov)
    }

    /// A data set with a full covariance matrix.
    ///
    /// # Errors
    /// Sizes that differ, non-finite values, an asymmetric matrix.
    pub fn with_cov(name: &str, indices: Vec<usize>, values: Vec<f64>, cov: DMatrix<f64>) -> Result<DataSet> {
        let n = values.len();
        if indices.len() != n || cov.shape() != (n, n) {
            return Err(bad_data(name, format!("{n} values, {} output indices and a {}×{} covariance", indices.len(), cov.nrows(), cov.ncols())));
        }
        if values.iter().chain(cov.iter()).any(|v| !v.is_finite()) {
            return Err(bad_data(name, "values and covariance must be finite".into()));
        }
        let asym = (0..n)
            .flat_map(|i| (0..i).map(move |j| (i, j)))
            .any(|(i, j)| (cov[(i, j)] - cov[(j, i)]).abs() > 1e-10 * (cov[(i, i)].abs() + cov[(j, j)].abs()));
        if asym {
            return Err(bad_data(name, "the covariance matrix is not symmetric".into()));
        }
        Ok(DataSet { name: name.into(), indices, values, cov })
    }
}

/// Gaussian likelihood of several independent data sets given an emulator.
#[derive(Clone)]
pub struct GaussianLikelihood {
    emulator: Arc<dyn Emulator>,
    sets: Vec<DataSet>,
}

impl std::fmt::Debug for GaussianLikelihood {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GaussianLikelihood").field("sets", &self.sets.iter().map(|s| &s.name).collect::<Vec<_>>()).finish()
    }
}

impl GaussianLikelihood {
    /// Builds the likelihood; every data set's indices must name emulator outputs.
    ///
    /// # Errors
    /// No data set, or an index past the emulator's outputs.
    pub fn new(emulator: Arc<dyn Emulator>, sets: Vec<DataSet>) -> Result<GaussianLikelihood> {
        if sets.is_empty() {
            return Err(Error::Usage("the likelihood needs at least one data set".into()));
        }
        let o = emulator.output_dim();
        for s in &sets {
            if let Some(i) = s.indices.iter().find(|&&i| i >= o) {
                return Err(Error::Usage(format!("data set '{}' refers to output {} but the emulator has {o} outputs", s.name, i + 1)));
            }
        }
        Ok(GaussianLikelihood { emulator, sets })
    }

    /// The same likelihood restricted to the named data sets (in the order given).
    ///
    /// # Errors
    /// A name that is not one of the data sets.
    pub fn subset(&self, names: &[&str]) -> Result<GaussianLikelihood> {
        let sets = names
            .iter()
            .map(|n| {
                self.sets.iter().find(|s| s.name == *n).cloned().ok_or_else(|| {
                    Error::Usage(format!(
                        "no data set '{n}'; there are: {}",
                        self.sets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        GaussianLikelihood::new(self.emulator.clone(), sets)
    }

    /// Log likelihood from one point's predictive mean (`o`) and covariance (`o × o`, row-major).
    fn log_likelihood_at(&self, mean: &[f64], cov: &[f64]) -> Result<f64, DensityError> {
        let o = mean.len();
        let mut total = 0.0;
        for s in &self.sets {
            let n = s.values.len();
            let mut m = s.cov.clone();
            let mut r = DVector::zeros(n);
            for (a, &i) in s.indices.iter().enumerate() {
                r[a] = s.values[a] - mean[i];
                for (b, &j) in s.indices.iter().enumerate() {
                    m[(a, b)] += cov[i * o + j];
                }
            }
            if r.iter().any(|v| !v.is_finite()) || m.iter().any(|v| !v.is_finite()) {
                return Err(DensityError::Reject(format!("data set '{}': non-finite emulator prediction", s.name)));
            }
            let chol = m.cholesky().ok_or_else(|| DensityError::Reject(format!("data set '{}': covariance is not positive definite", s.name)))?;
            let l = chol.l_dirty();
            let logdet: f64 = (0..n).map(|i| l[(i, i)].ln()).sum::<f64>() * 2.0;
            let z = l.solve_lower_triangular(&r).ok_or_else(|| DensityError::Reject("singular Cholesky factor".into()))?;
            total += -0.5 * z.norm_squared() - 0.5 * logdet - 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
        }
        if total.is_finite() {
            Ok(total)
        } else {
            Err(DensityError::Reject("non-finite log likelihood".into()))
        }
    }
}

impl LogDensity for GaussianLikelihood {
    fn dim(&self) -> usize {
        self.emulator.input_dim()
    }

    fn log_density(&self, theta: &[f64]) -> Result<f64, DensityError> {
        if theta.len() != self.dim() {
            return Err(DensityError::Fatal(format!("the likelihood takes {} parameters, got {}", self.dim(), theta.len())));
        }
        let x = ArrayView2::from_shape((1, theta.len()), theta).map_err(|e| DensityError::Fatal(e.to_string()))?;
        let p = self.emulator.predict(x).map_err(|e| match e {
            seqcal_api::EmulatorError::InputDim { .. } => DensityError::Fatal(e.to_string()),
            _ => DensityError::Reject(e.to_string()),
        })?;
        let (mean, cov) = (p.mean.as_slice(), p.cov.as_slice());
        match (mean, cov) {
            (Some(m), Some(c)) => self.log_likelihood_at(m, c),
            _ => self.log_likelihood_at(&p.mean.iter().copied().collect::<Vec<_>>(), &p.cov.iter().copied().collect::<Vec<_>>()),
        }
    }

    fn log_density_batch(&self, thetas: ArrayView2<'_, f64>) -> Result<Vec<f64>, DensityError> {
        let mut out = vec![0.0; thetas.nrows()];
        self.log_density_into(thetas, &mut out)?;
        Ok(out)
    }

    /// One batched emulator prediction, then the blocks' Cholesky factorizations in parallel.
    fn log_density_into(&self, thetas: ArrayView2<'_, f64>, out: &mut [f64]) -> Result<(), DensityError> {
        if thetas.ncols() != self.dim() {
            return Err(DensityError::Fatal(format!("the likelihood takes {} parameters, got {}", self.dim(), thetas.ncols())));
        }
        let pred = match self.emulator.predict(thetas) {
            Ok(p) => p,
            // One bad point must not void the batch: evaluate point by point.
            Err(_) => {
                for (i, row) in thetas.rows().into_iter().enumerate() {
                    out[i] = match self.log_density(&row.to_vec()) {
                        Ok(v) => v,
                        Err(e) if e.is_recoverable() => f64::NAN,
                        Err(e) => return Err(e),
                    };
                }
                return Ok(());
            }
        };
        let o = self.emulator.output_dim();
        let mean: Array2<f64> = pred.mean.as_standard_layout().into_owned();
        let cov = pred.cov.as_standard_layout().into_owned();
        let (ms, cs) = (mean.as_slice().unwrap_or(&[]), cov.as_slice().unwrap_or(&[]));
        out.par_iter_mut().enumerate().for_each(|(i, v)| {
            *v = self.log_likelihood_at(&ms[i * o..(i + 1) * o], &cs[i * o * o..(i + 1) * o * o]).unwrap_or(f64::NAN);
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests;

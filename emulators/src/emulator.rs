//! The emulator: unit-box input scaling, output standardization and PCA, one
//! GP per principal component, and the predictive distribution mapped back to
//! observable space.
//!
//! With whitened component scores `u_c` (independent GPs, predictive mean
//! `m_c`, variance `v_c`) and loadings `w_c` (standardized units), the
//! standardized outputs are `z = Σ_c u_c w_c + e` where `e` is what the
//! dropped components leave, with covariance `R`. So at a point
//! `E[z] = Σ_c m_c w_c`, `Cov[z] = Σ_c v_c w_c w_cᵀ + R`, and the outputs are
//! `y = μ + D z` with `D = diag(sd)`.
//!
//! # Reference
//! C. E. Rasmussen and C. K. I. Williams, *Gaussian Processes for Machine
//! Learning*, MIT Press 2006, ch. 2 and 5; J. E. Bernhard et al., *Applying
//! Bayesian parameter estimation to relativistic heavy-ion collisions*,
//! Phys. Rev. C 94, 024907 (2016), section IV (PCA + GP emulators).

use nalgebra::DMatrix;
use ndarray::{Array2, Array3, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::gp::{Gp, HyperBounds};
use crate::pca::Pca;
use crate::{EmuError, TrainSettings};

/// Fitted hyperparameters of one component's GP (natural scale).
#[derive(Debug, Clone, Serialize)]
pub struct ComponentInfo {
    /// Length scale per input, in units of the prior box width.
    pub length_scales: Vec<f64>,
    /// Signal variance.
    pub signal_variance: f64,
    /// White-noise variance.
    pub noise_variance: f64,
    /// Log marginal likelihood at the optimum.
    pub log_marginal_likelihood: f64,
}

/// A trained PCA + GP emulator; implements [`seqcal_api::Emulator`].
#[derive(Debug, Clone)]
pub struct GpEmulator {
    lower: Vec<f64>,
    upper: Vec<f64>,
    input_names: Vec<String>,
    output_names: Vec<String>,
    settings: TrainSettings,
    pca: Pca,
    gps: Vec<Gp>,
    scores: Vec<Vec<f64>>,
}

/// The JSON form of a trained emulator: training data in the unit box, the
/// PCA, and the hyperparameters; the GP factors are recomputed on load.
#[derive(Serialize, Deserialize)]
struct Saved {
    format: String,
    version: u32,
    settings: TrainSettings,
    lower: Vec<f64>,
    upper: Vec<f64>,
    input_names: Vec<String>,
    output_names: Vec<String>,
    pca: Pca,
    inputs_unit: Vec<Vec<f64>>,
    log_params: Vec<Vec<f64>>,
    scores: Vec<Vec<f64>>,
    /// Known noise variance of each run per component (from `--output-errors`); empty if none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    known_noise: Vec<Vec<f64>>,
}

const FORMAT: &str = "seqcal-emulator";

/// Batches smaller than this are mapped to observable space on the calling thread.
const PAR_MIN: usize = 32;

/// Points per prediction task.
const BLOCK: usize = 256;

/// Multiply-adds (points × components × runs²) from which prediction runs in parallel.
const PAR_WORK: f64 = 1e6;

/// Checks a design against the prior box and returns it scaled to the unit box (row-major).
fn to_unit(x: ArrayView2<'_, f64>, lower: &[f64], upper: &[f64], strict: bool) -> Result<Vec<f64>, EmuError> {
    let p = lower.len();
    if x.ncols() != p {
        return Err(EmuError::Data(format!("the design has {} columns but the prior box has {p} parameters", x.ncols())));
    }
    let mut u = Vec::with_capacity(x.len());
    for (i, row) in x.rows().into_iter().enumerate() {
        for d in 0..p {
            let v = row[d];
            if !v.is_finite() {
                return Err(EmuError::Data(format!("row {}, parameter {}: value {v} is not finite", i + 1, d + 1)));
            }
            let w = upper[d] - lower[d];
            if strict && (v < lower[d] - 1e-9 * w || v > upper[d] + 1e-9 * w) {
                return Err(EmuError::Data(format!("row {}, parameter {}: {v} is outside the bounds [{}, {}]", i + 1, d + 1, lower[d], upper[d])));
            }
            u.push((v - lower[d]) / w);
        }
    }
    Ok(u)
}

impl GpEmulator {
    /// Trains on a design `x` (`n × p`, inside `bounds`) and outputs `y` (`n × m`).
    ///
    /// # Errors
    /// [`EmuError::Data`] for inconsistent shapes, non-finite values, bounds with
    /// `lower >= upper`, design points outside the bounds or constant outputs;
    /// [`EmuError::Fit`] if no GP can be conditioned.
    pub fn train(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>, bounds: &[(f64, f64)], settings: &TrainSettings) -> Result<GpEmulator, EmuError> {
        GpEmulator::train_with_errors(x, y, None, bounds, settings)
    }

    /// As [`train`](GpEmulator::train), with known model-run errors: `errors`
    /// (`n × m`, like `y`) holds the standard deviation of each output of each
    /// run (e.g. the statistical error of an event-averaged observable). They
    /// enter each component's GP as known noise on the diagonal of its training
    /// covariance (a heteroscedastic nugget), next to the fitted white noise: run
    /// `i`'s error variance in component `c` is `Σ_j (e_ij / sd_j)² v_jc² / λ_c`,
    /// the variance of its whitened score if the outputs' errors are independent
    /// (`sd_j`: output sd; `v_c`, `λ_c`: eigenvector and eigenvalue of the
    /// standardized outputs' covariance). Predictions at new points do not
    /// include them (they belong to the training runs).
    ///
    /// # Errors
    /// As [`train`](GpEmulator::train); also errors of the wrong shape, or
    /// negative or non-finite.
    pub fn train_with_errors(
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        errors: Option<ArrayView2<'_, f64>>,
        bounds: &[(f64, f64)],
        settings: &TrainSettings,
    ) -> Result<GpEmulator, EmuError> {
        settings.check()?;
        let (n, p) = x.dim();
        if bounds.len() != p {
            return Err(EmuError::Data(format!("the bounds have {} rows but the design has {p} parameters", bounds.len())));
        }
        for (d, (lo, hi)) in bounds.iter().enumerate() {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(EmuError::Data(format!("bounds of parameter {}: need finite lower < upper, got [{lo}, {hi}]", d + 1)));
            }
        }
        if y.nrows() != n {
            return Err(EmuError::Data(format!("the design has {n} rows but the outputs have {}", y.nrows())));
        }
        if let Some(((i, j), v)) = y.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(EmuError::Data(format!("outputs row {}, column {}: value {v} is not finite", i + 1, j + 1)));
        }
        let lower: Vec<f64> = bounds.iter().map(|b| b.0).collect();
        let upper: Vec<f64> = bounds.iter().map(|b| b.1).collect();
        let u = to_unit(x, &lower, &upper, true)?;
        let ym = DMatrix::from_fn(n, y.ncols(), |i, j| y[(i, j)]);
        let (pca, scores) = Pca::fit(&ym, settings.components)?;
        let known: Vec<Vec<f64>> = match errors {
            None => vec![Vec::new(); scores.len()],
            Some(e) => {
                if e.dim() != y.dim() {
                    return Err(EmuError::Data(format!(
                        "the output errors are {}×{} but the outputs {}×{}",
                        e.nrows(),
                        e.ncols(),
                        y.nrows(),
                        y.ncols()
                    )));
                }
                if let Some(((i, j), v)) = e.indexed_iter().find(|(_, v)| !(v.is_finite() && **v >= 0.0)) {
                    return Err(EmuError::Data(format!("output errors row {}, column {}: {v} is not a finite sd >= 0", i + 1, j + 1)));
                }
                pca.score_error_variance(e)
            }
        };
        let gps: Vec<Gp> = scores
            .par_iter()
            .zip(known.into_par_iter())
            .enumerate()
            .map(|(c, (s, kn))| {
                Gp::fit(settings.kernel, u.clone(), p, s, kn, settings.restarts, settings.seed.wrapping_add(c as u64), HyperBounds::default())
            })
            .collect::<Result<_, _>>()?;
        let input_names = (1..=p).map(|d| format!("x{d}")).collect();
        let output_names = (1..=y.ncols()).map(|j| format!("y{j}")).collect();
        Ok(GpEmulator { lower, upper, input_names, output_names, settings: settings.clone(), pca, gps, scores })
    }

    /// Names the inputs and outputs (from CSV headers); lengths must match.
    pub fn with_names(mut self, inputs: Vec<String>, outputs: Vec<String>) -> Self {
        if inputs.len() == self.lower.len() {
            self.input_names = inputs;
        }
        if outputs.len() == self.pca.outputs() {
            self.output_names = outputs;
        }
        self
    }

    /// Input names.
    pub fn input_names(&self) -> &[String] {
        &self.input_names
    }
    /// Output names.
    pub fn output_names(&self) -> &[String] {
        &self.output_names
    }
    /// The prior box the design was scaled by.
    pub fn bounds(&self) -> Vec<(f64, f64)> {
        self.lower.iter().copied().zip(self.upper.iter().copied()).collect()
    }
    /// The settings it was trained with.
    pub fn settings(&self) -> &TrainSettings {
        &self.settings
    }
    /// Number of principal components.
    pub fn n_components(&self) -> usize {
        self.gps.len()
    }
    /// Fraction of the standardized output variance the components explain.
    pub fn explained_variance(&self) -> f64 {
        self.pca.explained
    }
    /// Training sd of each output (the unit of [`crate::Validation`]'s RMSE).
    pub fn output_sd(&self) -> &[f64] {
        &self.pca.y_sd
    }
    /// Fitted hyperparameters of each component.
    pub fn components(&self) -> Vec<ComponentInfo> {
        let p = self.lower.len();
        self.gps
            .iter()
            .map(|g| ComponentInfo {
                length_scales: g.log_params[..p].iter().map(|v| v.exp()).collect(),
                signal_variance: g.log_params[p].exp(),
                noise_variance: g.log_params[p + 1].exp(),
                log_marginal_likelihood: g.lml,
            })
            .collect()
    }

    /// Component means and variances (`m × k` each, row-major) at `x`.
    ///
    /// The work is split into tasks of one block of [`BLOCK`] points and one
    /// component, run in parallel when there is enough of it; every task's
    /// arithmetic is the same whatever the thread count, so are the results.
    fn component_predictions(&self, x: ArrayView2<'_, f64>) -> Result<(Vec<f64>, Vec<f64>), EmuError> {
        let p = self.lower.len();
        if x.ncols() != p {
            return Err(EmuError::Data(format!("the emulator takes {p} parameters per point but got {}", x.ncols())));
        }
        let u = to_unit(x, &self.lower, &self.upper, false)?;
        let (m, k) = (x.nrows(), self.gps.len());
        let n = self.scores.first().map_or(0, Vec::len);
        let tasks: Vec<(usize, usize)> = (0..m.div_ceil(BLOCK)).flat_map(|b| (0..k).map(move |c| (b, c))).collect();
        let run = |&(b, c): &(usize, usize)| {
            let rows = BLOCK.min(m - b * BLOCK);
            let (mut bm, mut bv) = (vec![0.0; rows], vec![0.0; rows]);
            self.gps[c].predict_into(&u[b * BLOCK * p..(b * BLOCK + rows) * p], &mut bm, &mut bv);
            (bm, bv)
        };
        // A few points on a small design are not worth waking the thread pool.
        let parallel = (m * k) as f64 * (n * n) as f64 > PAR_WORK;
        let results: Vec<(Vec<f64>, Vec<f64>)> = if parallel { tasks.par_iter().map(run).collect() } else { tasks.iter().map(run).collect() };
        let mut mean = vec![0.0; m * k];
        let mut var = vec![0.0; m * k];
        for (&(b, c), (bm, bv)) in tasks.iter().zip(&results) {
            for r in 0..bm.len() {
                mean[(b * BLOCK + r) * k + c] = bm[r];
                var[(b * BLOCK + r) * k + c] = bv[r];
            }
        }
        Ok((mean, var))
    }

    /// Predictive mean and sd of every output at each row of `x` (`m × out` each):
    /// cheaper than the full covariance.
    ///
    /// # Errors
    /// Wrong width or non-finite inputs.
    pub fn predict_mean_sd(&self, x: ArrayView2<'_, f64>) -> Result<(Array2<f64>, Array2<f64>), EmuError> {
        let (cm, cv) = self.component_predictions(x)?;
        let (m, k, o) = (x.nrows(), self.gps.len(), self.pca.outputs());
        let mut mean = vec![0.0; m * o];
        let mut sd = vec![0.0; m * o];
        let work = |(a, (mr, sr)): (usize, (&mut [f64], &mut [f64]))| {
            for j in 0..o {
                let (mut z, mut v) = (0.0, self.pca.resid_cov[j * o + j]);
                for c in 0..k {
                    let w = self.pca.loadings[c][j];
                    z += cm[a * k + c] * w;
                    v += cv[a * k + c] * w * w;
                }
                mr[j] = self.pca.y_mean[j] + self.pca.y_sd[j] * z;
                sr[j] = self.pca.y_sd[j] * v.max(0.0).sqrt();
            }
        };
        if m < PAR_MIN {
            mean.chunks_mut(o.max(1)).zip(sd.chunks_mut(o.max(1))).enumerate().for_each(work);
        } else {
            mean.par_chunks_mut(o.max(1)).zip(sd.par_chunks_mut(o.max(1))).enumerate().for_each(work);
        }
        let shape = |v: Vec<f64>| Array2::from_shape_vec((m, o), v).map_err(|e| EmuError::Data(e.to_string()));
        let (mean, sd) = (shape(mean)?, shape(sd)?);
        Ok((mean, sd))
    }

    /// Serializes the emulator to JSON.
    ///
    /// # Errors
    /// Only if serialization itself fails.
    pub fn to_json(&self) -> Result<String, EmuError> {
        let (x, p) = self.gps[0].inputs();
        let saved = Saved {
            format: FORMAT.into(),
            version: 1,
            settings: self.settings.clone(),
            lower: self.lower.clone(),
            upper: self.upper.clone(),
            input_names: self.input_names.clone(),
            output_names: self.output_names.clone(),
            pca: self.pca.clone(),
            inputs_unit: x.chunks(p).map(|r| r.to_vec()).collect(),
            log_params: self.gps.iter().map(|g| g.log_params.clone()).collect(),
            scores: self.scores.clone(),
            known_noise: if self.gps.iter().all(|g| g.known_noise().is_empty()) {
                Vec::new()
            } else {
                self.gps.iter().map(|g| g.known_noise().to_vec()).collect()
            },
        };
        serde_json::to_string(&saved).map_err(|e| EmuError::Format(e.to_string()))
    }

    /// Reads an emulator written by [`to_json`](GpEmulator::to_json).
    ///
    /// # Errors
    /// [`EmuError::Format`] for anything that is not a consistent saved emulator.
    pub fn from_json(text: &str) -> Result<GpEmulator, EmuError> {
        let s: Saved = serde_json::from_str(text).map_err(|e| EmuError::Format(format!("not a seqcal emulator ({e})")))?;
        if s.format != FORMAT {
            return Err(EmuError::Format(format!("format is '{}', expected '{FORMAT}'", s.format)));
        }
        let p = s.lower.len();
        let (o, k) = (s.pca.y_mean.len(), s.log_params.len());
        let n = s.inputs_unit.len();
        let ok = s.upper.len() == p
            && k > 0
            && s.scores.len() == k
            && s.pca.y_sd.len() == o
            && s.pca.loadings.len() == k
            && s.pca.loadings.iter().all(|w| w.len() == o)
            && s.pca.resid_cov.len() == o * o
            && s.inputs_unit.iter().all(|r| r.len() == p)
            && s.log_params.iter().all(|l| l.len() == p + 2)
            && s.scores.iter().all(|c| c.len() == n)
            && s.input_names.len() == p
            && s.output_names.len() == o
            && (s.known_noise.is_empty() || (s.known_noise.len() == k && s.known_noise.iter().all(|v| v.len() == n)));
        if !ok {
            return Err(EmuError::Format("inconsistent sizes: the file is damaged".into()));
        }
        for (count, what) in [(p, "no inputs"), (o, "no outputs"), (n, "no model runs")] {
            if count == 0 {
                return Err(EmuError::Format(format!("{what}: the file is damaged")));
            }
        }
        if let Some(j) = (0..p).find(|&j| !(s.lower[j] < s.upper[j] && (s.upper[j] - s.lower[j]).is_finite())) {
            return Err(EmuError::Format(format!("the box of input {} is [{}, {}]: the file is damaged", j + 1, s.lower[j], s.upper[j])));
        }
        // Each component's GP is refactored on load: an n × n covariance, its
        // factor and inverse (k kept, two more while building).
        let needed = (k as f64 + 2.0) * (n as f64) * (n as f64) * 8.0;
        seqcal_api::check_memory(format!("loading an emulator of {n} model runs and {k} components"), needed, "the file is not a usable emulator")
            .map_err(|e| EmuError::Format(e.to_string()))?;
        let x: Vec<f64> = s.inputs_unit.concat();
        let gps = (0..k)
            .map(|c| {
                Gp::condition(
                    s.settings.kernel,
                    s.log_params[c].clone(),
                    x.clone(),
                    p,
                    &s.scores[c],
                    s.known_noise.get(c).cloned().unwrap_or_default(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GpEmulator {
            lower: s.lower,
            upper: s.upper,
            input_names: s.input_names,
            output_names: s.output_names,
            settings: s.settings,
            pca: s.pca,
            gps,
            scores: s.scores,
        })
    }
}

impl seqcal_api::Emulator for GpEmulator {
    fn input_dim(&self) -> usize {
        self.lower.len()
    }
    fn output_dim(&self) -> usize {
        self.pca.outputs()
    }
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<seqcal_api::Prediction, seqcal_api::EmulatorError> {
        let p = self.lower.len();
        if x.ncols() != p {
            return Err(seqcal_api::EmulatorError::InputDim { expected: p, got: x.ncols() });
        }
        let (cm, cv) = self.component_predictions(x).map_err(|e| seqcal_api::EmulatorError::Prediction(e.to_string()))?;
        let (m, k, o) = (x.nrows(), self.gps.len(), self.pca.outputs());
        let mut mean = vec![0.0; m * o];
        let mut cov = vec![0.0; m * o * o];
        let (mu, sd, w) = (&self.pca.y_mean, &self.pca.y_sd, &self.pca.loadings);
        // Cov = D R D + Bᵀ B with the rows b_c = √v_c D w_c of B (k × o): one small
        // triangular product per point (faer, single-threaded; the points run in
        // parallel), mirrored so that it is exactly symmetric. Finiteness is checked on the way.
        let dr: Vec<f64> = (0..o * o).map(|t| sd[t / o] * sd[t % o] * self.pca.resid_cov[t]).collect();
        let dw: Vec<f64> = (0..k * o).map(|t| sd[t % o] * w[t / o][t % o]).collect();
        let work = |(a, (mr, cr)): (usize, (&mut [f64], &mut [f64]))| -> bool {
            for j in 0..o {
                mr[j] = mu[j] + sd[j] * (0..k).map(|c| cm[a * k + c] * w[c][j]).sum::<f64>();
            }
            let b: Vec<f64> = (0..k * o).map(|t| cv[a * k + t / o].max(0.0).sqrt() * dw[t]).collect();
            cr.copy_from_slice(&dr);
            crate::linalg::add_gram(cr, &b, k, o);
            mr.iter().chain(cr.iter()).all(|v| v.is_finite())
        };
        let finite = if m < PAR_MIN {
            mean.chunks_mut(o.max(1)).zip(cov.chunks_mut((o * o).max(1))).enumerate().map(work).filter(|ok| !ok).count() == 0
        } else {
            mean.par_chunks_mut(o.max(1)).zip(cov.par_chunks_mut((o * o).max(1))).enumerate().map(work).reduce(|| true, |x, y| x && y)
        };
        if !finite {
            return Err(seqcal_api::EmulatorError::Prediction("non-finite predictive mean or covariance".into()));
        }
        let bad = |e: ndarray::ShapeError| seqcal_api::EmulatorError::Prediction(e.to_string());
        let mean = Array2::from_shape_vec((m, o), mean).map_err(bad)?;
        let cov = Array3::from_shape_vec((m, o, o), cov).map_err(bad)?;
        Ok(seqcal_api::Prediction { mean, cov })
    }
}

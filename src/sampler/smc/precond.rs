//! Flow preconditioning (Karamanis et al. 2022): a RealNVP flow from
//! seqcal-flow fitted to the weighted particles in their unbounded
//! coordinates, evaluated in f64 by [`FastFlow`], and the Student-t fitted
//! to the particles' latent images that t-preconditioned Crank-Nicolson
//! moves are reversible for.
//!
//! # Reference
//! Karamanis, Beutler, Peacock, Nabergoj & Seljak (2022), *Accelerating
//! astronomical and cosmological inference with preconditioned Monte Carlo*,
//! MNRAS 516, 1644; Grumitt, Karamanis & Seljak (2022), *Flow annealed
//! Kalman inversion* / t-preconditioned Crank-Nicolson.

use candle_core::{Device, Tensor};
use nalgebra::{DMatrix, DVector};
use ndarray::Array2;
use seqcal_flow::fast::FastFlow;
use seqcal_flow::kernel::Direction;
use seqcal_flow::params::Params;
use seqcal_flow::train::{train, LatentData, Loss, TrainSettings};
use seqcal_flow::{FlowSpec, LrSchedule};

use crate::{Error, Result};

/// Degrees of freedom of the Student-t the latent moves are built on.
pub(super) const NU: f64 = 5.0;

/// A trained flow, its parameters (kept for the state bytes) and what it
/// measured when it was fitted.
#[derive(Debug)]
pub(super) struct Precond {
    pub spec: FlowSpec,
    /// `(name, shape, values)` of every parameter, sorted by name.
    pub params: Vec<(String, Vec<usize>, Vec<f64>)>,
    pub fast: FastFlow,
    /// Standard deviation over the particles of `log π_β − log q` right after fitting.
    pub mismatch_at_fit: f64,
}

/// The flow's architecture for `d` coordinates: small, so that fitting a few
/// thousand particles takes well under a second.
pub(super) fn spec(d: usize) -> FlowSpec {
    FlowSpec { pairs: 3, hidden: 32, ..FlowSpec::new(d) }
}

fn settings(seed: u64) -> TrainSettings {
    TrainSettings {
        loss: Loss::Nll,
        steps: 300,
        batch: 256,
        lr: 3e-3,
        lr_schedule: LrSchedule::Cosine,
        val_fraction: 0.2,
        eval_every: 25,
        patience: 3,
        seed,
        quiet: true,
        stop_at_floor: false,
        ema: 0.0,
    }
}

impl Precond {
    /// Fits a flow to the particles `y` with weights `w` (any scale).
    pub fn fit(y: &Array2<f64>, w: &[f64], seed: u64) -> Result<Self> {
        let d = y.ncols();
        let spec = spec(d);
        let data = LatentData { x: y.iter().copied().collect(), dim: d, log_prob: None, weights: Some(w.to_vec()) };
        let (params, _metrics) =
            train(&spec, &data, &settings(seed)).map_err(|e| Error::Usage(format!("smc: fitting the preconditioning flow: {e}")))?;
        let mut flat = Vec::new();
        for (k, t) in &params {
            let v: Vec<f64> = t.flatten_all().and_then(|t| t.to_dtype(candle_core::DType::F64)).and_then(|t| t.to_vec1()).map_err(flow_err)?;
            flat.push((k.clone(), t.dims().to_vec(), v));
        }
        flat.sort_by(|a, b| a.0.cmp(&b.0));
        Self::from_parts(spec, flat, 0.0)
    }

    /// Rebuilds the evaluator from stored parameters.
    pub fn from_parts(spec: FlowSpec, params: Vec<(String, Vec<usize>, Vec<f64>)>, mismatch_at_fit: f64) -> Result<Self> {
        let mut p = Params::new();
        for (k, shape, v) in &params {
            p.insert(k.clone(), Tensor::from_vec(v.clone(), shape.as_slice(), &Device::Cpu).map_err(flow_err)?);
        }
        let fast = FastFlow::new(&spec, &p).map_err(|e| Error::Usage(format!("smc: the preconditioning flow: {e}")))?;
        Ok(Precond { spec, params, fast, mismatch_at_fit })
    }

    /// `(z, log|det ∂z/∂y|)` of each row of `y`.
    pub fn to_latent(&self, y: &Array2<f64>) -> (Array2<f64>, Vec<f64>) {
        let (z, ld) = self.fast.transform(y.as_slice().expect("standard layout"), Direction::Inverse);
        (Array2::from_shape_vec(y.raw_dim(), z).expect("same shape"), ld)
    }

    /// `(y, log|det ∂y/∂z|)` of each row of `z`.
    pub fn to_data(&self, z: &Array2<f64>) -> (Array2<f64>, Vec<f64>) {
        let (y, ld) = self.fast.transform(z.as_slice().expect("standard layout"), Direction::Forward);
        (Array2::from_shape_vec(z.raw_dim(), y).expect("same shape"), ld)
    }

    /// Normalized log density of each row of `y`.
    pub fn log_prob(&self, y: &Array2<f64>) -> Vec<f64> {
        self.fast.log_prob(y.as_slice().expect("standard layout"))
    }
}

fn flow_err(e: candle_core::Error) -> Error {
    Error::Usage(format!("smc: the preconditioning flow: {e}"))
}

/// Weighted standard deviation of `a − b` over the finite pairs.
pub(super) fn mismatch(a: &[f64], b: &[f64]) -> f64 {
    let v: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).filter(|v| v.is_finite()).collect();
    if v.len() < 2 {
        return f64::INFINITY;
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// A multivariate Student-t with `NU` degrees of freedom matched to the
/// mean and covariance of the rows of `z`.
#[derive(Debug, Clone)]
pub(super) struct StudentT {
    pub mean: DVector<f64>,
    /// Lower Cholesky factor of the scale matrix.
    pub chol: DMatrix<f64>,
    /// Inverse of the scale matrix.
    pub prec: DMatrix<f64>,
}

impl StudentT {
    pub fn fit(z: &Array2<f64>) -> Self {
        let (mean, cov) = moments(z);
        let scale = cov * ((NU - 2.0) / NU);
        let chol = cholesky(&scale);
        let prec = {
            let l_inv = chol.clone().try_inverse().unwrap_or_else(|| DMatrix::identity(z.ncols(), z.ncols()));
            l_inv.transpose() * l_inv
        };
        StudentT { mean, chol, prec }
    }

    /// `(z − μ)ᵀ Σ⁻¹ (z − μ)`.
    pub fn mahalanobis(&self, z: &[f64]) -> f64 {
        let dz = DVector::from_iterator(z.len(), z.iter().zip(self.mean.iter()).map(|(a, b)| a - b));
        (dz.transpose() * &self.prec * &dz)[(0, 0)]
    }

    /// Log density up to a constant.
    pub fn log_density(&self, z: &[f64]) -> f64 {
        -0.5 * (NU + z.len() as f64) * (1.0 + self.mahalanobis(z) / NU).ln()
    }
}

/// Mean and covariance of the rows of `y` (equal weights).
pub(super) fn moments(y: &Array2<f64>) -> (DVector<f64>, DMatrix<f64>) {
    let (n, d) = y.dim();
    let mut mean = DVector::zeros(d);
    for r in y.rows() {
        for j in 0..d {
            mean[j] += r[j] / n as f64;
        }
    }
    let mut cov = DMatrix::zeros(d, d);
    for r in y.rows() {
        for a in 0..d {
            for b in 0..=a {
                cov[(a, b)] += (r[a] - mean[a]) * (r[b] - mean[b]) / (n as f64 - 1.0).max(1.0);
            }
        }
    }
    for a in 0..d {
        for b in 0..a {
            cov[(b, a)] = cov[(a, b)];
        }
    }
    (mean, cov)
}

/// Lower Cholesky factor, with growing jitter on the diagonal where the
/// matrix is not numerically positive definite (a collapsed population).
pub(super) fn cholesky(c: &DMatrix<f64>) -> DMatrix<f64> {
    let d = c.nrows();
    let scale = (0..d).map(|i| c[(i, i)].abs()).fold(0.0f64, f64::max).max(1e-300);
    let mut jitter = 0.0;
    for _ in 0..30 {
        let m = c + DMatrix::identity(d, d) * jitter;
        if let Some(ch) = m.cholesky() {
            return ch.l();
        }
        jitter = if jitter == 0.0 { 1e-10 * scale } else { jitter * 10.0 };
    }
    DMatrix::identity(d, d) * scale.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn the_latent_maps_invert_each_other_with_their_log_determinants() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 400;
        let y = Array2::from_shape_fn((n, 3), |(_, j)| {
            let e: f64 = StandardNormal.sample(&mut rng);
            (j as f64 + 1.0) * e + e * e * (j as f64)
        });
        let f = Precond::fit(&y, &vec![1.0; n], 3).unwrap();
        let (z, ld_inv) = f.to_latent(&y);
        let (back, ld_fwd) = f.to_data(&z);
        for i in 0..n {
            for j in 0..3 {
                assert!((back[[i, j]] - y[[i, j]]).abs() < 1e-9 * (1.0 + y[[i, j]].abs()));
            }
            assert!((ld_fwd[i] + ld_inv[i]).abs() < 1e-9, "{} vs {}", ld_fwd[i], ld_inv[i]);
        }
        // The forward log-determinant against central differences.
        let h = 1e-6;
        for (i, &want) in ld_fwd.iter().enumerate().take(5) {
            let mut jac = nalgebra::DMatrix::zeros(3, 3);
            for k in 0..3 {
                let (mut zp, mut zm) = (z.slice(ndarray::s![i..i + 1, ..]).to_owned(), z.slice(ndarray::s![i..i + 1, ..]).to_owned());
                zp[[0, k]] += h;
                zm[[0, k]] -= h;
                let (yp, ym) = (f.to_data(&zp).0, f.to_data(&zm).0);
                for j in 0..3 {
                    jac[(j, k)] = (yp[[0, j]] - ym[[0, j]]) / (2.0 * h);
                }
            }
            let num = jac.determinant().abs().ln();
            assert!((num - want).abs() < 1e-5, "row {i}: {num} vs {want}");
        }
    }

    #[test]
    fn student_t_matches_the_moments() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let z = Array2::from_shape_fn((5000, 2), |_| StandardNormal.sample(&mut rng));
        let t = StudentT::fit(&z);
        // Scale = cov (ν - 2)/ν, so Σ⁻¹ ≈ ν/(ν - 2) I.
        let want = NU / (NU - 2.0);
        assert!((t.prec[(0, 0)] - want).abs() < 0.1 && t.prec[(0, 1)].abs() < 0.1, "{}", t.prec);
    }
}

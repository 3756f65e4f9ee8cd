//! posteriordb `gp_pois_regr-gp_regr`.
//!
//! ```stan
//! matrix[N, N] cov = gp_exp_quad_cov(x, alpha, rho) + diag_matrix(rep_vector(sigma, N));
//! rho ~ gamma(25, 4);  alpha ~ normal(0, 2);  sigma ~ normal(0, 1);   // all > 0; gamma is shape-rate
//! y ~ multi_normal_cholesky(rep_vector(0, N), cholesky_decompose(cov));
//! ```
//!
//! `cov[i, j] = alpha² exp(-(x_i - x_j)² / (2 rho²)) + sigma δ_ij`: the Stan
//! code adds `sigma`, not `sigma²`, to the diagonal, and so does this target.
//!
//! Sampler coordinates: `(log_rho, log_alpha, log_sigma)`; stored: `(rho,
//! alpha, sigma)`. The kernel is evaluated once per distinct distance (10 for
//! posteriordb's evenly spaced `x`), the covariance lives on the stack and is
//! factored by nalgebra's Cholesky; one that is not numerically positive
//! definite is a [`DensityError::Reject`].

use nalgebra::{Cholesky, SMatrix, SVector};
use seqcal_api::DensityError;

use super::model::{assemble, check_len, elementwise, parse_data, Bij, Model, HALF_LN_2PI, POS};
use crate::targets::target::{Target, TargetArgs};
use crate::{Error, Result};

const POSTERIOR: &str = "gp_pois_regr-gp_regr";
/// Number of observations in posteriordb's data; the covariance is a fixed-size matrix.
const N: usize = 11;

#[derive(serde::Deserialize)]
#[allow(non_snake_case)]
struct Data {
    N: usize,
    x: Vec<f64>,
    y: Vec<f64>,
}

struct GpRegr {
    y: SVector<f64, N>,
    /// Distinct squared distances `(x_i - x_j)²`, `i != j`.
    dist2: Vec<f64>,
    /// `dist2[idx[i][j]] = (x_i - x_j)²` for `i > j`.
    idx: [[u8; N]; N],
    log_norm: f64,
}

impl Model for GpRegr {
    fn dim(&self) -> usize {
        3
    }
    fn log_post(&self, u: &[f64]) -> std::result::Result<f64, DensityError> {
        let (log_rho, log_alpha, log_sigma) = (u[0], u[1], u[2]);
        let (rho, alpha2, sigma) = (log_rho.exp(), (2.0 * log_alpha).exp(), log_sigma.exp());
        if !(rho.is_finite() && alpha2.is_finite() && sigma.is_finite()) {
            // Zero prior density.
            return Ok(f64::NEG_INFINITY);
        }
        let c = 0.5 * (-2.0 * log_rho).exp();
        let mut kv = [0.0f64; N * (N - 1) / 2];
        for (k, d) in self.dist2.iter().enumerate() {
            kv[k] = if *d == 0.0 { alpha2 } else { alpha2 * (-d * c).exp() };
        }
        let mut cov = SMatrix::<f64, N, N>::zeros();
        for i in 0..N {
            cov[(i, i)] = alpha2 + sigma;
            for j in 0..i {
                let v = kv[self.idx[i][j] as usize];
                cov[(i, j)] = v;
                cov[(j, i)] = v;
            }
        }
        let chol = Cholesky::new(cov).ok_or_else(|| {
            DensityError::Reject(format!("GP covariance not positive definite at rho={rho:e}, alpha={:e}, sigma={sigma:e}", alpha2.sqrt()))
        })?;
        let l = chol.l_dirty();
        // Forward substitution L z = y: y' cov^-1 y = |z|².
        let mut z = [0.0f64; N];
        let (mut quad, mut log_det_half) = (0.0, 0.0);
        for i in 0..N {
            let s: f64 = (0..i).map(|k| l[(i, k)] * z[k]).sum();
            z[i] = (self.y[i] - s) / l[(i, i)];
            quad += z[i] * z[i];
            log_det_half += l[(i, i)].ln();
        }
        let lik = -0.5 * quad - log_det_half;
        let prior = 24.0 * log_rho - 4.0 * rho - alpha2 / 8.0 - 0.5 * sigma * sigma;
        Ok(self.log_norm + lik + prior + log_rho + log_alpha + log_sigma)
    }
}

pub(super) fn build(_a: &TargetArgs) -> Result<Target> {
    let d: Data = parse_data(POSTERIOR, include_str!("data/gp_pois_regr-gp_regr.json"))?;
    check_len(POSTERIOR, "x", d.x.len(), d.N)?;
    check_len(POSTERIOR, "y", d.y.len(), d.N)?;
    if d.N != N || d.x.iter().chain(&d.y).any(|v| !v.is_finite()) {
        return Err(Error::Data {
            input: format!("posteriordb data of {POSTERIOR}"),
            message: format!("expected {N} finite observations, got {}", d.N),
        });
    }
    let mut dist2: Vec<f64> = Vec::new();
    let mut idx = [[0u8; N]; N];
    for (i, row) in idx.iter_mut().enumerate() {
        for (j, slot) in row.iter_mut().enumerate().take(i) {
            let v = (d.x[i] - d.x[j]).powi(2);
            *slot = match dist2.iter().position(|w| *w == v) {
                Some(k) => k as u8,
                None => {
                    dist2.push(v);
                    (dist2.len() - 1) as u8
                }
            };
        }
    }
    // rho: gamma(25, 4) = 4^25 / Γ(25) rho^24 e^(-4 rho); alpha: N+(0, 2) = 2 N(0, 2); sigma: N+(0, 1) = 2 N(0, 1); y: N-variate normal.
    let ln_gamma_25: f64 = (1..25).map(|k| (k as f64).ln()).sum();
    let log_norm = 25.0 * 4f64.ln() - ln_gamma_25 + (-HALF_LN_2PI) + (2f64.ln() - HALF_LN_2PI) - N as f64 * HALF_LN_2PI;
    let model = GpRegr { y: SVector::from_column_slice(&d.y), dist2, idx, log_norm };
    let params: Vec<(String, Bij)> = ["rho", "alpha", "sigma"].iter().map(|s| (s.to_string(), Bij::Log)).collect();
    let stored = params.iter().map(|(s, _)| (s.clone(), POS)).collect();
    assemble(
        "gp_regr",
        format!("posteriordb {POSTERIOR}: exact GP marginal likelihood of {N} points, squared-exponential kernel + sigma I, rho ~ gamma(25, 4), alpha ~ N+(0, 2), sigma ~ N+(0, 1); sampled as log(rho, alpha, sigma)"),
        stored,
        std::sync::Arc::new(elementwise(&params)?),
        model,
    )
}

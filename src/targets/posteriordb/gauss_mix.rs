//! posteriordb `low_dim_gauss_mix-low_dim_gauss_mix`.
//!
//! ```stan
//! ordered[2] mu;  array[2] real<lower=0> sigma;  real<lower=0, upper=1> theta;
//! sigma ~ normal(0, 2);  mu ~ normal(0, 2);  theta ~ beta(5, 5);
//! for (n in 1:N) target += log_mix(theta, normal_lpdf(y[n] | mu[1], sigma[1]), normal_lpdf(y[n] | mu[2], sigma[2]));
//! ```
//!
//! Sampler coordinates: `(mu[1], log(mu[2] - mu[1]), log_sigma[1],
//! log_sigma[2], logit_theta)`; stored: `(mu[1], mu[2], sigma[1], sigma[2],
//! theta)`. Log-Jacobian: `log(mu[2] - mu[1]) + log_sigma[1] + log_sigma[2]
//! + log theta + log(1 - theta)`.

use seqcal_api::DensityError;

use super::model::{assemble, check_len, elementwise, indexed, parse_data, softplus, Bij, Model, HALF_LN_2PI, POS, REAL};
use crate::math::log_add_exp;
use crate::targets::target::{Target, TargetArgs};
use crate::{Error, Result};

const POSTERIOR: &str = "low_dim_gauss_mix-low_dim_gauss_mix";

#[derive(serde::Deserialize)]
#[allow(non_snake_case)]
struct Data {
    N: usize,
    y: Vec<f64>,
}

/// Stan's `log_mix(theta, a, b) = ln(theta e^a + (1 - theta) e^b)`, given
/// `ln theta` and `ln(1 - theta)`, without overflow or underflow.
#[inline]
pub(super) fn log_mix(ln_theta: f64, ln_1m_theta: f64, a: f64, b: f64) -> f64 {
    log_add_exp(ln_theta + a, ln_1m_theta + b)
}

struct GaussMix {
    y: Vec<f64>,
    log_norm: f64,
}

impl Model for GaussMix {
    fn dim(&self) -> usize {
        5
    }
    fn log_post(&self, u: &[f64]) -> std::result::Result<f64, DensityError> {
        let (mu1, log_gap, ls1, ls2, v) = (u[0], u[1], u[2], u[3], u[4]);
        let mu2 = mu1 + log_gap.exp();
        let (s1, s2) = (ls1.exp(), ls2.exp());
        let (w1, w2) = ((-ls1).exp(), (-ls2).exp());
        if !(mu2.is_finite() && s1.is_finite() && s2.is_finite()) {
            // Zero prior density.
            return Ok(f64::NEG_INFINITY);
        }
        if !(w1.is_finite() && w2.is_finite()) {
            // A scale below 1e-308: negligible mass; avoid 0 * inf below.
            return Ok(f64::NEG_INFINITY);
        }
        let (ln_t, ln_1mt) = (-softplus(-v), -softplus(v));
        let mut lik = 0.0;
        for y in &self.y {
            let (z1, z2) = ((y - mu1) * w1, (y - mu2) * w2);
            // Each normal_lpdf's -ln(2 pi)/2 is in log_norm.
            lik += log_mix(ln_t, ln_1mt, -ls1 - 0.5 * z1 * z1, -ls2 - 0.5 * z2 * z2);
        }
        let prior = -(mu1 * mu1 + mu2 * mu2 + s1 * s1 + s2 * s2) / 8.0 + 4.0 * (ln_t + ln_1mt);
        let log_jac = log_gap + ls1 + ls2 + ln_t + ln_1mt;
        Ok(self.log_norm + prior + lik + log_jac)
    }
}

pub(super) fn build(_a: &TargetArgs) -> Result<Target> {
    let d: Data = parse_data(POSTERIOR, include_str!("data/low_dim_gauss_mix-low_dim_gauss_mix.json"))?;
    check_len(POSTERIOR, "y", d.y.len(), d.N)?;
    if d.y.iter().any(|y| !y.is_finite()) {
        return Err(Error::Data { input: format!("posteriordb data of {POSTERIOR}"), message: "y has a non-finite value".into() });
    }
    // mu: two N(0, 2); sigma: two half-normals N+(0, 2) (2 N(0, 2) on the half-line); theta: beta(5, 5), 1/B(5, 5) = 630;
    // each observation's normal constant -ln(2 pi)/2 (the -ln sigma and ln theta parts are per call).
    let log_norm = 2.0 * (-HALF_LN_2PI - 2f64.ln()) + 2.0 * (2f64.ln() - HALF_LN_2PI - 2f64.ln()) + 630f64.ln() - d.N as f64 * HALF_LN_2PI;
    let params = vec![("mu[1]".to_string(), Bij::Free), ("mu[2]".to_string(), Bij::LogGap)]
        .into_iter()
        .chain(indexed("sigma", 2).map(|s| (s, Bij::Log)))
        .chain([("theta".to_string(), Bij::Logit)])
        .collect::<Vec<_>>();
    let stored = params
        .iter()
        .map(|(s, b)| {
            let bounds = match b {
                Bij::Log => POS,
                Bij::Logit => (0.0, 1.0),
                _ => REAL,
            };
            (s.clone(), bounds)
        })
        .collect();
    assemble(
        "low_dim_gauss_mix",
        format!("posteriordb {POSTERIOR}: two-component normal mixture of {} points, ordered means, theta ~ beta(5, 5); sampled as (mu[1], log(mu[2]-mu[1]), log_sigma, logit_theta)", d.N),
        stored,
        std::sync::Arc::new(elementwise(&params)?),
        GaussMix { y: d.y, log_norm },
    )
}

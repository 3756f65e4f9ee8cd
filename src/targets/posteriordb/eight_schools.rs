//! posteriordb `eight_schools-eight_schools_noncentered`.
//!
//! ```stan
//! theta = theta_trans * tau + mu;
//! theta_trans ~ normal(0, 1);  y ~ normal(theta, sigma);  mu ~ normal(0, 5);  tau ~ cauchy(0, 5);   // tau > 0
//! ```
//!
//! Sampler coordinates: `(theta_trans[1..J], mu, log_tau)`; stored:
//! `(theta[1..J], mu, tau)` with `theta` the transformed parameter. The
//! density is over Stan's parameters `(theta_trans, mu, tau)`, so the only
//! Jacobian is that of `tau = e^log_tau`.

use seqcal_api::DensityError;

use super::model::{assemble, check_len, indexed, log_half_cauchy, parse_data, Model, HALF_LN_2PI, POS, REAL};
use crate::targets::target::{Target, TargetArgs};
use crate::targets::transform::Transform;
use crate::Result;

const POSTERIOR: &str = "eight_schools-eight_schools_noncentered";

#[derive(serde::Deserialize)]
#[allow(non_snake_case)]
struct Data {
    J: usize,
    y: Vec<f64>,
    sigma: Vec<f64>,
}

struct EightSchools {
    y: Vec<f64>,
    inv_sigma: Vec<f64>,
    log_norm: f64,
}

impl Model for EightSchools {
    fn dim(&self) -> usize {
        self.y.len() + 2
    }
    fn log_post(&self, u: &[f64]) -> std::result::Result<f64, DensityError> {
        let j = self.y.len();
        let (tt, mu, log_tau) = (&u[..j], u[j], u[j + 1]);
        let tau = log_tau.exp();
        if tau == f64::INFINITY {
            // Zero prior density; avoid inf * 0 below.
            return Ok(f64::NEG_INFINITY);
        }
        let mut q = 0.0;
        for ((t, y), w) in tt.iter().zip(&self.y).zip(&self.inv_sigma) {
            let r = (y - (mu + tau * t)) * w;
            q += t * t + r * r;
        }
        Ok(self.log_norm - 0.5 * q - 0.5 * (mu / 5.0) * (mu / 5.0) + log_half_cauchy(tau, 5.0) + log_tau)
    }
}

/// `theta_j = mu + tau theta_trans_j`, `tau = e^log_tau`.
struct NonCentered {
    j: usize,
}

impl Transform for NonCentered {
    fn sampler_names(&self) -> Vec<String> {
        indexed("theta_trans", self.j).chain(["mu".into(), "log_tau".into()]).collect()
    }
    fn constrain(&self, u: &[f64], theta: &mut [f64]) {
        let j = self.j;
        let (mu, tau) = (u[j], u[j + 1].exp());
        for i in 0..j {
            theta[i] = mu + tau * u[i];
        }
        theta[j] = mu;
        theta[j + 1] = tau;
    }
    fn unconstrain(&self, theta: &[f64], u: &mut [f64]) -> bool {
        let j = self.j;
        if theta.len() != j + 2 || u.len() != j + 2 || theta.iter().any(|v| !v.is_finite()) || theta[j + 1] <= 0.0 {
            return false;
        }
        let (mu, tau) = (theta[j], theta[j + 1]);
        for i in 0..j {
            u[i] = (theta[i] - mu) / tau;
        }
        u[j] = mu;
        u[j + 1] = tau.ln();
        u.iter().all(|v| v.is_finite())
    }
    /// The Jacobian is upper triangular with `tau` for each `theta_j`, 1
    /// for `mu` and `tau` for `tau`: `log |det| = (J + 1) log_tau`.
    fn log_jacobian(&self, u: &[f64]) -> f64 {
        (self.j + 1) as f64 * u[self.j + 1]
    }
}

pub(super) fn build(_a: &TargetArgs) -> Result<Target> {
    let d: Data = parse_data(POSTERIOR, include_str!("data/eight_schools-eight_schools_noncentered.json"))?;
    check_len(POSTERIOR, "y", d.y.len(), d.J)?;
    check_len(POSTERIOR, "sigma", d.sigma.len(), d.J)?;
    let j = d.J;
    // theta_trans: J standard normals; y: J normals; mu: N(0, 5); tau: half-Cauchy (its constant is in log_half_cauchy).
    let log_norm = -2.0 * j as f64 * HALF_LN_2PI - d.sigma.iter().map(|s| s.ln()).sum::<f64>() - HALF_LN_2PI - 5f64.ln();
    let model = EightSchools { y: d.y, inv_sigma: d.sigma.iter().map(|s| 1.0 / s).collect(), log_norm };
    let stored = indexed("theta", j).map(|n| (n, REAL)).chain([("mu".to_string(), REAL), ("tau".to_string(), POS)]).collect();
    assemble(
        "eight_schools_noncentered",
        format!("posteriordb {POSTERIOR}: hierarchical normal model of {j} school effects, non-centred, tau ~ half-Cauchy(0, 5); sampled as (theta_trans, mu, log_tau)"),
        stored,
        std::sync::Arc::new(NonCentered { j }),
        model,
    )
}

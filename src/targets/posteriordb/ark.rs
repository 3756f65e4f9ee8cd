//! posteriordb `arK-arK`.
//!
//! ```stan
//! alpha ~ normal(0, 10);  beta ~ normal(0, 10);  sigma ~ cauchy(0, 2.5);   // sigma > 0
//! for (t in (K + 1):T) y[t] ~ normal(alpha + sum_k beta[k] * y[t - k], sigma);
//! ```
//!
//! Sampler coordinates: `(alpha, beta[1..K], log_sigma)`; stored:
//! `(alpha, beta[1..K], sigma)`. The `T - K` residuals enter only through
//! their sum of squares, a quadratic in `(alpha, beta)` computed in O(K²)
//! per evaluation by [`LeastSquares`].

use nalgebra::{DMatrix, DVector};
use seqcal_api::DensityError;

use super::model::{assemble, check_len, elementwise, indexed, log_half_cauchy, parse_data, Bij, LeastSquares, Model, HALF_LN_2PI, POS, REAL};
use crate::targets::target::{Target, TargetArgs};
use crate::{Error, Result};

const POSTERIOR: &str = "arK-arK";

#[derive(serde::Deserialize)]
#[allow(non_snake_case)]
struct Data {
    K: usize,
    T: usize,
    y: Vec<f64>,
}

struct ArK {
    /// Regression of `y[t]` on `(1, y[t-1], ..., y[t-K])`.
    ls: LeastSquares,
    /// Number of modelled observations, `T - K`.
    n: f64,
    log_norm: f64,
}

impl Model for ArK {
    fn dim(&self) -> usize {
        self.ls.p + 1
    }
    fn log_post(&self, u: &[f64]) -> std::result::Result<f64, DensityError> {
        let p = self.ls.p;
        let (coef, log_sigma) = (&u[..p], u[p]);
        let sigma = log_sigma.exp();
        let prior = -0.5 * coef.iter().map(|c| c * c).sum::<f64>() / 100.0 + log_half_cauchy(sigma, 2.5);
        let lik = -self.n * log_sigma - 0.5 * self.ls.ssr(coef) * (-2.0 * log_sigma).exp();
        Ok(self.log_norm + prior + lik + log_sigma)
    }
}

pub(super) fn build(_a: &TargetArgs) -> Result<Target> {
    let d: Data = parse_data(POSTERIOR, include_str!("data/arK-arK.json"))?;
    check_len(POSTERIOR, "y", d.y.len(), d.T)?;
    let k = d.K;
    if k == 0 || d.T <= 2 * k + 1 {
        return Err(Error::Data {
            input: format!("posteriordb data of {POSTERIOR}"),
            message: format!("K = {k} needs more than {} observations", 2 * k + 1),
        });
    }
    let n = d.T - k;
    let x = DMatrix::from_fn(n, k + 1, |r, c| if c == 0 { 1.0 } else { d.y[k + r - c] });
    let y = DVector::from_iterator(n, d.y[k..].iter().copied());
    // alpha and K betas: N(0, 10); n normal observations; sigma's half-Cauchy constant is in log_half_cauchy.
    let log_norm = -((k + 1) as f64) * (HALF_LN_2PI + 10f64.ln()) - n as f64 * HALF_LN_2PI;
    let model = ArK { ls: LeastSquares::new(&x, &y)?, n: n as f64, log_norm };
    let params: Vec<(String, Bij)> =
        std::iter::once("alpha".to_string()).chain(indexed("beta", k)).map(|s| (s, Bij::Free)).chain([("sigma".to_string(), Bij::Log)]).collect();
    let stored = params.iter().map(|(s, b)| (s.clone(), if *b == Bij::Log { POS } else { REAL })).collect();
    assemble(
        "arK",
        format!("posteriordb {POSTERIOR}: AR({k}) model of a {}-point series, N(0, 10) coefficients, sigma ~ half-Cauchy(0, 2.5); sampled as (alpha, beta, log_sigma)", d.T),
        stored,
        std::sync::Arc::new(elementwise(&params)?),
        model,
    )
}

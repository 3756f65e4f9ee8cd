//! posteriordb `kidiq-kidscore_interaction`.
//!
//! ```stan
//! inter = mom_hs .* mom_iq;
//! sigma ~ cauchy(0, 2.5);   // sigma > 0; beta has a flat (improper) prior
//! kid_score ~ normal(beta[1] + beta[2] * mom_hs + beta[3] * mom_iq + beta[4] * inter, sigma);
//! ```
//!
//! Sampler coordinates: `(beta[1..4], log_sigma)`; stored: `(beta[1..4],
//! sigma)`. The residuals enter only through their sum of squares, computed
//! in O(4²) per evaluation by [`LeastSquares`] from the design
//! `(1, mom_hs, mom_iq, inter)` built once.

use nalgebra::{DMatrix, DVector};
use seqcal_api::DensityError;

use super::model::{assemble, check_len, elementwise, indexed, log_half_cauchy, parse_data, Bij, LeastSquares, Model, HALF_LN_2PI, POS, REAL};
use crate::targets::target::{Target, TargetArgs};
use crate::Result;

const POSTERIOR: &str = "kidiq-kidscore_interaction";

#[derive(serde::Deserialize)]
#[allow(non_snake_case)]
struct Data {
    N: usize,
    kid_score: Vec<f64>,
    mom_iq: Vec<f64>,
    mom_hs: Vec<f64>,
}

struct KidIq {
    ls: LeastSquares,
    n: f64,
    log_norm: f64,
}

impl Model for KidIq {
    fn dim(&self) -> usize {
        5
    }
    fn log_post(&self, u: &[f64]) -> std::result::Result<f64, DensityError> {
        let (beta, log_sigma) = (&u[..4], u[4]);
        let lik = -self.n * log_sigma - 0.5 * self.ls.ssr(beta) * (-2.0 * log_sigma).exp();
        Ok(self.log_norm + log_half_cauchy(log_sigma.exp(), 2.5) + lik + log_sigma)
    }
}

pub(super) fn build(_a: &TargetArgs) -> Result<Target> {
    let d: Data = parse_data(POSTERIOR, include_str!("data/kidiq-kidscore_interaction.json"))?;
    check_len(POSTERIOR, "kid_score", d.kid_score.len(), d.N)?;
    check_len(POSTERIOR, "mom_iq", d.mom_iq.len(), d.N)?;
    check_len(POSTERIOR, "mom_hs", d.mom_hs.len(), d.N)?;
    let n = d.N;
    let x = DMatrix::from_fn(n, 4, |r, c| match c {
        0 => 1.0,
        1 => d.mom_hs[r],
        2 => d.mom_iq[r],
        _ => d.mom_hs[r] * d.mom_iq[r],
    });
    let y = DVector::from_vec(d.kid_score);
    let model = KidIq { ls: LeastSquares::new(&x, &y)?, n: n as f64, log_norm: -(n as f64) * HALF_LN_2PI };
    let params: Vec<(String, Bij)> = indexed("beta", 4).map(|s| (s, Bij::Free)).chain([("sigma".to_string(), Bij::Log)]).collect();
    let stored = params.iter().map(|(s, b)| (s.clone(), if *b == Bij::Log { POS } else { REAL })).collect();
    assemble(
        "kidiq_interaction",
        format!("posteriordb {POSTERIOR}: regression of {n} kid scores on mom_hs, mom_iq and mom_hs*mom_iq, flat prior on beta, sigma ~ half-Cauchy(0, 2.5); sampled as (beta, log_sigma)"),
        stored,
        std::sync::Arc::new(elementwise(&params)?),
        model,
    )
}

//! The second estimate of the evidence: importance sampling with a flow
//! fitted to the final particles as the proposal,
//! `Z ≈ mean(π(yᵢ)/q(yᵢ))` over fresh draws `yᵢ ~ q`, with the standard
//! error of independent draws, `√((1/ESS_fraction − 1)/M)` on the log scale.

use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use super::precond::Precond;
use super::space::Space;
use super::tempering::{ess_fraction, log_mean_exp};
use crate::sampler::Posterior;
use crate::Result;

/// `(log Z, standard error)`, or `None` when no flow can be fitted to the
/// particles `y` or no draw has a finite weight.
pub(super) fn importance(
    space: &Space,
    posterior: &Posterior,
    beta: f64,
    y: &Array2<f64>,
    m: usize,
    seed: u64,
    rng: &mut dyn Rng,
) -> Result<Option<(f64, f64)>> {
    let n = y.nrows();
    let Ok(flow) = Precond::fit(y, &vec![1.0; n], seed) else {
        return Ok(None);
    };
    let d = y.ncols();
    let z = Array2::from_shape_fn((m, d), |_| StandardNormal.sample(rng));
    let (draws, ld_fwd) = flow.to_data(&z);
    let finite: Vec<usize> = (0..m).filter(|&i| draws.row(i).iter().all(|v| v.is_finite())).collect();
    let sub = draws.select(ndarray::Axis(0), &finite);
    let dens = space.evaluate(posterior, &sub)?;
    let c = -0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln();
    let mut lw = vec![f64::NEG_INFINITY; m];
    for (k, &i) in finite.iter().enumerate() {
        let log_q = c - 0.5 * z.row(i).iter().map(|v| v * v).sum::<f64>() - ld_fwd[i];
        let (lr, ell) = (dens.log_ref[k], dens.ell[k]);
        if lr > f64::NEG_INFINITY && ell > f64::NEG_INFINITY {
            lw[i] = lr + beta * ell - log_q;
        }
    }
    let frac = ess_fraction(&lw);
    if frac == 0.0 {
        return Ok(None);
    }
    Ok(Some((log_mean_exp(&lw), ((1.0 / frac - 1.0) / m as f64).sqrt())))
}

//! The second estimate of the evidence: importance sampling with a flow
//! fitted to the weighted final particles as the proposal,
//! `Z ≈ mean(π(yᵢ)/q(yᵢ))` over fresh draws `yᵢ ~ q`, with the standard
//! error of independent draws, `√((1/ESS_fraction − 1)/M)` on the log scale.
//! The flow's base is made defensive: latent draws come from
//! `0.8 N(0, I) + 0.2 N(0, 2² I)`, so that no weight exceeds five times the
//! density ratio to the widened flow, and a flow whose tails are too light
//! cannot make the estimate low while reporting a small error.
//! The draws come in batches of [`BATCH`] until that error is below the one
//! the estimate is to be combined with (more draws would add little) or
//! their number reaches the most allowed.

use ndarray::Array2;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

use super::precond::Precond;
use super::space::Space;
use super::tempering::{ess_fraction, log_mean_exp};
use crate::sampler::Posterior;
use crate::Result;

/// Share and scale of the wide component of the latent draws.
const WIDE_SHARE: f64 = 0.2;
const WIDE: f64 = 2.0;

/// Draws per batch.
pub(super) const BATCH: usize = 512;

/// `(log Z, standard error)` from at most `max` draws, stopping once the
/// error is below `enough`; `None` when no flow can be fitted to the
/// particles `y` with weights `w` or no draw has a finite weight.
#[allow(clippy::too_many_arguments)]
pub(super) fn importance(
    space: &Space,
    posterior: &Posterior,
    beta: f64,
    y: &Array2<f64>,
    w: &[f64],
    max: usize,
    enough: f64,
    seed: u64,
    rng: &mut dyn Rng,
) -> Result<Option<(f64, f64)>> {
    let Ok(flow) = Precond::fit(y, w, seed) else {
        return Ok(None);
    };
    let d = y.ncols();
    let c = -0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln();
    let mut lw: Vec<f64> = Vec::with_capacity(max);
    let mut err = f64::INFINITY;
    while lw.len() < max {
        let m = BATCH.min(max - lw.len());
        let mut z = Array2::zeros((m, d));
        for mut row in z.rows_mut() {
            let s = if rng.random::<f64>() < WIDE_SHARE { WIDE } else { 1.0 };
            row.iter_mut().for_each(|v| {
                let e: f64 = StandardNormal.sample(rng);
                *v = s * e;
            });
        }
        let (draws, ld_fwd) = flow.to_data(&z);
        let finite: Vec<usize> = (0..m).filter(|&i| draws.row(i).iter().all(|v| v.is_finite())).collect();
        let sub = draws.select(ndarray::Axis(0), &finite);
        let dens = space.evaluate(posterior, &sub)?;
        let mut batch = vec![f64::NEG_INFINITY; m];
        for (k, &i) in finite.iter().enumerate() {
            let r2 = z.row(i).iter().map(|v| v * v).sum::<f64>();
            let narrow = (1.0 - WIDE_SHARE).ln() + c - 0.5 * r2;
            let wide = WIDE_SHARE.ln() + c - d as f64 * WIDE.ln() - 0.5 * r2 / (WIDE * WIDE);
            let top = narrow.max(wide);
            let log_q = top + ((narrow - top).exp() + (wide - top).exp()).ln() - ld_fwd[i];
            let (lr, ell) = (dens.log_ref[k], dens.ell[k]);
            if lr > f64::NEG_INFINITY && ell > f64::NEG_INFINITY {
                batch[i] = lr + beta * ell - log_q;
            }
        }
        lw.extend(batch);
        let frac = ess_fraction(&lw);
        if frac > 0.0 {
            err = ((1.0 / frac - 1.0) / lw.len() as f64).sqrt();
            if err < enough {
                break;
            }
        }
    }
    if !err.is_finite() {
        return Ok(None);
    }
    Ok(Some((log_mean_exp(&lw), err)))
}

//! How far the result of a two-stage run lies from each component's draws,
//! and what the finite pool alone does to it there.
//!
//! Stage 1 learns `gi` where its draws are; a composite that puts its mass
//! far outside them (a software prior divided out that pulled the draws away)
//! reads the stage-1 flow in its extrapolated tails. The distance is the
//! Mahalanobis distance `d` of the result's mean from the draws' mean under
//! the draws' covariance `C` (in "pool sds"). Even the efficient fit of a
//! Gaussian pool (its sample mean and covariance) then carries the pool's
//! sampling noise into the result: to first order the gradient of `log ĝ` at
//! the result's mean moves with covariance `G = (C⁻¹ (1 + d²) + w wᵀ) / n`
//! (`w = C⁻¹ r`, `r` the offset of the result's mean, `n` the draws' effective
//! number), which moves the result's mean on the component's coordinates with
//! covariance `Σ G Σ` (`Σ` the result's covariance there). A stage-1 flow can
//! only do worse than that Gaussian fit, so the noise reported is a lower
//! bound of the error the pool leaves.

use nalgebra::{DMatrix, DVector};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::load::ComponentDraws;

/// The distance in pool sds beyond which a run warns.
pub const WARN_DISTANCE: f64 = 4.0;

/// One component's distance from the result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Extrapolation {
    /// The component.
    pub component: String,
    /// Mahalanobis distance of the result's mean from the draws (pool sds).
    pub distance: f64,
    /// Effective number of draws (Kish's, for weighted draws).
    pub draws: f64,
    /// Per coordinate of the component: the first-order sd of the result's
    /// mean that the pool's sampling noise alone causes (a Gaussian fit's).
    pub noise_sd: Vec<f64>,
    /// The warning, when the distance exceeds [`WARN_DISTANCE`].
    pub warning: Option<String>,
}

/// The extrapolation of each component: `inputs` the components' draws,
/// `names` the target's coordinates, `x` the result's draws. A component whose
/// draws have a singular covariance, or whose coordinates are not among
/// `names`, is left out.
pub fn extrapolation(inputs: &[ComponentDraws], names: &[String], x: &Array2<f64>) -> Vec<Extrapolation> {
    inputs.iter().filter_map(|c| one(c, names, x)).collect()
}

fn one(c: &ComponentDraws, names: &[String], x: &Array2<f64>) -> Option<Extrapolation> {
    let idx: Vec<usize> = c.names.iter().map(|n| names.iter().position(|m| m == n)).collect::<Option<_>>()?;
    let (n, d) = c.draws.dim();
    if n < 2 || d != idx.len() || x.nrows() < 2 {
        return None;
    }
    let w: Vec<f64> = c.weights.clone().unwrap_or_else(|| vec![1.0; n]);
    let (m, cov, n_eff) = weighted_moments(&c.draws, &w)?;
    let y: Array2<f64> = x.select(ndarray::Axis(1), &idx);
    let (my, sy, _) = weighted_moments(&y, &vec![1.0; y.nrows()])?;
    let cinv = cov.clone().try_inverse()?;
    let r = &my - &m;
    let wv = &cinv * &r;
    let d2 = r.dot(&wv).max(0.0);
    let g = (&cinv * (1.0 + d2) + &wv * wv.transpose()) / n_eff;
    let shift = &sy * g * &sy;
    let noise_sd: Vec<f64> = (0..d).map(|k| shift[(k, k)].max(0.0).sqrt()).collect();
    let distance = d2.sqrt();
    let warning = (distance > WARN_DISTANCE).then(|| {
        let worst = noise_sd.iter().cloned().fold(0.0, f64::max);
        format!(
            "component {:?}: the result lies {distance:.1} pool-sds from its draws, so stage 1 is extrapolating there; the pool's sampling noise alone ({n_eff:.0} draws) moves the result's mean of {} by about {worst:.3} (one sd, for the best possible fit of a Gaussian pool; a flow does no better): use more draws, or a software prior that puts them nearer the result",
            c.label,
            c.names.join(", ")
        )
    });
    Some(Extrapolation { component: c.label.clone(), distance, draws: n_eff, noise_sd, warning })
}

/// Weighted mean, covariance (weights normalized) and Kish's effective number.
fn weighted_moments(x: &Array2<f64>, w: &[f64]) -> Option<(DVector<f64>, DMatrix<f64>, f64)> {
    let d = x.ncols();
    let sw: f64 = w.iter().sum();
    let sw2: f64 = w.iter().map(|v| v * v).sum();
    if sw.is_nan() || sw <= 0.0 {
        return None;
    }
    let mut m = DVector::zeros(d);
    for (row, wi) in x.rows().into_iter().zip(w) {
        for (mk, v) in m.iter_mut().zip(row) {
            *mk += wi * v / sw;
        }
    }
    let mut c = DMatrix::zeros(d, d);
    for (row, wi) in x.rows().into_iter().zip(w) {
        for a in 0..d {
            for b in 0..d {
                c[(a, b)] += wi * (row[a] - m[a]) * (row[b] - m[b]) / sw;
            }
        }
    }
    Some((m, c, sw * sw / sw2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    fn draws(label: &str, name: &str, mean: f64, sd: f64, n: usize, seed: u64) -> ComponentDraws {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let nd = Normal::new(mean, sd).unwrap();
        ComponentDraws {
            label: label.into(),
            names: vec![name.into()],
            draws: Array2::from_shape_fn((n, 1), |_| nd.sample(&mut rng)),
            weights: None,
            bounds: None,
            source: "test".into(),
        }
    }

    /// The hierarchical example's first group: draws N(-0.93, 0.2) against a
    /// result N(-4.47, 0.93²): 8 pool-sds, and the first-order noise is the
    /// closed form of the 1-D case, Σ·√((1 + 2d²)/(n v)).
    #[test]
    fn a_result_eight_pool_sds_out_warns_with_the_first_order_noise() {
        let pool = draws("software_1", "theta_1", -0.93, 0.2f64.sqrt(), 30_000, 1);
        let res = draws("r", "theta_1", -4.47, 0.93, 50_000, 2).draws;
        let names = vec!["theta_1".to_string()];
        let e = &extrapolation(std::slice::from_ref(&pool), &names, &res)[0];
        let (m, v) = (pool.draws.mean().unwrap(), pool.draws.var(0.0));
        let (mr, vr) = (res.mean().unwrap(), res.var(0.0));
        let dist = (mr - m).abs() / v.sqrt();
        assert!((e.distance - dist).abs() < 1e-9 && e.distance > 7.5, "{e:?}");
        let want = vr * ((1.0 + 2.0 * dist * dist) / (30_000.0 * v)).sqrt();
        assert!((e.noise_sd[0] - want).abs() < 1e-9, "{e:?} {want}");
        let w = e.warning.as_deref().expect("a warning");
        assert!(w.contains("software_1") && w.contains("pool-sds") && w.contains(&format!("{:.3}", want)), "{w}");
        // A result inside the pool: no warning.
        let near = draws("r", "theta_1", -0.9, 0.4, 20_000, 3).draws;
        let e = &extrapolation(&[pool], &names, &near)[0];
        assert!(e.distance < 1.0 && e.warning.is_none(), "{e:?}");
    }
}

//! What the examples share: exact moments, the
//! errors of a set of draws against them, and a CSV writer for pools.

use std::io::Write;
use std::path::Path;

use ndarray::{Array2, ArrayView2, Axis};

use crate::stage1::SampleComponent;

/// Exact first and second moments of a posterior: every coordinate's mean
/// and sd, and the covariance of a block of coordinates.
#[derive(Debug, Clone)]
pub struct Moments {
    /// Coordinate names, in the order of `mean` and `sd`.
    pub names: Vec<String>,
    /// Marginal means.
    pub mean: Vec<f64>,
    /// Marginal standard deviations.
    pub sd: Vec<f64>,
    /// Indices of the coordinates whose covariance is `cov`.
    pub cov_coords: Vec<usize>,
    /// Covariance of `cov_coords`.
    pub cov: Array2<f64>,
}

/// Errors of draws against [`Moments`]: signed `estimate - exact` per
/// coordinate, and the Frobenius norm of the covariance difference.
#[derive(Debug, Clone)]
pub struct MomentErrors {
    /// Estimated means.
    pub mean: Vec<f64>,
    /// Estimated sds (n - 1 in the denominator).
    pub sd: Vec<f64>,
    /// `mean - exact mean`, per coordinate.
    pub mean_err: Vec<f64>,
    /// `sd - exact sd`, per coordinate.
    pub sd_err: Vec<f64>,
    /// `‖Cov - exact Cov‖_F` over the covariance block.
    pub cov_frobenius: f64,
}

impl MomentErrors {
    /// Largest `|mean error|`.
    pub fn max_mean_err(&self) -> f64 {
        self.mean_err.iter().fold(0.0, |a, e| a.max(e.abs()))
    }
    /// Largest `|sd error|`.
    pub fn max_sd_err(&self) -> f64 {
        self.sd_err.iter().fold(0.0, |a, e| a.max(e.abs()))
    }
}

/// Moments of `draws` (rows, coordinates in the order of `exact.names`)
/// against `exact`.
///
/// # Panics
/// If `draws` has fewer than 2 rows or another number of columns.
pub fn moment_errors(draws: ArrayView2<'_, f64>, exact: &Moments) -> MomentErrors {
    assert!(draws.nrows() >= 2 && draws.ncols() == exact.mean.len(), "moment_errors: shape {:?}", draws.shape());
    let mean: Vec<f64> = draws.mean_axis(Axis(0)).expect("rows").to_vec();
    let n = draws.nrows() as f64;
    let centered = &draws - &ndarray::Array1::from(mean.clone());
    let sd: Vec<f64> = centered.columns().into_iter().map(|c| (c.dot(&c) / (n - 1.0)).sqrt()).collect();
    let k = exact.cov_coords.len();
    let mut frob = 0.0;
    for a in 0..k {
        for b in 0..k {
            let (ca, cb) = (centered.column(exact.cov_coords[a]), centered.column(exact.cov_coords[b]));
            let c = ca.dot(&cb) / (n - 1.0);
            frob += (c - exact.cov[[a, b]]).powi(2);
        }
    }
    let mean_err = mean.iter().zip(&exact.mean).map(|(m, e)| m - e).collect();
    let sd_err = sd.iter().zip(&exact.sd).map(|(m, e)| m - e).collect();
    MomentErrors { mean, sd, mean_err, sd_err, cov_frobenius: frob.sqrt() }
}

/// Moment errors of a density `q` known by its normalized log density,
/// estimated by importance sampling from the exact posterior `p`:
/// `E_q[f] - E_p[f] = E_p[(f - E_p f)(w - 1)]`, `w = q/p`, on `exact_draws`
/// (rows of i.i.d. draws of `p`) with `log_w = log q - log p` at each of them.
///
/// Where `q` is close to `p` the weights are close to 1 and this estimate of
/// the error has a far smaller Monte Carlo error than the moments of draws of
/// `q` compared with the exact ones (which carry the full sampling noise of a
/// covariance). Returns the errors and the largest standard error of the
/// mean and sd errors (the delta method, to first order).
///
/// # Panics
/// If the shapes disagree.
pub fn weighted_moment_errors(exact_draws: ArrayView2<'_, f64>, log_w: &[f64], exact: &Moments) -> (MomentErrors, f64) {
    let (n, d) = exact_draws.dim();
    assert!(n == log_w.len() && d == exact.mean.len(), "weighted_moment_errors: shapes");
    let nf = n as f64;
    // w - 1, with a non-finite log weight (q zero where p is not) as w = 0.
    let wm1: Vec<f64> = log_w.iter().map(|l| if l.is_finite() { l.exp() - 1.0 } else { -1.0 }).collect();
    let dev = |k: usize, r: usize| exact_draws[[r, k]] - exact.mean[k];
    let mut mean_err = vec![0.0; d];
    let mut se = 0.0f64;
    for (k, m) in mean_err.iter_mut().enumerate() {
        let terms: Vec<f64> = (0..n).map(|r| dev(k, r) * wm1[r]).collect();
        *m = terms.iter().sum::<f64>() / nf;
        se = se.max(sd_of(&terms) / nf.sqrt());
    }
    // Second moments about the exact mean: E_q[(x-μ)_a (x-μ)_b] = Σ_ab + E_p[((x-μ)_a (x-μ)_b - Σ_ab)(w - 1)].
    let full_cov = |a: usize, b: usize| -> Option<f64> {
        let (ia, ib) = (exact.cov_coords.iter().position(|c| *c == a)?, exact.cov_coords.iter().position(|c| *c == b)?);
        Some(exact.cov[[ia, ib]])
    };
    let second = |a: usize, b: usize, exact_ab: f64| -> (f64, Vec<f64>) {
        let terms: Vec<f64> = (0..n).map(|r| (dev(a, r) * dev(b, r) - exact_ab) * wm1[r]).collect();
        (exact_ab + terms.iter().sum::<f64>() / nf, terms)
    };
    let mut sd = vec![0.0; d];
    let mut sd_err = vec![0.0; d];
    for k in 0..d {
        let var_p = exact.sd[k] * exact.sd[k];
        let (m2, terms) = second(k, k, full_cov(k, k).unwrap_or(var_p));
        let var_q = m2 - mean_err[k] * mean_err[k];
        sd[k] = var_q.max(0.0).sqrt();
        sd_err[k] = sd[k] - exact.sd[k];
        se = se.max(sd_of(&terms) / nf.sqrt() / (2.0 * exact.sd[k]));
    }
    let kc = exact.cov_coords.len();
    let mut frob = 0.0;
    for ia in 0..kc {
        for ib in 0..kc {
            let (a, b) = (exact.cov_coords[ia], exact.cov_coords[ib]);
            let (m2, _) = second(a, b, exact.cov[[ia, ib]]);
            let c = m2 - mean_err[a] * mean_err[b];
            frob += (c - exact.cov[[ia, ib]]).powi(2);
        }
    }
    let mean = exact.mean.iter().zip(&mean_err).map(|(m, e)| m + e).collect();
    (MomentErrors { mean, sd, mean_err, sd_err, cov_frobenius: frob.sqrt() }, se)
}

fn sd_of(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// Writes `pool` as CSV (a header of names, then one row per draw, each
/// value in its shortest round-trip form).
///
/// # Errors
/// Any I/O error.
pub fn write_csv(pool: &SampleComponent, path: &Path) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "{}", pool.names.join(","))?;
    for row in pool.draws.rows() {
        let line: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
        writeln!(w, "{}", line.join(","))?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn errors_of_known_draws() {
        let d = array![[0.0, 1.0], [2.0, 3.0]];
        let exact =
            Moments { names: vec!["a".into(), "b".into()], mean: vec![1.0, 1.0], sd: vec![1.0, 1.0], cov_coords: vec![0, 1], cov: Array2::eye(2) };
        let e = moment_errors(d.view(), &exact);
        assert_eq!(e.mean_err, vec![0.0, 1.0]);
        // sd of {0, 2} with n - 1 = 1 is sqrt(2).
        assert!((e.sd_err[0] - (2f64.sqrt() - 1.0)).abs() < 1e-15);
        // Cov = [[2, 2], [2, 2]] against I: sqrt(1 + 4 + 4 + 1).
        assert!((e.cov_frobenius - 10f64.sqrt()).abs() < 1e-15);
    }

    /// q = N(0.1, 1.2²) seen from p = N(0, 1): the weighted estimate finds the
    /// shift and the scale.
    #[test]
    fn weighted_errors_of_a_shifted_wider_normal() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let x = Array2::from_shape_fn((200_000, 1), |_| StandardNormal.sample(&mut rng));
        let lq = |v: f64| -0.5 * ((v - 0.1) / 1.2f64).powi(2) - 1.2f64.ln();
        let lw: Vec<f64> = x.column(0).iter().map(|v| lq(*v) + 0.5 * v * v).collect();
        let exact = Moments { names: vec!["a".into()], mean: vec![0.0], sd: vec![1.0], cov_coords: vec![0], cov: Array2::eye(1) };
        let (e, se) = weighted_moment_errors(x.view(), &lw, &exact);
        assert!((e.mean_err[0] - 0.1).abs() < 4.0 * se, "{e:?} {se}");
        assert!((e.sd_err[0] - 0.2).abs() < 4.0 * se + 0.01, "{e:?} {se}");
        assert!(se < 0.01, "{se}");
    }
}

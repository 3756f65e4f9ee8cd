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
}

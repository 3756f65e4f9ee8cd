//! Output standardization and principal-component reduction.
//!
//! Outputs are standardized per column (mean 0, sd 1), then projected on the
//! leading eigenvectors of their covariance; component scores are whitened
//! (unit variance), so every component's GP sees a target of unit scale. The
//! dropped components leave a residual covariance, kept as a full matrix.
//!
//! # Reference
//! I. T. Jolliffe, *Principal Component Analysis*, 2nd ed., Springer 2002, ch. 3.

use nalgebra::{DMatrix, SymmetricEigen};
use serde::{Deserialize, Serialize};

use crate::EmuError;

/// How many principal components to keep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Components {
    /// Exactly this many (at most the number of outputs and of runs − 1).
    Fixed(usize),
    /// The fewest that explain at least this fraction of the standardized variance.
    Explained(f64),
}

/// A fitted standardization + PCA.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pca {
    pub y_mean: Vec<f64>,
    pub y_sd: Vec<f64>,
    /// `k × m`, row `c` = `√λ_c v_c` (standardized units per unit score).
    pub loadings: Vec<Vec<f64>>,
    /// Residual covariance of the standardized outputs left by the dropped components, `m × m` row-major.
    pub resid_cov: Vec<f64>,
    /// Fraction of the standardized variance the kept components explain.
    pub explained: f64,
}

impl Pca {
    /// Fits on `y` (`n × m`) and returns the whitened scores `n × k` (column per component).
    pub fn fit(y: &DMatrix<f64>, comps: Components) -> Result<(Pca, Vec<Vec<f64>>), EmuError> {
        let (n, m) = y.shape();
        if n < 3 {
            return Err(EmuError::Data(format!("{n} model runs are too few to train an emulator")));
        }
        let y_mean: Vec<f64> = (0..m).map(|j| y.column(j).mean()).collect();
        let y_sd: Vec<f64> = (0..m).map(|j| (y.column(j).iter().map(|v| (v - y_mean[j]).powi(2)).sum::<f64>() / n as f64).sqrt()).collect();
        if let Some(j) = y_sd.iter().position(|s| s.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)) {
            return Err(EmuError::Data(format!("output column {} is constant over the design: drop it or emulate it separately", j + 1)));
        }
        let z = DMatrix::from_fn(n, m, |i, j| (y[(i, j)] - y_mean[j]) / y_sd[j]);
        let cov = z.tr_mul(&z) / (n as f64 - 1.0);
        let eig = SymmetricEigen::new(cov);
        let mut order: Vec<usize> = (0..m).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let total: f64 = eig.eigenvalues.iter().map(|v| v.max(0.0)).sum();
        let max_k = m.min(n - 1);
        let k = match comps {
            Components::Fixed(k) if k == 0 || k > max_k => {
                return Err(EmuError::Data(format!("npc = {k}: choose between 1 and {max_k} (outputs: {m}, runs: {n})")));
            }
            Components::Fixed(k) => k,
            Components::Explained(f) if !(f > 0.0 && f <= 1.0) => {
                return Err(EmuError::Data(format!("explained-variance fraction {f} is not in (0, 1]")))
            }
            Components::Explained(f) => {
                let mut acc = 0.0;
                let mut k = max_k;
                for (c, &i) in order.iter().enumerate().take(max_k) {
                    acc += eig.eigenvalues[i].max(0.0);
                    if acc >= f * total - 1e-12 {
                        k = c + 1;
                        break;
                    }
                }
                k
            }
        };
        let mut loadings = Vec::with_capacity(k);
        let mut scores = Vec::with_capacity(k);
        let mut recon = DMatrix::zeros(n, m);
        let mut explained = 0.0;
        for &i in order.iter().take(k) {
            let lam = eig.eigenvalues[i];
            if lam.partial_cmp(&(1e-12 * total)) != Some(std::cmp::Ordering::Greater) {
                return Err(EmuError::Data(format!("only {} principal components carry variance: ask for fewer", loadings.len())));
            }
            explained += lam / total;
            let v = eig.eigenvectors.column(i);
            let s = lam.sqrt();
            let sc: Vec<f64> = (0..n).map(|r| z.row(r).dot(&v.transpose()) / s).collect();
            let w: Vec<f64> = v.iter().map(|e| e * s).collect();
            for r in 0..n {
                for j in 0..m {
                    recon[(r, j)] += sc[r] * w[j];
                }
            }
            loadings.push(w);
            scores.push(sc);
        }
        let e = z - recon;
        let rc = e.tr_mul(&e) / n as f64;
        let resid_cov = (0..m * m).map(|t| rc[(t / m, t % m)]).collect();
        Ok((Pca { y_mean, y_sd, loadings, resid_cov, explained }, scores))
    }

    /// Variance of each run's whitened score in each component (`k` vectors of
    /// `n`) caused by independent errors with sd `e` (`n × m`) on the outputs:
    /// with `w_c = √λ_c v_c`, the score is `zᵀ v_c / √λ_c = zᵀ w_c / λ_c`, so its
    /// error variance is `Σ_j (e_j / sd_j)² w_cj² / λ_c²`.
    pub fn score_error_variance(&self, e: ndarray::ArrayView2<'_, f64>) -> Vec<Vec<f64>> {
        self.loadings
            .iter()
            .map(|w| {
                let lam: f64 = w.iter().map(|v| v * v).sum();
                e.rows()
                    .into_iter()
                    .map(|row| row.iter().zip(w).zip(&self.y_sd).map(|((ej, wj), sj)| (ej / sj * wj).powi(2)).sum::<f64>() / (lam * lam))
                    .collect()
            })
            .collect()
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.y_mean.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_two_outputs_are_reconstructed_by_two_components() {
        // Five outputs that are linear in two latent factors: two components explain everything.
        let y = DMatrix::from_fn(40, 5, |i, j| {
            let (a, b) = ((i as f64 * 0.37).sin(), (i as f64 * 0.11).cos());
            (j as f64 + 1.0) * a + (5.0 - j as f64) * b + 10.0 * j as f64
        });
        let (pca, scores) = Pca::fit(&y, Components::Explained(0.999)).unwrap();
        assert_eq!(pca.loadings.len(), 2);
        assert!(pca.explained > 0.999999 && pca.resid_cov.iter().all(|v| v.abs() < 1e-10));
        // Whitened scores: unit variance.
        let v: f64 = scores[0].iter().map(|s| s * s).sum::<f64>() / 39.0;
        assert!((v - 1.0).abs() < 1e-10);
        let (pca1, _) = Pca::fit(&y, Components::Fixed(1)).unwrap();
        assert!(pca1.explained < 0.999 && pca1.resid_cov[0] > 0.0);
        assert!(Pca::fit(&y, Components::Fixed(6)).is_err());
    }
}

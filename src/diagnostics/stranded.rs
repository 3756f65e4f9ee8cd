//! Walkers stranded in a minor mode, over a whole run.
//!
//! A walker whose log posterior lies more than `d/2 + 10 √(d/2) + 10` below
//! the ensemble's median (far beyond the χ²_d spread of a posterior) sits in
//! a minor mode the stretch and differential-evolution moves cannot leave,
//! or has not converged yet. [`stranded_walkers`] looks at every iteration
//! of a chain's log posterior, not only the last, so a walker stuck for most
//! of the run and freed near its end is still reported.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

/// Walkers found stranded in a chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stranded {
    /// Walkers below the cut in at least 1% of the iterations (and at least one).
    pub walkers: Vec<usize>,
    /// Fraction of all draws that lie below the cut.
    pub fraction: f64,
}

/// How far below the median a walker must lie to count as stranded, in
/// nats, for `dim` parameters.
pub fn stranded_cut(dim: usize) -> f64 {
    let h = dim as f64 / 2.0;
    h + 10.0 * h.sqrt() + 10.0
}

/// Stranded walkers of the log posteriors `log_prob` (`iterations ×
/// walkers`) of a posterior over `dim` parameters.
pub fn stranded_walkers(log_prob: ArrayView2<'_, f64>, dim: usize) -> Stranded {
    let (n, w) = log_prob.dim();
    if n == 0 || w == 0 {
        return Stranded::default();
    }
    let cut = stranded_cut(dim);
    let mut below = vec![0usize; w];
    let mut row = Vec::with_capacity(w);
    for r in log_prob.rows() {
        row.clear();
        row.extend(r.iter().copied());
        let (_, median, _) = row.select_nth_unstable_by(w / 2, f64::total_cmp);
        let limit = *median - cut;
        for (k, &v) in r.iter().enumerate() {
            if v < limit {
                below[k] += 1;
            }
        }
    }
    let least = (n / 100).max(1);
    Stranded { walkers: (0..w).filter(|&k| below[k] >= least).collect(), fraction: below.iter().sum::<usize>() as f64 / (n * w) as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn finds_walkers_stuck_for_part_of_the_run() {
        // 8 walkers at log posterior ~0; walker 2 sits 50 nats below for the
        // first 300 of 1000 iterations, walker 5 for one iteration only.
        let mut lp = Array2::from_shape_fn((1000, 8), |(i, k)| -0.5 * ((i * 7 + k * 3) % 5) as f64);
        for i in 0..300 {
            lp[[i, 2]] -= 50.0;
        }
        lp[[10, 5]] -= 50.0;
        let s = stranded_walkers(lp.view(), 2);
        assert_eq!(s.walkers, vec![2]);
        assert!((s.fraction - 301.0 / 8000.0).abs() < 1e-12, "{}", s.fraction);
        // The last iteration alone shows nothing.
        assert!(stranded_walkers(lp.slice(ndarray::s![999.., ..]), 2).walkers.is_empty());
    }
}

//! Draws with optional importance weights, as every sample-based comparison
//! reads them: a chain written by an importance-weighted run (or any chain
//! with a `weights` dataset) stands for the weighted distribution, not the
//! distribution its draws were taken from.

use ndarray::{Array2, ArrayView2, Axis};

/// Draws (`n × dim`) and, when the draws are weighted, one non-negative
/// weight per draw (any scale).
#[derive(Debug, Clone, Copy)]
pub struct WeightedDraws<'a> {
    /// The draws, one per row.
    pub x: ArrayView2<'a, f64>,
    /// The weights, one per row; `None` for equal weights.
    pub w: Option<&'a [f64]>,
}

impl<'a> WeightedDraws<'a> {
    /// Equally weighted draws.
    pub fn new(x: ArrayView2<'a, f64>) -> Self {
        WeightedDraws { x, w: None }
    }

    /// Draws with weights (`None`: equal weights); [`Self::check`] says whether
    /// the weights fit the draws.
    pub fn with_weights(x: ArrayView2<'a, f64>, w: Option<&'a [f64]>) -> Self {
        WeightedDraws { x, w }
    }

    /// Whether the weights (if any) are one per draw, finite, non-negative and
    /// not all zero.
    pub fn check(&self) -> std::result::Result<(), String> {
        let Some(w) = self.w else { return Ok(()) };
        if w.len() != self.x.nrows() {
            return Err(format!("{} weights for {} draws", w.len(), self.x.nrows()));
        }
        if let Some((i, v)) = w.iter().enumerate().find(|(_, v)| !v.is_finite() || **v < 0.0) {
            return Err(format!("weight {v} of draw {i} is not a finite non-negative number"));
        }
        if !w.iter().any(|v| *v > 0.0) {
            return Err("every weight is zero".into());
        }
        Ok(())
    }

    /// Number of draws.
    pub fn len(&self) -> usize {
        self.x.nrows()
    }

    /// Whether there are no draws.
    pub fn is_empty(&self) -> bool {
        self.x.nrows() == 0
    }

    /// Weight of draw `i` (1 when unweighted).
    pub fn weight(&self, i: usize) -> f64 {
        self.w.map_or(1.0, |w| w[i])
    }

    /// Kish's effective sample size `(Σw)² / Σw²` (the number of draws when unweighted).
    pub fn kish_ess(&self) -> f64 {
        match self.w {
            None => self.x.nrows() as f64,
            Some(w) => {
                let (s, s2) = w.iter().fold((0.0, 0.0), |(s, s2), v| (s + v, s2 + v * v));
                if s2 > 0.0 {
                    s * s / s2
                } else {
                    0.0
                }
            }
        }
    }

    /// Weighted mean of each parameter (NaN without draws or weight).
    pub fn mean(&self) -> Vec<f64> {
        let d = self.x.ncols();
        let mut sum = vec![0.0; d];
        let mut total = 0.0;
        for (i, r) in self.x.axis_iter(Axis(0)).enumerate() {
            let w = self.weight(i);
            total += w;
            r.iter().zip(sum.iter_mut()).for_each(|(v, s)| *s += w * v);
        }
        sum.iter().map(|s| s / total).collect()
    }

    /// Weighted covariance (normalized by the total weight).
    pub fn cov(&self) -> Array2<f64> {
        let mean = self.mean();
        let d = self.x.ncols();
        let mut cov = Array2::zeros((d, d));
        let mut total = 0.0;
        for (i, r) in self.x.axis_iter(Axis(0)).enumerate() {
            let w = self.weight(i);
            total += w;
            for a in 0..d {
                let da = r[a] - mean[a];
                for b in a..d {
                    cov[[a, b]] += w * da * (r[b] - mean[b]);
                }
            }
        }
        for a in 0..d {
            for b in a..d {
                cov[[a, b]] /= total;
                cov[[b, a]] = cov[[a, b]];
            }
        }
        cov
    }

    /// The rows `idx`, with their weights.
    pub fn select(&self, idx: &[usize]) -> (Array2<f64>, Option<Vec<f64>>) {
        (self.x.select(Axis(0), idx), self.w.map(|w| idx.iter().map(|&i| w[i]).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn weights_move_the_moments_and_the_ess() {
        let x = array![[0.0], [1.0], [2.0], [3.0]];
        let plain = WeightedDraws::new(x.view());
        assert_eq!(plain.mean(), vec![1.5]);
        assert_eq!(plain.kish_ess(), 4.0);
        let w = [0.0, 0.0, 1.0, 1.0];
        let weighted = WeightedDraws::with_weights(x.view(), Some(&w));
        assert_eq!(weighted.mean(), vec![2.5]);
        assert_eq!(weighted.cov()[[0, 0]], 0.25);
        assert_eq!(weighted.kish_ess(), 2.0);
        assert!(weighted.check().is_ok());
        assert!(WeightedDraws::with_weights(x.view(), Some(&[1.0, -1.0, 1.0, 1.0])).check().is_err());
        assert!(WeightedDraws::with_weights(x.view(), Some(&[1.0])).check().is_err());
        assert!(WeightedDraws::with_weights(x.view(), Some(&[0.0; 4])).check().is_err());
    }
}

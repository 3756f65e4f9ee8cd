//! The training draws in the flow's (unbounded) coordinates, their checks,
//! and how the loop gathers rows and weighs them.

use super::loss::Loss;
use crate::error::{FlowError, Result};

/// Training draws in the flow's (unbounded) coordinates.
#[derive(Debug)]
pub struct LatentData {
    /// Row-major draws, `n × dim`.
    pub x: Vec<f64>,
    /// Number of columns.
    pub dim: usize,
    /// Log density of each draw in these coordinates (up to a constant).
    pub log_prob: Option<Vec<f64>>,
    /// Importance weights (non-negative).
    pub weights: Option<Vec<f64>>,
}

impl LatentData {
    /// Checks the draws for `loss`; returns their number.
    pub(super) fn check(&self, loss: Loss) -> Result<usize> {
        let d = self.dim.max(1);
        let n = self.x.len() / d;
        if n < 10 || self.x.len() % d != 0 {
            return Err(FlowError::invalid(format!("need at least 10 draws of {} parameters to train a flow, got {}", self.dim, n)));
        }
        if let Some(i) = self.x.iter().position(|v| !v.is_finite()) {
            return Err(FlowError::invalid(format!("draw {} has a non-finite value (NaN or inf): clean the chain first", i / d)));
        }
        if let Some(lp) = &self.log_prob {
            if lp.len() != n {
                return Err(FlowError::invalid(format!("{} log densities for {n} draws", lp.len())));
            }
        }
        if loss.supervised() {
            match &self.log_prob {
                None => return Err(FlowError::invalid("the kl and jeffreys losses need the chain's log_prob; use --loss nll for draws only")),
                Some(lp) => {
                    if let Some(i) = lp.iter().position(|v| !v.is_finite()) {
                        return Err(FlowError::invalid(format!("draw {i} has a non-finite log_prob: drop such draws or use --loss nll")));
                    }
                }
            }
        }
        if let Some(w) = &self.weights {
            if w.len() != n {
                return Err(FlowError::invalid(format!("{} importance weights for {n} draws: give one per draw", w.len())));
            }
            if let Some((i, v)) = w.iter().enumerate().find(|(_, v)| !(v.is_finite() && **v >= 0.0)) {
                return Err(FlowError::invalid(format!("the importance weight of draw {i} is {v}: weights must be finite and non-negative")));
            }
            if w.iter().all(|v| *v == 0.0) {
                return Err(FlowError::invalid("every importance weight is zero: the draws carry no mass to train on"));
            }
        }
        Ok(n)
    }

    /// The importance weights as the loop samples with them (1 each without
    /// weights); scaled by a power of two (exactly) when their sum would
    /// overflow, which leaves the weighted distribution unchanged.
    pub(super) fn sampling_weights(&self, n: usize) -> Vec<f64> {
        let mut w = self.weights.clone().unwrap_or_else(|| vec![1.0; n]);
        if !w.iter().sum::<f64>().is_finite() {
            let max = w.iter().fold(0.0f64, |m, v| m.max(*v));
            let scale = 0.5f64.powi(max.log2().ceil() as i32);
            w.iter_mut().for_each(|v| *v *= scale);
        }
        w
    }
}

/// The rows `rows` of `src` (row-major, `d` columns).
pub(super) fn gather(src: &[f32], rows: &[usize], d: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * d);
    for &r in rows {
        out.extend_from_slice(&src[r * d..(r + 1) * d]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(weights: Option<Vec<f64>>) -> LatentData {
        LatentData { x: (0..40).map(|i| i as f64).collect(), dim: 2, log_prob: None, weights }
    }

    #[test]
    fn bad_weights_are_named_and_huge_ones_are_rescaled_exactly() {
        let mut w = vec![1.0; 20];
        w[3] = f64::NAN;
        assert!(data(Some(w.clone())).check(Loss::Nll).unwrap_err().to_string().contains("weight of draw 3 is NaN"));
        w[3] = -1.0;
        assert!(data(Some(w)).check(Loss::Nll).unwrap_err().to_string().contains("weight of draw 3 is -1"));
        assert!(data(Some(vec![0.0; 20])).check(Loss::Nll).unwrap_err().to_string().contains("every importance weight is zero"));
        assert!(data(Some(vec![1.0; 3])).check(Loss::Nll).unwrap_err().to_string().contains("3 importance weights for 20 draws"));
        let big: Vec<f64> = (0..20).map(|i| 1e308 * (1.0 + i as f64 / 40.0)).collect();
        let d = data(Some(big.clone()));
        assert_eq!(d.check(Loss::Nll).unwrap(), 20);
        let w = d.sampling_weights(20);
        assert!(w.iter().sum::<f64>().is_finite());
        for (a, b) in w.iter().zip(&big) {
            assert_eq!(a / w[0], b / big[0]);
        }
        assert_eq!(data(None).sampling_weights(20), vec![1.0; 20]);
    }
}

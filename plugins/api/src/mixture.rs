//! The defensive mixture `(1-ε)·P + ε·Q`: a combinator any plugin may build
//! from two priors (seqcal's `mixture` kind, a `flow` table with `epsilon` and
//! `base`).

use ndarray::{Array2, ArrayView2};
use rand::{Rng, RngExt};

use crate::{ParamSpace, Prior, PriorError};

/// `ln(e^a + e^b)` without overflow or underflow; `-∞` when both are.
#[inline]
fn log_add_exp(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + (1.0 + (-(a - b).abs()).exp()).ln()
}

/// `(1-ε)·P + ε·Q` for two priors over the same parameters.
///
/// The use in sequential calibration: `P` is an informed prior (a flow
/// trained on an earlier stage's posterior) and `Q` the stage's broad base
/// prior, so that the next stage can still reach regions `P` missed.
/// The mixture's support is the union of both, and its bounds the smallest
/// intervals holding both.
///
/// # Reference
/// Hesterberg (1995), *Weighted average importance sampling and defensive
/// mixture distributions*, Technometrics 37(2).
#[derive(Debug)]
pub struct DefensiveMixture {
    space: ParamSpace,
    main: Box<dyn Prior>,
    defensive: Box<dyn Prior>,
    epsilon: f64,
    ln_main: f64,
    ln_def: f64,
}

impl DefensiveMixture {
    /// The mixture with weight `epsilon` on `defensive`.
    ///
    /// # Errors
    /// `epsilon` outside `(0, 1)`, or components over different parameters.
    pub fn new(main: Box<dyn Prior>, defensive: Box<dyn Prior>, epsilon: f64) -> Result<Self, PriorError> {
        let kind = "mixture";
        if !(epsilon > 0.0 && epsilon < 1.0) {
            return Err(PriorError::spec(kind, format!("epsilon = {epsilon}: the defensive weight must lie strictly between 0 and 1")));
        }
        if main.names() != defensive.names() {
            return Err(PriorError::spec(
                kind,
                format!("components are over different parameters: [{}] vs [{}]", main.names().join(", "), defensive.names().join(", ")),
            ));
        }
        let bounds = main.bounds().iter().zip(defensive.bounds()).map(|(a, b)| (a.0.min(b.0), a.1.max(b.1))).collect();
        let space = ParamSpace::new(main.names().to_vec(), bounds).map_err(|e| PriorError::spec(kind, e.to_string()))?;
        Ok(DefensiveMixture { space, main, defensive, epsilon, ln_main: (-epsilon).ln_1p(), ln_def: epsilon.ln() })
    }
}

/// The share of the main component in the mixture's density at a point,
/// `w = (1-ε)·P / ((1-ε)·P + ε·Q)`, from the components' log densities
/// `ln_main = ln P(θ)` and `ln_def = ln Q(θ)`; 0 where both are zero.
///
/// Draws sampled under the mixture and weighted by `w` target `P` times
/// whatever else the draws were sampled under (a likelihood): the importance
/// weights that turn a defensive mixture's chain into the main prior's.
/// `1 − mean(w)` over such a chain is the posterior share of the defensive
/// component.
pub fn main_share(epsilon: f64, ln_main: f64, ln_def: f64) -> f64 {
    let a = (-epsilon).ln_1p() + ln_main;
    let total = log_add_exp(a, epsilon.ln() + ln_def);
    if total == f64::NEG_INFINITY || a.is_nan() || total.is_nan() {
        return 0.0;
    }
    (a - total).exp()
}

impl DefensiveMixture {
    /// Weight of the defensive component.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// [`main_share`] at each row of `thetas`, into `out`.
    pub fn main_share_batch(&self, thetas: ArrayView2<'_, f64>, out: &mut [f64]) {
        let mut def = vec![0.0; out.len()];
        self.main.log_prob_batch(thetas, out);
        self.defensive.log_prob_batch(thetas, &mut def);
        for (o, d) in out.iter_mut().zip(def) {
            *o = main_share(self.epsilon, *o, d);
        }
    }
}

impl Prior for DefensiveMixture {
    fn space(&self) -> &ParamSpace {
        &self.space
    }

    fn log_prob(&self, theta: &[f64]) -> f64 {
        log_add_exp(self.ln_main + self.main.log_prob(theta), self.ln_def + self.defensive.log_prob(theta))
    }

    fn log_prob_batch(&self, thetas: ArrayView2<'_, f64>, out: &mut [f64]) {
        // Both components in batches: a flow's batched path is many times
        // faster than one call per point.
        let mut def = vec![0.0; out.len()];
        self.main.log_prob_batch(thetas, out);
        self.defensive.log_prob_batch(thetas, &mut def);
        for (o, d) in out.iter_mut().zip(def) {
            *o = log_add_exp(self.ln_main + *o, self.ln_def + d);
        }
    }

    fn sample(&self, rng: &mut dyn Rng, n: usize) -> Array2<f64> {
        // Choose the component of every draw first, then draw each component
        // in one batch (flows sample much faster in batches).
        let from_def: Vec<bool> = (0..n).map(|_| rng.random::<f64>() < self.epsilon).collect();
        let n_def = from_def.iter().filter(|d| **d).count();
        let a = self.main.sample(rng, n - n_def);
        let b = self.defensive.sample(rng, n_def);
        let mut out = Array2::zeros((n, self.space.dim()));
        let (mut ia, mut ib) = (0, 0);
        for (mut row, d) in out.rows_mut().into_iter().zip(from_def) {
            if d {
                row.assign(&b.row(ib));
                ib += 1;
            } else {
                row.assign(&a.row(ia));
                ia += 1;
            }
        }
        out
    }

    fn describe(&self) -> String {
        format!("mixture: {} x [{}] + {} x [{}]", 1.0 - self.epsilon, self.main.describe(), self.epsilon, self.defensive.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_share_is_the_main_components_part_of_the_density() {
        // Equal densities: the share is 1 - epsilon.
        assert!((main_share(0.05, -1.0, -1.0) - 0.95).abs() < 1e-15);
        // Where the main component is 100 times the defensive one: 95·100 / (95·100 + 5).
        let w = main_share(0.05, 100f64.ln(), 0.0);
        assert!((w - 9500.0 / 9505.0).abs() < 1e-12, "{w}");
        // Where the main component has no mass the draw has weight 0; where neither has, too.
        assert_eq!(main_share(0.05, f64::NEG_INFINITY, 0.0), 0.0);
        assert_eq!(main_share(0.05, f64::NEG_INFINITY, f64::NEG_INFINITY), 0.0);
        assert_eq!(main_share(0.05, 0.0, f64::NEG_INFINITY), 1.0);
    }
}

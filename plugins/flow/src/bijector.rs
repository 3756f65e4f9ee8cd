//! Bounded support: the map from a parameter's support to the real line on
//! which the flow works, with its log-Jacobian.
//!
//! Both bounds finite: `y = logit((x - a)/(b - a))`; only a lower bound:
//! `y = ln(x - a)`; only an upper bound: `y = ln(b - x)`; none: identity. The
//! prior's density is `q(y(x))·|dy/dx|`, exactly zero outside the support: no
//! rejection, no leaked mass, still normalized.

use serde::{Deserialize, Serialize};

/// The transform of one parameter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DimTransform {
    /// `y = x`.
    Identity,
    /// `y = logit((x - lower)/(upper - lower))`.
    Logit {
        /// Lower bound.
        lower: f64,
        /// Upper bound.
        upper: f64,
    },
    /// `y = ln(x - lower)`.
    LogLower {
        /// Lower bound.
        lower: f64,
    },
    /// `y = ln(upper - x)`.
    LogUpper {
        /// Upper bound.
        upper: f64,
    },
}

/// Smallest `u` kept away from 0 and 1 when mapping training draws that sit on a bound.
const EDGE: f64 = 1e-9;

impl DimTransform {
    /// The transform for a support `(lower, upper)` (either may be infinite);
    /// identity when `bounded` is false.
    pub fn for_bounds(lower: f64, upper: f64, bounded: bool) -> Self {
        match (bounded, lower.is_finite(), upper.is_finite()) {
            (false, _, _) | (true, false, false) => DimTransform::Identity,
            (true, true, true) => DimTransform::Logit { lower, upper },
            (true, true, false) => DimTransform::LogLower { lower },
            (true, false, true) => DimTransform::LogUpper { upper },
        }
    }

    /// `(y, ln|dy/dx|)`, or `None` outside the open support.
    pub fn to_latent(&self, x: f64) -> Option<(f64, f64)> {
        match *self {
            DimTransform::Identity => x.is_finite().then_some((x, 0.0)),
            DimTransform::Logit { lower, upper } => {
                let w = upper - lower;
                let u = (x - lower) / w;
                (u > 0.0 && u < 1.0).then(|| (u.ln() - (-u).ln_1p(), -w.ln() - u.ln() - (-u).ln_1p()))
            }
            DimTransform::LogLower { lower } => {
                let r = x - lower;
                (r > 0.0 && r.is_finite()).then(|| (r.ln(), -r.ln()))
            }
            DimTransform::LogUpper { upper } => {
                let r = upper - x;
                (r > 0.0 && r.is_finite()).then(|| (r.ln(), -r.ln()))
            }
        }
    }

    /// [`to_latent`](Self::to_latent) for training draws: a draw on (or numerically
    /// past) a bound is moved just inside it; `None` only for non-finite input.
    pub fn to_latent_clamped(&self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            return None;
        }
        match *self {
            DimTransform::Identity => Some(x),
            DimTransform::Logit { lower, upper } => {
                let u = ((x - lower) / (upper - lower)).clamp(EDGE, 1.0 - EDGE);
                Some(u.ln() - (-u).ln_1p())
            }
            DimTransform::LogLower { lower } => Some((x - lower).max(EDGE).ln()),
            DimTransform::LogUpper { upper } => Some((upper - x).max(EDGE).ln()),
        }
    }

    /// `ln|dy/dx|` at the parameter that maps to latent `y` (stable for any `y`).
    pub fn log_jac_at_latent(&self, y: f64) -> f64 {
        let softplus = |v: f64| if v > 0.0 { v + (-v).exp().ln_1p() } else { v.exp().ln_1p() };
        match *self {
            DimTransform::Identity => 0.0,
            DimTransform::Logit { lower, upper } => -(upper - lower).ln() + softplus(y) + softplus(-y),
            DimTransform::LogLower { .. } | DimTransform::LogUpper { .. } => -y,
        }
    }

    /// The inverse map, latent `y` to the parameter.
    pub fn from_latent(&self, y: f64) -> f64 {
        match *self {
            DimTransform::Identity => y,
            DimTransform::Logit { lower, upper } => {
                let s = if y >= 0.0 { 1.0 / (1.0 + (-y).exp()) } else { y.exp() / (1.0 + y.exp()) };
                lower + (upper - lower) * s
            }
            DimTransform::LogLower { lower } => lower + y.exp(),
            DimTransform::LogUpper { upper } => upper - y.exp(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms_invert_and_match_numeric_derivative() {
        let cases = [
            (DimTransform::for_bounds(-2.0, 5.0, true), 1.3),
            (DimTransform::for_bounds(1.0, f64::INFINITY, true), 2.5),
            (DimTransform::for_bounds(f64::NEG_INFINITY, 3.0, true), -0.5),
            (DimTransform::for_bounds(-2.0, 5.0, false), 7.0),
        ];
        for (t, x) in cases {
            let (y, lj) = t.to_latent(x).unwrap();
            assert!((t.from_latent(y) - x).abs() < 1e-12, "{t:?}");
            assert!((t.log_jac_at_latent(y) - lj).abs() < 1e-10, "{t:?}");
            let h = 1e-6;
            let num = (t.to_latent(x + h).unwrap().0 - t.to_latent(x - h).unwrap().0) / (2.0 * h);
            assert!((num.abs().ln() - lj).abs() < 1e-6, "{t:?}: {lj} vs {}", num.abs().ln());
        }
    }

    #[test]
    fn outside_and_on_the_bounds_is_outside_the_support() {
        let t = DimTransform::for_bounds(0.0, 1.0, true);
        for x in [0.0, 1.0, -0.1, 1.1, f64::NAN] {
            assert!(t.to_latent(x).is_none(), "{x}");
        }
        assert!(t.to_latent_clamped(0.0).unwrap() < -20.0 && t.to_latent_clamped(1.0).unwrap() > 20.0);
        assert!(t.to_latent_clamped(f64::NAN).is_none());
    }
}

//! The analytic part of a composite in plain f64, for TSFB's one-point-at-a-
//! time acceptance ratios: the library's terms evaluated natively, any other
//! density through the target's own f64 evaluation.

use std::sync::Arc;

use ndarray::ArrayView2;
use seqcal_flow::density::DiffLogDensity;

use crate::target::{CompositeTarget, Role};
use crate::terms::{Flat, HierarchicalNormal, LogNormal, Normal, Uniform};

const HALF_LN_2PI: f64 = 0.918_938_533_204_672_7;

/// A library term, recognized behind its trait object.
#[derive(Debug, Clone)]
pub(crate) enum Known {
    Normal(Normal),
    LogNormal(LogNormal),
    Uniform(Uniform),
    Flat,
    Hierarchical(HierarchicalNormal),
}

/// The library term behind `d`, if it is one.
pub(crate) fn recognize(d: &Arc<dyn DiffLogDensity>) -> Option<Known> {
    let any = d.as_any()?;
    if let Some(t) = any.downcast_ref::<Normal>() {
        Some(Known::Normal(t.clone()))
    } else if let Some(t) = any.downcast_ref::<LogNormal>() {
        Some(Known::LogNormal(t.clone()))
    } else if let Some(t) = any.downcast_ref::<Uniform>() {
        Some(Known::Uniform(t.clone()))
    } else if any.downcast_ref::<Flat>().is_some() {
        Some(Known::Flat)
    } else {
        any.downcast_ref::<HierarchicalNormal>().map(|t| Known::Hierarchical(t.clone()))
    }
}

impl Known {
    /// The log density at the sub-vector `v`.
    fn eval(&self, v: &[f64]) -> f64 {
        match self {
            Known::Normal(t) => v.iter().zip(t.mean.iter().zip(&t.sd)).map(|(x, (m, s))| -0.5 * ((x - m) / s).powi(2) - s.ln() - HALF_LN_2PI).sum(),
            Known::LogNormal(t) => v
                .iter()
                .zip(t.mu.iter().zip(&t.sigma))
                .map(|(x, (m, s))| if *x > 0.0 { -0.5 * ((x.ln() - m) / s).powi(2) - s.ln() - HALF_LN_2PI - x.ln() } else { f64::NEG_INFINITY })
                .sum(),
            Known::Uniform(t) => {
                v.iter().zip(t.lower.iter().zip(&t.upper)).map(|(x, (l, u))| if x >= l && x <= u { -(u - l).ln() } else { f64::NEG_INFINITY }).sum()
            }
            Known::Flat => 0.0,
            Known::Hierarchical(t) => {
                let g = v[t.k];
                v[..t.k].iter().map(|x| -0.5 * ((x - g) / t.tau).powi(2) - t.tau.ln() - HALF_LN_2PI).sum()
            }
        }
    }
}

/// The terms of the analytic part: `(coords, sign, term)`, `sign` -1 for a
/// divided-out density.
#[derive(Debug)]
pub(crate) struct AnalyticPart<'a> {
    target: &'a CompositeTarget,
    /// `None` where some term is not a library term: then the target's own
    /// f64 evaluation is used.
    native: Option<Vec<(Vec<usize>, f64, Known)>>,
}

impl<'a> AnalyticPart<'a> {
    pub(crate) fn new(target: &'a CompositeTarget) -> Self {
        let native = target
            .factors()
            .iter()
            .filter_map(|f| match f.role {
                Role::Analytic => Some((f, 1.0)),
                Role::Divide { .. } => Some((f, -1.0)),
                Role::Sample { .. } => None,
            })
            .map(|(f, sign)| recognize(&f.density).map(|k| (f.coords.clone(), sign, k)))
            .collect::<Option<Vec<_>>>();
        AnalyticPart { target, native }
    }

    /// The analytic log density at `x`.
    pub(crate) fn eval(&self, x: &[f64], buf: &mut Vec<f64>) -> f64 {
        match &self.native {
            Some(terms) => {
                let mut total = 0.0;
                for (coords, sign, k) in terms {
                    buf.clear();
                    buf.extend(coords.iter().map(|&c| x[c]));
                    let v = k.eval(buf);
                    // Outside a divided-out density's support is outside the target's.
                    if !v.is_finite() {
                        return f64::NEG_INFINITY;
                    }
                    total += sign * v;
                }
                total
            }
            None => {
                let view = ArrayView2::from_shape((1, x.len()), x).expect("one row");
                self.target.analytic_log_density_f64(view)[0]
            }
        }
    }
}

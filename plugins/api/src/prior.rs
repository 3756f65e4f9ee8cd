//! The prior contract.

use ndarray::{Array2, ArrayView2};
use rand::Rng;

use crate::ParamSpace;

/// A normalized prior density over a fixed, named parameter space.
///
/// Implementations must be normalized (`log_prob` integrates to one over the
/// support) because evidence estimates and the comparison of sequential and
/// joint posteriors depend on it.
pub trait Prior: Send + Sync {
    /// The parameters this prior is over.
    fn space(&self) -> &ParamSpace;

    /// Number of parameters.
    fn dim(&self) -> usize {
        self.space().dim()
    }

    /// Parameter names, in order.
    fn names(&self) -> &[String] {
        self.space().names()
    }

    /// Support interval of each parameter (`±∞` where unbounded).
    fn bounds(&self) -> &[(f64, f64)] {
        self.space().bounds()
    }

    /// Normalized log density at `theta` (length [`dim`](Prior::dim));
    /// `f64::NEG_INFINITY` outside the support or for a point of the wrong
    /// length. Never NaN.
    fn log_prob(&self, theta: &[f64]) -> f64;

    /// [`log_prob`](Prior::log_prob) of each row of `thetas` into `out`.
    /// The default loops; implementations with a faster batched path
    /// (flows) override it.
    fn log_prob_batch(&self, thetas: ArrayView2<'_, f64>, out: &mut [f64]) {
        for (row, o) in thetas.rows().into_iter().zip(out.iter_mut()) {
            *o = match row.as_slice() {
                Some(s) => self.log_prob(s),
                None => self.log_prob(&row.to_vec()),
            };
        }
    }

    /// `n` independent draws, one per row.
    fn sample(&self, rng: &mut dyn Rng, n: usize) -> Array2<f64>;

    /// One line saying what this prior is (kind and settings), written into
    /// chain files as provenance.
    fn describe(&self) -> String;
}

impl<P: Prior + ?Sized> Prior for Box<P> {
    fn space(&self) -> &ParamSpace {
        (**self).space()
    }
    fn log_prob(&self, theta: &[f64]) -> f64 {
        (**self).log_prob(theta)
    }
    fn log_prob_batch(&self, thetas: ArrayView2<'_, f64>, out: &mut [f64]) {
        (**self).log_prob_batch(thetas, out)
    }
    fn sample(&self, rng: &mut dyn Rng, n: usize) -> Array2<f64> {
        (**self).sample(rng, n)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// A prior shows its description (so that types holding `Box<dyn Prior>` can derive `Debug`).
impl std::fmt::Debug for dyn Prior + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prior").field("describe", &self.describe()).finish()
    }
}

//! Independent likelihoods multiplied: `log L(θ) = Σ_k log L_k(θ)`.
//!
//! A stage that uses several data sets, each with its own emulator, has one
//! [`GaussianLikelihood`](super::GaussianLikelihood) per data set; they are
//! independent, so their log densities add.

use ndarray::ArrayView2;
use seqcal_api::{DensityError, LogDensity};

/// The product of independent likelihoods over the same parameters.
#[derive(Debug)]
pub struct IndependentProduct {
    parts: Vec<Box<dyn LogDensity>>,
    dim: usize,
}

impl IndependentProduct {
    /// Multiplies `parts`.
    ///
    /// # Errors
    /// No parts, or parts over different numbers of parameters.
    pub fn new(parts: Vec<Box<dyn LogDensity>>) -> crate::Result<Self> {
        let dim = parts.first().map(|p| p.dim()).ok_or_else(|| crate::Error::Usage("a likelihood needs at least one data set".into()))?;
        if let Some(p) = parts.iter().find(|p| p.dim() != dim) {
            return Err(crate::Error::Usage(format!("likelihoods over {dim} and {} parameters cannot be multiplied", p.dim())));
        }
        Ok(IndependentProduct { parts, dim })
    }
}

impl LogDensity for IndependentProduct {
    fn dim(&self) -> usize {
        self.dim
    }

    fn log_density(&self, theta: &[f64]) -> Result<f64, DensityError> {
        let mut total = 0.0;
        for p in &self.parts {
            total += p.log_density(theta)?;
        }
        Ok(total)
    }

    /// Each part evaluates the whole batch (its own batching and
    /// parallelism); a point rejected by any part (NaN) stays rejected.
    fn log_density_into(&self, thetas: ArrayView2<'_, f64>, out: &mut [f64]) -> Result<(), DensityError> {
        let mut tmp = vec![0.0; out.len()];
        out.iter_mut().for_each(|v| *v = 0.0);
        for p in &self.parts {
            p.log_density_into(thetas, &mut tmp)?;
            for (o, t) in out.iter_mut().zip(&tmp) {
                *o += t;
            }
        }
        Ok(())
    }

    fn concurrent(&self) -> bool {
        self.parts.iter().all(|p| p.concurrent())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Quad(f64);
    impl LogDensity for Quad {
        fn dim(&self) -> usize {
            2
        }
        fn log_density(&self, t: &[f64]) -> Result<f64, DensityError> {
            if t[0] < 0.0 {
                return Err(DensityError::Reject("negative".into()));
            }
            Ok(-self.0 * (t[0] * t[0] + t[1] * t[1]))
        }
    }

    #[test]
    fn sums_parts_point_and_batch_and_keeps_rejections() {
        let p = IndependentProduct::new(vec![Box::new(Quad(1.0)), Box::new(Quad(2.0))]).unwrap();
        assert_eq!(p.log_density(&[1.0, 2.0]).unwrap(), -15.0);
        let x = ndarray::arr2(&[[1.0, 2.0], [-1.0, 0.0], [0.0, 1.0]]);
        let v = p.log_density_batch(x.view()).unwrap();
        assert_eq!(v[0], -15.0);
        assert!(v[1].is_nan());
        assert_eq!(v[2], -3.0);
        assert!(IndependentProduct::new(vec![]).is_err());
    }
}

//! ActNorm: a per-dimension affine layer `y = loc + exp(log_scale)·x` whose
//! parameters are initialized from data, so that the first batch pushed through
//! it in the data -> base direction comes out with zero mean and unit variance
//! in every coordinate; afterwards both are trained like any other weight.
//!
//! # Reference
//! Kingma & Dhariwal (2018), *Glow: Generative flow with invertible 1x1
//! convolutions*, NeurIPS.

use candle_core::Tensor;

use super::affine::ElementwiseAffine;
use super::layer::Layer;
use crate::error::{FlowError, Result};
use crate::params::{self, Params};

/// ActNorm layer: parameters [`params::loc`] and [`params::log_scale`] of its prefix, each `(1, d)`.
/// The map is the same as [`ElementwiseAffine`]'s; what makes it ActNorm is the
/// data-dependent initialization [`ActNorm::data_init`].
#[derive(Debug)]
pub struct ActNorm {
    inner: ElementwiseAffine,
}

impl ActNorm {
    /// Reads its two tensors.
    ///
    /// # Errors
    /// A missing tensor.
    pub fn load(params: &Params, prefix: &str) -> Result<Self> {
        Ok(ActNorm { inner: ElementwiseAffine::load(params, prefix)? })
    }

    /// Sets the layer's two tensors in `params` (f64, on the
    /// batch's device) to the mean and log standard deviation of each column of
    /// `batch` (the layer's output side, `(n, d)`, `n >= 2`), so that
    /// `inverse(batch)` is standardized; a constant column gets scale 1. Returns
    /// the initialized layer.
    ///
    /// # Errors
    /// Fewer than two rows, or a candle failure.
    pub fn data_init(params: &mut Params, prefix: &str, batch: &Tensor) -> Result<Self> {
        let (n, d) = batch.dims2()?;
        if n < 2 {
            return Err(FlowError::invalid("ActNorm initialization needs a batch of at least two rows"));
        }
        let flat: Vec<f64> = batch.to_dtype(candle_core::DType::F64)?.flatten_all()?.to_vec1()?;
        let (loc, ls) = ElementwiseAffine::data_init(&flat, d);
        params.insert(params::loc(prefix), Tensor::from_vec(loc, (1, d), batch.device())?);
        params.insert(params::log_scale(prefix), Tensor::from_vec(ls, (1, d), batch.device())?);
        Self::load(params, prefix)
    }
}

impl Layer for ActNorm {
    fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        self.inner.forward(x)
    }

    fn inverse(&self, y: &Tensor) -> Result<(Tensor, Tensor)> {
        self.inner.inverse(y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{check_layer, perturb, points};

    #[test]
    fn data_init_standardizes_the_first_batch() {
        let batch = ((points(500, 3, 1.0, 1) * 2.5).unwrap() + 4.0).unwrap();
        let mut params = Params::new();
        let a = ActNorm::data_init(&mut params, "an0", &batch).unwrap();
        let z: Vec<Vec<f64>> = a.inverse(&batch).unwrap().0.to_vec2().unwrap();
        for j in 0..3 {
            let m = z.iter().map(|r| r[j]).sum::<f64>() / 500.0;
            let v = z.iter().map(|r| (r[j] - m).powi(2)).sum::<f64>() / 500.0;
            assert!(m.abs() < 1e-12 && (v - 1.0).abs() < 1e-12, "column {j}: mean {m}, var {v}");
        }
        assert!(ActNorm::data_init(&mut params, "x", &points(1, 3, 1.0, 2)).is_err());
    }

    #[test]
    fn inverts_and_matches_finite_difference_jacobian() {
        let mut params = Params::new();
        ActNorm::data_init(&mut params, "an0", &points(100, 4, 1.0, 3)).unwrap();
        perturb(&mut params, &["an0"], 0.5, 4);
        let a = ActNorm::load(&params, "an0").unwrap();
        check_layer(&a, &points(16, 4, 1.0, 5), 4, 1e-6);
    }
}

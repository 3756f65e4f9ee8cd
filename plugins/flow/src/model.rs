//! [`Flow`]: the layers [`crate::build`] makes from a spec and its parameters,
//! run on candle tensors. Its [`log_prob`](Flow::log_prob) is differentiable
//! with respect to the input and every parameter for every architecture (what
//! training uses, and what a reverse-KL fit of a composite target needs).
//!
//! # Reference
//! Roch & Shen, *Learning informed prior distributions with normalizing flows for
//! Bayesian analysis* (the architecture and the workflow); Dinh, Sohl-Dickstein &
//! Bengio (2017), *Density estimation using Real NVP*, ICLR (the couplings).

use candle_core::{DType, Device, Tensor};
use rand::Rng;

use crate::build;
use crate::error::Result;
use crate::layers::Layer;
use crate::params::{self, Params};
use crate::spec::FlowSpec;

/// A flow built from its spec and parameters: layers in the base → data order.
#[derive(Debug)]
pub struct Flow {
    spec: FlowSpec,
    layers: Vec<Box<dyn Layer>>,
    dtype: DType,
    device: Device,
}

impl Flow {
    /// Builds the layers from `params` (all of one dtype: f32 to train, f64 to
    /// evaluate; candle `Var`s' tensors to train them).
    ///
    /// # Errors
    /// Bad settings, a missing tensor or a shape mismatch.
    pub fn new(spec: &FlowSpec, params: &Params) -> Result<Self> {
        spec.check()?;
        let any = params::get(params, &params::loc(params::OUTPUT))?;
        let (dtype, device) = (any.dtype(), any.device().clone());
        let layers = build::build(spec, params, dtype, &device)?;
        Ok(Flow { spec: spec.clone(), layers, dtype, device })
    }

    /// Initial parameters of `spec` for data `data` (row-major, in the flow's
    /// coordinates): see [`build::init`].
    ///
    /// # Errors
    /// Bad settings or fewer than two rows of data.
    pub fn initial_params(spec: &FlowSpec, data: &[f64], rng: &mut dyn Rng, device: &Device) -> Result<Params> {
        build::init(spec, data, rng, device)
    }

    /// The architecture.
    pub fn spec(&self) -> &FlowSpec {
        &self.spec
    }

    /// The dtype of the parameters.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The device of the parameters.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Base → data: `(x, log|det ∂x/∂z|)` for base points `z` of shape `(n, d)`.
    ///
    /// # Errors
    /// Shape mismatch.
    pub fn forward(&self, z: &Tensor) -> Result<(Tensor, Tensor)> {
        let mut x = z.clone();
        let mut ld = Tensor::zeros(z.dim(0)?, self.dtype, &self.device)?;
        for l in &self.layers {
            let (y, l_ld) = l.forward(&x)?;
            x = y;
            ld = (ld + l_ld)?;
        }
        Ok((x, ld))
    }

    /// Data → base: `(z, log|det ∂z/∂x|)`.
    ///
    /// # Errors
    /// Shape mismatch.
    pub fn inverse(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let mut z = x.clone();
        let mut ld = Tensor::zeros(x.dim(0)?, self.dtype, &self.device)?;
        for l in self.layers.iter().rev() {
            let (y, l_ld) = l.inverse(&z)?;
            z = y;
            ld = (ld + l_ld)?;
        }
        Ok((z, ld))
    }

    /// Normalized log density of each row of `x` (the flow's coordinates), shape
    /// `(n,)`; differentiable with respect to `x` and the parameters.
    ///
    /// # Errors
    /// Shape mismatch.
    pub fn log_prob(&self, x: &Tensor) -> Result<Tensor> {
        let (z, ld) = self.inverse(x)?;
        let c = -0.5 * self.spec.dim as f64 * (2.0 * std::f64::consts::PI).ln();
        let base = ((z.sqr()?.sum(1)? * -0.5)? + c)?;
        Ok((base + ld)?)
    }
}

impl Layer for Flow {
    fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        Flow::forward(self, x)
    }

    fn inverse(&self, y: &Tensor) -> Result<(Tensor, Tensor)> {
        Flow::inverse(self, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Activation, FlowKind};
    use crate::testutil::{check_layer, perturb, points};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// A flow of `spec` with every network, LU and affine parameter redrawn.
    fn random_flow(spec: &FlowSpec, seed: u64) -> Flow {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let data = points(300, spec.dim, 1.5, seed + 100).flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let mut params = Flow::initial_params(spec, &data, &mut rng, &Device::Cpu).unwrap();
        perturb(&mut params, &["c", "maf", "nsf", "lu", "an", "L."], 0.3, seed + 1);
        Flow::new(spec, &params).unwrap()
    }

    #[test]
    fn every_kind_with_and_without_lu_inverts_and_matches_finite_differences() {
        for kind in FlowKind::ALL {
            for (lu, actnorm) in [(false, false), (true, true)] {
                let s = FlowSpec { kind, lu, actnorm, hidden: 12, pairs: 2, bins: 6, tail_bound: 3.0, ..FlowSpec::new(4) };
                let flow = random_flow(&s, 7);
                assert_eq!(flow.spec().kind, kind);
                // Scale 2 puts some points in the spline tails (bound 3) too.
                check_layer(&flow, &points(32, 4, 2.0, 8), 6, 1e-5);
            }
        }
        for activation in Activation::ALL {
            let s = FlowSpec { activation, actnorm: true, hidden: 8, pairs: 2, ..FlowSpec::new(4) };
            check_layer(&random_flow(&s, 3), &points(16, 4, 1.0, 5), 4, 1e-5);
        }
    }

    #[test]
    fn init_starts_every_kind_at_the_standardizing_affine_map() {
        // With zero output layers every transform is the identity and every LU a
        // permutation: the flow's inverse standardizes the data's columns (up to order).
        for kind in FlowKind::ALL {
            let s = FlowSpec { kind, lu: true, actnorm: true, hidden: 8, ..FlowSpec::new(3) };
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            let data: Vec<f64> = (0..3000).map(|i| (i % 3) as f64 * 2.0 + ((i * 7919) % 101) as f64 / 30.0).collect();
            let params = Flow::initial_params(&s, &data, &mut rng, &Device::Cpu).unwrap();
            let flow = Flow::new(&s, &params).unwrap();
            let x = Tensor::from_vec(data, (1000, 3), &Device::Cpu).unwrap();
            let z: Vec<Vec<f64>> = flow.inverse(&x).unwrap().0.to_vec2().unwrap();
            for j in 0..3 {
                let m = z.iter().map(|r| r[j]).sum::<f64>() / 1000.0;
                let v = z.iter().map(|r| (r[j] - m).powi(2)).sum::<f64>() / 1000.0;
                assert!(m.abs() < 1e-9 && (v - 1.0).abs() < 1e-9, "{kind}: column {j}: mean {m}, var {v}");
            }
        }
    }

    #[test]
    fn log_prob_is_the_base_density_plus_the_log_determinant() {
        let s = FlowSpec { kind: FlowKind::NsfCoupling, hidden: 8, pairs: 1, bins: 4, ..FlowSpec::new(2) };
        let flow = random_flow(&s, 11);
        let x = points(5, 2, 1.0, 12);
        let (z, ld) = flow.inverse(&x).unwrap();
        let (z, ld): (Vec<Vec<f64>>, Vec<f64>) = (z.to_vec2().unwrap(), ld.to_vec1().unwrap());
        let lp: Vec<f64> = flow.log_prob(&x).unwrap().to_vec1().unwrap();
        for i in 0..5 {
            let want = -0.5 * (z[i][0] * z[i][0] + z[i][1] * z[i][1]) - (2.0 * std::f64::consts::PI).ln() + ld[i];
            assert!((lp[i] - want).abs() < 1e-12, "{} vs {want}", lp[i]);
        }
    }
}

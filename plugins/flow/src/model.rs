//! The architecture of the NF-prior paper, `F = L ∘ (A_o ∘ A_e)^N`, on candle.
//!
//! # Reference
//! Roch & Shen, *Learning informed prior distributions with normalizing flows for
//! Bayesian analysis* (the architecture and the workflow); Dinh, Sohl-Dickstein &
//! Bengio (2017), *Density estimation using Real NVP*, ICLR (the couplings).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{FlowError, Result};
use crate::flows::{self, FlowKind};
use crate::layers::{parity_mask, Activation, AffineCoupling, ElementwiseAffine, Layer, Mlp, Params};

/// The flow's architecture (written into the JSON sidecar).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowSpec {
    /// Number of parameters.
    pub dim: usize,
    /// `N`: pairs of even/odd affine couplings.
    pub pairs: usize,
    /// Width of the hidden layers of each coupling network.
    pub hidden: usize,
    /// Number of hidden layers of each coupling network.
    pub depth: usize,
    /// Nonlinearity of the networks.
    pub activation: Activation,
    /// An ActNorm layer after each pair (data-initialized).
    pub actnorm: bool,
    /// Soft clamp `c` of the log-scales, `s = c·tanh(s_raw/c)`.
    pub clamp: f64,
    /// The transforms: RealNVP couplings (the default), MAF, or rational-quadratic
    /// spline couplings or autoregressive layers (see [`crate::flows`]).
    #[serde(default)]
    pub kind: FlowKind,
    /// An LU-decomposed linear layer between consecutive transforms.
    #[serde(default)]
    pub lu: bool,
    /// Spline bins `K` (spline kinds only).
    #[serde(default = "default_bins")]
    pub bins: usize,
    /// Splines act on `[-B, B]` of the standardized coordinates and are the
    /// identity outside (spline kinds only).
    #[serde(default = "default_tail_bound")]
    pub tail_bound: f64,
}

fn default_bins() -> usize {
    8
}

fn default_tail_bound() -> f64 {
    5.0
}

impl FlowSpec {
    /// The paper's default: `N = 3` pairs (6 couplings), two hidden layers of 64, tanh.
    pub fn new(dim: usize) -> Self {
        FlowSpec {
            dim,
            pairs: 3,
            hidden: 64,
            depth: 2,
            activation: Activation::Tanh,
            actnorm: false,
            clamp: 3.0,
            kind: FlowKind::Realnvp,
            lu: false,
            bins: default_bins(),
            tail_bound: default_tail_bound(),
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// Zero sizes, a non-positive clamp, fewer than one spline bin or a
    /// non-positive tail bound.
    pub fn check(&self) -> Result<()> {
        if self.dim == 0 || self.pairs == 0 || self.hidden == 0 || self.depth == 0 {
            return Err(FlowError::invalid(format!(
                "flow needs dim, pairs, hidden width and depth of at least 1 (got dim {}, pairs {}, hidden {}, depth {})",
                self.dim, self.pairs, self.hidden, self.depth
            )));
        }
        if !(self.clamp > 0.0 && self.clamp.is_finite()) {
            return Err(FlowError::invalid(format!("clamp must be positive, got {}", self.clamp)));
        }
        if self.bins == 0 || self.bins > 1000 {
            return Err(FlowError::invalid(format!("spline bins must lie in 1..=1000, got {}", self.bins)));
        }
        if !(self.tail_bound > 0.0 && self.tail_bound.is_finite()) {
            return Err(FlowError::invalid(format!("the spline tail bound must be positive, got {}", self.tail_bound)));
        }
        Ok(())
    }

    fn sizes(&self) -> Vec<usize> {
        let mut s = vec![self.dim];
        s.extend(std::iter::repeat_n(self.hidden, self.depth));
        s.push(2 * self.dim);
        s
    }

    /// Initial parameters (f64, on `device`): networks drawn from `rng` with zero
    /// output layers, `L` at the mean and sd of `data` (row-major, `dim` columns,
    /// already in the flow's unbounded coordinates), ActNorms from the data pushed
    /// through the layers below them.
    ///
    /// # Errors
    /// Bad settings or empty data.
    pub fn init(&self, data: &[f64], rng: &mut dyn Rng, device: &Device) -> Result<Params> {
        self.check()?;
        let d = self.dim;
        if data.len() < 2 * d || data.len() % d != 0 {
            return Err(FlowError::invalid("flow initialization needs at least two data points of the flow's dimension"));
        }
        if flows::uses_library(self) {
            return flows::init(self, data, rng, device);
        }
        let mut values: HashMap<String, Vec<f64>> = HashMap::new();
        let mut shapes: HashMap<String, Vec<usize>> = HashMap::new();
        for k in 0..2 * self.pairs {
            Mlp::init(&mut values, &mut shapes, &format!("c{k}.net"), &self.sizes(), rng);
        }
        let mut params = to_tensors(&values, &shapes, device)?;
        // Data-dependent parts, in the data -> base order: L, then the pairs from the last one down.
        let n_init = (data.len() / d).min(10_000);
        let mut running = Tensor::from_vec(data[..n_init * d].to_vec(), (n_init, d), device)?;
        let set_affine = |params: &mut Params, prefix: &str, running: &Tensor| -> Result<ElementwiseAffine> {
            let flat: Vec<f64> = running.flatten_all()?.to_vec1()?;
            let (loc, ls) = ElementwiseAffine::data_init(&flat, d);
            params.insert(format!("{prefix}.loc"), Tensor::from_vec(loc, (1, d), device)?);
            params.insert(format!("{prefix}.log_scale"), Tensor::from_vec(ls, (1, d), device)?);
            ElementwiseAffine::load(params, prefix)
        };
        let l = set_affine(&mut params, "L", &running)?;
        running = l.inverse(&running)?.0;
        for p in (0..self.pairs).rev() {
            if self.actnorm {
                let a = set_affine(&mut params, &format!("an{p}"), &running)?;
                running = a.inverse(&running)?.0;
            }
            for k in [2 * p + 1, 2 * p] {
                let c = self.coupling(&params, k, DType::F64, device)?;
                running = c.inverse(&running)?.0;
            }
        }
        Ok(params)
    }

    fn coupling(&self, params: &Params, k: usize, dtype: DType, device: &Device) -> Result<AffineCoupling> {
        let net = Mlp::load(params, &format!("c{k}.net"), self.depth, self.activation)?;
        AffineCoupling::new(&parity_mask(self.dim, k % 2), net, self.clamp, dtype, device)
    }
}

fn to_tensors(values: &HashMap<String, Vec<f64>>, shapes: &HashMap<String, Vec<usize>>, device: &Device) -> Result<Params> {
    let mut out = Params::new();
    for (name, v) in values {
        let shape = shapes.get(name).cloned().unwrap_or_else(|| vec![v.len()]);
        out.insert(name.clone(), Tensor::from_vec(v.clone(), shape, device)?);
    }
    Ok(out)
}

/// A flow built from its spec and parameters: layers in the base → data order.
pub struct Flow {
    spec: FlowSpec,
    layers: Vec<Box<dyn Layer>>,
    dtype: DType,
    device: Device,
}

impl Flow {
    /// Builds the layers from `params` (all of one dtype: f32 to train, f64 to evaluate).
    ///
    /// # Errors
    /// A missing tensor or a shape mismatch.
    pub fn new(spec: &FlowSpec, params: &Params) -> Result<Self> {
        spec.check()?;
        let any = get_any(params)?;
        let (dtype, device) = (any.dtype(), any.device().clone());
        if flows::uses_library(spec) {
            let layers = flows::build(spec, params, dtype, &device)?;
            return Ok(Flow { spec: spec.clone(), layers, dtype, device });
        }
        let mut layers: Vec<Box<dyn Layer>> = Vec::new();
        for p in 0..spec.pairs {
            // A_e then A_o in the base -> data direction; masks even (k even) and odd.
            layers.push(Box::new(spec.coupling(params, 2 * p, dtype, &device)?));
            layers.push(Box::new(spec.coupling(params, 2 * p + 1, dtype, &device)?));
            if spec.actnorm {
                layers.push(Box::new(ElementwiseAffine::load(params, &format!("an{p}"))?));
            }
        }
        layers.push(Box::new(ElementwiseAffine::load(params, "L")?));
        Ok(Flow { spec: spec.clone(), layers, dtype, device })
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

    /// Normalized log density of each row of `x` (the flow's coordinates), shape `(n,)`.
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

fn get_any(params: &Params) -> Result<&Tensor> {
    params.get("L.loc").ok_or_else(|| FlowError::invalid("flow weights lack tensor \"L.loc\""))
}

/// Converts every parameter to `dtype` (f32 to train, f64 to evaluate).
///
/// # Errors
/// Candle conversion failure.
pub fn cast(params: &Params, dtype: DType) -> Result<Params> {
    params.iter().map(|(k, v)| Ok((k.clone(), v.to_dtype(dtype)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    /// A random flow whose couplings are far from the identity (output layers redrawn).
    pub(crate) fn random_flow(spec: &FlowSpec, seed: u64) -> (Flow, Params) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let data: Vec<f64> = (0..200 * spec.dim).map(|_| StandardNormal.sample(&mut rng)).collect();
        let mut params = spec.init(&data, &mut rng, &Device::Cpu).unwrap();
        for (name, t) in params.iter_mut() {
            if name.contains(".net.") || name.starts_with("an") || name.starts_with('L') {
                let v: Vec<f64> = (0..t.elem_count()).map(|_| 0.4 * Distribution::<f64>::sample(&StandardNormal, &mut rng)).collect();
                *t = Tensor::from_vec(v, t.shape(), &Device::Cpu).unwrap();
            }
        }
        (Flow::new(spec, &params).unwrap(), params)
    }

    fn points(n: usize, d: usize, seed: u64) -> Tensor {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let v: Vec<f64> = (0..n * d).map(|_| StandardNormal.sample(&mut rng)).collect();
        Tensor::from_vec(v, (n, d), &Device::Cpu).unwrap()
    }

    /// log|det| of a map R^d -> R^d at x by central finite differences.
    pub(crate) fn fd_logdet(f: &dyn Fn(&Tensor) -> Tensor, x: &[f64]) -> f64 {
        let d = x.len();
        let h = 1e-5;
        let mut jac = nalgebra_free_det::Mat::zeros(d);
        for j in 0..d {
            let mut xp = x.to_vec();
            let mut xm = x.to_vec();
            xp[j] += h;
            xm[j] -= h;
            let yp: Vec<f64> = f(&Tensor::from_vec(xp, (1, d), &Device::Cpu).unwrap()).flatten_all().unwrap().to_vec1().unwrap();
            let ym: Vec<f64> = f(&Tensor::from_vec(xm, (1, d), &Device::Cpu).unwrap()).flatten_all().unwrap().to_vec1().unwrap();
            for i in 0..d {
                jac.set(i, j, (yp[i] - ym[i]) / (2.0 * h));
            }
        }
        jac.log_abs_det()
    }

    /// A tiny dense LU determinant, enough for test Jacobians.
    mod nalgebra_free_det {
        pub struct Mat {
            d: usize,
            a: Vec<f64>,
        }
        impl Mat {
            pub fn zeros(d: usize) -> Self {
                Mat { d, a: vec![0.0; d * d] }
            }
            pub fn set(&mut self, i: usize, j: usize, v: f64) {
                self.a[i * self.d + j] = v;
            }
            pub fn log_abs_det(mut self) -> f64 {
                let d = self.d;
                let mut s = 0.0;
                for k in 0..d {
                    let p = (k..d).max_by(|&i, &j| self.a[i * d + k].abs().total_cmp(&self.a[j * d + k].abs())).unwrap();
                    for c in 0..d {
                        self.a.swap(k * d + c, p * d + c);
                    }
                    let piv = self.a[k * d + k];
                    s += piv.abs().ln();
                    for i in k + 1..d {
                        let f = self.a[i * d + k] / piv;
                        for c in k..d {
                            self.a[i * d + c] -= f * self.a[k * d + c];
                        }
                    }
                }
                s
            }
        }
    }

    fn check_layer(layer: &dyn Layer, d: usize, seed: u64) {
        let x = points(16, d, seed);
        let (y, ld) = layer.forward(&x).unwrap();
        let (x2, ld_inv) = layer.inverse(&y).unwrap();
        let err = (x2 - &x).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
        assert!(err < 1e-10, "inverse(forward(x)) differs from x by {err}");
        let s = (ld.clone() + ld_inv).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
        assert!(s < 1e-10, "forward and inverse log-determinants do not cancel: {s}");
        let ld: Vec<f64> = ld.to_vec1().unwrap();
        let xs: Vec<Vec<f64>> = x.to_vec2().unwrap();
        for (row, l) in xs.iter().zip(&ld).take(4) {
            let fd = fd_logdet(&|t: &Tensor| layer.forward(t).unwrap().0, row);
            assert!((fd - l).abs() < 1e-6, "log|det J| {l} vs finite differences {fd}");
        }
    }

    #[test]
    fn affine_coupling_inverts_and_matches_finite_difference_jacobian() {
        let spec = FlowSpec { dim: 5, hidden: 8, ..FlowSpec::new(5) };
        let (_, params) = random_flow(&spec, 1);
        for k in 0..2 {
            let c = spec.coupling(&params, k, DType::F64, &Device::Cpu).unwrap();
            check_layer(&c, 5, 10 + k as u64);
        }
    }

    #[test]
    fn elementwise_affine_inverts_and_matches_finite_difference_jacobian() {
        let spec = FlowSpec { dim: 3, hidden: 4, actnorm: true, ..FlowSpec::new(3) };
        let (_, params) = random_flow(&spec, 2);
        check_layer(&ElementwiseAffine::load(&params, "L").unwrap(), 3, 3);
        check_layer(&ElementwiseAffine::load(&params, "an0").unwrap(), 3, 4);
    }

    #[test]
    fn whole_flow_inverts_and_log_prob_matches_change_of_variables() {
        for act in [Activation::Tanh, Activation::Relu, Activation::Silu] {
            let spec = FlowSpec { dim: 4, hidden: 8, pairs: 2, actnorm: true, activation: act, ..FlowSpec::new(4) };
            let (flow, _) = random_flow(&spec, 3);
            struct W<'a>(&'a Flow);
            impl Layer for W<'_> {
                fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
                    self.0.forward(x)
                }
                fn inverse(&self, y: &Tensor) -> Result<(Tensor, Tensor)> {
                    self.0.inverse(y)
                }
            }
            check_layer(&W(&flow), 4, 5);
        }
    }

    #[test]
    fn data_init_standardizes_and_couplings_start_as_identity() {
        let spec = FlowSpec { dim: 2, hidden: 4, actnorm: true, ..FlowSpec::new(2) };
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let data: Vec<f64> = (0..4000).map(|i| if i % 2 == 0 { 3.0 + 2.0 * Distribution::<f64>::sample(&StandardNormal, &mut rng) } else { -1.0 + 0.5 * Distribution::<f64>::sample(&StandardNormal, &mut rng) }).collect();
        let params = spec.init(&data, &mut rng, &Device::Cpu).unwrap();
        let flow = Flow::new(&spec, &params).unwrap();
        let x = Tensor::from_vec(data.clone(), (2000, 2), &Device::Cpu).unwrap();
        let (z, _) = flow.inverse(&x).unwrap();
        let z: Vec<Vec<f64>> = z.to_vec2().unwrap();
        for j in 0..2 {
            let m = z.iter().map(|r| r[j]).sum::<f64>() / 2000.0;
            let v = z.iter().map(|r| (r[j] - m).powi(2)).sum::<f64>() / 2000.0;
            assert!(m.abs() < 1e-9 && (v - 1.0).abs() < 1e-9, "column {j}: mean {m}, var {v}");
        }
        let loc: Vec<Vec<f64>> = params["L.loc"].to_vec2().unwrap();
        assert!((loc[0][0] - 3.0).abs() < 0.2 && (loc[0][1] + 1.0).abs() < 0.05, "L not at the data mean: {loc:?}");
    }
}

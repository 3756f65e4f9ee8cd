//! Flow layers on candle: each maps a batch `(n, d)` forward (base → data)
//! and inverse (data → base) and returns `log|det J|` of that direction per row.
//!
//! # Reference
//! Dinh, Sohl-Dickstein & Bengio (2017), *Density estimation using Real NVP*, ICLR
//! (affine coupling with binary masks); Kingma & Dhariwal (2018), *Glow*, NeurIPS
//! (ActNorm with data-dependent initialization).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::error::{FlowError, Result};
use crate::kernel::Direction;

/// Parameters of a flow by name (`c0.net.1.w`, `L.loc`, ...).
pub type Params = HashMap<String, Tensor>;

/// One invertible layer.
pub trait Layer: Send + Sync {
    /// Base → data direction: `(y, log|det ∂y/∂x|)`, the second of shape `(n,)`.
    ///
    /// # Errors
    /// Shape mismatch inside candle.
    fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)>;
    /// Data → base direction: `(x, log|det ∂x/∂y|)`.
    ///
    /// # Errors
    /// Shape mismatch inside candle.
    fn inverse(&self, y: &Tensor) -> Result<(Tensor, Tensor)>;
}

/// Nonlinearity of the coupling networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `tanh` (smooth; the default).
    #[default]
    Tanh,
    /// `max(0, x)`.
    Relu,
    /// `x·sigmoid(x)`.
    Silu,
}

impl Activation {
    fn apply(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Tanh => x.tanh()?,
            Activation::Relu => x.relu()?,
            Activation::Silu => x.silu()?,
        })
    }

    /// Parses `tanh`, `relu` or `silu`.
    ///
    /// # Errors
    /// Any other name.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tanh" => Ok(Activation::Tanh),
            "relu" => Ok(Activation::Relu),
            "silu" => Ok(Activation::Silu),
            other => Err(FlowError::invalid(format!("unknown activation {other:?}: use tanh, relu or silu"))),
        }
    }
}

fn get(params: &Params, name: &str) -> Result<Tensor> {
    params.get(name).cloned().ok_or_else(|| FlowError::invalid(format!("flow weights lack tensor {name:?}: the model file does not match its sidecar")))
}

/// A multilayer perceptron `x W_0 + b_0 → act → ... → x W_k + b_k` (weights stored `(in, out)`).
pub struct Mlp {
    layers: Vec<(Tensor, Tensor)>,
    act: Activation,
}

impl Mlp {
    /// Reads the weights `{prefix}.{j}.w` / `{prefix}.{j}.b` for `j < depth + 1`.
    ///
    /// # Errors
    /// A missing tensor.
    pub fn load(params: &Params, prefix: &str, depth: usize, act: Activation) -> Result<Self> {
        let layers = (0..=depth).map(|j| Ok((get(params, &format!("{prefix}.{j}.w"))?, get(params, &format!("{prefix}.{j}.b"))?))).collect::<Result<_>>()?;
        Ok(Mlp { layers, act })
    }

    /// Initial weights: uniform `±1/sqrt(fan_in)` for hidden layers, zeros for the
    /// output layer (so that a coupling starts as the identity).
    pub fn init(params: &mut HashMap<String, Vec<f64>>, shapes: &mut HashMap<String, Vec<usize>>, prefix: &str, sizes: &[usize], rng: &mut dyn Rng) {
        for j in 0..sizes.len() - 1 {
            let (fan_in, fan_out) = (sizes[j], sizes[j + 1]);
            let last = j == sizes.len() - 2;
            let bound = 1.0 / (fan_in as f64).sqrt();
            let mut draw = |n: usize| -> Vec<f64> { (0..n).map(|_| if last { 0.0 } else { rng.random_range(-bound..bound) }).collect() };
            params.insert(format!("{prefix}.{j}.w"), draw(fan_in * fan_out));
            shapes.insert(format!("{prefix}.{j}.w"), vec![fan_in, fan_out]);
            params.insert(format!("{prefix}.{j}.b"), draw(fan_out));
            shapes.insert(format!("{prefix}.{j}.b"), vec![fan_out]);
        }
    }

    /// The linear maps `(W_j (in, out), b_j (out,))`, input side first.
    pub fn weights(&self) -> &[(Tensor, Tensor)] {
        &self.layers
    }

    /// The hidden nonlinearity.
    pub fn activation(&self) -> Activation {
        self.act
    }

    /// The network's output for a batch `(n, in)`.
    ///
    /// # Errors
    /// Shape mismatch.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (j, (w, b)) in self.layers.iter().enumerate() {
            h = h.matmul(w)?.broadcast_add(b)?;
            if j + 1 < self.layers.len() {
                h = self.act.apply(&h)?;
            }
        }
        Ok(h)
    }
}

/// Binary mask of `dim` entries: `1` on the even (`parity = 0`) or odd indices.
pub fn parity_mask(dim: usize, parity: usize) -> Vec<f64> {
    (0..dim).map(|i| if i % 2 == parity { 1.0 } else { 0.0 }).collect()
}

/// RealNVP affine coupling: the coordinates where the mask is 1 pass through
/// and condition the others, `y = x·exp(s(x_b)) + t(x_b)` on the complement.
/// The log-scale is soft-clamped, `s = c·tanh(s_raw / c)`, for stable training.
///
/// With f32 parameters on the CPU (training), the layer runs as one fused op with
/// its own backward pass ([`crate::fused`]); otherwise it is built from candle ops.
///
/// # Reference
/// Dinh, Sohl-Dickstein & Bengio (2017), *Density estimation using Real NVP*, ICLR.
pub struct AffineCoupling {
    mask: Tensor,
    inv_mask: Tensor,
    mask_bits: Vec<bool>,
    net: Mlp,
    dim: usize,
    clamp: f64,
    fused: bool,
}

impl AffineCoupling {
    /// A coupling with the given mask (1 = conditioning coordinate) and network
    /// `d → ... → 2d` (first `d` outputs: log-scale, last `d`: shift).
    ///
    /// # Errors
    /// A mask of the wrong dtype or device.
    pub fn new(mask: &[f64], net: Mlp, clamp: f64, dtype: DType, device: &Device) -> Result<Self> {
        let dim = mask.len();
        let m = Tensor::from_vec(mask.to_vec(), (1, dim), device)?.to_dtype(dtype)?;
        let inv: Vec<f64> = mask.iter().map(|b| 1.0 - b).collect();
        let inv_mask = Tensor::from_vec(inv, (1, dim), device)?.to_dtype(dtype)?;
        let mask_bits = mask.iter().map(|&b| b == 1.0).collect();
        let fused = dtype == DType::F32 && device.is_cpu();
        Ok(AffineCoupling { mask: m, inv_mask, mask_bits, net, dim, clamp, fused })
    }

    /// Runs the layer as one fused op (`true`) or as candle ops (`false`); the
    /// default is fused for f32 on the CPU.
    pub fn with_fused(mut self, fused: bool) -> Self {
        self.fused = fused;
        self
    }

    fn scale_shift(&self, xc: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self.net.forward(xc)?;
        let raw = h.narrow(1, 0, self.dim)?;
        let s = ((raw / self.clamp)?.tanh()? * self.clamp)?.broadcast_mul(&self.inv_mask)?;
        let t = h.narrow(1, self.dim, self.dim)?.broadcast_mul(&self.inv_mask)?;
        Ok((s, t))
    }
}

impl Layer for AffineCoupling {
    fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        if self.fused {
            return crate::fused::coupling(x, self.net.weights(), &self.mask_bits, self.clamp, self.net.activation(), Direction::Forward);
        }
        let xc = x.broadcast_mul(&self.mask)?;
        let (s, t) = self.scale_shift(&xc)?;
        let y = (xc + (x.broadcast_mul(&self.inv_mask)? * s.exp()?)? + t)?;
        Ok((y, s.sum(1)?))
    }

    fn inverse(&self, y: &Tensor) -> Result<(Tensor, Tensor)> {
        if self.fused {
            return crate::fused::coupling(y, self.net.weights(), &self.mask_bits, self.clamp, self.net.activation(), Direction::Inverse);
        }
        let yc = y.broadcast_mul(&self.mask)?;
        let (s, t) = self.scale_shift(&yc)?;
        let x = (yc + ((y - t)? * s.neg()?.exp()?)?.broadcast_mul(&self.inv_mask)?)?;
        Ok((x, s.sum(1)?.neg()?))
    }
}

/// Per-dimension scale and shift `y = loc + exp(log_scale)·x`. Used as the flow's
/// final layer `L` (initialized at the data's mean and standard deviation) and as
/// ActNorm (initialized so that its input, pushed through in the data → base
/// direction, comes out with zero mean and unit variance).
///
/// # Reference
/// Kingma & Dhariwal (2018), *Glow: Generative flow with invertible 1x1
/// convolutions*, NeurIPS (ActNorm).
pub struct ElementwiseAffine {
    loc: Tensor,
    log_scale: Tensor,
}

impl ElementwiseAffine {
    /// Reads `{prefix}.loc` and `{prefix}.log_scale` (each of shape `(1, d)`).
    ///
    /// # Errors
    /// A missing tensor.
    pub fn load(params: &Params, prefix: &str) -> Result<Self> {
        Ok(ElementwiseAffine { loc: get(params, &format!("{prefix}.loc"))?, log_scale: get(params, &format!("{prefix}.log_scale"))? })
    }

    /// Initial `(loc, log_scale)` from the mean and standard deviation of each
    /// column of `data` (row-major, `d` columns); a constant column gets scale 1.
    pub fn data_init(data: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
        let n = (data.len() / d).max(1) as f64;
        let mut mean = vec![0.0; d];
        for row in data.chunks_exact(d) {
            for (m, x) in mean.iter_mut().zip(row) {
                *m += x / n;
            }
        }
        let mut var = vec![0.0; d];
        for row in data.chunks_exact(d) {
            for ((v, x), m) in var.iter_mut().zip(row).zip(&mean) {
                *v += (x - m) * (x - m) / n;
            }
        }
        let log_scale = var.iter().map(|v| if *v > 1e-24 { 0.5 * v.ln() } else { 0.0 }).collect();
        (mean, log_scale)
    }

    fn logdet(&self, n: usize) -> Result<Tensor> {
        Ok(self.log_scale.sum_all()?.broadcast_as((n,))?.contiguous()?)
    }
}

impl Layer for ElementwiseAffine {
    fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let y = x.broadcast_mul(&self.log_scale.exp()?)?.broadcast_add(&self.loc)?;
        Ok((y, self.logdet(x.dim(0)?)?))
    }

    fn inverse(&self, y: &Tensor) -> Result<(Tensor, Tensor)> {
        let x = y.broadcast_sub(&self.loc)?.broadcast_mul(&self.log_scale.neg()?.exp()?)?;
        Ok((x, self.logdet(y.dim(0)?)?.neg()?))
    }
}

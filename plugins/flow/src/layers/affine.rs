//! The affine layers: RealNVP's affine coupling and the per-dimension
//! scale-and-shift (the final layer `L`, and the map of ActNorm).
//!
//! # Reference
//! Dinh, Sohl-Dickstein & Bengio (2017), *Density estimation using Real NVP*, ICLR
//! (affine coupling with binary masks); Kingma & Dhariwal (2018), *Glow*, NeurIPS
//! (ActNorm with data-dependent initialization).

use candle_core::{DType, Device, Tensor};

use super::layer::Layer;
use super::mlp::Mlp;
use crate::error::Result;
use crate::kernel::Direction;
use crate::params::{self, Params};

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
#[derive(Debug)]
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
#[derive(Debug)]
pub struct ElementwiseAffine {
    loc: Tensor,
    log_scale: Tensor,
}

impl ElementwiseAffine {
    /// Reads [`params::loc`] and [`params::log_scale`] of `prefix` (each of shape `(1, d)`).
    ///
    /// # Errors
    /// A missing tensor.
    pub fn load(params: &Params, prefix: &str) -> Result<Self> {
        Ok(ElementwiseAffine { loc: params::get(params, &params::loc(prefix))?, log_scale: params::get(params, &params::log_scale(prefix))? })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::coupling;
    use crate::kernel::BLOCK;
    use crate::spec::Activation;
    use candle_core::Var;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    /// A coupling with random (non-identity) weights as candle Vars, and a batch.
    fn setup(d: usize, hidden: usize, depth: usize, parity: usize, n: usize, dtype: DType, seed: u64) -> (Vec<Var>, Params, Tensor, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut sizes = vec![d];
        sizes.extend(std::iter::repeat_n(hidden, depth));
        sizes.push(2 * d);
        let mut vars = Vec::new();
        let mut params = Params::new();
        for j in 0..sizes.len() - 1 {
            for (name, shape) in [(format!("n.{j}.w"), vec![sizes[j], sizes[j + 1]]), (format!("n.{j}.b"), vec![sizes[j + 1]])] {
                let k: usize = shape.iter().product();
                let v: Vec<f64> = (0..k).map(|_| 0.5 * Distribution::<f64>::sample(&StandardNormal, &mut rng)).collect();
                let var = Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap()).unwrap();
                params.insert(name, var.as_tensor().clone());
                vars.push(var);
            }
        }
        let xv: Vec<f64> = (0..n * d).map(|_| 1.5 * Distribution::<f64>::sample(&StandardNormal, &mut rng)).collect();
        let x = Tensor::from_vec(xv, (n, d), &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
        (vars, params, x, parity_mask(d, parity))
    }

    fn max_rel(a: &Tensor, b: &Tensor) -> f64 {
        let a: Vec<f64> = a.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f64> = b.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
        a.iter().zip(&b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    /// Same weights → same outputs and the same gradients (w.r.t. the input and every
    /// weight and bias) as the coupling built from candle's own ops, in both directions,
    /// for every activation, with more rows than one block.
    #[test]
    fn fused_coupling_matches_the_candle_layer_values_and_gradients() {
        for (dtype, tol) in [(DType::F64, 1e-11), (DType::F32, 2e-4)] {
            for (act, depth, parity) in [(Activation::Tanh, 2, 0), (Activation::Relu, 1, 1), (Activation::Silu, 3, 1), (Activation::Tanh, 2, 1)] {
                let d = 5;
                let (vars, params, x, mask) = setup(d, 9, depth, parity, 2 * BLOCK + 37, dtype, 11 + depth as u64);
                let net = Mlp::load(&params, "n", depth, act).unwrap();
                let plain = AffineCoupling::new(&mask, net, 2.0, dtype, &Device::Cpu).unwrap().with_fused(false);
                let xv = Var::from_tensor(&x).unwrap();
                let weights: Vec<(Tensor, Tensor)> =
                    (0..=depth).map(|j| (params[&format!("n.{j}.w")].clone(), params[&format!("n.{j}.b")].clone())).collect();
                let mb: Vec<bool> = mask.iter().map(|&m| m == 1.0).collect();
                // A loss that weighs every output and the log-determinant differently.
                let coef = Tensor::arange(0u32, d as u32, &Device::Cpu).unwrap().to_dtype(dtype).unwrap().affine(0.3, -0.4).unwrap();
                let loss = |y: &Tensor, ld: &Tensor| -> Tensor {
                    (y.sqr().unwrap().broadcast_mul(&coef).unwrap().sum_all().unwrap() + (ld * 0.7).unwrap().sum_all().unwrap()).unwrap()
                };
                for dir in [Direction::Forward, Direction::Inverse] {
                    let (yp, lp) = match dir {
                        Direction::Forward => plain.forward(xv.as_tensor()).unwrap(),
                        Direction::Inverse => plain.inverse(xv.as_tensor()).unwrap(),
                    };
                    let (yf, lf) = coupling(xv.as_tensor(), &weights, &mb, 2.0, act, dir).unwrap();
                    assert!(max_rel(&yf, &yp) < tol && max_rel(&lf, &lp) < tol, "{dtype:?} {act:?} {dir:?}: outputs differ");
                    let gp = loss(&yp, &lp).backward().unwrap();
                    let gf = loss(&yf, &lf).backward().unwrap();
                    for v in vars.iter().chain([&xv]) {
                        let (a, b) = (gf.get(v.as_tensor()).unwrap(), gp.get(v.as_tensor()).unwrap());
                        let e = max_rel(a, b);
                        assert!(e < tol, "{dtype:?} {act:?} {dir:?}: gradient of a {:?} tensor differs by {e:e}", v.shape());
                    }
                }
            }
        }
    }

    #[test]
    fn fused_coupling_result_does_not_depend_on_the_number_of_threads() {
        let (_, params, x, mask) = setup(7, 16, 2, 0, 3 * BLOCK + 5, DType::F32, 3);
        let weights: Vec<(Tensor, Tensor)> = (0..=2).map(|j| (params[&format!("n.{j}.w")].clone(), params[&format!("n.{j}.b")].clone())).collect();
        let mb: Vec<bool> = mask.iter().map(|&m| m == 1.0).collect();
        let run = |threads: usize| -> (Vec<f32>, Vec<f32>) {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let xv = Var::from_tensor(&x).unwrap();
                let (y, ld) = coupling(xv.as_tensor(), &weights, &mb, 3.0, Activation::Tanh, Direction::Inverse).unwrap();
                let g = (y.sum_all().unwrap() + ld.sum_all().unwrap()).unwrap().backward().unwrap();
                let w0: Vec<f32> = g.get(&weights[0].0).unwrap().flatten_all().unwrap().to_vec1().unwrap();
                (y.flatten_all().unwrap().to_vec1().unwrap(), w0)
            })
        };
        assert_eq!(run(1), run(3));
    }
}

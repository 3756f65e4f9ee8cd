//! The RealNVP affine coupling as one candle op with its own backward pass.
//!
//! Built from candle's element-wise ops, a coupling costs about 25 small tensor
//! operations forward and as many backward, each allocating; on the CPU that
//! overhead, not the matrix products, dominated training. [`coupling`] does the
//! whole layer (masked input → network → soft-clamped log-scale and shift →
//! `y` and `log|det|`) in one [`CustomOp2`] over the input and the flattened
//! network parameters, and computes the gradients with respect to both in its
//! `bwd`, reusing the activations kept by the forward pass. The parameters stay
//! candle `Var`s (they are concatenated into the op's second argument, which
//! candle differentiates back to each `Var`), so Adam and safetensors work as before.
//!
//! Rows are processed in fixed blocks of [`BLOCK`] in parallel (rayon) and the
//! blocks' parameter gradients summed in block order: the result does not
//! depend on the number of threads.
//!
//! # Reference
//! Dinh, Sohl-Dickstein & Bengio (2017), *Density estimation using Real NVP*, ICLR.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::error::Result;
use crate::kernel::{coupling_block, coupling_block_backward, n_params, CouplingView, Direction, Real, Saved, BLOCK};
use crate::layers::Activation;

/// The activations of every block of one forward call, for its backward call.
enum Cache {
    F32(Vec<Saved<f32>>),
    F64(Vec<Saved<f64>>),
}

struct FusedCoupling {
    sizes: Vec<usize>,
    mask: Vec<bool>,
    clamp: f64,
    act: Activation,
    dir: Direction,
    /// Keep the activations for a backward pass (false when nothing tracks gradients).
    keep: bool,
    cache: Mutex<Option<Cache>>,
}

fn slice<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [T]> {
    let v = s.as_slice::<T>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => Err(candle_core::Error::Msg("fused coupling: inputs must be contiguous".into())),
    }
}

impl FusedCoupling {
    fn view<'a, T: Real>(&'a self, theta: &'a [T]) -> CouplingView<'a, T> {
        CouplingView { sizes: &self.sizes, theta, mask: &self.mask, clamp: self.clamp, act: self.act }
    }

    /// Forward over all rows: output `(n, d + 1)` = `[y, log|det|]`, and the saved activations.
    fn run<T: Real>(&self, x: &[T], theta: &[T], keep: bool) -> (Vec<T>, Vec<Saved<T>>) {
        let d = self.mask.len();
        let n = x.len() / d;
        let mut out = vec![T::ZERO; n * (d + 1)];
        let net = self.view(theta);
        let saved: Vec<Saved<T>> = out
            .par_chunks_mut(BLOCK * (d + 1))
            .zip(x.par_chunks(BLOCK * d))
            .map(|(o, xb)| coupling_block(&net, self.dir, xb, xb.len() / d, o, d + 1, None, keep))
            .collect();
        (out, saved)
    }

    fn backward<T: Real + WithDType>(&self, x: &[T], theta: &[T], g: &[T], saved: Option<Vec<Saved<T>>>) -> (Vec<T>, Vec<T>) {
        let d = self.mask.len();
        let n = x.len() / d;
        let saved = saved.unwrap_or_else(|| self.run(x, theta, true).1);
        let net = self.view(theta);
        let mut gx = vec![T::ZERO; n * d];
        let parts: Vec<Vec<T>> = gx
            .par_chunks_mut(BLOCK * d)
            .zip(g.par_chunks(BLOCK * (d + 1)))
            .zip(saved.par_iter())
            .map(|((gxb, gb), sv)| coupling_block_backward(&net, self.dir, sv, gxb.len() / d, gb, d + 1, gxb))
            .collect();
        let mut gt = vec![T::ZERO; theta.len()];
        for p in &parts {
            gt.iter_mut().zip(p).for_each(|(a, b)| *a += *b);
        }
        (gx, gt)
    }

    fn bwd_typed<T: Real + WithDType>(&self, x: &Tensor, theta: &Tensor, grad: &Tensor, saved: Option<Vec<Saved<T>>>) -> candle_core::Result<(Tensor, Tensor)> {
        let xv: Vec<T> = x.flatten_all()?.to_vec1()?;
        let tv: Vec<T> = theta.flatten_all()?.to_vec1()?;
        let gv: Vec<T> = grad.flatten_all()?.to_vec1()?;
        let (gx, gt) = self.backward(&xv, &tv, &gv, saved);
        Ok((Tensor::from_vec(gx, x.shape(), x.device())?, Tensor::from_vec(gt, theta.shape(), theta.device())?))
    }
}

impl CustomOp2 for FusedCoupling {
    fn name(&self) -> &'static str {
        "fused-affine-coupling"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = self.mask.len();
        let n = l1.shape().elem_count() / d.max(1);
        if l1.shape().dims() != [n, d] || l2.shape().elem_count() != n_params(&self.sizes) {
            return Err(candle_core::Error::Msg(format!("fused coupling: input {:?} and {} parameters do not match a {d}-D coupling with widths {:?}", l1.shape(), l2.shape().elem_count(), self.sizes)));
        }
        let mut cache = self.cache.lock().map_err(|_| candle_core::Error::Msg("fused coupling: poisoned cache".into()))?;
        match (s1, s2) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => {
                let (out, saved) = self.run::<f32>(slice(s1, l1)?, slice(s2, l2)?, self.keep);
                *cache = self.keep.then_some(Cache::F32(saved));
                Ok((CpuStorage::F32(out), Shape::from((n, d + 1))))
            }
            (CpuStorage::F64(_), CpuStorage::F64(_)) => {
                let (out, saved) = self.run::<f64>(slice(s1, l1)?, slice(s2, l2)?, self.keep);
                *cache = self.keep.then_some(Cache::F64(saved));
                Ok((CpuStorage::F64(out), Shape::from((n, d + 1))))
            }
            _ => Err(candle_core::Error::Msg("fused coupling: input and parameters must both be f32 or both f64".into())),
        }
    }

    fn bwd(&self, arg1: &Tensor, arg2: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let cached = self.cache.lock().map_err(|_| candle_core::Error::Msg("fused coupling: poisoned cache".into()))?.take();
        let (gx, gt) = match arg1.dtype() {
            DType::F32 => self.bwd_typed::<f32>(arg1, arg2, grad_res, match cached {
                Some(Cache::F32(s)) => Some(s),
                _ => None,
            })?,
            DType::F64 => self.bwd_typed::<f64>(arg1, arg2, grad_res, match cached {
                Some(Cache::F64(s)) => Some(s),
                _ => None,
            })?,
            other => return Err(candle_core::Error::Msg(format!("fused coupling: unsupported dtype {other:?}"))),
        };
        Ok((Some(gx), Some(gt)))
    }
}

/// Applies an affine coupling as one op: `x` is `(n, d)`, `weights` the
/// network's linear maps `(W_j (in, out), b_j (out,))`, `mask` true on the
/// conditioning coordinates. Returns `(y, log|det|)` of the direction `dir`,
/// differentiable with respect to `x` and every weight. CPU only (f32 or f64).
///
/// # Errors
/// Shapes that do not match, or a device other than the CPU.
pub fn coupling(x: &Tensor, weights: &[(Tensor, Tensor)], mask: &[bool], clamp: f64, act: Activation, dir: Direction) -> Result<(Tensor, Tensor)> {
    let d = mask.len();
    let mut sizes = vec![d];
    let mut parts = Vec::with_capacity(2 * weights.len());
    for (w, b) in weights {
        sizes.push(w.dim(1)?);
        parts.push(w.flatten_all()?);
        parts.push(b.flatten_all()?);
    }
    let theta = Tensor::cat(&parts, 0)?;
    // Without gradient tracking (e.g. detached weights for validation), no activations are kept.
    let keep = x.track_op() || theta.track_op();
    let op = FusedCoupling { sizes, mask: mask.to_vec(), clamp, act, dir, keep, cache: Mutex::new(None) };
    let out = x.contiguous()?.apply_op2(&theta, op)?;
    Ok((out.narrow(1, 0, d)?, out.narrow(1, d, 1)?.squeeze(1)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{parity_mask, AffineCoupling, Layer, Mlp, Params};
    use candle_core::{Device, Var};
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
                let weights: Vec<(Tensor, Tensor)> = (0..=depth).map(|j| (params[&format!("n.{j}.w")].clone(), params[&format!("n.{j}.b")].clone())).collect();
                let mb: Vec<bool> = mask.iter().map(|&m| m == 1.0).collect();
                // A loss that weighs every output and the log-determinant differently.
                let coef = Tensor::arange(0u32, d as u32, &Device::Cpu).unwrap().to_dtype(dtype).unwrap().affine(0.3, -0.4).unwrap();
                let loss = |y: &Tensor, ld: &Tensor| -> Tensor { (y.sqr().unwrap().broadcast_mul(&coef).unwrap().sum_all().unwrap() + (ld * 0.7).unwrap().sum_all().unwrap()).unwrap() };
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

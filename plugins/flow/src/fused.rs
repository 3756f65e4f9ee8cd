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
use crate::spec::Activation;

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

    fn bwd_typed<T: Real + WithDType>(
        &self,
        x: &Tensor,
        theta: &Tensor,
        grad: &Tensor,
        saved: Option<Vec<Saved<T>>>,
    ) -> candle_core::Result<(Tensor, Tensor)> {
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
            return Err(candle_core::Error::Msg(format!(
                "fused coupling: input {:?} and {} parameters do not match a {d}-D coupling with widths {:?}",
                l1.shape(),
                l2.shape().elem_count(),
                self.sizes
            )));
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
            DType::F32 => self.bwd_typed::<f32>(
                arg1,
                arg2,
                grad_res,
                match cached {
                    Some(Cache::F32(s)) => Some(s),
                    _ => None,
                },
            )?,
            DType::F64 => self.bwd_typed::<f64>(
                arg1,
                arg2,
                grad_res,
                match cached {
                    Some(Cache::F64(s)) => Some(s),
                    _ => None,
                },
            )?,
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

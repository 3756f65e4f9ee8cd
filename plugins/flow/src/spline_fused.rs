//! The rational-quadratic spline coupling in the data → base direction as one
//! candle op with its own backward pass (the kernels of
//! [`crate::spline_kernel`]).
//!
//! Built from candle's ops, a spline coupling is about a hundred small tensor
//! operations forward and as many backward (softmax knots, one-hot bin
//! selection, the quadratic's root), each allocating: on the CPU that, not the
//! arithmetic, is the cost of evaluating or training a spline flow. The fused
//! op takes the input and the flattened network parameters (candle
//! differentiates back to each parameter tensor, so `Var`s and Adam work as
//! before) and returns `[y, log|det|]`. The gradient with respect to the
//! parameters is computed only when they track gradients (a frozen flow needs
//! only the one with respect to its input).
//!
//! Rows are processed in fixed blocks of [`BLOCK`] in parallel (rayon) and the
//! blocks' parameter gradients summed in block order: the result does not
//! depend on the number of threads.
//!
//! # Reference
//! Durkan, Bekasov, Murray & Papamakarios (2019), *Neural spline flows*, NeurIPS.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::error::Result;
use crate::kernel::{n_params, BLOCK};
use crate::spec::Activation;
use crate::spline_kernel::{spline_block, spline_block_backward, SplineReal, SplineSaved, SplineView};

enum Cache {
    F32(Vec<SplineSaved<f32>>),
    F64(Vec<SplineSaved<f64>>),
}

struct FusedSpline {
    sizes: Vec<usize>,
    mask: Vec<bool>,
    bins: usize,
    bound: f64,
    act: Activation,
    keep: bool,
    cache: Mutex<Option<Cache>>,
}

fn slice<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [T]> {
    let v = s.as_slice::<T>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => Err(candle_core::Error::Msg("fused spline: inputs must be contiguous".into())),
    }
}

impl FusedSpline {
    fn view<'a, T>(&'a self, theta: &'a [T]) -> SplineView<'a, T> {
        SplineView { sizes: &self.sizes, theta, mask: &self.mask, bins: self.bins, bound: self.bound, act: self.act }
    }

    fn run<T: SplineReal>(&self, x: &[T], theta: &[T], keep: bool) -> (Vec<T>, Vec<SplineSaved<T>>) {
        let d = self.mask.len();
        let n = x.len() / d;
        let mut out = vec![T::ZERO; n * (d + 1)];
        let net = self.view(theta);
        let saved =
            out.par_chunks_mut(BLOCK * (d + 1)).zip(x.par_chunks(BLOCK * d)).map(|(o, xb)| spline_block(&net, xb, xb.len() / d, o, keep)).collect();
        (out, saved)
    }

    fn backward<T: SplineReal>(&self, x: &[T], theta: &[T], g: &[T], saved: Option<Vec<SplineSaved<T>>>, want_theta: bool) -> (Vec<T>, Vec<T>) {
        let d = self.mask.len();
        let n = x.len() / d;
        let saved = saved.unwrap_or_else(|| self.run(x, theta, true).1);
        let net = self.view(theta);
        let mut gx = vec![T::ZERO; n * d];
        let parts: Vec<Vec<T>> = gx
            .par_chunks_mut(BLOCK * d)
            .zip(g.par_chunks(BLOCK * (d + 1)))
            .zip(saved.par_iter())
            .map(|((gxb, gb), sv)| spline_block_backward(&net, sv, gxb.len() / d, gb, gxb, want_theta))
            .collect();
        let mut gt = vec![T::ZERO; theta.len()];
        for p in &parts {
            gt.iter_mut().zip(p).for_each(|(a, b)| *a += *b);
        }
        (gx, gt)
    }

    fn bwd_typed<T: SplineReal + WithDType>(
        &self,
        x: &Tensor,
        theta: &Tensor,
        grad: &Tensor,
        saved: Option<Vec<SplineSaved<T>>>,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let xv: Vec<T> = x.flatten_all()?.to_vec1()?;
        let tv: Vec<T> = theta.flatten_all()?.to_vec1()?;
        let gv: Vec<T> = grad.flatten_all()?.to_vec1()?;
        let (gx, gt) = self.backward(&xv, &tv, &gv, saved, theta.track_op());
        Ok((Tensor::from_vec(gx, x.shape(), x.device())?, Tensor::from_vec(gt, theta.shape(), theta.device())?))
    }
}

impl CustomOp2 for FusedSpline {
    fn name(&self) -> &'static str {
        "fused-spline-coupling"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = self.mask.len();
        let n = l1.shape().elem_count() / d.max(1);
        if l1.shape().dims() != [n, d]
            || l2.shape().elem_count() != n_params(&self.sizes)
            || *self.sizes.last().unwrap_or(&0) != d * (3 * self.bins - 1)
        {
            return Err(candle_core::Error::Msg(format!(
                "fused spline: input {:?} and {} parameters do not match a {d}-D spline coupling with {} bins and widths {:?}",
                l1.shape(),
                l2.shape().elem_count(),
                self.bins,
                self.sizes
            )));
        }
        let mut cache = self.cache.lock().map_err(|_| candle_core::Error::Msg("fused spline: poisoned cache".into()))?;
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
            _ => Err(candle_core::Error::Msg("fused spline: input and parameters must both be f32 or both f64".into())),
        }
    }

    fn bwd(&self, arg1: &Tensor, arg2: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let cached = self.cache.lock().map_err(|_| candle_core::Error::Msg("fused spline: poisoned cache".into()))?.take();
        let (gx, gt) = match arg1.dtype() {
            DType::F32 => self.bwd_typed::<f32>(
                arg1,
                arg2,
                &grad_res.contiguous()?,
                match cached {
                    Some(Cache::F32(s)) => Some(s),
                    _ => None,
                },
            )?,
            DType::F64 => self.bwd_typed::<f64>(
                arg1,
                arg2,
                &grad_res.contiguous()?,
                match cached {
                    Some(Cache::F64(s)) => Some(s),
                    _ => None,
                },
            )?,
            other => return Err(candle_core::Error::Msg(format!("fused spline: unsupported dtype {other:?}"))),
        };
        Ok((Some(gx), arg2.track_op().then_some(gt)))
    }
}

/// The inverse (data → base) rational-quadratic spline coupling as one op:
/// `x` is `(n, d)`, `weights` the network's linear maps `(W_j (in, out), b_j
/// (out,))` ending in `d(3K - 1)` outputs, `mask` true on the conditioning
/// coordinates. Returns `(z, log|det ∂z/∂x|)`, differentiable with respect to
/// `x` and every weight. CPU only (f32 or f64).
///
/// # Errors
/// Shapes that do not match, or a device other than the CPU.
pub fn spline_inverse(x: &Tensor, weights: &[(Tensor, Tensor)], mask: &[bool], bins: usize, bound: f64, act: Activation) -> Result<(Tensor, Tensor)> {
    let d = mask.len();
    let mut sizes = vec![d];
    let mut parts = Vec::with_capacity(2 * weights.len());
    for (w, b) in weights {
        sizes.push(w.dim(1)?);
        parts.push(w.flatten_all()?);
        parts.push(b.flatten_all()?);
    }
    let theta = Tensor::cat(&parts, 0)?;
    let keep = x.track_op() || theta.track_op();
    let op = FusedSpline { sizes, mask: mask.to_vec(), bins, bound, act, keep, cache: Mutex::new(None) };
    let out = x.contiguous()?.apply_op2(&theta, op)?;
    Ok((out.narrow(1, 0, d)?, out.narrow(1, d, 1)?.squeeze(1)?))
}

#[cfg(test)]
mod tests;

//! Small tensor helpers shared by the terms and the composite target.

use candle_core::{DType, Tensor};

/// A `(1, d)` row of constants in `like`'s dtype and device.
pub(crate) fn row(v: &[f64], like: &Tensor) -> candle_core::Result<Tensor> {
    Tensor::from_vec(v.to_vec(), (1, v.len()), like.device())?.to_dtype(like.dtype())
}

/// `(n,)` mask (u8) of the rows of `x` strictly inside `(lower, upper)` in every
/// column (NaN counts as outside); detached.
pub(crate) fn inside(x: &Tensor, lower: &[f64], upper: &[f64]) -> candle_core::Result<Tensor> {
    let x = x.detach();
    let gt = x.broadcast_gt(&row(lower, &x)?)?;
    let lt = x.broadcast_lt(&row(upper, &x)?)?;
    let ok = (gt * lt)?.to_dtype(DType::F32)?;
    let cols = ok.dim(1)? as f64;
    ok.sum(1)?.ge(cols - 0.5)
}

/// `value` where `mask` (u8, `(n,)`) is set, else `-inf`.
pub(crate) fn or_neg_inf(mask: &Tensor, value: &Tensor) -> candle_core::Result<Tensor> {
    let neg = Tensor::full(f64::NEG_INFINITY, value.shape(), value.device())?.to_dtype(value.dtype())?;
    mask.where_cond(value, &neg)
}

/// `x` where `mask` (u8, `(n,)`) is set, else the `(1, d)` row `safe`: keeps
/// the arithmetic of rows outside a support finite (and their gradients zero).
pub(crate) fn or_safe(mask: &Tensor, x: &Tensor, safe: &[f64]) -> candle_core::Result<Tensor> {
    let m = mask.unsqueeze(1)?.broadcast_as(x.shape())?;
    let s = row(safe, x)?.broadcast_as(x.shape())?;
    m.where_cond(x, &s)
}

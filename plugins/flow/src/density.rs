//! [`DiffLogDensity`]: a log density on candle tensors, differentiable in its
//! input. It is what a reverse-KL fit needs of every factor of a target (the
//! gradient of `log p` with respect to the point), and what seqcal's two-stage
//! flows combine: every flow architecture implements it through [`Flow`], a
//! trained prior through [`FlowPrior`] (on the user's coordinates, bounded
//! transforms and their Jacobians included), and a third-party density
//! implements it with candle ops of its own.

use candle_core::{DType, Tensor};

use crate::bijector::DimTransform;
use crate::model::Flow;
use crate::prior::FlowPrior;

/// A log density on candle tensors, differentiable in its input.
pub trait DiffLogDensity: Send + Sync + std::fmt::Debug {
    /// The number of coordinates.
    fn dim(&self) -> usize;

    /// `x`: `(n, dim)`, F32 or F64 → `(n,)` log densities, same dtype;
    /// gradients flow to `x`. Points outside the support give `-inf` (never NaN).
    ///
    /// # Errors
    /// A shape or dtype candle cannot handle.
    fn log_density(&self, x: &Tensor) -> candle_core::Result<Tensor>;

    /// One line saying what the density is.
    fn describe(&self) -> String;

    /// The support of each coordinate, `(lower, upper)` with infinite ends
    /// where unbounded. The default: the whole real line.
    fn bounds(&self) -> Vec<(f64, f64)> {
        vec![(f64::NEG_INFINITY, f64::INFINITY); self.dim()]
    }

    /// The concrete type behind a trait object, for callers that treat some
    /// densities specially (TSFB's exact Gibbs step and f64 evaluation of the
    /// library's terms). The default: `None`, nothing special.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

fn flow_err(e: crate::FlowError) -> candle_core::Error {
    match e {
        crate::FlowError::Candle(c) => c,
        other => candle_core::Error::Msg(other.to_string()),
    }
}

impl DiffLogDensity for Flow {
    fn dim(&self) -> usize {
        self.spec().dim
    }

    /// The flow's [`log_prob`](Flow::log_prob) (its own coordinates), computed in
    /// the parameters' dtype; NaN (a numerically broken flow) becomes `-inf`.
    fn log_density(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let lp = self.log_prob(&x.to_dtype(self.dtype())?).map_err(flow_err)?;
        let finite = lp.detach().eq(&lp.detach())?;
        or_neg_inf(&finite, &lp)?.to_dtype(x.dtype())
    }

    fn describe(&self) -> String {
        let s = self.spec();
        format!("flow ({}, {} pairs, hidden {}x{}, dim {})", s.kind, s.pairs, s.depth, s.hidden, s.dim)
    }
}

impl DiffLogDensity for FlowPrior {
    fn dim(&self) -> usize {
        seqcal_api::Prior::space(self).dim()
    }

    /// The prior's density on the user's coordinates: the bounded transforms
    /// (logit / log) with their log-Jacobians, then the flow; `-inf` outside
    /// the support or where the flow is NaN. Computed in the flow's dtype (f64).
    fn log_density(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let xd = x.to_dtype(self.flow().dtype())?;
        let (y, lj, inside) = to_latent(&self.sidecar().transforms, &xd)?;
        let lp = (self.flow().log_prob(&y).map_err(flow_err)? + lj)?;
        let finite = lp.detach().eq(&lp.detach())?;
        or_neg_inf(&(inside * finite)?, &lp)?.to_dtype(x.dtype())
    }

    fn describe(&self) -> String {
        seqcal_api::Prior::describe(self)
    }

    fn bounds(&self) -> Vec<(f64, f64)> {
        seqcal_api::Prior::space(self).bounds().to_vec()
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// A [`FlowPrior`]'s density evaluated with f32 parameters: for a reverse-KL
/// fit, which evaluates its frozen factors and their input gradients at every
/// step. In f32 both the affine and the spline couplings run as fused ops
/// with their own backward passes, and the arithmetic is half as wide as in
/// f64; the values agree with the f64 prior to f32 rounding (tested).
#[derive(Debug)]
pub struct FrozenF32 {
    flow: Flow,
    transforms: Vec<DimTransform>,
    bounds: Vec<(f64, f64)>,
    describe: String,
}

impl FrozenF32 {
    /// The f32 copy of `prior`.
    ///
    /// # Errors
    /// A candle failure casting the parameters.
    pub fn new(prior: &FlowPrior) -> crate::Result<Self> {
        let params = crate::params::cast(prior.params(), DType::F32)?;
        Ok(FrozenF32 {
            flow: Flow::new(prior.flow().spec(), &params)?,
            transforms: prior.sidecar().transforms.clone(),
            bounds: seqcal_api::Prior::space(prior).bounds().to_vec(),
            describe: seqcal_api::Prior::describe(prior),
        })
    }
}

impl DiffLogDensity for FrozenF32 {
    fn dim(&self) -> usize {
        self.bounds.len()
    }

    /// As [`FlowPrior`]'s, computed in f32.
    fn log_density(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let xf = x.to_dtype(DType::F32)?;
        let (y, lj, inside) = to_latent(&self.transforms, &xf)?;
        let lp = (self.flow.log_prob(&y).map_err(flow_err)? + lj)?;
        let finite = lp.detach().eq(&lp.detach())?;
        or_neg_inf(&(inside * finite)?, &lp)?.to_dtype(x.dtype())
    }

    fn describe(&self) -> String {
        format!("{} (f32)", self.describe)
    }

    fn bounds(&self) -> Vec<(f64, f64)> {
        self.bounds.clone()
    }
}

/// A `(1, d)` row of constants in `like`'s dtype and device.
///
/// # Errors
/// A dtype candle cannot convert to.
pub fn const_row(v: &[f64], like: &Tensor) -> candle_core::Result<Tensor> {
    Tensor::from_vec(v.to_vec(), (1, v.len()), like.device())?.to_dtype(like.dtype())
}

/// `(n,)` mask (u8, detached) of the rows of `x` strictly inside
/// `(lower, upper)` in every column; NaN counts as outside.
///
/// # Errors
/// A shape mismatch.
pub fn inside(x: &Tensor, lower: &[f64], upper: &[f64]) -> candle_core::Result<Tensor> {
    let x = x.detach();
    let gt = x.broadcast_gt(&const_row(lower, &x)?)?;
    let lt = x.broadcast_lt(&const_row(upper, &x)?)?;
    let ok = (gt * lt)?.to_dtype(DType::F32)?;
    let cols = ok.dim(1)? as f64;
    ok.sum(1)?.ge(cols - 0.5)
}

/// `value` where `mask` (u8, `(n,)`) is set, else `-inf`.
///
/// # Errors
/// A shape mismatch.
pub fn or_neg_inf(mask: &Tensor, value: &Tensor) -> candle_core::Result<Tensor> {
    let neg = Tensor::full(f64::NEG_INFINITY, value.shape(), value.device())?.to_dtype(value.dtype())?;
    mask.where_cond(value, &neg)
}

/// Rows of `x` where `mask` (u8, `(n,)`) is set, else the row `safe`: keeps
/// the arithmetic of rows outside a support finite (and their gradients zero).
///
/// # Errors
/// A shape mismatch.
pub fn or_safe(mask: &Tensor, x: &Tensor, safe: &[f64]) -> candle_core::Result<Tensor> {
    let m = mask.unsqueeze(1)?.broadcast_as(x.shape())?;
    let s = const_row(safe, x)?.broadcast_as(x.shape())?;
    m.where_cond(x, &s)
}

/// The open interval of a transform's support and a point inside it.
fn support(t: &DimTransform) -> (f64, f64, f64) {
    match *t {
        DimTransform::Identity => (f64::NEG_INFINITY, f64::INFINITY, 0.0),
        DimTransform::Logit { lower, upper } => (lower, upper, 0.5 * (lower + upper)),
        DimTransform::LogLower { lower } => (lower, f64::INFINITY, lower + 1.0),
        DimTransform::LogUpper { upper } => (f64::NEG_INFINITY, upper, upper - 1.0),
    }
}

/// `softplus(v) = ln(1 + e^v)`, stable for any `v`.
fn softplus(v: &Tensor) -> candle_core::Result<Tensor> {
    v.relu()? + ((v.abs()?.neg()?.exp()? + 1.0)?.log()?)
}

/// The user's coordinates `x` (`(n, d)`) to the flow's: latent `y`, `ln|dy/dx|`
/// per row, and the `(n,)` mask of the rows inside the support (rows outside
/// are computed at a point inside, to be masked by the caller).
///
/// # Errors
/// A shape mismatch.
pub fn to_latent(transforms: &[DimTransform], x: &Tensor) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    let (lower, upper, safe): (Vec<f64>, Vec<f64>, Vec<f64>) = transforms.iter().map(support).fold((vec![], vec![], vec![]), |mut a, (l, u, s)| {
        a.0.push(l);
        a.1.push(u);
        a.2.push(s);
        a
    });
    let mask = inside(x, &lower, &upper)?;
    let n = x.dim(0)?;
    let zero = Tensor::zeros((n, 1), x.dtype(), x.device())?;
    if transforms.iter().all(|t| *t == DimTransform::Identity) {
        return Ok((or_safe(&mask, x, &safe)?, zero.squeeze(1)?, mask));
    }
    let xs = or_safe(&mask, x, &safe)?;
    let (mut ys, mut ljs) = (Vec::with_capacity(transforms.len()), Vec::with_capacity(transforms.len()));
    for (j, t) in transforms.iter().enumerate() {
        let c = xs.narrow(1, j, 1)?;
        let (y, lj) = match *t {
            DimTransform::Identity => (c, zero.clone()),
            DimTransform::Logit { lower, upper } => {
                let w = upper - lower;
                let u = ((c - lower)? / w)?;
                let (lu, l1u) = (u.log()?, (u.neg()? + 1.0)?.log()?);
                ((&lu - &l1u)?, ((lu.neg()? - l1u)? - w.ln())?)
            }
            DimTransform::LogLower { lower } => {
                let y = (c - lower)?.log()?;
                (y.clone(), y.neg()?)
            }
            DimTransform::LogUpper { upper } => {
                let y = (c.neg()? + upper)?.log()?;
                (y.clone(), y.neg()?)
            }
        };
        ys.push(y);
        ljs.push(lj);
    }
    Ok((Tensor::cat(&ys, 1)?, Tensor::cat(&ljs, 1)?.sum(1)?, mask))
}

/// The flow's coordinates `y` (`(n, d)`) to the user's: `x` and `ln|dx/dy|` per row.
///
/// # Errors
/// A shape mismatch.
pub fn from_latent(transforms: &[DimTransform], y: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
    let n = y.dim(0)?;
    let zero = Tensor::zeros((n, 1), y.dtype(), y.device())?;
    if transforms.iter().all(|t| *t == DimTransform::Identity) {
        return Ok((y.clone(), zero.squeeze(1)?));
    }
    let (mut xs, mut ljs) = (Vec::with_capacity(transforms.len()), Vec::with_capacity(transforms.len()));
    for (j, t) in transforms.iter().enumerate() {
        let c = y.narrow(1, j, 1)?;
        let (x, lj) = match *t {
            DimTransform::Identity => (c, zero.clone()),
            DimTransform::Logit { lower, upper } => {
                let w = upper - lower;
                // ln s = -softplus(-y), ln(1 - s) = -softplus(y).
                let ls = softplus(&c.neg()?)?.neg()?;
                let l1s = softplus(&c)?.neg()?;
                (((ls.exp()? * w)? + lower)?, ((ls + l1s)? + w.ln())?)
            }
            DimTransform::LogLower { lower } => ((c.exp()? + lower)?, c),
            DimTransform::LogUpper { upper } => ((c.exp()?.neg()? + upper)?, c),
        };
        xs.push(x);
        ljs.push(lj);
    }
    Ok((Tensor::cat(&xs, 1)?, Tensor::cat(&ljs, 1)?.sum(1)?))
}

#[cfg(test)]
mod tests;

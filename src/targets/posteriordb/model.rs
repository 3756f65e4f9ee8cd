//! What the posteriordb targets share: the [`Model`] each implements, the
//! bijections of their parameters, their data parsing and checks, the
//! least-squares pieces of the regressions, and [`assemble`], which makes a
//! [`Target`] of a model.

use nalgebra::{DMatrix, DVector};
use seqcal_api::{DensityError, LogDensity, ParamSpace};

use crate::prior::UniformBox;
use crate::targets::target::{PriorUse, Target};
pub(super) use crate::targets::transform::softplus;
use crate::targets::transform::{Bijection, Elementwise, Transform};
use crate::{Error, Result, ResultExt};

/// `ln(2π) / 2`.
pub(super) const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// Parses a posteriordb `data.json`.
pub(super) fn parse_data<T: serde::de::DeserializeOwned>(posterior: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).context_with(|| format!("posteriordb data of {posterior}"))
}

/// Errors when a data vector does not have the length its model says.
pub(super) fn check_len(posterior: &str, what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::Data { input: format!("posteriordb data of {posterior}"), message: format!("{what} has {got} values, expected {want}") });
    }
    Ok(())
}

/// `ln(1 + z²)`, also where `z²` overflows.
#[inline]
pub(super) fn ln1p_sq(z: f64) -> f64 {
    if z.abs() < 1e100 {
        (z * z).ln_1p()
    } else {
        2.0 * z.abs().ln()
    }
}

/// Log density of the half-Cauchy(0, `scale`) at `x > 0`, normalized on the half-line.
#[inline]
pub(super) fn log_half_cauchy(x: f64, scale: f64) -> f64 {
    (2.0 / (std::f64::consts::PI * scale)).ln() - ln1p_sq(x / scale)
}

/// A log posterior on the unconstrained scale.
pub(super) trait Model: Send + Sync + 'static {
    /// Number of sampler coordinates.
    fn dim(&self) -> usize;
    /// Log posterior (Jacobian included) at a point `u` of the right length
    /// whose coordinates are all finite.
    fn log_post(&self, u: &[f64]) -> std::result::Result<f64, DensityError>;
}

/// A [`Model`] as a [`LogDensity`]: checks the length and finiteness of the
/// point and that the result is not NaN or `+inf`.
pub(super) struct Density<M>(M);

impl<M: Model> LogDensity for Density<M> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn log_density(&self, u: &[f64]) -> std::result::Result<f64, DensityError> {
        if u.len() != self.0.dim() {
            return Err(DensityError::Fatal(format!("expected {} parameters, got {}", self.0.dim(), u.len())));
        }
        if let Some(i) = u.iter().position(|v| !v.is_finite()) {
            return Err(DensityError::Reject(format!("coordinate {i} is {}", u[i])));
        }
        let lp = self.0.log_post(u)?;
        if lp.is_nan() || lp == f64::INFINITY {
            return Err(DensityError::Reject(format!("log density evaluates to {lp}")));
        }
        Ok(lp)
    }
}

/// How one stored parameter is reached from its sampler coordinate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Bij {
    /// Unbounded: `theta = u`.
    Free,
    /// Positive: `theta = e^u`.
    Log,
    /// In (0, 1): `theta = 1 / (1 + e^-u)`.
    Logit,
    /// Above the previous parameter (`ordered`): `theta[i] = theta[i-1] + e^u`.
    LogGap,
}

/// The elementwise transform of `params` (stored names and the kind of
/// each): the sampler coordinates are named `log_NAME`, `logit_NAME` and
/// `log_diff_NAME` (the log of `NAME` minus the previous parameter).
pub(super) fn elementwise(params: &[(String, Bij)]) -> Result<Elementwise> {
    let (names, kinds) = params
        .iter()
        .map(|(n, k)| match k {
            Bij::Free => (n.clone(), Bijection::Identity),
            Bij::Log => (format!("log_{n}"), Bijection::Lower(0.0)),
            Bij::Logit => (format!("logit_{n}"), Bijection::Interval(0.0, 1.0)),
            Bij::LogGap => (format!("log_diff_{n}"), Bijection::AbovePrevious),
        })
        .unzip();
    Elementwise::new(names, kinds)
}

/// Largest number of regression coefficients [`LeastSquares`] takes.
pub(super) const MAX_COEFS: usize = 16;

/// The residual sum of squares `S(b) = Σ_t (y_t - x_tᵀ b)²` of a fixed
/// design in O(p²) per call instead of O(n p):
/// `S(b) = S(b̂) - 2 gᵀd + |Lᵀd|²` with `d = b - b̂`, `b̂` the least-squares
/// fit, `XᵀX = L Lᵀ` and `g = Xᵀ(y - X b̂)` (zero up to round-off; keeping it
/// makes the identity exact whatever the round-off in `b̂`). Every term is
/// computed without cancellation, so `S(b)` is as accurate as the direct sum.
pub(super) struct LeastSquares {
    /// Number of coefficients.
    pub(super) p: usize,
    bhat: Vec<f64>,
    /// `Lᵀ`, upper triangular, row-major `p × p`.
    lt: Vec<f64>,
    g: Vec<f64>,
    ssr_min: f64,
}

impl LeastSquares {
    /// From the design `x` (one row per observation) and the responses `y`.
    pub(super) fn new(x: &DMatrix<f64>, y: &DVector<f64>) -> Result<Self> {
        let p = x.ncols();
        assert!(p <= MAX_COEFS && x.nrows() == y.len());
        let chol = (x.transpose() * x)
            .cholesky()
            .ok_or_else(|| Error::Data { input: "posteriordb data".into(), message: "the regression design is not of full rank".into() })?;
        let bhat = chol.solve(&(x.transpose() * y));
        let resid = y - x * &bhat;
        let g = x.transpose() * &resid;
        let l = chol.l();
        let lt = (0..p * p).map(|k| if k % p >= k / p { l[(k % p, k / p)] } else { 0.0 }).collect();
        Ok(LeastSquares { p, bhat: bhat.iter().copied().collect(), lt, g: g.iter().copied().collect(), ssr_min: resid.norm_squared() })
    }

    /// `Σ_t (y_t - x_tᵀ b)²` for `b` of length `p`.
    #[inline]
    pub(super) fn ssr(&self, b: &[f64]) -> f64 {
        let p = self.p;
        let mut d = [0.0f64; MAX_COEFS];
        let mut lin = 0.0;
        for j in 0..p {
            d[j] = b[j] - self.bhat[j];
            lin += self.g[j] * d[j];
        }
        let mut q = 0.0;
        for i in 0..p {
            let row = &self.lt[i * p + i..i * p + p];
            let v: f64 = row.iter().zip(&d[i..p]).map(|(a, b)| a * b).sum();
            q += v * v;
        }
        (self.ssr_min - 2.0 * lin + q).max(0.0)
    }
}

/// Assembles a target: stored parameters with their bounds, the transform,
/// the model; walkers start uniformly in (-2, 2) on the sampler coordinates.
pub(super) fn assemble<M: Model>(
    name: &str,
    description: String,
    stored: Vec<(String, (f64, f64))>,
    transform: std::sync::Arc<dyn Transform>,
    model: M,
) -> Result<Target> {
    let (names, bounds): (Vec<String>, Vec<(f64, f64)>) = stored.into_iter().unzip();
    let space = ParamSpace::new(names, bounds)?;
    let sampler = transform.sampler_names();
    let d = sampler.len();
    if d != space.dim() || d != model.dim() {
        return Err(Error::Usage(format!(
            "target {name}: {} stored parameters, {d} sampler coordinates, model of dimension {}",
            space.dim(),
            model.dim()
        )));
    }
    let init_space = ParamSpace::new(sampler, vec![(-2.0, 2.0); d])?;
    Ok(Target {
        name: name.into(),
        description,
        space,
        prior: None,
        likelihood: Box::new(Density(model)),
        transform: Some(transform),
        init: Some(Box::new(UniformBox::new(init_space)?)),
        log_z: None,
        prior_use: PriorUse::Refused,
    })
}

/// `NAME[1]`, ..., `NAME[n]`, Stan's names of an array's elements.
pub(super) fn indexed(name: &str, n: usize) -> impl Iterator<Item = String> + '_ {
    (1..=n).map(move |i| format!("{name}[{i}]"))
}

pub(super) const POS: (f64, f64) = (0.0, f64::INFINITY);
pub(super) const REAL: (f64, f64) = (f64::NEG_INFINITY, f64::INFINITY);

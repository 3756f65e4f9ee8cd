//! The composite target of a two-stage fit:
//!
//! `log F(y) = Σ_analytic log h(y0) + combine_i (log g_i(y_i) − log d_i(y_i))`
//!
//! where each [`Factor`] is a [`DiffLogDensity`] on its sub-vector of `y`
//! (named coordinates, possibly overlapping), `g_i` the stage-1 flow of the
//! `i`-th sample-based component, and `d_i` an optional known density divided
//! out of it (the prior the software that produced the samples used). The
//! combination is the product (`Σ_i`) or a weighted mixture
//! (`logsumexp_i(log w_i + ...)`).
//!
//! [`CompositeTarget::new`] checks everything before any training: every
//! coordinate covered by an analytic or sample-based factor, indices in
//! range, each factor's dimension equal to its sub-vector's, components
//! numbered `0..m` with one sample-based factor each, at most one divided-out
//! density per component, on the same coordinates, mixture weights one per
//! component, finite and positive.
//!
//! The support of the target is the intersection of its factors' supports
//! (divided-out densities included: the samples come from inside theirs); a
//! stage-2 flow puts its mass inside it through seqcal-flow's bounded transforms.

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use ndarray::ArrayView2;
use seqcal_api::{DensityError, LogDensity};
use seqcal_flow::density::DiffLogDensity;

use crate::error::{Result, TwoStageError};
use crate::terms::ops::{inside, or_neg_inf};

/// What a factor is in the composite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A term known by formula (`h`); always multiplied in.
    Analytic,
    /// The stage-1 flow of sample-based component `component` (`g_i`).
    Sample {
        /// The component's index, `0..m`.
        component: usize,
    },
    /// A known density divided out of component `component` (`d_i`).
    Divide {
        /// The component's index, `0..m`.
        component: usize,
    },
}

/// One factor of the composite: a density on the coordinates `coords` of `y`.
#[derive(Debug, Clone)]
pub struct Factor {
    /// A name for messages and reports.
    pub label: String,
    /// The indices of its sub-vector in `y`, in the density's order.
    pub coords: Vec<usize>,
    /// The density.
    pub density: Arc<dyn DiffLogDensity>,
    /// Its role.
    pub role: Role,
}

/// How the sample-based components combine.
#[derive(Debug, Clone, PartialEq)]
pub enum Combination {
    /// `Σ_i (log g_i − log d_i)`.
    Product,
    /// `logsumexp_i(log w_i + log g_i − log d_i)`, one weight per component.
    Mixture {
        /// The (unnormalized) weights.
        weights: Vec<f64>,
    },
}

/// The unnormalized composite target `F`.
#[derive(Debug, Clone)]
pub struct CompositeTarget {
    names: Vec<String>,
    factors: Vec<Factor>,
    combination: Combination,
    bounds: Vec<(f64, f64)>,
    components: usize,
}

/// Rows per tensor batch when evaluating in f64.
const CHUNK: usize = 8192;

impl CompositeTarget {
    /// The target on the coordinates `names`.
    ///
    /// # Errors
    /// See the module docs: every check, with a message naming the factor or coordinate.
    pub fn new(names: Vec<String>, factors: Vec<Factor>, combination: Combination) -> Result<Self> {
        let d = names.len();
        if d == 0 {
            return Err(TwoStageError::invalid("the target has no coordinates"));
        }
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(TwoStageError::invalid(format!("coordinate {n:?} is named twice")));
            }
        }
        if factors.is_empty() {
            return Err(TwoStageError::invalid("the target has no factors"));
        }
        let m = factors.iter().filter_map(|f| if let Role::Sample { component } = f.role { Some(component + 1) } else { None }).max().unwrap_or(0);
        let mut sample_of: Vec<Option<usize>> = vec![None; m];
        let mut divide_of: Vec<Option<usize>> = vec![None; m];
        let mut covered = vec![false; d];
        let mut bounds = vec![(f64::NEG_INFINITY, f64::INFINITY); d];
        for (k, f) in factors.iter().enumerate() {
            let at = format!("factor {:?}", f.label);
            if f.coords.is_empty() {
                return Err(TwoStageError::invalid(format!("{at} covers no coordinate")));
            }
            if let Some(&c) = f.coords.iter().find(|&&c| c >= d) {
                return Err(TwoStageError::invalid(format!("{at}: coordinate index {c} is out of range (the target has {d} coordinates)")));
            }
            for (i, c) in f.coords.iter().enumerate() {
                if f.coords[..i].contains(c) {
                    return Err(TwoStageError::invalid(format!("{at} names coordinate {:?} twice", names[*c])));
                }
            }
            if f.density.dim() != f.coords.len() {
                return Err(TwoStageError::invalid(format!(
                    "{at}: its density ({}) has {} coordinates but the factor covers {} ({})",
                    f.density.describe(),
                    f.density.dim(),
                    f.coords.len(),
                    f.coords.iter().map(|&c| names[c].as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
            let fb = f.density.bounds();
            if fb.len() != f.coords.len() {
                return Err(TwoStageError::invalid(format!("{at}: its density gives {} bounds for {} coordinates", fb.len(), f.coords.len())));
            }
            for (&c, &(l, u)) in f.coords.iter().zip(&fb) {
                bounds[c] = (bounds[c].0.max(l), bounds[c].1.min(u));
            }
            match f.role {
                Role::Analytic => f.coords.iter().for_each(|&c| covered[c] = true),
                Role::Sample { component } => {
                    if let Some(other) = sample_of[component] {
                        return Err(TwoStageError::invalid(format!(
                            "{at} and factor {:?} are both the samples of component {component}",
                            factors[other].label
                        )));
                    }
                    sample_of[component] = Some(k);
                    f.coords.iter().for_each(|&c| covered[c] = true);
                }
                Role::Divide { component } => {
                    if component >= m {
                        return Err(TwoStageError::invalid(format!(
                            "{at} divides component {component} out, but there are {m} sample-based components"
                        )));
                    }
                    if divide_of[component].replace(k).is_some() {
                        return Err(TwoStageError::invalid(format!("{at}: component {component} already has a density divided out")));
                    }
                }
            }
        }
        if let Some(i) = sample_of.iter().position(|s| s.is_none()) {
            return Err(TwoStageError::invalid(format!("sample-based components are numbered 0..{m} but component {i} has no samples")));
        }
        for (i, dv) in divide_of.iter().enumerate() {
            if let (Some(dv), Some(s)) = (dv, sample_of[i]) {
                if factors[*dv].coords != factors[s].coords {
                    return Err(TwoStageError::invalid(format!(
                        "factor {:?} divides out a density of component {i} on other coordinates than its samples ({:?})",
                        factors[*dv].label, factors[s].label
                    )));
                }
            }
        }
        if let Some(c) = covered.iter().position(|c| !c) {
            return Err(TwoStageError::invalid(format!(
                "coordinate {:?} is covered by no analytic term or sample-based component: add a term for it (a flat one if nothing is known)",
                names[c]
            )));
        }
        if let Some((c, (l, u))) = bounds.iter().enumerate().find(|(_, (l, u))| l.partial_cmp(u) != Some(std::cmp::Ordering::Less)) {
            return Err(TwoStageError::invalid(format!("coordinate {:?}: the factors' supports do not overlap ({l} to {u})", names[c])));
        }
        if let Combination::Mixture { weights } = &combination {
            if weights.len() != m {
                return Err(TwoStageError::invalid(format!("the mixture has {} weights for {m} sample-based components", weights.len())));
            }
            if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
                return Err(TwoStageError::invalid(format!("mixture weights must be positive and finite, got {w}")));
            }
        }
        Ok(CompositeTarget { names, factors, combination, bounds, components: m })
    }

    /// The coordinate names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The factors, in the order given.
    pub fn factors(&self) -> &[Factor] {
        &self.factors
    }

    /// The combination of the sample-based components.
    pub fn combination(&self) -> &Combination {
        &self.combination
    }

    /// The number of sample-based components.
    pub fn components(&self) -> usize {
        self.components
    }

    /// The support of each coordinate: the intersection of its factors' supports.
    pub fn support(&self) -> &[(f64, f64)] {
        &self.bounds
    }

    /// `log F` of each row of `x` (for samplers and TSFB); `-inf` outside the
    /// support, NaN where a factor gives NaN.
    pub fn log_density_f64(&self, x: ArrayView2<'_, f64>) -> Vec<f64> {
        self.eval_f64(x, true)
    }

    /// The analytic factors minus the divided-out densities only (what TSFB's
    /// independence proposals from the pools need: the pools stand for the `g_i`).
    pub fn analytic_log_density_f64(&self, x: ArrayView2<'_, f64>) -> Vec<f64> {
        self.eval_f64(x, false)
    }

    /// f64 evaluation in chunks; a candle failure (which a well-formed factor
    /// does not produce) gives NaN rows.
    fn eval_f64(&self, x: ArrayView2<'_, f64>, samples: bool) -> Vec<f64> {
        let d = self.names.len();
        let mut out = Vec::with_capacity(x.nrows());
        let rows: Vec<f64> = x.iter().copied().collect();
        if x.ncols() != d {
            return vec![f64::NAN; x.nrows()];
        }
        for chunk in rows.chunks(CHUNK * d) {
            let n = chunk.len() / d;
            let v = Tensor::from_vec(chunk.to_vec(), (n, d), &Device::Cpu)
                .and_then(|t| self.eval(&t, samples))
                .and_then(|t| t.to_dtype(DType::F64)?.to_vec1::<f64>());
            match v {
                Ok(v) => out.extend(v),
                Err(_) => out.extend(std::iter::repeat_n(f64::NAN, n)),
            }
        }
        out
    }

    /// `log F` (with `samples`), or the analytic part minus the divided-out densities.
    fn eval(&self, x: &Tensor, samples: bool) -> candle_core::Result<Tensor> {
        let n = x.dim(0)?;
        let mut total = Tensor::zeros(n, x.dtype(), x.device())?;
        let mut parts: Vec<Option<Tensor>> = vec![None; self.components];
        let cols = |f: &Factor| -> candle_core::Result<Tensor> {
            if f.coords.len() == self.names.len() && f.coords.iter().enumerate().all(|(i, &c)| i == c) {
                return Ok(x.clone());
            }
            let idx = Tensor::from_vec(f.coords.iter().map(|&c| c as u32).collect::<Vec<u32>>(), f.coords.len(), x.device())?;
            x.index_select(&idx, 1)
        };
        for f in &self.factors {
            match f.role {
                Role::Analytic => total = (total + f.density.log_density(&cols(f)?)?)?,
                Role::Sample { component } if samples => {
                    let v = f.density.log_density(&cols(f)?)?;
                    parts[component] = Some(match parts[component].take() {
                        Some(p) => (p + v)?,
                        None => v,
                    });
                }
                Role::Sample { .. } => {}
                Role::Divide { component } => {
                    let v = f.density.log_density(&cols(f)?)?.neg()?;
                    if samples {
                        parts[component] = Some(match parts[component].take() {
                            Some(p) => (p + v)?,
                            None => v,
                        });
                    } else {
                        total = (total + v)?;
                    }
                }
            }
        }
        // Outside the support (divided-out densities' included) the target is zero, even
        // where a sample-based factor minus a divided-out one would be +inf or NaN.
        let (lower, upper): (Vec<f64>, Vec<f64>) = self.bounds.iter().copied().unzip();
        let inside = inside(x, &lower, &upper)?;
        if !samples || self.components == 0 {
            return or_neg_inf(&inside, &total);
        }
        let parts: Vec<Tensor> = parts
            .into_iter()
            .map(|p| p.ok_or_else(|| candle_core::Error::Msg("a component has no samples".into())))
            .collect::<candle_core::Result<_>>()?;
        let combined = match &self.combination {
            Combination::Product => {
                let mut acc = parts[0].clone();
                for p in &parts[1..] {
                    acc = (acc + p)?;
                }
                acc
            }
            Combination::Mixture { weights } => {
                let lw: f64 = weights.iter().sum::<f64>().ln();
                let stacked = Tensor::stack(&parts.iter().zip(weights).map(|(p, w)| p + (w.ln() - lw)).collect::<candle_core::Result<Vec<_>>>()?, 1)?;
                logsumexp_rows(&stacked)?
            }
        };
        or_neg_inf(&inside, &(total + combined)?)
    }
}

impl DiffLogDensity for CompositeTarget {
    fn dim(&self) -> usize {
        self.names.len()
    }

    fn log_density(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.eval(x, true)
    }

    fn describe(&self) -> String {
        let how = match &self.combination {
            Combination::Product => "product".to_string(),
            Combination::Mixture { weights } => format!("mixture {weights:?}"),
        };
        let parts: Vec<String> = self.factors.iter().map(|f| format!("{} = {}", f.label, f.density.describe())).collect();
        format!("composite target on {} coordinates ({how}): {}", self.names.len(), parts.join("; "))
    }

    fn bounds(&self) -> Vec<(f64, f64)> {
        self.bounds.clone()
    }
}

impl LogDensity for CompositeTarget {
    fn dim(&self) -> usize {
        self.names.len()
    }

    fn log_density(&self, theta: &[f64]) -> std::result::Result<f64, DensityError> {
        let x = ndarray::ArrayView2::from_shape((1, theta.len()), theta).map_err(|e| DensityError::Fatal(e.to_string()))?;
        self.log_density_batch(x).map(|v| v[0])
    }

    /// NaN rows come back as NaN (the samplers count them as rejected).
    fn log_density_batch(&self, thetas: ArrayView2<'_, f64>) -> std::result::Result<Vec<f64>, DensityError> {
        if thetas.ncols() != self.names.len() {
            return Err(DensityError::Fatal(format!("{} values for the {} coordinates of the target", thetas.ncols(), self.names.len())));
        }
        Ok(self.log_density_f64(thetas))
    }
}

#[cfg(test)]
mod tests;

/// `log Σ_j exp(a_ij)` per row of `a` (`(n, k)`), `-inf` for rows all `-inf`.
fn logsumexp_rows(a: &Tensor) -> candle_core::Result<Tensor> {
    let m = a.detach().max_keepdim(1)?;
    // Rows whose maximum is not finite: shift by 0 instead (their result is then the max itself).
    let finite = m.abs()?.lt(f64::INFINITY)?;
    let zero = m.zeros_like()?;
    let shift = finite.where_cond(&m, &zero)?;
    (a.broadcast_sub(&shift)?.exp()?.sum_keepdim(1)?.log()? + shift)?.squeeze(1)
}

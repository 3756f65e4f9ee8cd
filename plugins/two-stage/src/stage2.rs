//! Stage 2: a flow fitted by reverse KL to the composite target.
//!
//! With `z ~ N(0, I)` and `x = T(forward(z))` (the flow, then the bounded
//! transforms of the target's support), the loss is the negative ELBO
//! `mean(log q(x) − log F(x))` over a batch, minimized by Adam with candle's
//! autodiff. The stage-1 flows inside `F` are frozen (their parameters are
//! constants, not trained). Rows where `log F` is not finite are dropped from
//! the loss and counted; a step where most rows are non-finite stops the fit
//! with a clear error (the flow is then mostly outside the target's support).
//!
//! The target's bounded coordinates (the intersection of its factors'
//! supports) go through seqcal-flow's logit / log transforms after the flow,
//! so `q` has no mass outside them. Training runs in f32 (the fused RealNVP
//! coupling where the architecture is RealNVP), the frozen stage-1 flows too
//! (f32 copies, whose affine and spline couplings run as fused ops with their
//! own input gradients); base draws come from one
//! seeded ChaCha stream and the fused op sums its blocks in a fixed order, so
//! a seed gives the same weights whatever the number of threads.
//!
//! Diagnostics, on `eval_draws` fresh draws of `q` in f64: the importance
//! weights `w = F/q` give the effective sample size `(Σw)²/Σw²` and
//! `log Z = log mean(w)`, with the delta-method standard error
//! `sd(w) / (√n · mean(w))`. Draws where `log F` is not finite weigh zero.
//!
//! # Reference
//! Darvishi et al., *Two-Stage Normalizing Flows* (stage 2); Rezende &
//! Mohamed (2015), *Variational inference with normalizing flows*, ICML.

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use seqcal_flow::bijector::DimTransform;
use seqcal_flow::density::{from_latent, DiffLogDensity, FrozenF32};
use seqcal_flow::io::{Sidecar, FORMAT};
use seqcal_flow::params::{cast, Params};
use seqcal_flow::{Flow, FlowPrior, FlowSpec, LrSchedule};

use crate::error::{Result, TwoStageError};
use crate::target::{CompositeTarget, Factor};

/// The file [`ReverseFlow::save`] writes into its folder (with a `.json` sidecar).
pub const FLOW_FILE: &str = "reverse_flow.safetensors";

/// Rows per batch of the evaluation draws.
const EVAL_CHUNK: usize = 8192;

/// Skipped steps (non-finite loss) after which the fit gives up.
const MAX_SKIPPED: usize = 30;

/// Settings of the reverse-KL fit.
#[derive(Debug, Clone, PartialEq)]
pub struct ReverseKlSettings {
    /// The flow's architecture; its `dim` is replaced by the target's.
    pub spec: FlowSpec,
    /// Adam steps.
    pub steps: usize,
    /// Base draws per step.
    pub batch: usize,
    /// Adam's base learning rate.
    pub lr: f64,
    /// How the learning rate changes over the steps (seqcal-flow's schedules;
    /// the default holds it for half the steps, then decays it by a cosine,
    /// so the last steps settle the fit instead of jittering around it).
    pub lr_schedule: LrSchedule,
    /// Seed of the initial weights and of every base draw.
    pub seed: u64,
    /// Draws for the importance-sampling diagnostics (ESS, log Z).
    pub eval_draws: usize,
}

impl Default for ReverseKlSettings {
    /// RealNVP with 3 coupling pairs of 2-layer, 12-unit tanh networks; 5000
    /// steps of batch 2000 at learning rate 1e-3 with the cosine schedule; seed
    /// 0; 100 000 evaluation draws.
    fn default() -> Self {
        ReverseKlSettings {
            spec: FlowSpec { pairs: 3, hidden: 12, ..FlowSpec::new(1) },
            steps: 5000,
            batch: 2000,
            lr: 1e-3,
            lr_schedule: LrSchedule::Cosine,
            seed: 0,
            eval_draws: 100_000,
        }
    }
}

/// The result of stage 2.
#[derive(Debug)]
pub struct Stage2Result {
    /// The fitted flow.
    pub flow: ReverseFlow,
    /// The ELBO (`mean(log F − log q)` over the finite rows) at every step.
    pub elbo: Vec<f64>,
    /// Importance-sampling effective sample size of the weights `F/q` on the evaluation draws.
    pub ess: f64,
    /// `log Z = log mean(F/q)` on the evaluation draws.
    pub log_z: f64,
    /// Its standard error (delta method).
    pub log_z_err: f64,
    /// Rows (over all steps) where `log F` was not finite and were dropped.
    pub nonfinite: usize,
}

/// The stage-2 flow: a normalized density on the target's named coordinates.
#[derive(Debug)]
pub struct ReverseFlow {
    prior: FlowPrior,
}

impl ReverseFlow {
    /// The flow as a seqcal-flow prior (names, bounds, [`seqcal_api::Prior`]).
    pub fn prior(&self) -> &FlowPrior {
        &self.prior
    }

    /// The coordinate names.
    pub fn names(&self) -> &[String] {
        seqcal_api::Prior::space(&self.prior).names()
    }

    /// The support of each coordinate.
    pub fn bounds(&self) -> &[(f64, f64)] {
        seqcal_api::Prior::space(&self.prior).bounds()
    }

    /// `n` draws, one per row.
    ///
    /// # Errors
    /// A flow that keeps producing non-finite draws.
    pub fn sample(&self, rng: &mut dyn Rng, n: usize) -> Result<Array2<f64>> {
        Ok(self.prior.try_sample(rng, n)?)
    }

    /// The normalized log density of each row of `x` (`-inf` outside the support).
    pub fn log_prob_f64(&self, x: ndarray::ArrayView2<'_, f64>) -> Vec<f64> {
        let mut out = vec![0.0; x.nrows()];
        seqcal_api::Prior::log_prob_batch(&self.prior, x, &mut out);
        out
    }

    /// Writes the flow into the folder `dir` (created if missing) as
    /// `reverse_flow.safetensors` with its JSON sidecar.
    ///
    /// # Errors
    /// The folder or files cannot be written.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| TwoStageError::Io { path: dir.display().to_string(), source })?;
        Ok(self.prior.save(&dir.join(FLOW_FILE))?)
    }

    /// Loads a flow written by [`save`](Self::save).
    ///
    /// # Errors
    /// Missing or malformed files.
    pub fn load(dir: &Path) -> Result<Self> {
        Ok(ReverseFlow { prior: FlowPrior::load(&dir.join(FLOW_FILE))? })
    }
}

/// Fits the stage-2 flow to `target`; `progress` receives `(step, elbo)` at every step.
///
/// # Errors
/// Bad settings, a target whose log density is non-finite on most draws, or
/// a diverging fit.
pub fn fit_reverse(target: &CompositeTarget, s: &ReverseKlSettings, progress: &mut dyn FnMut(usize, f64)) -> Result<Stage2Result> {
    let d = target.names().len();
    let spec = FlowSpec { dim: d, ..s.spec.clone() };
    spec.check()?;
    if s.steps == 0 || s.batch < 2 || s.eval_draws < 2 || !(s.lr > 0.0 && s.lr.is_finite()) {
        return Err(TwoStageError::invalid(format!(
            "stage 2 needs steps >= 1, batch >= 2, eval_draws >= 2 and a positive learning rate (got steps {}, batch {}, eval_draws {}, lr {})",
            s.steps, s.batch, s.eval_draws, s.lr
        )));
    }
    // The stage-1 flows are frozen: f32 copies of them serve the training steps.
    let train_target = frozen_f32(target)?;
    let transforms: Vec<DimTransform> = target.support().iter().map(|&(l, u)| DimTransform::for_bounds(l, u, true)).collect();
    let dev = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    // Initial weights for standard-normal data: the flow starts near the identity.
    let init: Vec<f64> = (0..2000 * d).map(|_| StandardNormal.sample(&mut rng)).collect();
    let params = cast(&Flow::initial_params(&spec, &init, &mut rng, &dev)?, DType::F32)?;
    let mut names: Vec<String> = params.keys().cloned().collect();
    names.sort();
    let vars: Vec<Var> = names.iter().map(|k| Var::from_tensor(&params[k])).collect::<candle_core::Result<_>>()?;
    let live: Params = names.iter().cloned().zip(vars.iter().map(|v| v.as_tensor().clone())).collect();
    let flow = Flow::new(&spec, &live)?;
    let mut opt = AdamW::new(vars.clone(), ParamsAdamW { lr: s.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 })?;
    let mut elbo = Vec::with_capacity(s.steps);
    let mut nonfinite = 0usize;
    let mut skipped = 0usize;
    let mut lr_now = s.lr;
    for step in 1..=s.steps {
        let scheduled = s.lr * s.lr_schedule.factor(step, s.steps);
        if scheduled != lr_now {
            lr_now = scheduled;
            opt.set_learning_rate(lr_now);
        }
        let z: Vec<f32> = (0..s.batch * d).map(|_| StandardNormal.sample(&mut rng)).collect();
        let z = Tensor::from_vec(z, (s.batch, d), &dev)?;
        let (log_q, x) = log_q_of_base(&flow, &transforms, &z)?;
        let log_f = train_target.log_density(&x)?;
        let values: Vec<f32> = log_f.to_dtype(DType::F32)?.to_vec1()?;
        let keep: Vec<u32> = values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(i, _)| i as u32).collect();
        nonfinite += s.batch - keep.len();
        if keep.len() * 2 < s.batch {
            return Err(TwoStageError::invalid(format!(
                "stage 2, step {step}: the target's log density is not finite at {} of {} draws of the flow: check that the terms and components share a support",
                s.batch - keep.len(),
                s.batch
            )));
        }
        let idx = Tensor::from_vec(keep, values.iter().filter(|v| v.is_finite()).count(), &dev)?;
        let loss = (log_q.index_select(&idx, 0)? - log_f.to_dtype(DType::F32)?.index_select(&idx, 0)?)?.mean_all()?;
        let value = loss.to_scalar::<f32>()? as f64;
        if !value.is_finite() {
            skipped += 1;
            if skipped > MAX_SKIPPED {
                return Err(TwoStageError::invalid("stage 2 diverged: the loss stayed non-finite; lower the learning rate"));
            }
            elbo.push(f64::NAN);
            continue;
        }
        opt.backward_step(&loss)?;
        elbo.push(-value);
        progress(step, -value);
    }
    let params: Params =
        names.iter().cloned().zip(vars.iter()).map(|(k, v)| Ok((k, v.as_tensor().detach().to_dtype(DType::F64)?))).collect::<Result<_>>()?;
    for (name, t) in &params {
        if t.flatten_all()?.to_vec1::<f64>()?.iter().any(|v| !v.is_finite()) {
            return Err(TwoStageError::invalid(format!("stage 2 produced non-finite weights in {name}: lower the learning rate")));
        }
    }
    let sidecar = Sidecar {
        format: FORMAT.into(),
        spec,
        names: target.names().to_vec(),
        bounds: Sidecar::bounds_json(target.support()),
        bounded: true,
        transforms: transforms.clone(),
        loss: None,
        settings: None,
        metrics: None,
        chain_hash: None,
        chain_source: Some("two-stage reverse KL".into()),
        couplings: Some(2 * s.spec.pairs),
        arch_choice: None,
    };
    let prior = FlowPrior::from_parts(params, sidecar)?;
    let (ess, log_z, log_z_err) = importance(target, prior.flow(), &transforms, s.eval_draws, &mut rng)?;
    Ok(Stage2Result { flow: ReverseFlow { prior }, elbo, ess, log_z, log_z_err, nonfinite })
}

/// `target` with every flow-prior factor replaced by its f32 copy.
fn frozen_f32(target: &CompositeTarget) -> Result<CompositeTarget> {
    let factors = target
        .factors()
        .iter()
        .map(|f| {
            let density: Arc<dyn DiffLogDensity> = match f.density.as_any().and_then(|a| a.downcast_ref::<FlowPrior>()) {
                Some(p) => Arc::new(FrozenF32::new(p)?),
                None => f.density.clone(),
            };
            Ok(Factor { density, ..f.clone() })
        })
        .collect::<Result<Vec<_>>>()?;
    CompositeTarget::new(target.names().to_vec(), factors, target.combination().clone())
}

/// `(log q(x), x)` for base draws `z`: `x` = the bounded transforms of the flow's output.
fn log_q_of_base(flow: &Flow, transforms: &[DimTransform], z: &Tensor) -> Result<(Tensor, Tensor)> {
    let d = z.dim(1)?;
    let (y, ld) = flow.forward(z)?;
    let (x, lj) = from_latent(transforms, &y)?;
    let base = ((z.sqr()?.sum(1)? * -0.5)? - 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln())?;
    Ok((((base - ld)? - lj)?, x))
}

/// ESS, `log Z` and its standard error from `n` draws of the f64 flow.
fn importance(target: &CompositeTarget, flow: &Flow, transforms: &[DimTransform], n: usize, rng: &mut ChaCha8Rng) -> Result<(f64, f64, f64)> {
    let d = target.names().len();
    let mut log_w = Vec::with_capacity(n);
    let mut left = n;
    while left > 0 {
        let m = left.min(EVAL_CHUNK);
        left -= m;
        let z: Vec<f64> = (0..m * d).map(|_| StandardNormal.sample(rng)).collect();
        let z = Tensor::from_vec(z, (m, d), &Device::Cpu)?;
        let (log_q, x) = log_q_of_base(flow, transforms, &z)?;
        let log_f: Vec<f64> = target.log_density(&x)?.to_vec1()?;
        let log_q: Vec<f64> = log_q.to_vec1()?;
        log_w.extend(log_f.iter().zip(&log_q).map(|(f, q)| if f.is_finite() && q.is_finite() { f - q } else { f64::NEG_INFINITY }));
    }
    Ok(importance_summary(&log_w))
}

/// `(ESS, log mean w, its delta-method standard error)` of log weights.
pub(crate) fn importance_summary(log_w: &[f64]) -> (f64, f64, f64) {
    let n = log_w.len() as f64;
    let m = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return (0.0, f64::NEG_INFINITY, f64::INFINITY);
    }
    let w: Vec<f64> = log_w.iter().map(|v| (v - m).exp()).collect();
    let (s1, s2) = (w.iter().sum::<f64>(), w.iter().map(|v| v * v).sum::<f64>());
    let mean = s1 / n;
    let var = (s2 / n - mean * mean).max(0.0) * n / (n - 1.0);
    (s1 * s1 / s2, m + mean.ln(), var.sqrt() / (n.sqrt() * mean))
}

#[cfg(test)]
mod tests;

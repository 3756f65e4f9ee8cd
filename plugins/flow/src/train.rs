//! Losses and the training loop: Adam on mini-batches, validation split, early
//! stopping, seeded, non-finite losses guarded.
//!
//! # Reference
//! Roch & Shen, *Learning informed prior distributions with normalizing flows for
//! Bayesian analysis* (the KL, Jeffreys and NLL losses for a flow trained on a
//! posterior chain); Kingma & Ba (2015), *Adam*, ICLR.

use std::io::IsTerminal;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{FlowError, Result};
use crate::layers::Params;
use crate::model::{cast, Flow, FlowSpec};

/// The training loss. Each is a weighted average over draws `x_i ~ p` with
/// normalized importance weights `w_i`; with `d_i = ln p̃(x_i) - ln q(x_i)` (`p̃`
/// the unnormalized log posterior stored with the chain):
///
/// - `nll`: `-Σ w_i ln q(x_i)` (draws only);
/// - `kl`: `KL(p‖q) ≈ Σ w_i d_i + ln Σ w_i e^{-d_i}`; the second term estimates the
///   log-evidence from the same draws (`1/Z = E_p[q/p̃]`), so it cancels and the
///   loss is zero exactly when `q ∝ p̃` on the draws;
/// - `jeffreys`: `KL(p‖q) + KL(q‖p) ≈ Σ (w_i - r_i) d_i` with the self-normalized
///   importance weights `r_i ∝ w_i e^{-d_i}` for `KL(q‖p)`; again free of `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Negative log-likelihood (unsupervised).
    Nll,
    /// Forward KL with the draws' log densities (supervised).
    Kl,
    /// Symmetric (Jeffreys) divergence (supervised).
    Jeffreys,
}

impl Loss {
    /// Parses `nll`, `kl` or `jeffreys`.
    ///
    /// # Errors
    /// Any other name.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "nll" => Ok(Loss::Nll),
            "kl" => Ok(Loss::Kl),
            "jeffreys" => Ok(Loss::Jeffreys),
            other => Err(FlowError::invalid(format!("unknown loss {other:?}: use kl, jeffreys or nll"))),
        }
    }

    /// True for the losses that need each draw's log density.
    pub fn supervised(self) -> bool {
        !matches!(self, Loss::Nll)
    }

    /// The loss of a batch: `logq`, `logp` and the normalized log-weights `lnw`, each `(n,)`.
    ///
    /// # Errors
    /// A supervised loss without `logp`, or a shape mismatch.
    pub fn value(self, logq: &Tensor, logp: Option<&Tensor>, lnw: &Tensor) -> Result<Tensor> {
        let w = lnw.exp()?;
        if self == Loss::Nll {
            return Ok((w * logq)?.sum_all()?.neg()?);
        }
        let logp = logp.ok_or_else(|| FlowError::invalid("the kl and jeffreys losses need the chain's log_prob; use --loss nll for draws only"))?;
        let d = (logp - logq)?;
        let a = (lnw - &d)?;
        let lse = a.log_sum_exp(0)?;
        match self {
            Loss::Kl => Ok(((&w * &d)?.sum_all()? + lse)?),
            _ => {
                let r = a.broadcast_sub(&lse)?.exp()?;
                Ok(((w - r)? * d)?.sum_all()?)
            }
        }
    }
}

/// How the learning rate changes over the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// The base learning rate throughout.
    Constant,
    /// The base rate for the first half of the steps, then a cosine decay that would
    /// reach zero one step after the last (the default: the late small steps settle
    /// the fine structure).
    ///
    /// # Reference
    /// Loshchilov & Hutter (2017), *SGDR: Stochastic gradient descent with warm
    /// restarts*, ICLR (cosine annealing).
    #[default]
    Cosine,
}

impl LrSchedule {
    /// Parses `constant` or `cosine`.
    ///
    /// # Errors
    /// Any other name.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "constant" => Ok(LrSchedule::Constant),
            "cosine" => Ok(LrSchedule::Cosine),
            other => Err(FlowError::invalid(format!("unknown learning-rate schedule {other:?}: use constant or cosine"))),
        }
    }

    /// The factor applied to the base learning rate at `step` (1-based) of `steps`.
    pub fn factor(self, step: usize, steps: usize) -> f64 {
        match self {
            LrSchedule::Constant => 1.0,
            LrSchedule::Cosine => {
                let hold = steps / 2;
                if step <= hold + 1 {
                    1.0
                } else {
                    let frac = (step - hold - 1) as f64 / (steps - hold) as f64;
                    0.5 * (1.0 + (std::f64::consts::PI * frac.min(1.0)).cos())
                }
            }
        }
    }
}

/// Sidecars written before the schedule existed were trained at a constant rate.
fn legacy_schedule() -> LrSchedule {
    LrSchedule::Constant
}

/// Training settings, with the defaults of the NF-prior workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// The loss.
    pub loss: Loss,
    /// Maximum number of Adam steps.
    pub steps: usize,
    /// Mini-batch size (drawn with replacement, proportionally to the weights).
    pub batch: usize,
    /// Adam learning rate (the base rate of the schedule).
    pub lr: f64,
    /// Learning-rate schedule.
    #[serde(default = "legacy_schedule")]
    pub lr_schedule: LrSchedule,
    /// Fraction of the draws held out for validation (0 = none, no early stopping).
    pub val_fraction: f64,
    /// Steps between validation evaluations.
    pub eval_every: usize,
    /// Evaluations without improvement before stopping early.
    pub patience: usize,
    /// Seed of the initial weights, the split and the batches.
    pub seed: u64,
    /// No progress bar and no warnings on stderr.
    pub quiet: bool,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings { loss: Loss::Kl, steps: 5000, batch: 1000, lr: 1e-3, lr_schedule: LrSchedule::Cosine, val_fraction: 0.1, eval_every: 100, patience: 10, seed: 0, quiet: true }
    }
}

impl TrainSettings {
    /// Checks the settings.
    ///
    /// # Errors
    /// Zero steps or batch, a learning rate or validation fraction out of range.
    pub fn check(&self) -> Result<()> {
        if self.steps == 0 || self.batch == 0 || self.eval_every == 0 {
            return Err(FlowError::invalid("steps, batch and eval_every must be at least 1"));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(FlowError::invalid(format!("learning rate must be positive, got {}", self.lr)));
        }
        if !(0.0..0.9).contains(&self.val_fraction) {
            return Err(FlowError::invalid(format!("validation fraction must lie in [0, 0.9), got {}", self.val_fraction)));
        }
        Ok(())
    }
}

/// What training did (written into the sidecar).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainMetrics {
    /// Adam steps taken.
    pub steps: usize,
    /// Best validation loss (of the kept weights), if there was a validation set.
    pub best_val_loss: Option<f64>,
    /// Loss of the last batch.
    pub last_train_loss: f64,
    /// Stopped because the validation loss stopped improving.
    pub stopped_early: bool,
    /// Steps skipped because the loss was not finite.
    pub skipped_steps: usize,
    /// Learning rate of the last step (the schedule's, lowered after non-finite losses).
    pub final_lr: f64,
    /// Wall-clock seconds spent training.
    pub seconds: f64,
    /// Milliseconds per step.
    pub ms_per_step: f64,
    /// Training draws and validation draws.
    pub n_train: usize,
    /// Validation draws.
    pub n_val: usize,
}

/// Training draws in the flow's (unbounded) coordinates.
pub struct LatentData {
    /// Row-major draws, `n × dim`.
    pub x: Vec<f64>,
    /// Number of columns.
    pub dim: usize,
    /// Log density of each draw in these coordinates (up to a constant).
    pub log_prob: Option<Vec<f64>>,
    /// Importance weights (non-negative).
    pub weights: Option<Vec<f64>>,
}

impl LatentData {
    fn check(&self, loss: Loss) -> Result<usize> {
        let d = self.dim.max(1);
        let n = self.x.len() / d;
        if n < 10 || self.x.len() % d != 0 {
            return Err(FlowError::invalid(format!("need at least 10 draws of {} parameters to train a flow, got {}", self.dim, n)));
        }
        if let Some(i) = self.x.iter().position(|v| !v.is_finite()) {
            return Err(FlowError::invalid(format!("draw {} has a non-finite value (NaN or inf): clean the chain first", i / d)));
        }
        if let Some(lp) = &self.log_prob {
            if lp.len() != n {
                return Err(FlowError::invalid(format!("{} log densities for {n} draws", lp.len())));
            }
        }
        if loss.supervised() {
            match &self.log_prob {
                None => return Err(FlowError::invalid("the kl and jeffreys losses need the chain's log_prob; use --loss nll for draws only")),
                Some(lp) => {
                    if let Some(i) = lp.iter().position(|v| !v.is_finite()) {
                        return Err(FlowError::invalid(format!("draw {i} has a non-finite log_prob: drop such draws or use --loss nll")));
                    }
                }
            }
        }
        if let Some(w) = &self.weights {
            if w.len() != n || w.iter().any(|v| !(v.is_finite() && *v >= 0.0)) || !(w.iter().sum::<f64>() > 0.0) {
                return Err(FlowError::invalid("importance weights must be one finite, non-negative number per draw with a positive sum"));
            }
        }
        Ok(n)
    }
}

fn gather(src: &[f32], rows: &[usize], d: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * d);
    for &r in rows {
        out.extend_from_slice(&src[r * d..(r + 1) * d]);
    }
    out
}

/// Trains a flow of architecture `spec` on `data`; returns its f64 parameters
/// (the best on the validation set when there is one) and the metrics.
///
/// # Errors
/// Invalid settings or data, or a training run that keeps producing non-finite losses.
pub fn train(spec: &FlowSpec, data: &LatentData, s: &TrainSettings) -> Result<(Params, TrainMetrics)> {
    s.check()?;
    spec.check()?;
    if data.dim != spec.dim {
        return Err(FlowError::invalid(format!("the data have {} parameters but the flow has {}", data.dim, spec.dim)));
    }
    let n = data.check(s.loss)?;
    let d = spec.dim;
    let dev = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let n_val = ((n as f64) * s.val_fraction).round() as usize;
    let n_val = if n - n_val < 2 { 0 } else { n_val };
    let (val_idx, train_idx) = order.split_at(n_val);
    let x32: Vec<f32> = data.x.iter().map(|&v| v as f32).collect();
    let lp_mean = data.log_prob.as_ref().map(|lp| lp.iter().sum::<f64>() / n as f64).unwrap_or(0.0);
    let lp32: Option<Vec<f32>> = data.log_prob.as_ref().map(|lp| lp.iter().map(|&v| (v - lp_mean) as f32).collect());
    let w = data.weights.clone().unwrap_or_else(|| vec![1.0; n]);
    // Cumulative weights of the training draws, for weighted batch sampling.
    let mut cum = Vec::with_capacity(train_idx.len());
    let mut acc = 0.0;
    for &i in train_idx {
        acc += w[i];
        cum.push(acc);
    }
    if !(acc > 0.0) {
        return Err(FlowError::invalid("the training draws all have weight zero"));
    }
    let init_rows: Vec<f64> = train_idx.iter().take(10_000).flat_map(|&i| data.x[i * d..(i + 1) * d].iter().copied()).collect();
    let params = cast(&spec.init(&init_rows, &mut rng, &dev)?, DType::F32)?;
    let mut names: Vec<String> = params.keys().cloned().collect();
    names.sort();
    let vars: Vec<Var> = names.iter().map(|k| Var::from_tensor(&params[k])).collect::<candle_core::Result<_>>()?;
    let live: Params = names.iter().cloned().zip(vars.iter().map(|v| v.as_tensor().clone())).collect();
    let flow = Flow::new(spec, &live)?;
    // Validation sees the same weights (shared storage, updated in place by Adam) without
    // gradient tracking, so its forward pass keeps no activations.
    let frozen: Params = names.iter().cloned().zip(vars.iter().map(|v| v.as_tensor().detach())).collect();
    let val_flow = Flow::new(spec, &frozen)?;
    let mut opt = AdamW::new(vars.clone(), ParamsAdamW { lr: s.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 })?;
    // Validation tensors (at most 20 000 draws, weights normalized).
    let val_rows: Vec<usize> = val_idx.iter().take(20_000).copied().collect();
    let val = if val_rows.is_empty() {
        None
    } else {
        let x = Tensor::from_vec(gather(&x32, &val_rows, d), (val_rows.len(), d), &dev)?;
        let lp = match &lp32 {
            Some(lp) => Some(Tensor::from_vec(val_rows.iter().map(|&i| lp[i]).collect::<Vec<f32>>(), val_rows.len(), &dev)?),
            None => None,
        };
        let wsum: f64 = val_rows.iter().map(|&i| w[i]).sum();
        let lnw: Vec<f32> = val_rows.iter().map(|&i| if w[i] > 0.0 { (w[i] / wsum).ln() as f32 } else { -1e30 }).collect();
        if wsum > 0.0 {
            Some((x, lp, Tensor::from_vec(lnw, val_rows.len(), &dev)?))
        } else {
            None
        }
    };
    let batch_lnw = Tensor::full(-(s.batch as f32).ln(), s.batch, &dev)?;
    let snapshot = |vars: &[Var]| -> Result<Vec<Tensor>> { Ok(vars.iter().map(|v| v.as_tensor().copy()).collect::<candle_core::Result<_>>()?) };
    let mut best = snapshot(&vars)?;
    let mut best_val = f64::INFINITY;
    let mut since_best = 0;
    let mut metrics = TrainMetrics { n_train: train_idx.len(), n_val: val_rows.len(), final_lr: s.lr, ..Default::default() };
    // The base rate, halved after each non-finite loss; the schedule multiplies it.
    let mut lr = s.lr;
    let mut lr_now = s.lr;
    let bar = (!s.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(s.steps as u64);
        b.set_style(indicatif::ProgressStyle::with_template("training {bar:40} {pos}/{len} steps, {msg} [{elapsed}<{eta}]").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
        b
    });
    let t0 = Instant::now();
    let mut rows = vec![0usize; s.batch];
    for step in 1..=s.steps {
        let scheduled = lr * s.lr_schedule.factor(step, s.steps);
        if scheduled != lr_now {
            lr_now = scheduled;
            opt.set_learning_rate(lr_now);
        }
        for r in rows.iter_mut() {
            let u = rng.random_range(0.0..acc);
            *r = train_idx[cum.partition_point(|&c| c <= u).min(train_idx.len() - 1)];
        }
        let xb = Tensor::from_vec(gather(&x32, &rows, d), (s.batch, d), &dev)?;
        let lpb = match &lp32 {
            Some(lp) => Some(Tensor::from_vec(rows.iter().map(|&i| lp[i]).collect::<Vec<f32>>(), s.batch, &dev)?),
            None => None,
        };
        let loss = s.loss.value(&flow.log_prob(&xb)?, lpb.as_ref(), &batch_lnw)?;
        let value = loss.to_scalar::<f32>()? as f64;
        if !value.is_finite() {
            metrics.skipped_steps += 1;
            lr *= 0.5;
            for (v, b) in vars.iter().zip(&best) {
                v.set(b)?;
            }
            let msg = format!("warning: non-finite training loss at step {step}: step skipped, weights reset to the last good ones, learning rate lowered to {lr:.2e}");
            match &bar {
                Some(b) => b.println(msg),
                None if !s.quiet => eprintln!("{msg}"),
                None => {}
            }
            if metrics.skipped_steps > 30 || lr < 1e-9 {
                return Err(FlowError::invalid("training diverged: the loss stayed non-finite after lowering the learning rate 30 times; check the chain's log_prob column or try --loss nll"));
            }
            continue;
        }
        metrics.last_train_loss = value;
        opt.backward_step(&loss)?;
        metrics.steps = step;
        if let Some(b) = &bar {
            b.inc(1);
            if step % 20 == 0 {
                b.set_message(format!("loss {value:.4}"));
            }
        }
        let last = step == s.steps;
        if let Some((vx, vlp, vlnw)) = &val {
            if step % s.eval_every == 0 || last {
                let vl = s.loss.value(&val_flow.log_prob(vx)?, vlp.as_ref(), vlnw)?.to_scalar::<f32>()? as f64;
                if vl.is_finite() && vl < best_val {
                    best_val = vl;
                    best = snapshot(&vars)?;
                    since_best = 0;
                } else {
                    since_best += 1;
                    if since_best >= s.patience {
                        metrics.stopped_early = true;
                        break;
                    }
                }
            }
        } else if step % s.eval_every == 0 || last {
            best = snapshot(&vars)?;
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    metrics.seconds = t0.elapsed().as_secs_f64();
    metrics.ms_per_step = 1e3 * metrics.seconds / metrics.steps.max(1) as f64;
    metrics.best_val_loss = best_val.is_finite().then_some(best_val);
    metrics.final_lr = lr_now;
    let out: Params = names.into_iter().zip(best).map(|(k, t)| Ok((k, t.to_dtype(DType::F64)?))).collect::<Result<_>>()?;
    Ok((out, metrics))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f64]) -> Tensor {
        Tensor::from_vec(v.to_vec(), v.len(), &Device::Cpu).unwrap()
    }

    #[test]
    fn supervised_losses_vanish_exactly_when_q_is_proportional_to_p() {
        let logq = t(&[-1.0, -2.5, 0.3, -0.7]);
        let lnw = t(&[0.1f64, 0.2, 0.3, 0.4].map(f64::ln));
        let shifted = (&logq + 12.3).unwrap();
        let other = t(&[-1.2, -2.0, 0.9, -0.7]);
        for loss in [Loss::Kl, Loss::Jeffreys] {
            let zero = loss.value(&logq, Some(&shifted), &lnw).unwrap().to_scalar::<f64>().unwrap();
            assert!(zero.abs() < 1e-12, "{loss:?}: {zero}");
            let pos = loss.value(&logq, Some(&other), &lnw).unwrap().to_scalar::<f64>().unwrap();
            assert!(pos > 1e-3, "{loss:?}: {pos}");
        }
        let nll = Loss::Nll.value(&logq, None, &lnw).unwrap().to_scalar::<f64>().unwrap();
        assert!((nll - (0.1 * 1.0 + 0.2 * 2.5 - 0.3 * 0.3 + 0.4 * 0.7)).abs() < 1e-12);
        assert!(Loss::Kl.value(&logq, None, &lnw).is_err());
        assert!(Loss::parse("KL").is_ok() && Loss::parse("mse").is_err());
    }

    /// Training (fused couplings, blocks of rows in parallel) gives bit-identical weights
    /// whatever the number of threads.
    #[test]
    fn training_does_not_depend_on_the_number_of_threads() {
        use rand_distr::{Distribution, StandardNormal};
        let spec = FlowSpec { pairs: 2, hidden: 16, ..FlowSpec::new(3) };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x: Vec<f64> = (0..3 * 2000).map(|i| Distribution::<f64>::sample(&StandardNormal, &mut rng) * (1.0 + (i % 3) as f64)).collect();
        let data = LatentData { x, dim: 3, log_prob: None, weights: None };
        let s = TrainSettings { loss: Loss::Nll, steps: 40, batch: 300, eval_every: 10, ..Default::default() };
        let run = |threads: usize| -> Vec<(String, Vec<f64>)> {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let (p, m) = pool.install(|| train(&spec, &data, &s)).unwrap();
            assert_eq!(m.steps, 40);
            let mut v: Vec<(String, Vec<f64>)> = p.iter().map(|(k, t)| (k.clone(), t.flatten_all().unwrap().to_vec1().unwrap())).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        assert_eq!(run(1), run(3));
    }

    /// Validation reads the weights through detached tensors: they must see Adam's updates.
    #[test]
    fn detached_weights_follow_the_optimizer() {
        let v = Var::from_tensor(&Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap()).unwrap();
        let d = v.as_tensor().detach();
        assert!(!d.track_op());
        v.set(&Tensor::ones(3, DType::F32, &Device::Cpu).unwrap()).unwrap();
        assert_eq!(d.to_vec1::<f32>().unwrap(), [1.0, 1.0, 1.0]);
    }

    #[test]
    fn cosine_schedule_holds_then_decays_to_zero() {
        let c = LrSchedule::Cosine;
        assert_eq!(c.factor(1, 1000), 1.0);
        assert_eq!(c.factor(500, 1000), 1.0);
        assert_eq!(c.factor(501, 1000), 1.0);
        assert!((c.factor(751, 1000) - 0.5).abs() < 1e-12);
        let last = c.factor(1000, 1000);
        assert!(last > 0.0 && last < 1e-4, "{last}");
        assert!(c.factor(502, 1000) < 1.0 && c.factor(502, 1000) > 0.999);
        assert_eq!(c.factor(1, 1), 1.0);
        assert_eq!(LrSchedule::Constant.factor(1000, 1000), 1.0);
        assert_eq!(LrSchedule::parse("Cosine").unwrap(), c);
        assert!(LrSchedule::parse("step").is_err());
        // A sidecar written before the schedule existed reads as constant.
        let mut v = serde_json::to_value(TrainSettings::default()).unwrap();
        v.as_object_mut().unwrap().remove("lr_schedule");
        assert_eq!(serde_json::from_value::<TrainSettings>(v).unwrap().lr_schedule, LrSchedule::Constant);
    }
}

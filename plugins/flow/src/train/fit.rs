//! The training loop: Adam on weighted mini-batches, a seeded validation
//! split, early stopping, non-finite losses skipped with the weights reset and
//! the learning rate lowered.
//!
//! # Reference
//! Kingma & Ba (2015), *Adam: A method for stochastic optimization*, ICLR.

use std::io::IsTerminal;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seqcal_api::check_memory;

use super::data::{gather, LatentData};
use super::heldout::HeldOutCheck;
use super::reverse::{ReverseTerm, Source, MIN_REVERSE_DRAWS};
use super::settings::{TrainMetrics, TrainSettings};
use crate::error::{FlowError, Result};
use crate::model::Flow;
use crate::params::{cast, Params};
use crate::spec::{FlowKind, FlowSpec};

/// Bytes training `spec` with settings `s` on `n` draws needs, roughly and on
/// the generous side: the weights with their f64 initial copies, Adam's
/// moments, gradients and the best snapshot (64 bytes per weight); per row of
/// a batch or of the validation set, each transform's activations and their
/// gradients (candle's temporaries for the architectures built from its ops,
/// `(rows, d, K)` tensors for the splines); the draws in f64 and f32.
pub fn memory_needed(spec: &FlowSpec, s: &TrainSettings, n: usize) -> f64 {
    let transforms = 2.0 * spec.pairs as f64;
    let rows = s.batch as f64 + (n as f64 * s.val_fraction).min(20_000.0);
    let mut per_row = 6.0 * 4.0 * spec.activations_per_row() * transforms;
    if matches!(spec.kind, FlowKind::NsfCoupling | FlowKind::NsfAr) {
        per_row += 30.0 * 4.0 * (spec.dim * spec.bins) as f64 * transforms;
    }
    if spec.lu {
        per_row += 4.0 * 4.0 * (spec.dim * spec.dim) as f64;
    }
    64.0 * spec.n_params() + rows * per_row + 24.0 * (n * spec.dim) as f64
}

/// The seeded order of the `n` draws, how many of its first rows are held
/// out, and the random stream after the shuffle (the training's own).
fn shuffled(n: usize, s: &TrainSettings) -> (Vec<usize>, usize, ChaCha8Rng) {
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let n_val = ((n as f64) * s.val_fraction).round() as usize;
    let n_val = if n < n_val + 2 { 0 } else { n_val };
    (order, n_val, rng)
}

/// The split [`train`] makes of `n` draws with settings `s`: the held-out rows
/// its validation and held-out check use (at most [`MAX_VAL_ROWS`], in the
/// order it uses them) and the training rows. The draws are those training
/// received, in the same order; a caller that checks a trained flow on draws
/// it was not trained on takes the held-out rows.
pub fn heldout_split(n: usize, s: &TrainSettings) -> (Vec<usize>, Vec<usize>) {
    let (order, n_val, _) = shuffled(n, s);
    let (val, train) = order.split_at(n_val);
    (val.iter().take(MAX_VAL_ROWS).copied().collect(), train.to_vec())
}

/// Evaluations between two held-out checks when training does not stop on the check.
const TRACE_EVERY: usize = 5;

/// Most held-out rows validation and the held-out check use.
pub const MAX_VAL_ROWS: usize = 20_000;

/// Trains a flow of architecture `spec` on `data`; returns its f64 parameters
/// (the best on the validation set when there is one) and the metrics.
///
/// # Errors
/// Invalid settings or data, or a training run that keeps producing non-finite losses.
pub fn train(spec: &FlowSpec, data: &LatentData, s: &TrainSettings) -> Result<(Params, TrainMetrics)> {
    train_with(spec, data, s, None, None)
}

/// [`train`] with what some runs have beyond the draws:
/// - `source`: the source posterior at hand (its log density, up to the
///   constant of the chain's `log_prob`, in the flow's coordinates, and the
///   draws per step), which the `jeffreys_reverse` loss evaluates at draws of
///   the flow;
/// - `anchor`: the final scale-and-shift `L` fixed at `(loc, log_scale)` per
///   coordinate (in the flow's latent coordinates) and left out of training:
///   beyond the splines' tail bound a spline flow is then exactly the Gaussian
///   `anchor` describes (e.g. the draws' own maximum-likelihood fit), where a
///   trained `L` drifts along a direction the draws barely constrain.
///
/// # Errors
/// As [`train`]; the `jeffreys_reverse` loss without `source`, a source
/// posterior that disagrees with the chain's log densities, or an anchor of
/// another dimension or with non-finite values.
pub fn train_with(
    spec: &FlowSpec,
    data: &LatentData,
    s: &TrainSettings,
    source: Option<Source<'_>>,
    anchor: Option<(&[f64], &[f64])>,
) -> Result<(Params, TrainMetrics)> {
    s.check()?;
    if s.loss.needs_source() && source.is_none() {
        return Err(FlowError::invalid(
            "the jeffreys_reverse loss evaluates the source posterior (its prior × likelihood) at draws of the flow, and only a flow trained `from` a stage of a pipeline has it at hand: train from a stage, or use jeffreys (its chain-only estimator)",
        ));
    }
    spec.check()?;
    if data.dim != spec.dim {
        return Err(FlowError::invalid(format!("the data have {} parameters but the flow has {}", data.dim, spec.dim)));
    }
    let n = data.x.len() / spec.dim;
    check_memory(
        format!("training this flow ({:.3e} weights, batch {})", spec.n_params(), s.batch),
        memory_needed(spec, s, n),
        "lower the hidden width, depth, number of layers or batch size",
    )?;
    let n = data.check(s.loss)?;
    let d = spec.dim;
    let dev = Device::Cpu;
    let (order, n_val, mut rng) = shuffled(n, s);
    let (val_idx, train_idx) = order.split_at(n_val);
    let x32: Vec<f32> = data.x.iter().map(|&v| v as f32).collect();
    let lp_mean = data.log_prob.as_ref().map(|lp| lp.iter().sum::<f64>() / n as f64).unwrap_or(0.0);
    let lp32: Option<Vec<f32>> = data.log_prob.as_ref().map(|lp| lp.iter().map(|&v| (v - lp_mean) as f32).collect());
    let w = data.sampling_weights(n);
    let mut reverse = match (source, &data.log_prob) {
        (Some(src), Some(lp)) if s.loss.needs_source() => {
            if src.draws < MIN_REVERSE_DRAWS {
                return Err(FlowError::invalid(format!(
                    "reverse_draws = {}: the reverse term needs at least {MIN_REVERSE_DRAWS} draws of the flow per step",
                    src.draws
                )));
            }
            Some(ReverseTerm::new(src.log_density, &data.x, lp, d, src.draws, s.seed)?)
        }
        _ => None,
    };
    // Cumulative weights of the training draws, for weighted batch sampling.
    let mut cum = Vec::with_capacity(train_idx.len());
    let mut acc = 0.0;
    for &i in train_idx {
        acc += w[i];
        cum.push(acc);
    }
    if acc.is_nan() || acc <= 0.0 {
        return Err(FlowError::invalid("the training draws all have weight zero"));
    }
    let init_rows: Vec<f64> = train_idx.iter().take(10_000).flat_map(|&i| data.x[i * d..(i + 1) * d].iter().copied()).collect();
    let mut params = cast(&Flow::initial_params(spec, &init_rows, &mut rng, &dev)?, DType::F32)?;
    let anchored = [crate::params::loc(crate::params::OUTPUT), crate::params::log_scale(crate::params::OUTPUT)];
    if let Some((loc, ls)) = anchor {
        if loc.len() != d || ls.len() != d || loc.iter().chain(ls).any(|v| !v.is_finite()) {
            return Err(FlowError::invalid(format!("the anchor of the flow's output needs {d} finite locations and log scales")));
        }
        for (name, v) in anchored.iter().zip([loc, ls]) {
            params.insert(name.clone(), Tensor::from_vec(v.iter().map(|&x| x as f32).collect::<Vec<f32>>(), (1, d), &dev)?);
        }
    }
    let mut names: Vec<String> = params.keys().cloned().collect();
    names.sort();
    let vars: Vec<Var> = names.iter().map(|k| Var::from_tensor(&params[k])).collect::<candle_core::Result<_>>()?;
    let trained: Vec<Var> = names.iter().zip(&vars).filter(|(n, _)| anchor.is_none() || !anchored.contains(n)).map(|(_, v)| v.clone()).collect();
    let live: Params = names.iter().cloned().zip(vars.iter().map(|v| v.as_tensor().clone())).collect();
    let flow = Flow::new(spec, &live)?;
    // Validation sees the same weights (shared storage, updated in place by Adam) without
    // gradient tracking, so its forward pass keeps no activations.
    let frozen: Params = names.iter().cloned().zip(vars.iter().map(|v| v.as_tensor().detach())).collect();
    let val_flow = Flow::new(spec, &frozen)?;
    let mut opt = AdamW::new(trained, ParamsAdamW { lr: s.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 })?;
    // Validation tensors (at most 20 000 draws, weights normalized).
    let val_rows: Vec<usize> = val_idx.iter().take(MAX_VAL_ROWS).copied().collect();
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
    // The held-out check: flow draws from fixed base draws against the validation draws.
    // Its own random stream, so that the check leaves the training's batches as they were.
    let mut check_rng = ChaCha8Rng::seed_from_u64(s.seed ^ 0x5eed_c4ec);
    let check = if s.val_fraction > 0.0 { HeldOutCheck::new(&data.x, d, &w, &val_rows, train_idx, &mut check_rng) } else { None };
    let base = match &check {
        Some(c) => Some(Tensor::from_vec(c.z.iter().map(|&v| v as f32).collect::<Vec<f32>>(), (c.z.len() / d, d), &dev)?),
        None => None,
    };
    let check_kl = |flow: &Flow| -> Result<Option<f64>> {
        match (&check, &base) {
            (Some(c), Some(z)) => Ok(Some(c.kl(&flow.forward(z)?.0.flatten_all()?.to_vec1::<f32>()?))),
            _ => Ok(None),
        }
    };
    // The held-out check's best so far and the evaluations since it last improved
    // by a tenth of its floor (an improvement the check resolves).
    let (mut check_best, mut since_check_best) = (f64::INFINITY, 0);
    let batch_lnw = Tensor::full(-(s.batch as f32).ln(), s.batch, &dev)?;
    let snapshot = |vars: &[Var]| -> Result<Vec<Tensor>> { Ok(vars.iter().map(|v| v.as_tensor().copy()).collect::<candle_core::Result<_>>()?) };
    // The weights validation sees and training keeps: the moving average, or the last iterate.
    let current = |vars: &[Var], ema: &Option<Vec<Tensor>>| -> Result<Vec<Tensor>> {
        match ema {
            Some(avg) => Ok(avg.clone()),
            None => snapshot(vars),
        }
    };
    let mut best = snapshot(&vars)?;
    // The moving average of the weights (fresh tensors each step, never changed in place).
    let mut ema: Option<Vec<Tensor>> = (s.ema > 0.0).then(|| best.clone());
    let mut best_val = f64::INFINITY;
    let mut since_best = 0;
    let mut metrics = TrainMetrics { n_train: train_idx.len(), n_val: val_rows.len(), final_lr: s.lr, ..Default::default() };
    // The base rate, halved after each non-finite loss; the schedule multiplies it.
    let mut lr = s.lr;
    let mut lr_now = s.lr;
    let bar = (!s.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(s.steps as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("training {bar:40} {pos}/{len} steps, {msg} [{elapsed}<{eta}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
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
        // The reverse term on fresh draws of the flow: its surrogate joins the loss, its value the reported one.
        let (loss, value) = match reverse.as_mut().filter(|_| step > Source::warmup(s.steps)) {
            Some(r) => {
                let (surrogate, term) = r.step(&flow)?;
                ((loss + surrogate)?, value + term)
            }
            None => (loss, value),
        };
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
        if let Some(avg) = ema.as_mut() {
            // Warm start: early steps average over what there is (1 + step) / (10 + step).
            let beta = s.ema.min((1.0 + step as f64) / (10.0 + step as f64));
            for (a, v) in avg.iter_mut().zip(&vars) {
                *a = (a.affine(beta, 0.0)? + v.as_tensor().affine(1.0 - beta, 0.0)?)?;
            }
        }
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
                let avg_flow = match &ema {
                    Some(avg) => Some(Flow::new(spec, &names.iter().cloned().zip(avg.iter().cloned()).collect())?),
                    None => None,
                };
                let eval_flow = avg_flow.as_ref().unwrap_or(&val_flow);
                let mut vl = s.loss.value(&eval_flow.log_prob(vx)?, vlp.as_ref(), vlnw)?.to_scalar::<f32>()? as f64;
                if let Some(r) = reverse.as_mut() {
                    vl += r.validation(eval_flow)?;
                }
                // The check decides nothing unless training stops on it: then every
                // evaluation runs it, else every fifth (the trace) and the kept weights at the end.
                let kl = if s.stop_at_floor || (step / s.eval_every) % TRACE_EVERY == 0 { check_kl(eval_flow)? } else { None };
                if let Some(kl) = kl {
                    metrics.heldout_trace.push((step, kl));
                }
                let at_floor = s.stop_at_floor && matches!((kl, &check), (Some(kl), Some(c)) if kl <= c.floor);
                if at_floor {
                    best_val = vl;
                    best = current(&vars, &ema)?;
                    metrics.stopped_at_floor = true;
                    break;
                }
                if let (Some(kl), Some(c)) = (kl, &check) {
                    if kl < check_best - 0.1 * c.floor {
                        check_best = kl;
                        since_check_best = 0;
                    } else {
                        since_check_best += 1;
                    }
                }
                if vl.is_finite() && vl < best_val {
                    best_val = vl;
                    best = current(&vars, &ema)?;
                    since_best = 0;
                } else {
                    since_best += 1;
                }
                if since_best >= s.patience {
                    metrics.stopped_early = true;
                    break;
                }
                if s.stop_at_floor && since_check_best >= s.patience {
                    metrics.stopped_early = true;
                    metrics.stopped_on_plateau = true;
                    break;
                }
            }
        } else if step % s.eval_every == 0 || last {
            best = current(&vars, &ema)?;
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    metrics.seconds = t0.elapsed().as_secs_f64();
    metrics.ms_per_step = 1e3 * metrics.seconds / metrics.steps.max(1) as f64;
    metrics.best_val_loss = best_val.is_finite().then_some(best_val);
    metrics.final_lr = lr_now;
    metrics.heldout_floor = check.as_ref().map(|c| c.floor);
    metrics.source_evaluations = reverse.as_ref().map_or(0, |r| r.evaluations);
    metrics.reverse_draws = source.filter(|_| reverse.is_some()).map_or(0, |src| src.draws);
    metrics.heldout_kl =
        if check.is_some() { check_kl(&Flow::new(spec, &names.iter().cloned().zip(best.iter().cloned()).collect())?)? } else { None };
    let out: Params = names.into_iter().zip(best).map(|(k, t)| Ok((k, t.to_dtype(DType::F64)?))).collect::<Result<_>>()?;
    for (name, t) in &out {
        if t.flatten_all()?.to_vec1::<f64>()?.iter().any(|v| !v.is_finite()) {
            return Err(FlowError::invalid(format!(
                "training produced non-finite weights in {name}: check the chain's log_prob column, lower the learning rate, or try --loss nll"
            )));
        }
    }
    Ok((out, metrics))
}

#[cfg(test)]
mod tests {
    use super::super::loss::Loss;
    use super::*;

    /// Training (fused couplings, blocks of rows in parallel) gives bit-identical weights
    /// whatever the number of threads.
    #[test]
    fn training_does_not_depend_on_the_number_of_threads() {
        use rand_distr::{Distribution, StandardNormal};
        let spec = FlowSpec { pairs: 2, hidden: 16, ..FlowSpec::new(3) };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x: Vec<f64> = (0..3 * 2000).map(|i| Distribution::<f64>::sample(&StandardNormal, &mut rng) * (1.0 + (i % 3) as f64)).collect();
        let data = LatentData { x, dim: 3, log_prob: None, weights: None };
        let run = |threads: usize, ema: f64| -> Vec<(String, Vec<f64>)> {
            let s = TrainSettings { loss: Loss::Nll, steps: 40, batch: 300, eval_every: 10, ema, ..Default::default() };
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let (p, m) = pool.install(|| train(&spec, &data, &s)).unwrap();
            assert_eq!(m.steps, 40);
            let mut v: Vec<(String, Vec<f64>)> = p.iter().map(|(k, t)| (k.clone(), t.flatten_all().unwrap().to_vec1().unwrap())).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        assert_eq!(run(1, 0.0), run(3, 0.0));
        // The moving average of the weights: as reproducible, and not the last iterate.
        let avg = run(1, 0.99);
        assert_eq!(avg, run(3, 0.99));
        assert_ne!(avg, run(1, 0.0));
    }

    /// The split `heldout_split` reports is the one training makes: disjoint rows
    /// covering every draw, as many held-out rows as training validates on.
    #[test]
    fn the_reported_split_is_the_trainings() {
        let n = 2003;
        let x: Vec<f64> = (0..2 * n).map(|i| ((i * 7919) % 1000) as f64 / 1000.0).collect();
        let data = LatentData { x, dim: 2, log_prob: None, weights: None };
        let s = TrainSettings { loss: Loss::Nll, steps: 3, batch: 50, eval_every: 1, seed: 9, ..Default::default() };
        let (val, train_rows) = heldout_split(n, &s);
        let mut all: Vec<usize> = val.iter().chain(&train_rows).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>());
        assert_eq!(val.len(), 200);
        let (_, m) = train(&FlowSpec { pairs: 1, hidden: 4, ..FlowSpec::new(2) }, &data, &s).unwrap();
        assert_eq!((m.n_val, m.n_train), (val.len(), train_rows.len()));
        assert_ne!(val, heldout_split(n, &TrainSettings { seed: 10, ..s.clone() }).0, "the split follows the seed");
        assert!(heldout_split(n, &TrainSettings { val_fraction: 0.0, ..s }).0.is_empty());
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
    fn impossible_sizes_are_refused_before_anything_is_allocated() {
        let data = LatentData { x: vec![0.5; 200], dim: 2, log_prob: None, weights: None };
        let s = TrainSettings { loss: Loss::Nll, steps: 1, ..Default::default() };
        for spec in [
            FlowSpec { hidden: 1 << 40, ..FlowSpec::new(2) },
            FlowSpec { pairs: 1 << 50, ..FlowSpec::new(2) },
            FlowSpec { depth: 1 << 40, ..FlowSpec::new(2) },
        ] {
            let e = train(&spec, &data, &s).err().unwrap().to_string();
            assert!(e.contains("would need about") && e.contains("GiB"), "{e}");
        }
        let e = train(&FlowSpec::new(2), &data, &TrainSettings { batch: usize::MAX, ..s }).err().unwrap().to_string();
        assert!(e.contains("batch"), "{e}");
    }
}

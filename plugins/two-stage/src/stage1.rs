//! Stage 1: one forward-KL (maximum-likelihood) flow per sample-based component.
//!
//! Each component's draws train a [`FlowPrior`] through seqcal-flow's trainer
//! (the same path as a `flow` prior of a pipeline: bounded coordinates go
//! through the logit / log transforms, so the flow has no mass outside their
//! support). A seeded share of the draws is held out of training; the fit
//! check compares flow draws with them.
//!
//! The paper's bootstrap mini-batches are what seqcal-flow's trainer does
//! already: every step draws its batch from the training draws with
//! replacement (in proportion to their weights).
//!
//! The fit check, on the held-out draws (resampled by their weights when they
//! have weights) against as many flow draws:
//! - per coordinate, the two-sample Kolmogorov-Smirnov statistic and its
//!   asymptotic p-value (statrs);
//! - the average symmetric KL of the 1-D marginals (50 equal bins over the
//!   held-out range, a pseudo-count of 0.5 per bin, [`seqcal_api::kl_counts`])
//!   and of the 2-D marginals (20 × 20 bins), and the 1-D floor: the same
//!   measure between the held-out draws and as many training draws, what
//!   sampling noise alone gives.
//!
//! ## Tails
//! A component's draws may sit far from where the composite target puts its
//! mass (a software prior that pulls them away), so stage 2 evaluates the
//! stage-1 flow far in its tails, and there `log ĝ − log d` must not grow: if
//! the flow's tails are wider than the draws' true ones by more than the
//! divided-out density allows, `F` is unbounded and the reverse-KL fit runs
//! away. With a Gaussian software density of variance 0.2 and a divided-out
//! N(0, 0.5²) prior (the hierarchical example), any tail wider than sd 0.5 does.
//!
//! [`default_options`] therefore uses rational-quadratic spline couplings: they
//! are the identity beyond their tail bound (±5 in the standardized
//! coordinates), so far out the flow is its standardizing affine map and its
//! density decays like a Gaussian with the draws' own scale. RealNVP with tanh
//! networks also turns affine far out, but with whatever scale the saturated
//! networks give: on the hierarchical example's software draws (3-D, sd 0.45,
//! 8 sd from the target) a RealNVP stage 1 left `F` unbounded and stage 2
//! diverged. Eight standard deviations out on a 3-D Gaussian pool (the
//! stage-1 test, 1500 steps) the worst `|log q − log p|` was 3.4 nats for the
//! splines and 1.1 for RealNVP: both close there; the splines' advantage is
//! further out, where their tails stay exactly Gaussian with the draws' scale.
//!
//! Which Gaussian: the flow's last layer is a scale-and-shift `L`, and beyond
//! the tail bound the flow is exactly `L` applied to the base normal. Trained,
//! `L` drifts along a direction the draws barely constrain (the splines inside
//! the bound compensate), and the drift moves a result that lives far out: on
//! the hierarchical example (8 pool-sds out, 30 000 draws per pool) by up to
//! 0.72 where the best possible stage 1 on the same pool (the Gaussian
//! maximum-likelihood fit, `examples::floor`) was 0.04 off. Stage 1 therefore
//! fixes `L` at the mean and sd of all the component's draws (weighted, in the
//! latent coordinates of the bounded transforms; [`FlowPrior::train_anchored`])
//! and trains only the splines: far out, the flow is the draws' own Gaussian
//! fit, the efficient estimate for a Gaussian pool, and on that example it
//! sits at that oracle.
use ndarray::{Array2, Axis};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seqcal_api::{kl_counts, ParamSpace};
use seqcal_flow::bijector::DimTransform;
use seqcal_flow::prior::Draws;
use seqcal_flow::{Arch, CheckedFlowOptions, FlowKind, FlowPrior, FlowSpec, Loss, TrainSettings};
use statrs::stats_tests::ks_test::{ks_twosample, KSTwoSampleAlternativeMethod};
use statrs::stats_tests::NaNPolicy;

use crate::error::{Result, TwoStageError};

/// A component of the target known only through samples.
#[derive(Debug, Clone)]
pub struct SampleComponent {
    /// A name for messages and reports.
    pub label: String,
    /// The ordered names of its sub-vector.
    pub names: Vec<String>,
    /// The draws, `n × names.len()`.
    pub draws: Array2<f64>,
    /// Importance weights of the draws, when they have them.
    pub weights: Option<Vec<f64>>,
    /// The support of each coordinate (`±inf` where unbounded); unbounded when `None`.
    pub bounds: Option<Vec<(f64, f64)>>,
}

/// How well a stage-1 flow reproduces its held-out draws.
#[derive(Debug, Clone, PartialEq)]
pub struct FitCheck {
    /// Per coordinate: name, two-sample KS statistic and its p-value.
    pub ks: Vec<(String, f64, f64)>,
    /// Average symmetric KL of the 1-D marginals (flow draws vs held-out draws).
    pub kl_1d: f64,
    /// Average symmetric KL of the 2-D marginals, for two or more coordinates.
    pub kl_2d: Option<f64>,
    /// The 1-D KL between the held-out draws and as many training draws: what sampling noise alone gives.
    pub floor_1d: f64,
}

/// A trained stage-1 flow and its check.
#[derive(Debug)]
pub struct FittedComponent {
    /// The flow, on the component's coordinates.
    pub prior: FlowPrior,
    /// Its fit check.
    pub check: FitCheck,
}

/// Trains the stage-1 flow of `c` with `opts` (architecture and training
/// settings; the loss is always maximum likelihood (`nll`), and `seed`
/// replaces the training seed and seeds the hold-out split and the check's draws).
///
/// # Errors
/// Too few or non-finite draws, names and draws that do not match, draws
/// outside the bounds, weights that are not usable, or a failed training.
pub fn fit_component(c: &SampleComponent, opts: &CheckedFlowOptions, seed: u64) -> Result<FittedComponent> {
    let at = |m: String| TwoStageError::invalid(format!("component {:?}: {m}", c.label));
    let (n, d) = c.draws.dim();
    if c.names.len() != d || d == 0 {
        return Err(at(format!("{} names [{}] for draws of {d} columns", c.names.len(), c.names.join(", "))));
    }
    if n < MIN_DRAWS {
        return Err(at(format!("{n} draws: stage 1 needs at least {MIN_DRAWS}")));
    }
    if let Some(w) = &c.weights {
        if w.len() != n {
            return Err(at(format!("{} weights for {n} draws", w.len())));
        }
        if let Some(v) = w.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return Err(at(format!("weight {v}: weights must be finite and non-negative")));
        }
        if !w.iter().any(|v| *v > 0.0) {
            return Err(at("every weight is zero".into()));
        }
    }
    let bounds = c.bounds.clone().unwrap_or_else(|| vec![(f64::NEG_INFINITY, f64::INFINITY); d]);
    if bounds.len() != d {
        return Err(at(format!("{} bounds for {d} coordinates", bounds.len())));
    }
    let (loc, log_scale) = anchor(c, &bounds, opts.bounded).ok_or_else(|| at("a coordinate whose draws are all equal".into()))?;
    let space = ParamSpace::new(c.names.clone(), bounds).map_err(|e| at(e.to_string()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let n_held = ((n as f64 * HELD_OUT).round() as usize).clamp(1, n / 2);
    let (held, train) = order.split_at(n_held);
    let pick = |rows: &[usize]| c.draws.select(Axis(0), rows);
    let train_x = pick(train);
    let train_w: Option<Vec<f64>> = c.weights.as_ref().map(|w| train.iter().map(|&i| w[i]).collect());
    let (spec, _) = opts.spec_for(d);
    let mut settings = opts.train.clone();
    settings.seed = seed;
    // Forward KL on draws without densities: maximum likelihood.
    settings.loss = Loss::Nll;
    let draws = Draws { x: train_x.view(), log_prob: None, weights: train_w.as_deref() };
    let prior = FlowPrior::train_anchored(space, opts.bounded, &draws, &spec, &settings, Some((&loc, &log_scale))).map_err(|e| match e {
        seqcal_flow::FlowError::Invalid(m) => at(m),
        other => other.into(),
    })?;
    // Unweighted references: the held-out draws (and as many training draws), resampled by weight.
    let held_ref = resample(&c.draws, held, c.weights.as_deref(), n_held, &mut rng);
    let train_ref = resample(&c.draws, train, c.weights.as_deref(), n_held, &mut rng);
    let flow_draws = prior.try_sample(&mut rng, n_held.max(MIN_CHECK))?;
    let check = fit_check(&c.names, &held_ref, &train_ref, &flow_draws);
    Ok(FittedComponent { prior, check })
}

/// The anchor of a stage-1 flow's output layer: the weighted mean and log sd
/// of every coordinate of all of `c`'s draws (held-out ones included), in the
/// latent coordinates of the bounded transforms. `None` for a coordinate
/// without spread.
fn anchor(c: &SampleComponent, bounds: &[(f64, f64)], bounded: bool) -> Option<(Vec<f64>, Vec<f64>)> {
    let n = c.draws.nrows();
    let w: Vec<f64> = c.weights.clone().unwrap_or_else(|| vec![1.0; n]);
    let sw: f64 = w.iter().sum();
    let mut loc = Vec::with_capacity(bounds.len());
    let mut log_scale = Vec::with_capacity(bounds.len());
    for (j, &(lo, hi)) in bounds.iter().enumerate() {
        let t = DimTransform::for_bounds(lo, hi, bounded);
        let y: Vec<f64> = c.draws.column(j).iter().map(|&v| t.to_latent_clamped(v).unwrap_or(f64::NAN)).collect();
        let m = y.iter().zip(&w).map(|(y, w)| y * w).sum::<f64>() / sw;
        let v = y.iter().zip(&w).map(|(y, w)| w * (y - m).powi(2)).sum::<f64>() / sw;
        if !(v > 0.0 && v.is_finite() && m.is_finite()) {
            return None;
        }
        loc.push(m);
        log_scale.push(0.5 * v.ln());
    }
    Some((loc, log_scale))
}

/// The stage-1 settings seqcal recommends (see the module docs on tails):
/// rational-quadratic spline couplings (3 pairs, 2 × 32 tanh units, 8 bins on
/// ±5 standardized units), maximum likelihood, 2000 steps of batch 512 at
/// learning rate 3e-3 with the cosine schedule, bounded transforms on.
pub fn default_options() -> CheckedFlowOptions {
    let spec = FlowSpec { kind: FlowKind::NsfCoupling, pairs: 3, hidden: 32, ..FlowSpec::new(1) };
    let train = TrainSettings { loss: Loss::Nll, steps: 2000, batch: 512, lr: 3e-3, quiet: true, ..TrainSettings::default() };
    CheckedFlowOptions { spec, arch: Arch::Kind(FlowKind::NsfCoupling), train, bounded: true }
}

/// Fewest draws a component may have.
pub const MIN_DRAWS: usize = 50;
/// The share of a component's draws held out of training for the fit check.
pub const HELD_OUT: f64 = 0.2;
/// Fewest flow draws the KS statistics use.
const MIN_CHECK: usize = 2000;

/// `k` rows of `x` among `rows`: all of them, in order, without weights; else
/// drawn with replacement in proportion to the weights.
fn resample(x: &Array2<f64>, rows: &[usize], w: Option<&[f64]>, k: usize, rng: &mut ChaCha8Rng) -> Array2<f64> {
    let chosen: Vec<usize> = match w {
        None => rows.iter().copied().cycle().take(k).collect(),
        Some(w) => {
            let mut cum = Vec::with_capacity(rows.len());
            let mut acc = 0.0;
            for &i in rows {
                acc += w[i];
                cum.push(acc);
            }
            if acc <= 0.0 {
                return x.select(Axis(0), rows);
            }
            (0..k)
                .map(|_| {
                    let u = rng.random_range(0.0..acc);
                    rows[cum.partition_point(|&c| c <= u).min(rows.len() - 1)]
                })
                .collect()
        }
    };
    x.select(Axis(0), &chosen)
}

/// The check of `flow` draws against `held` draws; `train` (as many as `held`) gives the floor.
pub fn fit_check(names: &[String], held: &Array2<f64>, train: &Array2<f64>, flow: &Array2<f64>) -> FitCheck {
    let d = names.len();
    let ks = (0..d)
        .map(|j| {
            let (a, b) = (flow.column(j).to_vec(), held.column(j).to_vec());
            let (stat, p) = ks_twosample(a, b, KSTwoSampleAlternativeMethod::TwoSidedAsymptotic, NaNPolicy::Emit).unwrap_or((f64::NAN, f64::NAN));
            (names[j].clone(), stat, p)
        })
        .collect();
    let m = held.nrows();
    let flow_m = flow.slice(ndarray::s![..m.min(flow.nrows()), ..]).to_owned();
    let ranges: Vec<(f64, f64)> =
        (0..d).map(|j| held.column(j).iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))).collect();
    let kl1 = |a: &Array2<f64>, b: &Array2<f64>| -> f64 {
        (0..d).map(|j| sym_kl(&hist1(a, j, ranges[j], BINS_1D), &hist1(b, j, ranges[j], BINS_1D))).sum::<f64>() / d as f64
    };
    let kl_2d = (d >= 2).then(|| {
        let mut total = 0.0;
        let mut pairs = 0.0;
        for i in 0..d {
            for j in i + 1..d {
                let h = |a: &Array2<f64>| hist2(a, (i, j), (ranges[i], ranges[j]));
                total += sym_kl(&h(held), &h(&flow_m));
                pairs += 1.0;
            }
        }
        total / pairs
    });
    FitCheck { ks, kl_1d: kl1(held, &flow_m), kl_2d, floor_1d: kl1(held, train) }
}

const BINS_1D: usize = 50;
const BINS_2D: usize = 20;
const PSEUDO: f64 = 0.5;

fn bin(v: f64, (lo, hi): (f64, f64), bins: usize) -> usize {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return 0;
    }
    let k = ((v - lo) / (hi - lo) * bins as f64).floor();
    if k.is_nan() || k < 0.0 {
        // NaN draws (a broken flow) count in the first bin rather than vanishing.
        0
    } else {
        (k as usize).min(bins - 1)
    }
}

fn hist1(x: &Array2<f64>, j: usize, range: (f64, f64), bins: usize) -> Vec<f64> {
    let mut h = vec![0.0; bins];
    x.column(j).iter().for_each(|&v| h[bin(v, range, bins)] += 1.0);
    h
}

fn hist2(x: &Array2<f64>, (i, j): (usize, usize), (ri, rj): ((f64, f64), (f64, f64))) -> Vec<f64> {
    let mut h = vec![0.0; BINS_2D * BINS_2D];
    for row in x.rows() {
        h[bin(row[i], ri, BINS_2D) * BINS_2D + bin(row[j], rj, BINS_2D)] += 1.0;
    }
    h
}

fn sym_kl(p: &[f64], q: &[f64]) -> f64 {
    0.5 * (kl_counts(p, q, PSEUDO) + kl_counts(q, p, PSEUDO))
}

#[cfg(test)]
mod tests;

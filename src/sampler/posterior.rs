//! The posterior a sampler explores: `log p(θ) + β · log L(θ)`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use seqcal_api::{DensityError, LogDensity, Prior};

/// How a batch of points is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Parallelism {
    /// In parallel when the batch is costly enough to be worth it (measured
    /// on the first batches: about 200 µs of work or more).
    #[default]
    Auto,
    /// Always one point after another on the calling thread.
    Serial,
    /// Always in parallel on rayon's pool.
    Parallel,
}

/// One point's log densities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// `log prior + β log likelihood`; `-∞` outside the support or after a
    /// rejected evaluation; never NaN.
    pub log_post: f64,
    /// Log prior (0 for a flat prior).
    pub log_prior: f64,
    /// Log likelihood (`-∞` when not evaluated because the prior is zero).
    pub log_lik: f64,
}

/// Counts of what happened during evaluation.
#[derive(Debug, Default)]
pub struct Counters {
    /// Likelihood evaluations made.
    pub evaluations: AtomicU64,
    /// Evaluations the likelihood rejected (`DensityError::Reject`, NaN).
    pub failed: AtomicU64,
    /// Points with a non-finite log posterior (outside the support, rejected
    /// evaluations, `-∞` likelihood, `+∞` from a faulty model).
    pub non_finite: AtomicU64,
    /// Nanoseconds spent inside the prior and likelihood.
    pub density_nanos: AtomicU64,
}

/// A prior (or flat) times a tempered likelihood.
pub struct Posterior {
    prior: Option<Box<dyn Prior>>,
    likelihood: Box<dyn LogDensity>,
    beta: f64,
    parallelism: Parallelism,
    /// Measured cost of one evaluation in nanoseconds (0 until measured).
    cost_ns: AtomicU64,
    counters: Counters,
}

impl Posterior {
    /// `prior` (None = flat over the real line, improper) times `likelihood^beta`.
    pub fn new(prior: Option<Box<dyn Prior>>, likelihood: Box<dyn LogDensity>, beta: f64) -> Self {
        Posterior { prior, likelihood, beta, parallelism: Parallelism::Auto, cost_ns: AtomicU64::new(0), counters: Counters::default() }
    }

    /// Sets the evaluation policy.
    pub fn with_parallelism(mut self, p: Parallelism) -> Self {
        self.parallelism = p;
        self
    }

    /// Number of parameters.
    pub fn dim(&self) -> usize {
        self.likelihood.dim()
    }

    /// The prior, if proper.
    pub fn prior(&self) -> Option<&dyn Prior> {
        self.prior.as_deref()
    }

    /// The tempering exponent β.
    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// What was counted so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Combines a point's log prior and log likelihood (NaN = rejected evaluation).
    fn combine(&self, log_prior: f64, log_lik: f64) -> Evaluation {
        let log_lik = if log_lik.is_nan() {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            f64::NEG_INFINITY
        } else {
            log_lik
        };
        let mut log_post = log_prior + if self.beta == 0.0 { 0.0 } else { self.beta * log_lik };
        if !log_post.is_finite() {
            // -inf (zero density) and +inf (a faulty model) are both rejected.
            self.counters.non_finite.fetch_add(1, Ordering::Relaxed);
            log_post = f64::NEG_INFINITY;
        }
        Evaluation { log_post, log_prior, log_lik }
    }

    /// Evaluates every row of `points`: the prior first, then the likelihood
    /// of the points with non-zero prior density through
    /// [`LogDensity::log_density_batch`], as one batch or, when parallel, one
    /// batch per thread. The result does not depend on the parallelism:
    /// each point is evaluated independently.
    ///
    /// # Errors
    /// The first fatal likelihood error.
    pub fn evaluate(&self, points: ArrayView2<'_, f64>) -> Result<Vec<Evaluation>, DensityError> {
        let n = points.nrows();
        let start = Instant::now();
        let cost = self.cost_ns.load(Ordering::Relaxed);
        let threads = rayon::current_num_threads();
        let parallel = self.likelihood.concurrent()
            && threads > 1
            && match self.parallelism {
                Parallelism::Serial => false,
                Parallelism::Parallel => n > 1,
                Parallelism::Auto => n > 1 && cost > 0 && cost.saturating_mul(n as u64) > 200_000,
            };
        let mut log_prior = vec![0.0; n];
        if let Some(p) = &self.prior {
            p.log_prob_batch(points, &mut log_prior);
        }
        let inside: Vec<usize> = (0..n).filter(|&i| log_prior[i].is_finite()).collect();
        let mut log_lik = vec![f64::NEG_INFINITY; n];
        if !inside.is_empty() {
            let owned;
            let batch = if inside.len() == n {
                points
            } else {
                owned = points.select(ndarray::Axis(0), &inside);
                owned.view()
            };
            let values = if parallel {
                let chunk = batch.nrows().div_ceil(threads);
                let chunks: Vec<ArrayView2<'_, f64>> = batch.axis_chunks_iter(ndarray::Axis(0), chunk).collect();
                let parts: Result<Vec<Vec<f64>>, DensityError> = chunks.into_par_iter().map(|c| self.likelihood.log_density_batch(c)).collect();
                parts?.concat()
            } else {
                self.likelihood.log_density_batch(batch)?
            };
            if values.len() != inside.len() {
                return Err(DensityError::Fatal(format!("the likelihood returned {} values for {} points", values.len(), inside.len())));
            }
            for (&i, v) in inside.iter().zip(values) {
                log_lik[i] = v;
            }
            self.counters.evaluations.fetch_add(inside.len() as u64, Ordering::Relaxed);
        }
        let out: Vec<Evaluation> = (0..n)
            .map(|i| {
                if log_prior[i].is_finite() {
                    self.combine(log_prior[i], log_lik[i])
                } else {
                    self.counters.non_finite.fetch_add(1, Ordering::Relaxed);
                    Evaluation { log_post: f64::NEG_INFINITY, log_prior: log_prior[i], log_lik: f64::NEG_INFINITY }
                }
            })
            .collect();
        let ns = start.elapsed().as_nanos() as u64;
        self.counters.density_nanos.fetch_add(ns, Ordering::Relaxed);
        if n > 0 && !parallel {
            // Running estimate of one evaluation's cost, from serial batches only.
            let per = ns / n as u64;
            let new = if cost == 0 { per.max(1) } else { (cost * 7 + per) / 8 };
            self.cost_ns.store(new.max(1), Ordering::Relaxed);
        }
        Ok(out)
    }

    /// Evaluates an owned batch (convenience).
    ///
    /// # Errors
    /// See [`evaluate`](Self::evaluate).
    pub fn evaluate_owned(&self, points: &Array2<f64>) -> Result<Vec<Evaluation>, DensityError> {
        self.evaluate(points.view())
    }
}

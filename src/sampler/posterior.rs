//! The posterior a sampler explores: `log p(θ) + β · log L(θ)`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use seqcal_api::{DensityError, LogDensity, Prior};

/// Points per likelihood call of a concurrent density (see [`Posterior::evaluate_into`]).
const CHUNK: usize = 8;

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

/// Reusable buffers of [`Posterior::evaluate_into`].
#[derive(Debug, Default)]
pub struct Scratch {
    log_prior: Vec<f64>,
    inside: Vec<usize>,
    log_lik: Vec<f64>,
}

/// A prior (or flat) times a tempered likelihood.
#[derive(Debug)]
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
    /// [`LogDensity::log_density_into`], in fixed chunks of 8 points,
    /// serially or in parallel. The result does not depend
    /// on the parallelism or the thread count: a density that can run
    /// concurrently always sees the same chunks, one that cannot the whole batch.
    ///
    /// # Errors
    /// The first fatal likelihood error.
    pub fn evaluate(&self, points: ArrayView2<'_, f64>) -> Result<Vec<Evaluation>, DensityError> {
        let mut out = Vec::new();
        self.evaluate_into(points, &mut Scratch::default(), &mut out)?;
        Ok(out)
    }

    /// [`evaluate`](Self::evaluate) into `out`, reusing `scratch`: no
    /// allocation once the buffers have grown to the batch size.
    ///
    /// # Errors
    /// The first fatal likelihood error.
    pub fn evaluate_into(&self, points: ArrayView2<'_, f64>, scratch: &mut Scratch, out: &mut Vec<Evaluation>) -> Result<(), DensityError> {
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
        let Scratch { log_prior, inside, log_lik } = scratch;
        log_prior.clear();
        log_prior.resize(n, 0.0);
        if let Some(p) = &self.prior {
            p.log_prob_batch(points, log_prior);
        }
        inside.clear();
        inside.extend((0..n).filter(|&i| log_prior[i].is_finite()));
        log_lik.clear();
        log_lik.resize(inside.len(), f64::NEG_INFINITY);
        if !inside.is_empty() {
            let owned;
            let batch = if inside.len() == n {
                points
            } else {
                owned = points.select(ndarray::Axis(0), inside);
                owned.view()
            };
            if !self.likelihood.concurrent() {
                self.likelihood.log_density_into(batch, log_lik)?;
            } else {
                // Fixed chunks, whatever the thread count or the serial/parallel
                // choice: a batched density may round differently for different
                // batch sizes (a GP switches kernels at 8 points), so each point
                // must always be evaluated within the same chunk.
                let parts = batch.axis_chunks_iter(ndarray::Axis(0), CHUNK).zip(log_lik.chunks_mut(CHUNK));
                if parallel {
                    parts.collect::<Vec<_>>().into_par_iter().try_for_each(|(c, o)| self.likelihood.log_density_into(c, o))?;
                } else {
                    for (c, o) in parts {
                        self.likelihood.log_density_into(c, o)?;
                    }
                }
            }
            self.counters.evaluations.fetch_add(inside.len() as u64, Ordering::Relaxed);
        }
        out.clear();
        let mut next = inside.iter().zip(log_lik.iter()).peekable();
        for (i, &lp) in log_prior.iter().enumerate() {
            match next.peek() {
                Some((&j, &ll)) if j == i => {
                    next.next();
                    out.push(self.combine(lp, ll));
                }
                _ => {
                    self.counters.non_finite.fetch_add(1, Ordering::Relaxed);
                    out.push(Evaluation { log_post: f64::NEG_INFINITY, log_prior: lp, log_lik: f64::NEG_INFINITY });
                }
            }
        }
        let ns = start.elapsed().as_nanos() as u64;
        self.counters.density_nanos.fetch_add(ns, Ordering::Relaxed);
        if n > 0 && !parallel {
            // Running estimate of one evaluation's cost, from serial batches only.
            let per = ns / n as u64;
            let new = if cost == 0 { per.max(1) } else { (cost * 7 + per) / 8 };
            self.cost_ns.store(new.max(1), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Evaluates an owned batch (convenience).
    ///
    /// # Errors
    /// See [`evaluate`](Self::evaluate).
    pub fn evaluate_owned(&self, points: &Array2<f64>) -> Result<Vec<Evaluation>, DensityError> {
        self.evaluate(points.view())
    }
}

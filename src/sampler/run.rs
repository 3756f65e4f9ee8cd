//! The loop that drives a sampler: steps, progress, checkpoints, counters.
//!
//! [`EnsembleRun`] owns everything that is not the sampler's own business:
//! it maps the walkers to the stored parameters, appends every iteration to
//! the chain file (which flushes every `checkpoint_every` rows together with
//! the sampler's full state, so `--resume` continues bit for bit), shows a
//! progress bar with the acceptance fraction and a running autocorrelation
//! time, and keeps the counts reported at the end. A SIGINT or SIGTERM stops
//! it after the current iteration with the chain and state saved together
//! ([`interrupt`](super::interrupt)).

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array1, Array2, Array3, ArrayView2};

use super::ensemble::Ensemble;
use super::interrupt::InterruptGuard;
use super::posterior::Posterior;
use crate::chain::{ChainWriter, Column, PerDraw, Step};
use crate::memory;
use crate::targets::Transform;
use crate::{Error, Result};

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Iterations made by this call (after any resumed ones).
    pub steps_run: usize,
    /// Seconds of wall time of this call.
    pub wall_seconds: f64,
    /// Likelihood evaluations of this call.
    pub evaluations: u64,
    /// Seconds spent inside the prior and likelihood.
    pub density_seconds: f64,
    /// Evaluations the likelihood rejected (recoverable errors, NaN).
    pub failed_evaluations: u64,
    /// Proposals with a non-finite log posterior (rejected).
    pub non_finite: u64,
    /// Accepted proposals per walker over the whole chain (resumed part included).
    pub accepted: Array1<f64>,
    /// Stored draws of this call, `steps_run × walkers × dim`.
    pub draws: Array3<f64>,
    /// Log posterior of every stored draw of this call, `steps_run × walkers`.
    pub log_prob: Array2<f64>,
    /// Walkers moved off a minor mode during burn-in.
    pub relocated: usize,
    /// Walkers stranded in a minor mode at the end ([`Ensemble::stranded`]);
    /// [`crate::diagnostics::stranded_walkers`] looks at the whole run.
    pub stranded: usize,
}

/// Bytes a run of `steps` iterations of `walkers` walkers over `dim` stored
/// parameters keeps in memory: the draws and log posteriors it returns, and
/// the ensemble's own buffers.
pub fn run_bytes(steps: usize, walkers: usize, dim: usize) -> u128 {
    let kept = memory::bytes(memory::product(&[steps, walkers, dim + 1]), 8);
    let ensemble = memory::bytes(memory::product(&[walkers, dim.saturating_add(8)]), 8 * 8).saturating_add(memory::bytes(walkers as u128, 512));
    kept.saturating_add(ensemble)
}

/// A configured run of the ensemble sampler.
#[derive(Debug)]
pub struct EnsembleRun<'a> {
    /// The posterior.
    pub posterior: &'a Posterior,
    /// Sampler coordinates -> stored parameters.
    pub transform: Option<&'a dyn Transform>,
    /// Number of stored parameters.
    pub out_dim: usize,
    /// Iterations to make in this call.
    pub steps: usize,
    /// Show a progress bar (on a terminal only).
    pub progress: bool,
    /// Accepted counts carried over from a resumed file.
    pub accepted_before: Option<Array1<f64>>,
    /// Iterations already in the file (for the progress bar).
    pub done_before: usize,
    /// During the chain's first this many iterations, every 50 steps, move
    /// stranded walkers onto others ([`Ensemble::relocate_stuck`]); 0 = never.
    pub relocate_until: usize,
}

impl EnsembleRun<'_> {
    /// Maps sampler coordinates to stored parameters, row by row.
    fn constrain(&self, x: ArrayView2<'_, f64>, out: &mut Array2<f64>) {
        match self.transform {
            None => out.assign(&x),
            Some(t) => {
                for (u, mut th) in x.rows().into_iter().zip(out.rows_mut()) {
                    let u = u.to_vec();
                    let th = th.as_slice_mut().expect("rows of an owned standard-layout array are contiguous");
                    t.constrain(&u, th);
                }
            }
        }
    }

    /// Runs `steps` iterations, appending each to `writer` when given.
    ///
    /// # Errors
    /// A fatal density error, a failed write, a run too large for memory, or
    /// [`Error::Interrupted`] after a SIGINT or SIGTERM; rows flushed before
    /// stay valid (after an interruption, every row made, with its state).
    pub fn run(&self, ens: &mut Ensemble, mut writer: Option<&mut ChainWriter>) -> Result<RunOutcome> {
        let w = ens.positions().nrows();
        let d = self.out_dim;
        memory::require(run_bytes(self.steps, w, d), || format!("a run of {} iterations x {w} walkers x {d} parameters", self.steps))?;
        let start = Instant::now();
        let c = self.posterior.counters();
        let (ev0, fail0, nf0, ns0) = (
            c.evaluations.load(Ordering::Relaxed),
            c.failed.load(Ordering::Relaxed),
            c.non_finite.load(Ordering::Relaxed),
            c.density_nanos.load(Ordering::Relaxed),
        );
        let mut accepted = self.accepted_before.clone().unwrap_or_else(|| Array1::zeros(w));
        let mut draws = Vec::with_capacity(self.steps * w * d);
        let mut log_probs = Vec::with_capacity(self.steps * w);
        let mut theta = Array2::zeros((w, d));
        let mut cols: PerDraw<Array1<f64>> = PerDraw::from_fn(|_| Array1::zeros(w));
        let bar = self.progress_bar();
        let has_prior = self.posterior.prior().is_some();
        let mut recent_acc = 0.0;
        let mut relocated = 0;
        let guard = InterruptGuard::install();
        for it in 0..self.steps {
            if guard.requested() {
                if let Some(b) = &bar {
                    b.abandon();
                }
                let done = self.done_before + it;
                let saved = match writer {
                    Some(wr) => {
                        if done > 0 {
                            let mut st = ens.state();
                            st.iteration = done;
                            st.accepted.assign(&accepted);
                            wr.set_state(st);
                        }
                        wr.flush()?;
                        format!("; the chain and the sampler state up to it are saved in {}", wr.path().display())
                    }
                    None => String::new(),
                };
                return Err(Error::Interrupted(format!("stopped after iteration {done} of {}{saved}", self.done_before + self.steps)));
            }
            let global = self.done_before + it + 1;
            let rep = ens.step(self.posterior)?;
            if global <= self.relocate_until && global % 50 == 0 {
                relocated += ens.relocate_stuck();
            }
            let n_acc = rep.accepted.iter().filter(|a| **a).count();
            recent_acc = if it == 0 { n_acc as f64 / w as f64 } else { 0.98 * recent_acc + 0.02 * n_acc as f64 / w as f64 };
            for (a, &ok) in accepted.iter_mut().zip(&rep.accepted) {
                *a += ok as u8 as f64;
            }
            let stored = match self.transform {
                None => ens.positions(),
                Some(_) => {
                    self.constrain(ens.positions().view(), &mut theta);
                    &theta
                }
            };
            match stored.as_slice() {
                Some(sl) => draws.extend_from_slice(sl),
                None => draws.extend(stored.iter()),
            }
            log_probs.extend(ens.evaluations().iter().map(|e| e.log_post));
            if let Some(wr) = writer.as_deref_mut() {
                for (k, e) in ens.evaluations().iter().enumerate() {
                    cols.log_prob[k] = e.log_post;
                    cols.log_prior[k] = e.log_prior;
                    cols.log_likelihood[k] = e.log_lik;
                }
                if let Some(t) = self.transform {
                    // The stored draws are theta = T(u): their log densities lose the log-Jacobian.
                    crate::targets::transform::to_stored_scale(t, ens.positions().view(), &mut [&mut cols.log_prob, &mut cols.log_prior]);
                }
                // The state goes with the append that triggers a flush, so the
                // stored state always matches the stored rows.
                let state = (wr.rows() + 1 - wr.rows_flushed() >= wr.flush_every()).then(|| {
                    let mut st = ens.state();
                    st.iteration = global;
                    st.accepted.assign(&accepted);
                    st
                });
                let mut step =
                    Step::new(stored.view()).with(Column::LogProb, cols.log_prob.view()).with(Column::LogLikelihood, cols.log_likelihood.view());
                if has_prior {
                    step = step.with(Column::LogPrior, cols.log_prior.view());
                }
                wr.append(step.accepted(&rep.accepted).state(state.as_ref()))?;
            }
            if let Some(b) = &bar {
                b.inc(1);
                if it % 50 == 0 || it + 1 == self.steps {
                    let tau = running_tau(&draws, it + 1, w, d);
                    b.set_message(format!("acceptance {recent_acc:.3}{tau}"));
                }
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        if let Some(wr) = writer {
            let mut st = ens.state();
            st.iteration = self.done_before + self.steps;
            st.accepted.assign(&accepted);
            wr.set_state(st);
        }
        drop(guard);
        let draws = Array3::from_shape_vec((self.steps, w, d), draws).expect("one row of w x d draws per step");
        let log_prob = Array2::from_shape_vec((self.steps, w), log_probs).expect("one log posterior per walker and step");
        Ok(RunOutcome {
            steps_run: self.steps,
            wall_seconds: start.elapsed().as_secs_f64(),
            evaluations: c.evaluations.load(Ordering::Relaxed) - ev0,
            density_seconds: (c.density_nanos.load(Ordering::Relaxed) - ns0) as f64 * 1e-9,
            failed_evaluations: c.failed.load(Ordering::Relaxed) - fail0,
            non_finite: c.non_finite.load(Ordering::Relaxed) - nf0,
            accepted,
            draws,
            log_prob,
            relocated,
            stranded: ens.stranded().len(),
        })
    }

    fn progress_bar(&self) -> Option<ProgressBar> {
        if !self.progress || !std::io::stderr().is_terminal() {
            return None;
        }
        let b = ProgressBar::new((self.done_before + self.steps) as u64).with_position(self.done_before as u64);
        b.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} steps ({per_sec}, eta {eta}) {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Some(b)
    }
}

/// ", τ ≈ 80" from the draws so far (largest over parameters), once there are enough.
fn running_tau(draws: &[f64], n: usize, w: usize, d: usize) -> String {
    if n < 100 {
        return String::new();
    }
    let Ok(view) = ndarray::ArrayView3::from_shape((n, w, d), &draws[..n * w * d]) else { return String::new() };
    let t = crate::diagnostics::integrated_time(view, 5.0, 50.0);
    let max = t.tau.iter().copied().fold(0.0, f64::max);
    format!(", tau ~ {max:.1} steps{}", if t.too_short { " (chain < 50 tau)" } else { "" })
}

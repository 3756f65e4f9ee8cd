//! The one executor every sampler runs under, for `seqcal sample` and every
//! stage of `seqcal run`.
//!
//! [`execute`] picks the sampler from its [`SamplerSettings`] and drives it
//! through the [`Sampler`] contract: it starts it (or restores it from the
//! output file's checkpointed state with `--resume`), creates the chain file
//! with its provenance, appends every row (flushed every `checkpoint_every`
//! steps together with the sampler's full state, so a resumed run continues
//! bit for bit), shows a progress bar with the step's named fields, stops
//! cleanly on SIGINT or SIGTERM ([`interrupt`](super::interrupt)), stores the
//! final output (weights, the sampler's extra group) and returns the
//! [`Outcome`] with the counts and the draws the summaries are built from
//! ([`Outcome::diagnose`]).

mod chain_file;
mod job;
mod progress;
mod summary;

pub use job::{Job, Outcome, OutputFile};
pub use summary::Diagnosis;

use std::sync::atomic::Ordering;
use std::time::Instant;

use self::chain_file::ChainFile;
use self::progress::Progress;
use super::contract::{Field, Sampler};
use super::ensemble::EnsembleSampler;
use super::interrupt::InterruptGuard;
use super::settings::SamplerSettings;
use super::smc::SmcSampler;
use crate::chain::schema::BURN;
use crate::memory;
use crate::{Error, Result};

/// Bytes a run of `steps` iterations of `walkers` walkers over `dim` stored
/// parameters keeps in memory: the draws and log posteriors it returns, and
/// the sampler's own buffers.
pub fn run_bytes(steps: usize, walkers: usize, dim: usize) -> u128 {
    let kept = memory::bytes(memory::product(&[steps, walkers, dim + 1]), 8);
    let ensemble = memory::bytes(memory::product(&[walkers, dim.saturating_add(8)]), 8 * 8).saturating_add(memory::bytes(walkers as u128, 512));
    kept.saturating_add(ensemble)
}

/// Runs the sampler `settings` choose on `job`.
///
/// # Errors
/// A sampler not available yet, settings that do not fit the problem, a
/// fatal density error, a failed write, a run too large for memory, a
/// `--resume` of another run, or [`Error::Interrupted`] after a SIGINT or
/// SIGTERM (rows flushed before stay valid, with their state).
pub fn execute(job: Job<'_>, settings: &SamplerSettings) -> Result<Outcome> {
    match settings {
        SamplerSettings::Ensemble(c) => run::<EnsembleSampler>(job, c, c.checkpoint_every.max(1) as usize, &|rows| c.burn_for(rows)),
        SamplerSettings::Smc(c) => run::<SmcSampler>(job, c, c.checkpoint_every.max(1) as usize, &|_| 0),
    }
}

/// Checks `settings` against a problem of `dim` sampler coordinates, before
/// anything runs: walkers for the dimension, the memory a run takes, a
/// sampler this build has.
///
/// # Errors
/// The first problem, in words.
pub fn check_problem(settings: &SamplerSettings, dim: usize) -> Result<()> {
    match settings {
        SamplerSettings::Ensemble(c) => {
            EnsembleSampler::settings(c)?.check(dim)?;
            memory::require(run_bytes(c.steps, c.walkers, dim), || {
                format!("sampling {} iterations x {} walkers x {dim} parameters", c.steps, c.walkers)
            })
        }
        SamplerSettings::Smc(c) => {
            c.algorithm().check()?;
            memory::require(run_bytes(3, c.particles, dim), || format!("SMC with {} particles x {dim} parameters", c.particles))
        }
    }
}

/// Drives sampler `S` (see the module docs); `burn_for(rows)` is the burn-in
/// of a chain of `rows` rows.
fn run<S: Sampler>(job: Job<'_>, config: &S::Config, checkpoint_every: usize, burn_for: &dyn Fn(usize) -> usize) -> Result<Outcome> {
    let n = S::draws(config);
    let out_dim = job.space.dim();
    let planned = S::planned_steps(config);
    let sampler_dim = job.posterior.dim();
    memory::require(run_bytes(planned.unwrap_or(1), n, out_dim.max(sampler_dim)), || {
        format!("a run of {} iterations x {n} walkers x {out_dim} parameters", planned.unwrap_or(1))
    })?;
    let mut attrs = S::attrs(config);
    attrs.insert("sampler".into(), S::KIND.into());
    attrs.insert("seed".into(), job.seed.to_string());
    attrs.insert("beta".into(), job.posterior.beta().to_string());
    if let Some(p) = planned {
        attrs.insert(BURN.into(), burn_for(p).to_string());
    }
    attrs.extend(job.attrs.clone());
    let (mut sampler, mut file) = ChainFile::open::<S>(&job, config, checkpoint_every, attrs, job.start)?;
    let c = job.posterior.counters();
    let (ev, fail, nf, ns) = (
        c.evaluations.load(Ordering::Relaxed),
        c.failed.load(Ordering::Relaxed),
        c.non_finite.load(Ordering::Relaxed),
        c.density_nanos.load(Ordering::Relaxed),
    );
    let done_before = file.done_before();
    let to_run = planned.map(|p| p.saturating_sub(done_before));
    if let (Some(path), Some(b)) = (job.output.as_ref().map(|o| o.path), planned) {
        let rows = b.max(done_before);
        file.set_burn(burn_for(rows));
        if to_run == Some(0) && job.progress {
            eprintln!("{}: the chain already holds {done_before} iterations (>= {b} planned): nothing to run", path.display());
        }
    }
    let result = drive(&job, &mut sampler, &mut file, done_before, to_run);
    let (steps_run, fields, wall) = match result {
        Ok(r) => r,
        Err(e) => {
            file.abandon();
            return Err(e);
        }
    };
    let fin = sampler.finish();
    let stranded_now = sampler.stranded();
    let accepted = sampler.save(done_before + steps_run).accepted;
    let (draws, log_prob, weights) = file.complete(&job, fin.draws.as_ref(), fin.weights.as_ref(), fin.extra.as_ref(), fin.log_z)?;
    let rows = draws.dim().0;
    Ok(Outcome {
        kind: S::KIND,
        draws_per_row: n,
        steps_run,
        done_before,
        burn: if planned.is_some() { burn_for(rows) } else { 0 },
        wall_seconds: wall,
        evaluations: c.evaluations.load(Ordering::Relaxed) - ev,
        density_seconds: (c.density_nanos.load(Ordering::Relaxed) - ns) as f64 * 1e-9,
        failed_evaluations: c.failed.load(Ordering::Relaxed) - fail,
        non_finite: c.non_finite.load(Ordering::Relaxed) - nf,
        accepted,
        draws,
        log_prob,
        weights,
        fields,
        stranded_now,
        log_z: fin.log_z,
        extra: fin.extra,
    })
}

/// The loop: steps until the plan or the sampler says done; returns the
/// steps made, the last step's fields and the wall time.
fn drive<S: Sampler>(
    job: &Job<'_>,
    sampler: &mut S,
    file: &mut ChainFile,
    done_before: usize,
    to_run: Option<usize>,
) -> Result<(usize, Vec<Field>, f64)> {
    let start = Instant::now();
    let mut bar = Progress::new(job.progress, done_before, to_run);
    let guard = InterruptGuard::install();
    let mut fields = Vec::new();
    let mut it = 0;
    loop {
        let finished = match to_run {
            Some(n) => it >= n,
            None => sampler.done(),
        };
        if finished {
            break;
        }
        if guard.requested() {
            bar.abandon();
            let done = done_before + it;
            let saved = file.save_now(sampler, done)?;
            let of = match to_run {
                Some(n) => format!(" of {}", done_before + n),
                None => String::new(),
            };
            return Err(Error::Interrupted(format!("stopped after iteration {done}{of}{saved}")));
        }
        let global = done_before + it + 1;
        let rep = sampler.step(job.posterior, global)?;
        file.after_step(job, sampler, global, rep.accepted.as_deref())?;
        bar.step(&rep.fields, file.kept_draws());
        fields = rep.fields;
        it += 1;
    }
    bar.finish();
    file.save_state(sampler, done_before + it);
    drop(guard);
    Ok((it, fields, start.elapsed().as_secs_f64()))
}

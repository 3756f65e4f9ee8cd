//! One stage: its resolved settings, and sampling `prior × Π likelihoods`
//! with its sampler (through the executor) into its chain, then its record.

use std::collections::BTreeMap;
use std::time::Instant;

use ndarray::{s, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqcal_api::{LogDensity, Prior, PriorFactory, StageContext};
use seqcal_flow::FlowTrainer;
use sha2::{Digest, Sha256};

use super::context::RunContext;
use super::datasets::Likelihoods;
use super::flow_checks::{resample, StageFlow};
use super::flow_source::StagePosteriors;
use super::layout::{remove_if_present, to_json, write_text};
use crate::chain::{add_weights, multiply_weights};
use crate::config::{Pipeline, Stage};
use crate::diagnostics;
use crate::likelihood::IndependentProduct;
use crate::prior::{ChainFiles, PriorRegistry};
use crate::report::StageRecord;
use crate::sampler::{execute, merge_tables, Job, OutputFile, Posterior, SamplerSettings};
use crate::{Error, Result};

/// A stage's settings with the pipeline's defaults merged.
pub(super) struct Resolved {
    /// The sampler's settings, parsed and checked.
    pub settings: SamplerSettings,
    /// The prior table (default: uniform on the parameter box).
    pub prior: toml::Table,
    /// The sampler's seed.
    pub seed: u64,
}

/// A stage's seed: its sampler's `seed`, else one derived from the
/// pipeline's seed and the stage's name.
fn stage_seed(p: &Pipeline, st: &Stage, settings: &SamplerSettings) -> u64 {
    settings.seed().unwrap_or_else(|| {
        let h = Sha256::digest(format!("{}:{}", p.seed, st.name).as_bytes());
        u64::from_le_bytes(h[..8].try_into().unwrap_or([0; 8]))
    })
}

/// Stage `st`'s settings with `[defaults]` merged.
///
/// # Errors
/// A sampler table that does not parse or holds a bad value.
pub(super) fn resolve_stage(p: &Pipeline, st: &Stage) -> Result<Resolved> {
    let sampler = merge_tables(&st.sampler, &p.defaults.sampler);
    let settings = SamplerSettings::from_table(&sampler)?;
    let mut prior = st.prior.clone().unwrap_or_else(|| {
        let mut t = toml::Table::new();
        t.insert("kind".into(), "uniform".into());
        t
    });
    seqcal_flow::table::merge_defaults(&mut prior, &p.defaults.flow);
    let seed = stage_seed(p, st, &settings);
    Ok(Resolved { settings, prior, seed })
}

/// Runs stage `i` (its hash `hash`) with priors from `registry`; `finished`
/// names the stages whose chains are complete.
pub(super) fn run_stage(
    inp: RunContext<'_>,
    registry: &PriorRegistry,
    i: usize,
    hash: String,
    likelihoods: &mut Likelihoods<'_>,
    flows: &FlowTrainer,
    finished: &BTreeMap<String, usize>,
) -> Result<StageRecord> {
    let p = inp.pipeline;
    let st = p.stages[i].clone();
    let res = resolve_stage(p, &st)?;
    let stage_dir = inp.layout.stage_dir(&st.name);
    std::fs::create_dir_all(&stage_dir).map_err(|e| Error::io(&stage_dir, e))?;
    // The record marks a finished stage: it goes first and comes back last.
    let record_path = inp.layout.record(&st.name);
    remove_if_present(&record_path)?;
    let mut prior_table = res.prior.clone();
    let mut chains = ChainFiles::new();
    for (name, &burn) in finished {
        chains.add_stage(name.clone(), inp.layout.chain(name), burn);
    }
    let ctx = StageContext { space: Some(inp.space), base_dir: &p.base_dir, chains: &chains, factory: registry };
    let in_stage = |e: seqcal_api::PriorError| Error::config(inp.source, format!("stage {:?}: prior: {e}", st.name));
    // Flow tables that train on a chain are trained (or reused) and saved next
    // to the stage's chain first, so that the report holds them.
    let t0 = Instant::now();
    let sources = StagePosteriors::for_prior(&prior_table, p, &ctx, registry, likelihoods)?;
    let trained = flows.train_tables_with(&mut prior_table, &ctx, &stage_dir, &|m| inp.say.say(m), &sources).map_err(in_stage)?;
    let flow_seconds = t0.elapsed().as_secs_f64();
    let prior = registry.build(&prior_table, &ctx).map_err(in_stage)?;
    let mut parts: Vec<Box<dyn LogDensity>> = Vec::new();
    for d in &st.datasets {
        parts.push(Box::new(likelihoods.get(d)?));
    }
    let likelihood = IndependentProduct::new(parts)?;

    let dim = inp.space.dim();
    let prior_text = prior.describe();
    let posterior = Posterior::new(Some(prior), Box::new(likelihood), res.settings.beta());
    let start = |n: usize| {
        let mut rng = ChaCha8Rng::seed_from_u64(res.seed);
        rng.set_stream(u64::MAX);
        posterior.prior().map(|p| p.sample(&mut rng, n)).ok_or_else(|| Error::Usage("a stage needs a prior".into()))
    };
    let mut attrs = BTreeMap::new();
    attrs.insert("pipeline".to_string(), p.name.clone());
    attrs.insert("stage".into(), st.name.clone());
    attrs.insert("datasets".into(), st.datasets.join(","));
    attrs.insert("prior".into(), prior_text.clone());
    attrs.insert("stage_hash".into(), hash.clone());
    let chain_path = inp.layout.chain(&st.name);
    inp.say.say(format!("  sampling with the {} sampler ({})", res.settings.kind(), res.settings.size_text()));
    let job = Job {
        posterior: &posterior,
        transform: None,
        space: inp.space,
        seed: res.seed,
        progress: inp.say.0,
        output: Some(OutputFile { path: &chain_path, resume: false, identity: None }),
        start: &start,
        attrs,
    };
    let outcome = execute(job, &res.settings).map_err(|e| match e {
        Error::Interrupted(m) => Error::Interrupted(format!("stage {}: {m}; the next seqcal run samples the stage again from its start", st.name)),
        e => e,
    })?;
    let burn = outcome.burn;
    let diag =
        outcome.diagnose(dim, "the sampler moves stranded walkers onto others during burn-in: a longer burn (sampler.burn) gives it more chances");
    let sf = StageFlow { inp, registry, index: i, written: &res.prior, built: &prior_table, trained: &trained, finished, seed: res.seed };
    // A defensive mixture's importance weights to the pure flow-prior posterior: the
    // chain's weights, or for a weighted sampler (SMC particles, weighted to the
    // mixture posterior) multiplied into its own.
    let defensive = sf.defensive_weights(&outcome.draws, burn)?;
    let about = "(1-epsilon) q / ((1-epsilon) q + epsilon base): the defensive mixture's draws weighted to the flow-prior posterior";
    let kept = outcome.draws.slice(s![burn.., .., ..]);
    let kept_draws = kept.len_of(Axis(0)) * kept.len_of(Axis(1));
    if let Some((w, _)) = &defensive {
        match &outcome.weights {
            Some(_) => multiply_weights(&chain_path, w.view(), about)?,
            None => add_weights(&chain_path, w.view(), about)?,
        }
    }
    let own = outcome.weights.as_ref().filter(|w| w.len() == kept_draws);
    let kept_w: Option<Vec<f64>> = match (&defensive, own) {
        (Some((w, _)), Some(o)) => Some(w.slice(s![burn.., ..]).iter().zip(o).map(|(a, b)| a * b).collect()),
        (Some((w, _)), None) => Some(w.slice(s![burn.., ..]).iter().copied().collect()),
        (None, Some(o)) => Some(o.to_vec()),
        (None, None) => None,
    };
    let (n, d) = (kept.len_of(Axis(0)) * kept.len_of(Axis(1)), kept.len_of(Axis(2)));
    let flat = kept.to_shape((n, d))?.to_owned();
    let epsilon = prior_table.get("epsilon").and_then(toml::Value::as_float);
    // A weighted chain (defensive weights, SMC particles) is resampled for the check.
    let posterior = kept_w.as_deref().map(|w| resample(&flat, w));
    let mut mode_loss = trained.first().map(|(label, flow)| {
        diagnostics::mode_loss(flow, label, inp.space.names(), posterior.as_ref().unwrap_or(&flat), res.seed, epsilon.filter(|_| defensive.is_none()))
    });
    let mut flow_checks = if trained.is_empty() { None } else { Some(sf.checks(likelihoods)?) };
    if let Some(c) = flow_checks.as_mut() {
        c.defensive = defensive.map(|(_, d)| d);
        if let Some(m) = mode_loss.as_mut() {
            m.classify(c.lost_mode.as_ref().map(|l| l.lost));
        }
    }
    let mut warnings = diag.warnings.clone();
    let c_def = flow_checks.as_ref().is_some_and(|c| c.defensive.is_some());
    warnings.extend(mode_loss.as_ref().and_then(|m| m.warning.clone()));
    if let Some(c) = &flow_checks {
        warnings.extend(c.flow_fit.as_ref().and_then(|f| f.warning.clone()));
        warnings.extend(c.lost_mode.as_ref().and_then(|l| l.warning.clone()));
    }
    for w in &warnings {
        eprintln!("WARNING stage {}: {w}", st.name);
    }
    let acc = diag.acceptance.mean().unwrap_or(f64::NAN);
    let steps = diag.iterations;
    let rec = StageRecord {
        name: st.name.clone(),
        hash,
        datasets: st.datasets.clone(),
        prior: prior_text,
        walkers: outcome.draws_per_row,
        steps,
        burn,
        seed: res.seed,
        moves: res.settings.moves_text(),
        flow_seconds,
        sample_seconds: outcome.wall_seconds,
        evaluations: outcome.evaluations,
        acceptance: acc,
        mean: if c_def { (0..d).map(|j| weighted_moments(flat.column(j), kept_w.as_deref()).0).collect() } else { diag.mean.clone() },
        sd: if c_def { (0..d).map(|j| weighted_moments(flat.column(j), kept_w.as_deref()).1).collect() } else { diag.sd.clone() },
        tau: diag.tau.clone(),
        ess: diag.ess.clone(),
        rhat: diag.rhat.clone(),
        stranded_walkers: diag.stranded.walkers.len(),
        mode_loss,
        log_z: outcome.log_z.map(|z| z.0),
        log_z_err: outcome.log_z.map(|z| z.1),
        flow_checks,
        warnings,
    };
    inp.say.say(format!(
        "  {} x {} iterations in {:.1} s ({} evaluations), acceptance {:.2}, min ESS {:.0}, max R-hat {:.3}",
        outcome.draws_per_row,
        steps,
        outcome.wall_seconds,
        outcome.evaluations,
        acc,
        rec.ess.iter().copied().fold(f64::INFINITY, f64::min),
        rec.rhat.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    ));
    write_text(&record_path, &to_json(&rec)?)?;
    Ok(rec)
}

/// Mean and standard deviation of `x`, weighted by `w` when given.
fn weighted_moments(x: ndarray::ArrayView1<'_, f64>, w: Option<&[f64]>) -> (f64, f64) {
    let Some(w) = w else { return (x.mean().unwrap_or(f64::NAN), x.std(0.0)) };
    let total: f64 = w.iter().sum();
    let mean = x.iter().zip(w).map(|(v, w)| v * w).sum::<f64>() / total;
    let var = x.iter().zip(w).map(|(v, w)| w * (v - mean).powi(2)).sum::<f64>() / total;
    (mean, var.sqrt())
}

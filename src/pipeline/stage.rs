//! One stage: its resolved settings, and sampling `prior × Π likelihoods`
//! with the ensemble sampler into its chain, then its record.

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
use super::layout::{remove_if_present, to_json, write_text};
use crate::chain::{add_weights, ChainLayout, ChainWriter, Columns};
use crate::config::{Pipeline, SamplerTable, Stage};
use crate::diagnostics::{self, stranded_walkers, Diagnostics};
use crate::likelihood::IndependentProduct;
use crate::memory;
use crate::prior::{ChainFiles, PriorRegistry};
use crate::report::StageRecord;
use crate::sampler::ensemble::{parse_moves, Ensemble, EnsembleSettings};
use crate::sampler::run::{run_bytes, EnsembleRun};
use crate::sampler::Posterior;
use crate::{Error, Result};

/// A stage's settings with the pipeline's defaults merged.
pub(super) struct Resolved {
    /// The sampler table.
    pub sampler: SamplerTable,
    /// The prior table (default: uniform on the parameter box).
    pub prior: toml::Table,
    /// The sampler's seed.
    pub seed: u64,
}

/// A stage's seed: its `sampler.seed`, else one derived from the pipeline's
/// seed and the stage's name.
fn stage_seed(p: &Pipeline, st: &Stage, sampler: &SamplerTable) -> u64 {
    sampler.seed.unwrap_or_else(|| {
        let h = Sha256::digest(format!("{}:{}", p.seed, st.name).as_bytes());
        u64::from_le_bytes(h[..8].try_into().unwrap_or([0; 8]))
    })
}

/// Stage `st`'s settings with `[defaults]` merged.
pub(super) fn resolve_stage(p: &Pipeline, st: &Stage) -> Resolved {
    let sampler = st.sampler.or(&p.defaults.sampler);
    let mut prior = st.prior.clone().unwrap_or_else(|| {
        let mut t = toml::Table::new();
        t.insert("kind".into(), "uniform".into());
        t
    });
    seqcal_flow::table::merge_defaults(&mut prior, &p.defaults.flow);
    let seed = stage_seed(p, st, &sampler);
    Resolved { sampler, prior, seed }
}

/// The ensemble settings of a stage's sampler table (the only sampler kind so far).
pub(super) fn ensemble_settings(sm: &SamplerTable, dim: usize) -> Result<EnsembleSettings> {
    if let Some(k) = sm.kind.as_deref().filter(|k| *k != "ensemble") {
        return Err(Error::Usage(format!("unknown sampler {k:?}; samplers: ensemble")));
    }
    let settings = EnsembleSettings { walkers: sm.walkers.unwrap_or(64), moves: parse_moves(sm.moves.as_deref().unwrap_or("stretch"))? };
    settings.check(dim)?;
    Ok(settings)
}

/// Iterations and burn-in of a sampler table (default burn: a fifth);
/// refuses a burn-in that leaves nothing to summarize and a run too large
/// for memory.
pub(super) fn steps_and_burn(sm: &SamplerTable, walkers: usize, dim: usize) -> Result<(usize, usize)> {
    let steps = sm.steps.unwrap_or(5000);
    if steps == 0 {
        return Err(Error::Usage("steps = 0: a stage needs at least one iteration".into()));
    }
    let burn = sm.burn.unwrap_or(steps / 5);
    if burn >= steps {
        return Err(Error::Usage(format!(
            "burn = {burn} is not below steps = {steps}: burn-in drops the first iterations, the rest are the posterior; lower burn or raise steps"
        )));
    }
    memory::require(run_bytes(steps, walkers, dim), || format!("sampling {steps} iterations x {walkers} walkers x {dim} parameters"))?;
    Ok((steps, burn))
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
    let res = resolve_stage(p, &st);
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
    let trained = flows.train_tables(&mut prior_table, &ctx, &stage_dir, &|m| inp.say.say(m)).map_err(in_stage)?;
    let flow_seconds = t0.elapsed().as_secs_f64();
    let prior = registry.build(&prior_table, &ctx).map_err(in_stage)?;
    let mut parts: Vec<Box<dyn LogDensity>> = Vec::new();
    for d in &st.datasets {
        parts.push(Box::new(likelihoods.get(d)?));
    }
    let likelihood = IndependentProduct::new(parts)?;

    let sm = &res.sampler;
    let dim = inp.space.dim();
    let settings = ensemble_settings(sm, dim)?;
    let (steps, burn) = steps_and_burn(sm, settings.walkers, dim)?;
    let beta = sm.beta.unwrap_or(1.0);
    let prior_text = prior.describe();
    let mut rng = ChaCha8Rng::seed_from_u64(res.seed);
    rng.set_stream(u64::MAX);
    let x0 = prior.sample(&mut rng, settings.walkers);
    let posterior = Posterior::new(Some(prior), Box::new(likelihood), beta);
    let mut ens = Ensemble::new(x0, &posterior, &settings, res.seed)?;
    let mut attrs = BTreeMap::new();
    attrs.insert("sampler".to_string(), "ensemble".to_string());
    attrs.insert("pipeline".into(), p.name.clone());
    attrs.insert("stage".into(), st.name.clone());
    attrs.insert("datasets".into(), st.datasets.join(","));
    attrs.insert("moves".into(), settings.moves_spec());
    attrs.insert("seed".into(), res.seed.to_string());
    attrs.insert("burn".into(), burn.to_string());
    attrs.insert("prior".into(), prior_text.clone());
    attrs.insert("stage_hash".into(), hash.clone());
    let cols = Columns { log_prob: true, log_prior: true, log_likelihood: true, weights: false };
    let layout = ChainLayout::new(inp.space.names().to_vec(), settings.walkers).bounds(inp.space.bounds().to_vec()).columns(cols).attrs(attrs);
    let chain_path = inp.layout.chain(&st.name);
    let mut writer = ChainWriter::create(&chain_path, &layout, sm.checkpoint_every.unwrap_or(500).max(1) as usize)?;
    inp.say.say(format!("  sampling {} walkers x {steps} iterations", settings.walkers));
    let run = EnsembleRun {
        posterior: &posterior,
        transform: None,
        out_dim: dim,
        steps,
        progress: inp.say.0,
        accepted_before: None,
        done_before: 0,
        relocate_until: burn,
    };
    let outcome = run.run(&mut ens, Some(&mut writer));
    match &outcome {
        Ok(_) => writer.finish()?,
        Err(_) => drop(writer),
    }
    let outcome = outcome.map_err(|e| match e {
        Error::Interrupted(m) => Error::Interrupted(format!("stage {}: {m}; the next seqcal run samples the stage again from its start", st.name)),
        e => e,
    })?;
    let sf = StageFlow { inp, registry, index: i, written: &res.prior, built: &prior_table, trained: &trained, finished, seed: res.seed };
    let defensive = sf.defensive_weights(&outcome.draws, burn)?;
    if let Some((w, _)) = &defensive {
        add_weights(
            &chain_path,
            w.view(),
            "(1-epsilon) q / ((1-epsilon) q + epsilon base): the defensive mixture's draws weighted to the flow-prior posterior",
        )?;
    }
    let kept_w: Option<Vec<f64>> = defensive.as_ref().map(|(w, _)| w.slice(s![burn.., ..]).iter().copied().collect());
    let kept = outcome.draws.slice(s![burn.., .., ..]).to_owned();
    let diag = Diagnostics::compute(kept.view(), 4);
    let (n, d) = (kept.len_of(Axis(0)) * kept.len_of(Axis(1)), kept.len_of(Axis(2)));
    let flat = kept.into_shape_with_order((n, d))?;
    let epsilon = prior_table.get("epsilon").and_then(toml::Value::as_float);
    // A defensive mixture's weighted chain stands for the flow-prior posterior: the check looks at that.
    let posterior = kept_w.as_deref().map(|w| resample(&flat, w));
    let mut mode_loss = trained.first().map(|(label, flow)| {
        diagnostics::mode_loss(flow, label, inp.space.names(), posterior.as_ref().unwrap_or(&flat), res.seed, epsilon.filter(|_| posterior.is_none()))
    });
    let mut flow_checks = if trained.is_empty() { None } else { Some(sf.checks(likelihoods)?) };
    if let Some(c) = flow_checks.as_mut() {
        c.defensive = defensive.map(|(_, d)| d);
        if let Some(m) = mode_loss.as_mut() {
            m.classify(c.lost_mode.as_ref().map(|l| l.lost));
        }
    }
    let stranded = stranded_walkers(outcome.log_prob.slice(s![burn.., ..]), dim);
    let mut warnings = diagnostics::warnings(
        &diag,
        &stranded,
        settings.walkers,
        outcome.failed_evaluations,
        outcome.evaluations,
        "the sampler moves stranded walkers onto others during burn-in: a longer burn (sampler.burn) gives it more chances",
    );
    warnings.extend(mode_loss.as_ref().and_then(|m| m.warning.clone()));
    if let Some(c) = &flow_checks {
        warnings.extend(c.flow_fit.as_ref().and_then(|f| f.warning.clone()));
        warnings.extend(c.lost_mode.as_ref().and_then(|l| l.warning.clone()));
    }
    for w in &warnings {
        eprintln!("WARNING stage {}: {w}", st.name);
    }
    let acc = outcome.accepted.mean().unwrap_or(f64::NAN) / steps.max(1) as f64;
    let rec = StageRecord {
        name: st.name.clone(),
        hash,
        datasets: st.datasets.clone(),
        prior: prior_text,
        walkers: settings.walkers,
        steps,
        burn,
        seed: res.seed,
        moves: settings.moves_spec(),
        flow_seconds,
        sample_seconds: outcome.wall_seconds,
        evaluations: outcome.evaluations,
        acceptance: acc,
        mean: (0..d).map(|j| weighted_moments(flat.column(j), kept_w.as_deref()).0).collect(),
        sd: (0..d).map(|j| weighted_moments(flat.column(j), kept_w.as_deref()).1).collect(),
        tau: diag.autocorr.tau.clone(),
        ess: diag.ess.clone(),
        rhat: diag.rhat.clone(),
        stranded_walkers: stranded.walkers.len(),
        mode_loss,
        flow_checks,
        warnings,
    };
    inp.say.say(format!(
        "  {} x {} iterations in {:.1} s ({} evaluations), acceptance {:.2}, min ESS {:.0}, max R-hat {:.3}",
        settings.walkers,
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

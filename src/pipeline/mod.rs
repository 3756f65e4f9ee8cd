//! The staged-calibration runner (`seqcal run pipeline.toml`).
//!
//! For a [checked](crate::config::CheckedPipeline) pipeline it
//!
//! 1. trains one emulator per data set in use (PCA + GP, [`seqcal_emulators`])
//!    and builds that data set's [`GaussianLikelihood`];
//! 2. runs the stages in dependency order: a stage's prior table is built by
//!    the prior registry, except that every `flow` table with `from = "<stage>"`
//!    or `chain = "file.h5"` is first trained here (on the chain after its
//!    burn-in) and saved next to the stage's chain, so the report holds it;
//!    the posterior `prior × Π likelihoods` is sampled with the ensemble sampler;
//! 3. after a stage with a flow prior, runs the **mode-loss check**;
//! 4. writes the report: `compare.json` for every `[[compare]]` pair, corner
//!    plots, and `summary.md`.
//!
//! # Layout
//!
//! ```text
//! runs/<name>/emulators/<dataset>.json     trained emulators
//! runs/<name>/<stage>/chain.h5             the stage's chain (emcee layout)
//! runs/<name>/<stage>/flow_prior.safetensors (+ .json)   a flow prior it trained
//! runs/<name>/<stage>/stage.json           settings hash and summary, written last
//! runs/<name>/report/                      compare.json, summary.md, corner_*.png
//! ```
//!
//! # Caching
//!
//! Every emulator and stage carries a SHA-256 of everything it depends on:
//! the bytes of its input files, its settings (with the `[defaults]` merged),
//! its seed, the hashes of the stages its prior is trained on, and seqcal's
//! version. A stage whose `stage.json` holds the same hash is reused as it is,
//! so editing the last stage reruns only that stage; `--force` reruns. The
//! record is written after the chain is complete, so an interrupted stage is
//! never mistaken for a finished one.

pub mod example;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ndarray::{s, Array2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chain::{self, write_atomically, ChainLayout, ChainWriter, Columns};
use crate::config::{CheckedPipeline, Pipeline, SamplerTable, Stage};
use crate::diagnostics::Diagnostics;
use crate::likelihood::{DataSet, GaussianLikelihood, IndependentProduct};
use crate::prior::{ChainFiles, PriorRegistry};
use crate::report::{corner_plot, Comparison, CornerOptions, Samples};
use crate::sampler::ensemble::{parse_moves, Ensemble, EnsembleSettings};
use crate::sampler::run::EnsembleRun;
use crate::sampler::Posterior;
use crate::table::{file_of, read_table_as};
use crate::{Error, Result};
use seqcal_api::{LogDensity, ParamSpace, Prior, PriorFactory, StageContext};
use seqcal_emulators::{GpEmulator, TrainSettings as EmuSettings};
use seqcal_flow::{FlowPrior, FlowTrainer};

/// How to run a pipeline.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Folder holding `<name>/` (default `runs`).
    pub runs_dir: PathBuf,
    /// Run only this stage (the stages it depends on must be up to date).
    pub only: Option<String>,
    /// Rerun the selected stages even when their results are up to date.
    pub force: bool,
    /// Progress bars and per-stage lines on standard error.
    pub progress: bool,
}

/// Mode-loss check of a stage whose prior is (or contains) a flow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModeLoss {
    /// The quantile of the flow's own log density used as the threshold.
    pub quantile: f64,
    /// Fraction of the stage's posterior draws where the flow density is below it.
    pub fraction: f64,
    /// Fraction above which the check warns.
    pub warn_above: f64,
    /// Parameters whose posterior puts more than `warn_above` of its mass
    /// outside the flow's central 99% interval.
    pub parameters: Vec<String>,
    /// ε of the defensive mixture, when the stage's prior is one: its base
    /// component alone puts about ε·(its evidence ratio) of the posterior
    /// where the flow is small, so part of `fraction` is by design.
    #[serde(default)]
    pub defensive_epsilon: Option<f64>,
    /// The warning, when the check fails.
    pub warning: Option<String>,
}

/// What a stage did (its `stage.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRecord {
    /// Stage name.
    pub name: String,
    /// Hash of its inputs and settings.
    pub hash: String,
    /// Data sets used.
    pub datasets: Vec<String>,
    /// The prior, described.
    pub prior: String,
    /// Walkers, iterations, burn-in, seed.
    pub walkers: usize,
    /// Iterations stored.
    pub steps: usize,
    /// Leading iterations dropped from summaries, comparisons and flow training.
    pub burn: usize,
    /// Seed of the sampler.
    pub seed: u64,
    /// Moves.
    pub moves: String,
    /// Seconds spent training flow priors.
    pub flow_seconds: f64,
    /// Seconds of sampling.
    pub sample_seconds: f64,
    /// Likelihood evaluations.
    pub evaluations: u64,
    /// Mean acceptance fraction.
    pub acceptance: f64,
    /// Posterior mean per parameter (after burn-in).
    pub mean: Vec<f64>,
    /// Posterior sd per parameter.
    pub sd: Vec<f64>,
    /// Integrated autocorrelation time per parameter.
    pub tau: Vec<f64>,
    /// Effective sample size per parameter.
    pub ess: Vec<f64>,
    /// Split R-hat per parameter.
    pub rhat: Vec<f64>,
    /// Walkers stranded in a minor mode at the end.
    pub stranded_walkers: usize,
    /// The mode-loss check, for stages with a flow prior.
    pub mode_loss: Option<ModeLoss>,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// `runs/<name>`.
    pub dir: PathBuf,
    /// Every stage's record, in run order, with whether it was reused.
    pub stages: Vec<(StageRecord, bool)>,
    /// Every `[[compare]]` pair.
    pub comparisons: Vec<Comparison>,
}

fn sha(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    format!("{:x}", h.finalize())
}

fn file_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Usage(e.to_string()))
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomically(path, |tmp| std::fs::write(tmp, text).map_err(|e| Error::io(path, e)))
}

/// Emulator settings of a data set, its defaults resolved (the seed: the pipeline's).
fn emulator_settings(p: &Pipeline, dataset: &str) -> Result<EmuSettings> {
    p.datasets[dataset].emulator.check(p.seed).map_err(|e| Error::Usage(format!("data set {dataset:?}: emulator: {e}")))
}

/// A stage's seed: its `sampler.seed`, else one derived from the pipeline's
/// seed and the stage's name.
fn stage_seed(p: &Pipeline, st: &Stage, sampler: &SamplerTable) -> u64 {
    sampler.seed.unwrap_or_else(|| {
        let h = Sha256::digest(format!("{}:{}", p.seed, st.name).as_bytes());
        u64::from_le_bytes(h[..8].try_into().unwrap_or([0; 8]))
    })
}

/// Calls `f` on every prior table in `t` (a table with a `kind` key, `t`
/// itself included), parents before the tables nested in them (`base`,
/// `blocks`, a mixture's components).
fn for_each_prior(t: &mut toml::Table, f: &mut impl FnMut(&mut toml::Table) -> Result<()>) -> Result<()> {
    if t.contains_key("kind") {
        f(t)?;
    }
    for (_, v) in t.iter_mut() {
        match v {
            toml::Value::Table(inner) => for_each_prior(inner, f)?,
            toml::Value::Array(items) => {
                for i in items.iter_mut().filter_map(|i| i.as_table_mut()) {
                    for_each_prior(i, f)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks what [`CheckedPipeline`] cannot see without seqcal's plugins, before
/// anything runs: every prior kind is registered, every flow table's training
/// settings parse, every sampler and emulator table is valid. A mistake in the
/// last stage is thus reported at once, not after the first stages have run.
fn preflight(cp: &CheckedPipeline, source: &Path, registry: &PriorRegistry) -> Result<()> {
    let p = &cp.pipeline;
    for name in p.datasets.keys() {
        emulator_settings(p, name)?;
    }
    let known = registry.kinds();
    for st in &p.stages {
        let res = resolve_stage(p, st);
        let in_stage = |m: String| Error::config(source, format!("stage {:?}: {m}", st.name));
        let mut prior = res.prior;
        for_each_prior(&mut prior, &mut |t| {
            let kind = t.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
            if !known.iter().any(|k| k == kind) {
                return Err(in_stage(format!("unknown prior kind {kind:?}; known kinds: {}", known.join(", "))));
            }
            registry.check(t).map_err(|e| in_stage(format!("prior: {e}")))
        })?;
        ensemble_settings(&res.sampler, p.parameters.names.len()).map_err(|e| in_stage(e.to_string()))?;
    }
    Ok(())
}

/// The ensemble settings of a stage's sampler table (the only sampler kind so far).
fn ensemble_settings(sm: &SamplerTable, dim: usize) -> Result<EnsembleSettings> {
    if let Some(k) = sm.kind.as_deref().filter(|k| *k != "ensemble") {
        return Err(Error::Usage(format!("unknown sampler {k:?}; samplers: ensemble")));
    }
    let settings = EnsembleSettings { walkers: sm.walkers.unwrap_or(64), moves: parse_moves(sm.moves.as_deref().unwrap_or("stretch"))? };
    settings.check(dim)?;
    Ok(settings)
}

struct Resolved {
    sampler: SamplerTable,
    prior: toml::Table,
    seed: u64,
}

fn resolve_stage(p: &Pipeline, st: &Stage) -> Resolved {
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

/// The runner's state for one pipeline.
struct Runner<'a> {
    cp: &'a CheckedPipeline,
    source: &'a Path,
    opts: &'a RunOptions,
    dir: PathBuf,
    space: ParamSpace,
    registry: PriorRegistry,
    dataset_hash: BTreeMap<String, String>,
    likelihoods: BTreeMap<String, GaussianLikelihood>,
    stage_hash: BTreeMap<String, String>,
    records: BTreeMap<String, StageRecord>,
    /// Flows trained in this run: two stages whose priors train the same flow
    /// on the same draws (B → A with and without a defensive mixture) share one
    /// training.
    flows: FlowTrainer,
}

/// Runs a checked pipeline; `source` names the pipeline file in messages.
///
/// # Errors
/// Unreadable inputs, a failed emulator or flow training, a sampler error,
/// a failed write; `--only` with a dependency that has no up-to-date result.
pub fn run(cp: &CheckedPipeline, source: &Path, opts: &RunOptions) -> Result<RunReport> {
    let p = &cp.pipeline;
    let bounds: Vec<(f64, f64)> = p.parameters.bounds.iter().map(|b| (b[0], b[1])).collect();
    let space = ParamSpace::new(p.parameters.names.clone(), bounds).map_err(|e| Error::config(source, e.to_string()))?;
    if let Some(only) = &opts.only {
        if !p.stages.iter().any(|s| &s.name == only) {
            let names: Vec<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::Usage(format!("--only {only:?}: no such stage; stages: {}", names.join(", "))));
        }
    }
    let registry = PriorRegistry::builtin();
    preflight(cp, source, &registry)?;
    let dir = opts.runs_dir.join(&p.name);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut r = Runner {
        cp,
        source,
        opts,
        dir,
        space,
        registry,
        dataset_hash: BTreeMap::new(),
        likelihoods: BTreeMap::new(),
        stage_hash: BTreeMap::new(),
        records: BTreeMap::new(),
        flows: FlowTrainer::new(!opts.progress),
    };
    for (name, _) in &p.datasets {
        r.hash_dataset(name)?;
    }
    let mut stages = Vec::new();
    let total = cp.order.len();
    for (k, &i) in cp.order.iter().enumerate() {
        let st = &p.stages[i];
        let hash = r.hash_stage(i)?;
        r.stage_hash.insert(st.name.clone(), hash.clone());
        let selected = opts.only.as_ref().is_none_or(|o| o == &st.name);
        let cached = r.cached(&st.name, &hash);
        let rec = match (cached, selected) {
            (Some(rec), true) if !opts.force => {
                r.say(format!("[{}/{total}] stage {}: inputs and settings unchanged, reusing {}", k + 1, st.name, r.dir.join(&st.name).display()));
                Some((rec, true))
            }
            (_, true) => {
                r.say(format!("[{}/{total}] stage {}: data sets {}", k + 1, st.name, st.datasets.join(" + ")));
                Some((r.run_stage(i, hash)?, false))
            }
            (Some(rec), false) => Some((rec, true)),
            (None, false) => None,
        };
        if let Some((rec, reused)) = rec {
            r.records.insert(st.name.clone(), rec.clone());
            stages.push((rec, reused));
        }
    }
    let comparisons = r.report(&stages)?;
    Ok(RunReport { dir: r.dir, stages, comparisons })
}

impl Runner<'_> {
    fn say(&self, m: String) {
        if self.opts.progress {
            eprintln!("{m}");
        }
    }

    fn pipeline(&self) -> &Pipeline {
        &self.cp.pipeline
    }

    fn hash_dataset(&mut self, name: &str) -> Result<()> {
        let p = self.pipeline();
        let d = &p.datasets[name];
        let mut parts: Vec<Vec<u8>> = vec![env!("CARGO_PKG_VERSION").into(), name.into(), toml::to_string(&p.parameters).unwrap_or_default().into(), serde_json::to_vec(&emulator_settings(p, name)?).unwrap_or_default()];
        for f in [Some(&d.data), d.covariance.as_ref(), Some(&d.design), Some(&d.outputs)].into_iter().flatten() {
            parts.push(f.to_string_lossy().as_bytes().to_vec());
            parts.push(file_bytes(&file_of(&p.resolve(f)))?);
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let h = sha(&refs);
        self.dataset_hash.insert(name.to_string(), h);
        Ok(())
    }

    fn hash_stage(&self, i: usize) -> Result<String> {
        let p = self.pipeline();
        let st = &p.stages[i];
        let res = resolve_stage(p, st);
        let mut parts: Vec<Vec<u8>> = vec![
            env!("CARGO_PKG_VERSION").into(),
            st.name.clone().into(),
            toml::to_string(&p.parameters).unwrap_or_default().into(),
            res.prior.to_string().into(),
            toml::to_string(&res.sampler).unwrap_or_default().into(),
            res.seed.to_le_bytes().to_vec(),
        ];
        for d in &st.datasets {
            parts.push(self.dataset_hash[d].clone().into());
        }
        for dep in &self.cp.depends_on[i] {
            parts.push(self.stage_hash.get(dep).cloned().unwrap_or_default().into());
        }
        let mut prior = res.prior.clone();
        let mut files = Vec::new();
        let _ = for_each_prior(&mut prior, &mut |t| {
            files.extend(self.registry.input_files(t).iter().map(|f| p.resolve(Path::new(f))));
            Ok(())
        });
        for f in files {
            parts.push(file_bytes(&f)?);
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        Ok(sha(&refs))
    }

    /// The stage's record when its results are complete and match `hash`.
    fn cached(&self, stage: &str, hash: &str) -> Option<StageRecord> {
        let d = self.dir.join(stage);
        let rec: StageRecord = serde_json::from_str(&std::fs::read_to_string(d.join("stage.json")).ok()?).ok()?;
        (rec.hash == hash && d.join("chain.h5").is_file()).then_some(rec)
    }

    /// Trains (or loads, when up to date) the emulator of data set `name` and builds its likelihood.
    fn likelihood(&mut self, name: &str) -> Result<GaussianLikelihood> {
        if let Some(l) = self.likelihoods.get(name) {
            return Ok(l.clone());
        }
        let cp = self.cp;
        let p = &cp.pipeline;
        let d = &p.datasets[name];
        let hash = self.dataset_hash[name].clone();
        let emu_dir = self.dir.join("emulators");
        std::fs::create_dir_all(&emu_dir).map_err(|e| Error::io(&emu_dir, e))?;
        let (emu_path, hash_path) = (emu_dir.join(format!("{name}.json")), emu_dir.join(format!("{name}.sha256")));
        let cached = std::fs::read_to_string(&hash_path).ok().filter(|h| h.trim() == hash && emu_path.is_file());
        let emu = match cached {
            Some(_) if !self.opts.force => {
                let text = std::fs::read_to_string(&emu_path).map_err(|e| Error::io(&emu_path, e))?;
                GpEmulator::from_json(&text).map_err(|e| Error::Usage(format!("{}: {e}", emu_path.display())))?
            }
            _ => {
                let (design_path, outputs_path) = (p.resolve(&d.design), p.resolve(&d.outputs));
                // Design columns by name, in the order of [parameters].
                let design = read_table_as(&design_path, &["design"])?.select(&p.parameters.names, "the pipeline's parameters")?;
                let outputs = read_table_as(&outputs_path, &["outputs"])?;
                if design.nrows() != outputs.data.nrows() {
                    return Err(Error::config(
                        self.source,
                        format!("data set {name:?}: the design has {} runs but the outputs have {}", design.nrows(), outputs.data.nrows()),
                    ));
                }
                let settings = emulator_settings(p, name)?;
                let t = Instant::now();
                let emu = GpEmulator::train(design.view(), outputs.data.view(), self.space.bounds(), &settings)
                    .map_err(|e| Error::Usage(format!("data set {name:?}: training the emulator on {}: {e}", outputs_path.display())))?
                    .with_names(p.parameters.names.clone(), outputs.header);
                self.say(format!(
                    "  emulator {name}: {} runs, {} outputs, {} components ({:.3} of the variance), trained in {:.1} s",
                    design.nrows(),
                    outputs.data.ncols(),
                    emu.n_components(),
                    emu.explained_variance(),
                    t.elapsed().as_secs_f64()
                ));
                write_text(&emu_path, &emu.to_json().map_err(|e| Error::Usage(e.to_string()))?)?;
                write_text(&hash_path, &hash)?;
                emu
            }
        };
        let lik = self.dataset_likelihood(name, Arc::new(emu))?;
        self.likelihoods.insert(name.to_string(), lik.clone());
        Ok(lik)
    }

    fn dataset_likelihood(&self, name: &str, emu: Arc<GpEmulator>) -> Result<GaussianLikelihood> {
        let p = self.pipeline();
        let d = &p.datasets[name];
        let data_path = p.resolve(&d.data);
        let data = read_table_as(&data_path, &["data"])?;
        let col = |c: &str| data.header.iter().position(|h| h == c);
        let value = col("value").ok_or_else(|| Error::config(&data_path, "needs a column named `value` (and `error`, unless the data set gives a covariance file)"))?;
        let values: Vec<f64> = data.data.column(value).to_vec();
        let m = values.len();
        let outputs = seqcal_api::Emulator::output_dim(emu.as_ref());
        if m != outputs {
            return Err(Error::config(&data_path, format!("holds {m} observables but the model outputs of data set {name:?} have {outputs} columns")));
        }
        let set = match &d.covariance {
            Some(c) => {
                let cp = p.resolve(c);
                let t = read_table_as(&cp, &["covariance"])?;
                if t.data.dim() != (m, m) {
                    return Err(Error::config(&cp, format!("the covariance must be {m} x {m} (one row and column per observable), found {} x {}", t.data.nrows(), t.data.ncols())));
                }
                let cov = nalgebra::DMatrix::from_fn(m, m, |i, j| t.data[[i, j]]);
                DataSet::with_cov(name, (0..m).collect(), values, cov)
            }
            None => {
                let err = col("error").ok_or_else(|| Error::config(&data_path, "needs a column named `error` (or give the data set a covariance file)"))?;
                DataSet::with_errors(name, (0..m).collect(), values, data.data.column(err).as_slice().unwrap_or(&data.data.column(err).to_vec()))
            }
        }
        .map_err(|e| Error::config(&data_path, e.to_string()))?;
        GaussianLikelihood::new(emu, vec![set])
    }

    fn run_stage(&mut self, i: usize, hash: String) -> Result<StageRecord> {
        let cp = self.cp;
        let p = &cp.pipeline;
        let st = p.stages[i].clone();
        let res = resolve_stage(p, &st);
        let stage_dir = self.dir.join(&st.name);
        std::fs::create_dir_all(&stage_dir).map_err(|e| Error::io(&stage_dir, e))?;
        // The record marks a finished stage: it goes first and comes back last.
        let record_path = stage_dir.join("stage.json");
        if record_path.exists() {
            std::fs::remove_file(&record_path).map_err(|e| Error::io(&record_path, e))?;
        }
        let mut prior_table = res.prior.clone();
        let mut chains = ChainFiles::new();
        for (name, rec) in &self.records {
            chains.add_stage(name.clone(), self.dir.join(name).join("chain.h5"), rec.burn);
        }
        let ctx = StageContext { space: Some(&self.space), base_dir: &p.base_dir, chains: &chains, factory: &self.registry };
        let in_stage = |e: seqcal_api::PriorError| Error::config(self.source, format!("stage {:?}: prior: {e}", st.name));
        // Flow tables that train on a chain are trained (or reused) and saved next
        // to the stage's chain first, so that the report holds them.
        let t0 = Instant::now();
        let flows = self.flows.train_tables(&mut prior_table, &ctx, &stage_dir, &|m| self.say(m)).map_err(in_stage)?;
        let flow_seconds = t0.elapsed().as_secs_f64();
        let prior = self.registry.build(&prior_table, &ctx).map_err(in_stage)?;
        let mut parts: Vec<Box<dyn LogDensity>> = Vec::new();
        for d in &st.datasets {
            parts.push(Box::new(self.likelihood(d)?));
        }
        let likelihood = IndependentProduct::new(parts)?;

        let sm = &res.sampler;
        let settings = ensemble_settings(sm, self.space.dim())?;
        let steps = sm.steps.unwrap_or(5000);
        let burn = sm.burn.unwrap_or(steps / 5).min(steps.saturating_sub(2));
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
        let layout = ChainLayout::new(self.space.names().to_vec(), settings.walkers).bounds(self.space.bounds().to_vec()).columns(cols).attrs(attrs);
        let chain_path = stage_dir.join("chain.h5");
        let mut writer = ChainWriter::create(&chain_path, &layout, sm.checkpoint_every.unwrap_or(500).max(1) as usize)?;
        let run = EnsembleRun {
            posterior: &posterior,
            transform: None,
            out_dim: self.space.dim(),
            steps,
            progress: self.opts.progress,
            accepted_before: None,
            done_before: 0,
            relocate_until: burn,
        };
        let outcome = run.run(&mut ens, Some(&mut writer));
        match &outcome {
            Ok(_) => writer.finish()?,
            Err(_) => drop(writer),
        }
        let outcome = outcome?;
        let kept = outcome.draws.slice(s![burn.., .., ..]).to_owned();
        let diag = Diagnostics::compute(kept.view(), 4);
        let (n, d) = (kept.len_of(Axis(0)) * kept.len_of(Axis(1)), kept.len_of(Axis(2)));
        let flat = kept.into_shape_with_order((n, d)).map_err(|e| Error::Usage(e.to_string()))?;
        let epsilon = prior_table.get("epsilon").and_then(toml::Value::as_float);
        let mode_loss = self.mode_loss(&flows, &flat, res.seed, epsilon);
        if let Some(w) = mode_loss.as_ref().and_then(|m| m.warning.as_ref()) {
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
            mean: (0..d).map(|j| flat.column(j).mean().unwrap_or(f64::NAN)).collect(),
            sd: (0..d).map(|j| flat.column(j).std(0.0)).collect(),
            tau: diag.autocorr.tau.clone(),
            ess: diag.ess.clone(),
            rhat: diag.rhat.clone(),
            stranded_walkers: outcome.stranded,
            mode_loss,
        };
        self.say(format!(
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

    /// The mode-loss check: the fraction of the posterior draws where a flow
    /// prior's density is below its own 1% quantile (about 1% or less when the
    /// posterior lies where the prior has mass; much more when the data favour
    /// a region the earlier stage missed).
    fn mode_loss(&self, flows: &[(String, FlowPrior)], post: &Array2<f64>, seed: u64, defensive_epsilon: Option<f64>) -> Option<ModeLoss> {
        const Q: f64 = 0.01;
        const WARN: f64 = 0.05;
        let (label, flow) = flows.first()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6d6f_6465);
        let own = flow.sample(&mut rng, 20_000);
        let mut lp_own = vec![0.0; own.nrows()];
        flow.log_prob_batch(own.view(), &mut lp_own);
        lp_own.sort_by(f64::total_cmp);
        let threshold = lp_own[(Q * lp_own.len() as f64) as usize];
        let mut lp_post = vec![0.0; post.nrows()];
        flow.log_prob_batch(post.view(), &mut lp_post);
        let fraction = lp_post.iter().filter(|&&v| !(v >= threshold)).count() as f64 / post.nrows().max(1) as f64;
        let mut parameters = Vec::new();
        for (j, name) in self.space.names().iter().enumerate() {
            let mut col = own.column(j).to_vec();
            col.sort_by(f64::total_cmp);
            let (lo, hi) = (col[(0.005 * col.len() as f64) as usize], col[((0.995 * col.len() as f64) as usize).min(col.len() - 1)]);
            let out = post.column(j).iter().filter(|&&v| v < lo || v > hi).count() as f64 / post.nrows().max(1) as f64;
            if out > WARN {
                parameters.push(format!("{name} ({:.0}% outside the prior's central 99%)", 100.0 * out));
            }
        }
        let warning = (fraction > WARN).then(|| {
            format!(
                "{:.1}% of the posterior lies where the flow prior from {label} is below its own 1% density quantile: the earlier stage may have missed a mode the data favour{}",
                100.0 * fraction,
                if parameters.is_empty() { String::new() } else { format!("; parameters: {}", parameters.join(", ")) }
            ) + &defensive_epsilon.map_or(String::new(), |e| {
                format!(
                    " (the prior is a defensive mixture with ε = {e}: its base component carries posterior mass where the flow is small, most visibly in parameters the new data do not constrain; compare with the same stage without the mixture)"
                )
            })
        });
        Some(ModeLoss { quantile: Q, fraction, warn_above: WARN, parameters, defensive_epsilon, warning })
    }

    /// Draws of a finished stage after its burn-in.
    fn stage_draws(&self, stage: &str) -> Result<Array2<f64>> {
        let rec = &self.records[stage];
        Ok(chain::read_hdf5(&self.dir.join(stage).join("chain.h5"))?.discard(rec.burn).flat())
    }

    /// `report/`: compare.json, corner plots, summary.md. Each stage's chain
    /// is read once; comparisons use every draw, plots at most 200 000.
    fn report(&self, stages: &[(StageRecord, bool)]) -> Result<Vec<Comparison>> {
        let p = self.pipeline();
        let rdir = self.dir.join("report");
        std::fs::create_dir_all(&rdir).map_err(|e| Error::io(&rdir, e))?;
        let names = self.space.names().to_vec();
        let draws: BTreeMap<&str, Array2<f64>> = stages.iter().map(|(r, _)| Ok((r.name.as_str(), self.stage_draws(&r.name)?))).collect::<Result<_>>()?;
        let mut opts = CornerOptions::default();
        // True values, where the pipeline's folder has them (as the shipped example does).
        let truth = p.base_dir.join("truth.csv");
        if truth.is_file() {
            opts.truths = crate::report::read_truths(&truth, &names, &names)?;
        }
        let samples = |stage: &str| -> Samples {
            let x = &draws[stage];
            let thin = x.nrows().div_ceil(200_000).max(1);
            Samples { label: stage.to_string(), draws: x.slice(s![..;thin, ..]).iter().copied().collect(), weights: None }
        };
        let mut comparisons = Vec::new();
        for c in &p.compare {
            let (Some(xa), Some(xb)) = (draws.get(c.a.as_str()), draws.get(c.b.as_str())) else {
                continue;
            };
            let cmp = Comparison::compute(&c.a, xa.view(), &c.b, xb.view(), &names);
            self.say(format!("compare {} vs {}: {}", c.a, c.b, cmp.verdict));
            let fig = rdir.join(format!("corner_{}_vs_{}.png", c.a, c.b));
            corner_plot(&[samples(&c.a), samples(&c.b)], &names, self.space.bounds(), &fig, &opts)?;
            comparisons.push(cmp);
        }
        write_text(&rdir.join("compare.json"), &to_json(&comparisons)?)?;
        let all: Vec<Samples> = stages.iter().map(|(r, _)| samples(&r.name)).collect();
        if !all.is_empty() {
            corner_plot(&all, &names, self.space.bounds(), &rdir.join("corner_stages.png"), &opts)?;
        }
        write_text(&rdir.join("summary.md"), &self.summary_md(stages, &comparisons))?;
        Ok(comparisons)
    }

    fn summary_md(&self, stages: &[(StageRecord, bool)], comparisons: &[Comparison]) -> String {
        use std::fmt::Write as _;
        let p = self.pipeline();
        let names = self.space.names();
        let mut s = format!("# {}: staged calibration report\n\nWritten by seqcal {} from {}.\n\n## Stages\n\n", p.name, env!("CARGO_PKG_VERSION"), self.source.display());
        let _ = writeln!(s, "| stage | data sets | prior | iterations (burn) x walkers | sampling s | flow s | acceptance | min ESS | max R-hat | mode loss |");
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
        for (r, reused) in stages {
            let ml = r.mode_loss.as_ref().map_or("-".to_string(), |m| format!("{:.2}%{}", 100.0 * m.fraction, if m.warning.is_some() { " WARNING" } else { "" }));
            let _ = writeln!(
                s,
                "| {}{} | {} | {} | {} ({}) x {} | {:.1} | {:.1} | {:.2} | {:.0} | {:.3} | {} |",
                r.name,
                if *reused { " (reused)" } else { "" },
                r.datasets.join(" + "),
                r.prior.replace('|', "/"),
                r.steps,
                r.burn,
                r.walkers,
                r.sample_seconds,
                r.flow_seconds,
                r.acceptance,
                r.ess.iter().copied().fold(f64::INFINITY, f64::min),
                r.rhat.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                ml
            );
        }
        let _ = writeln!(s, "\n## Posterior mean ± sd\n\n| stage | {} |\n|---|{}", names.join(" | "), "---|".repeat(names.len()));
        for (r, _) in stages {
            let cells: Vec<String> = r.mean.iter().zip(&r.sd).map(|(m, sd)| format!("{m:.4} ± {sd:.4}")).collect();
            let _ = writeln!(s, "| {} | {} |", r.name, cells.join(" | "));
        }
        for (r, _) in stages {
            if let Some(w) = r.mode_loss.as_ref().and_then(|m| m.warning.as_ref()) {
                let _ = writeln!(s, "\n**Mode-loss warning, stage {}:** {w}", r.name);
            }
        }
        if !comparisons.is_empty() {
            let _ = writeln!(s, "\n## Comparisons (reference = b)\n\n| a | b | avg 1-D KL | avg 2-D KL | cov. Frobenius rel. | largest \\|Δmean\\|/sd | verdict |\n|---|---|---|---|---|---|---|");
            for c in comparisons {
                let worst = c.params.iter().map(|p| p.mean_diff_in_sd.abs()).fold(0.0, f64::max);
                let _ = writeln!(s, "| {} | {} | {:.4} | {:.4} | {:.3} | {:.2} | {} |", c.a, c.b, c.mean_kl_1d(), c.mean_kl_2d(), c.cov_frobenius_rel, worst, c.verdict.split(':').next().unwrap_or(""));
            }
            let _ = writeln!(s, "\nKL: histogram estimate, 50 bins per parameter and 20 x 20 per pair, averaged over both directions (see `seqcal compare`).");
        }
        let _ = writeln!(s, "\n## Figures\n\n- `corner_stages.png`: every stage overlaid");
        for c in comparisons {
            let _ = writeln!(s, "- `corner_{}_vs_{}.png`", c.a, c.b);
        }
        s
    }
}

//! The staged-calibration runner (`seqcal run pipeline.toml`).
//!
//! For a [checked](crate::config::CheckedPipeline) pipeline it
//!
//! 1. trains one emulator per data set in use (PCA + GP, [`seqcal_emulators`])
//!    and builds that data set's [`GaussianLikelihood`];
//! 2. runs the stages in dependency order: a stage's prior table is built by
//!    the prior registry the caller passes (so a program may add its own
//!    kinds), except that every `flow` table with `from = "<stage>"` or
//!    `chain = "file.h5"` is first trained here (on the chain after its
//!    burn-in) and saved next to the stage's chain, so the report holds it;
//!    the posterior `prior × Π likelihoods` is sampled with the ensemble sampler;
//! 3. after a stage with a flow prior, runs the **mode-loss check**
//!    ([`crate::diagnostics::mode_loss`]);
//! 4. writes the report: `compare.json` for every `[[compare]]` pair, corner
//!    plots, and `summary.md` ([`crate::report::summary_md`]).
//!
//! The folder layout is in `layout.rs`; one run at a time holds a folder
//! (a second is refused, naming the first), and the report of an earlier run
//! is removed before anything reruns, so a run that stops halfway never
//! leaves an old report beside new chains.
//!
//! # Caching
//!
//! Every emulator and stage carries a SHA-256 of everything that changes its
//! result (`cache.rs` lists it): the bytes of its input files, its settings
//! (with the `[defaults]` merged), its seed, the hashes of the stages its
//! prior is trained on, and seqcal's version. A stage whose `stage.json`
//! holds the same hash is reused as it is, so editing the last stage reruns
//! only that stage; `--force` reruns. The record is written after the chain
//! is complete, so an interrupted stage is never mistaken for a finished one.
//!
//! # Files
//!
//! `cache.rs` (hashes), `datasets.rs` (emulators and likelihoods),
//! `priors.rs` (prior tables and flow training), `stage.rs` (one stage),
//! `layout.rs` (the runs folder); this file runs them in order.

pub mod example;
pub mod example_lost;

mod cache;
mod context;
mod datasets;
mod flow_checks;
mod flow_source;
mod layout;
mod priors;
mod stage;
mod two_stage_stage;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ndarray::{s, Array2};
use seqcal_api::ParamSpace;

use self::context::RunContext;
use self::datasets::{emulator_settings, Likelihoods};
use self::layout::{to_json, write_text, Layout, Say};
use self::priors::check_prior;
use self::stage::{resolve_stage, run_stage};
use self::two_stage_stage::run_two_stage_stage;
use crate::chain;
use crate::config::{CheckedPipeline, StageKind};
use crate::diagnostics::WeightedDraws;
use crate::prior::PriorRegistry;
use crate::report::{corner_plot, summary_md, Comparison, CornerOptions, Evidence, Metric, Samples, Side};
use crate::sampler::check_problem;
use crate::{Error, Result};

pub use crate::diagnostics::ModeLoss;
pub use crate::report::StageRecord;

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

/// Checks what [`CheckedPipeline`] cannot see without seqcal's plugins, before
/// anything runs: every prior kind is registered, every flow table's training
/// settings parse, every sampler and emulator table is valid, every burn-in
/// leaves iterations and every run fits in memory. A mistake in the last
/// stage is thus reported at once, not after the first stages have run.
fn preflight(cp: &CheckedPipeline, source: &Path, registry: &PriorRegistry, dim: usize) -> Result<()> {
    let p = &cp.pipeline;
    for name in p.datasets.keys() {
        emulator_settings(p, name)?;
    }
    for st in p.stages.iter().filter(|s| s.kind == StageKind::Sample) {
        let in_stage = |m: String| Error::config(source, format!("stage {:?}: {m}", st.name));
        let res = resolve_stage(p, st).map_err(|e| in_stage(format!("sampler: {}", crate::config::usage_text(e))))?;
        check_prior(&res.prior, registry, &in_stage)?;
        check_problem(&res.settings, dim).map_err(|e| in_stage(format!("sampler: {}", crate::config::usage_text(e))))?;
    }
    Ok(())
}

/// Runs a checked pipeline; `source` names the pipeline file in messages,
/// `registry` builds the stages' priors (seqcal's built-in kinds and any a
/// program adds, see [`PriorRegistry::register`]).
///
/// # Errors
/// Unreadable inputs, a failed emulator or flow training, a sampler error,
/// a failed write; `--only` with a dependency that has no up-to-date result;
/// another run holding the same folder.
pub fn run(cp: &CheckedPipeline, source: &Path, opts: &RunOptions, registry: &PriorRegistry) -> Result<RunReport> {
    let p = &cp.pipeline;
    let bounds: Vec<(f64, f64)> = p.parameters.bounds.iter().map(|b| (b[0], b[1])).collect();
    let space = ParamSpace::new(p.parameters.names.clone(), bounds).map_err(|e| Error::config(source, e.to_string()))?;
    if let Some(only) = &opts.only {
        if !p.stages.iter().any(|s| &s.name == only) {
            let names: Vec<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::Usage(format!("--only {only:?}: no such stage; stages: {}", names.join(", "))));
        }
    }
    preflight(cp, source, registry, space.dim())?;
    let layout = Layout::new(&opts.runs_dir, &p.name);
    let _lock = layout.lock()?;
    let say = Say(opts.progress);
    let mut emulator_hash = BTreeMap::new();
    let mut dataset_hash = BTreeMap::new();
    for name in p.datasets.keys() {
        let e = cache::emulator_hash(p, name)?;
        dataset_hash.insert(name.clone(), cache::dataset_hash(p, name, &e)?);
        emulator_hash.insert(name.clone(), e);
    }
    let ctx = RunContext { pipeline: p, source, layout: &layout, space: &space, say };
    let mut likelihoods = Likelihoods { ctx, emulator_hash, force: opts.force, built: BTreeMap::new() };
    // Flows trained in this run: two stages whose priors train the same flow
    // on the same draws (B → A with and without a defensive mixture) share one training.
    let flows = seqcal_flow::FlowTrainer::new(!opts.progress);
    // The report is rewritten at the end; until then there is none.
    layout.clear_report()?;
    let mut stage_hash: BTreeMap<String, String> = BTreeMap::new();
    // Finished stages and their burn-in, for the flow priors trained on them.
    let mut finished: BTreeMap<String, usize> = BTreeMap::new();
    let mut stages = Vec::new();
    let total = cp.order.len();
    for (k, &i) in cp.order.iter().enumerate() {
        let st = &p.stages[i];
        let hash = cache::stage_hash(cp, registry, i, |d| dataset_hash[d].clone(), |s| stage_hash.get(s).cloned().unwrap_or_default())?;
        stage_hash.insert(st.name.clone(), hash.clone());
        let selected = opts.only.as_ref().is_none_or(|o| o == &st.name);
        let cached = cache::cached_record(&layout, &st.name, &hash);
        let rec = match (cached, selected) {
            (Some(rec), true) if !opts.force => {
                say.say(format!(
                    "[{}/{total}] stage {}: inputs and settings unchanged, reusing {}",
                    k + 1,
                    st.name,
                    layout.stage_dir(&st.name).display()
                ));
                Some((rec, true))
            }
            (_, true) if st.kind == StageKind::TwoStage => {
                say.say(format!("[{}/{total}] stage {}: two-stage flows", k + 1, st.name));
                let seed = resolve_stage(p, st)?.seed;
                Some((run_two_stage_stage(ctx, i, hash, seed, &finished)?, false))
            }
            (_, true) => {
                say.say(format!("[{}/{total}] stage {}: data sets {}", k + 1, st.name, st.datasets.join(" + ")));
                Some((run_stage(ctx, registry, i, hash, &mut likelihoods, &flows, &finished)?, false))
            }
            (Some(rec), false) => Some((rec, true)),
            (None, false) => None,
        };
        if let Some((rec, reused)) = rec {
            finished.insert(st.name.clone(), rec.burn);
            stages.push((rec, reused));
        }
    }
    say.say("writing the report");
    let comparisons = report(cp, source, &layout, &space, &stages, say)?;
    Ok(RunReport { dir: layout.dir().to_path_buf(), stages, comparisons })
}

/// The comparisons as `compare.json` holds them: each with an `evidence`
/// entry (both stages' log Z, the sequential checks and tensions that involve
/// them) when any stage has a log Z.
fn with_evidence(comparisons: &[Comparison], evidence: &Evidence) -> Result<Vec<serde_json::Value>> {
    comparisons
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c)?;
            if let (Some(o), false) = (v.as_object_mut(), evidence.is_empty()) {
                o.insert("evidence".into(), evidence.for_pair(&c.a, &c.b));
            }
            Ok(v)
        })
        .collect()
}

/// Draws of a finished stage after its burn-in, their importance weights (if
/// its chain is weighted) and its walkers.
struct StageDraws {
    x: Array2<f64>,
    w: Option<Vec<f64>>,
    walkers: usize,
}

impl StageDraws {
    fn side<'a>(&'a self, label: &'a str) -> Side<'a> {
        Side { label, draws: WeightedDraws::with_weights(self.x.view(), self.w.as_deref()), walkers: self.walkers }
    }
}

fn stage_draws(layout: &Layout, rec: &StageRecord) -> Result<StageDraws> {
    let c = chain::read_hdf5(&layout.chain(&rec.name))?.discard(rec.burn);
    Ok(StageDraws { x: c.flat(), w: c.weights.as_ref().map(|w| w.iter().copied().collect()), walkers: c.walkers() })
}

/// `report/`: compare.json, corner plots, summary.md. Each stage's chain
/// is read once; comparisons use every draw, plots at most 200 000.
fn report(
    cp: &CheckedPipeline,
    source: &Path,
    layout: &Layout,
    space: &ParamSpace,
    stages: &[(StageRecord, bool)],
    say: Say,
) -> Result<Vec<Comparison>> {
    let p = &cp.pipeline;
    let rdir = layout.report();
    std::fs::create_dir_all(&rdir).map_err(|e| Error::io(&rdir, e))?;
    let names = space.names().to_vec();
    let draws: BTreeMap<&str, StageDraws> = stages.iter().map(|(r, _)| Ok((r.name.as_str(), stage_draws(layout, r)?))).collect::<Result<_>>()?;
    let mut opts = CornerOptions::default();
    // True values, where the pipeline's folder has them (as the shipped example does).
    let truth = p.base_dir.join("truth.csv");
    if truth.is_file() {
        opts.truths = crate::report::read_truths(&truth, &names, &names)?;
    }
    let samples = |stage: &str| -> Samples {
        let d = &draws[stage];
        let thin = d.x.nrows().div_ceil(200_000).max(1);
        let weights = d.w.as_ref().map(|w| w.iter().step_by(thin).copied().collect());
        Samples { label: stage.to_string(), draws: d.x.slice(s![..;thin, ..]).iter().copied().collect(), weights }
    };
    let mut comparisons = Vec::new();
    for c in &p.compare {
        let (Some(xa), Some(xb)) = (draws.get(c.a.as_str()), draws.get(c.b.as_str())) else {
            continue;
        };
        let cmp = Comparison::compute(xa.side(&c.a), xb.side(&c.b), &names, space.bounds(), Metric::Both);
        say.say(format!("compare {} vs {}: {}", c.a, c.b, cmp.verdict));
        let fig = rdir.join(format!("corner_{}_vs_{}.png", c.a, c.b));
        corner_plot(&[samples(&c.a), samples(&c.b)], &names, space.bounds(), &fig, &opts)?;
        comparisons.push(cmp);
    }
    let deps: BTreeMap<String, BTreeSet<String>> = p.stages.iter().zip(&cp.depends_on).map(|(s, d)| (s.name.clone(), d.clone())).collect();
    let records: Vec<&StageRecord> = stages.iter().map(|(r, _)| r).collect();
    let evidence = Evidence::compute(&records, &deps);
    write_text(&rdir.join("compare.json"), &to_json(&with_evidence(&comparisons, &evidence)?)?)?;
    let all: Vec<Samples> = stages.iter().map(|(r, _)| samples(&r.name)).collect();
    if !all.is_empty() {
        corner_plot(&all, &names, space.bounds(), &rdir.join("corner_stages.png"), &opts)?;
    }
    let mut md = summary_md(&p.name, source, &names, stages, &comparisons);
    md.push_str(&evidence.markdown());
    write_text(&rdir.join("summary.md"), &md)?;
    Ok(comparisons)
}

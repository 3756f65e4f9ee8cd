//! `seqcal two-stage run`: every check, stage 1 (one flow per sample-based
//! component, with its fit check), stage 2 (the reverse-KL flow on the
//! composite), and the output folder:
//!
//! | file | what |
//! |---|---|
//! | `stage1/<k>.safetensors` (+ `.json`) | the stage-1 flow of component `k` (1, 2, ...) |
//! | `stage2/` | the stage-2 flow ([`seqcal_two_stage::ReverseFlow`]); what the `two-stage` prior kind loads |
//! | `draws.h5` | equal-weight draws from the stage-2 flow, a seqcal chain file (`log_prob` = log F) |
//! | `result.json` | fit checks, ELBO trace, ESS, log Z ± error, moments ([`RunResult`]) |
//! | `summary.md`, `corner.png`, `stage1_<k>.png` | the report |
//!
//! Everything is written into a temporary folder renamed into place at the
//! end, so a run that fails or is stopped leaves nothing that looks finished.

use std::path::PathBuf;
use std::sync::Arc;

use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqcal_api::ChainSource;
use seqcal_two_stage::{fit_component, fit_reverse, DiffLogDensity, ReverseFlow, ReverseKlSettings, SampleComponent, STAGE2_DIR};

use super::load::{load_components, ComponentDraws};
use super::outdir::OutDir;
use super::report::{write_report, ComponentResult, RunResult, Stage2Summary};
use super::spec::Spec;
use super::target::{check_library, target, Library};
use crate::chain::{write_hdf5, Chain};
use crate::{Error, Result};

/// How to run a spec.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Replaces the spec's seed.
    pub seed: Option<u64>,
    /// Equal-weight draws written to `draws.h5`.
    pub draws: usize,
    /// Progress lines on standard error.
    pub progress: bool,
    /// Replace an existing output folder.
    pub force: bool,
}

/// Everything checked, nothing trained: the components' draws and the term library.
#[derive(Debug)]
pub struct Prepared {
    /// The components' draws, in spec order.
    pub draws: Vec<ComponentDraws>,
    /// The analytic terms and divided-out densities.
    pub library: Library,
}

/// Makes every check of a spec that needs no training: the components'
/// draws (read and checked), the terms and divided-out densities, the target.
///
/// # Errors
/// The first problem, naming the spec and what to change.
pub fn prepare(spec: &Spec, stages: Option<&dyn ChainSource>) -> Result<Prepared> {
    let library = check_library(spec)?;
    let draws = load_components(spec, stages)?;
    Ok(Prepared { draws, library })
}

/// The seed of stage 1's component `k` (0-based) for the run seed `seed`.
pub fn stage1_seed(seed: u64, k: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(k as u64 + 1)
}

/// The stage-2 settings: the engine's defaults with `[stage2]` over them.
///
/// # Errors
/// An architecture that does not check for the target's dimension.
pub fn stage2_settings(spec: &Spec, seed: u64) -> Result<ReverseKlSettings> {
    let o = &spec.stage2;
    let mut s = ReverseKlSettings::default();
    let mut fs = s.spec.clone();
    fs.pairs = o.layers.unwrap_or(fs.pairs);
    fs.hidden = o.hidden.unwrap_or(fs.hidden);
    fs.depth = o.depth.unwrap_or(fs.depth);
    fs.activation = o.activation.unwrap_or(fs.activation);
    fs.actnorm = o.actnorm.unwrap_or(fs.actnorm);
    fs.bins = o.bins.unwrap_or(fs.bins);
    fs.tail_bound = o.tail_bound.unwrap_or(fs.tail_bound);
    fs.lu = o.lu.unwrap_or(fs.lu);
    let dim = spec.coordinates.len();
    fs.dim = dim;
    if let Some(a) = o.arch {
        fs = a.resolve(&fs, dim).0;
    }
    fs.check().map_err(|e| Error::config(&spec.path, format!("[stage2]: {e}")))?;
    s.spec = fs;
    s.steps = o.steps.unwrap_or(s.steps);
    s.batch = o.batch.unwrap_or(s.batch);
    s.lr = o.lr.unwrap_or(s.lr);
    s.eval_draws = o.eval_draws.unwrap_or(s.eval_draws);
    s.seed = seed;
    Ok(s)
}

/// Stage 1 and stage 2 on a prepared spec, with their outputs written into
/// `dir` (a folder that exists and is empty).
///
/// # Errors
/// A failed training, a failed write.
pub fn train_into(spec: &Spec, prep: &Prepared, seed: u64, draws: usize, dir: &std::path::Path, say: &dyn Fn(String)) -> Result<RunResult> {
    let s2 = stage2_settings(spec, seed)?;
    let stage1_dir = dir.join("stage1");
    std::fs::create_dir_all(&stage1_dir).map_err(|e| Error::io(&stage1_dir, e))?;
    let m = prep.draws.len();
    let mut fitted: Vec<Arc<dyn DiffLogDensity>> = Vec::new();
    let mut components = Vec::new();
    let mut flow_draws = Vec::new();
    for (k, (c, d)) in spec.components.iter().zip(&prep.draws).enumerate() {
        say(format!("stage 1 [{}/{m}] {}: {} draws of {} from {}", k + 1, c.label, d.draws.nrows(), d.names.join(", "), d.source));
        let sc = SampleComponent {
            label: d.label.clone(),
            names: d.names.clone(),
            draws: d.draws.clone(),
            weights: d.weights.clone(),
            bounds: d.bounds.clone(),
        };
        let f = fit_component(&sc, &c.stage1, stage1_seed(seed, k)).map_err(|e| Error::Usage(format!("stage 1, component {:?}: {e}", c.label)))?;
        let path = stage1_dir.join(format!("{}.safetensors", k + 1));
        f.prior.save(&path).map_err(|e| Error::Usage(format!("stage 1, component {:?}: saving {}: {e}", c.label, path.display())))?;
        let worst = f.check.ks.iter().map(|k| k.2).fold(f64::INFINITY, f64::min);
        say(format!("  fit check: average 1-D KL {:.4} (sampling floor {:.4}), smallest KS p-value {worst:.3}", f.check.kl_1d, f.check.floor_1d));
        let mut rng = ChaCha8Rng::seed_from_u64(stage1_seed(seed, k) ^ 0x5EED);
        let n = d.draws.nrows().min(20_000);
        let fd =
            f.prior.try_sample(&mut rng, n).map_err(|e| Error::Usage(format!("stage 1, component {:?}: drawing from its flow: {e}", c.label)))?;
        flow_draws.push(fd);
        components.push(ComponentResult::new(c, d, &f.check, format!("stage1/{}.safetensors", k + 1)));
        fitted.push(Arc::new(f.prior));
    }
    let t = target(spec, &prep.library, fitted).map_err(|e| Error::config(&spec.path, format!("the composite target: {e}")))?;
    say(format!("stage 2: reverse-KL flow on {} coordinates, {} steps of {} draws", t.names().len(), s2.steps, s2.batch));
    let every = (s2.steps / 20).max(1);
    let mut progress = |step: usize, elbo: f64| {
        if (step + 1) % every == 0 || step + 1 == s2.steps {
            say(format!("  step {}/{}: ELBO {elbo:.4}", step + 1, s2.steps));
        }
    };
    let r = fit_reverse(&t, &s2, &mut progress).map_err(|e| Error::Usage(format!("stage 2: {e}")))?;
    say(format!("  ESS {:.0} of {} ({:.1}%), log Z {:.4} ± {:.4}", r.ess, s2.eval_draws, 100.0 * r.ess / s2.eval_draws as f64, r.log_z, r.log_z_err));
    let s2dir = dir.join(STAGE2_DIR);
    r.flow.save(&s2dir).map_err(|e| Error::Usage(format!("stage 2: saving the flow: {e}")))?;
    let x = sample_flow(&r.flow, draws, seed)?;
    let log_f = t.log_density_f64(x.view());
    write_draws(&r.flow, &x, Some(&log_f), &dir.join("draws.h5"), seed, &spec.path.display().to_string())?;
    let stage2 = Stage2Summary::new(&r, &s2);
    let mut result = RunResult::new(spec, seed, components, stage2, &x);
    result.extrapolation = super::extrapolation::extrapolation(&prep.draws, &result.names, &x);
    write_report(dir, spec, &result, &prep.draws, &flow_draws, &x)?;
    Ok(result)
}

/// Runs a spec into the folder `out` (written whole or not at all).
///
/// # Errors
/// Every check's message, a failed training, a failed write.
pub fn run(spec: &Spec, out: &std::path::Path, opts: &RunOptions, stages: Option<&dyn ChainSource>) -> Result<(RunResult, PathBuf)> {
    let seed = opts.seed.unwrap_or(spec.seed);
    let prep = prepare(spec, stages)?;
    stage2_settings(spec, seed)?;
    let mut inputs = spec.files_used();
    inputs.push(spec.path.clone());
    let dir = OutDir::create(out, opts.force, &inputs)?;
    let progress = opts.progress;
    let say = move |m: String| {
        if progress {
            eprintln!("{m}");
        }
    };
    let result = train_into(spec, &prep, seed, opts.draws, dir.path(), &say)?;
    let done = dir.finish()?;
    Ok((result, done))
}

/// `n` draws from a stage-2 flow with seed `seed`.
///
/// # Errors
/// A flow that keeps producing non-finite draws.
pub fn sample_flow(flow: &ReverseFlow, n: usize, seed: u64) -> Result<Array2<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(2);
    flow.sample(&mut rng, n).map_err(|e| Error::Usage(format!("drawing from the stage-2 flow: {e}")))
}

/// Writes draws of a stage-2 flow as a seqcal chain file of one walker
/// (`log_prob`: the target's log density where given).
///
/// # Errors
/// A failed write.
pub fn write_draws(flow: &ReverseFlow, x: &Array2<f64>, log_f: Option<&[f64]>, path: &std::path::Path, seed: u64, source: &str) -> Result<()> {
    let (n, d) = x.dim();
    let mut chain = Chain::from_draws(x.clone().into_shape_with_order((n, 1, d)).map_err(|e| Error::Usage(e.to_string()))?.to_owned());
    chain.names = flow.names().to_vec();
    chain.bounds = flow.bounds().to_vec();
    if let Some(lf) = log_f {
        // -inf is a valid log density; NaN is not, and a chain file refuses it.
        let lf: Vec<f64> = lf.iter().map(|v| if v.is_nan() || *v == f64::INFINITY { f64::NEG_INFINITY } else { *v }).collect();
        chain.log_prob = Some(Array2::from_shape_vec((n, 1), lf).map_err(|e| Error::Usage(e.to_string()))?);
    }
    chain.attrs.insert("sampler".into(), "two-stage flow (equal-weight draws of the stage-2 flow)".into());
    chain.attrs.insert("seed".into(), seed.to_string());
    chain.attrs.insert("spec".into(), source.to_string());
    chain.attrs.insert("seqcal_version".into(), crate::VERSION.to_string());
    write_hdf5(&chain, path)
}

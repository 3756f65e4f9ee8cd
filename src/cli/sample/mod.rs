//! `seqcal sample`: run a sampler on a target, through the executor.

mod args;
mod summary;

pub use self::args::{sample_help, SampleCmdArgs};

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{s, Array2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use self::args::Resolved;
use self::summary::{print_summary, summarize};
use super::output::Io;
use crate::chain::{self, OutputLock};
use crate::config::StageFile;
use crate::memory;
use crate::prior::{load_prior_file_in, PriorRegistry};
use crate::sampler::{check_problem, execute, merge_tables, run_bytes, Job, OutputFile, Posterior, SamplerSettings};
use crate::targets::{self, Target, TargetArgs};
use crate::{Error, Result};

/// The sampler settings: the stage file's `[sampler]` table with the flags
/// given on the command line over it, parsed once (the same defaults as a
/// pipeline's).
fn resolve(a: &SampleCmdArgs, stage: &StageFile) -> Result<Resolved> {
    let mut flags = toml::Table::new();
    let mut set = |k: &str, v: Option<toml::Value>| {
        if let Some(v) = v {
            flags.insert(k.into(), v);
        }
    };
    let int = |v: Option<usize>| v.map(|n| toml::Value::Integer(n as i64));
    set("kind", a.sampler.clone().map(Into::into));
    set("walkers", int(a.walkers));
    set("steps", int(a.steps));
    set("moves", a.moves.clone().map(Into::into));
    set("seed", a.seed.map(|n| toml::Value::Integer(n as i64)));
    set("beta", a.beta.map(Into::into));
    set("checkpoint_every", a.checkpoint_every.map(|n| toml::Value::Integer(n as i64)));
    set("burn", int(a.burn));
    set("relocate_stuck", int(a.relocate_stuck));
    set("particles", int(a.particles));
    set("target_ess", a.target_ess.map(Into::into));
    let table = merge_tables(&flags, &stage.sampler);
    let steps = table.get("steps").and_then(toml::Value::as_integer);
    if let (Some(b), Some(n)) = (a.burn, steps.or(Some(5000)).filter(|_| a.burn.is_some())) {
        if b as i64 >= n {
            return Err(Error::Usage(format!(
                "--burn {b} is not below --steps {n}: burn-in drops the first iterations, the rest are summarized; lower --burn or raise --steps"
            )));
        }
    }
    let settings = SamplerSettings::from_table(&table).map_err(|e| Error::Usage(flag_names(&crate::config::usage_text(e))))?;
    let spec = a
        .target
        .clone()
        .or_else(|| stage.target.clone())
        .ok_or_else(|| Error::Usage("no target: pass --target or set `target` in the stage file".into()))?;
    Ok(Resolved { spec, seed: settings.seed().unwrap_or(0), settings })
}

/// A settings message with the keys the command line sets named as its flags.
fn flag_names(m: &str) -> String {
    let mut m = m.to_string();
    for k in ["walkers", "steps", "moves", "particles", "target_ess", "checkpoint_every", "relocate_stuck", "burn", "beta"] {
        m = m.replace(&format!("unknown field `{k}`"), &format!("`{k}` (--{}) does not apply to this sampler", k.replace('_', "-")));
    }
    m
}

pub(super) fn sample(a: &SampleCmdArgs, registry: &PriorRegistry) -> Result<()> {
    if a.list_targets {
        for e in targets::registry() {
            println!("{:<26} {}", e.name, e.help);
        }
        println!("{:<26} an external model speaking seqcal's line protocol (docs/external-targets.md)", "cmd:COMMAND");
        return Ok(());
    }
    let stage = match &a.config {
        Some(p) => StageFile::load(p)?,
        None => StageFile::default(),
    };
    let r = resolve(a, &stage)?;
    if let Some(n) = a.threads {
        // Only fails when a pool already exists (a second call in one process).
        let _ = rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global();
    }
    let spec = r.spec.clone();
    check_declared_size(&spec, &r)?;
    if let Some(out) = &a.output {
        // --resume continues an existing output; --force replaces it.
        Io::new()
            .inputs(&a.config)
            .inputs(&a.prior)
            .inputs(&a.init)
            .output(out)
            .on_exists("pass --resume to continue it or --force to overwrite it")
            .check(a.force || a.resume)?;
    }
    // One writer per output: taken before the file is read or written.
    let _lock = a.output.as_deref().map(OutputLock::file).transpose()?;
    let mut target = build_target(&spec, a.target_timeout)?;
    let prior_override = match (&a.prior, &stage.prior) {
        (Some(p), _) => Some(load_prior_file_in(p, registry, Some(&target.space))?),
        (None, Some(t)) => {
            let cfg = a.config.as_deref().unwrap_or(Path::new("stage"));
            Some(registry.build_standalone(t, Some(&target.space), &stage.base_dir).map_err(|e| Error::config(cfg, format!("[prior]: {e}")))?)
        }
        (None, None) => None,
    };
    if let Some(p) = prior_override {
        target.set_prior(p)?;
    }
    let sampler_dim = target.likelihood.dim();
    if let (SamplerSettings::Smc(_), Some(init)) = (&r.settings, &a.init) {
        // SMC's evidence and weights need exact draws of the prior to start from.
        return Err(Error::Usage(format!(
            "--init {} does not apply to --sampler smc: SMC starts from exact draws of the prior (its log Z and weights depend on it); drop --init",
            init.display()
        )));
    }
    check_problem(&r.settings, sampler_dim)?;
    let prior_text = target.prior.as_ref().map(|p| p.describe()).unwrap_or_else(|| "none (the target's density is the posterior)".into());
    let run_id = run_identity(&spec, &r, &prior_text);

    let Target { prior, likelihood, transform, init, log_z, space, .. } = target;
    let posterior = Posterior::new(prior, likelihood, r.settings.beta());
    let start = |n: usize| initial_positions(a, r.seed, &space, transform.as_deref(), init.as_deref(), posterior.prior(), n, sampler_dim);
    let mut attrs = BTreeMap::new();
    attrs.insert("run".to_string(), run_id);
    attrs.insert("target".into(), spec.clone());
    attrs.insert("prior".into(), prior_text);
    let job = Job {
        posterior: &posterior,
        transform: transform.as_deref(),
        space: &space,
        seed: r.seed,
        progress: !a.quiet && !a.json,
        output: a.output.as_deref().map(|path| OutputFile { path, resume: a.resume, identity: attrs.get("run").cloned() }),
        start: &start,
        attrs,
    };
    // Stranded walkers are moved during burn-in unless told otherwise (benches/README.md:
    // with 8 of 64 walkers in a minor mode 40 nats down, the mean is off by 17 standard
    // errors without it; chains without stranded walkers are unchanged by it).
    let outcome = execute(job, &r.settings).map_err(|e| match e {
        Error::Interrupted(m) if a.output.is_some() => Error::Interrupted(format!("{m}: continue it with the same command and --resume")),
        e => e,
    })?;
    let relocating = match &r.settings {
        SamplerSettings::Ensemble(c) => c.relocate_stuck != Some(0),
        SamplerSettings::Smc(_) => false,
    };
    let hint = if relocating {
        "relocation during burn-in did not free them: try a longer --burn and --relocate-stuck, or the de_jump move"
    } else {
        "try --relocate-stuck N with --burn N (stranded walkers are moved onto others during burn-in)"
    };
    let diag = outcome.diagnose(sampler_dim, hint);
    let summary = summarize(a, &r, &spec, space.names(), &outcome, diag, log_z);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !a.quiet {
        print_summary(&summary);
    }
    Ok(())
}

/// Refuses a target whose declared dimension (`dim=N`) makes the sampler
/// too large for memory, before the target allocates anything: the ensemble
/// needs at least `2 N` walkers.
fn check_declared_size(spec: &str, r: &Resolved) -> Result<()> {
    if spec.starts_with("cmd:") {
        return Ok(());
    }
    let Ok(args) = TargetArgs::parse(spec) else { return Ok(()) };
    let Ok(dim) = args.get::<usize>("dim", 0) else { return Ok(()) };
    if dim == 0 {
        return Ok(());
    }
    let (walkers, steps) = match &r.settings {
        SamplerSettings::Ensemble(c) => (c.walkers.max(dim.saturating_mul(2)), c.steps),
        SamplerSettings::Smc(c) => (c.particles, 1),
    };
    let target = memory::bytes(dim as u128, 256);
    memory::require(run_bytes(steps, walkers, dim).saturating_add(target), || {
        format!("target {spec} ({dim} parameters, so at least {walkers} walkers) over {steps} iterations")
    })
}

fn build_target(spec: &str, timeout: f64) -> Result<Target> {
    if let Some(cmd) = spec.strip_prefix("cmd:") {
        if !(timeout > 0.0 && timeout.is_finite()) {
            return Err(Error::Usage(format!("--target-timeout {timeout} must be a positive number of seconds")));
        }
        return targets::external(cmd, std::time::Duration::from_secs_f64(timeout));
    }
    targets::build(spec)
}

/// What must not change between a run and its `--resume`.
fn run_identity(spec: &str, r: &Resolved, prior: &str) -> String {
    let (seed, beta) = (r.seed, r.settings.beta());
    match &r.settings {
        SamplerSettings::Ensemble(c) => {
            format!(
                "target={spec}; sampler=ensemble; moves={}; walkers={}; seed={seed}; beta={beta}; prior={prior}",
                r.settings.moves_text(),
                c.walkers
            )
        }
        SamplerSettings::Smc(c) => format!(
            "target={spec}; sampler=smc; particles={}; target_ess={}; resampling={:?}; flow={}; seed={seed}; beta={beta}; prior={prior}",
            c.particles, c.target_ess, c.resampling, c.flow
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn initial_positions(
    a: &SampleCmdArgs,
    seed: u64,
    space: &seqcal_api::ParamSpace,
    transform: Option<&dyn targets::Transform>,
    init: Option<&dyn seqcal_api::Prior>,
    prior: Option<&dyn seqcal_api::Prior>,
    walkers: usize,
    dim: usize,
) -> Result<Array2<f64>> {
    // The initial draws use their own stream, apart from the walkers'.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::MAX);
    if let Some(path) = &a.init {
        return positions_from_file(path, space, transform, walkers, dim);
    }
    if let Some(p) = init.or(prior) {
        return Ok(p.sample(&mut rng, walkers));
    }
    Err(Error::Usage("this target has no proper prior to start the walkers from: pass --prior prior.toml or --init chain.h5".into()))
}

fn positions_from_file(
    path: &Path,
    space: &seqcal_api::ParamSpace,
    transform: Option<&dyn targets::Transform>,
    walkers: usize,
    dim: usize,
) -> Result<Array2<f64>> {
    let c = chain::read_any(path)?;
    if c.names != space.names() {
        return Err(Error::chain(path, format!("holds parameters [{}] but the target's are [{}]", c.names.join(", "), space.names().join(", "))));
    }
    let flat = c.flat();
    if flat.nrows() < walkers {
        return Err(Error::chain(path, format!("holds {} draws; {walkers} walkers need at least as many", flat.nrows())));
    }
    let theta = flat.slice(s![flat.nrows() - walkers.., ..]).to_owned();
    match transform {
        None => Ok(theta),
        Some(t) => {
            let mut u = Array2::zeros((walkers, dim));
            for (k, (row, mut out)) in theta.rows().into_iter().zip(u.rows_mut()).enumerate() {
                let r = row.to_vec();
                let o = out.as_slice_mut().expect("owned rows are contiguous");
                if !t.unconstrain(&r, o) {
                    return Err(Error::chain(path, format!("draw {k} used as a start lies outside the target's support")));
                }
            }
            Ok(u)
        }
    }
}

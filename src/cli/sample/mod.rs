//! `seqcal sample`: run the ensemble sampler on a target.

mod args;
mod summary;

pub use self::args::{sample_help, SampleCmdArgs};

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{s, Array2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use self::args::Resolved;
use self::summary::{print_summary, summarize};
use super::output::Io;
use crate::chain::schema::BURN;
use crate::chain::{self, ChainLayout, ChainWriter, Columns, OutputLock};
use crate::config::StageFile;
use crate::diagnostics;
use crate::memory;
use crate::prior::{load_prior_file_in, PriorRegistry};
use crate::sampler::ensemble::{parse_moves, Ensemble, EnsembleSettings};
use crate::sampler::run::{run_bytes, EnsembleRun};
use crate::sampler::Posterior;
use crate::targets::{self, Target, TargetArgs};
use crate::{Error, Result};

fn resolve(a: &SampleCmdArgs, stage: &StageFile) -> Result<Resolved> {
    let sm = &stage.sampler;
    let sampler = a.sampler.clone().or_else(|| sm.kind.clone()).unwrap_or_else(|| "ensemble".into());
    if sampler != "ensemble" {
        return Err(Error::Usage(format!("unknown sampler {sampler:?}; samplers: ensemble")));
    }
    let spec = a
        .target
        .clone()
        .or_else(|| stage.target.clone())
        .ok_or_else(|| Error::Usage("no target: pass --target or set `target` in the stage file".into()))?;
    let r = Resolved {
        spec,
        walkers: a.walkers.or(sm.walkers).unwrap_or(32),
        steps: a.steps.or(sm.steps).unwrap_or(5000),
        moves: a.moves.clone().or_else(|| sm.moves.clone()).unwrap_or_else(|| "stretch".into()),
        seed: a.seed.or(sm.seed).unwrap_or(0),
        beta: a.beta.or(sm.beta).unwrap_or(1.0),
        checkpoint_every: a.checkpoint_every.or(sm.checkpoint_every).unwrap_or(100).max(1) as usize,
    };
    if !(r.beta >= 0.0 && r.beta.is_finite()) {
        return Err(Error::Usage(format!("beta = {} must be finite and >= 0", r.beta)));
    }
    Ok(r)
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
    let burn_given = a.burn.or(stage.sampler.burn);
    if let Some(b) = burn_given.filter(|&b| b >= r.steps) {
        return Err(Error::Usage(format!(
            "--burn {b} is not below --steps {}: burn-in drops the first iterations, the rest are summarized; lower --burn or raise --steps",
            r.steps
        )));
    }
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
    let settings = EnsembleSettings { walkers: r.walkers, moves: parse_moves(&r.moves)? };
    let sampler_dim = target.likelihood.dim();
    settings.check(sampler_dim)?;
    let out_dim = target.space.dim();
    memory::require(run_bytes(r.steps, r.walkers, out_dim.max(sampler_dim)), || {
        format!("sampling {} iterations x {} walkers x {} parameters", r.steps, r.walkers, out_dim)
    })?;
    let prior_text = target.prior.as_ref().map(|p| p.describe()).unwrap_or_else(|| "none (the target's density is the posterior)".into());
    let run_id = run_identity(&spec, &r, &settings, &prior_text);

    let Target { prior, likelihood, transform, init, log_z, space, .. } = target;
    let posterior = Posterior::new(prior, likelihood, r.beta);

    // Stranded walkers are moved during burn-in unless told otherwise (benches/README.md:
    // with 8 of 64 walkers in a minor mode 40 nats down, the mean is off by 17 standard
    // errors without it; chains without stranded walkers are unchanged by it).
    let mut relocate_until = a.relocate_stuck.unwrap_or(burn_given.unwrap_or(r.steps / 10));
    let mut writer = None;
    let mut done_before = 0;
    let mut accepted_before = None;
    let mut ensemble = None;
    if let Some(out) = &a.output {
        if a.resume && out.exists() {
            let reader = chain::ChainReader::open(out)?;
            let stored = reader.header().attrs.get("run").cloned().unwrap_or_default();
            if stored != run_id {
                return Err(Error::Usage(format!(
                    "{}: --resume needs the same target, sampler, moves, walkers, seed and beta as the run that wrote it\n  stored:  {stored}\n  now:     {run_id}",
                    out.display()
                )));
            }
            if let Some(v) = reader.header().attrs.get("relocate_until").and_then(|v| v.parse().ok()).filter(|_| a.relocate_stuck.is_none()) {
                relocate_until = v;
            }
            if let Some(st) = reader.sampler_state()?.filter(|st| st.iteration > 0) {
                // A transformed target's chain stores log densities of the stored parameters.
                let stored_log_prob = transform.as_deref().map(|t| {
                    let mut lp = st.values.column(0).to_owned();
                    crate::targets::transform::to_stored_scale(t, st.positions.view(), &mut [&mut lp]);
                    lp.to_vec()
                });
                st.check_against(&reader, stored_log_prob.as_deref())?;
                if st.positions.ncols() != sampler_dim {
                    return Err(Error::chain(out, format!("cannot resume: the stored sampler state has {} coordinates per walker, the target {sampler_dim}; start over with --force", st.positions.ncols())));
                }
                ensemble = Some(Ensemble::from_state(&st, &settings, r.seed)?);
                drop(reader);
                let (w, _) = ChainWriter::resume_at(out, &st, r.checkpoint_every)?;
                done_before = st.iteration;
                accepted_before = Some(st.accepted.clone());
                writer = Some(w);
            }
        }
    }
    let mut ensemble = match ensemble {
        Some(e) => e,
        None => {
            // The first evaluation comes before the output is created: a target
            // that cannot start leaves no file behind to block the next try.
            let x0 = initial_positions(a, r.seed, &space, transform.as_deref(), init.as_deref(), posterior.prior(), settings.walkers, sampler_dim)?;
            Ensemble::new(x0, &posterior, &settings, r.seed)?
        }
    };
    let created = writer.is_none() && a.output.is_some();
    // The burn-in the diagnostics will drop, recorded for the commands that read the chain.
    let final_iterations = r.steps.max(done_before);
    let burn_recorded = burn_given.unwrap_or(final_iterations / 10).min(final_iterations);
    if let (Some(w), false) = (writer.as_mut(), created) {
        w.set_attr(BURN, burn_recorded.to_string());
    }
    if let (Some(out), true) = (&a.output, created) {
        let mut attrs = BTreeMap::new();
        attrs.insert("run".to_string(), run_id.clone());
        attrs.insert("sampler".into(), "ensemble".into());
        attrs.insert("target".into(), spec.clone());
        attrs.insert("moves".into(), settings.moves_spec());
        attrs.insert("seed".into(), r.seed.to_string());
        attrs.insert("beta".into(), r.beta.to_string());
        attrs.insert("prior".into(), prior_text.clone());
        attrs.insert("relocate_until".into(), relocate_until.to_string());
        attrs.insert(BURN.into(), burn_recorded.to_string());
        let cols = Columns { log_prob: true, log_prior: posterior.prior().is_some(), log_likelihood: true, weights: false };
        let layout = ChainLayout::new(space.names().to_vec(), settings.walkers).bounds(space.bounds().to_vec()).columns(cols).attrs(attrs);
        writer = Some(ChainWriter::create(out, &layout, r.checkpoint_every)?);
    }
    let steps = r.steps.saturating_sub(done_before);
    if steps == 0 && !a.quiet {
        eprintln!("the chain already holds {done_before} iterations (>= --steps {}): nothing to run", r.steps);
    }
    let run = EnsembleRun {
        posterior: &posterior,
        transform: transform.as_deref(),
        out_dim,
        steps,
        progress: !a.quiet && !a.json,
        accepted_before,
        done_before,
        relocate_until,
    };
    let outcome = run.run(&mut ensemble, writer.as_mut());
    if let Some(w) = writer {
        match &outcome {
            Ok(_) => w.finish()?,
            // Keep what was flushed (and flush the rest); the file stays marked
            // incomplete. A file this run created and never wrote a row to goes.
            Err(_) => {
                let empty = created && w.rows() == 0;
                let path = w.path().to_path_buf();
                drop(w);
                if empty {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }
    let outcome = outcome.map_err(|e| match e {
        Error::Interrupted(m) if a.output.is_some() => Error::Interrupted(format!("{m}: continue it with the same command and --resume")),
        e => e,
    })?;

    // Diagnostics over the whole chain, after burn-in. This run's draws are in
    // memory; only a resumed run reads the file back for the rows before it.
    let (draws, log_prob, accepted) = match &a.output {
        Some(out) if done_before > 0 => {
            let c = chain::read_hdf5(out)?;
            let lp = c.log_prob.unwrap_or_else(|| Array2::from_elem((c.draws.dim().0, c.draws.dim().1), f64::NAN));
            (c.draws, lp, c.accepted)
        }
        _ => (outcome.draws.clone(), outcome.log_prob.clone(), outcome.accepted.clone()),
    };
    let iterations = draws.len_of(Axis(0));
    let burn = burn_given.unwrap_or(iterations / 10).min(iterations);
    let kept = draws.slice(s![burn.., .., ..]);
    let stranded = diagnostics::stranded_walkers(log_prob.slice(s![burn.., ..]), sampler_dim);
    let summary =
        summarize(a, &r, &spec, &settings, space.names(), &outcome, kept.to_owned(), &accepted, iterations, burn, log_z, &stranded, relocate_until);
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
    let walkers = r.walkers.max(dim.saturating_mul(2));
    let target = memory::bytes(dim as u128, 256);
    memory::require(run_bytes(r.steps, walkers, dim).saturating_add(target), || {
        format!("target {spec} ({dim} parameters, so at least {walkers} walkers) over {} iterations", r.steps)
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
fn run_identity(spec: &str, r: &Resolved, s: &EnsembleSettings, prior: &str) -> String {
    format!("target={spec}; sampler=ensemble; moves={}; walkers={}; seed={}; beta={}; prior={prior}", s.moves_spec(), s.walkers, r.seed, r.beta)
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

//! `seqcal prior sample`, `list`, `train` and `eval`.

use std::collections::BTreeMap;

use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use seqcal_api::{check_memory, Prior};
use seqcal_flow::{train_on_draws, FlowOptions, FlowPrior};

use super::args::{EvalArgs, SampleArgs, TrainArgs};
use crate::chain::{self, Chain};
use crate::prior::{chain_draws, load_prior_file, PriorRegistry};
use crate::{Error, Result, ResultExt};

fn load_flow(path: &std::path::Path) -> Result<FlowPrior> {
    FlowPrior::load(path).context_with(|| "cannot load flow model".into())
}

pub(super) fn sample(a: &SampleArgs, registry: &PriorRegistry) -> Result<()> {
    let (prior, source): (Box<dyn Prior>, String) = match (&a.model, &a.config) {
        (Some(m), None) => (Box::new(load_flow(m)?), m.display().to_string()),
        (None, Some(c)) => (load_prior_file(c, registry)?, c.display().to_string()),
        _ => return Err(Error::Usage("give either a flow MODEL or --config prior.toml, not both".into())),
    };
    let n = usize::try_from(a.n).unwrap_or(usize::MAX);
    // The draws, their log densities (twice) and the sampler's working copies.
    let bytes = a.n as f64 * (2.0 * prior.dim() as f64 + 4.0) * 8.0;
    check_memory(
        format!("{} draws of {} parameters", a.n, prior.dim()),
        bytes,
        "ask for fewer draws with -n, or draw several files with different --seed",
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let x = prior.sample(&mut rng, n);
    let mut lp = vec![0.0; n];
    prior.log_prob_batch(x.view(), &mut lp);
    let lp = Array2::from_shape_vec((n, 1), lp).expect("n log densities fill an n x 1 array");
    let mut attrs = BTreeMap::new();
    attrs.insert("sampler".into(), "prior (independent draws)".into());
    attrs.insert("prior".into(), prior.describe());
    attrs.insert("seed".into(), a.seed.to_string());
    attrs.insert("config".into(), source);
    // Independent draws: one walker, one draw per iteration, every draw "accepted".
    let c = Chain {
        names: prior.names().to_vec(),
        bounds: prior.bounds().to_vec(),
        draws: x.insert_axis(Axis(1)),
        log_prob: Some(lp.clone()),
        log_prior: Some(lp),
        log_likelihood: None,
        weights: None,
        accepted: Array1::from_elem(1, n as f64),
        attrs,
    };
    chain::write_any(&c, &a.output)?;
    eprintln!("wrote {n} draws of [{}] to {}", c.names.join(", "), a.output.display());
    Ok(())
}

pub(super) fn list(registry: &PriorRegistry) -> Result<()> {
    for (kind, summary) in registry.list() {
        println!("{kind:<18} {summary}");
        for k in registry.keys(kind) {
            let key = match &k.default {
                Some(d) => format!("{} = {d}", k.name),
                None => k.name.clone(),
            };
            println!("    {key:<26} {}", k.help);
        }
    }
    Ok(())
}

pub(super) fn train(a: &TrainArgs) -> Result<()> {
    if a.output.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        return Err(Error::Usage(format!(
            "{}: the model needs an extension other than .json (its sidecar is the .json), e.g. prior.safetensors",
            a.output.display()
        )));
    }
    let mut opts = FlowOptions {
        loss: a.loss,
        layers: a.layers,
        hidden: a.hidden,
        depth: a.depth,
        activation: a.activation,
        arch: a.arch,
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        lr_schedule: a.lr_schedule,
        seed: a.seed,
        val_fraction: a.val_fraction,
        bounded: !a.unbounded,
        ..FlowOptions::default()
    };
    a.layer.apply(&mut opts);
    let mut checked = opts.check()?;
    checked.train.quiet = a.quiet;
    let full = chain::read_any(&a.chain)?;
    if a.discard >= full.iterations() {
        return Err(Error::Usage(format!("--discard {} drops all {} iterations of {}", a.discard, full.iterations(), a.chain.display())));
    }
    let c = full.discard(a.discard).thin(usize::try_from(a.thin).unwrap_or(usize::MAX));
    let draws = chain_draws(&c, a.chain.display().to_string(), &a.chain, a.discard);
    let prior = train_on_draws(&draws, None, &checked)?;
    prior.save(&a.output)?;
    let m = prior.sidecar().metrics.clone().unwrap_or_default();
    eprintln!(
        "trained on {} draws ({} held out): {} steps, {:.2} ms/step, best validation loss {}{}; wrote {} and {}",
        m.n_train,
        m.n_val,
        m.steps,
        m.ms_per_step,
        m.best_val_loss.map(|v| format!("{v:.5}")).unwrap_or_else(|| "-".into()),
        if m.stopped_early { " (stopped early)" } else { "" },
        a.output.display(),
        seqcal_flow::io::sidecar_path(&a.output).display()
    );
    Ok(())
}

/// Reads points from a CSV with a header naming the model's parameters (any order).
fn read_points(path: &std::path::Path, names: &[String]) -> Result<Array2<f64>> {
    crate::table::read_table(path)?.select(names, "the model's parameters")
}

pub(super) fn eval(a: &EvalArgs) -> Result<()> {
    let prior = load_flow(&a.model)?;
    let x = read_points(&a.points, prior.names())?;
    let lp = prior.log_prob_checked(x.view()).context_with(|| a.model.display().to_string())?;
    if lp.iter().all(|v| *v == f64::NEG_INFINITY) {
        eprintln!("warning: every point of {} lies outside the flow's support (its bounds: {})", a.points.display(), bounds_text(&prior));
    }
    let mut text = String::from("log_prob\n");
    for v in &lp {
        text.push_str(&format!("{v:e}\n"));
    }
    match &a.output {
        None => print!("{text}"),
        Some(out) => {
            let mut tmp = out.as_os_str().to_owned();
            tmp.push(".tmp");
            let tmp = std::path::PathBuf::from(tmp);
            std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
            std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
        }
    }
    Ok(())
}

fn bounds_text(prior: &FlowPrior) -> String {
    prior.names().iter().zip(prior.bounds()).map(|(n, (l, u))| format!("{n} in [{l}, {u}]")).collect::<Vec<_>>().join(", ")
}

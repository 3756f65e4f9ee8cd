//! `seqcal prior sample`, `list`, `train` and `eval`.

use std::collections::BTreeMap;

use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use seqcal_api::Prior;
use seqcal_flow::FlowPrior;

use super::args::{EvalArgs, SampleArgs, TrainArgs};
use crate::chain::{self, Chain};
use crate::prior::flow::{train_on_chain, FlowOptions};
use crate::prior::{load_prior_file, PriorRegistry};
use crate::{Error, Result};

fn load_flow(path: &std::path::Path) -> Result<FlowPrior> {
    FlowPrior::load(path).map_err(|e| Error::Usage(format!("cannot load flow model: {e}")))
}

pub(super) fn sample(a: &SampleArgs, registry: &PriorRegistry) -> Result<()> {
    let (prior, source): (Box<dyn Prior>, String) = match (&a.model, &a.config) {
        (Some(m), None) => (Box::new(load_flow(m)?), m.display().to_string()),
        (None, Some(c)) => (load_prior_file(c, registry)?, c.display().to_string()),
        _ => return Err(Error::Usage("give either a flow MODEL or --config prior.toml, not both".into())),
    };
    let n = usize::try_from(a.n).unwrap_or(usize::MAX);
    // Draws, their log densities and the chain written from them: about 4 copies.
    crate::memory::require(crate::memory::bytes(crate::memory::product(&[n, prior.dim() + 2]), 8 * 4), || format!("{n} draws of {} parameters", prior.dim()))?;
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
    }
    Ok(())
}

pub(super) fn train(a: &TrainArgs) -> Result<()> {
    if a.output.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        return Err(Error::Usage(format!("{}: the model needs an extension other than .json (its sidecar is the .json), e.g. prior.safetensors", a.output.display())));
    }
    let mut opts = FlowOptions::default();
    opts.set_layers(a.layers).map_err(Error::Usage)?;
    opts.spec.hidden = a.hidden;
    opts.spec.depth = a.depth;
    opts.spec.activation = a.activation;
    opts.spec.kind = a.arch;
    a.layer.apply(&mut opts.spec);
    opts.bounded = !a.unbounded;
    opts.train = seqcal_flow::TrainSettings {
        loss: a.loss,
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        lr_schedule: a.lr_schedule,
        val_fraction: a.val_fraction,
        seed: a.seed,
        quiet: a.quiet,
        ..Default::default()
    };
    opts.spec.check().map_err(|e| Error::Usage(e.to_string()))?;
    opts.train.check().map_err(|e| Error::Usage(e.to_string()))?;
    let full = chain::read_any(&a.chain)?;
    if a.discard >= full.iterations() {
        return Err(Error::Usage(format!("--discard {} drops all {} iterations of {}", a.discard, full.iterations(), a.chain.display())));
    }
    let c = full.discard(a.discard).thin(a.thin as usize);
    let prior = train_on_chain(&c, &a.chain, None, &opts)?;
    prior.save(&a.output).map_err(|e| Error::Usage(e.to_string()))?;
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
    let csv_err = |line: u64, message: String| Error::Csv { path: path.to_path_buf(), line, message };
    let mut rd = csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::All).from_path(path).map_err(|e| match e.kind() {
        csv::ErrorKind::Io(_) => Error::Usage(format!("{}: cannot read points: {e}", path.display())),
        _ => csv_err(1, e.to_string()),
    })?;
    let header: Vec<String> = rd.headers().map_err(|e| csv_err(1, e.to_string()))?.iter().map(str::to_owned).collect();
    let cols: Vec<usize> = names
        .iter()
        .map(|n| {
            header.iter().position(|h| h == n).ok_or_else(|| {
                csv_err(1, format!("no column {n:?}: the header must name the model's parameters [{}], got [{}]", names.join(", "), header.join(", ")))
            })
        })
        .collect::<Result<_>>()?;
    if header.len() != names.len() {
        return Err(csv_err(1, format!("{} columns but the model has {} parameters [{}]", header.len(), names.len(), names.join(", "))));
    }
    let mut rows = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| csv_err(line, e.to_string()))?;
        for &c in &cols {
            let field = rec.get(c).unwrap_or("");
            let v: f64 = field.parse().map_err(|_| csv_err(line, format!("{field:?} is not a number")))?;
            if !v.is_finite() {
                return Err(csv_err(line, format!("{field:?} is not a finite number")));
            }
            rows.push(v);
        }
    }
    let n = rows.len() / names.len().max(1);
    if n == 0 {
        return Err(csv_err(1, "no points after the header".into()));
    }
    Array2::from_shape_vec((n, names.len()), rows).map_err(|e| Error::Usage(e.to_string()))
}

pub(super) fn eval(a: &EvalArgs) -> Result<()> {
    let prior = load_flow(&a.model)?;
    let x = read_points(&a.points, prior.names())?;
    let mut lp = vec![0.0; x.nrows()];
    prior.log_prob_batch(x.view(), &mut lp);
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

//! `seqcal two-stage tsfb`: the two-stage fully Bayesian baseline on a spec's
//! composite target (Metropolis-within-Gibbs, each component's draws recycled
//! as independence proposals). Writes `draws.h5` (the sweeps after burn-in,
//! a seqcal chain file), `result.json` ([`TsfbRun`]) and `summary.md`, into
//! a folder written whole or not at all.

use std::path::Path;
use std::sync::Arc;

use ndarray::Array2;
use seqcal_two_stage::tsfb::{run_tsfb, TsfbSettings};
use seqcal_two_stage::{DiffLogDensity, SampleComponent};
use serde::{Deserialize, Serialize};

use super::outdir::OutDir;
use super::report::moments;
use super::run::prepare;
use super::spec::Spec;
use super::target::target;
use crate::chain::{write_hdf5, Chain};
use crate::{Error, Result};

/// `result.json` of a TSFB run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TsfbRun {
    /// The spec file.
    pub spec: String,
    /// The seed.
    pub seed: u64,
    /// Sweeps, burn-in included.
    pub iterations: usize,
    /// Sweeps dropped.
    pub burn: usize,
    /// The coordinates.
    pub names: Vec<String>,
    /// The moves (one per component, then one per random-walk coordinate).
    pub moves: Vec<String>,
    /// Their acceptance after burn-in.
    pub acceptance: Vec<f64>,
    /// The coordinate drawn exactly from its conditional, if any.
    pub conjugate: Option<String>,
    /// Mean of the kept draws per coordinate.
    pub mean: Vec<f64>,
    /// Their standard deviation.
    pub sd: Vec<f64>,
    /// seqcal's version.
    pub seqcal_version: String,
}

/// Runs TSFB on `spec` into the folder `out`.
///
/// # Errors
/// Every check of the spec, a target TSFB cannot run (a mixture, overlapping
/// components), a failed write.
pub fn run(spec: &Spec, out: &Path, iterations: usize, burn: usize, seed: u64, force: bool, progress: bool) -> Result<TsfbRun> {
    let prep = prepare(spec, None)?;
    let mut inputs = spec.files_used();
    inputs.push(spec.path.clone());
    let dir = OutDir::create(out, force, &inputs)?;
    // TSFB never evaluates the sample-based components (their pools propose
    // their blocks), so they stand in as flat densities.
    let mut flats: Vec<Arc<dyn DiffLogDensity>> = Vec::new();
    for c in &spec.components {
        flats.push(seqcal_two_stage::term_from_table("flat", &toml::Table::new(), c.coords.len()).map_err(|e| Error::Usage(e.to_string()))?);
    }
    let t = target(spec, &prep.library, flats).map_err(|e| Error::config(&spec.path, format!("the composite target: {e}")))?;
    let pools: Vec<SampleComponent> = prep
        .draws
        .iter()
        .map(|d| SampleComponent {
            label: d.label.clone(),
            names: d.names.clone(),
            draws: d.draws.clone(),
            weights: d.weights.clone(),
            bounds: d.bounds.clone(),
        })
        .collect();
    if progress {
        eprintln!("TSFB: {iterations} sweeps ({burn} burn-in) on {} coordinates", t.names().len());
    }
    let s = TsfbSettings { iterations, burn, seed };
    let r = run_tsfb(&t, &pools, &s).map_err(|e| Error::config(&spec.path, e.to_string()))?;
    let (mean, sd) = moments(&r.draws);
    let res = TsfbRun {
        spec: spec.path.display().to_string(),
        seed,
        iterations,
        burn,
        names: spec.names(),
        moves: r.moves.clone(),
        acceptance: r.acceptance.clone(),
        conjugate: r.conjugate.clone(),
        mean,
        sd,
        seqcal_version: crate::VERSION.to_string(),
    };
    write_chain(spec, &r.draws, &dir.join("draws.h5"), seed)?;
    let p = dir.join("result.json");
    std::fs::write(&p, serde_json::to_string_pretty(&res)? + "\n").map_err(|e| Error::io(&p, e))?;
    let p = dir.join("summary.md");
    std::fs::write(&p, summary_md(&res)).map_err(|e| Error::io(&p, e))?;
    let done = dir.finish()?;
    if progress {
        for (m, a) in res.moves.iter().zip(&res.acceptance) {
            eprintln!("  {m}: acceptance {a:.3}");
        }
        eprintln!("wrote {}", done.display());
    }
    Ok(res)
}

fn write_chain(spec: &Spec, x: &Array2<f64>, path: &Path, seed: u64) -> Result<()> {
    let (n, d) = x.dim();
    let mut chain = Chain::from_draws(x.clone().into_shape_with_order((n, 1, d)).map_err(|e| Error::Usage(e.to_string()))?);
    chain.names = spec.names();
    chain.bounds = spec.bounds();
    chain.attrs.insert("sampler".into(), "TSFB (Metropolis-within-Gibbs, pools as independence proposals)".into());
    chain.attrs.insert("seed".into(), seed.to_string());
    chain.attrs.insert("spec".into(), spec.path.display().to_string());
    write_hdf5(&chain, path)
}

fn summary_md(r: &TsfbRun) -> String {
    let mut md = format!(
        "# TSFB: {}\n\n{} sweeps, the first {} dropped, seed {}, seqcal {}\n\n| move | acceptance |\n|---|---|\n",
        r.spec, r.iterations, r.burn, r.seed, r.seqcal_version
    );
    for (m, a) in r.moves.iter().zip(&r.acceptance) {
        md.push_str(&format!("| {m} | {a:.3} |\n"));
    }
    if let Some(c) = &r.conjugate {
        md.push_str(&format!("| {c} (exact conditional draw) | 1 |\n"));
    }
    md.push_str("\n| coordinate | mean | sd |\n|---|---|---|\n");
    for (j, n) in r.names.iter().enumerate() {
        md.push_str(&format!("| {n} | {:.4} | {:.4} |\n", r.mean[j], r.sd[j]));
    }
    md.push_str("\nA component's acceptance near zero means its draws rarely reach where the composite puts its mass: TSFB can only return values its pools hold.\n");
    md
}

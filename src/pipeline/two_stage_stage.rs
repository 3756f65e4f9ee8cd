//! A stage of kind `two-stage`: two-stage flows on the composite target of
//! its spec file, whose components may come `from` earlier stages (after
//! their burn-in). The stage's folder holds the run's whole output under
//! `two-stage/` (flows, result.json, summary.md, corner plots), and its chain
//! holds equal-weight draws of the result, so later stages use it like any
//! other stage's chain.

use std::collections::BTreeMap;
use std::time::Instant;

use ndarray::Array2;

use super::context::RunContext;
use super::layout::{remove_if_present, to_json, write_text};
use crate::prior::ChainFiles;
use crate::report::StageRecord;
use crate::two_stage::report::moments;
use crate::two_stage::run::{prepare, train_into};
use crate::two_stage::Spec;
use crate::{Error, Result};

/// Draws in a two-stage stage's chain unless it sets `draws`.
pub(super) const DEFAULT_DRAWS: usize = 20_000;

/// The subfolder of the stage's folder holding the two-stage output.
pub(super) const OUTPUT: &str = "two-stage";

/// Runs two-stage stage `i` (its hash `hash`); `finished` names the stages
/// whose chains are complete, with their burn-in.
pub(super) fn run_two_stage_stage(inp: RunContext<'_>, i: usize, hash: String, seed: u64, finished: &BTreeMap<String, usize>) -> Result<StageRecord> {
    let p = inp.pipeline;
    let st = &p.stages[i];
    let spec_path = p.resolve(st.spec.as_deref().ok_or_else(|| Error::config(inp.source, format!("stage {:?}: no spec", st.name)))?);
    let spec = Spec::load(&spec_path)?;
    let stage_dir = inp.layout.stage_dir(&st.name);
    std::fs::create_dir_all(&stage_dir).map_err(|e| Error::io(&stage_dir, e))?;
    let record_path = inp.layout.record(&st.name);
    remove_if_present(&record_path)?;
    let mut chains = ChainFiles::new();
    for (name, &burn) in finished {
        chains.add_stage(name.clone(), inp.layout.chain(name), burn);
    }
    let prep = prepare(&spec, Some(&chains))?;
    let out = stage_dir.join(OUTPUT);
    if out.exists() {
        std::fs::remove_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    }
    let draws = st.draws.unwrap_or(DEFAULT_DRAWS);
    let t0 = Instant::now();
    let say = |m: String| inp.say.say(format!("  {m}"));
    // Written beside the final folder and renamed, so a stopped stage leaves no half output.
    let tmp = tempfile::Builder::new().prefix(".two-stage.").tempdir_in(&stage_dir).map_err(|e| Error::io(&stage_dir, e))?;
    let result = train_into(&spec, &prep, seed, draws, tmp.path(), &say)?;
    let flow_seconds = t0.elapsed().as_secs_f64();
    let tmp_path = tmp.keep();
    std::fs::rename(&tmp_path, &out).map_err(|e| Error::io(&out, e))?;
    let chain_path = inp.layout.chain(&st.name);
    remove_if_present(&chain_path)?;
    std::fs::copy(out.join("draws.h5"), &chain_path).map_err(|e| Error::io(&chain_path, e))?;
    let x: Array2<f64> = crate::chain::read_hdf5(&chain_path)?.flat();
    let (mean, sd) = moments(&x);
    let d = mean.len();
    let rec = StageRecord {
        name: st.name.clone(),
        hash,
        datasets: Vec::new(),
        prior: format!("two-stage(spec={})", spec_path.display()),
        walkers: 1,
        steps: x.nrows(),
        burn: 0,
        seed,
        moves: "independent draws of the stage-2 flow".into(),
        flow_seconds,
        sample_seconds: 0.0,
        evaluations: 0,
        acceptance: 1.0,
        mean,
        sd,
        // Independent draws: no autocorrelation, every draw effective.
        tau: vec![1.0; d],
        ess: vec![x.nrows() as f64; d],
        rhat: vec![1.0; d],
        stranded_walkers: 0,
        mode_loss: None,
        log_z: None,
        log_z_err: None,
        flow_checks: None,
        warnings: Vec::new(),
    };
    inp.say.say(format!(
        "  {} draws of the stage-2 flow (ESS {:.0} of {}), written in {:.1} s",
        x.nrows(),
        result.stage2.ess,
        result.stage2.eval_draws,
        flow_seconds
    ));
    write_text(&record_path, &to_json(&rec)?)?;
    Ok(rec)
}

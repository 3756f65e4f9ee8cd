//! The summary `seqcal sample` prints (text or JSON) after a run.

use std::collections::BTreeMap;

use serde::Serialize;

use super::args::{Resolved, SampleCmdArgs};
use crate::sampler::{Diagnosis, Outcome};

#[derive(Serialize)]
struct Acceptance {
    mean: f64,
    min: f64,
    max: f64,
    per_walker: Vec<f64>,
}

#[derive(Serialize)]
pub(super) struct Summary {
    target: String,
    sampler: &'static str,
    moves: String,
    walkers: usize,
    iterations: usize,
    steps_run: usize,
    burn: usize,
    seed: u64,
    names: Vec<String>,
    wall_seconds: f64,
    evaluations: u64,
    evaluations_per_second: f64,
    density_seconds: f64,
    overhead_ns_per_evaluation: f64,
    failed_evaluations: u64,
    rejected_non_finite: u64,
    relocated_walkers: usize,
    stuck_walkers: usize,
    stuck_fraction: f64,
    acceptance: Acceptance,
    mean: Vec<f64>,
    sd: Vec<f64>,
    tau: Vec<f64>,
    tau_too_short: bool,
    ess: Vec<f64>,
    ess_per_second: f64,
    rhat: Vec<f64>,
    mcse: Vec<f64>,
    /// The sampler's estimate of the log evidence (SMC), and its standard error.
    log_z: Option<f64>,
    log_z_err: Option<f64>,
    /// The target's known log evidence, if any.
    log_z_true: Option<f64>,
    /// The last step's named fields.
    last_step: BTreeMap<String, f64>,
    /// The sampler's extra results: its group (`smc`) and, from it,
    /// `temperatures` and `likelihood_calls`.
    #[serde(flatten)]
    extra: BTreeMap<String, serde_json::Value>,
    output: Option<String>,
    warnings: Vec<String>,
}

/// The summary of `outcome` with its diagnosis; `log_z_true` is the
/// target's known log evidence, if any.
pub(super) fn summarize(
    a: &SampleCmdArgs,
    r: &Resolved,
    spec: &str,
    names: &[String],
    o: &Outcome,
    d: Diagnosis,
    log_z_true: Option<f64>,
) -> Summary {
    let acc = &d.acceptance;
    let min_ess = d.ess.iter().copied().fold(f64::INFINITY, f64::min);
    // The sampler's group under its name (`smc`), with its ladder and calls
    // also at the top level.
    let mut extra = BTreeMap::new();
    if let Some(g) = &o.extra {
        let mut all = serde_json::Map::new();
        for (k, v) in &g.scalars {
            all.insert(k.clone(), serde_json::json!(v));
        }
        for (k, v) in &g.arrays {
            all.insert(k.clone(), serde_json::json!(v));
        }
        for k in ["temperatures", "likelihood_calls"] {
            if let Some(v) = all.get(k) {
                extra.insert(k.to_string(), v.clone());
            }
        }
        extra.insert(g.name.clone(), serde_json::Value::Object(all));
    }
    Summary {
        target: spec.to_string(),
        sampler: o.kind,
        moves: r.settings.moves_text(),
        walkers: o.draws_per_row,
        iterations: d.iterations,
        steps_run: o.steps_run,
        burn: o.burn.min(d.iterations),
        seed: r.seed,
        names: names.to_vec(),
        wall_seconds: o.wall_seconds,
        evaluations: o.evaluations,
        evaluations_per_second: o.evaluations as f64 / o.wall_seconds.max(1e-12),
        density_seconds: o.density_seconds,
        overhead_ns_per_evaluation: if o.evaluations > 0 {
            (o.wall_seconds - o.density_seconds).max(0.0) * 1e9 / o.evaluations as f64
        } else {
            f64::NAN
        },
        failed_evaluations: o.failed_evaluations,
        rejected_non_finite: o.non_finite,
        relocated_walkers: o.field("relocated").unwrap_or(0.0) as usize,
        stuck_walkers: d.stranded.walkers.len(),
        stuck_fraction: d.stranded.fraction,
        acceptance: Acceptance {
            mean: acc.mean().unwrap_or(f64::NAN),
            min: acc.iter().copied().fold(f64::INFINITY, f64::min),
            max: acc.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            per_walker: acc.to_vec(),
        },
        mean: d.mean,
        sd: d.sd,
        tau: d.tau,
        tau_too_short: d.tau_too_short,
        ess_per_second: if o.wall_seconds > 0.0 && min_ess.is_finite() { min_ess / o.wall_seconds } else { f64::NAN },
        ess: d.ess,
        rhat: d.rhat,
        mcse: d.mcse,
        log_z: o.log_z.map(|z| z.0),
        log_z_err: o.log_z.map(|z| z.1),
        log_z_true,
        last_step: o.fields.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        extra,
        output: a.output.as_ref().map(|p| p.display().to_string()),
        warnings: d.warnings,
    }
}

pub(super) fn print_summary(s: &Summary) {
    match s.sampler {
        "ensemble" => println!("target      {} ({} walkers, moves {}, seed {})", s.target, s.walkers, s.moves, s.seed),
        k => println!("target      {} ({k}, {} particles, {}, seed {})", s.target, s.walkers, s.moves, s.seed),
    }
    println!("chain       {} iterations ({} run now, first {} dropped for diagnostics)", s.iterations, s.steps_run, s.burn);
    println!(
        "speed       {:.3} s, {} evaluations ({:.0}/s), sampler overhead {:.0} ns per evaluation",
        s.wall_seconds, s.evaluations, s.evaluations_per_second, s.overhead_ns_per_evaluation
    );
    println!("acceptance  mean {:.3} (min {:.3}, max {:.3})", s.acceptance.mean, s.acceptance.min, s.acceptance.max);
    if s.failed_evaluations + s.rejected_non_finite > 0 {
        println!("rejected    {} proposals with zero or non-finite density ({} failed evaluations)", s.rejected_non_finite, s.failed_evaluations);
    }
    if s.relocated_walkers > 0 {
        println!("relocated   {} stranded walkers during burn-in", s.relocated_walkers);
    }
    if let (Some(z), Some(e)) = (s.log_z, s.log_z_err) {
        let known = s.log_z_true.map(|t| format!(" (known: {t:.4})")).unwrap_or_default();
        println!("log Z       {z:.4} +- {e:.4}{known}");
    }
    for w in &s.warnings {
        println!("WARNING     {w}");
    }
    let w = s.names.iter().map(|n| n.len()).max().unwrap_or(4).max(9);
    println!("\n{:<w$} {:>12} {:>12} {:>9} {:>10} {:>7}", "parameter", "mean", "sd", "tau", "ESS", "R-hat");
    for j in 0..s.names.len() {
        println!("{:<w$} {:>12.5} {:>12.5} {:>9.1} {:>10.0} {:>7.3}", s.names[j], s.mean[j], s.sd[j], s.tau[j], s.ess[j], s.rhat[j]);
    }
    if let Some(out) = &s.output {
        println!("\nwrote {out}");
    }
}

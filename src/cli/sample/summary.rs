//! The summary `seqcal sample` prints (text or JSON) after a run.

use ndarray::{Array1, Array2, Array3, Axis};
use serde::Serialize;

use super::args::{Resolved, SampleCmdArgs};
use crate::diagnostics;
use crate::sampler::ensemble::EnsembleSettings;

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
    log_z: Option<f64>,
    output: Option<String>,
    warnings: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn summarize(
    a: &SampleCmdArgs,
    r: &Resolved,
    spec: &str,
    settings: &EnsembleSettings,
    names: &[String],
    o: &crate::sampler::run::RunOutcome,
    kept: Array3<f64>,
    accepted: &Array1<f64>,
    iterations: usize,
    burn: usize,
    log_z: Option<f64>,
    stranded: &diagnostics::Stranded,
    relocate_until: usize,
) -> Summary {
    let d = diagnostics::Diagnostics::compute(kept.view(), 4);
    let hint = if relocate_until > 0 {
        "relocation during burn-in did not free them: try a longer --burn and --relocate-stuck, or the de_jump move"
    } else {
        "try --relocate-stuck N with --burn N (stranded walkers are moved onto others during burn-in)"
    };
    let warnings = diagnostics::warnings(&d, stranded, settings.walkers, o.failed_evaluations, o.evaluations, hint);
    let flat = kept
        .to_shape((kept.len_of(Axis(0)) * kept.len_of(Axis(1)), kept.len_of(Axis(2))))
        .map(|v| v.to_owned())
        .unwrap_or_else(|_| Array2::zeros((0, names.len())));
    let mean: Vec<f64> = (0..names.len()).map(|j| flat.column(j).mean().unwrap_or(f64::NAN)).collect();
    let sd: Vec<f64> = (0..names.len()).map(|j| flat.column(j).std(0.0)).collect();
    let acc = accepted.mapv(|x| x / iterations.max(1) as f64);
    let min_ess = d.ess.iter().copied().fold(f64::INFINITY, f64::min);
    Summary {
        target: spec.to_string(),
        sampler: "ensemble",
        moves: settings.moves_spec(),
        walkers: settings.walkers,
        iterations,
        steps_run: o.steps_run,
        burn,
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
        relocated_walkers: o.relocated,
        stuck_walkers: stranded.walkers.len(),
        stuck_fraction: stranded.fraction,
        acceptance: Acceptance {
            mean: acc.mean().unwrap_or(f64::NAN),
            min: acc.iter().copied().fold(f64::INFINITY, f64::min),
            max: acc.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            per_walker: acc.to_vec(),
        },
        mean,
        sd,
        tau: d.autocorr.tau.clone(),
        tau_too_short: d.autocorr.too_short,
        ess_per_second: if o.wall_seconds > 0.0 && min_ess.is_finite() { min_ess / o.wall_seconds } else { f64::NAN },
        ess: d.ess,
        rhat: d.rhat,
        mcse: d.mcse_mean,
        log_z,
        output: a.output.as_ref().map(|p| p.display().to_string()),
        warnings,
    }
}

pub(super) fn print_summary(s: &Summary) {
    println!("target      {} ({} walkers, moves {}, seed {})", s.target, s.walkers, s.moves, s.seed);
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

//! The report of a two-stage run: `result.json` ([`RunResult`]: the fit
//! checks of stage 1, the ELBO trace, ESS and log Z of stage 2, the moments of
//! the result), `summary.md`, and corner plots drawn by seqcal's plotting code
//! (`corner.png` of the result; `stage1_<k>.png`, each component's draws
//! against its stage-1 flow's).

use std::path::Path;

use ndarray::{s, Array2, Axis};
use seqcal_two_stage::{FitCheck, ReverseKlSettings, Stage2Result};
use serde::{Deserialize, Serialize};

use super::extrapolation::Extrapolation;
use super::load::ComponentDraws;
use super::spec::{ComponentSpec, DrawSource, Spec};
use crate::report::{corner_plot, CornerOptions, Samples};
use crate::{Error, Result};

/// Most coordinates a corner plot shows (the first ones).
pub const CORNER_MAX: usize = 10;

/// Draws per set in a corner plot, at most.
const CORNER_DRAWS: usize = 50_000;

/// One stage-1 component in `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ComponentResult {
    /// Its label.
    pub label: String,
    /// The chain file or `stage <name>` its draws came from.
    pub source: String,
    /// Its coordinates.
    pub coords: Vec<String>,
    /// Draws it was trained on.
    pub draws: usize,
    /// Its flow, relative to the output folder.
    pub flow: String,
    /// Per coordinate: two-sample KS statistic and p-value (flow draws vs held-out draws).
    pub ks: Vec<KsEntry>,
    /// Average 1-D KL of the marginals, flow vs held-out draws.
    pub kl_1d: f64,
    /// Average 2-D KL, for two or more coordinates.
    pub kl_2d: Option<f64>,
    /// The 1-D KL that sampling noise alone gives.
    pub floor_1d: f64,
    /// The density divided out, if any (its kind).
    pub divide: Option<String>,
}

/// A KS test of one coordinate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KsEntry {
    /// The coordinate.
    pub name: String,
    /// The KS statistic.
    pub statistic: f64,
    /// Its p-value.
    pub p_value: f64,
}

impl ComponentResult {
    /// The entry of component `c` with draws `d` and fit check `check`.
    pub fn new(c: &ComponentSpec, d: &ComponentDraws, check: &FitCheck, flow: String) -> Self {
        ComponentResult {
            label: c.label.clone(),
            source: match &c.source {
                DrawSource::File(p) => p.display().to_string(),
                DrawSource::Stage(s) => format!("stage {s}"),
            },
            coords: d.names.clone(),
            draws: d.draws.nrows(),
            flow,
            ks: check.ks.iter().map(|(n, st, p)| KsEntry { name: n.clone(), statistic: *st, p_value: *p }).collect(),
            kl_1d: check.kl_1d,
            kl_2d: check.kl_2d,
            floor_1d: check.floor_1d,
            divide: c.divide.as_ref().map(|(k, _)| k.clone()),
        }
    }
}

/// Stage 2 in `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stage2Summary {
    /// The flow's architecture (e.g. `realnvp`), pairs, hidden width.
    pub arch: String,
    /// Adam steps.
    pub steps: usize,
    /// Draws per step.
    pub batch: usize,
    /// Learning rate.
    pub lr: f64,
    /// The ELBO at every step.
    pub elbo: Vec<f64>,
    /// The ELBO averaged over the last tenth of the steps.
    pub final_elbo: f64,
    /// Importance-sampling ESS of the weights F/q.
    pub ess: f64,
    /// Draws it was computed on.
    pub eval_draws: usize,
    /// log Z, the log normalizing constant of F.
    pub log_z: f64,
    /// Its standard error.
    pub log_z_err: f64,
    /// Draws where log F was not finite (dropped from the loss).
    pub nonfinite: usize,
}

impl Stage2Summary {
    /// From the engine's result and settings.
    pub fn new(r: &Stage2Result, s: &ReverseKlSettings) -> Self {
        let tail = (r.elbo.len() / 10).max(1).min(r.elbo.len());
        let last = &r.elbo[r.elbo.len() - tail..];
        let finite: Vec<f64> = last.iter().copied().filter(|v| v.is_finite()).collect();
        Stage2Summary {
            arch: format!("{} ({} pairs, hidden {}x{})", s.spec.kind, s.spec.pairs, s.spec.depth, s.spec.hidden),
            steps: s.steps,
            batch: s.batch,
            lr: s.lr,
            elbo: r.elbo.clone(),
            final_elbo: if finite.is_empty() { f64::NAN } else { finite.iter().sum::<f64>() / finite.len() as f64 },
            ess: r.ess,
            eval_draws: s.eval_draws,
            log_z: r.log_z,
            log_z_err: r.log_z_err,
            nonfinite: r.nonfinite,
        }
    }
}

/// `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunResult {
    /// The spec file.
    pub spec: String,
    /// The seed of the run.
    pub seed: u64,
    /// The coordinates.
    pub names: Vec<String>,
    /// Stage 1, per component.
    pub stage1: Vec<ComponentResult>,
    /// Stage 2.
    pub stage2: Stage2Summary,
    /// Draws in `draws.h5`.
    pub draws: usize,
    /// Their mean per coordinate.
    pub mean: Vec<f64>,
    /// Their standard deviation per coordinate.
    pub sd: Vec<f64>,
    /// seqcal's version.
    pub seqcal_version: String,
    /// How far the result lies from each component's draws, and the warnings
    /// where stage 1 extrapolates ([`super::extrapolation`]).
    #[serde(default)]
    pub extrapolation: Vec<Extrapolation>,
}

impl RunResult {
    /// The result of a run of `spec` whose stage-2 draws are `x`.
    pub fn new(spec: &Spec, seed: u64, stage1: Vec<ComponentResult>, stage2: Stage2Summary, x: &Array2<f64>) -> Self {
        let (mean, sd) = moments(x);
        RunResult {
            spec: spec.path.display().to_string(),
            seed,
            names: spec.names(),
            stage1,
            stage2,
            draws: x.nrows(),
            mean,
            sd,
            seqcal_version: crate::VERSION.to_string(),
            extrapolation: Vec::new(),
        }
    }
}

/// Mean and standard deviation of each column.
pub fn moments(x: &Array2<f64>) -> (Vec<f64>, Vec<f64>) {
    let mean = x.mean_axis(Axis(0)).map(|m| m.to_vec()).unwrap_or_default();
    let sd = x.std_axis(Axis(0), 0.0).to_vec();
    (mean, sd)
}

/// Draws for a corner plot: at most [`CORNER_DRAWS`] rows, the first `cols` columns.
fn samples(label: &str, x: &Array2<f64>, cols: usize) -> Samples {
    let thin = x.nrows().div_ceil(CORNER_DRAWS).max(1);
    Samples { label: label.into(), draws: x.slice(s![..;thin, ..cols]).iter().copied().collect(), weights: None }
}

/// Writes `result.json`, the corner plots and `summary.md` into `dir`.
///
/// # Errors
/// A failed write or plot.
pub fn write_report(dir: &Path, spec: &Spec, r: &RunResult, inputs: &[ComponentDraws], flows: &[Array2<f64>], x: &Array2<f64>) -> Result<()> {
    let json = serde_json::to_string_pretty(r)?;
    let p = dir.join("result.json");
    std::fs::write(&p, json + "\n").map_err(|e| Error::io(&p, e))?;
    let opts = CornerOptions::default();
    let cols = r.names.len().min(CORNER_MAX);
    let bounds = spec.bounds();
    corner_plot(&[samples("stage 2", x, cols)], &r.names[..cols], &bounds[..cols], &dir.join("corner.png"), &opts)?;
    for (k, (d, f)) in inputs.iter().zip(flows).enumerate() {
        let c = d.names.len().min(CORNER_MAX);
        let b: Vec<(f64, f64)> = d.bounds.clone().unwrap_or_else(|| vec![(f64::NEG_INFINITY, f64::INFINITY); d.names.len()]);
        let sets = [samples("draws", &d.draws, c), samples("stage-1 flow", f, c)];
        corner_plot(&sets, &d.names[..c], &b[..c], &dir.join(format!("stage1_{}.png", k + 1)), &opts)?;
    }
    let p = dir.join("summary.md");
    std::fs::write(&p, summary_md(r)).map_err(|e| Error::io(&p, e))?;
    Ok(())
}

/// `summary.md`.
pub fn summary_md(r: &RunResult) -> String {
    let mut md =
        format!("# Two-stage flow: {}\n\nseed {}, seqcal {}\n\n## Stage 1: the sample-based components\n\n", r.spec, r.seed, r.seqcal_version);
    if r.stage1.is_empty() {
        md.push_str("No sample-based component: the target is analytic.\n\n");
    } else {
        md.push_str("| component | source | draws | divided out | 1-D KL | floor | 2-D KL | smallest KS p | figure |\n|---|---|---|---|---|---|---|---|---|\n");
        for (k, c) in r.stage1.iter().enumerate() {
            let p = c.ks.iter().map(|k| k.p_value).fold(f64::INFINITY, f64::min);
            md.push_str(&format!(
                "| {} | {} | {} | {} | {:.4} | {:.4} | {} | {:.3} | [stage1_{}.png](stage1_{}.png) |\n",
                c.label,
                c.source,
                c.draws,
                c.divide.as_deref().unwrap_or("-"),
                c.kl_1d,
                c.floor_1d,
                c.kl_2d.map_or("-".into(), |v| format!("{v:.4}")),
                p,
                k + 1,
                k + 1
            ));
        }
        md.push_str("\nThe KL columns compare each stage-1 flow's draws with held-out draws; the floor is what sampling noise alone gives. A KS p-value near zero flags a coordinate the flow misses.\n\n");
    }
    let s = &r.stage2;
    md.push_str(&format!(
        "## Stage 2: the reverse-KL flow\n\n{}, {} steps of {} draws, learning rate {}\n\n| final ELBO | ESS | log Z | non-finite target values |\n|---|---|---|---|\n| {:.4} | {:.0} of {} ({:.1}%) | {:.4} ± {:.4} | {} |\n\n",
        s.arch,
        s.steps,
        s.batch,
        s.lr,
        s.final_elbo,
        s.ess,
        s.eval_draws,
        100.0 * s.ess / s.eval_draws.max(1) as f64,
        s.log_z,
        s.log_z_err,
        s.nonfinite
    ));
    let warnings: Vec<&str> = r.extrapolation.iter().filter_map(|e| e.warning.as_deref()).collect();
    if !warnings.is_empty() {
        md.push_str("## Warnings\n\n");
        for w in warnings {
            md.push_str(&format!("- {w}\n"));
        }
        md.push('\n');
    }
    md.push_str(&format!("## The result ({} equal-weight draws in draws.h5)\n\n| coordinate | mean | sd |\n|---|---|---|\n", r.draws));
    for (j, n) in r.names.iter().enumerate() {
        md.push_str(&format!("| {n} | {:.4} | {:.4} |\n", r.mean[j], r.sd[j]));
    }
    let shown = if r.names.len() > CORNER_MAX { format!(" (the first {CORNER_MAX} coordinates)") } else { String::new() };
    md.push_str(&format!("\n![corner plot of the result{shown}](corner.png)\n"));
    md
}

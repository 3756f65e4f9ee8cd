//! `summary.md`: the report of a pipeline run in Markdown.

use std::fmt::Write as _;
use std::path::Path;

use super::{Comparison, StageRecord};

/// The Markdown summary of pipeline `name` (read from `source`) over the
/// parameters `names`: every stage (with whether it was reused), its
/// posterior means, its warnings, and the comparisons.
pub fn summary_md(name: &str, source: &Path, names: &[String], stages: &[(StageRecord, bool)], comparisons: &[Comparison]) -> String {
    let mut s = format!("# {name}: staged calibration report\n\nWritten by seqcal {} from {}.\n\n## Stages\n\n", crate::VERSION, source.display());
    let _ = writeln!(
        s,
        "| stage | data sets | prior | iterations (burn) x walkers | sampling s | flow s | acceptance | min ESS | max R-hat | mode loss |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for (r, reused) in stages {
        let ml = r
            .mode_loss
            .as_ref()
            .map_or("-".to_string(), |m| format!("{:.2}%{}", 100.0 * m.fraction, if m.warning.is_some() { " WARNING" } else { "" }));
        let _ = writeln!(
            s,
            "| {}{} | {} | {} | {} ({}) x {} | {:.1} | {:.1} | {:.2} | {:.0} | {:.3} | {} |",
            r.name,
            if *reused { " (reused)" } else { "" },
            r.datasets.join(" + "),
            r.prior.replace('|', "/"),
            r.steps,
            r.burn,
            r.walkers,
            r.sample_seconds,
            r.flow_seconds,
            r.acceptance,
            r.ess.iter().copied().fold(f64::INFINITY, f64::min),
            r.rhat.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ml
        );
    }
    let _ = writeln!(s, "\n## Posterior mean ± sd\n\n| stage | {} |\n|---|{}", names.join(" | "), "---|".repeat(names.len()));
    for (r, _) in stages {
        let cells: Vec<String> = r.mean.iter().zip(&r.sd).map(|(m, sd)| format!("{m:.4} ± {sd:.4}")).collect();
        let _ = writeln!(s, "| {} | {} |", r.name, cells.join(" | "));
    }
    for (r, _) in stages {
        if let Some(w) = r.mode_loss.as_ref().and_then(|m| m.warning.as_ref()) {
            let _ = writeln!(s, "\n**Mode-loss warning, stage {}:** {w}", r.name);
        }
    }
    s.push_str(&super::flow_checks_md::flow_checks_md(stages));
    let warned: Vec<&StageRecord> = stages.iter().map(|(r, _)| r).filter(|r| r.warnings.iter().any(|w| !is_mode_loss(r, w))).collect();
    if !warned.is_empty() {
        let _ = writeln!(s, "\n## Warnings\n");
        for r in warned {
            for w in r.warnings.iter().filter(|w| !is_mode_loss(r, w)) {
                let _ = writeln!(s, "- **stage {}:** {w}", r.name);
            }
        }
    }
    if !comparisons.is_empty() {
        comparisons_md(&mut s, comparisons);
    }
    let _ = writeln!(s, "\n## Figures\n\n- `corner_stages.png`: every stage overlaid");
    for c in comparisons {
        let _ = writeln!(s, "- `corner_{}_vs_{}.png`", c.a, c.b);
    }
    s
}

/// The mode-loss warning has its own paragraph; the list holds the others.
fn is_mode_loss(r: &StageRecord, w: &str) -> bool {
    r.mode_loss.as_ref().and_then(|m| m.warning.as_deref()) == Some(w)
}

/// A number and its floor, or `absent` (a 2-D average with one parameter) or `-` (not computed).
fn with_floor(v: Option<f64>, floor: Option<f64>) -> String {
    match (v, floor) {
        (Some(v), Some(f)) => format!("{v:.4} ({f:.4})"),
        (Some(v), None) => format!("{v:.4}"),
        (None, _) => "absent".into(),
    }
}

/// The comparisons table: both metrics, each beside its two-sample floor.
fn comparisons_md(s: &mut String, comparisons: &[Comparison]) {
    let _ = writeln!(
        s,
        "\n## Comparisons (reference = b)\n\n| a | b | avg 1-D KL (floor) | avg 2-D KL (floor) | paper ⟨D_KL⟩ (floor) | cov. Frobenius rel. | largest \\|Δmean\\|/sd | largest \\|Δmean\\|/MCSE | verdict |\n|---|---|---|---|---|---|---|---|---|"
    );
    for c in comparisons {
        let worst = c.params.iter().map(|p| p.mean_diff_in_sd.abs()).fold(0.0, f64::max);
        let worst_mcse = c.params.iter().map(|p| p.mean_diff_in_mcse.abs()).fold(0.0, f64::max);
        let (k1, k2) = match &c.seqcal {
            Some(k) => (with_floor(Some(c.mean_kl_1d()), Some(k.floor_kl_1d)), with_floor(c.mean_kl_2d(), k.floor_kl_2d)),
            None => ("-".into(), "-".into()),
        };
        let paper = c.paper.as_ref().map_or("-".into(), |p| with_floor(Some(p.kl.d_kl), Some(p.floor.d_kl)));
        let _ = writeln!(
            s,
            "| {} | {} | {k1} | {k2} | {paper} | {:.3} | {:.2} | {:.1} | {} |",
            c.a,
            c.b,
            c.cov_frobenius_rel,
            worst,
            worst_mcse,
            c.verdict.split(':').next().unwrap_or("")
        );
    }
    let _ = writeln!(
        s,
        "\nseqcal's KL: histogram estimate, 50 bins per parameter and 20 x 20 per pair over b's range, a 0.5 pseudo-count per bin, averaged over both directions (see `seqcal compare`). \
         Paper ⟨D_KL⟩: KL(b ‖ a) as Roch & Shen compute it, 75 bins per parameter and 75 x 75 per pair over the prior box, 1e-10 added to every density bin, (mean 1-D + mean 2-D) / 2. \
         Floor: the same metric between two independent samples of b's size (b's two halves of walkers, scaled to its size), what sampling noise alone gives. \
         Importance weights are honoured; MCSE: the Monte Carlo standard error of the difference of the means."
    );
}

//! The "Flow priors" section of `summary.md`: for every stage with a flow
//! prior, the flow's fit to its source chain, the lost-mode check and a
//! defensive mixture's weights.

use std::fmt::Write as _;

use super::StageRecord;

fn opt(v: Option<f64>) -> String {
    v.map_or("absent".to_string(), |v| format!("{v:.4}"))
}

/// The section, or nothing when no stage has flow checks.
pub fn flow_checks_md(stages: &[(StageRecord, bool)]) -> String {
    let rows: Vec<_> = stages.iter().filter_map(|(r, _)| r.flow_checks.as_ref().map(|c| (r, c))).collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\n## Flow priors\n\n| stage | flow's fit: 1-D KL (floor) | 2-D KL (floor) | lost-mode check: joint region lost | region draws (from the new data's side) | ESS of flow draws under the new data | mode-loss case | defensive: base share (weights' ESS) |\n|---|---|---|---|---|---|---|---|\n",
    );
    for (r, c) in &rows {
        let (fit1, fit2) = c.flow_fit.as_ref().map_or(("-".to_string(), "-".to_string()), |f| {
            let warn = if f.warning.is_some() { " WARNING" } else { "" };
            (format!("{:.4} ({:.4}){warn}", f.kl_1d, f.floor_1d), format!("{} ({})", opt(f.kl_2d), opt(f.floor_2d)))
        });
        let (lost, region, ess) = c.lost_mode.as_ref().map_or(("-".to_string(), "-".to_string(), "-".to_string()), |l| {
            (
                format!("{:.0}%{}", 100.0 * l.lost_fraction, if l.lost { " LOST MODE" } else { "" }),
                format!("{} ({}, {})", l.region_draws, l.region_from_new_side, l.new_side),
                format!("{:.2}%", 100.0 * l.flow_ess_fraction),
            )
        });
        let case = r.mode_loss.as_ref().and_then(|m| m.case.clone()).unwrap_or_else(|| "-".into());
        let def = c.defensive.as_ref().map_or("-".to_string(), |d| format!("{:.1}% ({:.2}%)", 100.0 * d.base_share, 100.0 * d.ess_fraction));
        let _ = writeln!(s, "| {} | {fit1} | {fit2} | {lost} | {region} | {ess} | {case} | {def} |", r.name);
    }
    s.push_str(
        "\nThe flow's fit: KL of the flow's draws against the source stage's draws its training held out (draws it was not trained on), next to the KL between those and as many training draws (the floor). \
The lost-mode check evaluates prior x both data sets' likelihoods on draws of the source stage and of the new data's side, keeps those near the best value (the joint posterior's high-density region), \
and counts where the flow is more than 100 times below the source stage's posterior density: a lost mode, which no sampler of this stage can recover. \
A mode-loss warning without a lost mode is tension: the new data favour the prior's tail. \
A defensive mixture's chain carries importance weights (1-ε)q / ((1-ε)q + ε·base) to the flow-prior posterior; its comparisons and means use them.\n",
    );
    for (r, c) in rows {
        for k in &c.skipped {
            let _ = writeln!(s, "\n*Stage {}: not checked:* {k}", r.name);
        }
    }
    s
}

//! What a comparison says: the metrics it shows ([`Metric`]), its verdict and
//! its terminal table.

use std::fmt::Write as _;

use serde::Serialize;

use super::compare::{Comparison, ParamDiff};

/// Average 1-D KL below which two posteriors count as the same for the
/// verdict (the staged-calibration goal of this project: 0.02).
pub const KL_SAME: f64 = 0.02;
/// Average 2-D KL below which the pairs count as the same (the 20 x 20
/// binning's floor is several times the 1-D one's).
pub const KL2_SAME: f64 = 0.05;
/// Largest mean shift, in reference standard deviations, for the verdict.
pub const MEAN_SAME: f64 = 0.2;
/// A mean shift larger than this many reference sd that is also resolved
/// beyond [`MCSE_SAME`] Monte Carlo standard errors makes two samples differ
/// (a shift this small moves a Gaussian's KL by only 0.00125, below any
/// histogram floor: the KL alone cannot see it).
pub const MEAN_RESOLVED: f64 = 0.05;
/// Mean shifts beyond this many Monte Carlo standard errors are not sampling noise.
pub const MCSE_SAME: f64 = 5.0;

/// Which metrics a comparison shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// The paper's `⟨D_KL⟩` (75 bins over the prior box, KL(reference ‖ approximation)).
    Paper,
    /// seqcal's averages (50 bins, 20 × 20 per pair, both directions).
    Seqcal,
    /// Both.
    #[default]
    Both,
}

impl Metric {
    /// Whether seqcal's metric is shown.
    pub fn seqcal(self) -> bool {
        self != Metric::Paper
    }

    /// Whether the paper's metric is shown.
    pub fn paper(self) -> bool {
        self != Metric::Seqcal
    }
}

impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "paper" => Ok(Metric::Paper),
            "seqcal" => Ok(Metric::Seqcal),
            "both" => Ok(Metric::Both),
            _ => Err(format!("unknown metric '{s}': paper, seqcal or both")),
        }
    }
}

/// A number, or `absent` (a 2-D average with one parameter).
pub(super) fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "absent".into(), |v| format!("{v:.digits$}"))
}

/// The verdict: seqcal's average KLs under [`KL_SAME`] and [`KL2_SAME`]
/// (no 2-D test with one parameter), every mean within [`MEAN_SAME`] sd, and no
/// mean shift both above [`MEAN_RESOLVED`] sd and beyond [`MCSE_SAME`] Monte
/// Carlo standard errors.
pub(super) fn verdict(params: &[ParamDiff], kl: f64, kl2: Option<f64>) -> String {
    let Some(worst) = params.iter().max_by(|p, q| p.mean_diff_in_sd.abs().total_cmp(&q.mean_diff_in_sd.abs())) else {
        return "no parameters".into();
    };
    let resolved = |p: &&ParamDiff| p.mean_diff_in_sd.abs() > MEAN_RESOLVED && p.mean_diff_in_mcse.abs() > MCSE_SAME;
    let worst_mcse = params.iter().filter(resolved).max_by(|p, q| p.mean_diff_in_mcse.abs().total_cmp(&q.mean_diff_in_mcse.abs()));
    let kl2_ok = kl2.is_none_or(|k| k <= KL2_SAME);
    let kl2_text = match kl2 {
        Some(k) => format!("2-D KL {k:.4}"),
        None => "2-D KL absent (one parameter)".into(),
    };
    if kl <= KL_SAME && kl2_ok && worst.mean_diff_in_sd.abs() <= MEAN_SAME && worst_mcse.is_none() {
        return format!(
            "consistent: average 1-D KL {kl:.4} <= {KL_SAME}, {kl2_text}{}, every mean within {MEAN_SAME} sd and within {MCSE_SAME} Monte Carlo standard errors (or {MEAN_RESOLVED} sd)",
            if kl2.is_some() { format!(" <= {KL2_SAME}") } else { String::new() }
        );
    }
    let worst_kl = params
        .iter()
        .max_by(|p, q| (p.kl_1d_ab.unwrap_or(0.0) + p.kl_1d_ba.unwrap_or(0.0)).total_cmp(&(q.kl_1d_ab.unwrap_or(0.0) + q.kl_1d_ba.unwrap_or(0.0))))
        .map_or("?", |p| p.name.as_str());
    let mut s = format!(
        "differ: average 1-D KL {kl:.4} (<= {KL_SAME} wanted), {kl2_text}{}; largest mean shift {:.2} sd in {}; largest 1-D KL in {worst_kl}",
        if kl2.is_some() { format!(" (<= {KL2_SAME})") } else { String::new() },
        worst.mean_diff_in_sd,
        worst.name
    );
    if let Some(p) = worst_mcse {
        let _ = write!(
            s,
            "; the mean of {} moved {:.3} sd = {:.1} Monte Carlo standard errors (beyond {MCSE_SAME}: not sampling noise)",
            p.name, p.mean_diff_in_sd, p.mean_diff_in_mcse
        );
    }
    s
}

impl Comparison {
    /// The comparison as a terminal table.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let w = |b: bool| if b { ", weighted" } else { "" };
        let _ = writeln!(s, "A           {} ({} draws{})", self.a, self.draws_a, w(self.weighted_a));
        let _ = writeln!(s, "B           {} ({} draws{}, the reference)", self.b, self.draws_b, w(self.weighted_b));
        if let Some(k) = &self.seqcal {
            let _ = writeln!(
                s,
                "KL 1-D      {:.5} (B||A), {:.5} (A||B), averaged over parameters; floor {:.5}",
                k.mean_kl_1d_ab, k.mean_kl_1d_ba, k.floor_kl_1d
            );
            match (k.mean_kl_2d_ab, k.mean_kl_2d_ba) {
                (Some(ab), Some(ba)) => {
                    let _ = writeln!(s, "KL 2-D      {ab:.5} (B||A), {ba:.5} (A||B), averaged over pairs; floor {}", opt(k.floor_kl_2d, 5));
                }
                _ => {
                    let _ = writeln!(s, "KL 2-D      absent (one parameter)");
                }
            }
        }
        if let Some(p) = &self.paper {
            let _ = writeln!(
                s,
                "<D_KL>      {:.5} (paper: KL(B||A), {} bins over the {} box; 1-D {:.5}, 2-D {}); floor {:.5} (1-D {:.5}, 2-D {})",
                p.kl.d_kl,
                p.bins,
                if p.box_from == "bounds" { "prior" } else { "draws'" },
                p.kl.mean_kl_1d,
                opt(p.kl.mean_kl_2d, 5),
                p.floor.d_kl,
                p.floor.mean_kl_1d,
                opt(p.floor.mean_kl_2d, 5)
            );
        }
        let _ = writeln!(s, "covariance  relative Frobenius error {:.4}", self.cov_frobenius_rel);
        let nw = self.params.iter().map(|p| p.name.len()).max().unwrap_or(4).max(9);
        let _ = write!(s, "\n{:<nw$} {:>12} {:>12} {:>10} {:>10} {:>9}", "parameter", "mean A", "mean B", "dmean/sd", "dmean/MCSE", "sd A/B");
        if self.seqcal.is_some() {
            let _ = write!(s, " {:>9} {:>9}", "KL B||A", "KL A||B");
        }
        if self.paper.is_some() {
            let _ = write!(s, " {:>9}", "paper KL");
        }
        let _ = writeln!(s);
        for p in &self.params {
            let _ = write!(
                s,
                "{:<nw$} {:>12.5} {:>12.5} {:>10.3} {:>10.2} {:>9.3}",
                p.name, p.mean_a, p.mean_b, p.mean_diff_in_sd, p.mean_diff_in_mcse, p.sd_ratio
            );
            if let (Some(ab), Some(ba)) = (p.kl_1d_ab, p.kl_1d_ba) {
                let _ = write!(s, " {ab:>9.4} {ba:>9.4}");
            }
            if let Some(k) = p.paper_kl_1d {
                let _ = write!(s, " {k:>9.4}");
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s, "\n{}", self.verdict);
        s
    }
}

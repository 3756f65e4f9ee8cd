//! What a comparison judges: the metrics it shows ([`Metric`]), each
//! parameter's differences ([`ParamDiff`]) and the verdict's thresholds.

use std::fmt::Write as _;

use serde::Serialize;

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

/// One parameter's differences.
#[derive(Debug, Clone, Serialize)]
pub struct ParamDiff {
    /// Parameter name.
    pub name: String,
    /// Mean under A.
    pub mean_a: f64,
    /// Mean under B.
    pub mean_b: f64,
    /// (mean_a - mean_b) / sd_b.
    pub mean_diff_in_sd: f64,
    /// (mean_a - mean_b) over the Monte Carlo standard error of that difference,
    /// `√(mcse_a² + mcse_b²)`, each `sd / √ESS` (ESS from the autocorrelation
    /// time, times Kish's efficiency of the weights).
    pub mean_diff_in_mcse: f64,
    /// sd_a / sd_b.
    pub sd_ratio: f64,
    /// seqcal's KL(B ‖ A) of the marginal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kl_1d_ab: Option<f64>,
    /// seqcal's KL(A ‖ B) of the marginal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kl_1d_ba: Option<f64>,
    /// The paper's KL(B ‖ A) of the marginal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paper_kl_1d: Option<f64>,
}

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

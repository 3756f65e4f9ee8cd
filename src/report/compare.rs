//! The comparison of two posterior samples (`seqcal compare` and every
//! `[[compare]]` pair of a pipeline): average 1-D and 2-D KL in both
//! directions, per-parameter shifts of mean and sd, the covariance error, and
//! a one-line verdict.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::diagnostics::KlSummary;

/// Average 1-D KL below which two posteriors count as the same for the
/// verdict (the staged-calibration goal of this project: 0.02).
pub const KL_SAME: f64 = 0.02;
/// Average 2-D KL below which the pairs count as the same (the 20 x 20
/// binning's floor is several times the 1-D one's).
pub const KL2_SAME: f64 = 0.05;
/// Largest mean shift, in reference standard deviations, for the verdict.
pub const MEAN_SAME: f64 = 0.2;

/// One parameter's differences.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParamDiff {
    /// Parameter name.
    pub name: String,
    /// Mean under A.
    pub mean_a: f64,
    /// Mean under B.
    pub mean_b: f64,
    /// (mean_a - mean_b) / sd_b.
    pub mean_diff_in_sd: f64,
    /// sd_a / sd_b.
    pub sd_ratio: f64,
    /// KL(B ‖ A) of the marginal.
    pub kl_1d_ab: f64,
    /// KL(A ‖ B) of the marginal.
    pub kl_1d_ba: f64,
}

/// The comparison of sample A with the reference sample B.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    /// Label of A (a file or a stage).
    pub a: String,
    /// Label of B, the reference.
    pub b: String,
    /// Draws of A compared.
    pub draws_a: usize,
    /// Draws of B compared.
    pub draws_b: usize,
    /// Average over parameters of KL(B ‖ A) of the 1-D marginals, B as reference.
    pub mean_kl_1d_ab: f64,
    /// Average of KL(A ‖ B), A as reference.
    pub mean_kl_1d_ba: f64,
    /// Average over parameter pairs of the 2-D KL(B ‖ A).
    pub mean_kl_2d_ab: f64,
    /// Average over parameter pairs of the 2-D KL(A ‖ B).
    pub mean_kl_2d_ba: f64,
    /// ‖C_a - C_b‖_F / ‖C_b‖_F.
    pub cov_frobenius_rel: f64,
    /// Per-parameter differences.
    pub params: Vec<ParamDiff>,
    /// `consistent: ...` or `differ: ...`.
    pub verdict: String,
}

/// A difference `d` relative to a scale `s`: 0 when there is no difference,
/// even on a zero scale (a constant parameter compared with itself).
fn relative(d: f64, s: f64) -> f64 {
    if d == 0.0 {
        0.0
    } else {
        d / s
    }
}

/// `a / b`, 1 when they are equal (two zero spreads are the same spread).
fn ratio(a: f64, b: f64) -> f64 {
    if a == b {
        1.0
    } else {
        a / b
    }
}

fn cov(x: ArrayView2<'_, f64>) -> Array2<f64> {
    let n = x.nrows() as f64;
    let mean = x.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(x.ncols()));
    let c = &x - &mean;
    c.t().dot(&c) / n
}

impl Comparison {
    /// Compares draws `xa` (labelled `a`) with the reference draws `xb`; both
    /// hold the parameters `names` in the same order.
    pub fn compute(a: &str, xa: ArrayView2<'_, f64>, b: &str, xb: ArrayView2<'_, f64>, names: &[String]) -> Comparison {
        // B is the reference in the "ab" direction (KL(B ‖ A) with B's binning), A in "ba".
        let ab = KlSummary::compute(xb, xa);
        let ba = KlSummary::compute(xa, xb);
        let (ca, cb) = (cov(xa), cov(xb));
        let fro = |m: &Array2<f64>| m.iter().map(|v| v * v).sum::<f64>().sqrt();
        let params: Vec<ParamDiff> = names
            .iter()
            .enumerate()
            .map(|(j, n)| {
                let (ma, mb) = (xa.column(j).mean().unwrap_or(f64::NAN), xb.column(j).mean().unwrap_or(f64::NAN));
                let (sa, sb) = (ca[[j, j]].sqrt(), cb[[j, j]].sqrt());
                ParamDiff {
                    name: n.clone(),
                    mean_a: ma,
                    mean_b: mb,
                    mean_diff_in_sd: relative(ma - mb, sb),
                    sd_ratio: ratio(sa, sb),
                    kl_1d_ab: ab.kl_1d[j],
                    kl_1d_ba: ba.kl_1d[j],
                }
            })
            .collect();
        let verdict = verdict(&params, 0.5 * (ab.mean_kl_1d + ba.mean_kl_1d), 0.5 * (ab.mean_kl_2d + ba.mean_kl_2d));
        Comparison {
            a: a.into(),
            b: b.into(),
            draws_a: xa.nrows(),
            draws_b: xb.nrows(),
            mean_kl_1d_ab: ab.mean_kl_1d,
            mean_kl_1d_ba: ba.mean_kl_1d,
            mean_kl_2d_ab: ab.mean_kl_2d,
            mean_kl_2d_ba: ba.mean_kl_2d,
            cov_frobenius_rel: relative(fro(&(&ca - &cb)), fro(&cb)),
            params,
            verdict,
        }
    }

    /// The average 1-D KL over both directions (the headline number).
    pub fn mean_kl_1d(&self) -> f64 {
        0.5 * (self.mean_kl_1d_ab + self.mean_kl_1d_ba)
    }

    /// The average 2-D KL over both directions.
    pub fn mean_kl_2d(&self) -> f64 {
        0.5 * (self.mean_kl_2d_ab + self.mean_kl_2d_ba)
    }

    /// Whether the verdict is `consistent`.
    pub fn consistent(&self) -> bool {
        self.verdict.starts_with("consistent")
    }

    /// The comparison as a terminal table.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "A           {} ({} draws)", self.a, self.draws_a);
        let _ = writeln!(s, "B           {} ({} draws, the reference)", self.b, self.draws_b);
        let _ = writeln!(s, "KL 1-D      {:.5} (B||A), {:.5} (A||B), averaged over parameters", self.mean_kl_1d_ab, self.mean_kl_1d_ba);
        let _ = writeln!(s, "KL 2-D      {:.5} (B||A), {:.5} (A||B), averaged over pairs", self.mean_kl_2d_ab, self.mean_kl_2d_ba);
        let _ = writeln!(s, "covariance  relative Frobenius error {:.4}", self.cov_frobenius_rel);
        let w = self.params.iter().map(|p| p.name.len()).max().unwrap_or(4).max(9);
        let _ = writeln!(
            s,
            "\n{:<w$} {:>12} {:>12} {:>10} {:>9} {:>9} {:>9}",
            "parameter", "mean A", "mean B", "dmean/sd", "sd A/B", "KL B||A", "KL A||B"
        );
        for p in &self.params {
            let _ = writeln!(
                s,
                "{:<w$} {:>12.5} {:>12.5} {:>10.3} {:>9.3} {:>9.4} {:>9.4}",
                p.name, p.mean_a, p.mean_b, p.mean_diff_in_sd, p.sd_ratio, p.kl_1d_ab, p.kl_1d_ba
            );
        }
        let _ = writeln!(s, "\n{}", self.verdict);
        s
    }
}

fn verdict(params: &[ParamDiff], kl: f64, kl2: f64) -> String {
    let worst = params.iter().max_by(|p, q| p.mean_diff_in_sd.abs().total_cmp(&q.mean_diff_in_sd.abs()));
    match worst {
        // A single parameter has no pairs (NaN): it passes the 2-D test.
        Some(w) if kl <= KL_SAME && kl2.partial_cmp(&KL2_SAME) != Some(std::cmp::Ordering::Greater) && w.mean_diff_in_sd.abs() <= MEAN_SAME => {
            format!("consistent: average 1-D KL {kl:.4} <= {KL_SAME}, 2-D KL {kl2:.4} <= {KL2_SAME}, every mean within {MEAN_SAME} sd")
        }
        Some(w) => {
            let worst_kl =
                params.iter().max_by(|p, q| (p.kl_1d_ab + p.kl_1d_ba).total_cmp(&(q.kl_1d_ab + q.kl_1d_ba))).map_or("?", |p| p.name.as_str());
            format!(
                "differ: average 1-D KL {kl:.4} (<= {KL_SAME} wanted), 2-D KL {kl2:.4} (<= {KL2_SAME}); largest mean shift {:.2} sd in {}; largest 1-D KL in {worst_kl}",
                w.mean_diff_in_sd, w.name
            )
        }
        None => "no parameters".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn a_sample_is_consistent_with_itself_even_when_constant() {
        let names = vec!["a".to_string(), "b".to_string()];
        let constant = Array2::from_elem((100, 2), 3.0);
        let c = Comparison::compute("x", constant.view(), "x", constant.view(), &names);
        assert!(c.consistent(), "{}", c.verdict);
        assert_eq!((c.params[0].mean_diff_in_sd, c.params[0].sd_ratio, c.cov_frobenius_rel), (0.0, 1.0, 0.0));
        let mut other = constant.clone();
        other.column_mut(1).fill(4.0);
        let d = Comparison::compute("y", other.view(), "x", constant.view(), &names);
        assert!(!d.consistent(), "{}", d.verdict);
        let varied = Array2::from_shape_fn((400, 2), |(i, j)| ((i * 37 + j * 11) % 101) as f64);
        assert!(Comparison::compute("v", varied.view(), "v", varied.view(), &names).consistent());
    }
}

//! A comparison's terminal table.

use std::fmt::Write as _;

use super::compare::Comparison;

/// A number, or `absent` (a 2-D average with one parameter).
fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "absent".into(), |v| format!("{v:.digits$}"))
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

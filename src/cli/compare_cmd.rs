//! `seqcal compare A B`: how far one posterior sample is from another.

use ndarray::Array2;
use serde::Serialize;

use super::args::CompareArgs;
use crate::chain;
use crate::diagnostics::KlSummary;
use crate::{Error, Result};

/// Average 1-D KL below which two posteriors count as the same for the
/// verdict (the staged-calibration goal of this project: 0.02).
const KL_SAME: f64 = 0.02;
/// Average 2-D KL below which the pairs count as the same (the 20 x 20
/// binning's floor is several times the 1-D one's).
const KL2_SAME: f64 = 0.05;
/// Largest mean shift, in reference standard deviations, for the verdict.
const MEAN_SAME: f64 = 0.2;

#[derive(Serialize)]
struct Param {
    name: String,
    mean_a: f64,
    mean_b: f64,
    /// (mean_a - mean_b) / sd_b.
    mean_diff_in_sd: f64,
    /// sd_a / sd_b.
    sd_ratio: f64,
    kl_1d_ab: f64,
    kl_1d_ba: f64,
}

#[derive(Serialize)]
struct Comparison {
    a: String,
    b: String,
    draws_a: usize,
    draws_b: usize,
    /// Average over parameters of KL(B ‖ A) of the 1-D marginals, B as reference.
    mean_kl_1d_ab: f64,
    /// Average of KL(A ‖ B), A as reference.
    mean_kl_1d_ba: f64,
    /// Average over parameter pairs of the 2-D KL, both directions.
    mean_kl_2d_ab: f64,
    mean_kl_2d_ba: f64,
    /// ‖C_a - C_b‖_F / ‖C_b‖_F.
    cov_frobenius_rel: f64,
    params: Vec<Param>,
    verdict: String,
}

fn load(path: &std::path::Path, discard: usize, thin: usize) -> Result<(Vec<String>, Array2<f64>)> {
    let c = chain::read_any(path)?.discard(discard).thin(thin);
    let flat = c.flat();
    if flat.nrows() < 10 {
        return Err(Error::chain(path, format!("only {} draws left after --discard/--thin: too few to compare", flat.nrows())));
    }
    Ok((c.names, flat))
}

fn cov(x: &Array2<f64>) -> Array2<f64> {
    let n = x.nrows() as f64;
    let mean = x.mean_axis(ndarray::Axis(0)).unwrap_or_else(|| ndarray::Array1::zeros(x.ncols()));
    let c = x - &mean;
    c.t().dot(&c) / n
}

pub(super) fn compare(a: &CompareArgs) -> Result<()> {
    let (names_a, xa) = load(&a.a, a.discard, a.thin)?;
    let (names_b, xb) = load(&a.b, a.discard, a.thin)?;
    if names_a != names_b {
        return Err(Error::chain(&a.a, format!("holds parameters [{}] but {} holds [{}]", names_a.join(", "), a.b.display(), names_b.join(", "))));
    }
    // B is the reference in the "ab" direction (KL(B ‖ A) with B's binning), A in "ba".
    let ab = KlSummary::compute(xb.view(), xa.view());
    let ba = KlSummary::compute(xa.view(), xb.view());
    let (ca, cb) = (cov(&xa), cov(&xb));
    let fro = |m: &Array2<f64>| m.iter().map(|v| v * v).sum::<f64>().sqrt();
    let params: Vec<Param> = names_a
        .iter()
        .enumerate()
        .map(|(j, n)| {
            let (ma, mb) = (xa.column(j).mean().unwrap_or(f64::NAN), xb.column(j).mean().unwrap_or(f64::NAN));
            let (sa, sb) = (ca[[j, j]].sqrt(), cb[[j, j]].sqrt());
            Param { name: n.clone(), mean_a: ma, mean_b: mb, mean_diff_in_sd: (ma - mb) / sb, sd_ratio: sa / sb, kl_1d_ab: ab.kl_1d[j], kl_1d_ba: ba.kl_1d[j] }
        })
        .collect();
    let worst = params.iter().max_by(|p, q| p.mean_diff_in_sd.abs().total_cmp(&q.mean_diff_in_sd.abs()));
    let kl = 0.5 * (ab.mean_kl_1d + ba.mean_kl_1d);
    // A single parameter has no pairs (NaN): it passes the 2-D test.
    let kl2 = 0.5 * (ab.mean_kl_2d + ba.mean_kl_2d);
    let verdict = match worst {
        Some(w) if kl <= KL_SAME && !(kl2 > KL2_SAME) && w.mean_diff_in_sd.abs() <= MEAN_SAME => {
            format!("consistent: average 1-D KL {kl:.4} <= {KL_SAME}, 2-D KL {kl2:.4} <= {KL2_SAME}, every mean within {MEAN_SAME} sd")
        }
        Some(w) => {
            let worst_kl = params.iter().max_by(|p, q| (p.kl_1d_ab + p.kl_1d_ba).total_cmp(&(q.kl_1d_ab + q.kl_1d_ba))).map_or("?", |p| p.name.as_str());
            format!(
                "differ: average 1-D KL {kl:.4} (<= {KL_SAME} wanted), 2-D KL {kl2:.4} (<= {KL2_SAME}); largest mean shift {:.2} sd in {}; largest 1-D KL in {worst_kl}",
                w.mean_diff_in_sd, w.name
            )
        }
        None => "no parameters".into(),
    };
    let out = Comparison {
        a: a.a.display().to_string(),
        b: a.b.display().to_string(),
        draws_a: xa.nrows(),
        draws_b: xb.nrows(),
        mean_kl_1d_ab: ab.mean_kl_1d,
        mean_kl_1d_ba: ba.mean_kl_1d,
        mean_kl_2d_ab: ab.mean_kl_2d,
        mean_kl_2d_ba: ba.mean_kl_2d,
        cov_frobenius_rel: fro(&(&ca - &cb)) / fro(&cb),
        params,
        verdict,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out).map_err(|e| Error::Usage(e.to_string()))?);
        return Ok(());
    }
    println!("A           {} ({} draws)", out.a, out.draws_a);
    println!("B           {} ({} draws, the reference)", out.b, out.draws_b);
    println!("KL 1-D      {:.5} (B||A), {:.5} (A||B), averaged over parameters", out.mean_kl_1d_ab, out.mean_kl_1d_ba);
    println!("KL 2-D      {:.5} (B||A), {:.5} (A||B), averaged over pairs", out.mean_kl_2d_ab, out.mean_kl_2d_ba);
    println!("covariance  relative Frobenius error {:.4}", out.cov_frobenius_rel);
    let w = out.params.iter().map(|p| p.name.len()).max().unwrap_or(4).max(9);
    println!("\n{:<w$} {:>12} {:>12} {:>10} {:>9} {:>9} {:>9}", "parameter", "mean A", "mean B", "dmean/sd", "sd A/B", "KL B||A", "KL A||B");
    for p in &out.params {
        println!("{:<w$} {:>12.5} {:>12.5} {:>10.3} {:>9.3} {:>9.4} {:>9.4}", p.name, p.mean_a, p.mean_b, p.mean_diff_in_sd, p.sd_ratio, p.kl_1d_ab, p.kl_1d_ba);
    }
    println!("\n{}", out.verdict);
    Ok(())
}

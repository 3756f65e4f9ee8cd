//! `seqcal compare` through the real binary: the paper's metric beside
//! seqcal's, each with its floor, importance weights, one parameter.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::{fails, succeeds};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A CSV chain of `n` independent draws of N(mean, sd²) in each of `names`,
/// with a `weight` column from `weight(row)` when given.
fn csv_chain(dir: &Path, file: &str, names: &[&str], n: usize, (mean, sd): (f64, f64), seed: u64, weight: Option<&dyn Fn(&[f64]) -> f64>) -> PathBuf {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut text = names.join(",");
    if weight.is_some() {
        text.push_str(",weight");
    }
    text.push('\n');
    for _ in 0..n {
        let row: Vec<f64> = names.iter().map(|_| mean + sd * Distribution::<f64>::sample(&StandardNormal, &mut rng)).collect();
        let cells: Vec<String> = row.iter().map(|v| format!("{v:.17e}")).collect();
        let _ = write!(text, "{}", cells.join(","));
        if let Some(w) = weight {
            let _ = write!(text, ",{:.17e}", w(&row));
        }
        text.push('\n');
    }
    let p = dir.join(file);
    std::fs::write(&p, text).unwrap();
    p
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&succeeds(args)).unwrap()
}

#[test]
fn metric_paper_seqcal_or_both_each_beside_its_floor() {
    let dir = tempfile::tempdir().unwrap();
    let a = csv_chain(dir.path(), "a.csv", &["p", "q"], 20_000, (0.0, 1.0), 1, None);
    let b = csv_chain(dir.path(), "b.csv", &["p", "q"], 20_000, (0.0, 1.0), 2, None);
    let shifted = csv_chain(dir.path(), "c.csv", &["p", "q"], 20_000, (0.5, 1.0), 3, None);
    let both = json(&["compare", s(&a), s(&b), "--json", "--bounds", "p=-6:6,q=-6:6"]);
    assert_eq!(both["metric"], "both");
    let paper = &both["paper"];
    assert_eq!((paper["bins"].as_u64(), paper["box_from"].as_str()), (Some(75), Some("bounds")), "{both}");
    assert_eq!(paper["box"], serde_json::json!([[-6.0, 6.0], [-6.0, 6.0]]));
    // Two samples of one law sit at their floor; a shift of 0.5 sd is far above it.
    let (d, floor) = (paper["d_kl"].as_f64().unwrap(), paper["floor"]["d_kl"].as_f64().unwrap());
    assert!(d < 2.0 * floor && floor > 0.0, "{both}");
    assert!(both["mean_kl_1d_ab"].as_f64().unwrap() < 2.0 * both["floor_kl_1d"].as_f64().unwrap(), "{both}");
    let far = json(&["compare", s(&shifted), s(&b), "--json", "--metric", "paper"]);
    assert!(far.get("mean_kl_1d_ab").is_none() && far["paper"]["box_from"] == "draws", "{far}");
    // 0.125 per marginal: far above the 1-D floor; the 75 x 75 pairs of 20 000 draws have a
    // floor of their own (tail bins one sample fills and the other does not) that the shift exceeds.
    let fp = &far["paper"];
    assert!(
        fp["mean_kl_1d"].as_f64().unwrap() > 0.1 && fp["mean_kl_1d"].as_f64().unwrap() > 10.0 * fp["floor"]["mean_kl_1d"].as_f64().unwrap(),
        "{far}"
    );
    assert!(fp["d_kl"].as_f64().unwrap() > fp["floor"]["d_kl"].as_f64().unwrap(), "{far}");
    let seqcal = json(&["compare", s(&a), s(&b), "--json", "--metric", "seqcal"]);
    assert!(seqcal.get("paper").is_none() && seqcal["floor_kl_2d"].is_f64(), "{seqcal}");
    let text = succeeds(&["compare", s(&a), s(&b)]);
    assert!(text.contains("<D_KL>") && text.contains("floor") && text.contains("KL 1-D"), "{text}");
    let e = fails(&["compare", s(&a), s(&b), "--metric", "kl"]);
    assert!(e.contains("unknown metric 'kl': paper, seqcal or both"), "{e}");
    let e = fails(&["compare", s(&a), s(&b), "--bounds", "r=0:1"]);
    assert!(e.contains("--bounds names \"r\"") && e.contains("[p, q]"), "{e}");
}

/// Draws of N(0, 1) weighted by N(1, 0.5²) / N(0, 1) stand for N(1, 0.5²):
/// they agree with unweighted draws of N(1, 0.5²) (read without their
/// weights they are 2 sd away).
#[test]
fn a_weighted_chain_is_compared_as_the_law_its_weights_give() {
    let dir = tempfile::tempdir().unwrap();
    let logw = |v: f64| -0.5 * ((v - 1.0) / 0.5).powi(2) + 0.5 * v * v;
    let w = move |r: &[f64]| r.iter().map(|&v| logw(v)).sum::<f64>().exp();
    let weighted = csv_chain(dir.path(), "w.csv", &["x", "y"], 100_000, (0.0, 1.0), 4, Some(&w));
    let target = csv_chain(dir.path(), "t.csv", &["x", "y"], 20_000, (1.0, 0.5), 5, None);
    let j = json(&["compare", s(&weighted), s(&target), "--json", "--bounds", "x=-5:5,y=-5:5"]);
    assert!(j["verdict"].as_str().unwrap().starts_with("consistent"), "{j}");
    assert_eq!(j["weighted_a"], true);
    for p in j["params"].as_array().unwrap() {
        assert!(p["mean_diff_in_sd"].as_f64().unwrap().abs() < 0.05 && p["mean_diff_in_mcse"].as_f64().unwrap().abs() < 4.0, "{p}");
    }
    assert!(j["paper"]["d_kl"].as_f64().unwrap() < 3.0 * j["paper"]["floor"]["d_kl"].as_f64().unwrap(), "{j}");
}

#[test]
fn one_parameter_reports_no_2d_kl() {
    let dir = tempfile::tempdir().unwrap();
    let a = csv_chain(dir.path(), "a.csv", &["g"], 5000, (0.0, 1.0), 6, None);
    let b = csv_chain(dir.path(), "b.csv", &["g"], 5000, (0.0, 1.0), 7, None);
    let text = succeeds(&["compare", s(&a), s(&b)]);
    assert!(text.contains("KL 2-D      absent (one parameter)") && !text.contains("NaN"), "{text}");
    let j = json(&["compare", s(&a), s(&b), "--json"]);
    assert!(j.get("mean_kl_2d_ab").is_none() && j["paper"].get("mean_kl_2d").is_none(), "{j}");
    assert_eq!(j["paper"]["d_kl"], j["paper"]["mean_kl_1d"]);
}

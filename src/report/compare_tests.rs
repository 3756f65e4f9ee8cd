use super::*;
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn side<'a>(label: &'a str, x: &'a Array2<f64>, w: Option<&'a [f64]>, walkers: usize) -> Side<'a> {
    Side { label, draws: WeightedDraws::with_weights(x.view(), w), walkers }
}

/// `n` independent draws of N(mean, sd²) in `d` columns.
fn normal(n: usize, d: usize, mean: f64, sd: f64, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |_| mean + sd * Distribution::<f64>::sample(&StandardNormal, &mut rng))
}

#[test]
fn a_sample_is_consistent_with_itself_even_when_constant() {
    let names = vec!["a".to_string(), "b".to_string()];
    let inf = vec![(f64::NEG_INFINITY, f64::INFINITY); 2];
    let constant = Array2::from_elem((100, 2), 3.0);
    let c = Comparison::compute(side("x", &constant, None, 1), side("x", &constant, None, 1), &names, &inf, Metric::Both);
    assert!(c.consistent(), "{}", c.verdict);
    assert_eq!((c.params[0].mean_diff_in_sd, c.params[0].sd_ratio, c.cov_frobenius_rel), (0.0, 1.0, 0.0));
    let mut other = constant.clone();
    other.column_mut(1).fill(4.0);
    let d = Comparison::compute(side("y", &other, None, 1), side("x", &constant, None, 1), &names, &inf, Metric::Both);
    assert!(!d.consistent(), "{}", d.verdict);
    let varied = Array2::from_shape_fn((400, 2), |(i, j)| ((i * 37 + j * 11) % 101) as f64);
    assert!(Comparison::compute(side("v", &varied, None, 4), side("v", &varied, None, 4), &names, &inf, Metric::Both).consistent());
}

/// A one-parameter linear-Gaussian calibration split in two data sets, each
/// with a flat prior: y_A ~ N(θ, 1) observed 1.0 and y_B ~ N(θ, 1) observed
/// -0.3 give exact posteriors N(1.0, 1), N(-0.3, 1) and, jointly,
/// N(0.35, 0.5). A staged result off by 0.11 exact sd (what a flow that can
/// only be Gaussian in a transformed coordinate leaves) is 17 Monte Carlo
/// standard errors away with 50 000 independent draws a side, though its 1-D
/// KL (0.006) is far under the KL threshold.
#[test]
fn a_mean_shift_of_many_monte_carlo_errors_differs_though_the_kl_is_small() {
    let names = vec!["theta".to_string()];
    let bounds = vec![(-5.0, 5.0)];
    let (mean, sd) = (0.5 * (1.0 - 0.3), 0.5f64.sqrt());
    let joint = normal(50_000, 1, mean, sd, 11);
    let staged = normal(50_000, 1, mean + 0.11 * sd, sd, 12);
    let c = Comparison::compute(side("A->B", &staged, None, 50), side("joint", &joint, None, 50), &names, &bounds, Metric::Both);
    let p = &c.params[0];
    assert!((p.mean_diff_in_sd - 0.11).abs() < 0.02 && p.mean_diff_in_mcse > 12.0, "{p:?}");
    assert!(c.mean_kl_1d() < KL_SAME, "{}", c.mean_kl_1d());
    assert!(!c.consistent(), "{}", c.verdict);
    assert!(c.verdict.contains("Monte Carlo standard errors"), "{}", c.verdict);
    // The same draws against a second exact sample: consistent.
    let again = normal(50_000, 1, mean, sd, 13);
    let ok = Comparison::compute(side("joint 2", &again, None, 50), side("joint", &joint, None, 50), &names, &bounds, Metric::Both);
    assert!(ok.consistent(), "{}", ok.verdict);
    assert!(ok.params[0].mean_diff_in_mcse.abs() < 4.0, "{:?}", ok.params[0]);
}

#[test]
fn one_parameter_has_no_2d_kl_and_json_leaves_it_out() {
    let names = vec!["theta".to_string()];
    let (a, b) = (normal(2000, 1, 0.0, 1.0, 1), normal(2000, 1, 0.0, 1.0, 2));
    let c = Comparison::compute(side("a", &a, None, 1), side("b", &b, None, 1), &names, &[(-6.0, 6.0)], Metric::Both);
    assert_eq!(c.mean_kl_2d(), None);
    let paper = c.paper.as_ref().unwrap();
    assert_eq!((paper.kl.mean_kl_2d, paper.kl.d_kl), (None, paper.kl.mean_kl_1d));
    let j = serde_json::to_value(&c).unwrap();
    assert!(j.get("mean_kl_2d_ab").is_none() && j["paper"].get("mean_kl_2d").is_none(), "{j}");
    assert!(j["mean_kl_1d_ab"].is_f64() && j["paper"]["d_kl"].is_f64(), "{j}");
    let text = c.render();
    assert!(text.contains("KL 2-D      absent (one parameter)") && !text.contains("NaN"), "{text}");
    assert!(c.verdict.contains("2-D KL absent"), "{}", c.verdict);
}

/// Draws of N(0, 1) weighted by the density ratio N(1, 0.5²) / N(0, 1) stand
/// for N(1, 0.5²): compared with unweighted draws of N(1, 0.5²) they agree.
#[test]
fn importance_weights_are_honoured() {
    let names = vec!["x".to_string(), "y".to_string()];
    let base = normal(200_000, 2, 0.0, 1.0, 5);
    let logw = |v: f64| -0.5 * ((v - 1.0) / 0.5).powi(2) + 0.5 * v * v;
    let w: Vec<f64> = base.rows().into_iter().map(|r| (logw(r[0]) + logw(r[1])).exp()).collect();
    let target = normal(40_000, 2, 1.0, 0.5, 6);
    let bounds = vec![(-5.0, 5.0); 2];
    let c = Comparison::compute(side("weighted", &base, Some(&w), 1), side("target", &target, None, 1), &names, &bounds, Metric::Both);
    assert!(c.consistent(), "{}", c.verdict);
    assert!(c.params.iter().all(|p| p.mean_diff_in_sd.abs() < 0.05 && (p.sd_ratio - 1.0).abs() < 0.05), "{:?}", c.params);
    let paper = c.paper.as_ref().unwrap();
    assert!(paper.kl.d_kl < 3.0 * paper.floor.d_kl, "{paper:?}");
    // Without the weights the same draws are N(0, 1): 2 sd away.
    let plain = Comparison::compute(side("plain", &base, None, 1), side("target", &target, None, 1), &names, &bounds, Metric::Both);
    assert!(!plain.consistent() && plain.params[0].mean_diff_in_sd < -1.5, "{}", plain.verdict);
}

#[test]
fn the_metric_chooses_what_is_shown() {
    let names = vec!["x".to_string(), "y".to_string()];
    let (a, b) = (normal(3000, 2, 0.0, 1.0, 1), normal(3000, 2, 0.0, 1.0, 2));
    let bounds = vec![(-6.0, 6.0); 2];
    let paper = Comparison::compute(side("a", &a, None, 1), side("b", &b, None, 1), &names, &bounds, Metric::Paper);
    let j = serde_json::to_value(&paper).unwrap();
    assert!(j.get("mean_kl_1d_ab").is_none() && j["paper"]["floor"]["d_kl"].is_f64() && j["metric"] == "paper", "{j}");
    assert_eq!(j["paper"]["box"], serde_json::json!([[-6.0, 6.0], [-6.0, 6.0]]));
    let seqcal = Comparison::compute(side("a", &a, None, 1), side("b", &b, None, 1), &names, &bounds, Metric::Seqcal);
    let j = serde_json::to_value(&seqcal).unwrap();
    assert!(j.get("paper").is_none() && j["floor_kl_1d"].is_f64(), "{j}");
    assert_eq!(paper.verdict, seqcal.verdict);
}

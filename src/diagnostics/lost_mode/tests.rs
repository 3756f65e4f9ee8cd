//! The detectors on one-parameter cases whose answer is known: a source
//! posterior with a tiny second mode, a flow that dropped it or kept it, and
//! two data sets in tension.

use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use seqcal_api::{DefensiveMixture, Prior};

use super::*;
use crate::prior::Normal;

fn normal(mean: f64, sd: f64) -> Normal {
    Normal::new(vec!["lambda".into()], vec![mean], vec![sd]).unwrap()
}

fn gauss_draws(mean: f64, sd: f64, n: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((n, 1), || {
        let z: f64 = StandardNormal.sample(&mut rng);
        mean + sd * z
    })
}

fn log_gauss(x: ArrayView2<'_, f64>, mean: f64, sd: f64) -> Vec<f64> {
    x.column(0).iter().map(|v| -0.5 * ((v - mean) / sd).powi(2) - sd.ln()).collect()
}

/// Source data S: a main mode at 0.7 (sd 0.03) and a second at 0.2 with
/// e^-9 of the mass; new data N: lambda = 0.2 ± 0.08. The joint posterior
/// sits at 0.2, a region S alone leaves very little probability.
fn log_source(x: ArrayView2<'_, f64>) -> Vec<f64> {
    let a = log_gauss(x, 0.7, 0.03);
    let b = log_gauss(x, 0.2, 0.03);
    a.iter().zip(b).map(|(a, b)| a.max(b - 9.0) + (1.0 + (-(a - (b - 9.0)).abs()).exp()).ln()).collect()
}

fn log_new(x: ArrayView2<'_, f64>) -> Vec<f64> {
    log_gauss(x, 0.2, 0.08)
}

fn run(flow: &dyn Prior, source: &Array2<f64>, new_side: &Array2<f64>, ls: LogDensityFn<'_>, ln: LogDensityFn<'_>) -> LostMode {
    lost_mode(&LostModeInputs {
        flow,
        label: "stage S",
        source: source.view(),
        new_side: new_side.view(),
        new_side_label: "stage N (data N alone)",
        log_source: ls,
        log_new: ln,
        seed: 5,
    })
}

#[test]
fn a_flow_that_dropped_the_small_mode_is_named_and_one_that_kept_it_is_not() {
    // The source chain never visited the small mode (as an MCMC run that
    // relocates stranded walkers would not), so neither its draws nor a flow
    // trained on them see it; the new data's own posterior does.
    let source = gauss_draws(0.7, 0.03, 20_000, 1);
    let new_side = gauss_draws(0.2, 0.08, 20_000, 2);
    let dropped = normal(0.7, 0.03);
    let m = run(&dropped, &source, &new_side, &log_source, &log_new);
    assert!(m.lost, "{m:?}");
    assert!(m.lost_fraction > 0.9 && m.region_from_new_side == m.region_draws, "{m:?}");
    let w = m.warning.as_deref().unwrap();
    assert!(w.starts_with("lost mode:") && w.contains("stage S") && w.contains("stage N (data N alone)"), "{w}");
    // The flow's own draws see the new data only through their tail: the
    // reweighting keeps a few percent of them.
    assert!(m.flow_ess_fraction < 0.1, "{m:?}");

    // The exact source posterior as the prior: nothing is lost.
    let w_small = (-9.0f64).exp() / (1.0 + (-9.0f64).exp());
    let kept = DefensiveMixture::new(Box::new(normal(0.7, 0.03)), Box::new(normal(0.2, 0.03)), w_small).unwrap();
    let m = run(&kept, &source, &new_side, &log_source, &log_new);
    assert!(!m.lost && m.warning.is_none(), "{m:?}");
    assert!(m.median_deficit.abs() < 1.0, "{m:?}");
}

#[test]
fn tension_is_not_a_lost_mode() {
    // Source N(0, 1), new data N(3.3, 1): in tension, the joint posterior
    // in the prior's tail. The exact prior loses nothing.
    let source = gauss_draws(0.0, 1.0, 20_000, 3);
    let new_side = gauss_draws(3.3, 1.0, 20_000, 4);
    let ls = |x: ArrayView2<'_, f64>| log_gauss(x, 0.0, 1.0);
    let ln = |x: ArrayView2<'_, f64>| log_gauss(x, 3.3, 1.0);
    let m = run(&normal(0.0, 1.0), &source, &new_side, &ls, &ln);
    assert!(!m.lost, "{m:?}");
    assert!(m.region_draws > 100 && m.region_from_new_side > 0, "{m:?}");
    // The flow's draws see the new data's tail only: a small but non-zero ESS.
    assert!(m.flow_ess_fraction < 0.2 && m.flow_ess_fraction > 0.0, "{m:?}");
}

#[test]
fn ess_of_equal_weights_is_one_and_of_one_weight_is_one_draw() {
    assert_eq!(ess_fraction(&[0.0; 8]), 1.0);
    assert_eq!(ess_fraction(&[0.0, f64::NEG_INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY]), 0.25);
    assert_eq!(ess_fraction(&[f64::NEG_INFINITY; 3]), 0.0);
}

//! Stage 1 on pools with known densities.

use super::*;
use rand_distr::{Distribution, StandardNormal};
use seqcal_flow::density::DiffLogDensity;
use seqcal_flow::FlowOptions;

/// Draws of N(mean, diag(sd²)) in 3-D.
fn pool(n: usize, seed: u64, mean: [f64; 3], sd: [f64; 3]) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, 3), |(_, j)| mean[j] + sd[j] * Distribution::<f64>::sample(&StandardNormal, &mut rng))
}

fn opts(steps: usize) -> CheckedFlowOptions {
    FlowOptions { steps, batch: 256, lr: 3e-3, layers: 3, hidden: 32, ..FlowOptions::default() }.check().unwrap()
}

/// The recommended options with fewer steps.
fn default_with(steps: usize) -> CheckedFlowOptions {
    let mut o = default_options();
    o.train.steps = steps;
    o
}

fn component(draws: Array2<f64>) -> SampleComponent {
    SampleComponent { label: "software".into(), names: vec!["t1".into(), "t2".into(), "t3".into()], draws, weights: None, bounds: None }
}

#[test]
fn a_gaussian_pool_is_fitted_and_its_check_sees_the_fit_and_a_wrong_flow() {
    let (mean, sd) = ([-5.0, 0.0, 3.0], [0.5, 1.0, 2.0]);
    for (label, o) in [("nsf_coupling (default)", default_with(1500)), ("realnvp", opts(1500))] {
        check_fit_and_tails(label, mean, sd, &o);
    }
    // The same check sees flow draws with a shifted mean.
    let held = pool(1000, 2, mean, sd);
    let train = pool(1000, 3, mean, sd);
    let shifted = pool(2000, 4, [-4.7, 0.0, 3.0], sd);
    let bad = fit_check(&component(held.clone()).names, &held, &train, &shifted);
    // (The 1-D KL averages over three coordinates, one of them shifted: it rises, diluted.)
    assert!(bad.ks[0].2 < 1e-6 && bad.kl_1d > 1.5 * bad.floor_1d, "{bad:?}");
    assert!(bad.ks[1].2 > 1e-3, "{bad:?}");
}

fn check_fit_and_tails(label: &str, mean: [f64; 3], sd: [f64; 3], o: &CheckedFlowOptions) {
    let fitted = fit_component(&component(pool(5000, 1, mean, sd)), o, 3).unwrap();
    let c = &fitted.check;
    assert_eq!(c.ks.len(), 3);
    for (name, stat, p) in &c.ks {
        // A flow that matches gives a uniform p-value: below 1e-3 one time in a thousand.
        assert!(*p > 1e-3, "{label}: {name}: KS {stat}, p {p}");
    }
    assert!(c.kl_1d < 4.0 * c.floor_1d, "{label}: {c:?}");
    // Tails: eight standard deviations out along each axis, the flow's log density stays
    // within a few nats of the exact Gaussian's (which is below -35 there).
    let exact = |x: &[f64]| -> f64 { (0..3).map(|j| -0.5 * ((x[j] - mean[j]) / sd[j]).powi(2) - sd[j].ln() - 0.918_938_533_204_672_7).sum() };
    let mut worst: f64 = 0.0;
    for j in 0..3 {
        for s in [-8.0, 8.0] {
            let mut x = mean.to_vec();
            x[j] += s * sd[j];
            let t = candle_core::Tensor::from_vec(x.clone(), (1, 3), &candle_core::Device::Cpu).unwrap();
            let q = fitted.prior.log_density(&t).unwrap().to_vec1::<f64>().unwrap()[0];
            worst = worst.max((q - exact(&x)).abs());
        }
    }
    eprintln!("stage 1 tails, {label}: worst |log q - log p| eight sd out = {worst:.3}");
    assert!(worst < 5.0, "{label}: {worst}");
}

#[test]
fn bad_components_are_refused_naming_the_component() {
    let mut c = component(pool(100, 1, [0.0; 3], [1.0; 3]));
    c.names.pop();
    let e = fit_component(&c, &opts(10), 0).unwrap_err().to_string();
    assert!(e.contains("component \"software\": 2 names"), "{e}");
    let c = component(pool(10, 1, [0.0; 3], [1.0; 3]));
    let e = fit_component(&c, &opts(10), 0).unwrap_err().to_string();
    assert!(e.contains("10 draws"), "{e}");
    let mut c = component(pool(100, 1, [0.0; 3], [1.0; 3]));
    c.weights = Some(vec![-1.0; 100]);
    let e = fit_component(&c, &opts(10), 0).unwrap_err().to_string();
    assert!(e.contains("weight -1"), "{e}");
}

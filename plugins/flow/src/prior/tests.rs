//! Tests of the flow prior: training, sampling, densities, saving and loading.

use super::*;
use crate::train::Loss;
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn space2(bounds: Vec<(f64, f64)>) -> ParamSpace {
    ParamSpace::new(vec!["a".into(), "b".into()], bounds).unwrap()
}

fn quick(loss: Loss, steps: usize) -> (FlowSpec, TrainSettings) {
    let spec = FlowSpec { pairs: 2, hidden: 32, ..FlowSpec::new(2) };
    (
        spec,
        TrainSettings {
            loss,
            steps,
            batch: 256,
            lr: 3e-3,
            val_fraction: 0.1,
            eval_every: 50,
            patience: 100,
            seed: 7,
            quiet: true,
            ..Default::default()
        },
    )
}

/// Correlated Gaussian draws (sd 1 and 0.5, rho 0.8) with their exact log density.
fn gaussian(n: usize, seed: u64, mean: [f64; 2]) -> (Array2<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (s1, s2, rho) = (1.0, 0.5, 0.8f64);
    let mut x = Array2::zeros((n, 2));
    let mut lp = Vec::with_capacity(n);
    for i in 0..n {
        let (u, v): (f64, f64) = (StandardNormal.sample(&mut rng), StandardNormal.sample(&mut rng));
        x[[i, 0]] = mean[0] + s1 * u;
        x[[i, 1]] = mean[1] + s2 * (rho * u + (1.0 - rho * rho).sqrt() * v);
        lp.push(-0.5 * (u * u + v * v) - (2.0 * std::f64::consts::PI).ln() - (s1 * s2 * (1.0 - rho * rho).sqrt()).ln());
    }
    (x, lp)
}

/// Mean of `ln p - ln q` over fresh truth draws: a Monte Carlo KL(p‖q) with its standard error.
fn kl_to_truth(prior: &FlowPrior, mean: [f64; 2]) -> (f64, f64) {
    let (x, lp) = gaussian(20_000, 99, mean);
    let mut lq = vec![0.0; x.nrows()];
    prior.log_prob_batch(x.view(), &mut lq);
    let d: Vec<f64> = lp.iter().zip(&lq).map(|(p, q)| p - q).collect();
    let m = d.iter().sum::<f64>() / d.len() as f64;
    let sd = (d.iter().map(|v| (v - m).powi(2)).sum::<f64>() / d.len() as f64).sqrt();
    (m, sd / (d.len() as f64).sqrt())
}

#[test]
fn all_three_losses_learn_a_correlated_gaussian() {
    let (x, lp) = gaussian(6000, 1, [0.5, -1.0]);
    for loss in [Loss::Nll, Loss::Kl, Loss::Jeffreys] {
        let (spec, s) = quick(loss, 600);
        let draws = Draws { x: x.view(), log_prob: Some(&lp), weights: None };
        let prior = FlowPrior::train(space2(vec![(f64::NEG_INFINITY, f64::INFINITY); 2]), true, &draws, &spec, &s).unwrap();
        let (kl, se) = kl_to_truth(&prior, [0.5, -1.0]);
        // An untrained flow (standardized marginals, no correlation) sits at KL = -ln(sqrt(1 - 0.64)) = 0.51.
        assert!(kl < 0.03 + 3.0 * se, "{loss:?}: KL to the truth {kl} ± {se}");
    }
}

#[test]
fn importance_weights_are_honoured() {
    // Draws from N(0, 2^2) per coordinate, weighted to N(1, 0.5^2) x N(-1, 0.5^2).
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let n = 8000;
    let x = Array2::from_shape_fn((n, 2), |_| 2.0 * Distribution::<f64>::sample(&StandardNormal, &mut rng));
    let ln_n = |v: f64, m: f64, s: f64| -0.5 * ((v - m) / s).powi(2) - s.ln();
    let w: Vec<f64> =
        x.rows().into_iter().map(|r| (ln_n(r[0], 1.0, 0.5) + ln_n(r[1], -1.0, 0.5) - ln_n(r[0], 0.0, 2.0) - ln_n(r[1], 0.0, 2.0)).exp()).collect();
    let (spec, s) = quick(Loss::Nll, 400);
    let prior = FlowPrior::train(
        space2(vec![(f64::NEG_INFINITY, f64::INFINITY); 2]),
        true,
        &Draws { x: x.view(), log_prob: None, weights: Some(&w) },
        &spec,
        &s,
    )
    .unwrap();
    let draws = prior.sample(&mut ChaCha8Rng::seed_from_u64(4), 4000);
    let m0 = draws.column(0).mean().unwrap();
    let m1 = draws.column(1).mean().unwrap();
    // Unweighted, the means would be 0; effective sample size ~ 1000, so the error is well under 0.1.
    assert!((m0 - 1.0).abs() < 0.1 && (m1 + 1.0).abs() < 0.1, "weighted means {m0}, {m1}");
}

/// Draws in the box [0, 1] x [-1, 2]: a peak at the lower edge of `a` (Beta(1, 4))
/// and `b` uniform-ish.
fn boxed(n: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, 2), |(_, j)| {
        let u: f64 = rand::RngExt::random(&mut rng);
        if j == 0 {
            1.0 - (1.0 - u).powf(0.25)
        } else {
            -1.0 + 3.0 * u.sqrt()
        }
    })
}

#[test]
fn bounded_prior_has_no_mass_outside_and_integrates_to_one() {
    let x = boxed(6000, 5);
    let (spec, s) = quick(Loss::Nll, 500);
    let space = space2(vec![(0.0, 1.0), (-1.0, 2.0)]);
    let prior = FlowPrior::train(space, true, &Draws { x: x.view(), log_prob: None, weights: None }, &spec, &s).unwrap();
    for p in [[-0.01, 0.5], [1.01, 0.5], [0.5, 2.5], [0.0, 0.0], [f64::NAN, 0.0]] {
        assert_eq!(prior.log_prob(&p), f64::NEG_INFINITY, "{p:?}");
    }
    assert_eq!(prior.log_prob(&[0.5]), f64::NEG_INFINITY);
    // Importance sampling with the defensive proposal g = (q + u)/2 (u uniform on the box):
    // q/g <= 2, so the estimate of the integral of q has a small, computable error.
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let m = 40_000;
    let from_q = prior.sample(&mut rng, m / 2);
    let from_u = Array2::from_shape_fn((m / 2, 2), |(_, j)| {
        let u: f64 = rand::RngExt::random(&mut rng);
        if j == 0 {
            u
        } else {
            -1.0 + 3.0 * u
        }
    });
    let pts = ndarray::concatenate(ndarray::Axis(0), &[from_q.view(), from_u.view()]).unwrap();
    assert!(pts.rows().into_iter().all(|r| prior.space().contains(r.as_slice().unwrap())), "a draw left the box");
    let mut lq = vec![0.0; m];
    prior.log_prob_batch(pts.view(), &mut lq);
    let ratios: Vec<f64> = lq.iter().map(|&l| l.exp() / (0.5 * l.exp() + 0.5 / 3.0)).collect();
    let mean = ratios.iter().sum::<f64>() / m as f64;
    let se = (ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / m as f64).sqrt() / (m as f64).sqrt();
    assert!(se < 0.004, "standard error {se} too large to check 1%");
    assert!((mean - 1.0).abs() < 0.01, "integral of the prior over the box: {mean} ± {se}");
}

#[test]
fn save_and_load_round_trip() {
    let x = boxed(2000, 8);
    let (spec, s) = quick(Loss::Nll, 60);
    let space = space2(vec![(0.0, 1.0), (-1.0, 2.0)]);
    let prior = FlowPrior::train(space, true, &Draws { x: x.view(), log_prob: None, weights: None }, &spec, &s).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prior.safetensors");
    prior.save(&path).unwrap();
    assert!(io::sidecar_path(&path).is_file());
    let back = FlowPrior::load(&path).unwrap();
    // JSON keeps floats to ~1 ulp only (serde_json without float_roundtrip): compare the
    // metrics by their counts, everything else exactly.
    let strip = |s: &Sidecar| Sidecar { metrics: None, ..s.clone() };
    assert_eq!(strip(back.sidecar()), strip(prior.sidecar()));
    assert_eq!(back.sidecar().metrics.as_ref().map(|m| m.steps), prior.sidecar().metrics.as_ref().map(|m| m.steps));
    for p in [[0.3, 0.1], [0.01, 1.9], [0.99, -0.9]] {
        let (a, b) = (prior.log_prob(&p), back.log_prob(&p));
        assert!((a - b).abs() < 1e-12 && a.is_finite(), "{a} vs {b}");
    }
    assert_eq!(back.sidecar().chain_hash.as_deref().map(str::len), Some(64));
    assert!(FlowPrior::load(&dir.path().join("missing.safetensors")).is_err());
    // The sidecar counts the couplings beside the pairs; a sidecar written before it did
    // loads, one whose count contradicts the pairs is refused by name.
    assert_eq!((back.sidecar().spec.pairs, back.sidecar().couplings), (2, Some(4)));
    let side = io::sidecar_path(&path);
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&side).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("couplings");
    std::fs::write(&side, serde_json::to_string(&json).unwrap()).unwrap();
    assert_eq!(FlowPrior::load(&path).unwrap().sidecar().couplings, None);
    json["couplings"] = 2.into();
    std::fs::write(&side, serde_json::to_string(&json).unwrap()).unwrap();
    let e = FlowPrior::load(&path).unwrap_err().to_string();
    assert!(e.contains("couplings = 2 but spec.pairs = 2"), "{e}");
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let (spec, s) = quick(Loss::Kl, 10);
    let x = Array2::from_elem((100, 2), 0.5);
    let sp = || space2(vec![(0.0, 1.0), (0.0, 1.0)]);
    let e = FlowPrior::train(sp(), true, &Draws { x: x.view(), log_prob: None, weights: None }, &spec, &s).err().unwrap();
    assert!(e.to_string().contains("log_prob"), "{e}");
    let x3 = Array2::from_elem((100, 3), 0.5);
    assert!(FlowPrior::train(sp(), true, &Draws { x: x3.view(), log_prob: None, weights: None }, &spec, &s).is_err());
    let mut xn = x.clone();
    xn[[5, 1]] = f64::NAN;
    let e =
        FlowPrior::train(sp(), true, &Draws { x: xn.view(), log_prob: None, weights: None }, &spec, &TrainSettings { loss: Loss::Nll, ..s.clone() })
            .err()
            .unwrap();
    assert!(e.to_string().contains("not finite"), "{e}");
}

#[test]
fn draws_outside_the_bounds_are_refused_and_rounding_past_them_is_not() {
    let (spec, s) = quick(Loss::Nll, 5);
    let sp = || space2(vec![(0.0, 1.0), (-1.0, 2.0)]);
    let mut x = boxed(200, 9);
    x[[17, 1]] = 2.0 + 1e-12;
    x[[18, 0]] = 0.0;
    assert!(FlowPrior::train(sp(), true, &Draws { x: x.view(), log_prob: None, weights: None }, &spec, &s).is_ok());
    x[[19, 1]] = 2.5;
    let e = FlowPrior::train(sp(), true, &Draws { x: x.view(), log_prob: None, weights: None }, &spec, &s).err().unwrap().to_string();
    assert!(e.contains("draw 19, parameter \"b\": value 2.5 lies outside its bounds [-1, 2]"), "{e}");
}

/// Correlated Gaussian draws (sd 1 and 0.5, rho 0.8) and their exact log density.
fn gaussian_pts(n: usize, seed: u64) -> (ndarray::Array2<f64>, Vec<f64>) {
    let z = crate::testutil::points(n, 2, 1.0, seed).to_vec2::<f64>().unwrap();
    let rho = 0.8f64;
    let mut x = ndarray::Array2::zeros((n, 2));
    let mut lp = Vec::with_capacity(n);
    for (i, r) in z.iter().enumerate() {
        x[[i, 0]] = 1.0 + r[0];
        x[[i, 1]] = -2.0 + 0.5 * (rho * r[0] + (1.0 - rho * rho).sqrt() * r[1]);
        lp.push(-0.5 * (r[0] * r[0] + r[1] * r[1]) - (2.0 * std::f64::consts::PI).ln() - (0.5 * (1.0 - rho * rho).sqrt()).ln());
    }
    (x, lp)
}

#[test]
fn every_kind_trains_saves_and_loads() {
    use crate::spec::FlowKind;
    let (x, lp) = gaussian_pts(4000, 11);
    let (xt, lpt) = gaussian_pts(20_000, 12);
    let space = ParamSpace::unbounded(vec!["a".into(), "b".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (kind, lu) in [(FlowKind::Maf, false), (FlowKind::NsfCoupling, false), (FlowKind::NsfAr, true), (FlowKind::Realnvp, true)] {
        let spec = FlowSpec { kind, lu, hidden: 32, pairs: 2, bins: 6, ..FlowSpec::new(2) };
        let s = TrainSettings { loss: Loss::Nll, steps: 300, batch: 256, lr: 3e-3, eval_every: 50, patience: 100, seed: 3, ..Default::default() };
        let prior = FlowPrior::train(space.clone(), true, &Draws { x: x.view(), log_prob: Some(&lp), weights: None }, &spec, &s).unwrap();
        // Monte Carlo KL(p||q) on fresh truth draws; the untrained flow (standardized
        // marginals, no correlation) sits at -ln sqrt(1 - 0.64) = 0.51.
        let mut lq = vec![0.0; xt.nrows()];
        prior.log_prob_batch(xt.view(), &mut lq);
        let kl = lpt.iter().zip(&lq).map(|(p, q)| p - q).sum::<f64>() / lq.len() as f64;
        assert!(kl < 0.05, "{kind} (lu {lu}): KL to the truth {kl}");
        let path = dir.path().join(format!("{kind}.safetensors"));
        prior.save(&path).unwrap();
        let back = FlowPrior::load(&path).unwrap();
        assert_eq!(back.sidecar().spec, spec);
        for p in [[1.0, -2.0], [3.0, -1.0], [-0.5, -2.7]] {
            let (a, b) = (prior.log_prob(&p), back.log_prob(&p));
            assert!((a - b).abs() < 1e-9 && a.is_finite(), "{kind}: {a} vs {b}");
        }
    }
}

#[test]
fn non_finite_losses_are_skipped_and_finally_reported() {
    // Log densities beyond f32 range make every supervised batch loss infinite.
    let (x, _) = gaussian(500, 2, [0.0, 0.0]);
    let lp: Vec<f64> = (0..500).map(|i| if i % 2 == 0 { 1e39 } else { -1e39 }).collect();
    let (spec, s) = quick(Loss::Kl, 100);
    let e = FlowPrior::train(
        space2(vec![(f64::NEG_INFINITY, f64::INFINITY); 2]),
        true,
        &Draws { x: x.view(), log_prob: Some(&lp), weights: None },
        &spec,
        &s,
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("diverged"), "{e}");
}

/// The exact log density of [`gaussian`]'s law at rows of `x`, shifted by `c` (an unknown normalization).
fn gaussian_log_density(x: ArrayView2<'_, f64>, mean: [f64; 2], c: f64) -> Vec<f64> {
    let (s1, s2, rho) = (1.0, 0.5, 0.8f64);
    let r = (1.0 - rho * rho).sqrt();
    x.rows()
        .into_iter()
        .map(|t| {
            let u = (t[0] - mean[0]) / s1;
            let v = ((t[1] - mean[1]) / s2 - rho * u) / r;
            c - 0.5 * (u * u + v * v) - (2.0 * std::f64::consts::PI).ln() - (s1 * s2 * r).ln()
        })
        .collect()
}

/// `jeffreys_reverse` with the source posterior at hand (the exact density, shifted by a
/// constant as a chain's log_prob is): it learns the target, and its validation loss is
/// Jeffreys' divergence itself (free of the constant), which the kept flow's divergence
/// measured on fresh draws of the truth and of the flow reproduces. Without the source,
/// or with one the chain was not drawn from, training refuses with the reason.
#[test]
fn jeffreys_reverse_learns_with_the_source_posterior_and_needs_it() {
    let mean = [0.5, -1.0];
    let (x, lp) = gaussian(6000, 1, mean);
    let lp: Vec<f64> = lp.iter().map(|v| v + 5.0).collect();
    let draws = Draws { x: x.view(), log_prob: Some(&lp), weights: None };
    let (spec, s) = quick(Loss::JeffreysReverse, 600);
    let free = || space2(vec![(f64::NEG_INFINITY, f64::INFINITY); 2]);
    let e = FlowPrior::train(free(), true, &draws, &spec, &s).unwrap_err().to_string();
    assert!(e.contains("only a flow trained `from` a stage of a pipeline has it"), "{e}");
    let wrong =
        |t: ArrayView2<'_, f64>| -> Vec<f64> { gaussian_log_density(t, mean, 5.0).iter().zip(t.rows()).map(|(v, r)| v + 0.1 * r[0]).collect() };
    let e = FlowPrior::train_with_source(free(), true, &draws, &spec, &s, Some((&wrong, 256))).unwrap_err().to_string();
    assert!(e.contains("was not sampled from this posterior"), "{e}");
    let exact = |t: ArrayView2<'_, f64>| gaussian_log_density(t, mean, 5.0);
    let prior = FlowPrior::train_with_source(free(), true, &draws, &spec, &s, Some((&exact, 256))).unwrap();
    let (forward, se) = kl_to_truth(&prior, mean);
    assert!(forward < 0.03 + 3.0 * se, "KL to the truth {forward} ± {se}");
    let m = prior.sidecar().metrics.clone().unwrap();
    // The second half of the 600 steps, 256 draws each.
    assert!(m.source_evaluations >= 300 * 256, "{}", m.source_evaluations);
    // KL(q‖p) of the kept flow on 20 000 of its draws.
    let y = prior.sample(&mut ChaCha8Rng::seed_from_u64(5), 20_000);
    let mut lq = vec![0.0; y.nrows()];
    prior.log_prob_batch(y.view(), &mut lq);
    let reverse = lq.iter().zip(gaussian_log_density(y.view(), mean, 0.0)).map(|(q, p)| q - p).sum::<f64>() / y.nrows() as f64;
    // The validation loss averages 600 held-out draws and 2000 flow draws (f32): each term's
    // standard error is below 0.01 here, so 0.05 is five of them.
    let val = m.best_val_loss.unwrap();
    assert!((val - (forward + reverse)).abs() < 0.05, "validation {val}, Jeffreys {} + {}", forward, reverse);
}

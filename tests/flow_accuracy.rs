//! Accuracy of a flow prior on a 7-D density known exactly
//! (`seqcal_flow::testdata::bounded_7d`: peaks at the box boundary, a long tail,
//! correlations, a bimodal parameter): average 1-D and 2-D KL between flow draws
//! and held-out truth draws, against the two-sample floor measured here (the
//! same measure between two independent truth samples of the same size, i.e.
//! what the histogram estimate gives for a perfect flow), and the prior's
//! normalization over the box.
//!
//! The targets are seqcal's for flow priors: average 1-D KL within 2x of the
//! floor and at most 0.005, average 2-D KL within 2x of the floor and at most
//! 0.02. The settings are fixed (the benchmarks' knobs live in
//! `benches/tools/flow_bench.rs`); training is seeded and does not depend on the
//! thread count, so the numbers are the same on every run.

use ndarray::{concatenate, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqcal::diagnostics::KlSummary;
use seqcal_api::{ParamSpace, Prior};
use seqcal_flow::prior::Draws;
use seqcal_flow::testdata::{bounded_7d, bounded_7d_log_density, names, BOUNDED_7D_BOX};
use seqcal_flow::{FlowPrior, FlowSpec, TrainSettings};

/// Training draws, and the size of each truth sample.
const N: usize = 30_000;

#[test]
fn flow_prior_on_the_bounded_7d_chain_is_accurate_and_normalized() {
    let (x, lp) = bounded_7d(N, 1);
    let (truth_a, _) = bounded_7d(N, 2);
    let (truth_b, _) = bounded_7d(N, 3);
    let space = ParamSpace::new(names(), BOUNDED_7D_BOX.to_vec()).unwrap();
    // 10 affine couplings of 7-64-64-14 networks (the shipped example's flows), 3000 steps.
    let spec = FlowSpec { pairs: 5, hidden: 64, ..FlowSpec::new(7) };
    // Forward KL on batches of 1000 with the default early stopping.
    let settings = TrainSettings { steps: 3000, lr: 2e-3, val_fraction: 0.05, seed: 1, ..Default::default() };
    let prior = FlowPrior::train(space, true, &Draws { x: x.view(), log_prob: Some(&lp), weights: None }, &spec, &settings).unwrap();
    let draws = prior.sample(&mut ChaCha8Rng::seed_from_u64(5), N);
    let flow = KlSummary::compute(truth_a.view(), draws.view());
    let floor = KlSummary::compute(truth_a.view(), truth_b.view());
    // Several parameters: the 2-D averages exist.
    let (flow_2d, floor_2d) = (flow.pairs_mean().unwrap(), floor.pairs_mean().unwrap());
    let m = prior.sidecar().metrics.clone().unwrap();
    eprintln!(
        "{} steps: KL 1-D {:.5} (floor {:.5}), 2-D {:.5} (floor {:.5}); per parameter {:?}",
        m.steps,
        flow.mean_kl_1d,
        floor.mean_kl_1d,
        flow_2d,
        floor_2d,
        flow.kl_1d.iter().map(|v| (v * 1e4).round() / 1e4).collect::<Vec<_>>()
    );
    assert!(flow.mean_kl_1d <= 2.0 * floor.mean_kl_1d && flow.mean_kl_1d <= 0.005, "average 1-D KL {} (floor {})", flow.mean_kl_1d, floor.mean_kl_1d);
    assert!(flow_2d <= 2.0 * floor_2d && flow_2d <= 0.02, "average 2-D KL {flow_2d} (floor {floor_2d})");
    // Normalization over the box, by importance sampling from the defensive
    // proposal g = (q + truth)/2, whose ratio q/g is at most 2: the integral
    // must be 1 within 5 standard errors, and the error small enough (< 0.004)
    // that a 2% leak of mass would be seen.
    let n = 20_000;
    let from_q = prior.sample(&mut ChaCha8Rng::seed_from_u64(9), n / 2);
    let (from_p, _) = bounded_7d(n / 2, 10);
    let pts = concatenate(Axis(0), &[from_q.view(), from_p.view()]).unwrap();
    let mut lq = vec![0.0; n];
    prior.log_prob_batch(pts.view(), &mut lq);
    let r: Vec<f64> =
        lq.iter().zip(pts.rows()).map(|(q, row)| 1.0 / (0.5 + 0.5 * (bounded_7d_log_density(row.as_slice().unwrap()) - q).exp())).collect();
    let mean = r.iter().sum::<f64>() / n as f64;
    let se = (r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() / (n as f64).sqrt();
    eprintln!("integral of the flow prior over the box: {mean:.4} ± {se:.4}");
    assert!(se < 0.004 && (mean - 1.0).abs() < 5.0 * se, "integral {mean} ± {se}");
}

//! Accuracy of flow priors on 7-D densities known exactly (`seqcal_flow::testdata`):
//! average 1-D and 2-D KL between flow draws and held-out truth draws, compared
//! with the two-sample floor (the same measure between two independent truth
//! draws of the same size), and the prior's normalization over the box.

use ndarray::{concatenate, Array2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqcal::diagnostics::KlSummary;
use seqcal_api::{ParamSpace, Prior};
use seqcal_flow::prior::Draws;
use seqcal_flow::testdata::{bounded_7d, names, normflows_7d, BOUNDED_7D_BOX};
use seqcal_flow::{FlowPrior, FlowSpec, Loss, LrSchedule, TrainSettings};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Outcome {
    flow: KlSummary,
    floor: KlSummary,
    prior: FlowPrior,
}

fn fit(x: &Array2<f64>, lp: &[f64], space: ParamSpace, loss: Loss, truth_a: &Array2<f64>, truth_b: &Array2<f64>) -> Outcome {
    let spec = FlowSpec { pairs: env("FLOW_PAIRS", 3), hidden: env("FLOW_HIDDEN", 64), ..FlowSpec::new(7) };
    let settings = TrainSettings { loss, steps: env("FLOW_STEPS", 1000), batch: env("FLOW_BATCH", 1000), lr: 2e-3, val_fraction: 0.05, eval_every: 100, patience: 5, seed: 1, quiet: true, ..Default::default() };
    let prior = FlowPrior::train(space, true, &Draws { x: x.view(), log_prob: Some(lp), weights: None }, &spec, &settings).unwrap();
    let m = prior.sidecar().metrics.clone().unwrap();
    let draws = prior.sample(&mut ChaCha8Rng::seed_from_u64(5), truth_a.nrows());
    let flow = KlSummary::compute(truth_a.view(), draws.view());
    let floor = KlSummary::compute(truth_a.view(), truth_b.view());
    eprintln!(
        "{loss:?}: {} steps, {:.2} ms/step; KL 1-D {:.5} (floor {:.5}), 2-D {:.5} (floor {:.5}); per-dim {:?}",
        m.steps, m.ms_per_step, flow.mean_kl_1d, floor.mean_kl_1d, flow.mean_kl_2d, floor.mean_kl_2d,
        flow.kl_1d.iter().map(|v| (v * 1e4).round() / 1e4).collect::<Vec<_>>()
    );
    Outcome { flow, floor, prior }
}

#[test]
fn flow_prior_on_the_bounded_7d_chain_is_accurate_and_normalized() {
    let n = env("FLOW_N", 30_000);
    let (x, lp) = bounded_7d(n, 1);
    let (ta, _) = bounded_7d(n, 2);
    let (tb, _) = bounded_7d(n, 3);
    let space = ParamSpace::new(names(), BOUNDED_7D_BOX.to_vec()).unwrap();
    let o = fit(&x, &lp, space, Loss::Kl, &ta, &tb);
    // Bounds for the test budget (1000 steps on 30 000 draws; measured 0.0083 and 0.022 with
    // floors 0.0013 and 0.0078). The targets (1-D <= 0.005 and <= 2x floor) need
    // longer runs: see benches/README.md.
    assert!(o.flow.mean_kl_1d <= 0.012, "average 1-D KL {}", o.flow.mean_kl_1d);
    assert!(o.flow.mean_kl_2d <= 0.03, "average 2-D KL {}", o.flow.mean_kl_2d);
    // Normalization over the box, by importance sampling from the defensive
    // proposal g = (q + truth)/2, whose ratio q/g is at most 2.
    let m = 20_000;
    let from_q = o.prior.sample(&mut ChaCha8Rng::seed_from_u64(9), m / 2);
    let (from_p, _) = bounded_7d(m / 2, 10);
    let pts = concatenate(Axis(0), &[from_q.view(), from_p.view()]).unwrap();
    let mut lq = vec![0.0; m];
    o.prior.log_prob_batch(pts.view(), &mut lq);
    let lp_all: Vec<f64> = pts.rows().into_iter().map(|r| seqcal_flow::testdata::bounded_7d_log_density(r.as_slice().unwrap())).collect();
    let r: Vec<f64> = lq.iter().zip(&lp_all).map(|(q, p)| 1.0 / (0.5 + 0.5 * (p - q).exp())).collect();
    let mean = r.iter().sum::<f64>() / m as f64;
    let se = (r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m as f64).sqrt() / (m as f64).sqrt();
    eprintln!("integral of the flow prior over the box: {mean:.4} ± {se:.4}");
    assert!(se < 0.004 && (mean - 1.0).abs() < 0.01, "integral {mean} ± {se}");
}

/// Slow (minutes): run with `cargo test --release --test flow_accuracy -- --ignored`
/// and `FLOW_N=85000 FLOW_STEPS=5000` for the comparison with the normflows peer.
#[test]
#[ignore]
fn flow_on_the_normflows_7d_data_beats_the_peer() {
    let n = env("FLOW_N", 30_000);
    let (x, lp) = normflows_7d(n, 1);
    let (ta, _) = normflows_7d(n, 2);
    let (tb, _) = normflows_7d(n, 3);
    let space = ParamSpace::unbounded(names()).unwrap();
    let o = fit(&x, &lp, space, Loss::Nll, &ta, &tb);
    // normflows reaches 0.0015 on 85 000 draws (floor 0.0005); at this size the floor is higher.
    assert!(o.flow.mean_kl_1d <= 0.005, "average 1-D KL {}", o.flow.mean_kl_1d);
    let _ = o.floor;
}

/// The numbers of `benches/flow_vs_normflows.sh`: the normflows peer's setting (7-D data of
/// `shared/peers/normflows_realnvp.py`, 6 couplings with 64-64 hidden layers, batch 1000,
/// Adam 1e-3, forward KL = NLL, no validation split) with training ms/step, `log_prob`
/// throughput and the 1-D / 2-D KL against the training data with the two-sample floor.
/// Run: `FLOW_N=85000 FLOW_STEPS=5000 cargo test --release --test flow_accuracy -- --ignored --nocapture bench`.
#[test]
#[ignore]
fn bench_normflows_setting() {
    let n = env("FLOW_N", 85_000);
    let (x, lp) = normflows_7d(n, 777);
    let (fresh, _) = normflows_7d(n, 778);
    let spec = FlowSpec { pairs: 3, hidden: 64, ..FlowSpec::new(7) };
    let settings = TrainSettings { loss: Loss::Nll, steps: env("FLOW_STEPS", 5000), batch: 1000, lr: 1e-3, val_fraction: 0.0, eval_every: 1000, patience: 1000, seed: 0, quiet: true, ..Default::default() };
    let space = ParamSpace::unbounded(names()).unwrap();
    let prior = FlowPrior::train(space, true, &Draws { x: x.view(), log_prob: Some(&lp), weights: None }, &spec, &settings).unwrap();
    let m = prior.sidecar().metrics.clone().unwrap();
    let t = std::time::Instant::now();
    let mut out = vec![0.0; n];
    prior.log_prob_batch(x.view(), &mut out);
    let secs = t.elapsed().as_secs_f64();
    let draws = prior.sample(&mut ChaCha8Rng::seed_from_u64(1), n);
    let kl = KlSummary::compute(x.view(), draws.view());
    let floor = KlSummary::compute(x.view(), fresh.view());
    println!(
        "{{\"n\": {n}, \"steps\": {}, \"ms_per_step\": {:.2}, \"train_s\": {:.1}, \"log_prob_points_per_s\": {:.0}, \"log_prob_s\": {:.3}, \"kl_1d\": {:.5}, \"kl_1d_floor\": {:.5}, \"kl_2d\": {:.5}, \"kl_2d_floor\": {:.5}}}",
        m.steps, m.ms_per_step, m.seconds, n as f64 / secs, secs, kl.mean_kl_1d, floor.mean_kl_1d, kl.mean_kl_2d, floor.mean_kl_2d
    );
}

/// The "Flow architectures" table of `benches/README.md`: each architecture (with and
/// without LU layers) trained on the shipped chain `chains/testdata/bounded7d_train.h5`
/// (85 000 draws, kl loss, batch 1000, a fixed number of steps), then 85 000 flow draws
/// compared with the held-out `bounded7d_truth.h5` by the average 1-D and 2-D KL; the
/// floor is the same measure between the training and truth chains.
/// Run: `FLOW_STEPS=500 cargo test --release --test flow_accuracy -- --ignored --nocapture architectures`.
#[test]
#[ignore]
fn bench_architectures_on_the_bounded_7d_chain() {
    use seqcal_flow::FlowKind;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("chains/testdata");
    let train = seqcal::chain::read_hdf5(&dir.join("bounded7d_train.h5")).unwrap();
    let truth = seqcal::chain::read_hdf5(&dir.join("bounded7d_truth.h5")).unwrap();
    let x = train.flat();
    let lp = seqcal::chain::Chain::flat_column(train.log_prob.as_ref().unwrap()).to_vec();
    let t = truth.flat();
    let floor = KlSummary::compute(t.view(), x.view());
    println!("floor: KL 1-D {:.5}, 2-D {:.5}", floor.mean_kl_1d, floor.mean_kl_2d);
    let steps = env("FLOW_STEPS", 500);
    let only = std::env::var("FLOW_ARCHS").unwrap_or_default();
    for kind in FlowKind::ALL {
        if !only.is_empty() && !only.split(',').any(|a| a == kind.name()) {
            continue;
        }
        for lu in [false, true] {
            let spec = FlowSpec { kind, lu, pairs: 3, hidden: 64, ..FlowSpec::new(7) };
            // Constant rate, as in the architecture table of benches/README.md.
            let settings = TrainSettings { loss: Loss::Kl, steps, batch: 1000, lr: 2e-3, lr_schedule: LrSchedule::Constant, val_fraction: 0.05, eval_every: 100, patience: 1000, seed: 1, quiet: true };
            let space = ParamSpace::new(names(), BOUNDED_7D_BOX.to_vec()).unwrap();
            let prior = FlowPrior::train(space, true, &Draws { x: x.view(), log_prob: Some(&lp), weights: None }, &spec, &settings).unwrap();
            let m = prior.sidecar().metrics.clone().unwrap();
            let t0 = std::time::Instant::now();
            let draws = prior.sample(&mut ChaCha8Rng::seed_from_u64(5), t.nrows());
            let sample_s = t0.elapsed().as_secs_f64();
            let kl = KlSummary::compute(t.view(), draws.view());
            println!(
                "| {} | {} | {} | {:.1} | {:.5} | {:.5} | {:.1} |",
                kind.name(), if lu { "yes" } else { "no" }, m.steps, m.ms_per_step, kl.mean_kl_1d, kl.mean_kl_2d, sample_s
            );
        }
    }
}

//! Flow-prior benchmarks (not tests): the numbers of `benches/README.md`.
//!
//! - `flow_bench normflows`: the normflows peer's setting (7-D data of
//!   `seqcal_flow::testdata::normflows_7d`, 6 couplings with 64-64 hidden layers,
//!   batch 1000, Adam 1e-3, forward KL = NLL, no validation split): training
//!   ms/step, `log_prob` throughput, 1-D / 2-D KL against the training data with
//!   the two-sample floor. Used by `benches/flow_vs_normflows.sh`.
//! - `flow_bench architectures`: each architecture (with and without LU layers)
//!   trained on the shipped chain `chains/testdata/bounded7d_train.h5`, its draws
//!   compared with the held-out `bounded7d_truth.h5`.
//! - `flow_bench accuracy`: the setting of `tests/flow_accuracy.rs` at any size.
//!
//! Knobs (environment): `FLOW_N` (draws), `FLOW_STEPS`, `FLOW_PAIRS`,
//! `FLOW_HIDDEN`, `FLOW_BATCH`, `FLOW_ARCHS` (comma-separated kinds). Prints
//! one JSON line per result.
//!
//! Run: `cargo run --release --example flow_bench -- normflows`.

use anyhow::{bail, Result};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqcal::diagnostics::KlSummary;
use seqcal_api::{ParamSpace, Prior};
use seqcal_flow::prior::Draws;
use seqcal_flow::testdata::{bounded_7d, names, normflows_7d, BOUNDED_7D_BOX};
use seqcal_flow::{FlowKind, FlowPrior, FlowSpec, Loss, LrSchedule, TrainMetrics, TrainSettings};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The flow (`FLOW_PAIRS` couplings of `FLOW_HIDDEN` units, 7-D) and its
/// training: `base`, with `FLOW_STEPS` steps (default `steps`) of batches of
/// `FLOW_BATCH` draws, quiet.
fn from_env(steps: usize, base: TrainSettings) -> (FlowSpec, TrainSettings) {
    let spec = FlowSpec { pairs: env("FLOW_PAIRS", 3), hidden: env("FLOW_HIDDEN", 64), ..FlowSpec::new(7) };
    (spec, TrainSettings { steps: env("FLOW_STEPS", steps), batch: env("FLOW_BATCH", 1000), quiet: true, ..base })
}

/// A flow on `space` trained on draws `x` with their log densities `lp`, and its training metrics.
fn fit(space: ParamSpace, x: &Array2<f64>, lp: &[f64], spec: &FlowSpec, settings: &TrainSettings) -> Result<(FlowPrior, TrainMetrics)> {
    let prior = FlowPrior::train(space, true, &Draws { x: x.view(), log_prob: Some(lp), weights: None }, spec, settings)?;
    let m = prior.sidecar().metrics.clone().unwrap_or_default();
    Ok((prior, m))
}

fn normflows() -> Result<()> {
    let n = env("FLOW_N", 85_000);
    let (x, lp) = normflows_7d(n, 777);
    let (fresh, _) = normflows_7d(n, 778);
    let base = TrainSettings { loss: Loss::Nll, lr: 1e-3, val_fraction: 0.0, eval_every: 1000, patience: 1000, seed: 0, ..Default::default() };
    let (spec, settings) = from_env(5000, base);
    let (prior, m) = fit(ParamSpace::unbounded(names())?, &x, &lp, &spec, &settings)?;
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
    Ok(())
}

fn architectures() -> Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("chains/testdata");
    let train = seqcal::chain::read_hdf5(&dir.join("bounded7d_train.h5"))?;
    let truth = seqcal::chain::read_hdf5(&dir.join("bounded7d_truth.h5"))?;
    let x = train.flat();
    let Some(lp) = train.log_prob.as_ref() else { bail!("the training chain has no log_prob") };
    let lp = seqcal::chain::Chain::flat_column(lp).to_vec();
    let t = truth.flat();
    let floor = KlSummary::compute(t.view(), x.view());
    println!("{{\"floor_kl_1d\": {:.5}, \"floor_kl_2d\": {:.5}}}", floor.mean_kl_1d, floor.mean_kl_2d);
    let steps = env("FLOW_STEPS", 500);
    let only = std::env::var("FLOW_ARCHS").unwrap_or_default();
    for kind in FlowKind::ALL {
        if !only.is_empty() && !only.split(',').any(|a| a == kind.name()) {
            continue;
        }
        for lu in [false, true] {
            let spec = FlowSpec { kind, lu, pairs: 3, hidden: 64, ..FlowSpec::new(7) };
            // Constant rate, as in the architecture table of benches/README.md.
            let settings = TrainSettings {
                loss: Loss::Kl,
                steps,
                batch: 1000,
                lr: 2e-3,
                lr_schedule: LrSchedule::Constant,
                val_fraction: 0.05,
                eval_every: 100,
                patience: 1000,
                stop_at_floor: false,
                ema: 0.0,
                seed: 1,
                quiet: true,
            };
            let (prior, m) = fit(ParamSpace::new(names(), BOUNDED_7D_BOX.to_vec())?, &x, &lp, &spec, &settings)?;
            let t0 = std::time::Instant::now();
            let draws = prior.sample(&mut ChaCha8Rng::seed_from_u64(5), t.nrows());
            let sample_s = t0.elapsed().as_secs_f64();
            let kl = KlSummary::compute(t.view(), draws.view());
            println!(
                "{{\"arch\": \"{kind}\", \"lu\": {lu}, \"steps\": {}, \"ms_per_step\": {:.1}, \"kl_1d\": {:.5}, \"kl_2d\": {:.5}, \"sample_s\": {sample_s:.1}}}",
                m.steps, m.ms_per_step, kl.mean_kl_1d, kl.mean_kl_2d
            );
        }
    }
    Ok(())
}

fn accuracy() -> Result<()> {
    let n = env("FLOW_N", 30_000);
    let (x, lp) = bounded_7d(n, 1);
    let (ta, _) = bounded_7d(n, 2);
    let (tb, _) = bounded_7d(n, 3);
    let base = TrainSettings { loss: Loss::Kl, lr: 2e-3, val_fraction: 0.05, eval_every: 100, patience: 5, seed: 1, ..Default::default() };
    let (spec, settings) = from_env(1000, base);
    let (prior, m) = fit(ParamSpace::new(names(), BOUNDED_7D_BOX.to_vec())?, &x, &lp, &spec, &settings)?;
    let draws = prior.sample(&mut ChaCha8Rng::seed_from_u64(5), n);
    let flow = KlSummary::compute(ta.view(), draws.view());
    let floor = KlSummary::compute(ta.view(), tb.view());
    println!(
        "{{\"n\": {n}, \"steps\": {}, \"ms_per_step\": {:.2}, \"kl_1d\": {:.5}, \"kl_1d_floor\": {:.5}, \"kl_2d\": {:.5}, \"kl_2d_floor\": {:.5}}}",
        m.steps, m.ms_per_step, flow.mean_kl_1d, floor.mean_kl_1d, flow.mean_kl_2d, floor.mean_kl_2d
    );
    Ok(())
}

fn main() -> Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("normflows") => normflows(),
        Some("architectures") => architectures(),
        Some("accuracy") => accuracy(),
        _ => bail!(
            "usage: flow_bench normflows | architectures | accuracy (knobs: FLOW_N, FLOW_STEPS, FLOW_PAIRS, FLOW_HIDDEN, FLOW_BATCH, FLOW_ARCHS)"
        ),
    }
}

//! Training speed and `log_prob` throughput of a flow prior in the setting of
//! `benches/flow_vs_normflows.sh` (7-D data, 6 couplings with 64-64 networks,
//! batch 1000), without the accuracy measures; for quick timing while working
//! on the flow crate.
//!
//! Run: `cargo run --release -p seqcal-flow --example train_speed [STEPS] [N]`.

use seqcal_api::{ParamSpace, Prior};
use seqcal_flow::prior::Draws;
use seqcal_flow::testdata::{names, normflows_7d};
use seqcal_flow::{FlowPrior, FlowSpec, Loss, TrainSettings};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let steps: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(300);
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(85_000);
    let (x, lp) = normflows_7d(n, 777);
    let spec = FlowSpec { pairs: 3, hidden: 64, ..FlowSpec::new(7) };
    let settings = TrainSettings {
        loss: Loss::Nll,
        steps,
        batch: 1000,
        lr: 1e-3,
        val_fraction: 0.0,
        eval_every: 1000,
        patience: 1000,
        seed: 0,
        ..Default::default()
    };
    let prior =
        FlowPrior::train(ParamSpace::unbounded(names())?, true, &Draws { x: x.view(), log_prob: Some(&lp), weights: None }, &spec, &settings)?;
    let m = prior.sidecar().metrics.clone().unwrap_or_default();
    let reps = 5;
    let (t, c) = (std::time::Instant::now(), cpu_seconds());
    let mut out = vec![0.0; n];
    for _ in 0..reps {
        prior.log_prob_batch(x.view(), &mut out);
    }
    let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    println!(
        "{} steps, {:.2} ms/step; log_prob {:.0} points/s ({:.0} points per CPU-second); mean log q {:.4}",
        m.steps,
        m.ms_per_step,
        (reps * n) as f64 / secs,
        (reps * n) as f64 / cpu,
        out.iter().sum::<f64>() / n as f64
    );
    Ok(())
}

/// User + system CPU seconds of this process so far (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat(5) (utime, stime), counted after the command name; 100 ticks/s.
    (ticks(11) + ticks(12)) / 100.0
}

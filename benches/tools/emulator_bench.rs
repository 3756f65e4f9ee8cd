//! Timings for `benches/emulator_vs_sklearn.sh` (not a test):
//!
//! - `emulator_bench predict EMU.json`: prediction of mean + sd, and of mean +
//!   full covariance (in 10 calls of 1000 points), at 10 000 uniform random
//!   points in the prior box.
//! - `emulator_bench likelihood`: one Gaussian-likelihood evaluation for a
//!   7-parameter, 100-observable emulator trained on 500 Latin-hypercube runs,
//!   single point and in batches of 64.
//!
//! Prints one JSON line.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seqcal::likelihood::{DataSet, GaussianLikelihood};
use seqcal_api::{Emulator, LogDensity};
use seqcal_emulators::{synthetic::latin_hypercube, Components, GpEmulator, TrainSettings};

fn uniform(n: usize, bounds: &[(f64, f64)], seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, bounds.len()), |(_, d)| bounds[d].0 + (bounds[d].1 - bounds[d].0) * rng.random::<f64>())
}

/// 7 parameters -> 100 smooth outputs (a spectrum over t in [0, 1]).
fn model(th: &[f64]) -> Vec<f64> {
    (0..100)
        .map(|j| {
            let t = j as f64 / 99.0;
            th[0] * (-th[1] * t).exp() + 0.5 * (3.0 * th[2] * t + th[3]).sin() + th[4] * t * t + th[5] * (-(t - th[6]).powi(2) / 0.02).exp()
        })
        .collect()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("predict") => {
            let path = args.get(2).context("usage: emulator_bench predict EMU.json")?;
            let emu = GpEmulator::from_json(&std::fs::read_to_string(path)?)?;
            let x = uniform(10_000, &emu.bounds(), 0);
            let t = Instant::now();
            let (m, _) = emu.predict_mean_sd(x.view())?;
            let sd_s = t.elapsed().as_secs_f64();
            // The full covariance of 10 000 points of 110 outputs is ~1 GB: predicted
            // in chunks of 1000 points (each one call, results dropped), timed together.
            let t = Instant::now();
            for c in 0..10 {
                let p = emu.predict(x.slice(ndarray::s![c * 1000..(c + 1) * 1000, ..]))?;
                assert_eq!(p.mean.ncols(), m.ncols());
            }
            let cov_s = t.elapsed().as_secs_f64();
            println!(
                "{{\"bench\": \"seqcal_predict\", \"points\": 10000, \"mean_sd_s\": {sd_s:.4}, \"mean_fullcov_s\": {cov_s:.4}, \"threads\": {}}}",
                rayon::current_num_threads()
            );
        }
        Some("likelihood") => {
            let bounds = vec![(0.5, 2.0), (0.2, 3.0), (0.5, 2.0), (0.0, 1.5), (-1.0, 1.0), (0.0, 1.0), (0.2, 0.8)];
            let x = latin_hypercube(500, &bounds, 11);
            let y = Array2::from_shape_fn((500, 100), |(i, j)| model(&x.row(i).to_vec())[j]);
            let s = TrainSettings { components: Components::Fixed(10), restarts: 0, ..TrainSettings::default() };
            let t = Instant::now();
            let emu = GpEmulator::train(x.view(), y.view(), &bounds, &s)?;
            let fit_s = t.elapsed().as_secs_f64();
            let truth = [1.2, 1.0, 1.1, 0.7, 0.2, 0.5, 0.5];
            let data = model(&truth);
            let sd: Vec<f64> = data.iter().map(|v| 0.05 * v.abs().max(0.1)).collect();
            let set = DataSet::with_errors("spectrum", (0..100).collect(), data, &sd)?;
            let like = GaussianLikelihood::new(Arc::new(emu.clone()) as Arc<dyn Emulator>, vec![set])?;
            let pts = uniform(64 * 20, &bounds, 5);
            let t = Instant::now();
            for r in pts.rows().into_iter().take(200) {
                emu.predict(r.insert_axis(ndarray::Axis(0)))?;
            }
            let predict_us = t.elapsed().as_secs_f64() / 200.0 * 1e6;
            let t = Instant::now();
            for r in pts.rows() {
                if !like.log_density(&r.to_vec())?.is_finite() {
                    bail!("non-finite log likelihood");
                }
            }
            let single_us = t.elapsed().as_secs_f64() / pts.nrows() as f64 * 1e6;
            let mut out = vec![0.0; 64];
            let t = Instant::now();
            for b in 0..20 {
                like.log_density_into(pts.slice(ndarray::s![b * 64..(b + 1) * 64, ..]), &mut out)?;
            }
            let batch_us = t.elapsed().as_secs_f64() / pts.nrows() as f64 * 1e6;
            println!(
                "{{\"bench\": \"seqcal_likelihood\", \"params\": 7, \"observables\": 100, \"design\": 500, \"npc\": 10, \"fit_s\": {fit_s:.2}, \"single_point_us\": {single_us:.1}, \"of_which_predict_us\": {predict_us:.1}, \"batch64_per_point_us\": {batch_us:.1}, \"threads\": {}}}",
                rayon::current_num_threads()
            );
        }
        _ => bail!("usage: emulator_bench predict EMU.json | emulator_bench likelihood"),
    }
    Ok(())
}

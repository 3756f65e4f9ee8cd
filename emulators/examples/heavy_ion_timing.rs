//! Fit and prediction timings on the heavy-ion stand-in (485 runs, 10 components), without the CLI:
//! `cargo run --release -p seqcal-emulators --example heavy_ion_timing`.
use std::time::Instant;

use seqcal_api::Emulator;
use seqcal_emulators::synthetic::{heavy_ion, latin_hypercube};
use seqcal_emulators::{validate, Components, GpEmulator, TrainSettings};

fn main() {
    let x = latin_hypercube(heavy_ion::N_DESIGN, &heavy_ion::BOUNDS, 1);
    let truth = heavy_ion::run(&x);
    let y = heavy_ion::add_noise(&truth, &heavy_ion::errors(&truth), 3);
    let s = TrainSettings { components: Components::Fixed(10), restarts: 0, ..TrainSettings::default() };
    // With an argument: load that emulator (or train and save it there if missing).
    let path = std::env::args().nth(1);
    let t = Instant::now();
    let emu = match path.as_deref().map(std::fs::read_to_string) {
        Some(Ok(text)) => GpEmulator::from_json(&text).unwrap(),
        _ => GpEmulator::train(x.view(), y.view(), &heavy_ion::BOUNDS, &s).unwrap(),
    };
    if let Some(p) = &path {
        std::fs::write(p, emu.to_json().unwrap()).unwrap();
    }
    let fit_s = t.elapsed().as_secs_f64();
    let q = latin_hypercube(10_000, &heavy_ion::BOUNDS, 7);
    let t = Instant::now();
    let _ = emu.predict_mean_sd(q.view()).unwrap();
    let sd_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for c in 0..10 {
        let _ = emu.predict(q.slice(ndarray::s![c * 1000..(c + 1) * 1000, ..])).unwrap();
    }
    let cov_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for r in q.rows().into_iter().take(200) {
        let _ = emu.predict(r.insert_axis(ndarray::Axis(0))).unwrap();
    }
    let single_us = t.elapsed().as_secs_f64() / 200.0 * 1e6;
    let xv = latin_hypercube(100, &heavy_ion::BOUNDS, 2);
    let v = validate::holdout(&emu, xv.view(), heavy_ion::run(&xv).view()).unwrap();
    println!(
        "fit {fit_s:.2} s, predict 10k mean+sd {sd_s:.3} s, mean+cov {cov_s:.3} s, single point {single_us:.0} us; rmse {:.4} cov1 {:.3} cov2 {:.3}",
        v.rmse_std, v.coverage_1sd, v.coverage_2sd
    );
}

//! The ensemble sampler against posteriordb's gold-standard reference
//! posteriors: every posterior mean within 4 combined Monte Carlo standard
//! errors of the reference mean (the chain's MCSE from its effective sample
//! size, and the reference's own), and every posterior sd within 10% of the
//! reference sd (from E[x] and E[x²]).
//!
//! The reference values are shipped in `tests/data/posteriordb/` (BSD-3,
//! from posteriordb); a missing file fails the test.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// posteriordb's reference values for `folder`, shipped with the tests.
fn reference_dir(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/posteriordb").join(folder)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn check(target: &str, folder: &str, walkers: &str, steps: &str, moves: &str) {
    let dir = reference_dir(folder);
    let read = |f: &str| -> Value {
        let path = dir.join(f);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{target}: the shipped reference file {} cannot be read: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let (m, m2) = (read("ref_mean_value.json"), read("ref_mean_squared_value.json"));
    // The first 20% is burn-in, during which stranded walkers are moved onto
    // others (low_dim_gauss_mix has a minor mode that catches some starts).
    let burn = (steps.parse::<usize>().unwrap() / 5).to_string();
    let out = common::succeeds(&[
        "sample",
        "--target",
        target,
        "--walkers",
        walkers,
        "--steps",
        steps,
        "--moves",
        moves,
        "--seed",
        "2026",
        "--json",
        "--quiet",
        "--burn",
        &burn,
        "--relocate-stuck",
        &burn,
    ]);
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["names"], m["names"], "{target}: parameter names differ from the reference");
    assert!(!s["tau_too_short"].as_bool().unwrap(), "{target}: chain shorter than 50 tau: {:?}", s["tau"]);
    assert_eq!(s["stuck_walkers"], 0, "{target}: walkers stranded at the end");
    let (ref_mean, ref_se, ref_sq) = (floats(&m["mean_value"]), floats(&m["mcse_mean"]), floats(&m2["mean_squared_value"]));
    let (mean, mcse, sd) = (floats(&s["mean"]), floats(&s["mcse"]), floats(&s["sd"]));
    for j in 0..mean.len() {
        let name = m["names"][j].as_str().unwrap();
        let tol = 4.0 * (mcse[j].powi(2) + ref_se[j].powi(2)).sqrt();
        assert!((mean[j] - ref_mean[j]).abs() < tol, "{target} {name}: mean {} vs reference {} (4 combined MCSE = {tol})", mean[j], ref_mean[j]);
        let ref_sd = (ref_sq[j] - ref_mean[j].powi(2)).sqrt();
        assert!((sd[j] / ref_sd - 1.0).abs() < 0.10, "{target} {name}: sd {} vs reference {ref_sd}", sd[j]);
    }
}

#[test]
fn eight_schools_noncentered() {
    check("eight_schools_noncentered", "eight_schools-eight_schools_noncentered", "40", "20000", "stretch:0.5,de:0.4,snooker:0.1");
}

#[test]
fn ark() {
    check("arK", "arK-arK", "32", "10000", "stretch:0.5,de:0.5");
}

#[test]
fn kidiq_interaction() {
    check("kidiq_interaction", "kidiq-kidscore_interaction", "32", "10000", "stretch:0.5,de:0.5");
}

#[test]
fn low_dim_gauss_mix() {
    check("low_dim_gauss_mix", "low_dim_gauss_mix-low_dim_gauss_mix", "32", "5000", "stretch:0.5,de:0.5");
}

#[test]
fn gp_regr() {
    check("gp_regr", "gp_pois_regr-gp_regr", "32", "10000", "stretch:0.5,de:0.5");
}

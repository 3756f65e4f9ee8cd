//! The SMC sampler, at its default settings (no tuning per posterior),
//! against posteriordb's gold-standard reference posteriors, with the
//! ensemble sampler's criteria: every posterior mean within 4 combined Monte
//! Carlo standard errors of the reference mean (the particles' own from
//! their number, as they were mutated until decorrelated, and the
//! reference's), and every posterior sd within 10% of the reference sd.
//!
//! The reference values are shipped in `tests/data/posteriordb/` (BSD-3,
//! from posteriordb); a missing file fails the test.

use std::path::Path;

use serde_json::Value;

use seqcal::sampler::smc::{Smc, SmcSettings};
use seqcal::sampler::Posterior;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn check(target: &str, folder: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/posteriordb").join(folder);
    let read = |f: &str| -> Value {
        let path = dir.join(f);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{target}: the shipped reference file {} cannot be read: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let (m, m2) = (read("ref_mean_value.json"), read("ref_mean_squared_value.json"));
    let t = seqcal::targets::build(target).unwrap();
    assert_eq!(t.space.names().iter().map(|s| Value::from(s.as_str())).collect::<Vec<_>>(), m["names"].as_array().unwrap().clone());
    let post = Posterior::new(t.prior, t.likelihood, 1.0);
    let mut smc = Smc::new(&post, SmcSettings::default(), 2026).unwrap();
    smc.run(&post).unwrap();
    let out = smc.output().unwrap();
    let (n, d) = (out.particles.nrows(), t.space.dim());
    let mut theta = vec![vec![0.0; d]; n];
    for (i, u) in out.particles.rows().into_iter().enumerate() {
        match &t.transform {
            Some(tr) => tr.constrain(&u.to_vec(), &mut theta[i]),
            None => theta[i].copy_from_slice(&u.to_vec()),
        }
    }
    let (ref_mean, ref_se, ref_sq) = (floats(&m["mean_value"]), floats(&m["mcse_mean"]), floats(&m2["mean_squared_value"]));
    println!("{target}: {} likelihood calls, {} temperatures", out.likelihood_calls, out.temperatures.len());
    for j in 0..d {
        let name = m["names"][j].as_str().unwrap();
        let mean = theta.iter().zip(&out.weights).map(|(r, w)| w * r[j]).sum::<f64>();
        let sd = theta.iter().zip(&out.weights).map(|(r, w)| w * (r[j] - mean).powi(2)).sum::<f64>().sqrt();
        let mcse = sd / (n as f64).sqrt();
        let tol = 4.0 * (mcse.powi(2) + ref_se[j].powi(2)).sqrt();
        let ref_sd = (ref_sq[j] - ref_mean[j].powi(2)).sqrt();
        println!("  {name}: mean {mean:.4} vs {:.4} (tol {tol:.4}), sd {sd:.4} vs {ref_sd:.4}", ref_mean[j]);
        assert!((mean - ref_mean[j]).abs() < tol, "{target} {name}: mean {mean} vs reference {} (4 combined MCSE = {tol})", ref_mean[j]);
        assert!((sd / ref_sd - 1.0).abs() < 0.10, "{target} {name}: sd {sd} vs reference {ref_sd}");
    }
}

#[test]
fn eight_schools_noncentered() {
    check("eight_schools_noncentered", "eight_schools-eight_schools_noncentered");
}

#[test]
fn ark() {
    check("arK", "arK-arK");
}

#[test]
fn kidiq_interaction() {
    check("kidiq_interaction", "kidiq-kidscore_interaction");
}

#[test]
fn low_dim_gauss_mix() {
    check("low_dim_gauss_mix", "low_dim_gauss_mix-low_dim_gauss_mix");
}

#[test]
fn gp_regr() {
    check("gp_regr", "gp_pois_regr-gp_regr");
}

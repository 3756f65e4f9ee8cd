//! The `laplace` kind this example registers reaches a pipeline stage of
//! `seqcal-laplace run`: with data that carry no information, the stage's
//! posterior is the Laplace prior, within Monte Carlo error.

use std::fmt::Write as _;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

const LOCATION: [f64; 2] = [1.0, -2.0];
const SCALE: [f64; 2] = [1.0, 0.5];

/// A two-parameter pipeline over the box [-20, 20]^2 whose only data set has
/// an error of 1e8 on one observable: its likelihood is flat to 1e-16.
fn write_pipeline(dir: &Path) -> std::path::PathBuf {
    let mut design = String::from("a,b\n");
    let mut outputs = String::from("y\n");
    for i in 0..7 {
        for j in 0..7 {
            let (a, b) = (-20.0 + 40.0 * i as f64 / 6.0, -20.0 + 40.0 * j as f64 / 6.0);
            let _ = writeln!(design, "{a},{b}");
            let _ = writeln!(outputs, "{}", 0.1 * a + 0.05 * b);
        }
    }
    std::fs::write(dir.join("design.csv"), design).unwrap();
    std::fs::write(dir.join("outputs.csv"), outputs).unwrap();
    std::fs::write(dir.join("data.csv"), "value,error\n0.0,1e8\n").unwrap();
    let p = dir.join("pipeline.toml");
    std::fs::write(
        &p,
        format!(
            r#"name = "laplace"
seed = 3

[parameters]
names = ["a", "b"]
bounds = [[-20, 20], [-20, 20]]

[datasets.D]
data = "data.csv"
design = "design.csv"
outputs = "outputs.csv"
emulator = {{ npc = 1, restarts = 0 }}

[[stages]]
name = "only_prior"
datasets = ["D"]
prior = {{ kind = "laplace", location = [{}, {}], scale = [{}, {}] }}
sampler = {{ walkers = 32, steps = 4000, burn = 500 }}
"#,
            LOCATION[0], LOCATION[1], SCALE[0], SCALE[1]
        ),
    )
    .unwrap();
    p
}

#[test]
fn a_registered_kind_is_the_prior_of_a_pipeline_stage() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_pipeline(dir.path());
    let runs = dir.path().join("runs");
    let bin = || Command::cargo_bin("seqcal-laplace").unwrap();

    let list = bin().args(["prior", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).lines().any(|l| l.starts_with("laplace")), "prior list lacks laplace");

    let out = bin().args(["run", pipeline.to_str().unwrap(), "--runs-dir", runs.to_str().unwrap(), "-q"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stage = runs.join("laplace/only_prior");
    let rec: Value = serde_json::from_str(&std::fs::read_to_string(stage.join("stage.json")).unwrap()).unwrap();
    assert!(rec["prior"].as_str().unwrap().starts_with("laplace"), "{}", rec["prior"]);
    let chain = seqcal::chain::read_hdf5(&stage.join("chain.h5")).unwrap().discard(500);
    let x = chain.flat();
    for j in 0..2 {
        let (m, b) = (LOCATION[j], SCALE[j]);
        let ess = rec["ess"][j].as_f64().unwrap();
        assert!(ess > 500.0, "parameter {j}: ESS {ess}");
        let col = x.column(j);
        let n = col.len() as f64;
        let mean = col.sum() / n;
        let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        // Laplace: sd = sqrt(2) b; the sample sd's standard error is about
        // sqrt((kurtosis - 1) / 4) sd / sqrt(n) = 1.12 sd / sqrt(n), kurtosis 6.
        let sd_true = std::f64::consts::SQRT_2 * b;
        assert!((mean - m).abs() < 4.0 * sd_true / ess.sqrt(), "parameter {j}: mean {mean}, expected {m}");
        assert!((sd - sd_true).abs() < 4.0 * 1.12 * sd_true / ess.sqrt(), "parameter {j}: sd {sd}, expected {sd_true}");
        // Half of a Laplace's mass lies within b ln 2 of its location (a
        // normal of the same sd puts 37.6% there).
        let inner = col.iter().filter(|v| (*v - m).abs() < b * std::f64::consts::LN_2).count() as f64 / n;
        assert!((inner - 0.5).abs() < 4.0 * (0.25 / ess).sqrt(), "parameter {j}: {inner} of the draws within b ln 2, expected 0.5");
    }
}

//! An SMC stage whose prior is a defensive mixture `(1-ε) q + ε U`, through
//! the real binary: its particles' weights (equal after the final mutations,
//! to the mixture posterior) are multiplied by the defensive weights
//! `(1-ε) q / ((1-ε) q + ε U)`, so the weighted chain targets the pure
//! flow-prior posterior as the ensemble sampler's does; the record reports
//! the base component's share, the mean of `1 −` those factors.

mod common;

use std::path::Path;

use common::succeeds;
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const PIPELINE: &str = r#"name = "def"
seed = 5

[parameters]
names = ["norm", "slope", "width", "center", "tail", "mix", "damping"]
bounds = [[0.5, 2], [-1, 1], [0.1, 1], [-1, 1], [0, 1], [0, 1], [0.1, 2]]

[datasets.A]
data = "A.csv"
design = "design.csv"
outputs = "A_model.csv"
emulator = { npc = 4, kernel = "se", restarts = 0 }

[datasets.B]
data = "B.csv"
design = "design.csv"
outputs = "B_model.csv"
emulator = { npc = 4, kernel = "se", restarts = 0 }

[defaults.sampler]
kind = "smc"
particles = 200
flow = false

[defaults.flow]
loss = "nll"
layers = 2
hidden = 16
steps = 60
batch = 128

[[stages]]
name = "A"
datasets = ["A"]

[[stages]]
name = "A_then_B_defensive"
datasets = ["B"]
prior = { kind = "flow", from = "A", epsilon = 0.2, base = { kind = "uniform" } }
"#;

#[test]
fn an_smc_stage_under_a_defensive_mixture_is_weighted_to_the_flow_prior_posterior() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    succeeds(&["example", "generate", "-o", s(&data), "--design", "60", "--seed", "3"]);
    let p = data.join("def.toml");
    std::fs::write(&p, PIPELINE).unwrap();
    let runs = dir.path().join("runs");
    succeeds(&["run", s(&p), "--runs-dir", s(&runs), "--json"]);
    let out = runs.join("def").join("A_then_B_defensive");
    let rec: Value = serde_json::from_str(&std::fs::read_to_string(out.join("stage.json")).unwrap()).unwrap();
    let d = &rec["flow_checks"]["defensive"];
    assert_eq!(d["epsilon"], 0.2, "{rec}");
    let share = d["base_share"].as_f64().unwrap();
    assert!(share > 0.0 && share < 1.0, "{d}");

    let chain = seqcal::chain::read_hdf5(&out.join("chain.h5")).unwrap();
    let about = chain.attrs.get("weights").cloned().unwrap_or_default();
    assert!(about.contains("(1-epsilon) q / ((1-epsilon) q + epsilon base)"), "{about}");
    let w = chain.weights.expect("weights");
    let n = w.len() as f64;
    // The particles' own weights are 1/n; each defensive factor lies in [0, 1]
    // and they average to 1 − the base component's share.
    let factors: Vec<f64> = w.iter().map(|v| v * n).collect();
    assert!(factors.iter().all(|f| (0.0..=1.0 + 1e-12).contains(f)), "{factors:?}");
    let mean = factors.iter().sum::<f64>() / n;
    assert!((mean - (1.0 - share)).abs() < 1e-9, "mean factor {mean}, base share {share}");
    let (lo, hi) = factors.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), f| (a.min(*f), b.max(*f)));
    assert!(hi - lo > 0.01, "the factors do not vary: {lo}..{hi}");
}

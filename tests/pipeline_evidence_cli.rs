//! `seqcal run` with SMC stages, through the real binary: every stage's log Z
//! in its record, the sequential check (Σ log Z along A → A_then_B against
//! the joint's) and the tension between A and B, in `summary.md` and in the
//! comparison's entry of `compare.json`, with their standard errors.

mod common;

use std::path::Path;

use common::succeeds;
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const PIPELINE: &str = r#"name = "ev"
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
name = "B"
datasets = ["B"]

[[stages]]
name = "A_then_B"
datasets = ["B"]
prior = { kind = "flow", from = "A" }

[[stages]]
name = "joint"
datasets = ["A", "B"]

[[compare]]
a = "A_then_B"
b = "joint"
"#;

#[test]
fn smc_stages_report_their_evidence_the_sequential_check_and_the_tension() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    succeeds(&["example", "generate", "-o", s(&data), "--design", "60", "--seed", "3"]);
    let p = data.join("ev.toml");
    std::fs::write(&p, PIPELINE).unwrap();
    let runs = dir.path().join("runs");
    let j: Value = serde_json::from_str(&succeeds(&["run", s(&p), "--runs-dir", s(&runs), "--json"])).unwrap();
    let out = runs.join("ev");
    let mut z = std::collections::BTreeMap::new();
    for st in ["A", "B", "A_then_B", "joint"] {
        let rec: Value = serde_json::from_str(&std::fs::read_to_string(out.join(st).join("stage.json")).unwrap()).unwrap();
        let (lz, e) = (rec["log_z"].as_f64().unwrap(), rec["log_z_err"].as_f64().unwrap());
        assert!(lz.is_finite() && e > 0.0 && e.is_finite(), "{st}: {lz} +- {e}");
        z.insert(st, (lz, e));
    }
    assert!(j["stages"].as_array().unwrap().iter().all(|st| st["log_z"].is_f64()), "{j}");
    let cmp: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report/compare.json")).unwrap()).unwrap();
    let ev = &cmp[0]["evidence"];
    let seq = &ev["sequential"][0];
    assert_eq!(seq["chain"], serde_json::json!(["A", "A_then_B"]));
    assert_eq!(seq["joint"], "joint");
    let sum = z["A"].0 + z["A_then_B"].0;
    assert_eq!(seq["log_z_sum"].as_f64().unwrap(), sum);
    assert_eq!(seq["difference"].as_f64().unwrap(), sum - z["joint"].0);
    let err = (z["A"].1.powi(2) + z["A_then_B"].1.powi(2) + z["joint"].1.powi(2)).sqrt();
    assert!((seq["difference_err"].as_f64().unwrap() - err).abs() < 1e-12);
    let t = &ev["tensions"][0];
    assert_eq!((t["a"].as_str(), t["b"].as_str(), t["joint"].as_str()), (Some("A"), Some("B"), Some("joint")));
    assert_eq!(t["log_r"].as_f64().unwrap(), z["joint"].0 - z["A"].0 - z["B"].0);
    let md = std::fs::read_to_string(out.join("report/summary.md")).unwrap();
    assert!(md.contains("## Evidence") && md.contains("| A → A_then_B | joint |") && md.contains("**Tension between A and B:**"), "{md}");
}

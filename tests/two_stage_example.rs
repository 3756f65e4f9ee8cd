//! `seqcal example generate --kind hierarchical-a | hierarchical-b | dwarfs`
//! writes a two-stage example that `seqcal two-stage` runs as written, and a
//! run whose result lies far from a component's draws warns about it in
//! `result.json` and `summary.md`.

mod common;

use common::{fails, succeeds};

fn lines(p: &std::path::Path) -> usize {
    std::fs::read_to_string(p).unwrap().lines().count()
}

#[test]
fn generated_examples_are_complete_seeded_and_not_overwritten() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let out = succeeds(&["example", "generate", "--kind", "hierarchical-a", "-o", a.to_str().unwrap(), "--seed", "3"]);
    assert!(out.contains("two-stage run"), "{out}");
    for i in 1..=3 {
        assert_eq!(lines(&a.join(format!("software_{i}.csv"))), 30_001, "a header and 30 000 draws");
    }
    let spec = std::fs::read_to_string(a.join("spec.toml")).unwrap();
    assert!(spec.contains("seed = 3") && spec.contains("divide = { kind = \"normal\""), "{spec}");
    // Same seed, same bytes; an existing example is kept without --force.
    let again = d.path().join("again");
    succeeds(&["example", "generate", "--kind", "hierarchical-a", "-o", again.to_str().unwrap(), "--seed", "3"]);
    assert_eq!(std::fs::read(a.join("software_2.csv")).unwrap(), std::fs::read(again.join("software_2.csv")).unwrap());
    let e = fails(&["example", "generate", "--kind", "hierarchical-a", "-o", a.to_str().unwrap(), "--seed", "3"]);
    assert!(e.contains("--force"), "{e}");
    succeeds(&["example", "generate", "--kind", "hierarchical-a", "-o", a.to_str().unwrap(), "--seed", "3", "--force"]);
    // Case (b) has five groups and a flat software prior; TSFB runs on it as generated.
    let b = d.path().join("b");
    succeeds(&["example", "generate", "--kind", "hierarchical-b", "-o", b.to_str().unwrap()]);
    assert!(b.join("software_5.csv").exists() && !std::fs::read_to_string(b.join("spec.toml")).unwrap().contains("divide"));
    succeeds(&["two-stage", "tsfb", b.join("spec.toml").to_str().unwrap(), "-o", d.path().join("tsfb").to_str().unwrap()]);
    assert!(d.path().join("tsfb/result.json").exists());
    let e = fails(&["example", "generate", "--kind", "joint", "-o", d.path().join("j").to_str().unwrap()]);
    assert!(e.contains("hierarchical-a"), "{e}");
}

/// Case (a) puts the result about 8 pool-sds from each software pool: the
/// run says so, with the first-order noise of the pool (about 0.13 for θ at
/// 30 000 draws, see examples/two-stage/README.md).
#[test]
fn a_result_far_from_the_draws_warns_in_result_json_and_summary() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    succeeds(&["example", "generate", "--kind", "hierarchical-a", "-o", a.to_str().unwrap(), "--seed", "0"]);
    let spec = a.join("spec.toml");
    let small = "\n[stage1]\nsteps = 300\n\n[stage2]\nsteps = 400\nbatch = 500\neval_draws = 5000\n";
    let text = std::fs::read_to_string(&spec).unwrap() + small;
    std::fs::write(&spec, text).unwrap();
    let out = d.path().join("out");
    succeeds(&["two-stage", "run", spec.to_str().unwrap(), "-o", out.to_str().unwrap(), "--draws", "5000"]);
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    let ex = r["extrapolation"].as_array().expect("extrapolation in result.json");
    assert_eq!(ex.len(), 3, "{ex:?}");
    for e in ex {
        let dist = e["distance"].as_f64().unwrap();
        assert!(dist > 4.0, "{e}");
        let noise = e["noise_sd"][0].as_f64().unwrap();
        // First order at the exact answer: 0.10-0.16 per group; a short run's result is near it.
        assert!(noise > 0.05 && noise < 0.3, "{e}");
        assert!(e["warning"].as_str().is_some_and(|w| w.contains("pool-sds")), "{e}");
    }
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("## Warnings") && md.contains("software_1") && md.contains("extrapolating"), "{md}");
}

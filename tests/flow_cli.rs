//! `seqcal prior train`, `prior sample MODEL` and `prior eval` with the real binary.

mod common;

use std::path::Path;

use common::{fails, listing, seqcal, succeeds};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A 2-D chain of independent prior draws (with log_prob) in `dir/c.h5`.
fn chain(dir: &Path) -> std::path::PathBuf {
    let cfg = dir.join("p.toml");
    std::fs::write(&cfg, "kind = \"product\"\nblocks = [\n { kind = \"normal\", names = [\"a\"], mean = 0.3, sd = 0.1 },\n { kind = \"uniform\", names = [\"b\"], bounds = [[-1, 2]] },\n]\n").unwrap();
    let out = dir.join("c.h5");
    succeeds(&["prior", "sample", "--config", s(&cfg), "-n", "3000", "-o", s(&out), "--seed", "2"]);
    out
}

fn train(dir: &Path, c: &Path) -> std::path::PathBuf {
    let m = dir.join("m.safetensors");
    succeeds(&["prior", "train", s(c), "--loss", "kl", "--layers", "2", "--hidden", "16", "--steps", "150", "--batch", "200", "--seed", "4", "-o", s(&m), "-q"]);
    m
}

#[test]
fn train_sample_and_eval_a_flow_prior() {
    let dir = tempfile::tempdir().unwrap();
    let c = chain(dir.path());
    let m = train(dir.path(), &c);
    let side: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.json")).unwrap()).unwrap();
    assert_eq!(side["names"], serde_json::json!(["a", "b"]));
    assert_eq!(side["loss"], "kl");
    assert_eq!(side["chain_hash"].as_str().map(str::len), Some(64));
    assert!(side["metrics"]["steps"].as_u64().unwrap() > 0);
    assert_eq!(side["settings"]["lr_schedule"], "cosine", "the default schedule");
    assert_eq!(side["bounds"][1], serde_json::json!([-1.0, 2.0]));
    let d = dir.path().join("d.h5");
    succeeds(&["prior", "sample", s(&m), "-n", "500", "-o", s(&d), "--seed", "1"]);
    let info = succeeds(&["chain", "info", s(&d), "--json"]);
    assert!(info.contains("\"a\""), "{info}");
    let pts = dir.path().join("pts.csv");
    std::fs::write(&pts, "b,a\n0.5,0.3\n3.0,0.3\n").unwrap();
    let out = succeeds(&["prior", "eval", s(&m), s(&pts)]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "log_prob");
    let v: f64 = lines[1].parse().unwrap();
    // At the mode of a: ln N(0.3 | 0.3, 0.1) + ln(1/3) = 0.285; a 150-step flow is within 0.5 of it.
    assert!((v - 0.285).abs() < 0.5, "log_prob at the mode {v}");
    assert_eq!(lines[2], "-inf", "b = 3 is outside [-1, 2]");
    // The same model through a prior file.
    let cfg = dir.path().join("flow.toml");
    std::fs::write(&cfg, "kind = \"flow\"\nmodel = \"m.safetensors\"\n").unwrap();
    succeeds(&["prior", "sample", "--config", s(&cfg), "-n", "100", "-o", s(&dir.path().join("e.h5"))]);
}

#[test]
fn constant_learning_rate_schedule_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let c = chain(dir.path());
    let m = dir.path().join("k.safetensors");
    succeeds(&["prior", "train", s(&c), "--layers", "2", "--hidden", "8", "--steps", "40", "--batch", "100", "--lr-schedule", "constant", "-o", s(&m), "-q"]);
    let side: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("k.json")).unwrap()).unwrap();
    assert_eq!(side["settings"]["lr_schedule"], "constant");
    assert!((side["metrics"]["final_lr"].as_f64().unwrap() - 1e-3).abs() < 1e-12, "constant rate at the end: {}", side["metrics"]["final_lr"]);
}

#[test]
fn training_is_reproducible_with_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let c = chain(dir.path());
    let m = train(dir.path(), &c);
    let first = std::fs::read(&m).unwrap();
    std::fs::remove_file(&m).unwrap();
    train(dir.path(), &c);
    assert!(first == std::fs::read(&m).unwrap(), "same seed, different weights");
}

#[test]
fn bad_flow_input_fails_cleanly_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = chain(dir.path());
    let before = listing(dir.path());
    let m = dir.path().join("m.safetensors");
    let e = fails(&["prior", "train", s(&c), "--loss", "mse", "-o", s(&m)]);
    assert!(e.contains("unknown loss"), "{e}");
    let e = fails(&["prior", "train", s(&dir.path().join("missing.h5")), "-o", s(&m)]);
    assert!(e.contains("missing.h5"), "{e}");
    let e = fails(&["prior", "train", s(&c), "--layers", "3", "-o", s(&m)]);
    assert!(e.contains("even"), "{e}");
    let e = fails(&["prior", "train", s(&c), "--lr", "0", "-o", s(&m), "-q"]);
    assert!(e.contains("learning rate"), "{e}");
    let e = fails(&["prior", "train", s(&c), "--lr-schedule", "step", "-o", s(&m), "-q"]);
    assert!(e.contains("constant or cosine"), "{e}");
    assert_eq!(listing(dir.path()), before, "nothing may be written");
    let e = fails(&["prior", "sample", s(&m), "-n", "10", "-o", s(&dir.path().join("x.h5"))]);
    assert!(e.contains("m.safetensors"), "{e}");
    let model = train(dir.path(), &c);
    let pts = dir.path().join("pts.csv");
    for (csv, expect) in [("a,b,c\n0.1,0.2,0.3\n", "3 columns"), ("a\n0.1\n", "no column \"b\""), ("a,c\n0.1,0.2\n", "no column \"b\""), ("a,b\n0.1,NaN\n", "finite"), ("a,b\n0.1,x\n", "not a number")] {
        std::fs::write(&pts, csv).unwrap();
        let e = fails(&["prior", "eval", s(&model), s(&pts)]);
        assert!(e.contains(expect), "{csv:?}: expected {expect:?} in {e}");
    }
    let out = seqcal().args(["prior", "sample", s(&model), "--config", s(&pts), "-n", "5", "-o", "x.h5"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn scan_ranks_configurations_and_keeps_the_best() {
    let dir = tempfile::tempdir().unwrap();
    let c = chain(dir.path());
    let out = dir.path().join("scan");
    let md = succeeds(&["prior", "scan", s(&c), "--layers", "2", "--batch", "100,200", "--loss", "kl,nll", "--steps", "60", "--hidden", "8", "-o", s(&out), "-q"]);
    assert_eq!(md.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| rank")).count(), 4, "{md}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("scan.json")).unwrap()).unwrap();
    let rows = json["configurations"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let kls: Vec<f64> = rows.iter().map(|r| r["kl_1d"].as_f64().unwrap()).collect();
    assert!(kls.windows(2).all(|w| w[0] <= w[1]), "not ranked: {kls:?}");
    assert!(out.join("best.safetensors").is_file() && out.join("best.json").is_file());
    let e = fails(&["prior", "scan", s(&c), "--layers", "3", "-o", s(&out)]);
    assert!(e.contains("even"), "{e}");
}

#[test]
fn architectures_train_from_the_cli_and_the_sidecar_records_them() {
    let dir = tempfile::tempdir().unwrap();
    let c = chain(dir.path());
    let m = dir.path().join("nsf.safetensors");
    succeeds(&["prior", "train", s(&c), "--arch", "nsf_coupling", "--bins", "4", "--tail-bound", "3", "--lu", "--layers", "2", "--hidden", "16", "--steps", "60", "--batch", "200", "-o", s(&m), "-q"]);
    let side: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("nsf.json")).unwrap()).unwrap();
    assert_eq!(side["spec"]["kind"], "nsf_coupling");
    assert_eq!(side["spec"]["bins"], 4);
    assert_eq!(side["spec"]["tail_bound"], 3.0);
    assert_eq!(side["spec"]["lu"], true);
    // The saved model loads and samples.
    succeeds(&["prior", "sample", s(&m), "-n", "200", "-o", s(&dir.path().join("d.h5")), "--seed", "1"]);
    let e = fails(&["prior", "train", s(&c), "--arch", "glow", "-o", s(&m)]);
    assert!(e.contains("unknown flow architecture"), "{e}");
    let out = dir.path().join("scan");
    let md = succeeds(&["prior", "scan", s(&c), "--arch", "realnvp,maf,nsf_ar", "--layers", "2", "--steps", "40", "--hidden", "8", "--batch", "100", "-o", s(&out), "-q"]);
    for arch in ["realnvp", "maf", "nsf_ar"] {
        assert!(md.contains(&format!("| {arch} |")), "{arch} missing in {md}");
    }
}

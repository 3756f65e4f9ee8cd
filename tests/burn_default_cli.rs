//! Commands that read a chain's draws drop the burn-in the file records
//! unless `--discard N` says otherwise: the default gives the same output as
//! `--discard <recorded>`, `--discard 0` keeps every iteration, and a chain
//! that records none (written by emcee) is used whole.

mod common;

use std::path::{Path, PathBuf};

use common::{fixture, seqcal};

const BURN: &str = "100";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs seqcal, expects success, returns (stdout, stderr).
fn run(args: &[&str]) -> (Vec<u8>, String) {
    let out = seqcal().args(args).output().expect("seqcal runs");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "args {args:?} failed: {stderr}");
    (out.stdout, stderr)
}

/// A 400-iteration chain of 8 walkers whose file records a burn-in of 100.
fn chain(dir: &Path, name: &str, seed: &str) -> PathBuf {
    let out = dir.join(name);
    run(&["sample", "--target", "gaussian:dim=2", "--walkers", "8", "--steps", "400", "--burn", BURN, "--seed", seed, "-o", s(&out), "-q"]);
    out
}

fn note(stderr: &str) -> bool {
    stderr.contains("dropped the first 100 iterations, the burn-in the file records") && stderr.contains("--discard 0 keeps all")
}

#[test]
fn sample_records_its_burn_in_given_or_default() {
    let dir = tempfile::tempdir().unwrap();
    let a = chain(dir.path(), "a.h5", "1");
    let (out, _) = run(&["chain", "info", s(&a), "--json", "--discard", "0"]);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["attrs"]["burn"], BURN);
    // Without --burn: the fifth the diagnostics drop.
    let b = dir.path().join("b.h5");
    run(&["sample", "--target", "gaussian:dim=2", "--walkers", "8", "--steps", "300", "-o", s(&b), "-q"]);
    let (out, _) = run(&["chain", "info", s(&b), "--json", "--discard", "0"]);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["attrs"]["burn"], "60");
}

#[test]
fn chain_info_drops_the_recorded_burn_in() {
    let dir = tempfile::tempdir().unwrap();
    let a = chain(dir.path(), "a.h5", "1");
    for json in [true, false] {
        let with = |extra: &[&str]| {
            let mut args = vec!["chain", "info", s(&a)];
            if json {
                args.push("--json");
            }
            args.extend_from_slice(extra);
            run(&args)
        };
        let (default, err) = with(&[]);
        let (explicit, err_explicit) = with(&["--discard", BURN]);
        let (all, _) = with(&["--discard", "0"]);
        assert_eq!(default, explicit, "json {json}");
        assert_ne!(default, all, "json {json}");
        assert!(note(&err), "{err}");
        assert!(!note(&err_explicit), "an explicit --discard needs no note: {err_explicit}");
    }
    let (out, _) = run(&["chain", "info", s(&a), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["discard"], 100);
}

#[test]
fn a_chain_without_a_recorded_burn_in_is_used_whole() {
    let emcee = fixture("emcee_small.h5");
    let (default, err) = run(&["chain", "info", s(&emcee), "--json"]);
    let (all, _) = run(&["chain", "info", s(&emcee), "--json", "--discard", "0"]);
    assert_eq!(default, all);
    assert!(!err.contains("burn-in"), "{err}");
}

#[test]
fn compare_drops_each_chains_recorded_burn_in() {
    let dir = tempfile::tempdir().unwrap();
    let a = chain(dir.path(), "a.h5", "1");
    let b = chain(dir.path(), "b.h5", "2");
    let (default, err) = run(&["compare", s(&a), s(&b), "--json"]);
    let (explicit, _) = run(&["compare", s(&a), s(&b), "--json", "--discard", BURN]);
    let (all, _) = run(&["compare", s(&a), s(&b), "--json", "--discard", "0"]);
    assert_eq!(default, explicit);
    assert_ne!(default, all);
    assert_eq!(err.matches("the burn-in the file records").count(), 2, "one note per chain: {err}");
}

/// Runs `args -o OUT` as is, with `--discard BURN` and with `--discard 0`:
/// the default output is the explicit burn-in's, differs from keeping every
/// iteration, and the default says so on stderr.
fn default_output_drops_the_burn_in(dir: &Path, args: &[&str], ext: &str) {
    let make = |name: &str, extra: &[&str]| {
        let out = dir.join(format!("{name}.{ext}"));
        let mut all = args.to_vec();
        all.extend(["-o", s(&out)]);
        all.extend_from_slice(extra);
        let (_, err) = run(&all);
        (std::fs::read(&out).unwrap(), err)
    };
    let (default, err) = make("default", &[]);
    let (explicit, _) = make("explicit", &["--discard", BURN]);
    let (all, _) = make("all", &["--discard", "0"]);
    assert_eq!(default, explicit, "{args:?}");
    assert_ne!(default, all, "{args:?}");
    assert!(note(&err), "{err}");
}

#[test]
fn plot_corner_drops_the_recorded_burn_in() {
    let dir = tempfile::tempdir().unwrap();
    let a = chain(dir.path(), "a.h5", "1");
    default_output_drops_the_burn_in(dir.path(), &["plot", "corner", s(&a), "--panel", "60"], "png");
}

#[test]
fn prior_train_drops_the_recorded_burn_in() {
    let dir = tempfile::tempdir().unwrap();
    let a = chain(dir.path(), "a.h5", "1");
    let args = ["prior", "train", s(&a), "--layers", "1", "--hidden", "8", "--batch", "200", "--steps", "30", "--val-fraction", "0"];
    default_output_drops_the_burn_in(dir.path(), &args, "safetensors");
}

#[test]
fn prior_scan_drops_the_recorded_burn_in() {
    let dir = tempfile::tempdir().unwrap();
    let a = chain(dir.path(), "a.h5", "1");
    let scan = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec!["prior", "scan", s(&a), "--layers", "1", "--hidden", "8", "--batch", "200", "--steps", "20", "-o", s(&out)];
        args.extend_from_slice(extra);
        let (_, err) = run(&args);
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("scan.json")).unwrap()).unwrap();
        // Everything but the timings.
        let rows: Vec<(f64, f64)> =
            v["configurations"].as_array().unwrap().iter().map(|r| (r["kl_1d"].as_f64().unwrap(), r["kl_2d"].as_f64().unwrap())).collect();
        let model = std::fs::read(out.join("best.safetensors")).unwrap();
        ((v["held_out"].clone(), v["floor_kl_1d"].clone(), rows, model), err)
    };
    let (default, err) = scan("default", &[]);
    let (explicit, _) = scan("explicit", &["--discard", BURN]);
    let (all, _) = scan("all", &["--discard", "0"]);
    assert_eq!(default, explicit);
    assert_ne!(default, all);
    assert!(note(&err), "{err}");
}

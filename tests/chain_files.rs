//! Chain files through the real binary: emcee's files read by seqcal,
//! seqcal's files read by emcee, conversions and streaming statistics.

mod common;

use common::{fixture, python_with_emcee, succeeds};
use serde_json::Value;

fn emcee_expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("emcee_small.json")).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn info_json(args: &[&str]) -> Value {
    serde_json::from_str(&succeeds(args)).unwrap()
}

#[test]
fn reads_the_emcee_fixture_like_emcee() {
    let exp = emcee_expected();
    let path = fixture("emcee_small.h5");
    let info = info_json(&["chain", "info", path.to_str().unwrap(), "--json"]);
    let shape: Vec<u64> = exp["shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    assert_eq!(info["iterations"].as_u64().unwrap(), shape[0], "rows past 'iteration' must not count");
    assert_eq!(info["walkers"].as_u64().unwrap(), shape[1]);
    assert_eq!(info["dim"].as_u64().unwrap(), shape[2]);
    let params = info["summary"]["params"].as_array().unwrap();
    for (j, p) in params.iter().enumerate() {
        // Means and sds are sums of the same numbers: equal to rounding.
        let m = p["mean"].as_f64().unwrap();
        assert!((m - floats(&exp["mean"])[j]).abs() < 1e-12, "mean {j}: {m} vs emcee");
        let sd = p["sd"].as_f64().unwrap();
        assert!((sd - floats(&exp["sd"])[j]).abs() < 1e-12, "sd {j}: {sd}");
        // Quantiles lie between the order statistics around them, give or take one histogram bin.
        let res = p["quantile_resolution"].as_f64().unwrap();
        for q in ["q05", "q50", "q95"] {
            let bracket = &exp[format!("{q}_bracket")];
            let (lo, hi) = (floats(&bracket[0])[j], floats(&bracket[1])[j]);
            let v = p[q].as_f64().unwrap();
            assert!(v >= lo - res && v <= hi + res, "{q} of param {j}: {v} outside [{lo}, {hi}]");
        }
    }
    let acc = info["acceptance"]["mean"].as_f64().unwrap();
    let exp_acc = floats(&exp["acceptance_fraction"]);
    assert!((acc - exp_acc.iter().sum::<f64>() / exp_acc.len() as f64).abs() < 1e-12);
    let lp = info["summary"]["log_prob_mean"].as_f64().unwrap();
    assert!((lp - exp["log_prob_mean"].as_f64().unwrap()).abs() < 1e-10);

    let thinned = info_json(&["chain", "info", path.to_str().unwrap(), "--json", "--discard", "50", "--thin", "7"]);
    assert_eq!(thinned["summary"]["draws"].as_u64(), exp["discard50_thin7_draws"].as_u64());
    for (j, p) in thinned["summary"]["params"].as_array().unwrap().iter().enumerate() {
        assert!((p["mean"].as_f64().unwrap() - floats(&exp["discard50_thin7_mean"])[j]).abs() < 1e-12);
    }
}

#[test]
fn text_info_shows_shape_and_table() {
    let out = succeeds(&["chain", "info", fixture("emcee_small.h5").to_str().unwrap()]);
    assert!(out.contains("200 iterations x 12 walkers x 3 parameters"), "{out}");
    assert!(out.contains("parameter") && out.contains("x2"), "{out}");
}

#[test]
fn h5_csv_h5_round_trip_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("c.csv");
    let back = dir.path().join("back.h5");
    let src = fixture("emcee_small.h5");
    succeeds(&["chain", "convert", src.to_str().unwrap(), csv.to_str().unwrap()]);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("iteration,walker,x0,x1,x2,log_prob\n"), "{}", &text[..80]);
    assert_eq!(text.lines().count(), 1 + 200 * 12);
    succeeds(&["chain", "convert", csv.to_str().unwrap(), back.to_str().unwrap()]);
    let a = seqcal::chain::read_hdf5(&src).unwrap();
    let b = seqcal::chain::read_hdf5(&back).unwrap();
    assert_eq!(a.draws, b.draws);
    assert_eq!(a.log_prob, b.log_prob);
    assert_eq!(a.names, b.names);
}

#[test]
fn plain_csv_becomes_a_one_walker_chain() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("posterior.csv");
    std::fs::write(&csv, "alpha, beta\n1.0, 2\n3.0, 4e0\n5, 6\n").unwrap();
    let info = info_json(&["chain", "info", csv.to_str().unwrap(), "--json"]);
    assert_eq!(info["iterations"], 3);
    assert_eq!(info["walkers"], 1);
    assert_eq!(info["names"], serde_json::json!(["alpha", "beta"]));
    assert_eq!(info["summary"]["params"][1]["mean"].as_f64().unwrap(), 4.0);
    assert_eq!(info["has_log_prob"], false);
}

/// Runs one of the Python scripts in `tests/data/emcee/` with `py` and
/// asserts that it succeeded and printed `expect`.
fn python_script(py: &std::ffi::OsStr, script: &str, args: &[&str], expect: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/emcee").join(script);
    let out = std::process::Command::new(py).arg(&path).args(args).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{script} {args:?} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(expect), "{script} {args:?}: {stdout}");
}

/// seqcal's reading of `h5`: `chain convert` to CSV, and `chain info --json`
/// with `discard` and `thin`, into `dir`; then `check_chain.py` compares
/// them, value for value, with emcee's reading of the same file.
fn emcee_and_seqcal_agree(py: &std::ffi::OsStr, h5: &std::path::Path, discard: usize, thin: usize, extra: &[&str]) {
    let dir = h5.parent().unwrap();
    let stem = h5.file_stem().unwrap().to_str().unwrap();
    let csv = dir.join(format!("{stem}.seqcal.csv"));
    let info = dir.join(format!("{stem}.info.json"));
    succeeds(&["chain", "convert", h5.to_str().unwrap(), csv.to_str().unwrap()]);
    let (d, t) = (discard.to_string(), thin.to_string());
    std::fs::write(&info, succeeds(&["chain", "info", h5.to_str().unwrap(), "--json", "--discard", &d, "--thin", &t])).unwrap();
    let mut args = vec![h5.to_str().unwrap(), csv.to_str().unwrap(), info.to_str().unwrap(), "--discard", &d, "--thin", &t];
    args.extend_from_slice(extra);
    python_script(py, "check_chain.py", &args, "chain ok");
}

#[test]
fn emcee_reads_what_seqcal_prior_sample_writes() {
    let Some(py) = python_with_emcee("emcee_reads_what_seqcal_prior_sample_writes") else { return };
    let dir = tempfile::tempdir().unwrap();
    let prior = dir.path().join("prior.toml");
    std::fs::write(&prior, "kind = \"normal\"\nnames = [\"a\", \"b\"]\nmean = [1, -1]\nsd = [0.5, 2]\n").unwrap();
    let h5 = dir.path().join("draws.h5");
    succeeds(&["prior", "sample", "--config", prior.to_str().unwrap(), "--draws", "500", "-o", h5.to_str().unwrap(), "--seed", "5"]);
    // One walker of 500 draws, with the prior's density as log_prior.
    emcee_and_seqcal_agree(&py, &h5, 100, 4, &["--names", "a,b", "--datasets", "log_prior"]);
}

#[test]
fn emcee_reads_a_resumed_multi_walker_sample_chain_as_seqcal_does() {
    let Some(py) = python_with_emcee("emcee_reads_a_resumed_multi_walker_sample_chain_as_seqcal_does") else { return };
    let dir = tempfile::tempdir().unwrap();
    let prior = dir.path().join("prior.toml");
    std::fs::write(&prior, "kind = \"normal\"\nnames = [\"x0\", \"x1\", \"x2\"]\nmean = [0, 1, -1]\nsd = [2, 2, 3]\n").unwrap();
    let (resumed, whole) = (dir.path().join("resumed.h5"), dir.path().join("whole.h5"));
    let sample = |out: &std::path::Path, steps: &str, resume: bool| {
        let mut args =
            vec!["sample", "--target", "gaussian:dim=3", "--prior", prior.to_str().unwrap(), "--walkers", "10", "--steps", steps, "--seed", "4"];
        args.extend(["--moves", "stretch:0.7,de:0.3", "--checkpoint-every", "30", "--quiet", "-o", out.to_str().unwrap()]);
        if resume {
            args.push("--resume");
        }
        succeeds(&args);
    };
    // 230 iterations (the last checkpoint at 210 and the end), then resumed to 400.
    sample(&resumed, "230", false);
    sample(&resumed, "400", true);
    sample(&whole, "400", false);
    let extra = ["--names", "x0,x1,x2", "--datasets", "log_prior,log_likelihood", "--state"];
    emcee_and_seqcal_agree(&py, &whole, 37, 4, &extra);
    let mut extra = extra.to_vec();
    extra.extend(["--same-as", whole.to_str().unwrap()]);
    emcee_and_seqcal_agree(&py, &resumed, 37, 4, &extra);
}

#[test]
fn seqcal_reads_weights_as_emcee_and_numpy_do() {
    let Some(py) = python_with_emcee("seqcal_reads_weights_as_emcee_and_numpy_do") else { return };
    let dir = tempfile::tempdir().unwrap();
    // An importance-weighted chain given as CSV (4 walkers, 60 iterations).
    let mut text = String::from("iteration,walker,a,b,log_prob,weight\n");
    for i in 0..60 {
        for k in 0..4 {
            let (a, b) = (((i * 7 + k * 3) % 17) as f64 / 4.0 - 2.0, ((i * 5 + k) as f64).sin());
            text.push_str(&format!("{i},{k},{a},{b},{},{}\n", -0.5 * (a * a + b * b), 0.25 + ((i + 2 * k) % 5) as f64 / 3.0));
        }
    }
    let (csv, h5) = (dir.path().join("w.csv"), dir.path().join("w.h5"));
    std::fs::write(&csv, text).unwrap();
    succeeds(&["chain", "convert", csv.to_str().unwrap(), h5.to_str().unwrap()]);
    emcee_and_seqcal_agree(&py, &h5, 5, 2, &["--names", "a,b", "--datasets", "weights"]);
}

#[test]
fn seqcal_reads_what_emcee_writes_as_emcee_does() {
    let Some(py) = python_with_emcee("seqcal_reads_what_emcee_writes_as_emcee_does") else { return };
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("emcee.h5");
    python_script(&py, "write_chain.py", &[h5.to_str().unwrap()], "wrote 150");
    let info: Value = serde_json::from_str(&succeeds(&["chain", "info", h5.to_str().unwrap(), "--json"])).unwrap();
    // emcee writes its own version number as `version`.
    assert!(info["writer"].as_str().is_some_and(|w| !w.is_empty() && !w.starts_with("seqcal")), "{info}");
    assert_eq!(info["complete"], Value::Null, "emcee's files say nothing about completeness");
    emcee_and_seqcal_agree(&py, &h5, 20, 3, &["--names", "x0,x1,x2"]);
}

#[test]
fn prior_sample_is_reproducible_and_seeded() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::example("priors/product.toml");
    let run = |seed: &str, name: &str| {
        let out = dir.path().join(name);
        succeeds(&["prior", "sample", "--config", cfg.to_str().unwrap(), "-n", "2000", "-o", out.to_str().unwrap(), "--seed", seed]);
        seqcal::chain::read_hdf5(&out).unwrap()
    };
    let (a, b, c) = (run("1", "a.h5"), run("1", "b.h5"), run("2", "c.h5"));
    assert_eq!(a.draws, b.draws);
    assert_ne!(a.draws, c.draws);
    assert_eq!(a.attrs["seed"], "1");
    assert!(a.attrs["prior"].starts_with("product"));
    // The stored log prior is the prior's density at each draw (all finite inside the support).
    assert!(a.log_prior.unwrap().iter().all(|v| v.is_finite()));
}

#[test]
fn lists_prior_kinds_and_has_help_with_examples() {
    let out = succeeds(&["prior", "list"]);
    for k in ["uniform", "normal", "truncated_normal", "product", "mixture"] {
        assert!(out.contains(k), "{out}");
    }
    let help = succeeds(&["--help"]);
    assert!(help.contains("Examples:") && help.contains("seqcal chain info"), "{help}");
    let v = succeeds(&["--version"]);
    assert!(v.starts_with("seqcal "), "{v}");
}

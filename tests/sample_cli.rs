//! `seqcal sample` through the real binary: output files, JSON summary,
//! resume after a kill giving the same draws as an uninterrupted run, bad input.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use common::{fails, succeeds};
use serde_json::Value;

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn writes_an_emcee_chain_and_a_json_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g.h5");
    let text = succeeds(&[
        "sample",
        "--target",
        "gaussian:dim=2",
        "--steps",
        "3000",
        "--walkers",
        "16",
        "--seed",
        "3",
        "-o",
        s(&out),
        "--json",
        "--checkpoint-every",
        "250",
    ]);
    let j: Value = serde_json::from_str(&text).unwrap();
    for key in ["wall_seconds", "evaluations", "evaluations_per_second", "acceptance", "tau", "ess", "rhat"] {
        assert!(j.get(key).is_some(), "summary lacks {key}: {text}");
    }
    assert_eq!(j["iterations"], 3000);
    // Every step evaluates every walker once (flat prior: nothing skipped).
    assert_eq!(j["evaluations"].as_u64().unwrap(), 3000 * 16);
    for (m, se) in j["mean"].as_array().unwrap().iter().zip(j["mcse"].as_array().unwrap()) {
        assert!(m.as_f64().unwrap().abs() < 5.0 * se.as_f64().unwrap(), "mean {m} vs mcse {se}");
    }
    for r in j["rhat"].as_array().unwrap() {
        assert!((r.as_f64().unwrap() - 1.0).abs() < 0.05, "R-hat {r}");
    }
    let c = seqcal::chain::read_hdf5(&out).unwrap();
    assert_eq!(c.draws.dim(), (3000, 16, 2));
    assert_eq!(c.attrs["sampler"], "ensemble");
    let h = seqcal::chain::ChainReader::open(&out).unwrap();
    assert_eq!(h.header().complete, Some(true));
    let acc = j["acceptance"]["mean"].as_f64().unwrap();
    assert!((c.acceptance_fraction().mean().unwrap() - acc).abs() < 1e-12);
}

#[test]
fn resumed_run_matches_an_uninterrupted_one_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.h5");
    let part = dir.path().join("part.h5");
    let args = |o: &str, steps: &str| {
        vec![
            "sample".to_string(),
            "--target".into(),
            "correlated_gaussian".into(),
            "--moves".into(),
            "stretch:0.6,de:0.2,snooker:0.1,walk:0.1".into(),
            "--steps".into(),
            steps.into(),
            "--seed".into(),
            "11".into(),
            "-o".into(),
            o.into(),
            "--checkpoint-every".into(),
            "7".into(),
            "--quiet".into(),
        ]
    };
    let run = |v: Vec<String>| succeeds(&v.iter().map(String::as_str).collect::<Vec<_>>());
    run(args(s(&full), "400"));
    run(args(s(&part), "150"));
    let mut resumed = args(s(&part), "400");
    resumed.push("--resume".into());
    run(resumed);
    let a = seqcal::chain::read_hdf5(&full).unwrap();
    let b = seqcal::chain::read_hdf5(&part).unwrap();
    assert!(a.draws == b.draws, "resumed draws differ");
    assert_eq!(a.log_prob, b.log_prob);
    assert_eq!(a.accepted, b.accepted);
}

#[test]
fn resumed_run_of_a_transformed_target_matches_an_uninterrupted_one() {
    // arK is sampled on an unconstrained scale (sigma > 0): its chain stores
    // log densities without the log-Jacobian, and a resume must accept them.
    let dir = tempfile::tempdir().unwrap();
    let (full, part) = (dir.path().join("full.h5"), dir.path().join("part.h5"));
    let run = |o: &std::path::Path, steps: &str, resume: bool| {
        let mut v = vec!["sample", "--target", "arK", "--steps", steps, "--seed", "3", "--checkpoint-every", "40", "--quiet", "-o", s(o)];
        if resume {
            v.push("--resume");
        }
        succeeds(&v);
    };
    run(&full, "200", false);
    run(&part, "120", false);
    run(&part, "200", true);
    let a = seqcal::chain::read_hdf5(&full).unwrap();
    let b = seqcal::chain::read_hdf5(&part).unwrap();
    assert!(a.draws == b.draws, "resumed draws differ");
    assert_eq!(a.log_prob, b.log_prob);
}

/// Rows flushed to `path` and whether it says it is complete, or `None`
/// while the file does not exist yet or is not readable (being created).
fn progress(path: &std::path::Path) -> Option<(usize, Option<bool>)> {
    let r = seqcal::chain::ChainReader::open(path).ok()?;
    Some((r.header().iterations, r.header().complete))
}

#[test]
fn killed_run_resumes_to_the_same_chain() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.h5");
    let killed = dir.path().join("killed.h5");
    const STEPS: usize = 20000;
    const EVERY: usize = 25;
    let steps = STEPS.to_string();
    let every = EVERY.to_string();
    let common = ["sample", "--target", "funnel:dim=4", "--walkers", "16", "--steps", &steps, "--seed", "5", "--checkpoint-every", &every, "--quiet"];
    let mut a: Vec<&str> = common.to_vec();
    a.extend(["-o", s(&full)]);
    succeeds(&a);
    // The same run, killed with SIGKILL once its file holds two checkpoints
    // and still says it is incomplete.
    let bin = assert_cmd::cargo::cargo_bin("seqcal");
    let mut child =
        std::process::Command::new(bin).args(common).args(["-o", s(&killed)]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let seen = loop {
        if let Some((rows, complete)) = progress(&killed) {
            if rows >= 2 * EVERY {
                assert_eq!(complete, Some(false), "a running chain must say it is incomplete");
                break rows;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(Duration::from_millis(2));
    };
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "the run was not killed by SIGKILL: {status}");
    // After the kill: still incomplete, at a checkpoint, nothing lost.
    let (rows, complete) = progress(&killed).expect("the killed chain is readable");
    assert_eq!(complete, Some(false), "the killed chain looks complete ({rows} rows)");
    assert!(rows >= seen && rows < STEPS, "killed at {rows} rows (seen {seen})");
    let state = seqcal::chain::ChainReader::open(&killed).unwrap().sampler_state().unwrap().expect("a checkpoint stores the sampler state");
    assert_eq!(state.iteration, rows, "the sampler state is not the last checkpoint's");

    let mut r: Vec<&str> = common.to_vec();
    r.extend(["-o", s(&killed), "--resume"]);
    succeeds(&r);
    let x = seqcal::chain::read_hdf5(&full).unwrap();
    let y = seqcal::chain::read_hdf5(&killed).unwrap();
    assert!(x.draws == y.draws, "killed-then-resumed draws differ (killed at {rows} rows)");
    assert_eq!(x.log_prob, y.log_prob);
    assert_eq!(x.log_prior, y.log_prior);
    assert_eq!(x.log_likelihood, y.log_likelihood);
    assert_eq!(x.accepted, y.accepted);
    assert_eq!(x.attrs, y.attrs);
    assert_eq!(x, y, "the resumed chain differs from the uninterrupted one");
    assert_eq!(seqcal::chain::ChainReader::open(&killed).unwrap().header().complete, Some(true));
}

#[test]
fn lists_targets() {
    let out = succeeds(&["sample", "--list-targets"]);
    for t in ["gaussian", "correlated_gaussian", "rosenbrock", "gaussian_shells", "eggbox", "funnel", "cmd:COMMAND"] {
        assert!(out.contains(t), "{out}");
    }
}

#[test]
fn bad_sampling_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.h5");
    let e = fails(&["sample", "--target", "gaussian:dim=20", "--walkers", "16", "--steps", "10"]);
    assert!(e.contains("at least 2 x dim = 40"), "{e}");
    let e = fails(&["sample", "--target", "nosuch", "--steps", "10"]);
    assert!(e.contains("unknown target \"nosuch\""), "{e}");
    let e = fails(&["sample", "--target", "gaussian", "--moves", "stretch:0.5,jump:0.5", "--steps", "10"]);
    assert!(e.contains("unknown move \"jump\""), "{e}");
    succeeds(&["sample", "--target", "gaussian", "--steps", "20", "-o", s(&out), "--quiet"]);
    let e = fails(&["sample", "--target", "gaussian", "--steps", "20", "-o", s(&out)]);
    assert!(e.contains("exists: pass --resume"), "{e}");
    let e = fails(&["sample", "--target", "gaussian", "--steps", "40", "--seed", "9", "-o", s(&out), "--resume"]);
    assert!(e.contains("needs the same target"), "{e}");
    // A start outside the support.
    let init = dir.path().join("init.csv");
    let mut rows = String::from("x0,x1\n");
    for k in 0..32 {
        rows.push_str(&format!("{},{}\n", 20.0 + k as f64 * 0.1, (k as f64).sin()));
    }
    std::fs::write(&init, rows).unwrap();
    let e = fails(&["sample", "--target", "rosenbrock", "--steps", "10", "--init", s(&init)]);
    assert!(e.contains("starts where the posterior is zero"), "{e}");
}

#[test]
fn external_model_samples_and_its_death_keeps_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let prior = dir.path().join("prior.toml");
    std::fs::write(&prior, "kind = \"normal\"\nmean = 0\nsd = 1\n").unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/external/gaussian_model.py");
    // N(0, 1) prior x N(0, 1) model: posterior N(0, 1/2), sd 0.7071.
    let text = succeeds(&[
        "sample",
        "--target",
        &format!("cmd:python3 {model}"),
        "--prior",
        s(&prior),
        "--walkers",
        "12",
        "--steps",
        "1500",
        "--seed",
        "4",
        "--json",
    ]);
    let j: Value = serde_json::from_str(&text).unwrap();
    for (sd, ess) in j["sd"].as_array().unwrap().iter().zip(j["ess"].as_array().unwrap()) {
        // sd error of a normal sample: sd / sqrt(2 ESS); allow 5 of them.
        let (sd, ess) = (sd.as_f64().unwrap(), ess.as_f64().unwrap());
        let want = std::f64::consts::FRAC_1_SQRT_2;
        assert!((sd - want).abs() < 5.0 * want / (2.0 * ess).sqrt(), "sd {sd} (ESS {ess})");
    }
    // A model that dies after 60 batches: clear error, and the chain written so far stays valid.
    let dying = dir.path().join("dying.py");
    std::fs::write(&dying, "import sys\nprint('seqcal-target 1 3 a b c', flush=True)\nfor batch in range(60):\n    n = int(sys.stdin.readline())\n    pts = [sys.stdin.readline() for _ in range(n)]\n    print('\\n'.join(str(-0.5 * sum(float(v) ** 2 for v in p.split())) for p in pts), flush=True)\nsys.stderr.write('model ran out of licences\\n')\nsys.exit(3)\n").unwrap();
    let out = dir.path().join("dying.h5");
    let e = common::fails(&[
        "sample",
        "--target",
        &format!("cmd:python3 {}", s(&dying)),
        "--prior",
        s(&prior),
        "--walkers",
        "12",
        "--steps",
        "500",
        "--checkpoint-every",
        "5",
        "-o",
        s(&out),
    ]);
    assert!(e.contains("model ran out of licences") && e.contains("status 3"), "{e}");
    let r = seqcal::chain::ChainReader::open(&out).unwrap();
    assert_eq!(r.header().complete, Some(false));
    // 60 batches = 30 steps (two half-ensembles each) minus the initial one; flushed every 5.
    assert!(r.header().iterations >= 25 && r.header().iterations < 30, "{} rows", r.header().iterations);
    r.read_all().unwrap();
}

#[test]
fn stage_file_supplies_target_prior_and_settings_and_flags_override() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("banana.h5");
    let cfg = common::example("stages/banana.toml");
    let text = succeeds(&["sample", "--config", s(&cfg), "--steps", "1500", "-o", s(&out), "--json"]);
    let j: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(j["iterations"], 1500, "--steps overrides the file's 20000");
    assert_eq!(j["walkers"], 24);
    assert_eq!(j["seed"], 7);
    assert_eq!(j["moves"], "stretch:0.7,snooker:0.3");
    assert_eq!(j["acceptance"]["per_walker"].as_array().unwrap().len(), 24);
    let c = seqcal::chain::read_hdf5(&out).unwrap();
    assert!(c.attrs["prior"].starts_with("normal"), "{}", c.attrs["prior"]);
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "target = \"gaussian\"\n[sampler]\nwalkerz = 3\n").unwrap();
    let e = fails(&["sample", "--config", s(&bad)]);
    assert!(e.contains("bad.toml: line 3") && e.contains("walkerz"), "{e}");
}

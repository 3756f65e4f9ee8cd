//! Faults around `seqcal run`, through the real binary: two runs on one
//! folder, cache keys that miss a setting, a kill at each phase, a crash
//! that would leave an old report beside new chains, a burn-in longer than
//! the run, thread counts, warnings, the umask. Events are progress lines
//! and files, never elapsed time.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{fails, succeeds};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("seqcal")
}

/// The example's data (60 design points) in `dir/data`.
fn data(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    succeeds(&["example", "generate", "-o", s(&data), "--design", "60", "--seed", "3"]);
    data
}

/// A, A then B (flow prior), joint, one comparison; `steps` iterations of stage A.
fn small(steps: usize) -> String {
    format!(
        r#"name = "small"
seed = 5

[parameters]
names = ["norm", "slope", "width", "center", "tail", "mix", "damping"]
bounds = [[0.5, 2], [-1, 1], [0.1, 1], [-1, 1], [0, 1], [0, 1], [0.1, 2]]

[datasets.A]
data = "A.csv"
design = "design.csv"
outputs = "A_model.csv"
emulator = {{ npc = 4, kernel = "se", restarts = 0 }}

[datasets.B]
data = "B.csv"
design = "design.csv"
outputs = "B_model.csv"
emulator = {{ npc = 4, kernel = "se", restarts = 0 }}

[defaults.sampler]
walkers = 32
steps = 300
burn = 100

[defaults.flow]
loss = "nll"
layers = 2
hidden = 16
steps = 60
batch = 256

[[stages]]
name = "A"
datasets = ["A"]
sampler = {{ steps = {steps} }}

[[stages]]
name = "A_then_B"
datasets = ["B"]
prior = {{ kind = "flow", from = "A" }}

[[stages]]
name = "joint"
datasets = ["A", "B"]

[[compare]]
a = "A_then_B"
b = "joint"
"#
    )
}

/// One stage over data set A, every emulator setting spelled out.
const TINY: &str = r#"name = "tiny"
seed = 5

[parameters]
names = ["norm", "slope", "width", "center", "tail", "mix", "damping"]
bounds = [[0.5, 2], [-1, 1], [0.1, 1], [-1, 1], [0, 1], [0, 1], [0.1, 2]]

[datasets.A]
data = "A.csv"
design = "design.csv"
outputs = "A_model.csv"
emulator = { npc = 2, kernel = "se", restarts = 1 }

[[stages]]
name = "A"
datasets = ["A"]
sampler = { walkers = 16, steps = 60, burn = 20 }
"#;

/// Spawns `seqcal run` with progress on standard error and reads its lines
/// until one contains `marker`; returns the child (still running, unless the
/// run ended first: then `None`).
fn run_until(pipeline: &Path, runs: &Path, marker: &str) -> Option<std::process::Child> {
    let mut child = Command::new(bin()).args(["run", s(pipeline), "--runs-dir", s(runs)]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines {
        if line.unwrap().contains(marker) {
            return Some(child);
        }
    }
    child.wait().unwrap();
    None
}

fn run_quiet(pipeline: &Path, runs: &Path, extra: &[&str]) {
    let mut args = vec!["run", s(pipeline), "--runs-dir", s(runs), "-q"];
    args.extend_from_slice(extra);
    succeeds(&args);
}

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn a_second_run_on_one_folder_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(dir.path());
    let pipeline = d.join("long.toml");
    std::fs::write(&pipeline, small(100_000)).unwrap();
    let runs = dir.path().join("runs");
    let mut first = run_until(&pipeline, &runs, "sampling").expect("the first run reaches sampling");
    let err = fails(&["run", s(&pipeline), "--runs-dir", s(&runs), "-q"]);
    assert!(err.contains(&format!("pid {}", first.id())), "{err}");
    assert!(first.try_wait().unwrap().is_none(), "the first run stopped");
    first.kill().unwrap();
    first.wait().unwrap();
}

#[test]
fn a_cached_rerun_after_any_setting_change_gives_the_bytes_of_a_fresh_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(dir.path());
    let pipeline = d.join("tiny.toml");
    std::fs::write(&pipeline, TINY).unwrap();
    let cached = dir.path().join("cached");
    run_quiet(&pipeline, &cached, &[]);
    let edit_file = |name: &str| {
        let p = d.join(name);
        let text = std::fs::read_to_string(&p).unwrap();
        // Change one digit of the second row's first number.
        let line2 = text.lines().nth(1).unwrap().to_string();
        let mut changed = line2.clone();
        let pos = changed.find(|c: char| c.is_ascii_digit() && c != '0').unwrap();
        changed.replace_range(pos..pos + 1, if &changed[pos..pos + 1] == "9" { "8" } else { "9" });
        std::fs::write(&p, text.replacen(&line2, &changed, 1)).unwrap();
    };
    let edit_toml = |from: &str, to: &str| {
        let text = std::fs::read_to_string(&pipeline).unwrap();
        assert!(text.contains(from), "{from}");
        std::fs::write(&pipeline, text.replacen(from, to, 1)).unwrap();
    };
    type Change<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let changes: Vec<Change> = vec![
        ("pipeline seed", Box::new(|| edit_toml("seed = 5", "seed = 6"))),
        ("emulator seed", Box::new(|| edit_toml("restarts = 1 }", "restarts = 1, seed = 9 }"))),
        ("components", Box::new(|| edit_toml("npc = 2", "npc = 3"))),
        ("kernel", Box::new(|| edit_toml("kernel = \"se\"", "kernel = \"matern52\""))),
        ("restarts", Box::new(|| edit_toml("restarts = 1", "restarts = 2"))),
        ("design", Box::new(|| edit_file("design.csv"))),
        ("outputs", Box::new(|| edit_file("A_model.csv"))),
        ("data", Box::new(|| edit_file("A.csv"))),
        (
            "parameter order",
            Box::new(|| {
                // The first two parameters swap places, in the pipeline and in the design's columns.
                edit_toml("names = [\"norm\", \"slope\",", "names = [\"slope\", \"norm\",");
                edit_toml("bounds = [[0.5, 2], [-1, 1],", "bounds = [[-1, 1], [0.5, 2],");
                let p = d.join("design.csv");
                let swapped: String = std::fs::read_to_string(&p)
                    .unwrap()
                    .lines()
                    .map(|l| {
                        let mut f: Vec<&str> = l.split(',').collect();
                        f.swap(0, 1);
                        f.join(",") + "\n"
                    })
                    .collect();
                std::fs::write(&p, swapped).unwrap();
            }),
        ),
        ("sampler seed", Box::new(|| edit_toml("burn = 20 }", "burn = 20, seed = 4 }"))),
    ];
    for (k, (what, change)) in changes.into_iter().enumerate() {
        change();
        run_quiet(&pipeline, &cached, &[]);
        let fresh = dir.path().join(format!("fresh{k}"));
        run_quiet(&pipeline, &fresh, &[]);
        for f in ["emulators/A.json", "A/chain.h5"] {
            assert!(bytes(&cached.join("tiny").join(f)) == bytes(&fresh.join("tiny").join(f)), "after changing the {what}, the cached rerun's {f} differs from a fresh run's");
        }
    }
}

#[test]
fn killed_at_any_phase_a_rerun_reproduces_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(dir.path());
    let pipeline = d.join("small.toml");
    std::fs::write(&pipeline, small(300)).unwrap();
    let reference = dir.path().join("ref");
    run_quiet(&pipeline, &reference, &[]);
    let files = ["emulators/A.json", "emulators/B.json", "A/chain.h5", "A_then_B/flow_prior.safetensors", "A_then_B/chain.h5", "joint/chain.h5", "report/compare.json"];
    for (k, marker) in ["training the emulator of data set", "sampling", "training a flow prior", "writing the report"].into_iter().enumerate() {
        let runs = dir.path().join(format!("killed{k}"));
        let mut child = run_until(&pipeline, &runs, marker).unwrap_or_else(|| panic!("the run never announced {marker:?}"));
        child.kill().unwrap();
        child.wait().unwrap();
        run_quiet(&pipeline, &runs, &[]);
        for f in files {
            assert!(bytes(&runs.join("small").join(f)) == bytes(&reference.join("small").join(f)), "killed at {marker:?}: {f} differs from the uninterrupted run's");
        }
    }
}

#[test]
fn a_crash_during_a_rerun_leaves_no_old_report_beside_new_chains() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(dir.path());
    let pipeline = d.join("small.toml");
    std::fs::write(&pipeline, small(300)).unwrap();
    let runs = dir.path().join("runs");
    run_quiet(&pipeline, &runs, &[]);
    let report = runs.join("small/report");
    assert!(report.join("compare.json").is_file() && report.join("summary.md").is_file());
    // B's data change: A_then_B and joint rerun; kill the rerun in A_then_B's flow training.
    let b = d.join("B.csv");
    let text = std::fs::read_to_string(&b).unwrap();
    std::fs::write(&b, text.replacen("e-", "1e-", 1)).unwrap();
    let mut child = run_until(&pipeline, &runs, "training a flow prior").expect("the rerun reaches A_then_B");
    child.kill().unwrap();
    child.wait().unwrap();
    for f in ["compare.json", "summary.md", "corner_A_then_B_vs_joint.png", "corner_stages.png"] {
        assert!(!report.join(f).exists(), "an old {f} stayed beside the new chains");
    }
    assert!(!runs.join("small/A_then_B/stage.json").exists());
    run_quiet(&pipeline, &runs, &[]);
    assert!(report.join("compare.json").is_file() && report.join("summary.md").is_file());
}

#[test]
fn a_burn_in_not_below_the_steps_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(dir.path());
    let pipeline = d.join("tiny.toml");
    std::fs::write(&pipeline, TINY.replace("burn = 20", "burn = 60")).unwrap();
    let runs = dir.path().join("runs");
    let err = fails(&["run", s(&pipeline), "--runs-dir", s(&runs), "-q"]);
    assert!(err.contains("burn = 60 is not below steps = 60") && err.contains("stage \"A\""), "{err}");
    assert!(!runs.join("tiny/A/chain.h5").exists());
}

#[test]
fn chains_do_not_depend_on_the_thread_count_and_warnings_reach_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(dir.path());
    let pipeline = d.join("small.toml");
    std::fs::write(&pipeline, small(300)).unwrap();
    let (one, three) = (dir.path().join("one"), dir.path().join("three"));
    run_quiet(&pipeline, &one, &["--threads", "1"]);
    let out = Command::new(bin()).args(["run", s(&pipeline), "--runs-dir", s(&three), "--threads", "3", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for stage in ["A", "A_then_B", "joint"] {
        let f = format!("small/{stage}/chain.h5");
        // Draws, log posteriors, log priors and log likelihoods: the same bytes.
        assert!(bytes(&one.join(&f)) == bytes(&three.join(&f)), "{f} depends on the thread count");
    }
    // 300 iterations are far fewer than 50 autocorrelation times: every output says so.
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rec: Value = serde_json::from_str(&std::fs::read_to_string(three.join("small/A/stage.json")).unwrap()).unwrap();
    for (what, v) in [("stage.json", &rec["warnings"]), ("--json", &j["stages"][0]["warnings"])] {
        assert!(v.as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("50 autocorrelation times")), "{what}: {v}");
    }
    let summary = std::fs::read_to_string(three.join("small/report/summary.md")).unwrap();
    assert!(summary.contains("## Warnings") && summary.contains("**stage A:** the chain is shorter than 50 autocorrelation times"), "{summary}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING stage A:"));
}

#[test]
fn results_are_written_with_the_users_umask() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(dir.path());
    let pipeline = d.join("tiny.toml");
    std::fs::write(&pipeline, TINY).unwrap();
    for (mask, want) in [(0o027, 0o640), (0o002, 0o664)] {
        let runs = dir.path().join(format!("runs{mask:o}"));
        let mut cmd = Command::new(bin());
        cmd.args(["run", s(&pipeline), "--runs-dir", s(&runs), "-q"]);
        // SAFETY: umask(2) is async-signal-safe; it runs in the child before exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::umask(mask);
                Ok(())
            });
        }
        assert!(cmd.status().unwrap().success());
        for f in ["A/chain.h5", "A/stage.json", "emulators/A.json", "report/compare.json", "report/summary.md"] {
            let mode = std::fs::metadata(runs.join("tiny").join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, want, "umask {mask:o}: {f}");
        }
    }
}

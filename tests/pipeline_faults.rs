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

/// The example's data (60 design points) in `dir/data`, with the pipeline
/// `seqcal example generate` writes beside it.
fn data(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    succeeds(&["example", "generate", "-o", s(&data), "--design", "60", "--seed", "3"]);
    data
}

fn table(text: &str) -> toml::Table {
    text.parse().unwrap()
}

/// The generated pipeline cut down to `stages` (names), with cheap settings.
fn cut_down(data: &Path, name: &str, stages: &[&str], emulator: &str, sampler: &str) -> toml::Table {
    let mut t = table(&std::fs::read_to_string(data.join("pipeline.toml")).unwrap());
    t.insert("name".into(), name.into());
    t.insert("seed".into(), 5.into());
    let kept: Vec<toml::Value> =
        t["stages"].as_array().unwrap().iter().filter(|st| stages.contains(&st["name"].as_str().unwrap())).cloned().collect();
    let used: Vec<String> = kept.iter().flat_map(|st| st["datasets"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string())).collect();
    let datasets = t["datasets"].as_table_mut().unwrap();
    datasets.retain(|k, _| used.iter().any(|u| u == k));
    for (_, d) in datasets.iter_mut() {
        d.as_table_mut().unwrap().insert("emulator".into(), table(emulator).into());
    }
    t.insert(
        "defaults".into(),
        table(&format!("[sampler]\n{sampler}\n[flow]\nloss = \"nll\"\nlayers = 1\nhidden = 16\nsteps = 60\nbatch = 256\n")).into(),
    );
    t.insert("stages".into(), kept.into());
    t.insert("compare".into(), toml::Value::Array(Vec::new()));
    t
}

/// A, A then B (flow prior), joint, one comparison; `steps` iterations of
/// stage A. Returns the pipeline file.
fn small(data: &Path, steps: usize) -> PathBuf {
    let mut t = cut_down(
        data,
        "small",
        &["A", "A_then_B", "joint"],
        "npc = 4\nkernel = \"se\"\nrestarts = 0",
        "walkers = 32\nsteps = 300\nburn = 100\ncheckpoint_every = 50",
    );
    t["stages"].as_array_mut().unwrap()[0].as_table_mut().unwrap().insert("sampler".into(), table(&format!("steps = {steps}")).into());
    t.insert("compare".into(), vec![toml::Value::from(table("a = \"A_then_B\"\nb = \"joint\""))].into());
    let p = data.join("small.toml");
    std::fs::write(&p, toml::to_string(&t).unwrap()).unwrap();
    p
}

/// One stage over data set A, every emulator setting spelled out.
fn tiny(data: &Path) -> toml::Table {
    let mut t = cut_down(data, "tiny", &["A"], "npc = 2\nkernel = \"se\"\nrestarts = 1", "walkers = 16\nsteps = 60\nburn = 20");
    t.remove("defaults");
    t["stages"].as_array_mut().unwrap()[0].as_table_mut().unwrap().insert("sampler".into(), table("walkers = 16\nsteps = 60\nburn = 20").into());
    t
}

fn write_tiny(data: &Path, t: &toml::Table) -> PathBuf {
    let p = data.join("tiny.toml");
    std::fs::write(&p, toml::to_string(t).unwrap()).unwrap();
    p
}

/// Spawns `seqcal run` with progress on standard error and reads its lines
/// until one contains `marker`; returns the child (still running, unless the
/// run ended first: then `None`).
fn run_until(pipeline: &Path, runs: &Path, marker: &str) -> Option<std::process::Child> {
    let mut child =
        Command::new(bin()).args(["run", s(pipeline), "--runs-dir", s(runs)]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
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
    let pipeline = small(&data(dir.path()), 100_000);
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
    let mut t = tiny(&d);
    let pipeline = write_tiny(&d, &t);
    let cached = dir.path().join("cached");
    run_quiet(&pipeline, &cached, &[]);
    // Changes one digit of the second row of a table.
    let edit_file = |name: &str| {
        let p = d.join(name);
        let text = std::fs::read_to_string(&p).unwrap();
        let line2 = text.lines().nth(1).unwrap().to_string();
        let mut changed = line2.clone();
        let pos = changed.find(|c: char| c.is_ascii_digit() && c != '0').unwrap();
        changed.replace_range(pos..pos + 1, if &changed[pos..pos + 1] == "9" { "8" } else { "9" });
        std::fs::write(&p, text.replacen(&line2, &changed, 1)).unwrap();
    };
    let emulator = |t: &mut toml::Table, k: &str, v: toml::Value| {
        t["datasets"]["A"]["emulator"].as_table_mut().unwrap().insert(k.into(), v);
    };
    type Change<'a> = (&'a str, Box<dyn Fn(&mut toml::Table) + 'a>);
    let changes: Vec<Change<'_>> = vec![
        (
            "pipeline seed",
            Box::new(|t: &mut toml::Table| {
                t.insert("seed".into(), 6.into());
            }),
        ),
        ("emulator seed", Box::new(|t: &mut toml::Table| emulator(t, "seed", 9.into()))),
        ("components", Box::new(|t: &mut toml::Table| emulator(t, "npc", 3.into()))),
        ("kernel", Box::new(|t: &mut toml::Table| emulator(t, "kernel", "matern52".into()))),
        ("restarts", Box::new(|t: &mut toml::Table| emulator(t, "restarts", 2.into()))),
        ("design", Box::new(|_: &mut toml::Table| edit_file("design.csv"))),
        ("outputs", Box::new(|_: &mut toml::Table| edit_file("A_model.csv"))),
        ("data", Box::new(|_: &mut toml::Table| edit_file("A.csv"))),
        (
            "parameter order",
            Box::new(|t: &mut toml::Table| {
                // The first two parameters swap places, in the pipeline and in the design's columns.
                let params = t["parameters"].as_table_mut().unwrap();
                for k in ["names", "bounds"] {
                    params[k].as_array_mut().unwrap().swap(0, 1);
                }
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
        (
            "sampler seed",
            Box::new(|t: &mut toml::Table| {
                t["stages"][0]["sampler"].as_table_mut().unwrap().insert("seed".into(), 4.into());
            }),
        ),
    ];
    for (k, (what, change)) in changes.into_iter().enumerate() {
        change(&mut t);
        write_tiny(&d, &t);
        run_quiet(&pipeline, &cached, &[]);
        let fresh = dir.path().join(format!("fresh{k}"));
        run_quiet(&pipeline, &fresh, &[]);
        for f in ["emulators/A.json", "A/chain.h5"] {
            assert!(
                bytes(&cached.join("tiny").join(f)) == bytes(&fresh.join("tiny").join(f)),
                "after changing the {what}, the cached rerun's {f} differs from a fresh run's"
            );
        }
    }
}

/// The example's data, the small pipeline and one complete run of it in
/// `dir/ref`, on one thread.
fn completed(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let d = data(dir);
    let pipeline = small(&d, 300);
    let runs = dir.join("ref");
    run_quiet(&pipeline, &runs, &["--threads", "1"]);
    (d, pipeline, runs)
}

#[test]
fn killed_at_any_phase_a_rerun_reproduces_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let (_, pipeline, reference) = completed(dir.path());
    let files = [
        "emulators/A.json",
        "emulators/B.json",
        "A/chain.h5",
        "A_then_B/flow_prior.safetensors",
        "A_then_B/chain.h5",
        "joint/chain.h5",
        "report/compare.json",
    ];
    for (k, marker) in ["training the emulator of data set", "sampling", "training a flow prior", "writing the report"].into_iter().enumerate() {
        let runs = dir.path().join(format!("killed{k}"));
        let mut child = run_until(&pipeline, &runs, marker).unwrap_or_else(|| panic!("the run never announced {marker:?}"));
        child.kill().unwrap();
        child.wait().unwrap();
        run_quiet(&pipeline, &runs, &[]);
        for f in files {
            assert!(
                bytes(&runs.join("small").join(f)) == bytes(&reference.join("small").join(f)),
                "killed at {marker:?}: {f} differs from the uninterrupted run's"
            );
        }
    }
}

#[test]
fn ctrl_c_during_a_stage_stops_it_cleanly_and_a_rerun_reproduces_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(dir.path());
    let pipeline = small(&d, 3000);
    let reference = dir.path().join("ref");
    run_quiet(&pipeline, &reference, &[]);
    let runs = dir.path().join("int");
    let mut child =
        Command::new(bin()).args(["run", s(&pipeline), "--runs-dir", s(&runs), "-q"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let chain = runs.join("small/A/chain.h5");
    // SIGINT once stage A has flushed rows: it is sampling.
    loop {
        if seqcal::chain::ChainReader::open(&chain).is_ok_and(|r| r.header().iterations >= 50) {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before stage A wrote rows");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let pid = i32::try_from(child.id()).expect("a process id fits a pid_t");
    // 0 and -1 would signal our own group or every process we may signal.
    assert!(pid > 0, "kill of pid {pid}");
    // SAFETY: kill(2) on a child we spawned and have not reaped, named by its
    // positive pid (asserted above); it touches no memory of ours.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted: stage A: stopped after iteration") && stderr.contains("samples the stage again"), "{stderr}");
    assert!(!runs.join("small/A/stage.json").exists());
    run_quiet(&pipeline, &runs, &[]);
    for f in ["A/chain.h5", "A_then_B/chain.h5", "joint/chain.h5", "report/compare.json"] {
        assert!(
            bytes(&runs.join("small").join(f)) == bytes(&reference.join("small").join(f)),
            "after Ctrl-C: {f} differs from the uninterrupted run's"
        );
    }
}

#[test]
fn a_crash_during_a_rerun_leaves_no_old_report_beside_new_chains() {
    let dir = tempfile::tempdir().unwrap();
    let (d, pipeline, runs) = completed(dir.path());
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
    let mut t = tiny(&d);
    t["stages"][0]["sampler"].as_table_mut().unwrap().insert("burn".into(), 60.into());
    let pipeline = write_tiny(&d, &t);
    let runs = dir.path().join("runs");
    let err = fails(&["run", s(&pipeline), "--runs-dir", s(&runs), "-q"]);
    assert!(err.contains("burn = 60 is not below steps = 60") && err.contains("stage \"A\""), "{err}");
    assert!(!runs.join("tiny/A/chain.h5").exists());
}

#[test]
fn chains_do_not_depend_on_the_thread_count_and_warnings_reach_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let (_, pipeline, one) = completed(dir.path());
    let three = dir.path().join("three");
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
    let pipeline = write_tiny(&d, &tiny(&d));
    for (mask, want) in [(0o027, 0o640), (0o002, 0o664)] {
        let runs = dir.path().join(format!("runs{mask:o}"));
        let mut cmd = Command::new(bin());
        cmd.args(["run", s(&pipeline), "--runs-dir", s(&runs), "-q"]);
        assert_eq!(mask & !0o777, 0, "umask {mask:o}");
        // SAFETY: the closure runs in the child between fork and exec, where only
        // async-signal-safe calls are allowed: umask(2) is one, and it allocates
        // nothing; the mask holds permission bits only (asserted above).
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

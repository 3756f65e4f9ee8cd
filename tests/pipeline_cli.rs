//! `seqcal run` through the real binary on a small version of the shipped
//! example: the results it writes, reuse of unchanged stages, reruns after an
//! edit, the same numbers for the same seed whatever the thread count, and
//! readable errors for a broken pipeline.

mod common;

use std::path::{Path, PathBuf};

use common::{fails, succeeds};

use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small pipeline over the example's data: A, A then B (flow prior), joint,
/// one comparison. Cheap settings so the whole run takes seconds.
fn small_pipeline(joint_steps: usize) -> String {
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
layers = 1
hidden = 16
steps = 60
batch = 256

[[stages]]
name = "A"
datasets = ["A"]

[[stages]]
name = "A_then_B"
datasets = ["B"]
prior = {{ kind = "flow", from = "A" }}

[[stages]]
name = "joint"
datasets = ["A", "B"]
sampler = {{ steps = {joint_steps} }}

[[compare]]
a = "A_then_B"
b = "joint"
"#
    )
}

/// Example data (60 design points) and the small pipeline in a fresh folder.
fn setup(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    succeeds(&["example", "generate", "-o", s(&data), "--design", "60", "--seed", "3"]);
    let p = data.join("small.toml");
    std::fs::write(&p, small_pipeline(300)).unwrap();
    p
}

fn run_json(pipeline: &Path, runs: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["run", s(pipeline), "--runs-dir", s(runs), "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&succeeds(&args)).unwrap()
}

fn reused(j: &Value) -> Vec<(String, bool)> {
    j["stages"].as_array().unwrap().iter().map(|st| (st["name"].as_str().unwrap().to_string(), st["reused"].as_bool().unwrap())).collect()
}

fn draws(path: &Path) -> Vec<f64> {
    seqcal::chain::read_hdf5(path).unwrap().draws.iter().copied().collect()
}

#[test]
fn runs_stages_reuses_them_and_reruns_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = setup(dir.path());
    let runs = dir.path().join("runs");
    let j = run_json(&pipeline, &runs, &["--threads", "2"]);
    assert_eq!(reused(&j), vec![("A".into(), false), ("A_then_B".into(), false), ("joint".into(), false)]);
    let out = runs.join("small");
    for f in [
        "A/chain.h5",
        "A/stage.json",
        "A_then_B/chain.h5",
        "A_then_B/flow_prior.safetensors",
        "joint/chain.h5",
        "emulators/A.json",
        "emulators/B.json",
        "report/compare.json",
        "report/summary.md",
        "report/corner_stages.png",
        "report/corner_A_then_B_vs_joint.png",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    // The chain holds every iteration and walker, with the stage's settings recorded.
    let c = seqcal::chain::read_hdf5(&out.join("A_then_B/chain.h5")).unwrap();
    assert_eq!(c.draws.dim(), (300, 32, 7));
    assert_eq!(c.attrs["stage"], "A_then_B");
    assert_eq!(c.attrs["datasets"], "B");
    // The flow-prior stage ran the mode-loss check; the others did not.
    let stages = j["stages"].as_array().unwrap();
    assert!(stages[0]["mode_loss"].is_null());
    let f = stages[1]["mode_loss"]["fraction"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&f), "mode-loss fraction {f}");
    let cmp = &j["comparisons"][0];
    assert_eq!((cmp["a"].as_str().unwrap(), cmp["b"].as_str().unwrap()), ("A_then_B", "joint"));
    assert!(cmp["verdict"].as_str().is_some_and(|v| !v.is_empty()));
    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report/compare.json")).unwrap()).unwrap();
    assert_eq!(on_disk[0]["kl_1d"], cmp["kl_1d"]);

    // Nothing changed: every stage is reused and its chain left as it was.
    let before = std::fs::read(out.join("joint/chain.h5")).unwrap();
    let j2 = run_json(&pipeline, &runs, &[]);
    assert_eq!(reused(&j2), vec![("A".into(), true), ("A_then_B".into(), true), ("joint".into(), true)]);
    assert_eq!(std::fs::read(out.join("joint/chain.h5")).unwrap(), before);

    // Editing only the last stage reruns only it.
    let a_before = std::fs::read(out.join("A_then_B/chain.h5")).unwrap();
    std::fs::write(&pipeline, small_pipeline(320)).unwrap();
    let j3 = run_json(&pipeline, &runs, &[]);
    assert_eq!(reused(&j3), vec![("A".into(), true), ("A_then_B".into(), true), ("joint".into(), false)]);
    assert_eq!(std::fs::read(out.join("A_then_B/chain.h5")).unwrap(), a_before);
    assert_eq!(seqcal::chain::read_hdf5(&out.join("joint/chain.h5")).unwrap().draws.dim().0, 320);

    // Editing a data file reruns the stages that use it, and those downstream.
    let b = pipeline.parent().unwrap().join("B.csv");
    let text = std::fs::read_to_string(&b).unwrap();
    std::fs::write(&b, text.replacen("e-", "1e-", 1)).unwrap();
    let j4 = run_json(&pipeline, &runs, &[]);
    assert_eq!(reused(&j4), vec![("A".into(), true), ("A_then_B".into(), false), ("joint".into(), false)]);

    // --force reruns everything; --only one stage runs just it.
    let j5 = run_json(&pipeline, &runs, &["--only", "A", "--force"]);
    assert_eq!(reused(&j5)[0], ("A".into(), false));
}

#[test]
fn same_seed_same_chains_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = setup(dir.path());
    let (r1, r2) = (dir.path().join("r1"), dir.path().join("r2"));
    run_json(&pipeline, &r1, &["--threads", "1"]);
    // The second run with relative paths, as `make demo` gives them: the
    // pipeline and the runs folder relative to the working directory.
    let out = common::seqcal().current_dir(dir.path()).args(["run", "data/small.toml", "--runs-dir", "r2", "--threads", "2", "-q"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for stage in ["A", "A_then_B", "joint"] {
        let rel = format!("small/{stage}/chain.h5");
        assert_eq!(draws(&r1.join(&rel)), draws(&r2.join(&rel)), "stage {stage}");
    }
    let c1 = std::fs::read_to_string(r1.join("small/report/compare.json")).unwrap();
    let c2 = std::fs::read_to_string(r2.join("small/report/compare.json")).unwrap();
    assert_eq!(c1, c2);
}

#[test]
fn a_broken_pipeline_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = setup(dir.path());
    let runs = dir.path().join("runs");
    let good = std::fs::read_to_string(&pipeline).unwrap();
    let cases = [
        (good.replace("datasets = [\"B\"]", "datasets = [\"C\"]"), "C"),
        (good.replace("from = \"A\"", "from = \"nowhere\""), "nowhere"),
        (good.replace("outputs = \"B_model.csv\"", "outputs = \"missing.csv\""), "missing.csv"),
        (
            good.replace(
                "[[stages]]\nname = \"A\"\ndatasets = [\"A\"]",
                "[[stages]]\nname = \"A\"\ndatasets = [\"A\"]\nprior = { kind = \"flow\", from = \"A_then_B\" }",
            ),
            "cycle",
        ),
        (good.replace("bounds = [[0.5, 2], [-1, 1],", "bounds = [[0.5, 2],"), "bounds"),
        (good.replace("kind = \"flow\"", "kind = \"flw\""), "flw"),
    ];
    for (text, needle) in cases {
        let bad = dir.path().join("data/bad.toml");
        std::fs::write(&bad, &text).unwrap();
        let err = fails(&["run", s(&bad), "--runs-dir", s(&runs), "-q"]);
        assert!(err.contains(needle), "expected the message to name {needle:?}: {err}");
        assert!(!runs.join("small").join("A").join("chain.h5").exists(), "a refused pipeline ran a stage ({needle})");
    }
    let err = fails(&["run", s(&pipeline), "--runs-dir", s(&runs), "--only", "A_then_B", "-q"]);
    assert!(err.contains("A"), "{err}");
    let err = fails(&["run", s(&pipeline), "--runs-dir", s(&runs), "--only", "nosuch", "-q"]);
    assert!(err.contains("nosuch"), "{err}");
    let tiny = dir.path().join("tiny");
    let err = fails(&["example", "generate", "-o", s(&tiny), "--design", "5"]);
    assert!(err.contains("at least 20 design points"), "{err}");
    assert!(!tiny.exists(), "a refused example wrote {}", tiny.display());
}

#[test]
fn hdf5_data_sets_give_the_same_results_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = setup(dir.path());
    let data = pipeline.parent().unwrap();
    // The same tables, now in one HDF5 file with a dataset per table.
    let tables: Vec<(String, seqcal::table::Table)> =
        ["design", "A_model", "A"].iter().map(|n| (n.to_string(), seqcal::table::read_table(&data.join(format!("{n}.csv"))).unwrap())).collect();
    let refs: Vec<(&str, &ndarray::Array2<f64>, &[String])> = tables.iter().map(|(n, t)| (n.as_str(), &t.data, t.header.as_slice())).collect();
    seqcal::table::write_hdf5_tables(&data.join("runs.h5"), &refs).unwrap();
    let only_a = |design: &str, outputs: &str, d: &str| {
        let text = small_pipeline(300);
        let cut = text.find("[[stages]]\nname = \"A_then_B\"").unwrap();
        text[..cut].replace(
            "data = \"A.csv\"\ndesign = \"design.csv\"\noutputs = \"A_model.csv\"",
            &format!("data = \"{d}\"\ndesign = \"{design}\"\noutputs = \"{outputs}\""),
        )
    };
    std::fs::write(data.join("csv.toml"), only_a("design.csv", "A_model.csv", "A.csv")).unwrap();
    std::fs::write(data.join("h5.toml"), only_a("runs.h5:design", "runs.h5:A_model", "runs.h5:A")).unwrap();
    let (r1, r2) = (dir.path().join("r1"), dir.path().join("r2"));
    run_json(&data.join("csv.toml"), &r1, &[]);
    run_json(&data.join("h5.toml"), &r2, &[]);
    assert_eq!(draws(&r1.join("small/A/chain.h5")), draws(&r2.join("small/A/chain.h5")));
    // A dataset the file does not hold is refused before anything runs, naming it.
    std::fs::write(data.join("bad.toml"), only_a("runs.h5:nosuch", "runs.h5:A_model", "runs.h5:A")).unwrap();
    let err = fails(&["run", s(&data.join("bad.toml")), "--runs-dir", s(&dir.path().join("r3")), "-q"]);
    assert!(err.contains("nosuch"), "{err}");
    assert!(!dir.path().join("r3/small/A/chain.h5").exists());
}

//! The `jeffreys_reverse` loss through the real binary: a pipeline stage's flow
//! trained `from` a stage evaluates that stage's prior × likelihood at its own
//! draws; anywhere the source posterior is not at hand, one message, exit 2,
//! before anything runs.

mod common;

use std::path::Path;

use common::{fails, succeeds};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A pipeline over the example's model and data (written next to it): stage A,
/// then `second` with the prior table `prior`, small enough for the suite.
fn pipeline(dir: &Path, prior: &str) -> std::path::PathBuf {
    let data = dir.join("data");
    if !data.exists() {
        succeeds(&["example", "generate", "-o", s(&data), "--design", "60", "--seed", "3"]);
    }
    let text = format!(
        r#"name = "reverse"
seed = 5

[parameters]
names = ["norm", "slope", "width", "center", "tail", "mix", "damping"]
bounds = [[0.5, 2], [-1, 1], [0.1, 1], [-1, 1], [0, 1], [0, 1], [0.1, 2]]

[datasets.A]
data = "A.csv"
design = "design.csv"
outputs = "A_model.csv"

[datasets.B]
data = "B.csv"
design = "design.csv"
outputs = "B_model.csv"

[defaults.sampler]
walkers = 32
steps = 400
burn = 100

[defaults.flow]
layers = 1
hidden = 16
steps = 60
batch = 200
reverse_draws = 32

[[stages]]
name = "A"
datasets = ["A"]

[[stages]]
name = "second"
datasets = ["B"]
prior = {prior}
"#
    );
    let p = data.join("pipeline.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn jeffreys_reverse_trains_from_a_stage_and_is_refused_where_the_source_posterior_is_not_at_hand() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let p = pipeline(dir.path(), r#"{ kind = "flow", from = "A", loss = "jeffreys_reverse" }"#);
    succeeds(&["run", s(&p), "--runs-dir", s(&runs), "-q", "--json"]);
    let side: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(runs.join("reverse/second/flow_prior.json")).unwrap()).unwrap();
    assert_eq!(side["loss"], "jeffreys_reverse");
    // The second half of the 60 steps, 32 flow draws each, and the validation's fixed draws.
    assert!(side["metrics"]["source_evaluations"].as_u64().unwrap() >= 30 * 32, "{}", side["metrics"]);

    // A chain file carries no posterior to evaluate: refused before anything runs.
    let chain = runs.join("reverse/A/chain.h5");
    let p = pipeline(dir.path(), &format!(r#"{{ kind = "flow", chain = {:?}, loss = "jeffreys_reverse" }}"#, s(&chain)));
    let e = fails(&["run", s(&p), "--runs-dir", s(&dir.path().join("other")), "-q"]);
    assert!(e.contains("a chain file") && e.contains("loss = \"jeffreys\""), "{e}");
    assert!(!dir.path().join("other/reverse/A").exists(), "nothing ran");

    // Nor does `seqcal prior train`, which has only the chain.
    let e = fails(&["prior", "train", s(&chain), "-o", s(&dir.path().join("m.safetensors")), "--loss", "jeffreys_reverse", "--steps", "5"]);
    assert!(e.contains("only a flow trained `from` a stage of a pipeline has it"), "{e}");
    assert!(!dir.path().join("m.safetensors").exists());
}

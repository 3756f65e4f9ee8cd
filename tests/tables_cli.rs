//! Numeric tables through the real binary: a pipeline reads its design's
//! columns by name (two columns swapped, headers right, give the same chain),
//! and refuses a design or data file whose header is missing or wrong before
//! anything runs, naming the columns it found and the ones it expects.

mod common;

use std::path::{Path, PathBuf};

use common::{fails, succeeds};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One stage on data set A of the example, cheap settings; `design` and `data` name its files.
fn pipeline(design: &str, data: &str) -> String {
    format!(
        r#"name = "tables"
seed = 2

[parameters]
names = ["norm", "slope", "width", "center", "tail", "mix", "damping"]
bounds = [[0.5, 2], [-1, 1], [0.1, 1], [-1, 1], [0, 1], [0, 1], [0.1, 2]]

[datasets.A]
data = "{data}"
design = "{design}"
outputs = "A_model.csv"
emulator = {{ npc = 3, restarts = 0 }}

[defaults.sampler]
walkers = 16
steps = 120
burn = 20

[[stages]]
name = "A"
datasets = ["A"]
"#
    )
}

/// The example's data (40 design points) in `dir/data`.
fn data(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    succeeds(&["example", "generate", "-o", s(&data), "--design", "40", "--seed", "4"]);
    data
}

/// `text` (a CSV) with columns `i` and `j` exchanged, headers and values together.
fn swap_columns(text: &str, i: usize, j: usize) -> String {
    text.lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(',').collect();
            f.swap(i, j);
            f.join(",") + "\n"
        })
        .collect()
}

fn draws(path: &Path) -> Vec<f64> {
    seqcal::chain::read_hdf5(path).unwrap().draws.iter().copied().collect()
}

#[test]
fn design_columns_are_matched_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path());
    let design = std::fs::read_to_string(data.join("design.csv")).unwrap();
    let swapped = swap_columns(&design, 0, 1);
    assert!(swapped.starts_with("slope,norm,"), "{swapped}");
    std::fs::write(data.join("swapped.csv"), &swapped).unwrap();
    std::fs::write(data.join("plain.toml"), pipeline("design.csv", "A.csv")).unwrap();
    std::fs::write(data.join("swapped.toml"), pipeline("swapped.csv", "A.csv")).unwrap();
    let (r1, r2) = (dir.path().join("r1"), dir.path().join("r2"));
    succeeds(&["run", s(&data.join("plain.toml")), "--runs-dir", s(&r1), "-q"]);
    succeeds(&["run", s(&data.join("swapped.toml")), "--runs-dir", s(&r2), "-q"]);
    let (a, b) = (draws(&r1.join("tables/A/chain.h5")), draws(&r2.join("tables/A/chain.h5")));
    assert_eq!(a.len(), 120 * 16 * 7);
    assert!(a == b, "swapping two labelled design columns changed the chain");
}

#[test]
fn a_pipeline_and_emulator_train_use_the_same_defaults() {
    // An empty emulator table in a pipeline of seed 0 and `emulator train` without flags
    // train the same emulator from the same files.
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path());
    let text = pipeline("design.csv", "A.csv").replace("seed = 2", "seed = 0").replace("emulator = { npc = 3, restarts = 0 }\n", "");
    std::fs::write(data.join("p.toml"), text).unwrap();
    let runs = dir.path().join("runs");
    succeeds(&["run", s(&data.join("p.toml")), "--runs-dir", s(&runs), "-q"]);
    let bounds = data.join("bounds.csv");
    std::fs::write(&bounds, "lower,upper\n0.5,2\n-1,1\n0.1,1\n-1,1\n0,1\n0,1\n0.1,2\n").unwrap();
    let emu = dir.path().join("emu.json");
    succeeds(&[
        "emulator",
        "train",
        "--design",
        s(&data.join("design.csv")),
        "--outputs",
        s(&data.join("A_model.csv")),
        "--bounds",
        s(&bounds),
        "-o",
        s(&emu),
    ]);
    let (a, b) = (std::fs::read_to_string(runs.join("tables/emulators/A.json")).unwrap(), std::fs::read_to_string(&emu).unwrap());
    assert!(a.contains("\"restarts\":4") && a.contains("\"explained\":0.99"), "{}", &a[..300.min(a.len())]);
    assert!(a == b, "the pipeline's emulator differs from emulator train's");
}

#[test]
fn bad_headers_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path());
    let design = std::fs::read_to_string(data.join("design.csv")).unwrap();
    let (head, body) = design.split_once('\n').unwrap();
    let cases = [
        // numpy.savetxt's default: no header line.
        ("nohead.csv", body.to_string(), "A.csv", vec!["nohead.csv: line 1 looks like data, not a header", "add a header line naming the columns"]),
        // A misspelt parameter.
        (
            "misspelt.csv",
            design.replacen("slope", "slop", 1),
            "A.csv",
            vec![
                "no column \"slope\", unknown column \"slop\"",
                "the pipeline's parameters are [norm, slope, width, center, tail, mix, damping], in any order",
                "the header has 7 columns [norm, slop, width",
            ],
        ),
        // A column too many.
        (
            "extra.csv",
            design.lines().map(|l| format!("{l},1\n")).collect::<String>().replacen(&format!("{head},1"), &format!("{head},weight"), 1),
            "A.csv",
            vec!["unknown column \"weight\""],
        ),
    ];
    for (name, text, data_file, expect) in cases {
        std::fs::write(data.join(name), text).unwrap();
        std::fs::write(data.join("p.toml"), pipeline(name, data_file)).unwrap();
        let runs = dir.path().join("runs");
        let err = fails(&["run", s(&data.join("p.toml")), "--runs-dir", s(&runs), "-q"]);
        for e in expect {
            assert!(err.contains(e), "{name}: expected {e:?} in: {err}");
        }
        assert!(!runs.join("tables/A").exists(), "{name}: a stage ran");
    }
    // A data file whose header is commented out, and one with other names.
    let values = std::fs::read_to_string(data.join("A.csv")).unwrap();
    std::fs::write(data.join("hash.csv"), format!("# {values}")).unwrap();
    std::fs::write(data.join("p.toml"), pipeline("design.csv", "hash.csv")).unwrap();
    let err = fails(&["run", s(&data.join("p.toml")), "--runs-dir", s(&dir.path().join("runs")), "-q"]);
    assert!(
        err.contains("hash.csv: no column \"value\", unknown column \"# value\": the data's columns are [value, error]")
            && err.contains("[# value, error]")
            && err.contains("remove the '#'"),
        "{err}"
    );
    std::fs::write(data.join("renamed.csv"), values.replacen("value,error", "mean,sd", 1)).unwrap();
    std::fs::write(data.join("p.toml"), pipeline("design.csv", "renamed.csv")).unwrap();
    let err = fails(&["run", s(&data.join("p.toml")), "--runs-dir", s(&dir.path().join("runs")), "-q"]);
    assert!(
        err.contains("no column \"value\", no column \"error\", unknown column \"mean\", unknown column \"sd\"")
            && err.contains("the header has 2 columns [mean, sd]"),
        "{err}"
    );
}

#[test]
fn prior_eval_and_chain_csv_share_the_reader() {
    // A chain CSV without a header is refused the same way a design is.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.csv");
    std::fs::write(&p, "0.1,0.2\n0.3,0.4\n").unwrap();
    let err = fails(&["chain", "info", s(&p)]);
    assert!(err.contains("c.csv: line 1 looks like data, not a header: 0.1,0.2"), "{err}");
}

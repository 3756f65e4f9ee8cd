//! `seqcal two-stage run` refuses every bad spec before any training: one
//! readable message, exit status 2, and no output folder left behind.

mod common;

use std::path::Path;

use common::{fails, listing};

/// A valid spec: two sample-based components (chains `a.csv` on x, `b.csv`
/// on x and y) and a normal term on y.
const GOOD: &str = r#"
seed = 1
coordinates = ["x", "y"]

[[component]]
label = "A"
chain = "a.csv"
names = ["u"]
coords = ["x"]
divide = { kind = "normal", mean = 0, sd = 3 }

[[component]]
label = "B"
chain = "b.csv"
names = ["x", "y"]

[[term]]
kind = "normal"
coords = ["y"]
mean = 0
sd = 2

[stage1]
steps = 5

[stage2]
steps = 5
"#;

/// Writes the chains and `spec` into `dir`, returns the spec's path.
fn setup(dir: &Path, spec: &str) -> String {
    let mut a = String::from("u,v\n");
    let mut b = String::from("x,y\n");
    for i in 0..100 {
        let t = i as f64 / 100.0;
        a.push_str(&format!("{},{}\n", t - 0.5, t));
        b.push_str(&format!("{},{}\n", 0.3 - t, (7.0 * t).sin()));
    }
    std::fs::write(dir.join("a.csv"), a).unwrap();
    std::fs::write(dir.join("b.csv"), b).unwrap();
    let p = dir.join("spec.toml");
    std::fs::write(&p, spec).unwrap();
    p.display().to_string()
}

/// Runs the spec with one edit, expects exit 2 with `want` in the message and
/// nothing written.
fn refused(from: &str, to: &str, want: &str) {
    assert!(GOOD.contains(from), "the edit {from:?} does not apply");
    let dir = tempfile::tempdir().unwrap();
    let spec = setup(dir.path(), &GOOD.replacen(from, to, 1));
    let out = dir.path().join("out");
    let err = fails(&["two-stage", "run", &spec, "-o", out.to_str().unwrap()]);
    assert!(err.contains(want), "{from:?} -> {to:?}: expected {want:?} in: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one message: {err}");
    assert_eq!(listing(dir.path()), ["a.csv", "b.csv", "spec.toml"], "nothing is written");
}

#[test]
fn a_coordinate_no_factor_covers() {
    refused("coordinates = [\"x\", \"y\"]", "coordinates = [\"x\", \"y\", \"z\"]", "no component or term covers the coordinate z");
}

#[test]
fn names_not_in_the_sample_file() {
    refused("names = [\"u\"]", "names = [\"w\"]", "has no column \"w\"; its columns: u, v");
}

#[test]
fn sub_vector_and_names_of_different_lengths() {
    refused("coords = [\"x\"]\n", "coords = [\"x\", \"y\"]\n", "names has 1 entries but coords has 2");
}

#[test]
fn a_term_whose_dimension_does_not_match_its_coordinates() {
    refused("mean = 0\n", "mean = [0, 1]\n", "[[term]] 1");
}

#[test]
fn a_divided_density_whose_dimension_does_not_match() {
    refused("mean = 0, sd = 3", "mean = [0, 0], sd = 3", "divide");
}

#[test]
fn unknown_kinds() {
    refused("kind = \"normal\"\ncoords", "kind = \"gaussian\"\ncoords", "unknown term kind \"gaussian\"");
    refused("divide = { kind = \"normal\"", "divide = { kind = \"cauchy\"", "unknown term kind \"cauchy\"");
    refused("seed = 1\ncoordinates", "seed = 1\ncombine = \"sum\"\ncoordinates", "combine must be");
}

#[test]
fn unknown_keys() {
    refused("seed = 1\n", "seed = 1\nsede = 2\n", "unknown field `sede`");
    refused("label = \"A\"\n", "label = \"A\"\nchian = \"a.csv\"\n", "unknown field `chian`");
    refused("sd = 2\n", "sd = 2\nscale = 1\n", "unknown field \"scale\"");
    refused("[stage1]\nsteps = 5\n", "[stage1]\nstpes = 5\n", "[stage1]: unknown field `stpes`");
    refused("[stage2]\nsteps = 5\n", "[stage2]\nlayerz = 5\n", "unknown field `layerz`");
}

#[test]
fn missing_files() {
    refused("chain = \"b.csv\"", "chain = \"nope.csv\"", "nope.csv does not exist");
}

#[test]
fn non_finite_draws() {
    let dir = tempfile::tempdir().unwrap();
    let spec = setup(dir.path(), GOOD);
    let mut b = std::fs::read_to_string(dir.path().join("b.csv")).unwrap();
    b.push_str("NaN,0.5\n");
    std::fs::write(dir.path().join("b.csv"), b).unwrap();
    let out = dir.path().join("out");
    let err = fails(&["two-stage", "run", &spec, "-o", out.to_str().unwrap()]);
    assert!(err.contains("b.csv") && err.contains("finite"), "{err}");
    assert!(!out.exists());
}

#[test]
fn a_stage_outside_a_pipeline() {
    refused("chain = \"b.csv\"", "from = \"joint\"", "only a two-stage stage of a pipeline can read");
}

#[test]
fn bad_settings_and_weights() {
    refused("[stage2]\nsteps = 5\n", "[stage2]\nsteps = 0\n", "steps = 0");
    refused("[stage1]\nsteps = 5\n", "[stage1]\nsteps = 5\nlayers = 0\n", "at least one layer");
    refused("seed = 1\n", "seed = 1\ncombine = { mixture = [1] }\n", "mixture has 1 weights but the spec has 2 components");
}

#[test]
fn an_existing_output_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let spec = setup(dir.path(), GOOD);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "x").unwrap();
    let err = fails(&["two-stage", "run", &spec, "-o", out.to_str().unwrap()]);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(listing(&out), ["keep.txt"]);
    // An output folder holding an input is refused even with --force.
    let err = fails(&["two-stage", "run", &spec, "-o", dir.path().to_str().unwrap(), "--force"]);
    assert!(err.contains("holds the input"), "{err}");
}

#[test]
fn sample_needs_a_finished_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("draws.h5");
    let err = fails(&["two-stage", "sample", dir.path().to_str().unwrap(), "-n", "10", "-o", out.to_str().unwrap()]);
    assert!(err.contains("not the output of `seqcal two-stage run`"), "{err}");
    assert!(!out.exists());
}

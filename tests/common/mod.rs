//! Helpers shared by the integration tests: the real `seqcal` binary, the
//! shipped fixtures, and the checks every bad-input case must pass.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The `seqcal` binary built by cargo for this test run.
pub fn seqcal() -> Command {
    Command::cargo_bin("seqcal").expect("the seqcal binary is built for integration tests")
}

/// A file under `chains/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("chains/fixtures").join(name)
}

/// A file under `chains/testdata/` (the shipped flow-accuracy chains).
pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("chains/testdata").join(name)
}

/// A file under `examples/`.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}

/// Runs seqcal with `args`, expects exit status 2 with one readable error
/// (no panic, no backtrace), and returns stderr.
pub fn fails(args: &[&str]) -> String {
    let out = seqcal().args(args).output().expect("seqcal runs");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "args {args:?}: expected exit 2, stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "args {args:?}: stderr should start with 'error: ', got: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "args {args:?}: panic: {stderr}");
    stderr
}

/// Runs seqcal with `args`, expects success, returns stdout.
pub fn succeeds(args: &[&str]) -> String {
    let out = seqcal().args(args).output().expect("seqcal runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "args {args:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Files in `dir` (names), to check that nothing was left behind.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// A Python interpreter with emcee and h5py, if there is one: `$SEQCAL_PYTHON`
/// or `python3`.
pub fn python_with_emcee() -> Option<String> {
    let py = std::env::var("SEQCAL_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = std::process::Command::new(&py).args(["-c", "import emcee, h5py, numpy"]).output().map(|o| o.status.success()).unwrap_or(false);
    ok.then_some(py)
}

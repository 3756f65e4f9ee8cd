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

/// Whether `CI` is set (to anything but empty, `0` or `false`); `.ci/run`
/// sets `CI=1`.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false" | "False" | "FALSE"))
}

/// The one place that decides what a test does when something outside the
/// repository that it needs (a Python with emcee, ...) is missing: it fails,
/// saying what is missing and how to get it, unless `SEQCAL_ALLOW_SKIP=1` is
/// set and `CI` is not. Then it writes a notice straight to the process's
/// standard error (not through `eprintln!`, which the test harness captures
/// for passing tests, so the notice reaches the terminal) and returns, and
/// the caller skips.
///
/// Failing by default, also outside CI, is deliberate: `make test` installs
/// everything these tests need, so a missing dependency is a broken setup to
/// be told about, and a test that skips reads as `ok`.
#[track_caller]
pub fn missing_dependency(test: &str, what: &str, fix: &str) {
    let allow = std::env::var("SEQCAL_ALLOW_SKIP").is_ok_and(|v| v == "1");
    if in_ci() {
        panic!("{test}: {what}, and CI is set, so this test may not skip. {fix}");
    }
    if !allow {
        panic!("{test}: {what}. {fix}; or set SEQCAL_ALLOW_SKIP=1 to skip this test (outside CI only)");
    }
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "\nSKIPPED {test}: {what} (SEQCAL_ALLOW_SKIP=1). {fix}\n");
}

/// `python -c "import emcee, h5py, numpy"` succeeds.
fn has_emcee(py: &std::ffi::OsStr) -> bool {
    std::process::Command::new(py).args(["-c", "import emcee, h5py, numpy"]).output().is_ok_and(|o| o.status.success())
}

/// A Python interpreter with emcee, h5py and numpy: `$SEQCAL_PYTHON` when set
/// (and then only it), else the venv `scripts/deps.sh python` makes
/// (`$SEQCAL_VENV`, by default `target/py`), else `python3`. When there is none, see
/// [`missing_dependency`]: the test fails, or skips (returns `None`) with
/// `SEQCAL_ALLOW_SKIP=1` outside CI.
#[track_caller]
pub fn python_with_emcee(test: &str) -> Option<std::ffi::OsString> {
    let candidates: Vec<std::ffi::OsString> = match std::env::var_os("SEQCAL_PYTHON") {
        Some(py) => vec![py],
        None => {
            let venv = std::env::var_os("SEQCAL_VENV").map_or_else(|| PathBuf::from("target/py"), PathBuf::from);
            vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(venv).join("bin/python").into_os_string(), "python3".into()]
        }
    };
    if let Some(py) = candidates.iter().find(|py| has_emcee(py)) {
        return Some(py.clone());
    }
    let tried: Vec<String> = candidates.iter().map(|c| c.to_string_lossy().into_owned()).collect();
    missing_dependency(
        test,
        &format!("no python with emcee, h5py and numpy (tried {})", tried.join(", ")),
        "Run `scripts/deps.sh python` (as `make test` does) or set SEQCAL_PYTHON to such an interpreter",
    );
    None
}

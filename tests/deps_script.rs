//! `scripts/deps.sh`, which `make demo` and `make test` run first: with
//! everything installed it installs nothing and never calls apt-get or sudo
//! (so a user without root can run both), and a Python venv that cannot be
//! set up is an error under CI and a visible warning elsewhere.
//!
//! The package tools are replaced by stubs, first on `PATH`, that record
//! their call and fail.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Tools deps.sh must not call when nothing is missing.
const INSTALLERS: [&str; 8] = ["apt-get", "apt", "sudo", "dnf", "yum", "brew", "pip", "pip3"];

/// Writes an executable shell script `name` into `dir`.
fn script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A folder of stubs for [`INSTALLERS`] that append their name and
/// arguments to `calls.log` beside them and exit with status 97.
fn stubs(dir: &Path) -> PathBuf {
    let bin = dir.join("stubs");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("calls.log");
    for name in INSTALLERS {
        script(&bin, name, &format!("echo \"{name} $*\" >> '{}'\necho \"stub {name} called\" >&2\nexit 97", log.display()));
    }
    bin
}

/// Runs `scripts/deps.sh args` with `first` ahead of the usual `PATH`, `CI`
/// as given (unset when `None`) and the extra environment `env`.
fn deps(first: &[&Path], ci: Option<&str>, env: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut path: Vec<PathBuf> = first.iter().map(|p| p.to_path_buf()).collect();
    path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    let mut cmd = Command::new("bash");
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/deps.sh")).args(args).env("PATH", std::env::join_paths(path).unwrap());
    cmd.env_remove("CI").env_remove("SEQCAL_VENV");
    if let Some(v) = ci {
        cmd.env("CI", v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!("status {:?}\nstdout: {}\nstderr: {}", out.status.code(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn calls(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default()
}

/// A stand-in venv whose `bin/python` answers the import check of emcee,
/// h5py and numpy with success.
fn fake_venv(dir: &Path) -> PathBuf {
    let venv = dir.join("venv");
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    script(&venv.join("bin"), "python", "exit 0");
    venv
}

#[test]
fn installs_nothing_and_calls_no_installer_when_everything_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let bin = stubs(dir.path());
    // What this machine has (the HDF5 library the build used, a font, as
    // `make test` ran deps.sh before the tests).
    let out = deps(&[&bin], None, &[], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(calls(dir.path()), "", "deps.sh called an installer although nothing is missing:\n{}", text(&out));
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "deps.sh should be silent when nothing is missing:\n{}", text(&out));
    // With the python step and a venv that has emcee, h5py and numpy: the same.
    let venv = fake_venv(dir.path());
    let out = deps(&[&bin], Some("1"), &[("SEQCAL_VENV", &venv)], &["python"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(calls(dir.path()), "", "{}", text(&out));
}

#[test]
fn a_venv_that_cannot_be_set_up_fails_under_ci_and_warns_visibly_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let bin = stubs(dir.path());
    // A python3 that cannot make a venv (no python3-venv, no network).
    script(&bin, "python3", "echo 'The virtual environment was not created successfully because ensurepip is not available.' >&2\nexit 1");
    let venv = dir.path().join("py");
    let out = deps(&[&bin], Some("1"), &[("SEQCAL_VENV", &venv)], &["python"]);
    assert!(!out.status.success(), "with CI set, a venv that cannot be set up must fail:\n{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not set up") && err.contains("emcee"), "{}", text(&out));
    for ci in [None, Some("false"), Some("0")] {
        let out = deps(&[&bin], ci, &[("SEQCAL_VENV", &venv)], &["python"]);
        assert!(out.status.success(), "CI={ci:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("warning: could not set up") && err.contains("will FAIL") && err.contains("SEQCAL_ALLOW_SKIP=1"),
            "CI={ci:?}: {}",
            text(&out)
        );
    }
    assert_eq!(calls(dir.path()), "", "no installer is needed for a venv");
}

#[test]
fn ci_script_sets_ci_and_runs_make_test() {
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    let lines: Vec<&str> = ci.lines().map(str::trim).filter(|l| !l.starts_with('#')).collect();
    let export = lines.iter().position(|l| *l == "export CI=1").expect(".ci/run must export CI=1");
    let make = lines.iter().position(|l| *l == "make test").expect(".ci/run must run make test");
    assert!(export < make, "CI=1 must be set before make test");
    assert!(lines.contains(&"unset SEQCAL_ALLOW_SKIP"), "under CI no test may skip");
}

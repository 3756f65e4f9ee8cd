//! The layout of the workspace: no import circle between the source files of
//! a crate (`scripts/import_cycles.py`), and no Rust file longer than
//! [`MAX_LINES`] lines.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Most lines a Rust source file may have.
const MAX_LINES: usize = 600;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `scripts/import_cycles.py dir`.
fn import_cycles(dir: &Path) -> Output {
    Command::new("python3").arg(root().join("scripts/import_cycles.py")).arg(dir).output().expect("python3 runs scripts/import_cycles.py")
}

#[test]
fn no_import_circle_between_files() {
    let out = import_cycles(root());
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.is_empty(), "status {:?}\n{stdout}{stderr}", out.status);
}

/// Writes the files `(path, text)` of a crate into `dir`.
fn write_crate(dir: &Path, files: &[(&str, &str)]) {
    std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"circle\"\nversion = \"0.1.0\"\n").unwrap();
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

#[test]
fn the_import_check_finds_circles_through_use_super_and_paths_in_code() {
    let dir = tempfile::tempdir().unwrap();
    write_crate(
        dir.path(),
        &[
            ("src/lib.rs", "mod a;\nmod b;\nmod c;\npub use a::A;\n"),
            ("src/a.rs", "use crate::b::B;\npub struct A(B);\n"),
            ("src/b.rs", "pub struct B;\npub fn f() -> usize { super::c::g() }\n"),
            ("src/c.rs", "// use crate::a::A; (a comment, not a use)\npub fn g() -> usize { std::mem::size_of::<crate::A>() }\n"),
        ],
    );
    let out = import_cycles(dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("import circle in .: src/a.rs -> src/b.rs -> src/c.rs -> src/a.rs"), "{stdout}");

    // The same crate without the path in c.rs: a re-export in lib.rs, a
    // comment and a test module's `super` are no dependencies.
    write_crate(dir.path(), &[("src/c.rs", "// use crate::a::A;\npub fn g() -> usize { 1 }\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n")]);
    let out = import_cycles(dir.path());
    assert!(out.status.success() && out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
}

/// The Rust files under `dir`, except build outputs and hidden folders.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_rust_file_is_longer_than_600_lines() {
    let mut files = Vec::new();
    rust_files(root(), &mut files);
    assert!(files.len() > 100, "found only {} Rust files under {}", files.len(), root().display());
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let rel = f.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/");
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{rel}: {lines} lines"))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines (split them along their seams):\n{}", long.join("\n"));
}

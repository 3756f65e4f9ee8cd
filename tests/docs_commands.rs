//! The tour runs as written: every `sh` block of README.md, docs/*.md and
//! examples/*/README.md, in that order (each file's blocks top to bottom), in
//! a temporary folder holding a copy of the repository's example files, with
//! the `seqcal` binary of this build first on `PATH`.
//!
//! Sizes are reduced by explicit substitutions ([`DOC_SUBS`] in the blocks,
//! [`FILE_SUBS`] in the copied files). Each must match exactly as often as
//! listed, so a changed command fails here instead of running at full size or
//! running something no longer documented. A block is preceded by a marker
//! when it is special:
//!
//! - `<!-- docs-test: needs python3 -->`: run when `python3` is there; otherwise
//!   the test fails, or with `SEQCAL_ALLOW_SKIP=1` outside CI skips that block
//!   and the rest of its file, saying so (tests/common). A block that calls
//!   Python without the marker is an error.
//! - `<!-- docs-test: not run: REASON -->`: not run; every such block is listed
//!   in [`NOT_RUN`], and the list must match the documents.
//! - `<!-- docs-test: exit N -->`: the block must stop with exit status `N`,
//!   with one error message and without leaving the outputs it names.
//!
//! Directives combine with `;` (`needs python3; exit 2`).
//!
//! Each block runs under `bash -e -o pipefail`, so every command in it must
//! succeed. After each block, every file a command names with `-o`/`--output`
//! or a `>` redirection must exist, and no command may write a file an earlier
//! command wrote (unless it says `--resume` or `--force`). At the end the
//! outputs the README documents must exist.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A substitution in the command blocks of one document.
struct Sub {
    doc: &'static str,
    from: &'static str,
    to: &'static str,
    count: usize,
}

const fn sub(doc: &'static str, from: &'static str, to: &'static str, count: usize) -> Sub {
    Sub { doc, from, to, count }
}

/// Reduced sizes in the documents' commands.
const DOC_SUBS: &[Sub] = &[
    sub("README.md", "--discard 1000", "--discard 100", 7),
    sub("README.md", "--steps 20000", "--steps 600", 2),
    sub("README.md", "--steps 10000 -o ark.h5 --checkpoint-every 500", "--steps 300 -o ark.h5 --checkpoint-every 100", 1),
    sub("README.md", "--steps 2000 -o ext.h5", "--steps 200 -o ext.h5", 1),
    sub("README.md", "seqcal emulator example -o ex ", "seqcal emulator example -o ex --n-design 80 --n-validation 40 ", 1),
    sub("README.md", "--npc 8 -o emu.json --kfold 5", "--npc 8 -o emu.json --kfold 2 --restarts 0", 1),
    sub("README.md", "--model heavy-ion --hdf5 -o hi", "--model heavy-ion --hdf5 -o hi --n-design 60 --n-validation 20", 1),
    sub("README.md", "--npc 10 -o hi.json", "--npc 10 -o hi.json --restarts 0", 1),
    sub("README.md", "--steps 5000 -o prior.safetensors", "--steps 30 -o prior.safetensors", 1),
    sub("README.md", "--steps 2000 -o scan_", "--steps 5 -o scan_", 2),
    sub("docs/corner-plots.md", "--discard 1000", "--discard 100", 1),
    sub("docs/external-targets.md", "--steps 2500", "--steps 200", 1),
    sub("docs/external-targets.md", "--steps 3000", "--steps 300", 1),
    sub("docs/external-targets.md", "--discard 600 --steps 1000", "--discard 30 --steps 30", 1),
    sub("docs/pipeline.md", "steps = 10000", "steps = 300", 2),
    sub("docs/pipeline.md", "burn = 2000", "burn = 100", 2),
    sub("docs/pipeline.md", "layers = 5\nsteps = 5000", "layers = 1\nsteps = 30", 1),
    sub("docs/pipeline.md", "sampler = { steps = 15000 }", "sampler = { steps = 400 }", 1),
    sub("docs/pipeline.md", "--discard 2000", "--discard 100", 1),
    sub("docs/pipeline.md", "emulator = { npc = 6 }", "emulator = { npc = 6, restarts = 0 }", 2),
    sub("docs/pipeline.md", "emulator example --hdf5 -o mymodel_h5", "emulator example --hdf5 -o mymodel_h5 --n-design 80 --n-validation 20", 1),
    sub("examples/external/README.md", "--steps 2000", "--steps 200", 1),
    sub("examples/external/README.md", "--steps 3000", "--steps 300", 1),
];

/// A substitution in a copied repository file.
struct FileSub {
    file: &'static str,
    from: &'static str,
    to: &'static str,
    count: usize,
}

/// Reduced sizes in the copied example files.
const FILE_SUBS: &[FileSub] = &[
    FileSub {
        file: "examples/sequential/pipeline.toml",
        from: "walkers = 64\nsteps = 5000\nburn = 1000\n",
        to: "walkers = 16\nsteps = 300\nburn = 100\n",
        count: 1,
    },
    FileSub {
        file: "examples/sequential/pipeline.toml",
        from: "layers = 5\nhidden = 64\nsteps = 2500\nbatch = 1000\n",
        to: "layers = 1\nhidden = 16\nsteps = 30\nbatch = 500\n",
        count: 1,
    },
    FileSub {
        file: "examples/sequential/pipeline.toml",
        from: "emulator = { npc = 6, kernel = \"se\" }",
        to: "emulator = { npc = 6, kernel = \"se\", restarts = 0 }",
        count: 2,
    },
    FileSub { file: "examples/stages/arK.toml", from: "steps = 10000\n", to: "steps = 300\n", count: 1 },
];

/// Blocks marked `not run`: the document and the block's first line.
const NOT_RUN: &[(&str, &str)] = &[
    ("README.md", "make demo    # install what is missing, build, run the shipped example"),
    ("README.md", "seqcal two-stage run spec.toml -o out/     # out/draws.h5, result.json (fit checks, ELBO, ESS, log Z), summary.md"),
    ("docs/two-stage.md", "seqcal two-stage run hierarchical.toml -o out/ --seed 1   # stage 1, stage 2, report"),
    ("examples/custom-prior/README.md", "cargo build --release -p seqcal-custom-prior"),
    ("examples/lost-mode/README.md", "seqcal run examples/lost-mode/pipeline.toml --runs-dir runs"),
];

/// Outputs the README documents, checked after the whole tour.
const DOCUMENTED_OUTPUTS: &[&str] = &[
    "runs/sequential/emulators/A.json",
    "runs/sequential/emulators/B.json",
    "runs/sequential/A/chain.h5",
    "runs/sequential/A/stage.json",
    "runs/sequential/joint/chain.h5",
    "runs/sequential/A_then_B/flow_prior.safetensors",
    "runs/sequential/A_then_B/flow_prior.json",
    "runs/sequential/B_then_A_defensive/flow_prior.safetensors",
    "runs/sequential/report/summary.md",
    "runs/sequential/report/compare.json",
    "runs/sequential/report/corner_stages.png",
    "runs/sequential/report/corner_A_then_B_vs_joint.png",
    "prior.json",
    "scan_grid/scan.json",
    "scan_grid/scan.md",
    "scan_grid/best.safetensors",
    "scan_arch/best.safetensors",
    "runs/mymodel/report/summary.md",
    "runs/mymodel_h5/report/summary.md",
];

/// What the documents' commands read from the repository.
const COPIED: &[&str] = &["examples", "docs"];

/// One `sh` block.
#[derive(Debug, Clone)]
struct Block {
    doc: String,
    line: usize,
    code: String,
    marker: Option<String>,
}

/// The documents, in tour order.
fn documents(root: &Path) -> Vec<String> {
    let mut docs = vec!["README.md".to_string()];
    let mut in_dir = |dir: &str, pick: &dyn Fn(&Path) -> Option<PathBuf>| {
        let mut v: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .filter_map(|e| pick(&e.unwrap().path()))
            .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .collect();
        v.sort();
        docs.extend(v);
    };
    in_dir("docs", &|p| (p.extension().is_some_and(|e| e == "md")).then(|| p.to_path_buf()));
    in_dir("examples", &|p| Some(p.join("README.md")).filter(|r| r.is_file()));
    docs
}

/// The `sh` blocks of a markdown text, with the marker comment before each.
fn blocks(doc: &str, text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        let lang = fence.strip_prefix("```").map(str::trim);
        if let Some(lang) = lang {
            let start = i;
            let mut j = i + 1;
            while j < lines.len() && !lines[j].trim_start().starts_with("```") {
                j += 1;
            }
            assert!(j < lines.len(), "{doc}:{}: code block never closed", start + 1);
            if matches!(lang, "sh" | "bash" | "shell" | "console") {
                let before = lines[..start].iter().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim());
                let marker = before.and_then(|l| l.strip_prefix("<!-- docs-test:")).and_then(|l| l.strip_suffix("-->")).map(|m| m.trim().to_string());
                out.push(Block { doc: doc.to_string(), line: start + 1, code: lines[start + 1..j].join("\n") + "\n", marker });
            }
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// Copies `from` into `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// `text` with `s.from` replaced, checking it occurs exactly `s.count` times.
fn apply(text: &str, from: &str, to: &str, count: usize, what: &str) -> String {
    let n = text.matches(from).count();
    assert_eq!(
        n, count,
        "{what}: the substitution {from:?} -> {to:?} is listed for {count} occurrence(s) but matches {n}: the commands changed; update the substitutions in tests/docs_commands.rs"
    );
    text.replace(from, to)
}

/// The files a block's commands write: the argument after `-o`/`--output`, the
/// target of `>`; with whether the command says `--resume` or `--force`.
fn outputs(code: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for line in code.lines() {
        let line = line.split(" #").next().unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        let again = words.iter().any(|w| *w == "--resume" || *w == "--force");
        for (k, w) in words.iter().enumerate() {
            if matches!(*w, "-o" | "--output" | ">") {
                if let Some(p) = words.get(k + 1) {
                    out.push((p.trim_matches('\'').trim_end_matches('/').to_string(), again));
                }
            }
        }
    }
    out
}

/// The `runs/<name>` folder of every `seqcal run FILE` in a block.
fn run_folders(code: &str, dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for line in code.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["seqcal", "run", file, ..] = words.as_slice() {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            let name = text.parse::<toml::Table>().unwrap()["name"].as_str().unwrap().to_string();
            out.push(dir.join("runs").join(name));
        }
    }
    out
}

/// Whether the tour may use Python: `python3` runs. Otherwise the test fails
/// or, with SEQCAL_ALLOW_SKIP=1 outside CI, skips the Python blocks.
fn has_python() -> bool {
    Command::new("python3").arg("-c").arg("import sys").output().is_ok_and(|o| o.status.success())
}

#[test]
fn every_documented_command_runs_in_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for c in COPIED {
        copy_dir(&root.join(c), &dir.join(c));
    }
    for s in FILE_SUBS {
        let p = dir.join(s.file);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, apply(&text, s.from, s.to, s.count, s.file)).unwrap();
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_seqcal"));
    let path = std::env::join_paths(
        std::iter::once(bin.parent().unwrap().to_path_buf()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();

    let docs = documents(root);
    let mut all: Vec<Block> = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let mut bs = blocks(doc, &text);
        for s in DOC_SUBS.iter().filter(|s| s.doc == doc) {
            let joined: String = bs.iter().map(|b| b.code.as_str()).collect();
            apply(&joined, s.from, s.to, s.count, doc);
            for b in &mut bs {
                b.code = b.code.replace(s.from, s.to);
            }
        }
        all.extend(bs);
    }
    for s in DOC_SUBS {
        assert!(docs.iter().any(|d| d == s.doc), "substitution for {}, which is not a document of the tour", s.doc);
    }
    let not_run: Vec<(&str, &str)> = all
        .iter()
        .filter(|b| b.marker.as_deref().is_some_and(|m| m.starts_with("not run:")))
        .map(|b| (b.doc.as_str(), b.code.lines().next().unwrap_or_default()))
        .collect();
    assert_eq!(not_run, NOT_RUN, "the blocks marked `not run` differ from NOT_RUN");

    let python = has_python();
    let mut written: BTreeMap<String, String> = BTreeMap::new();
    let mut skipping_doc: Option<String> = None;
    let mut ran = 0;
    for (k, b) in all.iter().enumerate() {
        let at = format!("{}:{}", b.doc, b.line);
        let marker = b.marker.as_deref().unwrap_or_default();
        if marker.starts_with("not run:") {
            continue;
        }
        if skipping_doc.as_deref() == Some(b.doc.as_str()) {
            continue;
        }
        // Directives, `;`-separated: `needs python3`, `exit N`.
        let directives: Vec<&str> = marker.split(';').map(str::trim).filter(|d| !d.is_empty()).collect();
        let needs_python = directives.contains(&"needs python3");
        assert!(needs_python || !b.code.contains("python"), "{at}: this block runs Python: mark it `<!-- docs-test: needs python3 -->`\n{}", b.code);
        assert!(
            !["pip ", "curl ", "wget ", "git clone"].iter().any(|n| b.code.contains(n)),
            "{at}: this block needs the network: move it out of a `sh` block or mark it `not run`"
        );
        if needs_python && !python {
            common::missing_dependency(
                "every_documented_command_runs_in_order",
                &format!("{at} needs python3, which does not run"),
                "Install Python 3",
            );
            skipping_doc = Some(b.doc.clone());
            continue;
        }
        let mut expect = 0;
        for d in &directives {
            match d.strip_prefix("exit ") {
                Some(n) => expect = n.trim().parse().unwrap_or_else(|_| panic!("{at}: bad marker {marker:?}")),
                None if *d == "needs python3" => {}
                None => panic!("{at}: unknown marker {d:?} (known: needs python3, exit N, not run: REASON)"),
            }
        }
        let started = std::time::Instant::now();
        let script = dir.join(format!(".block{k}.sh"));
        std::fs::write(&script, &b.code).unwrap();
        let out = Command::new("bash").args(["-e", "-o", "pipefail"]).arg(&script).current_dir(dir).env("PATH", &path).output().expect("bash runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let tail = |s: &str| s.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        assert_eq!(
            out.status.code(),
            Some(expect),
            "{at}: the block exited with {:?}, documented {expect}:\n{}\n--- stdout (end) ---\n{}\n--- stderr (end) ---\n{}",
            out.status.code(),
            b.code,
            tail(&stdout),
            tail(&stderr)
        );
        assert!(!stderr.contains("panicked"), "{at}: a command panicked:\n{stderr}");
        if expect != 0 {
            // A refused command leaves nothing behind that looks like a result.
            for (file, _) in outputs(&b.code) {
                assert!(!dir.join(&file).exists(), "{at}: the command failed as documented but left {file}");
            }
            assert!(stderr.starts_with("error: "), "{at}: expected one readable error, got:\n{stderr}");
            ran += 1;
            continue;
        }
        for (file, again) in outputs(&b.code) {
            assert!(dir.join(&file).exists(), "{at}: the documented output {file} was not written");
            if let Some(first) = written.get(&file) {
                assert!(again, "{at}: writes {file}, which {first} wrote: a later command must not silently replace an earlier one's output");
            }
            written.entry(file).or_insert_with(|| at.clone());
        }
        for runs in run_folders(&b.code, dir) {
            for f in ["report/summary.md", "report/compare.json", "report/corner_stages.png"] {
                assert!(runs.join(f).is_file(), "{at}: seqcal run did not write {}", runs.join(f).display());
            }
        }
        eprintln!("{at}: {:.1} s", started.elapsed().as_secs_f64());
        ran += 1;
    }
    assert!(ran > 20, "only {ran} blocks ran");
    if skipping_doc.is_none() {
        for f in DOCUMENTED_OUTPUTS {
            assert!(dir.join(f).exists(), "after the tour, the documented output {f} is missing");
        }
    }
}

#[test]
fn blocks_and_markers_are_found() {
    let text = "a\n\n<!-- docs-test: needs python3 -->\n```sh\necho 1\n```\n\n```text\nx\n```\n```sh\nseqcal run p.toml -o x.h5 # note\n```\n";
    let b = blocks("d.md", text);
    assert_eq!(b.len(), 2);
    assert_eq!((b[0].line, b[0].marker.as_deref(), b[0].code.as_str()), (4, Some("needs python3"), "echo 1\n"));
    assert_eq!(b[1].marker, None);
    assert_eq!(outputs(&b[1].code), [("x.h5".to_string(), false)]);
    assert_eq!(outputs("a > out.csv\nseqcal sample -o r.h5 --resume\n"), [("out.csv".to_string(), false), ("r.h5".to_string(), true)]);
}

#[test]
#[should_panic(expected = "matches 0")]
fn a_substitution_that_no_longer_matches_fails() {
    apply("--steps 10", "--steps 20000", "--steps 600", 1, "README.md");
}

//! Outputs never destroy inputs or special files: an output that is the same
//! file as an input is refused in every command (whatever the spelling, and
//! with `--force`), an output that is a device, FIFO, folder or symbolic link
//! is refused, and an existing output is replaced only with `--force`. Each
//! refusal is exit 2 with one message, and leaves every file as it was.

mod common;

use std::path::{Path, PathBuf};

use common::{example, fails, succeeds};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Refused with one message containing `want`; `keep` is unchanged.
fn refused(args: &[&str], want: &str, keep: &[&Path]) -> String {
    let before: Vec<Vec<u8>> = keep.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let err = fails(args);
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one message, got: {err}");
    assert!(err.contains(want), "{args:?}: expected {want:?} in: {err}");
    for (p, b) in keep.iter().zip(before) {
        assert_eq!(std::fs::read(p).unwrap(), b, "{args:?}: {} changed", p.display());
    }
    err
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A small chain written by `seqcal sample`.
    fn chain(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        succeeds(&["sample", "--target", "gaussian:dim=2", "--walkers", "8", "--steps", "60", "-o", s(&p), "-q"]);
        p
    }

    fn prior_toml(&self) -> PathBuf {
        let p = self.path("p.toml");
        std::fs::copy(example("priors/product.toml"), &p).unwrap();
        p
    }
}

const SAME: &str = "this output is also an input";

#[test]
fn an_output_that_is_an_input_is_refused_in_every_command() {
    let f = Fixture::new();
    let c = f.chain("c.h5");
    let p = f.prior_toml();
    // Another spelling of the same path.
    let c2 = f.dir.path().join(".").join("c.h5");
    refused(&["prior", "sample", "--config", s(&p), "-n", "10", "-o", s(&p), "--force"], SAME, &[&p]);
    refused(&["prior", "train", s(&c), "-o", s(&c2), "--force", "--steps", "5"], SAME, &[&c]);
    refused(
        &["sample", "--target", "gaussian:dim=2", "--walkers", "8", "--steps", "10", "--init", s(&c), "-o", s(&c2), "--force", "-q"],
        SAME,
        &[&c],
    );
    refused(&["chain", "convert", s(&c), s(&c2), "--force"], SAME, &[&c]);
    refused(&["plot", "corner", s(&c), "-o", s(&c2), "--force"], SAME, &[&c]);
    // The sidecar a model is written with is an output too.
    let cj = f.path("m.json");
    std::fs::copy(&c, &cj).unwrap();
    refused(&["prior", "train", s(&cj), "-o", s(&f.path("m.safetensors")), "--force", "--steps", "5"], SAME, &[&cj]);
    // A hard link is the same file.
    let hard = f.path("hard.h5");
    std::fs::hard_link(&c, &hard).unwrap();
    refused(&["chain", "convert", s(&c), s(&hard), "--force"], SAME, &[&c]);
    // Emulator tables, also as FILE.h5:DATASET.
    let ex = f.path("ex");
    succeeds(&["emulator", "example", "-o", s(&ex), "--n-design", "30", "--n-validation", "5"]);
    let d = ex.join("design.csv");
    let (outputs, bounds) = (ex.join("outputs.csv"), ex.join("bounds.csv"));
    let args = ["emulator", "train", "--design", s(&d), "--outputs", s(&outputs), "--bounds", s(&bounds)];
    refused(&[&args[..], &["-o", s(&d), "--force"]].concat(), SAME, &[&d]);
    let emu = f.path("emu.json");
    succeeds(&[&args[..], &["-o", s(&emu), "--npc", "2", "--restarts", "0"]].concat());
    refused(&["emulator", "predict", s(&emu), s(&d), "-o", s(&emu), "--force"], SAME, &[&emu]);
    let h = f.path("h");
    succeeds(&["emulator", "example", "--hdf5", "-o", s(&h), "--n-design", "30", "--n-validation", "5"]);
    let runs = h.join("runs.h5");
    let spec = format!("{}:design", s(&runs));
    refused(&["emulator", "predict", s(&emu), &spec, "-o", s(&runs), "--force"], SAME, &[&runs]);
    refused(&[&args[..], &["-o", s(&emu)]].concat(), "emu.json exists: pass --force", &[&emu]);
}

#[test]
fn an_existing_output_is_replaced_only_with_force() {
    let f = Fixture::new();
    let c = f.chain("c.h5");
    let p = f.prior_toml();
    let out = f.path("draws.h5");
    succeeds(&["prior", "sample", "--config", s(&p), "-n", "10", "-o", s(&out)]);
    refused(&["prior", "sample", "--config", s(&p), "-n", "10", "-o", s(&out), "--seed", "3"], "exists: pass --force", &[&out]);
    succeeds(&["prior", "sample", "--config", s(&p), "-n", "10", "-o", s(&out), "--seed", "3", "--force"]);

    let csv = f.path("c.csv");
    succeeds(&["chain", "convert", s(&c), s(&csv)]);
    refused(&["chain", "convert", s(&c), s(&csv)], "exists: pass --force", &[&csv]);
    succeeds(&["chain", "convert", s(&c), s(&csv), "--force"]);

    let png = f.path("c.png");
    succeeds(&["plot", "corner", s(&c), "--panel", "60", "-o", s(&png)]);
    refused(&["plot", "corner", s(&c), "--panel", "60", "-o", s(&png)], "exists: pass --force", &[&png]);

    // The example generator: any of its files already there.
    let ex = f.path("ex");
    succeeds(&["example", "generate", "-o", s(&ex), "--design", "20"]);
    let toml = ex.join("pipeline.toml");
    refused(&["example", "generate", "-o", s(&ex), "--design", "20", "--seed", "8"], "exists: pass --force", &[&toml, &ex.join("design.csv")]);
    succeeds(&["example", "generate", "-o", s(&ex), "--design", "20", "--seed", "8", "--force"]);

    // prior train: an existing sidecar alone is refused too.
    let model = f.path("m.safetensors");
    let sidecar = f.path("m.json");
    std::fs::write(&sidecar, "{}").unwrap();
    refused(&["prior", "train", s(&c), "-o", s(&model), "--steps", "5"], "m.json exists: pass --force", &[&sidecar]);
    assert!(!model.exists());
}

#[cfg(unix)]
#[test]
fn outputs_that_are_not_regular_files_are_refused() {
    let f = Fixture::new();
    let c = f.chain("c.h5");
    let fifo = f.path("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let target = f.path("target.csv");
    std::fs::write(&target, "keep me\n").unwrap();
    let link = f.path("link.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let folder = f.path("folder.csv");
    std::fs::create_dir(&folder).unwrap();
    for (out, want) in [(Path::new("/dev/null"), "is a device"), (fifo.as_path(), "is a FIFO"), (folder.as_path(), "is a folder")] {
        refused(&["chain", "convert", s(&c), s(out), "--force"], want, &[&c]);
        refused(&["sample", "--target", "gaussian:dim=2", "--walkers", "8", "--steps", "10", "-o", s(out), "--force", "-q"], want, &[]);
    }
    refused(&["chain", "convert", s(&c), s(&link), "--force"], "is a symbolic link", &[&target]);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

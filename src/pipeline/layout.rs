//! The runs folder of a pipeline: where every result goes, the lock that
//! keeps one run at a time in it, and the small text writes.
//!
//! ```text
//! runs/<name>/.seqcal.lock                 held by the run writing here
//! runs/<name>/emulators/<dataset>.json     trained emulators (+ .sha256, their cache key)
//! runs/<name>/<stage>/chain.h5             the stage's chain (emcee layout)
//! runs/<name>/<stage>/flow_prior.safetensors (+ .json)   a flow prior it trained
//! runs/<name>/<stage>/stage.json           settings hash and summary, written last
//! runs/<name>/report/                      compare.json, summary.md, corner_*.png
//! ```

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::chain::{write_atomically, OutputLock};
use crate::{Error, Result};

/// Paths of one pipeline's results.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// `runs_dir/<name>`.
    pub(super) fn new(runs_dir: &Path, name: &str) -> Self {
        Layout { dir: runs_dir.join(name) }
    }

    /// The pipeline's folder.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the folder and takes its lock: a second run on the same
    /// folder is refused, naming the process that holds it.
    pub(super) fn lock(&self) -> Result<OutputLock> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        OutputLock::dir(&self.dir)
    }

    /// A stage's folder.
    pub(super) fn stage_dir(&self, stage: &str) -> PathBuf {
        self.dir.join(stage)
    }

    /// A stage's chain.
    pub(super) fn chain(&self, stage: &str) -> PathBuf {
        self.stage_dir(stage).join("chain.h5")
    }

    /// A stage's record, the mark of a finished stage.
    pub(super) fn record(&self, stage: &str) -> PathBuf {
        self.stage_dir(stage).join("stage.json")
    }

    /// The emulators' folder.
    pub(super) fn emulators(&self) -> PathBuf {
        self.dir.join("emulators")
    }

    /// The report's folder.
    pub(super) fn report(&self) -> PathBuf {
        self.dir.join("report")
    }

    /// Removes the report of an earlier run before anything is rerun, so
    /// that a run that stops halfway never leaves an old `compare.json` or
    /// `summary.md` beside new chains, looking current.
    pub(super) fn clear_report(&self) -> Result<()> {
        let rdir = self.report();
        let Ok(entries) = std::fs::read_dir(&rdir) else { return Ok(()) };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours =
                name == "compare.json" || name == "summary.md" || (name.starts_with("corner_") && (name.ends_with(".png") || name.ends_with(".svg")));
            if ours {
                std::fs::remove_file(e.path()).map_err(|err| Error::io(&e.path(), err))?;
            }
        }
        Ok(())
    }
}

/// Removes `path` if it exists.
pub(super) fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

/// Pretty JSON of `v`.
pub(super) fn to_json<T: Serialize>(v: &T) -> Result<String> {
    Ok(serde_json::to_string_pretty(v)?)
}

/// Writes `text` to `path` atomically.
pub(super) fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomically(path, |tmp| std::fs::write(tmp, text).map_err(|e| Error::io(path, e)))
}

/// Progress lines on standard error, when asked for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Say(pub bool);

impl Say {
    /// Prints `m` when progress is on.
    pub(super) fn say(&self, m: impl AsRef<str>) {
        if self.0 {
            eprintln!("{}", m.as_ref());
        }
    }
}

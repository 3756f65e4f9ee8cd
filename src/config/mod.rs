//! Configuration files (TOML): their schema, read with serde and checked.
//!
//! - [`StageFile`]: one sampling stage for `seqcal sample --config`.
//! - [`Pipeline`]: a staged calibration for `seqcal run`, validated into a
//!   [`CheckedPipeline`] before anything runs.

mod pipeline;

pub use pipeline::{CheckedPipeline, Compare, Dataset, Parameters, Pipeline, Stage};

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, Result};

/// A sampling stage: what to sample and how.
///
/// ```toml
/// target = "arK"                 # built-in target or "cmd:COMMAND"
/// [prior]                        # optional: replaces the target's prior
/// kind = "normal"
/// mean = 0
/// sd = 10
/// [sampler]
/// kind = "ensemble"
/// walkers = 32
/// steps = 10000
/// moves = "stretch:0.5,de:0.5"
/// seed = 1
/// beta = 1.0
/// checkpoint_every = 500
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageFile {
    /// Target spec.
    pub target: Option<String>,
    /// Prior table (any registered kind).
    pub prior: Option<toml::Table>,
    /// Sampler settings.
    #[serde(default)]
    pub sampler: SamplerTable,
    /// Folder of the file, against which relative paths resolve.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[sampler]` of a [`StageFile`]; every key optional.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplerTable {
    /// Sampler kind (`ensemble`).
    pub kind: Option<String>,
    /// Walkers.
    pub walkers: Option<usize>,
    /// Total iterations.
    pub steps: Option<usize>,
    /// Moves with weights, e.g. `stretch:0.8,de:0.2`.
    pub moves: Option<String>,
    /// Seed.
    pub seed: Option<u64>,
    /// Tempering exponent.
    pub beta: Option<f64>,
    /// Iterations per flush.
    pub checkpoint_every: Option<u64>,
    /// Leading iterations dropped from summaries, comparisons and the
    /// training of flow priors (they stay in the chain file).
    pub burn: Option<usize>,
}

impl SamplerTable {
    /// `self`, with every key it leaves unset taken from `defaults`.
    pub fn or(&self, defaults: &SamplerTable) -> SamplerTable {
        SamplerTable {
            kind: self.kind.clone().or_else(|| defaults.kind.clone()),
            walkers: self.walkers.or(defaults.walkers),
            steps: self.steps.or(defaults.steps),
            moves: self.moves.clone().or_else(|| defaults.moves.clone()),
            seed: self.seed.or(defaults.seed),
            beta: self.beta.or(defaults.beta),
            checkpoint_every: self.checkpoint_every.or(defaults.checkpoint_every),
            burn: self.burn.or(defaults.burn),
        }
    }
}

/// `line N: message` for a TOML parse error in `text`.
pub(crate) fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let line = e.span().map_or(1, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    format!("line {line}: {}", e.message())
}

impl StageFile {
    /// Reads and parses a stage file.
    ///
    /// # Errors
    /// Unreadable file, malformed TOML, an unknown key (typo); the message names the file and line.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut f: StageFile = toml::from_str(&text).map_err(|e| Error::config(path, toml_error(&text, &e)))?;
        f.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stage_and_rejects_typos() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        std::fs::write(&p, "target = \"gaussian\"\n[sampler]\nwalkers = 10\nsteps = 5\n").unwrap();
        let s = StageFile::load(&p).unwrap();
        assert_eq!(s.target.as_deref(), Some("gaussian"));
        assert_eq!(s.sampler.walkers, Some(10));
        std::fs::write(&p, "target = \"gaussian\"\n[sampler]\nwalker = 10\n").unwrap();
        let e = StageFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("s.toml: line 3") && e.contains("unknown field `walker`"), "{e}");
    }
}

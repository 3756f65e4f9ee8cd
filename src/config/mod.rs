//! Configuration files (TOML): their schema, read with serde and checked.
//!
//! - [`StageFile`]: one sampling stage for `seqcal sample --config`.
//! - [`Pipeline`]: a staged calibration for `seqcal run`, validated into a
//!   [`CheckedPipeline`] before anything runs.

mod pipeline;

pub use pipeline::{CheckedPipeline, Compare, Dataset, Parameters, Pipeline, Stage, StageKind};

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
/// [sampler]                      # any sampler table (see `SamplerSettings`)
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

/// A `[sampler]` table as written (every key optional), merged key by key
/// with [`merge_tables`](crate::sampler::merge_tables) and parsed once into
/// [`SamplerSettings`](crate::sampler::SamplerSettings), which documents the
/// keys and their defaults.
pub type SamplerTable = toml::Table;

/// The message of an error without its kind's prefix.
pub(crate) fn usage_text(e: Error) -> String {
    match e {
        Error::Usage(m) => m,
        e => e.to_string(),
    }
}

/// `line N: [sampler]: message` for a sampler table that does not parse:
/// the line is the first that sets the key the message names (none when it
/// names no key found in `text`).
pub(crate) fn sampler_error(text: &str, table: &str, e: Error) -> String {
    let m = usage_text(e);
    let key = m.split('`').nth(1).filter(|_| m.contains("unknown field `")).map(str::to_string).or_else(|| {
        let k = m.split(": ").nth(1)?.split(" = ").next()?;
        Some(k.to_string())
    });
    let line = key.and_then(|k| {
        text.lines().position(|l| {
            let t = l.trim_start().trim_start_matches('{').trim_start();
            l.contains(&format!("{k} =")) || l.contains(&format!("{k}=")) || t.starts_with(&format!("{k} "))
        })
    });
    match line {
        Some(n) => format!("line {}: {table}: {m}", n + 1),
        None => format!("{table}: {m}"),
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
    /// Unreadable file, malformed TOML, an unknown key (typo) or a bad
    /// value; the message names the file (and the line, outside `[sampler]`).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut f: StageFile = toml::from_str(&text).map_err(|e| Error::config(path, toml_error(&text, &e)))?;
        crate::sampler::SamplerSettings::from_table(&f.sampler).map_err(|e| Error::config(path, sampler_error(&text, "[sampler]", e)))?;
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
        assert_eq!(s.sampler.get("walkers").and_then(toml::Value::as_integer), Some(10));
        std::fs::write(&p, "target = \"gaussian\"\n[sampler]\nwalker = 10\n").unwrap();
        let e = StageFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("s.toml: line 3: [sampler]: sampler ensemble: unknown field `walker`"), "{e}");
        std::fs::write(&p, "target = \"gaussian\"\n[sampler]\nkind = \"smc\"\nwalkers = 10\n").unwrap();
        let e = StageFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("sampler smc: unknown field `walkers`, expected one of `particles`"), "{e}");
    }
}

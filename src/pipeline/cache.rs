//! Content hashes: every emulator and stage carries a SHA-256 of everything
//! that changes its result, and is reused only when the hash is the same.
//!
//! - An emulator: seqcal's version, the parameters (names, order, bounds),
//!   its resolved training settings (kernel, components, restarts and the
//!   seed, the pipeline's unless the table sets its own), and the names and
//!   bytes of its design and outputs.
//! - A data set: its emulator's hash and the names and bytes of its data and
//!   covariance.
//! - A stage: seqcal's version, its name, the parameters, its prior table
//!   (with `[defaults.flow]` merged), its sampler settings
//!   (`[defaults.sampler]` merged, every default filled), its seed, its data sets' hashes, the hashes
//!   of the stages its prior is trained on, and the bytes of every flow model
//!   or chain file its prior names.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::datasets::emulator_settings;
use super::layout::Layout;
use super::priors::prior_input_files;
use super::stage::resolve_stage;
use crate::config::CheckedPipeline;
use crate::config::Pipeline;
use crate::prior::PriorRegistry;
use crate::report::StageRecord;
use crate::table::file_of;
use crate::{Error, Result};

/// SHA-256 of length-prefixed parts (so that no two lists of parts collide).
pub(super) fn sha(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    format!("{:x}", h.finalize())
}

fn file_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn hash_files<'a>(p: &Pipeline, mut parts: Vec<Vec<u8>>, files: impl Iterator<Item = &'a Path>) -> Result<String> {
    for f in files {
        parts.push(f.to_string_lossy().as_bytes().to_vec());
        parts.push(file_bytes(&file_of(&p.resolve(f)))?);
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    Ok(sha(&refs))
}

/// The cache key of data set `name`'s emulator.
pub(super) fn emulator_hash(p: &Pipeline, name: &str) -> Result<String> {
    let d = &p.datasets[name];
    let settings = emulator_settings(p, name)?;
    let parts: Vec<Vec<u8>> = vec![
        crate::VERSION.into(),
        b"emulator".to_vec(),
        name.into(),
        toml::to_string(&p.parameters).unwrap_or_default().into(),
        serde_json::to_string(&settings).unwrap_or_default().into(),
    ];
    hash_files(p, parts, [d.design.as_path(), d.outputs.as_path()].into_iter())
}

/// The hash of data set `name`: its emulator's and its data's.
pub(super) fn dataset_hash(p: &Pipeline, name: &str, emulator_hash: &str) -> Result<String> {
    let d = &p.datasets[name];
    let parts: Vec<Vec<u8>> = vec![crate::VERSION.into(), b"dataset".to_vec(), name.into(), emulator_hash.into()];
    hash_files(p, parts, [Some(d.data.as_path()), d.covariance.as_deref()].into_iter().flatten())
}

/// The hash of stage `i`, given its data sets' hashes and those of the
/// stages before it (`dataset`, `stage`: by name).
pub(super) fn stage_hash(
    cp: &CheckedPipeline,
    registry: &PriorRegistry,
    i: usize,
    dataset: impl Fn(&str) -> String,
    stage: impl Fn(&str) -> String,
) -> Result<String> {
    let p = &cp.pipeline;
    let st = &p.stages[i];
    let res = resolve_stage(p, st)?;
    let mut parts: Vec<Vec<u8>> = vec![
        crate::VERSION.into(),
        st.name.clone().into(),
        toml::to_string(&p.parameters).unwrap_or_default().into(),
        res.prior.to_string().into(),
        serde_json::to_string(&res.settings)?.into(),
        res.seed.to_le_bytes().to_vec(),
    ];
    for d in &st.datasets {
        parts.push(dataset(d).into());
    }
    for dep in &cp.depends_on[i] {
        parts.push(stage(dep).into());
    }
    for f in prior_input_files(&res.prior, registry) {
        parts.push(file_bytes(&p.resolve(Path::new(&f)))?);
    }
    if let Some(spec) = st.spec.as_deref().filter(|_| st.kind == crate::config::StageKind::TwoStage) {
        // A two-stage stage: its spec, the chain files it reads, its draws.
        let path = p.resolve(spec);
        parts.push(file_bytes(&path)?);
        for f in crate::two_stage::Spec::load(&path)?.files_used() {
            parts.push(file_bytes(&f)?);
        }
        parts.push(st.draws.unwrap_or(0).to_le_bytes().to_vec());
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    Ok(sha(&refs))
}

/// The stage's record when its results are complete and match `hash`.
pub(super) fn cached_record(layout: &Layout, stage: &str, hash: &str) -> Option<StageRecord> {
    let rec: StageRecord = serde_json::from_str(&std::fs::read_to_string(layout.record(stage)).ok()?).ok()?;
    (rec.hash == hash && layout.chain(stage).is_file()).then_some(rec)
}

//! The chains seqcal hands to prior plugins ([`ChainSource`]): its HDF5 and
//! CSV chain files, read here and flattened after each stage's recorded
//! burn-in, so that plugins (the `flow` kind) never read seqcal's formats.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use seqcal_api::{ChainDraws, ChainError, ChainRef, ChainSource};
use sha2::{Digest, Sha256};

use crate::chain::{read_any, Chain};

/// Chain files: the stages of a run by name (file and burn-in), and any chain
/// file by path (all of it).
#[derive(Debug, Clone, Default)]
pub struct ChainFiles {
    stages: BTreeMap<String, (PathBuf, usize)>,
}

impl ChainFiles {
    /// A source with no stages (chain files by path only).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the chain of stage `name`: `path`, of which the first `burn`
    /// iterations are dropped.
    pub fn add_stage(&mut self, name: impl Into<String>, path: impl Into<PathBuf>, burn: usize) {
        self.stages.insert(name.into(), (path.into(), burn));
    }
}

impl ChainSource for ChainFiles {
    fn draws(&self, chain: ChainRef<'_>) -> Result<ChainDraws, ChainError> {
        let (path, burn, label) = match chain {
            ChainRef::Stage(s) => {
                let (p, b) = self
                    .stages
                    .get(s)
                    .ok_or_else(|| ChainError::UnknownStage { stage: s.to_string(), known: self.stages.keys().cloned().collect() })?;
                (p.as_path(), *b, format!("stage {s}"))
            }
            ChainRef::Path(p) => (p, 0, p.display().to_string()),
        };
        let full = read_any(path).map_err(|e| ChainError::Read(e.to_string()))?;
        if burn >= full.iterations() && burn > 0 {
            return Err(ChainError::Read(format!("{}: the burn-in of {burn} iterations leaves none of its {}", path.display(), full.iterations())));
        }
        Ok(chain_draws(&full.discard(burn), label, path, burn))
    }
}

/// The draws of `chain` (already cut to what is used) as plugins receive
/// them, with a SHA-256 of names, bounds, draws, log densities and weights.
pub fn chain_draws(chain: &Chain, label: impl Into<String>, source: &Path, burn: usize) -> ChainDraws {
    let x = chain.flat();
    let log_prob = chain.log_prob.as_ref().map(|a| Chain::flat_column(a).to_vec());
    let weights = chain.weights.as_ref().map(|a| Chain::flat_column(a).to_vec());
    let mut h = Sha256::new();
    for n in &chain.names {
        h.update((n.len() as u64).to_le_bytes());
        h.update(n.as_bytes());
    }
    for (l, u) in &chain.bounds {
        h.update(l.to_le_bytes());
        h.update(u.to_le_bytes());
    }
    h.update((x.nrows() as u64).to_le_bytes());
    for v in x.iter() {
        h.update(v.to_le_bytes());
    }
    for part in [&log_prob, &weights] {
        h.update([part.is_some() as u8]);
        for v in part.iter().flatten() {
            h.update(v.to_le_bytes());
        }
    }
    ChainDraws {
        label: label.into(),
        source: source.display().to_string(),
        names: chain.names.clone(),
        bounds: chain.bounds.clone(),
        x,
        log_prob,
        weights,
        burn,
        hash: format!("{:x}", h.finalize()),
    }
}

#[cfg(test)]
mod tests;

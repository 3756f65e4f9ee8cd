//! Chains as plugins see them: the draws of an earlier stage (or of a chain
//! file) after burn-in, with their log densities, weights, names, bounds and a
//! content hash. Plugins never read seqcal's chain files themselves: the caller
//! (seqcal's pipeline, `seqcal prior`, a third-party program) implements
//! [`ChainSource`] and hands it to them in the
//! [`StageContext`](crate::StageContext).

use std::path::Path;

use ndarray::Array2;
use thiserror::Error;

/// Which chain a plugin asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainRef<'a> {
    /// The chain of an earlier stage of the run, by stage name.
    Stage(&'a str),
    /// A chain file, already resolved against the context's base directory.
    Path(&'a Path),
}

/// A chain's draws after its burn-in, flattened to one row per draw
/// (iteration-major: all walkers of the first kept iteration, then the next).
#[derive(Debug, Clone, PartialEq)]
pub struct ChainDraws {
    /// What the chain is, for messages: `stage A`, or the file as named.
    pub label: String,
    /// Where the draws were read from (a file path), recorded as provenance.
    pub source: String,
    /// Parameter names, one per column.
    pub names: Vec<String>,
    /// Declared support of each parameter (`±∞` where unbounded).
    pub bounds: Vec<(f64, f64)>,
    /// The draws, `n × names.len()`.
    pub x: Array2<f64>,
    /// Log posterior density of each draw (up to a constant), when the chain has it.
    pub log_prob: Option<Vec<f64>>,
    /// Importance weight of each draw, when the chain has them.
    pub weights: Option<Vec<f64>>,
    /// Leading iterations dropped as burn-in before these draws.
    pub burn: usize,
    /// A content hash (hex) of everything above but `label`, `source` and
    /// `burn`: equal hashes mean the same draws, so a plugin may reuse what it
    /// computed from them.
    pub hash: String,
}

/// Why a chain could not be provided.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum ChainError {
    /// No stage of that name has a chain (yet).
    #[error("stage {stage:?} has no result to use: run it first ({})", known_stages(.known))]
    UnknownStage {
        /// The stage asked for.
        stage: String,
        /// The stages that have chains.
        known: Vec<String>,
    },
    /// The chain exists but cannot be read or is malformed.
    #[error("{0}")]
    Read(String),
    /// This caller provides no chains at all.
    #[error("no chains are available here ({0})")]
    Unavailable(String),
}

fn known_stages(known: &[String]) -> String {
    if known.is_empty() {
        "no stage has a result yet".into()
    } else {
        format!("stages with results: {}", known.join(", "))
    }
}

/// Provides chains to plugins, by stage name or by path.
///
/// seqcal's implementation reads its HDF5 and CSV chains and drops each
/// stage's recorded burn-in; a program embedding seqcal's plugins may serve
/// draws from anywhere.
pub trait ChainSource: Send + Sync {
    /// The draws of `chain` after its burn-in.
    ///
    /// # Errors
    /// An unknown stage, or a chain that cannot be read.
    fn draws(&self, chain: ChainRef<'_>) -> Result<ChainDraws, ChainError>;
}

/// A [`ChainSource`] with no chains (for contexts where none can exist).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoChains;

impl ChainSource for NoChains {
    fn draws(&self, chain: ChainRef<'_>) -> Result<ChainDraws, ChainError> {
        Err(match chain {
            ChainRef::Stage(s) => ChainError::UnknownStage { stage: s.to_string(), known: Vec::new() },
            ChainRef::Path(p) => ChainError::Unavailable(format!("{} cannot be read in this context", p.display())),
        })
    }
}

/// A chain source shows no more than that it is one.
impl std::fmt::Debug for dyn ChainSource + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainSource").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_chains_names_what_was_asked_for() {
        let e = NoChains.draws(ChainRef::Stage("A")).unwrap_err().to_string();
        assert!(e.contains("\"A\"") && e.contains("run it first") && e.contains("no stage has a result yet"), "{e}");
        let e = NoChains.draws(ChainRef::Path(Path::new("c.h5"))).unwrap_err().to_string();
        assert!(e.contains("c.h5"), "{e}");
        let known = ChainError::UnknownStage { stage: "C".into(), known: vec!["A".into(), "B".into()] };
        assert!(known.to_string().contains("stages with results: A, B"), "{known}");
    }
}

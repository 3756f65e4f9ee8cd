//! `--discard`: every command that reads a chain's draws drops the burn-in
//! the chain file records (the `burn` attribute, written by `seqcal run`'s
//! stages and by `seqcal sample`) unless `--discard N` says otherwise.

use std::collections::BTreeMap;
use std::path::Path;

use clap::Args;

use crate::chain::schema::BURN;
use crate::{Error, Result};

/// The `--discard` flag shared by the commands that read draws.
#[derive(Debug, Clone, Copy, Args)]
pub struct DiscardArg {
    /// Drop the first N iterations (burn-in) of each chain. Default: the burn-in the chain file
    /// records (chains of `seqcal run` stages and of `seqcal sample`), else 0; `--discard 0`
    /// keeps every iteration.
    #[arg(long, value_name = "N")]
    pub discard: Option<usize>,
}

impl DiscardArg {
    /// The iterations to drop from the chain at `path` with provenance
    /// `attrs` and `iterations` rows: `--discard N` when given, else the
    /// burn-in the file records, else 0. With the recorded burn-in comes a
    /// one-line note for standard error, which the command prints once it has
    /// succeeded (an error stays the only message). A recorded burn-in that is
    /// not below the rows the file holds (a run still going, or killed early)
    /// is not applied: all rows are kept, and the note says why.
    ///
    /// # Errors
    /// A `burn` attribute that is not a count of iterations.
    pub fn resolve(&self, path: &Path, attrs: &BTreeMap<String, String>, iterations: usize) -> Result<(usize, Option<String>)> {
        if let Some(n) = self.discard {
            return Ok((n, None));
        }
        let recorded = match recorded_burn(path, attrs)? {
            None | Some(0) => return Ok((0, None)),
            Some(b) => b,
        };
        if recorded >= iterations {
            let note = format!(
                "{}: the file records a burn-in of {recorded} iterations but holds {iterations}: kept all of them (--discard N drops the first N)",
                path.display()
            );
            return Ok((0, Some(note)));
        }
        let note = format!(
            "{}: dropped the first {recorded} iterations, the burn-in the file records (--discard N to change it; --discard 0 keeps all)",
            path.display()
        );
        Ok((recorded, Some(note)))
    }
}

/// Prints the notes [`DiscardArg::resolve`] returned, one line each.
pub fn print_notes<'a>(notes: impl IntoIterator<Item = &'a Option<String>>) {
    for n in notes.into_iter().flatten() {
        eprintln!("{n}");
    }
}

/// The burn-in a chain file records, if any.
///
/// # Errors
/// A `burn` attribute that is not a count of iterations.
pub fn recorded_burn(path: &Path, attrs: &BTreeMap<String, String>) -> Result<Option<usize>> {
    match attrs.get(BURN) {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            Error::chain(path, format!("attribute '{BURN}' is {v:?}, not a number of iterations: pass --discard N to choose the burn-in"))
        }),
    }
}

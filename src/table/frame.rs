//! [`Table`]: a numeric table's column names and values, and taking its
//! columns by name.

use std::path::PathBuf;

use ndarray::{Array2, ArrayView1, Axis};

use crate::{Error, Result};

/// A numeric table: column names and one row of values per record.
#[derive(Debug, Clone)]
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Values, one row per data row.
    pub data: Array2<f64>,
    /// The file (or `file.h5:dataset`) it was read from, for messages.
    pub source: PathBuf,
    /// Whether the names come from the file; `false` for an HDF5 dataset
    /// without a names attribute (then named `x1, x2, ...` or `y1, y2, ...`).
    pub named: bool,
    /// The line of each row in a CSV file (empty for HDF5).
    pub lines: Vec<u64>,
}

/// Names shown in full in a message; longer lists are cut.
const SHOWN: usize = 12;

/// `[a, b, c]` for messages; a long list shows its first names and how many there are.
fn list(names: &[impl AsRef<str>]) -> String {
    let shown: Vec<&str> = names.iter().take(SHOWN).map(AsRef::as_ref).collect();
    let more = if names.len() > SHOWN { format!(", ... ({} in all)", names.len()) } else { String::new() };
    format!("[{}{more}]", shown.join(", "))
}

/// `no column "a", no column "b"`, or for many `no columns "a", "b", ... and 7 more`.
fn problems(kind: &str, names: &[&str]) -> Option<String> {
    match names.len() {
        0 => None,
        1..=4 => Some(names.iter().map(|n| format!("{kind} column {n:?}")).collect::<Vec<_>>().join(", ")),
        k => Some(format!("{kind} columns {} and {} more", names[..3].iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", "), k - 3)),
    }
}

impl Table {
    /// The line of data row `i` (0-based) in its file, when it is a CSV file.
    pub fn line_of(&self, i: usize) -> Option<u64> {
        self.lines.get(i).copied()
    }

    /// Index of the column named `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<ArrayView1<'_, f64>> {
        self.position(name).map(|j| self.data.column(j))
    }

    fn error(&self, message: String) -> Error {
        Error::Data { input: self.source.display().to_string(), message }
    }

    /// The columns named `names`, in that order (whatever their order in the
    /// file). `what` says what the names are ("the emulator's inputs").
    ///
    /// A table whose names do not come from its file (an HDF5 dataset without
    /// a names attribute) is taken by position when its width matches.
    ///
    /// # Errors
    /// A name missing from the header, or a header column that is not one of
    /// `names`: the message lists both.
    pub fn select(&self, names: &[String], what: &str) -> Result<Array2<f64>> {
        if !self.named {
            if self.data.ncols() != names.len() {
                return Err(self.error(format!("{} columns, but {what} are {} {}", self.data.ncols(), names.len(), list(names))));
            }
            return Ok(self.data.clone());
        }
        self.check_columns(&names.iter().map(String::as_str).collect::<Vec<_>>(), &[], what)?;
        let idx: Vec<usize> = names.iter().filter_map(|n| self.position(n)).collect();
        Ok(self.data.select(Axis(1), &idx))
    }

    /// Checks that the header holds every column of `required`, any of
    /// `optional`, and nothing else. `what` says what the table is.
    ///
    /// # Errors
    /// A missing or unknown column; the message lists the columns expected and found.
    pub fn check_columns(&self, required: &[&str], optional: &[&str], what: &str) -> Result<()> {
        let missing: Vec<&str> = required.iter().copied().filter(|n| self.position(n).is_none()).collect();
        let unknown: Vec<&str> = self.header.iter().map(String::as_str).filter(|h| !required.contains(h) && !optional.contains(h)).collect();
        if missing.is_empty() && unknown.is_empty() {
            return Ok(());
        }
        let problems: Vec<String> = [problems("no", &missing), problems("unknown", &unknown)].into_iter().flatten().collect();
        let expected = if optional.is_empty() { list(required) } else { format!("{} (optional: {})", list(required), optional.join(", ")) };
        let hint = if self.header.first().is_some_and(|h| h.starts_with('#')) { "; remove the '#' before the column names" } else { "" };
        Err(self.error(format!(
            "{}: {what} are {expected}, in any order; the header has {} columns {}{hint}",
            problems.join(", "),
            self.header.len(),
            list(&self.header)
        )))
    }
}

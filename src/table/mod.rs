//! Numeric tables read from files: design points, model outputs, data,
//! bounds, covariances, points, chains in CSV form.
//!
//! Every numeric table seqcal reads goes through this module: CSV through
//! [`read_csv`] (one reader: a header line naming the columns, then rows of
//! numbers), HDF5 datasets through [`read_table_as`]. Columns are found by
//! name, never by position: [`Table::select`] takes the columns a caller
//! needs in the caller's order and refuses a table that misses one or holds
//! others, listing both sets of names.

mod csv_reader;
mod h5;

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView1, Axis};

use crate::{Error, Result};
pub use csv_reader::{read_csv, read_table, Values};
pub use h5::write_hdf5_tables;

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

/// Whether a path names an HDF5 file (`.h5`, `.hdf5`, `.he5`, `.hdf`).
pub fn is_hdf5(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "h5" | "hdf5" | "he5" | "hdf"))
}

/// Splits `file.h5:dataset` into the file and the dataset (the part after
/// the last `:`, when what precedes it is an HDF5 file name).
fn split_spec(spec: &Path) -> (PathBuf, Option<String>) {
    if let Some(s) = spec.to_str() {
        if let Some((file, ds)) = s.rsplit_once(':') {
            if !ds.is_empty() && is_hdf5(Path::new(file)) {
                return (file.into(), Some(ds.to_string()));
            }
        }
    }
    (spec.to_path_buf(), None)
}

/// The file a table spec reads (`runs.h5:/main/design` → `runs.h5`; a CSV
/// path is its own file).
pub fn file_of(spec: &Path) -> PathBuf {
    split_spec(spec).0
}

/// Reads a numeric table from CSV or HDF5, by the file's extension.
///
/// CSV: as [`read_table`]. HDF5 (`.h5`, `.hdf5`, `.he5`, `.hdf`): `spec` is
/// `file.h5` or `file.h5:dataset` (a path inside the file, e.g.
/// `runs.h5:/main/design`); without a dataset, the first of `defaults` the
/// file holds is read, or the file's only 2-D dataset if it holds none of them. The
/// dataset must be numeric, 2-D (rows × columns; a 1-D dataset is one column)
/// and finite; column names come from a string-array attribute `columns`,
/// `names` or `column_names` when there is one, else `x1, x2, …` for
/// designs, `y1, y2, …` for anything else (and [`Table::named`] is `false`).
///
/// # Errors
/// Those of [`read_table`]; for HDF5 a missing file or dataset (listing the
/// datasets there are), a dataset that is not numeric or not 1-D/2-D, a
/// names attribute of the wrong length, a value that is not finite, no rows.
pub fn read_table_as(spec: &Path, defaults: &[&str]) -> Result<Table> {
    let (path, ds) = split_spec(spec);
    if !is_hdf5(&path) {
        return read_table(spec);
    }
    h5::read_hdf5(&path, ds, defaults)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> (tempfile::TempDir, Table) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, text).unwrap();
        let t = read_table(&p).unwrap();
        (dir, t)
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn columns_are_taken_by_name() {
        let (_d, t) = table("b,c,a\n2,3,1\n5,6,4\n");
        assert_eq!(t.select(&names(&["a", "b", "c"]), "the parameters").unwrap(), ndarray::arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
        let e = t.select(&names(&["a", "b", "d"]), "the parameters").unwrap_err().to_string();
        assert!(
            e.contains(
                "t.csv: no column \"d\", unknown column \"c\": the parameters are [a, b, d], in any order; the header has 3 columns [b, c, a]"
            ),
            "{e}"
        );
        let (_d, t) = table("# value,error\n1,0.1\n");
        let e = t.check_columns(&["value"], &["error"], "the data's columns").unwrap_err().to_string();
        assert!(
            e.contains("no column \"value\", unknown column \"# value\"") && e.contains("(optional: error)") && e.contains("remove the '#'"),
            "{e}"
        );
        let (_d, t) = table("value\n1\n");
        assert!(t.check_columns(&["value"], &["error"], "x").is_ok());
        // Long lists are cut.
        let many: Vec<String> = (0..30).map(|j| format!("y{j}")).collect();
        let (_d, t) = table("a,b\n1,2\n");
        let e = t.select(&many, "the outputs").unwrap_err().to_string();
        assert!(
            e.contains("no columns \"y0\", \"y1\", \"y2\" and 27 more, unknown column \"a\", unknown column \"b\": the outputs are [y0, y1,")
                && e.contains("y11, ... (30 in all)], in any order"),
            "{e}"
        );
    }

    #[test]
    fn unnamed_hdf5_columns_go_by_position() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u.h5");
        let f = hdf5::File::create(&p).unwrap();
        f.new_dataset_builder().with_data(&ndarray::arr2(&[[1.0, 2.0]])).create("design").unwrap();
        drop(f);
        let t = read_table_as(&p, &["design"]).unwrap();
        assert!(!t.named && t.header == ["x1", "x2"]);
        assert_eq!(t.select(&names(&["b", "a"]), "the parameters").unwrap(), ndarray::arr2(&[[1.0, 2.0]]));
        let e = t.select(&names(&["a"]), "the parameters").unwrap_err().to_string();
        assert!(e.contains("u.h5:design: 2 columns, but the parameters are 1 [a]"), "{e}");
    }
}

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
mod frame;
mod h5;

use std::path::{Path, PathBuf};

use crate::Result;
pub use csv_reader::{read_csv, read_table, Values};
pub use frame::Table;
pub use h5::write_hdf5_tables;

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

//! The one reader of numeric CSV files: design points, model outputs, data,
//! bounds, covariances, points to evaluate, chains in CSV form.
//!
//! A file is a header line naming the columns, then rows of numbers, all of
//! the header's width; fields are trimmed. A first line made only of numbers
//! is refused (a file written without a header, as numpy's `savetxt` does by
//! default, would otherwise lose its first row to the column names).

use std::path::Path;

use ndarray::Array2;

use super::frame::Table;
use crate::{Error, Result};

/// Which values a table may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// Only finite numbers (designs, outputs, data, bounds).
    Finite,
    /// Any number, `inf`, `-inf` and `NaN` included (a chain's `log_prob`);
    /// the caller checks the columns that must be finite.
    Any,
}

fn csv_error(path: &Path, line: u64, message: impl Into<String>) -> Error {
    Error::Csv { path: path.into(), line, message: message.into() }
}

/// The line a csv error happened on, and its message in words.
fn describe(e: &csv::Error) -> (u64, String) {
    let line = e.position().map_or(1, |p| p.line());
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => format!("expected {expected_len} fields, found {len}"),
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text: is this a CSV file?".to_string(),
        _ => e.to_string(),
    };
    (line, message)
}

/// Reads a numeric CSV table with a header line naming its columns.
///
/// # Errors
/// An unreadable file; no header line, a header of numbers only, an empty or
/// repeated column name; a row of another width; a field that is not a number
/// (or, with [`Values::Finite`], not a finite one); no rows. The message names
/// the file, the line and the column.
pub fn read_csv(path: &Path, values: Values) -> Result<Table> {
    let mut r = csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(path).map_err(|e| match e.kind() {
        csv::ErrorKind::Io(io) => Error::io(path, std::io::Error::new(io.kind(), io.to_string())),
        _ => {
            let (line, m) = describe(&e);
            csv_error(path, line, m)
        }
    })?;
    let header: Vec<String> = r
        .headers()
        .map_err(|e| {
            let (line, m) = describe(&e);
            csv_error(path, line, m)
        })?
        .iter()
        .map(str::to_owned)
        .collect();
    check_header(path, &header)?;
    let width = header.len();
    let mut data = Vec::new();
    let mut lines = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| {
            let (line, m) = describe(&e);
            csv_error(path, line, m)
        })?;
        let line = rec.position().map_or(lines.len() as u64 + 2, |p| p.line());
        for (j, f) in rec.iter().enumerate() {
            let v: f64 = f.parse().map_err(|_| csv_error(path, line, format!("column {:?}: {f:?} is not a number", header[j])))?;
            if values == Values::Finite && !v.is_finite() {
                return Err(csv_error(path, line, format!("column {:?}: {f} is not a finite number", header[j])));
            }
            data.push(v);
        }
        lines.push(line);
    }
    if lines.is_empty() {
        return Err(csv_error(path, 2, "no data rows after the header"));
    }
    let data = Array2::from_shape_vec((lines.len(), width), data).map_err(|e| csv_error(path, 1, e.to_string()))?;
    Ok(Table { header, data, source: path.to_path_buf(), named: true, lines })
}

/// Reads a numeric CSV table of finite values ([`read_csv`] with [`Values::Finite`]).
///
/// # Errors
/// As [`read_csv`].
pub fn read_table(path: &Path) -> Result<Table> {
    read_csv(path, Values::Finite)
}

/// A header must name its columns: not empty, not numbers, no name twice.
fn check_header(path: &Path, header: &[String]) -> Result<()> {
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(csv_error(path, 1, "empty file: expected a header line naming the columns, then one row of numbers per line"));
    }
    if header.iter().all(|h| h.parse::<f64>().is_ok()) {
        let shown: String = header.join(",").chars().take(60).collect();
        let more = if shown.len() < header.join(",").len() { "..." } else { "" };
        return Err(Error::Data {
            input: path.display().to_string(),
            message: format!("line 1 looks like data, not a header: {shown}{more}; add a header line naming the columns"),
        });
    }
    if let Some(j) = header.iter().position(String::is_empty) {
        return Err(csv_error(path, 1, format!("column {} has no name in the header", j + 1)));
    }
    // A set, not a scan of the names before each one: a header may hold a million.
    let mut seen = std::collections::HashSet::with_capacity(header.len());
    if let Some(h) = header.iter().find(|h| !seen.insert(h.as_str())) {
        return Err(csv_error(path, 1, format!("two columns are named {h:?}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, values: Values) -> Result<Table> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, text).unwrap();
        read_csv(&p, values)
    }

    fn err(text: &str) -> String {
        read(text, Values::Finite).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn reads_numbers_under_a_header() {
        let t = read(" a , b\n1, 2\n3,4e-1\n", Values::Finite).unwrap();
        assert_eq!(t.header, ["a", "b"]);
        assert_eq!(t.data, ndarray::arr2(&[[1.0, 2.0], [3.0, 0.4]]));
        assert_eq!(t.lines, [2, 3]);
        let t = read("a,lp\n1,-inf\n2,NaN\n", Values::Any).unwrap();
        assert!(t.data[[0, 1]] == f64::NEG_INFINITY && t.data[[1, 1]].is_nan());
    }

    #[test]
    fn every_malformed_table_is_named() {
        assert!(
            err("0.1,0.2\n0.3,0.4\n").contains("t.csv: line 1 looks like data, not a header: 0.1,0.2; add a header line"),
            "{}",
            err("0.1,0.2\n")
        );
        assert!(err("").contains("empty file"), "{}", err(""));
        assert!(err("a,,c\n1,2,3\n").contains("column 2 has no name"));
        assert!(err("a,a\n1,2\n").contains("two columns are named \"a\""));
        assert!(err("a,b\n1,2\n3\n").contains("line 3: expected 2 fields, found 1"));
        assert!(err("a,b\n1,x\n").contains("line 2: column \"b\": \"x\" is not a number"));
        assert!(err("a,b\n1,inf\n").contains("line 2: column \"b\": inf is not a finite number"));
        assert!(err("a,b\n").contains("no data rows"));
        assert!(read("a,b\n1,inf\n", Values::Any).is_ok());
    }
}

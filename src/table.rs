//! Numeric tables read from files: design points, model outputs, data.

use std::path::Path;

use ndarray::Array2;

use crate::{Error, Result};

/// A numeric CSV table with a header row.
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Values, one row per data row.
    pub data: Array2<f64>,
}

/// Reads a numeric CSV table with one header row; every value must be a finite number.
///
/// # Errors
/// An unreadable file, a malformed row, a value that is not a finite number, no rows.
pub fn read_table(path: &Path) -> Result<Table> {
    let mut r = csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(path).map_err(|e| match e.kind() {
        csv::ErrorKind::Io(io) => Error::io(path, std::io::Error::new(io.kind(), io.to_string())),
        _ => Error::Csv { path: path.into(), line: 1, message: e.to_string() },
    })?;
    let header: Vec<String> = r.headers().map_err(|e| Error::Csv { path: path.into(), line: 1, message: e.to_string() })?.iter().map(str::to_string).collect();
    let mut data = Vec::new();
    let mut rows = 0;
    for (i, rec) in r.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| Error::Csv {
            path: path.into(),
            line,
            message: match e.kind() {
                csv::ErrorKind::UnequalLengths { expected_len, len, .. } => format!("expected {expected_len} fields, found {len}"),
                _ => e.to_string(),
            },
        })?;
        for (j, f) in rec.iter().enumerate() {
            let v: f64 = f.parse().map_err(|_| Error::Csv { path: path.into(), line, message: format!("column {}: '{f}' is not a number", j + 1) })?;
            if !v.is_finite() {
                return Err(Error::Csv { path: path.into(), line, message: format!("column {}: {f} is not a finite number", j + 1) });
            }
            data.push(v);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(Error::Csv { path: path.into(), line: 1, message: "no data rows after the header".into() });
    }
    let data = Array2::from_shape_vec((rows, header.len()), data).map_err(|e| Error::Csv { path: path.into(), line: 1, message: e.to_string() })?;
    Ok(Table { header, data })
}


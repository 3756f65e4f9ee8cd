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


/// Whether a path names an HDF5 file (`.h5`, `.hdf5`, `.he5`, `.hdf`).
pub fn is_hdf5(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "h5" | "hdf5" | "he5" | "hdf"))
}

/// Splits `file.h5:dataset` into the file and the dataset (the part after
/// the last `:`, when what precedes it is an HDF5 file name).
fn split_spec(spec: &Path) -> (std::path::PathBuf, Option<String>) {
    split_spec_impl(spec)
}

/// The file a table spec reads (`runs.h5:/main/design` → `runs.h5`; a CSV
/// path is its own file).
pub fn file_of(spec: &Path) -> std::path::PathBuf {
    split_spec(spec).0
}

fn split_spec_impl(spec: &Path) -> (std::path::PathBuf, Option<String>) {
    if let Some(s) = spec.to_str() {
        if let Some((file, ds)) = s.rsplit_once(':') {
            if !ds.is_empty() && is_hdf5(Path::new(file)) {
                return (file.into(), Some(ds.to_string()));
            }
        }
    }
    (spec.to_path_buf(), None)
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
/// designs, `y1, y2, …` for anything else.
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
    let bad = |m: String| Error::Usage(format!("{}: {m}", path.display()));
    if !path.exists() {
        return Err(Error::io(&path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")));
    }
    let file = hdf5::File::open(&path).map_err(|e| bad(format!("not a readable HDF5 file ({e})")))?;
    let datasets = list_datasets(&file);
    let name = match ds {
        Some(d) => d,
        None if defaults.iter().any(|d| file.link_exists(d)) => defaults.iter().find(|d| file.link_exists(d)).map(|d| d.to_string()).unwrap_or_default(),
        None => {
            let two_d: Vec<&(String, usize)> = datasets.iter().filter(|(_, nd)| *nd == 2).collect();
            match two_d.as_slice() {
                [(only, _)] => only.clone(),
                _ => {
                    return Err(bad(format!(
                        "no dataset '{}'; name one as FILE:DATASET (datasets: {})",
                        defaults.join("' or '"),
                        datasets.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                    )))
                }
            }
        }
    };
    let d = file.dataset(&name).map_err(|_| {
        bad(format!(
            "no dataset '{name}' (datasets: {})",
            if datasets.is_empty() { "none".to_string() } else { datasets.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ") }
        ))
    })?;
    let shape = d.shape();
    let data: Array2<f64> = match shape.len() {
        2 => d.read_2d::<f64>().map_err(|e| bad(format!("dataset '{name}' is not numeric ({e})")))?,
        1 => {
            let v = d.read_1d::<f64>().map_err(|e| bad(format!("dataset '{name}' is not numeric ({e})")))?;
            let n = v.len();
            v.into_shape_with_order((n, 1)).map_err(|e| bad(e.to_string()))?
        }
        k => return Err(bad(format!("dataset '{name}' has {k} dimensions {shape:?}; expected a 2-D table (rows × columns)"))),
    };
    if data.nrows() == 0 || data.ncols() == 0 {
        return Err(bad(format!("dataset '{name}' is empty ({} × {})", data.nrows(), data.ncols())));
    }
    if let Some(((i, j), v)) = data.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(bad(format!("dataset '{name}', row {}, column {}: {v} is not a finite number", i + 1, j + 1)));
    }
    let header = match ["columns", "names", "column_names"].iter().find_map(|a| string_list(&d, a).map(|v| (a, v))) {
        Some((_, names)) if names.len() == data.ncols() => names,
        Some((a, names)) => return Err(bad(format!("dataset '{name}': attribute '{a}' has {} names for {} columns", names.len(), data.ncols()))),
        None => {
            let prefix = if name.trim_start_matches('/').starts_with("design") { "x" } else { "y" };
            (1..=data.ncols()).map(|j| format!("{prefix}{j}")).collect()
        }
    };
    Ok(Table { header, data })
}

/// Datasets of a file (full paths without the leading `/`) with their ranks.
fn list_datasets(file: &hdf5::File) -> Vec<(String, usize)> {
    fn walk(g: &hdf5::Group, prefix: &str, out: &mut Vec<(String, usize)>) {
        for d in g.datasets().unwrap_or_default() {
            let n = d.name();
            out.push((format!("{prefix}{}", n.rsplit('/').next().unwrap_or(&n)), d.ndim()));
        }
        for sub in g.groups().unwrap_or_default() {
            let n = sub.name();
            let short = n.rsplit('/').next().unwrap_or(&n).to_string();
            walk(&sub, &format!("{prefix}{short}/"), out);
        }
    }
    let mut out = Vec::new();
    walk(file, "", &mut out);
    out
}

fn string_list(d: &hdf5::Dataset, name: &str) -> Option<Vec<String>> {
    use hdf5::types::{VarLenAscii, VarLenUnicode};
    let a = d.attr(name).ok()?;
    if let Ok(v) = a.read_1d::<VarLenUnicode>() {
        return Some(v.iter().map(|s| s.as_str().to_owned()).collect());
    }
    if let Ok(v) = a.read_1d::<VarLenAscii>() {
        return Some(v.iter().map(|s| s.as_str().to_owned()).collect());
    }
    if let Ok(v) = a.read_1d::<hdf5::types::FixedAscii<64>>() {
        return Some(v.iter().map(|s| s.as_str().to_owned()).collect());
    }
    None
}

/// Writes numeric tables as datasets of a new HDF5 file, each with its column
/// names in a `columns` attribute (what [`read_table_as`] reads).
///
/// # Errors
/// The file cannot be created or written.
pub fn write_hdf5_tables(path: &Path, tables: &[(&str, &Array2<f64>, &[String])]) -> Result<()> {
    use hdf5::types::VarLenUnicode;
    use std::str::FromStr;
    let bad = |e: hdf5::Error| Error::Usage(format!("{}: {e}", path.display()));
    let file = hdf5::File::create(path).map_err(bad)?;
    for (name, data, cols) in tables {
        let d = file.new_dataset_builder().with_data(&data.view()).create(*name).map_err(bad)?;
        let names: Vec<VarLenUnicode> = cols.iter().map(|c| VarLenUnicode::from_str(c).unwrap_or_default()).collect();
        d.new_attr::<VarLenUnicode>().shape(names.len()).create("columns").and_then(|a| a.write(&names)).map_err(bad)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hdf5_tables_by_default_name_or_explicit_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("runs.h5");
        let design = Array2::from_shape_fn((4, 3), |(i, j)| (i * 3 + j) as f64);
        let outputs = Array2::from_shape_fn((4, 2), |(i, j)| (i + j) as f64 * 0.5);
        let (dn, on) = (vec!["a".to_string(), "b".into(), "c".into()], vec!["y1".to_string(), "y2".into()]);
        write_hdf5_tables(&p, &[("design", &design, &dn), ("outputs", &outputs, &on)]).unwrap();
        let t = read_table_as(&p, &["design"]).unwrap();
        assert_eq!(t.header, dn);
        assert_eq!(t.data, design);
        let spec = format!("{}:outputs", p.display());
        let t = read_table_as(Path::new(&spec), &["design"]).unwrap();
        assert_eq!(t.data, outputs);
        // A missing dataset names the ones there are.
        let e = read_table_as(Path::new(&format!("{}:nope", p.display())), &["design"]).err().unwrap().to_string();
        assert!(e.contains("no dataset 'nope'") && e.contains("design, outputs"), "{e}");
        let e = read_table_as(&p, &["bounds"]).err().unwrap().to_string();
        assert!(e.contains("no dataset 'bounds'"), "{e}");
        // NaN and a 3-D dataset are errors.
        let q = dir.path().join("bad.h5");
        let mut nan = design.clone();
        nan[(2, 1)] = f64::NAN;
        write_hdf5_tables(&q, &[("design", &nan, &dn)]).unwrap();
        let e = read_table_as(&q, &["design"]).err().unwrap().to_string();
        assert!(e.contains("row 3, column 2"), "{e}");
        let f = hdf5::File::open_rw(&q).unwrap();
        f.new_dataset_builder().with_data(&ndarray::Array3::<f64>::zeros((2, 2, 2))).create("cube").unwrap();
        drop(f);
        let e = read_table_as(Path::new(&format!("{}:cube", q.display())), &["x"]).err().unwrap().to_string();
        assert!(e.contains("3 dimensions"), "{e}");
        // CSV still works through the same function.
        let c = dir.path().join("t.csv");
        std::fs::write(&c, "u,v\n1,2\n3,4\n").unwrap();
        assert_eq!(read_table_as(&c, &["design"]).unwrap().header, vec!["u", "v"]);
    }
}

//! Numeric tables in HDF5 files: a 2-D dataset, its column names in a
//! string-array attribute.

use std::path::Path;

use ndarray::Array2;

use super::frame::Table;
use crate::{Error, Result};

/// Reads a numeric dataset of an HDF5 file as a table: the dataset `ds`, or
/// without one the first of `defaults` the file holds, or the file's only
/// 2-D dataset if it holds none of them (see [`super::read_table_as`]).
pub(super) fn read_hdf5(path: &Path, ds: Option<String>, defaults: &[&str]) -> Result<Table> {
    let bad = |message: String| Error::Data { input: path.display().to_string(), message };
    let h5 = |what: String| move |source| Error::Hdf5 { path: path.to_path_buf(), what, source };
    if !path.exists() {
        return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")));
    }
    let file = hdf5::File::open(path).map_err(h5("not a readable HDF5 file".into()))?;
    let datasets = list_datasets(&file);
    let name = match ds {
        Some(d) => d,
        None if defaults.iter().any(|d| file.link_exists(d)) => {
            defaults.iter().find(|d| file.link_exists(d)).map(|d| d.to_string()).unwrap_or_default()
        }
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
    // The shape is what the file claims (a chunked dataset may claim any size
    // while holding nothing): refuse one that cannot be held before reading it.
    crate::memory::require(crate::memory::bytes(crate::memory::product(&shape), 8), || {
        format!("{}: dataset '{name}' of shape {shape:?}", path.display())
    })?;
    let data: Array2<f64> = match shape.len() {
        2 => d.read_2d::<f64>().map_err(h5(format!("dataset '{name}' is not numeric")))?,
        1 => {
            let v = d.read_1d::<f64>().map_err(h5(format!("dataset '{name}' is not numeric")))?;
            let n = v.len();
            v.into_shape_with_order((n, 1))?
        }
        k => return Err(bad(format!("dataset '{name}' has {k} dimensions {shape:?}; expected a 2-D table (rows × columns)"))),
    };
    if data.nrows() == 0 || data.ncols() == 0 {
        return Err(bad(format!("dataset '{name}' is empty ({} × {})", data.nrows(), data.ncols())));
    }
    if let Some(((i, j), v)) = data.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(bad(format!("dataset '{name}', row {}, column {}: {v} is not a finite number", i + 1, j + 1)));
    }
    let (header, named) = match ["columns", "names", "column_names"].iter().find_map(|a| string_list(&d, a).map(|v| (a, v))) {
        Some((_, names)) if names.len() == data.ncols() => (names, true),
        Some((a, names)) => return Err(bad(format!("dataset '{name}': attribute '{a}' has {} names for {} columns", names.len(), data.ncols()))),
        None => {
            let prefix = if name.trim_start_matches('/').starts_with("design") { "x" } else { "y" };
            ((1..=data.ncols()).map(|j| format!("{prefix}{j}")).collect(), false)
        }
    };
    let source = std::path::PathBuf::from(format!("{}:{name}", path.display()));
    Ok(Table { header, data, source, named, lines: Vec::new() })
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
    let bad = |source| Error::Hdf5 { path: path.to_path_buf(), what: "writing the tables".into(), source };
    let file = hdf5::File::create(path).map_err(bad)?;
    for (name, data, cols) in tables {
        let d = file.new_dataset_builder().with_data(&data.view()).create(*name).map_err(bad)?;
        let names: Vec<VarLenUnicode> = cols.iter().map(|c| VarLenUnicode::from_str(c).unwrap_or_default()).collect();
        d.new_attr::<VarLenUnicode>().shape(names.len()).create("columns").and_then(|a| a.write(&names)).map_err(bad)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;

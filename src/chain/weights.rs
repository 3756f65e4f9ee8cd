//! Importance weights added to a finished chain file: the `weights` dataset
//! of a chain sampled under one density and meant for another (a defensive
//! mixture's chain, weighted to the pure flow-prior posterior).

use std::path::Path;

use ndarray::ArrayView2;

use super::columns::Column;
use super::schema::{attr_string, h5err, open_file, open_group, set_i64_attr, set_string_attr};
use crate::{Error, Result};

/// Writes `weights` (`iterations × walkers`, finite and non-negative) as the
/// chain's `weights` dataset and `about` as its `weights` attribute. The file
/// is marked incomplete while the dataset is written, so an interrupted write
/// never leaves a file that looks finished without its weights.
///
/// # Errors
/// A shape that is not the chain's, an invalid weight, a file that already
/// has weights, or a failed write.
pub fn add_weights(path: &Path, weights: ArrayView2<'_, f64>, about: &str) -> Result<()> {
    if let Some(v) = weights.iter().find(|v| !Column::Weights.valid(**v)) {
        return Err(Error::chain(path, format!("importance weight {v}: weights must be finite and non-negative")));
    }
    let file = open_file(path, true)?;
    let g = open_group(path, &file)?;
    let shape = g.dataset("log_prob").map_err(|e| h5err(path, "reading 'log_prob'", e))?.shape();
    if shape != [weights.nrows(), weights.ncols()] {
        return Err(Error::chain(path, format!("{:?} weights for a chain of {shape:?} draws", weights.dim())));
    }
    if g.link_exists(Column::Weights.name()) {
        return Err(Error::chain(path, "the chain already has importance weights"));
    }
    set_i64_attr(path, &g, "complete", 0)?;
    g.new_dataset::<f64>()
        .shape(weights.dim())
        .create(Column::Weights.name())
        .and_then(|d| d.write(&weights))
        .map_err(|e| h5err(path, "writing 'weights'", e))?;
    set_string_attr(path, &g, "weights", about)?;
    set_i64_attr(path, &g, "complete", 1)?;
    drop(g);
    file.close().map_err(|e| h5err(path, "closing", e))?;
    Ok(())
}

/// Multiplies the chain's `weights` dataset by `factors` (its shape, finite
/// and non-negative) and appends `about` to its `weights` attribute: a
/// weighted sampler's draws (SMC particles) reweighted once more, as those of
/// a defensive mixture to the pure flow-prior posterior. Marked incomplete
/// while written, as [`add_weights`].
///
/// # Errors
/// A chain without weights, a shape that is not theirs, an invalid factor,
/// or a failed write.
pub fn multiply_weights(path: &Path, factors: ArrayView2<'_, f64>, about: &str) -> Result<()> {
    if let Some(v) = factors.iter().find(|v| !Column::Weights.valid(**v)) {
        return Err(Error::chain(path, format!("importance weight {v}: weights must be finite and non-negative")));
    }
    let file = open_file(path, true)?;
    let g = open_group(path, &file)?;
    let ds = g.dataset(Column::Weights.name()).map_err(|_| Error::chain(path, "the chain has no importance weights to multiply"))?;
    let old: ndarray::Array2<f64> = ds.read_2d().map_err(|e| h5err(path, "reading 'weights'", e))?;
    if old.dim() != factors.dim() {
        return Err(Error::chain(path, format!("{:?} weight factors for {:?} weights", factors.dim(), old.dim())));
    }
    let before = attr_string(&g, "weights");
    set_i64_attr(path, &g, "complete", 0)?;
    ds.write(&(&old * &factors)).map_err(|e| h5err(path, "writing 'weights'", e))?;
    let text = match before {
        Some(b) if !b.is_empty() => format!("{b}; times {about}"),
        _ => about.to_string(),
    };
    set_string_attr(path, &g, "weights", &text)?;
    set_i64_attr(path, &g, "complete", 1)?;
    drop(ds);
    drop(g);
    file.close().map_err(|e| h5err(path, "closing", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{read_hdf5, write_hdf5, Chain};
    use ndarray::{Array2, Array3};

    #[test]
    fn weights_are_read_back_and_a_wrong_shape_or_second_set_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.h5");
        let mut c = Chain::from_draws(Array3::from_shape_fn((5, 4, 2), |(i, w, j)| (i * 8 + w * 2 + j) as f64));
        c.log_prob = Some(Array2::zeros((5, 4)));
        write_hdf5(&c, &path).unwrap();
        let w = Array2::from_shape_fn((5, 4), |(i, k)| (i + k) as f64 / 10.0);
        assert!(add_weights(&path, w.slice(ndarray::s![..4, ..]), "x").unwrap_err().to_string().contains("weights for a chain"));
        add_weights(&path, w.view(), "defensive mixture").unwrap();
        let back = read_hdf5(&path).unwrap();
        assert_eq!(back.weights.as_ref().unwrap(), &w);
        assert_eq!(back.attrs.get("weights").map(String::as_str), Some("defensive mixture"));
        assert!(add_weights(&path, w.view(), "x").unwrap_err().to_string().contains("already has"));
        let mut bad = w.clone();
        bad[[0, 0]] = -1.0;
        assert!(add_weights(&path, bad.view(), "x").is_err());
        let f = Array2::from_shape_fn((5, 4), |(i, _)| i as f64);
        multiply_weights(&path, f.view(), "factors").unwrap();
        let back = read_hdf5(&path).unwrap();
        assert_eq!(back.weights.as_ref().unwrap(), &(&w * &f));
        assert_eq!(back.attrs.get("weights").map(String::as_str), Some("defensive mixture; times factors"));
        assert!(multiply_weights(&path, f.slice(ndarray::s![..4, ..]), "x").unwrap_err().to_string().contains("weight factors"));
    }
}

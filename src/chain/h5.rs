//! Reading HDF5 chain files (emcee's and seqcal's; the layout is in
//! [`schema`](super::schema)), whole or block by block.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdf5::Dataset;
use ndarray::{s, Array1, Array2, Array3};

use super::columns::{Column, Columns, PerDraw};
use super::data::{check_finite_draws, check_per_draw, Chain};
use super::schema::{
    attr_i64, attr_names, attr_string, dataset, h5err, open_file, open_group, required_usize, string_list_attr, ACCEPTED, CHAIN, RESERVED,
};
use crate::memory;
use crate::{Error, Result};

/// Everything about a chain file except its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Parameter names.
    pub names: Vec<String>,
    /// Support interval per parameter.
    pub bounds: Vec<(f64, f64)>,
    /// Number of walkers.
    pub walkers: usize,
    /// Number of valid iterations (emcee's `iteration`).
    pub iterations: usize,
    /// Optional per-draw arrays present.
    pub columns: Columns,
    /// Accepted proposals per walker.
    pub accepted: Array1<f64>,
    /// Provenance attributes.
    pub attrs: BTreeMap<String, String>,
    /// `Some(false)` for a run that stopped before finishing; `None` for
    /// files that do not say (written by emcee).
    pub complete: Option<bool>,
    /// The `version` attribute (emcee's version, or `seqcal x.y.z`).
    pub writer: Option<String>,
}

impl Header {
    /// Number of parameters.
    pub fn dim(&self) -> usize {
        self.names.len()
    }

    /// Bytes of one iteration in memory: draws and every stored per-draw array.
    pub fn row_bytes(&self) -> u128 {
        let cols = 1 + self.columns.iter().filter(|(_, on)| **on).count();
        memory::bytes(memory::product(&[self.walkers, self.dim() + cols]), 8)
    }
}

/// A block of consecutive rows read from a chain file.
#[derive(Debug, Clone)]
pub struct RowBlock {
    /// Iteration of the first row.
    pub start: usize,
    /// Draws, `rows × walkers × dim`.
    pub draws: Array3<f64>,
    /// The per-draw arrays the file holds (`rows × walkers` each).
    pub per_draw: PerDraw<Option<Array2<f64>>>,
}

impl RowBlock {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.draws.dim().0
    }

    /// Weight of the draw at (row `i`, walker `k`): its importance weight, or 1.
    pub fn weight(&self, i: usize, k: usize) -> f64 {
        self.per_draw.weights.as_ref().map_or(1.0, |w| w[[i, k]])
    }
}

/// Reads chain files block by block, never holding more than one block.
#[derive(Debug)]
pub struct ChainReader {
    path: PathBuf,
    // Kept open for the datasets' lifetime.
    file: hdf5::File,
    header: Header,
    chain: Dataset,
    per_draw: PerDraw<Option<Dataset>>,
}

impl ChainReader {
    /// Opens a chain file and reads its header; checks that the datasets
    /// agree with the attributes and that the header fits in memory.
    ///
    /// # Errors
    /// Missing file, not HDF5, no `mcmc` group, missing dataset or
    /// attribute, inconsistent shapes, a shape too large for memory.
    pub fn open(path: &Path) -> Result<Self> {
        let file = open_file(path, false)?;
        let g = open_group(path, &file)?;
        let walkers = required_usize(path, &g, "nwalkers")?;
        let dim = required_usize(path, &g, "ndim")?;
        let iterations = required_usize(path, &g, "iteration")?;
        // Names, bounds and acceptance counts are read whole: refuse a claimed
        // shape that cannot be held before reading it.
        memory::require(memory::bytes(memory::product(&[dim]), 64).saturating_add(memory::bytes(walkers as u128, 8)), || {
            format!("{}: the header of a chain of {walkers} walkers x {dim} parameters", path.display())
        })?;
        let chain = dataset(path, &g, CHAIN)?;
        let log_prob = dataset(path, &g, Column::LogProb.name())?;
        let shape = chain.shape();
        if shape.len() != 3 || shape[1] != walkers || shape[2] != dim {
            return Err(Error::chain(
                path,
                format!("dataset 'chain' has shape {shape:?} but the attributes say {walkers} walkers x {dim} parameters"),
            ));
        }
        if shape[0] < iterations {
            return Err(Error::chain(
                path,
                format!("attribute 'iteration' says {iterations} rows but dataset 'chain' holds only {}: the file is truncated", shape[0]),
            ));
        }
        let check2 = |ds: &Dataset, name: &str| -> Result<()> {
            let s = ds.shape();
            if s.len() != 2 || s[1] != walkers || s[0] < iterations {
                return Err(Error::chain(path, format!("dataset '{name}' has shape {s:?}, expected ({iterations} or more, {walkers})")));
            }
            Ok(())
        };
        check2(&log_prob, Column::LogProb.name())?;
        let accepted_ds = dataset(path, &g, ACCEPTED)?;
        if accepted_ds.shape() != [walkers] {
            return Err(Error::chain(path, format!("dataset 'accepted' has shape {:?} for {walkers} walkers", accepted_ds.shape())));
        }
        let accepted: Array1<f64> = accepted_ds.read_1d().map_err(|e| h5err(path, "reading 'accepted'", e))?;
        let names = match string_list_attr(&g, "param_names") {
            Some(n) if n.len() == dim => n,
            Some(n) => return Err(Error::chain(path, format!("attribute 'param_names' has {} names for {dim} parameters", n.len()))),
            None => seqcal_api::ParamSpace::default_names(dim),
        };
        let bounds = match g.attr("bounds") {
            Ok(a) => {
                if a.shape() != [dim, 2] {
                    return Err(Error::chain(path, format!("attribute 'bounds' has shape {:?}, expected ({dim}, 2)", a.shape())));
                }
                let b: Array2<f64> = a.read_2d().map_err(|e| h5err(path, "reading attribute 'bounds'", e))?;
                b.rows().into_iter().map(|r| (r[0], r[1])).collect()
            }
            Err(_) => vec![(f64::NEG_INFINITY, f64::INFINITY); dim],
        };
        seqcal_api::ParamSpace::new(names.clone(), bounds.clone()).map_err(|e| Error::chain(path, e.to_string()))?;
        let mut per_draw: PerDraw<Option<Dataset>> = PerDraw { log_prob: Some(log_prob), ..Default::default() };
        for c in [Column::LogPrior, Column::LogLikelihood, Column::Weights] {
            if g.link_exists(c.name()) {
                let ds = dataset(path, &g, c.name())?;
                check2(&ds, c.name())?;
                *per_draw.get_mut(c) = Some(ds);
            }
        }
        let mut columns = per_draw.present();
        columns.log_prob = attr_i64(path, &g, "has_log_prob")?.unwrap_or(1) != 0;
        let mut attrs = BTreeMap::new();
        for name in attr_names(path, &g)? {
            if RESERVED.contains(&name.as_str()) || name.starts_with("random_state_") {
                continue;
            }
            if let Some(v) = attr_string(&g, &name) {
                attrs.insert(name, v);
            }
        }
        let complete = attr_i64(path, &g, "complete")?.map(|c| c != 0);
        let header = Header { names, bounds, walkers, iterations, columns, accepted, attrs, complete, writer: attr_string(&g, "version") };
        Ok(ChainReader { path: path.to_path_buf(), file, header, chain, per_draw })
    }

    /// The open file's chain group.
    pub(crate) fn group(&self) -> Result<hdf5::Group> {
        open_group(&self.path, &self.file)
    }

    /// The file's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads rows `start..end` (clamped to the valid rows) and checks their
    /// values (finite draws, no NaN log densities).
    ///
    /// # Errors
    /// A read failure (corrupt or truncated file), an invalid value, or a
    /// block too large for memory.
    pub fn read_rows(&self, start: usize, end: usize) -> Result<RowBlock> {
        let end = end.min(self.header.iterations);
        let start = start.min(end);
        let p = &self.path;
        let h = &self.header;
        memory::require(h.row_bytes().saturating_mul((end - start) as u128), || {
            format!("{}: reading {} iterations x {} walkers x {} parameters", p.display(), end - start, h.walkers, h.dim())
        })?;
        let draws: Array3<f64> = self.chain.read_slice(s![start..end, .., ..]).map_err(|e| h5err(p, "reading dataset 'chain'", e))?;
        check_finite_draws(p, &draws, start, &h.names)?;
        let mut per_draw = PerDraw::default();
        for c in Column::ALL {
            let (Some(ds), true) = (self.per_draw.get(c), *h.columns.get(c)) else { continue };
            let a: Array2<f64> = ds.read_slice(s![start..end, ..]).map_err(|e| h5err(p, &format!("reading dataset '{}'", c.name()), e))?;
            check_per_draw(p, c, a.view(), start)?;
            *per_draw.get_mut(c) = Some(a);
        }
        Ok(RowBlock { start, draws, per_draw })
    }

    /// Iterates over the valid rows in blocks of `rows` iterations.
    pub fn blocks(&self, rows: usize) -> impl Iterator<Item = Result<RowBlock>> + '_ {
        let rows = rows.max(1);
        (0..self.header.iterations).step_by(rows).map(move |s| self.read_rows(s, s + rows))
    }

    /// Reads the whole chain.
    ///
    /// # Errors
    /// See [`read_rows`](Self::read_rows).
    pub fn read_all(&self) -> Result<Chain> {
        let b = self.read_rows(0, self.header.iterations)?;
        let h = &self.header;
        let mut c = Chain::from_draws(b.draws);
        c.names.clone_from(&h.names);
        c.bounds.clone_from(&h.bounds);
        c.set_per_draw(b.per_draw);
        c.accepted = h.accepted.clone();
        c.attrs = h.attrs.clone();
        Ok(c)
    }
}

/// Reads a whole chain file (emcee's or seqcal's).
///
/// # Errors
/// See [`ChainReader::open`] and [`ChainReader::read_rows`].
pub fn read_hdf5(path: &Path) -> Result<Chain> {
    ChainReader::open(path)?.read_all()
}

//! The HDF5 chain file: emcee's `HDFBackend` layout plus seqcal's additions.
//!
//! Group `mcmc` (emcee's default name) holds:
//!
//! | item | kind | written by | meaning |
//! |---|---|---|---|
//! | `version` | attr, string | both | writer's name and version |
//! | `nwalkers`, `ndim` | attr, int | both | ensemble shape |
//! | `iteration` | attr, int | both | number of valid rows; rows past it are not valid |
//! | `has_blobs` | attr, bool | both | seqcal writes `false` and ignores blobs |
//! | `chain` | dataset `(rows, nwalkers, ndim)` f64 | both | draws |
//! | `log_prob` | dataset `(rows, nwalkers)` f64 | both | log posterior |
//! | `accepted` | dataset `(nwalkers,)` f64 | both | accepted proposals per walker |
//! | `param_names` | attr, string array | seqcal | parameter names (default `x0, x1, ...`) |
//! | `bounds` | attr `(ndim, 2)` f64 | seqcal | support interval per parameter (±inf allowed) |
//! | `has_log_prob` | attr, int | seqcal | 0 when the log posterior is unknown (`log_prob` then holds NaN) |
//! | `complete` | attr, int | seqcal | 1 once the writer finished; 0 while running or after a kill |
//! | `log_prior`, `log_likelihood`, `weights` | datasets `(rows, nwalkers)` | seqcal | optional per-draw values |
//! | any other attr | string | seqcal | provenance (`seed`, `sampler`, `prior`, `seqcal_version`, ...) |
//!
//! The full schema, with examples in Python, is in `chains/README.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use hdf5::types::{VarLenAscii, VarLenUnicode};
use hdf5::{Dataset, Group};
use ndarray::{s, Array1, Array2, Array3};

use super::{check_finite_draws, check_per_draw, Chain, Columns};
use crate::{Error, Result};

/// Name of the group holding the chain (emcee's default).
pub const GROUP: &str = "mcmc";

/// Attributes with a fixed meaning; all others are provenance strings.
const RESERVED: &[&str] = &["version", "nwalkers", "ndim", "iteration", "has_blobs", "param_names", "bounds", "has_log_prob", "complete"];

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
}

/// A block of consecutive rows read from a chain file.
#[derive(Debug, Clone)]
pub struct RowBlock {
    /// Iteration of the first row.
    pub start: usize,
    /// Draws, `rows × walkers × dim`.
    pub draws: Array3<f64>,
    /// Log posterior, when the file holds it.
    pub log_prob: Option<Array2<f64>>,
    /// Log prior, when stored.
    pub log_prior: Option<Array2<f64>>,
    /// Log likelihood, when stored.
    pub log_likelihood: Option<Array2<f64>>,
    /// Importance weights, when stored.
    pub weights: Option<Array2<f64>>,
}

impl RowBlock {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.draws.dim().0
    }
}

pub(crate) fn h5err(path: &Path, what: &str, e: hdf5::Error) -> Error {
    Error::chain(path, format!("{what}: {e}"))
}

/// Opens an existing file, turning HDF5's error into one that says what the
/// file is not.
pub(crate) fn open_file(path: &Path, write: bool) -> Result<hdf5::File> {
    if !path.exists() {
        return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")));
    }
    // A writer holds the file's lock during a flush (milliseconds): wait for
    // it rather than fail, so a running chain can be inspected.
    let mut tries = 0;
    loop {
        let r = if write { hdf5::File::open_rw(path) } else { hdf5::File::open(path) };
        match r {
            Ok(f) => return Ok(f),
            Err(e) if tries < 100 && e.to_string().contains("unable to lock file") => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(Error::chain(path, format!("not a readable HDF5 file (truncated, corrupt, or another format): {e}"))),
        }
    }
}

pub(crate) fn open_group(path: &Path, file: &hdf5::File) -> Result<Group> {
    file.group(GROUP).map_err(|_| {
        let found = file.member_names().unwrap_or_default();
        Error::chain(
            path,
            format!(
                "no group '{GROUP}': not a chain written by emcee or seqcal (top-level members: {})",
                if found.is_empty() { "none".to_string() } else { found.join(", ") }
            ),
        )
    })
}

pub(crate) fn dataset(path: &Path, g: &Group, name: &str) -> Result<Dataset> {
    g.dataset(name).map_err(|_| Error::chain(path, format!("group '{GROUP}' has no dataset '{name}'")))
}

fn attr_i64(path: &Path, g: &Group, name: &str) -> Result<Option<i64>> {
    if !g.attr_names().map_err(|e| h5err(path, "listing attributes", e))?.iter().any(|n| n == name) {
        return Ok(None);
    }
    let a = g.attr(name).map_err(|e| h5err(path, name, e))?;
    if let Ok(v) = a.read_scalar::<i64>() {
        return Ok(Some(v));
    }
    if let Ok(v) = a.read_scalar::<bool>() {
        return Ok(Some(v as i64));
    }
    Err(Error::chain(path, format!("attribute '{name}' of '{GROUP}' is not an integer")))
}

fn required_usize(path: &Path, g: &Group, name: &str) -> Result<usize> {
    let v = attr_i64(path, g, name)?.ok_or_else(|| Error::chain(path, format!("group '{GROUP}' has no attribute '{name}'")))?;
    usize::try_from(v).map_err(|_| Error::chain(path, format!("attribute '{name}' is {v}, expected a count >= 0")))
}

/// Reads a string attribute however it was stored (h5py writes variable-length
/// UTF-8; older tools ASCII); numbers are turned into their decimal form.
fn attr_string(g: &Group, name: &str) -> Option<String> {
    let a = g.attr(name).ok()?;
    if let Ok(s) = a.read_scalar::<VarLenUnicode>() {
        return Some(s.as_str().to_owned());
    }
    if let Ok(s) = a.read_scalar::<VarLenAscii>() {
        return Some(s.as_str().to_owned());
    }
    if a.is_scalar() {
        if let Ok(v) = a.read_scalar::<i64>() {
            return Some(v.to_string());
        }
        if let Ok(v) = a.read_scalar::<f64>() {
            return Some(v.to_string());
        }
    }
    None
}

fn string_list_attr(g: &Group, name: &str) -> Option<Vec<String>> {
    let a = g.attr(name).ok()?;
    if let Ok(v) = a.read_1d::<VarLenUnicode>() {
        return Some(v.iter().map(|s| s.as_str().to_owned()).collect());
    }
    a.read_1d::<VarLenAscii>().ok().map(|v| v.iter().map(|s| s.as_str().to_owned()).collect())
}

/// Writes (replacing) a string attribute.
pub(crate) fn set_string_attr(path: &Path, g: &Group, name: &str, value: &str) -> Result<()> {
    let v = VarLenUnicode::from_str(value).map_err(|_| Error::chain(path, format!("attribute '{name}' holds a NUL character")))?;
    if g.attr(name).is_ok() {
        g.delete_attr(name).map_err(|e| h5err(path, name, e))?;
    }
    g.new_attr::<VarLenUnicode>().shape(()).create(name).and_then(|a| a.write_scalar(&v)).map_err(|e| h5err(path, name, e))
}

/// Writes (replacing) an integer attribute.
pub(crate) fn set_i64_attr(path: &Path, g: &Group, name: &str, value: i64) -> Result<()> {
    match g.attr(name) {
        Ok(a) if a.read_scalar::<i64>().is_ok() => a.write_scalar(&value),
        Ok(_) => {
            g.delete_attr(name).map_err(|e| h5err(path, name, e))?;
            g.new_attr::<i64>().shape(()).create(name).and_then(|a| a.write_scalar(&value))
        }
        Err(_) => g.new_attr::<i64>().shape(()).create(name).and_then(|a| a.write_scalar(&value)),
    }
    .map_err(|e| h5err(path, name, e))
}

/// Reads chain files block by block, never holding more than one block.
pub struct ChainReader {
    path: PathBuf,
    // Kept open for the datasets' lifetime.
    _file: hdf5::File,
    header: Header,
    chain: Dataset,
    log_prob: Dataset,
    optional: [(Option<Dataset>, &'static str); 3],
}

impl ChainReader {
    /// Opens a chain file and reads its header; checks that the datasets
    /// agree with the attributes.
    ///
    /// # Errors
    /// Missing file, not HDF5, no `mcmc` group, missing dataset or
    /// attribute, inconsistent shapes.
    pub fn open(path: &Path) -> Result<Self> {
        let file = open_file(path, false)?;
        let g = open_group(path, &file)?;
        let walkers = required_usize(path, &g, "nwalkers")?;
        let dim = required_usize(path, &g, "ndim")?;
        let iterations = required_usize(path, &g, "iteration")?;
        let chain = dataset(path, &g, "chain")?;
        let log_prob = dataset(path, &g, "log_prob")?;
        let shape = chain.shape();
        if shape.len() != 3 || shape[1] != walkers || shape[2] != dim {
            return Err(Error::chain(path, format!("dataset 'chain' has shape {shape:?} but the attributes say {walkers} walkers x {dim} parameters")));
        }
        if shape[0] < iterations {
            return Err(Error::chain(path, format!("attribute 'iteration' says {iterations} rows but dataset 'chain' holds only {}: the file is truncated", shape[0])));
        }
        let check2 = |ds: &Dataset, name: &str| -> Result<()> {
            let s = ds.shape();
            if s.len() != 2 || s[1] != walkers || s[0] < iterations {
                return Err(Error::chain(path, format!("dataset '{name}' has shape {s:?}, expected ({iterations} or more, {walkers})")));
            }
            Ok(())
        };
        check2(&log_prob, "log_prob")?;
        let accepted_ds = dataset(path, &g, "accepted")?;
        let accepted: Array1<f64> = accepted_ds.read_1d().map_err(|e| h5err(path, "reading 'accepted'", e))?;
        if accepted.len() != walkers {
            return Err(Error::chain(path, format!("dataset 'accepted' has {} entries for {walkers} walkers", accepted.len())));
        }
        let names = match string_list_attr(&g, "param_names") {
            Some(n) if n.len() == dim => n,
            Some(n) => return Err(Error::chain(path, format!("attribute 'param_names' has {} names for {dim} parameters", n.len()))),
            None => seqcal_api::ParamSpace::default_names(dim),
        };
        let bounds = match g.attr("bounds") {
            Ok(a) => {
                let b: Array2<f64> = a.read_2d().map_err(|e| h5err(path, "reading attribute 'bounds'", e))?;
                if b.dim() != (dim, 2) {
                    return Err(Error::chain(path, format!("attribute 'bounds' has shape {:?}, expected ({dim}, 2)", b.dim())));
                }
                b.rows().into_iter().map(|r| (r[0], r[1])).collect()
            }
            Err(_) => vec![(f64::NEG_INFINITY, f64::INFINITY); dim],
        };
        seqcal_api::ParamSpace::new(names.clone(), bounds.clone()).map_err(|e| Error::chain(path, e.to_string()))?;
        let mut optional = [(None, "log_prior"), (None, "log_likelihood"), (None, "weights")];
        for (slot, name) in optional.iter_mut() {
            if g.link_exists(name) {
                let ds = dataset(path, &g, name)?;
                check2(&ds, name)?;
                *slot = Some(ds);
            }
        }
        let columns = Columns {
            log_prob: attr_i64(path, &g, "has_log_prob")?.unwrap_or(1) != 0,
            log_prior: optional[0].0.is_some(),
            log_likelihood: optional[1].0.is_some(),
            weights: optional[2].0.is_some(),
        };
        let mut attrs = BTreeMap::new();
        for name in g.attr_names().map_err(|e| h5err(path, "listing attributes", e))? {
            if RESERVED.contains(&name.as_str()) || name.starts_with("random_state_") {
                continue;
            }
            if let Some(v) = attr_string(&g, &name) {
                attrs.insert(name, v);
            }
        }
        let complete = attr_i64(path, &g, "complete")?.map(|c| c != 0);
        let header = Header { names, bounds, walkers, iterations, columns, accepted, attrs, complete, writer: attr_string(&g, "version") };
        Ok(ChainReader { path: path.to_path_buf(), _file: file, header, chain, log_prob, optional })
    }

    /// The sampler state stored at the last flush (for `--resume`), if any.
    ///
    /// # Errors
    /// A state group that cannot be read.
    pub fn sampler_state(&self) -> Result<Option<super::SamplerState>> {
        let g = open_group(&self.path, &self._file)?;
        super::writer::read_state(&self.path, &g)
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
    /// A read failure (corrupt or truncated file) or an invalid value.
    pub fn read_rows(&self, start: usize, end: usize) -> Result<RowBlock> {
        let end = end.min(self.header.iterations);
        let start = start.min(end);
        let p = &self.path;
        let draws: Array3<f64> = self.chain.read_slice(s![start..end, .., ..]).map_err(|e| h5err(p, "reading dataset 'chain'", e))?;
        check_finite_draws(p, &draws, start, &self.header.names)?;
        let read2 = |ds: &Dataset, name: &str| -> Result<Array2<f64>> {
            let a: Array2<f64> = ds.read_slice(s![start..end, ..]).map_err(|e| h5err(p, &format!("reading dataset '{name}'"), e))?;
            check_per_draw(p, name, a.view(), start)?;
            Ok(a)
        };
        let log_prob = if self.header.columns.log_prob { Some(read2(&self.log_prob, "log_prob")?) } else { None };
        let mut opt = self.optional.iter().map(|(ds, name)| ds.as_ref().map(|d| read2(d, name)).transpose());
        let (log_prior, log_likelihood, weights) = (opt.next().unwrap_or(Ok(None))?, opt.next().unwrap_or(Ok(None))?, opt.next().unwrap_or(Ok(None))?);
        Ok(RowBlock { start, draws, log_prob, log_prior, log_likelihood, weights })
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
        Ok(Chain {
            names: h.names.clone(),
            bounds: h.bounds.clone(),
            draws: b.draws,
            log_prob: b.log_prob,
            log_prior: b.log_prior,
            log_likelihood: b.log_likelihood,
            weights: b.weights,
            accepted: h.accepted.clone(),
            attrs: h.attrs.clone(),
        })
    }
}

/// Reads a whole chain file (emcee's or seqcal's).
///
/// # Errors
/// See [`ChainReader::open`] and [`ChainReader::read_rows`].
pub fn read_hdf5(path: &Path) -> Result<Chain> {
    ChainReader::open(path)?.read_all()
}

/// Writes a chain file in one go, through a temporary file renamed into
/// place: an interrupted write leaves no file that looks complete.
///
/// # Errors
/// An invalid chain or a failed write.
pub fn write_hdf5(chain: &Chain, path: &Path) -> Result<()> {
    chain.validate(path)?;
    super::write_atomically(path, |tmp| {
        let layout = super::ChainLayout::new(chain.names.clone(), chain.walkers()).bounds(chain.bounds.clone()).columns(chain.columns()).attrs(chain.attrs.clone());
        let mut w = super::ChainWriter::create(tmp, &layout, chain.iterations())?;
        w.write_block(chain)?;
        w.finish()
    })
}

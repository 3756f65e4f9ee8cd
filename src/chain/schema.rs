//! The HDF5 chain file's schema: emcee's `HDFBackend` layout plus seqcal's
//! additions, and the attribute and dataset access the reader
//! ([`ChainReader`](super::ChainReader)) and the writer
//! ([`ChainWriter`](super::ChainWriter)) share.
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
//! | `sampler_state` | group | seqcal | the sampler's state at the last flush, for `--resume` |
//! | `burn` | attr, string | seqcal | burn-in in iterations: commands that read the draws drop it unless told `--discard N` |
//! | any other attr | string | seqcal | provenance (`seed`, `sampler`, `prior`, `seqcal_version`, ...) |
//!
//! The full schema, with examples in Python, is in `chains/README.md`.

use std::path::Path;
use std::str::FromStr;

use hdf5::types::{VarLenAscii, VarLenUnicode};
use hdf5::{Dataset, Group, IndexType, IterationOrder};

use crate::{Error, Result};

/// Name of the group holding the chain (emcee's default).
pub const GROUP: &str = "mcmc";

/// Dataset of the draws.
pub(crate) const CHAIN: &str = "chain";

/// Dataset of the accepted proposals per walker.
pub(crate) const ACCEPTED: &str = "accepted";

/// Attribute of the burn-in (iterations, as a decimal string) that commands
/// reading the draws drop by default.
pub const BURN: &str = "burn";

/// Group holding the sampler's state for `--resume`.
pub(crate) const STATE_GROUP: &str = "sampler_state";

/// Attributes with a fixed meaning; all others are provenance strings.
pub(crate) const RESERVED: &[&str] = &["version", "nwalkers", "ndim", "iteration", "has_blobs", "param_names", "bounds", "has_log_prob", "complete"];

pub(crate) fn h5err(path: &Path, what: &str, e: hdf5::Error) -> Error {
    Error::Hdf5 { path: path.to_path_buf(), what: what.to_owned(), source: e }
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
            Err(e) => return Err(h5err(path, "not a readable HDF5 file (truncated, corrupt, or another format)", e)),
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

/// The names of `g`'s attributes. libhdf5 1.10 can crash (not fail) while
/// iterating over the attributes of an object whose attribute messages are
/// damaged, and the hdf5 crate's iteration callback can panic on what such a
/// message holds. So a name that is not there is looked up first (which
/// decodes every message and fails cleanly on a damaged one), and the names
/// are then read one attribute at a time, by index.
pub(crate) fn attr_names(path: &Path, g: &Group) -> Result<Vec<String>> {
    let damaged = || Error::chain(path, format!("cannot read the attributes of group '{GROUP}': the file is damaged"));
    if let Err(e) = g.attr("\u{1}seqcal-probe") {
        if !e.to_string().contains("can't locate attribute") {
            return Err(damaged());
        }
    }
    let n = g.loc_info().map_err(|_| damaged())?.num_attrs;
    (0..n as u64).map(|i| g.attr_by_index(IndexType::Name, IterationOrder::Increasing, i).map(|a| a.name()).map_err(|_| damaged())).collect()
}

pub(crate) fn attr_i64(path: &Path, g: &Group, name: &str) -> Result<Option<i64>> {
    if !attr_names(path, g)?.iter().any(|n| n == name) {
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

pub(crate) fn required_usize(path: &Path, g: &Group, name: &str) -> Result<usize> {
    let v = attr_i64(path, g, name)?.ok_or_else(|| Error::chain(path, format!("group '{GROUP}' has no attribute '{name}'")))?;
    usize::try_from(v).map_err(|_| Error::chain(path, format!("attribute '{name}' is {v}, expected a count >= 0")))
}

/// Reads a string attribute however it was stored (h5py writes variable-length
/// UTF-8; older tools ASCII); numbers are turned into their decimal form.
pub(crate) fn attr_string(g: &Group, name: &str) -> Option<String> {
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

pub(crate) fn string_list_attr(g: &Group, name: &str) -> Option<Vec<String>> {
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

//! Chain files by extension: `.csv` as CSV, anything else as HDF5.

use std::path::Path;

use super::csv_io::{read_csv, write_csv};
use super::data::Chain;
use super::h5::read_hdf5;
use super::writer::write_hdf5;
use crate::Result;

/// Reads a chain by file extension: `.csv` as CSV, anything else as HDF5.
///
/// # Errors
/// See [`read_hdf5`] and [`read_csv`].
pub fn read_any(path: &Path) -> Result<Chain> {
    if is_csv(path) {
        read_csv(path)
    } else {
        read_hdf5(path)
    }
}

/// Writes a chain by file extension: `.csv` as CSV, anything else as HDF5.
///
/// # Errors
/// See [`write_hdf5`] and [`write_csv`].
pub fn write_any(chain: &Chain, path: &Path) -> Result<()> {
    if is_csv(path) {
        write_csv(chain, path)
    } else {
        write_hdf5(chain, path)
    }
}

/// True for a `.csv` extension (any case).
pub fn is_csv(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

//! Chains: the draws a sampler produced, and their files.
//!
//! A [`Chain`] holds draws as `iterations × walkers × parameters` with the
//! log posterior of each draw and, where known, its log prior, log
//! likelihood and importance weight. Files:
//!
//! - HDF5 ([`hdf5`](self::h5)): the layout of emcee's `HDFBackend` plus
//!   seqcal's additions (parameter names, bounds, provenance), read and
//!   written in both directions; documented in `chains/README.md`.
//! - [`ChainWriter`]: appends rows every N iterations, so that a killed run
//!   leaves a readable file; [`SamplerState`] is stored with the rows for
//!   `--resume`.
//! - [`ChainReader`]: reads blocks of rows, for statistics over chains larger
//!   than memory ([`Summary`]).
//! - CSV import and export ([`read_csv`], [`write_csv`]).
//! - [`PerDraw`]: the one container of per-draw values (log posterior, log
//!   prior, log likelihood, weights) every part of the chain code shares.
//! - [`OutputLock`]: one writer per output file or runs folder.
//!
//! The file layout is in [`schema`]; the reader (`h5`) and the writer
//! (`writer`) both build on it and on [`state`](SamplerState).

mod atomic;
mod columns;
mod csv_io;
mod data;
mod files;
mod h5;
mod lock;
pub mod schema;
mod state;
mod stats;
mod weights;
mod writer;

pub(crate) use atomic::{not_regular, write_atomically};
pub use columns::{Column, Columns, PerDraw};
pub use csv_io::{read_csv, write_csv};
pub use data::Chain;
pub use files::{is_csv, read_any, write_any};
pub use h5::{read_hdf5, ChainReader, Header, RowBlock};
pub use lock::OutputLock;
pub use schema::GROUP;
pub use state::SamplerState;
pub use stats::{ParamSummary, Summary};
pub use weights::{add_weights, multiply_weights};
pub use writer::{write_hdf5, ChainLayout, ChainWriter, Step};

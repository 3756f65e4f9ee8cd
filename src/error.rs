//! seqcal's error type: every variant names the file (or input) and the
//! problem, in words a user can act on.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Errors of the seqcal library and CLI.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A configuration file (TOML) is malformed or invalid.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A chain file is unreadable, incomplete or holds invalid values.
    #[error("{}: {message}", path.display())]
    Chain {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A CSV table is malformed.
    #[error("{}: line {line}: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// Invalid arguments or settings.
    #[error("{0}")]
    Usage(String),
    /// Stopped by SIGINT or SIGTERM; the message says what was saved.
    #[error("interrupted: {0}")]
    Interrupted(String),
    /// A prior could not be built.
    #[error(transparent)]
    Prior(#[from] seqcal_api::PriorError),
    /// An emulator could not be trained, loaded or evaluated.
    #[error(transparent)]
    Emulator(#[from] seqcal_emulators::EmuError),
    /// The log density a sampler explores failed for good (an external
    /// model crashed or broke its protocol, ...).
    #[error("the log density failed: {0}")]
    Density(#[source] seqcal_api::DensityError),
    /// An external model (a `cmd:` target) failed: it could not be started,
    /// broke the protocol, crashed, or did not exit when asked to.
    #[error("{message}")]
    Model {
        /// The command that runs the model.
        command: String,
        /// What happened and what to do, naming the command and quoting the
        /// end of the model's standard error.
        message: String,
    },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io { path: path.to_path_buf(), source }
    }
    /// A configuration error in `path`.
    pub fn config(path: &Path, message: impl Into<String>) -> Self {
        Error::Config { path: path.to_path_buf(), message: message.into() }
    }
    /// A chain-file error in `path`.
    pub fn chain(path: &Path, message: impl Into<String>) -> Self {
        Error::Chain { path: path.to_path_buf(), message: message.into() }
    }
}

/// Result with seqcal's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

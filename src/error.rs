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
    /// Invalid arguments or settings a user typed (a flag, a value of a
    /// settings file). Failures of files, models and computations have
    /// variants of their own.
    #[error("{0}")]
    Usage(String),
    /// Stopped by SIGINT or SIGTERM; the message says what was saved.
    #[error("interrupted: {0}")]
    Interrupted(String),
    /// A prior could not be built.
    #[error(transparent)]
    Prior(#[from] seqcal_api::PriorError),
    /// An emulator could not be trained, loaded or evaluated.
    #[error("{}{source}", prefix(context))]
    Emulator {
        /// What seqcal was doing ("data set \"A\": training the emulator on outputs.csv").
        context: Option<String>,
        /// The emulator's error.
        source: seqcal_emulators::EmuError,
    },
    /// The log density a sampler explores failed for good (an external
    /// model crashed or broke its protocol, ...).
    #[error("the log density failed: {0}")]
    Density(#[source] seqcal_api::DensityError),
    /// An emulator's prediction failed at some points.
    #[error("{}{source}", prefix(context))]
    Prediction {
        /// Where the points come from.
        context: Option<String>,
        /// The emulator's error.
        source: seqcal_api::EmulatorError,
    },
    /// An HDF5 file could not be created, read or written.
    #[error("{}: {what}: {source}", path.display())]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// What seqcal was doing ("creating the file", "reading the draws").
        what: String,
        /// HDF5's error.
        source: hdf5::Error,
    },
    /// A JSON document could not be written or parsed.
    #[error("{}{source}", prefix(context))]
    Json {
        /// What the document is, when that is not obvious.
        context: Option<String>,
        /// serde_json's error.
        source: serde_json::Error,
    },
    /// A flow prior could not be trained, saved, loaded or evaluated.
    #[error("{}{source}", prefix(context))]
    Flow {
        /// What seqcal was doing with the flow.
        context: Option<String>,
        /// The flow's error.
        source: seqcal_flow::FlowError,
    },
    /// An input file or data set (a table, posteriordb data) holds values
    /// seqcal cannot use.
    #[error("{input}: {message}")]
    Data {
        /// The file or data set.
        input: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// An array did not have the shape a computation needs: a bug in seqcal.
    #[error("internal error: {0}")]
    Shape(#[from] ndarray::ShapeError),
    /// A figure could not be drawn.
    #[error("{}: drawing the {what} failed: {message}", path.display())]
    Plot {
        /// The image file.
        path: PathBuf,
        /// The figure ("corner plot").
        what: String,
        /// The drawing backend's error.
        message: String,
    },
    /// A size would need more memory than is available; the message says
    /// how much, and what to make smaller.
    #[error("{0}")]
    Memory(String),
    /// An output is locked by another seqcal process.
    #[error("{message}")]
    Locked {
        /// The output being written.
        path: PathBuf,
        /// The output, who holds it and what to do.
        message: String,
    },
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

/// `"context: "`, or nothing without a context.
fn prefix(context: &Option<String>) -> String {
    context.as_ref().map(|c| format!("{c}: ")).unwrap_or_default()
}

impl From<seqcal_emulators::EmuError> for Error {
    fn from(source: seqcal_emulators::EmuError) -> Self {
        Error::Emulator { context: None, source }
    }
}

impl From<seqcal_flow::FlowError> for Error {
    fn from(source: seqcal_flow::FlowError) -> Self {
        Error::Flow { context: None, source }
    }
}

impl From<serde_json::Error> for Error {
    fn from(source: serde_json::Error) -> Self {
        Error::Json { context: None, source }
    }
}

impl From<seqcal_api::SpaceError> for Error {
    fn from(e: seqcal_api::SpaceError) -> Self {
        Error::Prior(e.into())
    }
}

impl From<seqcal_api::MemoryError> for Error {
    fn from(e: seqcal_api::MemoryError) -> Self {
        Error::Memory(e.to_string())
    }
}

/// Errors of seqcal's parts (emulators, flows, JSON) that take a context:
/// what seqcal was doing when they happened.
pub trait InContext: Sized {
    /// This error as seqcal's [`Error`], with `context` before its message.
    fn in_context(self, context: String) -> Error;
}

impl InContext for seqcal_emulators::EmuError {
    fn in_context(self, context: String) -> Error {
        Error::Emulator { context: Some(context), source: self }
    }
}

impl InContext for seqcal_api::EmulatorError {
    fn in_context(self, context: String) -> Error {
        Error::Prediction { context: Some(context), source: self }
    }
}

impl InContext for seqcal_flow::FlowError {
    fn in_context(self, context: String) -> Error {
        Error::Flow { context: Some(context), source: self }
    }
}

impl InContext for serde_json::Error {
    fn in_context(self, context: String) -> Error {
        Error::Json { context: Some(context), source: self }
    }
}

/// [`InContext::in_context`] on the error of a `Result`.
pub trait ResultExt<T> {
    /// The error, if any, with the context `context()` computes.
    ///
    /// # Errors
    /// This result's error, in context.
    fn context_with(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: InContext> ResultExt<T> for std::result::Result<T, E> {
    fn context_with(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| e.in_context(context()))
    }
}

/// Result with seqcal's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

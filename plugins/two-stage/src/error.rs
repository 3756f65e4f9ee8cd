//! The crate's error type.

use thiserror::Error;

/// Why building a composite target, fitting a stage, or saving or loading a
/// result failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TwoStageError {
    /// Invalid settings, terms or data; the message says what to change.
    #[error("{0}")]
    Invalid(String),
    /// A flow could not be built, trained, saved or loaded.
    #[error(transparent)]
    Flow(#[from] seqcal_flow::FlowError),
    /// An error inside candle.
    #[error("two-stage computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl TwoStageError {
    /// Shorthand for [`TwoStageError::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        TwoStageError::Invalid(message.into())
    }
}

/// Result with [`TwoStageError`].
pub type Result<T> = std::result::Result<T, TwoStageError>;

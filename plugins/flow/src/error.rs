//! The crate's error type.

use thiserror::Error;

/// Why building, training, saving or loading a flow failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FlowError {
    /// An error inside candle (shape mismatch, I/O of safetensors...).
    #[error("flow computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// Invalid settings or data; the message says what to change.
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The settings would need more memory than is available.
    #[error(transparent)]
    Memory(#[from] seqcal_api::MemoryError),
    /// A prior table or chain the plugin was given is not usable.
    #[error(transparent)]
    Prior(#[from] seqcal_api::PriorError),
    /// The JSON sidecar is malformed, or does not match its weights.
    #[error("{path}: bad flow sidecar: {message}")]
    Sidecar {
        /// The sidecar file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl FlowError {
    /// Shorthand for [`FlowError::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        FlowError::Invalid(message.into())
    }
}

/// Result with [`FlowError`].
pub type Result<T> = std::result::Result<T, FlowError>;

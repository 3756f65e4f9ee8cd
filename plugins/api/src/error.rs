//! Error types of the contracts. Each message says what went wrong and, where
//! it can, what to do about it.

use thiserror::Error;

/// An invalid parameter space.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum SpaceError {
    /// No parameters at all.
    #[error("the parameter space has no parameters")]
    Empty,
    /// A parameter name is empty or repeated.
    #[error("parameter name {0:?} is empty or used twice: give every parameter a unique name")]
    BadName(String),
    /// Names and bounds disagree in length.
    #[error("{names} parameter names but {bounds} bounds: give one [lower, upper] pair per parameter")]
    LengthMismatch {
        /// Number of names.
        names: usize,
        /// Number of bounds.
        bounds: usize,
    },
    /// A bound is NaN or its lower end is not below its upper end.
    #[error("parameter {name:?} has bounds [{lower}, {upper}]: the lower bound must be below the upper bound and neither may be NaN")]
    BadBounds {
        /// Parameter name.
        name: String,
        /// Lower bound as given.
        lower: f64,
        /// Upper bound as given.
        upper: f64,
    },
}

/// Why a log density could not be evaluated at a point.
///
/// Samplers treat a [`Reject`](DensityError::Reject) as "this point has zero
/// posterior mass": the proposal is rejected and counted, and the run goes on.
/// A [`Fatal`](DensityError::Fatal) error stops the run; whatever was stored so
/// far stays valid.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum DensityError {
    /// This point cannot be evaluated (non-finite prediction, covariance not
    /// positive definite, ...); reject it and continue.
    #[error("point rejected: {0}")]
    Reject(String),
    /// The density cannot be evaluated at all any more (external process died,
    /// wrong dimension, ...); stop the run.
    #[error("{0}")]
    Fatal(String),
}

impl DensityError {
    /// True when the sampler may reject the point and continue.
    pub fn is_recoverable(&self) -> bool {
        matches!(self, DensityError::Reject(_))
    }
}

/// Failure of an emulator prediction.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The input has the wrong number of columns.
    #[error("emulator expects {expected} inputs per point but got {got}")]
    InputDim {
        /// Columns the emulator was trained on.
        expected: usize,
        /// Columns given.
        got: usize,
    },
    /// The prediction is not usable at some point (non-finite values).
    #[error("emulator prediction failed: {0}")]
    Prediction(String),
}

/// Failure to build a prior from its specification.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum PriorError {
    /// No plugin is registered under this kind.
    #[error("unknown prior kind {kind:?}; known kinds: {}", known.join(", "))]
    UnknownKind {
        /// The kind asked for.
        kind: String,
        /// The kinds the registry knows.
        known: Vec<String>,
    },
    /// The specification is invalid (missing key, wrong type, wrong length...).
    #[error("prior {kind:?}: {message}")]
    Spec {
        /// The prior kind being built.
        kind: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The parameter space implied by the specification is invalid.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// A chain the prior is built from could not be provided.
    #[error(transparent)]
    Chain(#[from] crate::ChainError),
    /// Building the prior would need more memory than is available.
    #[error(transparent)]
    Memory(#[from] crate::MemoryError),
}

impl PriorError {
    /// Shorthand for a [`PriorError::Spec`].
    pub fn spec(kind: impl Into<String>, message: impl Into<String>) -> Self {
        PriorError::Spec { kind: kind.into(), message: message.into() }
    }
}

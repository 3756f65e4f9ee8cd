//! # seqcal-emulators: Gaussian-process emulators of model outputs
//!
//! A few hundred model runs at design points stand in for an expensive model
//! everywhere in the prior box. The pipeline ([`GpEmulator::train`]): inputs
//! scaled to the unit box, outputs standardized and reduced by PCA
//! ([`Components`]: a fixed number or an explained-variance fraction), one
//! Gaussian process per principal component with an ARD kernel ([`Kernel`]:
//! squared exponential, Matérn 3/2 or 5/2, one length scale per input) plus
//! white noise, hyperparameters maximizing the log marginal likelihood
//! (analytic gradients, box-bounded L-BFGS in log space, seeded restarts), and
//! the predictive mean and full covariance mapped back to observable space
//! (component variances through the loadings plus the covariance the dropped
//! components leave). Known errors of the model runs can enter each
//! component's GP as per-run noise ([`GpEmulator::train_with_errors`]).
//! Prediction is batched and parallel (rayon) over blocks of points and
//! components, with the same results for any thread count; a trained
//! emulator saves to and loads from JSON; [`validate`] scores it on held-out
//! runs or by k-fold.
//!
//! ## Speed
//!
//! The fit's linear algebra (Cholesky factor, triangular inverse, `K⁻¹`) is
//! faer's, single-threaded per component (faster than the blocked routines on
//! `gemm` this crate had: see the private `linalg` module). Prediction
//! evaluates kernel rows with a vectorized `exp` of its own and computes the
//! predictive variances of a block of points as one product with the
//! triangular `L⁻ᵀ`, skipping its zeros: `n²/2` multiply-adds per point and
//! component, the floor for an exact GP variance.
//!
//! ## Why not friedrich
//!
//! The plan was to build on friedrich 0.6. It has no ARD kernel (every
//! built-in kernel has one length scale), no multi-output model, fits by a
//! generic Adam loop, predicts one thread at a time, and links nalgebra 0.34
//! while the workspace uses 0.35. Each of these would have needed a layer of
//! its own around it; the GP itself is a few hundred lines on nalgebra 0.35
//! and faer, so this crate implements it directly: [`kernel`] and the
//! private `gp`, `linalg`, `simd` and `optim` (L-BFGS with box bounds) modules.
//!
//! # Reference
//! C. E. Rasmussen and C. K. I. Williams, *Gaussian Processes for Machine
//! Learning*, MIT Press 2006.
#![warn(missing_docs)]

mod emulator;
mod gp;
pub mod kernel;
mod linalg;
mod optim;
mod pca;
mod settings;
mod simd;
pub mod synthetic;
pub mod validate;

pub use emulator::{ComponentInfo, GpEmulator};
pub use kernel::{Kernel, UnknownKernel};
pub use pca::Components;
pub use settings::{EmulatorSettings, TrainSettings, DEFAULT_EXPLAINED, DEFAULT_RESTARTS, MAX_RESTARTS};
pub use validate::Validation;

/// Errors of the emulator crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmuError {
    /// Inputs of the wrong shape, non-finite values or inconsistent bounds.
    #[error("{0}")]
    Data(String),
    /// Invalid training settings.
    #[error("{0}")]
    Settings(String),
    /// Fitting failed.
    #[error("emulator fit failed: {0}")]
    Fit(String),
    /// A saved emulator could not be read.
    #[error("emulator file: {0}")]
    Format(String),
}

#[cfg(test)]
mod tests;

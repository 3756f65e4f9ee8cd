//! The emulator contract.

use ndarray::{Array2, Array3, ArrayView2};

use crate::EmulatorError;

/// Predictive distribution of a model's outputs at a batch of inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Predictive mean, `n_points × n_outputs`.
    pub mean: Array2<f64>,
    /// Full predictive covariance of the outputs at each point,
    /// `n_points × n_outputs × n_outputs`.
    pub cov: Array3<f64>,
}

/// A surrogate of an expensive model: inputs (parameters) to a vector of
/// outputs (observables), with predictive uncertainty.
pub trait Emulator: Send + Sync {
    /// Number of inputs (model parameters).
    fn input_dim(&self) -> usize;
    /// Number of outputs (observables).
    fn output_dim(&self) -> usize;
    /// Mean and full predictive covariance of the outputs at each row of `x`.
    ///
    /// # Errors
    /// Wrong input width, or a prediction that is not finite.
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, EmulatorError>;
}

/// An emulator shows its input and output dimensions.
impl std::fmt::Debug for dyn Emulator + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator").field("input_dim", &self.input_dim()).field("output_dim", &self.output_dim()).finish_non_exhaustive()
    }
}

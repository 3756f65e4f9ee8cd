//! The contract of every flow layer.

use candle_core::Tensor;

use crate::error::Result;

/// One invertible layer on candle tensors: a batch `(n, d)` forward (base →
/// data) or inverse (data → base), with `log|det J|` of that direction per row.
/// Built from candle ops (or ops with their own backward pass), so every layer
/// is differentiable with respect to its input and its parameters.
pub trait Layer: Send + Sync {
    /// Base → data direction: `(y, log|det ∂y/∂x|)`, the second of shape `(n,)`.
    ///
    /// # Errors
    /// Shape mismatch inside candle.
    fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)>;
    /// Data → base direction: `(x, log|det ∂x/∂y|)`.
    ///
    /// # Errors
    /// Shape mismatch inside candle.
    fn inverse(&self, y: &Tensor) -> Result<(Tensor, Tensor)>;
}

/// A layer shows no more than that it is one.
impl std::fmt::Debug for dyn Layer + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layer").finish_non_exhaustive()
    }
}

//! What the coupling kernels work on: the direction, the network and mask as
//! borrowed slices, the unit of parallel work, and what a forward pass keeps
//! for its backward pass.

use seqcal_vmath::Real;

use crate::spec::Activation;

/// Rows per block: the unit of parallel work. Fixed, so that every row's result is
/// computed the same way whatever the number of threads.
pub const BLOCK: usize = 128;

/// Which way a coupling is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Base → data: `y = x·e^s + t` on the transformed coordinates, `log|det| = Σ s`.
    Forward,
    /// Data → base: `y = (x - t)·e^{-s}`, `log|det| = -Σ s`.
    Inverse,
}

/// A coupling's network and mask, borrowing the parameters as one flat slice:
/// for each linear map `j`, its weights `(in, out)` row-major, then its bias.
#[derive(Debug, Clone, Copy)]
pub struct CouplingView<'a, T> {
    /// Layer widths `d, h_1, ..., h_D, 2d`.
    pub sizes: &'a [usize],
    /// Flat parameters.
    pub theta: &'a [T],
    /// True on the conditioning (pass-through) coordinates.
    pub mask: &'a [bool],
    /// Soft clamp of the log-scales.
    pub clamp: f64,
    /// Hidden nonlinearity.
    pub act: Activation,
}

/// Number of parameters of a network with these widths.
pub fn n_params(sizes: &[usize]) -> usize {
    sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
}

impl<'a, T: Real> CouplingView<'a, T> {
    pub(super) fn dim(&self) -> usize {
        self.mask.len()
    }

    /// Offsets of (weights, bias) of linear map `j` in `theta`.
    pub(super) fn offsets(&self) -> Vec<(usize, usize)> {
        let mut off = 0;
        self.sizes
            .windows(2)
            .map(|w| {
                let o = (off, off + w[0] * w[1]);
                off += w[0] * w[1] + w[1];
                o
            })
            .collect()
    }
}

/// What the forward pass of a block keeps for its backward pass.
#[derive(Debug, Default)]
pub struct Saved<T> {
    /// Input of each linear map (`h[0]` = masked input), `rows × sizes[j]`.
    pub(super) h: Vec<Vec<T>>,
    /// Pre-activations of the hidden layers (only for relu and silu).
    pub(super) pre: Vec<Vec<T>>,
    /// `tanh(raw / c)` of the log-scales, `rows × d`.
    pub(super) u: Vec<T>,
    /// `e^{±s}` (the factor applied to the transformed coordinates), `rows × d`.
    pub(super) es: Vec<T>,
    /// The shift `t`, `rows × d`.
    pub(super) t: Vec<T>,
    /// The output `y`, `rows × d`.
    pub(super) y: Vec<T>,
}

//! Plain-Rust kernels of the RealNVP affine coupling, shared by the fused
//! training op ([`crate::fused`], f32) and the f64 evaluator ([`crate::fast`]):
//! the coupling network's forward pass on a block of rows with the activations
//! kept for the backward pass ([`coupling_block`]), and that backward pass
//! ([`coupling_block_backward`]).
//!
//! Matrix products go through the `gemm` crate (single-threaded: parallelism is
//! over fixed blocks of rows, so results do not depend on the number of threads).
//! `exp` and `tanh` are the branch-free forms of [`seqcal_vmath`], which the
//! compiler vectorizes; each kernel is compiled twice, for the baseline CPU and
//! for AVX2 and FMA, and [`seqcal_vmath::dispatch!`] picks one at run time (both
//! give the same bits).
//!
//! - `view.rs`: [`Direction`], [`CouplingView`], [`Saved`], [`BLOCK`];
//! - `gemm.rs`: the matrix products (their unsafe call's preconditions asserted);
//! - `forward.rs`, `backward.rs`: the two passes.
//!
//! # Reference
//! Dinh, Sohl-Dickstein & Bengio (2017), *Density estimation using Real NVP*, ICLR.

mod backward;
mod forward;
mod gemm;
mod view;

pub(crate) use gemm::matmul;
pub use seqcal_vmath::Real;
pub use view::{n_params, CouplingView, Direction, Saved, BLOCK};

use backward::coupling_block_backward_impl;
use forward::coupling_block_impl;

seqcal_vmath::dispatch! {
    /// The coupling on `rows` rows of `x` (row-major, `d` columns): writes `y` into
    /// `out` with row stride `out_stride` (columns `0..d`) and `log|det|` into column
    /// `d` when `out_stride > d`, or into `ld` when given. Returns what the backward
    /// pass needs when `keep`.
    pub fn coupling_block<T: Real>(net: &CouplingView<'_, T>, dir: Direction, x: &[T], rows: usize, out: &mut [T], out_stride: usize, ld: Option<&mut [T]>, keep: bool) -> Saved<T> => coupling_block_impl;
}

seqcal_vmath::dispatch! {
    /// Backward pass of [`coupling_block`] (run with `keep`): given the gradients of
    /// the loss with respect to `y` (`g`, row stride `g_stride`, columns `0..d`) and
    /// to `log|det|` (column `d` of the same rows), writes the gradient with respect
    /// to `x` into `gx` (`rows × d`) and returns the gradient with respect to the
    /// flat parameters.
    pub fn coupling_block_backward<T: Real>(net: &CouplingView<'_, T>, dir: Direction, sv: &Saved<T>, rows: usize, g: &[T], g_stride: usize, gx: &mut [T]) -> Vec<T> => coupling_block_backward_impl;
}

//! The three worked examples of two-stage flows, each with its data, its
//! software pools (the sample-based components), the text of its spec file
//! and its exact answer, so that TSNF and the TSFB baseline can be checked
//! against the truth.
//!
//! - [`joint`]: a 3-D joint density rebuilt from two 2-D sample sets that
//!   share `x` (`π(x, y, z) = f(x, y) f(x, z) / f(x)`, `f(x) ∝ exp(-x⁴)`);
//!   truth by 1-D quadrature over `x`.
//! - [`hierarchical`]: a normal hierarchical model whose group likelihoods
//!   are known only through software samples drawn under a software prior
//!   that must be divided out; the posterior is Gaussian and known exactly.
//! - [`dwarfs`]: a 151-dimensional analogue of a white-dwarf age study
//!   (30 stars with 5 parameters each plus the population mean age), whose
//!   per-star software densities are non-Gaussian yet known, so the exact
//!   composite can be sampled too.

pub mod dwarfs;
pub mod floor;
pub mod hierarchical;
pub mod joint;
mod moments;

pub use moments::{moment_errors, weighted_moment_errors, write_csv, MomentErrors, Moments};

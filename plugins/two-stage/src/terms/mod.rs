//! The analytic terms of a composite target: each a [`DiffLogDensity`] on
//! its sub-vector, normalized where it can be, `-inf` outside its support.
//!
//! - [`Normal`]: independent normals, `Σ_j log N(x_j | mean_j, sd_j²)`;
//! - [`LogNormal`]: independent log-normals, `log X_j ~ N(mu_j, sigma_j²)`;
//! - [`Uniform`]: the box `(lower, upper)`;
//! - [`Flat`]: the improper constant density (log 0);
//! - [`HierarchicalNormal`]: on `(θ_1, ..., θ_k, γ)`, `Σ_i log N(θ_i | γ, τ²)`,
//!   the hierarchical link of a random-effects model.
//!
//! [`term_from_table`] builds any of them from a TOML table, so that a
//! composite-target file and a Rust user share one library; a user's own term
//! is any type implementing [`DiffLogDensity`].

mod library;
pub(crate) mod ops;
mod table;

pub use library::{Flat, HierarchicalNormal, LogNormal, Normal, Uniform};
pub use table::{term_from_table, TERM_KINDS};

pub use seqcal_flow::density::DiffLogDensity;

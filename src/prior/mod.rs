//! Built-in priors and the plugin registry.
//!
//! | kind | prior |
//! |---|---|
//! | `uniform` | [`UniformBox`] |
//! | `normal` | [`Normal`] |
//! | `truncated_normal` | [`TruncatedNormal`] |
//! | `product` | [`Product`] of independent blocks |
//! | `mixture` | [`DefensiveMixture`] `(1-ε)·P + ε·Q` |
//! | `flow` | [`seqcal_flow::FlowPrior`], a normalizing flow trained on a chain ([`seqcal_flow::FlowPlugin`]) |
//!
//! A prior file is a TOML table with a `kind` key and the kind's settings;
//! [`load_prior_file`] reads one. Each built-in kind parses its table into its
//! own serde type ([`seqcal_api::parse_table`]) and checks it once into the
//! prior (`UniformOptions::check`, ...). Plugins read chains only through a
//! [`seqcal_api::ChainSource`]; [`ChainFiles`] is seqcal's, over its HDF5 and
//! CSV chain files.

mod chains;
mod mixture;
mod normal;
mod product;
mod registry;
mod spec;
mod uniform;

use std::path::Path;

pub use chains::{chain_draws, ChainFiles};
pub use mixture::{MixtureOptions, MixturePlugin};
pub use normal::{Normal, NormalOptions, NormalPlugin, TruncatedNormal, TruncatedNormalOptions, TruncatedNormalPlugin};
pub use product::{Product, ProductOptions, ProductPlugin};
pub use registry::PriorRegistry;
pub use seqcal_api::DefensiveMixture;
pub use seqcal_flow::FlowPlugin;
pub use uniform::{UniformBox, UniformOptions, UniformPlugin};

use crate::Error;
use seqcal_api::Prior;

/// Reads a prior from a TOML file: either the prior's table at the top level
/// or under a `[prior]` table. Relative paths inside resolve against the
/// file's folder.
///
/// # Errors
/// Unreadable or malformed file, or an invalid prior; the message names the file.
pub fn load_prior_file(path: &Path, registry: &PriorRegistry) -> Result<Box<dyn Prior>, Error> {
    load_prior_file_in(path, registry, None)
}

/// [`load_prior_file`] for a known parameter space: leaf priors without
/// `names` take the space's, and the prior must be over exactly its parameters.
///
/// # Errors
/// As [`load_prior_file`], and a prior over other parameters.
pub fn load_prior_file_in(path: &Path, registry: &PriorRegistry, space: Option<&seqcal_api::ParamSpace>) -> Result<Box<dyn Prior>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::config(path, crate::config::toml_error(&text, &e)))?;
    let spec = match table.get("prior") {
        Some(toml::Value::Table(t)) => t,
        _ => &table,
    };
    let base = path.parent().unwrap_or(Path::new("."));
    registry.build_standalone(spec, space, base).map_err(|e| Error::config(path, e.to_string()))
}

#[cfg(test)]
pub(crate) mod testing {
    //! Checks shared by the prior tests: normalization by quadrature, and
    //! sample moments against exact ones within Monte Carlo error.

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use seqcal_api::Prior;

    /// Midpoint-rule integral of `exp(log_prob)` over the box `ranges`
    /// with `n` cells per dimension (1-D and 2-D).
    pub fn integrate(p: &dyn Prior, ranges: &[(f64, f64)], n: usize) -> f64 {
        let h: Vec<f64> = ranges.iter().map(|(a, b)| (b - a) / n as f64).collect();
        let at = |d: usize, i: usize| ranges[d].0 + (i as f64 + 0.5) * h[d];
        assert!(matches!(ranges.len(), 1 | 2), "quadrature in 1-D and 2-D only, not {}-D", ranges.len());
        match ranges.len() {
            1 => (0..n).map(|i| p.log_prob(&[at(0, i)]).exp()).sum::<f64>() * h[0],
            2 => {
                let mut s = 0.0;
                for i in 0..n {
                    for j in 0..n {
                        s += p.log_prob(&[at(0, i), at(1, j)]).exp();
                    }
                }
                s * h[0] * h[1]
            }
            _ => unreachable!("asserted above"),
        }
    }

    /// Draws 200 000 samples and checks each coordinate's mean and variance
    /// against the exact values within 5 Monte Carlo standard errors
    /// (standard errors from the sample's own second and fourth moments).
    /// Also checks that every draw has finite log density.
    pub fn check_moments(p: &dyn Prior, mean: &[f64], var: &[f64], seed: u64) {
        let n = 200_000;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = p.sample(&mut rng, n);
        assert_eq!(x.dim(), (n, p.dim()));
        for row in x.rows().into_iter().take(2000) {
            assert!(p.log_prob(row.as_slice().unwrap()).is_finite(), "draw {row} outside the support");
        }
        for j in 0..p.dim() {
            let col = x.column(j);
            let m = col.mean().unwrap();
            let c2 = col.mapv(|v| (v - m).powi(2)).mean().unwrap();
            let c4 = col.mapv(|v| (v - m).powi(4)).mean().unwrap();
            let se_m = (c2 / n as f64).sqrt();
            let se_v = ((c4 - c2 * c2) / n as f64).sqrt();
            assert!((m - mean[j]).abs() < 5.0 * se_m, "param {j}: mean {m} vs {} (se {se_m})", mean[j]);
            assert!((c2 - var[j]).abs() < 5.0 * se_v, "param {j}: variance {c2} vs {} (se {se_v})", var[j]);
        }
    }
}

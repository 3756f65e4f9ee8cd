//! The composite target of a spec: its analytic terms and divided-out
//! densities from the term library, checked (kinds, keys, dimensions, the
//! target's own checks) with placeholders in place of the stage-1 flows, so
//! that every mistake is reported before any training.

use std::sync::Arc;

use seqcal_two_stage::{term_from_table, Combination, CompositeTarget, DiffLogDensity, Factor, Role};

use super::spec::{CombineSpec, Spec};
use crate::{Error, Result};

/// The terms and divided-out densities of a spec, built.
#[derive(Debug, Clone)]
pub struct Library {
    /// One analytic factor per `[[term]]`.
    pub terms: Vec<Factor>,
    /// Per component, the density divided out of it, if any.
    pub divides: Vec<Option<Arc<dyn DiffLogDensity>>>,
}

/// Builds every term and divided-out density of `spec`, then a target with a
/// flat placeholder for each sample-based component, so that the target's own
/// checks (coverage, dimensions, indices) run before any training.
///
/// # Errors
/// [`Error::Config`] naming the spec, the term or component, and the problem.
pub fn check_library(spec: &Spec) -> Result<Library> {
    let bad = |m: String| Error::config(&spec.path, m);
    let mut terms = Vec::new();
    for (i, t) in spec.terms.iter().enumerate() {
        let label = format!("term {} ({})", i + 1, t.kind);
        let density = term_from_table(&t.kind, &t.table, t.coords.len()).map_err(|e| bad(format!("[[term]] {}: {e}", i + 1)))?;
        if density.dim() != t.coords.len() {
            return Err(bad(format!("[[term]] {}: the term is on {} coordinates but coords lists {}", i + 1, density.dim(), t.coords.len())));
        }
        terms.push(Factor { label, coords: t.coords.clone(), density, role: Role::Analytic });
    }
    let mut divides = Vec::new();
    for c in &spec.components {
        let d = match &c.divide {
            None => None,
            Some((kind, table)) => {
                let d = term_from_table(kind, table, c.coords.len()).map_err(|e| bad(format!("[[component]] {:?}: divide: {e}", c.label)))?;
                if d.dim() != c.coords.len() {
                    return Err(bad(format!(
                        "[[component]] {:?}: divide is on {} coordinates but the component has {}",
                        c.label,
                        d.dim(),
                        c.coords.len()
                    )));
                }
                Some(d)
            }
        };
        divides.push(d);
    }
    let lib = Library { terms, divides };
    let mut placeholders = Vec::new();
    for c in &spec.components {
        let flat = term_from_table("flat", &toml::Table::new(), c.coords.len()).map_err(|e| bad(e.to_string()))?;
        placeholders.push(flat);
    }
    target(spec, &lib, placeholders).map_err(|e| bad(format!("the composite target: {e}")))?;
    Ok(lib)
}

/// The composite target of `spec` with `fitted[i]` the density of component `i`.
///
/// # Errors
/// The target's own checks.
pub fn target(
    spec: &Spec,
    lib: &Library,
    fitted: Vec<Arc<dyn DiffLogDensity>>,
) -> std::result::Result<CompositeTarget, seqcal_two_stage::TwoStageError> {
    let mut factors = lib.terms.clone();
    for (i, (c, g)) in spec.components.iter().zip(fitted).enumerate() {
        factors.push(Factor { label: c.label.clone(), coords: c.coords.clone(), density: g, role: Role::Sample { component: i } });
        if let Some(d) = &lib.divides[i] {
            factors.push(Factor {
                label: format!("{} (divided out)", c.label),
                coords: c.coords.clone(),
                density: d.clone(),
                role: Role::Divide { component: i },
            });
        }
    }
    let combination = match &spec.combine {
        CombineSpec::Product => Combination::Product,
        CombineSpec::Mixture(w) => Combination::Mixture { weights: w.clone() },
    };
    CompositeTarget::new(spec.names(), factors, combination)
}

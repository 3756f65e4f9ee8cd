//! Named parameters with support intervals.

use serde::{Deserialize, Serialize};

use crate::SpaceError;

/// The parameters of a calibration: unique names and, for each, the interval
/// `[lower, upper]` that holds its support.
///
/// Bounds may be infinite (`f64::NEG_INFINITY`, `f64::INFINITY`) for
/// parameters on the real line; [`ParamSpace::is_box`] tells whether every
/// parameter has finite bounds. This per-parameter form (rather than an
/// all-or-nothing box) lets a product of a uniform block and a normal block
/// keep the bounds it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSpace {
    names: Vec<String>,
    bounds: Vec<(f64, f64)>,
}

impl ParamSpace {
    /// A space with the given names and bounds (one `(lower, upper)` per name).
    ///
    /// # Errors
    /// Empty or repeated names, a length mismatch, NaN bounds or
    /// `lower >= upper`.
    pub fn new(names: Vec<String>, bounds: Vec<(f64, f64)>) -> Result<Self, SpaceError> {
        if names.is_empty() {
            return Err(SpaceError::Empty);
        }
        if names.len() != bounds.len() {
            return Err(SpaceError::LengthMismatch { names: names.len(), bounds: bounds.len() });
        }
        // One pass with a hash set: linear in the number of parameters (a
        // pairwise check would take minutes for a million of them).
        let mut seen = std::collections::HashSet::with_capacity(names.len());
        for name in &names {
            if name.trim().is_empty() || !seen.insert(name.as_str()) {
                return Err(SpaceError::BadName(name.clone()));
            }
        }
        for (name, &(lower, upper)) in names.iter().zip(&bounds) {
            // `!(lower < upper)` also catches NaN.
            #[allow(clippy::neg_cmp_op_on_partial_ord)]
            if !(lower < upper) {
                return Err(SpaceError::BadBounds { name: name.clone(), lower, upper });
            }
        }
        Ok(ParamSpace { names, bounds })
    }

    /// A space over the whole real line in every parameter.
    pub fn unbounded(names: Vec<String>) -> Result<Self, SpaceError> {
        let bounds = vec![(f64::NEG_INFINITY, f64::INFINITY); names.len()];
        Self::new(names, bounds)
    }

    /// Default names `x0, x1, ...` for `dim` unbounded parameters.
    pub fn default_names(dim: usize) -> Vec<String> {
        (0..dim).map(|i| format!("x{i}")).collect()
    }

    /// Number of parameters.
    pub fn dim(&self) -> usize {
        self.names.len()
    }

    /// Parameter names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Support interval of each parameter, `±∞` where unbounded.
    pub fn bounds(&self) -> &[(f64, f64)] {
        &self.bounds
    }

    /// True when every parameter has finite bounds.
    pub fn is_box(&self) -> bool {
        self.bounds.iter().all(|(l, u)| l.is_finite() && u.is_finite())
    }

    /// True when `theta` has the right length and lies inside the bounds
    /// (closed interval).
    pub fn contains(&self, theta: &[f64]) -> bool {
        theta.len() == self.dim() && theta.iter().zip(&self.bounds).all(|(x, (l, u))| *x >= *l && *x <= *u)
    }

    /// Index of a parameter by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The concatenation of several spaces (a product of blocks).
    ///
    /// # Errors
    /// A name used in more than one block.
    pub fn concat<'a>(parts: impl IntoIterator<Item = &'a ParamSpace>) -> Result<Self, SpaceError> {
        let mut names = Vec::new();
        let mut bounds = Vec::new();
        for p in parts {
            names.extend(p.names.iter().cloned());
            bounds.extend(p.bounds.iter().copied());
        }
        Self::new(names, bounds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rejects_bad_spaces() {
        assert_eq!(ParamSpace::new(vec![], vec![]), Err(SpaceError::Empty));
        assert!(matches!(ParamSpace::new(names(&["a", "a"]), vec![(0.0, 1.0); 2]), Err(SpaceError::BadName(_))));
        assert!(matches!(ParamSpace::new(names(&["a"]), vec![(0.0, 1.0); 2]), Err(SpaceError::LengthMismatch { names: 1, bounds: 2 })));
        assert!(matches!(ParamSpace::new(names(&["a"]), vec![(1.0, 1.0)]), Err(SpaceError::BadBounds { .. })));
        assert!(matches!(ParamSpace::new(names(&["a"]), vec![(f64::NAN, 1.0)]), Err(SpaceError::BadBounds { .. })));
    }

    #[test]
    fn a_million_parameters_are_checked_in_one_pass() {
        // Quadratic in the dimension, this check would run for many minutes.
        let n = 1_000_000;
        let mut many = ParamSpace::default_names(n);
        assert_eq!(ParamSpace::unbounded(many.clone()).unwrap().dim(), n);
        many[n - 1] = "x17".into();
        assert_eq!(ParamSpace::unbounded(many), Err(SpaceError::BadName("x17".into())));
    }

    #[test]
    fn box_and_contains() {
        let s = ParamSpace::new(names(&["a", "b"]), vec![(0.0, 1.0), (-2.0, 2.0)]).unwrap();
        assert!(s.is_box());
        assert!(s.contains(&[0.5, 2.0]));
        assert!(!s.contains(&[1.5, 0.0]));
        assert!(!s.contains(&[0.5]));
        let u = ParamSpace::unbounded(names(&["c"])).unwrap();
        assert!(!u.is_box());
        let both = ParamSpace::concat([&s, &u]).unwrap();
        assert_eq!(both.dim(), 3);
        assert_eq!(both.index_of("c"), Some(2));
        assert!(ParamSpace::concat([&s, &s]).is_err());
    }
}

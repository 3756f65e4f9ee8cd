//! Uniform prior on a box.

use ndarray::Array2;
use rand::{Rng, RngExt};
use seqcal_api::{ParamSpace, Prior, PriorError, StageContext};
use serde::Deserialize;

use super::spec::{self, builtin_plugin, BoundPair};

/// Independent uniform distributions on `[lower_i, upper_i]`.
#[derive(Debug, Clone)]
pub struct UniformBox {
    space: ParamSpace,
    log_norm: f64,
}

impl UniformBox {
    /// The uniform prior on the box of `space`.
    ///
    /// # Errors
    /// A parameter with an infinite bound.
    pub fn new(space: ParamSpace) -> Result<Self, PriorError> {
        if let Some((name, _)) = space.names().iter().zip(space.bounds()).find(|(_, (l, u))| !(l.is_finite() && u.is_finite())) {
            return Err(PriorError::spec("uniform", format!("parameter {name:?} needs finite bounds")));
        }
        let log_norm = -space.bounds().iter().map(|(l, u)| (u - l).ln()).sum::<f64>();
        Ok(UniformBox { space, log_norm })
    }
}

impl Prior for UniformBox {
    fn space(&self) -> &ParamSpace {
        &self.space
    }

    fn log_prob(&self, theta: &[f64]) -> f64 {
        if self.space.contains(theta) {
            self.log_norm
        } else {
            f64::NEG_INFINITY
        }
    }

    fn sample(&self, rng: &mut dyn Rng, n: usize) -> Array2<f64> {
        let b = self.space.bounds();
        Array2::from_shape_fn((n, b.len()), |(_, j)| b[j].0 + (b[j].1 - b[j].0) * rng.random::<f64>())
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self.space.names().iter().zip(self.space.bounds()).map(|(n, (l, u))| format!("{n}~U({l}, {u})")).collect();
        format!("uniform: {}", parts.join(", "))
    }
}

/// The table of `kind = "uniform"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniformOptions {
    /// Parameter names; default: the stage's.
    names: Option<Vec<String>>,
    /// `[lower, upper]` per parameter; default: the stage's, when the names are its.
    bounds: Option<Vec<BoundPair>>,
}

impl UniformOptions {
    /// The prior these settings describe, names and bounds completed from the stage.
    ///
    /// # Errors
    /// No names or bounds given or known from the stage, or invalid bounds.
    pub fn check(self, ctx: &StageContext<'_>) -> Result<UniformBox, PriorError> {
        let names = spec::names(self.names, "uniform", ctx)?;
        let bounds = spec::bounds_or_stage(self.bounds, &names, ctx)
            .ok_or_else(|| PriorError::spec("uniform", "missing key \"bounds\" ([lower, upper] per parameter)"))?;
        UniformBox::new(spec::space("uniform", names, bounds)?)
    }
}

builtin_plugin!(
    /// Registry entry for `kind = "uniform"`.
    UniformPlugin,
    UniformOptions,
    "uniform",
    "uniform on a box: names, bounds = [[lower, upper], ...] (both may come from the stage's parameters)",
    {
        "names" => "parameter names (default: the stage's)",
        "bounds" => "[[lower, upper], ...] (default: the stage's)",
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prior::testing::{check_moments, integrate};

    #[test]
    fn normalized_with_right_moments() {
        let space = ParamSpace::new(vec!["a".into(), "b".into()], vec![(-1.0, 3.0), (10.0, 10.5)]).unwrap();
        let p = UniformBox::new(space).unwrap();
        let z = integrate(&p, &[(-2.0, 4.0), (9.0, 11.0)], 600);
        assert!((z - 1.0).abs() < 1e-2, "integral {z}");
        assert_eq!(p.log_prob(&[3.5, 10.2]), f64::NEG_INFINITY);
        assert!((p.log_prob(&[0.0, 10.2]) - (-(4.0f64 * 0.5).ln())).abs() < 1e-12);
        // mean (l+u)/2, variance (u-l)^2/12
        check_moments(&p, &[1.0, 10.25], &[16.0 / 12.0, 0.25 / 12.0], 7);
    }

    #[test]
    fn needs_finite_bounds() {
        let space = ParamSpace::unbounded(vec!["a".into()]).unwrap();
        assert!(UniformBox::new(space).is_err());
    }
}

//! Independent normal and truncated normal priors.

use ndarray::Array2;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};
use seqcal_api::{ParamSpace, Prior, PriorError, StageContext};
use serde::Deserialize;
use statrs::function::erf::{erfc, erfc_inv};

use super::spec::{self, builtin_plugin, BoundPair, PerParam};

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// `log Φ(x)` for the standard normal CDF, accurate far into the lower tail
/// (erfc keeps relative precision where `1 - Φ` would round to zero).
fn log_ndtr(x: f64) -> f64 {
    (0.5 * erfc(-x / std::f64::consts::SQRT_2)).ln()
}

/// `Φ(x)` through erfc, accurate in the lower tail.
fn ndtr(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// `Φ⁻¹(p)`, accurate for small `p`.
fn ndtri(p: f64) -> f64 {
    -std::f64::consts::SQRT_2 * erfc_inv(2.0 * p)
}

/// `log(Φ(b) - Φ(a))` for `a < b`, computed in the tail where it is
/// accurate (by symmetry, the upper tail is mapped to the lower one).
fn log_mass(a: f64, b: f64) -> f64 {
    if a > 0.0 {
        return log_mass(-b, -a);
    }
    let lb = log_ndtr(b);
    let la = log_ndtr(a);
    lb + (-(la - lb).exp()).ln_1p()
}

/// Independent normals `N(mean_i, sd_i^2)` on the real line.
#[derive(Debug, Clone)]
pub struct Normal {
    space: ParamSpace,
    mean: Vec<f64>,
    sd: Vec<f64>,
    log_norm: f64,
}

fn check_normal(kind: &str, names: &[String], mean: &[f64], sd: &[f64]) -> Result<(), PriorError> {
    for ((n, m), s) in names.iter().zip(mean).zip(sd) {
        if !m.is_finite() || !s.is_finite() || *s <= 0.0 {
            return Err(PriorError::spec(kind, format!("parameter {n:?}: mean {m} and sd {s} must be finite with sd > 0")));
        }
    }
    Ok(())
}

impl Normal {
    /// Independent normals with the given means and standard deviations.
    ///
    /// # Errors
    /// Lengths that differ from the space, non-finite values, `sd <= 0`.
    pub fn new(names: Vec<String>, mean: Vec<f64>, sd: Vec<f64>) -> Result<Self, PriorError> {
        let space = ParamSpace::unbounded(names).map_err(|e| PriorError::spec("normal", e.to_string()))?;
        if mean.len() != space.dim() || sd.len() != space.dim() {
            return Err(PriorError::spec("normal", "mean and sd need one value per parameter"));
        }
        check_normal("normal", space.names(), &mean, &sd)?;
        let log_norm = -sd.iter().map(|s| s.ln() + LN_SQRT_2PI).sum::<f64>();
        Ok(Normal { space, mean, sd, log_norm })
    }
}

impl Prior for Normal {
    fn space(&self) -> &ParamSpace {
        &self.space
    }

    fn log_prob(&self, theta: &[f64]) -> f64 {
        if theta.len() != self.mean.len() {
            return f64::NEG_INFINITY;
        }
        let q: f64 = theta.iter().zip(&self.mean).zip(&self.sd).map(|((x, m), s)| ((x - m) / s).powi(2)).sum();
        let lp = self.log_norm - 0.5 * q;
        if lp.is_nan() {
            f64::NEG_INFINITY
        } else {
            lp
        }
    }

    fn sample(&self, rng: &mut dyn Rng, n: usize) -> Array2<f64> {
        let d = self.mean.len();
        Array2::from_shape_fn((n, d), |(_, j)| {
            let z: f64 = StandardNormal.sample(rng);
            self.mean[j] + self.sd[j] * z
        })
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = (0..self.mean.len()).map(|j| format!("{}~N({}, {}^2)", self.space.names()[j], self.mean[j], self.sd[j])).collect();
        format!("normal: {}", parts.join(", "))
    }
}

/// Independent normals `N(mean_i, sd_i^2)` truncated to `[lower_i, upper_i]`
/// (either end may be infinite) and renormalized.
#[derive(Debug, Clone)]
pub struct TruncatedNormal {
    space: ParamSpace,
    mean: Vec<f64>,
    sd: Vec<f64>,
    /// Standardized bounds `(a_i, b_i)`.
    std_bounds: Vec<(f64, f64)>,
    log_norm: f64,
}

impl TruncatedNormal {
    /// The truncated normal with the given location, scale and bounds.
    ///
    /// # Errors
    /// Bad values, or a truncation interval with no probability mass that a
    /// double can represent (more than ~37 sd from the mean).
    pub fn new(space: ParamSpace, mean: Vec<f64>, sd: Vec<f64>) -> Result<Self, PriorError> {
        let kind = "truncated_normal";
        if mean.len() != space.dim() || sd.len() != space.dim() {
            return Err(PriorError::spec(kind, "mean and sd need one value per parameter"));
        }
        check_normal(kind, space.names(), &mean, &sd)?;
        let std_bounds: Vec<(f64, f64)> = space.bounds().iter().zip(&mean).zip(&sd).map(|(((l, u), m), s)| ((l - m) / s, (u - m) / s)).collect();
        let mut log_norm = 0.0;
        for (j, &(a, b)) in std_bounds.iter().enumerate() {
            let lm = log_mass(a, b);
            if !lm.is_finite() {
                return Err(PriorError::spec(
                    kind,
                    format!("parameter {:?}: the interval holds no mass of N({}, {}^2)", space.names()[j], mean[j], sd[j]),
                ));
            }
            log_norm -= sd[j].ln() + LN_SQRT_2PI + lm;
        }
        Ok(TruncatedNormal { space, mean, sd, std_bounds, log_norm })
    }

    /// One standardized draw from N(0,1) restricted to `[a, b]`.
    ///
    /// Inverse-CDF sampling in whichever tail the interval lies in, so that
    /// intervals far from the mean keep their precision; a draw that rounds
    /// onto the boundary is clamped into the interval.
    fn draw_std(rng: &mut dyn Rng, a: f64, b: f64) -> f64 {
        let u: f64 = rng.random();
        let z = if a > 0.0 {
            // Upper tail: by symmetry, sample -Z on [-b, -a].
            let (pa, pb) = (ndtr(-b), ndtr(-a));
            -ndtri(pa + u * (pb - pa))
        } else {
            let (pa, pb) = (ndtr(a), ndtr(b));
            ndtri(pa + u * (pb - pa))
        };
        z.clamp(a, b)
    }
}

impl Prior for TruncatedNormal {
    fn space(&self) -> &ParamSpace {
        &self.space
    }

    fn log_prob(&self, theta: &[f64]) -> f64 {
        if !self.space.contains(theta) {
            return f64::NEG_INFINITY;
        }
        let q: f64 = theta.iter().zip(&self.mean).zip(&self.sd).map(|((x, m), s)| ((x - m) / s).powi(2)).sum();
        self.log_norm - 0.5 * q
    }

    fn sample(&self, rng: &mut dyn Rng, n: usize) -> Array2<f64> {
        let d = self.mean.len();
        let mut out = Array2::zeros((n, d));
        for mut row in out.rows_mut() {
            for j in 0..d {
                let (a, b) = self.std_bounds[j];
                let (l, u) = self.space.bounds()[j];
                row[j] = (self.mean[j] + self.sd[j] * Self::draw_std(rng, a, b)).clamp(l, u);
            }
        }
        out
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = (0..self.mean.len())
            .map(|j| {
                let (l, u) = self.space.bounds()[j];
                format!("{}~N({}, {}^2) on [{l}, {u}]", self.space.names()[j], self.mean[j], self.sd[j])
            })
            .collect();
        format!("truncated_normal: {}", parts.join(", "))
    }
}

/// The table of `kind = "normal"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalOptions {
    /// Parameter names; default: the stage's.
    names: Option<Vec<String>>,
    /// Mean: one number, or one per parameter (required).
    mean: Option<PerParam>,
    /// Standard deviation: one number, or one per parameter (required).
    sd: Option<PerParam>,
}

impl NormalOptions {
    /// The prior these settings describe.
    ///
    /// # Errors
    /// A missing key, a list of the wrong length, a non-positive sd.
    pub fn check(self, ctx: &StageContext<'_>) -> Result<Normal, PriorError> {
        let names = spec::names(self.names, "normal", ctx)?;
        let d = names.len();
        Normal::new(names, PerParam::values(self.mean.as_ref(), "normal", "mean", d)?, PerParam::values(self.sd.as_ref(), "normal", "sd", d)?)
    }
}

/// The table of `kind = "truncated_normal"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TruncatedNormalOptions {
    /// Parameter names; default: the stage's.
    names: Option<Vec<String>>,
    /// Mean of the untruncated normal: one number, or one per parameter (required).
    mean: Option<PerParam>,
    /// Its standard deviation: one number, or one per parameter (required).
    sd: Option<PerParam>,
    /// `[lower, upper]` per parameter (`"-inf"`/`"inf"` allowed); default: the stage's, when the names are its.
    bounds: Option<Vec<BoundPair>>,
}

impl TruncatedNormalOptions {
    /// The prior these settings describe.
    ///
    /// # Errors
    /// A missing key, a list of the wrong length, a non-positive sd, invalid
    /// bounds or bounds holding no mass.
    pub fn check(self, ctx: &StageContext<'_>) -> Result<TruncatedNormal, PriorError> {
        let kind = "truncated_normal";
        let names = spec::names(self.names, kind, ctx)?;
        let d = names.len();
        let bounds = spec::bounds_or_stage(self.bounds, &names, ctx)
            .ok_or_else(|| PriorError::spec(kind, "missing key \"bounds\" ([lower, upper] per parameter)"))?;
        let space = spec::space(kind, names, bounds)?;
        TruncatedNormal::new(space, PerParam::values(self.mean.as_ref(), kind, "mean", d)?, PerParam::values(self.sd.as_ref(), kind, "sd", d)?)
    }
}

builtin_plugin!(
    /// Registry entry for `kind = "normal"`.
    NormalPlugin,
    NormalOptions,
    "normal",
    "independent normals: names, mean, sd (a number or one per parameter)",
    {
        "names" => "parameter names (default: the stage's)",
        "mean" => "a number or one per parameter",
        "sd" => "a number or one per parameter",
    }
);

builtin_plugin!(
    /// Registry entry for `kind = "truncated_normal"`.
    TruncatedNormalPlugin,
    TruncatedNormalOptions,
    "truncated_normal",
    "normals truncated to bounds: names, mean, sd, bounds (\"-inf\"/\"inf\" allowed; bounds may come from the stage)",
    {
        "names" => "parameter names (default: the stage's)",
        "mean" => "a number or one per parameter",
        "sd" => "a number or one per parameter",
        "bounds" => "[[lower, upper], ...], \"-inf\"/\"inf\" allowed (default: the stage's)",
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prior::testing::{check_moments, integrate};

    fn names(n: usize) -> Vec<String> {
        ParamSpace::default_names(n)
    }

    #[test]
    fn normal_is_normalized_with_right_moments() {
        let p = Normal::new(names(2), vec![1.0, -3.0], vec![0.5, 2.0]).unwrap();
        let z = integrate(&p, &[(-4.0, 6.0), (-23.0, 17.0)], 800);
        assert!((z - 1.0).abs() < 1e-6, "integral {z}");
        check_moments(&p, &[1.0, -3.0], &[0.25, 4.0], 11);
        assert!(Normal::new(names(1), vec![0.0], vec![0.0]).is_err());
        assert_eq!(p.log_prob(&[f64::NAN, 0.0]), f64::NEG_INFINITY);
    }

    /// Mean and variance of a standard normal truncated to [a, b]
    /// (textbook formulas, independent of the sampler).
    fn trunc_moments(a: f64, b: f64) -> (f64, f64) {
        let phi = |x: f64| if x.is_infinite() { 0.0 } else { (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt() };
        let z = if a > 0.0 { ndtr(-a) - ndtr(-b) } else { ndtr(b) - ndtr(a) };
        let xphi = |x: f64| if x.is_infinite() { 0.0 } else { x * phi(x) };
        let mean = (phi(a) - phi(b)) / z;
        let var = 1.0 + (xphi(a) - xphi(b)) / z - mean * mean;
        (mean, var)
    }

    #[test]
    fn truncated_normal_is_normalized_with_right_moments() {
        let space = ParamSpace::new(names(2), vec![(0.0, 3.0), (-1.0, f64::INFINITY)]).unwrap();
        let p = TruncatedNormal::new(space, vec![1.0, 0.0], vec![2.0, 0.5]).unwrap();
        let z = integrate(&p, &[(-0.5, 3.5), (-1.5, 6.0)], 1000);
        assert!((z - 1.0).abs() < 5e-3, "integral {z}");
        let (m0, v0) = trunc_moments(-0.5, 1.0);
        let (m1, v1) = trunc_moments(-2.0, f64::INFINITY);
        check_moments(&p, &[1.0 + 2.0 * m0, 0.5 * m1], &[4.0 * v0, 0.25 * v1], 13);
    }

    #[test]
    fn far_tail_truncation_keeps_precision() {
        // [8, 9] sd above the mean: mass ~6e-16, well below what 1 - Φ can hold.
        let space = ParamSpace::new(names(1), vec![(8.0, 9.0)]).unwrap();
        let p = TruncatedNormal::new(space, vec![0.0], vec![1.0]).unwrap();
        let z = integrate(&p, &[(8.0, 9.0)], 20_000);
        assert!((z - 1.0).abs() < 1e-6, "integral {z}");
        let (m, v) = trunc_moments(8.0, 9.0);
        check_moments(&p, &[m], &[v], 17);
        let far = ParamSpace::new(names(1), vec![(50.0, 51.0)]).unwrap();
        assert!(TruncatedNormal::new(far, vec![0.0], vec![1.0]).is_err());
    }
}

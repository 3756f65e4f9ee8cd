//! Transforms between the sampler's unconstrained coordinates `u` and the
//! parameters `theta` stored in the chain, and priors carried across them.
//!
//! A target whose parameters are constrained (a scale `sigma > 0`, an
//! efficiency in (0, 1)) is sampled on an unconstrained scale; its
//! [`Transform`] maps the sampler's coordinates to the stored parameters.
//! [`Elementwise`] does this parameter by parameter, the transform chosen by
//! the support ([`Bijection::from_support`]), as Stan does.
//! [`PulledBack`] turns a prior on the stored parameters into the density it
//! implies on the sampler's coordinates, log-Jacobian included.

use std::sync::Arc;

use ndarray::{Array1, Array2, ArrayView2};
use rand::Rng;
use seqcal_api::{ParamSpace, Prior};

use crate::{Error, Result};

/// Maps the sampler's coordinates `u` (unconstrained) to the model's
/// parameters `theta` (stored in the chain).
pub trait Transform: Send + Sync {
    /// Names of the sampler's coordinates (e.g. `log_sigma`).
    fn sampler_names(&self) -> Vec<String>;
    /// `theta = T(u)`; `theta` has the length of the target's space.
    fn constrain(&self, u: &[f64], theta: &mut [f64]);
    /// `u = T⁻¹(theta)`, for starting walkers from stored draws; false when
    /// `theta` is outside the support.
    fn unconstrain(&self, theta: &[f64], u: &mut [f64]) -> bool;
    /// `log |det ∂theta/∂u|` at `u`: what a density on `theta` gains when it
    /// is written as a density on `u`.
    fn log_jacobian(&self, u: &[f64]) -> f64;
}

/// Turns log densities of the sampler's coordinates `u` (one row of
/// `positions` each) into log densities of the stored parameters
/// `theta = T(u)`: each loses `log |det ∂T/∂u|` at its row. Each of
/// `columns` has one value per row.
pub fn to_stored_scale(t: &dyn Transform, positions: ArrayView2<'_, f64>, columns: &mut [&mut Array1<f64>]) {
    for (k, u) in positions.rows().into_iter().enumerate() {
        let log_j = match u.as_slice() {
            Some(u) => t.log_jacobian(u),
            None => t.log_jacobian(&u.to_vec()),
        };
        for column in columns.iter_mut() {
            column[k] -= log_j;
        }
    }
}

/// How one stored parameter is reached from its sampler coordinate.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Bijection {
    /// Unbounded: `theta = u`.
    Identity,
    /// In `(a, ∞)`: `theta = a + e^u`.
    Lower(f64),
    /// In `(-∞, b)`: `theta = b - e^u`.
    Upper(f64),
    /// In `(a, b)`: `theta = a + (b - a) / (1 + e^-u)`.
    Interval(f64, f64),
    /// Above the previous parameter (Stan's `ordered`):
    /// `theta[i] = theta[i-1] + e^u`.
    AbovePrevious,
}

impl Bijection {
    /// The transform of a parameter with support `(lower, upper)`: identity
    /// for the real line, a shifted log for a half-line, a scaled logit for
    /// an interval. `None` unless `lower < upper` (NaN excluded), `lower`
    /// is not `+∞` and `upper` not `-∞`.
    pub fn from_support(lower: f64, upper: f64) -> Option<Bijection> {
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(lower < upper) {
            return None;
        }
        Some(match (lower.is_finite(), upper.is_finite()) {
            (false, false) => Bijection::Identity,
            (true, false) => Bijection::Lower(lower),
            (false, true) => Bijection::Upper(upper),
            (true, true) => Bijection::Interval(lower, upper),
        })
    }
}

/// `ln(1 + e^x)` without overflow.
pub(crate) fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// `1 / (1 + e^-v)` without overflow.
pub(crate) fn inv_logit(v: f64) -> f64 {
    if v >= 0.0 {
        1.0 / (1.0 + (-v).exp())
    } else {
        let e = v.exp();
        e / (1.0 + e)
    }
}

/// A transform acting parameter by parameter (on the previous parameter too
/// for [`Bijection::AbovePrevious`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Elementwise {
    sampler: Vec<String>,
    kinds: Vec<Bijection>,
}

impl Elementwise {
    /// The sampler's coordinate names and the bijection of each parameter.
    ///
    /// # Errors
    /// Lengths that differ, no parameter, bounds that are not finite where
    /// they must be or not increasing, or [`Bijection::AbovePrevious`] first.
    pub fn new(sampler_names: Vec<String>, kinds: Vec<Bijection>) -> Result<Self> {
        if sampler_names.len() != kinds.len() || kinds.is_empty() {
            return Err(Error::Usage(format!(
                "a transform needs one bijection per coordinate, at least one: got {} names and {} bijections",
                sampler_names.len(),
                kinds.len()
            )));
        }
        for (i, k) in kinds.iter().enumerate() {
            let ok = match *k {
                Bijection::Identity => true,
                Bijection::Lower(a) | Bijection::Upper(a) => a.is_finite(),
                Bijection::Interval(a, b) => a.is_finite() && b.is_finite() && a < b,
                Bijection::AbovePrevious => i > 0,
            };
            if !ok {
                return Err(Error::Usage(format!("coordinate {}: {k:?} is not a valid bijection here", sampler_names[i])));
            }
        }
        Ok(Elementwise { sampler: sampler_names, kinds })
    }

    /// The bijection of each parameter.
    pub fn kinds(&self) -> &[Bijection] {
        &self.kinds
    }
}

impl Transform for Elementwise {
    fn sampler_names(&self) -> Vec<String> {
        self.sampler.clone()
    }

    fn constrain(&self, u: &[f64], theta: &mut [f64]) {
        for (i, k) in self.kinds.iter().enumerate() {
            theta[i] = match *k {
                Bijection::Identity => u[i],
                Bijection::Lower(a) => a + u[i].exp(),
                Bijection::Upper(b) => b - u[i].exp(),
                Bijection::Interval(a, b) => a + (b - a) * inv_logit(u[i]),
                Bijection::AbovePrevious => theta[i - 1] + u[i].exp(),
            };
        }
    }

    fn unconstrain(&self, theta: &[f64], u: &mut [f64]) -> bool {
        let n = self.kinds.len();
        if theta.len() != n || u.len() != n || theta.iter().any(|v| !v.is_finite()) {
            return false;
        }
        for (i, k) in self.kinds.iter().enumerate() {
            let x = theta[i];
            u[i] = match *k {
                Bijection::Identity => x,
                Bijection::Lower(a) if x > a => (x - a).ln(),
                Bijection::Upper(b) if x < b => (b - x).ln(),
                Bijection::Interval(a, b) if x > a && x < b => {
                    let z = (x - a) / (b - a);
                    z.ln() - (-z).ln_1p()
                }
                Bijection::AbovePrevious if x > theta[i - 1] => (x - theta[i - 1]).ln(),
                _ => return false,
            };
        }
        u.iter().all(|v| v.is_finite())
    }

    fn log_jacobian(&self, u: &[f64]) -> f64 {
        // The Jacobian is triangular: each parameter depends on its own
        // coordinate and, for AbovePrevious, on earlier ones.
        self.kinds
            .iter()
            .zip(u)
            .map(|(k, &v)| match *k {
                Bijection::Identity => 0.0,
                Bijection::Lower(_) | Bijection::Upper(_) | Bijection::AbovePrevious => v,
                // d/du [a + (b-a) s(u)] = (b-a) s(u) s(-u)
                Bijection::Interval(a, b) => (b - a).ln() - softplus(-v) - softplus(v),
            })
            .sum()
    }
}

/// A prior on the stored parameters `theta`, as a density on the sampler's
/// coordinates `u`: `log p(u) = log prior(T(u)) + log |det ∂T/∂u|`.
///
/// Its draws are the prior's draws carried to `u` by `T⁻¹`. It is
/// normalized on `u` exactly when the prior is normalized on `theta`.
#[derive(Debug)]
pub struct PulledBack {
    prior: Box<dyn Prior>,
    transform: Arc<dyn Transform>,
    space: ParamSpace,
}

impl PulledBack {
    /// `prior` (over the stored parameters) pulled back through `transform`.
    ///
    /// # Errors
    /// The prior's dimension is not the transform's.
    pub fn new(prior: Box<dyn Prior>, transform: Arc<dyn Transform>) -> Result<Self> {
        let names = transform.sampler_names();
        if names.len() != prior.dim() {
            return Err(Error::Usage(format!("the prior has {} parameters but the target's transform {}", prior.dim(), names.len())));
        }
        let space = ParamSpace::unbounded(names)?;
        Ok(PulledBack { prior, transform, space })
    }
}

impl Prior for PulledBack {
    fn space(&self) -> &ParamSpace {
        &self.space
    }

    fn log_prob(&self, u: &[f64]) -> f64 {
        if u.len() != self.space.dim() || u.iter().any(|v| !v.is_finite()) {
            return f64::NEG_INFINITY;
        }
        let mut theta = vec![0.0; u.len()];
        self.transform.constrain(u, &mut theta);
        if theta.iter().any(|v| !v.is_finite()) {
            return f64::NEG_INFINITY;
        }
        let lp = self.prior.log_prob(&theta);
        if lp == f64::NEG_INFINITY {
            return lp;
        }
        let total = lp + self.transform.log_jacobian(u);
        if total.is_nan() {
            f64::NEG_INFINITY
        } else {
            total
        }
    }

    /// The prior's draws, carried to the sampler's coordinates. A draw on
    /// the boundary of the support (where `T⁻¹` is infinite) is drawn again,
    /// up to 100 times; after that its row is NaN.
    fn sample(&self, rng: &mut dyn Rng, n: usize) -> Array2<f64> {
        let d = self.space.dim();
        let mut out = Array2::from_elem((n, d), f64::NAN);
        let mut u = vec![0.0; d];
        for mut row in out.rows_mut() {
            for _ in 0..100 {
                let theta = self.prior.sample(rng, 1);
                if theta.nrows() == 1 && self.transform.unconstrain(&theta.row(0).to_vec(), &mut u) {
                    row.iter_mut().zip(&u).for_each(|(o, v)| *o = *v);
                    break;
                }
            }
        }
        out
    }

    fn describe(&self) -> String {
        format!("{} (on the stored parameters; sampled on [{}], log-Jacobian added)", self.prior.describe(), self.space.names().join(", "))
    }
}

/// A transform shows the sampler's coordinates.
impl std::fmt::Debug for dyn Transform + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transform").field("sampler_names", &self.sampler_names()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prior::UniformBox;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn all_kinds() -> Elementwise {
        let kinds =
            vec![Bijection::Identity, Bijection::Lower(-2.0), Bijection::Upper(3.0), Bijection::Interval(-1.0, 4.0), Bijection::AbovePrevious];
        Elementwise::new((0..5).map(|i| format!("u{i}")).collect(), kinds).unwrap()
    }

    /// `log |det J|` by central differences of `constrain`, for small dimensions.
    fn numeric_log_jacobian(t: &dyn Transform, u: &[f64]) -> f64 {
        let d = u.len();
        let h = 1e-6;
        let mut jac = nalgebra::DMatrix::zeros(d, d);
        for j in 0..d {
            let (mut up, mut down) = (u.to_vec(), u.to_vec());
            up[j] += h;
            down[j] -= h;
            let (mut tu, mut td) = (vec![0.0; d], vec![0.0; d]);
            t.constrain(&up, &mut tu);
            t.constrain(&down, &mut td);
            for i in 0..d {
                jac[(i, j)] = (tu[i] - td[i]) / (2.0 * h);
            }
        }
        jac.determinant().abs().ln()
    }

    #[test]
    fn supports_choose_the_bijection() {
        let inf = f64::INFINITY;
        assert_eq!(Bijection::from_support(-inf, inf), Some(Bijection::Identity));
        assert_eq!(Bijection::from_support(0.0, inf), Some(Bijection::Lower(0.0)));
        assert_eq!(Bijection::from_support(-inf, 5.0), Some(Bijection::Upper(5.0)));
        assert_eq!(Bijection::from_support(0.0, 1.0), Some(Bijection::Interval(0.0, 1.0)));
        for (a, b) in [(1.0, 1.0), (2.0, 1.0), (f64::NAN, 1.0), (inf, inf), (-inf, -inf)] {
            assert_eq!(Bijection::from_support(a, b), None, "({a}, {b})");
        }
        assert!(Elementwise::new(vec!["a".into()], vec![Bijection::AbovePrevious]).is_err());
        assert!(Elementwise::new(vec!["a".into()], vec![Bijection::Interval(1.0, 0.0)]).is_err());
        assert!(Elementwise::new(vec!["a".into(), "b".into()], vec![Bijection::Identity]).is_err());
    }

    #[test]
    fn constrain_and_unconstrain_are_inverse_and_stay_in_the_support() {
        let t = all_kinds();
        for k in 0..50 {
            let u: Vec<f64> = (0..5).map(|i| ((k * 5 + i) as f64 * 0.77).sin() * 6.0).collect();
            let mut theta = vec![0.0; 5];
            t.constrain(&u, &mut theta);
            assert!(theta[1] > -2.0 && theta[2] < 3.0 && theta[3] > -1.0 && theta[3] < 4.0 && theta[4] > theta[3], "{theta:?}");
            let mut back = vec![0.0; 5];
            assert!(t.unconstrain(&theta, &mut back));
            for i in 0..5 {
                assert!((back[i] - u[i]).abs() < 1e-8 * u[i].abs().max(1.0), "coordinate {i}: {} vs {}", back[i], u[i]);
            }
        }
        let mut u = vec![0.0; 5];
        for bad in [
            [0.0, -2.0, 0.0, 0.0, 1.0],
            [0.0, 0.0, 3.5, 0.0, 1.0],
            [0.0, 0.0, 0.0, 4.0, 5.0],
            [0.0, 0.0, 0.0, 1.0, 1.0],
            [f64::NAN, 0.0, 0.0, 0.0, 1.0],
        ] {
            assert!(!t.unconstrain(&bad, &mut u), "{bad:?}");
        }
    }

    #[test]
    fn log_jacobian_matches_finite_differences() {
        let t = all_kinds();
        for u in [[0.0, 0.0, 0.0, 0.0, 0.0], [1.5, -0.7, 2.0, -3.0, 0.4], [-2.0, 1.1, -1.3, 2.5, -1.0]] {
            let (exact, numeric) = (t.log_jacobian(&u), numeric_log_jacobian(&t, &u));
            assert!((exact - numeric).abs() < 1e-6, "{u:?}: {exact} vs {numeric}");
        }
    }

    #[test]
    fn a_pulled_back_uniform_integrates_to_one_and_draws_map_back() {
        // U(0, 5) on theta = e^u: density e^u / 5 on u < ln 5.
        let t: Arc<dyn Transform> = Arc::new(Elementwise::new(vec!["log_s".into()], vec![Bijection::Lower(0.0)]).unwrap());
        let space = ParamSpace::new(vec!["s".into()], vec![(0.0, 5.0)]).unwrap();
        let p = PulledBack::new(Box::new(UniformBox::new(space).unwrap()), t).unwrap();
        assert_eq!(p.names(), ["log_s"]);
        let (lo, hi, n) = (-40.0, 5f64.ln(), 200_000);
        let h = (hi - lo) / n as f64;
        let total: f64 = (0..n).map(|i| p.log_prob(&[lo + (i as f64 + 0.5) * h]).exp()).sum::<f64>() * h;
        assert!((total - 1.0).abs() < 1e-6, "{total}");
        assert!((p.log_prob(&[0.0]) - (0.0 - 5f64.ln())).abs() < 1e-15);
        assert_eq!(p.log_prob(&[2.0]), f64::NEG_INFINITY);
        assert_eq!(p.log_prob(&[f64::NAN]), f64::NEG_INFINITY);
        // Draws: e^u uniform on (0, 5): mean 2.5, sd 5/sqrt(12); 4000 draws.
        let draws = p.sample(&mut ChaCha8Rng::seed_from_u64(1), 4000);
        let s: Vec<f64> = draws.column(0).iter().map(|u| u.exp()).collect();
        let mean = s.iter().sum::<f64>() / s.len() as f64;
        let se = 5.0 / 12f64.sqrt() / (s.len() as f64).sqrt();
        assert!((mean - 2.5).abs() < 4.0 * se, "mean {mean}");
        assert!(s.iter().all(|v| *v > 0.0 && *v < 5.0));
    }
}

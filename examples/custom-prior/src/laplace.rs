//! Prior kind `laplace`: independent Laplace distributions, truncated to the
//! stage's parameter box.
//!
//! ```toml
//! kind = "laplace"
//! names = ["a", "b"]        # optional inside a stage (the stage's parameters)
//! location = [1.0, -2.0]    # one number, or one per parameter
//! scale = [1.0, 0.5]        # one number (> 0), or one per parameter
//! ```
//!
//! Density of one parameter on `[lo, hi]`: `exp(-|x - μ| / b) / (2 b Z)` with
//! `Z = F(hi) - F(lo)`, `F` the Laplace CDF, so the prior is normalized on the box.

use ndarray::Array2;
use rand::{Rng, RngExt};
use seqcal_api::{ParamSpace, Prior, PriorError, PriorPlugin, StageContext};

const KIND: &str = "laplace";

/// Laplace CDF at `x` for location `m`, scale `b`.
fn cdf(x: f64, m: f64, b: f64) -> f64 {
    if x < m {
        0.5 * ((x - m) / b).exp()
    } else {
        1.0 - 0.5 * (-(x - m) / b).exp()
    }
}

/// Inverse of [`cdf`].
fn quantile(p: f64, m: f64, b: f64) -> f64 {
    if p < 0.5 {
        m + b * (2.0 * p).ln()
    } else {
        m - b * (2.0 * (1.0 - p)).ln()
    }
}

/// Independent truncated Laplace distributions.
#[derive(Debug, Clone)]
pub struct Laplace {
    space: ParamSpace,
    location: Vec<f64>,
    scale: Vec<f64>,
    /// `F(lo)` and `F(hi)` per parameter.
    mass: Vec<(f64, f64)>,
    log_norm: f64,
}

impl Laplace {
    /// A Laplace prior over `space` (truncated to its bounds).
    ///
    /// # Errors
    /// A non-finite location, a scale that is not positive, or a box with no mass.
    pub fn new(space: ParamSpace, location: Vec<f64>, scale: Vec<f64>) -> Result<Self, PriorError> {
        let mut mass = Vec::new();
        let mut log_norm = 0.0;
        for (i, ((&m, &b), &(lo, hi))) in location.iter().zip(&scale).zip(space.bounds()).enumerate() {
            if !(m.is_finite() && b > 0.0 && b.is_finite()) {
                return Err(PriorError::spec(KIND, format!("parameter {:?}: location {m} must be finite and scale {b} positive", space.names()[i])));
            }
            let (f_lo, f_hi) = (cdf(lo, m, b), cdf(hi, m, b));
            if f_hi.partial_cmp(&f_lo) != Some(std::cmp::Ordering::Greater) {
                return Err(PriorError::spec(
                    KIND,
                    format!("parameter {:?}: the box [{lo}, {hi}] holds no mass of Laplace({m}, {b})", space.names()[i]),
                ));
            }
            mass.push((f_lo, f_hi));
            log_norm += (2.0 * b).ln() + (f_hi - f_lo).ln();
        }
        Ok(Laplace { space, location, scale, mass, log_norm })
    }
}

impl Prior for Laplace {
    fn space(&self) -> &ParamSpace {
        &self.space
    }

    fn log_prob(&self, theta: &[f64]) -> f64 {
        if theta.len() != self.dim() || !self.space.contains(theta) {
            return f64::NEG_INFINITY;
        }
        -theta.iter().zip(&self.location).zip(&self.scale).map(|((x, m), b)| (x - m).abs() / b).sum::<f64>() - self.log_norm
    }

    fn sample(&self, rng: &mut dyn Rng, n: usize) -> Array2<f64> {
        let d = self.dim();
        let mut out = Array2::zeros((n, d));
        for mut row in out.rows_mut() {
            for j in 0..d {
                let (f_lo, f_hi) = self.mass[j];
                let u: f64 = rng.random();
                let (lo, hi) = self.space.bounds()[j];
                row[j] = quantile(f_lo + u * (f_hi - f_lo), self.location[j], self.scale[j]).clamp(lo, hi);
            }
        }
        out
    }

    fn describe(&self) -> String {
        format!("laplace(location {:?}, scale {:?})", self.location, self.scale)
    }
}

/// One number for every parameter, or a list of one per parameter.
fn per_parameter(t: &toml::Table, key: &str, d: usize) -> Result<Vec<f64>, PriorError> {
    let num = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    match t.get(key) {
        Some(toml::Value::Array(a)) if a.len() == d => {
            a.iter().map(|v| num(v).ok_or_else(|| PriorError::spec(KIND, format!("{key}: {v} is not a number")))).collect()
        }
        Some(toml::Value::Array(a)) => Err(PriorError::spec(KIND, format!("{key} has {} values but the prior has {d} parameters", a.len()))),
        Some(v) => num(v).map(|x| vec![x; d]).ok_or_else(|| PriorError::spec(KIND, format!("{key}: {v} is not a number"))),
        None => Err(PriorError::spec(KIND, format!("missing key {key:?}"))),
    }
}

/// Builds `laplace` priors from their tables.
#[derive(Debug)]
pub struct LaplacePlugin;

impl PriorPlugin for LaplacePlugin {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn summary(&self) -> &'static str {
        "independent Laplace(location, scale), truncated to the parameter box: location = .., scale = .. (numbers or lists)"
    }

    fn build(&self, spec: &toml::Table, ctx: &StageContext<'_>) -> Result<Box<dyn Prior>, PriorError> {
        for k in spec.keys() {
            if !["kind", "names", "location", "scale"].contains(&k.as_str()) {
                return Err(PriorError::spec(KIND, format!("unknown key {k:?}; keys: names, location, scale")));
            }
        }
        let space = match (spec.get("names"), ctx.space) {
            (Some(toml::Value::Array(a)), _) => {
                let names: Vec<String> = a
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| PriorError::spec(KIND, "names must be strings")))
                    .collect::<Result<_, _>>()?;
                match ctx.space {
                    // Inside a stage the names must be its parameters; the box is its box.
                    Some(s) if s.names() == names.as_slice() => s.clone(),
                    _ => ParamSpace::unbounded(names).map_err(|e| PriorError::spec(KIND, e.to_string()))?,
                }
            }
            (Some(_), _) => return Err(PriorError::spec(KIND, "names must be a list of strings")),
            (None, Some(s)) => s.clone(),
            (None, None) => return Err(PriorError::spec(KIND, "missing key \"names\" (outside a stage, the prior needs its parameter names)")),
        };
        let d = space.dim();
        let location = per_parameter(spec, "location", d)?;
        let scale = per_parameter(spec, "scale", d)?;
        Ok(Box::new(Laplace::new(space, location, scale)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_on_its_box_and_sampled_within_it() {
        let space = ParamSpace::new(vec!["a".into()], vec![(-1.0, 3.0)]).unwrap();
        let p = Laplace::new(space, vec![0.5], vec![0.7]).unwrap();
        // Midpoint rule over the box.
        let n = 200_000;
        let h = 4.0 / n as f64;
        let integral: f64 = (0..n).map(|i| p.log_prob(&[-1.0 + (i as f64 + 0.5) * h]).exp() * h).sum();
        assert!((integral - 1.0).abs() < 1e-6, "{integral}");
        assert_eq!(p.log_prob(&[3.5]), f64::NEG_INFINITY);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let x = p.sample(&mut rng, 1000);
        assert!(x.iter().all(|v| (-1.0..=3.0).contains(v)));
    }
    use rand::SeedableRng;
}

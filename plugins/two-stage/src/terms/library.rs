//! The library of analytic terms.

use candle_core::Tensor;

use super::ops::{inside, or_neg_inf, or_safe, row};
use seqcal_flow::density::DiffLogDensity;

const HALF_LN_2PI: f64 = 0.918_938_533_204_672_7;

fn list(v: &[f64]) -> String {
    if v.windows(2).all(|w| w[0] == w[1]) && !v.is_empty() {
        format!("{}", v[0])
    } else {
        format!("{v:?}")
    }
}

/// Independent normals: `Σ_j log N(x_j | mean_j, sd_j²)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Normal {
    /// Mean of each coordinate.
    pub mean: Vec<f64>,
    /// Standard deviation of each coordinate (positive).
    pub sd: Vec<f64>,
}

impl DiffLogDensity for Normal {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn log_density(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let c: f64 = self.sd.iter().map(|s| -s.ln() - HALF_LN_2PI).sum();
        let inv: Vec<f64> = self.sd.iter().map(|s| 1.0 / s).collect();
        let z = x.broadcast_sub(&row(&self.mean, x)?)?.broadcast_mul(&row(&inv, x)?)?;
        (z.sqr()?.sum(1)? * -0.5)? + c
    }

    fn describe(&self) -> String {
        format!("normal(mean {}, sd {})", list(&self.mean), list(&self.sd))
    }
}

/// Independent log-normals: `log X_j ~ N(mu_j, sigma_j²)`, support `x_j > 0`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogNormal {
    /// Mean of `log X_j`.
    pub mu: Vec<f64>,
    /// Standard deviation of `log X_j` (positive).
    pub sigma: Vec<f64>,
}

impl DiffLogDensity for LogNormal {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn dim(&self) -> usize {
        self.mu.len()
    }

    fn log_density(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let d = self.dim();
        let mask = inside(x, &vec![0.0; d], &vec![f64::INFINITY; d])?;
        let lx = or_safe(&mask, x, &vec![1.0; d])?.log()?;
        let c: f64 = self.sigma.iter().map(|s| -s.ln() - HALF_LN_2PI).sum();
        let inv: Vec<f64> = self.sigma.iter().map(|s| 1.0 / s).collect();
        let z = lx.broadcast_sub(&row(&self.mu, x)?)?.broadcast_mul(&row(&inv, x)?)?;
        let v = (((z.sqr()?.sum(1)? * -0.5)? - lx.sum(1)?)? + c)?;
        or_neg_inf(&mask, &v)
    }

    fn describe(&self) -> String {
        format!("lognormal(mu {}, sigma {})", list(&self.mu), list(&self.sigma))
    }

    fn bounds(&self) -> Vec<(f64, f64)> {
        vec![(0.0, f64::INFINITY); self.dim()]
    }
}

/// The uniform density on the box `(lower, upper)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Uniform {
    /// Lower bound of each coordinate.
    pub lower: Vec<f64>,
    /// Upper bound of each coordinate (above the lower one, both finite).
    pub upper: Vec<f64>,
}

impl DiffLogDensity for Uniform {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn dim(&self) -> usize {
        self.lower.len()
    }

    fn log_density(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let c: f64 = -self.lower.iter().zip(&self.upper).map(|(l, u)| (u - l).ln()).sum::<f64>();
        let mask = inside(x, &self.lower, &self.upper)?;
        // `x · 0 + c` keeps the result attached to `x` (a zero gradient).
        let v = ((x.sum(1)? * 0.0)? + c)?;
        or_neg_inf(&mask, &v)
    }

    fn describe(&self) -> String {
        format!("uniform(lower {}, upper {})", list(&self.lower), list(&self.upper))
    }

    fn bounds(&self) -> Vec<(f64, f64)> {
        self.lower.iter().copied().zip(self.upper.iter().copied()).collect()
    }
}

/// The improper flat density: log density 0 everywhere.
#[derive(Debug, Clone, PartialEq)]
pub struct Flat {
    /// The number of coordinates.
    pub dim: usize,
}

impl DiffLogDensity for Flat {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn log_density(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.sum(1)? * 0.0
    }

    fn describe(&self) -> String {
        format!("flat({} coordinates)", self.dim)
    }
}

/// The hierarchical normal on `(θ_1, ..., θ_k, γ)`: `Σ_i log N(θ_i | γ, τ²)`
/// (the last coordinate is `γ`).
#[derive(Debug, Clone, PartialEq)]
pub struct HierarchicalNormal {
    /// The number `k` of group parameters `θ_i` (the term has `k + 1` coordinates).
    pub k: usize,
    /// The between-group standard deviation (positive).
    pub tau: f64,
}

impl DiffLogDensity for HierarchicalNormal {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn dim(&self) -> usize {
        self.k + 1
    }

    fn log_density(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let theta = x.narrow(1, 0, self.k)?;
        let gamma = x.narrow(1, self.k, 1)?;
        let z = (theta.broadcast_sub(&gamma)? / self.tau)?;
        let c = self.k as f64 * (-self.tau.ln() - HALF_LN_2PI);
        (z.sqr()?.sum(1)? * -0.5)? + c
    }

    fn describe(&self) -> String {
        format!("hierarchical normal({} groups, tau {})", self.k, self.tau)
    }
}

//! Stationary covariance kernels with one length scale per input (ARD).
//!
//! Every kernel is `k(x, x') = s² ρ(r)` with the scaled distance
//! `r² = Σ_d (x_d − x'_d)² / l_d²`. Hyperparameters live in log space:
//! `[log l_1, …, log l_p, log s², log σ²_noise]`; the white-noise term adds
//! `σ²_noise` on the diagonal of the training covariance.
//!
//! # Reference
//! C. E. Rasmussen and C. K. I. Williams, *Gaussian Processes for Machine
//! Learning*, MIT Press 2006, section 4.2 (squared exponential, Matérn ν = 3/2, 5/2).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The correlation function of a GP. Parsed from its name by [`FromStr`]
/// (in settings files too): `se` (or `rbf`, `sqexp`), `matern32`,
/// `matern52`, in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Kernel {
    /// Squared exponential `exp(−r²/2)`.
    #[default]
    Se,
    /// Matérn ν = 3/2: `(1 + √3 r) exp(−√3 r)`.
    Matern32,
    /// Matérn ν = 5/2: `(1 + √5 r + 5r²/3) exp(−√5 r)`.
    Matern52,
}

const SQRT3: f64 = 1.732_050_807_568_877_2;
const SQRT5: f64 = 2.236_067_977_499_79;

/// A kernel name that is none of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kernel {0:?}: use se, matern32 or matern52")]
pub struct UnknownKernel(pub String);

impl FromStr for Kernel {
    type Err = UnknownKernel;

    fn from_str(s: &str) -> Result<Self, UnknownKernel> {
        match s.to_ascii_lowercase().as_str() {
            "se" | "rbf" | "sqexp" => Ok(Kernel::Se),
            "matern32" => Ok(Kernel::Matern32),
            "matern52" => Ok(Kernel::Matern52),
            _ => Err(UnknownKernel(s.to_string())),
        }
    }
}

impl TryFrom<String> for Kernel {
    type Error = UnknownKernel;

    fn try_from(s: String) -> Result<Self, UnknownKernel> {
        s.parse()
    }
}

impl std::fmt::Display for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Kernel {
    /// Its name (what [`FromStr`] reads back).
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Se => "se",
            Kernel::Matern32 => "matern32",
            Kernel::Matern52 => "matern52",
        }
    }

    /// Correlation `ρ` at squared scaled distance `r2`.
    #[inline]
    pub fn corr(self, r2: f64) -> f64 {
        match self {
            Kernel::Se => (-0.5 * r2).exp(),
            Kernel::Matern32 => {
                let a = SQRT3 * r2.sqrt();
                (1.0 + a) * (-a).exp()
            }
            Kernel::Matern52 => {
                let a = SQRT5 * r2.sqrt();
                (1.0 + a + 5.0 * r2 / 3.0) * (-a).exp()
            }
        }
    }

    /// `g(r)` such that `∂ρ/∂ log l_d = g(r) (x_d − x'_d)² / l_d²`; finite at `r = 0`.
    #[inline]
    pub fn dcorr(self, r2: f64) -> f64 {
        match self {
            Kernel::Se => (-0.5 * r2).exp(),
            Kernel::Matern32 => 3.0 * (-SQRT3 * r2.sqrt()).exp(),
            Kernel::Matern52 => {
                let a = SQRT5 * r2.sqrt();
                5.0 / 3.0 * (1.0 + a) * (-a).exp()
            }
        }
    }
}

/// Squared scaled distance between two points given inverse squared length scales.
#[cfg(test)]
#[inline]
pub(crate) fn r2(a: &[f64], b: &[f64], inv_l2: &[f64]) -> f64 {
    let mut s = 0.0;
    for d in 0..a.len() {
        let t = a[d] - b[d];
        s += t * t * inv_l2[d];
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivative_matches_finite_difference() {
        // rho(r2(l)) with one dimension, delta = 0.7: d rho / d log l by central differences.
        for k in [Kernel::Se, Kernel::Matern32, Kernel::Matern52] {
            let (delta, l) = (0.7_f64, 0.9_f64);
            let f = |ll: f64| k.corr(delta * delta / (ll.exp() * ll.exp()));
            let h = 1e-6;
            let fd = (f(l.ln() + h) - f(l.ln() - h)) / (2.0 * h);
            let an = k.dcorr(delta * delta / (l * l)) * delta * delta / (l * l);
            assert!((fd - an).abs() < 1e-7, "{k:?}: {fd} vs {an}");
            assert!((k.corr(0.0) - 1.0).abs() < 1e-15);
        }
        assert_eq!("Matern52".parse(), Ok(Kernel::Matern52));
        assert_eq!("cubic".parse::<Kernel>(), Err(UnknownKernel("cubic".into())));
        for k in [Kernel::Se, Kernel::Matern32, Kernel::Matern52] {
            assert_eq!(k.to_string().parse(), Ok(k));
            assert_eq!(serde_json::from_str::<Kernel>(&serde_json::to_string(&k).unwrap()).unwrap(), k);
        }
    }
}

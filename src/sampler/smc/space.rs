//! The unbounded coordinates the particles live in, and the two densities
//! tempering moves between.
//!
//! With a proper prior, each bounded parameter is mapped to the real line by
//! the same transforms the flow priors use ([`DimTransform`]: logit for an
//! interval, log for a half-line), and the reference is the prior carried
//! over (log-Jacobian included); the tempered part is the likelihood.
//! Without one (a target whose likelihood is its full log posterior) the
//! reference is `N(0, s²)` per coordinate and the tempered part is the log
//! posterior minus the reference. Either way the target at temperature `β`
//! is `r(y) · exp(β ℓ(y))` and the evidence is `∫ r e^ℓ`.

use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use seqcal_flow::bijector::DimTransform;
use serde::{Deserialize, Serialize};

use crate::sampler::Posterior;
use crate::{Error, Result};

/// The map to unbounded coordinates and the reference density.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Space {
    dims: Vec<DimTransform>,
    /// `Some(s)`: no proper prior, reference `N(0, s²)`.
    reference_scale: Option<f64>,
}

/// Log reference density and tempered log density of each particle.
#[derive(Debug, Clone, Default)]
pub(super) struct Densities {
    pub log_ref: Vec<f64>,
    pub ell: Vec<f64>,
}

impl Space {
    pub fn new(posterior: &Posterior, reference_scale: f64) -> Self {
        match posterior.prior() {
            Some(p) => Space { dims: p.bounds().iter().map(|&(a, b)| DimTransform::for_bounds(a, b, true)).collect(), reference_scale: None },
            None => Space { dims: vec![DimTransform::Identity; posterior.dim()], reference_scale: Some(reference_scale) },
        }
    }

    pub fn dim(&self) -> usize {
        self.dims.len()
    }

    /// `n` draws of the reference, in unbounded coordinates.
    pub fn sample_reference(&self, posterior: &Posterior, rng: &mut dyn Rng, n: usize) -> Result<Array2<f64>> {
        let d = self.dim();
        match (posterior.prior(), self.reference_scale) {
            (Some(p), _) => {
                let x = p.sample(rng, n);
                let mut y = Array2::zeros((n, d));
                for (i, row) in x.rows().into_iter().enumerate() {
                    for j in 0..d {
                        y[[i, j]] = self.dims[j]
                            .to_latent_clamped(row[j])
                            .ok_or_else(|| Error::Usage(format!("the prior drew a non-finite value for parameter {j}")))?;
                    }
                }
                Ok(y)
            }
            (None, s) => {
                let s = s.unwrap_or(1.0);
                Ok(Array2::from_shape_fn((n, d), |_| {
                    let e: f64 = StandardNormal.sample(rng);
                    s * e
                }))
            }
        }
    }

    /// Unbounded coordinates to the parameters the posterior takes.
    pub fn to_params(&self, y: &Array2<f64>) -> Array2<f64> {
        let mut x = y.clone();
        for mut row in x.rows_mut() {
            for (v, t) in row.iter_mut().zip(&self.dims) {
                *v = t.from_latent(*v);
            }
        }
        x
    }

    /// Evaluates the particles `y` (through the posterior's batches, so the
    /// result does not depend on the thread count).
    pub fn evaluate(&self, posterior: &Posterior, y: &Array2<f64>) -> Result<Densities> {
        let x = self.to_params(y);
        let ev = posterior.evaluate(x.view()).map_err(Error::Density)?;
        let mut out = Densities { log_ref: Vec::with_capacity(ev.len()), ell: Vec::with_capacity(ev.len()) };
        for (row, e) in y.rows().into_iter().zip(ev) {
            let (lr, ell) = match self.reference_scale {
                None => {
                    let lj: f64 = row.iter().zip(&self.dims).map(|(v, t)| t.log_jac_at_latent(*v)).sum();
                    (e.log_prior - lj, e.log_lik)
                }
                Some(s) => {
                    let q = -0.5 * row.iter().map(|v| (v / s) * (v / s)).sum::<f64>()
                        - row.len() as f64 * (s.ln() + 0.5 * (2.0 * std::f64::consts::PI).ln());
                    (q, e.log_lik - q)
                }
            };
            // A NaN never reaches the sampler: it is a point of zero density.
            let ok = lr.is_finite() && !ell.is_nan() && ell < f64::INFINITY;
            out.log_ref.push(if ok { lr } else { f64::NEG_INFINITY });
            out.ell.push(if ok { ell } else { f64::NEG_INFINITY });
        }
        Ok(out)
    }

    /// The posterior's own `(log prior, log likelihood)` of each particle.
    pub fn stored_densities(&self, y: &Array2<f64>, dens: &Densities) -> (Vec<f64>, Vec<f64>) {
        let mut lp = Vec::with_capacity(y.nrows());
        let mut ll = Vec::with_capacity(y.nrows());
        for (i, row) in y.rows().into_iter().enumerate() {
            match self.reference_scale {
                None => {
                    let lj: f64 = row.iter().zip(&self.dims).map(|(v, t)| t.log_jac_at_latent(*v)).sum();
                    lp.push(dens.log_ref[i] + lj);
                    ll.push(dens.ell[i]);
                }
                Some(_) => {
                    lp.push(0.0);
                    ll.push(dens.ell[i] + dens.log_ref[i]);
                }
            }
        }
        (lp, ll)
    }
}

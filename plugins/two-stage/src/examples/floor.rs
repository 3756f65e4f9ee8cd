//! The statistical floor of the hierarchical examples: how close ANY stage 1
//! fitted to a finite software pool can bring the composite to the exact
//! posterior.
//!
//! A software pool of group `i` is `n` draws of `N(m_i, v_i)` (the software
//! posterior). Fitting it by a Gaussian (the sample mean `m̂` and the maximum
//! likelihood variance `v̂`) is the efficient estimator for such a pool, and
//! with it the composite is Gaussian again: dividing the software prior
//! `N(0, a²)` out of `N(m̂, v̂)` leaves the implied likelihood
//! `N(θ_i; ŷ_i, ŝ_i²)` with `1/ŝ_i² = 1/v̂ - 1/a²` and `ŷ_i = ŝ_i² m̂ / v̂`
//! (a flat software prior leaves `N(m̂, v̂)` itself), and the posterior of the
//! hierarchical model with per-group observation variances `ŝ_i²` is closed
//! form ([`HierarchicalCase::moments_given`]). Over many pool seeds this
//! Gaussian-MLE *oracle* gives the distribution of the error that the pool's
//! sampling noise alone causes: the floor a flexible stage 1 can at best reach
//! on the same pool.
//!
//! Where the software prior is informative the floor is large: `v̂` has a
//! relative error of about `√(2/n)`, and `1 - v̂/a²` amplifies it (case (a):
//! `v = 0.2`, `a² = 0.25`, so `ŷ` moves by `4 ε y`, ≈ 0.16 at `y = -5`,
//! `n = 30 000`).
//!
//! [`HierarchicalCase::quadrature_moments`] computes the moments of the
//! composite built on any 1-D component densities (stage-1 flows) by
//! quadrature, without stage 2, so that a stage 1 can be put next to the
//! oracle of the same pool.

use std::sync::Arc;

use candle_core::{Device, Tensor};
use ndarray::Array2;

use super::hierarchical::HierarchicalCase;
use super::{MomentErrors, Moments};
use crate::error::{Result, TwoStageError};
use crate::stage1::SampleComponent;
use crate::DiffLogDensity;

/// The Gaussian maximum-likelihood fit of a 1-D pool: `(mean, variance)` with
/// `n` in the variance's denominator (weights ignored).
///
/// # Panics
/// If the pool has not exactly one column or fewer than two draws.
pub fn gaussian_fit(pool: &SampleComponent) -> (f64, f64) {
    assert!(pool.draws.ncols() == 1 && pool.draws.nrows() >= 2, "gaussian_fit: a 1-D pool of two or more draws");
    let x = pool.draws.column(0);
    let n = x.len() as f64;
    let m = x.sum() / n;
    (m, x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n)
}

/// The errors of `est` against `exact` (signed per coordinate, Frobenius over
/// the covariance block).
pub fn moments_error(est: &Moments, exact: &Moments) -> MomentErrors {
    let diff = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x - y).collect::<Vec<f64>>();
    let frob = (&est.cov - &exact.cov).iter().map(|v| v * v).sum::<f64>().sqrt();
    MomentErrors {
        mean: est.mean.clone(),
        sd: est.sd.clone(),
        mean_err: diff(&est.mean, &exact.mean),
        sd_err: diff(&est.sd, &exact.sd),
        cov_frobenius: frob,
    }
}

impl HierarchicalCase {
    /// The implied likelihood `N(ŷ, ŝ²)` of a group whose software posterior
    /// is fitted by `N(mean, var)`: the software prior divided out. `None`
    /// when the fit is not narrower than the software prior (nothing proper is
    /// left).
    pub fn implied_likelihood(&self, mean: f64, var: f64) -> Option<(f64, f64)> {
        match self.software_sd {
            None => Some((mean, var)),
            Some(a) => {
                let prec = 1.0 / var - 1.0 / (a * a);
                (prec > 0.0).then(|| (mean / var / prec, 1.0 / prec))
            }
        }
    }

    /// The exact posterior moments of `(θ, γ)` when group `i`'s likelihood is
    /// `N(ŷ_i; θ_i, ŝ_i²)` (flat prior on `γ`): `γ | ŷ ~ N(Σ w_i ŷ_i / Σ w_i,
    /// 1/Σ w_i)` with `w_i = 1/(ŝ_i² + τ²)`; `θ_i = b_i γ + (1 - b_i) ŷ_i` plus
    /// independent noise of variance `ŝ_i²τ²/(ŝ_i²+τ²)`, `b_i = ŝ_i²/(ŝ_i²+τ²)`.
    /// With `ŷ = Y` and every `ŝ_i² = σ²` this is [`exact`](Self::exact).
    ///
    /// # Panics
    /// If `yhat` or `s2` do not have `J` entries.
    pub fn moments_given(&self, yhat: &[f64], s2: &[f64]) -> Moments {
        assert!(yhat.len() == self.j && s2.len() == self.j, "one value per group");
        let t2 = self.tau * self.tau;
        let w: Vec<f64> = s2.iter().map(|s| 1.0 / (s + t2)).collect();
        let vg = 1.0 / w.iter().sum::<f64>();
        let mg = vg * w.iter().zip(yhat).map(|(w, y)| w * y).sum::<f64>();
        let b: Vec<f64> = s2.iter().map(|s| s / (s + t2)).collect();
        let cov = Array2::from_shape_fn((self.j, self.j), |(i, k)| b[i] * b[k] * vg + if i == k { s2[i] * t2 / (s2[i] + t2) } else { 0.0 });
        let mut mean: Vec<f64> = (0..self.j).map(|i| b[i] * mg + (1.0 - b[i]) * yhat[i]).collect();
        mean.push(mg);
        let mut sd: Vec<f64> = (0..self.j).map(|i| cov[[i, i]].sqrt()).collect();
        sd.push(vg.sqrt());
        Moments { names: self.names(), mean, sd, cov_coords: (0..self.j).collect(), cov }
    }

    /// The composite's moments with every group's software posterior replaced
    /// by the Gaussian maximum-likelihood fit of its pool: the oracle stage 1
    /// for Gaussian pools. `None` when a fit leaves an improper likelihood.
    pub fn gaussian_oracle(&self, pools: &[SampleComponent]) -> Option<Moments> {
        let mut yhat = Vec::with_capacity(self.j);
        let mut s2 = Vec::with_capacity(self.j);
        for p in pools {
            let (m, v) = gaussian_fit(p);
            let (y, s) = self.implied_likelihood(m, v)?;
            yhat.push(y);
            s2.push(s);
        }
        Some(self.moments_given(&yhat, &s2))
    }

    /// The oracle's mean error per coordinate to first order in the pool's
    /// sampling noise (`Var m̂ = v/n`, `Var v̂ = 2v²/n`, independent): its
    /// standard deviation over pools of `n` draws, by central differences of
    /// [`moments_given`](Self::moments_given).
    pub fn floor_mean_sd(&self, y: &[f64], n: usize) -> Vec<f64> {
        let sp = self.software_posterior(y);
        let base: Vec<(f64, f64)> = sp.iter().map(|(m, s)| (*m, s * s)).collect();
        let means = |fits: &[(f64, f64)]| -> Vec<f64> {
            let (yh, s2): (Vec<f64>, Vec<f64>) = fits.iter().map(|(m, v)| self.implied_likelihood(*m, *v).expect("proper")).unzip();
            self.moments_given(&yh, &s2).mean
        };
        let mut var = vec![0.0; self.j + 1];
        for (i, &(m, v)) in base.iter().enumerate() {
            for (which, sd_param) in [(0, (v / n as f64).sqrt()), (1, v * (2.0 / n as f64).sqrt())] {
                let h = 1e-4 * if which == 0 { v.sqrt() } else { v };
                let shifted = |sign: f64| {
                    let mut f = base.clone();
                    if which == 0 {
                        f[i].0 = m + sign * h;
                    } else {
                        f[i].1 = v + sign * h;
                    }
                    means(&f)
                };
                let (up, down) = (shifted(1.0), shifted(-1.0));
                for ((acc, u), d) in var.iter_mut().zip(&up).zip(&down) {
                    *acc += ((u - d) / (2.0 * h) * sd_param).powi(2);
                }
            }
        }
        var.into_iter().map(f64::sqrt).collect()
    }

    /// The oracle's errors against the exact posterior on the pools of
    /// `seeds` (`n` draws per group, [`pools`](Self::pools)); `None` for a
    /// seed whose fit is improper.
    pub fn floor_errors(&self, y: &[f64], n: usize, seeds: std::ops::Range<u64>) -> Vec<Option<MomentErrors>> {
        let exact = self.exact(y);
        seeds.map(|s| self.gaussian_oracle(&self.pools(y, n, s)).map(|m| moments_error(&m, &exact))).collect()
    }

    /// The moments of the composite built on 1-D component densities
    /// `comps` (one per group, on `θ_i`; the software prior divided out, the
    /// hierarchical normal, a flat prior on `γ`), by quadrature: trapezoids on
    /// `QUAD_THETA` points over `±QUAD_SDS` sds of the exact posterior `around`
    /// for each `θ_i`, and `QUAD_GAMMA` points for `γ`.
    ///
    /// # Errors
    /// A component that is not 1-D or fails to evaluate, or a composite with
    /// no mass on the grid.
    pub fn quadrature_moments(&self, comps: &[Arc<dyn DiffLogDensity>], around: &Moments) -> Result<Moments> {
        if comps.len() != self.j || comps.iter().any(|c| c.dim() != 1) {
            return Err(TwoStageError::invalid("quadrature_moments: one 1-D density per group"));
        }
        let grid =
            |c: f64, s: f64, n: usize| -> Vec<f64> { (0..n).map(|k| c - QUAD_SDS * s + 2.0 * QUAD_SDS * s * k as f64 / (n - 1) as f64).collect() };
        let gam = grid(around.mean[self.j], around.sd[self.j], QUAD_GAMMA);
        let t2 = self.tau * self.tau;
        // Per group and per γ node: log c_i(γ), E[θ_i | γ], E[θ_i² | γ].
        let mut logc = vec![vec![0.0; QUAD_GAMMA]; self.j];
        let mut m1 = logc.clone();
        let mut m2 = logc.clone();
        for (i, g) in comps.iter().enumerate() {
            let th = grid(around.mean[i], around.sd[i], QUAD_THETA);
            let x = Tensor::from_vec(th.clone(), (QUAD_THETA, 1), &Device::Cpu).map_err(|e| TwoStageError::invalid(e.to_string()))?;
            let lg: Vec<f64> =
                g.log_density(&x).and_then(|t| t.to_dtype(candle_core::DType::F64)?.to_vec1()).map_err(|e| TwoStageError::invalid(e.to_string()))?;
            let soft = |t: f64| self.software_sd.map_or(0.0, |a| -0.5 * (t / a).powi(2));
            let ll: Vec<f64> = th.iter().zip(&lg).map(|(t, l)| l - soft(*t)).collect();
            for (k, gk) in gam.iter().enumerate() {
                let a: Vec<f64> = th.iter().zip(&ll).map(|(t, l)| l - 0.5 * (t - gk).powi(2) / t2).collect();
                let top = a.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                if !top.is_finite() {
                    logc[i][k] = f64::NEG_INFINITY;
                    continue;
                }
                let (mut s0, mut s1, mut s2) = (0.0, 0.0, 0.0);
                for (idx, (t, v)) in th.iter().zip(&a).enumerate() {
                    let wt = if idx == 0 || idx + 1 == QUAD_THETA { 0.5 } else { 1.0 };
                    let e = wt * (v - top).exp();
                    s0 += e;
                    s1 += e * t;
                    s2 += e * t * t;
                }
                logc[i][k] = top + s0.ln();
                m1[i][k] = s1 / s0;
                m2[i][k] = s2 / s0;
            }
        }
        let lp: Vec<f64> = (0..QUAD_GAMMA).map(|k| (0..self.j).map(|i| logc[i][k]).sum::<f64>()).collect();
        let top = lp.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        if !top.is_finite() {
            return Err(TwoStageError::invalid("quadrature_moments: the composite has no mass on the grid"));
        }
        let pw: Vec<f64> = lp.iter().enumerate().map(|(k, l)| if k == 0 || k + 1 == QUAD_GAMMA { 0.5 } else { 1.0 } * (l - top).exp()).collect();
        let z: f64 = pw.iter().sum();
        let e = |f: &dyn Fn(usize) -> f64| (0..QUAD_GAMMA).map(|k| pw[k] * f(k)).sum::<f64>() / z;
        let mg = e(&|k| gam[k]);
        let vg = e(&|k| (gam[k] - mg).powi(2));
        let mt: Vec<f64> = (0..self.j).map(|i| e(&|k| m1[i][k])).collect();
        let cov = Array2::from_shape_fn((self.j, self.j), |(i, l)| {
            if i == l {
                e(&|k| m2[i][k]) - mt[i] * mt[i]
            } else {
                e(&|k| m1[i][k] * m1[l][k]) - mt[i] * mt[l]
            }
        });
        let mut mean = mt;
        mean.push(mg);
        let mut sd: Vec<f64> = (0..self.j).map(|i| cov[[i, i]].sqrt()).collect();
        sd.push(vg.sqrt());
        Ok(Moments { names: self.names(), mean, sd, cov_coords: (0..self.j).collect(), cov })
    }
}

/// Half-width of the quadrature grids, in sds of the exact posterior.
pub const QUAD_SDS: f64 = 10.0;
/// Nodes per `θ_i` grid.
pub const QUAD_THETA: usize = 2001;
/// Nodes of the `γ` grid.
pub const QUAD_GAMMA: usize = 801;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples::hierarchical::REFERENCE_Y_A;

    fn close(a: &Moments, b: &Moments, tol: f64) {
        for (x, y) in a.mean.iter().zip(&b.mean).chain(a.sd.iter().zip(&b.sd)).chain(a.cov.iter().zip(b.cov.iter())) {
            assert!((x - y).abs() < tol, "{a:?}\n{b:?}");
        }
    }

    #[test]
    fn closed_form_with_the_true_likelihoods_is_the_exact_posterior() {
        for (c, y) in [(HierarchicalCase::a(), REFERENCE_Y_A.to_vec()), (HierarchicalCase::b(), HierarchicalCase::b().data(0))] {
            let s2 = vec![c.sigma * c.sigma; c.j];
            close(&c.moments_given(&y, &s2), &c.exact(&y), 1e-12);
            // The implied likelihood of the exact software posterior is N(Y_i, σ²).
            for ((m, s), yi) in c.software_posterior(&y).into_iter().zip(&y) {
                let (yh, v) = c.implied_likelihood(m, s * s).unwrap();
                assert!((yh - yi).abs() < 1e-12 && (v - c.sigma * c.sigma).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn quadrature_of_the_exact_components_is_the_exact_posterior() {
        let c = HierarchicalCase::a();
        let exact = c.exact(&REFERENCE_Y_A);
        close(&c.quadrature_moments(&c.exact_components(&REFERENCE_Y_A), &exact).unwrap(), &exact, 1e-6);
        // Components that are not the truth: the quadrature agrees with the closed form.
        let fits = [(-0.9, 0.21), (-1.2, 0.19), (-0.6, 0.2)];
        let comps: Vec<Arc<dyn DiffLogDensity>> =
            fits.iter().map(|(m, v)| Arc::new(crate::terms::Normal { mean: vec![*m], sd: vec![f64::sqrt(*v)] }) as Arc<dyn DiffLogDensity>).collect();
        let (yh, s2): (Vec<f64>, Vec<f64>) = fits.iter().map(|(m, v)| c.implied_likelihood(*m, *v).unwrap()).unzip();
        close(&c.quadrature_moments(&comps, &exact).unwrap(), &c.moments_given(&yh, &s2), 1e-5);
    }

    #[test]
    fn a_fit_as_wide_as_the_software_prior_is_improper() {
        assert!(HierarchicalCase::a().implied_likelihood(-1.0, 0.25).is_none());
        assert!(HierarchicalCase::a().implied_likelihood(-1.0, 0.2).is_some());
    }
}

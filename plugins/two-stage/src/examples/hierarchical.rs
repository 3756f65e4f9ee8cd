//! The hierarchical model with an inaccessible likelihood.
//!
//! `Y_i | θ_i ~ N(θ_i, σ²)`, `θ_i | γ ~ N(γ, τ²)`, flat prior on `γ`,
//! `i = 1..J`. Each group's likelihood is known only through a "software"
//! that samples `P_S(θ_i | Y_i) ∝ N(Y_i | θ_i, σ²) P_S(θ_i)` under its own
//! prior `P_S`, which the composite divides out:
//!
//! `π(θ, γ) ∝ ∏_i P_S(θ_i | Y_i) / P_S(θ_i) · N(θ_i | γ, τ²)`.
//!
//! The posterior is Gaussian: `γ | Y ~ N(ȳ, (σ²+τ²)/J)` and
//! `θ | Y ~ N(μ, Σ)` with `μ_i = (σ² ȳ + τ² Y_i)/(σ²+τ²)`,
//! `Σ = σ²τ²/(σ²+τ²) I + σ⁴/(J(σ²+τ²)) 11ᵀ`.

use std::sync::Arc;

use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, StandardNormal};

use super::Moments;
use crate::error::Result;
use crate::stage1::SampleComponent;
use crate::target::{Combination, CompositeTarget, Factor, Role};
use crate::terms::{Flat, HierarchicalNormal, Normal as NormalTerm};
use crate::DiffLogDensity;

/// The data set of the normflows reference script (numpy's `default_rng(0)`:
/// `θ = normal(-5, 2, 3)`, `y = normal(θ, 1)`), so that both tools run the
/// identical case (a).
pub const REFERENCE_Y_A: [f64; 3] = [-4.6436394406601735, -5.799879099743715, -3.3575596442039513];

/// One case of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct HierarchicalCase {
    /// Number of groups `J`.
    pub j: usize,
    /// Observation sd `σ`.
    pub sigma: f64,
    /// Population sd `τ`.
    pub tau: f64,
    /// True population mean `γ` the data are drawn with.
    pub gamma: f64,
    /// The software prior `P_S(θ_i) = N(0, sd²)`; `None`: flat.
    pub software_sd: Option<f64>,
}

impl HierarchicalCase {
    /// Case (a): `J = 3`, `σ = 1`, `τ = 2`, `γ = -5`, `P_S = N(0, 0.5²)`.
    /// The software prior pulls the software draws about 8 sd from where the
    /// composite puts its mass.
    pub fn a() -> Self {
        HierarchicalCase { j: 3, sigma: 1.0, tau: 2.0, gamma: -5.0, software_sd: Some(0.5) }
    }

    /// Case (b): `J = 5`, `σ = 4`, `τ = 1`, `γ = 20`, flat `P_S`.
    pub fn b() -> Self {
        HierarchicalCase { j: 5, sigma: 4.0, tau: 1.0, gamma: 20.0, software_sd: None }
    }

    /// Coordinate names: `theta_1..theta_J`, then `gamma`.
    pub fn names(&self) -> Vec<String> {
        (1..=self.j).map(|i| format!("theta_{i}")).chain(std::iter::once("gamma".to_string())).collect()
    }

    /// Data `Y` drawn from the model with a fixed seed: `θ_i ~ N(γ, τ²)`,
    /// `Y_i ~ N(θ_i, σ²)`.
    pub fn data(&self, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut n = || -> f64 { StandardNormal.sample(&mut rng) };
        let theta: Vec<f64> = (0..self.j).map(|_| self.gamma + self.tau * n()).collect();
        theta.iter().map(|t| t + self.sigma * n()).collect()
    }

    /// Mean and sd of each group's software posterior `P_S(θ_i | Y_i)`.
    pub fn software_posterior(&self, y: &[f64]) -> Vec<(f64, f64)> {
        let s2 = self.sigma * self.sigma;
        y.iter()
            .map(|&yi| match self.software_sd {
                Some(a) => {
                    let a2 = a * a;
                    (a2 * yi / (a2 + s2), (a2 * s2 / (a2 + s2)).sqrt())
                }
                None => (yi, self.sigma),
            })
            .collect()
    }

    /// One pool per group, `software_i` on `theta_i`, `n` draws each of the
    /// software posterior.
    ///
    /// # Panics
    /// If `y.len() != J`.
    pub fn pools(&self, y: &[f64], n: usize, seed: u64) -> Vec<SampleComponent> {
        assert_eq!(y.len(), self.j, "one observation per group");
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        self.software_posterior(y)
            .into_iter()
            .enumerate()
            .map(|(i, (m, s))| {
                let d = Normal::new(m, s).expect("finite sd");
                let draws = Array2::from_shape_fn((n, 1), |_| d.sample(&mut rng));
                SampleComponent { label: format!("software_{}", i + 1), names: vec![format!("theta_{}", i + 1)], draws, weights: None, bounds: None }
            })
            .collect()
    }

    /// The exact posterior moments of `(θ_1..θ_J, γ)`, with the covariance
    /// of `θ`.
    pub fn exact(&self, y: &[f64]) -> Moments {
        let (s2, t2, j) = (self.sigma * self.sigma, self.tau * self.tau, self.j as f64);
        let ybar = y.iter().sum::<f64>() / j;
        let diag = s2 * t2 / (s2 + t2);
        let off = s2 * s2 / (j * (s2 + t2));
        let cov = Array2::from_shape_fn((self.j, self.j), |(a, b)| off + if a == b { diag } else { 0.0 });
        let mut mean: Vec<f64> = y.iter().map(|yi| (s2 * ybar + t2 * yi) / (s2 + t2)).collect();
        mean.push(ybar);
        let mut sd = vec![(diag + off).sqrt(); self.j];
        sd.push(((s2 + t2) / j).sqrt());
        Moments { names: self.names(), mean, sd, cov_coords: (0..self.j).collect(), cov }
    }

    /// The analytic part of the composite at `(θ, γ)`:
    /// `Σ_i log N(θ_i | γ, τ²) - log P_S(θ_i)` (up to a constant), what
    /// TSFB's acceptance ratios read.
    pub fn log_analytic(&self, x: &[f64]) -> f64 {
        let g = x[self.j];
        x[..self.j]
            .iter()
            .map(|t| {
                let soft = self.software_sd.map_or(0.0, |a| -0.5 * (t / a).powi(2));
                -0.5 * ((t - g) / self.tau).powi(2) - soft
            })
            .sum()
    }

    /// The exact Gibbs draw of `γ` (flat prior, hierarchical normal).
    pub fn conjugate(&self) -> crate::tsfb::Conjugate {
        crate::tsfb::Conjugate { gamma: self.j, thetas: (0..self.j).collect(), tau: self.tau, prior: None }
    }

    /// The composite with `components[i]` standing for group `i`'s software
    /// posterior (its stage-1 flow, or [`exact_components`](Self::exact_components)),
    /// the software prior divided out of it, the hierarchical normal and the
    /// flat prior on `γ`.
    ///
    /// # Errors
    /// As [`CompositeTarget::new`] (e.g. a component of the wrong dimension).
    pub fn target(&self, components: Vec<Arc<dyn DiffLogDensity>>) -> Result<CompositeTarget> {
        let mut factors = Vec::new();
        for (i, g) in components.into_iter().enumerate() {
            factors.push(Factor { label: format!("software_{}", i + 1), coords: vec![i], density: g, role: Role::Sample { component: i } });
            if let Some(a) = self.software_sd {
                let prior = NormalTerm { mean: vec![0.0], sd: vec![a] };
                factors.push(Factor {
                    label: format!("software prior {}", i + 1),
                    coords: vec![i],
                    density: Arc::new(prior),
                    role: Role::Divide { component: i },
                });
            }
        }
        let pop = HierarchicalNormal { k: self.j, tau: self.tau };
        factors.push(Factor { label: "population".into(), coords: (0..=self.j).collect(), density: Arc::new(pop), role: Role::Analytic });
        factors.push(Factor { label: "gamma prior".into(), coords: vec![self.j], density: Arc::new(Flat { dim: 1 }), role: Role::Analytic });
        CompositeTarget::new(self.names(), factors, Combination::Product)
    }

    /// The exact software posteriors as densities, in place of stage-1 flows:
    /// with them [`target`](Self::target) is the exact posterior.
    pub fn exact_components(&self, y: &[f64]) -> Vec<Arc<dyn DiffLogDensity>> {
        self.software_posterior(y).into_iter().map(|(m, s)| Arc::new(NormalTerm { mean: vec![m], sd: vec![s] }) as Arc<dyn DiffLogDensity>).collect()
    }

    /// `n` i.i.d. draws of the exact posterior of `(θ, γ)`: `γ` from its
    /// marginal, then each `θ_i | γ, Y ~ N((σ²γ + τ²Y_i)/(σ²+τ²), σ²τ²/(σ²+τ²))`.
    pub fn exact_draws(&self, y: &[f64], n: usize, seed: u64) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (s2, t2) = (self.sigma * self.sigma, self.tau * self.tau);
        let (gm, gsd, csd) = self.gamma_posterior(y);
        let mut out = Array2::zeros((n, self.j + 1));
        for mut r in out.rows_mut() {
            let mut z = || -> f64 { StandardNormal.sample(&mut rng) };
            let g = gm + gsd * z();
            r[self.j] = g;
            for i in 0..self.j {
                r[i] = (s2 * g + t2 * y[i]) / (s2 + t2) + csd * z();
            }
        }
        out
    }

    /// Mean and sd of `γ | Y`, and the sd of `θ_i | γ, Y`.
    fn gamma_posterior(&self, y: &[f64]) -> (f64, f64, f64) {
        let (s2, t2, j) = (self.sigma * self.sigma, self.tau * self.tau, self.j as f64);
        (y.iter().sum::<f64>() / j, ((s2 + t2) / j).sqrt(), (s2 * t2 / (s2 + t2)).sqrt())
    }

    /// The normalized exact log posterior density of each row `(θ, γ)` of `x`.
    pub fn exact_log_density(&self, y: &[f64], x: ndarray::ArrayView2<'_, f64>) -> Vec<f64> {
        let (s2, t2) = (self.sigma * self.sigma, self.tau * self.tau);
        let (gm, gsd, csd) = self.gamma_posterior(y);
        let ln = |v: f64, m: f64, s: f64| -0.5 * ((v - m) / s).powi(2) - s.ln() - 0.918_938_533_204_672_7;
        x.rows()
            .into_iter()
            .map(|r| {
                let g = r[self.j];
                ln(g, gm, gsd) + (0..self.j).map(|i| ln(r[i], (s2 * g + t2 * y[i]) / (s2 + t2), csd)).sum::<f64>()
            })
            .collect()
    }

    /// The spec file of this case (`seqcal two-stage run`), its pools in
    /// `software_<i>.csv` beside it. `settings` is appended verbatim (the
    /// `[stage1]` and `[stage2]` tables).
    pub fn spec_toml(&self, seed: u64, settings: &str) -> String {
        let quoted = |v: &[String]| v.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
        let names = self.names();
        let mut s = format!(
            "# Hierarchical model, J = {}, sigma = {}, tau = {}: group likelihoods known only through software draws.\n",
            self.j, self.sigma, self.tau
        );
        s += &format!("seed = {seed}\ncoordinates = [{}]\ncombine = \"product\"\n", quoted(&names));
        for i in 1..=self.j {
            s += &format!("\n[[component]]\nlabel = \"software_{i}\"\nchain = \"software_{i}.csv\"\nnames = [\"theta_{i}\"]\n");
            if let Some(a) = self.software_sd {
                s += &format!("divide = {{ kind = \"normal\", mean = 0.0, sd = {a:?} }}   # the software prior\n");
            }
        }
        s += &format!("\n[[term]]\nkind = \"hierarchical_normal\"\ncoords = [{}]\ntau = {:?}\n", quoted(&names), self.tau);
        s += "\n[[term]]\nkind = \"flat\"\ncoords = [\"gamma\"]\n";
        if !settings.is_empty() {
            s += "\n";
            s += settings;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples::moment_errors;

    #[test]
    fn exact_moments_match_the_formulas_of_case_a() {
        let c = HierarchicalCase::a();
        let e = c.exact(&REFERENCE_Y_A);
        let ybar = REFERENCE_Y_A.iter().sum::<f64>() / 3.0;
        assert!((e.mean[3] - ybar).abs() < 1e-15);
        assert!((e.sd[3] - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        // Σ_11 = 4/5 + 1/15.
        assert!((e.cov[[0, 0]] - (0.8 + 1.0 / 15.0)).abs() < 1e-15);
        assert!((e.mean[0] - (ybar + 4.0 * REFERENCE_Y_A[0]) / 5.0).abs() < 1e-15);
    }

    #[test]
    fn pools_follow_the_software_posterior() {
        let c = HierarchicalCase::a();
        let pools = c.pools(&REFERENCE_Y_A, 40_000, 1);
        let sp = c.software_posterior(&REFERENCE_Y_A);
        for (p, (m, s)) in pools.iter().zip(sp) {
            let ex = Moments { names: p.names.clone(), mean: vec![m], sd: vec![s], cov_coords: vec![0], cov: Array2::from_elem((1, 1), s * s) };
            let e = moment_errors(p.draws.view(), &ex);
            // 5 standard errors of the mean and of the sd at n = 40 000.
            assert!(e.mean_err[0].abs() < 5.0 * s / 200.0, "{e:?}");
            assert!(e.sd_err[0].abs() < 5.0 * s / 283.0, "{e:?}");
        }
        // The software posterior of case (a) sits about 8 sd from the composite.
        let ex = c.exact(&REFERENCE_Y_A);
        assert!((ex.mean[0] - sp_mean0(&c)).abs() / sp_sd0(&c) > 5.0);
    }

    fn sp_mean0(c: &HierarchicalCase) -> f64 {
        c.software_posterior(&REFERENCE_Y_A)[0].0
    }
    fn sp_sd0(c: &HierarchicalCase) -> f64 {
        c.software_posterior(&REFERENCE_Y_A)[0].1
    }

    #[test]
    fn data_are_reproducible() {
        assert_eq!(HierarchicalCase::b().data(7), HierarchicalCase::b().data(7));
        assert_ne!(HierarchicalCase::b().data(7), HierarchicalCase::b().data(8));
    }
}

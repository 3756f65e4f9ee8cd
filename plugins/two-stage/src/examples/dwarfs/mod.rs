//! A 151-dimensional analogue of a white-dwarf age study.
//!
//! 30 stars, each with 5 parameters `(age, mass, dist, feh, av)` (log10 age,
//! mass, distance modulus, metallicity, extinction), plus the population
//! mean log age `γ`. Each star's "software" posterior `g_i` is a known
//! non-Gaussian, correlated density: the image of a standard normal
//! `z ∈ R⁵` under a triangular map (a banana in mass, a correlation of
//! distance with age, a sinh-skewed metallicity, a log-normal extinction),
//! cut to the software's uniform prior box on the age. The composite is
//!
//! `π ∝ N(γ | 9, 0.5²) ∏_i g_i(x_i) / U(age_i) · N(age_i | γ, τ²)`.
//!
//! The age marginal of `g_i` is a normal cut to the box, so the composite's
//! `(age, γ)` marginal is known up to a 1-D integral over `γ`, and the other
//! parameters given the age follow the map: the exact composite can be drawn
//! i.i.d. ([`DwarfExample::exact_draws`]).

use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use statrs::distribution::{ContinuousCDF, Normal as SNormal};

mod target;

use super::Moments;
use crate::stage1::SampleComponent;

/// Stars.
pub const STARS: usize = 30;
/// The software's uniform prior box on the log age.
pub const AGE_BOX: (f64, f64) = (8.0, 10.1);
/// Population sd of the log ages, `τ̂`.
pub const TAU: f64 = 0.3;
/// Prior of `γ`: `N(9, 0.5²)`.
pub const GAMMA_PRIOR: (f64, f64) = (9.0, 0.5);
/// Correlation of `z_0` and the distance in the map.
pub(crate) const RHO: f64 = -0.6;
const LN_2PI: f64 = 1.8378770664093453;
/// Parameter names of one star.
pub const PARAMS: [&str; 5] = ["age", "mass", "dist", "feh", "av"];

/// One star's software density: the map `z -> x` and its constants.
#[derive(Debug, Clone, PartialEq)]
pub struct Star {
    /// Centre and scale of the (uncut) log-age normal.
    pub age: (f64, f64),
    /// Mass centre, scale and banana strength (`k (z_0² - 1)`).
    pub mass: (f64, f64, f64),
    /// Distance-modulus centre and scale.
    pub dist: (f64, f64),
    /// Metallicity centre and scale of the sinh (`c · 2 sinh(u/2)`).
    pub feh: (f64, f64),
    /// Log of the extinction's median.
    pub log_av: f64,
}

impl Star {
    /// `x = T(z)`.
    pub fn forward(&self, z: &[f64; 5]) -> [f64; 5] {
        let age = self.age.0 + self.age.1 * z[0];
        let mass = self.mass.0 + self.mass.1 * z[1] + self.mass.2 * (z[0] * z[0] - 1.0);
        let dist = self.dist.0 + self.dist.1 * (RHO * z[0] + (1.0 - RHO * RHO).sqrt() * z[2]);
        let feh = self.feh.0 + 2.0 * self.feh.1 * (0.5 * (z[3] + 0.5 * z[1])).sinh();
        let av = (self.log_av + 0.3 * z[4] + 0.2 * z[0]).exp();
        [age, mass, dist, feh, av]
    }

    /// The (unnormalized: the cut to the box is not renormalized) log
    /// density of the software posterior at `x`; `-∞` outside the box or at
    /// a non-positive extinction.
    pub fn log_density_f64(&self, x: &[f64]) -> f64 {
        if x[0] <= AGE_BOX.0 || x[0] >= AGE_BOX.1 || x[4] <= 0.0 {
            return f64::NEG_INFINITY;
        }
        let z0 = (x[0] - self.age.0) / self.age.1;
        let z1 = (x[1] - self.mass.0 - self.mass.2 * (z0 * z0 - 1.0)) / self.mass.1;
        let s = (1.0 - RHO * RHO).sqrt();
        let z2 = ((x[2] - self.dist.0) / self.dist.1 - RHO * z0) / s;
        let w = 0.5 * (x[3] - self.feh.0) / self.feh.1;
        let z3 = 2.0 * w.asinh() - 0.5 * z1;
        let z4 = (x[4].ln() - self.log_av - 0.2 * z0) / 0.3;
        let quad = z0 * z0 + z1 * z1 + z2 * z2 + z3 * z3 + z4 * z4;
        let log_det = -(self.age.1.ln() + self.mass.1.ln() + (self.dist.1 * s).ln() + self.feh.1.ln() + 0.5 * (1.0 + w * w).ln() + (0.3 * x[4]).ln());
        -0.5 * quad - 2.5 * LN_2PI + log_det
    }

    /// A draw of `z` with `z_0` cut so the age lies in the box, by rejection.
    fn draw_z(&self, rng: &mut ChaCha8Rng) -> [f64; 5] {
        let mut z = [0.0; 5];
        loop {
            z[0] = StandardNormal.sample(rng);
            let age = self.age.0 + self.age.1 * z[0];
            if age > AGE_BOX.0 && age < AGE_BOX.1 {
                break;
            }
        }
        for v in z.iter_mut().skip(1) {
            *v = StandardNormal.sample(rng);
        }
        z
    }
}

/// The example: its 30 stars.
#[derive(Debug, Clone, PartialEq)]
pub struct DwarfExample {
    /// The stars' software densities.
    pub stars: Vec<Star>,
}

impl DwarfExample {
    /// The stars drawn with a fixed seed: true log ages `~ N(9, τ²)`, each
    /// star's software centre one age-scale away from it at random, age
    /// scales between 0.1 and 0.6.
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let stars = (0..STARS)
            .map(|_| {
                let n = |r: &mut ChaCha8Rng| -> f64 { StandardNormal.sample(r) };
                let truth = GAMMA_PRIOR.0 + TAU * n(&mut rng);
                let s = rng.random_range(0.1..0.6);
                let c1 = rng.random_range(0.02..0.06);
                Star {
                    age: (truth + s * n(&mut rng), s),
                    mass: (rng.random_range(0.55..0.75), c1, 0.5 * c1),
                    dist: (rng.random_range(8.0..11.0), rng.random_range(0.05..0.2)),
                    feh: (rng.random_range(-0.5..0.2), 0.15),
                    log_av: rng.random_range(0.02f64..0.2).ln(),
                }
            })
            .collect();
        DwarfExample { stars }
    }

    /// Coordinate names: `age_01, mass_01, ..., av_30, gamma`.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = (1..=self.stars.len()).flat_map(|i| PARAMS.iter().map(move |p| format!("{p}_{i:02}"))).collect();
        v.push("gamma".into());
        v
    }

    /// Number of coordinates (`5 × stars + 1`).
    pub fn dim(&self) -> usize {
        5 * self.stars.len() + 1
    }

    /// The exact composite log density (unnormalized).
    pub fn log_density(&self, x: &[f64]) -> f64 {
        let g = x[x.len() - 1];
        let mut lp = -0.5 * ((g - GAMMA_PRIOR.0) / GAMMA_PRIOR.1).powi(2);
        for (i, s) in self.stars.iter().enumerate() {
            let xi = &x[5 * i..5 * i + 5];
            lp += s.log_density_f64(xi) - 0.5 * ((xi[0] - g) / TAU).powi(2);
        }
        lp
    }

    /// The analytic part of the composite (up to a constant): `γ`'s prior
    /// and the hierarchical terms on the ages; the software's uniform age
    /// prior divided out is constant inside the box, `-∞` outside.
    pub fn log_analytic(&self, x: &[f64]) -> f64 {
        let g = x[x.len() - 1];
        let mut lp = -0.5 * ((g - GAMMA_PRIOR.0) / GAMMA_PRIOR.1).powi(2);
        for i in 0..self.stars.len() {
            let age = x[5 * i];
            if age <= AGE_BOX.0 || age >= AGE_BOX.1 {
                return f64::NEG_INFINITY;
            }
            lp -= 0.5 * ((age - g) / TAU).powi(2);
        }
        lp
    }

    /// The exact Gibbs draw of `γ` given the ages.
    pub fn conjugate(&self) -> crate::tsfb::Conjugate {
        crate::tsfb::Conjugate { gamma: self.dim() - 1, thetas: (0..self.stars.len()).map(|i| 5 * i).collect(), tau: TAU, prior: Some(GAMMA_PRIOR) }
    }

    /// Moments of `n` exact draws ([`exact_draws`](Self::exact_draws)), with
    /// the covariance of the ages and `γ`; their Monte Carlo error is
    /// `sd/√n` for the means.
    pub fn exact_moments(&self, n: usize, seed: u64) -> Moments {
        let d = self.exact_draws(n, seed);
        let mean = d.mean_axis(ndarray::Axis(0)).expect("rows").to_vec();
        let sd = d.std_axis(ndarray::Axis(0), 1.0).to_vec();
        let mut cov_coords: Vec<usize> = (0..self.stars.len()).map(|i| 5 * i).collect();
        cov_coords.push(self.dim() - 1);
        let sub = d.select(ndarray::Axis(1), &cov_coords);
        let centered = &sub - &sub.mean_axis(ndarray::Axis(0)).expect("rows");
        let cov = centered.t().dot(&centered) / (n as f64 - 1.0);
        Moments { names: self.names(), mean, sd, cov_coords, cov }
    }

    /// One pool per star (`star_01` on its 5 coordinates), `n` draws each.
    pub fn pools(&self, n: usize, seed: u64) -> Vec<SampleComponent> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let names = self.names();
        self.stars
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut draws = Array2::zeros((n, 5));
                for mut r in draws.rows_mut() {
                    let x = s.forward(&s.draw_z(&mut rng));
                    r.assign(&ndarray::ArrayView1::from(&x));
                }
                SampleComponent { label: format!("star_{:02}", i + 1), names: names[5 * i..5 * i + 5].to_vec(), draws, weights: None, bounds: None }
            })
            .collect()
    }

    /// `log p(γ)` of the composite up to a constant: the prior times, per
    /// star, `∫_box N(θ; a, s²) N(θ; γ, τ²) dθ`.
    fn log_gamma_marginal(&self, g: f64) -> f64 {
        let std = SNormal::standard();
        let t2 = TAU * TAU;
        let mut lp = -0.5 * ((g - GAMMA_PRIOR.0) / GAMMA_PRIOR.1).powi(2);
        for s in &self.stars {
            let (a, sd) = s.age;
            let s2 = sd * sd;
            let (m, v) = self.age_given_gamma(s, g);
            let mass = std.cdf((AGE_BOX.1 - m) / v.sqrt()) - std.cdf((AGE_BOX.0 - m) / v.sqrt());
            // The normalizing constant of the cut age normal is the same for every γ.
            lp += -0.5 * (a - g).powi(2) / (s2 + t2) - 0.5 * (s2 + t2).ln() + mass.ln();
        }
        lp
    }

    /// Mean and variance of star `s`'s age given `γ`, before the cut.
    fn age_given_gamma(&self, s: &Star, g: f64) -> (f64, f64) {
        let (a, sd) = s.age;
        let (s2, t2) = (sd * sd, TAU * TAU);
        ((a * t2 + g * s2) / (s2 + t2), s2 * t2 / (s2 + t2))
    }

    /// `n` i.i.d. draws of the exact composite: `γ` by the inverse CDF of its
    /// marginal on a fine grid, each age from its cut normal given `γ` by the
    /// inverse CDF, the other parameters from the map given the age.
    pub fn exact_draws(&self, n: usize, seed: u64) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let std = SNormal::standard();
        // γ's posterior sd is about τ/√30 ≈ 0.05: a grid over ±3 around the prior mean at 1e-4.
        let (lo, hi, k) = (GAMMA_PRIOR.0 - 3.0, GAMMA_PRIOR.0 + 3.0, 60_000usize);
        let h = (hi - lo) / k as f64;
        let logs: Vec<f64> = (0..=k).map(|i| self.log_gamma_marginal(lo + h * i as f64)).collect();
        let top = logs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let mut cdf = vec![0.0; k + 1];
        for i in 1..=k {
            cdf[i] = cdf[i - 1] + 0.5 * h * ((logs[i - 1] - top).exp() + (logs[i] - top).exp());
        }
        let total = cdf[k];
        let mut out = Array2::zeros((n, self.dim()));
        for mut row in out.rows_mut() {
            let u: f64 = rng.random::<f64>() * total;
            let j = cdf.partition_point(|c| *c < u).clamp(1, k);
            let f = (u - cdf[j - 1]) / (cdf[j] - cdf[j - 1]).max(f64::MIN_POSITIVE);
            let g = lo + h * ((j - 1) as f64 + f);
            row[self.dim() - 1] = g;
            for (i, s) in self.stars.iter().enumerate() {
                let (m, v) = self.age_given_gamma(s, g);
                let sd = v.sqrt();
                let (pl, ph) = (std.cdf((AGE_BOX.0 - m) / sd), std.cdf((AGE_BOX.1 - m) / sd));
                let u: f64 = rng.random();
                let age = m + sd * std.inverse_cdf(pl + u * (ph - pl));
                let mut z = [0.0; 5];
                z[0] = (age - s.age.0) / s.age.1;
                for v in z.iter_mut().skip(1) {
                    *v = StandardNormal.sample(&mut rng);
                }
                let x = s.forward(&z);
                for (c, v) in x.iter().enumerate() {
                    row[5 * i + c] = *v;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_density_is_the_image_of_the_normal() {
        let ex = DwarfExample::new(0);
        let s = &ex.stars[3];
        // Inverting the map: the log density at T(z) is log N(z) - log|det T'(z)|;
        // check against a finite-difference Jacobian determinant.
        let z = [0.3, -0.7, 1.1, 0.4, -0.2];
        let x = s.forward(&z);
        let mut jac = triangular_det(s, &z);
        jac = jac.abs().ln();
        let want = -0.5 * z.iter().map(|v| v * v).sum::<f64>() - 2.5 * LN_2PI - jac;
        assert!((s.log_density_f64(&x) - want).abs() < 1e-6, "{} {want}", s.log_density_f64(&x));
    }

    /// The map is triangular: its determinant is the product of the diagonal derivatives.
    fn triangular_det(s: &Star, z: &[f64; 5]) -> f64 {
        let e = 1e-6;
        (0..5)
            .map(|k| {
                let (mut a, mut b) = (*z, *z);
                a[k] += e;
                b[k] -= e;
                (s.forward(&a)[k] - s.forward(&b)[k]) / (2.0 * e)
            })
            .product()
    }

    #[test]
    fn exact_draws_are_in_the_support_and_gamma_is_plausible() {
        let ex = DwarfExample::new(0);
        assert_eq!(ex.dim(), 151);
        assert_eq!(ex.names().len(), 151);
        let d = ex.exact_draws(4000, 1);
        // Every draw is in the support of the exact composite.
        assert!(d.rows().into_iter().all(|r| ex.log_density(r.as_slice().unwrap()).is_finite()));
        // γ's posterior: near the mean of the software age centres, with sd near τ/√30.
        let g = d.column(150);
        let (m, sd) = (g.mean().unwrap(), g.std(1.0));
        assert!(sd > 0.03 && sd < 0.2, "{sd}");
        assert!((m - 9.0).abs() < 0.5, "{m}");
    }

    #[test]
    fn pools_stay_in_the_box() {
        let ex = DwarfExample::new(0);
        let p = ex.pools(500, 2);
        assert_eq!(p.len(), STARS);
        for (pool, s) in p.iter().zip(&ex.stars) {
            assert!(pool.draws.rows().into_iter().all(|r| s.log_density_f64(r.as_slice().unwrap()).is_finite()));
        }
    }
}

//! Persistent sampling (Karamanis et al. 2025): every earlier temperature's
//! mutated particles are kept and reweighted to the current temperature, so
//! that fewer particles need mutating per temperature for the same
//! effective sample size.
//!
//! The stored generations `s = 0..t`, each drawn (approximately) from
//! `p_s ∝ r e^{β_s ℓ}` with normalizing constant `Z_s`, are together draws
//! of the mixture `q = Σ_s (n_s/N) p_s` (`n_s` particles of `N`). A particle's
//! weight at temperature `β` is `e^{βℓ} / (Σ_s (n_s/N) e^{β_s ℓ} / Z_s)` (the reference `r`
//! cancels), and the mean of these weights over every stored particle
//! estimates `Z(β)` directly, not as a product of ratios.
//!
//! # Reference
//! Karamanis, Nabergoj, Beutler, Peacock & Seljak (2025), *Persistent
//! Sampling: Enhancing the Efficiency of Sequential Monte Carlo*,
//! Statistics and Computing 35.

use super::mutate::Population;
use super::tempering::{ess_fraction, log_mean_exp};

/// `log Σ exp(v)`, stable; `-∞` when every value is `-∞`.
fn log_sum_exp(v: &[f64]) -> f64 {
    log_mean_exp(v) + (v.len() as f64).ln()
}

/// The particles of one finished temperature.
///
/// The mean of the persistent weights also estimates `Z(β)` directly; the
/// sampler reports the tempering path's estimate instead, as that mean lay
/// high where the stored generations are narrower than their tempered
/// densities, but uses it for the `Z_s` of the mixture.
#[derive(Debug, Clone)]
pub(super) struct Generation {
    pub pop: Population,
    pub beta: f64,
    /// `log Z_s` of this temperature as estimated when it was reached.
    pub log_z: f64,
}

/// `β ℓ`, with `0 · (−∞) = 0` (the reference's own temperature).
fn scaled(beta: f64, ell: f64) -> f64 {
    if beta == 0.0 {
        0.0
    } else if ell == f64::NEG_INFINITY {
        ell
    } else {
        beta * ell
    }
}

/// Every stored particle's log likelihood and the log of its mixture
/// density `log(Σ_s (n_s/N) e^{β_s ℓ}/Z_s)` over the generations (`n_s`
/// particles each, `N` in all), in generation order.
#[derive(Debug, Clone, Default)]
pub(super) struct Pool {
    pub ell: Vec<f64>,
    pub log_mix: Vec<f64>,
}

impl Pool {
    pub fn new(gens: &[Generation]) -> Self {
        let mut ell = Vec::new();
        let mut log_mix = Vec::new();
        // Generations of unequal sizes weigh in with their share of the particles.
        let total: usize = gens.iter().map(|g| g.pop.dens.ell.len()).sum();
        let log_share: Vec<f64> = gens.iter().map(|g| (g.pop.dens.ell.len() as f64 / total as f64).ln()).collect();
        let mut terms = Vec::with_capacity(gens.len());
        for gen in gens {
            for &l in &gen.pop.dens.ell {
                terms.clear();
                terms.extend(gens.iter().zip(&log_share).map(|(s, ls)| ls + scaled(s.beta, l) - s.log_z));
                ell.push(l);
                log_mix.push(log_sum_exp(&terms));
            }
        }
        Pool { ell, log_mix }
    }

    pub fn len(&self) -> usize {
        self.ell.len()
    }

    /// Log weights of every stored particle at temperature `beta`.
    pub fn log_weights(&self, beta: f64, out: &mut Vec<f64>) {
        out.clear();
        out.extend(self.ell.iter().zip(&self.log_mix).map(|(&l, &m)| {
            let v = scaled(beta, l) - m;
            if v.is_nan() {
                f64::NEG_INFINITY
            } else {
                v
            }
        }));
    }

    /// Effective sample size (in particles) of the weights at `beta`.
    pub fn ess(&self, beta: f64) -> f64 {
        let mut lw = Vec::with_capacity(self.len());
        self.log_weights(beta, &mut lw);
        ess_fraction(&lw) * self.len() as f64
    }

    /// `(log Z(β), its variance)`: the mean of the weights, with the variance
    /// of a mean of independent weights, `1/ESS − 1/M` on the log scale.
    pub fn log_z(&self, beta: f64) -> (f64, f64) {
        let mut lw = Vec::with_capacity(self.len());
        self.log_weights(beta, &mut lw);
        let m = self.len() as f64;
        let ess = ess_fraction(&lw) * m;
        (log_mean_exp(&lw), if ess > 0.0 { (1.0 / ess - 1.0 / m).max(0.0) } else { f64::INFINITY })
    }

    /// The next temperature after `beta`: `end` if the whole remaining step
    /// keeps the effective sample size at or above `target` particles,
    /// otherwise the step found by bisection.
    pub fn next_beta(&self, beta: f64, end: f64, target: f64) -> f64 {
        if self.ess(end) >= target {
            return end;
        }
        let (mut lo, mut hi) = (beta, end);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if self.ess(mid) >= target {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo <= 1e-12 * (hi - beta) {
                break;
            }
        }
        // A step too small to move is forced forward (a likelihood with a
        // jump of infinite height); the weights then carry the degeneracy.
        if lo > beta {
            lo
        } else {
            hi
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::smc::space::Densities;
    use ndarray::Array2;

    fn gen(ell: Vec<f64>, beta: f64, log_z: f64) -> Generation {
        let n = ell.len();
        Generation { pop: Population { y: Array2::zeros((n, 1)), dens: Densities { log_ref: vec![0.0; n], ell } }, beta, log_z }
    }

    #[test]
    fn one_generation_gives_the_plain_tempering_weights() {
        let ell: Vec<f64> = (0..50).map(|i| -(i as f64) / 10.0).collect();
        let pool = Pool::new(&[gen(ell.clone(), 0.0, 0.0)]);
        let mut lw = Vec::new();
        pool.log_weights(0.7, &mut lw);
        for (a, b) in lw.iter().zip(&ell) {
            assert!((a - 0.7 * b).abs() < 1e-12);
        }
        let b = pool.next_beta(0.0, 1.0, 45.0);
        assert!((pool.ess(b) - 45.0).abs() < 1e-6, "{}", pool.ess(b));
    }

    /// Exact generations of a Gaussian likelihood give log Z(β) of the
    /// Gaussian integral: prior N(0, 1), `ℓ = −x²/2`, so
    /// `Z(β) = (1 + β)^{−1/2}` and `p_β = N(0, 1/(1+β))`.
    #[test]
    fn the_mixture_weights_estimate_the_evidence() {
        use rand::SeedableRng;
        use rand_chacha::ChaCha8Rng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let betas: [f64; 4] = [0.0, 0.5, 2.0, 6.0];
        let n = 20_000;
        let gens: Vec<Generation> = betas
            .iter()
            .map(|&b| {
                let sd = (1.0 / (1.0 + b)).sqrt();
                let ell = (0..n)
                    .map(|_| {
                        let e: f64 = StandardNormal.sample(&mut rng);
                        -0.5 * (sd * e).powi(2)
                    })
                    .collect();
                gen(ell, b, -0.5 * (1.0 + b).ln())
            })
            .collect();
        let pool = Pool::new(&gens);
        for beta in [1.0, 6.0, 10.0] {
            let (z, var) = pool.log_z(beta);
            let want = -0.5 * (1.0f64 + beta).ln();
            assert!((z - want).abs() < 5.0 * var.sqrt(), "beta {beta}: {z} vs {want} (sd {})", var.sqrt());
        }
    }
}

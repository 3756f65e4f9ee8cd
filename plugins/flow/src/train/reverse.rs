//! The reverse term of the `jeffreys_reverse` loss: `KL(q‖p)` estimated on
//! draws of the flow `q`, with the source posterior `p̃` (its prior × its
//! likelihood, up to a constant) evaluated at them as a plain f64 function.
//!
//! `p̃` has no gradient here, so the term's gradient is the score-function
//! estimate: with `f(y) = ln q(y) − ln p̃(y)` at draws `y_i ~ q` (detached),
//! `∇ E_q[f] = E_q[f ∇ ln q]`, and subtracting a baseline leaves it unbiased
//! while cutting its variance. Each draw's baseline is the mean of `f` over the
//! other draws of the step (leave-one-out: no draw is its own baseline).
//!
//! Two guards keep the estimate from swamping training, measured on the
//! shipped example, whose stage B has two narrow modes: before the flow
//! covers the chain, most of its draws fall where the source density is tiny
//! and `f` spreads over hundreds of nats, and a step at that scale threw the
//! flow off (its draws turned non-finite). So the term joins training only for
//! the second half of the steps ([`Source::warmup`] of them are the forward
//! term's alone), and a step's weights are divided by the spread of `f` over
//! its draws when that spread exceeds one nat: unbiased where the flow is near
//! the target, damped (same direction) where a few draws dominate. The term's
//! value is never scaled, and validation always includes it.
//!
//! The term's value `E_q[ln q − ln p̃]` is `KL(q‖p) − ln Z`; the forward term
//! on the chain's draws, `E_p[ln p̃ − ln q]`, is `KL(p‖q) + ln Z`, so their sum
//! is Jeffreys' divergence itself, free of `Z`. Unlike the chain-only
//! estimator, it sees mass the flow puts where the source posterior has none:
//! those draws score `ln q − ln p̃`, large.
//!
//! # Reference
//! Williams (1992), *Simple statistical gradient-following algorithms for
//! connectionist reinforcement learning* (the score-function estimator);
//! Roch & Shen, *Learning informed prior distributions with normalizing flows
//! for Bayesian analysis* (the Jeffreys loss).

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{FlowError, Result};
use crate::model::Flow;

/// The source posterior's log density (up to a constant) at rows of the
/// flow's own coordinates (row-major, `n × d`): one value per row, `-∞` (or
/// NaN) where it is zero.
pub type LatentLogDensity<'a> = dyn Fn(&[f64]) -> Vec<f64> + 'a;

/// The source posterior a `jeffreys_reverse` training evaluates: its log
/// density in the flow's coordinates, and how many draws of the flow per step.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    /// The log density (up to a constant).
    pub log_density: &'a LatentLogDensity<'a>,
    /// Draws of the flow per step (at least 2).
    pub draws: usize,
}

impl Source<'_> {
    /// Steps of `steps` before the reverse term joins training: the first half.
    pub fn warmup(steps: usize) -> usize {
        steps / 2
    }
}

impl std::fmt::Debug for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("draws", &self.draws).finish_non_exhaustive()
    }
}

/// Fewest draws of the flow per step: each draw's baseline is the mean of the others.
pub const MIN_REVERSE_DRAWS: usize = 2;

/// A flow draw where the source density is zero (or not a number) scores as
/// if its log density were this far below the lowest of the chain's draws: a
/// large, finite penalty that keeps the step's arithmetic finite.
const FLOOR_BELOW: f64 = 50.0;

/// Fixed base draws the validation of the term uses (the same at every evaluation).
const VALIDATION_DRAWS: usize = 2000;

/// Chain draws at which the source posterior is checked against the chain's own log densities.
const CONSISTENCY_ROWS: usize = 16;

/// The reverse term of one training run.
pub(super) struct ReverseTerm<'a> {
    log_p: &'a LatentLogDensity<'a>,
    d: usize,
    m: usize,
    /// The constant training subtracts from every log density (the chain's mean).
    shift: f64,
    /// The penalty's log density, after the shift.
    floor: f64,
    rng: ChaCha8Rng,
    z_val: Tensor,
    /// Source-posterior evaluations so far.
    pub evaluations: usize,
}

impl<'a> ReverseTerm<'a> {
    /// The term with `m` flow draws per step over `d` coordinates. `x` and `lp`
    /// are the chain's draws and log densities in the same coordinates: the
    /// source posterior must reproduce the chain's log densities (to rounding)
    /// at its first draws, or the chain was not sampled from it.
    ///
    /// # Errors
    /// A source posterior that disagrees with the chain's log densities.
    pub fn new(log_p: &'a LatentLogDensity<'a>, x: &[f64], lp: &[f64], d: usize, m: usize, seed: u64) -> Result<Self> {
        let rows = (x.len() / d.max(1)).min(CONSISTENCY_ROWS);
        let at = log_p(&x[..rows * d]);
        for (i, (a, b)) in at.iter().zip(lp).enumerate() {
            let agrees = (a - b).abs() <= 1e-6 * (1.0 + b.abs());
            if !agrees {
                return Err(FlowError::invalid(format!(
                    "the source posterior at draw {i} of the chain is {a}, but the chain's log_prob there is {b}: the chain was not sampled from this posterior (the reverse term of jeffreys_reverse needs the two to agree)"
                )));
            }
        }
        let n = lp.len().max(1) as f64;
        let shift = lp.iter().sum::<f64>() / n;
        let lowest = lp.iter().fold(f64::INFINITY, |m, v| m.min(*v));
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7265_7665);
        let z: Vec<f32> = (0..VALIDATION_DRAWS * d).map(|_| StandardNormal.sample(&mut rng)).collect();
        let z_val = Tensor::from_vec(z, (VALIDATION_DRAWS, d), &Device::Cpu)?;
        Ok(ReverseTerm { log_p, d, m, shift, floor: lowest - shift - FLOOR_BELOW, rng, z_val, evaluations: rows })
    }

    /// The shifted source log density at flow draws `y` (row-major), penalty where not finite.
    fn log_p_at(&mut self, y: &[f32]) -> Vec<f64> {
        let y64: Vec<f64> = y.iter().map(|&v| v as f64).collect();
        let lp = (self.log_p)(&y64);
        self.evaluations += lp.len();
        lp.iter()
            .map(|&v| {
                let c = v - self.shift;
                if c.is_finite() {
                    c.max(self.floor)
                } else {
                    self.floor
                }
            })
            .collect()
    }

    /// The term at the flow draws `y` (detached, `m × d`): the surrogate whose
    /// gradient is the score-function estimate, and the term's value `E_q[ln q − ln p̃]`.
    fn at(&mut self, flow: &Flow, y: &Tensor) -> Result<(Tensor, f64)> {
        let logq = flow.log_prob(y)?;
        let lq: Vec<f64> = logq.to_vec1::<f32>()?.into_iter().map(f64::from).collect();
        let lp = self.log_p_at(&y.flatten_all()?.to_vec1::<f32>()?);
        let (weights, value) = score_weights(&lq, &lp);
        let spread = (lq.iter().zip(&lp).map(|(q, p)| (q - p - value).powi(2)).sum::<f64>() / lq.len().max(1) as f64).sqrt();
        let damp = 1.0 / spread.max(1.0);
        let weights: Vec<f32> = weights.into_iter().map(|v| (v * damp) as f32).collect();
        let surrogate = (logq * Tensor::from_vec(weights, lq.len(), y.device())?)?.sum_all()?;
        Ok((surrogate, value))
    }

    /// One training step's term, on `m` fresh draws of `flow`.
    pub fn step(&mut self, flow: &Flow) -> Result<(Tensor, f64)> {
        let z: Vec<f32> = (0..self.m * self.d).map(|_| StandardNormal.sample(&mut self.rng)).collect();
        let z = Tensor::from_vec(z, (self.m, self.d), &Device::Cpu)?;
        let y = flow.forward(&z)?.0.detach();
        self.at(flow, &y)
    }

    /// The term's value on the fixed validation draws of `flow`.
    pub fn validation(&mut self, flow: &Flow) -> Result<f64> {
        let y = flow.forward(&self.z_val)?.0.detach();
        Ok(self.at(flow, &y)?.1)
    }
}

/// The score-function weights of draws `y_i ~ q` with `ln q(y_i)` = `lq[i]` and
/// `ln p̃(y_i)` = `lp[i]`, and the estimate of `E_q[ln q − ln p̃]`. With
/// `f_i = lq[i] − lp[i]` and each draw's baseline the mean of the others (leave
/// one out: `f_i − b_i = m/(m−1)·(f_i − f̄)`), the gradient `(1/m) Σ (f_i − b_i) ∇ln q(y_i)`
/// gives each `∇ln q(y_i)` the weight `(f_i − f̄)/(m−1)`.
pub(super) fn score_weights(lq: &[f64], lp: &[f64]) -> (Vec<f64>, f64) {
    let m = lq.len();
    let f: Vec<f64> = lq.iter().zip(lp).map(|(q, p)| q - p).collect();
    let mean = f.iter().sum::<f64>() / m.max(1) as f64;
    let scale = if m > 1 { 1.0 / (m - 1) as f64 } else { 0.0 };
    (f.iter().map(|v| (v - mean) * scale).collect(), mean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::Loss;
    use std::f64::consts::PI;

    fn ln_normal(x: f64, mean: f64) -> f64 {
        -0.5 * (x - mean).powi(2) - 0.5 * (2.0 * PI).ln()
    }

    fn ln_leaking(x: f64) -> f64 {
        (0.1 * ln_normal(x, 0.0).exp() + 0.9 * ln_normal(x, 12.0).exp()).ln()
    }

    /// The target p = N(0, 1) (its density known) and a flow q = 0.1·N(0, 1) + 0.9·N(12, 1)
    /// that leaks 90% of its mass away from p. Jeffreys' divergence is KL(p‖q) + KL(q‖p)
    /// = ln 10 + 0.9·72 + ... ≈ 63 (by quadrature below). The chain-only estimator, which
    /// sees only draws of p, scores the leak about 0; the reverse term on draws of q gives
    /// Jeffreys' divergence to its Monte Carlo error.
    #[test]
    fn the_reverse_term_sees_a_leak_the_chain_only_estimator_misses() {
        use candle_core::Device;
        use rand_distr::{Distribution, StandardNormal};
        let n = 20_000;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let p_draws: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
        let q_draws: Vec<f64> = (0..n)
            .map(|i| {
                let z: f64 = StandardNormal.sample(&mut rng);
                if i % 10 == 0 {
                    z
                } else {
                    12.0 + z
                }
            })
            .collect();
        let t = |v: Vec<f64>| Tensor::from_vec(v.clone(), v.len(), &Device::Cpu).unwrap();
        let logp = t(p_draws.iter().map(|&x| ln_normal(x, 0.0)).collect());
        let logq = t(p_draws.iter().map(|&x| ln_leaking(x)).collect());
        let lnw = t(vec![-(n as f64).ln(); n]);
        let value = |loss: Loss| loss.value(&logq, Some(&logp), &lnw).unwrap().to_scalar::<f64>().unwrap();
        let chain_only = value(Loss::Jeffreys);
        let forward = value(Loss::JeffreysReverse);
        let lq: Vec<f64> = q_draws.iter().map(|&x| ln_leaking(x)).collect();
        let lp: Vec<f64> = q_draws.iter().map(|&x| ln_normal(x, 0.0)).collect();
        let (weights, reverse) = score_weights(&lq, &lp);
        // Quadrature of KL(p‖q) + KL(q‖p) on [-10, 25] by 1e-3.
        let exact: f64 = (0..35_000)
            .map(|i| {
                let x = -10.0 + 1e-3 * (i as f64 + 0.5);
                let (a, b) = (ln_normal(x, 0.0), ln_leaking(x));
                1e-3 * (a.exp() - b.exp()) * (a - b)
            })
            .sum();
        let f: Vec<f64> = lq.iter().zip(&lp).map(|(q, p)| q - p).collect();
        let sd = (f.iter().map(|v| (v - reverse).powi(2)).sum::<f64>() / n as f64).sqrt();
        let se = sd / (n as f64).sqrt();
        assert!(chain_only.abs() < 1e-6, "chain-only {chain_only}");
        assert!(exact > 60.0, "{exact}");
        assert!((forward + reverse - exact).abs() < 4.0 * se, "estimate {} exact {exact} (se {se})", forward + reverse);
        // The weights have mean zero (a baseline) and favour the draws where q exceeds p most.
        assert!(weights.iter().sum::<f64>().abs() < 1e-9);
        let far = q_draws.iter().position(|&x| x > 12.0).unwrap();
        assert!(weights[far] > 0.0 && weights[0] < 0.0, "{} {}", weights[far], weights[0]);
    }
}

//! The training losses: NLL, forward KL and Jeffreys, with importance weights.
//!
//! # Reference
//! Roch & Shen, *Learning informed prior distributions with normalizing flows for
//! Bayesian analysis* (the KL, Jeffreys and NLL losses for a flow trained on a
//! posterior chain).

use candle_core::Tensor;

use crate::error::{FlowError, Result};
use crate::named::named_enum;

/// The training loss. Each is a weighted average over draws `x_i ~ p` with
/// normalized importance weights `w_i`; with `d_i = ln p̃(x_i) - ln q(x_i)` (`p̃`
/// the unnormalized log posterior stored with the chain):
///
/// - `nll`: `-Σ w_i ln q(x_i)` (draws only);
/// - `kl`: `Σ w_i d_i`, the paper's estimate of `KL(p‖q) + ln Z` (`Z` the
///   posterior's unknown normalization, a constant). Its gradient is NLL's; its
///   value sees mass the flow puts away from the draws: a flow that leaks a
///   fraction `f` of its mass elsewhere scores `-ln(1 - f)` higher;
/// - `jeffreys`: `KL(p‖q) + KL(q‖p) ≈ Σ (w_i - r_i) d_i`, the chain-only
///   estimator, with the self-normalized importance weights `r_i ∝ w_i e^{-d_i}`
///   for `KL(q‖p)`; free of `Z`, and for the same reason blind to mass the flow
///   puts away from the draws (the held-out check of training sees it);
/// - `jeffreys_reverse`: `KL(p‖q) + KL(q‖p)` with the reverse term estimated on
///   draws of the flow, where the source posterior `p̃` is evaluated (a flow
///   trained `from` a pipeline stage: its prior × its likelihood). Here
///   [`Loss::value`] is the forward term on the chain's draws (`kl`'s); training
///   adds the reverse term `E_q[ln q − ln p̃]` (see `reverse.rs`), and the sum is
///   free of `Z` and sees mass the flow puts where the source posterior has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Negative log-likelihood (unsupervised).
    Nll,
    /// Forward KL with the draws' log densities (supervised).
    Kl,
    /// Symmetric (Jeffreys) divergence, chain-only estimator (supervised).
    Jeffreys,
    /// Symmetric (Jeffreys) divergence with the reverse term on draws of the
    /// flow (supervised; needs the source posterior).
    JeffreysReverse,
}

named_enum!(Loss, "loss", [Kl => "kl", Jeffreys => "jeffreys", JeffreysReverse => "jeffreys_reverse", Nll => "nll"]);

impl Loss {
    /// True for the losses that need each draw's log density.
    pub fn supervised(self) -> bool {
        !matches!(self, Loss::Nll)
    }

    /// True for the loss that needs the source posterior at draws of the flow.
    pub fn needs_source(self) -> bool {
        self == Loss::JeffreysReverse
    }

    /// The loss of a batch: `logq`, `logp` and the normalized log-weights `lnw`, each `(n,)`.
    ///
    /// # Errors
    /// A supervised loss without `logp`, or a shape mismatch.
    pub fn value(self, logq: &Tensor, logp: Option<&Tensor>, lnw: &Tensor) -> Result<Tensor> {
        let w = lnw.exp()?;
        if self == Loss::Nll {
            return Ok((w * logq)?.sum_all()?.neg()?);
        }
        let logp = logp.ok_or_else(|| FlowError::invalid("the kl and jeffreys losses need the chain's log_prob; use --loss nll for draws only"))?;
        let d = (logp - logq)?;
        if matches!(self, Loss::Kl | Loss::JeffreysReverse) {
            return Ok((&w * &d)?.sum_all()?);
        }
        let a = (lnw - &d)?;
        let lse = a.log_sum_exp(0)?;
        let r = a.broadcast_sub(&lse)?.exp()?;
        Ok(((w - r)? * d)?.sum_all()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t(v: &[f64]) -> Tensor {
        Tensor::from_vec(v.to_vec(), v.len(), &Device::Cpu).unwrap()
    }

    #[test]
    fn losses_parse_and_print_by_name() {
        crate::testutil::check_names(&Loss::ALL, "mse", "unknown loss \"mse\": use kl, jeffreys, jeffreys_reverse or nll");
    }

    /// `n` seeded draws of N(0, 1) with their exact log density, and equal log-weights.
    fn normal_draws(n: usize) -> (Vec<f64>, Tensor, Tensor) {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let x: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
        let logp: Vec<f64> = x.iter().map(|v| -0.5 * v * v - 0.5 * (2.0 * std::f64::consts::PI).ln()).collect();
        (x, t(&logp), t(&vec![-(n as f64).ln(); n]))
    }

    fn ln_normal(x: f64, mean: f64, sd: f64) -> f64 {
        let z = (x - mean) / sd;
        -0.5 * z * z - sd.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
    }

    /// The kl loss measures a flow that leaks mass away from the draws: with draws of
    /// N(0, 1) (normalized, so `ln Z = 0`), q = 0.1·N(0, 1) + 0.9·N(12, 1) is
    /// KL = ln 10 = 2.303 away and q = N(0, 2²) is ln 2 - 3/8 = 0.318 away. A loss that
    /// subtracts a log-evidence estimated from the same draws scores the first about 0.
    #[test]
    fn kl_measures_mass_the_flow_puts_away_from_the_draws() {
        let n = 20_000;
        let (x, logp, lnw) = normal_draws(n);
        let leaking: Vec<f64> = x.iter().map(|&v| (0.1 * ln_normal(v, 0.0, 1.0).exp() + 0.9 * ln_normal(v, 12.0, 1.0).exp()).ln()).collect();
        let wide: Vec<f64> = x.iter().map(|&v| ln_normal(v, 0.0, 2.0)).collect();
        let exact: Vec<f64> = x.iter().map(|&v| ln_normal(v, 0.0, 1.0)).collect();
        // The Monte Carlo standard error of the wide case is 0.53/sqrt(n) = 0.004; the
        // leaking case's terms are ln 10 to within 1e-30; the exact one's are all zero.
        for (q, want, tol) in [(&leaking, 10f64.ln(), 1e-9), (&wide, 2f64.ln() - 0.375, 0.02), (&exact, 0.0, 1e-12)] {
            let got = Loss::Kl.value(&t(q), Some(&logp), &lnw).unwrap().to_scalar::<f64>().unwrap();
            assert!((got - want).abs() < tol, "kl loss {got}, true KL {want}");
        }
        // Jeffreys's chain-only estimator sees the wide flow but, reweighting the same
        // draws to q, not the leak: the held-out check of training is what sees it.
        let jeffreys = |q: &[f64]| Loss::Jeffreys.value(&t(q), Some(&logp), &lnw).unwrap().to_scalar::<f64>().unwrap();
        assert!(jeffreys(&wide) > 0.3, "{}", jeffreys(&wide));
        assert!(jeffreys(&leaking).abs() < 1e-6, "{}", jeffreys(&leaking));
    }

    /// Shifting ln p̃ by a constant (an unknown normalization) shifts the kl loss by the
    /// same constant and leaves Jeffreys unchanged; both vanish when q = p̃ exactly.
    #[test]
    fn kl_moves_with_the_normalization_and_jeffreys_does_not() {
        let logq = t(&[-1.0, -2.5, 0.3, -0.7]);
        let lnw = t(&[0.1f64, 0.2, 0.3, 0.4].map(f64::ln));
        let shifted = (&logq + 12.3).unwrap();
        let other = t(&[-1.2, -2.0, 0.9, -0.7]);
        let value = |loss: Loss, p: &Tensor| loss.value(&logq, Some(p), &lnw).unwrap().to_scalar::<f64>().unwrap();
        assert!(value(Loss::Kl, &logq).abs() < 1e-12);
        assert!((value(Loss::Kl, &shifted) - 12.3).abs() < 1e-12);
        assert!(value(Loss::Jeffreys, &logq).abs() < 1e-12);
        assert!(value(Loss::Jeffreys, &shifted).abs() < 1e-12);
        assert!(value(Loss::Jeffreys, &other) > 1e-3);
        let nll = Loss::Nll.value(&logq, None, &lnw).unwrap().to_scalar::<f64>().unwrap();
        assert!((nll - (0.1 * 1.0 + 0.2 * 2.5 - 0.3 * 0.3 + 0.4 * 0.7)).abs() < 1e-12);
        assert!(Loss::Kl.value(&logq, None, &lnw).is_err());
    }
}

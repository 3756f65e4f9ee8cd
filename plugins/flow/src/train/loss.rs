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
/// - `kl`: `KL(p‖q) ≈ Σ w_i d_i + ln Σ w_i e^{-d_i}`; the second term estimates the
///   log-evidence from the same draws (`1/Z = E_p[q/p̃]`), so it cancels and the
///   loss is zero exactly when `q ∝ p̃` on the draws;
/// - `jeffreys`: `KL(p‖q) + KL(q‖p) ≈ Σ (w_i - r_i) d_i` with the self-normalized
///   importance weights `r_i ∝ w_i e^{-d_i}` for `KL(q‖p)`; again free of `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Negative log-likelihood (unsupervised).
    Nll,
    /// Forward KL with the draws' log densities (supervised).
    Kl,
    /// Symmetric (Jeffreys) divergence (supervised).
    Jeffreys,
}

named_enum!(Loss, "loss", [Kl => "kl", Jeffreys => "jeffreys", Nll => "nll"]);

impl Loss {
    /// True for the losses that need each draw's log density.
    pub fn supervised(self) -> bool {
        !matches!(self, Loss::Nll)
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
        let a = (lnw - &d)?;
        let lse = a.log_sum_exp(0)?;
        match self {
            Loss::Kl => Ok(((&w * &d)?.sum_all()? + lse)?),
            _ => {
                let r = a.broadcast_sub(&lse)?.exp()?;
                Ok(((w - r)? * d)?.sum_all()?)
            }
        }
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
        crate::testutil::check_names(&Loss::ALL, "mse", "unknown loss \"mse\": use kl, jeffreys or nll");
    }

    #[test]
    fn supervised_losses_vanish_exactly_when_q_is_proportional_to_p() {
        let logq = t(&[-1.0, -2.5, 0.3, -0.7]);
        let lnw = t(&[0.1f64, 0.2, 0.3, 0.4].map(f64::ln));
        let shifted = (&logq + 12.3).unwrap();
        let other = t(&[-1.2, -2.0, 0.9, -0.7]);
        for loss in [Loss::Kl, Loss::Jeffreys] {
            let zero = loss.value(&logq, Some(&shifted), &lnw).unwrap().to_scalar::<f64>().unwrap();
            assert!(zero.abs() < 1e-12, "{loss:?}: {zero}");
            let pos = loss.value(&logq, Some(&other), &lnw).unwrap().to_scalar::<f64>().unwrap();
            assert!(pos > 1e-3, "{loss:?}: {pos}");
        }
        let nll = Loss::Nll.value(&logq, None, &lnw).unwrap().to_scalar::<f64>().unwrap();
        assert!((nll - (0.1 * 1.0 + 0.2 * 2.5 - 0.3 * 0.3 + 0.4 * 0.7)).abs() < 1e-12);
        assert!(Loss::Kl.value(&logq, None, &lnw).is_err());
    }
}

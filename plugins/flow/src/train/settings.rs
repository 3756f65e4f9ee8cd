//! Training settings (with the defaults of the NF-prior workflow) and what a
//! run reports.

use serde::{Deserialize, Serialize};

use super::loss::Loss;
use super::schedule::LrSchedule;
use crate::error::{FlowError, Result};

/// Sidecars written before the schedule existed were trained at a constant rate.
fn legacy_schedule() -> LrSchedule {
    LrSchedule::Constant
}

/// Training settings, with the defaults of the NF-prior workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// The loss.
    pub loss: Loss,
    /// Maximum number of Adam steps.
    pub steps: usize,
    /// Mini-batch size (drawn with replacement, proportionally to the weights).
    pub batch: usize,
    /// Adam learning rate (the base rate of the schedule).
    pub lr: f64,
    /// Learning-rate schedule.
    #[serde(default = "legacy_schedule")]
    pub lr_schedule: LrSchedule,
    /// Fraction of the draws held out for validation (0 = none, no early stopping).
    pub val_fraction: f64,
    /// Steps between validation evaluations.
    pub eval_every: usize,
    /// Evaluations without improvement before stopping early.
    pub patience: usize,
    /// Stop as soon as the held-out check (flow draws against held-out draws,
    /// average 1-D KL) reaches its floor (the same measure between two samples
    /// of the chain), or when it has not improved by a tenth of its floor for
    /// `patience` evaluations. Needs a validation set of at least 1000 draws.
    #[serde(default)]
    pub stop_at_floor: bool,
    /// Decay of the exponential moving average of the weights that validation,
    /// the held-out check and the kept model use (0 = the last iterate, as
    /// sidecars written before the average read).
    #[serde(default)]
    pub ema: f64,
    /// Seed of the initial weights, the split and the batches.
    pub seed: u64,
    /// No progress bar and no warnings on stderr.
    pub quiet: bool,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            loss: Loss::Kl,
            steps: 5000,
            batch: 1000,
            lr: 1e-3,
            lr_schedule: LrSchedule::Cosine,
            val_fraction: 0.1,
            eval_every: 100,
            patience: 10,
            stop_at_floor: false,
            ema: 0.0,
            seed: 0,
            quiet: true,
        }
    }
}

impl TrainSettings {
    /// Checks the settings.
    ///
    /// # Errors
    /// Zero steps or batch, a learning rate or validation fraction out of range.
    pub fn check(&self) -> Result<()> {
        if self.steps == 0 || self.batch == 0 || self.eval_every == 0 {
            return Err(FlowError::invalid("steps, batch and eval_every must be at least 1"));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(FlowError::invalid(format!("learning rate must be positive, got {}", self.lr)));
        }
        if !(0.0..1.0).contains(&self.ema) {
            return Err(FlowError::invalid(format!("the weights' moving-average decay must lie in [0, 1), got {}", self.ema)));
        }
        if !(0.0..0.9).contains(&self.val_fraction) {
            return Err(FlowError::invalid(format!("validation fraction must lie in [0, 0.9), got {}", self.val_fraction)));
        }
        Ok(())
    }
}

/// What training did (written into the sidecar).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainMetrics {
    /// Adam steps taken.
    pub steps: usize,
    /// Best validation loss (of the kept weights), if there was a validation set.
    pub best_val_loss: Option<f64>,
    /// Loss of the last batch.
    pub last_train_loss: f64,
    /// Stopped because the validation loss stopped improving.
    pub stopped_early: bool,
    /// Steps skipped because the loss was not finite.
    pub skipped_steps: usize,
    /// Learning rate of the last step (the schedule's, lowered after non-finite losses).
    pub final_lr: f64,
    /// Wall-clock seconds spent training.
    pub seconds: f64,
    /// Milliseconds per step.
    pub ms_per_step: f64,
    /// Training draws and validation draws.
    pub n_train: usize,
    /// Validation draws.
    pub n_val: usize,
    /// The held-out check of the kept weights: average symmetric 1-D KL between
    /// flow draws and the held-out draws.
    #[serde(default)]
    pub heldout_kl: Option<f64>,
    /// Its floor: the same measure between the held-out draws and as many training draws.
    #[serde(default)]
    pub heldout_floor: Option<f64>,
    /// Stopped because the held-out check reached its floor.
    #[serde(default)]
    pub stopped_at_floor: bool,
    /// Stopped because the held-out check stopped improving.
    #[serde(default)]
    pub stopped_on_plateau: bool,
    /// The held-out check at each evaluation: `[step, KL]`.
    #[serde(default)]
    pub heldout_trace: Vec<(usize, f64)>,
    /// Evaluations of the source posterior (the `jeffreys_reverse` loss's reverse term).
    #[serde(default)]
    pub source_evaluations: usize,
    /// Draws of the flow per step of that reverse term (0 without it).
    #[serde(default)]
    pub reverse_draws: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecars_written_before_the_schedule_read_as_constant() {
        let mut v = serde_json::to_value(TrainSettings::default()).unwrap();
        assert_eq!(v["lr_schedule"], "cosine");
        v.as_object_mut().unwrap().remove("lr_schedule");
        assert_eq!(serde_json::from_value::<TrainSettings>(v).unwrap().lr_schedule, LrSchedule::Constant);
    }
}

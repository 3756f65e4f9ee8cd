//! The settings of a flow prior as users write them: the keys of a `flow`
//! prior table (and of `[defaults.flow]` in a pipeline), which `seqcal prior
//! train` takes as flags. Parsed as a serde type ([`FlowOptions`], unknown keys
//! refused, every default documented) and checked once into what training uses
//! ([`CheckedFlowOptions`]).

use serde::{Deserialize, Serialize};

use crate::arch::Arch;
use crate::error::{FlowError, Result};
use crate::spec::{Activation, FlowKind, FlowSpec};
use crate::train::{Loss, LrSchedule, TrainSettings, MIN_REVERSE_DRAWS};

/// Architecture and training settings of a flow prior. Every key is optional;
/// the defaults are the NF-prior paper's workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowOptions {
    /// Training loss: `kl` or `jeffreys` (both need the chain's log_prob),
    /// `jeffreys_reverse` (also the source stage's posterior: a flow trained
    /// `from` a pipeline stage) or `nll` (draws only). Default `kl`.
    pub loss: Loss,
    /// Number of flow layers `N`, as the NF-prior paper counts them: pairs
    /// `A_o ∘ A_e` of an even and an odd coupling (or of a natural and a reversed
    /// autoregressive order), `2N` transforms in all. Default 3.
    pub layers: usize,
    /// Width of the hidden layers of each transform's network. Default 64.
    pub hidden: usize,
    /// Hidden layers of each transform's network. Default 2.
    pub depth: usize,
    /// Nonlinearity of the networks: `tanh`, `relu` or `silu`. Default `tanh`.
    pub activation: Activation,
    /// An ActNorm layer after each pair of transforms. Default off.
    pub actnorm: bool,
    /// Architecture: `auto` (spline couplings for one parameter,
    /// `realnvp` otherwise; see [`Arch`]), `realnvp`, `maf`, `nsf_coupling` or
    /// `nsf_ar`. Default `auto`.
    pub arch: Arch,
    /// Spline bins (`nsf_*` only). Default 8.
    pub bins: usize,
    /// Splines act on `[-B, B]` of the standardized coordinates (`nsf_*` only). Default 5.
    pub tail_bound: f64,
    /// An LU-decomposed linear layer between consecutive transforms. Default off.
    pub lu: bool,
    /// Maximum number of Adam steps. Default 5000.
    pub steps: usize,
    /// Mini-batch size. Default 1000.
    pub batch: usize,
    /// Base learning rate. Default 1e-3.
    pub lr: f64,
    /// Learning-rate schedule: `cosine` (hold, then decay to zero) or `constant`. Default `cosine`.
    pub lr_schedule: LrSchedule,
    /// Seed of the initial weights, the validation split and the batches. Default 0.
    pub seed: u64,
    /// Fraction of the draws held out for validation and early stopping (0 = none). Default 0.1.
    pub val_fraction: f64,
    /// Stop training when the held-out check (flow draws against held-out
    /// draws) reaches its two-sample floor or stops improving. Default off: the
    /// check resolves only what the held-out draws can show, and stopping on it
    /// cost accuracy measured on ten times as many draws.
    pub stop_at_floor: bool,
    /// Decay of the exponential moving average of the weights that validation
    /// and the kept model use (0 = the last iterate). Default 0.
    pub ema: f64,
    /// Draws of the flow per step at which `jeffreys_reverse` evaluates the
    /// source posterior (its reverse term). Default 64.
    pub reverse_draws: usize,
    /// Map bounded parameters through logit/log so the prior has no mass outside
    /// the box. Default on.
    pub bounded: bool,
}

impl Default for FlowOptions {
    fn default() -> Self {
        let spec = FlowSpec::new(1);
        let train = TrainSettings::default();
        FlowOptions {
            loss: train.loss,
            layers: spec.pairs,
            hidden: spec.hidden,
            depth: spec.depth,
            activation: spec.activation,
            actnorm: spec.actnorm,
            arch: Arch::Auto,
            bins: spec.bins,
            tail_bound: spec.tail_bound,
            lu: spec.lu,
            steps: train.steps,
            batch: train.batch,
            lr: train.lr,
            lr_schedule: train.lr_schedule,
            seed: train.seed,
            val_fraction: train.val_fraction,
            stop_at_floor: train.stop_at_floor,
            ema: train.ema,
            reverse_draws: 64,
            bounded: true,
        }
    }
}

/// One line per key of [`FlowOptions`], for listings.
pub const OPTION_HELP: &[(&str, &str)] = &[
    ("loss", "kl | jeffreys (both need the chain's log_prob) | jeffreys_reverse (and the source stage's posterior: `from` only) | nll (draws only)"),
    ("layers", "flow layers N: pairs of even/odd couplings (2N transforms)"),
    ("hidden", "width of each transform's hidden layers"),
    ("depth", "hidden layers per transform network"),
    ("activation", "tanh | relu | silu"),
    ("actnorm", "an ActNorm layer after each pair"),
    ("arch", "auto (nsf_coupling for 1-2 parameters, else realnvp) | realnvp | maf | nsf_coupling | nsf_ar"),
    ("bins", "spline bins (nsf_*)"),
    ("tail_bound", "splines act on [-B, B] of the standardized coordinates (nsf_*)"),
    ("lu", "an LU-decomposed linear layer between transforms"),
    ("steps", "maximum Adam steps"),
    ("batch", "mini-batch size"),
    ("lr", "base learning rate"),
    ("lr_schedule", "cosine (hold, then decay to zero) | constant"),
    ("seed", "seed of the weights, the validation split and the batches"),
    ("val_fraction", "draws held out for early stopping (0 = none)"),
    ("stop_at_floor", "stop when the held-out check reaches its floor or stops improving"),
    ("ema", "decay of the weights' moving average that validation and the model use (0 = last iterate)"),
    ("reverse_draws", "draws of the flow per step for jeffreys_reverse's reverse term"),
    ("bounded", "logit/log transform of bounded parameters"),
];

/// [`FlowOptions`] checked: the architecture (its `dim` set from the data when
/// training), the training settings and the bounded switch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckedFlowOptions {
    /// Architecture; `dim` is a placeholder until the data are known, and so
    /// is `kind` under `auto` (see [`CheckedFlowOptions::spec_for`]).
    pub spec: FlowSpec,
    /// The architecture asked for.
    pub arch: Arch,
    /// Training settings (quiet by default).
    pub train: TrainSettings,
    /// Logit/log transform of bounded parameters.
    pub bounded: bool,
}

impl CheckedFlowOptions {
    /// The spec to train on `dim` parameters, and how `auto` chose it (see [`Arch::resolve`]).
    pub fn spec_for(&self, dim: usize) -> (FlowSpec, Option<String>) {
        self.arch.resolve(&self.spec, dim)
    }
}

impl FlowOptions {
    /// Checks the settings once: a positive number of layers (pairs), positive
    /// sizes, spline settings in range, a positive learning rate, a validation
    /// fraction in `[0, 0.9)`.
    ///
    /// # Errors
    /// The first setting out of range, saying what to change.
    pub fn check(&self) -> Result<CheckedFlowOptions> {
        if self.layers == 0 {
            return Err(FlowError::invalid("layers = 0: the flow needs at least one layer (a pair of even/odd couplings)"));
        }
        let spec = FlowSpec {
            pairs: self.layers,
            hidden: self.hidden,
            depth: self.depth,
            activation: self.activation,
            actnorm: self.actnorm,
            kind: match self.arch {
                Arch::Kind(k) => k,
                Arch::Auto => FlowKind::Realnvp,
            },
            lu: self.lu,
            bins: self.bins,
            tail_bound: self.tail_bound,
            ..FlowSpec::new(1)
        };
        spec.check()?;
        let train = TrainSettings {
            loss: self.loss,
            steps: self.steps,
            batch: self.batch,
            lr: self.lr,
            lr_schedule: self.lr_schedule,
            seed: self.seed,
            val_fraction: self.val_fraction,
            stop_at_floor: self.stop_at_floor,
            ema: self.ema,
            ..TrainSettings::default()
        };
        train.check()?;
        if self.loss.needs_source() && self.reverse_draws < MIN_REVERSE_DRAWS {
            return Err(FlowError::invalid(format!(
                "reverse_draws = {}: the reverse term of jeffreys_reverse needs at least {MIN_REVERSE_DRAWS} draws of the flow per step (each draw's baseline is the mean of the others)",
                self.reverse_draws
            )));
        }
        Ok(CheckedFlowOptions { spec, arch: self.arch, train, bounded: self.bounded })
    }

    /// The defaults as TOML values by key (`loss = "kl"`, `layers = 3`, ...).
    pub fn default_values() -> toml::Table {
        toml::Table::try_from(FlowOptions::default()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_spec_and_training_defaults_and_every_key_has_help() {
        let c = FlowOptions::default().check().unwrap();
        assert_eq!(c.spec, FlowSpec::new(1));
        assert_eq!(c.train, TrainSettings::default());
        assert!(c.bounded);
        let fields = seqcal_api::field_names::<FlowOptions>();
        assert_eq!(fields, OPTION_HELP.iter().map(|(k, _)| *k).collect::<Vec<_>>().as_slice());
        let d = FlowOptions::default_values();
        assert_eq!(d.len(), fields.len());
        assert_eq!((d["loss"].as_str(), d["layers"].as_integer(), d["lr"].as_float()), (Some("kl"), Some(3), Some(1e-3)));
    }

    #[test]
    fn settings_out_of_range_say_what_to_change() {
        for (o, want) in [
            (FlowOptions { layers: 0, ..Default::default() }, "at least one layer"),
            (FlowOptions { hidden: 0, ..Default::default() }, "hidden width"),
            (FlowOptions { bins: 0, ..Default::default() }, "bins"),
            (FlowOptions { tail_bound: -1.0, ..Default::default() }, "tail bound"),
            (FlowOptions { lr: 0.0, ..Default::default() }, "learning rate"),
            (FlowOptions { val_fraction: 0.95, ..Default::default() }, "validation fraction"),
            (FlowOptions { ema: 1.0, ..Default::default() }, "moving-average decay"),
            (FlowOptions { loss: Loss::JeffreysReverse, reverse_draws: 1, ..Default::default() }, "at least 2 draws"),
        ] {
            let e = o.check().unwrap_err().to_string();
            assert!(e.contains(want), "{o:?}: {e}");
        }
    }
}

//! Flow-training arguments shared by `seqcal prior train` and `seqcal prior scan`,
//! and the parsers of their enum values (each through the type's `FromStr`).

use clap::Args;

/// Spline and LU settings shared by `seqcal prior train` and `prior scan`.
#[derive(Debug, Args)]
pub struct LayerArgs {
    /// Spline bins (nsf_coupling, nsf_ar).
    #[arg(long, default_value_t = 8)]
    pub bins: usize,
    /// Splines act on [-B, B] of the standardized coordinates and are the identity outside (nsf_coupling, nsf_ar).
    #[arg(long, default_value_t = 5.0)]
    pub tail_bound: f64,
    /// An LU-decomposed linear layer between consecutive flow layers.
    #[arg(long)]
    pub lu: bool,
}

impl LayerArgs {
    /// Writes these settings into a flow prior's options.
    pub fn apply(&self, opts: &mut seqcal_flow::FlowOptions) {
        opts.bins = self.bins;
        opts.tail_bound = self.tail_bound;
        opts.lu = self.lu;
    }
}

pub(super) fn parse_loss(s: &str) -> Result<seqcal_flow::Loss, String> {
    s.parse().map_err(|e: seqcal_flow::FlowError| e.to_string())
}

pub(super) fn parse_lr_schedule(s: &str) -> Result<seqcal_flow::LrSchedule, String> {
    s.parse().map_err(|e: seqcal_flow::FlowError| e.to_string())
}

pub(super) fn parse_arch(s: &str) -> Result<seqcal_flow::Arch, String> {
    s.parse().map_err(|e: seqcal_flow::FlowError| e.to_string())
}

pub(super) fn parse_activation(s: &str) -> Result<seqcal_flow::Activation, String> {
    s.parse().map_err(|e: seqcal_flow::FlowError| e.to_string())
}

//! What a flow is: its architecture ([`FlowKind`]), the nonlinearity of its
//! networks ([`Activation`]) and every size ([`FlowSpec`], written into the
//! model's sidecar). [`crate::build`] turns a spec into layers.

use serde::{Deserialize, Serialize};

use crate::error::{FlowError, Result};
use crate::named::named_enum;

/// The architecture of a flow's transforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FlowKind {
    /// RealNVP affine couplings with even/odd masks (the NF-prior paper's default).
    #[default]
    Realnvp,
    /// Masked autoregressive flow: affine autoregressive layers on MADE networks.
    Maf,
    /// Neural spline flow, coupling version: rational-quadratic splines of half the
    /// coordinates conditioned on the other half.
    NsfCoupling,
    /// Neural spline flow, autoregressive version: rational-quadratic splines on MADE networks.
    NsfAr,
}

named_enum!(FlowKind, "flow architecture", [Realnvp => "realnvp", Maf => "maf", NsfCoupling => "nsf_coupling", NsfAr => "nsf_ar"]);

/// Nonlinearity of the networks inside the transforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// `tanh` (smooth; the default).
    #[default]
    Tanh,
    /// `max(0, x)`.
    Relu,
    /// `x·sigmoid(x)`.
    Silu,
}

named_enum!(Activation, "activation", [Tanh => "tanh", Relu => "relu", Silu => "silu"]);

/// The flow's architecture and sizes (written into the JSON sidecar).
///
/// Layers in the base → data direction:
///
/// ```text
/// base -> T_0 [-> LU_0] -> T_1 [-> ActNorm_0] [-> LU_1] -> T_2 ... -> T_{2N-1} [-> ActNorm_{N-1}] -> L -> data
/// ```
///
/// with `T_k` the kind's transform (even/odd masks, or natural/reversed
/// autoregressive orders, alternating with `k`), and `L` a per-dimension
/// scale-and-shift initialized at the data's mean and sd. RealNVP without LU
/// layers is the architecture `F = L ∘ (A_o ∘ A_e)^N` of the NF-prior paper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowSpec {
    /// Number of parameters.
    pub dim: usize,
    /// `N`: pairs of transforms (`2N` transforms in all).
    pub pairs: usize,
    /// Width of the hidden layers of each transform's network.
    pub hidden: usize,
    /// Number of hidden layers of each transform's network.
    pub depth: usize,
    /// Nonlinearity of the networks.
    pub activation: Activation,
    /// An ActNorm layer after each pair (data-initialized).
    pub actnorm: bool,
    /// Soft clamp `c` of the affine log-scales, `s = c·tanh(s_raw/c)`.
    pub clamp: f64,
    /// The transforms: RealNVP couplings (the default), MAF, or rational-quadratic
    /// spline couplings or autoregressive layers.
    #[serde(default)]
    pub kind: FlowKind,
    /// An LU-decomposed linear layer between consecutive transforms.
    #[serde(default)]
    pub lu: bool,
    /// Spline bins `K` (spline kinds only).
    #[serde(default = "default_bins")]
    pub bins: usize,
    /// Splines act on `[-B, B]` of the standardized coordinates and are the
    /// identity outside (spline kinds only).
    #[serde(default = "default_tail_bound")]
    pub tail_bound: f64,
}

fn default_bins() -> usize {
    8
}

fn default_tail_bound() -> f64 {
    5.0
}

/// Spline parameters per coordinate: `K` widths, `K` heights, `K - 1` inner derivatives.
pub fn spline_params(bins: usize) -> usize {
    3 * bins - 1
}

impl FlowSpec {
    /// The paper's default: `N = 3` pairs (6 couplings), two hidden layers of 64, tanh.
    pub fn new(dim: usize) -> Self {
        FlowSpec {
            dim,
            pairs: 3,
            hidden: 64,
            depth: 2,
            activation: Activation::Tanh,
            actnorm: false,
            clamp: 3.0,
            kind: FlowKind::Realnvp,
            lu: false,
            bins: default_bins(),
            tail_bound: default_tail_bound(),
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// Zero sizes, a non-positive clamp, spline bins outside `1..=1000` or a
    /// non-positive tail bound.
    pub fn check(&self) -> Result<()> {
        if self.dim == 0 || self.pairs == 0 || self.hidden == 0 || self.depth == 0 {
            return Err(FlowError::invalid(format!(
                "flow needs dim, pairs, hidden width and depth of at least 1 (got dim {}, pairs {}, hidden {}, depth {})",
                self.dim, self.pairs, self.hidden, self.depth
            )));
        }
        if !(self.clamp > 0.0 && self.clamp.is_finite()) {
            return Err(FlowError::invalid(format!("clamp must be positive, got {}", self.clamp)));
        }
        if self.bins == 0 || self.bins > 1000 {
            return Err(FlowError::invalid(format!("spline bins must lie in 1..=1000, got {}", self.bins)));
        }
        if !(self.tail_bound > 0.0 && self.tail_bound.is_finite()) {
            return Err(FlowError::invalid(format!("the spline tail bound must be positive, got {}", self.tail_bound)));
        }
        Ok(())
    }

    /// Outputs of each transform's network per coordinate: shift and log-scale
    /// (affine kinds) or the spline's `3K - 1` parameters.
    pub fn outputs_per_dim(&self) -> usize {
        match self.kind {
            FlowKind::Realnvp | FlowKind::Maf => 2,
            FlowKind::NsfCoupling | FlowKind::NsfAr => spline_params(self.bins),
        }
    }

    /// Widths of each transform's network, input first: `d, h, ..., h, d·P`.
    pub fn net_sizes(&self) -> Vec<usize> {
        let mut s = vec![self.dim];
        s.extend(std::iter::repeat_n(self.hidden, self.depth));
        s.push(self.dim * self.outputs_per_dim());
        s
    }

    /// Number of trainable parameters, computed in floating point so that any
    /// settings (however large) give a number without allocating anything.
    pub fn n_params(&self) -> f64 {
        let (d, h, depth, transforms) = (self.dim as f64, self.hidden as f64, self.depth as f64, 2.0 * self.pairs as f64);
        let out = d * self.outputs_per_dim() as f64;
        let net = d * h + h + (depth - 1.0).max(0.0) * (h * h + h) + h * out + out;
        let lu = if self.lu { (transforms - 1.0) * (2.0 * d * d + 2.0 * d) } else { 0.0 };
        let actnorm = if self.actnorm { self.pairs as f64 * 2.0 * d } else { 0.0 };
        transforms * net + lu + actnorm + 2.0 * d
    }

    /// Sum of the widths of one transform's network (input, hidden and output
    /// layers): what one row keeps alive per transform while training.
    pub fn activations_per_row(&self) -> f64 {
        let d = self.dim as f64;
        d + self.hidden as f64 * self.depth as f64 + d * self.outputs_per_dim() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_activations_parse_and_print_by_name() {
        use crate::testutil::check_names;
        check_names(&FlowKind::ALL, "glow", "unknown flow architecture \"glow\": use realnvp, maf, nsf_coupling or nsf_ar");
        check_names(&Activation::ALL, "gelu", "unknown activation \"gelu\": use tanh, relu or silu");
        assert_eq!("NSF-AR".parse::<FlowKind>().unwrap(), FlowKind::NsfAr);
    }

    #[test]
    fn sidecars_without_the_newer_keys_load_as_realnvp() {
        let mut v = serde_json::to_value(FlowSpec::new(3)).unwrap();
        for k in ["kind", "lu", "bins", "tail_bound"] {
            v.as_object_mut().unwrap().remove(k);
        }
        let s: FlowSpec = serde_json::from_value(v).unwrap();
        assert_eq!(s, FlowSpec::new(3));
        assert_eq!((s.kind, s.lu, s.bins, s.tail_bound), (FlowKind::Realnvp, false, 8, 5.0));
    }

    #[test]
    fn sizes_are_checked_and_counted_without_allocating() {
        assert!(FlowSpec::new(3).check().is_ok());
        assert!(FlowSpec { hidden: 0, ..FlowSpec::new(3) }.check().is_err());
        assert!(FlowSpec { bins: 0, ..FlowSpec::new(3) }.check().unwrap_err().to_string().contains("bins"));
        assert!(FlowSpec { tail_bound: -1.0, ..FlowSpec::new(3) }.check().unwrap_err().to_string().contains("tail bound"));
        // 7-64-64-14 networks, six of them, and L: 6 (7·64 + 64 + 64·64 + 64 + 64·14 + 14) + 14.
        assert_eq!(FlowSpec::new(7).n_params(), 6.0 * (7.0 * 64.0 + 64.0 + 64.0 * 64.0 + 64.0 + 64.0 * 14.0 + 14.0) + 14.0);
        let huge = FlowSpec { hidden: usize::MAX, pairs: usize::MAX / 2, ..FlowSpec::new(7) };
        assert!(huge.n_params() > 1e50 && huge.n_params().is_finite());
    }
}

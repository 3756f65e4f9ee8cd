//! The architecture a user asks for ([`Arch`]): a [`FlowKind`], or `auto`,
//! which picks one from the number of parameters ([`Arch::resolve`]).
//!
//! With one parameter a RealNVP coupling degenerates: the coupling that keeps
//! the coordinate transforms nothing, and the one that transforms it is
//! conditioned on nothing, so the whole flow is one affine map and the prior can
//! only be a Gaussian in the flow's coordinates (logit or log of a bounded
//! parameter). MAF degenerates the same way. A spline coupling conditioned on
//! nothing is still a monotone rational-quadratic spline, which can represent a
//! skewed or multimodal density. `auto` therefore gives one-parameter chains
//! spline couplings (small networks, which train fast: the network only
//! carries constants) and RealNVP, the NF-prior paper's architecture, to the
//! others. With two parameters RealNVP's couplings are conditioned on the other
//! coordinate and represent a bimodal marginal as well as splines do (the
//! tests check both), at a fraction of the cost per step.
//!
//! # Reference
//! Durkan, Bekasov, Murray & Papamakarios (2019), *Neural spline flows*, NeurIPS;
//! Dinh, Sohl-Dickstein & Bengio (2017), *Density estimation using Real NVP*, ICLR.

use serde::{Deserialize, Serialize};

use crate::error::{FlowError, Result};
use crate::named::alternatives;
use crate::spec::{FlowKind, FlowSpec};

/// The architecture asked for: `auto` (the default) or a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arch {
    /// Spline couplings for one parameter, RealNVP otherwise.
    #[default]
    Auto,
    /// This kind, whatever the number of parameters.
    Kind(FlowKind),
}

/// Most parameters that `auto` gives spline couplings.
pub const AUTO_SPLINE_MAX_DIM: usize = 1;

impl Arch {
    /// The spec to train for `dim` parameters from the user's `spec` (whose
    /// `kind` is ignored under `auto`), and, when `auto` chose for the
    /// dimension, a sentence saying what and why (recorded in the sidecar).
    pub fn resolve(self, spec: &FlowSpec, dim: usize) -> (FlowSpec, Option<String>) {
        let mut s = FlowSpec { dim, ..spec.clone() };
        match self {
            Arch::Kind(k) => {
                s.kind = k;
                (s, None)
            }
            Arch::Auto if dim > AUTO_SPLINE_MAX_DIM => {
                s.kind = FlowKind::Realnvp;
                (s, Some(format!("auto: realnvp for {dim} parameters")))
            }
            Arch::Auto => {
                s.kind = FlowKind::NsfCoupling;
                // Two pairs of spline couplings; the networks carry only constants,
                // so one small hidden layer is enough.
                s.pairs = s.pairs.min(2);
                s.hidden = s.hidden.min(8);
                s.depth = 1;
                let note = format!(
                    "auto: nsf_coupling ({} pairs, hidden {}x{}) for {dim} parameter: RealNVP and MAF are one affine map for one parameter",
                    s.pairs, s.depth, s.hidden
                );
                (s, Some(note))
            }
        }
    }

    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Auto => "auto",
            Arch::Kind(k) => k.name(),
        }
    }
}

impl std::str::FromStr for Arch {
    type Err = FlowError;

    fn from_str(s: &str) -> Result<Self> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(Arch::Auto);
        }
        s.parse::<FlowKind>().map(Arch::Kind).map_err(|_| {
            let names: Vec<&str> = std::iter::once("auto").chain(FlowKind::ALL.iter().map(|k| k.name())).collect();
            FlowError::invalid(format!("unknown flow architecture {:?}: use {}", s.to_ascii_lowercase().replace('-', "_"), alternatives(&names)))
        })
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Arch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Arch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;

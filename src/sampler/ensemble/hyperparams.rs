//! Ensemble settings: walkers and the weighted moves, checked once.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One proposal move.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "move", rename_all = "snake_case")]
pub enum MoveKind {
    /// Goodman & Weare's stretch move: `y = c + z (x - c)`, `z ~ g(z) ∝ 1/√z` on `[1/a, a]`.
    Stretch {
        /// Scale `a > 1` (emcee's default 2).
        a: f64,
    },
    /// Differential evolution: `y = x + γ (1 + σ ε) (c₁ - c₂)`. With `γ = 1`
    /// (`de_jump`) the move carries a walker by the full difference of two
    /// others, which lets walkers stuck in a minor mode jump to the main one
    /// (ter Braak 2006 uses it every tenth generation).
    De {
        /// `γ`; `None` = `2.38 / √(2 d)`.
        gamma0: Option<f64>,
        /// Relative jitter `σ` of `γ` (1e-5).
        sigma: f64,
    },
    /// DE-snooker: a jump along the line through `x` and a complementary
    /// walker `z`, by `γ` times the projection of `c₁ - c₂` on that line.
    Snooker {
        /// `γ` (1.7).
        gamma: f64,
    },
    /// Gaussian jump with the covariance of the complementary walkers.
    Walk,
}

/// A move `--moves` and a stage's `moves` accept: its name, other names it
/// goes by, the move with its default settings, and what it does.
#[derive(Debug, Clone, Copy)]
pub struct MoveDoc {
    /// The name [`MoveKind::name`] gives it.
    pub name: &'static str,
    /// Other accepted spellings.
    pub aliases: &'static [&'static str],
    /// The move.
    pub kind: MoveKind,
    /// One line for `seqcal sample --help`.
    pub help: &'static str,
}

/// Every move by name: the one table [`MoveKind::by_name`] parses from and
/// `seqcal sample --help` lists.
pub const MOVES: &[MoveDoc] = &[
    MoveDoc { name: "stretch", aliases: &[], kind: MoveKind::Stretch { a: 2.0 }, help: "Goodman & Weare's stretch move (a = 2), emcee's default" },
    MoveDoc {
        name: "de",
        aliases: &["differential_evolution"],
        kind: MoveKind::De { gamma0: None, sigma: 1e-5 },
        help: "DE: a step along two other walkers' difference",
    },
    MoveDoc {
        name: "de_jump",
        aliases: &[],
        kind: MoveKind::De { gamma0: Some(1.0), sigma: 1e-5 },
        help: "DE by the full difference (gamma = 1): walkers jump between modes",
    },
    MoveDoc {
        name: "snooker",
        aliases: &["de_snooker"],
        kind: MoveKind::Snooker { gamma: 1.7 },
        help: "DE-snooker: a jump along the line through two walkers",
    },
    MoveDoc { name: "walk", aliases: &[], kind: MoveKind::Walk, help: "Gaussian jump with the complementary walkers' covariance" },
];

impl MoveKind {
    /// The move by name (see [`MOVES`]) with default settings.
    ///
    /// # Errors
    /// An unknown name.
    pub fn by_name(name: &str) -> Result<Self> {
        MOVES
            .iter()
            .find(|m| m.name == name || m.aliases.contains(&name))
            .map(|m| m.kind)
            .ok_or_else(|| Error::Usage(format!("unknown move {name:?}; moves: {}", MOVES.iter().map(|m| m.name).collect::<Vec<_>>().join(", "))))
    }

    /// Short name.
    pub fn name(&self) -> &'static str {
        match self {
            MoveKind::Stretch { .. } => "stretch",
            MoveKind::De { gamma0: Some(g), .. } if *g == 1.0 => "de_jump",
            MoveKind::De { .. } => "de",
            MoveKind::Snooker { .. } => "snooker",
            MoveKind::Walk => "walk",
        }
    }

    /// Complementary walkers the move needs.
    pub fn min_complement(&self) -> usize {
        match self {
            MoveKind::Stretch { .. } => 1,
            MoveKind::De { .. } | MoveKind::Walk => 2,
            MoveKind::Snooker { .. } => 3,
        }
    }
}

/// A move and its probability weight.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WeightedMove {
    /// The move.
    #[serde(flatten)]
    pub kind: MoveKind,
    /// Relative weight (normalized over the list).
    pub weight: f64,
}

/// Parses `stretch:0.8,de:0.2` (a missing weight is 1).
///
/// # Errors
/// Unknown move, weight not positive and finite, empty list.
pub fn parse_moves(spec: &str) -> Result<Vec<WeightedMove>> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, w) = part.split_once(':').unwrap_or((part, "1"));
        let weight: f64 = w.trim().parse().map_err(|_| Error::Usage(format!("move weight {w:?} in {spec:?} is not a number")))?;
        if !(weight > 0.0 && weight.is_finite()) {
            return Err(Error::Usage(format!("move weight {weight} in {spec:?} must be positive")));
        }
        out.push(WeightedMove { kind: MoveKind::by_name(name.trim())?, weight });
    }
    if out.is_empty() {
        return Err(Error::Usage("no moves given; e.g. --moves stretch:0.8,de:0.2".into()));
    }
    Ok(out)
}

/// Settings of the ensemble sampler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleSettings {
    /// Number of walkers (at least twice the dimension).
    pub walkers: usize,
    /// Moves, one chosen per step with probability proportional to its weight.
    pub moves: Vec<WeightedMove>,
}

impl Default for EnsembleSettings {
    fn default() -> Self {
        EnsembleSettings { walkers: 32, moves: vec![WeightedMove { kind: MoveKind::Stretch { a: 2.0 }, weight: 1.0 }] }
    }
}

impl EnsembleSettings {
    /// Checks the settings for a problem of dimension `dim`.
    ///
    /// # Errors
    /// Too few walkers (fewer than `2 × dim`, as emcee requires, or too few
    /// for a move's complementary set), a bad move parameter.
    pub fn check(&self, dim: usize) -> Result<()> {
        if self.walkers < 2 * dim {
            return Err(Error::Usage(format!(
                "{} walkers for {dim} parameters: the ensemble sampler needs at least 2 x dim = {} walkers (more is better)",
                self.walkers,
                2 * dim
            )));
        }
        if self.moves.is_empty() {
            return Err(Error::Usage("no moves".into()));
        }
        let half = self.walkers / 2;
        for m in &self.moves {
            if half < m.kind.min_complement() {
                return Err(Error::Usage(format!(
                    "move {} needs at least {} walkers in each half; use more walkers",
                    m.kind.name(),
                    m.kind.min_complement()
                )));
            }
            let ok = match m.kind {
                MoveKind::Stretch { a } => a > 1.0 && a.is_finite(),
                MoveKind::De { gamma0, sigma } => gamma0.is_none_or(|g| g > 0.0 && g.is_finite()) && sigma >= 0.0 && sigma.is_finite(),
                MoveKind::Snooker { gamma } => gamma > 0.0 && gamma.is_finite(),
                MoveKind::Walk => true,
            };
            if !(ok && m.weight > 0.0 && m.weight.is_finite()) {
                return Err(Error::Usage(format!("invalid settings for move {:?}", m)));
            }
        }
        Ok(())
    }

    /// The moves as text (`stretch:0.8,de:0.2`).
    pub fn moves_spec(&self) -> String {
        self.moves.iter().map(|m| format!("{}:{}", m.kind.name(), m.weight)).collect::<Vec<_>>().join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_moves() {
        let m = parse_moves("stretch:0.8, de:0.2,snooker").unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[2].weight, 1.0);
        assert!(parse_moves("hop:1").unwrap_err().to_string().contains("unknown move \"hop\""));
        assert!(parse_moves("stretch:-1").is_err());
        let s = EnsembleSettings { walkers: 5, moves: m };
        assert!(s.check(3).unwrap_err().to_string().contains("at least 2 x dim = 6"));
        let s = EnsembleSettings { walkers: 4, moves: parse_moves("snooker").unwrap() };
        assert!(s.check(1).unwrap_err().to_string().contains("snooker needs at least 3"));
    }

    #[test]
    fn every_listed_move_parses_to_itself_under_each_of_its_names() {
        for m in MOVES {
            for n in std::iter::once(&m.name).chain(m.aliases) {
                let k = MoveKind::by_name(n).unwrap();
                assert_eq!(k, m.kind, "{n}");
                assert_eq!(k.name(), m.name, "{n}");
            }
        }
        let e = MoveKind::by_name("hop").unwrap_err().to_string();
        assert!(MOVES.iter().all(|m| e.contains(m.name)), "{e}");
    }
}

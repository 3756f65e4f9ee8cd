//! How an emulator is trained: [`EmulatorSettings`] as a user writes them
//! (a pipeline's `[datasets.X.emulator]` table, the flags of `seqcal
//! emulator train`), checked once into the [`TrainSettings`] training takes.
//!
//! The defaults live here and only here, so a pipeline and the command line
//! train the same emulator from the same files.

use serde::{Deserialize, Serialize};

use crate::{Components, EmuError, Kernel};

/// Most random restarts of the hyperparameter fit: each one is a full fit of
/// every component, so more than this would run for days on a real design.
pub const MAX_RESTARTS: usize = 1000;

/// Default fraction of the standardized output variance the kept principal components explain.
pub const DEFAULT_EXPLAINED: f64 = 0.99;

/// Default number of random restarts of each component's hyperparameter fit.
pub const DEFAULT_RESTARTS: usize = 4;

/// Emulator settings as written in a pipeline file or given on the command
/// line. Every key is optional; unknown keys are refused with the list of
/// known ones.
///
/// ```toml
/// [datasets.A]
/// emulator = { npc = 4, kernel = "matern52", restarts = 2 }
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorSettings {
    /// Number of principal components kept (at least 1; at most the number
    /// of outputs and of runs − 1). Exclusive with `explained`.
    pub npc: Option<usize>,
    /// Keep the fewest components explaining at least this fraction of the
    /// standardized output variance, in (0, 1] [default: 0.99 when `npc` is unset].
    pub explained: Option<f64>,
    /// Kernel of every component's GP: `se` (also `rbf`, `sqexp`),
    /// `matern32` or `matern52` [default: `se`].
    pub kernel: Kernel,
    /// Random restarts of each component's hyperparameter fit besides the
    /// default start, at most [`MAX_RESTARTS`] [default: 4].
    pub restarts: Option<usize>,
    /// Seed of the restarts; component `c` uses `seed + c` [default: the
    /// pipeline's `seed` in a pipeline, 0 on the command line].
    pub seed: Option<u64>,
}

impl EmulatorSettings {
    /// Checks the settings and resolves their defaults; `default_seed` is
    /// the seed when none is set.
    ///
    /// # Errors
    /// [`EmuError::Settings`]: both `npc` and `explained`, `npc = 0`, a
    /// fraction outside (0, 1], more than [`MAX_RESTARTS`] restarts.
    pub fn check(&self, default_seed: u64) -> Result<TrainSettings, EmuError> {
        let components = match (self.npc, self.explained) {
            (Some(_), Some(_)) => return Err(EmuError::Settings("set npc or explained, not both".into())),
            (Some(k), None) => Components::Fixed(k),
            (None, Some(f)) => Components::Explained(f),
            (None, None) => Components::Explained(DEFAULT_EXPLAINED),
        };
        let s = TrainSettings {
            components,
            kernel: self.kernel,
            restarts: self.restarts.unwrap_or(DEFAULT_RESTARTS),
            seed: self.seed.unwrap_or(default_seed),
        };
        s.check()?;
        Ok(s)
    }
}

/// Checked training settings (from [`EmulatorSettings::check`], or built
/// directly and checked by [`GpEmulator::train`](crate::GpEmulator::train)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// Principal components kept [default: explaining 99% of the variance].
    pub components: Components,
    /// Kernel of every component's GP [default: squared exponential].
    pub kernel: Kernel,
    /// Random restarts of the hyperparameter optimization besides the default start [default: 4].
    pub restarts: usize,
    /// Seed of the restarts; component `c` uses `seed + c` [default: 0].
    pub seed: u64,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings { components: Components::Explained(DEFAULT_EXPLAINED), kernel: Kernel::Se, restarts: DEFAULT_RESTARTS, seed: 0 }
    }
}

impl TrainSettings {
    /// Checks what can be checked without the data (the number of components
    /// against the outputs and runs is checked when training).
    ///
    /// # Errors
    /// [`EmuError::Settings`]: no component, a fraction outside (0, 1], more
    /// than [`MAX_RESTARTS`] restarts.
    pub fn check(&self) -> Result<(), EmuError> {
        match self.components {
            Components::Fixed(0) => return Err(EmuError::Settings("npc = 0: keep at least 1 principal component".into())),
            Components::Explained(f) if !(f > 0.0 && f <= 1.0) => {
                return Err(EmuError::Settings(format!("explained = {f}: the explained-variance fraction must be in (0, 1]")))
            }
            _ => {}
        }
        if self.restarts > MAX_RESTARTS {
            return Err(EmuError::Settings(format!(
                "restarts = {}: at most {MAX_RESTARTS} (each restart is a full hyperparameter fit of every component; a few are enough)",
                self.restarts
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<EmulatorSettings, String> {
        #[derive(Deserialize)]
        struct Holder {
            emulator: EmulatorSettings,
        }
        toml::from_str::<Holder>(text).map(|h| h.emulator).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_keys() {
        let s = parse("[emulator]\n").unwrap().check(7).unwrap();
        assert_eq!(s, TrainSettings { seed: 7, ..TrainSettings::default() });
        let s = parse("emulator = { npc = 3, kernel = \"Matern52\", restarts = 0, seed = 2 }").unwrap().check(7).unwrap();
        assert_eq!(s, TrainSettings { components: Components::Fixed(3), kernel: Kernel::Matern52, restarts: 0, seed: 2 });
        assert_eq!(parse("emulator = { kernel = \"rbf\" }").unwrap().kernel, Kernel::Se);
    }

    #[test]
    fn every_bad_setting_is_named() {
        let e = parse("emulator = { kernal = \"se\" }").unwrap_err();
        assert!(e.contains("unknown field `kernal`") && e.contains("`npc`, `explained`, `kernel`, `restarts`, `seed`"), "{e}");
        let e = parse("emulator = { kernel = \"cubic\" }").unwrap_err();
        assert!(e.contains("unknown kernel \"cubic\": use se, matern32 or matern52"), "{e}");
        let e = parse("emulator = { npc = -1 }").unwrap_err();
        assert!(e.contains("npc"), "{e}");
        let check = |t: &str| parse(t).unwrap().check(0).unwrap_err().to_string();
        assert!(check("emulator = { npc = 2, explained = 0.9 }").contains("not both"));
        assert!(check("emulator = { npc = 0 }").contains("at least 1"));
        assert!(check("emulator = { explained = 1.5 }").contains("(0, 1]"));
        assert!(check("emulator = { restarts = 100000000000 }").contains("at most 1000"));
    }
}

//! A pipeline's data sets: each one's emulator (trained once and cached
//! under its content hash) and its Gaussian likelihood.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use seqcal_emulators::{Components, GpEmulator, Kernel, TrainSettings as EmuSettings};

use super::context::RunContext;
use super::layout::write_text;
use crate::likelihood::{DataSet, GaussianLikelihood};
use crate::table::read_table_as;
use crate::{Error, Result};

/// Emulator settings from a data set's `emulator` table; `seed` is the
/// pipeline's, which the table's own `seed` overrides.
pub(super) fn emulator_settings(t: &toml::Table, dataset: &str, seed: u64) -> Result<EmuSettings> {
    let bad = |m: String| Error::Usage(format!("data set {dataset:?}: emulator: {m}"));
    let mut s = EmuSettings { seed, ..EmuSettings::default() };
    for (k, v) in t {
        match (k.as_str(), v) {
            ("npc", toml::Value::Integer(n)) if *n > 0 => s.components = Components::Fixed(*n as usize),
            ("explained", v) if v.as_float().is_some_and(|f| f > 0.0 && f <= 1.0) => s.components = Components::Explained(v.as_float().unwrap_or(0.99)),
            ("kernel", toml::Value::String(name)) => s.kernel = Kernel::parse(name).ok_or_else(|| bad(format!("unknown kernel {name:?}: use se, matern32 or matern52")))?,
            ("restarts", toml::Value::Integer(n)) if *n >= 0 => s.restarts = *n as usize,
            ("seed", toml::Value::Integer(n)) if *n >= 0 => s.seed = *n as u64,
            (k @ ("npc" | "explained" | "kernel" | "restarts" | "seed"), v) => return Err(bad(format!("{k} = {v} is not valid"))),
            (k, _) => return Err(bad(format!("unknown key {k:?}: use npc, explained, kernel, restarts, seed"))),
        }
    }
    Ok(s)
}

/// The likelihoods of a run's data sets, built on first use.
pub(super) struct Likelihoods<'a> {
    /// The run's inputs.
    pub ctx: RunContext<'a>,
    /// Each data set's emulator cache key ([`super::cache::emulator_hash`]).
    pub emulator_hash: BTreeMap<String, String>,
    /// Retrain emulators even when cached.
    pub force: bool,
    /// Built so far.
    pub built: BTreeMap<String, GaussianLikelihood>,
}

impl Likelihoods<'_> {
    /// Trains (or loads, when up to date) the emulator of data set `name` and builds its likelihood.
    pub(super) fn get(&mut self, name: &str) -> Result<GaussianLikelihood> {
        if let Some(l) = self.built.get(name) {
            return Ok(l.clone());
        }
        let RunContext { pipeline: p, source, layout, space, say } = self.ctx;
        let d = &p.datasets[name];
        let hash = self.emulator_hash[name].clone();
        let emu_dir = layout.emulators();
        std::fs::create_dir_all(&emu_dir).map_err(|e| Error::io(&emu_dir, e))?;
        let (emu_path, hash_path) = (emu_dir.join(format!("{name}.json")), emu_dir.join(format!("{name}.sha256")));
        let cached = std::fs::read_to_string(&hash_path).ok().filter(|h| h.trim() == hash && emu_path.is_file());
        let emu = match cached {
            Some(_) if !self.force => {
                let text = std::fs::read_to_string(&emu_path).map_err(|e| Error::io(&emu_path, e))?;
                GpEmulator::from_json(&text).map_err(|e| Error::Usage(format!("{}: {e}", emu_path.display())))?
            }
            _ => {
                let (design_path, outputs_path) = (p.resolve(&d.design), p.resolve(&d.outputs));
                let design = read_table_as(&design_path, &["design"])?;
                let outputs = read_table_as(&outputs_path, &["outputs"])?;
                if design.data.nrows() != outputs.data.nrows() {
                    return Err(Error::config(
                        source,
                        format!("data set {name:?}: the design has {} runs but the outputs have {}", design.data.nrows(), outputs.data.nrows()),
                    ));
                }
                let settings = emulator_settings(&d.emulator, name, p.seed)?;
                say.say(format!("  training the emulator of data set {name} ({} runs, {} outputs)", design.data.nrows(), outputs.data.ncols()));
                let t = Instant::now();
                let emu = GpEmulator::train(design.data.view(), outputs.data.view(), space.bounds(), &settings)
                    .map_err(|e| Error::Usage(format!("data set {name:?}: training the emulator on {}: {e}", outputs_path.display())))?
                    .with_names(design.header, outputs.header);
                say.say(format!(
                    "  emulator {name}: {} runs, {} outputs, {} components ({:.3} of the variance), trained in {:.1} s",
                    design.data.nrows(),
                    outputs.data.ncols(),
                    emu.n_components(),
                    emu.explained_variance(),
                    t.elapsed().as_secs_f64()
                ));
                write_text(&emu_path, &emu.to_json().map_err(|e| Error::Usage(e.to_string()))?)?;
                write_text(&hash_path, &hash)?;
                emu
            }
        };
        let lik = self.dataset_likelihood(name, Arc::new(emu))?;
        self.built.insert(name.to_string(), lik.clone());
        Ok(lik)
    }

    fn dataset_likelihood(&self, name: &str, emu: Arc<GpEmulator>) -> Result<GaussianLikelihood> {
        let p = self.ctx.pipeline;
        let d = &p.datasets[name];
        let data_path = p.resolve(&d.data);
        let data = read_table_as(&data_path, &["data"])?;
        let col = |c: &str| data.header.iter().position(|h| h == c);
        let value = col("value").ok_or_else(|| Error::config(&data_path, "needs a column named `value` (and `error`, unless the data set gives a covariance file)"))?;
        let values: Vec<f64> = data.data.column(value).to_vec();
        let m = values.len();
        let outputs = seqcal_api::Emulator::output_dim(emu.as_ref());
        if m != outputs {
            return Err(Error::config(&data_path, format!("holds {m} observables but the model outputs of data set {name:?} have {outputs} columns")));
        }
        let set = match &d.covariance {
            Some(c) => {
                let cp = p.resolve(c);
                let t = read_table_as(&cp, &["covariance"])?;
                if t.data.dim() != (m, m) {
                    return Err(Error::config(&cp, format!("the covariance must be {m} x {m} (one row and column per observable), found {} x {}", t.data.nrows(), t.data.ncols())));
                }
                let cov = nalgebra::DMatrix::from_fn(m, m, |i, j| t.data[[i, j]]);
                DataSet::with_cov(name, (0..m).collect(), values, cov)
            }
            None => {
                let err = col("error").ok_or_else(|| Error::config(&data_path, "needs a column named `error` (or give the data set a covariance file)"))?;
                DataSet::with_errors(name, (0..m).collect(), values, data.data.column(err).as_slice().unwrap_or(&data.data.column(err).to_vec()))
            }
        }
        .map_err(|e| Error::config(&data_path, e.to_string()))?;
        GaussianLikelihood::new(emu, vec![set])
    }
}

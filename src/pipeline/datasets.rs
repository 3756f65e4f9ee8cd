//! A pipeline's data sets: each one's emulator (trained once and cached
//! under its content hash) and its Gaussian likelihood.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use seqcal_emulators::{GpEmulator, TrainSettings as EmuSettings};

use super::context::RunContext;
use super::layout::write_text;
use crate::config::Pipeline;
use crate::likelihood::{DataSet, GaussianLikelihood};
use crate::table::read_table_as;
use crate::{Error, Result, ResultExt};

/// Emulator settings of data set `dataset`, its defaults resolved (the
/// seed: the pipeline's, unless the table sets its own).
pub(super) fn emulator_settings(p: &Pipeline, dataset: &str) -> Result<EmuSettings> {
    p.datasets[dataset].emulator.check(p.seed).context_with(|| format!("data set {dataset:?}: emulator"))
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
                GpEmulator::from_json(&text).context_with(|| emu_path.display().to_string())?
            }
            _ => {
                let (design_path, outputs_path) = (p.resolve(&d.design), p.resolve(&d.outputs));
                // Design columns by name, in the order of [parameters].
                let design = read_table_as(&design_path, &["design"])?.select(&p.parameters.names, "the pipeline's parameters")?;
                let outputs = read_table_as(&outputs_path, &["outputs"])?;
                if design.nrows() != outputs.data.nrows() {
                    return Err(Error::config(
                        source,
                        format!("data set {name:?}: the design has {} runs but the outputs have {}", design.nrows(), outputs.data.nrows()),
                    ));
                }
                let settings = emulator_settings(p, name)?;
                say.say(format!("  training the emulator of data set {name} ({} runs, {} outputs)", design.nrows(), outputs.data.ncols()));
                let t = Instant::now();
                let emu = GpEmulator::train(design.view(), outputs.data.view(), space.bounds(), &settings)
                    .context_with(|| format!("data set {name:?}: training the emulator on {}", outputs_path.display()))?
                    .with_names(p.parameters.names.clone(), outputs.header);
                say.say(format!(
                    "  emulator {name}: {} runs, {} outputs, {} components ({:.3} of the variance), trained in {:.1} s",
                    design.nrows(),
                    outputs.data.ncols(),
                    emu.n_components(),
                    emu.explained_variance(),
                    t.elapsed().as_secs_f64()
                ));
                write_text(&emu_path, &emu.to_json()?)?;
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
        let value = col("value")
            .ok_or_else(|| Error::config(&data_path, "needs a column named `value` (and `error`, unless the data set gives a covariance file)"))?;
        let values: Vec<f64> = data.data.column(value).to_vec();
        let m = values.len();
        let outputs = seqcal_api::Emulator::output_dim(emu.as_ref());
        if m != outputs {
            return Err(Error::config(
                &data_path,
                format!("holds {m} observables but the model outputs of data set {name:?} have {outputs} columns"),
            ));
        }
        let set = match &d.covariance {
            Some(c) => {
                let cp = p.resolve(c);
                let t = read_table_as(&cp, &["covariance"])?;
                if t.data.dim() != (m, m) {
                    return Err(Error::config(
                        &cp,
                        format!(
                            "the covariance must be {m} x {m} (one row and column per observable), found {} x {}",
                            t.data.nrows(),
                            t.data.ncols()
                        ),
                    ));
                }
                let cov = nalgebra::DMatrix::from_fn(m, m, |i, j| t.data[[i, j]]);
                DataSet::with_cov(name, (0..m).collect(), values, cov)
            }
            None => {
                let err =
                    col("error").ok_or_else(|| Error::config(&data_path, "needs a column named `error` (or give the data set a covariance file)"))?;
                DataSet::with_errors(name, (0..m).collect(), values, data.data.column(err).as_slice().unwrap_or(&data.data.column(err).to_vec()))
            }
        }
        .map_err(|e| Error::config(&data_path, e.to_string()))?;
        GaussianLikelihood::new(emu, vec![set])
    }
}

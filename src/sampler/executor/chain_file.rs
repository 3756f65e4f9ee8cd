//! The executor's side of the chain file: start or resume, append rows with
//! the state that matches them, store the final output, clean up after a
//! failure.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ndarray::{Array1, Array2, Array3, ArrayView2};

use super::job::Job;
use crate::chain::schema::{h5err, open_file, open_group, BURN};
use crate::chain::{self, ChainLayout, ChainReader, ChainWriter, Column, Columns, PerDraw, Step};
use crate::sampler::contract::{ExtraGroup, Sampler};
use crate::sampler::posterior::Evaluation;
use crate::targets::Transform;
use crate::{Error, Result};

/// Every row of a chain (`rows × draws × dim`), their log posteriors and the
/// last row's weights.
type ChainRows = (Array3<f64>, Array2<f64>, Option<Array1<f64>>);

/// The run's chain file (if any) and the rows this call made.
pub(super) struct ChainFile {
    writer: Option<ChainWriter>,
    path: Option<PathBuf>,
    created: bool,
    done_before: usize,
    /// Whether the sampler writes a row per step.
    rows: bool,
    /// Draws per row and stored parameters.
    n: usize,
    d: usize,
    draws: Vec<f64>,
    log_probs: Vec<f64>,
    theta: Array2<f64>,
    cols: PerDraw<Array1<f64>>,
    has_prior: bool,
}

/// Maps sampler coordinates to stored parameters, row by row.
pub(super) fn constrain(t: Option<&dyn Transform>, x: ArrayView2<'_, f64>, out: &mut Array2<f64>) {
    match t {
        None => out.assign(&x),
        Some(t) => {
            for (u, mut th) in x.rows().into_iter().zip(out.rows_mut()) {
                let u = u.to_vec();
                let th = th.as_slice_mut().expect("rows of an owned standard-layout array are contiguous");
                t.constrain(&u, th);
            }
        }
    }
}

impl ChainFile {
    /// Restores the sampler from the output's checkpoint (`--resume`) or
    /// starts it from fresh initial draws, then opens or creates the file.
    pub(super) fn open<S: Sampler>(
        job: &Job<'_>,
        config: &S::Config,
        checkpoint_every: usize,
        attrs: BTreeMap<String, String>,
        start: &dyn Fn(usize) -> Result<Array2<f64>>,
    ) -> Result<(S, ChainFile)> {
        let n = S::draws(config);
        let d = job.space.dim();
        let sampler_dim = job.posterior.dim();
        let mut file = ChainFile {
            writer: None,
            path: job.output.as_ref().map(|o| o.path.to_path_buf()),
            created: false,
            done_before: 0,
            rows: true,
            n,
            d,
            draws: Vec::new(),
            log_probs: Vec::new(),
            theta: Array2::zeros((n, d)),
            cols: PerDraw::from_fn(|_| Array1::zeros(n)),
            has_prior: job.posterior.prior().is_some(),
        };
        if let Some(o) = job.output.as_ref().filter(|o| o.resume && o.path.exists()) {
            let reader = ChainReader::open(o.path)?;
            let stored_attrs = reader.header().attrs.clone();
            if let Some(id) = &o.identity {
                let stored = stored_attrs.get("run").cloned().unwrap_or_default();
                if &stored != id {
                    return Err(Error::Usage(format!(
                        "{}: --resume needs the same target, sampler, settings, seed and beta as the run that wrote it\n  stored:  {stored}\n  now:     {id}",
                        o.path.display()
                    )));
                }
            }
            if let Some(st) = reader.sampler_state()?.filter(|st| st.iteration > 0) {
                if st.positions.ncols() != sampler_dim {
                    return Err(Error::chain(
                        o.path,
                        format!(
                            "cannot resume: the stored sampler state has {} coordinates per walker, the target {sampler_dim}; start over with --force",
                            st.positions.ncols()
                        ),
                    ));
                }
                file.rows = S::WRITES_ROWS;
                let writer = if file.rows {
                    // A transformed target's chain stores log densities of the stored parameters.
                    let stored_log_prob = job.transform.map(|t| {
                        let mut lp = st.values.column(0).to_owned();
                        crate::targets::transform::to_stored_scale(t, st.positions.view(), &mut [&mut lp]);
                        lp.to_vec()
                    });
                    st.check_against(&reader, stored_log_prob.as_deref())?;
                    drop(reader);
                    ChainWriter::resume_at(o.path, &st, checkpoint_every)?.0
                } else {
                    drop(reader);
                    let (mut w, _) = ChainWriter::resume(o.path, checkpoint_every)?;
                    w.set_state(st.clone());
                    w
                };
                let sampler = S::restore(config, &st, job.seed, &stored_attrs)?;
                file.done_before = st.iteration;
                file.writer = Some(writer);
                return Ok((sampler, file));
            }
        }
        // The first evaluation comes before the output is created: a target
        // that cannot start leaves no file behind to block the next try.
        let x0 = start(n)?;
        let sampler = S::start(config, job.posterior, x0, job.seed)?;
        file.rows = S::WRITES_ROWS;
        if let Some(o) = &job.output {
            let cols = Columns { log_prob: true, log_prior: file.has_prior, log_likelihood: true, weights: !file.rows };
            let layout = ChainLayout::new(job.space.names().to_vec(), n).bounds(job.space.bounds().to_vec()).columns(cols).attrs(attrs);
            file.writer = Some(ChainWriter::create(o.path, &layout, checkpoint_every)?);
            file.created = true;
        }
        Ok((sampler, file))
    }

    /// Steps already in the file before this call.
    pub(super) fn done_before(&self) -> usize {
        self.done_before
    }

    /// Records the burn-in of a resumed chain (written at the next flush).
    pub(super) fn set_burn(&mut self, burn: usize) {
        if let Some(w) = self.writer.as_mut().filter(|_| !self.created) {
            w.set_attr(BURN, burn.to_string());
        }
    }

    /// This call's rows so far, for the running autocorrelation time:
    /// `(draws, rows, draws per row, dim)`.
    pub(super) fn kept_draws(&self) -> Option<(&[f64], usize, usize, usize)> {
        let per = self.n * self.d;
        (self.rows && per > 0).then(|| (self.draws.as_slice(), self.draws.len() / per, self.n, self.d))
    }

    /// Stores step `global`'s row (a row-writing sampler) or checkpoints the
    /// state every `flush_every` steps (a sampler whose output is final).
    pub(super) fn after_step<S: Sampler>(&mut self, job: &Job<'_>, sampler: &S, global: usize, accepted: Option<&[bool]>) -> Result<()> {
        let Some(row) = sampler.row() else {
            if let Some(w) = self.writer.as_mut().filter(|w| global % w.flush_every() == 0) {
                w.set_state(sampler.save(global));
                w.flush()?;
            }
            return Ok(());
        };
        let stored = match job.transform {
            None => row.positions,
            Some(t) => {
                constrain(Some(t), row.positions, &mut self.theta);
                self.theta.view()
            }
        };
        match stored.as_slice() {
            Some(sl) => self.draws.extend_from_slice(sl),
            None => self.draws.extend(stored.iter()),
        }
        self.log_probs.extend(row.evaluations.iter().map(|e| e.log_post));
        let Some(wr) = self.writer.as_mut() else { return Ok(()) };
        fill(&mut self.cols, row.evaluations);
        if let Some(t) = job.transform {
            // The stored draws are theta = T(u): their log densities lose the log-Jacobian.
            crate::targets::transform::to_stored_scale(t, row.positions, &mut [&mut self.cols.log_prob, &mut self.cols.log_prior]);
        }
        // The state goes with the append that triggers a flush, so the
        // stored state always matches the stored rows.
        let state = (wr.rows() + 1 - wr.rows_flushed() >= wr.flush_every()).then(|| sampler.save(global));
        let mut step =
            Step::new(stored).with(Column::LogProb, self.cols.log_prob.view()).with(Column::LogLikelihood, self.cols.log_likelihood.view());
        if self.has_prior {
            step = step.with(Column::LogPrior, self.cols.log_prior.view());
        }
        if let Some(acc) = accepted {
            step = step.accepted(acc);
        }
        wr.append(step.state(state.as_ref()))
    }

    /// After an interruption: flushes the rows with the state of step `done`;
    /// returns the words that say where they are.
    pub(super) fn save_now<S: Sampler>(&mut self, sampler: &S, done: usize) -> Result<String> {
        let Some(wr) = self.writer.as_mut() else { return Ok(String::new()) };
        if done > 0 {
            wr.set_state(sampler.save(done));
        }
        wr.flush()?;
        Ok(format!("; the chain and the sampler state up to it are saved in {}", wr.path().display()))
    }

    /// Keeps the state after the last step for the final flush.
    pub(super) fn save_state<S: Sampler>(&mut self, sampler: &S, done: usize) {
        if let Some(w) = self.writer.as_mut().filter(|_| done > 0) {
            w.set_state(sampler.save(done));
        }
    }

    /// After a failure: rows flushed stay (the file stays marked incomplete);
    /// a file this run created and never wrote a row to goes.
    pub(super) fn abandon(&mut self) {
        if let Some(w) = self.writer.take() {
            let empty = self.created && w.rows() == 0;
            let path = w.path().to_path_buf();
            drop(w);
            if empty {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    /// Stores the final output (a weighted sampler's one row, its extra
    /// group), finishes the file and returns every row of the chain with its
    /// log posteriors and the last row's weights.
    pub(super) fn complete(
        &mut self,
        job: &Job<'_>,
        final_draws: Option<&(Array2<f64>, Vec<Evaluation>)>,
        weights: Option<&Array1<f64>>,
        extra: Option<&ExtraGroup>,
        log_z: Option<(f64, f64)>,
    ) -> Result<ChainRows> {
        let r = self.store_final(job, final_draws, weights, extra, log_z);
        if r.is_err() {
            self.abandon();
        }
        r?;
        let (n, d) = (self.n, self.d);
        match &self.path {
            Some(p) if self.done_before > 0 || !self.rows => {
                let c = chain::read_hdf5(p)?;
                let lp = c.log_prob.unwrap_or_else(|| Array2::from_elem((c.draws.dim().0, c.draws.dim().1), f64::NAN));
                let w = c.weights.map(|w| w.row(w.nrows().saturating_sub(1)).to_owned()).filter(|w| !w.is_empty());
                Ok((c.draws, lp, w))
            }
            _ => {
                let rows = self.draws.len() / (n * d).max(1);
                let draws = Array3::from_shape_vec((rows, n, d), std::mem::take(&mut self.draws))?;
                let lp = Array2::from_shape_vec((rows, n), std::mem::take(&mut self.log_probs))?;
                Ok((draws, lp, weights.cloned()))
            }
        }
    }

    fn store_final(
        &mut self,
        job: &Job<'_>,
        final_draws: Option<&(Array2<f64>, Vec<Evaluation>)>,
        weights: Option<&Array1<f64>>,
        extra: Option<&ExtraGroup>,
        log_z: Option<(f64, f64)>,
    ) -> Result<()> {
        if let (Some((x, evals)), false) = (final_draws, self.rows) {
            let mut theta = Array2::zeros((x.nrows(), self.d));
            constrain(job.transform, x.view(), &mut theta);
            fill(&mut self.cols, evals);
            if let Some(t) = job.transform {
                crate::targets::transform::to_stored_scale(t, x.view(), &mut [&mut self.cols.log_prob, &mut self.cols.log_prior]);
            }
            self.draws = theta.iter().copied().collect();
            self.log_probs = self.cols.log_prob.to_vec();
            if let Some(wr) = self.writer.as_mut().filter(|w| w.rows() == 0) {
                let ones = Array1::ones(x.nrows());
                let w = weights.unwrap_or(&ones);
                let mut step = Step::new(theta.view())
                    .with(Column::LogProb, self.cols.log_prob.view())
                    .with(Column::LogLikelihood, self.cols.log_likelihood.view())
                    .with(Column::Weights, w.view());
                if self.has_prior {
                    step = step.with(Column::LogPrior, self.cols.log_prior.view());
                }
                wr.append(step)?;
            }
        }
        let Some(mut wr) = self.writer.take() else { return Ok(()) };
        if let Some((z, e)) = log_z {
            wr.set_attr("log_z", z.to_string());
            wr.set_attr("log_z_err", e.to_string());
        }
        wr.flush()?;
        if let Some(g) = extra {
            write_extra(wr.path(), g, job.transform, self.d)?;
        }
        wr.finish()
    }
}

/// Per-draw log densities of `evals` into `cols`.
fn fill(cols: &mut PerDraw<Array1<f64>>, evals: &[Evaluation]) {
    if cols.log_prob.len() != evals.len() {
        *cols = PerDraw::from_fn(|_| Array1::zeros(evals.len()));
    }
    for (k, e) in evals.iter().enumerate() {
        cols.log_prob[k] = e.log_post;
        cols.log_prior[k] = e.log_prior;
        cols.log_likelihood[k] = e.log_lik;
    }
}

/// Writes group `mcmc/<name>`: scalars as attributes, arrays and tables as
/// datasets (a table named `resampled` mapped to the stored parameters).
fn write_extra(p: &std::path::Path, g: &ExtraGroup, t: Option<&dyn Transform>, d: usize) -> Result<()> {
    let file = open_file(p, true)?;
    let mcmc = open_group(p, &file)?;
    let e = |err| h5err(p, "writing the sampler's results", err);
    if mcmc.link_exists(&g.name) {
        mcmc.unlink(&g.name).map_err(e)?;
    }
    let sg = mcmc.create_group(&g.name).map_err(e)?;
    for (k, v) in &g.scalars {
        sg.new_attr::<f64>().create(k.as_str()).and_then(|a| a.write_scalar(v)).map_err(e)?;
    }
    for (k, v) in &g.arrays {
        sg.new_dataset_builder().with_data(v.as_slice()).create(k.as_str()).map_err(e)?;
    }
    for (k, v) in &g.tables {
        if k == "resampled" && t.is_some() {
            let mut theta = Array2::zeros((v.nrows(), d));
            constrain(t, v.view(), &mut theta);
            sg.new_dataset_builder().with_data(&theta).create(k.as_str()).map_err(e)?;
        } else {
            sg.new_dataset_builder().with_data(v).create(k.as_str()).map_err(e)?;
        }
    }
    drop(sg);
    drop(mcmc);
    file.close().map_err(|err| h5err(p, "closing", err))
}

//! Incremental chain writer.
//!
//! # Durability
//! HDF5 keeps metadata in memory while a file is open, so a process killed
//! with the file open can leave it unreadable. The writer therefore keeps
//! the file **closed between flushes**: each flush opens it, grows the
//! datasets, writes the buffered rows, writes the `iteration` attribute last
//! and closes the file. A kill between flushes leaves a valid file with
//! every row up to the last flush; a kill during the few milliseconds of a
//! flush is the only window in which the file can be damaged. The first
//! version of the file (layout, no rows) is built under a temporary name and
//! renamed into place, so a half-created file never appears.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdf5::types::VarLenUnicode;
use ndarray::{s, Array1, Array2, Array3, ArrayView1, ArrayView2};

use super::h5::{dataset, h5err, open_file, open_group, set_i64_attr, set_string_attr, ChainReader, Header, GROUP};
use super::{Chain, Columns};
use crate::{Error, Result};

/// One iteration of an ensemble: a row of every per-draw array.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// Walker positions, `walkers × dim`.
    pub draws: ArrayView2<'a, f64>,
    /// Log posterior per walker.
    pub log_prob: Option<ArrayView1<'a, f64>>,
    /// Log prior per walker.
    pub log_prior: Option<ArrayView1<'a, f64>>,
    /// Log likelihood per walker.
    pub log_likelihood: Option<ArrayView1<'a, f64>>,
    /// Importance weight per walker.
    pub weights: Option<ArrayView1<'a, f64>>,
    /// Which walkers accepted their proposal in this iteration.
    pub accepted: Option<&'a [bool]>,
    /// The sampler's full state after this iteration; the writer keeps the
    /// latest and stores it with the rows at each flush, for `--resume`.
    pub state: Option<&'a SamplerState>,
}

impl<'a> Step<'a> {
    /// A step with draws only; set the other fields with struct update syntax:
    /// `Step { log_prob: Some(lp.view()), ..Step::new(x.view()) }`.
    pub fn new(draws: ArrayView2<'a, f64>) -> Self {
        Step { draws, log_prob: None, log_prior: None, log_likelihood: None, weights: None, accepted: None, state: None }
    }
}

/// Everything a sampler needs to continue a run exactly where it stopped:
/// stored in group `mcmc/sampler_state` at every flush, consistent with the
/// flushed rows.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerState {
    /// Which sampler wrote it (`ensemble`, ...); checked on resume.
    pub kind: String,
    /// Walker positions in the sampler's coordinates, `walkers × dim`.
    pub positions: Array2<f64>,
    /// Per-walker values (log posterior, log prior, log likelihood, ...), `walkers × k`.
    pub values: Array2<f64>,
    /// Random-number-generator positions, one row per stream.
    pub rng: Array2<u64>,
    /// Iterations in the chain when this state was taken.
    pub iteration: usize,
    /// Accepted proposals per walker up to `iteration`.
    pub accepted: Array1<f64>,
}

/// The fixed part of a chain file: parameters, ensemble size, which
/// per-draw arrays it stores, and provenance attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainLayout {
    /// Parameter names.
    pub names: Vec<String>,
    /// Support interval per parameter (default: the real line).
    pub bounds: Vec<(f64, f64)>,
    /// Number of walkers.
    pub walkers: usize,
    /// Per-draw arrays stored besides the draws (default: log posterior only).
    pub columns: Columns,
    /// Provenance attributes written at creation.
    pub attrs: BTreeMap<String, String>,
}

impl ChainLayout {
    /// `walkers` walkers over unbounded parameters `names`, storing the log posterior.
    pub fn new(names: Vec<String>, walkers: usize) -> Self {
        let bounds = vec![(f64::NEG_INFINITY, f64::INFINITY); names.len()];
        ChainLayout { names, bounds, walkers, columns: Columns { log_prob: true, ..Default::default() }, attrs: BTreeMap::new() }
    }
    /// Sets the bounds.
    pub fn bounds(mut self, bounds: Vec<(f64, f64)>) -> Self {
        self.bounds = bounds;
        self
    }
    /// Sets the stored per-draw arrays.
    pub fn columns(mut self, columns: Columns) -> Self {
        self.columns = columns;
        self
    }
    /// Sets the provenance attributes.
    pub fn attrs(mut self, attrs: BTreeMap<String, String>) -> Self {
        self.attrs = attrs;
        self
    }
}

/// Appends iterations to a chain file, flushing every `flush_every` rows.
///
/// ```no_run
/// # use seqcal::chain::{ChainLayout, ChainWriter, Step};
/// # use ndarray::{Array1, Array2};
/// # fn main() -> seqcal::Result<()> {
/// let layout = ChainLayout::new(vec!["a".into()], 4).bounds(vec![(0.0, 1.0)]);
/// let mut w = ChainWriter::create("run.h5".as_ref(), &layout, 100)?;
/// let (x, lp) = (Array2::from_elem((4, 1), 0.5), Array1::zeros(4));
/// w.append(Step { log_prob: Some(lp.view()), ..Step::new(x.view()) })?;
/// w.finish()?;
/// # Ok(()) }
/// ```
pub struct ChainWriter {
    path: PathBuf,
    names: Vec<String>,
    walkers: usize,
    columns: Columns,
    flush_every: usize,
    rows_on_disk: usize,
    buf_rows: usize,
    buf_draws: Vec<f64>,
    buf: [Vec<f64>; 4],
    accepted: Vec<f64>,
    pending_attrs: BTreeMap<String, String>,
    state: Option<SamplerState>,
    finished: bool,
}

const PER_DRAW: [&str; 4] = ["log_prob", "log_prior", "log_likelihood", "weights"];

fn wanted(c: Columns) -> [bool; 4] {
    // log_prob always exists in the file (emcee needs it); NaN when unknown.
    [true, c.log_prior, c.log_likelihood, c.weights]
}

impl ChainWriter {
    /// Creates a new chain file (replacing any file at `path`) with no rows.
    /// Rows are flushed to disk every `flush_every` appended iterations.
    ///
    /// # Errors
    /// Invalid names or bounds, no walkers, or a failed write.
    pub fn create(path: &Path, layout: &ChainLayout, flush_every: usize) -> Result<Self> {
        let ChainLayout { names, bounds, walkers, columns, .. } = layout.clone();
        seqcal_api::ParamSpace::new(names.clone(), bounds.clone()).map_err(|e| Error::chain(path, e.to_string()))?;
        if walkers == 0 {
            return Err(Error::chain(path, "a chain needs at least one walker"));
        }
        let dim = names.len();
        let flush_every = flush_every.max(1);
        super::write_atomically(path, |tmp| create_layout(tmp, layout, flush_every))?;
        Ok(ChainWriter {
            path: path.to_path_buf(),
            names,
            walkers,
            columns,
            flush_every,
            rows_on_disk: 0,
            buf_rows: 0,
            buf_draws: Vec::with_capacity(walkers * dim),
            buf: Default::default(),
            accepted: vec![0.0; walkers],
            pending_attrs: BTreeMap::new(),
            state: None,
            finished: false,
        })
    }

    /// Reopens a chain file to append after its last valid row (rows past
    /// `iteration` are overwritten). Returns the writer and the file's header.
    ///
    /// # Errors
    /// See [`ChainReader::open`].
    pub fn resume(path: &Path, flush_every: usize) -> Result<(Self, Header)> {
        let header = ChainReader::open(path)?.header().clone();
        let w = ChainWriter {
            path: path.to_path_buf(),
            names: header.names.clone(),
            walkers: header.walkers,
            columns: header.columns,
            flush_every: flush_every.max(1),
            rows_on_disk: header.iterations,
            buf_rows: 0,
            buf_draws: Vec::new(),
            buf: Default::default(),
            accepted: header.accepted.to_vec(),
            pending_attrs: BTreeMap::new(),
            state: None,
            finished: false,
        };
        Ok((w, header))
    }

    /// Keeps `state` to be stored with the next flush (see [`Step::state`]).
    pub fn set_state(&mut self, state: SamplerState) {
        self.state = Some(state);
    }

    /// Reopens a chain file to continue from a checkpointed sampler state:
    /// rows past `state.iteration` (flushed after the state was taken) are
    /// overwritten, and the acceptance counts restart from the state's.
    ///
    /// # Errors
    /// See [`ChainReader::open`]; a state beyond the file's rows.
    pub fn resume_at(path: &Path, state: &SamplerState, flush_every: usize) -> Result<(Self, Header)> {
        let (mut w, header) = Self::resume(path, flush_every)?;
        if state.iteration > header.iterations || state.accepted.len() != header.walkers {
            return Err(Error::chain(path, format!("the sampler state (iteration {}) does not match the chain ({} rows, {} walkers)", state.iteration, header.iterations, header.walkers)));
        }
        w.rows_on_disk = state.iteration;
        w.accepted = state.accepted.to_vec();
        w.state = Some(state.clone());
        Ok((w, header))
    }

    /// Rows safely on disk.
    pub fn rows_flushed(&self) -> usize {
        self.rows_on_disk
    }

    /// Rows on disk plus rows buffered.
    pub fn rows(&self) -> usize {
        self.rows_on_disk + self.buf_rows
    }

    /// Rows per flush.
    pub fn flush_every(&self) -> usize {
        self.flush_every
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets a provenance attribute; written at the next flush.
    pub fn set_attr(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.pending_attrs.insert(key.into(), value.into());
    }

    /// Buffers one iteration; flushes when `flush_every` rows are buffered.
    ///
    /// # Errors
    /// A step whose shape disagrees with the file, a non-finite draw, a
    /// missing array the file expects, or a failed flush.
    pub fn append(&mut self, step: Step<'_>) -> Result<()> {
        let (w, d) = (self.walkers, self.names.len());
        let p = &self.path;
        if step.draws.dim() != (w, d) {
            return Err(Error::chain(p, format!("step has shape {:?}, the chain has {w} walkers x {d} parameters", step.draws.dim())));
        }
        if let Some(((k, j), v)) = step.draws.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::chain(p, format!("refusing to store non-finite draw {v} (walker {k}, parameter {:?})", self.names[j])));
        }
        let given = [step.log_prob, step.log_prior, step.log_likelihood, step.weights];
        let cols = [self.columns.log_prob, self.columns.log_prior, self.columns.log_likelihood, self.columns.weights];
        for ((name, g), want) in PER_DRAW.iter().zip(&given).zip(cols) {
            match (g, want) {
                (Some(a), true) if a.len() != w => return Err(Error::chain(p, format!("'{name}' has {} values for {w} walkers", a.len()))),
                (None, true) => return Err(Error::chain(p, format!("this chain stores '{name}' but the step has none"))),
                _ => {}
            }
        }
        if let Some(acc) = step.accepted {
            if acc.len() != w {
                return Err(Error::chain(p, format!("'accepted' has {} flags for {w} walkers", acc.len())));
            }
            for (a, &ok) in self.accepted.iter_mut().zip(acc) {
                *a += ok as u8 as f64;
            }
        }
        self.buf_draws.extend(step.draws.iter());
        for (i, keep) in wanted(self.columns).iter().enumerate() {
            if *keep {
                match given[i].filter(|_| cols[i]) {
                    Some(a) => self.buf[i].extend(a.iter()),
                    None => self.buf[i].extend(std::iter::repeat_n(f64::NAN, w)),
                }
            }
        }
        if let Some(st) = step.state {
            match &mut self.state {
                Some(old) if old.positions.dim() == st.positions.dim() && old.values.dim() == st.values.dim() && old.rng.dim() == st.rng.dim() => {
                    old.positions.assign(&st.positions);
                    old.values.assign(&st.values);
                    old.rng.assign(&st.rng);
                    old.kind.clone_from(&st.kind);
                    old.iteration = st.iteration;
                    old.accepted.clone_from(&st.accepted);
                }
                slot => *slot = Some(st.clone()),
            }
        }
        self.buf_rows += 1;
        if self.buf_rows >= self.flush_every {
            self.flush()?;
        }
        Ok(())
    }

    /// Buffers every row of `chain` and takes its acceptance counts.
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub(crate) fn write_block(&mut self, chain: &Chain) -> Result<()> {
        for i in 0..chain.iterations() {
            fn row(a: &Option<Array2<f64>>, i: usize) -> Option<ArrayView1<'_, f64>> {
                a.as_ref().map(|a| a.row(i))
            }
            self.append(Step {
                draws: chain.draws.slice(s![i, .., ..]),
                log_prob: row(&chain.log_prob, i),
                log_prior: row(&chain.log_prior, i),
                log_likelihood: row(&chain.log_likelihood, i),
                weights: row(&chain.weights, i),
                accepted: None,
                state: None,
            })?;
        }
        self.accepted = chain.accepted.to_vec();
        Ok(())
    }

    /// Writes the buffered rows and pending attributes, then closes the file.
    ///
    /// # Errors
    /// A failed write; the rows stay buffered.
    pub fn flush(&mut self) -> Result<()> {
        let p = self.path.clone();
        let file = open_file(&p, true)?;
        let g = open_group(&p, &file)?;
        let (w, d) = (self.walkers, self.names.len());
        let (old, new) = (self.rows_on_disk, self.rows_on_disk + self.buf_rows);
        if self.buf_rows > 0 {
            let chain = dataset(&p, &g, "chain")?;
            chain.resize((new, w, d)).map_err(|e| h5err(&p, "growing 'chain'", e))?;
            let block = Array3::from_shape_vec((self.buf_rows, w, d), std::mem::take(&mut self.buf_draws)).map_err(|e| Error::chain(&p, e.to_string()))?;
            chain.write_slice(&block, s![old..new, .., ..]).map_err(|e| h5err(&p, "writing 'chain'", e))?;
            for (i, keep) in wanted(self.columns).iter().enumerate() {
                if !*keep {
                    continue;
                }
                let ds = dataset(&p, &g, PER_DRAW[i])?;
                ds.resize((new, w)).map_err(|e| h5err(&p, "growing a per-draw dataset", e))?;
                let a = Array2::from_shape_vec((self.buf_rows, w), std::mem::take(&mut self.buf[i])).map_err(|e| Error::chain(&p, e.to_string()))?;
                ds.write_slice(&a, s![old..new, ..]).map_err(|e| h5err(&p, "writing a per-draw dataset", e))?;
            }
        }
        dataset(&p, &g, "accepted")?.write(&Array1::from(self.accepted.clone())).map_err(|e| h5err(&p, "writing 'accepted'", e))?;
        for (k, v) in std::mem::take(&mut self.pending_attrs) {
            set_string_attr(&p, &g, &k, &v)?;
        }
        if let Some(st) = &self.state {
            write_state(&p, &g, st)?;
        }
        // Last: the row count that makes the new rows valid.
        set_i64_attr(&p, &g, "iteration", new as i64)?;
        drop(g);
        file.close().map_err(|e| h5err(&p, "closing", e))?;
        self.rows_on_disk = new;
        self.buf_rows = 0;
        self.buf_draws.clear();
        Ok(())
    }

    /// Flushes and marks the file complete (`complete = 1`).
    ///
    /// # Errors
    /// A failed write.
    pub fn finish(mut self) -> Result<()> {
        self.flush()?;
        let file = open_file(&self.path, true)?;
        let g = open_group(&self.path, &file)?;
        set_i64_attr(&self.path, &g, "complete", 1)?;
        drop(g);
        file.close().map_err(|e| h5err(&self.path, "closing", e))?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for ChainWriter {
    /// Best effort: rows buffered when the writer is dropped without
    /// [`finish`](ChainWriter::finish) (an error elsewhere) are flushed, and
    /// the file stays marked incomplete.
    fn drop(&mut self) {
        if !self.finished && self.buf_rows > 0 {
            let _ = self.flush();
        }
    }
}

/// Replaces group `sampler_state` with `st`.
fn write_state(p: &Path, g: &hdf5::Group, st: &SamplerState) -> Result<()> {
    if g.link_exists(STATE_GROUP) {
        g.unlink(STATE_GROUP).map_err(|e| h5err(p, "replacing the sampler state", e))?;
    }
    let sg = g.create_group(STATE_GROUP).map_err(|e| h5err(p, "writing the sampler state", e))?;
    set_string_attr(p, &sg, "kind", &st.kind)?;
    let e = |err| h5err(p, "writing the sampler state", err);
    sg.new_dataset_builder().with_data(&st.positions).create("positions").map_err(e)?;
    sg.new_dataset_builder().with_data(&st.values).create("values").map_err(e)?;
    sg.new_dataset_builder().with_data(&st.rng).create("rng").map_err(e)?;
    sg.new_dataset_builder().with_data(&st.accepted).create("accepted").map_err(e)?;
    set_i64_attr(p, &sg, "iteration", st.iteration as i64)?;
    Ok(())
}

/// Reads group `sampler_state`, if the file has one.
pub(crate) fn read_state(p: &Path, g: &hdf5::Group) -> Result<Option<SamplerState>> {
    if !g.link_exists(STATE_GROUP) {
        return Ok(None);
    }
    let e = |err| h5err(p, "reading the sampler state", err);
    let sg = g.group(STATE_GROUP).map_err(e)?;
    let kind = sg.attr("kind").and_then(|a| a.read_scalar::<VarLenUnicode>()).map_err(e)?.as_str().to_owned();
    let positions = sg.dataset("positions").and_then(|d| d.read_2d()).map_err(e)?;
    let values = sg.dataset("values").and_then(|d| d.read_2d()).map_err(e)?;
    let rng = sg.dataset("rng").and_then(|d| d.read_2d()).map_err(e)?;
    let accepted = sg.dataset("accepted").and_then(|d| d.read_1d()).map_err(e)?;
    let iteration = sg.attr("iteration").and_then(|a| a.read_scalar::<i64>()).map_err(e)?;
    let iteration = usize::try_from(iteration).map_err(|_| Error::chain(p, "the stored sampler state has a negative iteration"))?;
    Ok(Some(SamplerState { kind, positions, values, rng, iteration, accepted }))
}

/// Group holding the sampler's state for `--resume`.
const STATE_GROUP: &str = "sampler_state";

/// Rows per HDF5 chunk: about 1 MiB per chunk for long chains, but no more
/// than a flush's worth (at least 16 rows), since HDF5 allocates whole
/// chunks and a short chain should stay small.
fn chunk_rows(row_len: usize, flush_every: usize) -> usize {
    ((1 << 20) / (8 * row_len.max(1))).clamp(1, 1 << 16).min(flush_every.max(16))
}

fn create_layout(path: &Path, layout: &ChainLayout, flush_every: usize) -> Result<()> {
    let ChainLayout { names, bounds, walkers, columns, attrs } = layout;
    let (walkers, columns) = (*walkers, *columns);
    let dim = names.len();
    let e = |what: &str| {
        let what = what.to_owned();
        move |err: hdf5::Error| h5err(path, &what, err)
    };
    let file = hdf5::File::create(path).map_err(e("creating the file"))?;
    let g = file.create_group(GROUP).map_err(e("creating group"))?;
    set_string_attr(path, &g, "version", &format!("seqcal {}", crate::VERSION))?;
    set_i64_attr(path, &g, "nwalkers", walkers as i64)?;
    set_i64_attr(path, &g, "ndim", dim as i64)?;
    set_i64_attr(path, &g, "iteration", 0)?;
    set_i64_attr(path, &g, "complete", 0)?;
    set_i64_attr(path, &g, "has_log_prob", columns.log_prob as i64)?;
    g.new_attr::<bool>().shape(()).create("has_blobs").and_then(|a| a.write_scalar(&false)).map_err(e("has_blobs"))?;
    let vl: Vec<VarLenUnicode> = names
        .iter()
        .map(|n| n.parse::<VarLenUnicode>().map_err(|_| Error::chain(path, format!("parameter name {n:?} holds a NUL character"))))
        .collect::<Result<_>>()?;
    g.new_attr::<VarLenUnicode>().shape(dim).create("param_names").and_then(|a| a.write(&Array1::from(vl))).map_err(e("param_names"))?;
    let b = Array2::from_shape_fn((dim, 2), |(i, j)| if j == 0 { bounds[i].0 } else { bounds[i].1 });
    g.new_attr::<f64>().shape((dim, 2)).create("bounds").and_then(|a| a.write(&b)).map_err(e("bounds"))?;
    let mut attrs = attrs.clone();
    attrs.entry("seqcal_version".into()).or_insert_with(|| crate::VERSION.to_string());
    for (k, v) in &attrs {
        set_string_attr(path, &g, k, v)?;
    }
    let r3 = chunk_rows(walkers * dim, flush_every);
    g.new_dataset::<f64>().chunk((r3, walkers, dim)).shape((0.., walkers, dim)).create("chain").map_err(e("creating 'chain'"))?;
    let r2 = chunk_rows(walkers, flush_every);
    for (i, keep) in wanted(columns).iter().enumerate() {
        if *keep {
            g.new_dataset::<f64>().chunk((r2, walkers)).shape((0.., walkers)).create(PER_DRAW[i]).map_err(e("creating a per-draw dataset"))?;
        }
    }
    g.new_dataset::<f64>().shape(walkers).create("accepted").and_then(|d| d.write(&Array1::<f64>::zeros(walkers))).map_err(e("creating 'accepted'"))?;
    drop(g);
    file.close().map_err(e("closing"))?;
    Ok(())
}

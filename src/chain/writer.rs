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

use super::atomic::write_atomically;
use super::columns::{Column, Columns, PerDraw};
use super::data::Chain;
use super::h5::{ChainReader, Header};
use super::schema::{dataset, h5err, open_file, open_group, set_i64_attr, set_string_attr, ACCEPTED, CHAIN, GROUP};
use super::state::{write_state, SamplerState};
use crate::memory;
use crate::{Error, Result};

/// One iteration of an ensemble: a row of every per-draw array.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// Walker positions, `walkers × dim`.
    pub draws: ArrayView2<'a, f64>,
    /// One value per walker of each per-draw array given.
    pub per_draw: PerDraw<Option<ArrayView1<'a, f64>>>,
    /// Which walkers accepted their proposal in this iteration.
    pub accepted: Option<&'a [bool]>,
    /// The sampler's full state after this iteration; the writer keeps the
    /// latest and stores it with the rows at each flush, for `--resume`.
    pub state: Option<&'a SamplerState>,
}

impl<'a> Step<'a> {
    /// A step with draws only; add the rest with [`with`](Self::with),
    /// [`accepted`](Self::accepted) and [`state`](Self::state):
    /// `Step::new(x.view()).with(Column::LogProb, lp.view())`.
    pub fn new(draws: ArrayView2<'a, f64>) -> Self {
        Step { draws, per_draw: PerDraw::default(), accepted: None, state: None }
    }

    /// Sets the values of per-draw column `c`.
    pub fn with(mut self, c: Column, values: ArrayView1<'a, f64>) -> Self {
        *self.per_draw.get_mut(c) = Some(values);
        self
    }

    /// Sets which walkers accepted their proposal.
    pub fn accepted(mut self, accepted: &'a [bool]) -> Self {
        self.accepted = Some(accepted);
        self
    }

    /// Sets the sampler's state after this iteration.
    pub fn state(mut self, state: Option<&'a SamplerState>) -> Self {
        self.state = state;
        self
    }
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
/// # use seqcal::chain::{ChainLayout, ChainWriter, Column, Step};
/// # use ndarray::{Array1, Array2};
/// # fn main() -> seqcal::Result<()> {
/// let layout = ChainLayout::new(vec!["a".into()], 4).bounds(vec![(0.0, 1.0)]);
/// let mut w = ChainWriter::create("run.h5".as_ref(), &layout, 100)?;
/// let (x, lp) = (Array2::from_elem((4, 1), 0.5), Array1::zeros(4));
/// w.append(Step::new(x.view()).with(Column::LogProb, lp.view()))?;
/// w.finish()?;
/// # Ok(()) }
/// ```
///
/// # Failed flushes
/// Before each flush the writer reserves on disk the space the new rows
/// will take (`posix_fallocate`), so that a full disk or a file size limit
/// stops the flush before the file is touched: the rows flushed before stay
/// readable, with the sampler state that matches them, and the run can be
/// resumed once there is room. A writer whose flush failed refuses further rows.
#[derive(Debug)]
pub struct ChainWriter {
    path: PathBuf,
    names: Vec<String>,
    walkers: usize,
    columns: Columns,
    flush_every: usize,
    rows_on_disk: usize,
    buf_rows: usize,
    buf_draws: Vec<f64>,
    buf: PerDraw<Vec<f64>>,
    accepted: Vec<f64>,
    pending_attrs: BTreeMap<String, String>,
    state: Option<SamplerState>,
    finished: bool,
    failed: bool,
}

/// The per-draw datasets a file with `c` holds: `log_prob` always (emcee
/// needs it; NaN when unknown), the others when stored.
fn stored(c: Columns) -> Columns {
    Columns { log_prob: true, ..c }
}

impl ChainWriter {
    /// Creates a new chain file (replacing any file at `path`) with no rows.
    /// Rows are flushed to disk every `flush_every` appended iterations.
    ///
    /// # Errors
    /// Invalid names or bounds, no walkers, a buffer too large for memory,
    /// or a failed write.
    pub fn create(path: &Path, layout: &ChainLayout, flush_every: usize) -> Result<Self> {
        let ChainLayout { names, bounds, walkers, columns, .. } = layout.clone();
        seqcal_api::ParamSpace::new(names.clone(), bounds.clone()).map_err(|e| Error::chain(path, e.to_string()))?;
        if walkers == 0 {
            return Err(Error::chain(path, "a chain needs at least one walker"));
        }
        let dim = names.len();
        let flush_every = flush_every.max(1);
        memory::require(memory::bytes(memory::product(&[flush_every, walkers, dim + 4]), 8), || {
            format!("buffering {flush_every} iterations of {walkers} walkers x {dim} parameters between flushes")
        })?;
        write_atomically(path, |tmp| create_layout(tmp, layout, flush_every))?;
        Ok(Self::with_rows(path, names, walkers, columns, flush_every, 0, vec![0.0; walkers]))
    }

    fn with_rows(path: &Path, names: Vec<String>, walkers: usize, columns: Columns, flush_every: usize, rows: usize, accepted: Vec<f64>) -> Self {
        ChainWriter {
            path: path.to_path_buf(),
            names,
            walkers,
            columns,
            flush_every: flush_every.max(1),
            rows_on_disk: rows,
            buf_rows: 0,
            buf_draws: Vec::new(),
            buf: PerDraw::default(),
            accepted,
            pending_attrs: BTreeMap::new(),
            state: None,
            finished: false,
            failed: false,
        }
    }

    /// Reopens a chain file to append after its last valid row (rows past
    /// `iteration` are overwritten). Returns the writer and the file's header.
    ///
    /// # Errors
    /// See [`ChainReader::open`].
    pub fn resume(path: &Path, flush_every: usize) -> Result<(Self, Header)> {
        let header = ChainReader::open(path)?.header().clone();
        let w = Self::with_rows(path, header.names.clone(), header.walkers, header.columns, flush_every, header.iterations, header.accepted.to_vec());
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
            return Err(Error::chain(
                path,
                format!(
                    "the sampler state (iteration {}) does not match the chain ({} rows, {} walkers)",
                    state.iteration, header.iterations, header.walkers
                ),
            ));
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
    /// missing array the file expects, a failed flush (now or before).
    pub fn append(&mut self, step: Step<'_>) -> Result<()> {
        let (w, d) = (self.walkers, self.names.len());
        let p = &self.path;
        if self.failed {
            return Err(Error::chain(p, "an earlier flush failed: no more rows are written"));
        }
        if step.draws.dim() != (w, d) {
            return Err(Error::chain(p, format!("step has shape {:?}, the chain has {w} walkers x {d} parameters", step.draws.dim())));
        }
        if let Some(((k, j), v)) = step.draws.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::chain(p, format!("refusing to store non-finite draw {v} (walker {k}, parameter {:?})", self.names[j])));
        }
        for (c, want) in self.columns.iter() {
            match (step.per_draw.get(c), want) {
                (Some(a), true) if a.len() != w => return Err(Error::chain(p, format!("'{}' has {} values for {w} walkers", c.name(), a.len()))),
                (None, true) => return Err(Error::chain(p, format!("this chain stores '{}' but the step has none", c.name()))),
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
        for (c, keep) in stored(self.columns).iter() {
            if *keep {
                let buf = self.buf.get_mut(c);
                match step.per_draw.get(c).filter(|_| *self.columns.get(c)) {
                    Some(a) => buf.extend(a.iter()),
                    None => buf.extend(std::iter::repeat_n(f64::NAN, w)),
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
        let per_draw = chain.per_draw();
        for i in 0..chain.iterations() {
            let mut step = Step::new(chain.draws.slice(s![i, .., ..]));
            step.per_draw = per_draw.map(|_, a| a.map(|a| a.row(i)));
            self.append(step)?;
        }
        self.accepted = chain.accepted.to_vec();
        Ok(())
    }

    /// Bytes the next flush may add to the file: the buffered rows rounded
    /// out to whole chunks, the sampler state and room for metadata.
    fn flush_bytes(&self) -> u64 {
        let (w, d) = (self.walkers, self.names.len());
        let cols = stored(self.columns).iter().filter(|(_, on)| **on).count();
        let chunk = chunk_rows(w * d, self.flush_every).max(chunk_rows(w, self.flush_every));
        let rows = memory::bytes(memory::product(&[self.buf_rows + 2 * chunk, w, d + cols]), 8);
        let state = self.state.as_ref().map_or(0, |s| 8 * (s.positions.len() + s.values.len() + s.rng.len() + s.accepted.len()) as u128);
        let attrs: usize = self.pending_attrs.iter().map(|(k, v)| k.len() + v.len() + 64).sum();
        u64::try_from(rows + 2 * state + attrs as u128 + (256 << 10)).unwrap_or(u64::MAX)
    }

    /// Writes the buffered rows and pending attributes, then closes the file.
    ///
    /// # Errors
    /// No room for the rows (disk full, file size limit: the file is left as
    /// it was) or a failed write; either way the buffered rows are dropped
    /// and the writer refuses further rows.
    pub fn flush(&mut self) -> Result<()> {
        if self.failed {
            return Err(Error::chain(&self.path, "an earlier flush failed: no more rows are written"));
        }
        let r = reserve_space(&self.path, self.flush_bytes(), self.rows_on_disk).and_then(|()| self.write_buffered());
        if r.is_err() {
            self.failed = true;
            self.buf_rows = 0;
            self.buf_draws.clear();
            self.buf = PerDraw::default();
        }
        r
    }

    fn write_buffered(&mut self) -> Result<()> {
        let p = self.path.clone();
        let file = open_file(&p, true)?;
        let g = open_group(&p, &file)?;
        let (w, d) = (self.walkers, self.names.len());
        let (old, new) = (self.rows_on_disk, self.rows_on_disk + self.buf_rows);
        if self.buf_rows > 0 {
            let chain = dataset(&p, &g, CHAIN)?;
            chain.resize((new, w, d)).map_err(|e| h5err(&p, "growing 'chain'", e))?;
            let block = Array3::from_shape_vec((self.buf_rows, w, d), std::mem::take(&mut self.buf_draws))?;
            chain.write_slice(&block, s![old..new, .., ..]).map_err(|e| h5err(&p, "writing 'chain'", e))?;
            for (c, keep) in stored(self.columns).iter() {
                if !*keep {
                    continue;
                }
                let ds = dataset(&p, &g, c.name())?;
                ds.resize((new, w)).map_err(|e| h5err(&p, "growing a per-draw dataset", e))?;
                let a = Array2::from_shape_vec((self.buf_rows, w), std::mem::take(self.buf.get_mut(c)))?;
                ds.write_slice(&a, s![old..new, ..]).map_err(|e| h5err(&p, "writing a per-draw dataset", e))?;
            }
        }
        dataset(&p, &g, ACCEPTED)?.write(&Array1::from(self.accepted.clone())).map_err(|e| h5err(&p, "writing 'accepted'", e))?;
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
        reserve_space(&self.path, 64 << 10, self.rows_on_disk)?;
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
        if !self.finished && !self.failed && self.buf_rows > 0 {
            let _ = self.flush();
        }
    }
}

/// Reserves `bytes` more on disk at the end of `path` before HDF5 writes
/// there, so that a full disk or a file size limit (`ulimit -f`) fails here,
/// with the file untouched, rather than halfway through a flush. HDF5 trims
/// the file to what it uses when it closes it. File systems without
/// `posix_fallocate` skip the reservation.
fn reserve_space(path: &Path, bytes: u64, rows_kept: usize) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        let f = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| Error::io(path, e))?;
        let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
        let (Ok(off), Ok(n)) = (libc::off_t::try_from(len), libc::off_t::try_from(bytes)) else { return Ok(()) };
        let fd = f.as_raw_fd();
        assert!(fd >= 0 && off >= 0 && n >= 0, "posix_fallocate({fd}, {off}, {n})");
        // SAFETY: the descriptor is open for writing and owned by `f` for the
        // duration of the call; it and the offsets are non-negative (asserted above).
        let r = unsafe { libc::posix_fallocate(fd, off, n) };
        match r {
            0 | libc::EINVAL | libc::EOPNOTSUPP | libc::ENODEV | libc::ESPIPE => {}
            libc::ENOSPC | libc::EFBIG | libc::EDQUOT => {
                let why = if r == libc::EFBIG { "the file size limit is reached" } else { "the disk is full" };
                return Err(Error::chain(
                    path,
                    format!("{why}: no room for the next {} of rows; the {rows_kept} iterations written before are kept and readable (free space, then continue with --resume)", memory::human(bytes as u128)),
                ));
            }
            e => return Err(Error::io(path, std::io::Error::from_raw_os_error(e))),
        }
    }
    #[cfg(not(unix))]
    let _ = (path, bytes, rows_kept);
    Ok(())
}

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
    g.new_dataset::<f64>().chunk((r3, walkers, dim)).shape((0.., walkers, dim)).create(CHAIN).map_err(e("creating 'chain'"))?;
    let r2 = chunk_rows(walkers, flush_every);
    for (c, keep) in stored(columns).iter() {
        if *keep {
            g.new_dataset::<f64>().chunk((r2, walkers)).shape((0.., walkers)).create(c.name()).map_err(e("creating a per-draw dataset"))?;
        }
    }
    g.new_dataset::<f64>().shape(walkers).create(ACCEPTED).and_then(|d| d.write(&Array1::<f64>::zeros(walkers))).map_err(e("creating 'accepted'"))?;
    drop(g);
    file.close().map_err(e("closing"))?;
    Ok(())
}

/// Writes a chain file in one go, through a temporary file renamed into
/// place: an interrupted write leaves no file that looks complete.
///
/// # Errors
/// An invalid chain or a failed write.
pub fn write_hdf5(chain: &Chain, path: &Path) -> Result<()> {
    chain.validate(path)?;
    write_atomically(path, |tmp| {
        let layout =
            ChainLayout::new(chain.names.clone(), chain.walkers()).bounds(chain.bounds.clone()).columns(chain.columns()).attrs(chain.attrs.clone());
        let mut w = ChainWriter::create(tmp, &layout, chain.iterations())?;
        w.write_block(chain)?;
        w.finish()
    })
}

//! The sampler state stored with a chain (group `mcmc/sampler_state`), so
//! that `--resume` continues a run exactly where its last flush left it.
//!
//! The group holds the datasets `positions`, `values`, `rng` and `accepted`
//! and the attributes `kind`, `iteration` and `checksum` (SHA-256 of all of
//! them). A state is only used after [`SamplerState::check_against`] has
//! confirmed that it is whole (checksum), that its shapes agree with the
//! chain, and that it reproduces the chain's row at its iteration: a state
//! damaged by a kill during a flush, written by another sampler or edited by
//! hand is refused, never continued from.

use std::path::Path;

use hdf5::types::VarLenUnicode;
use ndarray::{s, Array1, Array2};
use sha2::{Digest, Sha256};

use super::h5::ChainReader;
use super::schema::{h5err, set_i64_attr, set_string_attr, STATE_GROUP};
use crate::{memory, Error, Result};

/// Everything a sampler needs to continue a run exactly where it stopped:
/// stored in group `mcmc/sampler_state` at every flush, consistent with the
/// flushed rows.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerState {
    /// Which sampler wrote it (`ensemble-v1`, ...); checked on resume.
    pub kind: String,
    /// Walker positions in the sampler's coordinates, `walkers × dim`.
    pub positions: Array2<f64>,
    /// Per-walker values (log posterior, log prior, log likelihood, ...), `walkers × k`;
    /// the first column is the log posterior stored in the chain's `log_prob`.
    pub values: Array2<f64>,
    /// Random-number-generator positions, one row per stream.
    pub rng: Array2<u64>,
    /// Iterations in the chain when this state was taken.
    pub iteration: usize,
    /// Accepted proposals per walker up to `iteration`.
    pub accepted: Array1<f64>,
    /// Anything else the sampler needs, in bytes only it reads (dataset
    /// `blob`, stored when not empty).
    pub blob: Vec<u8>,
}

impl SamplerState {
    /// SHA-256 of every field, as stored in the `checksum` attribute.
    pub fn checksum(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.kind.as_bytes());
        h.update((self.iteration as u64).to_le_bytes());
        for (r, c) in [self.positions.dim(), self.values.dim(), self.rng.dim()] {
            h.update((r as u64).to_le_bytes());
            h.update((c as u64).to_le_bytes());
        }
        for v in self.positions.iter().chain(self.values.iter()).chain(self.accepted.iter()) {
            h.update(v.to_bits().to_le_bytes());
        }
        for v in &self.rng {
            h.update(v.to_le_bytes());
        }
        if !self.blob.is_empty() {
            h.update((self.blob.len() as u64).to_le_bytes());
            h.update(&self.blob);
        }
        format!("{:x}", h.finalize())
    }

    /// Checks the state against the chain it was read from: shapes agree with
    /// the walkers, the iteration lies within the valid rows, values are
    /// finite where they must be, and the chain's row at `iteration` holds
    /// exactly the state's log posteriors and, when the sampler's coordinates
    /// are the stored parameters, its positions. `stored_log_prob` is `None`
    /// for a target sampled on the stored scale; for one sampled on a
    /// transformed scale it holds the state's log posteriors as the chain
    /// stores them (without the log-Jacobian), and positions are not compared.
    ///
    /// # Errors
    /// The first disagreement, in words, with what to do.
    pub fn check_against(&self, reader: &ChainReader, stored_log_prob: Option<&[f64]>) -> Result<()> {
        let stored_coordinates = stored_log_prob.is_none();
        let path = reader.path();
        let h = reader.header();
        let refuse = |m: String| Err(Error::chain(path, format!("cannot resume: the stored sampler state {m}; start over with --force")));
        let w = h.walkers;
        if self.positions.nrows() != w || self.values.nrows() != w || self.accepted.len() != w {
            return refuse(format!(
                "holds {} positions, {} value rows and {} acceptance counts for a chain of {w} walkers",
                self.positions.nrows(),
                self.values.nrows(),
                self.accepted.len()
            ));
        }
        if self.values.ncols() == 0 {
            return refuse("holds no log posteriors".into());
        }
        if self.iteration == 0 || self.iteration > h.iterations {
            return refuse(format!("is at iteration {} but the chain holds {} valid rows", self.iteration, h.iterations));
        }
        if stored_coordinates && self.positions.ncols() != h.dim() {
            return refuse(format!("has {} coordinates per walker but the chain {} parameters", self.positions.ncols(), h.dim()));
        }
        if self.positions.iter().any(|v| !v.is_finite()) || self.values.column(0).iter().any(|v| v.is_nan()) {
            return refuse("holds non-finite positions or log posteriors".into());
        }
        if self.accepted.iter().any(|&a| !(a >= 0.0 && a <= self.iteration as f64)) {
            return refuse(format!("has acceptance counts outside 0..={}", self.iteration));
        }
        let row = reader.read_rows(self.iteration - 1, self.iteration)?;
        if let Some(lp) = &row.per_draw.log_prob {
            let same = match stored_log_prob {
                Some(want) => lp.row(0).len() == want.len() && lp.row(0).iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits()),
                None => lp.row(0).iter().zip(self.values.column(0)).all(|(a, b)| a.to_bits() == b.to_bits()),
            };
            if !same {
                return refuse(format!(
                    "does not match the chain's log_prob at iteration {} (a kill during a flush can leave them apart)",
                    self.iteration
                ));
            }
        }
        if stored_coordinates {
            let same = row.draws.slice(s![0, .., ..]).iter().zip(self.positions.iter()).all(|(a, b)| a.to_bits() == b.to_bits());
            if !same {
                return refuse(format!(
                    "does not match the chain's draws at iteration {} (a kill during a flush can leave them apart)",
                    self.iteration
                ));
            }
        }
        Ok(())
    }
}

impl ChainReader {
    /// The sampler state stored at the last flush (for `--resume`), if any;
    /// check it with [`SamplerState::check_against`] before use.
    ///
    /// # Errors
    /// A state group that cannot be read or whose checksum does not match.
    pub fn sampler_state(&self) -> Result<Option<SamplerState>> {
        read_state(self.path(), &self.group()?)
    }
}

/// Replaces group `sampler_state` with `st`.
pub(crate) fn write_state(p: &Path, g: &hdf5::Group, st: &SamplerState) -> Result<()> {
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
    if !st.blob.is_empty() {
        sg.new_dataset_builder().with_data(&st.blob).create("blob").map_err(e)?;
    }
    set_i64_attr(p, &sg, "iteration", st.iteration as i64)?;
    set_string_attr(p, &sg, "checksum", &st.checksum())?;
    Ok(())
}

/// Reads group `sampler_state`, if the file has one, and checks its checksum
/// (states written before seqcal stored one are taken as they are).
///
/// # Errors
/// A missing or unreadable part, or a checksum that does not match.
pub(crate) fn read_state(p: &Path, g: &hdf5::Group) -> Result<Option<SamplerState>> {
    if !g.link_exists(STATE_GROUP) {
        return Ok(None);
    }
    let damaged =
        |what: String| Error::chain(p, format!("cannot resume: the stored sampler state is damaged or truncated ({what}); start over with --force"));
    let e = |err: hdf5::Error| damaged(err.to_string());
    let sg = g.group(STATE_GROUP).map_err(e)?;
    let kind = sg.attr("kind").and_then(|a| a.read_scalar::<VarLenUnicode>()).map_err(e)?.as_str().to_owned();
    let open = |name: &str| sg.dataset(name).map_err(e);
    let (positions, values, rng, accepted) = (open("positions")?, open("values")?, open("rng")?, open("accepted")?);
    // The shapes are what the file claims: refuse what memory cannot hold before reading.
    let claimed = [&positions, &values, &rng, &accepted].iter().fold(0u128, |n, d| n.saturating_add(memory::product(&d.shape())));
    if memory::require(memory::bytes(claimed, 8), String::new).is_err() {
        return Err(damaged(format!("its datasets claim {claimed} values, more than the memory available holds")));
    }
    let positions = positions.read_2d().map_err(e)?;
    let values = values.read_2d().map_err(e)?;
    let rng = rng.read_2d().map_err(e)?;
    let accepted = accepted.read_1d().map_err(e)?;
    let blob = match sg.link_exists("blob") {
        true => sg.dataset("blob").and_then(|d| d.read_raw::<u8>()).map_err(e)?,
        false => Vec::new(),
    };
    let iteration = sg.attr("iteration").and_then(|a| a.read_scalar::<i64>()).map_err(e)?;
    let iteration = usize::try_from(iteration).map_err(|_| damaged(format!("iteration {iteration}")))?;
    let st = SamplerState { kind, positions, values, rng, iteration, accepted, blob };
    if let Ok(sum) = sg.attr("checksum").and_then(|a| a.read_scalar::<VarLenUnicode>()) {
        if sum.as_str() != st.checksum() {
            return Err(damaged("its checksum does not match its contents".into()));
        }
    }
    Ok(Some(st))
}

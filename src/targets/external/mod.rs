//! External targets: a log density computed by a program written in any
//! language, run as a child process that speaks a small line protocol on its
//! standard input and output; and `cmd:COMMAND`, such a model as a
//! [`Target`].
//!
//! [`ExternalTarget::spawn`] starts the command once and keeps it running;
//! every batch of points is written to the process, which answers one log
//! density per point. [`ExternalTarget`] implements [`LogDensity`](seqcal_api::LogDensity), so a
//! sampler uses it like any other target. `examples/external/` holds complete
//! models in plain Python; `docs/external-targets.md` describes the protocol
//! with worked examples.
//!
//! # The protocol
//!
//! Everything is text, one item per line; a line ends with `\n` (a `\r`
//! before it is ignored, as are blanks around an answer).
//!
//! 1. **Start.** seqcal runs `sh -c COMMAND` in its own working directory and
//!    environment, in a process group of its own, so that a kill reaches
//!    whatever the model starts.
//! 2. **Handshake.** The first line the process prints must be
//!    `seqcal-target 1 DIM [NAME ...]` (version 1: `DIM` parameters, at least
//!    1, optionally exactly `DIM` different names, default `x0 x1 ...`) or
//!    `seqcal-target 2 DIM [PARAM ...]` (version 2: each `PARAM` is a `NAME`,
//!    or `SAMPLED=STORED(LO,HI)` for a parameter the model receives as the
//!    unconstrained coordinate `SAMPLED` and chains store as `STORED` in
//!    `(LO, HI)`; see [`Parameter`] and [`crate::targets::transform`]).
//! 3. **Batches.** For each batch seqcal writes a line holding the number of
//!    points `N` (at least 1), then `N` lines of `DIM` numbers separated by
//!    single spaces that read back to exactly the same doubles, and flushes.
//!    A point with a NaN or infinite coordinate is never sent.
//! 4. **Answers.** The process answers with exactly `N` lines, in order, each
//!    one number: the log density of the point on the coordinates it
//!    received (up to a constant), then flushes its standard output. `-inf`
//!    is zero density; `nan` or `reject` rejects the point
//!    ([`log_density`](seqcal_api::LogDensity::log_density) returns
//!    [`DensityError::Reject`], [`log_density_batch`](seqcal_api::LogDensity::log_density_batch)
//!    a NaN); anything else, `+inf`
//!    included, is a fatal error.
//! 5. **End.** seqcal closes the process's standard input; the process should
//!    exit when it reads end of input. One still running
//!    [`grace`](ExternalOptions::grace) later (default 2 s) is killed, and
//!    anything left in its process group is killed in any case.
//!
//! Standard output is reserved for the protocol; standard error is free for
//! the model's diagnostics: seqcal keeps its last 20 lines and quotes them in
//! its error messages.
//!
//! # Failures
//!
//! The process exiting or closing its standard output before answering
//! every point, staying silent for [`timeout`](ExternalOptions::timeout)
//! (default 60 s, per line), an answer that is not one number, a line while
//! no answer is due, a wrong handshake: each is fatal
//! ([`DensityError::Fatal`], or [`Error::Model`] from
//! [`ExternalTarget::spawn`] and [`ExternalTarget::close`]). The process
//! and its whole process group are then killed, and every later evaluation
//! fails at once with the same message. A point with the wrong number of
//! coordinates is a fatal error of the caller and leaves the process running.
//!
//! # Threads
//!
//! One process answers one batch at a time: concurrent callers are served in
//! turn (a mutex). Three helper threads per target move bytes: one writes
//! batches (so that a process that stops reading cannot block seqcal past the
//! timeout; it blocks SIGPIPE, so that writing to a process that has exited
//! fails cleanly even in a host program that does not ignore that signal), one
//! reads standard output lines into a channel, one keeps the tail of standard
//! error.
//!
//! [`DensityError::Reject`]: seqcal_api::DensityError::Reject
//! [`DensityError::Fatal`]: seqcal_api::DensityError::Fatal

mod density;
mod process;
mod protocol;
#[cfg(test)]
mod protocol_props;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use seqcal_api::ParamSpace;

pub use density::{ExternalOptions, ExternalTarget};
pub use protocol::{Parameter, HANDSHAKE_TAG, PROTOCOL_VERSION};

use super::target::{PriorUse, Target};
use super::transform::{Bijection, Elementwise, Transform};
use crate::{Error, Result};

/// Bytes per parameter squared that sampling needs at the least: an
/// ensemble of at least 2 × DIM walkers, each DIM coordinates of 8 bytes.
const SAMPLING_BYTES_PER_DIM2: u64 = 16;

/// The most parameters an ensemble can sample in the memory available, and
/// the reason, for [`ExternalOptions::with_max_dim`]; `None` when the
/// memory available is unknown.
fn sampling_limit() -> Option<(usize, String)> {
    let bytes = seqcal_api::available_bytes()?;
    let max = ((bytes / SAMPLING_BYTES_PER_DIM2) as f64).sqrt().floor() as usize;
    let reason = format!(
        "sampling them needs at least 2 x DIM walkers of DIM coordinates each ({SAMPLING_BYTES_PER_DIM2} x DIM² bytes), \
         and the {} of memory available hold at most {max} parameters",
        density::human_bytes(bytes as u128)
    );
    Some((max, reason))
}

/// Starts `command` (answers due within `timeout`; see
/// [the protocol](self#the-protocol)) and wraps it as a target for sampling.
///
/// Its answers are the log density on the coordinates it receives, which
/// may already hold the model's priors; a prior given with `--prior`
/// multiplies into it ([`PriorUse::Multiplies`]). Its parameters are stored
/// under the names and supports its handshake declares, through an
/// [`Elementwise`] transform when any is constrained or renamed. It has no
/// prior of its own to start walkers from: give a prior or starting points.
///
/// # Errors
/// The process cannot be started or its handshake is wrong ([`Error::Model`]),
/// or it declares more parameters than an ensemble can sample in the memory
/// available.
pub fn external(command: &str, timeout: Duration) -> Result<Target> {
    let mut opts = ExternalOptions::default().with_timeout(timeout);
    if let Some((max, reason)) = sampling_limit() {
        opts = opts.with_max_dim(max, reason);
    }
    let t = ExternalTarget::spawn(command, opts)?;
    let model_error = |what: String| Error::Model { command: command.to_string(), message: format!("external target `{command}`: {what}") };
    let params = t.parameters().to_vec();
    let stored: Vec<String> = params.iter().map(|p| p.stored.clone()).collect();
    let space = ParamSpace::new(stored, params.iter().map(|p| p.support).collect()).map_err(|e| model_error(e.to_string()))?;
    let transform: Option<Arc<dyn Transform>> = if params.iter().all(Parameter::is_identity) {
        None
    } else {
        let kinds = params
            .iter()
            .map(|p| Bijection::from_support(p.support.0, p.support.1).ok_or_else(|| model_error(format!("parameter {}: empty support", p.stored))))
            .collect::<Result<Vec<_>>>()?;
        Some(Arc::new(Elementwise::new(t.names().to_vec(), kinds)?))
    };
    let description = match &transform {
        None => format!("external model `{command}`"),
        Some(_) => format!("external model `{command}`, sampled as ({})", t.names().join(", ")),
    };
    Ok(Target {
        name: format!("cmd:{command}"),
        description,
        space,
        prior: None,
        likelihood: Box::new(t),
        transform,
        init: None,
        log_z: None,
        prior_use: PriorUse::Multiplies,
    })
}

//! [`ExternalTarget`]: the log density a model process computes, as a
//! [`LogDensity`].

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
#[cfg(test)]
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use ndarray::ArrayView2;
use seqcal_api::{DensityError, LogDensity};

use super::process::{describe_exit, exit_hint, lock, Event, Failure, Process};
use super::protocol::{parse_answer, parse_handshake, quote, Answer, DimLimit, Parameter, HANDSHAKE_FORM, HINT_EXTRA};
use crate::Error;

/// Bytes seqcal needs at the least for each parameter a handshake declares:
/// its names and bounds, and its coordinate of one point written as text.
const BYTES_PER_PARAMETER: u64 = 64;

/// Settings of an [`ExternalTarget`].
///
/// Outside this crate, start from [`ExternalOptions::default`] and the
/// `with_*` methods.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ExternalOptions {
    /// The number of parameters the caller expects; the handshake must
    /// declare exactly this many. `None` (default): accept any.
    pub dim: Option<usize>,
    /// The longest seqcal waits for the handshake line, and for each line of
    /// an answer (the clock restarts with every line received). A process
    /// silent for longer is killed. Default 60 s.
    pub timeout: Duration,
    /// How long the process may take to exit once its standard input is
    /// closed before it is killed. Default 2 s.
    pub grace: Duration,
    /// The most parameters the caller can handle, and why (the reason
    /// follows `declares N parameters in its handshake; ` in the error). A
    /// handshake declaring more is refused before anything is allocated for
    /// it. Whatever this says, a dimension whose names alone would not fit
    /// in the memory available is refused.
    pub max_dim: Option<(usize, String)>,
}

impl Default for ExternalOptions {
    fn default() -> Self {
        ExternalOptions { dim: None, timeout: Duration::from_secs(60), grace: Duration::from_secs(2), max_dim: None }
    }
}

impl ExternalOptions {
    /// Expect exactly `dim` parameters.
    pub fn with_dim(mut self, dim: usize) -> Self {
        self.dim = Some(dim);
        self
    }
    /// Set the [`timeout`](ExternalOptions::timeout).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Set the [`grace`](ExternalOptions::grace) period.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
    /// Set the [`max_dim`](ExternalOptions::max_dim) and its reason.
    pub fn with_max_dim(mut self, max: usize, reason: impl Into<String>) -> Self {
        self.max_dim = Some((max, reason.into()));
        self
    }
}

/// `bytes` in binary units, e.g. `3.5 GiB`.
pub(super) fn human_bytes(bytes: u128) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// The dimension limit of a handshake: the caller's, and the memory's.
fn dim_limit(opts: &ExternalOptions) -> DimLimit {
    let available = seqcal_api::available_bytes();
    let memory_max = available.map_or(usize::MAX, |b| usize::try_from(b / BYTES_PER_PARAMETER).unwrap_or(usize::MAX));
    match &opts.max_dim {
        Some((max, reason)) if *max <= memory_max => {
            let reason = reason.clone();
            DimLimit { max: *max, why: Box::new(move |_| reason.clone()) }
        }
        _ => DimLimit {
            max: memory_max,
            why: Box::new(move |dim| {
                let need = human_bytes(dim as u128 * BYTES_PER_PARAMETER as u128);
                let have = available.map_or("unknown".to_string(), |b| human_bytes(b as u128));
                format!("holding that many needs at least {need} of memory ({BYTES_PER_PARAMETER} bytes a parameter), more than the {have} available")
            }),
        },
    }
}

/// A log density computed by an external process speaking
/// [the protocol](super#the-protocol).
///
/// The process is started by [`spawn`](ExternalTarget::spawn) and lives as
/// long as the target: dropping the target closes its standard input, waits
/// up to [`grace`](ExternalOptions::grace) for it to exit, then kills it;
/// the process is always reaped, and anything left in its process group is
/// killed. [`close`](ExternalTarget::close) does the same and reports how it
/// ended.
///
/// ```no_run
/// use seqcal::api::LogDensity;
/// use seqcal::targets::external::{ExternalOptions, ExternalTarget};
///
/// let target = ExternalTarget::spawn("python3 examples/external/gaussian_model.py", ExternalOptions::default().with_dim(3))?;
/// assert_eq!(target.names(), ["a", "b", "c"]);
/// let log_p = target.log_density(&[0.1, -0.2, 0.3])?;
/// target.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ExternalTarget {
    command: String,
    version: u32,
    params: Vec<Parameter>,
    names: Vec<String>,
    pid: u32,
    evaluations: AtomicU64,
    #[cfg(test)]
    lines_read: Arc<AtomicU64>,
    inner: Mutex<Inner>,
}

impl fmt::Debug for ExternalTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalTarget")
            .field("command", &self.command)
            .field("version", &self.version)
            .field("dim", &self.names.len())
            .field("names", &self.names)
            .field("pid", &self.pid)
            .field("evaluations", &self.evaluations())
            .finish_non_exhaustive()
    }
}

/// The state behind the mutex.
struct Inner {
    process: Process,
    /// Batches sent so far.
    batches: u64,
    /// The message of the fatal error that ended the process, if any.
    dead: Option<String>,
}

impl Inner {
    /// Ends the process for `failure` and remembers the message.
    fn fatal(&mut self, failure: Failure) -> DensityError {
        let message = self.process.fail(failure);
        self.dead = Some(message.clone());
        DensityError::Fatal(message)
    }
}

impl ExternalTarget {
    /// Starts `sh -c command` and reads its handshake line.
    ///
    /// # Errors
    /// [`Error::Usage`] for an empty command or invalid options;
    /// [`Error::Model`] when the process cannot be started, ends or stays
    /// silent for [`timeout`](ExternalOptions::timeout) before its handshake,
    /// prints something else than a valid handshake, or declares a dimension
    /// other than [`dim`](ExternalOptions::dim) or more than memory or
    /// [`max_dim`](ExternalOptions::max_dim) allow. The message quotes what
    /// the process printed and the end of its standard error (a shell's "not
    /// found" for a mistyped command, exit status 127). The process and its
    /// process group are killed and reaped before this returns an error.
    pub fn spawn(command: &str, opts: ExternalOptions) -> Result<ExternalTarget, Error> {
        if command.trim().is_empty() {
            return Err(Error::Usage("external target: the command is empty; give the command that runs the model, e.g. `python3 model.py`".into()));
        }
        if opts.timeout.is_zero() {
            return Err(Error::Usage(format!("external target `{command}`: the timeout must be positive")));
        }
        if opts.dim == Some(0) {
            return Err(Error::Usage(format!("external target `{command}`: the expected dimension must be at least 1")));
        }
        let model_error = |message: String| Error::Model { command: command.to_string(), message };
        let mut process = Process::start(command, opts.timeout, opts.grace)
            .map_err(|e| model_error(format!("external target `{command}`: cannot start `sh -c` to run it: {e}")))?;
        let context = "before printing its handshake line".to_string();
        let first = match process.events.recv_timeout(opts.timeout) {
            Ok(Event::Line(line)) => line,
            Ok(event) => return Err(model_error(process.fail(Failure::from_event(event, context)))),
            Err(RecvTimeoutError::Disconnected) => return Err(model_error(process.fail(Failure::from_event(Event::Eof, context)))),
            Err(RecvTimeoutError::Timeout) => {
                return Err(model_error(process.fail(Failure::Silent { context: format!("instead of its handshake line {HANDSHAKE_FORM}") })));
            }
        };
        let handshake = match parse_handshake(&first, opts.dim, &dim_limit(&opts)) {
            Ok(parsed) => parsed,
            Err((what, hint)) => return Err(model_error(process.fail(Failure::Protocol { what, hint }))),
        };
        let names = handshake.params.iter().map(|p| p.sampled.clone()).collect();
        Ok(ExternalTarget {
            command: command.to_string(),
            version: handshake.version,
            params: handshake.params,
            names,
            pid: process.id(),
            evaluations: AtomicU64::new(0),
            #[cfg(test)]
            lines_read: Arc::clone(&process.lines_read),
            inner: Mutex::new(Inner { process, batches: 0, dead: None }),
        })
    }

    /// The command, as given to [`spawn`](ExternalTarget::spawn).
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The protocol version of the handshake (1 or 2).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Number of parameters, from the handshake.
    pub fn dim(&self) -> usize {
        self.names.len()
    }

    /// Names of the coordinates the model receives, from the handshake
    /// (default `x0`, `x1`, ...).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Each parameter as the handshake declares it: the coordinate the model
    /// receives, the name and support of the parameter stored.
    pub fn parameters(&self) -> &[Parameter] {
        &self.params
    }

    /// Points the process has answered so far, rejected ones included;
    /// points with a non-finite coordinate, never sent, are not counted.
    pub fn evaluations(&self) -> u64 {
        self.evaluations.load(Ordering::Relaxed)
    }

    /// Process id of the `sh -c` process (also its process group id).
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Lines of standard output read so far, the handshake included.
    #[cfg(test)]
    pub(super) fn lines_read(&self) -> u64 {
        self.lines_read.load(Ordering::SeqCst)
    }

    /// Closes the process's standard input, waits up to
    /// [`grace`](ExternalOptions::grace) for it to exit, and reports how it
    /// ended. Anything left in its process group is killed.
    ///
    /// # Errors
    /// [`Error::Model`] when the process had already failed (the original
    /// message), exits with a non-zero status or a signal, or does not exit
    /// in time (it is then killed).
    pub fn close(self) -> Result<(), Error> {
        let command = self.command;
        let mut inner = self.inner.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        let model_error = |message: String| Error::Model { command: command.clone(), message };
        if let Some(message) = inner.dead.take() {
            return Err(model_error(message));
        }
        let grace = inner.process.grace;
        match inner.process.shutdown() {
            Some(status) if status.success() => Ok(()),
            Some(status) => {
                let what = format!("{} after its standard input was closed", describe_exit(status));
                Err(model_error(inner.process.message(&what, exit_hint(status))))
            }
            None => {
                let what = format!("did not exit within {grace:?} after its standard input was closed; it was killed");
                Err(model_error(inner.process.message(&what, "make the model exit when it reads end of input where it expects a batch")))
            }
        }
    }

    /// Sends the finite rows of `thetas` as one batch; the others come back
    /// as NaN. `thetas` has `dim` columns.
    fn evaluate(&self, thetas: ArrayView2<'_, f64>) -> Result<Vec<f64>, DensityError> {
        let mut out = vec![f64::NAN; thetas.nrows()];
        let sent: Vec<usize> = (0..thetas.nrows()).filter(|&i| thetas.row(i).iter().all(|x| x.is_finite())).collect();
        if sent.is_empty() {
            return Ok(out);
        }
        let mut text = String::with_capacity(16 + sent.len() * self.dim() * 24);
        let _ = writeln!(text, "{}", sent.len());
        for &i in &sent {
            for (j, x) in thetas.row(i).iter().enumerate() {
                let _ = write!(text, "{}{x:?}", if j == 0 { "" } else { " " });
            }
            text.push('\n');
        }

        let mut guard = lock(&self.inner);
        let inner = &mut *guard;
        if let Some(message) = &inner.dead {
            return Err(DensityError::Fatal(format!("{message}\n  (the external target stopped at this error; later evaluations cannot run)")));
        }
        let batch = inner.batches + 1;
        // Anything already printed now was printed while no batch was pending.
        match inner.process.events.try_recv() {
            Err(TryRecvError::Empty) => {}
            Ok(Event::Line(line)) => {
                let what = format!("printed {} before batch {batch} was sent, while no answer was due", quote(&line));
                return Err(inner.fatal(Failure::Protocol { what, hint: HINT_EXTRA }));
            }
            Ok(event) => return Err(inner.fatal(Failure::from_event(event, format!("before batch {batch}")))),
            Err(TryRecvError::Disconnected) => return Err(inner.fatal(Failure::from_event(Event::Eof, format!("before batch {batch}")))),
        }
        inner.batches = batch;
        let queued = inner.process.to_stdin.as_ref().is_some_and(|tx| tx.send(text.into_bytes()).is_ok());
        if !queued {
            let failure =
                Failure::Gone { context: format!("before batch {batch}"), detail: Some("its standard input is closed".into()), input_closed: true };
            return Err(inner.fatal(failure));
        }
        let n = sent.len();
        let timeout = inner.process.timeout;
        for (k, &i) in sent.iter().enumerate() {
            let context =
                || format!("while seqcal waited for line {} of the answer to batch {batch} ({n} point{})", k + 1, if n == 1 { "" } else { "s" });
            match inner.process.events.recv_timeout(timeout) {
                Ok(Event::Line(line)) => match parse_answer(&line) {
                    Ok(Answer::Value(v)) => out[i] = v,
                    Ok(Answer::Reject) => out[i] = f64::NAN,
                    Err((problem, hint)) => {
                        let what = format!("gave a bad answer: line {} of the answer to batch {batch}: {problem}", k + 1);
                        return Err(inner.fatal(Failure::Protocol { what, hint }));
                    }
                },
                Ok(event) => return Err(inner.fatal(Failure::from_event(event, context()))),
                Err(RecvTimeoutError::Disconnected) => return Err(inner.fatal(Failure::from_event(Event::Eof, context()))),
                Err(RecvTimeoutError::Timeout) => return Err(inner.fatal(Failure::Silent { context: context() })),
            }
        }
        self.evaluations.fetch_add(n as u64, Ordering::Relaxed);
        Ok(out)
    }

    fn check_dim(&self, got: usize) -> Result<(), DensityError> {
        if got == self.dim() {
            Ok(())
        } else {
            Err(DensityError::Fatal(format!(
                "external target `{}` takes {} parameter{} ({}) but was given points with {got} coordinates",
                self.command,
                self.dim(),
                if self.dim() == 1 { "" } else { "s" },
                self.names.join(", ")
            )))
        }
    }
}

impl LogDensity for ExternalTarget {
    fn dim(&self) -> usize {
        self.names.len()
    }

    /// One process answers one batch at a time: callers send whole batches.
    fn concurrent(&self) -> bool {
        false
    }

    /// A batch of one point; an answer of `nan` or `reject`, or a non-finite
    /// coordinate, is a [`DensityError::Reject`].
    fn log_density(&self, theta: &[f64]) -> Result<f64, DensityError> {
        self.check_dim(theta.len())?;
        if !theta.iter().all(|x| x.is_finite()) {
            return Err(DensityError::Reject(format!("a coordinate is not finite ({theta:?}); the point was not sent to `{}`", self.command)));
        }
        let view = ArrayView2::from_shape((1, theta.len()), theta).map_err(|e| DensityError::Fatal(e.to_string()))?;
        match self.evaluate(view)?.first() {
            Some(v) if !v.is_nan() => Ok(*v),
            _ => Err(DensityError::Reject(format!("external target `{}` could not evaluate this point (it answered nan or reject)", self.command))),
        }
    }

    /// One batch for the whole of `thetas` (nothing is sent for an empty
    /// one); rows with a non-finite coordinate are not sent and come back as
    /// NaN, like points the process rejects.
    fn log_density_batch(&self, thetas: ArrayView2<'_, f64>) -> Result<Vec<f64>, DensityError> {
        self.check_dim(thetas.ncols())?;
        self.evaluate(thetas)
    }
}

//! External-process targets: a log density computed by a program written in
//! any language, run as a child process that speaks a small line protocol on
//! its standard input and output.
//!
//! [`ExternalTarget::spawn`] starts the command once and keeps it running;
//! every batch of points is written to the process, which answers one log
//! density per point. [`ExternalTarget`] implements [`LogDensity`], so a
//! sampler uses it like any other target. `examples/external/gaussian_model.py`
//! is a complete model in plain Python; `docs/external-targets.md`
//! repeats this description with a worked example.
//!
//! # The protocol
//!
//! Version 1. Everything is text, one item per line; a line ends with `\n`
//! (a `\r` before it is ignored, as are blanks around an answer).
//!
//! 1. **Start.** seqcal runs `sh -c COMMAND` (so `python3 model.py --flag`
//!    works) in its own working directory and environment, with standard input
//!    and output connected to seqcal. The process runs in a process group of
//!    its own, so that a kill reaches its children too.
//! 2. **Handshake.** The first line the process prints on its standard
//!    output must be
//!    ```text
//!    seqcal-target 1 DIM [NAME ...]
//!    ```
//!    `1` is the protocol version, `DIM` the number of parameters (at least
//!    1), optionally followed by exactly `DIM` parameter names (no blanks, all
//!    different; default `x0 x1 ...`).
//! 3. **Batches.** For each batch seqcal writes a line holding the number of
//!    points `N` (at least 1), then `N` lines of `DIM` numbers separated by
//!    single spaces, and flushes. Numbers are finite and written so that they
//!    read back to exactly the same double: `0.1`, `-2.5e-8`, `1e21`, `-0.0`
//!    (a point with a NaN or infinite coordinate is never sent: seqcal rejects
//!    it itself).
//! 4. **Answers.** The process answers with exactly `N` lines, in the order
//!    of the points, each holding one number: the log density of that point,
//!    up to a constant that must be the same for every point. Then it must
//!    **flush its standard output**: output to a pipe is buffered (Python:
//!    `sys.stdout.flush()` or `print(..., flush=True)`; C: `fflush(stdout)`).
//!    - a finite decimal number (`-12.5`, `3e-4`): the log density;
//!    - `-inf` (any case, also `-infinity`): the density is zero there;
//!    - `nan` (any case, also `-nan` or `nan(...)` as C's `printf` may write
//!      it) or the word `reject`: the model cannot evaluate this point (a
//!      solver did not converge, ...). seqcal rejects the point and goes on:
//!      [`LogDensity::log_density`] returns [`DensityError::Reject`] and
//!      [`LogDensity::log_density_batch`] a NaN at that place.
//!    - anything else, `+inf` included, is a fatal error.
//! 5. **End.** When it is done, seqcal closes the process's standard input;
//!    the process should exit when it reads end of input where it expected
//!    a line `N`. One still running [`grace`](ExternalOptions::grace) later
//!    (default 2 s) is killed with its process group.
//!
//! Standard output is reserved for the protocol: a stray `print` breaks it.
//! Standard error is free for the model's diagnostics: seqcal reads it, keeps
//! the last 20 lines and quotes them in its error messages, and prints it
//! nowhere else.
//!
//! # Failures
//!
//! These are fatal ([`DensityError::Fatal`], or [`Error::Usage`] from
//! [`ExternalTarget::spawn`] for the handshake); the message names the command,
//! what happened and what to do, and quotes the last lines of standard error:
//!
//! - the process exits (its exit status or signal is reported) or closes its
//!   standard output before answering every point;
//! - it prints nothing for [`timeout`](ExternalOptions::timeout) (default 60 s)
//!   while seqcal waits for the handshake or for the next line of an answer:
//!   it is then killed;
//! - an answer line is not one number (`line 2 of the answer to batch 5: 'abc'
//!   is not a number`), or is `+inf`;
//! - the process prints a line while no batch is pending (more lines than
//!   points);
//! - a wrong handshake, or a dimension other than the caller expected
//!   ([`ExternalOptions::dim`]).
//!
//! After a fatal error the process is killed and every later evaluation fails
//! at once with the same message. A point with the wrong number of
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

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use ndarray::ArrayView2;
use seqcal_api::{DensityError, LogDensity};

use crate::Error;

/// Version of the protocol this seqcal speaks, the `1` of the handshake line.
pub const PROTOCOL_VERSION: u32 = 1;

/// First word of the handshake line.
pub const HANDSHAKE_TAG: &str = "seqcal-target";

/// Lines of standard error kept for error messages.
const STDERR_LINES: usize = 20;
/// Longest line read from the process; the rest of a longer line is dropped.
const MAX_LINE: usize = 1 << 20;
/// Characters of a stderr line kept for error messages.
const MAX_STDERR_CHARS: usize = 500;
/// Characters of an offending output line quoted in error messages.
const MAX_QUOTE_CHARS: usize = 200;
/// How long a process whose output ended may take to exit before it is
/// considered stuck.
const EXIT_WAIT: Duration = Duration::from_secs(1);
/// How long a process that broke the protocol may take to exit by itself.
const PROTOCOL_WAIT: Duration = Duration::from_millis(200);
/// How long an error message waits for the last lines of standard error.
const STDERR_WAIT: Duration = Duration::from_millis(500);

const HANDSHAKE_FORM: &str = "`seqcal-target 1 DIM [NAME ...]`";
const HINT_HANDSHAKE: &str = "make the model print `seqcal-target 1 DIM [NAME ...]` on its standard output first, and flush it; \
    print diagnostics on standard error (see docs/external-targets.md)";
const HINT_SILENT: &str = "make the model flush its standard output after each answer (Python: `sys.stdout.flush()`; C: `fflush(stdout)`); \
    if one evaluation really takes that long, raise the timeout";
const HINT_ANSWER: &str = "make each answer line one number: the log density, `-inf` for zero density, or `nan` or `reject` \
    for a point the model cannot evaluate; print diagnostics on standard error, not standard output";
const HINT_PLUS_INF: &str = "a log density cannot be +inf: answer a finite number, `-inf` for zero density, or `nan` to reject the point";
const HINT_EXTRA: &str = "make the model print exactly one answer line per point and nothing else on standard output; \
    print diagnostics on standard error";
const HINT_EXITED: &str = "read its standard error (below); to reproduce, run the command by hand and type a batch \
    (see docs/external-targets.md)";

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
}

impl Default for ExternalOptions {
    fn default() -> Self {
        ExternalOptions { dim: None, timeout: Duration::from_secs(60), grace: Duration::from_secs(2) }
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
}

/// A log density computed by an external process speaking
/// [the protocol](self#the-protocol).
///
/// The process is started by [`spawn`](ExternalTarget::spawn) and lives as
/// long as the target: dropping the target closes its standard input, waits
/// up to [`grace`](ExternalOptions::grace) for it to exit, then kills it;
/// the process is always reaped. [`close`](ExternalTarget::close) does the
/// same and reports how it ended.
///
/// ```no_run
/// use seqcal::api::LogDensity;
/// use seqcal::likelihood::{ExternalOptions, ExternalTarget};
///
/// let target = ExternalTarget::spawn("python3 examples/external/gaussian_model.py", ExternalOptions::default().with_dim(3))?;
/// assert_eq!(target.names(), ["a", "b", "c"]);
/// let log_p = target.log_density(&[0.1, -0.2, 0.3])?;
/// target.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ExternalTarget {
    command: String,
    dim: usize,
    names: Vec<String>,
    pid: u32,
    evaluations: AtomicU64,
    inner: Mutex<Inner>,
}

impl fmt::Debug for ExternalTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalTarget")
            .field("command", &self.command)
            .field("dim", &self.dim)
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
    /// [`Error::Usage`] when the command is empty, the process cannot be
    /// started, ends or stays silent for [`timeout`](ExternalOptions::timeout)
    /// before its handshake, prints something else than a valid handshake,
    /// or declares a dimension other than [`dim`](ExternalOptions::dim). The
    /// message quotes what the process printed and the end of its standard
    /// error (a shell's "not found" for a mistyped command, exit status 127).
    /// The process is killed and reaped before this returns an error.
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
        let mut process = Process::start(command, opts.timeout, opts.grace)
            .map_err(|e| Error::Usage(format!("external target `{command}`: cannot start `sh -c` to run it: {e}")))?;
        let first = match process.events.recv_timeout(opts.timeout) {
            Ok(Event::Line(line)) => line,
            Ok(Event::Eof) | Err(RecvTimeoutError::Disconnected) => {
                return Err(Error::Usage(process.fail(Failure::Gone { context: "before printing its handshake line".into(), detail: None })));
            }
            Ok(Event::ReadFailed(e) | Event::WriteFailed(e)) => {
                return Err(Error::Usage(process.fail(Failure::Gone { context: "before printing its handshake line".into(), detail: Some(e) })));
            }
            Err(RecvTimeoutError::Timeout) => {
                return Err(Error::Usage(process.fail(Failure::Silent { context: format!("instead of its handshake line {HANDSHAKE_FORM}") })));
            }
        };
        let (dim, names) = match parse_handshake(&first, opts.dim) {
            Ok(parsed) => parsed,
            Err((what, hint)) => return Err(Error::Usage(process.fail(Failure::Protocol { what, hint }))),
        };
        let pid = process.child.id();
        Ok(ExternalTarget {
            command: command.to_string(),
            dim,
            names,
            pid,
            evaluations: AtomicU64::new(0),
            inner: Mutex::new(Inner { process, batches: 0, dead: None }),
        })
    }

    /// The command, as given to [`spawn`](ExternalTarget::spawn).
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Number of parameters, from the handshake.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Parameter names, from the handshake (default `x0`, `x1`, ...).
    pub fn names(&self) -> &[String] {
        &self.names
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

    /// Closes the process's standard input, waits up to
    /// [`grace`](ExternalOptions::grace) for it to exit, and reports how it
    /// ended.
    ///
    /// # Errors
    /// [`Error::Usage`] when the process had already failed (the original
    /// message), exits with a non-zero status or a signal, or does not exit
    /// in time (it is then killed).
    pub fn close(self) -> Result<(), Error> {
        let mut inner = self.inner.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(message) = inner.dead.take() {
            return Err(Error::Usage(message));
        }
        let grace = inner.process.grace;
        match inner.process.shutdown() {
            Some(status) if status.success() => Ok(()),
            Some(status) => {
                let what = format!("{} after its standard input was closed", describe_exit(status));
                Err(Error::Usage(inner.process.message(&what, exit_hint(status))))
            }
            None => {
                let what = format!("did not exit within {grace:?} after its standard input was closed; it was killed");
                Err(Error::Usage(inner.process.message(&what, "make the model exit when it reads end of input where it expects a batch")))
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
        let mut text = String::with_capacity(16 + sent.len() * self.dim * 24);
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
            Ok(Event::Eof) | Err(TryRecvError::Disconnected) => {
                return Err(inner.fatal(Failure::Gone { context: format!("before batch {batch}"), detail: None }));
            }
            Ok(Event::ReadFailed(e) | Event::WriteFailed(e)) => {
                return Err(inner.fatal(Failure::Gone { context: format!("before batch {batch}"), detail: Some(e) }));
            }
        }
        inner.batches = batch;
        let queued = inner.process.to_stdin.as_ref().is_some_and(|tx| tx.send(text.into_bytes()).is_ok());
        if !queued {
            return Err(inner.fatal(Failure::Gone { context: format!("before batch {batch}"), detail: Some("its standard input is closed".into()) }));
        }
        let n = sent.len();
        let timeout = inner.process.timeout;
        for (k, &i) in sent.iter().enumerate() {
            let context = || format!("while seqcal waited for line {} of the answer to batch {batch} ({n} point{})", k + 1, if n == 1 { "" } else { "s" });
            match inner.process.events.recv_timeout(timeout) {
                Ok(Event::Line(line)) => match parse_answer(&line) {
                    Ok(Answer::Value(v)) => out[i] = v,
                    Ok(Answer::Reject) => out[i] = f64::NAN,
                    Err((problem, hint)) => {
                        let what = format!("gave a bad answer: line {} of the answer to batch {batch}: {problem}", k + 1);
                        return Err(inner.fatal(Failure::Protocol { what, hint }));
                    }
                },
                Ok(Event::Eof) | Err(RecvTimeoutError::Disconnected) => {
                    return Err(inner.fatal(Failure::Gone { context: context(), detail: None }));
                }
                Ok(Event::ReadFailed(e) | Event::WriteFailed(e)) => {
                    return Err(inner.fatal(Failure::Gone { context: context(), detail: Some(e) }));
                }
                Err(RecvTimeoutError::Timeout) => return Err(inner.fatal(Failure::Silent { context: context() })),
            }
        }
        self.evaluations.fetch_add(n as u64, Ordering::Relaxed);
        Ok(out)
    }

    fn check_dim(&self, got: usize) -> Result<(), DensityError> {
        if got == self.dim {
            Ok(())
        } else {
            Err(DensityError::Fatal(format!(
                "external target `{}` takes {} parameter{} ({}) but was given points with {got} coordinates",
                self.command,
                self.dim,
                if self.dim == 1 { "" } else { "s" },
                self.names.join(", ")
            )))
        }
    }
}

impl LogDensity for ExternalTarget {
    fn dim(&self) -> usize {
        self.dim
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

/// What the stdout, stdin and stderr threads tell the caller.
enum Event {
    /// A line of standard output, without its line ending.
    Line(String),
    /// Standard output ended.
    Eof,
    /// Reading standard output failed.
    ReadFailed(String),
    /// Writing a batch to standard input failed (the process closed it).
    WriteFailed(String),
}

/// Why a process is being given up.
enum Failure {
    /// Its output ended or its input closed: it has probably exited.
    Gone { context: String, detail: Option<String> },
    /// It printed nothing for the timeout.
    Silent { context: String },
    /// It printed something that breaks the protocol.
    Protocol { what: String, hint: &'static str },
}

/// The child process and the ends of its helper threads.
struct Process {
    command: String,
    child: Child,
    /// Set once the child has been reaped.
    status: Option<ExitStatus>,
    /// Batches for the writer thread; `None` once standard input is to be closed.
    to_stdin: Option<Sender<Vec<u8>>>,
    events: Receiver<Event>,
    stderr: Arc<StderrTail>,
    timeout: Duration,
    grace: Duration,
}

impl Process {
    fn start(command: &str, timeout: Duration, grace: Duration) -> io::Result<Process> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(command).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let mut child = cmd.spawn()?;
        let pipes = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let (events_tx, events) = mpsc::channel();
        let (to_stdin, batches) = mpsc::channel();
        let stderr = Arc::new(StderrTail::default());
        let mut process =
            Process { command: command.to_string(), child, status: None, to_stdin: Some(to_stdin), events, stderr: Arc::clone(&stderr), timeout, grace };
        let started = match pipes {
            (Some(stdin), Some(stdout), Some(err)) => start_threads(stdin, stdout, err, events_tx, batches, stderr),
            _ => Err(io::Error::other("the pipes to the process were not created")),
        };
        if let Err(e) = started {
            process.kill_and_reap();
            return Err(e);
        }
        Ok(process)
    }

    /// The exit status if the process ends within `wait` (reaping it).
    fn exit_status_within(&mut self, wait: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + wait;
        loop {
            if self.status.is_some() {
                return self.status;
            }
            match self.child.try_wait() {
                Ok(Some(status)) => self.status = Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Kills the process and its group unless it has already ended, and reaps it.
    fn kill_and_reap(&mut self) {
        if self.status.is_some() {
            return;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.status = Some(status);
                return;
            }
            // Not reaped yet, so its pid (and process group id) cannot have been reused.
            Ok(None) => kill_group(self.child.id()),
            Err(_) => {}
        }
        let _ = self.child.kill();
        if let Ok(status) = self.child.wait() {
            self.status = Some(status);
        }
    }

    /// Closes standard input and gives the process `grace` to exit; kills it
    /// after that. The exit status, or `None` when it had to be killed.
    fn shutdown(&mut self) -> Option<ExitStatus> {
        // The writer thread closes standard input once it has nothing left to write.
        self.to_stdin = None;
        let status = self.exit_status_within(self.grace);
        if status.is_none() {
            self.kill_and_reap();
        }
        status
    }

    /// Gives the process up: finds out how it ended or kills it, and builds
    /// the error message.
    fn fail(&mut self, failure: Failure) -> String {
        let (what, hint) = match failure {
            Failure::Gone { context, detail } => {
                let detail = detail.map(|d| format!(" ({d})")).unwrap_or_default();
                match self.exit_status_within(EXIT_WAIT) {
                    Some(status) => (format!("{} {context}{detail}", describe_exit(status)), exit_hint(status)),
                    None => {
                        self.kill_and_reap();
                        (format!("closed its standard output {context}{detail} but kept running; it was killed"), HINT_EXITED)
                    }
                }
            }
            Failure::Silent { context } => {
                self.kill_and_reap();
                (format!("printed nothing for {:?} {context}; it was killed", self.timeout), HINT_SILENT)
            }
            Failure::Protocol { what, hint } => {
                // Close its input and give it a moment to finish its error output (and to exit, as a
                // model reading end of input should) before killing it.
                self.to_stdin = None;
                if self.exit_status_within(PROTOCOL_WAIT).is_none() {
                    self.kill_and_reap();
                }
                (what, hint)
            }
        };
        self.message(&what, hint)
    }

    /// `external target `COMMAND` WHAT`, `what to do: HINT` and the tail of standard error.
    fn message(&self, what: &str, hint: &str) -> String {
        let mut message = format!("external target `{}` {what}", self.command);
        if !hint.is_empty() {
            let _ = write!(message, "\n  what to do: {hint}");
        }
        let lines = self.stderr.lines(STDERR_WAIT);
        if lines.is_empty() {
            message.push_str("\n  (it wrote nothing on its standard error)");
        } else {
            let _ = write!(message, "\n  last {} line{} of its standard error:", lines.len(), if lines.len() == 1 { "" } else { "s" });
            for line in lines {
                let _ = write!(message, "\n    | {line}");
            }
        }
        message
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Sends SIGKILL to the process group `pid` (the child is its group's leader).
#[cfg(unix)]
fn kill_group(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        if pid > 1 {
            // SAFETY: kill(2) takes plain integers and touches no memory of ours. The
            // caller guarantees the child is not reaped yet, so the group id is ours.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

#[cfg(not(unix))]
fn kill_group(_pid: u32) {}

/// Blocks SIGPIPE in the calling thread, so that writing to a process that has
/// exited fails with `EPIPE` instead of killing a host program that does not
/// ignore SIGPIPE (Rust programs do; C hosts may not).
#[cfg(unix)]
fn block_sigpipe() {
    // SAFETY: the signal set is a local initialized by sigemptyset before use, and
    // pthread_sigmask changes only this thread's signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

#[cfg(not(unix))]
fn block_sigpipe() {}

fn start_threads(
    stdin: ChildStdin,
    stdout: ChildStdout,
    stderr: ChildStderr,
    events: Sender<Event>,
    batches: Receiver<Vec<u8>>,
    tail: Arc<StderrTail>,
) -> io::Result<()> {
    let write_events = events.clone();
    thread::Builder::new().name("seqcal-external-stdin".into()).spawn(move || write_batches(stdin, batches, write_events))?;
    thread::Builder::new().name("seqcal-external-stdout".into()).spawn(move || read_stdout(stdout, events))?;
    thread::Builder::new().name("seqcal-external-stderr".into()).spawn(move || read_stderr(stderr, tail))?;
    Ok(())
}

/// Writes each batch to the process; standard input closes when `batches` does.
fn write_batches(mut stdin: ChildStdin, batches: Receiver<Vec<u8>>, events: Sender<Event>) {
    block_sigpipe();
    for batch in batches {
        if let Err(e) = stdin.write_all(&batch).and_then(|()| stdin.flush()) {
            let _ = events.send(Event::WriteFailed(format!("writing the batch failed: {e}")));
            return;
        }
    }
}

fn read_stdout(stdout: ChildStdout, events: Sender<Event>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let event = match read_line_capped(&mut reader) {
            Ok(Some(line)) => Event::Line(line),
            Ok(None) => Event::Eof,
            Err(e) => Event::ReadFailed(format!("reading its standard output failed: {e}")),
        };
        let last = !matches!(event, Event::Line(_));
        if events.send(event).is_err() || last {
            return;
        }
    }
}

fn read_stderr(stderr: ChildStderr, tail: Arc<StderrTail>) {
    let mut reader = BufReader::new(stderr);
    while let Ok(Some(line)) = read_line_capped(&mut reader) {
        tail.push(clip(&line, MAX_STDERR_CHARS));
    }
    tail.close();
}

/// The next line without its `\n` or `\r\n` (invalid UTF-8 replaced), at
/// most [`MAX_LINE`] bytes of it; `None` at end of input.
fn read_line_capped(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    if reader.by_ref().take(MAX_LINE as u64).read_until(b'\n', &mut buf)? == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    } else if buf.len() >= MAX_LINE {
        // Drop the rest of an overlong line.
        let mut rest = Vec::new();
        loop {
            rest.clear();
            if reader.by_ref().take(MAX_LINE as u64).read_until(b'\n', &mut rest)? == 0 || rest.last() == Some(&b'\n') {
                break;
            }
        }
        buf.extend_from_slice(b"...");
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// The last [`STDERR_LINES`] lines of the process's standard error.
#[derive(Default)]
struct StderrTail {
    state: Mutex<TailState>,
    closed: Condvar,
}

#[derive(Default)]
struct TailState {
    lines: VecDeque<String>,
    closed: bool,
}

impl StderrTail {
    fn push(&self, line: String) {
        let mut state = lock(&self.state);
        if state.lines.len() == STDERR_LINES {
            state.lines.pop_front();
        }
        state.lines.push_back(line);
    }

    fn close(&self) {
        lock(&self.state).closed = true;
        self.closed.notify_all();
    }

    /// The kept lines, after waiting up to `wait` for standard error to end
    /// (a process that just exited may not have been read to the end yet).
    fn lines(&self, wait: Duration) -> Vec<String> {
        let deadline = Instant::now() + wait;
        let mut state = lock(&self.state);
        while !state.closed {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = match self.closed.wait_timeout(state, deadline - now) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        state.lines.iter().cloned().collect()
    }
}

/// Locks `mutex`, ignoring poisoning: the guarded state stays consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `line` cut to `max` characters.
fn clip(line: &str, max: usize) -> String {
    match line.char_indices().nth(max) {
        Some((end, _)) => format!("{}...", &line[..end]),
        None => line.to_string(),
    }
}

/// `'text'`, escaped and cut short, for quoting the process's output.
fn quote(text: &str) -> String {
    format!("'{}'", clip(text, MAX_QUOTE_CHARS).escape_debug())
}

fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                1 => " (SIGHUP)",
                2 => " (SIGINT)",
                6 => " (SIGABRT)",
                7 => " (SIGBUS)",
                8 => " (SIGFPE)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                13 => " (SIGPIPE)",
                15 => " (SIGTERM)",
                _ => "",
            };
            return format!("was killed by signal {signal}{name}");
        }
    }
    format!("ended ({status})")
}

fn exit_hint(status: ExitStatus) -> &'static str {
    match status.code() {
        Some(127) => "status 127 is the shell's \"command not found\": check the spelling of the command and that the program is on PATH",
        Some(126) => "status 126 is the shell's \"cannot execute\": make the file executable (chmod +x) or run it through its interpreter",
        Some(0) => "make the model keep answering batches until its standard input is closed",
        _ => HINT_EXITED,
    }
}

/// Parses the handshake line: the dimension and the parameter names.
fn parse_handshake(line: &str, expected_dim: Option<usize>) -> Result<(usize, Vec<String>), (String, &'static str)> {
    let line = line.strip_prefix('\u{feff}').unwrap_or(line);
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.first() != Some(&HANDSHAKE_TAG) {
        let what = format!("printed {} as its first line, but the first line must be the handshake {HANDSHAKE_FORM}", quote(line));
        return Err((what, HINT_HANDSHAKE));
    }
    let version = words.get(1).copied().unwrap_or("");
    if version != PROTOCOL_VERSION.to_string() {
        let what = if version.is_empty() {
            format!("printed the handshake {} without protocol version and dimension; the form is {HANDSHAKE_FORM}", quote(line))
        } else {
            format!("speaks protocol version {} (handshake {}), but this seqcal speaks version {PROTOCOL_VERSION}", quote(version), quote(line))
        };
        return Err((what, "use a model and a seqcal that speak the same protocol version"));
    }
    let dim = match words.get(2).map(|w| w.parse::<usize>()) {
        Some(Ok(dim)) if dim >= 1 => dim,
        _ => {
            let what = format!("printed the handshake {}, whose third word must be the number of parameters (at least 1)", quote(line));
            return Err((what, HINT_HANDSHAKE));
        }
    };
    let names: Vec<String> = words[3..].iter().map(|w| w.to_string()).collect();
    let names = if names.is_empty() {
        (0..dim).map(|i| format!("x{i}")).collect()
    } else if names.len() != dim {
        let what = format!("declares {dim} parameters but names {} in its handshake {}", names.len(), quote(line));
        return Err((what, "give no names or exactly one per parameter"));
    } else if let Some(twice) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)).map(|(_, n)| n) {
        let what = format!("names parameter {} twice in its handshake {}", quote(twice), quote(line));
        return Err((what, "give every parameter a different name"));
    } else {
        names
    };
    if let Some(expected) = expected_dim {
        if expected != dim {
            let what = format!("declares {dim} parameter{} ({}) in its handshake, but {expected} were expected", if dim == 1 { "" } else { "s" }, names.join(", "));
            return Err((what, "check that the command runs the intended model, or the dimension it is expected to have"));
        }
    }
    Ok((dim, names))
}

/// One answer line, parsed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    /// A log density, finite or `-inf`.
    Value(f64),
    /// `nan` or `reject`: the point cannot be evaluated.
    Reject,
}

fn parse_answer(line: &str) -> Result<Answer, (String, &'static str)> {
    let text = line.trim();
    let lower = text.to_ascii_lowercase();
    let (negative, unsigned) = match lower.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, lower.strip_prefix('+').unwrap_or(&lower)),
    };
    if lower == "reject" || unsigned == "nan" || (unsigned.starts_with("nan(") && unsigned.ends_with(')')) {
        return Ok(Answer::Reject);
    }
    let plus_inf = || (format!("{} is +infinity, which is not a log density", quote(text)), HINT_PLUS_INF);
    if unsigned == "inf" || unsigned == "infinity" {
        return if negative { Ok(Answer::Value(f64::NEG_INFINITY)) } else { Err(plus_inf()) };
    }
    match text.parse::<f64>() {
        Ok(v) if v == f64::INFINITY => Err(plus_inf()),
        Ok(v) if v.is_nan() => Ok(Answer::Reject),
        Ok(v) => Ok(Answer::Value(v)),
        Err(_) => Err((format!("{} is not a number", quote(text)), HINT_ANSWER)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};
    use tempfile::TempDir;

    const GAUSSIAN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/external/gaussian_model.py");

    /// Helpers prepended to every Python test model.
    const PRELUDE: &str = r#"
import sys
def handshake(line):
    sys.stdout.write(line + "\n"); sys.stdout.flush()
def batches():
    while True:
        header = sys.stdin.readline()
        if not header:
            return
        yield [[float(x) for x in sys.stdin.readline().split()] for _ in range(int(header))]
def answer(lines):
    sys.stdout.write("".join(str(l) + "\n" for l in lines)); sys.stdout.flush()
"#;

    /// Writes a Python model (after [`PRELUDE`]) and returns its command.
    fn python(dir: &TempDir, body: &str) -> String {
        let path = dir.path().join("model.py");
        std::fs::write(&path, format!("{PRELUDE}\n{body}")).unwrap();
        format!("python3 '{}'", path.display())
    }

    fn gaussian_command() -> String {
        format!("python3 '{GAUSSIAN}'")
    }

    fn exact_gaussian(theta: &[f64]) -> f64 {
        -0.5 * theta.len() as f64 * (2.0 * std::f64::consts::PI).ln() - 0.5 * theta.iter().map(|t| t * t).sum::<f64>()
    }

    fn fatal_message(err: DensityError) -> String {
        match err {
            DensityError::Fatal(m) => m,
            other => panic!("expected a fatal error, got {other:?}"),
        }
    }

    fn usage_message(err: Result<ExternalTarget, Error>) -> String {
        match err {
            Err(Error::Usage(m)) => m,
            Err(other) => panic!("expected a usage error, got {other:?}"),
            Ok(t) => panic!("expected an error, got {t:?}"),
        }
    }

    /// Whether process `pid` has ended (gone, or a zombie no one has reaped yet).
    fn process_gone(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    fn wait_gone(pid: u32) -> bool {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if process_gone(pid) {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn target_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<ExternalTarget>();
    }

    #[test]
    fn gaussian_example_batch_matches_the_exact_density() {
        let t = ExternalTarget::spawn(&gaussian_command(), ExternalOptions::default().with_dim(3)).unwrap();
        assert_eq!(t.dim(), 3);
        assert_eq!(t.names(), ["a", "b", "c"]);
        // 5000 points (a few hundred kB each way, more than a pipe holds), extreme values included.
        let mut points = Array2::from_shape_fn((5000, 3), |(i, j)| ((i * 3 + j) as f64 * 0.731).sin() * (1.0 + i as f64 / 100.0));
        points.row_mut(0).assign(&array![0.0, -0.0, 1e-300]);
        points.row_mut(1).assign(&array![1e150, 0.1, -2.5e-8]);
        points.row_mut(2).assign(&array![0.1 + 0.2, 1.0 / 3.0, -7.0]);
        let out = t.log_density_batch(points.view()).unwrap();
        assert_eq!(out.len(), 5000);
        for (i, row) in points.rows().into_iter().enumerate() {
            let exact = exact_gaussian(row.as_slice().unwrap());
            assert!((out[i] - exact).abs() <= 1e-13 * exact.abs().max(1.0), "point {i} {row}: {} vs {exact}", out[i]);
        }
        assert_eq!(t.evaluations(), 5000);
        // A second batch on the same process.
        let out = t.log_density_batch(array![[1.0, 2.0, 3.0]].view()).unwrap();
        assert!((out[0] - exact_gaussian(&[1.0, 2.0, 3.0])).abs() < 1e-12);
        assert_eq!(t.evaluations(), 5001);
        t.close().unwrap();
    }

    #[test]
    fn single_points_and_input_checks() {
        let t = ExternalTarget::spawn(&gaussian_command(), ExternalOptions::default()).unwrap();
        assert!((t.log_density(&[0.0, 0.0, 0.0]).unwrap() - exact_gaussian(&[0.0; 3])).abs() < 1e-14);
        assert!((t.log_density(&[1.0, -2.0, 0.5]).unwrap() - exact_gaussian(&[1.0, -2.0, 0.5])).abs() < 1e-12);
        assert_eq!(t.evaluations(), 2);
        // Wrong length: the caller's error, fatal, but the process keeps working.
        let err = t.log_density(&[0.0, 0.0]).unwrap_err();
        assert!(fatal_message(err).contains("takes 3 parameters (a, b, c) but was given points with 2 coordinates"));
        assert!(!t.log_density_batch(array![[0.0, 0.0]].view()).unwrap_err().is_recoverable());
        // Non-finite coordinates are rejected without asking the process.
        assert!(t.log_density(&[f64::NAN, 0.0, 0.0]).unwrap_err().is_recoverable());
        let out = t.log_density_batch(array![[f64::INFINITY, 0.0, 0.0], [0.0, 0.0, 1.0]].view()).unwrap();
        assert!(out[0].is_nan());
        assert!((out[1] - exact_gaussian(&[0.0, 0.0, 1.0])).abs() < 1e-14);
        assert_eq!(t.log_density_batch(Array2::<f64>::zeros((0, 3)).view()).unwrap(), Vec::<f64>::new());
        assert_eq!(t.evaluations(), 3);
        // Column-major input (rows not contiguous).
        let cm = array![[1.0, 0.5], [2.0, 0.0], [3.0, 0.25]].reversed_axes();
        let out = t.log_density_batch(cm.view()).unwrap();
        assert!((out[0] - exact_gaussian(&[1.0, 2.0, 3.0])).abs() < 1e-12 && (out[1] - exact_gaussian(&[0.5, 0.0, 0.25])).abs() < 1e-12);
        t.close().unwrap();
    }

    #[test]
    fn minus_inf_is_zero_density_and_nan_rejects() {
        let dir = TempDir::new().unwrap();
        // Answers by the value of x0, in the spellings of Python, C, Julia/R and by hand.
        let cmd = python(
            &dir,
            r#"
handshake("seqcal-target 1 1")
table = ["-inf", "nan", "-nan", "reject", "-Infinity", "NaN", "  -1.5 \r", "nan(0x8000)", "-1e999", "+2.5"]
for batch in batches():
    answer([table[int(p[0])] for p in batch])
"#,
        );
        let t = ExternalTarget::spawn(&cmd, ExternalOptions::default()).unwrap();
        assert_eq!(t.names(), ["x0"]);
        let xs = Array2::from_shape_fn((10, 1), |(i, _)| i as f64);
        let out = t.log_density_batch(xs.view()).unwrap();
        assert_eq!(out[0], f64::NEG_INFINITY);
        for i in [1, 2, 3, 5, 7] {
            assert!(out[i].is_nan(), "answer {i} must be a rejection, got {}", out[i]);
        }
        assert_eq!(out[4], f64::NEG_INFINITY);
        assert_eq!(out[6], -1.5);
        assert_eq!(out[8], f64::NEG_INFINITY);
        assert_eq!(out[9], 2.5);
        assert_eq!(t.log_density(&[0.0]).unwrap(), f64::NEG_INFINITY);
        let err = t.log_density(&[1.0]).unwrap_err();
        assert!(err.is_recoverable(), "{err:?}");
        assert!(t.log_density(&[3.0]).unwrap_err().is_recoverable());
        // The process is still alive and answering after rejections.
        assert_eq!(t.log_density(&[6.0]).unwrap(), -1.5);
        assert_eq!(t.evaluations(), 14);
        t.close().unwrap();
    }

    #[test]
    fn handshake_problems_fail_at_spawn() {
        let err = usage_message(ExternalTarget::spawn(&gaussian_command(), ExternalOptions::default().with_dim(2)));
        assert!(err.contains("declares 3 parameters (a, b, c) in its handshake, but 2 were expected"), "{err}");

        // Something else than a handshake; the process is killed, not waited for.
        let start = Instant::now();
        let err = usage_message(ExternalTarget::spawn("echo hello; echo oops >&2; sleep 5", ExternalOptions::default()));
        assert!(err.contains("printed 'hello' as its first line"), "{err}");
        assert!(err.contains("seqcal-target 1 DIM [NAME ...]"), "{err}");
        assert!(err.contains("| oops"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());

        let err = usage_message(ExternalTarget::spawn("echo 'seqcal-target 2 3'; cat >/dev/null", ExternalOptions::default()));
        assert!(err.contains("protocol version '2'"), "{err}");
        assert!(usage_message(ExternalTarget::spawn("", ExternalOptions::default())).contains("command is empty"));
        assert!(usage_message(ExternalTarget::spawn("true", ExternalOptions::default().with_timeout(Duration::ZERO))).contains("timeout"));
    }

    #[test]
    fn handshake_parsing() {
        assert_eq!(parse_handshake("seqcal-target 1 2", None).unwrap(), (2, vec!["x0".to_string(), "x1".to_string()]));
        assert_eq!(parse_handshake("\u{feff}seqcal-target  1 2 mass\tradius \r", Some(2)).unwrap().1, ["mass", "radius"]);
        let msg = |line: &str| parse_handshake(line, None).unwrap_err().0;
        assert!(msg("Seqcal-target 1 2").contains("first line must be the handshake"));
        assert!(msg("").contains("printed '' as its first line"));
        assert!(msg("seqcal-target").contains("without protocol version"));
        assert!(msg("seqcal-target 1").contains("number of parameters"));
        assert!(msg("seqcal-target 1 0").contains("at least 1"));
        assert!(msg("seqcal-target 1 -2").contains("number of parameters"));
        assert!(msg("seqcal-target 1 two").contains("number of parameters"));
        assert!(msg("seqcal-target 1 2 a").contains("declares 2 parameters but names 1"));
        assert!(msg("seqcal-target 1 2 a b c").contains("names 3"));
        assert!(msg("seqcal-target 1 3 a b a").contains("names parameter 'a' twice"));
        assert!(msg("seqcal-target 1.0 2").contains("version '1.0'"));
        assert!(parse_handshake("seqcal-target 1 2", Some(3)).unwrap_err().0.contains("but 3 were expected"));
    }

    #[test]
    fn answer_parsing() {
        let value = |s: &str| match parse_answer(s) {
            Ok(Answer::Value(v)) => v,
            other => panic!("{s:?}: {other:?}"),
        };
        assert_eq!(value("-12.5"), -12.5);
        assert_eq!(value(" 3e-4\r"), 3e-4);
        assert_eq!(value("+1"), 1.0);
        assert_eq!(value("-0.1"), -0.1);
        for s in ["-inf", "-INF", "-Inf", "-infinity", "-Infinity", "-1e400"] {
            assert_eq!(value(s), f64::NEG_INFINITY, "{s}");
        }
        for s in ["nan", "NaN", "-nan", "+nan", "NAN", "nan(0x8000000000000)", "-nan(ind)", "reject", "REJECT", " nan "] {
            assert_eq!(parse_answer(s), Ok(Answer::Reject), "{s}");
        }
        for s in ["inf", "+inf", "Infinity", "1e400"] {
            let (msg, hint) = parse_answer(s).unwrap_err();
            assert!(msg.contains("+infinity") && hint == HINT_PLUS_INF, "{s}: {msg}");
        }
        for s in ["abc", "", "1.0 2.0", "1,5", "0x10", "nan(", "rejected", "--1"] {
            let (msg, hint) = parse_answer(s).unwrap_err();
            assert!(msg.ends_with("is not a number") && hint == HINT_ANSWER, "{s}: {msg}");
        }
        assert_eq!(parse_answer("abc").unwrap_err().0, "'abc' is not a number");
    }

    #[test]
    fn numbers_are_written_to_round_trip() {
        // The batch format relies on `{:?}` printing the shortest exact representation.
        for x in [0.1, 1.0 / 3.0, -2.5e-8, 1e21, 5e-324, f64::MAX, -0.0, 123456789.125] {
            let text = format!("{x:?}");
            assert_eq!(text.parse::<f64>().unwrap().to_bits(), x.to_bits(), "{text}");
            assert!(!text.contains(['_', ',']), "{text}");
        }
    }

    #[test]
    fn process_exiting_mid_run_is_fatal_with_its_stderr() {
        let dir = TempDir::new().unwrap();
        let cmd = python(
            &dir,
            r#"
handshake("seqcal-target 1 2 p q")
for k, batch in enumerate(batches()):
    if k == 2:
        sys.stderr.write("loading mesh\nmodel blew up: out of memory\n")
        sys.exit(3)
    answer([-sum(x * x for x in p) for p in batch])
"#,
        );
        let t = ExternalTarget::spawn(&cmd, ExternalOptions::default()).unwrap();
        assert_eq!(t.log_density_batch(array![[1.0, 2.0], [0.0, 0.5]].view()).unwrap(), vec![-5.0, -0.25]);
        assert_eq!(t.log_density(&[3.0, 0.0]).unwrap(), -9.0);
        let start = Instant::now();
        let msg = fatal_message(t.log_density_batch(array![[1.0, 1.0], [2.0, 2.0]].view()).unwrap_err());
        assert!(msg.contains("exited with status 3"), "{msg}");
        assert!(msg.contains("batch 3"), "{msg}");
        assert!(msg.contains("| model blew up: out of memory"), "{msg}");
        assert!(msg.contains("| loading mesh"), "{msg}");
        assert!(start.elapsed() < Duration::from_secs(3));
        // Later calls fail at once with the same message.
        let start = Instant::now();
        let again = fatal_message(t.log_density(&[0.0, 0.0]).unwrap_err());
        assert!(again.starts_with(&msg) && again.contains("later evaluations cannot run"), "{again}");
        assert!(start.elapsed() < Duration::from_millis(100));
        assert_eq!(t.evaluations(), 3);
        assert!(process_gone(t.id()));
        assert!(matches!(t.close(), Err(Error::Usage(m)) if m == msg));
    }

    #[test]
    fn silent_process_times_out_and_is_killed_with_its_children() {
        let dir = TempDir::new().unwrap();
        let pidfile = dir.path().join("sleep.pid");
        let cmd = format!("echo 'seqcal-target 1 1'; sleep 30 & echo $! > '{}'; wait", pidfile.display());
        let t = ExternalTarget::spawn(&cmd, ExternalOptions::default().with_timeout(Duration::from_secs(1))).unwrap();
        let start = Instant::now();
        let msg = fatal_message(t.log_density(&[0.5]).unwrap_err());
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(950) && elapsed < Duration::from_millis(2500), "took {elapsed:?}");
        assert!(msg.contains("printed nothing for 1s while seqcal waited for line 1 of the answer to batch 1 (1 point); it was killed"), "{msg}");
        assert!(msg.contains("flush"), "{msg}");
        assert!(process_gone(t.id()), "the sh process must be killed and reaped");
        let sleep_pid: u32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        assert!(wait_gone(sleep_pid), "its child (sleep, pid {sleep_pid}) must be killed too");
        assert!(t.log_density(&[0.5]).is_err());
    }

    #[test]
    fn garbage_answers_are_fatal_and_name_the_line() {
        let dir = TempDir::new().unwrap();
        let cmd = python(
            &dir,
            r#"
handshake("seqcal-target 1 1")
for k, batch in enumerate(batches()):
    sys.stderr.write("batch %d\n" % (k + 1))
    answer(["0.5"] * len(batch) if k == 0 else ["1", "abc", "2"])
"#,
        );
        let t = ExternalTarget::spawn(&cmd, ExternalOptions::default()).unwrap();
        assert_eq!(t.log_density(&[0.0]).unwrap(), 0.5);
        let msg = fatal_message(t.log_density_batch(array![[0.0], [1.0], [2.0]].view()).unwrap_err());
        assert!(msg.contains("line 2 of the answer to batch 2: 'abc' is not a number"), "{msg}");
        assert!(msg.contains("what to do: make each answer line one number"), "{msg}");
        assert!(msg.contains("| batch 2"), "{msg}");
        assert!(process_gone(t.id()), "a process that broke the protocol is killed");
        assert!(t.log_density(&[0.0]).is_err());

        let cmd = python(&dir, "handshake('seqcal-target 1 1')\nfor batch in batches():\n    answer(['inf'])\n");
        let t = ExternalTarget::spawn(&cmd, ExternalOptions::default()).unwrap();
        let msg = fatal_message(t.log_density(&[0.0]).unwrap_err());
        assert!(msg.contains("line 1 of the answer to batch 1: 'inf' is +infinity"), "{msg}");
    }

    #[test]
    fn extra_output_lines_are_a_protocol_error() {
        let dir = TempDir::new().unwrap();
        let cmd = python(&dir, "handshake('seqcal-target 1 1')\nfor batch in batches():\n    answer([1.0] * len(batch) + ['debug: done'])\n");
        let t = ExternalTarget::spawn(&cmd, ExternalOptions::default()).unwrap();
        assert_eq!(t.log_density(&[0.0]).unwrap(), 1.0);
        thread::sleep(Duration::from_millis(200));
        let msg = fatal_message(t.log_density(&[0.0]).unwrap_err());
        assert!(msg.contains("printed 'debug: done' before batch 2 was sent"), "{msg}");
    }

    #[test]
    fn missing_command_fails_at_spawn_with_status_127() {
        let start = Instant::now();
        let err = usage_message(ExternalTarget::spawn("nosuchcommand_seqcal_test --flag", ExternalOptions::default()));
        assert!(err.contains("exited with status 127 before printing its handshake line"), "{err}");
        assert!(err.contains("command not found"), "{err}");
        // The shell's own complaint, quoted from standard error.
        assert!(err.lines().any(|l| l.starts_with("    | ") && l.contains("nosuchcommand_seqcal_test") && l.contains("not found")), "{err}");
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn drop_kills_a_process_that_ignores_end_of_input() {
        let t = ExternalTarget::spawn("echo 'seqcal-target 1 1'; exec sleep 30", ExternalOptions::default().with_grace(Duration::from_millis(200))).unwrap();
        let pid = t.id();
        assert!(!process_gone(pid));
        let start = Instant::now();
        drop(t);
        assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());
        assert!(process_gone(pid), "pid {pid} must be killed and reaped");
    }

    #[test]
    fn close_reports_how_the_process_ended() {
        let t = ExternalTarget::spawn("echo 'seqcal-target 1 1'; cat >/dev/null; echo 'bye' >&2; exit 4", ExternalOptions::default()).unwrap();
        let pid = t.id();
        match t.close() {
            Err(Error::Usage(m)) => assert!(m.contains("exited with status 4 after its standard input was closed") && m.contains("| bye"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(process_gone(pid));
        let t = ExternalTarget::spawn("echo 'seqcal-target 1 1'; exec sleep 30", ExternalOptions::default().with_grace(Duration::from_millis(100))).unwrap();
        match t.close() {
            Err(Error::Usage(m)) => assert!(m.contains("did not exit within 100ms"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn writing_to_a_closed_input_fails_cleanly_in_a_host_that_does_not_ignore_sigpipe() {
        if std::env::var_os("SEQCAL_TEST_SIGPIPE_CHILD").is_some() {
            // In the child test process: the default SIGPIPE disposition kills the process on a write
            // to a pipe without reader, unless the writer thread blocks the signal.
            // SAFETY: setting a signal disposition to SIG_DFL, in a process running this test alone.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            }
            let t = ExternalTarget::spawn("echo 'seqcal-target 1 1'; exec 0<&-; sleep 0.3", ExternalOptions::default()).unwrap();
            thread::sleep(Duration::from_millis(100));
            let msg = fatal_message(t.log_density(&[0.0]).unwrap_err());
            assert!(msg.contains("exited with status 0") && msg.contains("Broken pipe"), "{msg}");
            return;
        }
        let name = "likelihood::external::tests::writing_to_a_closed_input_fails_cleanly_in_a_host_that_does_not_ignore_sigpipe";
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--test-threads=1"])
            .env("SEQCAL_TEST_SIGPIPE_CHILD", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && stdout.contains("1 passed"), "{:?}\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }

    #[test]
    fn concurrent_callers_get_their_own_answers() {
        let t = ExternalTarget::spawn(&gaussian_command(), ExternalOptions::default()).unwrap();
        thread::scope(|s| {
            for w in 0..4 {
                let t = &t;
                s.spawn(move || {
                    for b in 0..20 {
                        let points = Array2::from_shape_fn((7, 3), |(i, j)| (w * 1000 + b * 10 + i) as f64 * 0.01 + j as f64);
                        let out = t.log_density_batch(points.view()).unwrap();
                        for (i, row) in points.rows().into_iter().enumerate() {
                            assert!((out[i] - exact_gaussian(row.as_slice().unwrap())).abs() < 1e-10, "worker {w} batch {b} point {i}");
                        }
                    }
                });
            }
        });
        assert_eq!(t.evaluations(), 4 * 20 * 7);
        t.close().unwrap();
    }

    #[test]
    fn long_lines_are_cut_and_line_endings_stripped() {
        let mut input = io::Cursor::new(format!("a\r\nb\n{}\nc", "x".repeat(MAX_LINE + 10)).into_bytes());
        assert_eq!(read_line_capped(&mut input).unwrap().as_deref(), Some("a"));
        assert_eq!(read_line_capped(&mut input).unwrap().as_deref(), Some("b"));
        let long = read_line_capped(&mut input).unwrap().unwrap();
        assert_eq!(long.len(), MAX_LINE + 3);
        assert!(long.ends_with("x..."));
        assert_eq!(read_line_capped(&mut input).unwrap().as_deref(), Some("c"));
        assert_eq!(read_line_capped(&mut input).unwrap(), None);
        assert_eq!(clip("héllo", 2), "hé...");
        assert_eq!(quote("a'b\n"), "'a\\'b\\n'");
    }
}

//! The model's process: starting it in a process group of its own, the
//! threads that move bytes through its pipes, and ending it, its whole
//! process group with it.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::protocol::{clip, HINT_SILENT};

/// Lines of standard error kept for error messages.
const STDERR_LINES: usize = 20;
/// Longest line read from the process; the rest of a longer line is dropped.
pub(super) const MAX_LINE: usize = 1 << 20;
/// Characters of a stderr line kept for error messages.
const MAX_STDERR_CHARS: usize = 500;
/// How long a process whose output ended may take to exit before it is
/// considered stuck.
const EXIT_WAIT: Duration = Duration::from_secs(1);
/// How long a process that broke the protocol may take to exit by itself.
const PROTOCOL_WAIT: Duration = Duration::from_millis(200);
/// How long an error message waits for the last lines of standard error.
const STDERR_WAIT: Duration = Duration::from_millis(500);
/// How often a process is checked while seqcal waits for it to exit.
const POLL: Duration = Duration::from_millis(5);

const HINT_EXITED: &str = "read its standard error (below); to reproduce, run the command by hand and type a batch \
    (see docs/external-targets.md)";

/// What the stdout, stdin and stderr threads tell the caller.
pub(super) enum Event {
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
pub(super) enum Failure {
    /// Its output ended, reading it failed, or its input closed: it has
    /// probably exited. `detail` says which, for the last two.
    Gone { context: String, detail: Option<String>, input_closed: bool },
    /// It printed nothing for the timeout.
    Silent { context: String },
    /// It printed something that breaks the protocol.
    Protocol { what: String, hint: &'static str },
}

impl Failure {
    /// The failure an event other than a line stands for.
    pub(super) fn from_event(event: Event, context: String) -> Failure {
        match event {
            Event::Line(_) | Event::Eof => Failure::Gone { context, detail: None, input_closed: false },
            Event::ReadFailed(e) => Failure::Gone { context, detail: Some(e), input_closed: false },
            Event::WriteFailed(e) => Failure::Gone { context, detail: Some(e), input_closed: true },
        }
    }
}

/// The child process and the ends of its helper threads.
pub(super) struct Process {
    command: String,
    child: Child,
    /// Set once the child has been reaped (its process group killed first).
    status: Option<ExitStatus>,
    /// Batches for the writer thread; `None` once standard input is to be closed.
    pub(super) to_stdin: Option<Sender<Vec<u8>>>,
    pub(super) events: Receiver<Event>,
    stderr: Arc<StderrTail>,
    /// Lines of standard output read so far (handshake included), counted
    /// once each is in `events`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) lines_read: Arc<AtomicU64>,
    pub(super) timeout: Duration,
    pub(super) grace: Duration,
}

impl Process {
    /// Starts `sh -c command` in a process group of its own, and its threads.
    pub(super) fn start(command: &str, timeout: Duration, grace: Duration) -> io::Result<Process> {
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
        let lines_read = Arc::new(AtomicU64::new(0));
        let mut process = Process {
            command: command.to_string(),
            child,
            status: None,
            to_stdin: Some(to_stdin),
            events,
            stderr: Arc::clone(&stderr),
            lines_read: Arc::clone(&lines_read),
            timeout,
            grace,
        };
        let started = match pipes {
            (Some(stdin), Some(stdout), Some(err)) => start_threads(stdin, stdout, err, events_tx, batches, stderr, lines_read),
            _ => Err(io::Error::other("the pipes to the process were not created")),
        };
        if let Err(e) = started {
            process.kill_and_reap();
            return Err(e);
        }
        Ok(process)
    }

    /// Process id of the `sh` process, also its process group id.
    pub(super) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the `sh` process has ended, without reaping it: until it is
    /// reaped, its process group id cannot be reused.
    #[cfg(unix)]
    fn has_exited(&mut self) -> bool {
        if self.status.is_some() {
            return true;
        }
        // id_t is u32 on Linux and macOS, wider elsewhere.
        #[allow(irrefutable_let_patterns)]
        let Ok(pid) = libc::id_t::try_from(self.child.id()) else {
            return true;
        };
        // P_PID with id 0 would mean "any child" on some systems: only ours may be waited on.
        assert!(pid > 0, "waitid on process id {pid}");
        // SAFETY: `info` is a zeroed plain-data struct that waitid(2) fills in;
        // WNOWAIT leaves the child waitable, so std's `Child` still reaps it;
        // `pid` names one process (asserted above).
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let r = libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT);
            // With WNOHANG and no state change, waitid returns 0 and leaves
            // `info` zeroed; an error (no such child) counts as ended.
            r != 0 || info.si_signo == libc::SIGCHLD
        }
    }

    #[cfg(not(unix))]
    fn has_exited(&mut self) -> bool {
        if self.status.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.status = Some(status);
            }
        }
        self.status.is_some()
    }

    /// Kills what is left of the process group and reaps the `sh` process.
    fn finish(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            // Not reaped yet, so its pid (and process group id) cannot have been reused.
            kill_group(self.child.id());
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
        self.status
    }

    /// The exit status if the process ends within `wait`; whatever it
    /// started is then killed with its group, and it is reaped.
    fn exit_status_within(&mut self, wait: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + wait;
        loop {
            if self.has_exited() {
                return self.finish();
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(POLL);
        }
    }

    /// Kills the process group unless already done, and reaps the process.
    pub(super) fn kill_and_reap(&mut self) {
        self.finish();
    }

    /// Closes standard input and gives the process `grace` to exit; kills it
    /// after that. Anything left in its process group is killed either way.
    /// The exit status, or `None` when it had to be killed.
    pub(super) fn shutdown(&mut self) -> Option<ExitStatus> {
        // The writer thread closes standard input once it has nothing left to write.
        self.to_stdin = None;
        let status = self.exit_status_within(self.grace);
        if status.is_none() {
            self.kill_and_reap();
        }
        status
    }

    /// Gives the process up: finds out how it ended or kills it (its whole
    /// process group), and builds the error message.
    pub(super) fn fail(&mut self, failure: Failure) -> String {
        let (what, hint) = match failure {
            Failure::Gone { context, detail, input_closed } => {
                let detail = detail.map(|d| format!(" ({d})")).unwrap_or_default();
                match self.exit_status_within(EXIT_WAIT) {
                    Some(status) => (format!("{} {context}{detail}", describe_exit(status)), exit_hint(status)),
                    None => {
                        self.kill_and_reap();
                        let closed = if input_closed { "stopped reading its standard input" } else { "closed its standard output" };
                        (format!("{closed} {context}{detail} but kept running; it was killed"), HINT_EXITED)
                    }
                }
            }
            Failure::Silent { context } => {
                // A main process that has exited while its output stays open: something it
                // started holds the pipe. The whole group goes either way.
                let exited = self.has_exited();
                let status = self.finish();
                let note = match status {
                    Some(status) if exited => format!(
                        " (its main process {}, but a process it started kept its standard output open; the whole process group was killed)",
                        describe_exit(status)
                    ),
                    _ => String::new(),
                };
                (format!("printed nothing for {:?} {context}; it was killed{note}", self.timeout), HINT_SILENT)
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
    pub(super) fn message(&self, what: &str, hint: &str) -> String {
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
            // SAFETY: kill(2) takes plain integers and touches no memory of ours; `-pid`
            // names one process group, as `pid > 1` (checked above) keeps it from
            // meaning "our own group" (0) or "every process" (-1). The caller guarantees the child
            // is not reaped yet, so the group id is ours.
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
    // SAFETY: the signal set is a local, initialized by sigemptyset before it is
    // read (each step's success asserted); pthread_sigmask changes only this
    // thread's signal mask, and a null old-mask pointer is allowed.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        assert_eq!(libc::sigemptyset(&mut set), 0, "sigemptyset failed");
        assert_eq!(libc::sigaddset(&mut set, libc::SIGPIPE), 0, "sigaddset failed");
        assert_eq!(libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()), 0, "pthread_sigmask failed");
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
    lines_read: Arc<AtomicU64>,
) -> io::Result<()> {
    let write_events = events.clone();
    thread::Builder::new().name("seqcal-external-stdin".into()).spawn(move || write_batches(stdin, batches, write_events))?;
    thread::Builder::new().name("seqcal-external-stdout".into()).spawn(move || read_stdout(stdout, events, lines_read))?;
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

fn read_stdout(stdout: ChildStdout, events: Sender<Event>, lines_read: Arc<AtomicU64>) {
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
        lines_read.fetch_add(1, Ordering::SeqCst);
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
pub(super) fn read_line_capped(reader: &mut impl BufRead) -> io::Result<Option<String>> {
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
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How a process ended, in words: `exited with status 3`, `was killed by signal 9 (SIGKILL)`.
pub(super) fn describe_exit(status: ExitStatus) -> String {
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

/// What to do about a process that exited with `status`.
pub(super) fn exit_hint(status: ExitStatus) -> &'static str {
    match status.code() {
        Some(127) => "status 127 is the shell's \"command not found\": check the spelling of the command and that the program is on PATH",
        Some(126) => "status 126 is the shell's \"cannot execute\": make the file executable (chmod +x) or run it through its interpreter",
        Some(0) => "make the model keep answering batches until its standard input is closed",
        _ => HINT_EXITED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}

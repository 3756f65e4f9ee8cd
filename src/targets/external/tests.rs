//! External targets driven through real processes (`sh` and `python3`).
//! No assertion depends on how fast the machine is: waits are for events
//! (a file the model writes, a process ending, a line read), each polled
//! with a generous cap that fails the test when reached.

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use ndarray::{array, Array2};
use seqcal_api::{DensityError, LogDensity};
use tempfile::TempDir;

use super::*;
use crate::targets::PriorUse;

const GAUSSIAN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/external/gaussian_model.py");

/// How long an awaited event may take before the test fails.
const CAP: Duration = Duration::from_secs(60);

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

/// The message of an [`Error::Model`].
fn model_message<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Err(Error::Model { message, .. }) => message,
        Err(other) => panic!("expected a model error, got {other:?}"),
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

/// Polls `done` until it holds; false when [`CAP`] passes first.
fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + CAP;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
    true
}

/// The pid a model wrote into `path`, once it is there.
fn read_pid(path: &Path) -> u32 {
    assert!(wait_for(|| std::fs::read_to_string(path).is_ok_and(|s| s.ends_with('\n'))), "{} never written", path.display());
    std::fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

#[test]
fn target_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<ExternalTarget>();
}

#[test]
fn gaussian_example_batch_matches_the_exact_density() {
    let t = ExternalTarget::spawn(&gaussian_command(), ExternalOptions::default().with_dim(3)).unwrap();
    assert_eq!((t.dim(), t.version()), (3, 1));
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
    assert_eq!((out[4], out[6], out[8], out[9]), (f64::NEG_INFINITY, -1.5, f64::NEG_INFINITY, 2.5));
    assert_eq!(t.log_density(&[0.0]).unwrap(), f64::NEG_INFINITY);
    assert!(t.log_density(&[1.0]).unwrap_err().is_recoverable());
    assert!(t.log_density(&[3.0]).unwrap_err().is_recoverable());
    // The process is still alive and answering after rejections.
    assert_eq!(t.log_density(&[6.0]).unwrap(), -1.5);
    assert_eq!(t.evaluations(), 14);
    t.close().unwrap();
}

#[test]
fn handshake_problems_fail_at_spawn_and_kill_the_group() {
    let err = model_message(ExternalTarget::spawn(&gaussian_command(), ExternalOptions::default().with_dim(2)));
    assert!(err.contains("declares 3 parameters (a, b, c) in its handshake, but 2 were expected"), "{err}");

    // Something else than a handshake: the process and its child are killed, not waited for.
    let dir = TempDir::new().unwrap();
    let pidfile = dir.path().join("sleep.pid");
    let cmd = format!("sleep 600 & echo $! > '{}'; echo hello; echo oops >&2; wait", pidfile.display());
    let err = model_message(ExternalTarget::spawn(&cmd, ExternalOptions::default()));
    assert!(err.contains("printed 'hello' as its first line"), "{err}");
    assert!(err.contains("seqcal-target 1 DIM [NAME ...]"), "{err}");
    assert!(err.contains("| oops"), "{err}");
    let sleep_pid = read_pid(&pidfile);
    assert!(wait_for(|| process_gone(sleep_pid)), "the model's child (sleep, pid {sleep_pid}) must be killed");

    let err = model_message(ExternalTarget::spawn("echo 'seqcal-target 3 3'; cat >/dev/null", ExternalOptions::default()));
    assert!(err.contains("protocol version '3'"), "{err}");
    assert!(matches!(ExternalTarget::spawn("", ExternalOptions::default()), Err(Error::Usage(m)) if m.contains("command is empty")));
    assert!(
        matches!(ExternalTarget::spawn("true", ExternalOptions::default().with_timeout(Duration::ZERO)), Err(Error::Usage(m)) if m.contains("timeout"))
    );
}

#[test]
fn a_huge_declared_dimension_is_refused_before_allocating() {
    let err = model_message(ExternalTarget::spawn("echo 'seqcal-target 1 1000000000000'; cat >/dev/null", ExternalOptions::default()));
    assert!(
        err.contains(
            "declares 1000000000000 parameters in its handshake; holding that many needs at least 58.2 TiB of memory (64 bytes a parameter), more than the"
        ),
        "{err}"
    );
    assert!(err.contains("check the DIM"), "{err}");
    let err = model_message(ExternalTarget::spawn(
        "echo 'seqcal-target 2 5'; cat >/dev/null",
        ExternalOptions::default().with_max_dim(4, "four at most here"),
    ));
    assert!(err.contains("declares 5 parameters in its handshake; four at most here"), "{err}");
    // Through the sampling target: the memory an ensemble needs.
    let err = model_message(external("echo 'seqcal-target 1 100000000'; cat >/dev/null", Duration::from_secs(60)).map(|t| t.name));
    assert!(err.contains("sampling them needs at least 2 x DIM walkers"), "{err}");
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
    let msg = fatal_message(t.log_density_batch(array![[1.0, 1.0], [2.0, 2.0]].view()).unwrap_err());
    assert!(msg.contains("exited with status 3"), "{msg}");
    assert!(msg.contains("batch 3"), "{msg}");
    assert!(msg.contains("| model blew up: out of memory"), "{msg}");
    assert!(msg.contains("| loading mesh"), "{msg}");
    assert!(process_gone(t.id()));
    // Later calls fail with the same message, without sending anything.
    let again = fatal_message(t.log_density(&[0.0, 0.0]).unwrap_err());
    assert!(again.starts_with(&msg) && again.contains("later evaluations cannot run"), "{again}");
    assert_eq!(t.evaluations(), 3);
    assert!(matches!(t.close(), Err(Error::Model { message, .. }) if message == msg));
}

#[test]
fn silent_process_times_out_and_is_killed_with_its_children() {
    let dir = TempDir::new().unwrap();
    let pidfile = dir.path().join("sleep.pid");
    let cmd = format!("echo 'seqcal-target 1 1'; sleep 600 & echo $! > '{}'; wait", pidfile.display());
    let t = ExternalTarget::spawn(&cmd, ExternalOptions::default().with_timeout(Duration::from_millis(300))).unwrap();
    let sleep_pid = read_pid(&pidfile);
    let msg = fatal_message(t.log_density(&[0.5]).unwrap_err());
    assert!(msg.contains("printed nothing for 300ms while seqcal waited for line 1 of the answer to batch 1 (1 point); it was killed"), "{msg}");
    assert!(msg.contains("flush"), "{msg}");
    assert!(process_gone(t.id()), "the sh process must be killed and reaped");
    assert!(wait_for(|| process_gone(sleep_pid)), "its child (sleep, pid {sleep_pid}) must be killed too");
    assert!(t.log_density(&[0.5]).is_err());
}

#[test]
fn a_child_holding_standard_output_after_its_parent_exits_is_killed_on_timeout() {
    // The main process exits; a child it started keeps standard output (and
    // input) open, so no end of output ever comes.
    let dir = TempDir::new().unwrap();
    let pidfile = dir.path().join("child.pid");
    let cmd = format!("exec 3<&0; sleep 600 <&3 3<&- & echo $! > '{}'; echo 'seqcal-target 1 1'; exit 0", pidfile.display());
    let t = ExternalTarget::spawn(&cmd, ExternalOptions::default().with_timeout(Duration::from_millis(300))).unwrap();
    let child = read_pid(&pidfile);
    assert!(wait_for(|| process_gone(t.id())), "the main process exits by itself");
    assert!(!process_gone(child));
    let msg = fatal_message(t.log_density(&[0.5]).unwrap_err());
    assert!(msg.contains("printed nothing for 300ms"), "{msg}");
    assert!(msg.contains("its main process exited with status 0, but a process it started kept its standard output open"), "{msg}");
    assert!(wait_for(|| process_gone(child)), "the child (sleep, pid {child}) must be killed");
}

#[test]
fn a_child_holding_standard_output_is_killed_after_a_protocol_error_and_at_close() {
    let dir = TempDir::new().unwrap();
    let pidfile = dir.path().join("child.pid");
    let cmd = format!("sleep 600 & echo $! > '{}'; echo 'seqcal-target 1 1'; read n; read x; echo abc; exit 0", pidfile.display());
    let t = ExternalTarget::spawn(&cmd, ExternalOptions::default()).unwrap();
    let child = read_pid(&pidfile);
    let msg = fatal_message(t.log_density(&[0.5]).unwrap_err());
    assert!(msg.contains("'abc' is not a number"), "{msg}");
    assert!(wait_for(|| process_gone(child)), "the child (sleep, pid {child}) must be killed after the fatal error");

    // A clean exit that leaves a child behind: close kills it.
    let pidfile = dir.path().join("left.pid");
    let cmd = format!("sleep 600 & echo $! > '{}'; echo 'seqcal-target 1 1'; cat >/dev/null", pidfile.display());
    let t = ExternalTarget::spawn(&cmd, ExternalOptions::default()).unwrap();
    let child = read_pid(&pidfile);
    t.close().unwrap();
    assert!(wait_for(|| process_gone(child)), "the child (sleep, pid {child}) must be killed at close");
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
    // Handshake, answer, extra line: once all three are read, the extra one is waiting.
    assert!(wait_for(|| t.lines_read() == 3), "read {} lines", t.lines_read());
    let msg = fatal_message(t.log_density(&[0.0]).unwrap_err());
    assert!(msg.contains("printed 'debug: done' before batch 2 was sent"), "{msg}");
}

#[test]
fn missing_command_fails_at_spawn_with_status_127() {
    let err = model_message(ExternalTarget::spawn("nosuchcommand_seqcal_test --flag", ExternalOptions::default()));
    assert!(err.contains("exited with status 127 before printing its handshake line"), "{err}");
    assert!(err.contains("command not found"), "{err}");
    // The shell's own complaint, quoted from standard error.
    assert!(err.lines().any(|l| l.starts_with("    | ") && l.contains("nosuchcommand_seqcal_test") && l.contains("not found")), "{err}");
}

#[test]
fn drop_kills_a_process_that_ignores_end_of_input() {
    let t =
        ExternalTarget::spawn("echo 'seqcal-target 1 1'; exec sleep 600", ExternalOptions::default().with_grace(Duration::from_millis(200))).unwrap();
    let pid = t.id();
    assert!(!process_gone(pid));
    drop(t);
    assert!(process_gone(pid), "pid {pid} must be killed and reaped");
}

#[test]
fn close_reports_how_the_process_ended() {
    let t = ExternalTarget::spawn("echo 'seqcal-target 1 1'; cat >/dev/null; echo 'bye' >&2; exit 4", ExternalOptions::default()).unwrap();
    let pid = t.id();
    match t.close() {
        Err(Error::Model { message, .. }) => {
            assert!(message.contains("exited with status 4 after its standard input was closed") && message.contains("| bye"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(process_gone(pid));
    let t =
        ExternalTarget::spawn("echo 'seqcal-target 1 1'; exec sleep 600", ExternalOptions::default().with_grace(Duration::from_millis(100))).unwrap();
    match t.close() {
        Err(Error::Model { message, .. }) => assert!(message.contains("did not exit within 100ms"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn writing_to_a_closed_input_fails_cleanly_in_a_host_that_does_not_ignore_sigpipe() {
    if let Some(marker) = std::env::var_os("SEQCAL_TEST_SIGPIPE_CHILD") {
        // In the child test process: the default SIGPIPE disposition kills the process on a write
        // to a pipe without reader, unless the writer thread blocks the signal.
        // SAFETY: setting a signal disposition to SIG_DFL (no handler of ours), in a
        // process running this test alone; its success asserted.
        unsafe {
            assert_ne!(libc::signal(libc::SIGPIPE, libc::SIG_DFL), libc::SIG_ERR, "signal(SIGPIPE) failed");
        }
        let marker = Path::new(&marker);
        let cmd = format!("echo 'seqcal-target 1 1'; exec 0<&-; echo closed > '{}'; exec sleep 600", marker.display());
        let t = ExternalTarget::spawn(&cmd, ExternalOptions::default()).unwrap();
        assert!(wait_for(|| marker.exists()), "the model never closed its input");
        let msg = fatal_message(t.log_density(&[0.0]).unwrap_err());
        assert!(msg.contains("stopped reading its standard input") && msg.contains("Broken pipe"), "{msg}");
        return;
    }
    let dir = TempDir::new().unwrap();
    let name = "targets::external::tests::writing_to_a_closed_input_fails_cleanly_in_a_host_that_does_not_ignore_sigpipe";
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1"])
        .env("SEQCAL_TEST_SIGPIPE_CHILD", dir.path().join("closed"))
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
fn numbers_are_written_to_round_trip() {
    // The batch format relies on `{:?}` printing the shortest exact representation.
    for x in [0.1, 1.0 / 3.0, -2.5e-8, 1e21, 5e-324, f64::MAX, -0.0, 123456789.125] {
        let text = format!("{x:?}");
        assert_eq!(text.parse::<f64>().unwrap().to_bits(), x.to_bits(), "{text}");
        assert!(!text.contains(['_', ',']), "{text}");
    }
}

#[test]
fn a_version_2_model_is_stored_on_its_declared_scales() {
    let dir = TempDir::new().unwrap();
    // Receives (mu, log_sigma, logit_eff); answers their sum so the test sees what was sent.
    let cmd = python(
        &dir,
        "handshake('seqcal-target 2 3 mu log_sigma=sigma(0,inf) logit_eff=eff(0,1)')\nfor batch in batches():\n    answer([repr(sum(p)) for p in batch])\n",
    );
    let target = external(&cmd, Duration::from_secs(60)).unwrap();
    assert_eq!(target.space.names(), ["mu", "sigma", "eff"]);
    assert_eq!(target.space.bounds(), [(f64::NEG_INFINITY, f64::INFINITY), (0.0, f64::INFINITY), (0.0, 1.0)]);
    assert_eq!(target.prior_use, PriorUse::Multiplies);
    let tr = target.transform.clone().expect("a constrained parameter gives a transform");
    assert_eq!(tr.sampler_names(), ["mu", "log_sigma", "logit_eff"]);
    let mut theta = [0.0; 3];
    tr.constrain(&[0.5, 2f64.ln(), 0.0], &mut theta);
    assert_eq!(theta, [0.5, 2.0, 0.5]);
    // The model receives the sampler's coordinates.
    assert_eq!(target.likelihood.log_density(&[0.5, 1.0, -2.0]).unwrap(), -0.5);

    // A prior on the stored parameters is pulled back: prior(T(u)) + log|J(u)|.
    let mut target = target;
    let space = ParamSpace::new(vec!["mu".into(), "sigma".into(), "eff".into()], vec![(-1.0, 1.0), (0.0, 4.0), (0.0, 1.0)]).unwrap();
    target.set_prior(Box::new(crate::prior::UniformBox::new(space).unwrap())).unwrap();
    let prior = target.prior.as_ref().unwrap();
    assert_eq!(prior.names(), ["mu", "log_sigma", "logit_eff"]);
    let u = [0.25, 1f64.ln(), 0.0];
    let want = -(2.0f64 * 4.0).ln() + 0.0 + (0.25f64 * 1.0).ln() * 1.0; // 1/(2*4*1) x sigma x eff(1-eff)
    assert!((prior.log_prob(&u) - want).abs() < 1e-12, "{} vs {want}", prior.log_prob(&u));
    assert_eq!(prior.log_prob(&[0.0, 5f64.ln(), 0.0]), f64::NEG_INFINITY, "sigma = 5 is outside the prior");

    // Version 1 and undeclared version 2 parameters are stored as sent, without a transform.
    let t = external(&gaussian_command(), Duration::from_secs(60)).unwrap();
    assert!(t.transform.is_none());
    assert_eq!(t.space.names(), ["a", "b", "c"]);
}

#[test]
fn a_model_crashing_during_sampling_is_a_density_error_not_a_usage_error() {
    use crate::sampler::ensemble::{parse_moves, Ensemble, EnsembleSettings};
    use crate::sampler::Posterior;

    let dir = TempDir::new().unwrap();
    let cmd = python(&dir, "handshake('seqcal-target 1 1')\nfor k, batch in enumerate(batches()):\n    if k == 3:\n        sys.exit(5)\n    answer([-0.5 * p[0] ** 2 for p in batch])\n");
    let target = external(&cmd, Duration::from_secs(60)).unwrap();
    let posterior = Posterior::new(None, target.likelihood, 1.0);
    let settings = EnsembleSettings { walkers: 4, moves: parse_moves("stretch").unwrap() };
    let x0 = Array2::from_shape_fn((4, 1), |(i, _)| i as f64 - 1.5);
    let mut ens = Ensemble::new(x0, &posterior, &settings, 1).unwrap();
    let err = (0..10).find_map(|_| ens.step(&posterior).err()).expect("the model dies at its fourth batch");
    match err {
        Error::Density(DensityError::Fatal(m)) => assert!(m.contains("exited with status 5"), "{m}"),
        other => panic!("expected Error::Density, got {other:?}"),
    }
}

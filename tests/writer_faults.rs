//! Faults around `seqcal sample`'s chain file, through the real binary: two
//! writers on one output, Ctrl-C then `--resume`, a full disk (a file size
//! limit), a closed output pipe, damaged or foreign sampler states, sizes too
//! large for memory, the umask, a failed first evaluation, warnings in the
//! JSON summary. Events are files and exit statuses, never elapsed time.

#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{fails, succeeds};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("seqcal")
}

/// Every stored array of a chain, bit for bit.
fn arrays(path: &Path) -> Vec<Vec<u64>> {
    let c = seqcal::chain::read_hdf5(path).unwrap();
    let bits = |a: &ndarray::Array2<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    vec![
        c.draws.iter().map(|v| v.to_bits()).collect(),
        c.log_prob.as_ref().map(bits).unwrap_or_default(),
        c.log_likelihood.as_ref().map(bits).unwrap_or_default(),
        c.accepted.iter().map(|v| v.to_bits()).collect(),
    ]
}

/// Rows flushed to `path` so far (0 while it does not exist or is being created).
fn rows_on_disk(path: &Path) -> usize {
    seqcal::chain::ChainReader::open(path).map(|r| r.header().iterations).unwrap_or(0)
}

/// Waits (polling, no deadline) until `done` holds while `child` still runs,
/// then freezes the child with SIGSTOP; true if `done` held before the child
/// exited. The caller sends its signal to the frozen child and resumes it with
/// SIGCONT, so no progress is made between the check and the signal.
fn wait_for(child: &mut std::process::Child, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if done() {
            signal(child, libc::SIGSTOP);
            return child.try_wait().unwrap().is_none();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn signal(child: &std::process::Child, sig: i32) {
    let pid = i32::try_from(child.id()).expect("a process id fits a pid_t");
    // 0 and -1 would signal our own group or every process we may signal.
    assert!(pid > 0, "kill of pid {pid}");
    // SAFETY: kill(2) on a child we spawned and have not reaped, named by its
    // positive pid (asserted above); it touches no memory of ours.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

#[test]
fn a_second_writer_on_one_output_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.h5");
    let mut first = Command::new(bin())
        .args([
            "sample",
            "--target",
            "gaussian:dim=3",
            "--walkers",
            "8",
            "--steps",
            "2000000",
            "--checkpoint-every",
            "10",
            "--force",
            "-q",
            "-o",
            s(&out),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(&mut first, || rows_on_disk(&out) > 0), "the first writer stopped before writing");
    signal(&first, libc::SIGCONT);
    let err = fails(&["sample", "--target", "gaussian:dim=3", "--walkers", "8", "--steps", "100", "--force", "-q", "-o", s(&out)]);
    assert!(err.contains(&format!("pid {}", first.id())) && err.contains("c.h5"), "{err}");
    // The refused writer touched nothing: the first one's file keeps growing.
    let rows = rows_on_disk(&out);
    assert!(wait_for(&mut first, || rows_on_disk(&out) > rows), "the first writer stopped");
    first.kill().unwrap();
    first.wait().unwrap();
    // Once the holder is gone, the output is free again.
    succeeds(&["sample", "--target", "gaussian:dim=3", "--walkers", "8", "--steps", "50", "--force", "-q", "-o", s(&out)]);
    assert!(!dir.path().join(".c.h5.lock").exists());
}

#[test]
fn ctrl_c_then_resume_gives_the_uninterrupted_chain() {
    let dir = tempfile::tempdir().unwrap();
    let args = |out: &Path| -> Vec<String> {
        [
            "sample",
            "--target",
            "correlated_gaussian",
            "--moves",
            "stretch:0.7,de:0.3",
            "--walkers",
            "16",
            "--steps",
            "30000",
            "--seed",
            "21",
            "--checkpoint-every",
            "40",
            "-q",
            "-o",
            s(out),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let full = dir.path().join("full.h5");
    let a = args(&full);
    succeeds(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let reference = arrays(&full);
    // SIGINT once the file holds at least this many rows: early, in the middle, late.
    for (trial, after) in [40usize, 3000, 8000, 15000, 22000].into_iter().enumerate() {
        let out = dir.path().join(format!("int{trial}.h5"));
        // The signal must reach the run in its sampling loop. A run seen only
        // after its last flush (a fast run outpaces the polling), or whose
        // signal came after sampling, tested nothing: it must have finished,
        // and it is run again, at most 20 times.
        let mut attempt = 0;
        let stderr = loop {
            attempt += 1;
            let _ = std::fs::remove_file(&out);
            let mut child = Command::new(bin()).args(args(&out)).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
            if wait_for(&mut child, || rows_on_disk(&out) >= after) {
                signal(&child, libc::SIGINT);
                signal(&child, libc::SIGCONT);
            }
            let o = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
            if o.status.code() == Some(130) {
                break stderr;
            }
            assert!(o.status.success() || o.status.signal() == Some(libc::SIGINT), "trial {trial}: {:?}: {stderr}", o.status);
            assert_eq!(rows_on_disk(&out), 30000, "trial {trial}: a run neither interrupted nor complete: {stderr}");
            assert!(attempt < 20, "trial {trial}: in 20 runs none was caught sampling after {after} rows");
        };
        assert!(stderr.contains("interrupted") && stderr.contains("--resume"), "trial {trial}: {stderr}");
        // Every row made is on disk, with the state of that same iteration.
        let r = seqcal::chain::ChainReader::open(&out).unwrap();
        let st = r.sampler_state().unwrap().expect("a state");
        assert_eq!(st.iteration, r.header().iterations, "trial {trial}");
        assert!(st.iteration >= after && st.iteration < 30000, "trial {trial}: stopped at {}", st.iteration);
        drop(r);
        let mut resume = args(&out);
        resume.push("--resume".into());
        succeeds(&resume.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(arrays(&out) == reference, "trial {trial}: the resumed chain differs from the uninterrupted one");
    }
}

/// `seqcal sample` with the file size limited to `limit` bytes (RLIMIT_FSIZE).
fn sample_with_size_limit(args: &[&str], limit: u64) -> std::process::Output {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    assert!(libc::rlim_t::try_from(limit).is_ok(), "size limit {limit}");
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: it calls setrlimit(2) and
    // last_os_error (errno), both async-signal-safe, and allocates nothing; the
    // limit fits rlim_t (asserted above).
    unsafe {
        cmd.pre_exec(move || {
            let r = libc::rlimit { rlim_cur: limit as libc::rlim_t, rlim_max: limit as libc::rlim_t };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[test]
fn a_full_disk_keeps_the_rows_written_before_readable_and_resumable() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.h5");
    let common = ["sample", "--target", "gaussian:dim=6", "--walkers", "32", "--steps", "4000", "--seed", "4", "--checkpoint-every", "100", "-q"];
    let with = |out: &Path| -> Vec<String> { common.iter().map(|a| a.to_string()).chain(["-o".to_string(), s(out).to_string()]).collect() };
    succeeds(&with(&full).iter().map(String::as_str).collect::<Vec<_>>());
    let size = std::fs::metadata(&full).unwrap().len();
    let reference = seqcal::chain::read_hdf5(&full).unwrap();

    let cut = dir.path().join("cut.h5");
    let o = sample_with_size_limit(&with(&cut).iter().map(String::as_str).collect::<Vec<_>>(), size / 2);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "expected a clean failure: {stderr}");
    assert!(stderr.contains("file size limit") && stderr.contains("kept"), "{stderr}");
    // The rows flushed before are readable and are the uninterrupted run's.
    let c = seqcal::chain::read_hdf5(&cut).unwrap();
    let n = c.iterations();
    assert!(n > 0 && n < 4000 && n % 100 == 0, "{n} rows");
    assert!(c.draws == reference.draws.slice(ndarray::s![..n, .., ..]), "the kept rows differ");
    assert_eq!(c.log_prob.as_ref().unwrap(), &reference.log_prob.as_ref().unwrap().slice(ndarray::s![..n, ..]));
    let info = succeeds(&["chain", "info", s(&cut)]);
    assert!(info.contains("INCOMPLETE"), "{info}");
    // With room again, --resume completes it to the uninterrupted chain.
    let mut resume = with(&cut);
    resume.push("--resume".into());
    succeeds(&resume.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(arrays(&cut) == arrays(&full), "the resumed chain differs");
}

#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.h5");
    succeeds(&["sample", "--target", "gaussian:dim=3", "--walkers", "8", "--steps", "50", "-q", "-o", s(&out)]);
    for args in [vec!["chain", "info", s(&out)], vec!["chain", "info", s(&out), "--json"], vec!["sample", "--list-targets"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = Command::new(bin()).args(&args).stdout(writer).stderr(Stdio::piped()).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(o.status.code() == Some(0) || o.status.signal() == Some(libc::SIGPIPE), "{args:?}: {:?} {stderr}", o.status);
    }
}

/// Rewrites the sampler state of `path` with `edit` (the group `mcmc/sampler_state`).
fn edit_state(path: &Path, edit: impl FnOnce(&hdf5::Group)) {
    let f = hdf5::File::open_rw(path).unwrap();
    edit(&f.group("mcmc/sampler_state").unwrap());
    f.close().unwrap();
}

#[test]
fn resume_refuses_damaged_inconsistent_or_foreign_states() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.h5");
    let args = |out: &Path| -> Vec<String> {
        ["sample", "--target", "gaussian:dim=3", "--walkers", "8", "--steps", "60", "--seed", "2", "--checkpoint-every", "10", "-q", "-o", s(out)]
            .iter()
            .map(|a| a.to_string())
            .collect()
    };
    succeeds(&args(&good).iter().map(String::as_str).collect::<Vec<_>>());
    let no_checksum = |g: &hdf5::Group| g.delete_attr("checksum").unwrap();
    type Edit = Box<dyn Fn(&hdf5::Group)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "damaged",
            Box::new(|g: &hdf5::Group| {
                let p: ndarray::Array2<f64> = g.dataset("positions").unwrap().read_2d().unwrap();
                g.unlink("positions").unwrap();
                g.new_dataset_builder().with_data(&p.slice(ndarray::s![..7, ..])).create("positions").unwrap();
            }),
            "damaged or truncated",
        ),
        (
            "truncated",
            Box::new(move |g: &hdf5::Group| {
                no_checksum(g);
                g.unlink("rng").unwrap();
            }),
            "damaged or truncated",
        ),
        (
            "walkers",
            Box::new(move |g: &hdf5::Group| {
                no_checksum(g);
                let p: ndarray::Array2<f64> = g.dataset("positions").unwrap().read_2d().unwrap();
                g.unlink("positions").unwrap();
                g.new_dataset_builder().with_data(&p.slice(ndarray::s![..7, ..])).create("positions").unwrap();
            }),
            "7 positions",
        ),
        (
            "rows",
            Box::new(move |g: &hdf5::Group| {
                no_checksum(g);
                g.attr("iteration").unwrap().write_scalar(&1000i64).unwrap();
            }),
            "iteration 1000",
        ),
        (
            "mismatch",
            Box::new(move |g: &hdf5::Group| {
                no_checksum(g);
                let mut p: ndarray::Array2<f64> = g.dataset("positions").unwrap().read_2d().unwrap();
                p[[3, 1]] += 0.5;
                g.dataset("positions").unwrap().write(&p).unwrap();
            }),
            "does not match the chain",
        ),
        (
            "foreign",
            Box::new(move |g: &hdf5::Group| {
                no_checksum(g);
                g.delete_attr("kind").unwrap();
                let v: hdf5::types::VarLenUnicode = "smc-v1".parse().unwrap();
                g.new_attr::<hdf5::types::VarLenUnicode>().shape(()).create("kind").unwrap().write_scalar(&v).unwrap();
            }),
            "\"smc-v1\"",
        ),
    ];
    for (name, edit, needle) in cases {
        let f = dir.path().join(format!("{name}.h5"));
        std::fs::copy(&good, &f).unwrap();
        edit_state(&f, edit);
        let before = std::fs::read(&f).unwrap();
        let mut a = args(&f);
        a.push("--resume".into());
        let err = fails(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(err.contains(needle) && err.contains("cannot resume"), "{name}: {err}");
        assert_eq!(std::fs::read(&f).unwrap(), before, "{name}: a refused resume changed the file");
    }
    // A file cut short is no HDF5 file at all.
    let cut = dir.path().join("cut.h5");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let mut a = args(&cut);
    a.push("--resume".into());
    let err = fails(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("not a readable HDF5 file"), "{err}");
}

/// A chain file whose attributes claim `walkers` walkers and `rows` rows of
/// three parameters; the datasets hold no data (HDF5 allocates none).
fn claimed_chain(path: &Path, walkers: usize, rows: usize) {
    let f = hdf5::File::create(path).unwrap();
    let g = f.create_group("mcmc").unwrap();
    for (k, v) in [("nwalkers", walkers as i64), ("ndim", 3), ("iteration", rows as i64)] {
        g.new_attr::<i64>().shape(()).create(k).unwrap().write_scalar(&v).unwrap();
    }
    if walkers < 1 << 20 {
        g.new_dataset::<f64>().chunk((1, walkers, 3)).shape((rows, walkers, 3)).create("chain").unwrap();
        g.new_dataset::<f64>().chunk((1, walkers)).shape((rows, walkers)).create("log_prob").unwrap();
        g.new_dataset::<f64>().shape(walkers).create("accepted").unwrap();
    }
    f.close().unwrap();
}

#[test]
fn sizes_too_large_for_memory_are_refused_with_what_they_need() {
    let dir = tempfile::tempdir().unwrap();
    let prior = dir.path().join("p.toml");
    std::fs::write(&prior, "kind = \"uniform\"\nnames = [\"a\", \"b\"]\nbounds = [[0, 1], [0, 1]]\n").unwrap();
    let huge_rows = dir.path().join("rows.h5");
    claimed_chain(&huge_rows, 16, 1 << 40);
    let huge_walkers = dir.path().join("walkers.h5");
    claimed_chain(&huge_walkers, 1 << 60, 10);
    let cases: Vec<Vec<&str>> = vec![
        vec!["sample", "--target", "gaussian:dim=3", "--walkers", "8", "--steps", "1000000000000000", "-q"],
        vec!["sample", "--target", "gaussian:dim=3", "--walkers", "100000000000000", "--steps", "10", "-q"],
        vec!["sample", "--target", "gaussian:dim=1000000000", "--steps", "10", "-q"],
        vec!["prior", "sample", "--config", s(&prior), "-n", "10000000000000000", "-o", "never.h5"],
        vec!["compare", s(&huge_rows), s(&huge_rows)],
        vec!["chain", "info", s(&huge_walkers)],
    ];
    for args in cases {
        let err = fails(&args);
        assert!(err.contains("would need about") && err.contains("of memory"), "{args:?}: {err}");
    }
    assert!(!Path::new("never.h5").exists());
}

#[test]
fn files_are_written_with_the_users_umask() {
    let dir = tempfile::tempdir().unwrap();
    for (mask, mode) in [(0o027, 0o640), (0o002, 0o664)] {
        let out = dir.path().join(format!("u{mask:o}.h5"));
        let mut cmd = Command::new(bin());
        cmd.args(["sample", "--target", "gaussian:dim=2", "--walkers", "8", "--steps", "20", "-q", "-o", s(&out)]);
        assert_eq!(mask & !0o777, 0, "umask {mask:o}");
        // SAFETY: the closure runs in the child between fork and exec, where only
        // async-signal-safe calls are allowed: umask(2) is one, and it allocates
        // nothing; the mask holds permission bits only (asserted above).
        unsafe {
            cmd.pre_exec(move || {
                libc::umask(mask);
                Ok(())
            });
        }
        assert!(cmd.status().unwrap().success());
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, mode, "umask {mask:o}");
    }
}

#[test]
fn burn_not_below_steps_is_refused_and_a_constant_chain_matches_itself() {
    let err = fails(&["sample", "--target", "gaussian:dim=2", "--walkers", "8", "--steps", "100", "--burn", "100", "-q"]);
    assert!(err.contains("--burn 100 is not below --steps 100"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c.csv");
    let rows: String = (0..40).map(|i| format!("2.5,{}\n", (i * 7 % 13) as f64)).collect();
    std::fs::write(&c, format!("a,b\n{rows}")).unwrap();
    let j: Value = serde_json::from_str(&succeeds(&["compare", s(&c), s(&c), "--json"])).unwrap();
    assert!(j["verdict"].as_str().unwrap().starts_with("consistent"), "{}", j["verdict"]);
}

/// A 2-D standard normal with a far, tiny, narrow mode (log weight -45, sd 0.1 at (21, 21),
/// its peak 40 nats below the bulk's), as an external model in awk; points with
/// x1 < -`reject` are answered `nan` (the model cannot evaluate them).
fn minor_mode_model(dir: &Path, reject: f64) -> String {
    let script = dir.join("model.sh");
    std::fs::write(
        &script,
        format!(
            r#"echo "seqcal-target 1 2 x0 x1"
# mawk reads its input in blocks unless told to read it line by line.
opt=; awk -W version 2>/dev/null | grep -q mawk && opt="-W interactive"
exec awk $opt -v rej={reject} 'BEGIN {{ need = 0; l2pi = log(2 * 3.141592653589793) }}
need == 0 {{ need = $1 + 0; next }}
{{
  if ($2 < -rej) {{ print "nan" }} else {{
    a = -0.5 * ($1 * $1 + $2 * $2) - l2pi
    b = -45 - l2pi - 2 * log(0.1) - 0.5 * (($1 - 21) ^ 2 + ($2 - 21) ^ 2) / 0.01
    m = (a > b) ? a : b
    printf "%.17g\n", m + log(exp(a - m) + exp(b - m))
  }}
  need--
  if (need == 0) fflush()
}}'
"#
        ),
    )
    .unwrap();
    format!("cmd:sh {}", script.display())
}

#[test]
fn warnings_reach_the_json_summary() {
    let dir = tempfile::tempdir().unwrap();
    // 28 walkers in the bulk, 4 in the far minor mode.
    let init = dir.path().join("init.csv");
    let mut text = String::from("x0,x1\n");
    for k in 0..32 {
        let (c, sd) = if k < 4 { (21.0, 0.05) } else { (0.0, 1.0) };
        text.push_str(&format!("{},{}\n", c + sd * ((k * 37 % 17) as f64 / 8.0 - 1.0), c + sd * ((k * 53 % 19) as f64 / 9.0 - 1.0)));
    }
    std::fs::write(&init, text).unwrap();
    let model = minor_mode_model(dir.path(), 3.0);
    let j: Value = serde_json::from_str(&succeeds(&[
        "sample",
        "--target",
        &model,
        "--init",
        s(&init),
        "--walkers",
        "32",
        "--steps",
        "400",
        "--seed",
        "1",
        "--json",
        "-q",
        "--relocate-stuck",
        "0",
    ]))
    .unwrap();
    let warnings: Vec<&str> = j["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert!(j["stuck_walkers"].as_u64().unwrap() >= 1, "{j}");
    assert!(warnings.iter().any(|w| w.contains("stranded")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("evaluations failed")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("50 autocorrelation times")), "{warnings:?}");
    // By default the stranded walkers are moved onto others during burn-in (the first 10%).
    let j: Value = serde_json::from_str(&succeeds(&[
        "sample",
        "--target",
        &model,
        "--init",
        s(&init),
        "--walkers",
        "32",
        "--steps",
        "1000",
        "--seed",
        "1",
        "--json",
        "-q",
    ]))
    .unwrap();
    assert_eq!((j["relocated_walkers"].as_u64(), j["stuck_walkers"].as_u64()), (Some(4), Some(0)), "{j}");
    assert!(!j["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("stranded")), "{}", j["warnings"]);
    // A well-behaved run carries none.
    let j: Value =
        serde_json::from_str(&succeeds(&["sample", "--target", "gaussian:dim=2", "--walkers", "16", "--steps", "8000", "--json", "-q"])).unwrap();
    assert_eq!(j["warnings"].as_array().unwrap().len(), 0, "{}", j["warnings"]);
}

#[test]
fn a_run_failing_at_its_first_evaluation_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let prior = dir.path().join("p.toml");
    std::fs::write(&prior, "kind = \"uniform\"\nnames = [\"x0\", \"x1\"]\nbounds = [[0, 1], [0, 1]]\n").unwrap();
    let out = dir.path().join("x.h5");
    // The model shakes hands, then exits instead of answering.
    let args = ["sample", "--target", "cmd:echo seqcal-target 1 2", "--prior", s(&prior), "--walkers", "8", "--steps", "10", "-q", "-o", s(&out)];
    let first = fails(&args);
    assert!(!out.exists(), "a failed first evaluation left {}", out.display());
    let second = fails(&args);
    assert!(!second.contains("exists"), "{second}");
    assert!(first.contains("the log density failed") && second.contains("the log density failed"), "{first}\n{second}");
}

//! `seqcal sample --sampler smc` through the executor, driving the binary:
//! the chain file holds the weighted final particles and the `smc` group,
//! the `--json` summary the evidence and the ladder, the same seed gives the
//! same bytes whatever the thread count, and flags of another sampler are
//! refused with one message.

mod common;

use std::path::Path;

use common::{fails, succeeds};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn smc(out: &Path, threads: &str) -> Value {
    let text = succeeds(&[
        "sample",
        "--target",
        "gaussian:dim=2",
        "--sampler",
        "smc",
        "--particles",
        "200",
        "--seed",
        "3",
        "--threads",
        threads,
        "-o",
        s(out),
        "--json",
    ]);
    serde_json::from_str(&text).unwrap()
}

#[test]
fn smc_writes_weighted_particles_the_smc_group_and_the_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("smc.h5");
    let j = smc(&out, "1");
    assert_eq!(j["sampler"], "smc");
    assert_eq!(j["walkers"], 200);
    let (z, e, truth) = (j["log_z"].as_f64().unwrap(), j["log_z_err"].as_f64().unwrap(), j["log_z_true"].as_f64().unwrap());
    assert!(e > 0.0 && (z - truth).abs() <= 3.0 * e && (z - truth).abs() <= 0.1, "log Z {z} +- {e}, known {truth}");
    let t: Vec<f64> = j["temperatures"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(t.len() >= 2 && t[0] == 0.0 && *t.last().unwrap() == 1.0 && t.windows(2).all(|w| w[0] < w[1]), "{t:?}");
    assert!(j["likelihood_calls"].as_f64().unwrap() >= 200.0 * (t.len() - 1) as f64);
    assert!(j["last_step"]["temperature"] == 1.0, "{}", j["last_step"]);
    let c = seqcal::chain::read_hdf5(&out).unwrap();
    assert_eq!(c.draws.dim(), (1, 200, 2));
    let w = c.weights.expect("a weights dataset");
    assert!(w.iter().all(|v| v.is_finite() && *v >= 0.0) && w.sum() > 0.0);
    assert_eq!(c.attrs["sampler"], "smc");
    assert_eq!(c.attrs["log_z"].parse::<f64>().unwrap(), z);
    let f = hdf5::File::open(&out).unwrap();
    let g = f.group("mcmc/smc").unwrap();
    let ladder: Vec<f64> = g.dataset("temperatures").unwrap().read_raw().unwrap();
    assert_eq!(ladder, t);
    assert_eq!(g.attr("log_z").unwrap().read_scalar::<f64>().unwrap(), z);
    // The weighted means the summary reports are those of the stored particles.
    let mean0: f64 = c.draws.slice(ndarray::s![0, .., 0]).iter().zip(w.row(0)).map(|(x, w)| x * w).sum::<f64>() / w.sum();
    assert!((mean0 - j["mean"][0].as_f64().unwrap()).abs() < 1e-12);
}

#[test]
fn smc_is_the_same_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.h5"), dir.path().join("b.h5"));
    let (ja, jb) = (smc(&a, "1"), smc(&b, "2"));
    assert_eq!(ja["log_z"], jb["log_z"]);
    assert_eq!(ja["temperatures"], jb["temperatures"]);
    let (ca, cb) = (seqcal::chain::read_hdf5(&a).unwrap(), seqcal::chain::read_hdf5(&b).unwrap());
    assert_eq!(ca.draws, cb.draws);
    assert_eq!(ca.weights, cb.weights);
}

#[test]
fn flags_and_keys_of_another_sampler_are_refused() {
    let e = fails(&["sample", "--target", "gaussian:dim=2", "--sampler", "smc", "--walkers", "8"]);
    assert!(e.contains("`walkers` (--walkers) does not apply to this sampler"), "{e}");
    let e = fails(&["sample", "--target", "gaussian:dim=2", "--particles", "100"]);
    assert!(e.contains("`particles` (--particles) does not apply"), "{e}");
    let e = fails(&["sample", "--target", "gaussian:dim=2", "--sampler", "smc", "--target-ess", "1.5"]);
    assert!(e.contains("target_ess must lie in (0, 1), got 1.5"), "{e}");
    let e = fails(&["sample", "--target", "gaussian:dim=2", "--sampler", "hmc"]);
    assert!(e.contains("unknown sampler \"hmc\"; samplers: ensemble, smc"), "{e}");
}

/// The stored sampler state's iteration and whether the file says it is
/// complete, or `None` while the file is missing or being written.
fn checkpoint(path: &Path) -> Option<(usize, Option<bool>)> {
    let r = seqcal::chain::ChainReader::open(path).ok()?;
    let complete = r.header().complete;
    let st = r.sampler_state().ok()??;
    Some((st.iteration, complete))
}

/// The `smc` group's ladder, calls and log Z.
fn smc_group(path: &Path) -> (Vec<f64>, Vec<f64>, f64, f64) {
    let f = hdf5::File::open(path).unwrap();
    let g = f.group("mcmc/smc").unwrap();
    let arr = |n: &str| -> Vec<f64> { g.dataset(n).unwrap().read_raw().unwrap() };
    let sc = |n: &str| -> f64 { g.attr(n).unwrap().read_scalar::<f64>().unwrap() };
    (arr("temperatures"), arr("calls"), sc("log_z"), sc("log_z_err"))
}

#[test]
fn a_killed_smc_run_resumes_to_the_same_result() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let (full, killed) = (dir.path().join("full.h5"), dir.path().join("killed.h5"));
    let common = [
        "sample",
        "--target",
        "gaussian_shells:dim=10",
        "--sampler",
        "smc",
        "--particles",
        "400",
        "--seed",
        "4",
        "--checkpoint-every",
        "1",
        "--quiet",
    ];
    let mut a: Vec<&str> = common.to_vec();
    a.extend(["-o", s(&full)]);
    succeeds(&a);
    let steps = smc_group(&full).0.len();
    // The same run, killed with SIGKILL once its file holds the state after
    // two temperatures and still says it is incomplete.
    let bin = assert_cmd::cargo::cargo_bin("seqcal");
    let mut child =
        std::process::Command::new(bin).args(common).args(["-o", s(&killed)]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let seen = loop {
        if let Some((it, complete)) = checkpoint(&killed) {
            if it >= 3 {
                assert_eq!(complete, Some(false), "a running chain must say it is incomplete");
                break it;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "the run was not killed by SIGKILL: {status}");
    let (it, complete) = checkpoint(&killed).expect("the killed chain holds a sampler state");
    assert_eq!(complete, Some(false), "the killed chain looks complete");
    assert!(it >= seen && it < steps, "killed after step {it} (seen {seen}) of {steps}");

    let mut r: Vec<&str> = common.to_vec();
    r.extend(["-o", s(&killed), "--resume"]);
    succeeds(&r);
    let (x, y) = (seqcal::chain::read_hdf5(&full).unwrap(), seqcal::chain::read_hdf5(&killed).unwrap());
    assert!(x.draws == y.draws, "killed-then-resumed particles differ (killed after step {it})");
    assert_eq!(x.weights, y.weights);
    assert_eq!(x.log_likelihood, y.log_likelihood);
    assert_eq!(x.attrs, y.attrs);
    assert_eq!(x, y, "the resumed chain differs from the uninterrupted one");
    let (gx, gy) = (smc_group(&full), smc_group(&killed));
    assert_eq!((gx.0.clone(), gx.1.clone(), gx.2.to_bits(), gx.3.to_bits()), (gy.0, gy.1, gy.2.to_bits(), gy.3.to_bits()));
    assert_eq!(seqcal::chain::ChainReader::open(&killed).unwrap().header().complete, Some(true));
}

#[test]
fn initial_draws_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let init = dir.path().join("init.csv");
    std::fs::write(&init, "x0,x1\n0.1,0.2\n0.3,0.4\n").unwrap();
    let e = fails(&["sample", "--target", "gaussian:dim=2", "--sampler", "smc", "--init", s(&init)]);
    assert!(e.contains("does not apply to --sampler smc: SMC starts from exact draws of the prior"), "{e}");
}

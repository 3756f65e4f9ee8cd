//! External models (`cmd:`) through the real binary: constrained parameters
//! stored on their declared scales with the right posterior, a `--prior`
//! pulled back with its log-Jacobian, and faults (a huge declared
//! dimension, a model that crashes, a child holding the model's output)
//! ending in one message, exit status 2, and no process left behind.
//! Nothing here depends on how fast the machine is.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{example, fails, succeeds};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `seqcal sample ARGS --json` and returns the summary.
fn sample_json(args: &[&str]) -> Value {
    let mut all = vec!["sample"];
    all.extend_from_slice(args);
    all.push("--json");
    serde_json::from_str(&succeeds(&all)).unwrap()
}

/// Checks the chain's mean and sd of parameter `j` against exact moments:
/// the mean within 4 Monte Carlo standard errors, the sd within 5 standard
/// errors of a sample sd (`sd * sqrt((kurtosis - 1) / (4 ESS))`).
fn check_moments(j: &Value, k: usize, mean: f64, sd: f64, kurtosis: f64) {
    let get = |key: &str| j[key][k].as_f64().unwrap();
    let (m, s, mcse, ess) = (get("mean"), get("sd"), get("mcse"), get("ess"));
    let name = &j["names"][k];
    assert!((m - mean).abs() < 4.0 * mcse, "{name}: mean {m} vs exact {mean} (mcse {mcse})");
    let sd_se = sd * ((kurtosis - 1.0) / (4.0 * ess)).sqrt();
    assert!((s - sd).abs() < 5.0 * sd_se, "{name}: sd {s} vs exact {sd} (se {sd_se}, ESS {ess})");
}

/// Polls `done` until it holds; false when a generous cap passes first.
fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Whether process `pid` has ended (gone, or a zombie).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn a_version_2_model_is_stored_on_its_constrained_scale_with_the_exact_posterior() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("counts.h5");
    let model = example("external/counts_model.py");
    let start = example("external/counts_start.csv");
    let j = sample_json(&["--target", &format!("cmd:python3 {}", s(&model)), "--init", s(&start), "--steps", "4000", "--seed", "2", "-o", s(&out)]);
    assert_eq!(j["names"], serde_json::json!(["rate", "eff"]));
    // rate ~ Gamma(22, 6), eff ~ Beta(9, 5): means, sds and kurtoses (3 + excess).
    let (a, b) = (22.0f64, 6.0f64);
    check_moments(&j, 0, a / b, a.sqrt() / b, 3.0 + 6.0 / a);
    let (p, q) = (9.0f64, 5.0f64);
    let var = p * q / ((p + q).powi(2) * (p + q + 1.0));
    let excess = 6.0 * ((p - q).powi(2) * (p + q + 1.0) - p * q * (p + q + 2.0)) / (p * q * (p + q + 2.0) * (p + q + 3.0));
    check_moments(&j, 1, p / (p + q), var.sqrt(), 3.0 + excess);

    // The file stores the constrained parameters with their supports.
    let c = seqcal::chain::read_hdf5(&out).unwrap();
    assert_eq!(c.names, ["rate", "eff"]);
    assert_eq!(c.bounds, [(0.0, f64::INFINITY), (0.0, 1.0)]);
    let flat = c.flat();
    assert!(flat.column(0).iter().all(|&r| r > 0.0), "a stored rate is not positive");
    assert!(flat.column(1).iter().all(|&e| e > 0.0 && e < 1.0), "a stored efficiency is outside (0, 1)");
    // log_prob is the log density of the stored (rate, eff), up to one constant:
    // 21 ln rate - 6 rate + 8 ln eff + 4 ln(1 - eff) (on the model's scale it would
    // differ by the log-Jacobian ln rate + ln eff + ln(1 - eff)).
    let lp = c.log_prob.as_ref().expect("the chain stores log_prob");
    let diff: Vec<f64> = c
        .draws
        .outer_iter()
        .zip(lp.outer_iter())
        .flat_map(|(d, l)| {
            d.outer_iter()
                .zip(l.iter())
                .map(|(x, &l)| l - (21.0 * x[0].ln() - 6.0 * x[0] + 8.0 * x[1].ln() + 4.0 * (-x[1]).ln_1p()))
                .collect::<Vec<_>>()
        })
        .collect();
    let (lo, hi) = diff.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    assert!(hi - lo < 1e-9, "log_prob minus the exact log posterior of (rate, eff) varies by {}", hi - lo);

    // A start outside the support is refused with the draw named.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, (0..32).fold(String::from("rate,eff\n"), |t, k| t + &format!("{},0.5\n", k as f64 - 1.0))).unwrap();
    let e = fails(&["sample", "--target", &format!("cmd:python3 {}", s(&model)), "--init", s(&bad), "--steps", "10"]);
    assert!(e.contains("outside the target's support"), "{e}");
}

#[test]
fn a_prior_on_a_constrained_parameter_is_pulled_back_with_its_jacobian() {
    // The model holds only the likelihood of counts 1 and 3 (Poisson, rate
    // e^log_rate). With a U(0, 50) prior on rate the posterior is Gamma(5, 2)
    // (mean 2.5); without the log-Jacobian it would be Gamma(4, 2) (mean 2).
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("poisson.py");
    std::fs::write(
        &model,
        "import math, sys\nprint('seqcal-target 2 1 log_rate=rate(0,inf)', flush=True)\nfor header in sys.stdin:\n    \
         us = [float(sys.stdin.readline()) for _ in range(int(header))]\n    \
         print('\\n'.join(repr(4 * u - 2 * math.exp(u)) if u < 700 else '-inf' for u in us), flush=True)\n",
    )
    .unwrap();
    let prior = dir.path().join("prior.toml");
    std::fs::write(&prior, "kind = \"uniform\"\nnames = [\"rate\"]\nbounds = [[0.0, 50.0]]\n").unwrap();
    let j =
        sample_json(&["--target", &format!("cmd:python3 {}", s(&model)), "--prior", s(&prior), "--walkers", "16", "--steps", "4000", "--seed", "3"]);
    assert_eq!(j["names"], serde_json::json!(["rate"]));
    check_moments(&j, 0, 2.5, 5f64.sqrt() / 2.0, 3.0 + 6.0 / 5.0);
}

#[test]
fn the_shipped_examples_run_as_the_docs_show() {
    // docs/external-targets.md: the Gaussian model with the shipped prior gives N(0, 1/2).
    let model = example("external/gaussian_model.py");
    let prior = example("external/gaussian_prior.toml");
    let j = sample_json(&["--target", &format!("cmd:python3 {}", s(&model)), "--prior", s(&prior), "--steps", "2000", "--seed", "1"]);
    for k in 0..3 {
        check_moments(&j, k, 0.0, 0.5f64.sqrt(), 3.0);
    }
    // Without a prior or starting points the walkers cannot start: the message says how.
    let e = fails(&["sample", "--target", &format!("cmd:python3 {}", s(&model)), "--steps", "10"]);
    assert!(e.contains("--prior") && e.contains("--init"), "{e}");
}

#[test]
fn a_huge_declared_dimension_is_refused_with_a_message() {
    let e = fails(&["sample", "--target", "cmd:echo 'seqcal-target 1 1000000000000'; cat >/dev/null", "--steps", "10"]);
    assert!(e.contains("declares 1000000000000 parameters in its handshake"), "{e}");
    assert!(e.contains("memory"), "{e}");
}

#[test]
fn a_model_that_crashes_is_one_clear_error() {
    let e = fails(&["sample", "--target", "cmd:echo 'licence server down' >&2; exit 3", "--steps", "10"]);
    assert!(e.contains("exited with status 3 before printing its handshake line") && e.contains("| licence server down"), "{e}");
    let e = fails(&["sample", "--target", "cmd:nosuchmodel_seqcal_test", "--steps", "10"]);
    assert!(e.contains("status 127") && e.contains("command not found"), "{e}");
}

#[test]
fn a_child_holding_the_models_output_is_gone_when_seqcal_exits() {
    // The model starts a child that keeps its standard input and output open,
    // then exits: seqcal waits for an answer that never comes, times out, and
    // must kill the child with the model's process group.
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("child.pid");
    let prior = dir.path().join("prior.toml");
    std::fs::write(&prior, "kind = \"normal\"\nnames = [\"x0\"]\nmean = 0\nsd = 1\n").unwrap();
    let cmd = format!("cmd:exec 3<&0; sleep 600 <&3 3<&- & echo $! > '{}'; echo 'seqcal-target 1 1'; exit 0", s(&pidfile));
    let e = fails(&["sample", "--target", &cmd, "--target-timeout", "0.5", "--prior", s(&prior), "--walkers", "4", "--steps", "10"]);
    assert!(e.contains("printed nothing for 500ms") && e.contains("kept its standard output open"), "{e}");
    let pid: u32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    assert!(wait_for(|| process_gone(pid)), "the model's child (sleep, pid {pid}) is still running after seqcal exited");
}

//! The lost-mode example (`seqcal example generate --kind lost-mode`), run as
//! shipped through the real binary: the order Q then P reproduces the joint
//! posterior and the lost-mode check stays quiet; the order P then Q misses
//! the joint posterior's mode and the check names it, from the new data's
//! side; the defensive mixture's chain carries importance weights.
//!
//! The thresholds are the verdict's own (`consistent` / `differ`) and the
//! check's own (it fires or it does not); the measured values are in the
//! example's README.

mod common;

use std::path::Path;

use common::succeeds;
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_failing_order_is_named_a_lost_mode_and_the_working_order_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let ex = dir.path().join("lost-mode");
    succeeds(&["example", "generate", "--kind", "lost-mode", "-o", s(&ex)]);
    let runs = dir.path().join("runs");
    succeeds(&["run", s(&ex.join("pipeline.toml")), "--runs-dir", s(&runs), "-q"]);
    let out = runs.join("lost-mode");
    let compare = read_json(&out.join("report/compare.json"));
    let verdict = |a: &str| -> String {
        let c = compare.as_array().unwrap().iter().find(|c| c["a"] == a).unwrap_or_else(|| panic!("no {a} in {compare}"));
        c["verdict"].as_str().unwrap().to_string()
    };
    assert!(verdict("Q_then_P").starts_with("consistent"), "{}", verdict("Q_then_P"));
    assert!(verdict("P_then_Q").starts_with("differ"), "{}", verdict("P_then_Q"));

    let stage = |name: &str| read_json(&out.join(name).join("stage.json"));
    let failing = stage("P_then_Q");
    let lost = &failing["flow_checks"]["lost_mode"];
    assert_eq!(lost["lost"], true, "{lost}");
    assert_eq!(lost["new_side"], "stage Q (data Q alone)");
    assert!(lost["warning"].as_str().unwrap().starts_with("lost mode:"), "{lost}");
    assert_eq!(failing["mode_loss"]["case"], "lost mode", "{}", failing["mode_loss"]);
    // The flow reproduces the draws it was trained on: P's chain itself lacks
    // the region, which only the check from the new data's side sees.
    assert!(failing["flow_checks"]["flow_fit"]["warning"].is_null(), "{}", failing["flow_checks"]);
    // ... measured against the draws its training held out, not ones it was trained on.
    let fit = &failing["flow_checks"]["flow_fit"];
    assert!(fit["reference"].as_str().unwrap().contains("held out of the flow's training"), "{fit}");
    assert!(fit["floor_1d"].as_f64().unwrap() > 0.0, "{fit}");

    let working = stage("Q_then_P");
    let quiet = &working["flow_checks"]["lost_mode"];
    assert_eq!(quiet["lost"], false, "{quiet}");
    assert!(quiet["warning"].is_null());
    assert!(!working["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("lost mode")), "{working}");

    // The defensive mixture: its chain carries weights, and its record the
    // base component's posterior share.
    let def = stage("P_then_Q_defensive");
    let d = &def["flow_checks"]["defensive"];
    assert_eq!(d["epsilon"], 0.05);
    let share = d["base_share"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&share), "{d}");
    let info = succeeds(&["chain", "info", s(&out.join("P_then_Q_defensive/chain.h5")), "--json"]);
    assert!(info.contains("\"weighted\": true"), "{info}");
    let summary = std::fs::read_to_string(out.join("report/summary.md")).unwrap();
    assert!(summary.contains("## Flow priors") && summary.contains("LOST MODE"), "{summary}");
}

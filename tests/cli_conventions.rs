//! Conventions shared by the commands: `-n` means draws.

mod common;

use common::{fails, seqcal, succeeds};

#[test]
fn n_means_draws_and_sample_takes_steps_only_as_steps() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d.h5");
    let cfg = common::example("priors/product.toml");
    succeeds(&["prior", "sample", "--config", cfg.to_str().unwrap(), "-n", "50", "-o", out.to_str().unwrap()]);
    let e = fails(&["sample", "--target", "gaussian:dim=2", "-n", "10", "-q"]);
    assert!(e.contains("'-n'"), "{e}");
    let help = succeeds(&["sample", "--help"]);
    assert!(help.contains("--steps <STEPS>") && !help.contains("-n, --steps"), "{help}");
}

//! Issue-level accuracy of a flow prior on the shipped test chains
//! (`chains/testdata/bounded7d_{train,truth}.h5`: 85 000 exact draws each of a
//! 7-D density with boundary peaks, a long tail, correlations and a bimodal
//! parameter), through the real binary as a user runs it: `prior train`,
//! `prior sample`, `compare`. The targets are the issue's: average 1-D KL
//! <= 0.005, average 2-D KL <= 0.02, each within 2x of the two-sample floor
//! (the same measure between the training chain and the truth chain).

mod common;

use std::path::Path;

use common::{succeeds, testdata};
use serde_json::Value;

fn compare(a: &Path, b: &Path) -> (f64, f64) {
    let j: Value = serde_json::from_str(&succeeds(&["compare", a.to_str().unwrap(), b.to_str().unwrap(), "--json"])).unwrap();
    let f = |k: &str| j[k].as_f64().unwrap_or_else(|| panic!("compare --json lacks {k}: {j}"));
    // The larger of the two directions, so neither may miss the target.
    (f("mean_kl_1d_ab").max(f("mean_kl_1d_ba")), f("mean_kl_2d_ab").max(f("mean_kl_2d_ba")))
}

#[test]
fn best_configuration_meets_the_targets_on_the_shipped_chains() {
    let dir = tempfile::tempdir().unwrap();
    let (train, truth) = (testdata("bounded7d_train.h5"), testdata("bounded7d_truth.h5"));
    let model = dir.path().join("prior.safetensors");
    let draws = dir.path().join("draws.h5");
    succeeds(&["prior", "train", train.to_str().unwrap(), "--loss", "kl", "--layers", "5", "--steps", "5000", "-o", model.to_str().unwrap(), "-q"]);
    succeeds(&["prior", "sample", model.to_str().unwrap(), "-n", "85000", "--seed", "3", "-o", draws.to_str().unwrap()]);
    let (kl1, kl2) = compare(&draws, &truth);
    let (floor1, floor2) = compare(&train, &truth);
    eprintln!("flow vs truth: 1-D {kl1:.5} (floor {floor1:.5}), 2-D {kl2:.5} (floor {floor2:.5})");
    assert!(kl1 <= 0.005 && kl1 <= 2.0 * floor1, "average 1-D KL {kl1} (floor {floor1})");
    assert!(kl2 <= 0.02 && kl2 <= 2.0 * floor2, "average 2-D KL {kl2} (floor {floor2})");
}

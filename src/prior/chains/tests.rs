//! Tests of the chain files handed to prior plugins, through the registry.

use super::*;
use crate::prior::PriorRegistry;
use ndarray::Array3;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use seqcal_api::{Prior, PriorError, PriorFactory, StageContext};

/// A bounded 2-D chain (40 steps x 50 walkers) of a Gaussian squeezed into [0, 1]^2.
fn chain_file(dir: &Path) -> PathBuf {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let draws = Array3::from_shape_fn((40, 50, 2), |_| {
        let z: f64 = StandardNormal.sample(&mut rng);
        1.0 / (1.0 + (-(0.3 + 0.5 * z)).exp())
    });
    let mut chain = Chain::from_draws(draws);
    chain.names = vec!["a".into(), "b".into()];
    chain.bounds = vec![(0.0, 1.0); 2];
    let path = dir.join("stage1.h5");
    crate::chain::write_any(&chain, &path).unwrap();
    path
}

fn build(toml_text: &str, dir: &Path, chains: &ChainFiles) -> Result<Box<dyn Prior>, PriorError> {
    let reg = PriorRegistry::builtin();
    let ctx = StageContext { space: None, base_dir: dir, chains, factory: &reg };
    reg.build(&toml_text.parse().unwrap(), &ctx)
}

#[test]
fn stages_by_name_drop_their_burn_in_and_paths_keep_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = chain_file(dir.path());
    let mut files = ChainFiles::new();
    files.add_stage("A", &path, 10);
    let a = files.draws(ChainRef::Stage("A")).unwrap();
    let all = files.draws(ChainRef::Path(&path)).unwrap();
    assert_eq!((a.x.nrows(), all.x.nrows(), a.burn, a.label.as_str()), (30 * 50, 40 * 50, 10, "stage A"));
    assert_eq!(a.x.row(0), all.x.row(10 * 50));
    assert_ne!(a.hash, all.hash);
    assert_eq!(all.hash, files.draws(ChainRef::Path(&path)).unwrap().hash);
    let e = files.draws(ChainRef::Stage("B")).unwrap_err().to_string();
    assert!(e.contains("\"B\"") && e.contains("stages with results: A"), "{e}");
    files.add_stage("C", &path, 40);
    assert!(files.draws(ChainRef::Stage("C")).unwrap_err().to_string().contains("leaves none"));
}

#[test]
fn flow_kind_trains_on_a_chain_and_mixes_with_a_base_prior() {
    let dir = tempfile::tempdir().unwrap();
    let path = chain_file(dir.path());
    let mut files = ChainFiles::new();
    files.add_stage("stage1", &path, 0);
    let settings = "loss = \"nll\"\nlayers = 1\nhidden = 16\nsteps = 150\nbatch = 200\nseed = 3\n";
    let p = build(&format!("kind = \"flow\"\nfrom = \"stage1\"\n{settings}"), dir.path(), &files).unwrap();
    assert_eq!(p.names(), ["a", "b"]);
    assert_eq!(p.bounds(), [(0.0, 1.0), (0.0, 1.0)]);
    assert!(p.log_prob(&[0.57, 0.57]).is_finite() && p.log_prob(&[1.2, 0.5]) == f64::NEG_INFINITY);
    assert!(p.describe().contains("flow"));
    let q = build(&format!("kind = \"flow\"\nchain = \"stage1.h5\"\n{settings}"), dir.path(), &files).unwrap();
    // Same chain, same seed: the same prior.
    assert_eq!(p.log_prob(&[0.3, 0.6]), q.log_prob(&[0.3, 0.6]));
    let m = build(&format!("kind = \"flow\"\nfrom = \"stage1\"\nepsilon = 0.1\nbase = {{ kind = \"uniform\", names = [\"a\", \"b\"], bounds = [[0, 1], [0, 1]] }}\n{settings}"), dir.path(), &files).unwrap();
    let far = [0.01, 0.99];
    let expect = (0.9 * p.log_prob(&far).exp() + 0.1).ln();
    assert!((m.log_prob(&far) - expect).abs() < 1e-9, "{} vs {expect}", m.log_prob(&far));
}

#[test]
fn flow_kind_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let files = ChainFiles::new();
    for (text, want) in [
        ("from = \"nope\"", "stage \"nope\" has no result"),
        ("", "exactly one"),
        ("chain = \"c.h5\"\nloss = \"mse\"", "unknown loss"),
        ("model = \"missing.safetensors\"", "missing.safetensors"),
        ("chain = \"c.h5\"\nlayers = 0", "at least one layer"),
        ("chain = \"c.h5\"\nepsilon = 0.1", "base"),
        ("chain = \"c.h5\"\nlr_schedule = \"step\"", "constant or cosine"),
        ("chain = \"c.h5\"", "c.h5"),
    ] {
        let e = build(&format!("kind = \"flow\"\n{text}"), dir.path(), &files).err().unwrap().to_string();
        assert!(e.contains(want), "{text}: expected {want:?} in {e}");
    }
}

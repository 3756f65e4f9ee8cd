//! TOML files: priors, stages and pipelines.

use std::path::Path;

use proptest::sample::select;
use rand::SeedableRng;
use seqcal::config::{Pipeline, StageFile};
use seqcal::prior::{load_prior_file, PriorRegistry};

use crate::mutate::{check, no_panic, show, text, Text};
use crate::{at_the_cli, cases, fixtures_dir};

fn example(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(path)).unwrap()
}

/// Valid prior files: the shipped examples and one of each leaf kind.
fn priors() -> Vec<String> {
    let mut v = vec![example("priors/defensive.toml"), example("priors/product.toml"), example("external/gaussian_prior.toml")];
    v.push("kind = \"uniform\"\nnames = [\"a\", \"b\"]\nbounds = [[0, 1], [\"-inf\", 2]]\n".into());
    v.push("[prior]\nkind = \"truncated_normal\"\nnames = [\"t\"]\nmean = [0.5]\nsd = [0.4]\nbounds = [[0.0, \"inf\"]]\n".into());
    v
}

/// Builds the prior of a file and evaluates and samples it, as `prior sample` does.
fn use_prior(p: &Path, registry: &PriorRegistry) {
    let r = load_prior_file(p, registry);
    show("prior file", &r);
    if let Ok(prior) = r {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let x = prior.sample(&mut rng, 3);
        for row in x.rows() {
            let _ = prior.log_prob(&row.to_vec());
        }
        let _ = prior.log_prob(&vec![0.5; prior.dim()]);
        let _ = prior.describe();
    }
}

#[test]
fn prior_files_never_panic() {
    let dir = fixtures_dir();
    let p = dir.path().join("prior.toml");
    let registry = PriorRegistry::builtin();
    check("prior_files", cases(256), (select(priors()), text()), |(valid, m): (String, Text)| {
        std::fs::write(&p, m.apply(&valid)).unwrap();
        no_panic("reading a prior file", || use_prior(&p, &registry))
    });
}

#[test]
fn stage_files_never_panic() {
    let dir = fixtures_dir();
    let p = dir.path().join("stage.toml");
    let valid = vec![example("stages/arK.toml"), example("stages/banana.toml")];
    check("stage_files", cases(128), (select(valid), text()), |(valid, m): (String, Text)| {
        std::fs::write(&p, m.apply(&valid)).unwrap();
        no_panic("reading a stage file", || {
            let r = StageFile::load(&p);
            show("stage file", &r);
            if let Ok(s) = r {
                let _ = seqcal::sampler::SamplerSettings::from_table(&seqcal::sampler::merge_tables(&s.sampler, &Default::default()));
            }
        })
    });
}

#[test]
fn pipeline_files_never_panic() {
    let dir = fixtures_dir();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sequential");
    for f in ["A.csv", "B.csv", "A_model.csv", "B_model.csv", "design.csv"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let valid = example("sequential/pipeline.toml");
    let p = dir.path().join("pipeline.toml");
    check("pipeline_files", cases(128), text(), |m: Text| {
        std::fs::write(&p, m.apply(&valid)).unwrap();
        no_panic("reading a pipeline file", || {
            show("pipeline file", &Pipeline::load(&p).and_then(|pl| pl.check(&p)));
        })
    });
}

/// TOML nested far deeper than any prior table is refused by the parser,
/// not by a stack overflow.
#[test]
fn deeply_nested_toml_is_an_error() {
    let dir = fixtures_dir();
    let p = dir.path().join("prior.toml");
    let registry = PriorRegistry::builtin();
    for text in [format!("kind = {}1{}\n", "[".repeat(100_000), "]".repeat(100_000)), format!("a = {}\n", "{b = ".repeat(100_000))] {
        std::fs::write(&p, &text).unwrap();
        assert!(load_prior_file(&p, &registry).is_err());
        assert!(StageFile::load(&p).is_err());
        assert!(Pipeline::load(&p).is_err());
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `prior sample --config`, `sample --config` and `seqcal run` on malformed
/// files: exit 0, or 2 with one message. Only pipelines the library refuses
/// are run (a valid one would run the whole calibration).
#[test]
fn malformed_toml_at_the_cli() {
    let dir = fixtures_dir();
    let out = dir.path().join("out.h5");
    let p = dir.path().join("prior.toml");
    let registry = PriorRegistry::builtin();
    check("prior_files_cli", cases(12), (select(priors()), text()), |(valid, m): (String, Text)| {
        std::fs::write(&p, m.apply(&valid)).unwrap();
        let _ = std::fs::remove_file(&out);
        at_the_cli(&["prior", "sample", "--config", s(&p), "-n", "3", "-o", s(&out)], load_prior_file(&p, &registry).is_err())
    });
    let st = dir.path().join("stage.toml");
    let valid = vec![example("stages/arK.toml"), example("stages/banana.toml")];
    check("stage_files_cli", cases(12), (select(valid), text()), |(valid, m): (String, Text)| {
        std::fs::write(&st, m.apply(&valid)).unwrap();
        let args = ["sample", "--config", s(&st), "--steps", "10", "--walkers", "8", "--quiet", "--force", "-o", s(&out)];
        at_the_cli(&args, StageFile::load(&st).is_err())
    });
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sequential");
    for f in ["A.csv", "B.csv", "A_model.csv", "B_model.csv", "design.csv"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let valid = example("sequential/pipeline.toml");
    let pl = dir.path().join("pipeline.toml");
    let runs = dir.path().join("runs");
    check("pipeline_files_cli", cases(12), text(), |m: Text| {
        std::fs::write(&pl, m.apply(&valid)).unwrap();
        if Pipeline::load(&pl).and_then(|x| x.check(&pl)).is_ok() {
            return Ok(());
        }
        at_the_cli(&["run", s(&pl), "--runs-dir", s(&runs), "--quiet"], true)
    });
}

/// A stage whose prior draws walkers so spread that their covariance
/// overflows (`sd = 1e308`, found by `malformed_toml_at_the_cli`) is one
/// message, not a panic in the degeneracy check.
#[test]
fn a_prior_too_wide_to_start_walkers_from_is_one_message() {
    let dir = fixtures_dir();
    let st = dir.path().join("stage.toml");
    let text = example("stages/banana.toml").replace("sd = [3.0, 3.0]", "sd = [1e308, 3.0]");
    std::fs::write(&st, text).unwrap();
    let out = dir.path().join("out.h5");
    let args = ["sample", "--config", s(&st), "--steps", "10", "--walkers", "8", "--quiet", "-o", s(&out)];
    at_the_cli(&args, true).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_seqcal")).args(args).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("covariance overflows"), "{}", String::from_utf8_lossy(&o.stderr));
}

//! `seqcal prior train` on chains that carry no bounds (every emcee-written
//! chain, every CSV): the prior box from `--bounds` or `--bounds-from` keeps
//! the flow inside it; `--unbounded` gives a flow whose density and draws
//! share one support.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::{fails, seqcal, succeeds};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A CSV table (no bounds stored) of `n` draws of `names`, each from `draw`.
fn csv(dir: &Path, file: &str, names: &[&str], n: usize, mut draw: impl FnMut() -> f64) -> PathBuf {
    let mut text = names.join(",") + "\n";
    for _ in 0..n {
        let row: Vec<String> = names.iter().map(|_| format!("{:.17e}", draw())).collect();
        let _ = writeln!(text, "{}", row.join(","));
    }
    let p = dir.join(file);
    std::fs::write(&p, text).unwrap();
    p
}

/// Draws of the flow at `model` (`n`, seed 1), flattened.
fn flow_draws(dir: &Path, model: &Path, n: usize) -> ndarray::Array2<f64> {
    let out = dir.join(format!("{}.draws.h5", model.file_stem().unwrap().to_str().unwrap()));
    succeeds(&["prior", "sample", s(model), "-n", &n.to_string(), "-o", s(&out), "--seed", "1", "--force"]);
    seqcal::chain::read_hdf5(&out).unwrap().flat()
}

/// Log densities of the flow at `model` at the points `xs` of parameter `name`.
fn log_probs(dir: &Path, model: &Path, name: &str, xs: &[f64]) -> Vec<f64> {
    let pts = dir.join("points.csv");
    let mut text = format!("{name}\n");
    xs.iter().for_each(|x| {
        let _ = writeln!(text, "{x:.17e}");
    });
    std::fs::write(&pts, text).unwrap();
    let out = succeeds(&["prior", "eval", s(model), s(&pts)]);
    out.lines().skip(1).map(|l| l.trim().parse::<f64>().unwrap_or(f64::NEG_INFINITY)).collect()
}

const TRAIN: [&str; 10] = ["--loss", "nll", "--layers", "2", "--hidden", "16", "--steps", "300", "--batch", "500"];

/// Four parameters piled against the upper side of [0, 1] (density 3u²): a
/// flow without the box spills past 1.
#[test]
fn the_box_keeps_the_flow_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let names = ["a", "b", "c", "d"];
    let chain = csv(dir.path(), "chain.csv", &names, 4000, || rng.random::<f64>().cbrt());
    let outside = |x: &ndarray::Array2<f64>| x.iter().filter(|v| !(0.0..=1.0).contains(*v)).count();

    // No box: the flow's support is the whole space, and the command says so.
    let free = dir.path().join("free.safetensors");
    let out = seqcal().args(["prior", "train", s(&chain), "-o", s(&free), "-q"]).args(TRAIN).output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unbounded in [a, b, c, d]") && err.contains("--bounds"), "{err}");

    // --bounds: no draw outside, zero density outside, the box in the sidecar.
    let boxed = dir.path().join("boxed.safetensors");
    let mut args = vec!["prior", "train", s(&chain), "-o", s(&boxed), "-q", "--bounds", "a=0:1,b=0:1,c=0:1,d=0:1"];
    args.extend(TRAIN);
    succeeds(&args);
    let x = flow_draws(dir.path(), &boxed, 20_000);
    assert_eq!(outside(&x), 0);
    let side: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("boxed.json")).unwrap()).unwrap();
    assert_eq!(side["bounds"][3], serde_json::json!([0.0, 1.0]), "{side}");
    // The same box from a prior file.
    let prior = dir.path().join("prior.toml");
    std::fs::write(&prior, "kind = \"uniform\"\nnames = [\"a\", \"b\", \"c\", \"d\"]\nbounds = [[0, 1], [0, 1], [0, 1], [0, 1]]\n").unwrap();
    let from_file = dir.path().join("from_file.safetensors");
    let mut args = vec!["prior", "train", s(&chain), "-o", s(&from_file), "-q", "--bounds-from", s(&prior)];
    args.extend(TRAIN);
    succeeds(&args);
    assert_eq!(outside(&flow_draws(dir.path(), &from_file, 20_000)), 0);

    // A box the draws leave: refused, with the draw named, and nothing written.
    let narrow = dir.path().join("narrow.safetensors");
    let e = fails(&["prior", "train", s(&chain), "-o", s(&narrow), "--bounds", "b=0:0.5", "--loss", "nll", "--steps", "5"]);
    assert!(e.contains("draws of b lie outside the box [0, 0.5]") && e.contains("the first: draw"), "{e}");
    assert!(!narrow.exists() && !dir.path().join("narrow.json").exists());
    let e = fails(&["prior", "train", s(&chain), "-o", s(&narrow), "--bounds", "z=0:1"]);
    assert!(e.contains("--bounds names \"z\""), "{e}");
}

/// With `--unbounded` the flow's density and its sampler agree on the
/// support: the mass the density puts outside the box (integrated on a grid)
/// is the share of draws that land there.
#[test]
fn unbounded_density_and_draws_share_one_support() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let law = Normal::new(0.9, 0.1).unwrap();
    let chain = csv(dir.path(), "chain.csv", &["g"], 4000, || loop {
        let v: f64 = law.sample(&mut rng);
        if (0.0..=1.0).contains(&v) {
            break v;
        }
    });
    let model = dir.path().join("free.safetensors");
    // RealNVP (one affine map in 1-D) spills a Gaussian past the box; `auto` would pick splines,
    // which hug it and leave too little mass outside for the comparison to mean much.
    let mut args = vec!["prior", "train", s(&chain), "-o", s(&model), "-q", "--bounds", "g=0:1", "--unbounded", "--arch", "realnvp"];
    args.extend(TRAIN);
    succeeds(&args);
    let n = 40_000;
    let x = flow_draws(dir.path(), &model, n);
    let share = x.iter().filter(|v| !(0.0..=1.0).contains(*v)).count() as f64 / n as f64;
    // ∫ exp(log q) over [-3, 0] and [1, 4], trapezoids of 1e-3 (30 flow sd and more each side).
    let h = 1e-3;
    let mass = |lo: f64| {
        let xs: Vec<f64> = (0..=3000).map(|i| lo + h * i as f64).collect();
        let q: Vec<f64> = log_probs(dir.path(), &model, "g", &xs).iter().map(|l| l.exp()).collect();
        h * (q.iter().sum::<f64>() - 0.5 * (q[0] + q[q.len() - 1]))
    };
    let density_mass = mass(-3.0) + mass(1.0);
    let se = (density_mass * (1.0 - density_mass) / n as f64).sqrt();
    assert!(density_mass > 0.01, "the flow was expected to reach past the box: {density_mass}");
    assert!((share - density_mass).abs() < 4.0 * se, "draws outside {share}, density mass outside {density_mass} (se {se})");
}

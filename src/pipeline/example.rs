//! The shipped staged-calibration example (`seqcal example generate`).
//!
//! A cheap closed-form model of seven parameters stands in for an expensive
//! simulation. Two "experiments" measure it:
//!
//! - **A**, a falling spectrum at 12 points `x ∈ [0, 1]`:
//!   `A(x) = norm·e^{−damping·x}·(1 + slope·x) + 0.3·tail·x² + 0.25·center·cos(2πx)`.
//!   It constrains `norm`, `damping`, `slope`, `tail` and `center` with its
//!   sign (no combination of the other terms mimics the cosine); it says
//!   nothing about `width` and `mix`.
//! - **B**, a peak at 12 points `u ∈ [−0.5, 2.5]`:
//!   `B(u) = norm·[e^{−(u − 2·center²)²/(2·width²)} + 0.4·mix·e^{−u}] + 0.15·tail`.
//!   It constrains `width`, `mix`, `norm`, `tail` and `center` only through
//!   `center²`: on its own, B leaves `center` **bimodal** (`±0.6` at the truth
//!   `center = 0.6`), and says nothing about `damping` and `slope`.
//!
//! Together they identify all seven. Each data set has its own model runs at
//! the same Latin-hypercube design; the experimental values are the model at
//! the true point plus Gaussian noise of the stated errors (5% relative plus
//! 0.01 absolute). Everything is seeded: the same seed writes the same files.

use std::fmt::Write as _;
use std::path::Path;

use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::chain::write_atomically;
use crate::{Error, Result};

/// Parameter names of the example.
pub const NAMES: [&str; 7] = ["norm", "slope", "width", "center", "tail", "mix", "damping"];
/// Prior box of the example.
pub const BOUNDS: [(f64, f64); 7] = [(0.5, 2.0), (-1.0, 1.0), (0.1, 1.0), (-1.0, 1.0), (0.0, 1.0), (0.0, 1.0), (0.1, 2.0)];
/// The point the experimental data are generated at.
pub const TRUTH: [f64; 7] = [1.2, 0.3, 0.45, 0.6, 0.4, 0.5, 0.9];
/// Observables per data set.
pub const N_OBS: usize = 12;

/// Measurement points of data set A.
fn x_a(j: usize) -> f64 {
    j as f64 / (N_OBS - 1) as f64
}

/// Measurement points of data set B.
fn u_b(j: usize) -> f64 {
    -0.5 + 3.0 * j as f64 / (N_OBS - 1) as f64
}

/// Data set A's model at `th` (order of [`NAMES`]).
pub fn model_a(th: &[f64]) -> Vec<f64> {
    let [norm, slope, _width, center, tail, _mix, damping] = <[f64; 7]>::try_from(th).expect("7 parameters");
    (0..N_OBS)
        .map(|j| {
            let x = x_a(j);
            norm * (-damping * x).exp() * (1.0 + slope * x) + 0.3 * tail * x * x + 0.25 * center * (std::f64::consts::TAU * x).cos()
        })
        .collect()
}

/// Data set B's model at `th` (order of [`NAMES`]).
pub fn model_b(th: &[f64]) -> Vec<f64> {
    let [norm, _slope, width, center, tail, mix, _damping] = <[f64; 7]>::try_from(th).expect("7 parameters");
    (0..N_OBS)
        .map(|j| {
            let u = u_b(j);
            let peak = (-(u - 2.0 * center * center).powi(2) / (2.0 * width * width)).exp();
            norm * (peak + 0.4 * mix * (-u).exp()) + 0.15 * tail
        })
        .collect()
}

/// Experimental error of a value: 5% relative plus 0.01 absolute.
pub fn error_of(v: f64) -> f64 {
    0.05 * v.abs() + 0.01
}

/// What [`generate`] writes.
#[derive(Debug, Clone)]
pub struct ExampleSettings {
    /// Latin-hypercube design points.
    pub design: usize,
    /// Seed of the design and the noise.
    pub seed: u64,
}

impl Default for ExampleSettings {
    fn default() -> Self {
        ExampleSettings { design: 200, seed: 7 }
    }
}

pub(super) fn csv(header: &[String], rows: impl Iterator<Item = Vec<f64>>) -> String {
    let mut s = header.join(",");
    s.push('\n');
    for r in rows {
        let cells: Vec<String> = r.iter().map(|v| format!("{v:.10e}")).collect();
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    s
}

pub(super) fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let path = dir.join(name);
    write_atomically(&path, |tmp| std::fs::write(tmp, text).map_err(|e| Error::io(&path, e)))
}

/// The example's pipeline file.
pub fn pipeline_toml(seed: u64) -> String {
    let bounds: Vec<String> = BOUNDS.iter().map(|(l, u)| format!("[{l}, {u}]")).collect();
    let names: Vec<String> = NAMES.iter().map(|n| format!("\"{n}\"")).collect();
    let mut s = String::new();
    let _ = write!(
        s,
        r#"# The staged-calibration example: written by `seqcal example generate`, run by `seqcal run`.
# Data set A (a spectrum) and data set B (a peak) constrain different parameters; B alone
# leaves `center` bimodal. Stages: each alone, A then B, B then A (with and without a
# defensive mixture), and the joint calibration; the sequential ones are compared with it.
name = "sequential"
seed = {seed}

[parameters]
names = [{names}]
bounds = [{bounds}]

[datasets.A]
data = "A.csv"
design = "design.csv"
outputs = "A_model.csv"
emulator = {{ npc = 6, kernel = "se" }}

[datasets.B]
data = "B.csv"
design = "design.csv"
outputs = "B_model.csv"
emulator = {{ npc = 6, kernel = "se" }}

# Every stage samples with the same ensemble settings.
[defaults.sampler]
walkers = 64
steps = 5000
burn = 1000
moves = "stretch:0.6,de:0.3,de_jump:0.1"

# Flow priors: 5 layers (even/odd pairs, 10 affine couplings) of 7-64-64 networks, 5000 Adam
# steps with the cosine schedule. B's posterior has two narrow modes in `center`;
# 6 couplings or 2000 steps smear them (B -> A vs joint: 1-D KL 0.05-0.16 instead of 0.006).
[defaults.flow]
loss = "nll"
layers = 5
hidden = 64
steps = 5000
batch = 1000
lr = 1e-3

[[stages]]
name = "A"
datasets = ["A"]

[[stages]]
name = "B"
datasets = ["B"]

[[stages]]
name = "A_then_B"
datasets = ["B"]
prior = {{ kind = "flow", from = "A" }}

[[stages]]
name = "B_then_A"
datasets = ["A"]
prior = {{ kind = "flow", from = "B" }}

[[stages]]
name = "B_then_A_defensive"
datasets = ["A"]
prior = {{ kind = "flow", from = "B", epsilon = 0.05, base = {{ kind = "uniform" }} }}

[[stages]]
name = "joint"
datasets = ["A", "B"]

[[compare]]
a = "A_then_B"
b = "joint"

[[compare]]
a = "B_then_A"
b = "joint"

[[compare]]
a = "B_then_A_defensive"
b = "joint"
"#,
        names = names.join(", "),
        bounds = bounds.join(", "),
    );
    s
}

/// The files [`generate`] writes.
pub const FILES: &[&str] = &["design.csv", "A_model.csv", "B_model.csv", "A.csv", "B.csv", "truth.csv", "pipeline.toml"];

/// Writes the example into `dir`: `design.csv`, `A_model.csv`, `B_model.csv`,
/// `A.csv`, `B.csv` (columns `value, error`), `truth.csv` and `pipeline.toml`.
///
/// # Errors
/// A file that cannot be written, or a design of fewer than 20 points.
pub fn generate(dir: &Path, s: &ExampleSettings) -> Result<()> {
    if s.design < 20 {
        return Err(Error::Usage(format!("--design {}: the emulators need at least 20 design points", s.design)));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let design: Array2<f64> = seqcal_emulators::synthetic::latin_hypercube(s.design, &BOUNDS, s.seed);
    let names: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
    let obs = |p: &str| (1..=N_OBS).map(|j| format!("{p}{j}")).collect::<Vec<_>>();
    write(dir, "design.csv", &csv(&names, design.rows().into_iter().map(|r| r.to_vec())))?;
    write(dir, "A_model.csv", &csv(&obs("a"), design.rows().into_iter().map(|r| model_a(r.as_slice().expect("standard layout")))))?;
    write(dir, "B_model.csv", &csv(&obs("b"), design.rows().into_iter().map(|r| model_b(r.as_slice().expect("standard layout")))))?;
    // The noise has its own stream, apart from the design's.
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    rng.set_stream(1);
    let header = ["value".to_string(), "error".to_string()];
    for (file, truth) in [("A.csv", model_a(&TRUTH)), ("B.csv", model_b(&TRUTH))] {
        let rows: Vec<Vec<f64>> = truth
            .iter()
            .map(|&v| {
                let e = error_of(v);
                let z: f64 = StandardNormal.sample(&mut rng);
                vec![v + e * z, e]
            })
            .collect();
        write(dir, file, &csv(&header, rows.into_iter()))?;
    }
    write(dir, "truth.csv", &csv(&names, std::iter::once(TRUTH.to_vec())))?;
    write(dir, "pipeline.toml", &pipeline_toml(s.seed))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b_cannot_tell_the_sign_of_center_and_a_can() {
        let mut flipped = TRUTH;
        flipped[3] = -TRUTH[3];
        assert_eq!(model_b(&TRUTH), model_b(&flipped));
        let (a, af) = (model_a(&TRUTH), model_a(&flipped));
        // A separates the two signs: chi-square of the flip over A's errors.
        let chi2: f64 = a.iter().zip(&af).map(|(x, y)| ((x - y) / error_of(*x)).powi(2)).sum();
        assert!(chi2 > 100.0, "chi-square {chi2}");
    }

    #[test]
    fn generate_is_seeded() {
        let d1 = tempfile::tempdir().unwrap();
        let d2 = tempfile::tempdir().unwrap();
        let s = ExampleSettings { design: 30, seed: 3 };
        generate(d1.path(), &s).unwrap();
        generate(d2.path(), &s).unwrap();
        for f in ["design.csv", "A_model.csv", "B_model.csv", "A.csv", "B.csv", "pipeline.toml"] {
            assert_eq!(std::fs::read(d1.path().join(f)).unwrap(), std::fs::read(d2.path().join(f)).unwrap(), "{f}");
        }
        let text = std::fs::read_to_string(d1.path().join("A.csv")).unwrap();
        assert_eq!(text.lines().count(), N_OBS + 1);
    }
}

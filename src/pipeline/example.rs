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

/// The pipeline file of a two-data-set example, the one template of every
/// shipped example: the parameters and box, the two data sets (each with its
/// data, design and model outputs named after it), the sampler and flow
/// defaults, then the stages: each data set alone, both orders of the staged
/// calibration (the second also with a defensive mixture), the joint
/// calibration, and a comparison of each staged stage with the joint one.
pub(super) struct Template<'a> {
    /// The comment at the top, without `# `, one line each.
    pub header: &'a [&'a str],
    /// The pipeline's name.
    pub name: &'a str,
    /// Its seed.
    pub seed: u64,
    /// Parameter names.
    pub names: &'a [&'a str],
    /// The prior box.
    pub bounds: &'a [(f64, f64)],
    /// The two data sets, by name, with their emulators' principal components.
    pub datasets: [(&'a str, usize); 2],
    /// Walkers, iterations and burn-in of every stage.
    pub sampler: (usize, usize, usize),
    /// A comment above `[defaults.sampler]`, one line each.
    pub sampler_comment: &'a [&'a str],
    /// A comment above `[defaults.flow]`, one line each.
    pub flow_comment: &'a [&'a str],
    /// The lines of `[defaults.flow]`.
    pub flow: &'a [&'a str],
    /// The two orders, `(first, then)` by data set; the second also runs with a defensive mixture.
    pub orders: [(&'a str, &'a str); 2],
}

impl Template<'_> {
    /// The pipeline file.
    pub fn toml(&self) -> String {
        let comment = |lines: &[&str]| lines.iter().map(|l| format!("# {l}\n")).collect::<String>();
        let quoted = |v: &[&str]| v.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
        let bounds: Vec<String> = self.bounds.iter().map(|(l, u)| format!("[{l}, {u}]")).collect();
        let mut s = comment(self.header);
        let _ = write!(
            s,
            "name = \"{}\"\nseed = {}\n\n[parameters]\nnames = [{}]\nbounds = [{}]\n",
            self.name,
            self.seed,
            quoted(self.names),
            bounds.join(", ")
        );
        for (d, npc) in self.datasets {
            let _ = write!(
                s,
                "\n[datasets.{d}]\ndata = \"{d}.csv\"\ndesign = \"design.csv\"\noutputs = \"{d}_model.csv\"\nemulator = {{ npc = {npc}, kernel = \"se\" }}\n"
            );
        }
        let (walkers, steps, burn) = self.sampler;
        let _ = write!(
            s,
            "\n{}[defaults.sampler]\nwalkers = {walkers}\nsteps = {steps}\nburn = {burn}\nmoves = \"stretch:0.6,de:0.3,de_jump:0.1\"\n\n{}[defaults.flow]\n",
            comment(self.sampler_comment),
            comment(self.flow_comment)
        );
        for l in self.flow {
            let _ = writeln!(s, "{l}");
        }
        let stage = |s: &mut String, name: &str, data: &[&str], prior: Option<String>| {
            let _ = write!(s, "\n[[stages]]\nname = \"{name}\"\ndatasets = [{}]\n", quoted(data));
            if let Some(p) = prior {
                let _ = writeln!(s, "prior = {{ kind = \"flow\", {p} }}");
            }
        };
        for (d, _) in self.datasets {
            stage(&mut s, d, &[d], None);
        }
        let mut staged = Vec::new();
        for (k, (first, then)) in self.orders.into_iter().enumerate() {
            let name = format!("{first}_then_{then}");
            stage(&mut s, &name, &[then], Some(format!("from = \"{first}\"")));
            staged.push(name.clone());
            if k == 1 {
                let defensive = format!("{name}_defensive");
                stage(&mut s, &defensive, &[then], Some(format!("from = \"{first}\", epsilon = 0.05, base = {{ kind = \"uniform\" }}")));
                staged.push(defensive);
            }
        }
        stage(&mut s, "joint", &[self.datasets[0].0, self.datasets[1].0], None);
        for a in staged {
            let _ = write!(s, "\n[[compare]]\na = \"{a}\"\nb = \"joint\"\n");
        }
        s
    }
}

/// The example's pipeline file.
pub fn pipeline_toml(seed: u64) -> String {
    Template {
        header: &[
            "The staged-calibration example: written by `seqcal example generate`, run by `seqcal run`.",
            "Data set A (a spectrum) and data set B (a peak) constrain different parameters; B alone",
            "leaves `center` bimodal. Stages: each alone, A then B, B then A (with and without a",
            "defensive mixture), and the joint calibration; the sequential ones are compared with it.",
        ],
        name: "sequential",
        seed,
        names: &NAMES,
        bounds: &BOUNDS,
        datasets: [("A", 6), ("B", 6)],
        sampler: (64, 5000, 1000),
        sampler_comment: &["Every stage samples with the same ensemble settings."],
        flow_comment: &[
            "Flow priors: 5 layers (even/odd pairs, 10 affine couplings) of 7-64-64 networks, 2500 Adam",
            "steps at 2e-3 with the cosine schedule, kept as the moving average of the weights (ema).",
            "B's posterior has two narrow modes in `center`; 6 couplings, 1500 steps, or 2500 steps",
            "without the average smear them (B -> A vs joint: 1-D KL 0.03-0.16 instead of 0.006).",
        ],
        flow: &["loss = \"nll\"", "layers = 5", "hidden = 64", "steps = 2500", "batch = 1000", "lr = 2e-3", "ema = 0.998"],
        orders: [("A", "B"), ("B", "A")],
    }
    .toml()
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

    /// The shipped pipeline file is what the template writes (the lost-mode
    /// example checks its own in `example_lost`).
    #[test]
    fn the_shipped_pipeline_is_the_template() {
        assert_eq!(pipeline_toml(7), include_str!("../../examples/sequential/pipeline.toml"));
    }

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

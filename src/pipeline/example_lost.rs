//! The lost-mode example (`seqcal example generate --kind lost-mode`): the
//! failure case of sequential calibration with flow priors, where the order
//! of the data sets decides whether the joint posterior is reproduced.
//!
//! Two parameters, `lambda` and `g`, on `[0, 1]²`, and two data sets:
//!
//! - **P** (three observables): `p1 = (2·lambda − 1)²` (error 0.06), which
//!   alone allows `lambda ≈ 0.2` and `lambda ≈ 0.8`; `p2 = 2·(0.8 − lambda)·(g − 0.5)`
//!   (error 0.02), which pins `g` to 0.5 at `lambda ≈ 0.2` and says nothing
//!   about `g` at `lambda = 0.8`; and `p3 = lambda` (error 0.08), measured
//!   at 0.8, where P disagrees with Q. P alone therefore puts almost all of
//!   its posterior on a ridge at `lambda ≈ 0.8` (any `g`), and very little
//!   (about e⁻²⁸ of the ridge's density) on a narrow mode at `lambda ≈ 0.2`,
//!   `g ≈ 0.5`.
//! - **Q** (two observables): `q1 = lambda` (error 0.04) and `q2 = g`
//!   (error 0.15), measured at the truth.
//!
//! The joint posterior sits in P's narrow mode: Q rules out the ridge
//! (15 errors away). Q then P reproduces it; P then Q cannot, because a flow
//! trained on P's posterior has (next to) no density there, and the second
//! stage lands between the two. The truth is `lambda = 0.2`, `g = 0.5`.
//! The model runs are at a seeded Latin-hypercube design; the measurements are
//! the model at the truth (P's `p3` at `lambda = 0.8`) plus Gaussian noise of
//! the stated errors. The same seed writes the same files.

use std::path::Path;

use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::example::{csv, write, ExampleSettings, Template};
use crate::{Error, Result};

/// Parameter names of the example.
pub const NAMES: [&str; 2] = ["lambda", "g"];
/// Prior box.
pub const BOUNDS: [(f64, f64); 2] = [(0.0, 1.0), (0.0, 1.0)];
/// The point the measurements are generated at.
pub const TRUTH: [f64; 2] = [0.2, 0.5];
/// Errors of P's observables.
pub const ERR_P: [f64; 3] = [0.06, 0.02, 0.08];
/// Errors of Q's observables.
pub const ERR_Q: [f64; 2] = [0.04, 0.15];
/// Where P's `p3` (`lambda`) is measured: at P's ridge, not at the truth.
pub const P3_AT: f64 = 0.8;

/// Data set P's model at `[lambda, g]`.
pub fn model_p(th: &[f64]) -> Vec<f64> {
    let (l, g) = (th[0], th[1]);
    vec![(2.0 * l - 1.0).powi(2), 2.0 * (0.8 - l) * (g - 0.5), l]
}

/// Data set Q's model at `[lambda, g]`.
pub fn model_q(th: &[f64]) -> Vec<f64> {
    vec![th[0], th[1]]
}

/// The noise-free values of P's measurements: the model at the truth, but `p3` at [`P3_AT`].
pub fn p_measured_at() -> Vec<f64> {
    let mut y = model_p(&TRUTH);
    y[2] = P3_AT;
    y
}

/// The files [`generate`] writes.
pub const FILES: &[&str] = &["design.csv", "P_model.csv", "Q_model.csv", "P.csv", "Q.csv", "truth.csv", "pipeline.toml"];

/// The example's pipeline file.
pub fn pipeline_toml(seed: u64) -> String {
    Template {
        header: &[
            "The lost-mode example: written by `seqcal example generate --kind lost-mode`, run by `seqcal run`.",
            "Data set P alone leaves very little probability (about e^-28) at lambda ~ 0.2, where the",
            "joint posterior lies; Q rules out P's main ridge at lambda ~ 0.8. Q then P reproduces",
            "the joint posterior; P then Q loses its mode, and the lost-mode check names it.",
        ],
        name: "lost-mode",
        seed,
        names: &NAMES,
        bounds: &BOUNDS,
        datasets: [("P", 3), ("Q", 2)],
        sampler: (32, 4000, 1000),
        sampler_comment: &[],
        flow_comment: &[],
        flow: &["loss = \"nll\"", "layers = 8", "hidden = 32", "steps = 2000", "batch = 1000", "lr = 2e-3"],
        orders: [("Q", "P"), ("P", "Q")],
    }
    .toml()
}

/// Writes the example into `dir`.
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
    let obs = |p: &str, n: usize| (1..=n).map(|j| format!("{p}{j}")).collect::<Vec<_>>();
    let rows = |f: fn(&[f64]) -> Vec<f64>| design.rows().into_iter().map(move |r| f(&r.to_vec()));
    write(dir, "design.csv", &csv(&names, design.rows().into_iter().map(|r| r.to_vec())))?;
    write(dir, "P_model.csv", &csv(&obs("p", 3), rows(model_p)))?;
    write(dir, "Q_model.csv", &csv(&obs("q", 2), rows(model_q)))?;
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    rng.set_stream(1);
    let header = ["value".to_string(), "error".to_string()];
    let mut data = |at: Vec<f64>, err: &[f64]| -> Vec<Vec<f64>> {
        at.iter()
            .zip(err)
            .map(|(&v, &e)| {
                let z: f64 = StandardNormal.sample(&mut rng);
                vec![v + e * z, e]
            })
            .collect()
    };
    let p = data(p_measured_at(), &ERR_P);
    let q = data(model_q(&TRUTH), &ERR_Q);
    write(dir, "P.csv", &csv(&header, p.into_iter()))?;
    write(dir, "Q.csv", &csv(&header, q.into_iter()))?;
    write(dir, "truth.csv", &csv(&names, std::iter::once(TRUTH.to_vec())))?;
    write(dir, "pipeline.toml", &pipeline_toml(s.seed))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped pipeline file is what the shared template writes.
    #[test]
    fn the_shipped_pipeline_is_the_template() {
        assert_eq!(pipeline_toml(7), include_str!("../../examples/lost-mode/pipeline.toml"));
    }

    /// log L of P's noise-free data at `th`.
    fn log_l_p(th: &[f64]) -> f64 {
        let y = p_measured_at();
        model_p(th).iter().zip(&y).zip(&ERR_P).map(|((m, d), e)| -0.5 * ((m - d) / e).powi(2)).sum()
    }

    #[test]
    fn p_alone_prefers_the_ridge_and_q_rules_it_out() {
        // P: the ridge at lambda = 0.8 beats the mode at 0.2 by the p3 term,
        // (0.6 / 0.08)² / 2 = 28 nats: more than the 21 below which the
        // sampler moves stranded walkers off a minor mode in two dimensions.
        let ridge = log_l_p(&[0.8, 0.1]);
        let mode = log_l_p(&[0.2, 0.5]);
        assert!(ridge - mode > crate::diagnostics::stranded_cut(2), "ridge {ridge}, mode {mode}");
        // Away from lambda = 0.8, g is pinned to 0.5 at P's small mode.
        assert!(log_l_p(&[0.2, 0.6]) < mode - 10.0);
        // Q: lambda = 0.8 is 15 errors from Q's measurement, which outweighs P's preference.
        let q_ridge = -0.5 * ((0.8 - TRUTH[0]) / ERR_Q[0]).powi(2);
        assert!(q_ridge < mode - ridge);
    }

    #[test]
    fn generate_is_seeded() {
        let d1 = tempfile::tempdir().unwrap();
        let d2 = tempfile::tempdir().unwrap();
        let s = ExampleSettings { design: 40, seed: 3 };
        generate(d1.path(), &s).unwrap();
        generate(d2.path(), &s).unwrap();
        for f in FILES {
            assert_eq!(std::fs::read(d1.path().join(f)).unwrap(), std::fs::read(d2.path().join(f)).unwrap(), "{f}");
        }
        assert_eq!(std::fs::read_to_string(d1.path().join("P.csv")).unwrap().lines().count(), 4);
    }
}

//! Validation of an emulator on held-out model runs: per output, the RMSE in
//! units of the output's training sd and the coverage of the 1-sd and 2-sd
//! predictive intervals (for a calibrated Gaussian: 0.683 and 0.954).

use ndarray::{Array2, ArrayView2, Axis};
use serde::Serialize;

use crate::{EmuError, GpEmulator, TrainSettings};

/// Scores of one output.
#[derive(Debug, Clone, Serialize)]
pub struct OutputScore {
    /// Output name.
    pub name: String,
    /// Root-mean-square error in units of the output's training sd.
    pub rmse_std: f64,
    /// Fraction of held-out values within 1 predicted sd.
    pub coverage_1sd: f64,
    /// Fraction of held-out values within 2 predicted sd.
    pub coverage_2sd: f64,
}

/// Validation summary: all outputs pooled, and each output.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// Held-out points.
    pub n_points: usize,
    /// Pooled RMSE in training-sd units.
    pub rmse_std: f64,
    /// Pooled 1-sd coverage.
    pub coverage_1sd: f64,
    /// Pooled 2-sd coverage.
    pub coverage_2sd: f64,
    /// Per output.
    pub outputs: Vec<OutputScore>,
}

/// Scores predictions (`mean`, `sd`) against `truth`, errors in units of `scale`.
pub fn score(mean: &Array2<f64>, sd: &Array2<f64>, truth: ArrayView2<'_, f64>, scale: &[f64], names: &[String]) -> Validation {
    let (n, o) = truth.dim();
    let mut outputs = Vec::with_capacity(o);
    let (mut se, mut c1, mut c2) = (0.0, 0usize, 0usize);
    for j in 0..o {
        let (mut s, mut a, mut b) = (0.0, 0usize, 0usize);
        for i in 0..n {
            let e = (mean[(i, j)] - truth[(i, j)]).abs();
            s += (e / scale[j]).powi(2);
            a += usize::from(e <= sd[(i, j)]);
            b += usize::from(e <= 2.0 * sd[(i, j)]);
        }
        se += s;
        c1 += a;
        c2 += b;
        let nf = n.max(1) as f64;
        outputs.push(OutputScore {
            name: names.get(j).cloned().unwrap_or_else(|| format!("y{}", j + 1)),
            rmse_std: (s / nf).sqrt(),
            coverage_1sd: a as f64 / nf,
            coverage_2sd: b as f64 / nf,
        });
    }
    let tot = (n * o).max(1) as f64;
    Validation { n_points: n, rmse_std: (se / tot).sqrt(), coverage_1sd: c1 as f64 / tot, coverage_2sd: c2 as f64 / tot, outputs }
}

/// Validates a trained emulator on held-out runs `(x, y)`.
///
/// # Errors
/// Shapes that do not match the emulator, non-finite values.
pub fn holdout(emu: &GpEmulator, x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Result<Validation, EmuError> {
    if y.ncols() != emu.output_names().len() || y.nrows() != x.nrows() {
        return Err(EmuError::Data(format!(
            "validation outputs are {}×{} but the design has {} rows and the emulator {} outputs",
            y.nrows(),
            y.ncols(),
            x.nrows(),
            emu.output_names().len()
        )));
    }
    if y.iter().any(|v| !v.is_finite()) {
        return Err(EmuError::Data("validation outputs hold non-finite values".into()));
    }
    let (m, s) = emu.predict_mean_sd(x)?;
    Ok(score(&m, &s, y, emu.output_sd(), emu.output_names()))
}

/// K-fold cross-validation: trains `k` emulators, each on all folds but one
/// (points assigned to folds in turn), and scores every point when held out.
/// The RMSE unit is each output's sd over all `n` runs; outputs are named `y1, y2, …`.
///
/// # Errors
/// As [`GpEmulator::train`]; `k` outside `2..=n`.
pub fn kfold(
    x: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
    bounds: &[(f64, f64)],
    settings: &TrainSettings,
    k: usize,
) -> Result<Validation, EmuError> {
    let n = x.nrows();
    if k < 2 || k > n {
        return Err(EmuError::Data(format!("k-fold needs 2 <= k <= {n}, got {k}")));
    }
    let scale: Vec<f64> = y.columns().into_iter().map(|c| c.std(0.0)).collect();
    let mut mean = Array2::zeros(y.dim());
    let mut sd = Array2::zeros(y.dim());
    for f in 0..k {
        let train: Vec<usize> = (0..n).filter(|i| i % k != f).collect();
        let test: Vec<usize> = (0..n).filter(|i| i % k == f).collect();
        let emu = GpEmulator::train(x.select(Axis(0), &train).view(), y.select(Axis(0), &train).view(), bounds, settings)?;
        let (m, s) = emu.predict_mean_sd(x.select(Axis(0), &test).view())?;
        for (r, &i) in test.iter().enumerate() {
            mean.row_mut(i).assign(&m.row(r));
            sd.row_mut(i).assign(&s.row(r));
        }
    }
    let names: Vec<String> = (1..=y.ncols()).map(|j| format!("y{j}")).collect();
    Ok(score(&mean, &sd, y, &scale, &names))
}

//! What a corner plot is drawn from: the sample sets ([`Samples`]) and the
//! settings ([`CornerOptions`]), checked before anything is read or drawn.

use crate::{Error, Result};

/// One sample set to draw.
#[derive(Debug, Clone)]
pub struct Samples {
    /// Legend label.
    pub label: String,
    /// Draws, one row per draw (`n × dim`), row-major.
    pub draws: Vec<f64>,
    /// Optional weights, one per draw.
    pub weights: Option<Vec<f64>>,
}

impl Samples {
    pub(super) fn n(&self, dim: usize) -> usize {
        self.draws.len() / dim.max(1)
    }
    pub(super) fn column(&self, j: usize, dim: usize) -> Vec<f64> {
        (0..self.n(dim)).map(|i| self.draws[i * dim + j]).collect()
    }
}

/// What the axes of a corner plot span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RangeMode {
    /// The 0.1%-99.9% span of the draws, padded by 5% and cut at the
    /// parameters' bounds (a bound inside the span is drawn).
    #[default]
    Data,
    /// The parameters' bounds (the prior box), drawn; a parameter without a
    /// finite bound on one side takes the data range there.
    Prior,
}

/// Settings of a corner plot.
#[derive(Debug, Clone)]
pub struct CornerOptions {
    /// Histogram bins per axis (5 to [`MAX_BINS`]).
    pub bins: usize,
    /// Gaussian smoothing of the histograms, in bins (0 to a quarter of
    /// `bins`).
    pub smooth: f64,
    /// Probability mass inside each contour (default: the 1σ/2σ/3σ masses of a
    /// 2-D Gaussian, 39.3%, 86.5%, 98.9%), drawn solid, dashed, dotted.
    pub levels: Vec<f64>,
    /// Pixels per panel side (40 to 2000).
    pub panel: u32,
    /// What the axes span.
    pub range: RangeMode,
    /// True values, one per parameter (`None`: no truth for it); empty for
    /// none at all.
    pub truths: Vec<Option<f64>>,
    /// Median and central 68% interval above each diagonal panel (of the
    /// first sample set).
    pub titles: bool,
}

impl Default for CornerOptions {
    fn default() -> Self {
        CornerOptions {
            bins: 40,
            smooth: 1.0,
            levels: vec![0.393, 0.865, 0.989],
            panel: 220,
            range: RangeMode::Data,
            truths: Vec::new(),
            titles: false,
        }
    }
}

/// Most histogram bins per axis: finer than any panel's pixels.
pub const MAX_BINS: usize = 1000;

impl CornerOptions {
    /// Checks the settings, before anything is read or allocated.
    ///
    /// # Errors
    /// Bins, smoothing, panel size or levels out of range, in words that
    /// name the command-line option.
    pub fn validate(&self) -> Result<()> {
        if self.bins < 5 {
            return Err(Error::Usage(format!("--bins {} is out of range: use 5 to {MAX_BINS} bins per axis", self.bins)));
        }
        if self.bins > MAX_BINS {
            return Err(Error::Usage(format!(
                "--bins {} is out of range: use 5 to {MAX_BINS} bins per axis (finer bins than a panel's pixels show nothing; a 2-D histogram of {} bins per axis would need {} of memory)",
                self.bins,
                self.bins,
                human_bytes(8.0 * (self.bins as f64).powi(2))
            )));
        }
        let most = self.bins as f64 / 4.0;
        if !(self.smooth.is_finite() && (0.0..=most).contains(&self.smooth)) {
            return Err(Error::Usage(format!(
                "--smooth {} is out of range: use 0 (none) to {most} bins (a quarter of --bins {})",
                self.smooth, self.bins
            )));
        }
        if !(40..=2000).contains(&self.panel) {
            return Err(Error::Usage(format!("--panel {} is out of range: use 40 to 2000 pixels per panel", self.panel)));
        }
        if self.levels.is_empty() || self.levels.iter().any(|p| !(*p > 0.0 && *p < 1.0)) {
            return Err(Error::Usage(format!("contour levels {:?}: give one or more probability masses strictly between 0 and 1", self.levels)));
        }
        Ok(())
    }
}

/// `b` bytes in MB, GB, or bytes in scientific notation.
pub(super) fn human_bytes(b: f64) -> String {
    match b {
        b if b >= 1e12 => format!("{:.1e} bytes", b),
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b => format!("{:.0} MB", (b / 1e6).ceil()),
    }
}

/// Memory the system can give now (`MemAvailable`), if known.
/// Weighted quantiles `ps` (ascending) of the finite values of `x`.
fn quantiles(x: &[f64], w: Option<&[f64]>, ps: &[f64]) -> Option<Vec<f64>> {
    let mut v: Vec<(f64, f64)> =
        x.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(i, &v)| (v, w.map_or(1.0, |w| w[i]))).filter(|(_, w)| *w > 0.0).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = v.iter().map(|p| p.1).sum();
    let mut out = Vec::with_capacity(ps.len());
    let (mut i, mut cum) = (0, v[0].1);
    for &p in ps {
        while cum < p * total && i + 1 < v.len() {
            i += 1;
            cum += v[i].1;
        }
        out.push(v[i].0);
    }
    Some(out)
}

/// Median and central 68.27% interval (the 15.87% and 84.13% quantiles) of
/// the finite values of `x`, weighted by `w`: `(lower, median, upper)`.
pub fn median_interval(x: &[f64], w: Option<&[f64]>) -> Option<(f64, f64, f64)> {
    let q = quantiles(x, w, &[0.158_655, 0.5, 0.841_345])?;
    Some((q[0], q[1], q[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_uniform_grid() {
        let x: Vec<f64> = (0..1001).map(|i| i as f64 / 1000.0).collect();
        let (lo, med, hi) = median_interval(&x, None).unwrap();
        assert!((med - 0.5).abs() < 1.5e-3 && (lo - 0.1587).abs() < 1.5e-3 && (hi - 0.8413).abs() < 1.5e-3, "{lo} {med} {hi}");
        // Weights: doubling the weight of the upper half moves the median up.
        let w: Vec<f64> = x.iter().map(|&v| if v > 0.5 { 2.0 } else { 1.0 }).collect();
        let (_, med, _) = median_interval(&x, Some(&w)).unwrap();
        assert!((med - 0.625).abs() < 2e-3, "{med}");
    }
}

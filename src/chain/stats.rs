//! Streaming summaries of chain files.
//!
//! [`Summary::from_reader`] reads the file block by block, twice: the first
//! pass computes weighted means and variances (Welford's update, merged
//! block by block as in Chan et al. 1979) and the range of each parameter;
//! the second fills a fine histogram (65 536 bins over that range) from
//! which quantiles are read with linear interpolation inside the bin. Memory
//! is one block plus the histograms, whatever the chain's length; quantiles
//! are exact to within one bin width, `range / 65 536` (reported as
//! `quantile_resolution`).

use serde::Serialize;

use super::h5::{ChainReader, RowBlock};
use crate::{memory, Result};

const BINS: usize = 1 << 16;

/// Quantile levels reported.
pub const QUANTILES: [f64; 3] = [0.05, 0.5, 0.95];

/// Summary of one parameter.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ParamSummary {
    /// Parameter name.
    pub name: String,
    /// (Weighted) mean.
    pub mean: f64,
    /// (Weighted) standard deviation.
    pub sd: f64,
    /// Smallest draw.
    pub min: f64,
    /// Largest draw.
    pub max: f64,
    /// 5% quantile.
    pub q05: f64,
    /// Median.
    pub q50: f64,
    /// 95% quantile.
    pub q95: f64,
    /// Largest error of the quantiles (one histogram bin).
    pub quantile_resolution: f64,
}

/// Summary of a chain file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Draws summarized (after discard and thin).
    pub draws: u64,
    /// Whether importance weights were used.
    pub weighted: bool,
    /// Per-parameter statistics.
    pub params: Vec<ParamSummary>,
    /// Mean of the log posterior, when known.
    pub log_prob_mean: Option<f64>,
    /// Largest log posterior, when known.
    pub log_prob_max: Option<f64>,
}

/// Running weighted mean and sum of squared deviations.
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    w: f64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl Moments {
    fn new() -> Self {
        Moments { w: 0.0, mean: 0.0, m2: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY }
    }

    fn push(&mut self, x: f64, wt: f64) {
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        if wt <= 0.0 {
            return;
        }
        self.w += wt;
        let d = x - self.mean;
        self.mean += d * wt / self.w;
        self.m2 += wt * d * (x - self.mean);
    }

    fn sd(&self) -> f64 {
        if self.w > 0.0 {
            (self.m2 / self.w).max(0.0).sqrt()
        } else {
            f64::NAN
        }
    }
}

/// Rows `block` keeps after discarding the first `discard` iterations of the
/// chain and thinning by `thin` (emcee's `[discard + thin - 1 :: thin]`).
fn kept_rows(block: &RowBlock, discard: usize, thin: usize) -> impl Iterator<Item = usize> + '_ {
    let first = discard + thin - 1;
    (0..block.rows()).filter(move |i| {
        let it = block.start + i;
        it >= first && (it - first) % thin == 0
    })
}

impl Summary {
    /// Summarizes a chain file without loading it whole.
    ///
    /// `discard` and `thin` act as emcee's; `block_rows` sets how many
    /// iterations are held in memory at once.
    ///
    /// # Errors
    /// A read error, an invalid value in the file, or a chain whose
    /// histograms or single row do not fit in memory.
    pub fn from_reader(reader: &ChainReader, discard: usize, thin: usize, block_rows: usize) -> Result<Summary> {
        let h = reader.header();
        let d = h.dim();
        memory::require(memory::bytes(memory::product(&[d, BINS]), 8).saturating_add(h.row_bytes()), || {
            format!("{}: summarizing {d} parameters of {} walkers", reader.path().display(), h.walkers)
        })?;
        // As many rows per block as fit in a quarter of the memory left, at least one.
        let block_rows = match memory::available() {
            Some(avail) => block_rows.min(usize::try_from(avail / 4 / h.row_bytes().max(1)).unwrap_or(usize::MAX).max(1)),
            None => block_rows,
        };
        let thin = thin.max(1);
        let weighted = h.columns.weights;
        let mut mom = vec![Moments::new(); d];
        let mut lp = Moments::new();
        let mut count = 0u64;
        for block in reader.blocks(block_rows) {
            let b = block?;
            for i in kept_rows(&b, discard, thin) {
                for k in 0..h.walkers {
                    let wt = b.weight(i, k);
                    for (j, m) in mom.iter_mut().enumerate() {
                        m.push(b.draws[[i, k, j]], wt);
                    }
                    if let Some(l) = &b.per_draw.log_prob {
                        if l[[i, k]].is_finite() {
                            lp.push(l[[i, k]], wt);
                        }
                    }
                    count += 1;
                }
            }
        }
        // Second pass: histograms over each parameter's range.
        let mut hist = vec![vec![0.0f64; BINS]; d];
        let scale: Vec<f64> = mom.iter().map(|m| if m.max > m.min { BINS as f64 / (m.max - m.min) } else { 0.0 }).collect();
        if count > 0 {
            for block in reader.blocks(block_rows) {
                let b = block?;
                for i in kept_rows(&b, discard, thin) {
                    for k in 0..h.walkers {
                        let wt = b.weight(i, k);
                        for j in 0..d {
                            let bin = ((b.draws[[i, k, j]] - mom[j].min) * scale[j]) as usize;
                            hist[j][bin.min(BINS - 1)] += wt;
                        }
                    }
                }
            }
        }
        let params = (0..d)
            .map(|j| {
                let m = &mom[j];
                let q = |p: f64| quantile(&hist[j], m.min, m.max, p);
                ParamSummary {
                    name: h.names[j].clone(),
                    mean: if m.w > 0.0 { m.mean } else { f64::NAN },
                    sd: m.sd(),
                    min: m.min,
                    max: m.max,
                    q05: q(QUANTILES[0]),
                    q50: q(QUANTILES[1]),
                    q95: q(QUANTILES[2]),
                    quantile_resolution: if m.max > m.min { (m.max - m.min) / BINS as f64 } else { 0.0 },
                }
            })
            .collect();
        let has_lp = h.columns.log_prob && lp.w > 0.0;
        Ok(Summary { draws: count, weighted, params, log_prob_mean: has_lp.then_some(lp.mean), log_prob_max: has_lp.then_some(lp.max) })
    }
}

/// The `p`-quantile of a histogram over `[lo, hi]`, interpolating linearly
/// inside the bin where the cumulative weight crosses `p`.
fn quantile(hist: &[f64], lo: f64, hi: f64, p: f64) -> f64 {
    let total: f64 = hist.iter().sum();
    if total <= 0.0 {
        return f64::NAN;
    }
    if hi <= lo {
        return lo;
    }
    let target = p * total;
    let width = (hi - lo) / hist.len() as f64;
    let mut cum = 0.0;
    for (i, &c) in hist.iter().enumerate() {
        if c > 0.0 && cum + c >= target {
            let frac = ((target - cum) / c).clamp(0.0, 1.0);
            return lo + (i as f64 + frac) * width;
        }
        cum += c;
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantile_matches_sorted_data_within_a_bin() {
        // 10 001 evenly spaced values in [0, 1]: the p-quantile is p.
        let n = 10_001;
        let mut hist = vec![0.0; BINS];
        for i in 0..n {
            let x = i as f64 / (n - 1) as f64;
            hist[((x * BINS as f64) as usize).min(BINS - 1)] += 1.0;
        }
        for p in QUANTILES {
            let q = quantile(&hist, 0.0, 1.0, p);
            assert!((q - p).abs() <= 2.0 / BINS as f64 + 1.0 / n as f64, "p {p}: {q}");
        }
    }

    #[test]
    fn weighted_moments_merge() {
        let mut m = Moments::new();
        for (x, w) in [(1.0, 1.0), (3.0, 3.0), (10.0, 0.0)] {
            m.push(x, w);
        }
        assert!((m.mean - 2.5).abs() < 1e-12);
        // weighted variance: (1*(1-2.5)^2 + 3*(3-2.5)^2)/4 = 0.75
        assert!((m.sd() - 0.75f64.sqrt()).abs() < 1e-12);
        assert_eq!(m.max, 10.0);
    }
}

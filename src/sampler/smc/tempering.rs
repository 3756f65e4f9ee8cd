//! Weights and resampling: the log mean and the effective sample size of
//! log weights, systematic, residual and multinomial resampling.

use rand::{Rng, RngExt};

use super::settings::Resampling;

/// `log(mean(exp(v)))`, stable; `-∞` when every value is `-∞`.
pub(super) fn log_mean_exp(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + (v.iter().map(|x| (x - m).exp()).sum::<f64>() / v.len() as f64).ln()
}

/// Effective sample size of the weights `exp(lw)` as a fraction of their
/// number: `(Σw)² / (N Σw²)`, 0 when every weight is zero.
pub(super) fn ess_fraction(lw: &[f64]) -> f64 {
    let m = lw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return 0.0;
    }
    let (s, s2) = lw.iter().fold((0.0, 0.0), |(s, s2), x| {
        let w = (x - m).exp();
        (s + w, s2 + w * w)
    });
    s * s / (s2 * lw.len() as f64)
}

/// Indices of `k` particles drawn with probabilities `exp(lw)` (normalized here).
pub(super) fn resample(kind: Resampling, lw: &[f64], k: usize, rng: &mut dyn Rng) -> Vec<usize> {
    let n = lw.len();
    let m = lw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = lw.iter().map(|x| (x - m).exp()).collect();
    let total: f64 = w.iter().sum();
    let mut cum = Vec::with_capacity(n);
    let mut acc = 0.0;
    for v in &w {
        acc += v / total;
        cum.push(acc);
    }
    let pick = |u: f64| cum.partition_point(|&c| c <= u).min(n - 1);
    match kind {
        Resampling::Systematic => {
            let u0: f64 = rng.random::<f64>() / k as f64;
            (0..k).map(|j| pick(u0 + j as f64 / k as f64)).collect()
        }
        Resampling::Residual => {
            // floor(k w) copies of each, then systematic on the remainders.
            let mut out = Vec::with_capacity(k);
            let mut rest = Vec::with_capacity(n);
            for (i, v) in w.iter().enumerate() {
                let nw = k as f64 * v / total;
                let c = nw.floor() as usize;
                out.extend(std::iter::repeat_n(i, c));
                rest.push(nw - c as f64);
            }
            let left = k.saturating_sub(out.len());
            if left > 0 {
                let rt: f64 = rest.iter().sum();
                let mut cum = Vec::with_capacity(n);
                let mut acc = 0.0;
                for v in &rest {
                    acc += v / rt;
                    cum.push(acc);
                }
                let u0: f64 = rng.random::<f64>() / left as f64;
                out.extend((0..left).map(|j| cum.partition_point(|&c| c <= u0 + j as f64 / left as f64).min(n - 1)));
                out.sort_unstable();
            }
            out
        }
        Resampling::Multinomial => {
            let mut out: Vec<usize> = (0..k).map(|_| pick(rng.random::<f64>())).collect();
            out.sort_unstable();
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn resampling_keeps_the_expected_counts() {
        let lw: Vec<f64> = [0.1f64, 0.2, 0.3, 0.4].iter().map(|v| v.ln()).collect();
        for kind in [Resampling::Systematic, Resampling::Residual, Resampling::Multinomial] {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let mut counts = [0usize; 4];
            for _ in 0..2000 {
                for i in resample(kind, &lw, 4, &mut rng) {
                    counts[i] += 1;
                }
            }
            for (k, c) in counts.iter().enumerate() {
                let p = (k + 1) as f64 / 10.0;
                let want = 8000.0 * p;
                // Binomial sd of the multinomial count (systematic is tighter).
                let sd = (8000.0 * p * (1.0 - p)).sqrt();
                assert!((*c as f64 - want).abs() < 4.0 * sd, "{kind:?}: {counts:?}");
            }
        }
        // Systematic resampling gives each particle floor or ceil of N w.
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let idx = resample(Resampling::Systematic, &lw, 4, &mut rng);
        for k in 0..4 {
            let c = idx.iter().filter(|&&i| i == k).count() as f64;
            let nw = 0.4 * (k + 1) as f64;
            assert!(c >= nw.floor() && c <= nw.ceil(), "{idx:?}");
        }
    }
}

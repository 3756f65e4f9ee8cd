//! The held-out check of a flow in training: draws of the flow against the
//! held-out draws of the chain, by the average KL of their 1-D marginals (both
//! directions), next to its floor, the same measure between the held-out draws
//! and as many training draws (two samples of the chain: what sampling noise
//! alone gives). Unlike a loss evaluated at the held-out draws, it sees mass the
//! flow puts where the chain has none; and a flow at its floor has nothing left
//! to learn that the draws can show, so training can stop there.
//!
//! Histograms as seqcal's comparisons make them: equal bins over the held-out
//! draws' range, draws outside it counted in the end bins, a pseudo-count of 0.5
//! per bin, importance weights honoured.
//!
//! # Reference
//! Roch & Shen, *Learning informed prior distributions with normalizing flows for
//! Bayesian analysis* (average 1-D KL as the measure of a flow prior).

use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

/// Bins per parameter.
const BINS: usize = 50;
/// Pseudo-count added to every bin.
const PSEUDO: f64 = 0.5;
/// Fewest held-out draws the check runs on.
pub const MIN_ROWS: usize = 1000;
/// Training subsamples whose KL to the held-out draws is averaged into the floor.
const FLOOR_REPEATS: usize = 4;

/// Weighted 1-D histograms of one set of draws, `d` rows of [`BINS`].
#[derive(Debug, Clone)]
struct Histograms(Vec<Vec<f64>>);

/// The held-out draws' histograms, their floor and the fixed base draws the
/// flow's draws come from at every check (so that successive checks differ only
/// by the flow).
#[derive(Debug)]
pub struct HeldOutCheck {
    d: usize,
    ranges: Vec<(f64, f64)>,
    reference: Histograms,
    /// The floor: mean symmetric KL between the held-out draws and training subsamples of their size.
    pub floor: f64,
    /// Base draws, `m × d` row-major.
    pub z: Vec<f64>,
}

impl HeldOutCheck {
    /// The check of the held-out rows `val` of `x` (`d` columns, weights `w`)
    /// against as many training rows `train`; `None` with fewer than
    /// [`MIN_ROWS`] held-out rows (their floor would be too coarse to stop on)
    /// or weights that carry no mass.
    pub fn new(x: &[f64], d: usize, w: &[f64], val: &[usize], train: &[usize], rng: &mut impl Rng) -> Option<Self> {
        let m = val.len();
        if m < MIN_ROWS || train.len() < m || d == 0 {
            return None;
        }
        let ranges: Vec<(f64, f64)> = (0..d)
            .map(|j| val.iter().map(|&i| x[i * d + j]).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v))))
            .collect();
        let hist = |rows: &mut dyn Iterator<Item = (&[f64], f64)>| -> Option<Histograms> {
            let mut h = vec![vec![0.0; BINS]; d];
            let mut total = 0.0;
            for (row, wi) in rows {
                for (j, &v) in row.iter().enumerate() {
                    h[j][bin(v, ranges[j])] += wi;
                }
                total += wi;
            }
            (total > 0.0 && total.is_finite()).then(|| Histograms(h.into_iter().map(|c| c.iter().map(|v| v * m as f64 / total).collect()).collect()))
        };
        let reference = hist(&mut val.iter().map(|&i| (&x[i * d..(i + 1) * d], w[i])))?;
        let mut floor = 0.0;
        for _ in 0..FLOOR_REPEATS {
            // m training rows without replacement (a partial shuffle of indices into `train`).
            let mut pick: Vec<usize> = (0..train.len()).collect();
            for k in 0..m {
                let j = rng.random_range(k..pick.len());
                pick.swap(k, j);
            }
            let sub = hist(&mut pick[..m].iter().map(|&k| (&x[train[k] * d..(train[k] + 1) * d], w[train[k]])))?;
            floor += symmetric_kl(&reference, &sub) / FLOOR_REPEATS as f64;
        }
        let z = (0..m * d).map(|_| StandardNormal.sample(rng)).collect();
        Some(HeldOutCheck { d, ranges, reference, floor, z })
    }

    /// The average over parameters of the symmetric 1-D KL between the held-out
    /// draws and `draws` (`m × d` row-major, unweighted); non-finite draws count
    /// in the end bins, so a flow that overflows scores high rather than NaN.
    pub fn kl(&self, draws: &[f32]) -> f64 {
        let d = self.d;
        let n = draws.len() / d;
        let mut h = vec![vec![0.0; BINS]; d];
        for row in draws.chunks_exact(d) {
            for (j, &v) in row.iter().enumerate() {
                let v = if v.is_nan() { f64::INFINITY } else { v as f64 };
                h[j][bin(v, self.ranges[j])] += 1.0;
            }
        }
        let scale = (self.z.len() / d) as f64 / n.max(1) as f64;
        let h = Histograms(h.into_iter().map(|c| c.iter().map(|v| v * scale).collect()).collect());
        symmetric_kl(&self.reference, &h)
    }
}

fn bin(v: f64, (lo, hi): (f64, f64)) -> usize {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return 0;
    }
    let k = ((v - lo) / (hi - lo) * BINS as f64).floor();
    if k.is_nan() || k < 0.0 {
        0
    } else {
        (k as usize).min(BINS - 1)
    }
}

/// Mean over parameters of `(KL(a‖b) + KL(b‖a)) / 2`.
fn symmetric_kl(a: &Histograms, b: &Histograms) -> f64 {
    let d = a.0.len().max(1) as f64;
    a.0.iter().zip(&b.0).map(|(p, q)| 0.5 * (seqcal_api::kl_counts(p, q, PSEUDO) + seqcal_api::kl_counts(q, p, PSEUDO))).sum::<f64>() / d
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Draws of N(0, 1) (one column): the check of another sample of N(0, 1) is at its
    /// floor; a flow that leaks 90% of its mass to N(12, 1), or doubles the width, is many
    /// floors above it.
    #[test]
    fn the_check_sees_a_leaking_flow_and_a_matching_one_sits_at_the_floor() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let n = 100_000;
        let x: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
        let w = vec![1.0; n];
        let (val, train): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| i % 10 == 0);
        let check = HeldOutCheck::new(&x, 1, &w, &val, &train, &mut rng).unwrap();
        assert!(check.floor > 0.0 && check.floor < 0.01, "{}", check.floor);
        let same: Vec<f32> = check.z.iter().map(|&v| v as f32).collect();
        let leaking: Vec<f32> = check.z.iter().enumerate().map(|(i, &v)| if i % 10 == 0 { v as f32 } else { 12.0 + v as f32 }).collect();
        let wide: Vec<f32> = check.z.iter().map(|&v| 2.0 * v as f32).collect();
        let at = |draws: &[f32]| check.kl(draws) / check.floor;
        assert!(at(&same) < 2.0, "{}", at(&same));
        assert!(at(&leaking) > 100.0, "{}", at(&leaking));
        assert!(at(&wide) > 20.0, "{}", at(&wide));
        // NaN draws count as overflow, not as a NaN statistic.
        assert!(check.kl(&vec![f32::NAN; check.z.len()]).is_finite());
    }
}

//! The two-sample floor of a histogram KL: what the metric gives between two
//! independent samples of the reference's size, i.e. what sampling noise alone
//! gives. A comparison is read against it: a KL at the floor is as close as two
//! runs of the same posterior can be; one well above it is a real difference.
//!
//! With only one reference sample at hand, the floor is measured between its
//! two halves ([`halves`]: the first and second half of its walkers, which run
//! independently of each other, or of its draws when there is one walker) and
//! scaled by [`HALF_TO_FULL`] = ½ to the reference's size: both histogram
//! estimators' noise falls as `1 / n` (seqcal's bias is `(K − 1) / 2n` per
//! sample; the paper's empty-bin terms follow the tail bins a sample of `n`
//! draws leaves unfilled). The scaling is checked against the floor of two
//! truly independent samples in this module's tests.

use ndarray::Array2;

use super::weighted::WeightedDraws;

/// Factor from the floor between two halves to the floor of the full size.
pub const HALF_TO_FULL: f64 = 0.5;

/// One half of a sample: its draws and weights.
pub type Half = (Array2<f64>, Option<Vec<f64>>);

/// The two halves of `x`, whose rows are iteration-major draws of `walkers`
/// walkers (row `r` belongs to walker `r % walkers`): the first `walkers / 2`
/// walkers and the others, or, with fewer than two walkers (or rows that are not
/// whole iterations), the first and second half of the rows.
pub fn halves(x: WeightedDraws<'_>, walkers: usize) -> (Half, Half) {
    let n = x.len();
    let (first, second): (Vec<usize>, Vec<usize>) =
        if walkers >= 2 && n % walkers == 0 { (0..n).partition(|r| r % walkers < walkers / 2) } else { (0..n).partition(|r| *r < n / 2) };
    (x.select(&first), x.select(&second))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::{paper_kl, KlSummary};
    use ndarray::Array2;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    fn normal(n: usize, seed: u64) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((n, 3), |_| Distribution::<f64>::sample(&StandardNormal, &mut rng))
    }

    #[test]
    fn halves_split_walkers_or_rows() {
        let x = Array2::from_shape_fn((8, 1), |(i, _)| i as f64);
        let ((a, _), (b, _)) = halves(WeightedDraws::new(x.view()), 4);
        assert_eq!(a.column(0).to_vec(), vec![0.0, 1.0, 4.0, 5.0]);
        assert_eq!(b.column(0).to_vec(), vec![2.0, 3.0, 6.0, 7.0]);
        let ((a, _), (b, _)) = halves(WeightedDraws::new(x.view()), 1);
        assert_eq!((a.column(0).to_vec(), b.column(0).to_vec()), (vec![0.0, 1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0, 7.0]));
        let w: Vec<f64> = (0..8).map(|i| i as f64).collect();
        let ((_, wa), _) = halves(WeightedDraws::with_weights(x.view(), Some(&w)), 4);
        assert_eq!(wa.unwrap(), vec![0.0, 1.0, 4.0, 5.0]);
    }

    #[test]
    fn the_scaled_half_floor_estimates_the_floor_of_two_full_samples() {
        // The floor of two independent samples of 8000 draws, averaged over 8 pairs, against
        // the scaled half floor of one sample of 8000, averaged over 8 samples. Each mean has a
        // relative spread of a few percent; a wrong scaling (1 instead of ½) is off by 100%.
        let n = 8000;
        let bx = vec![(-5.0, 5.0); 3];
        let (mut full_s, mut half_s, mut full_p, mut half_p) = (0.0, 0.0, 0.0, 0.0);
        for k in 0..8u64 {
            let (a, b) = (normal(n, 100 + 2 * k), normal(n, 101 + 2 * k));
            let (wa, wb) = (WeightedDraws::new(a.view()), WeightedDraws::new(b.view()));
            full_s += KlSummary::compute(a.view(), b.view()).mean_kl_1d;
            full_p += paper_kl(wa, wb, &bx).d_kl;
            let ((h1, _), (h2, _)) = halves(wa, 1);
            half_s += HALF_TO_FULL * KlSummary::compute(h1.view(), h2.view()).mean_kl_1d;
            half_p += HALF_TO_FULL * paper_kl(WeightedDraws::new(h1.view()), WeightedDraws::new(h2.view()), &bx).d_kl;
        }
        assert!((half_s / full_s - 1.0).abs() < 0.2, "seqcal: half-based {half_s} vs full {full_s}");
        assert!((half_p / full_p - 1.0).abs() < 0.2, "paper: half-based {half_p} vs full {full_p}");
    }
}

//! The KL divergence of two histograms over the same bins, shared by seqcal's
//! marginal comparisons and the flow trainer's held-out check (which cannot
//! depend on the `seqcal` crate), so both measure with one formula.

/// `KL(p ‖ q)` of two histograms of counts (or weights) over the same bins,
/// each smoothed by `pseudo` per bin before normalizing, so an empty bin
/// costs a finite amount.
pub fn kl_counts(p: &[f64], q: &[f64], pseudo: f64) -> f64 {
    let k = p.len() as f64;
    let (np, nq) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
    p.iter()
        .zip(q)
        .map(|(a, b)| {
            let pa = (a + pseudo) / (np + pseudo * k);
            let qb = (b + pseudo) / (nq + pseudo * k);
            pa * (pa / qb).ln()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::kl_counts;

    #[test]
    fn equal_histograms_are_zero_apart_and_different_ones_are_not() {
        assert_eq!(kl_counts(&[3.0, 1.0, 0.0], &[3.0, 1.0, 0.0], 0.5), 0.0);
        // p = (0.5, 0.5) against q = (0.25, 0.75) with no smoothing: 0.5 ln 2 + 0.5 ln(2/3).
        let want = 0.5 * 2f64.ln() + 0.5 * (2.0f64 / 3.0).ln();
        assert!((kl_counts(&[1.0, 1.0], &[1.0, 3.0], 0.0) - want).abs() < 1e-15);
    }
}

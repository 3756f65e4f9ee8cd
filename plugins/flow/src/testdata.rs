//! Seeded 7-D test densities with exact log densities, for accuracy tests and
//! benchmarks: draws are exact (no MCMC), so the truth and each draw's log
//! density are known.

use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_7;

fn ln_normal(x: f64, m: f64, s: f64) -> f64 {
    -0.5 * ((x - m) / s).powi(2) - s.ln() - LN_SQRT_2PI
}

fn log_add(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// Names `x0 .. x6`.
pub fn names() -> Vec<String> {
    (0..7).map(|i| format!("x{i}")).collect()
}

/// Box of [`bounded_7d`]. The truncation of the Gaussian and log-normal tails
/// at these bounds removes less than 1e-7 of the mass, below any test's resolution.
pub const BOUNDED_7D_BOX: [(f64, f64); 7] = [(0.0, 1.0), (-5.0, 5.0), (-4.0, 4.0), (-10.0, 10.0), (0.0, 200.0), (0.0, 1.0), (-8.0, 8.0)];

/// A 7-D density on [`BOUNDED_7D_BOX`] with peaks at the box boundary, long
/// tails, correlations and one bimodal parameter:
///
/// - `x0 ~ Beta(1, 3)` (peak at the lower bound 0);
/// - `x1 | x0 ~ N(2 x0 - 0.5, 0.5²)`;
/// - `x2 ~ ½ N(-1.5, 0.4²) + ½ N(1.5, 0.4²)` (bimodal);
/// - `x3 | x2 ~ N(0.6 x2, 0.5²)`;
/// - `x4 ~ LogNormal(0, 0.8²)` (long right tail);
/// - `x5 ~ Beta(4, 1)` (peak at the upper bound 1);
/// - `x6 | x0 ~ N(0, (0.5 + x0)²)` (heteroscedastic).
///
/// Returns `n` exact draws (seeded) and the exact normalized log density of each.
pub fn bounded_7d(n: usize, seed: u64) -> (Array2<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::zeros((n, 7));
    let mut lp = Vec::with_capacity(n);
    for i in 0..n {
        let mut r = [0.0; 7];
        let zs: [f64; 5] = std::array::from_fn(|_| StandardNormal.sample(&mut rng));
        let (u0, u5, coin): (f64, f64, f64) = (rng.random(), rng.random(), rng.random());
        r[0] = 1.0 - (1.0 - u0).cbrt();
        r[1] = 2.0 * r[0] - 0.5 + 0.5 * zs[0];
        r[2] = if coin < 0.5 { -1.5 } else { 1.5 } + 0.4 * zs[1];
        r[3] = 0.6 * r[2] + 0.5 * zs[2];
        r[4] = (0.8 * zs[3]).exp();
        r[5] = u5.powf(0.25);
        r[6] = (0.5 + r[0]) * zs[4];
        x.row_mut(i).iter_mut().zip(r).for_each(|(o, v)| *o = v);
        lp.push(bounded_7d_log_density(&r));
    }
    (x, lp)
}

/// The exact log density of [`bounded_7d`] (`-∞` outside the box).
pub fn bounded_7d_log_density(r: &[f64]) -> f64 {
    if r.len() != 7 || r.iter().zip(BOUNDED_7D_BOX).any(|(v, (l, u))| !(*v > l && *v < u)) {
        return f64::NEG_INFINITY;
    }
    3f64.ln() + 2.0 * (1.0 - r[0]).ln() + ln_normal(r[1], 2.0 * r[0] - 0.5, 0.5) + log_add(ln_normal(r[2], -1.5, 0.4), ln_normal(r[2], 1.5, 0.4))
        - 2f64.ln()
        + ln_normal(r[3], 0.6 * r[2], 0.5)
        + ln_normal(r[4].ln(), 0.0, 0.8)
        - r[4].ln()
        + 4f64.ln()
        + 3.0 * r[5].ln()
        + ln_normal(r[6], 0.0, 0.5 + r[0])
}

/// The 7-D law of the normflows peer script (`benches/peers/normflows_realnvp.py`),
/// drawn with our own seeded RNG, with its exact log density:
/// banana, bimodal, correlated, log-normal, heteroscedastic coordinates on R^7.
pub fn normflows_7d(n: usize, seed: u64) -> (Array2<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::zeros((n, 7));
    let mut lp = Vec::with_capacity(n);
    for i in 0..n {
        let z: [f64; 7] = std::array::from_fn(|_| StandardNormal.sample(&mut rng));
        let s = if rng.random::<bool>() { 1.0 } else { -1.0 };
        let mut r = [0.0; 7];
        r[0] = z[0];
        r[1] = 0.5 * z[1] + 0.5 * (r[0] * r[0] - 1.0);
        r[2] = 2.0 * s + 0.5 * z[2];
        r[3] = 0.6 * r[2] + 0.8 * z[3];
        r[4] = (0.5 * z[4]).exp() - 1.0;
        r[5] = 0.7 * r[4] + 0.3 * z[5];
        r[6] = z[6] * (1.0 + 0.5 * r[0].abs());
        x.row_mut(i).iter_mut().zip(r).for_each(|(o, v)| *o = v);
        let l4 = (r[4] + 1.0).ln();
        lp.push(
            ln_normal(r[0], 0.0, 1.0)
                + ln_normal(r[1], 0.5 * (r[0] * r[0] - 1.0), 0.5)
                + log_add(ln_normal(r[2], 2.0, 0.5), ln_normal(r[2], -2.0, 0.5))
                - 2f64.ln()
                + ln_normal(r[3], 0.6 * r[2], 0.8)
                + ln_normal(l4, 0.0, 0.5)
                - l4
                + ln_normal(r[5], 0.7 * r[4], 0.3)
                + ln_normal(r[6], 0.0, 1.0 + 0.5 * r[0].abs()),
        );
    }
    (x, lp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(location, scale)` of a product proposal covering the box of
    /// [`bounded_7d`]: uniform (`None`) or logistic coordinates (for `x4`, its
    /// log is logistic), heavier-tailed than the density in every coordinate so
    /// that `p/g` has finite variance.
    const G: [Option<(f64, f64)>; 7] = [None, Some((0.3, 0.5)), Some((0.0, 0.9)), Some((0.0, 0.8)), Some((0.0, 0.5)), None, Some((0.0, 0.5))];

    /// A draw of the proposal and its log density.
    fn propose(rng: &mut ChaCha8Rng) -> ([f64; 7], f64) {
        let ln_logistic = |z: f64, s: f64| -z.abs() - 2.0 * (-z.abs()).exp().ln_1p() - s.ln();
        let mut ln_g = 0.0;
        let r = std::array::from_fn(|j| {
            let u: f64 = rng.random();
            match G[j] {
                None => u,
                Some((m, s)) => {
                    let z = (u / (1.0 - u)).ln();
                    ln_g += ln_logistic(z, s);
                    if j == 4 {
                        let x = (m + s * z).exp();
                        ln_g -= x.ln();
                        x
                    } else {
                        m + s * z
                    }
                }
            }
        });
        (r, ln_g)
    }

    /// Mean and standard error.
    fn mean_se(v: impl Iterator<Item = f64>) -> (f64, f64) {
        let v: Vec<f64> = v.collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
        (m, (var / v.len() as f64).sqrt())
    }

    /// The log density itself integrates to one (importance sampling from the
    /// proposal, `E_g[p/g] = ∫ p`), and the generator's draws follow it: the
    /// probability of each of five events, from the draws, matches its integral
    /// under the density (`E_g[1_A p/g]`). Tolerances: 5 Monte Carlo standard
    /// errors; the integral's error is below 0.01, so that a density off by
    /// 5% is caught.
    #[test]
    fn bounded_7d_density_is_normalized_and_matches_its_draws() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (pts, w): (Vec<[f64; 7]>, Vec<f64>) = (0..1_000_000)
            .map(|_| {
                let (r, ln_g) = propose(&mut rng);
                (r, (bounded_7d_log_density(&r) - ln_g).exp())
            })
            .unzip();
        let (z, se) = mean_se(w.iter().copied());
        assert!(se < 0.01 && (z - 1.0).abs() < 5.0 * se, "integral of the density: {z} ± {se}");
        let (x, lp) = bounded_7d(200_000, 12);
        for (row, l) in x.rows().into_iter().zip(&lp).take(1000) {
            assert_eq!(*l, bounded_7d_log_density(row.as_slice().unwrap()), "{row:?}");
        }
        type Event = (&'static str, fn(&[f64]) -> bool);
        let events: [Event; 5] = [
            ("x0 < 0.2", |r| r[0] < 0.2),
            ("x2 > 0.5", |r| r[2] > 0.5),
            ("x4 > 1.5", |r| r[4] > 1.5),
            ("x5 > 0.9", |r| r[5] > 0.9),
            ("x1 > 2 x0 - 0.5 and x6 > 0.3", |r| r[1] > 2.0 * r[0] - 0.5 && r[6] > 0.3),
        ];
        for (name, a) in events {
            let (by_density, se_d) = mean_se(pts.iter().zip(&w).map(|(r, w)| if a(r) { *w } else { 0.0 }));
            let (by_draws, se_x) = mean_se(x.rows().into_iter().map(|r| if a(r.as_slice().unwrap()) { 1.0 } else { 0.0 }));
            let se = se_d.hypot(se_x);
            assert!((by_density - by_draws).abs() < 5.0 * se, "P({name}): {by_density} by the density, {by_draws} by the draws (± {se})");
        }
    }
}

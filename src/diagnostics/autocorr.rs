//! Autocorrelation function and integrated autocorrelation time.
//!
//! The autocorrelation function (ACF) of a series is computed with one forward and one inverse FFT over
//! the mean-removed series, zero-padded to the power of two at or above twice its length, so that the
//! circular correlation the FFT computes equals the linear one for every lag below the series length.
//! Lags are normalized by the lag-0 autocovariance, so that `acf[0] = 1`.
//!
//! For a chain of an ensemble sampler, [`integrated_time`] averages the ACFs of the walkers parameter by
//! parameter and estimates the integrated autocorrelation time `τ = 1 + 2 Σ_{k≥1} ρ(k)` with Sokal's
//! self-consistent window: the sum is cut at the first lag `M` with `M ≥ c·τ(M)`. This is the estimator
//! recommended by Goodman & Weare and used by emcee.
//!
//! Two implementation details keep this cheap on long chains (20 000 steps × 32 walkers × 7 parameters
//! take 119 FFTs of 65 536 points):
//!
//! - two walkers go through one complex FFT (one as the real part, the other as the imaginary part),
//!   their spectra separated afterwards by the Hermitian symmetry of real signals;
//! - since the inverse FFT is linear, the walkers' normalized power spectra are averaged first and
//!   inverted once per parameter.
//!
//! One [`FftPlanner`] and one set of buffers serve a whole call.
//!
//! # Reference
//! - A. D. Sokal (1997), *Monte Carlo methods in statistical mechanics: foundations and new
//!   algorithms*, in Functional Integration (Cargèse 1996), NATO ASI Series B 361, 131–192 (lecture
//!   notes).
//! - J. Goodman & J. Weare (2010), *Ensemble samplers with affine invariance*, Comm. App. Math. Comp.
//!   Sci. 5(1), 65–80.
//! - D. Foreman-Mackey, D. W. Hogg, D. Lang & J. Goodman (2013), *emcee: the MCMC hammer*, PASP
//!   125(925), 306–312.

use std::sync::Arc;

use ndarray::{Array2, ArrayView1, ArrayView3, Axis};
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use serde::Serialize;

/// Default window factor `c` of the self-consistent window (emcee's default).
pub const DEFAULT_C: f64 = 5.0;

/// Default number of autocorrelation times a chain should span before its estimate is trusted (emcee's
/// default).
pub const DEFAULT_TOL: f64 = 50.0;

/// Sums the normalized power spectra of series of one length, then turns the average into an ACF. Buffers and
/// FFT plans are reused across series and parameters.
struct AcfPlan {
    /// Length of each series.
    n: usize,
    fwd: Arc<dyn Fft<f64>>,
    inv: Arc<dyn Fft<f64>>,
    buf: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    /// Sum of the normalized power spectra added since the last reset.
    spec: Vec<f64>,
    /// Number of series added since the last reset.
    count: usize,
}

/// Mean-removal data of one series: its mean and `1 / (nfft · Σ (x - mean)²)`, the factor that normalizes its
/// power spectrum to unit sum, or `None` when the series is constant (all values equal, or squared deviations
/// that underflow to zero).
fn center(x: ArrayView1<'_, f64>, nfft: usize) -> (f64, Option<f64>) {
    let first = x.first().copied().unwrap_or(0.0);
    if first.is_finite() && x.iter().all(|&v| v == first) {
        return (first, None);
    }
    let mean = x.sum() / x.len() as f64;
    let ss: f64 = x.iter().map(|&v| (v - mean) * (v - mean)).sum();
    // A NaN or infinite value makes `ss` non-finite: the NaN flows into the
    // spectrum on purpose, so that the result reports it.
    if ss == 0.0 {
        (mean, None)
    } else {
        (mean, Some(1.0 / (nfft as f64 * ss)))
    }
}

impl AcfPlan {
    /// Plans FFTs for series of length `n >= 1`.
    fn new(n: usize) -> Self {
        let nfft = (2 * n).next_power_of_two();
        let mut planner = FftPlanner::<f64>::new();
        let fwd = planner.plan_fft_forward(nfft);
        let inv = planner.plan_fft_inverse(nfft);
        let scratch_len = fwd.get_inplace_scratch_len().max(inv.get_inplace_scratch_len());
        AcfPlan {
            n,
            fwd,
            inv,
            buf: vec![Complex::new(0.0, 0.0); nfft],
            scratch: vec![Complex::new(0.0, 0.0); scratch_len],
            spec: vec![0.0; nfft],
            count: 0,
        }
    }

    fn reset(&mut self) {
        self.spec.fill(0.0);
        self.count = 0;
    }

    /// Adds the normalized power spectrum of `a` (and of `b`, when given) to the running sum. Both series
    /// must have length `n`.
    fn add(&mut self, a: ArrayView1<'_, f64>, b: Option<ArrayView1<'_, f64>>) {
        let nfft = self.buf.len();
        let (ma, na) = center(a, nfft);
        let (mb, nb) = b.map_or((0.0, None), |b| center(b, nfft));
        // A constant series contributes zeros here; its flat spectrum is added below.
        let da = |v: f64| if na.is_some() { v - ma } else { 0.0 };
        let db = |v: f64| if nb.is_some() { v - mb } else { 0.0 };
        match b {
            Some(b) => {
                for ((z, &va), &vb) in self.buf.iter_mut().zip(a.iter()).zip(b.iter()) {
                    *z = Complex::new(da(va), db(vb));
                }
            }
            None => {
                for (z, &va) in self.buf.iter_mut().zip(a.iter()) {
                    *z = Complex::new(da(va), 0.0);
                }
            }
        }
        self.buf[self.n..].fill(Complex::new(0.0, 0.0));
        self.fwd.process_with_scratch(&mut self.buf, &mut self.scratch);

        // A real series has a Hermitian spectrum, so with z = a + i·b:
        // A_k = (Z_k + conj Z_{-k}) / 2 and B_k = (Z_k - conj Z_{-k}) / (2i).
        // The normalized spectrum of a constant series is flat, 1/nfft, the
        // transform of a unit impulse at lag 0.
        let flat = 1.0 / nfft as f64;
        let wa = na.map_or(0.0, |w| 0.25 * w);
        let wb = nb.map_or(0.0, |w| 0.25 * w);
        let extra = if na.is_none() { flat } else { 0.0 } + if b.is_some() && nb.is_none() { flat } else { 0.0 };
        for k in 0..nfft {
            let z = self.buf[k];
            let zc = self.buf[(nfft - k) % nfft].conj();
            let mut p = extra + wa * (z + zc).norm_sqr();
            if b.is_some() {
                p += wb * (z - zc).norm_sqr();
            }
            self.spec[k] += p;
        }
        self.count += 1 + usize::from(b.is_some());
    }

    /// Writes the ACF of the average of the spectra added into `out` (length `n`, `out[0] = 1` unless a
    /// series held a non-finite value).
    fn finish(&mut self, out: &mut Vec<f64>) {
        let scale = 1.0 / self.count.max(1) as f64;
        for (z, &p) in self.buf.iter_mut().zip(&self.spec) {
            *z = Complex::new(p * scale, 0.0);
        }
        self.inv.process_with_scratch(&mut self.buf, &mut self.scratch);
        out.clear();
        out.extend(self.buf[..self.n].iter().map(|z| z.re));
        if let Some(f0) = out.first_mut().filter(|f0| f0.is_finite()) {
            // Already 1 up to rounding.
            *f0 = 1.0;
        }
    }
}

/// Normalized autocorrelation function of a 1-D series.
///
/// The mean is removed first; the autocovariance is computed by FFT with zero padding to the next power of
/// two at or above `2·n`, and divided by its lag-0 value, so that `acf[0] = 1`. The result has the length of
/// `x`; lag `k` uses the `n - k` products available (the biased estimator, as emcee).
///
/// Degenerate inputs: an empty series gives an empty vector; a constant series (including a single value)
/// gives `1` at lag 0 and `0` at every other lag, never NaN. A series holding NaN or an infinity gives NaN.
pub fn autocorr_function(x: &[f64]) -> Vec<f64> {
    if x.is_empty() {
        return Vec::new();
    }
    let mut plan = AcfPlan::new(x.len());
    plan.add(ArrayView1::from(x), None);
    let mut out = Vec::with_capacity(x.len());
    plan.finish(&mut out);
    out
}

/// Integrated autocorrelation time of each parameter of a chain.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AutocorrTime {
    /// Estimated integrated autocorrelation time of each parameter, in steps (NaN where it cannot be
    /// computed: no steps, no walkers, or a non-finite draw).
    pub tau: Vec<f64>,
    /// Number of steps of the chain.
    pub n_steps: usize,
    /// true when `n_steps < tol · max(tau)` (or a `tau` is NaN): the chain is too short for the estimate to
    /// be trusted.
    pub too_short: bool,
    /// Number of autocorrelation times the chain was required to span.
    pub tol: f64,
}

/// Integrated autocorrelation time per parameter, as emcee estimates it.
///
/// `chain` is `steps × walkers × dim`. For each parameter the ACFs of the walkers (see [`autocorr_function`])
/// are averaged into `f`; with `τ(m) = 2·Σ_{k≤m} f(k) − 1`, the window is the first `m` with `m ≥ c·τ(m)`
/// (the last lag if there is none) and `τ = τ(m)`. `c = 5` ([`DEFAULT_C`]) suits chains whose ACF decays
/// roughly exponentially.
///
/// The estimate is flagged [`too_short`](AutocorrTime::too_short) when the chain spans fewer than `tol`
/// autocorrelation times (`tol = 50`, [`DEFAULT_TOL`], in emcee).
///
/// Degenerate inputs never panic: with no steps or no walkers every `tau` is NaN (and `too_short` is true); a
/// parameter constant in every walker has `τ = 1` (its ACF is the unit impulse at lag 0); a walker constant
/// in one parameter contributes that impulse to the average. Anti-correlated chains can give `τ < 1`, even `τ
/// ≤ 0`, a property of the estimator.
pub fn integrated_time(chain: ArrayView3<'_, f64>, c: f64, tol: f64) -> AutocorrTime {
    let (steps, walkers, dim) = chain.dim();
    let mut tau = vec![f64::NAN; dim];
    if steps > 0 && walkers > 0 && dim > 0 {
        let mut plan = AcfPlan::new(steps);
        let mut f = Vec::with_capacity(steps);
        // One parameter's draws, walker by walker: copied row by row so that the chain is read in memory
        // order rather than one strided column at a time.
        let mut series = Array2::zeros((walkers, steps));
        for (p, t) in tau.iter_mut().enumerate() {
            for (mut col, row) in series.columns_mut().into_iter().zip(chain.index_axis(Axis(2), p).rows()) {
                col.assign(&row);
            }
            plan.reset();
            for k in (0..walkers).step_by(2) {
                plan.add(series.row(k), (k + 1 < walkers).then(|| series.row(k + 1)));
            }
            plan.finish(&mut f);
            *t = windowed_time(&f, c);
        }
    }
    let too_short = tau.iter().any(|&t| t.is_nan() || (steps as f64) < tol * t);
    AutocorrTime { tau, n_steps: steps, too_short, tol }
}

/// `τ(m) = 2·Σ_{k≤m} f(k) − 1` at the first `m ≥ c·τ(m)`, or at the last lag.
fn windowed_time(f: &[f64], c: f64) -> f64 {
    let mut sum = 0.0;
    let mut tau = f64::NAN;
    for (m, &v) in f.iter().enumerate() {
        sum += v;
        tau = 2.0 * sum - 1.0;
        if m as f64 >= c * tau {
            break;
        }
    }
    tau
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array3};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    /// emcee's test series: `x_t = a·x_{t-1} + U(0,1)`, `dim` independent coordinates, started at the
    /// stationary mean `0.5 / (1 - a)`.
    fn ar1_uniform(n: usize, dim: usize, a: f64, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = vec![0.5 / (1.0 - a); dim];
        (0..n)
            .map(|_| {
                for v in x.iter_mut() {
                    *v = a * *v + rng.random::<f64>();
                }
                x.clone()
            })
            .collect()
    }

    /// Exact integrated time of an AR(1) with coefficient a: (1 + a) / (1 - a).
    const TAU_AR1_09: f64 = 19.0;

    #[test]
    fn ar1_integrated_time_one_walker() {
        // Sokal's variance of the windowed estimator, var(τ̂) ≈ 2(2M+1)/N · τ²
        // with M ≈ 5τ ≈ 95 and N = 250 000, gives a relative sd of about 4%:
        // 20% (emcee's tolerance) is 5 sd.
        let n = 250_000;
        let x = ar1_uniform(n, 3, 0.9, 1234);
        let chain = Array3::from_shape_fn((n, 1, 3), |(t, _, d)| x[t][d]);
        let at = integrated_time(chain.view(), DEFAULT_C, DEFAULT_TOL);
        assert_eq!(at.tau.len(), 3);
        for &t in &at.tau {
            assert!((t - TAU_AR1_09).abs() / TAU_AR1_09 < 0.2, "tau {t}");
        }
        assert!(!at.too_short);
        assert_eq!(at.n_steps, n);
    }

    #[test]
    fn ar1_integrated_time_32_walkers() {
        // One AR(1) series of 256 000 steps cut into 32 walkers of 8000 steps:
        // the relative sd is again about 4% (same total length); removing
        // each walker's mean adds a bias of about -(2M+1)/8000 ≈ -2.4%.
        let (n, w) = (8000, 32);
        let x = ar1_uniform(n * w, 3, 0.9, 99);
        let chain = Array3::from_shape_fn((n, w, 3), |(t, k, d)| x[k * n + t][d]);
        let at = integrated_time(chain.view(), DEFAULT_C, DEFAULT_TOL);
        for &t in &at.tau {
            assert!((t - TAU_AR1_09).abs() / TAU_AR1_09 < 0.2, "tau {t}");
        }
        assert!(!at.too_short, "8000 steps > 50 · 19");
    }

    #[test]
    fn walker_average_matches_per_walker_acfs() {
        // The paired FFTs and the spectrum averaging must give the mean of
        // the walkers' own ACFs (odd walker count, one constant walker, and
        // a strided view of the chain).
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let full =
            Array3::from_shape_fn(
                (600, 5, 2),
                |(t, k, d)| {
                    if k == 3 && d == 1 {
                        2.5
                    } else {
                        (t as f64 * 0.05 * (k + 1) as f64).sin() + rng.random::<f64>()
                    }
                },
            );
        let chain = full.slice(s![..;2, .., ..]);
        let (n, w, dim) = chain.dim();
        let at = integrated_time(chain, DEFAULT_C, DEFAULT_TOL);
        for d in 0..dim {
            let mut f = vec![0.0; n];
            for k in 0..w {
                let series: Vec<f64> = chain.slice(s![.., k, d]).to_vec();
                for (fi, a) in f.iter_mut().zip(autocorr_function(&series)) {
                    *fi += a / w as f64;
                }
            }
            let expected = windowed_time(&f, DEFAULT_C);
            assert!((at.tau[d] - expected).abs() < 1e-9, "param {d}: {} vs {expected}", at.tau[d]);
        }
    }

    #[test]
    fn short_chain_is_flagged() {
        // 500 steps of an AR(1) with τ = 19 span about 26 τ < 50 τ. On so short
        // a chain τ̂ is biased low (to ≈ 16 here), and with a single walker it
        // falls below 10 (500/50) in about a third of the seeds; 8 walkers × 3
        // parameters flagged the chain for all of 300 seeds tried (smallest
        // max τ̂ 11.1).
        let (n, w) = (500, 8);
        let x = ar1_uniform(n * w, 3, 0.9, 3);
        let chain = Array3::from_shape_fn((n, w, 3), |(t, k, d)| x[k * n + t][d]);
        let at = integrated_time(chain.view(), DEFAULT_C, DEFAULT_TOL);
        assert!(at.too_short, "{:?}", at.tau);
        assert!(at.tau.iter().all(|t| t.is_finite() && *t > 1.0));
        // The same chain passes with a lax tolerance.
        assert!(!integrated_time(chain.view(), DEFAULT_C, 5.0).too_short);
    }

    #[test]
    fn white_noise_acf_is_near_zero() {
        // The sample ACF of white noise at lag k ≥ 1 has sd ≈ 1/√n; 4 sd per lag.
        let n = 100_000;
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let x: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
        let acf = autocorr_function(&x);
        assert_eq!(acf.len(), n);
        assert_eq!(acf[0], 1.0);
        let bound = 4.0 / (n as f64).sqrt();
        for (k, &r) in acf.iter().enumerate().take(51).skip(1) {
            assert!(r.abs() < bound, "lag {k}: {r}");
        }
    }

    #[test]
    fn ar1_acf_is_geometric() {
        // Bartlett's formula for an AR(1) with a = 0.9 bounds the sd of the
        // sample ACF at any lag by √((1 + a²)/(1 - a²) / n) ≈ 3.1/√n = 0.007
        // for n = 200 000; the tolerance 0.03 is over 4 sd.
        let (n, a) = (200_000, 0.9);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut v = 0.0;
        let x: Vec<f64> = (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                v = a * v + z;
                v
            })
            .collect();
        let acf = autocorr_function(&x);
        for (k, &r) in acf.iter().enumerate().take(21) {
            assert!((r - a.powi(k as i32)).abs() < 0.03, "lag {k}: {r} vs {}", a.powi(k as i32));
        }
    }

    #[test]
    fn acf_matches_direct_sum() {
        // The FFT result equals the O(n²) definition to rounding.
        let x = [0.3, -1.2, 2.5, 0.0, 0.7, 1.1, -0.4];
        let n = x.len();
        let m = x.iter().sum::<f64>() / n as f64;
        let c = |k: usize| (0..n - k).map(|t| (x[t] - m) * (x[t + k] - m)).sum::<f64>();
        let acf = autocorr_function(&x);
        for (k, &r) in acf.iter().enumerate() {
            assert!((r - c(k) / c(0)).abs() < 1e-12, "lag {k}");
        }
    }

    #[test]
    fn degenerate_inputs() {
        assert!(autocorr_function(&[]).is_empty());
        assert_eq!(autocorr_function(&[4.2]), vec![1.0]);
        assert_eq!(autocorr_function(&[0.1; 7]), vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert!(autocorr_function(&[1.0, f64::NAN, 2.0]).iter().all(|v| v.is_nan()));

        for shape in [(0, 4, 2), (10, 0, 2)] {
            let at = integrated_time(Array3::<f64>::zeros(shape).view(), DEFAULT_C, DEFAULT_TOL);
            assert_eq!(at.tau.len(), 2);
            assert!(at.tau.iter().all(|t| t.is_nan()) && at.too_short);
        }
        let at = integrated_time(Array3::<f64>::zeros((10, 4, 0)).view(), DEFAULT_C, DEFAULT_TOL);
        assert!(at.tau.is_empty() && !at.too_short);

        // One step, and a constant chain: τ = 1 (unit-impulse ACF), no NaN.
        let at = integrated_time(Array3::from_elem((1, 3, 2), 1.5).view(), DEFAULT_C, DEFAULT_TOL);
        assert_eq!(at.tau, vec![1.0, 1.0]);
        assert!(at.too_short);
        let at = integrated_time(Array3::from_elem((200, 3, 2), 0.1).view(), DEFAULT_C, DEFAULT_TOL);
        assert_eq!(at.tau, vec![1.0, 1.0]);

        // A non-finite draw makes that parameter's τ NaN, and only that one.
        let mut chain = Array3::from_shape_fn((100, 4, 2), |(t, k, d)| ((t * 7 + k * 3 + d) % 11) as f64);
        chain[[5, 2, 1]] = f64::INFINITY;
        let at = integrated_time(chain.view(), DEFAULT_C, DEFAULT_TOL);
        assert!(at.tau[0].is_finite() && at.tau[1].is_nan() && at.too_short);
    }
}

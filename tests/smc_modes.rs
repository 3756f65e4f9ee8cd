//! Two well-separated modes of unequal mass (0.3 and 0.7), as a second
//! stage meets them when its prior (the first stage's posterior) is bimodal:
//! tempered SMC recovers their weights, while the ensemble sampler's walkers
//! in the broad minor mode stay there, far below the bulk, and are reported
//! as stranded.
//!
//! 10-D; prior `½ N(a, I) + ½ N(b, 0.01² I)` with `a = (-4, 0, ...)`,
//! `b = (4, 0, ...)`; likelihood `exp(-(x₀ - c)² / (2 τ²))`, `τ = 4`, with `c`
//! chosen so that the broad mode holds exactly 0.3 of the posterior. The
//! narrow mode's peak lies about 46 nats above the broad one's, beyond the
//! stranded-walker cut of `d/2 + 10 √(d/2) + 10` (37.4 nats in 10-D).

use ndarray::{Array2, ArrayView2};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use seqcal::api::{DensityError, LogDensity, ParamSpace, Prior};
use seqcal::diagnostics::stranded_walkers;
use seqcal::sampler::ensemble::{Ensemble, EnsembleSettings};
use seqcal::sampler::smc::{Smc, SmcSettings};
use seqcal::sampler::Posterior;

const D: usize = 10;
const MINOR: f64 = 0.3;
const WIDE: f64 = 1.0;
const NARROW: f64 = 0.01;
const TAU: f64 = 4.0;
const A: f64 = -4.0;
const B: f64 = 4.0;

/// Log of each mode's share of the evidence, `½ ∫ N(x₀; μ, s²) L(x) dx`, for centre `c`.
fn log_masses(c: f64) -> (f64, f64) {
    let m = |mu: f64, s: f64| 0.5f64.ln() + 0.5 * (TAU * TAU / (TAU * TAU + s * s)).ln() - (mu - c).powi(2) / (2.0 * (TAU * TAU + s * s));
    (m(A, WIDE), m(B, NARROW))
}

/// The centre at which the broad mode holds `MINOR` of the posterior (bisection).
fn centre() -> f64 {
    let share = |c: f64| {
        let (a, b) = log_masses(c);
        1.0 / (1.0 + (b - a).exp())
    };
    let (mut lo, mut hi) = (A, B);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if share(mid) > MINOR {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[derive(Debug)]
struct Likelihood(f64);

impl LogDensity for Likelihood {
    fn dim(&self) -> usize {
        D
    }
    fn log_density(&self, x: &[f64]) -> Result<f64, DensityError> {
        Ok(-(x[0] - self.0).powi(2) / (2.0 * TAU * TAU))
    }
}

fn log_normal(x: &[f64], c0: f64, s: f64) -> f64 {
    let q: f64 = x.iter().enumerate().map(|(j, v)| (v - if j == 0 { c0 } else { 0.0 }).powi(2)).sum::<f64>() / (s * s);
    -0.5 * q - D as f64 * (s.ln() + 0.5 * (2.0 * std::f64::consts::PI).ln())
}

/// The bimodal prior.
#[derive(Debug)]
struct TwoModes(ParamSpace);

impl Prior for TwoModes {
    fn space(&self) -> &ParamSpace {
        &self.0
    }
    fn log_prob(&self, x: &[f64]) -> f64 {
        let (a, b) = (0.5f64.ln() + log_normal(x, A, WIDE), 0.5f64.ln() + log_normal(x, B, NARROW));
        let m = a.max(b);
        m + ((a - m).exp() + (b - m).exp()).ln()
    }
    fn sample(&self, rng: &mut dyn Rng, n: usize) -> Array2<f64> {
        let mut x = Array2::zeros((n, D));
        for i in 0..n {
            let (c, s) = if rng.random::<f64>() < 0.5 { (A, WIDE) } else { (B, NARROW) };
            for j in 0..D {
                let e: f64 = StandardNormal.sample(rng);
                x[[i, j]] = if j == 0 { c } else { 0.0 } + s * e;
            }
        }
        x
    }
    fn describe(&self) -> String {
        "two normal modes".into()
    }
}

fn posterior() -> Posterior {
    let prior = TwoModes(ParamSpace::unbounded(ParamSpace::default_names(D)).unwrap());
    Posterior::new(Some(Box::new(prior)), Box::new(Likelihood(centre())), 1.0)
}

#[test]
fn smc_recovers_the_mode_weights() {
    let post = posterior();
    let mut smc = Smc::new(&post, SmcSettings { particles: 2000, ..SmcSettings::default() }, 7).unwrap();
    smc.run(&post).unwrap();
    let out = smc.output().unwrap();
    let n = out.particles.nrows() as f64;
    let minor: f64 = out.particles.column(0).iter().zip(&out.weights).filter(|(x, _)| **x < 0.0).map(|(_, w)| w).sum();
    let (a, b) = log_masses(centre());
    let exact = a.max(b) + ((a - a.max(b)).exp() + (b - a.max(b)).exp()).ln();
    println!("minor {minor} log Z {} ± {} (exact {exact}) calls {}", out.log_z, out.log_z_err, out.likelihood_calls);
    // The binomial sd of a share among n nearly independent particles.
    let sd = (MINOR * (1.0 - MINOR) / n).sqrt();
    assert!((minor - MINOR).abs() < 4.0 * sd, "minor mode weight {minor}, want {MINOR} ± {}", 4.0 * sd);
    assert!((out.log_z - exact).abs() < 3.0 * out.log_z_err, "log Z {} ± {} vs {exact}", out.log_z, out.log_z_err);
}

#[test]
fn the_ensemble_strands_walkers_in_the_minor_mode() {
    let post = posterior();
    let settings = EnsembleSettings { walkers: 40, ..EnsembleSettings::default() };
    // Walkers start half in each mode, as after a run that found both.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut x0 = Array2::zeros((40, D));
    for k in 0..40 {
        let (c, s) = if k % 2 == 0 { (-4.0, WIDE) } else { (4.0, NARROW) };
        for j in 0..D {
            let e: f64 = StandardNormal.sample(&mut rng);
            x0[[k, j]] = if j == 0 { c } else { 0.0 } + s * e;
        }
    }
    let mut ens = Ensemble::new(x0, &post, &settings, 3).unwrap();
    let steps = 2000;
    let mut lp = Array2::zeros((steps, 40));
    for t in 0..steps {
        ens.step(&post).unwrap();
        for (k, e) in ens.evaluations().iter().enumerate() {
            lp[[t, k]] = e.log_post;
        }
    }
    let st = stranded_walkers(ArrayView2::from(&lp), D);
    // Every walker that started in the minor mode is still there, far below the bulk.
    let minor: Vec<usize> = (0..40).filter(|&k| ens.positions()[[k, 0]] < 0.0).collect();
    println!("stranded {:?} minor {:?} fraction {}", st.walkers, minor, st.fraction);
    assert!(!st.walkers.is_empty(), "no stranded walkers reported");
    assert_eq!(st.walkers, minor, "the stranded walkers are the ones in the minor mode");
}

//! The SMC sampler on the three targets of `benches/peers/pocomc_targets.py`,
//! one JSON line per run: likelihood calls, wall time, log Z and its error
//! against the exact value, and for `box7` the mean 1-D KL divergence of the
//! marginals from exact draws (the same 50-bin histogram metric as the
//! pocoMC script).
//!
//! `cargo run --release --example smc_bench -- PROBLEM SEED [PARTICLES]`,
//! PROBLEM one of `shells`, `rosen`, `box7`.

use std::time::Instant;

use nalgebra::{DMatrix, DVector};
use ndarray::ArrayView2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use seqcal::api::{DensityError, LogDensity, ParamSpace, Prior};
use seqcal::prior::{Normal, UniformBox};
use seqcal::sampler::smc::{Smc, SmcSettings};
use seqcal::sampler::Posterior;

const LN_2PI: f64 = 1.8378770664093453;

/// 10-D Rosenbrock of the pocoMC documentation.
#[derive(Debug)]
struct Rosen;

impl LogDensity for Rosen {
    fn dim(&self) -> usize {
        10
    }
    fn log_density(&self, x: &[f64]) -> Result<f64, DensityError> {
        Ok(-(0..5).map(|k| 10.0 * (x[2 * k].powi(2) - x[2 * k + 1]).powi(2) + (x[2 * k] - 1.0).powi(2)).sum::<f64>())
    }
    fn log_density_into(&self, x: ArrayView2<'_, f64>, out: &mut [f64]) -> Result<(), DensityError> {
        for (r, o) in x.rows().into_iter().zip(out.iter_mut()) {
            *o = self.log_density(r.as_slice().unwrap())?;
        }
        Ok(())
    }
}

/// The 7-D box target: a correlated normal times a bimodal factor on x3.
#[derive(Debug, Clone)]
struct Box7 {
    mu: DVector<f64>,
    s: DMatrix<f64>,
    sinv: DMatrix<f64>,
    logdet: f64,
}

const MS: [f64; 2] = [0.25, 0.60];
const SB: f64 = 0.05;
const K: usize = 3;

fn norm_logpdf(x: f64, m: f64, s: f64) -> f64 {
    -0.5 * ((x - m) / s).powi(2) - s.ln() - 0.5 * LN_2PI
}

fn lse(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

impl Box7 {
    fn new() -> Self {
        let mu = DVector::from_vec(vec![0.5, 0.45, 0.55, 0.4, 0.6, 0.5, 0.88]);
        let sd = [0.08, 0.10, 0.06, 0.12, 0.05, 0.09, 0.10];
        let s = DMatrix::from_fn(7, 7, |i, j| sd[i] * sd[j] * 0.9f64.powi((i as i32 - j as i32).abs()));
        let sinv = s.clone().try_inverse().unwrap();
        let logdet = s.determinant().ln();
        Box7 { mu, s, sinv, logdet }
    }

    /// The two components `(log W, mean, covariance)` of the exact posterior.
    fn components(&self) -> Vec<(f64, DVector<f64>, DMatrix<f64>)> {
        let mut e = DVector::zeros(7);
        e[K] = 1.0;
        MS.iter()
            .map(|&m| {
                let pc = &self.sinv + &e * e.transpose() / (SB * SB);
                let sc = pc.try_inverse().unwrap();
                let mc = &sc * (&self.sinv * &self.mu + &e * (m / (SB * SB)));
                let logw = 0.5f64.ln() + norm_logpdf(m, self.mu[K], (self.s[(K, K)] + SB * SB).sqrt());
                (logw, mc, sc)
            })
            .collect()
    }
}

impl LogDensity for Box7 {
    fn dim(&self) -> usize {
        7
    }
    fn log_density(&self, x: &[f64]) -> Result<f64, DensityError> {
        let d = DVector::from_iterator(7, x.iter().zip(self.mu.iter()).map(|(a, b)| a - b));
        let lg = -0.5 * (d.transpose() * &self.sinv * &d)[(0, 0)] - 0.5 * self.logdet - 3.5 * LN_2PI;
        let lb = lse(0.5f64.ln() + norm_logpdf(x[K], MS[0], SB), 0.5f64.ln() + norm_logpdf(x[K], MS[1], SB));
        Ok(lg + lb)
    }
}

/// Draws of N(mean, cov).
fn mvn(mean: &DVector<f64>, cov: &DMatrix<f64>, n: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
    let l = cov.clone().cholesky().unwrap().l();
    (0..n)
        .map(|_| {
            let e = DVector::from_fn(mean.len(), |_, _| StandardNormal.sample(rng));
            (mean + &l * e).iter().copied().collect()
        })
        .collect()
}

fn inside(x: &[f64]) -> bool {
    x.iter().all(|v| *v > 0.0 && *v < 1.0)
}

/// Exact log Z (box probabilities by 4·10⁶ draws per component) and 200 000 exact draws.
fn box7_exact(b: &Box7, seed: u64) -> (f64, Vec<Vec<f64>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(10_000 + seed);
    let comps = b.components();
    let mut log_terms = Vec::new();
    for (logw, m, s) in &comps {
        let p = mvn(m, s, 4_000_000, &mut rng).iter().filter(|x| inside(x)).count() as f64 / 4e6;
        log_terms.push(logw + p.ln());
    }
    let log_z = lse(log_terms[0], log_terms[1]);
    let w0 = (comps[0].0 - lse(comps[0].0, comps[1].0)).exp();
    let mut draws = Vec::with_capacity(200_000);
    while draws.len() < 200_000 {
        let c = if rng.random::<f64>() < w0 { 0 } else { 1 };
        let x = mvn(&comps[c].1, &comps[c].2, 1, &mut rng).pop().unwrap();
        if inside(&x) {
            draws.push(x);
        }
    }
    (log_z, draws)
}

/// KL(exact || approx) of 1-D 50-bin histograms with a pseudo-count of 0.5,
/// as `kl1d` of the pocoMC script.
fn kl1d(exact: &[f64], approx: &[f64]) -> f64 {
    let bins = 50;
    let (lo, hi) = exact.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let hist = |v: &[f64]| {
        let mut h = vec![0.0; bins];
        for x in v {
            let u = ((x.clamp(lo, hi) - lo) / (hi - lo) * bins as f64).floor() as usize;
            h[u.min(bins - 1)] += 1.0;
        }
        h
    };
    let (cr, ca) = (hist(exact), hist(approx));
    let (sr, sa) = (cr.iter().sum::<f64>(), ca.iter().sum::<f64>());
    cr.iter()
        .zip(&ca)
        .map(|(r, a)| {
            let p = (r + 0.5) / (sr + 0.5 * bins as f64);
            let q = (a + 0.5) / (sa + 0.5 * bins as f64);
            p * (p / q).ln()
        })
        .sum()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let problem = args.get(1).map(String::as_str).unwrap_or("shells");
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let particles: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(SmcSettings::default().particles);
    let names = |d| ParamSpace::default_names(d);
    let (post, exact, truth) = match problem {
        "shells" => {
            let t = seqcal::targets::build("gaussian_shells").unwrap();
            (Posterior::new(t.prior, t.likelihood, 1.0), -1.745642, None)
        }
        "rosen" => {
            let prior: Box<dyn Prior> = Box::new(Normal::new(names(10), vec![0.0; 10], vec![3.0; 10]).unwrap());
            (Posterior::new(Some(prior), Box::new(Rosen), 1.0), -21.4021, None)
        }
        "box7" => {
            let b = Box7::new();
            let (log_z, draws) = box7_exact(&b, seed);
            let prior: Box<dyn Prior> = Box::new(UniformBox::new(ParamSpace::new(names(7), vec![(0.0, 1.0); 7]).unwrap()).unwrap());
            (Posterior::new(Some(prior), Box::new(b), 1.0), log_z, Some(draws))
        }
        other => panic!("unknown problem {other}: use shells, rosen or box7"),
    };
    let t0 = Instant::now();
    let mut smc = Smc::new(&post, SmcSettings { particles, ..SmcSettings::default() }, seed).unwrap();
    smc.run(&post).unwrap();
    let wall = t0.elapsed().as_secs_f64();
    let o = smc.output().unwrap();
    let refits = smc.history().iter().filter(|h| h.refit).count();
    let mut line = serde_json::json!({
        "bench": "smc_seqcal", "problem": problem, "seed": seed, "particles": particles,
        "wall_s": wall, "calls": o.likelihood_calls, "iterations": o.temperatures.len(), "flow_fits": refits,
        "logz": o.log_z, "logz_err": o.log_z_err, "logz_path": o.log_z_path.0, "logz_path_err": o.log_z_path.1,
        "logz_is": o.log_z_is.map(|v| v.0), "logz_is_err": o.log_z_is.map(|v| v.1),
        "exact_logz": exact, "logz_minus_exact": o.log_z - exact,
    });
    if std::env::var_os("SMC_BENCH_STEPS").is_some() {
        for h in smc.history() {
            eprintln!(
                "beta {:.5} ess {:.0} calls {} sweeps {} acc {:.3} corr {:.3} flow {} refit {}",
                h.beta, h.ess, h.calls, h.sweeps, h.accept, h.correlation, h.flow, h.refit
            );
        }
    }
    if let Some(draws) = truth {
        let d = 7;
        let kls: Vec<f64> = (0..d)
            .map(|j| {
                let ex: Vec<f64> = draws.iter().map(|r| r[j]).collect();
                let ap: Vec<f64> = o.particles.column(j).to_vec();
                kl1d(&ex, &ap)
            })
            .collect();
        // The floor: the same metric for as many independent exact draws.
        let floor_draws = box7_exact(&Box7::new(), seed + 20_000).1;
        let n = o.particles.nrows();
        let floor: Vec<f64> = (0..d)
            .map(|j| {
                let ex: Vec<f64> = draws.iter().map(|r| r[j]).collect();
                let fl: Vec<f64> = floor_draws.iter().take(n).map(|r| r[j]).collect();
                kl1d(&ex, &fl)
            })
            .collect();
        // The persistent particles, weighted: resampled to 20 000 equal-weight draws.
        let (py, pw) = &o.persistent;
        let mut cum = Vec::with_capacity(pw.len());
        let mut acc = 0.0;
        for w in pw {
            acc += w;
            cum.push(acc);
        }
        let u0 = 0.5 / 20_000.0;
        let idx: Vec<usize> = (0..20_000).map(|k| cum.partition_point(|&c| c <= u0 + k as f64 / 20_000.0).min(pw.len() - 1)).collect();
        let kls_p: Vec<f64> = (0..d)
            .map(|j| {
                let ex: Vec<f64> = draws.iter().map(|r| r[j]).collect();
                let ap: Vec<f64> = idx.iter().map(|&i| py[[i, j]]).collect();
                kl1d(&ex, &ap)
            })
            .collect();
        let ess = 1.0 / pw.iter().map(|w| w * w).sum::<f64>();
        line["kl_persistent_mean"] = (kls_p.iter().sum::<f64>() / d as f64).into();
        line["persistent_ess"] = ess.into();
        line["kl_mean"] = (kls.iter().sum::<f64>() / d as f64).into();
        line["kl_per_dim"] = kls.into();
        line["kl_floor_mean"] = (floor.iter().sum::<f64>() / d as f64).into();
    }
    println!("{line}");
}

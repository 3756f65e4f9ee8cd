//! A synthetic model with known truth for tests, examples and benchmarks:
//! 6 parameters, 24 smooth nonlinear outputs (a "spectrum" over `t ∈ [0, 1]`),
//! and Latin-hypercube designs in its prior box.
//!
//! # Reference
//! M. D. McKay, R. J. Beckman and W. J. Conover, *A comparison of three methods
//! for selecting values of input variables in the analysis of output from a
//! computer code*, Technometrics 21, 239 (1979) (Latin hypercube sampling).

use ndarray::Array2;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Parameter names of [`model`].
pub const PARAMS: [&str; 6] = ["amp", "decay", "freq", "phase", "curv", "width"];
/// Prior box of [`model`].
pub const BOUNDS: [(f64, f64); 6] = [(0.5, 2.0), (0.2, 3.0), (0.5, 2.0), (0.0, 1.5), (-1.0, 1.0), (0.1, 0.5)];
/// Number of outputs of [`model`].
pub const OUTPUTS: usize = 24;

/// The model: output `j` at `t_j = j / (OUTPUTS − 1)`.
pub fn model(th: &[f64]) -> Vec<f64> {
    (0..OUTPUTS)
        .map(|j| {
            let t = j as f64 / (OUTPUTS - 1) as f64;
            let bump = (-(t - 0.3 - 0.4 * th[3] / 1.5).powi(2) / (2.0 * th[5] * th[5])).exp();
            th[0] * (-th[1] * t).exp() + 0.5 * (std::f64::consts::PI * th[2] * t + th[3]).sin() + th[4] * t * t + 0.8 * th[0] * bump
        })
        .collect()
}

/// `n` Latin-hypercube points in `bounds` (one random point per stratum per parameter).
pub fn latin_hypercube(n: usize, bounds: &[(f64, f64)], seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::zeros((n, bounds.len()));
    for (d, (lo, hi)) in bounds.iter().enumerate() {
        let mut strata: Vec<usize> = (0..n).collect();
        strata.shuffle(&mut rng);
        for (i, s) in strata.into_iter().enumerate() {
            x[(i, d)] = lo + (hi - lo) * (s as f64 + rng.random::<f64>()) / n as f64;
        }
    }
    x
}

/// Runs [`model`] at every row of `x`.
pub fn run(x: &Array2<f64>) -> Array2<f64> {
    let mut y = Array2::zeros((x.nrows(), OUTPUTS));
    for (i, row) in x.rows().into_iter().enumerate() {
        let v = model(&row.to_vec());
        y.row_mut(i).assign(&ndarray::Array1::from(v));
    }
    y
}

/// Runs `f` (a model with `outputs` outputs) at every row of `x`.
pub fn run_model(x: &Array2<f64>, outputs: usize, f: impl Fn(&[f64]) -> Vec<f64>) -> Array2<f64> {
    let mut y = Array2::zeros((x.nrows(), outputs));
    for (i, row) in x.rows().into_iter().enumerate() {
        let v = f(&row.to_vec());
        y.row_mut(i).assign(&ndarray::Array1::from(v));
    }
    y
}

/// A stand-in for a heavy-ion collision model (17 parameters, 110 outputs), of
/// the size of a real Bayesian analysis: 485 Latin-hypercube runs, emulated
/// with 10 principal components.
///
/// Not physics, but shaped like it: smooth nonlinear functions of parameters
/// named after those of a TRENTo + free streaming + viscous hydrodynamics +
/// hadronic afterburner model, giving observables across centrality bins that
/// are strongly correlated the way real ones are: yields of π, K, p, charged
/// multiplicity and transverse energy (8 bins each) share one entropy
/// production factor; mean transverse momenta of π, K, p (8 bins each) share a
/// radial-flow velocity; the pT fluctuation (8 bins); flow harmonics v2{2},
/// v3{2}, v4{2} (10 bins each) and v2{4} (8 bins) are eccentricities from the
/// initial-state parameters times a response damped by a temperature-averaged
/// shear and bulk viscosity. [`errors`] gives each output a statistical error
/// of the size an event-averaged observable has (0.3% to 3%).
pub mod heavy_ion {
    use ndarray::Array2;
    use rand::RngExt;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Parameter names.
    pub const PARAMS: [&str; 17] = [
        "norm",
        "trento_p",
        "fluct_k",
        "nucleon_w",
        "dmin3",
        "tau_fs",
        "v_fs",
        "etas_hrg",
        "etas_min",
        "etas_slope",
        "etas_crv",
        "etas_t_kink",
        "zetas_max",
        "zetas_width",
        "zetas_t0",
        "t_switch",
        "n_c",
    ];
    /// Prior box.
    pub const BOUNDS: [(f64, f64); 17] = [
        (10.0, 20.0),
        (-0.7, 0.7),
        (0.3, 2.0),
        (0.4, 1.2),
        (0.0, 4.9),
        (0.03, 1.5),
        (0.2, 1.0),
        (0.1, 0.5),
        (0.0, 0.2),
        (0.0, 8.0),
        (-1.0, 1.0),
        (0.13, 0.3),
        (0.01, 0.25),
        (0.025, 0.15),
        (0.12, 0.2),
        (0.135, 0.165),
        (1.0, 9.0),
    ];
    /// Number of outputs.
    pub const OUTPUTS: usize = 110;
    /// Design runs of the benchmark.
    pub const N_DESIGN: usize = 485;

    /// Centrality bin midpoints (fractions) of the yields, mean pT, pT fluctuations and v2{4}.
    const C8: [f64; 8] = [0.025, 0.075, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65];
    /// Centrality bin midpoints of v2{2}, v3{2}, v4{2}.
    const C10: [f64; 10] = [0.025, 0.075, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85];

    /// Output names, e.g. `dNch_c02.5` (centrality bin midpoint in percent).
    pub fn output_names() -> Vec<String> {
        let bins = |c: &[f64], name: &str| c.iter().map(|v| format!("{name}_c{:04.1}", 100.0 * v)).collect::<Vec<_>>();
        let mut n = Vec::with_capacity(OUTPUTS);
        for f in ["dN_pi", "dN_K", "dN_p", "dNch", "dET", "mpT_pi", "mpT_K", "mpT_p", "dpT"] {
            n.extend(bins(&C8, f));
        }
        for f in ["v22", "v32", "v42"] {
            n.extend(bins(&C10, f));
        }
        n.extend(bins(&C8, "v24"));
        n
    }

    fn softplus(x: f64) -> f64 {
        if x > 30.0 {
            x
        } else {
            x.exp().ln_1p()
        }
    }

    /// The model at one parameter point.
    pub fn model(th: &[f64]) -> Vec<f64> {
        let [norm, tp, k, w, dmin, tau, vfs, ehrg, emin, eslope, ecrv, tk, zmax, zwidth, zt0, tsw, nc] = th[..17].try_into().expect("17 parameters");
        // Temperature dependence of η/s (a kink at tk with curvature) and ζ/s (a Cauchy peak).
        let etas = |t: f64| {
            let hot = emin + eslope * 0.02 * softplus((t - tk) / 0.02) * (t / tk).powf(ecrv);
            let s = 1.0 / (1.0 + ((t - tk) / 0.01).exp());
            s * (ehrg + emin) * 0.5 + (1.0 - s) * hot
        };
        let zetas = |t: f64| zmax / (1.0 + ((t - zt0) / zwidth).powi(2));
        // Initial temperature of a centrality class, and the viscosities averaged from it down to switching.
        let t0 = |c: f64| 0.16 + 0.3 * (1.0 - c).powf(0.6) * (norm / 15.0).powf(0.25) * (1.0 + 0.1 * tp) / (1.0 + 0.2 * tau);
        let avg = |c: f64, f: &dyn Fn(f64) -> f64| [0.15, 0.5, 0.85].iter().map(|q| f(tsw + (t0(c) - tsw) * q)).sum::<f64>() / 3.0;
        let fs = 1.0 - 0.25 * (tau * vfs).sqrt();
        let mult = |c: f64| {
            let (e, z) = (avg(c, &etas), avg(c, &zetas));
            norm * 85.0 * (1.0 - c).powf(1.6 + 0.4 * tp + 0.25 * w) * (-1.2 * c * c).exp() * (1.0 + 0.6 * e + 1.5 * z) * (1.0 + 0.08 * tau)
        };
        let beta = |c: f64| {
            let (e, z) = (avg(c, &etas), avg(c, &zetas));
            (0.75
                * (1.0 - c).powf(0.3)
                * (1.0 + 0.12 * (1.0 + tau).ln() * vfs)
                * (0.8 / w).powf(0.25)
                * (1.0 - 1.2 * z)
                * (1.0 - 0.25 * e)
                * (1.0 + 0.02 * dmin))
                .tanh()
        };
        let mass = [0.1396, 0.4937, 0.9383];
        let mpt = |c: f64, m: f64| {
            let b = beta(c);
            2.3 * tsw + 0.25 * b + 0.9 * m * b * b / (1.0 - b * b).sqrt()
        };
        let mut out = Vec::with_capacity(OUTPUTS);
        out.extend(C8.iter().map(|&c| 0.8 * mult(c) * (1.0 + 3.0 * (0.15 - tsw))));
        out.extend(C8.iter().map(|&c| 0.13 * mult(c) * (25.0 * (tsw - 0.15)).exp()));
        out.extend(C8.iter().map(|&c| 0.042 * mult(c) * (45.0 * (tsw - 0.15)).exp() * (1.0 - 0.6 * avg(c, &zetas))));
        out.extend(C8.iter().map(|&c| mult(c)));
        out.extend(C8.iter().map(|&c| 1.25 * mult(c) * mpt(c, 0.3)));
        for m in mass {
            out.extend(C8.iter().map(|&c| mpt(c, m)));
        }
        out.extend(
            C8.iter().map(|&c| 0.01 * (1.0 + 3.0 * c).powf(1.1) / (norm / 15.0).sqrt() * k.powf(-0.3) * (w / 0.8).powf(-0.3) * (1.0 + 0.3 / nc)),
        );
        // Eccentricities: geometry plus fluctuations (fewer for large k, wider nucleons, more constituents).
        let fl = |c: f64| (0.8 / w).sqrt() * (1.0 + 0.6 * c) * (1.0 + 0.5 / nc) * (1.0 + 0.04 * dmin) / k.sqrt();
        let geo = |c: f64| 0.5 * c * (1.25 - c) * (1.0 + 0.15 * tp);
        let eps2 = |c: f64| (geo(c).powi(2) + (0.09 * fl(c)).powi(2)).sqrt();
        let eps3 = |c: f64| 0.08 * fl(c) * (1.0 + 0.8 * c);
        let eps4 = |c: f64| 0.06 * fl(c) * (1.0 + 1.2 * c) + 0.3 * eps2(c).powi(2);
        let damp = |c: f64, n: f64| {
            let visc = avg(c, &etas) + 0.5 * avg(c, &zetas);
            (-n * n * visc * (0.35 + 0.9 * c)).exp() * fs
        };
        let v2 = |c: f64| 0.32 * eps2(c) * damp(c, 2.0);
        out.extend(C10.iter().map(|&c| v2(c)));
        out.extend(C10.iter().map(|&c| 0.26 * eps3(c) * damp(c, 3.0)));
        out.extend(C10.iter().map(|&c| ((0.2 * eps4(c) * damp(c, 4.0)).powi(2) + (0.9 * v2(c).powi(2)).powi(2)).sqrt()));
        out.extend(C8.iter().map(|&c| 0.32 * damp(c, 2.0) * (geo(c).powi(4) + (0.3 * geo(c) * 0.09 * fl(c)).powi(2)).powf(0.25)));
        debug_assert_eq!(out.len(), OUTPUTS);
        out
    }

    /// Runs [`model`] at every row of `x`.
    pub fn run(x: &Array2<f64>) -> Array2<f64> {
        super::run_model(x, OUTPUTS, model)
    }

    /// Statistical error (sd) of each output of each run in `y`: 0.5% of the
    /// yields, 0.3% of mean pT, 2% of the pT fluctuation, 1.5% of v2, 3% of v3,
    /// v4 and v2{4}.
    pub fn errors(y: &Array2<f64>) -> Array2<f64> {
        let rel: Vec<f64> = (0..OUTPUTS)
            .map(|j| match j {
                0..40 => 0.005,
                40..64 => 0.003,
                64..72 => 0.02,
                72..82 => 0.015,
                _ => 0.03,
            })
            .collect();
        Array2::from_shape_fn(y.dim(), |(i, j)| rel[j] * y[(i, j)].abs())
    }

    /// `y` plus Gaussian noise of sd `e` (seeded): what a model run with finite statistics returns.
    pub fn add_noise(y: &Array2<f64>, e: &Array2<f64>, seed: u64) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut normal = || {
            // Box-Muller.
            let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        };
        Array2::from_shape_fn(y.dim(), |(i, j)| y[(i, j)] + e[(i, j)] * normal())
    }
}

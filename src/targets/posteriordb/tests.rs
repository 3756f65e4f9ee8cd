//! Checks of the posteriordb targets against posteriordb's reference draws and
//! against straightforward re-implementations of the Stan models with statrs.

use std::path::PathBuf;

use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqcal_api::DensityError;
use serde_json::Value;
use statrs::distribution::{Beta, Cauchy, Continuous, Gamma, Normal};

use crate::targets::{build, Target};

/// Target name and posteriordb posterior name.
const POSTERIORS: [(&str, &str); 5] = [
    ("eight_schools_noncentered", "eight_schools-eight_schools_noncentered"),
    ("arK", "arK-arK"),
    ("kidiq_interaction", "kidiq-kidscore_interaction"),
    ("low_dim_gauss_mix", "low_dim_gauss_mix-low_dim_gauss_mix"),
    ("gp_regr", "gp_pois_regr-gp_regr"),
];

/// Two reference draws of each posterior (chain 0 draw 0 and chain 5 draw 0 of
/// posteriordb's `reference_draws.csv.gz`), typed in: the first is also row 1 of the
/// shipped `reference_draws_head.csv`.
fn hard_coded_draws(target: &str) -> [Vec<f64>; 2] {
    match target {
        "eight_schools_noncentered" => [
            vec![
                10.6802773011458,
                9.71770681295263,
                7.77507099674238,
                9.02804654605565,
                9.65893576633312,
                8.82344036757095,
                9.67957708445449,
                13.7360810246561,
                9.33884525330527,
                1.7939466756273,
            ],
            vec![
                -1.75422544589848,
                0.387242873291834,
                -4.32964637843377,
                -3.10058526531566,
                -2.87212190341384,
                0.418908750216775,
                0.688349619757515,
                -0.791254494351329,
                -2.47479751958388,
                2.01252162309024,
            ],
        ],
        "arK" => [
            vec![
                0.00226254513228999,
                0.733069449045603,
                0.460118109766908,
                0.164211193906057,
                -0.161187911427737,
                -0.301836082809681,
                0.148442598567578,
            ],
            vec![
                -0.00516461456664694,
                0.695044776778929,
                0.47214702983009,
                -0.0054281980427417,
                -0.0550779330608673,
                -0.240069077810741,
                0.148525795074148,
            ],
        ],
        "kidiq_interaction" => [
            vec![-32.6052090646975, 78.2947851117543, 1.16099207049126, -0.710387803621924, 17.505700285795],
            vec![-15.9957699283833, 65.1613972953576, 1.01580551232945, -0.603423668999516, 16.6457040434528],
        ],
        "low_dim_gauss_mix" => [
            vec![-2.68687831220441, 2.86448130911493, 1.00374687750685, 1.02802978293135, 0.611361304992348],
            vec![-2.71777736086746, 2.80969488494341, 1.00184135279012, 1.08265502876191, 0.625497328415414],
        ],
        "gp_regr" => [vec![5.95072441477904, 1.40118107883579, 1.32657615996166], vec![5.67895903594348, 2.19530561444032, 2.42299478259208]],
        _ => unreachable!(),
    }
}

/// posteriordb's reference files shipped with the tests
/// (`tests/data/posteriordb/`, BSD-3): a missing folder fails the test.
fn reference_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/posteriordb"));
    assert!(dir.is_dir(), "the shipped posteriordb reference files are missing: {}", dir.display());
    dir
}

/// Parameter columns (without `chain`, `draw`) and the first `n` rows of a
/// posterior's reference draws (`reference_draws_head.csv`: the first 50
/// rows of posteriordb's `reference_draws.csv.gz`).
fn reference_draws(dir: &std::path::Path, posterior: &str, n: usize) -> (Vec<String>, Vec<Vec<f64>>) {
    let path = dir.join(posterior).join("reference_draws_head.csv");
    let mut rdr = csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(&header[..2], ["chain", "draw"], "{posterior}: unexpected leading columns");
    let rows: Vec<Vec<f64>> = rdr.records().take(n).map(|r| r.unwrap().iter().skip(2).map(|v| v.parse::<f64>().unwrap()).collect()).collect();
    assert_eq!(rows.len(), n, "{}: fewer than {n} rows", path.display());
    (header[2..].to_vec(), rows)
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0)
}

/// Checks `constrain(unconstrain(theta)) == theta` and `unconstrain(constrain(u)) == u`; returns `u`.
fn round_trip(t: &Target, theta: &[f64]) -> Vec<f64> {
    let tr = t.transform.as_ref().unwrap();
    let d = theta.len();
    assert!(t.space.contains(theta), "{}: draw {theta:?} outside the stored space", t.name);
    let mut u = vec![f64::NAN; d];
    assert!(tr.unconstrain(theta, &mut u), "{}: unconstrain refused reference draw {theta:?}", t.name);
    let mut back = vec![f64::NAN; d];
    tr.constrain(&u, &mut back);
    for k in 0..d {
        assert!(close(back[k], theta[k], 1e-9), "{}: constrain(unconstrain(theta))[{k}] = {} vs {}", t.name, back[k], theta[k]);
    }
    let mut u2 = vec![f64::NAN; d];
    assert!(tr.unconstrain(&back, &mut u2));
    for k in 0..d {
        assert!(close(u2[k], u[k], 1e-9), "{}: unconstrain(constrain(u))[{k}] = {} vs {}", t.name, u2[k], u[k]);
    }
    u
}

#[test]
fn stored_names_match_reference_columns_and_transforms_round_trip() {
    let dir = reference_dir();
    for (name, posterior) in POSTERIORS {
        let t = build(name).unwrap();
        let (cols, draws) = reference_draws(&dir, posterior, 50);
        assert_eq!(t.space.names(), &cols[..], "{name}: stored names differ from {posterior}'s reference columns");
        assert_eq!(draws.len(), 50);
        let mut values = Vec::new();
        for theta in &draws {
            let u = round_trip(&t, theta);
            values.push((constrained_log_density(&t, &u), reference_log_density(name, theta)));
        }
        // The density agrees with the statrs re-implementation on all 50 draws, up to a constant.
        for (k, (rust, reference)) in values.iter().enumerate() {
            let (dr, dref) = (rust - values[0].0, reference - values[0].1);
            assert!(close(dr, dref, 1e-8), "{name}: draw {k}: log density difference {dr} vs reference {dref}");
        }
    }
}

#[test]
fn hard_coded_draws_round_trip() {
    for (name, _) in POSTERIORS {
        let t = build(name).unwrap();
        for theta in hard_coded_draws(name) {
            round_trip(&t, &theta);
        }
        // Outside the support: refused.
        let tr = t.transform.as_ref().unwrap();
        let mut bad = hard_coded_draws(name)[0].clone();
        let last = bad.len() - 1;
        bad[last] = -1.0; // the last stored parameter (tau, sigma or theta) is positive
        assert!(!tr.unconstrain(&bad, &mut vec![0.0; bad.len()]), "{name}: accepted a negative scale");
        bad[last] = f64::NAN;
        assert!(!tr.unconstrain(&bad, &mut vec![0.0; bad.len()]), "{name}: accepted NaN");
    }
    // Ordered means: mu[2] below mu[1] is outside the support; theta must be below 1.
    let t = build("low_dim_gauss_mix").unwrap();
    let tr = t.transform.as_ref().unwrap();
    let mut u = [0.0; 5];
    assert!(!tr.unconstrain(&[1.0, 0.5, 1.0, 1.0, 0.5], &mut u));
    assert!(!tr.unconstrain(&[0.0, 0.5, 1.0, 1.0, 1.0], &mut u));
    assert!(tr.unconstrain(&[0.0, 0.5, 1.0, 1.0, 0.25], &mut u));
    assert!(close(u[1], 0.5f64.ln(), 1e-15) && close(u[4], (1.0f64 / 3.0).ln(), 1e-15), "{u:?}");
}

/// The target's log density at `u` minus its log-Jacobian, computed here
/// from the constrained values: the model's log density on Stan's
/// (constrained) parameters.
fn constrained_log_density(t: &Target, u: &[f64]) -> f64 {
    let mut th = vec![0.0; u.len()];
    t.transform.as_ref().unwrap().constrain(u, &mut th);
    let log_jac = match t.name.as_str() {
        "eight_schools_noncentered" => th[9].ln(),
        "arK" => th[6].ln(),
        "kidiq_interaction" => th[4].ln(),
        "low_dim_gauss_mix" => (th[1] - th[0]).ln() + th[2].ln() + th[3].ln() + th[4].ln() + (1.0 - th[4]).ln(),
        "gp_regr" => th.iter().map(|v| v.ln()).sum(),
        n => unreachable!("{n}"),
    };
    t.likelihood.log_density(u).unwrap() - log_jac
}

fn data(name: &str) -> Value {
    let text = match name {
        "eight_schools_noncentered" => include_str!("data/eight_schools-eight_schools_noncentered.json"),
        "arK" => include_str!("data/arK-arK.json"),
        "kidiq_interaction" => include_str!("data/kidiq-kidscore_interaction.json"),
        "low_dim_gauss_mix" => include_str!("data/low_dim_gauss_mix-low_dim_gauss_mix.json"),
        "gp_regr" => include_str!("data/gp_pois_regr-gp_regr.json"),
        n => unreachable!("{n}"),
    };
    serde_json::from_str(text).unwrap()
}

fn vec_of(v: &Value, key: &str) -> Vec<f64> {
    v[key].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn normal(m: f64, s: f64, x: f64) -> f64 {
    Normal::new(m, s).unwrap().ln_pdf(x)
}

/// ln of a half-normal or half-Cauchy: twice the full density on x > 0.
fn half(lp: f64) -> f64 {
    std::f64::consts::LN_2 + lp
}

/// The Stan model's log density on its constrained parameters, written
/// straight from `model.stan` (stored parameter order), with every
/// distribution's normalizing constant.
fn reference_log_density(name: &str, th: &[f64]) -> f64 {
    let d = data(name);
    match name {
        "eight_schools_noncentered" => {
            // Stan's parameters are (theta_trans, mu, tau); theta = mu + tau theta_trans.
            let (y, sigma) = (vec_of(&d, "y"), vec_of(&d, "sigma"));
            let (mu, tau) = (th[8], th[9]);
            let mut lp = normal(0.0, 5.0, mu) + half(Cauchy::new(0.0, 5.0).unwrap().ln_pdf(tau));
            for j in 0..8 {
                let theta_trans = (th[j] - mu) / tau;
                lp += normal(0.0, 1.0, theta_trans) + normal(th[j], sigma[j], y[j]);
            }
            lp
        }
        "arK" => {
            let y = vec_of(&d, "y");
            let k = d["K"].as_u64().unwrap() as usize;
            let (alpha, beta, sigma) = (th[0], &th[1..=k], th[k + 1]);
            let mut lp = normal(0.0, 10.0, alpha)
                + beta.iter().map(|b| normal(0.0, 10.0, *b)).sum::<f64>()
                + half(Cauchy::new(0.0, 2.5).unwrap().ln_pdf(sigma));
            for t in k..y.len() {
                let mut mu = alpha;
                for kk in 1..=k {
                    mu += beta[kk - 1] * y[t - kk];
                }
                lp += normal(mu, sigma, y[t]);
            }
            lp
        }
        "kidiq_interaction" => {
            let (kid, iq, hs) = (vec_of(&d, "kid_score"), vec_of(&d, "mom_iq"), vec_of(&d, "mom_hs"));
            let (b, sigma) = (&th[..4], th[4]);
            let mut lp = half(Cauchy::new(0.0, 2.5).unwrap().ln_pdf(sigma));
            for n in 0..kid.len() {
                let inter = hs[n] * iq[n];
                lp += normal(b[0] + b[1] * hs[n] + b[2] * iq[n] + b[3] * inter, sigma, kid[n]);
            }
            lp
        }
        "low_dim_gauss_mix" => {
            let y = vec_of(&d, "y");
            let (mu, sigma, theta) = (&th[..2], &th[2..4], th[4]);
            let mut lp = Beta::new(5.0, 5.0).unwrap().ln_pdf(theta);
            for k in 0..2 {
                lp += normal(0.0, 2.0, mu[k]) + half(normal(0.0, 2.0, sigma[k]));
            }
            let (c1, c2) = (Normal::new(mu[0], sigma[0]).unwrap(), Normal::new(mu[1], sigma[1]).unwrap());
            for v in &y {
                lp += (theta * c1.pdf(*v) + (1.0 - theta) * c2.pdf(*v)).ln();
            }
            lp
        }
        "gp_regr" => {
            let (x, y) = (vec_of(&d, "x"), DVector::from_vec(vec_of(&d, "y")));
            let (rho, alpha, sigma) = (th[0], th[1], th[2]);
            let n = x.len();
            let cov =
                DMatrix::from_fn(n, n, |i, j| alpha * alpha * (-(x[i] - x[j]).powi(2) / (2.0 * rho * rho)).exp() + if i == j { sigma } else { 0.0 });
            // By LU (inverse and determinant), not Cholesky.
            let inv = cov.clone().try_inverse().unwrap();
            let quad = (y.transpose() * inv * &y)[(0, 0)];
            let lik = -0.5 * quad - 0.5 * cov.determinant().ln() - 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
            lik + Gamma::new(25.0, 4.0).unwrap().ln_pdf(rho) + half(normal(0.0, 2.0, alpha)) + half(normal(0.0, 1.0, sigma))
        }
        n => unreachable!("{n}"),
    }
}

#[test]
fn log_density_matches_independent_reimplementation() {
    for (name, _) in POSTERIORS {
        let t = build(name).unwrap();
        let [a, b] = hard_coded_draws(name);
        let (ua, ub) = (round_trip(&t, &a), round_trip(&t, &b));
        let (ra, rb) = (constrained_log_density(&t, &ua), constrained_log_density(&t, &ub));
        let (fa, fb) = (reference_log_density(name, &a), reference_log_density(name, &b));
        assert!(ra.is_finite() && fa.is_finite(), "{name}: {ra} {fa}");
        // Up to an additive constant (what the contract promises)...
        assert!(close(ra - rb, fa - fb, 1e-8), "{name}: log density difference {} vs reference {}", ra - rb, fa - fb);
        // ...and, as the module documents, with all the constants.
        assert!(close(ra, fa, 1e-10), "{name}: log density {ra} vs reference {fa}");
    }
}

#[test]
fn targets_are_registered_with_unconstrained_init() {
    let names: Vec<&str> = crate::targets::registry().iter().map(|e| e.name).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for (name, posterior) in POSTERIORS {
        assert!(names.contains(&name), "{name} not in the registry");
        let entry = crate::targets::registry().into_iter().find(|e| e.name == name).unwrap();
        assert!(entry.help.contains(posterior), "{name}: help does not name {posterior}");
        let t = build(name).unwrap();
        assert!(t.prior.is_none() && t.log_z.is_none() && t.transform.is_some());
        let sampler = t.transform.as_ref().unwrap().sampler_names();
        assert_eq!(sampler.len(), t.space.dim());
        assert_eq!(t.likelihood.dim(), t.space.dim());
        let init = t.init.as_ref().unwrap();
        assert_eq!(init.names(), &sampler[..], "{name}: init is not over the sampler coordinates");
        let x = init.sample(&mut rng, 200);
        assert!(x.iter().all(|v| (-2.0..=2.0).contains(v)));
        // Every start has a finite log density.
        for row in x.rows() {
            let lp = t.likelihood.log_density(row.as_slice().unwrap()).unwrap();
            assert!(lp.is_finite(), "{name}: start {row} has log density {lp}");
        }
    }
    assert!(build("arK:K=3").is_err(), "settings must be refused");
}

#[test]
fn bad_points_are_rejected_or_zero_never_nan() {
    let gp = build("gp_regr").unwrap();
    // Tiny sigma, huge alpha: the covariance is alpha² times a kernel matrix that is numerically
    // rank-deficient for long length scales; no panic, no NaN, and the long ones are rejected.
    let mut rejected = 0;
    for rho in [1.0, 3.0, 10.0, 30.0, 100.0, 1000.0] {
        match gp.likelihood.log_density(&[f64::ln(rho), 1e10f64.ln(), 1e-300f64.ln()]) {
            Err(DensityError::Reject(_)) => rejected += 1,
            Ok(v) => assert!(v.is_finite() && v < -1e18, "rho={rho}: {v}"),
            Err(e) => panic!("rho={rho}: {e}"),
        }
    }
    assert!(rejected >= 2, "only {rejected} non-PD covariances rejected");
    // rho huge: alpha² times the all-ones matrix plus sigma = 1e-304 on the diagonal, singular in floating point.
    let lp = gp.likelihood.log_density(&[1e3f64.ln(), 1e5f64.ln(), -700.0]);
    assert!(matches!(lp, Err(DensityError::Reject(_))), "{lp:?}");
    for (name, _) in POSTERIORS {
        let t = build(name).unwrap();
        let d = t.space.dim();
        let mut base = vec![0.0; d];
        assert!(t.transform.as_ref().unwrap().unconstrain(&hard_coded_draws(name)[0], &mut base));
        let mut points = vec![vec![800.0; d], vec![-800.0; d], vec![1e300; d], vec![-1e300; d]];
        for k in 0..d {
            for v in [-1e300, -800.0, -300.0, -40.0, 40.0, 300.0, 800.0, 1e300] {
                let mut p = base.clone();
                p[k] = v;
                points.push(p);
            }
        }
        for p in &points {
            match t.likelihood.log_density(p) {
                Ok(v) => assert!(!v.is_nan() && v != f64::INFINITY, "{name}: {v} at {p:?}"),
                Err(e) => assert!(e.is_recoverable(), "{name}: fatal {e} at {p:?}"),
            }
        }
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut p = base.clone();
            p[0] = v;
            assert!(matches!(t.likelihood.log_density(&p), Err(DensityError::Reject(_))), "{name}: {v} coordinate not rejected");
        }
        assert!(matches!(t.likelihood.log_density(&base[1..]), Err(DensityError::Fatal(_))), "{name}: wrong length not fatal");
        // Last sampler coordinate (log scale or logit) at 800: zero density (-inf) or finite, not NaN or Reject.
        let mut p = base.clone();
        p[d - 1] = 800.0;
        let v = t.likelihood.log_density(&p);
        assert!(matches!(v, Ok(x) if x == f64::NEG_INFINITY || x.is_finite()), "{name}: {v:?}");
    }
}

#[test]
fn log_mix_is_stable() {
    use super::gauss_mix::log_mix;
    let (lt, l1t) = (0.3f64.ln(), 0.7f64.ln());
    let v = log_mix(lt, l1t, -1000.0, -1001.0);
    let exact = -1000.0 + (0.3 + 0.7 * (-1.0f64).exp()).ln();
    assert!(close(v, exact, 1e-14), "{v} vs {exact}");
    let v = log_mix(lt, l1t, 700.0, 710.0);
    let exact = 710.0 + (0.3 * (-10.0f64).exp() + 0.7).ln();
    assert!(close(v, exact, 1e-14), "{v} vs {exact}");
    assert_eq!(log_mix(lt, l1t, f64::NEG_INFINITY, f64::NEG_INFINITY), f64::NEG_INFINITY);
    assert!(close(log_mix(lt, l1t, f64::NEG_INFINITY, 2.0), l1t + 2.0, 1e-15));
}

//! Tests of the analytic targets, built by name as users name them.

use super::*;

#[test]
fn mvn_matches_closed_form() {
    // Equicorrelated 3-D: det = (1-rho)^2 (1+2 rho); inverse known in closed form.
    let rho = 0.5;
    let cov = DMatrix::from_fn(3, 3, |i, j| if i == j { 1.0 } else { rho });
    let m = Mvn::new(vec![0.0; 3], cov).unwrap();
    let x = [0.3, -1.0, 2.0];
    let det = (1.0f64 - rho).powi(2) * (1.0 + 2.0 * rho);
    let s: f64 = x.iter().sum();
    let q = (x.iter().map(|v| v * v).sum::<f64>() - rho / (1.0 - rho + 3.0 * rho) * s * s) / (1.0 - rho);
    let exact = -0.5 * (3.0 * LN_2PI + det.ln() + q);
    assert!((m.log_pdf(&x) - exact).abs() < 1e-12);
}

/// log Z of a 2-D target by the midpoint rule over its prior box.
fn quad_log_z(t: &Target, n: usize) -> f64 {
    let b = t.space.bounds();
    let (hx, hy) = ((b[0].1 - b[0].0) / n as f64, (b[1].1 - b[1].0) / n as f64);
    let prior = t.prior.as_ref().unwrap();
    let mut s = 0.0;
    for i in 0..n {
        for j in 0..n {
            let p = [b[0].0 + (i as f64 + 0.5) * hx, b[1].0 + (j as f64 + 0.5) * hy];
            s += (prior.log_prob(&p) + t.likelihood.log_density(&p).unwrap()).exp();
        }
    }
    (s * hx * hy).ln()
}

#[test]
fn two_d_targets_have_their_published_log_evidence() {
    for (spec, n) in [("rosenbrock", 4000), ("gaussian_shells", 3000), ("eggbox", 2000), ("correlated_gaussian:dim=2", 2000)] {
        let t = crate::targets::build(spec).unwrap();
        let z = quad_log_z(&t, n);
        assert!((z - t.log_z.unwrap()).abs() < 2e-3, "{spec}: quadrature {z} vs {}", t.log_z.unwrap());
    }
}

#[test]
fn funnel_is_normalized_in_2d() {
    let t = crate::targets::build("funnel:dim=2").unwrap();
    let (n, lo, hi) = (2000, -15.0, 15.0);
    let h = (hi - lo) / n as f64;
    // x ranges over ±50 at the widest: integrate x analytically-large box by midpoint rule.
    let mut s = 0.0;
    for i in 0..n {
        let v = lo + (i as f64 + 0.5) * h;
        let sd = (0.5 * v).exp();
        let (xl, m) = (-10.0 * sd, 400);
        let hx = 20.0 * sd / m as f64;
        for j in 0..m {
            let x = xl + (j as f64 + 0.5) * hx;
            s += t.likelihood.log_density(&[v, x]).unwrap().exp() * hx;
        }
    }
    assert!((s * h - 1.0).abs() < 1e-3, "{}", s * h);
}

#[test]
fn unknown_targets_and_settings_are_named() {
    let e = crate::targets::build("gauss").err().unwrap().to_string();
    assert!(e.contains("unknown target \"gauss\"") && e.contains("gaussian_shells"), "{e}");
    let e = crate::targets::build("gaussian:dims=3").err().unwrap().to_string();
    assert!(e.contains("no setting \"dims\""), "{e}");
    let e = crate::targets::build("gaussian:dim=x").err().unwrap().to_string();
    assert!(e.contains("dim=x is not a valid value"), "{e}");
}

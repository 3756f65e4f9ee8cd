//! The SMC sampler's log-evidence against every target of
//! `tests/data/targets/targets.toml`: within 3 reported standard errors and
//! within 0.1 absolute of the known value; in the Gaussian shells, each
//! shell holds half of the mass within Monte Carlo error.

use std::path::Path;

use ndarray::ArrayView2;
use seqcal::api::{DensityError, LogDensity, Prior};
use seqcal::prior::Normal;
use seqcal::sampler::smc::{Smc, SmcOutput, SmcSettings};
use seqcal::sampler::Posterior;

/// The known log Z of `name`, from the shipped file.
fn known(name: &str) -> f64 {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/targets/targets.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("the shipped file {} cannot be read: {e}", path.display()));
    let v: toml::Value = toml::from_str(&text).unwrap();
    let t =
        v["target"].as_array().unwrap().iter().find(|t| t["name"].as_str() == Some(name)).unwrap_or_else(|| panic!("{name} is not in targets.toml"));
    t["log_z"].as_float().unwrap()
}

fn run(post: Posterior, particles: usize, seed: u64) -> SmcOutput {
    let mut smc = Smc::new(&post, SmcSettings { particles, ..SmcSettings::default() }, seed).unwrap();
    smc.run(&post).unwrap();
    smc.output().unwrap()
}

fn check(name: &str, out: &SmcOutput) {
    println!("{name}: path {:?} is {:?}", out.log_z_path, out.log_z_is);
    let want = known(name);
    let (z, e) = (out.log_z, out.log_z_err);
    println!("{name}: log Z {z:.4} ± {e:.4} (known {want}), {} likelihood calls", out.likelihood_calls);
    assert!((z - want).abs() < 3.0 * e, "{name}: log Z {z} ± {e} is more than 3 standard errors from {want}");
    assert!((z - want).abs() < 0.1, "{name}: log Z {z} is more than 0.1 from {want}");
}

fn builtin(spec: &str, particles: usize) -> SmcOutput {
    let t = seqcal::targets::build(spec).unwrap();
    run(Posterior::new(t.prior, t.likelihood, 1.0), particles, 11)
}

/// Each shell's share of the mass is 1/2 within 4 binomial standard errors
/// (the final particles are nearly independent: they were mutated until
/// decorrelated).
fn check_shells(name: &str, out: &SmcOutput) {
    let right: f64 = out.particles.column(0).iter().zip(&out.weights).filter(|(x, _)| **x > 0.0).map(|(_, w)| w).sum();
    let sd = (0.25 / out.particles.nrows() as f64).sqrt();
    assert!((right - 0.5).abs() < 4.0 * sd, "{name}: the shell at x0 = 3.5 holds {right} of the mass, want 0.5 ± {}", 4.0 * sd);
}

#[test]
fn eggbox_2d() {
    check("eggbox_2d", &builtin("eggbox", 1000));
}

#[test]
fn gaussian_shells_2d() {
    let out = builtin("gaussian_shells", 1000);
    check("gaussian_shells_2d", &out);
    check_shells("gaussian_shells_2d", &out);
}

#[test]
fn gaussian_shells_10d() {
    let out = builtin("gaussian_shells:dim=10", 1000);
    check("gaussian_shells_10d", &out);
    check_shells("gaussian_shells_10d", &out);
}

#[test]
fn rosenbrock_2d() {
    check("rosenbrock_2d", &builtin("rosenbrock", 1000));
}

#[test]
fn correlated_gaussian_3d() {
    check("correlated_gaussian_3d", &builtin("correlated_gaussian", 1000));
}

/// `N(0, 1)` likelihood per coordinate.
#[derive(Debug)]
struct UnitGaussian(usize);

impl LogDensity for UnitGaussian {
    fn dim(&self) -> usize {
        self.0
    }
    fn log_density(&self, x: &[f64]) -> Result<f64, DensityError> {
        Ok(x.iter().map(|v| -0.5 * (2.0 * std::f64::consts::PI).ln() - 0.5 * v * v).sum())
    }
    fn log_density_into(&self, x: ArrayView2<'_, f64>, out: &mut [f64]) -> Result<(), DensityError> {
        for (r, o) in x.rows().into_iter().zip(out.iter_mut()) {
            *o = self.log_density(&r.to_vec())?;
        }
        Ok(())
    }
}

pub fn unit_gaussian_posterior() -> Posterior {
    let prior: Box<dyn Prior> = Box::new(Normal::new(vec!["x0".into(), "x1".into()], vec![0.0; 2], vec![1.0; 2]).unwrap());
    Posterior::new(Some(prior), Box::new(UnitGaussian(2)), 1.0)
}

#[test]
fn unit_gaussian_2d() {
    check("unit_gaussian_2d", &run(unit_gaussian_posterior(), 1000, 11));
}

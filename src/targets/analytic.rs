//! Analytic targets with known answers: Gaussians, Rosenbrock, Gaussian
//! shells, eggbox, Neal's funnel, and the 7-D Gaussian of the emcee
//! throughput benchmark.

use nalgebra::DMatrix;
use seqcal_api::{DensityError, LogDensity, ParamSpace, Prior};

use super::target::{PriorUse, Target, TargetArgs, TargetEntry};
use crate::math::{log_add_exp, LN_2PI};
use crate::prior::{Normal, UniformBox};
use crate::{Error, Result};

/// A log density given by a function of the point.
pub(crate) struct FnDensity<F> {
    pub dim: usize,
    pub f: F,
}

impl<F: Fn(&[f64]) -> f64 + Send + Sync> LogDensity for FnDensity<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn log_density(&self, theta: &[f64]) -> Result<f64, DensityError> {
        if theta.len() != self.dim {
            return Err(DensityError::Fatal(format!("expected {} parameters, got {}", self.dim, theta.len())));
        }
        Ok((self.f)(theta))
    }
    fn log_density_into(&self, thetas: ndarray::ArrayView2<'_, f64>, out: &mut [f64]) -> Result<(), DensityError> {
        if thetas.ncols() != self.dim || out.len() != thetas.nrows() {
            return Err(DensityError::Fatal(format!("expected {} parameters, got {}", self.dim, thetas.ncols())));
        }
        for (row, o) in thetas.rows().into_iter().zip(out.iter_mut()) {
            *o = match row.as_slice() {
                Some(x) => (self.f)(x),
                None => (self.f)(&row.to_vec()),
            };
        }
        Ok(())
    }
}

fn density<F: Fn(&[f64]) -> f64 + Send + Sync + 'static>(dim: usize, f: F) -> Box<dyn LogDensity> {
    Box::new(FnDensity { dim, f })
}

/// A normalized multivariate normal log density, through the Cholesky factor of its covariance.
#[derive(Clone)]
pub(crate) struct Mvn {
    mean: Vec<f64>,
    /// Lower Cholesky factor, row-major `d × d`.
    chol: Vec<f64>,
    /// Reciprocals of its diagonal (a multiplication is cheaper than a division).
    inv_diag: Vec<f64>,
    log_norm: f64,
}

impl Mvn {
    /// # Errors
    /// A covariance that is not symmetric positive definite.
    pub fn new(mean: Vec<f64>, cov: DMatrix<f64>) -> Result<Self> {
        let d = mean.len();
        let c = cov.cholesky().ok_or_else(|| Error::Usage("covariance is not positive definite".into()))?;
        let l = c.l();
        let log_det: f64 = 2.0 * (0..d).map(|i| l[(i, i)].ln()).sum::<f64>();
        let chol = (0..d * d).map(|k| l[(k / d, k % d)]).collect();
        let inv_diag = (0..d).map(|i| 1.0 / l[(i, i)]).collect();
        Ok(Mvn { mean, chol, inv_diag, log_norm: -0.5 * (d as f64 * LN_2PI + log_det) })
    }

    pub fn log_pdf(&self, x: &[f64]) -> f64 {
        // Solve L z = x - mean by forward substitution; the quadratic form is |z|².
        let d = self.mean.len();
        let mut z = [0.0f64; 16];
        let mut heap;
        let z: &mut [f64] = if d <= 16 {
            &mut z[..d]
        } else {
            heap = vec![0.0; d];
            &mut heap
        };
        let mut q = 0.0;
        for i in 0..d {
            let row = &self.chol[i * d..i * d + i];
            let s: f64 = row.iter().zip(z.iter()).map(|(a, b)| a * b).sum();
            z[i] = (x[i] - self.mean[i] - s) * self.inv_diag[i];
            q += z[i] * z[i];
        }
        self.log_norm - 0.5 * q
    }

    /// `mean + L·e` for a standard normal vector `e`.
    pub fn transform_std(&self, e: &[f64], out: &mut [f64]) {
        let d = self.mean.len();
        for (i, o) in out.iter_mut().enumerate().take(d) {
            *o = self.mean[i] + (0..=i).map(|k| self.chol[i * d + k] * e[k]).sum::<f64>();
        }
    }
}

fn names(d: usize) -> Vec<String> {
    ParamSpace::default_names(d)
}

fn unbounded(d: usize) -> Result<ParamSpace> {
    Ok(ParamSpace::unbounded(names(d))?)
}

fn uniform(d: usize, lo: f64, hi: f64) -> Result<UniformBox> {
    let space = ParamSpace::new(names(d), vec![(lo, hi); d])?;
    Ok(UniformBox::new(space)?)
}

fn std_normal_init(d: usize) -> Result<Option<Box<dyn Prior>>> {
    Ok(Some(Box::new(Normal::new(names(d), vec![0.0; d], vec![1.0; d])?)))
}

fn dim_arg(a: &TargetArgs, default: usize, min: usize) -> Result<usize> {
    let d: usize = a.get("dim", default)?;
    if d < min {
        return Err(Error::Usage(format!("target {}: dim must be at least {min}", a.name())));
    }
    Ok(d)
}

fn gaussian(a: &TargetArgs) -> Result<Target> {
    let d = dim_arg(a, 3, 1)?;
    let norm = -0.5 * d as f64 * LN_2PI;
    Ok(Target {
        name: "gaussian".into(),
        description: format!("standard normal in {d}-D, flat (improper) prior"),
        space: unbounded(d)?,
        prior: None,
        likelihood: density(d, move |x| norm - 0.5 * x.iter().map(|v| v * v).sum::<f64>()),
        transform: None,
        init: std_normal_init(d)?,
        log_z: Some(0.0),
        prior_use: PriorUse::Replaces,
    })
}

/// Equicorrelated normal: unit variances, correlation `rho` between every pair.
fn correlated_gaussian(a: &TargetArgs) -> Result<Target> {
    let d = dim_arg(a, 3, 2)?;
    let rho: f64 = a.get("rho", 0.95)?;
    let lo = -1.0 / (d as f64 - 1.0);
    if !(rho > lo && rho < 1.0) {
        return Err(Error::Usage(format!("correlated_gaussian: rho must lie in ({lo:.4}, 1) for dim {d}")));
    }
    let mean: Vec<f64> = (0..d).map(|i| -1.0 + 2.0 * i as f64 / (d as f64 - 1.0)).collect();
    let cov = DMatrix::from_fn(d, d, |i, j| if i == j { 1.0 } else { rho });
    let mvn = Mvn::new(mean, cov)?;
    Ok(Target {
        name: "correlated_gaussian".into(),
        description: format!("{d}-D normal, mean from -1 to 1, unit variances, correlation {rho}; prior U(-10, 10)^{d}"),
        space: ParamSpace::new(names(d), vec![(-10.0, 10.0); d])?,
        prior: Some(Box::new(uniform(d, -10.0, 10.0)?)),
        likelihood: density(d, move |x| mvn.log_pdf(x)),
        transform: None,
        init: None,
        // The normal lies well inside the box: Z = 1 / 20^d.
        log_z: Some(-(d as f64) * 20f64.ln()),
        prior_use: PriorUse::Replaces,
    })
}

/// The 7-D Gaussian of `benches/peers/emcee_gaussian.py`: mean and covariance
/// drawn by numpy (`default_rng(12345)`: M = normal(7×7), C = M Mᵀ/7 + 0.1 I,
/// mu = normal(7)), copied here to full precision.
const BENCH_MU: [f64; 7] =
    [0.07091460028470935, 0.4336545370528692, 0.277483659870901, 0.5302523866401211, 0.5367209691186955, 0.618350014800829, -0.7950174561466702];
const BENCH_COV: [[f64; 7]; 7] = [
    [1.0821362192329553, -0.017157811200785734, -0.38020800113147946, 0.584847296893358, 0.4087613762080133, 0.1426956292692733, -0.3818290735517657],
    [
        -0.017157811200785734,
        1.8434354186178268,
        -0.589572907464117,
        0.6155524279787205,
        0.17242709548597085,
        -0.15443197329306504,
        -0.3596924887458555,
    ],
    [
        -0.38020800113147946,
        -0.589572907464117,
        1.0229207066384975,
        -0.38915483631719416,
        -0.7862839825922224,
        0.16270780564371817,
        0.3995385914795901,
    ],
    [0.584847296893358, 0.6155524279787205, -0.38915483631719416, 0.8962299218379723, 0.2521000679541175, 0.21218206631636188, -0.27654175812933324],
    [0.4087613762080133, 0.17242709548597085, -0.7862839825922224, 0.2521000679541175, 2.3138939417359032, 0.13311960905397915, -0.12408581228819078],
    [0.1426956292692733, -0.15443197329306504, 0.16270780564371817, 0.21218206631636188, 0.13311960905397915, 0.5262355916132557, 0.3530841611392998],
    [
        -0.3818290735517657,
        -0.3596924887458555,
        0.3995385914795901,
        -0.27654175812933324,
        -0.12408581228819078,
        0.3530841611392998,
        0.7701222499411752,
    ],
];

/// A tight ball around the mean: `mu + 1e-2 L e`.
struct TightBall {
    space: ParamSpace,
    mvn: Mvn,
}

impl Prior for TightBall {
    fn space(&self) -> &ParamSpace {
        &self.space
    }
    fn log_prob(&self, _theta: &[f64]) -> f64 {
        // Only used to start walkers; never as a prior.
        0.0
    }
    fn sample(&self, rng: &mut dyn rand::Rng, n: usize) -> ndarray::Array2<f64> {
        use rand_distr::{Distribution, StandardNormal};
        let d = self.space.dim();
        let mut out = ndarray::Array2::zeros((n, d));
        let mut e = vec![0.0; d];
        let mut x = vec![0.0; d];
        for mut row in out.rows_mut() {
            for v in e.iter_mut() {
                let z: f64 = StandardNormal.sample(rng);
                *v = 1e-2 * z;
            }
            self.mvn.transform_std(&e, &mut x);
            row.assign(&ndarray::ArrayView1::from(&x[..]));
        }
        out
    }
    fn describe(&self) -> String {
        "tight ball: mean + 0.01 chol(C) N(0, I)".into()
    }
}

fn bench_gaussian7(_a: &TargetArgs) -> Result<Target> {
    let cov = DMatrix::from_fn(7, 7, |i, j| BENCH_COV[i][j]);
    let mvn = Mvn::new(BENCH_MU.to_vec(), cov)?;
    let init = TightBall { space: unbounded(7)?, mvn: mvn.clone() };
    Ok(Target {
        name: "bench_gaussian7".into(),
        description: "the 7-D correlated normal of the emcee throughput benchmark (flat prior, tight-ball start)".into(),
        space: unbounded(7)?,
        prior: None,
        likelihood: density(7, move |x| mvn.log_pdf(x)),
        transform: None,
        init: Some(Box::new(init)),
        log_z: Some(0.0),
        prior_use: PriorUse::Replaces,
    })
}

fn rosenbrock(_a: &TargetArgs) -> Result<Target> {
    Ok(Target {
        name: "rosenbrock".into(),
        description: "2-D Rosenbrock banana, logL = -((1-x)^2 + 100 (y-x^2)^2)/2, prior U(-10, 10)^2".into(),
        space: ParamSpace::new(names(2), vec![(-10.0, 10.0); 2])?,
        prior: Some(Box::new(uniform(2, -10.0, 10.0)?)),
        likelihood: density(2, |x| -0.5 * ((1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2))),
        transform: None,
        init: None,
        log_z: Some(-6.471617),
        prior_use: PriorUse::Replaces,
    })
}

fn gaussian_shells(a: &TargetArgs) -> Result<Target> {
    let d = dim_arg(a, 2, 2)?;
    let (r, w) = (2.0, 0.1);
    let norm = -0.5 * (2.0 * std::f64::consts::PI * w * w).ln();
    let shell = move |x: &[f64], c0: f64| {
        let dist = ((x[0] - c0).powi(2) + x[1..].iter().map(|v| v * v).sum::<f64>()).sqrt();
        norm - (dist - r).powi(2) / (2.0 * w * w)
    };
    let log_z = match d {
        2 => Some(-1.745642),
        10 => Some(-14.590491),
        _ => None,
    };
    Ok(Target {
        name: "gaussian_shells".into(),
        description: format!("two thin Gaussian shells (radius 2, width 0.1, centres x0 = ±3.5) in {d}-D, prior U(-6, 6)^{d}"),
        space: ParamSpace::new(names(d), vec![(-6.0, 6.0); d])?,
        prior: Some(Box::new(uniform(d, -6.0, 6.0)?)),
        likelihood: density(d, move |x| log_add_exp(shell(x, -3.5), shell(x, 3.5))),
        transform: None,
        init: None,
        log_z,
        prior_use: PriorUse::Replaces,
    })
}

fn eggbox(_a: &TargetArgs) -> Result<Target> {
    let hi = 10.0 * std::f64::consts::PI;
    Ok(Target {
        name: "eggbox".into(),
        description: "2-D eggbox, logL = (2 + cos(x/2) cos(y/2))^5, prior U(0, 10 pi)^2: many equal modes".into(),
        space: ParamSpace::new(names(2), vec![(0.0, hi); 2])?,
        prior: Some(Box::new(uniform(2, 0.0, hi)?)),
        likelihood: density(2, |x| (2.0 + (x[0] / 2.0).cos() * (x[1] / 2.0).cos()).powi(5)),
        transform: None,
        init: None,
        log_z: Some(235.85594),
        prior_use: PriorUse::Replaces,
    })
}

/// Neal's funnel: `v ~ N(0, 3²)`, `x_i | v ~ N(0, e^v)`; the full normalized
/// density (flat prior), so log Z = 0.
fn funnel(a: &TargetArgs) -> Result<Target> {
    let d = dim_arg(a, 10, 2)?;
    let mut space_names = vec!["v".to_string()];
    space_names.extend((1..d).map(|i| format!("x{i}")));
    let space = ParamSpace::unbounded(space_names.clone())?;
    Ok(Target {
        name: "funnel".into(),
        description: format!("Neal's funnel in {d}-D: v ~ N(0, 9), x_i ~ N(0, exp(v)); scales change by orders of magnitude"),
        space,
        prior: None,
        likelihood: density(d, move |x| {
            let v = x[0];
            let lv = -0.5 * (LN_2PI + 9f64.ln()) - v * v / 18.0;
            let k = (d - 1) as f64;
            let q: f64 = x[1..].iter().map(|t| t * t).sum::<f64>() * (-v).exp();
            lv - 0.5 * k * (LN_2PI + v) - 0.5 * q
        }),
        transform: None,
        init: Some(Box::new(Normal::new(space_names, vec![0.0; d], vec![1.0; d])?)),
        log_z: Some(0.0),
        prior_use: PriorUse::Replaces,
    })
}

pub(super) fn entries() -> Vec<TargetEntry> {
    vec![
        TargetEntry { name: "gaussian", help: "dim=3: standard normal, flat prior, walkers from N(0, 1)", build: gaussian },
        TargetEntry {
            name: "correlated_gaussian",
            help: "dim=3,rho=0.95: correlated normal in U(-10, 10)^dim, log Z = -dim ln 20",
            build: correlated_gaussian,
        },
        TargetEntry {
            name: "bench_gaussian7",
            help: "7-D correlated normal, flat prior, tight-ball start: the throughput benchmark against emcee (benches/ensemble_vs_emcee.sh)",
            build: bench_gaussian7,
        },
        TargetEntry { name: "rosenbrock", help: "2-D Rosenbrock in U(-10, 10)^2, log Z = -6.471617", build: rosenbrock },
        TargetEntry {
            name: "gaussian_shells",
            help: "dim=2: two Gaussian shells in U(-6, 6)^dim, log Z known for dim 2 and 10",
            build: gaussian_shells,
        },
        TargetEntry { name: "eggbox", help: "2-D eggbox in U(0, 10 pi)^2, log Z = 235.85594", build: eggbox },
        TargetEntry { name: "funnel", help: "dim=10: Neal's funnel (flat prior), walkers from N(0, 1)", build: funnel },
    ]
}

#[cfg(test)]
mod tests;

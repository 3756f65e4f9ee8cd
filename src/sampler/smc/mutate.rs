//! The mutation step: Metropolis–Hastings sweeps over every particle at one
//! temperature, step sizes adapted to a target acceptance, run until the
//! particles have decorrelated from where they started (a measured
//! criterion), in one of two kernels:
//!
//! - a Gaussian random walk with the particles' covariance;
//! - t-preconditioned Crank–Nicolson in the latent space of a flow fitted to
//!   the particles: with `δ = z − μ`, `s ~ InvGamma((ν+d)/2, (ν + δᵀΣ⁻¹δ)/2)`,
//!   `z' = μ + √(1−ρ²) δ + ρ √s L ε`, reversible for the Student-t
//!   `t_ν(μ, Σ)`, so the acceptance ratio is `π(z')t(z) / (π(z)t(z'))`.
//!
//! Every random number is drawn on the calling thread, in particle order,
//! and the densities are evaluated in the posterior's fixed batches: the
//! result does not depend on the number of threads.

use nalgebra::DVector;
use ndarray::Array2;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Gamma, StandardNormal};

use super::precond::{cholesky, moments, Precond, StudentT, NU};
use super::space::{Densities, Space};
use crate::sampler::Posterior;
use crate::Result;

/// Particles in unbounded coordinates and their densities.
#[derive(Debug, Clone)]
pub(super) struct Population {
    pub y: Array2<f64>,
    pub dens: Densities,
}

impl Population {
    /// `log r + β ℓ` of particle `i`.
    pub fn log_target(&self, i: usize, beta: f64) -> f64 {
        tempered(self.dens.log_ref[i], self.dens.ell[i], beta)
    }
}

fn tempered(lr: f64, ell: f64, beta: f64) -> f64 {
    if lr == f64::NEG_INFINITY || ell == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else {
        lr + beta * ell
    }
}

/// Step sizes carried from one temperature to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Adapt {
    /// Random walk: multiple of the particles' covariance's Cholesky factor.
    pub walk_scale: f64,
    /// Crank–Nicolson: `ρ` in (0, 1).
    pub rho: f64,
}

impl Adapt {
    pub fn new(d: usize) -> Self {
        Adapt { walk_scale: 2.38 / (d as f64).sqrt(), rho: 0.5 }
    }
}

/// Which kernel a mutation step used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Gaussian random walk.
    Walk,
    /// t-preconditioned Crank–Nicolson in a flow's latent space.
    Flow,
}

/// What one mutation step did.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mutation {
    pub sweeps: usize,
    pub accept: f64,
    pub kernel: Kernel,
    /// Largest correlation of a coordinate before and after.
    pub correlation: f64,
}

/// Everything a sweep needs that does not change during the step.
pub(super) struct Ctx<'a> {
    pub space: &'a Space,
    pub posterior: &'a Posterior,
    pub beta: f64,
    pub target_accept: f64,
    pub decorrelation: f64,
    pub max_sweeps: usize,
}

fn normal(rng: &mut dyn Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// Evaluates the finite rows of `y`; the others get zero density.
fn evaluate_finite(ctx: &Ctx<'_>, y: &Array2<f64>) -> Result<Densities> {
    let ok: Vec<usize> = (0..y.nrows()).filter(|&i| y.row(i).iter().all(|v| v.is_finite())).collect();
    if ok.len() == y.nrows() {
        return ctx.space.evaluate(ctx.posterior, y);
    }
    let sub = y.select(ndarray::Axis(0), &ok);
    let got = ctx.space.evaluate(ctx.posterior, &sub)?;
    let mut out = Densities { log_ref: vec![f64::NEG_INFINITY; y.nrows()], ell: vec![f64::NEG_INFINITY; y.nrows()] };
    for (k, &i) in ok.iter().enumerate() {
        out.log_ref[i] = got.log_ref[k];
        out.ell[i] = got.ell[k];
    }
    Ok(out)
}

/// Largest over coordinates of the correlation between `a` and `b` across
/// particles (a coordinate that does not vary in `a` counts as
/// decorrelated). The largest, not the mean: a slow direction of a strongly
/// correlated posterior hid behind the fast ones in the mean and left the
/// particles short of it.
pub(super) fn max_correlation(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    let (n, _) = a.dim();
    let d = a.ncols();
    let mut top = f64::NEG_INFINITY;
    for j in 0..d {
        let (ca, cb) = (a.column(j), b.column(j));
        let (ma, mb) = (ca.sum() / n as f64, cb.sum() / n as f64);
        let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let (x, y) = (ca[i] - ma, cb[i] - mb);
            sab += x * y;
            saa += x * x;
            sbb += y * y;
        }
        let c = sab / (saa * sbb).sqrt();
        top = top.max(if c.is_finite() { c } else { 0.0 });
    }
    top
}

/// Mutates `pop` at temperature `ctx.beta` until its particles have
/// decorrelated from their starting points: the largest correlation of a coordinate has fallen
/// below `ctx.decorrelation`, or it stopped falling (less than 2% over eight
/// sweeps: what is left is between modes no kernel crosses), or `max_sweeps`.
pub(super) fn mutate(ctx: &Ctx<'_>, pop: &mut Population, flow: Option<&Precond>, adapt: &mut Adapt, rng: &mut dyn Rng) -> Result<Mutation> {
    let start = pop.y.clone();
    let (n, d) = pop.y.dim();
    let mut kernel = if flow.is_some() { Kernel::Flow } else { Kernel::Walk };
    let mut history: Vec<f64> = Vec::new();
    let mut accepted = 0usize;
    let mut proposed = 0usize;
    let mut flow_accepted = 0usize;
    // Random-walk proposal shape, from the particles at this temperature.
    let walk_chol = cholesky(&moments(&pop.y).1);
    // Flow latent images and the Student-t fitted to them.
    let mut latent = flow.map(|f| {
        let (z, ld) = f.to_latent(&pop.y);
        let t = StudentT::fit(&z);
        (z, ld, t)
    });
    let mut correlation = 1.0;
    let mut sweeps = 0;
    while sweeps < ctx.max_sweeps {
        sweeps += 1;
        let mut prop = Array2::zeros((n, d));
        let mut log_q_ratio = vec![0.0; n];
        let mut prop_z = None;
        match (kernel, &latent, flow) {
            (Kernel::Flow, Some((z, _, t)), Some(f)) => {
                let mut zp = Array2::zeros((n, d));
                let c = (1.0 - adapt.rho * adapt.rho).sqrt();
                for i in 0..n {
                    let zi = z.row(i);
                    let m = t.mahalanobis(zi.as_slice().expect("standard layout"));
                    let g = Gamma::new(0.5 * (NU + d as f64), 2.0 / (NU + m)).expect("valid gamma");
                    let s = 1.0 / g.sample(rng);
                    let e = DVector::from_fn(d, |_, _| normal(rng));
                    let step = &t.chol * e * (adapt.rho * s.sqrt());
                    for j in 0..d {
                        zp[[i, j]] = t.mean[j] + c * (zi[j] - t.mean[j]) + step[j];
                    }
                    let zpi: Vec<f64> = zp.row(i).to_vec();
                    log_q_ratio[i] = t.log_density(zi.as_slice().expect("standard layout")) - t.log_density(&zpi);
                }
                let (yp, ld_fwd) = f.to_data(&zp);
                prop = yp;
                prop_z = Some((zp, ld_fwd));
            }
            _ => {
                for i in 0..n {
                    let e = DVector::from_fn(d, |_, _| normal(rng));
                    let step: DVector<f64> = &walk_chol * e * adapt.walk_scale;
                    for j in 0..d {
                        prop[[i, j]] = pop.y[[i, j]] + step[j];
                    }
                }
            }
        }
        let dens = evaluate_finite(ctx, &prop)?;
        let mut acc = 0usize;
        for i in 0..n {
            let new = tempered(dens.log_ref[i], dens.ell[i], ctx.beta);
            let old = pop.log_target(i, ctx.beta);
            // In latent coordinates each density gains its Jacobian.
            let (jac_new, jac_old) = match (&prop_z, &latent) {
                (Some((_, ld_fwd)), Some((_, ld_inv, _))) => (ld_fwd[i], -ld_inv[i]),
                _ => (0.0, 0.0),
            };
            let log_a = (new + jac_new) - (old + jac_old) + log_q_ratio[i];
            let u: f64 = rng.random();
            if new > f64::NEG_INFINITY && (log_a >= 0.0 || u.ln() < log_a) {
                acc += 1;
                pop.y.row_mut(i).assign(&prop.row(i));
                pop.dens.log_ref[i] = dens.log_ref[i];
                pop.dens.ell[i] = dens.ell[i];
                if let (Some((zp, ld_fwd)), Some((z, ld_inv, _))) = (&prop_z, &mut latent) {
                    z.row_mut(i).assign(&zp.row(i));
                    ld_inv[i] = -ld_fwd[i];
                }
            }
        }
        accepted += acc;
        proposed += n;
        let rate = acc as f64 / n as f64;
        let factor = (rate - ctx.target_accept).clamp(-1.0, 1.0).exp();
        match kernel {
            Kernel::Flow => {
                flow_accepted += acc;
                adapt.rho = (adapt.rho * factor).clamp(0.01, 0.99);
                // Fall back to the random walk when the flow does not help.
                if sweeps >= 3 && (flow_accepted as f64) < 0.05 * proposed as f64 {
                    kernel = Kernel::Walk;
                }
            }
            Kernel::Walk => adapt.walk_scale = (adapt.walk_scale * factor).clamp(1e-6, 10.0),
        }
        correlation = max_correlation(&start, &pop.y);
        history.push(correlation);
        if correlation < ctx.decorrelation {
            break;
        }
        let k = history.len();
        if k > 8 && history[k - 9] - correlation < 0.02 * history[k - 9].abs() {
            break;
        }
    }
    Ok(Mutation { sweeps, accept: accepted as f64 / proposed.max(1) as f64, kernel, correlation })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prior::Normal;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use seqcal_api::{DensityError, LogDensity};

    /// `N(x; 1, 0.5²)` per coordinate: with the prior `N(0, 1)` the
    /// posterior is `N(0.8, 0.2)` per coordinate.
    #[derive(Debug)]
    struct Lik;
    impl LogDensity for Lik {
        fn dim(&self) -> usize {
            2
        }
        fn log_density(&self, x: &[f64]) -> std::result::Result<f64, DensityError> {
            Ok(x.iter().map(|v| -2.0 * (v - 1.0).powi(2)).sum())
        }
    }

    #[test]
    fn both_kernels_leave_the_posterior_invariant() {
        let prior = Normal::new(vec!["a".into(), "b".into()], vec![0.0; 2], vec![1.0; 2]).unwrap();
        let post = Posterior::new(Some(Box::new(prior)), Box::new(Lik), 1.0);
        let space = Space::new(&post, 1.0);
        let n = 4000;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // Exact posterior draws, skewed through a nonlinear map for the flow to learn nothing trivial.
        let y = Array2::from_shape_fn((n, 2), |_| {
            let e: f64 = StandardNormal.sample(&mut rng);
            0.8 + 0.2f64.sqrt() * e
        });
        for use_flow in [false, true] {
            let dens = space.evaluate(&post, &y).unwrap();
            let mut pop = Population { y: y.clone(), dens };
            let flow = use_flow.then(|| Precond::fit(&y, &vec![1.0; n], 2).unwrap());
            let ctx = Ctx { space: &space, posterior: &post, beta: 1.0, target_accept: 0.25, decorrelation: 1e-9, max_sweeps: 40 };
            let mut adapt = Adapt::new(2);
            let m = mutate(&ctx, &mut pop, flow.as_ref(), &mut adapt, &mut rng).unwrap();
            assert_eq!(m.kernel, if use_flow { Kernel::Flow } else { Kernel::Walk });
            for j in 0..2 {
                let c = pop.y.column(j);
                let mean = c.sum() / n as f64;
                let var = c.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
                // 5 sd of the mean and of the variance of n independent draws.
                assert!((mean - 0.8).abs() < 5.0 * (0.2 / n as f64).sqrt(), "flow {use_flow}: mean {mean}");
                assert!((var - 0.2).abs() < 5.0 * 0.2 * (2.0 / n as f64).sqrt(), "flow {use_flow}: variance {var}");
            }
        }
    }
}

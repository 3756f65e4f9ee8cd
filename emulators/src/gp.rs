//! One Gaussian process with an ARD kernel and white noise, zero mean, fitted
//! by maximizing the log marginal likelihood with analytic gradients.
//!
//! # Reference
//! C. E. Rasmussen and C. K. I. Williams, *Gaussian Processes for Machine
//! Learning*, MIT Press 2006: algorithm 2.1 (prediction and log marginal
//! likelihood through the Cholesky factor), equation 5.9 (its gradient
//! `½ tr((ααᵀ − K⁻¹) ∂K/∂θ)`).

use nalgebra::{DMatrix, DVector};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::kernel::Kernel;
use crate::optim::minimize;
use crate::EmuError;
use crate::{linalg, simd};

/// Bounds of the hyperparameters (natural scale; inputs live in the unit box,
/// targets have unit variance).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HyperBounds {
    pub length: (f64, f64),
    pub signal: (f64, f64),
    pub noise: (f64, f64),
}

impl Default for HyperBounds {
    fn default() -> Self {
        HyperBounds { length: (1e-2, 1e2), signal: (1e-3, 1e3), noise: (1e-8, 1.0) }
    }
}

/// A conditioned GP: hyperparameters, training inputs and the factors prediction needs.
#[derive(Debug, Clone)]
pub(crate) struct Gp {
    pub kernel: Kernel,
    /// `[log l_1..log l_p, log s², log σ²_noise]`.
    pub log_params: Vec<f64>,
    /// Training inputs, row-major `n × p`.
    x: Vec<f64>,
    p: usize,
    /// Training inputs divided by their length scales, dimension by dimension (`p × n`).
    xs: Vec<f64>,
    /// Inverse length scales.
    inv_l: Vec<f64>,
    signal: f64,
    noise: f64,
    /// Known noise variance of each training point (empty: none), added to
    /// the fitted white noise on the diagonal of the training covariance.
    known: Vec<f64>,
    /// `K⁻¹ y`.
    alpha: DVector<f64>,
    /// `L⁻ᵀ` (upper triangular; `K = LLᵀ` with noise): the predictive variance
    /// is `s² + σ² − ‖L⁻¹ k*‖²`, one matrix product for a batch, and half of
    /// `K⁻¹`'s memory traffic for a single point.
    linv_t: DMatrix<f64>,
    /// Log marginal likelihood at `log_params`.
    pub lml: f64,
}

fn unpack(log_params: &[f64], p: usize) -> (Vec<f64>, f64, f64) {
    let inv_l2 = log_params[..p].iter().map(|l| (-2.0 * l).exp()).collect();
    (inv_l2, log_params[p].exp(), log_params[p + 1].exp())
}

/// Training inputs divided by their length scales, dimension by dimension (`p × n`).
fn scaled_inputs(x: &[f64], p: usize, inv_l: &[f64]) -> Vec<f64> {
    let n = x.len() / p;
    (0..p).flat_map(|d| (0..n).map(move |i| (i, d))).map(|(i, d)| x[i * p + d] * inv_l[d]).collect()
}

/// Lower triangle (and diagonal) of the training covariance
/// `s² ρ + σ² I + diag(known)` (`known` empty: no known noise); the strict
/// upper triangle is zero. Column by column with vectorized kernel rows.
fn train_cov(kernel: Kernel, x: &[f64], p: usize, inv_l2: &[f64], signal: f64, noise: f64, known: &[f64]) -> DMatrix<f64> {
    let n = x.len() / p;
    let inv_l: Vec<f64> = inv_l2.iter().map(|v| v.sqrt()).collect();
    let xs = scaled_inputs(x, p, &inv_l);
    let mut k = DMatrix::zeros(n, n);
    let ks = k.as_mut_slice();
    let mut u = vec![0.0; p];
    for i in 0..n {
        for d in 0..p {
            u[d] = xs[d * n + i];
        }
        ks[i * n + i] = signal + noise + known.get(i).copied().unwrap_or(0.0);
        simd::kernel_row_range(kernel, signal, &u, &xs, n, (i + 1, n), &mut ks[i * n + i + 1..(i + 1) * n]);
    }
    k
}

/// A factored training covariance: `l` holds `L` in its lower triangle
/// (column-major `n × n`; the strict upper triangle is scratch), `alpha = K⁻¹ y`.
struct Factor {
    l: Vec<f64>,
    alpha: Vec<f64>,
    logdet: f64,
}

/// Factors `k` (blocked Cholesky) and solves for `y`; `None` when `k` is not
/// numerically positive definite.
fn factor(k: DMatrix<f64>, y: &[f64]) -> Option<Factor> {
    let n = y.len();
    let mut l = k.data.into();
    let l: &mut Vec<f64> = &mut l;
    if !linalg::cholesky(l, n) {
        return None;
    }
    // L z = y by column sweeps, then Lᵀ α = z by dot products over columns.
    let mut z = y.to_vec();
    for j in 0..n {
        z[j] /= l[j * n + j];
        let zj = z[j];
        for (zi, lij) in z[j + 1..].iter_mut().zip(&l[j * n + j + 1..(j + 1) * n]) {
            *zi -= lij * zj;
        }
    }
    let mut alpha = vec![0.0; n];
    for j in (0..n).rev() {
        let s = simd::dot(&l[j * n + j + 1..(j + 1) * n], &alpha[j + 1..]);
        alpha[j] = (z[j] - s) / l[j * n + j];
    }
    let logdet = 2.0 * (0..n).map(|i| l[i * n + i].ln()).sum::<f64>();
    Some(Factor { l: std::mem::take(l), alpha, logdet })
}

/// Log marginal likelihood and its gradient in log-parameter space; `None`
/// when the covariance is not numerically positive definite.
fn lml_grad(kernel: Kernel, x: &[f64], p: usize, y: &DVector<f64>, known: &[f64], log_params: &[f64]) -> Option<(f64, Vec<f64>)> {
    let n = y.len();
    let (inv_l2, signal, noise) = unpack(log_params, p);
    let k = train_cov(kernel, x, p, &inv_l2, signal, noise, known);
    let kv: Vec<f64> = k.as_slice().to_vec();
    let Factor { l, alpha, logdet } = factor(k, y.as_slice())?;
    let lml = -0.5 * simd::dot(y.as_slice(), &alpha) - 0.5 * logdet - 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
    let kinv = linalg::inverse_from_tri_inverse(&linalg::tri_inverse(&l, n), n);
    // W = αα^T − K⁻¹; ∂L/∂θ = ½ Σ_ij W_ij ∂K_ij/∂θ, column by column of the lower triangle.
    let mut grad = vec![0.0; p + 2];
    let inv_l: Vec<f64> = inv_l2.iter().map(|v| v.sqrt()).collect();
    let xs = scaled_inputs(x, p, &inv_l);
    let mut dsig = 0.0;
    let mut trace_w = 0.0;
    let mut dl = vec![0.0; p];
    let mut c = vec![0.0; n];
    for i in 0..n {
        let wii = alpha[i] * alpha[i] - kinv[i * n + i];
        trace_w += wii;
        dsig += wii * signal;
        let col = i * n + i + 1..(i + 1) * n;
        dsig += simd::grad_column(kernel, signal, i, n, &xs, &alpha, &kinv[col.clone()], &kv[col], &mut c, &mut dl);
    }
    for d in 0..p {
        grad[d] = 0.5 * dl[d];
    }
    grad[p] = 0.5 * dsig;
    grad[p + 1] = 0.5 * noise * trace_w;
    Some((lml, grad))
}

impl Gp {
    /// Conditions a GP with given hyperparameters on `(x, y)`.
    pub fn condition(kernel: Kernel, log_params: Vec<f64>, x: Vec<f64>, p: usize, y: &[f64], known: Vec<f64>) -> Result<Gp, EmuError> {
        let (inv_l2, signal, noise) = unpack(&log_params, p);
        let k = train_cov(kernel, &x, p, &inv_l2, signal, noise, &known);
        let n = y.len();
        let f = factor(k, y)
            .ok_or_else(|| EmuError::Fit("the training covariance is not positive definite (duplicate design points with no noise?)".into()))?;
        let lml = -0.5 * simd::dot(y, &f.alpha) - 0.5 * f.logdet - 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
        let linv_t = DMatrix::from_column_slice(n, n, &linalg::tri_inverse(&f.l, n)).transpose();
        let alpha = DVector::from_vec(f.alpha);
        let inv_l: Vec<f64> = inv_l2.iter().map(|v| v.sqrt()).collect();
        let xs = scaled_inputs(&x, p, &inv_l);
        Ok(Gp { kernel, log_params, x, p, xs, inv_l, signal, noise, known, alpha, linv_t, lml })
    }

    /// Fits the hyperparameters by L-BFGS on the log marginal likelihood from a
    /// default start and `restarts` random starts (seeded), keeping the best.
    /// `known`: the known noise variance of each training point, or empty.
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        kernel: Kernel,
        x: Vec<f64>,
        p: usize,
        y: &[f64],
        known: Vec<f64>,
        restarts: usize,
        seed: u64,
        bounds: HyperBounds,
    ) -> Result<Gp, EmuError> {
        let yv = DVector::from_column_slice(y);
        let mut lo = vec![bounds.length.0.ln(); p];
        let mut hi = vec![bounds.length.1.ln(); p];
        lo.extend([bounds.signal.0.ln(), bounds.noise.0.ln()]);
        hi.extend([bounds.signal.1.ln(), bounds.noise.1.ln()]);
        let var = (yv.dot(&yv) / y.len().max(1) as f64).max(1e-6);
        let mut starts = vec![{
            let mut s = vec![(0.5_f64).ln(); p];
            s.extend([var.ln(), (1e-4 * var).ln()]);
            s
        }];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..restarts {
            let mut s: Vec<f64> = (0..p).map(|_| (0.05_f64).ln() + rng.random::<f64>() * (20.0_f64).ln() * 2.0).collect();
            s.push(var.ln() + (rng.random::<f64>() - 0.5) * 2.0);
            s.push((1e-6_f64).ln() + rng.random::<f64>() * (1e4_f64).ln());
            starts.push(s);
        }
        let mut best: Option<(f64, Vec<f64>)> = None;
        for s in &starts {
            let obj = |t: &[f64]| lml_grad(kernel, &x, p, &yv, &known, t).map(|(l, g)| (-l, g.into_iter().map(|v| -v).collect()));
            if let Some(m) = minimize(obj, s, &lo, &hi, 200) {
                if best.as_ref().is_none_or(|b| m.f < b.0) {
                    best = Some((m.f, m.x));
                }
            }
        }
        let (_, params) =
            best.ok_or_else(|| EmuError::Fit("no start of the hyperparameter optimization gave a positive-definite covariance".into()))?;
        Gp::condition(kernel, params, x, p, y, known)
    }

    /// Training inputs (row-major) and their width.
    pub fn inputs(&self) -> (&[f64], usize) {
        (&self.x, self.p)
    }

    /// Known noise variance of each training point (empty: none).
    pub fn known_noise(&self) -> &[f64] {
        &self.known
    }

    /// Predictive mean and variance (including the fitted white-noise term) at
    /// the rows of `u` (row-major, `m × p`), written into `mean` and `var`.
    ///
    /// With `k*` the kernel row of a point, the variance is
    /// `s² + σ² − ‖L⁻¹ k*‖²`. For a batch, `V = K* L⁻ᵀ` is one triangular
    /// matrix product (faer, single-threaded) that skips the zeros below the
    /// diagonal of `L⁻ᵀ`: `n²/2` multiply-adds per point. A few points use dot products over the
    /// triangle's columns instead. The result does not depend on the thread
    /// count: callers parallelize over blocks of points and components.
    pub fn predict_into(&self, u: &[f64], mean: &mut [f64], var: &mut [f64]) {
        let (n, p) = (self.alpha.len(), self.p);
        let m = u.len() / p;
        let mut ks = vec![0.0; m * n];
        let mut us = vec![0.0; p];
        let alpha = self.alpha.as_slice();
        for a in 0..m {
            for d in 0..p {
                us[d] = u[a * p + d] * self.inv_l[d];
            }
            let row = &mut ks[a * n..(a + 1) * n];
            simd::kernel_row(self.kernel, self.signal, &us, &self.xs, n, row);
            mean[a] = simd::dot(row, alpha);
        }
        let lt = self.linv_t.as_slice();
        let mut s = vec![0.0; m];
        if m < 8 {
            for a in 0..m {
                let k = &ks[a * n..(a + 1) * n];
                for i in 0..n {
                    let v = simd::dot(&lt[i * n..i * n + i + 1], &k[..=i]);
                    s[a] += v * v;
                }
            }
        } else {
            linalg::add_row_sumsq_times_upper(&ks, m, n, lt, &mut s);
        }
        for a in 0..m {
            var[a] = (self.signal + self.noise - s[a]).max(1e-12 * self.signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> (Vec<f64>, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let x: Vec<f64> = (0..2 * n).map(|_| rng.random::<f64>()).collect();
        let y = (0..n).map(|i| (6.0 * x[2 * i]).sin() + 0.1 * x[2 * i + 1]).collect();
        (x, y)
    }

    #[test]
    fn inverse_from_the_cholesky_factor() {
        let (x, _) = data(25);
        let mut k = train_cov(Kernel::Matern52, &x, 2, &[4.0, 1.0], 1.3, 1e-3, &[]);
        k.fill_upper_triangle_with_lower_triangle();
        let f = factor(k.clone(), &[0.0; 25]).unwrap();
        let inv = DMatrix::from_column_slice(25, 25, &linalg::inverse_from_tri_inverse(&linalg::tri_inverse(&f.l, 25), 25));
        let err = (&k * &inv - DMatrix::<f64>::identity(25, 25)).abs().max();
        assert!(err < 1e-8, "{err}");
    }

    #[test]
    fn single_and_batched_prediction_agree() {
        let (x, y) = data(40);
        let gp = Gp::condition(Kernel::Matern32, vec![-1.0, 0.5, 0.1, -6.0], x, 2, &y, vec![]).unwrap();
        let (u, _) = data(12);
        let (mut m1, mut v1, mut m2, mut v2) = ([0.0; 12], [0.0; 12], [0.0; 12], [0.0; 12]);
        gp.predict_into(&u, &mut m1, &mut v1);
        for a in 0..12 {
            gp.predict_into(&u[2 * a..2 * a + 2], &mut m2[a..a + 1], &mut v2[a..a + 1]);
        }
        for a in 0..12 {
            assert!((m1[a] - m2[a]).abs() < 1e-10 && (v1[a] - v2[a]).abs() < 1e-10 * (1.0 + v1[a]), "{a}: {} {} {} {}", m1[a], m2[a], v1[a], v2[a]);
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (x, y) = data(90);
        let yv = DVector::from_vec(y);
        let some: Vec<f64> = (0..90).map(|i| 1e-3 * (1 + i % 3) as f64).collect();
        for (kernel, known) in
            [(Kernel::Se, vec![]), (Kernel::Matern32, vec![]), (Kernel::Matern52, vec![]), (Kernel::Se, some.clone()), (Kernel::Matern52, some)]
        {
            let t = vec![-1.0, 0.3, 0.2, -5.0];
            let (_, g) = lml_grad(kernel, &x, 2, &yv, &known, &t).unwrap();
            for d in 0..4 {
                let h = 1e-5;
                let (mut tp, mut tm) = (t.clone(), t.clone());
                tp[d] += h;
                tm[d] -= h;
                let fd = (lml_grad(kernel, &x, 2, &yv, &known, &tp).unwrap().0 - lml_grad(kernel, &x, 2, &yv, &known, &tm).unwrap().0) / (2.0 * h);
                assert!((fd - g[d]).abs() < 1e-4 * fd.abs().max(1.0), "{kernel:?} param {d}: fd {fd} analytic {}", g[d]);
            }
        }
    }

    #[test]
    fn fit_finds_ard_structure_and_predicts() {
        let (x, y) = data(80);
        let gp = Gp::fit(Kernel::Se, x, 2, &y, vec![], 2, 1, HyperBounds::default()).unwrap();
        // The second input barely matters: its length scale is much longer than the first's.
        assert!(gp.log_params[1] > gp.log_params[0] + 1.0, "{:?}", gp.log_params);
        let u = [0.3, 0.5, 0.71, 0.2];
        let (mut m, mut v) = ([0.0; 2], [0.0; 2]);
        gp.predict_into(&u, &mut m, &mut v);
        for a in 0..2 {
            let truth = (6.0 * u[2 * a]).sin() + 0.1 * u[2 * a + 1];
            assert!((m[a] - truth).abs() < 0.02, "{} vs {truth}", m[a]);
            assert!(v[a] > 0.0 && v[a] < 1e-3);
        }
    }
}

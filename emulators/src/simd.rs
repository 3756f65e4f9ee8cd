//! Loops written so that the compiler vectorizes them: kernel rows (with the
//! branch-free `exp` of [`seqcal_vmath`], no calls into libm), the gradient of
//! the log marginal likelihood, dot products. Each has a portable body, and
//! [`seqcal_vmath::dispatch!`] compiles it a second time for AVX2 and FMA and
//! picks the copy at run time. Only plain multiplications and additions are
//! used (no fused multiply-add), so both copies give the same bits, on any
//! machine and for any thread count.

use seqcal_vmath::exp_nonpos;

use crate::kernel::Kernel;

const SQRT3: f64 = 1.732_050_807_568_877_2;
const SQRT5: f64 = 2.236_067_977_499_79;

#[inline(always)]
fn kernel_row_body(kernel: Kernel, signal: f64, u: &[f64], xs: &[f64], n: usize, range: (usize, usize), out: &mut [f64]) {
    let out = &mut out[..range.1 - range.0];
    out.iter_mut().for_each(|v| *v = 0.0);
    for (d, &ud) in u.iter().enumerate() {
        let col = &xs[d * n + range.0..d * n + range.1];
        for (o, &x) in out.iter_mut().zip(col) {
            let t = ud - x;
            *o += t * t;
        }
    }
    match kernel {
        Kernel::Se => out.iter_mut().for_each(|v| *v = signal * exp_nonpos(-0.5 * *v)),
        Kernel::Matern32 => out.iter_mut().for_each(|v| {
            let a = SQRT3 * v.sqrt();
            *v = signal * (1.0 + a) * exp_nonpos(-a);
        }),
        Kernel::Matern52 => out.iter_mut().for_each(|v| {
            let a = SQRT5 * v.sqrt();
            *v = signal * (1.0 + a + 5.0 / 3.0 * *v) * exp_nonpos(-a);
        }),
    }
}

/// `out[i] = s² ρ(‖u − x_i‖²)` for the `n` training points stored dimension by
/// dimension in `xs` (`p × n`, each coordinate divided by its length scale),
/// `u` scaled the same way.
pub(crate) fn kernel_row(kernel: Kernel, signal: f64, u: &[f64], xs: &[f64], n: usize, out: &mut [f64]) {
    kernel_row_range(kernel, signal, u, xs, n, (0, n), out)
}

seqcal_vmath::dispatch! {
    /// [`kernel_row`] for the training points `range.0..range.1` only, into `out[..range.1 − range.0]`.
    pub(crate) fn kernel_row_range(kernel: Kernel, signal: f64, u: &[f64], xs: &[f64], n: usize, range: (usize, usize), out: &mut [f64]) => kernel_row_body;
}

/// One column of the log marginal likelihood's gradient sum
/// `½ Σ_ij W_ij ∂K_ij/∂θ` with `W = ααᵀ − K⁻¹`: the pairs `(i, j)`, `j > i`
/// (counted twice), given column `i` of `K` (`k_col`) and of `K⁻¹` (`kinv_col`)
/// below the diagonal. Adds to `dl` (per length scale) and returns the signal
/// term. `xs`: training inputs over length scales, `p × n`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn grad_column_body(
    kernel: Kernel,
    signal: f64,
    i: usize,
    n: usize,
    xs: &[f64],
    alpha: &[f64],
    kinv_col: &[f64],
    k_col: &[f64],
    c: &mut [f64],
    dl: &mut [f64],
) -> f64 {
    let m = n - i - 1;
    let (c, ai) = (&mut c[..m], alpha[i]);
    let p = xs.len() / n;
    let need_r2 = kernel != Kernel::Se;
    if need_r2 {
        c.iter_mut().for_each(|v| *v = 0.0);
        for d in 0..p {
            let xd = &xs[d * n..(d + 1) * n];
            let xi = xd[i];
            for (v, &xj) in c.iter_mut().zip(&xd[i + 1..]) {
                let t = xi - xj;
                *v += t * t;
            }
        }
    }
    let mut dsig = 0.0;
    let inv_s = 1.0 / signal;
    for (t, v) in c.iter_mut().enumerate() {
        let w = 2.0 * (ai * alpha[i + 1 + t] - kinv_col[t]);
        let kij = k_col[t];
        dsig += w * kij;
        let rho = kij * inv_s;
        let g = match kernel {
            Kernel::Se => rho,
            Kernel::Matern32 => 3.0 * rho / (1.0 + SQRT3 * v.sqrt()),
            Kernel::Matern52 => {
                let a = SQRT5 * v.sqrt();
                5.0 / 3.0 * (1.0 + a) * rho / (1.0 + a + a * a / 3.0)
            }
        };
        *v = w * signal * g;
    }
    for d in 0..p {
        let xd = &xs[d * n..(d + 1) * n];
        let xi = xd[i];
        let mut acc = 0.0;
        for (&cv, &xj) in c.iter().zip(&xd[i + 1..]) {
            let t = xi - xj;
            acc += cv * t * t;
        }
        dl[d] += acc;
    }
    dsig
}

seqcal_vmath::dispatch! {
    /// See [`grad_column_body`].
    pub(crate) fn grad_column(kernel: Kernel, signal: f64, i: usize, n: usize, xs: &[f64], alpha: &[f64], kinv_col: &[f64], k_col: &[f64], c: &mut [f64], dl: &mut [f64]) -> f64 => grad_column_body;
}

#[inline(always)]
fn dot_body(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for t in 0..8 {
            acc[t] += x[t] * y[t];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

seqcal_vmath::dispatch! {
    /// Dot product with eight partial sums (same bits with or without AVX2).
    pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 => dot_body;
}

#[inline(always)]
fn sumsq_rows_body(v: &[f64], rows: usize, cols: usize, out: &mut [f64]) {
    // v is column-major rows × cols; out[r] += Σ_c v[r, c]².
    for c in 0..cols {
        let col = &v[c * rows..(c + 1) * rows];
        for (o, &x) in out[..rows].iter_mut().zip(col) {
            *o += x * x;
        }
    }
}

seqcal_vmath::dispatch! {
    /// `out[r] += Σ_c v[r, c]²` for a column-major `rows × cols` matrix `v`.
    pub(crate) fn sumsq_rows(v: &[f64], rows: usize, cols: usize, out: &mut [f64]) => sumsq_rows_body;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_row_matches_the_scalar_kernel() {
        let (n, p) = (37, 3);
        let inv_l = [2.0, 0.5, 1.3];
        let x: Vec<f64> = (0..n * p).map(|i| ((i * 7919) % 101) as f64 / 101.0).collect();
        let xs: Vec<f64> = (0..p).flat_map(|d| (0..n).map(move |i| (i, d))).map(|(i, d)| x[i * p + d] * inv_l[d]).collect();
        let u = [0.3, 0.9, 0.1];
        let us: Vec<f64> = (0..p).map(|d| u[d] * inv_l[d]).collect();
        let il2: Vec<f64> = inv_l.iter().map(|v| v * v).collect();
        for k in [Kernel::Se, Kernel::Matern32, Kernel::Matern52] {
            let mut out = vec![0.0; n];
            kernel_row(k, 1.7, &us, &xs, n, &mut out);
            let mut fallback = vec![0.0; n];
            kernel_row_body(k, 1.7, &us, &xs, n, (0, n), &mut fallback);
            for i in 0..n {
                let want = 1.7 * k.corr(crate::kernel::r2(&u, &x[i * p..(i + 1) * p], &il2));
                assert!((out[i] - want).abs() < 1e-14, "{k:?} {i}: {} vs {want}", out[i]);
                assert_eq!(out[i].to_bits(), fallback[i].to_bits());
            }
        }
        let a: Vec<f64> = (0..19).map(|i| i as f64 * 0.1).collect();
        assert!((dot(&a, &a) - a.iter().map(|v| v * v).sum::<f64>()).abs() < 1e-12);
    }
}

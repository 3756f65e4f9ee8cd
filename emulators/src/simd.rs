//! Loops written so that the compiler vectorizes them: an `exp` of a slice
//! (range reduction by `ln 2` and a polynomial, no calls into libm), kernel
//! rows, dot products. Each has a portable body and, on x86-64, the same body
//! compiled for AVX2 and chosen at run time. Only plain multiplications and
//! additions are used (no fused multiply-add), so both versions give the same
//! bits, on any machine and for any thread count.

use crate::kernel::Kernel;

const LOG2E: f64 = std::f64::consts::LOG2_E;
/// `ln 2` split in two: the high part has trailing zero bits, so `k · LN2_HI` is exact for `|k| < 2²⁰`.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// `1.5 · 2⁵²`: adding it rounds to the nearest integer, which then sits in the low mantissa bits.
const ROUND: f64 = 6_755_399_441_055_744.0;

/// `exp(x)` for `x <= 0` (arguments below −700 give `exp(−700)` ≈ 1e−304
/// instead of a smaller number or 0); relative error below 4e−16.
#[inline(always)]
fn exp_nonpos(x: f64) -> f64 {
    let x = if x < -700.0 { -700.0 } else { x };
    let t = x * LOG2E + ROUND;
    let k = t - ROUND;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // Taylor series of e^r on |r| <= ln2/2, degree 13, by Horner.
    let mut p = 1.0 / 6_227_020_800.0;
    p = p * r + 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2^k from the integer in t's low bits.
    let ki = (t.to_bits() as i64).wrapping_sub(ROUND.to_bits() as i64);
    p * f64::from_bits(((ki + 1023) << 52) as u64)
}

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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn kernel_row_avx2(kernel: Kernel, signal: f64, u: &[f64], xs: &[f64], n: usize, range: (usize, usize), out: &mut [f64]) {
    kernel_row_body(kernel, signal, u, xs, n, range, out)
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `out[i] = s² ρ(‖u − x_i‖²)` for the `n` training points stored dimension by
/// dimension in `xs` (`p × n`, each coordinate divided by its length scale),
/// `u` scaled the same way.
pub(crate) fn kernel_row(kernel: Kernel, signal: f64, u: &[f64], xs: &[f64], n: usize, out: &mut [f64]) {
    kernel_row_range(kernel, signal, u, xs, n, (0, n), out)
}

/// [`kernel_row`] for the training points `range.0..range.1` only, into `out[..range.1 − range.0]`.
pub(crate) fn kernel_row_range(kernel: Kernel, signal: f64, u: &[f64], xs: &[f64], n: usize, range: (usize, usize), out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 (checked above).
        return unsafe { kernel_row_avx2(kernel, signal, u, xs, n, range, out) };
    }
    kernel_row_body(kernel, signal, u, xs, n, range, out)
}

/// One column of the log marginal likelihood's gradient sum
/// `½ Σ_ij W_ij ∂K_ij/∂θ` with `W = ααᵀ − K⁻¹`: the pairs `(i, j)`, `j > i`
/// (counted twice), given column `i` of `K` (`k_col`) and of `K⁻¹` (`kinv_col`)
/// below the diagonal. Adds to `dl` (per length scale) and returns the signal
/// term. `xs`: training inputs over length scales, `p × n`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn grad_column_body(kernel: Kernel, signal: f64, i: usize, n: usize, xs: &[f64], alpha: &[f64], kinv_col: &[f64], k_col: &[f64], c: &mut [f64], dl: &mut [f64]) -> f64 {
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
fn grad_column_avx2(kernel: Kernel, signal: f64, i: usize, n: usize, xs: &[f64], alpha: &[f64], kinv_col: &[f64], k_col: &[f64], c: &mut [f64], dl: &mut [f64]) -> f64 {
    grad_column_body(kernel, signal, i, n, xs, alpha, kinv_col, k_col, c, dl)
}

/// See [`grad_column_body`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn grad_column(kernel: Kernel, signal: f64, i: usize, n: usize, xs: &[f64], alpha: &[f64], kinv_col: &[f64], k_col: &[f64], c: &mut [f64], dl: &mut [f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 (checked above).
        return unsafe { grad_column_avx2(kernel, signal, i, n, xs, alpha, kinv_col, k_col, c, dl) };
    }
    grad_column_body(kernel, signal, i, n, xs, alpha, kinv_col, k_col, c, dl)
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_avx2(a: &[f64], b: &[f64]) -> f64 {
    dot_body(a, b)
}

/// Dot product with eight partial sums (same bits with or without AVX2).
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 (checked above).
        return unsafe { dot_avx2(a, b) };
    }
    dot_body(a, b)
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sumsq_rows_avx2(v: &[f64], rows: usize, cols: usize, out: &mut [f64]) {
    sumsq_rows_body(v, rows, cols, out)
}

/// `out[r] += Σ_c v[r, c]²` for a column-major `rows × cols` matrix `v`.
pub(crate) fn sumsq_rows(v: &[f64], rows: usize, cols: usize, out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 (checked above).
        return unsafe { sumsq_rows_avx2(v, rows, cols, out) };
    }
    sumsq_rows_body(v, rows, cols, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std() {
        let mut worst: f64 = 0.0;
        for i in 0..200_000 {
            let x = -(i as f64) * 0.0035;
            let (a, b) = (exp_nonpos(x), x.exp());
            worst = worst.max(((a - b) / b).abs());
        }
        assert!(worst < 4e-16, "{worst}");
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert!(exp_nonpos(-1e6) < 1e-300);
    }

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

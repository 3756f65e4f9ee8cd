//! Dense algebra of the GP fit and prediction, by faer (single-threaded:
//! components and blocks of points run in parallel, each on one thread, so the
//! results do not depend on the thread count): Cholesky factorization, inverse
//! of the triangular factor, `K⁻¹ = L⁻ᵀ L⁻¹`, and the products prediction needs.
//!
//! All square matrices are column-major `n × n` slices.
//!
//! ## Why faer
//!
//! This module held hand-written blocked routines (Golub and Van Loan 4.2.9,
//! 3.2.11) on the `gemm` crate until they were timed against faer 0.24 at the
//! sizes of the benchmark designs (n = 300, 485, 500, one thread each):
//! faer's Cholesky factor took 0.48-0.70x their time, its triangular inverse
//! 0.47-0.91x, its triangular product `L⁻ᵀ L⁻¹` 0.46-0.67x, and the
//! predictive-variance product 0.78-1.08x (benches/README.md has the
//! numbers). The results agree to 2·10⁻¹¹.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{cholesky_in_place, cholesky_in_place_scratch};
use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure};
use faer::linalg::triangular_inverse::invert_lower_triangular;
use faer::{Accum, MatMut, MatRef, Par};

use crate::simd;

/// In-place lower Cholesky factor of the symmetric positive-definite `a`
/// (only its lower triangle is read, the strict upper triangle is left as it
/// is). `false` if `a` is not numerically positive definite.
pub(crate) fn cholesky(a: &mut [f64], n: usize) -> bool {
    let mut mem = MemBuffer::new(cholesky_in_place_scratch::<f64>(n, Par::Seq, Default::default()));
    let m = MatMut::from_column_major_slice_mut(a, n, n);
    let ok = cholesky_in_place(m, Default::default(), Par::Seq, MemStack::new(&mut mem), Default::default()).is_ok();
    ok && (0..n).all(|i| a[i * n + i].is_finite() && a[i * n + i] > 0.0)
}

/// `L⁻¹` of the lower-triangular `l` (only its lower triangle is read);
/// the result has zeros above the diagonal.
pub(crate) fn tri_inverse(l: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    invert_lower_triangular(MatMut::from_column_major_slice_mut(&mut out, n, n), MatRef::from_column_major_slice(l, n, n), Par::Seq);
    out
}

/// `K⁻¹ = L⁻ᵀ L⁻¹` from `M = L⁻¹` (lower triangular, zeros above): the lower
/// triangle as one triangular product (`n³/3` multiply-adds), then mirrored.
pub(crate) fn inverse_from_tri_inverse(m: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    let mr = MatRef::from_column_major_slice(m, n, n);
    let dst = MatMut::from_column_major_slice_mut(&mut out, n, n);
    tri_matmul(
        dst,
        BlockStructure::TriangularLower,
        Accum::Replace,
        mr.transpose(),
        BlockStructure::TriangularUpper,
        mr,
        BlockStructure::TriangularLower,
        1.0,
        Par::Seq,
    );
    mirror_lower(&mut out, n);
    out
}

/// Copies the strict lower triangle of the column-major `n × n` `a` onto its upper triangle.
fn mirror_lower(a: &mut [f64], n: usize) {
    for j in 0..n {
        for i in 0..j {
            a[j * n + i] = a[i * n + j];
        }
    }
}

/// `s[a] += ‖(K* L⁻ᵀ)_a‖²` for the `m` rows of `ks` (row-major `m × n`) and
/// the upper-triangular `lt = L⁻ᵀ` (column-major `n × n`, only its upper
/// triangle read): one triangular product, then the rows' sums of squares.
pub(crate) fn add_row_sumsq_times_upper(ks: &[f64], m: usize, n: usize, lt: &[f64], s: &mut [f64]) {
    let mut v = vec![0.0; m * n];
    let dst = MatMut::from_column_major_slice_mut(&mut v, m, n);
    tri_matmul(
        dst,
        BlockStructure::Rectangular,
        Accum::Replace,
        MatRef::from_row_major_slice(ks, m, n),
        BlockStructure::Rectangular,
        MatRef::from_column_major_slice(lt, n, n),
        BlockStructure::TriangularUpper,
        1.0,
        Par::Seq,
    );
    simd::sumsq_rows(&v, m, n, s);
}

/// `c += bᵀ b` for `b` row-major `k × o` and `c` row-major `o × o`; `c` stays
/// exactly symmetric if it was.
pub(crate) fn add_gram(c: &mut [f64], b: &[f64], k: usize, o: usize) {
    let br = MatRef::from_row_major_slice(b, k, o);
    let dst = MatMut::from_column_major_slice_mut(c, o, o);
    tri_matmul(
        dst,
        BlockStructure::TriangularLower,
        Accum::Add,
        br.transpose(),
        BlockStructure::Rectangular,
        br,
        BlockStructure::Rectangular,
        1.0,
        Par::Seq,
    );
    mirror_lower(c, o);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_inverses_and_products() {
        for n in [5, 64, 65, 150, 300] {
            // A well-conditioned SPD matrix.
            let a: Vec<f64> = (0..n * n)
                .map(|t| {
                    let (i, j) = (t % n, t / n);
                    let d = (i as f64 - j as f64) / 7.0;
                    (-d * d).exp() + if i == j { 0.5 } else { 0.0 }
                })
                .collect();
            let mut l = a.clone();
            assert!(cholesky(&mut l, n));
            let na = nalgebra::DMatrix::from_column_slice(n, n, &a);
            let want = na.clone().cholesky().unwrap().unpack();
            for j in 0..n {
                for i in j..n {
                    assert!((l[j * n + i] - want[(i, j)]).abs() < 1e-12, "n {n} L[{i},{j}]");
                }
            }
            let minv = tri_inverse(&l, n);
            let kinv = nalgebra::DMatrix::from_column_slice(n, n, &inverse_from_tri_inverse(&minv, n));
            let err = (&na * &kinv - nalgebra::DMatrix::<f64>::identity(n, n)).abs().max();
            assert!(err < 1e-10, "n {n}: {err}");
            // ‖k L⁻ᵀ‖² = kᵀ K⁻¹ k for a few rows k.
            let m = 9;
            let ks: Vec<f64> = (0..m * n).map(|t| ((t * 7919) % 101) as f64 / 101.0).collect();
            let lt: Vec<f64> = (0..n * n).map(|t| minv[(t % n) * n + t / n]).collect();
            let mut s = vec![1.0; m];
            add_row_sumsq_times_upper(&ks, m, n, &lt, &mut s);
            for r in 0..m {
                let k = nalgebra::DVector::from_column_slice(&ks[r * n..(r + 1) * n]);
                let q = (k.transpose() * &kinv * &k)[(0, 0)];
                assert!((s[r] - 1.0 - q).abs() < 1e-9 * (1.0 + q), "n {n} row {r}: {} vs {q}", s[r] - 1.0);
            }
        }
        let mut bad = vec![1.0, 2.0, 2.0, 1.0];
        assert!(!cholesky(&mut bad, 2));
        let mut nan = vec![f64::NAN, 0.0, 0.0, 1.0];
        assert!(!cholesky(&mut nan, 2));
    }

    #[test]
    fn gram_is_symmetric() {
        let (k, o) = (3, 5);
        let b: Vec<f64> = (0..k * o).map(|t| (t as f64 * 0.37).sin()).collect();
        let mut c: Vec<f64> = (0..o * o).map(|t| if t % (o + 1) == 0 { 1.0 } else { 0.0 }).collect();
        add_gram(&mut c, &b, k, o);
        for i in 0..o {
            for j in 0..o {
                let want = f64::from(u8::from(i == j)) + (0..k).map(|r| b[r * o + i] * b[r * o + j]).sum::<f64>();
                assert!((c[i * o + j] - want).abs() < 1e-14 && c[i * o + j] == c[j * o + i], "{i} {j}");
            }
        }
    }
}

//! Dense symmetric positive-definite algebra for the GP fit, blocked so that
//! almost all the work is matrix products (the `gemm` crate, single-threaded:
//! components are fitted in parallel): Cholesky factorization, inverse of a
//! triangular factor, and `K⁻¹ = L⁻ᵀ L⁻¹`. Fixed block sizes, so the results
//! do not depend on anything but the input.
//!
//! All matrices are square, column-major, `n × n` slices.
//!
//! # Reference
//! G. H. Golub and C. F. Van Loan, *Matrix Computations*, 4th ed., Johns
//! Hopkins 2013, sections 4.2.9 (block Cholesky) and 3.2.11 (block triangular
//! inversion).

/// Block size of the factorization and the inversions.
const NB: usize = 64;

/// `dst = (read ? dst : 0) + beta · lhs · rhs`, sizes `m × k` times `k × n`,
/// every operand given by a pointer and (column stride, row stride).
///
/// # Safety
/// The pointers with their strides must address valid, non-overlapping
/// (dst against the others) memory for the given sizes.
#[allow(clippy::too_many_arguments)]
unsafe fn mm(m: usize, n: usize, k: usize, dst: *mut f64, dst_cs: usize, dst_rs: usize, read: bool, lhs: *const f64, lhs_cs: usize, lhs_rs: usize, rhs: *const f64, rhs_cs: usize, rhs_rs: usize, beta: f64) {
    if m == 0 || n == 0 {
        return;
    }
    gemm::gemm(
        m,
        n,
        k,
        dst,
        dst_cs as isize,
        dst_rs as isize,
        read,
        lhs,
        lhs_cs as isize,
        lhs_rs as isize,
        rhs,
        rhs_cs as isize,
        rhs_rs as isize,
        1.0,
        beta,
        false,
        false,
        false,
        gemm::Parallelism::None,
    );
}

/// In-place lower Cholesky factor of the symmetric positive-definite `a`
/// (only its lower triangle is read; the strict upper triangle is used as
/// scratch). `false` if `a` is not numerically positive definite.
pub(crate) fn cholesky(a: &mut [f64], n: usize) -> bool {
    let mut l11inv = vec![0.0; NB * NB];
    let mut panel = vec![0.0; n * NB];
    for k0 in (0..n).step_by(NB) {
        let k1 = (k0 + NB).min(n);
        let w = k1 - k0;
        // Unblocked factorization of the diagonal block (earlier blocks already subtracted).
        for j in k0..k1 {
            let mut d = a[j * n + j];
            for t in k0..j {
                d -= a[t * n + j] * a[t * n + j];
            }
            if !(d > 0.0 && d.is_finite()) {
                return false;
            }
            let d = d.sqrt();
            a[j * n + j] = d;
            for i in j + 1..k1 {
                let mut s = a[j * n + i];
                for t in k0..j {
                    s -= a[t * n + i] * a[t * n + j];
                }
                a[j * n + i] = s / d;
            }
        }
        if k1 == n {
            break;
        }
        // Panel: L21 = A21 L11⁻ᵀ.
        let r = n - k1;
        let mut l11 = vec![0.0; w * w];
        for j in 0..w {
            for i in j..w {
                l11[j * w + i] = a[(k0 + j) * n + k0 + i];
            }
        }
        tri_inverse_small(&l11, w, &mut l11inv[..w * w]);
        for j in 0..w {
            panel[j * r..(j + 1) * r].copy_from_slice(&a[(k0 + j) * n + k1..(k0 + j) * n + n]);
        }
        // SAFETY: panel is r × w (column stride r), l11inv w × w, the destination the
        // rows k1.. of columns k0..k1 of a, disjoint from both.
        unsafe {
            mm(r, w, w, a.as_mut_ptr().add(k0 * n + k1), n, 1, false, panel.as_ptr(), r, 1, l11inv.as_ptr(), 1, w, 1.0);
        }
        // Trailing lower triangle: A22 −= L21 L21ᵀ, by column blocks from the diagonal down.
        for j0 in (k1..n).step_by(NB) {
            let jw = (j0 + NB).min(n) - j0;
            // SAFETY: the destination (rows j0.., columns j0..j0+jw, all >= k1) does
            // not overlap L21 (columns k0..k1).
            unsafe {
                let base = a.as_mut_ptr();
                mm(n - j0, jw, w, base.add(j0 * n + j0), n, 1, true, base.add(k0 * n + j0), n, 1, base.add(k0 * n + j0), 1, n, -1.0);
            }
        }
    }
    true
}

/// Inverse of a small lower-triangular `w × w` matrix (zeros above the
/// diagonal in `out`), by forward substitution column by column.
fn tri_inverse_small(l: &[f64], w: usize, out: &mut [f64]) {
    out.iter_mut().for_each(|v| *v = 0.0);
    for j in 0..w {
        let x = &mut out[j * w..(j + 1) * w];
        x[j] = 1.0;
        for k in j..w {
            let col = &l[k * w..(k + 1) * w];
            x[k] /= col[k];
            let xk = x[k];
            for i in k + 1..w {
                x[i] -= col[i] * xk;
            }
        }
    }
}

/// `L⁻¹` of the lower-triangular `l` (only its lower triangle is read);
/// the result has zeros above the diagonal.
pub(crate) fn tri_inverse(l: &[f64], n: usize) -> Vec<f64> {
    let mut a = vec![0.0; n * n];
    for j in 0..n {
        a[j * n + j..(j + 1) * n].copy_from_slice(&l[j * n + j..(j + 1) * n]);
    }
    let mut tmp = vec![0.0; n * n / 2 + NB];
    tri_inverse_rec(&mut a, n, 0, n, &mut tmp);
    a
}

/// Inverts in place the lower-triangular diagonal block `[o, o + s)` of `a`
/// (column stride `ld`): `[[A, 0], [B, C]]⁻¹ = [[A⁻¹, 0], [−C⁻¹ B A⁻¹, C⁻¹]]`.
fn tri_inverse_rec(a: &mut [f64], ld: usize, o: usize, s: usize, tmp: &mut [f64]) {
    if s <= NB {
        let mut l = vec![0.0; s * s];
        for j in 0..s {
            l[j * s + j..(j + 1) * s].copy_from_slice(&a[(o + j) * ld + o + j..(o + j) * ld + o + s]);
        }
        let mut inv = vec![0.0; s * s];
        tri_inverse_small(&l, s, &mut inv);
        for j in 0..s {
            a[(o + j) * ld + o..(o + j) * ld + o + s].copy_from_slice(&inv[j * s..(j + 1) * s]);
        }
        return;
    }
    let h = (s / 2).div_ceil(NB) * NB;
    let r = s - h;
    tri_inverse_rec(a, ld, o, h, tmp);
    tri_inverse_rec(a, ld, o + h, r, tmp);
    // SAFETY: B (rows o+h.., columns o..o+h), A⁻¹ and C⁻¹ are disjoint blocks of a;
    // tmp (r × h, column stride r) is separate memory of at least r·h <= s²/4 values.
    unsafe {
        let base = a.as_mut_ptr();
        let t = tmp.as_mut_ptr();
        mm(r, h, h, t, r, 1, false, base.add(o * ld + o + h), ld, 1, base.add(o * ld + o), ld, 1, 1.0);
        mm(r, h, r, base.add(o * ld + o + h), ld, 1, false, base.add((o + h) * ld + o + h), ld, 1, t, r, 1, -1.0);
    }
}

/// `K⁻¹ = L⁻ᵀ L⁻¹` from `M = L⁻¹` (lower triangular, zeros above): the lower
/// triangle by column blocks (`(K⁻¹)_ij = Σ_{k >= max(i, j)} M_ki M_kj`,
/// `n³/3` multiply-adds), then mirrored.
pub(crate) fn inverse_from_tri_inverse(m: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for j0 in (0..n).step_by(NB) {
        let w = (j0 + NB).min(n) - j0;
        let r = n - j0;
        // out[j0.., j0..j0+w] = (M[j0.., j0..])ᵀ M[j0.., j0..j0+w].
        // SAFETY: out and m are separate n × n buffers.
        unsafe {
            mm(r, w, r, out.as_mut_ptr().add(j0 * n + j0), n, 1, false, m.as_ptr().add(j0 * n + j0), 1, n, m.as_ptr().add(j0 * n + j0), n, 1, 1.0);
        }
    }
    for j in 0..n {
        for i in 0..j {
            out[j * n + i] = out[i * n + j];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_cholesky_and_inverses() {
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
        }
        let mut bad = vec![1.0, 2.0, 2.0, 1.0];
        assert!(!cholesky(&mut bad, 2));
    }
}

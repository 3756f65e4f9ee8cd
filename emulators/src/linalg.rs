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

use crate::simd;

/// A strided matrix operand: offset of its first value in a buffer, column
/// stride and row stride.
#[derive(Debug, Clone, Copy)]
struct Op {
    off: usize,
    cs: usize,
    rs: usize,
}

impl Op {
    fn new(off: usize, cs: usize, rs: usize) -> Op {
        Op { off, cs, rs }
    }

    /// The first and last buffer index a `rows × cols` operand touches
    /// (`rows, cols >= 1`).
    fn extent(self, rows: usize, cols: usize) -> (usize, usize) {
        (self.off, self.off + (rows - 1) * self.rs + (cols - 1) * self.cs)
    }
}

/// A source operand of [`mm`]: inside the destination's buffer, or in a buffer of its own.
#[derive(Clone, Copy)]
enum Src<'a> {
    Same(Op),
    Other(&'a [f64], Op),
}

/// `dst = (read ? dst : 0) + beta · lhs · rhs`, sizes `m × k` times `k × n`,
/// by the `gemm` crate (single-threaded). `dst` lives in `buf`; each source
/// in `buf` too or in a slice of its own.
///
/// # Panics
/// If `k = 0`, an operand reaches past its buffer, or a source in `buf`
/// overlaps the destination's span: checked here on every call, since `gemm`
/// trusts its pointers.
#[allow(clippy::too_many_arguments)]
fn mm(m: usize, n: usize, k: usize, buf: &mut [f64], dst: Op, read: bool, lhs: Src<'_>, rhs: Src<'_>, beta: f64) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(k > 0, "mm: empty inner dimension");
    let (d0, d1) = dst.extent(m, n);
    let len = buf.len();
    assert!(d1 < len, "mm: destination [{d0}, {d1}] outside a buffer of {len}");
    let check = |src: Src<'_>, rows: usize, cols: usize| match src {
            Src::Same(op) => {
                let (s0, s1) = op.extent(rows, cols);
                assert!(s1 < len, "mm: source [{s0}, {s1}] outside a buffer of {len}");
                assert!(s1 < d0 || s0 > d1, "mm: source [{s0}, {s1}] overlaps the destination [{d0}, {d1}]");
            }
            Src::Other(b, op) => {
                let (s0, s1) = op.extent(rows, cols);
                assert!(s1 < b.len(), "mm: source [{s0}, {s1}] outside a buffer of {}", b.len());
            }
    };
    check(lhs, m, k);
    check(rhs, k, n);
    // Every pointer into `buf` derives from this one mutable borrow.
    let base = buf.as_mut_ptr();
    let ptr = |src: Src<'_>| match src {
        Src::Same(op) => (base.cast_const(), op),
        Src::Other(b, op) => (b.as_ptr(), op),
    };
    let (lp, lo) = ptr(lhs);
    let (rp, ro) = ptr(rhs);
    // SAFETY: every operand lies inside its buffer (asserted above), the sources in `buf` lie outside the destination's
    // span, and a slice of its own cannot alias `buf`, which is borrowed mutably.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            base.add(dst.off),
            dst.cs as isize,
            dst.rs as isize,
            read,
            lp.add(lo.off),
            lo.cs as isize,
            lo.rs as isize,
            rp.add(ro.off),
            ro.cs as isize,
            ro.rs as isize,
            1.0,
            beta,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
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
        // The rows k1.. of columns k0..k1 of a: panel (r × w) times L11⁻ᵀ.
        mm(r, w, w, a, Op::new(k0 * n + k1, n, 1), false, Src::Other(&panel, Op::new(0, r, 1)), Src::Other(&l11inv, Op::new(0, 1, w)), 1.0);
        // Trailing lower triangle: A22 −= L21 L21ᵀ, by column blocks from the diagonal down.
        for j0 in (k1..n).step_by(NB) {
            let jw = (j0 + NB).min(n) - j0;
            // Rows j0.., columns j0..j0+jw (all >= k1), apart from L21 (columns k0..k1).
            let l21 = Op::new(k0 * n + j0, n, 1);
            mm(n - j0, jw, w, a, Op::new(j0 * n + j0, n, 1), true, Src::Same(l21), Src::Same(Op::new(k0 * n + j0, 1, n)), -1.0);
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
    // tmp = B A⁻¹ (B: rows o+h.., columns o..o+h), then B = −C⁻¹ tmp.
    let b = Op::new(o * ld + o + h, ld, 1);
    mm(r, h, h, tmp, Op::new(0, r, 1), false, Src::Other(a, b), Src::Other(a, Op::new(o * ld + o, ld, 1)), 1.0);
    mm(r, h, r, a, b, false, Src::Same(Op::new((o + h) * ld + o + h, ld, 1)), Src::Other(tmp, Op::new(0, r, 1)), -1.0);
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
        mm(r, w, r, &mut out, Op::new(j0 * n + j0, n, 1), false, Src::Other(m, Op::new(j0 * n + j0, 1, n)), Src::Other(m, Op::new(j0 * n + j0, n, 1)), 1.0);
    }
    for j in 0..n {
        for i in 0..j {
            out[j * n + i] = out[i * n + j];
        }
    }
    out
}

/// `s[a] += ‖(K* L⁻ᵀ)_a‖²` for the `m` rows of `ks` (row-major `m × n`) and
/// the upper-triangular `lt = L⁻ᵀ` (column-major `n × n`): the product by
/// column blocks, each only over the rows of `L⁻ᵀ` above its diagonal.
pub(crate) fn add_row_sumsq_times_upper(ks: &[f64], m: usize, n: usize, lt: &[f64], s: &mut [f64]) {
    let mut v = vec![0.0; m * NB];
    for j0 in (0..n).step_by(NB) {
        let j1 = (j0 + NB).min(n);
        let w = j1 - j0;
        // v (m × w, column-major) = ks[:, 0..j1] · L⁻ᵀ[0..j1, j0..j1]; rows of L⁻ᵀ
        // past j1 are zero in these columns.
        mm(m, w, j1, &mut v, Op::new(0, m, 1), false, Src::Other(ks, Op::new(0, 1, n)), Src::Other(lt, Op::new(j0 * n, n, 1)), 1.0);
        simd::sumsq_rows(&v, m, w, s);
    }
}

/// `c += bᵀ b` for `b` row-major `k × o` and `c` row-major `o × o`.
pub(crate) fn add_gram(c: &mut [f64], b: &[f64], k: usize, o: usize) {
    mm(o, o, k, c, Op::new(0, 1, o), true, Src::Other(b, Op::new(0, o, 1)), Src::Other(b, Op::new(0, 1, o)), 1.0);
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

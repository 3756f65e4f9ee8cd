//! The matrix products of the coupling kernels, through the `gemm` crate
//! (single-threaded: parallelism is over fixed blocks of rows, so results do
//! not depend on the number of threads).

use seqcal_vmath::Real;

/// Matrix product `C (+)= A B` on row-major storage with explicit strides:
/// `A` is `m × k` with strides `(a_rs, a_cs)`, `B` is `k × n` with `(b_rs, b_cs)`,
/// `C` is `m × n` row-major with row stride `n`; `acc` adds to `C`.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn matmul<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    c: &mut [T],
    acc: bool,
    a: &[T],
    a_rs: usize,
    a_cs: usize,
    b: &[T],
    b_rs: usize,
    b_cs: usize,
) {
    // The preconditions of the unsafe call below, checked in every build.
    assert!(c.len() >= m * n, "matmul: C holds {} values, needs {m} x {n}", c.len());
    assert!(m == 0 || k == 0 || a.len() > (m - 1) * a_rs + (k - 1) * a_cs, "matmul: A is too short for {m} x {k} with strides ({a_rs}, {a_cs})");
    assert!(n == 0 || k == 0 || b.len() > (k - 1) * b_rs + (n - 1) * b_cs, "matmul: B is too short for {k} x {n} with strides ({b_rs}, {b_cs})");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !acc {
            c[..m * n].iter_mut().for_each(|v| *v = T::ZERO);
        }
        return;
    }
    // SAFETY: the extents asserted above bound every element gemm reads or writes:
    // C is m × n with row stride n, A and B are read within their stated strides,
    // and the three slices are distinct borrows (C mutable), so they do not alias.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            acc,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

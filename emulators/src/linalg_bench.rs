//! Timings of the fit's dense algebra, hand-written blocked routines
//! ([`crate::linalg`]) against faer's, at the sizes of the benchmark designs
//! (feature `faer-bench`; run `cargo run --release -p seqcal-emulators
//! --features faer-bench --example linalg_bench`).
//!
//! For each size `n`: the Cholesky factor of an SPD matrix, the inverse of
//! the triangular factor, `K⁻¹ = L⁻ᵀ L⁻¹` (lower triangle), and the
//! predictive-variance product `‖K* L⁻ᵀ‖²` row by row for a block of 256
//! points; both sides single-threaded (the emulator runs components and
//! point blocks in parallel, each single-threaded), and checked to agree.

use std::time::Instant;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure};
use faer::{Accum, MatMut, MatRef, Par};

use crate::{linalg, simd};

/// Median seconds per call of `f` over `reps` calls (after one warm-up call).
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

/// A squared-exponential covariance of `n` points in 6 dimensions plus a small nugget (column-major).
fn spd(n: usize) -> Vec<f64> {
    let x: Vec<f64> = (0..n * 6).map(|t| ((t as f64 * 0.618_033_988_75).fract())).collect();
    let mut a = vec![0.0; n * n];
    for j in 0..n {
        for i in 0..n {
            let r2: f64 = (0..6).map(|d| (x[i * 6 + d] - x[j * 6 + d]).powi(2)).sum();
            a[j * n + i] = (-2.0 * r2).exp() + if i == j { 1e-4 } else { 0.0 };
        }
    }
    a
}

/// One size's timings (seconds per call), hand-written then faer.
#[derive(Debug, Clone)]
pub struct Timings {
    /// Matrix size.
    pub n: usize,
    /// Cholesky factor.
    pub cholesky: (f64, f64),
    /// Inverse of the triangular factor.
    pub tri_inverse: (f64, f64),
    /// `K⁻¹ = L⁻ᵀ L⁻¹` from `L⁻¹`.
    pub inverse_product: (f64, f64),
    /// `‖K* L⁻ᵀ‖²` per row, 256 points.
    pub predict_product: (f64, f64),
    /// Largest relative difference between the two sides' results.
    pub max_rel_diff: f64,
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let scale = a.iter().fold(0.0_f64, |m, v| m.max(v.abs())).max(1e-300);
    a.iter().zip(b).fold(0.0_f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// Lower triangle of `a` (zeros above).
fn lower(a: &[f64], n: usize) -> Vec<f64> {
    (0..n * n).map(|t| if t % n >= t / n { a[t] } else { 0.0 }).collect()
}

/// Times both sides at size `n`, `reps` calls each.
pub fn measure(n: usize, reps: usize) -> Timings {
    let a = spd(n);
    // Cholesky.
    let mut l_hand = a.clone();
    let hand_chol = time(reps, || {
        l_hand.copy_from_slice(&a);
        assert!(linalg::cholesky(&mut l_hand, n));
    });
    let mut l_faer = a.clone();
    let req = faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch::<f64>(n, Par::Seq, Default::default());
    let mut mem = MemBuffer::new(req);
    let faer_chol = time(reps, || {
        l_faer.copy_from_slice(&a);
        let m = MatMut::from_column_major_slice_mut(&mut l_faer, n, n);
        faer::linalg::cholesky::llt::factor::cholesky_in_place(m, Default::default(), Par::Seq, MemStack::new(&mut mem), Default::default()).expect("SPD");
    });
    let (l_hand, l_faer) = (lower(&l_hand, n), lower(&l_faer, n));
    let mut diff = rel(&l_hand, &l_faer);
    // Triangular inverse.
    let mut m_hand = Vec::new();
    let hand_inv = time(reps, || m_hand = linalg::tri_inverse(&l_hand, n));
    let mut m_faer = vec![0.0; n * n];
    let faer_inv = time(reps, || {
        let dst = MatMut::from_column_major_slice_mut(&mut m_faer, n, n);
        faer::linalg::triangular_inverse::invert_lower_triangular(dst, MatRef::from_column_major_slice(&l_faer, n, n), Par::Seq);
    });
    let m_faer = lower(&m_faer, n);
    diff = diff.max(rel(&lower(&m_hand, n), &m_faer));
    // K⁻¹ = L⁻ᵀ L⁻¹ (lower triangle).
    let mut k_hand = Vec::new();
    let hand_prod = time(reps, || k_hand = linalg::inverse_from_tri_inverse(&m_hand, n));
    let mut k_faer = vec![0.0; n * n];
    let faer_prod = time(reps, || {
        let mref = MatRef::from_column_major_slice(&m_faer, n, n);
        let dst = MatMut::from_column_major_slice_mut(&mut k_faer, n, n);
        tri_matmul(dst, BlockStructure::TriangularLower, Accum::Replace, mref.transpose(), BlockStructure::TriangularUpper, mref, BlockStructure::TriangularLower, 1.0, Par::Seq);
    });
    diff = diff.max(rel(&lower(&k_hand, n), &lower(&k_faer, n)));
    // Predictive variances of a block of 256 points: ‖K* L⁻ᵀ‖² row by row.
    let m = 256;
    let ks: Vec<f64> = (0..m * n).map(|t| ((t as f64 * 0.754_877_666).fract())).collect();
    let lt: Vec<f64> = (0..n * n).map(|t| m_hand[(t % n) * n + t / n]).collect();
    let mut s_hand = vec![0.0; m];
    let hand_pred = time(reps, || {
        s_hand.iter_mut().for_each(|v| *v = 0.0);
        linalg::add_row_sumsq_times_upper(&ks, m, n, &lt, &mut s_hand);
    });
    let mut v = vec![0.0; m * n];
    let mut s_faer = vec![0.0; m];
    let faer_pred = time(reps, || {
        let dst = MatMut::from_column_major_slice_mut(&mut v, m, n);
        let lhs = MatRef::from_row_major_slice(&ks, m, n);
        let rhs = MatRef::from_column_major_slice(&lt, n, n);
        tri_matmul(dst, BlockStructure::Rectangular, Accum::Replace, lhs, BlockStructure::Rectangular, rhs, BlockStructure::TriangularUpper, 1.0, Par::Seq);
        s_faer.iter_mut().for_each(|v| *v = 0.0);
        simd::sumsq_rows(&v, m, n, &mut s_faer);
    });
    diff = diff.max(rel(&s_hand, &s_faer));
    Timings {
        n,
        cholesky: (hand_chol, faer_chol),
        tri_inverse: (hand_inv, faer_inv),
        inverse_product: (hand_prod, faer_prod),
        predict_product: (hand_pred, faer_pred),
        max_rel_diff: diff,
    }
}

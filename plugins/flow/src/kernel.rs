//! Plain-Rust kernels of the RealNVP affine coupling, shared by the fused
//! training op ([`crate::fused`], f32) and the f64 evaluator ([`crate::fast`]):
//! the coupling network's forward pass on a block of rows with the activations
//! kept for the backward pass, and that backward pass.
//!
//! Matrix products go through the `gemm` crate (single-threaded: parallelism is
//! over fixed blocks of rows, so results do not depend on the number of threads).
//! `exp` and `tanh` are branch-free polynomial forms that the compiler vectorizes;
//! in f64 they are within a few ulp of the exact values (tested against `std`).
//!
//! # Reference
//! Dinh, Sohl-Dickstein & Bengio (2017), *Density estimation using Real NVP*, ICLR.

use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

use crate::layers::Activation;

/// Rows per block: the unit of parallel work. Fixed, so that every row's result is
/// computed the same way whatever the number of threads.
pub const BLOCK: usize = 128;

/// f32 or f64.
pub trait Real:
    Copy + Send + Sync + Default + PartialOrd + 'static + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> + Neg<Output = Self> + AddAssign
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// From f64 (rounded).
    fn of(v: f64) -> Self;
    /// `e^x`, vectorizable (inputs clamped to the finite range of the type; NaN stays NaN).
    fn vexp(self) -> Self;
    /// `e^x - 1` to full relative accuracy (also near 0), vectorizable.
    fn vexpm1(self) -> Self;
    /// `tanh x`, vectorizable.
    fn vtanh(self) -> Self;
    /// The shared range reduction of `vexp` and `vexpm1`: `(2^k, r, p)` with
    /// `x = k ln 2 + r` and `p` the Taylor polynomial of `e^r` from its
    /// `skip`-th coefficient on, in Horner form.
    #[doc(hidden)]
    fn exp_parts(self, skip: usize) -> (Self, Self, Self);
}

macro_rules! real_impl {
    ($t:ty, $bits:ty, $mant:expr, $bias:expr, $lo:expr, $hi:expr, $ln2hi:expr, $ln2lo:expr, [$($ec:expr),*]) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline(always)]
            fn of(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn exp_parts(self, skip: usize) -> (Self, Self, Self) {
                // e^x = 2^k e^r with k = round(x / ln 2), |r| <= ln(2)/2; k is rounded by
                // adding 1.5·2^mant, which leaves k in the low bits of the sum.
                const SHIFT: $t = 1.5 * (1u64 << $mant) as $t;
                let x = self.clamp($lo, $hi);
                let kf = x * (std::f64::consts::LOG2_E as $t) + SHIFT;
                let k = kf - SHIFT;
                let r = x - k * $ln2hi - k * $ln2lo;
                let coef: &[$t] = &[$($ec),*];
                let mut p: $t = coef[coef.len() - 1];
                for c in coef[skip..coef.len() - 1].iter().rev() {
                    p = p * r + *c;
                }
                let scale = <$t>::from_bits((kf.to_bits().wrapping_add($bias)) << $mant);
                (scale, r, p)
            }
            #[inline(always)]
            fn vexp(self) -> Self {
                let (scale, _, p) = self.exp_parts(0);
                p * scale
            }
            #[inline(always)]
            fn vtanh(self) -> Self {
                // tanh|x| = -m / (2 + m) with m = e^{-2|x|} - 1: no cancellation anywhere,
                // as m is computed to full relative accuracy near 0.
                let m = (-2.0 * self.abs()).vexpm1();
                (-m / (2.0 + m)).copysign(self)
            }
            #[inline(always)]
            fn vexpm1(self) -> Self {
                // e^x - 1 = 2^k (e^r - 1) + (2^k - 1), with e^r - 1 = r (1 + r/2 + r^2/6 + ...):
                // the polynomial without its constant term, divided by r.
                let (scale, r, p) = self.exp_parts(1);
                scale * (r * p) + (scale - 1.0)
            }
        }
    };
}

// Taylor coefficients of e^r up to r^13 (f64: truncation < 5e-18 for |r| <= ln(2)/2) and
// r^7 (f32: < 6e-9).
real_impl!(f64, u64, 52, 1023u64, -708.0, 709.0, 6.931_471_803_691_238e-1, 1.908_214_929_270_587_7e-10,
    [1.0, 1.0, 0.5, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0, 1.0 / 40320.0, 1.0 / 362880.0, 1.0 / 3628800.0, 1.0 / 39916800.0, 1.0 / 479001600.0, 1.0 / 6227020800.0]);
real_impl!(f32, u32, 23, 127u32, -87.0, 88.0, 0.693_359_4, -2.121_944_4e-4,
    [1.0, 1.0, 0.5, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0]);

/// Matrix product `C (+)= A B` on row-major storage with explicit strides:
/// `A` is `m × k` with strides `(a_rs, a_cs)`, `B` is `k × n` with `(b_rs, b_cs)`,
/// `C` is `m × n` row-major with row stride `n`; `acc` adds to `C`.
#[allow(clippy::too_many_arguments)]
#[inline]
fn matmul<T: Real>(m: usize, n: usize, k: usize, c: &mut [T], acc: bool, a: &[T], a_rs: usize, a_cs: usize, b: &[T], b_rs: usize, b_cs: usize) {
    debug_assert!(c.len() >= m * n);
    debug_assert!(m == 0 || k == 0 || a.len() > (m - 1) * a_rs + (k - 1) * a_cs);
    debug_assert!(n == 0 || k == 0 || b.len() > (k - 1) * b_rs + (n - 1) * b_cs);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !acc {
            c[..m * n].iter_mut().for_each(|v| *v = T::ZERO);
        }
        return;
    }
    // SAFETY: the asserted extents above bound every element gemm reads or writes:
    // C is m × n with row stride n, A and B are read within their stated strides.
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

/// Which way a coupling is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Base → data: `y = x·e^s + t` on the transformed coordinates, `log|det| = Σ s`.
    Forward,
    /// Data → base: `y = (x - t)·e^{-s}`, `log|det| = -Σ s`.
    Inverse,
}

/// A coupling's network and mask, borrowing the parameters as one flat slice:
/// for each linear map `j`, its weights `(in, out)` row-major, then its bias.
#[derive(Clone, Copy)]
pub struct CouplingView<'a, T> {
    /// Layer widths `d, h_1, ..., h_D, 2d`.
    pub sizes: &'a [usize],
    /// Flat parameters.
    pub theta: &'a [T],
    /// True on the conditioning (pass-through) coordinates.
    pub mask: &'a [bool],
    /// Soft clamp of the log-scales.
    pub clamp: f64,
    /// Hidden nonlinearity.
    pub act: Activation,
}

/// Number of parameters of a network with these widths.
pub fn n_params(sizes: &[usize]) -> usize {
    sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
}

impl<'a, T: Real> CouplingView<'a, T> {
    fn dim(&self) -> usize {
        self.mask.len()
    }

    /// Offsets of (weights, bias) of linear map `j` in `theta`.
    fn offsets(&self) -> Vec<(usize, usize)> {
        let mut off = 0;
        self.sizes
            .windows(2)
            .map(|w| {
                let o = (off, off + w[0] * w[1]);
                off += w[0] * w[1] + w[1];
                o
            })
            .collect()
    }
}

/// What the forward pass of a block keeps for its backward pass.
#[derive(Default)]
pub struct Saved<T> {
    /// Input of each linear map (`h[0]` = masked input), `rows × sizes[j]`.
    h: Vec<Vec<T>>,
    /// Pre-activations of the hidden layers (only for relu and silu).
    pre: Vec<Vec<T>>,
    /// `tanh(raw / c)` of the log-scales, `rows × d`.
    u: Vec<T>,
    /// `e^{±s}` (the factor applied to the transformed coordinates), `rows × d`.
    es: Vec<T>,
    /// The shift `t`, `rows × d`.
    t: Vec<T>,
    /// The output `y`, `rows × d`.
    y: Vec<T>,
}

#[inline(always)]
fn act_fwd<T: Real>(act: Activation, v: &mut [T], pre: Option<&mut Vec<T>>) {
    if let Some(p) = pre {
        p.clear();
        p.extend_from_slice(v);
    }
    match act {
        // Plain loops (not iterator closures): they must inline into the AVX2 copy.
        Activation::Tanh => {
            for x in v.iter_mut() {
                *x = x.vtanh();
            }
        }
        Activation::Relu => {
            for x in v.iter_mut() {
                *x = if *x > T::ZERO { *x } else { T::ZERO };
            }
        }
        Activation::Silu => {
            for x in v.iter_mut() {
                *x = *x / (T::ONE + (-*x).vexp());
            }
        }
    }
}

/// True when the CPU has AVX2 and FMA (checked once, then cached by std).
#[inline]
fn wide() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The element-wise loops are compiled twice: for the baseline CPU and with AVX2
/// enabled (picked at run time). Rust never contracts `a * b + c` into a fused
/// multiply-add, so both give bit-identical results; only the vector width differs.
macro_rules! dispatch {
    ($(#[$doc:meta])* pub fn $name:ident<T: Real>($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty => $imp:ident;) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments)]
        pub fn $name<T: Real>($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                if wide() {
                    #[target_feature(enable = "avx2,fma")]
                    #[allow(clippy::too_many_arguments)]
                    unsafe fn avx2<T: Real>($($arg: $ty),*) -> $ret {
                        $imp($($arg),*)
                    }
                    // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $imp($($arg),*)
        }
    };
}

dispatch! {
    /// The coupling on `rows` rows of `x` (row-major, `d` columns): writes `y` into
    /// `out` with row stride `out_stride` (columns `0..d`) and `log|det|` into column
    /// `d` when `out_stride > d`, or into `ld` when given. Returns what the backward
    /// pass needs when `keep`.
    pub fn coupling_block<T: Real>(net: &CouplingView<'_, T>, dir: Direction, x: &[T], rows: usize, out: &mut [T], out_stride: usize, ld: Option<&mut [T]>, keep: bool) -> Saved<T> => coupling_block_impl;
}

dispatch! {
    /// Backward pass of [`coupling_block`] (run with `keep`): given the gradients of
    /// the loss with respect to `y` (`g`, row stride `g_stride`, columns `0..d`) and
    /// to `log|det|` (column `d` of the same rows), writes the gradient with respect
    /// to `x` into `gx` (`rows × d`) and returns the gradient with respect to the
    /// flat parameters.
    pub fn coupling_block_backward<T: Real>(net: &CouplingView<'_, T>, dir: Direction, sv: &Saved<T>, rows: usize, g: &[T], g_stride: usize, gx: &mut [T]) -> Vec<T> => coupling_block_backward_impl;
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn coupling_block_impl<T: Real>(net: &CouplingView<'_, T>, dir: Direction, x: &[T], rows: usize, out: &mut [T], out_stride: usize, ld: Option<&mut [T]>, keep: bool) -> Saved<T> {
    let mut ld = ld;
    let d = net.dim();
    let sizes = net.sizes;
    let depth = sizes.len() - 1;
    let offs = net.offsets();
    let mut sv = Saved::<T>::default();
    let mut h: Vec<T> = Vec::with_capacity(rows * d);
    for r in x[..rows * d].chunks_exact(d) {
        h.extend(r.iter().zip(net.mask).map(|(&v, &m)| if m { v } else { T::ZERO }));
    }
    let keep_pre = keep && net.act != Activation::Tanh;
    for (j, &(wo, bo)) in offs.iter().enumerate() {
        let (fi, fo) = (sizes[j], sizes[j + 1]);
        let bias = &net.theta[bo..bo + fo];
        let mut a: Vec<T> = Vec::with_capacity(rows * fo);
        for _ in 0..rows {
            a.extend_from_slice(bias);
        }
        matmul(rows, fo, fi, &mut a, true, &h, fi, 1, &net.theta[wo..wo + fi * fo], fo, 1);
        if j + 1 < depth {
            let mut pre = keep_pre.then(Vec::new);
            act_fwd(net.act, &mut a, pre.as_mut());
            if let Some(p) = pre {
                sv.pre.push(p);
            }
        }
        let prev = std::mem::replace(&mut h, a);
        if keep {
            sv.h.push(prev);
        }
    }
    // h is now rows × 2d: raw log-scales, then shifts.
    let c = T::of(net.clamp);
    let inv_c = T::of(1.0 / net.clamp);
    let n_el = rows * d;
    let (mut u, mut es, mut tt) = if keep { (Vec::with_capacity(n_el), Vec::with_capacity(n_el), Vec::with_capacity(n_el)) } else { (Vec::new(), Vec::new(), Vec::new()) };
    let mut yk = if keep { Vec::with_capacity(n_el) } else { Vec::new() };
    let mut us = vec![T::ZERO; d];
    let mut ss = vec![T::ZERO; d];
    for i in 0..rows {
        let o = &h[i * 2 * d..(i + 1) * 2 * d];
        let xr = &x[i * d..(i + 1) * d];
        for k in 0..d {
            us[k] = (o[k] * inv_c).vtanh();
            ss[k] = if net.mask[k] { T::ZERO } else { c * us[k] };
        }
        let mut lsum = T::ZERO;
        let yr = &mut out[i * out_stride..i * out_stride + d];
        for k in 0..d {
            let (e, t, y) = if net.mask[k] {
                (T::ONE, T::ZERO, xr[k])
            } else {
                let t = o[d + k];
                lsum += ss[k];
                match dir {
                    Direction::Forward => {
                        let e = ss[k].vexp();
                        (e, t, xr[k] * e + t)
                    }
                    Direction::Inverse => {
                        let e = (-ss[k]).vexp();
                        (e, t, (xr[k] - t) * e)
                    }
                }
            };
            yr[k] = y;
            if keep {
                u.push(us[k]);
                es.push(e);
                tt.push(t);
                yk.push(y);
            }
        }
        let l = if dir == Direction::Forward { lsum } else { -lsum };
        if out_stride > d {
            out[i * out_stride + d] = l;
        }
        if let Some(ld) = ld.as_deref_mut() {
            ld[i] = l;
        }
    }
    if keep {
        sv.u = u;
        sv.es = es;
        sv.t = tt;
        sv.y = yk;
    }
    sv
}

#[inline(always)]
fn coupling_block_backward_impl<T: Real>(net: &CouplingView<'_, T>, dir: Direction, sv: &Saved<T>, rows: usize, g: &[T], g_stride: usize, gx: &mut [T]) -> Vec<T> {
    let d = net.dim();
    let sizes = net.sizes;
    let depth = sizes.len() - 1;
    let offs = net.offsets();
    let mut gtheta = vec![T::ZERO; net.theta.len()];
    // Gradient with respect to the network output [raw log-scales, shifts].
    let mut go = vec![T::ZERO; rows * 2 * d];
    for i in 0..rows {
        let gr = &g[i * g_stride..i * g_stride + d];
        let gld = if g_stride > d { g[i * g_stride + d] } else { T::ZERO };
        for k in 0..d {
            let p = i * d + k;
            if net.mask[k] {
                gx[p] = gr[k];
                continue;
            }
            let (e, y, t, u) = (sv.es[p], sv.y[p], sv.t[p], sv.u[p]);
            let (gxk, gs, gt) = match dir {
                // y = x e^s + t: dy/dx = e^s, dy/ds = y - t, dy/dt = 1, dld/ds = 1.
                Direction::Forward => (gr[k] * e, gr[k] * (y - t) + gld, gr[k]),
                // y = (x - t) e^{-s}: dy/dx = e^{-s}, dy/ds = -y, dy/dt = -e^{-s}, dld/ds = -1.
                Direction::Inverse => (gr[k] * e, -(gr[k] * y) - gld, -(gr[k] * e)),
            };
            gx[p] = gxk;
            go[i * 2 * d + k] = gs * (T::ONE - u * u);
            go[i * 2 * d + d + k] = gt;
        }
    }
    let mut ga = go;
    for j in (0..depth).rev() {
        let (fi, fo) = (sizes[j], sizes[j + 1]);
        let (wo, bo) = offs[j];
        let hin = &sv.h[j];
        // dW = h^T ga, db = column sums of ga.
        {
            let (gw, gb) = gtheta[wo..bo + fo].split_at_mut(fi * fo);
            matmul(fi, fo, rows, gw, false, hin, 1, fi, &ga, fo, 1);
            for r in ga.chunks_exact(fo) {
                for (b, v) in gb.iter_mut().zip(r) {
                    *b += *v;
                }
            }
        }
        // dh = ga W^T.
        let mut gh = vec![T::ZERO; rows * fi];
        matmul(rows, fi, fo, &mut gh, false, &ga, fo, 1, &net.theta[wo..wo + fi * fo], 1, fo);
        if j > 0 {
            match net.act {
                Activation::Tanh => {
                    for (g, &hv) in gh.iter_mut().zip(hin) {
                        *g = *g * (T::ONE - hv * hv);
                    }
                }
                Activation::Relu => {
                    for (g, &a) in gh.iter_mut().zip(&sv.pre[j - 1]) {
                        if a.partial_cmp(&T::ZERO) != Some(std::cmp::Ordering::Greater) {
                            *g = T::ZERO;
                        }
                    }
                }
                Activation::Silu => {
                    for (g, &a) in gh.iter_mut().zip(&sv.pre[j - 1]) {
                        let s = T::ONE / (T::ONE + (-a).vexp());
                        *g = *g * (s * (T::ONE + a * (T::ONE - s)));
                    }
                }
            }
        } else {
            // The network sees x only on the conditioning coordinates.
            for i in 0..rows {
                for k in 0..d {
                    if net.mask[k] {
                        gx[i * d + k] += gh[i * d + k];
                    }
                }
            }
        }
        ga = gh;
    }
    gtheta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_and_tanh_match_std() {
        let mut worst = (0.0f64, 0.0f64);
        let mut x = -40.0f64;
        while x < 40.0 {
            let re = (x.vexp() - x.exp()).abs() / x.exp();
            let rt = if x == 0.0 { 0.0 } else { (x.vtanh() - x.tanh()).abs() / x.tanh().abs() };
            worst = (worst.0.max(re), worst.1.max(rt));
            x += 0.000_731;
        }
        for x in [1e-300f64, -1e-12, 1e-5, 0.17, 0.1733, 0.2499999, 0.25, 0.2500001, 0.52, 19.0, 400.0, -800.0] {
            let rt = (f64::vtanh(x) - x.tanh()).abs() / x.tanh().abs();
            worst.1 = worst.1.max(rt);
        }
        eprintln!("f64 relative errors: exp {:e}, tanh {:e}", worst.0, worst.1);
        assert!(worst.0 < 1e-15 && worst.1 < 1e-15, "relative errors exp {:e}, tanh {:e}", worst.0, worst.1);
        assert!(f64::NAN.vexp().is_nan() && f64::NAN.vtanh().is_nan() && f32::NAN.vtanh().is_nan());
        assert_eq!(0.0f64.vtanh(), 0.0);
        let mut w32 = (0.0f32, 0.0f32);
        let mut x = -20.0f32;
        while x < 20.0 {
            let re = (x.vexp() - x.exp()).abs() / x.exp();
            let rt = if x == 0.0 { 0.0 } else { (x.vtanh() - x.tanh()).abs() / x.tanh().abs() };
            w32 = (w32.0.max(re), w32.1.max(rt));
            x += 0.000_37;
        }
        eprintln!("f32 relative errors: exp {:e}, tanh {:e}", w32.0, w32.1);
        assert!(w32.0 < 5e-7 && w32.1 < 5e-7, "f32 relative errors exp {:e}, tanh {:e}", w32.0, w32.1);
    }
}

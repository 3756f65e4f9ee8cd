//! # seqcal-vmath: vectorizable `exp`, `expm1`, `tanh` and one CPU-feature dispatch
//!
//! seqcal's hot loops (the kernel rows of the GP emulators, the coupling
//! networks of the flows) apply `exp` or `tanh` to long slices. libm's functions
//! are calls the compiler cannot vectorize; the forms here are branch-free (range
//! reduction by `ln 2`, a Taylor polynomial in Horner form, the power of two
//! built from the exponent bits), so a loop over them compiles to vector
//! instructions.
//!
//! - [`Real`]: `f32` and `f64` with [`vexp`](Real::vexp), [`vexpm1`](Real::vexpm1)
//!   and [`vtanh`](Real::vtanh) (f64 within a few ulp of `std`, f32 within 5e-7).
//! - [`exp_nonpos`]: the f64 `exp` of the GP kernels, for arguments `<= 0`.
//! - [`dispatch!`]: compiles a loop twice, for the baseline CPU and with AVX2 and
//!   FMA enabled, and picks one at run time through the one feature check
//!   [`wide`].
//!
//! Only plain multiplications and additions are used, and Rust never contracts
//! them into fused multiply-adds, so both copies of a dispatched loop give the
//! same bits on any machine and for any thread count; only the vector width
//! differs.
#![warn(missing_docs)]

use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

/// f32 or f64, with vectorizable elementary functions.
pub trait Real:
    Copy
    + Send
    + Sync
    + Default
    + PartialOrd
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
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
    /// The shared range reduction of `vexp` and `vexpm1` on the clamped input:
    /// `(2^k, r, p)` with `x = k ln 2 + r` and `p` the Taylor polynomial of
    /// `e^r` from its `skip`-th coefficient on, in Horner form.
    #[doc(hidden)]
    fn exp_parts(self, skip: usize) -> (Self, Self, Self);
}

macro_rules! real_impl {
    ($t:ty, $reduce:ident, $mant:expr, $bias:expr, $lo:expr, $hi:expr, $ln2hi:expr, $ln2lo:expr, [$($ec:expr),*]) => {
        /// `(2^k, r, p)` of `x` (not clamped): see [`Real::exp_parts`].
        #[inline(always)]
        fn $reduce(x: $t, skip: usize) -> ($t, $t, $t) {
            // e^x = 2^k e^r with k = round(x / ln 2), |r| <= ln(2)/2; k is rounded by
            // adding 1.5·2^mant, which leaves k in the low bits of the sum.
            const SHIFT: $t = 1.5 * (1u64 << $mant) as $t;
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

        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline(always)]
            fn of(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn exp_parts(self, skip: usize) -> (Self, Self, Self) {
                $reduce(self.clamp($lo, $hi), skip)
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
// r^7 (f32: < 6e-9). `ln 2` is split in two: the high part has trailing zero bits, so
// `k · ln2_hi` is exact for the k that occur.
real_impl!(
    f64,
    reduce_f64,
    52,
    1023u64,
    -708.0,
    709.0,
    6.931_471_803_691_238e-1,
    1.908_214_929_270_587_7e-10,
    [
        1.0,
        1.0,
        0.5,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362880.0,
        1.0 / 3628800.0,
        1.0 / 39916800.0,
        1.0 / 479001600.0,
        1.0 / 6227020800.0
    ]
);
real_impl!(
    f32,
    reduce_f32,
    23,
    127u32,
    -87.0,
    88.0,
    0.693_359_4,
    -2.121_944_4e-4,
    [1.0, 1.0, 0.5, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0]
);

/// `e^x` for `x <= 0`, as the GP kernels use it: arguments below −700 give
/// `e^{−700}` ≈ 1e−304 instead of a smaller number or 0; relative error below
/// 4e−16. The same range reduction and polynomial as [`Real::vexp`].
#[inline(always)]
pub fn exp_nonpos(x: f64) -> f64 {
    let x = if x < -700.0 { -700.0 } else { x };
    let (scale, _, p) = reduce_f64(x, 0);
    p * scale
}

/// True when the CPU has AVX2 and FMA: whether [`dispatch!`] runs the wide copy
/// of a loop. Checked once per process.
pub fn wide() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static WIDE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *WIDE.get_or_init(|| std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines a function that runs `$imp` compiled for the baseline CPU, or, when
/// [`wide`] says the CPU has AVX2 and FMA, a copy of `$imp` compiled with those
/// features enabled. `$imp` must be `#[inline(always)]` so that it is compiled
/// into the wide copy (and vectorized there). At most one generic parameter with
/// one bound, which must be in scope at the call site:
///
/// ```
/// use seqcal_vmath::Real;
///
/// #[inline(always)]
/// fn exp_all_body<T: Real>(v: &mut [T]) {
///     for x in v.iter_mut() {
///         *x = x.vexp();
///     }
/// }
///
/// seqcal_vmath::dispatch! {
///     /// `e^x` of every element, in place.
///     pub fn exp_all<T: Real>(v: &mut [T]) => exp_all_body;
/// }
///
/// let mut v = [0.0f64, 1.0];
/// exp_all(&mut v);
/// assert_eq!(v[0], 1.0);
/// ```
#[macro_export]
macro_rules! dispatch {
    ($(#[$doc:meta])* $vis:vis fn $name:ident $(<$g:ident : $b:path>)? ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? => $imp:path;) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name $(<$g: $b>)? ($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                if $crate::wide() {
                    #[target_feature(enable = "avx2,fma")]
                    #[allow(clippy::too_many_arguments)]
                    unsafe fn wide_copy $(<$g: $b>)? ($($arg: $ty),*) $(-> $ret)? {
                        $imp($($arg),*)
                    }
                    // SAFETY: the only precondition of a `target_feature` function is that
                    // the CPU has those features, and `wide()` has just checked AVX2 and FMA.
                    return unsafe { wide_copy($($arg),*) };
                }
            }
            $imp($($arg),*)
        }
    };
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
        assert!(w32.0 < 5e-7 && w32.1 < 5e-7, "f32 relative errors exp {:e}, tanh {:e}", w32.0, w32.1);
    }

    /// The GP kernels' exp as it was written before it shared the range reduction
    /// above (explicit constants and Horner steps): the shared form gives its bits.
    fn exp_nonpos_reference(x: f64) -> f64 {
        const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
        const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
        const ROUND: f64 = 6_755_399_441_055_744.0;
        let x = if x < -700.0 { -700.0 } else { x };
        let t = x * std::f64::consts::LOG2_E + ROUND;
        let k = t - ROUND;
        let r = (x - k * LN2_HI) - k * LN2_LO;
        let mut p = 1.0 / 6_227_020_800.0;
        for c in [
            1.0 / 479_001_600.0,
            1.0 / 39_916_800.0,
            1.0 / 3_628_800.0,
            1.0 / 362_880.0,
            1.0 / 40_320.0,
            1.0 / 5_040.0,
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
            1.0,
            1.0,
        ] {
            p = p * r + c;
        }
        let ki = (t.to_bits() as i64).wrapping_sub(ROUND.to_bits() as i64);
        p * f64::from_bits(((ki + 1023) << 52) as u64)
    }

    #[test]
    fn exp_nonpos_keeps_the_kernels_bits_and_accuracy() {
        let mut worst: f64 = 0.0;
        for i in 0..200_000 {
            let x = -(i as f64) * 0.0035;
            let (a, b) = (exp_nonpos(x), x.exp());
            assert_eq!(a.to_bits(), exp_nonpos_reference(x).to_bits(), "x = {x}");
            worst = worst.max(((a - b) / b).abs());
        }
        assert!(worst < 4e-16, "{worst}");
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert!(exp_nonpos(-1e6) < 1e-300 && exp_nonpos(-1e6) > 0.0);
        assert!(exp_nonpos(f64::NAN).is_nan());
    }

    #[inline(always)]
    fn sum_exp_body<T: Real>(v: &[T]) -> T {
        let mut s = T::ZERO;
        for x in v {
            s += x.vexp();
        }
        s
    }

    dispatch! {
        /// Sum of `e^x` (test of the macro with a generic parameter).
        fn sum_exp<T: Real>(v: &[T]) -> T => sum_exp_body;
    }

    #[test]
    fn both_copies_of_a_dispatched_loop_give_the_same_bits() {
        let v: Vec<f64> = (0..1001).map(|i| (i as f64 - 500.0) * 0.0137).collect();
        assert_eq!(sum_exp(&v).to_bits(), sum_exp_body(&v).to_bits());
        let w: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        assert_eq!(sum_exp(&w).to_bits(), sum_exp_body(&w).to_bits());
    }
}

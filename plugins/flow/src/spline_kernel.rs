//! Plain-Rust kernels of the rational-quadratic spline coupling in the data →
//! base direction (the one a log density and maximum-likelihood training use),
//! for the fused op of [`crate::spline_fused`]: the coupling network's forward
//! pass on a block of rows with its activations kept ([`spline_block`]), and
//! the backward pass giving the gradients with respect to the input rows and
//! the flat network parameters ([`spline_block_backward`]).
//!
//! The arithmetic is that of [`crate::layers::rq_inverse`] (the same knots,
//! minimum bin sizes and derivatives, the same root of the bin's quadratic,
//! the identity outside `±B`), written per element; the backward pass is its
//! reverse-mode derivative, recomputing each element's forward quantities from
//! the saved network output. Matrix products go through the `gemm` crate
//! single-threaded; parallelism is over fixed blocks of rows in the caller, so
//! results do not depend on the number of threads.
//!
//! # Reference
//! Durkan, Bekasov, Murray & Papamakarios (2019), *Neural spline flows*, NeurIPS.

use seqcal_vmath::Real;

use crate::kernel::matmul;
use crate::spec::Activation;

/// Smallest bin width and height, as fractions of `2B`.
pub const MIN_BIN: f64 = 1e-3;
/// Smallest knot derivative.
pub const MIN_DERIVATIVE: f64 = 1e-3;

/// f32 or f64 with the functions the spline needs beyond [`Real`].
pub trait SplineReal: Real {
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
}

impl SplineReal for f32 {
    #[inline(always)]
    fn ln(self) -> Self {
        f32::ln(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}

impl SplineReal for f64 {
    #[inline(always)]
    fn ln(self) -> Self {
        f64::ln(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}

/// A spline coupling's network and mask, borrowing the parameters as one flat
/// slice: for each linear map `j`, its weights `(in, out)` row-major, then its bias.
#[derive(Debug, Clone, Copy)]
pub struct SplineView<'a, T> {
    /// Layer widths `d, h_1, ..., h_D, d(3K - 1)`.
    pub sizes: &'a [usize],
    /// Flat parameters.
    pub theta: &'a [T],
    /// True on the conditioning (pass-through) coordinates.
    pub mask: &'a [bool],
    /// Bins `K`.
    pub bins: usize,
    /// Tail bound `B`.
    pub bound: f64,
    /// Hidden nonlinearity.
    pub act: Activation,
}

impl<T> SplineView<'_, T> {
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

    fn per_coord(&self) -> usize {
        3 * self.bins - 1
    }
}

/// What the forward pass of a block keeps for its backward pass.
#[derive(Debug, Default)]
pub struct SplineSaved<T> {
    /// The input rows.
    x: Vec<T>,
    /// Input of each linear map (`h[0]` = masked input).
    h: Vec<Vec<T>>,
    /// Pre-activations of the hidden layers (relu and silu only).
    pre: Vec<Vec<T>>,
    /// The network's output, `rows × d(3K - 1)`.
    raw: Vec<T>,
}

/// One axis of knots from `K` unnormalized sizes: positions `K + 1` from `-B`
/// to exactly `B` into `knots`, the softmax probabilities into `p`.
#[inline(always)]
fn axis<T: SplineReal>(raw: &[T], bins: usize, bound: f64, knots: &mut [T], p: &mut [T]) {
    let mut m = raw[0];
    for &v in &raw[1..bins] {
        if v > m {
            m = v;
        }
    }
    let mut sum = T::ZERO;
    for k in 0..bins {
        p[k] = (raw[k] - m).vexp();
        sum += p[k];
    }
    let scale = T::of(1.0 - MIN_BIN * bins as f64);
    let (b, two_b, min) = (T::of(bound), T::of(2.0 * bound), T::of(MIN_BIN));
    knots[0] = -b;
    let mut cum = T::ZERO;
    for k in 0..bins {
        p[k] = p[k] / sum;
        cum += p[k] * scale + min;
        if k + 1 < bins {
            knots[k + 1] = cum * two_b - b;
        }
    }
    knots[bins] = b;
}

/// `softplus(v) = ln(1 + e^v)`, stable for any `v`.
#[inline(always)]
fn softplus<T: SplineReal>(v: T) -> T {
    let a = if v < T::ZERO { -v } else { v };
    let r = if v > T::ZERO { v } else { T::ZERO };
    r + (T::ONE + (-a).vexp()).ln()
}

/// The shift that makes a zero network output a unit knot derivative.
fn delta_shift() -> f64 {
    ((1.0 - MIN_DERIVATIVE).exp() - 1.0).ln()
}

/// Scratch space of one element's knots.
struct Scratch<T> {
    xk: Vec<T>,
    yk: Vec<T>,
    px: Vec<T>,
    py: Vec<T>,
    gp: Vec<T>,
}

impl<T: SplineReal> Scratch<T> {
    fn new(bins: usize) -> Self {
        Scratch {
            xk: vec![T::ZERO; bins + 1],
            yk: vec![T::ZERO; bins + 1],
            px: vec![T::ZERO; bins],
            py: vec![T::ZERO; bins],
            gp: vec![T::ZERO; bins],
        }
    }
}

/// The forward quantities of one element inside `(-B, B)`.
struct Elem<T> {
    k: usize,
    w: T,
    h: T,
    s: T,
    dl: T,
    dh: T,
    dy: T,
    curv: T,
    qa: T,
    qb: T,
    qc: T,
    disc_raw: T,
    sq: T,
    den0: T,
    r: T,
    xi: T,
    num: T,
    den: T,
    x: T,
    ld: T,
}

/// Knot derivative `k` (`0..=K`) from the raw derivatives.
#[inline(always)]
fn delta<T: SplineReal>(rd: &[T], k: usize, bins: usize, shift: T) -> T {
    if k == 0 || k == bins {
        T::ONE
    } else {
        softplus(rd[k - 1] + shift) + T::of(MIN_DERIVATIVE)
    }
}

/// The inverse spline at `y` (strictly inside `±B`) with parameters `r` (`3K - 1`).
#[inline(always)]
fn elem<T: SplineReal>(y: T, r: &[T], bins: usize, bound: f64, sc: &mut Scratch<T>) -> Elem<T> {
    axis(&r[..bins], bins, bound, &mut sc.xk, &mut sc.px);
    axis(&r[bins..2 * bins], bins, bound, &mut sc.yk, &mut sc.py);
    let mut k = 0;
    for j in 1..bins {
        if sc.yk[j] <= y {
            k += 1;
        }
    }
    let shift = T::of(delta_shift());
    let rd = &r[2 * bins..];
    let (dl, dh) = (delta(rd, k, bins, shift), delta(rd, k + 1, bins, shift));
    let two = T::of(2.0);
    let w = sc.xk[k + 1] - sc.xk[k];
    let h = sc.yk[k + 1] - sc.yk[k];
    let s = h / w;
    let dy = y - sc.yk[k];
    let curv = dl + dh - two * s;
    let qa = h * (s - dl) + dy * curv;
    let qb = h * dl - dy * curv;
    let qc = -(s * dy);
    let disc_raw = qb * qb - T::of(4.0) * qa * qc;
    let sq = if disc_raw > T::ZERO { disc_raw.sqrt() } else { T::ZERO };
    let den0 = -qb - sq;
    let r_ = two * qc / den0;
    let xi = if r_ < T::ZERO {
        T::ZERO
    } else if r_ > T::ONE {
        T::ONE
    } else {
        r_
    };
    let one_m = T::ONE - xi;
    let om = xi * one_m;
    let den = s + curv * om;
    let num = dh * xi * xi + two * s * om + dl * one_m * one_m;
    let x = sc.xk[k] + xi * w;
    let ld = -(two * s.ln() + num.ln() - two * den.ln());
    Elem { k, w, h, s, dl, dh, dy, curv, qa, qb, qc, disc_raw, sq, den0, r: r_, xi, num, den, x, ld }
}

/// Reverse mode of [`elem`]: adds the gradients with respect to `r` into `gr`
/// and returns the one with respect to `y`, given `gx` (of `x`) and `gl` (of `ld`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn elem_backward<T: SplineReal>(y: T, r: &[T], bins: usize, bound: f64, gx: T, gl: T, gr: &mut [T], sc: &mut Scratch<T>) -> T {
    let e = elem(y, r, bins, bound, sc);
    let two = T::of(2.0);
    let one_m = T::ONE - e.xi;
    let om = e.xi * one_m;
    // ld = -2 ln s - ln num + 2 ln den.
    let mut g_s = -(two * gl) / e.s;
    let g_num = -gl / e.num;
    let g_den = two * gl / e.den;
    // num = dh xi² + 2 s om + dl (1 - xi)².
    let mut g_dh = g_num * e.xi * e.xi;
    let mut g_xi = g_num * two * e.dh * e.xi;
    let mut g_om = g_num * two * e.s;
    g_s += g_num * two * om;
    let mut g_dl = g_num * one_m * one_m;
    let mut g_one_m = g_num * two * e.dl * one_m;
    // den = s + curv om.
    g_s += g_den;
    let mut g_curv = g_den * om;
    g_om += g_den * e.curv;
    // om = xi (1 - xi); then 1 - xi.
    g_xi += g_om * one_m;
    g_one_m += g_om * e.xi;
    g_xi += -g_one_m;
    // x = x_lo + xi w.
    let mut g_xl = gx;
    g_xi += gx * e.w;
    let mut g_w = gx * e.xi;
    // xi = clamp(r, 0, 1), r = 2 qc / den0.
    let g_r = if e.r >= T::ZERO && e.r <= T::ONE { g_xi } else { T::ZERO };
    let mut g_qc = g_r * two / e.den0;
    let g_den0 = -(g_r * e.r) / e.den0;
    // den0 = -qb - sqrt(disc).
    let mut g_qb = -g_den0;
    let g_sq = -g_den0;
    let mut g_qa = T::ZERO;
    if e.disc_raw > T::ZERO && e.sq > T::ZERO {
        let g_disc = g_sq / (two * e.sq);
        g_qb += g_disc * two * e.qb;
        g_qa += -(T::of(4.0) * e.qc * g_disc);
        g_qc += -(T::of(4.0) * e.qa * g_disc);
    }
    // qc = -s dy.
    g_s += -(e.dy * g_qc);
    let mut g_dy = -(e.s * g_qc);
    // qb = h dl - dy curv.
    let mut g_h = e.dl * g_qb;
    g_dl += e.h * g_qb;
    g_dy += -(e.curv * g_qb);
    g_curv += -(e.dy * g_qb);
    // qa = h (s - dl) + dy curv.
    g_h += (e.s - e.dl) * g_qa;
    g_s += e.h * g_qa;
    g_dl += -(e.h * g_qa);
    g_dy += e.curv * g_qa;
    g_curv += e.dy * g_qa;
    // curv = dl + dh - 2 s.
    g_dl += g_curv;
    g_dh += g_curv;
    g_s += -(two * g_curv);
    // dy = y - y_lo.
    let g_y = g_dy;
    let mut g_yl = -g_dy;
    // s = h / w.
    g_h += g_s / e.w;
    g_w += -(g_s * e.s / e.w);
    // h = y_hi - y_lo, w = x_hi - x_lo.
    let g_yh = g_h;
    g_yl += -g_h;
    let g_xh = g_w;
    g_xl += -g_w;
    // Knots: the inner ones (1..K-1) are -B + 2B Σ_{l<i} frac_l.
    let k = e.k;
    knot_back(k, bins, bound, g_xl, g_xh, &sc.px, &mut sc.gp, &mut gr[..bins]);
    knot_back(k, bins, bound, g_yl, g_yh, &sc.py, &mut sc.gp, &mut gr[bins..2 * bins]);
    // Derivatives: softplus(rd + shift) + min, sigmoid as its derivative.
    let shift = T::of(delta_shift());
    let rd = &r[2 * bins..];
    for (kk, g) in [(k, g_dl), (k + 1, g_dh)] {
        if kk >= 1 && kk < bins {
            let v = rd[kk - 1] + shift;
            gr[2 * bins + kk - 1] += g / (T::ONE + (-v).vexp());
        }
    }
    g_y
}

/// Reverse mode of one axis of knots: `g_lo` and `g_hi` are the gradients
/// with respect to knots `k` and `k + 1`; adds those with respect to the raw
/// sizes into `out`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn knot_back<T: SplineReal>(k: usize, bins: usize, bound: f64, g_lo: T, g_hi: T, p: &[T], gp: &mut [T], out: &mut [T]) {
    let two_b = T::of(2.0 * bound);
    let scale = T::of(1.0 - MIN_BIN * bins as f64);
    let mut dot = T::ZERO;
    for (l, g) in gp.iter_mut().enumerate() {
        let mut v = T::ZERO;
        if k >= 1 && k < bins && l < k {
            v += g_lo;
        }
        if k + 1 < bins && l < k + 1 {
            v += g_hi;
        }
        *g = v * two_b * scale;
        dot += *g * p[l];
    }
    for l in 0..bins {
        out[l] += p[l] * (gp[l] - dot);
    }
}

#[inline(always)]
fn activate<T: Real>(act: Activation, v: &mut [T], pre: Option<&mut Vec<T>>) {
    if let Some(p) = pre {
        p.clear();
        p.extend_from_slice(v);
    }
    match act {
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

/// The inverse spline coupling on `rows` rows of `x` (row-major, `d` columns):
/// writes the image into columns `0..d` of `out` (row stride `d + 1`) and
/// `log|det|` into column `d`. Returns what the backward pass needs when `keep`.
#[inline(always)]
pub(crate) fn spline_block_impl<T: SplineReal>(net: &SplineView<'_, T>, x: &[T], rows: usize, out: &mut [T], keep: bool) -> SplineSaved<T> {
    let d = net.mask.len();
    let sizes = net.sizes;
    let depth = sizes.len() - 1;
    let mut sv = SplineSaved::<T>::default();
    let mut h: Vec<T> = Vec::with_capacity(rows * d);
    for r in x[..rows * d].chunks_exact(d) {
        h.extend(r.iter().zip(net.mask).map(|(&v, &m)| if m { v } else { T::ZERO }));
    }
    let keep_pre = keep && net.act != Activation::Tanh;
    for (j, &(wo, bo)) in net.offsets().iter().enumerate() {
        let (fi, fo) = (sizes[j], sizes[j + 1]);
        let bias = &net.theta[bo..bo + fo];
        let mut a: Vec<T> = Vec::with_capacity(rows * fo);
        for _ in 0..rows {
            a.extend_from_slice(bias);
        }
        matmul(rows, fo, fi, &mut a, true, &h, fi, 1, &net.theta[wo..wo + fi * fo], fo, 1);
        if j + 1 < depth {
            let mut pre = keep_pre.then(Vec::new);
            activate(net.act, &mut a, pre.as_mut());
            if let Some(p) = pre {
                sv.pre.push(p);
            }
        }
        let prev = std::mem::replace(&mut h, a);
        if keep {
            sv.h.push(prev);
        }
    }
    let pc = net.per_coord();
    let b = T::of(net.bound);
    let mut sc = Scratch::new(net.bins);
    for i in 0..rows {
        let mut ld = T::ZERO;
        for k in 0..d {
            let y = x[i * d + k];
            out[i * (d + 1) + k] = if net.mask[k] || !(y > -b && y < b) {
                y
            } else {
                let e = elem(y, &h[(i * d + k) * pc..(i * d + k + 1) * pc], net.bins, net.bound, &mut sc);
                ld += e.ld;
                e.x
            };
        }
        out[i * (d + 1) + d] = ld;
    }
    if keep {
        sv.x = x[..rows * d].to_vec();
        sv.raw = h;
    }
    sv
}

/// Backward pass of [`spline_block_impl`] (run with `keep`): `g` holds the
/// gradients with respect to the output (row stride `d + 1`, `log|det|` in
/// column `d`); writes the gradient with respect to `x` into `gx` and returns
/// the one with respect to the flat parameters (empty unless `want_theta`).
#[inline(always)]
pub(crate) fn spline_block_backward_impl<T: SplineReal>(
    net: &SplineView<'_, T>,
    sv: &SplineSaved<T>,
    rows: usize,
    g: &[T],
    gx: &mut [T],
    want_theta: bool,
) -> Vec<T> {
    let d = net.mask.len();
    let sizes = net.sizes;
    let depth = sizes.len() - 1;
    let pc = net.per_coord();
    let b = T::of(net.bound);
    let mut sc = Scratch::new(net.bins);
    let mut ga = vec![T::ZERO; rows * d * pc];
    for i in 0..rows {
        let gld = g[i * (d + 1) + d];
        for k in 0..d {
            let p = i * d + k;
            let (y, gy) = (sv.x[p], g[i * (d + 1) + k]);
            gx[p] = if net.mask[k] || !(y > -b && y < b) {
                gy
            } else {
                let (r, gr) = (&sv.raw[p * pc..(p + 1) * pc], &mut ga[p * pc..(p + 1) * pc]);
                elem_backward(y, r, net.bins, net.bound, gy, gld, gr, &mut sc)
            };
        }
    }
    let offs = net.offsets();
    let mut gtheta = if want_theta { vec![T::ZERO; net.theta.len()] } else { Vec::new() };
    for j in (0..depth).rev() {
        let (fi, fo) = (sizes[j], sizes[j + 1]);
        let (wo, bo) = offs[j];
        let hin = &sv.h[j];
        if want_theta {
            let (gw, gb) = gtheta[wo..bo + fo].split_at_mut(fi * fo);
            matmul(fi, fo, rows, gw, false, hin, 1, fi, &ga, fo, 1);
            for r in ga.chunks_exact(fo) {
                for (a, v) in gb.iter_mut().zip(r) {
                    *a += *v;
                }
            }
        }
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

seqcal_vmath::dispatch! {
    /// [`spline_block_impl`], compiled for the baseline CPU and for AVX2 and FMA.
    pub(crate) fn spline_block<T: SplineReal>(net: &SplineView<'_, T>, x: &[T], rows: usize, out: &mut [T], keep: bool) -> SplineSaved<T> => spline_block_impl;
}

seqcal_vmath::dispatch! {
    /// [`spline_block_backward_impl`], compiled for the baseline CPU and for AVX2 and FMA.
    pub(crate) fn spline_block_backward<T: SplineReal>(net: &SplineView<'_, T>, sv: &SplineSaved<T>, rows: usize, g: &[T], gx: &mut [T], want_theta: bool) -> Vec<T> => spline_block_backward_impl;
}

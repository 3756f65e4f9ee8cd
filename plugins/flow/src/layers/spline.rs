//! Monotone rational-quadratic splines with `K` bins on `[-B, B]` and identity
//! (linear) tails outside, and the two flow layers built on them: a coupling
//! layer (half the coordinates condition the splines of the other half through
//! an MLP) and an autoregressive layer (the spline of coordinate `i` conditioned
//! on the coordinates before it through a MADE network).
//!
//! Per coordinate the network gives `3K - 1` numbers: `K` bin widths and `K` bin
//! heights (softmax, floored at `1e-3` of the interval) and `K - 1` inner knot
//! derivatives (softplus, floored at `1e-3`, shifted so that a zero output gives
//! derivative 1). The derivatives at `±B` are fixed to 1, so the spline joins the
//! identity tails with a continuous first derivative; a zero network output gives
//! equal bins and unit derivatives, i.e. the identity.
//!
//! # Reference
//! Durkan, Bekasov, Murray & Papamakarios (2019), *Neural spline flows*, NeurIPS
//! (the rational-quadratic spline of Gregory & Delbourgo (1982), *Piecewise rational
//! quadratic interpolation to monotonic data*, IMA J. Numer. Anal.).

use candle_core::{DType, Device, Tensor, D};

use super::layer::Layer;
use super::made::Made;
use super::mlp::Mlp;
use crate::error::Result;

use crate::spline_kernel::{MIN_BIN, MIN_DERIVATIVE};

fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let m = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&m)?.exp()?;
    Ok(e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?)
}

fn softplus(x: &Tensor) -> Result<Tensor> {
    // max(x, 0) + ln(1 + e^{-|x|}), stable for any x.
    Ok((x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?)
}

/// Knot positions of one axis from unnormalized bin sizes `(n, d, K)`: `(n, d, K + 1)`
/// from `-B` to exactly `B`.
fn knots(raw: &Tensor, bins: usize, bound: f64) -> Result<Tensor> {
    let (n, d, _) = raw.dims3()?;
    let frac = ((softmax_last(raw)? * (1.0 - MIN_BIN * bins as f64))? + MIN_BIN)?;
    let lo = Tensor::full(-bound, (n, d, 1), raw.device())?.to_dtype(raw.dtype())?;
    let hi = Tensor::full(bound, (n, d, 1), raw.device())?.to_dtype(raw.dtype())?;
    if bins == 1 {
        return Ok(Tensor::cat(&[lo, hi], 2)?);
    }
    let inner = ((frac.cumsum(2)?.narrow(2, 0, bins - 1)? * (2.0 * bound))? - bound)?;
    Ok(Tensor::cat(&[lo, inner, hi], 2)?)
}

/// The spline's knots: positions `x_k`, values `y_k` and derivatives `δ_k`, each `(n, d, K + 1)`.
struct Knots {
    x: Tensor,
    y: Tensor,
    delta: Tensor,
}

impl Knots {
    fn new(raw: &Tensor, bins: usize, bound: f64) -> Result<Self> {
        let (n, d, _) = raw.dims3()?;
        let x = knots(&raw.narrow(2, 0, bins)?, bins, bound)?;
        let y = knots(&raw.narrow(2, bins, bins)?, bins, bound)?;
        let ones = Tensor::ones((n, d, 1), raw.dtype(), raw.device())?;
        let delta = if bins == 1 {
            Tensor::cat(&[&ones, &ones], 2)?
        } else {
            // softplus(0 + shift) + MIN = 1: a zero output gives a unit derivative.
            let shift = ((1.0 - MIN_DERIVATIVE).exp() - 1.0).ln();
            let inner = (softplus(&(raw.narrow(2, 2 * bins, bins - 1)? + shift)?)? + MIN_DERIVATIVE)?;
            Tensor::cat(&[&ones, &inner, &ones], 2)?
        };
        Ok(Knots { x, y, delta })
    }
}

/// One-hot `(n, d, K)` of the bin of each `v` (`(n, d)`, inside `[-B, B]`) among the knots `(n, d, K + 1)`.
fn bin_one_hot(v: &Tensor, knots: &Tensor, bins: usize) -> Result<Tensor> {
    let dtype = v.dtype();
    let idx = if bins == 1 {
        v.zeros_like()?
    } else {
        let inner = knots.narrow(2, 1, bins - 1)?.detach();
        inner.broadcast_le(&v.detach().unsqueeze(2)?)?.to_dtype(dtype)?.sum(2)?
    };
    let range = Tensor::arange(0u32, bins as u32, v.device())?.to_dtype(dtype)?.reshape((1, 1, bins))?;
    Ok(idx.unsqueeze(2)?.broadcast_eq(&range)?.to_dtype(dtype)?)
}

/// `Σ_k onehot_k · t_k` over the last axis: the entry of the selected bin.
fn pick(onehot: &Tensor, t: &Tensor) -> Result<Tensor> {
    Ok((onehot * t)?.sum(2)?)
}

/// The selected bin's left/right knots, width, height, slope and derivatives.
struct Bin {
    x_lo: Tensor,
    y_lo: Tensor,
    w: Tensor,
    h: Tensor,
    s: Tensor,
    d_lo: Tensor,
    d_hi: Tensor,
}

impl Bin {
    fn select(k: &Knots, onehot: &Tensor, bins: usize) -> Result<Self> {
        let lo = |t: &Tensor| pick(onehot, &t.narrow(2, 0, bins)?);
        let hi = |t: &Tensor| pick(onehot, &t.narrow(2, 1, bins)?);
        let (x_lo, y_lo) = (lo(&k.x)?, lo(&k.y)?);
        let w = (hi(&k.x)? - &x_lo)?;
        let h = (hi(&k.y)? - &y_lo)?;
        let s = (&h / &w)?;
        Ok(Bin { x_lo, y_lo, w, h, s, d_lo: lo(&k.delta)?, d_hi: hi(&k.delta)? })
    }

    /// `ln dy/dx` at the relative position `xi` in the bin.
    fn log_derivative(&self, xi: &Tensor) -> Result<Tensor> {
        let one_m = xi.affine(-1.0, 1.0)?;
        let om = (xi * &one_m)?;
        let den = (&self.s + ((&self.d_lo + &self.d_hi)? - (&self.s * 2.0)?)?.mul(&om)?)?;
        let num = (((&self.d_hi * xi.sqr()?)? + ((&self.s * 2.0)? * &om)?)? + (&self.d_lo * one_m.sqr()?)?)?;
        Ok(((self.s.log()? * 2.0)? + num.log()? - (den.log()? * 2.0)?)?)
    }
}

/// `1` where `-B < v < B`, else `0`, in `v`'s dtype.
fn inside(v: &Tensor, bound: f64) -> Result<Tensor> {
    let dtype = v.dtype();
    Ok((v.gt(-bound)?.to_dtype(dtype)? * v.lt(bound)?.to_dtype(dtype)?)?)
}

/// The spline `y = g(x)` per coordinate, with parameters `raw` `(n, d, 3K - 1)`:
/// `(y, ln g'(x))`, each `(n, d)`.
///
/// # Errors
/// Shape mismatch.
pub fn rq_forward(x: &Tensor, raw: &Tensor, bins: usize, bound: f64) -> Result<(Tensor, Tensor)> {
    let k = Knots::new(raw, bins, bound)?;
    let xc = x.clamp(-bound, bound)?;
    let b = Bin::select(&k, &bin_one_hot(&xc, &k.x, bins)?, bins)?;
    let xi = ((&xc - &b.x_lo)? / &b.w)?.clamp(0.0, 1.0)?;
    let om = (&xi * xi.affine(-1.0, 1.0)?)?;
    let num = (&b.h * ((&b.s * xi.sqr()?)? + (&b.d_lo * &om)?)?)?;
    let den = (&b.s + ((&b.d_lo + &b.d_hi)? - (&b.s * 2.0)?)?.mul(&om)?)?;
    let y_in = (&b.y_lo + (num / den)?)?;
    let ld_in = b.log_derivative(&xi)?;
    let m = inside(x, bound)?;
    let y = ((&m * y_in)? + (m.affine(-1.0, 1.0)? * x)?)?;
    Ok((y, (m * ld_in)?))
}

/// The inverse spline `x = g⁻¹(y)` (the root in `[0, 1]` of the bin's quadratic):
/// `(x, ln (g⁻¹)'(y))`, each `(n, d)`.
///
/// # Errors
/// Shape mismatch.
pub fn rq_inverse(y: &Tensor, raw: &Tensor, bins: usize, bound: f64) -> Result<(Tensor, Tensor)> {
    let k = Knots::new(raw, bins, bound)?;
    let yc = y.clamp(-bound, bound)?;
    let b = Bin::select(&k, &bin_one_hot(&yc, &k.y, bins)?, bins)?;
    let dy = (&yc - &b.y_lo)?;
    let curv = ((&b.d_lo + &b.d_hi)? - (&b.s * 2.0)?)?;
    let qa = ((&b.h * (&b.s - &b.d_lo)?)? + (&dy * &curv)?)?;
    let qb = ((&b.h * &b.d_lo)? - (&dy * &curv)?)?;
    let qc = (&b.s * &dy)?.neg()?;
    let disc = (qb.sqr()? - ((qa * &qc)? * 4.0)?)?.relu()?;
    let xi = ((qc * 2.0)? / (qb.neg()? - disc.sqrt()?)?)?.clamp(0.0, 1.0)?;
    let x_in = (&b.x_lo + (&xi * &b.w)?)?;
    let ld_in = b.log_derivative(&xi)?.neg()?;
    let m = inside(y, bound)?;
    let x = ((&m * x_in)? + (m.affine(-1.0, 1.0)? * y)?)?;
    Ok((x, (m * ld_in)?))
}

/// Rational-quadratic spline coupling: coordinates where the mask is 1 pass
/// through and condition, through an MLP `d -> ... -> d(3K - 1)`, the splines of
/// the others. Forward (base -> data) applies the splines, inverse their inverses.
///
/// On the CPU the inverse (data -> base, what log densities and training use)
/// runs as one fused op with its own backward pass ([`crate::spline_fused`]);
/// the forward direction (sampling) is built from candle ops.
///
/// # Reference
/// Durkan, Bekasov, Murray & Papamakarios (2019), *Neural spline flows*, NeurIPS.
#[derive(Debug)]
pub struct SplineCoupling {
    mask: Tensor,
    inv_mask: Tensor,
    net: Mlp,
    dim: usize,
    bins: usize,
    bound: f64,
    mask_bits: Vec<bool>,
    fused: bool,
}

impl SplineCoupling {
    /// A coupling with the given mask (1 = conditioning coordinate), network, `K` bins and tail bound `B`.
    ///
    /// # Errors
    /// A candle failure building the masks.
    pub fn new(mask: &[f64], net: Mlp, bins: usize, bound: f64, dtype: DType, device: &Device) -> Result<Self> {
        let dim = mask.len();
        let m = Tensor::from_vec(mask.to_vec(), (1, dim), device)?.to_dtype(dtype)?;
        let inv: Vec<f64> = mask.iter().map(|b| 1.0 - b).collect();
        let inv_mask = Tensor::from_vec(inv, (1, dim), device)?.to_dtype(dtype)?;
        let mask_bits = mask.iter().map(|&b| b == 1.0).collect();
        Ok(SplineCoupling { mask: m, inv_mask, net, dim, bins, bound, mask_bits, fused: device.is_cpu() })
    }

    /// Runs the inverse as one fused op (`true`, the default on the CPU) or as
    /// candle ops (`false`).
    pub fn with_fused(mut self, fused: bool) -> Self {
        self.fused = fused;
        self
    }

    fn raw(&self, cond: &Tensor) -> Result<Tensor> {
        let n = cond.dim(0)?;
        Ok(self.net.forward(cond)?.reshape((n, self.dim, 3 * self.bins - 1))?)
    }

    fn apply(&self, v: &Tensor, inverse: bool) -> Result<(Tensor, Tensor)> {
        let cond = v.broadcast_mul(&self.mask)?;
        let raw = self.raw(&cond)?;
        let (out, ld) = if inverse { rq_inverse(v, &raw, self.bins, self.bound)? } else { rq_forward(v, &raw, self.bins, self.bound)? };
        let y = (cond + out.broadcast_mul(&self.inv_mask)?)?;
        Ok((y, ld.broadcast_mul(&self.inv_mask)?.sum(1)?))
    }
}

impl Layer for SplineCoupling {
    fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        self.apply(x, false)
    }

    fn inverse(&self, y: &Tensor) -> Result<(Tensor, Tensor)> {
        if self.fused {
            return crate::spline_fused::spline_inverse(y, self.net.weights(), &self.mask_bits, self.bins, self.bound, self.net.activation());
        }
        self.apply(y, true)
    }
}

/// Autoregressive rational-quadratic spline layer: in the data -> base (density)
/// direction `z_i = g_i(x_i; θ_i(x_<i))` in one pass of the MADE network; the
/// base -> data direction inverts the splines one coordinate per pass (`d` passes).
///
/// # Reference
/// Durkan, Bekasov, Murray & Papamakarios (2019), *Neural spline flows*, NeurIPS.
#[derive(Debug)]
pub struct SplineAutoregressive {
    made: Made,
    bins: usize,
    bound: f64,
}

impl SplineAutoregressive {
    /// The layer on a MADE with `3K - 1` outputs per coordinate.
    pub fn new(made: Made, bins: usize, bound: f64) -> Self {
        SplineAutoregressive { made, bins, bound }
    }
}

impl Layer for SplineAutoregressive {
    fn forward(&self, z: &Tensor) -> Result<(Tensor, Tensor)> {
        let mut x = z.clone();
        let mut ld = z.zeros_like()?;
        for _ in 0..self.made.dim() {
            let raw = self.made.forward(&x)?;
            (x, ld) = rq_inverse(z, &raw, self.bins, self.bound)?;
        }
        Ok((x, ld.sum(1)?))
    }

    fn inverse(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let raw = self.made.forward(x)?;
        let (z, ld) = rq_forward(x, &raw, self.bins, self.bound)?;
        Ok((z, ld.sum(1)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::affine::parity_mask;
    use crate::params::Params;
    use crate::spec::Activation;
    use crate::testutil::{check_layer, perturb, points};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::HashMap;

    fn raw(n: usize, d: usize, bins: usize, sd: f64, seed: u64) -> Tensor {
        (points(n * d, 3 * bins - 1, 1.0, seed) * sd).unwrap().reshape((n, d, 3 * bins - 1)).unwrap()
    }

    #[test]
    fn spline_inverts_matches_numeric_derivative_and_is_identity_in_the_tails() {
        for bins in [1, 2, 8] {
            let (n, d, b) = (400, 3, 3.0);
            let x = points(n, d, 2.0, 1);
            let r = raw(n, d, bins, 1.5, 2);
            let (y, ld) = rq_forward(&x, &r, bins, b).unwrap();
            let (x2, ld_inv) = rq_inverse(&y, &r, bins, b).unwrap();
            let err = (&x2 - &x).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            assert!(err < 1e-9, "bins {bins}: inverse(forward(x)) off by {err}");
            let s = (&ld + &ld_inv).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            assert!(s < 1e-9, "bins {bins}: log-derivatives do not cancel: {s}");
            let h = 1e-6;
            let (yp, _) = rq_forward(&(&x + h).unwrap(), &r, bins, b).unwrap();
            let (ym, _) = rq_forward(&(&x - h).unwrap(), &r, bins, b).unwrap();
            let num: Vec<f64> = ((yp - ym).unwrap() / (2.0 * h)).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let ld: Vec<f64> = ld.flatten_all().unwrap().to_vec1().unwrap();
            let xs: Vec<f64> = x.flatten_all().unwrap().to_vec1().unwrap();
            let ys: Vec<f64> = y.flatten_all().unwrap().to_vec1().unwrap();
            let mut tails = 0;
            for i in 0..xs.len() {
                assert!(num[i] > 0.0, "not increasing at {}", xs[i]);
                assert!((num[i].ln() - ld[i]).abs() < 1e-4, "bins {bins}, x {}: ln g' {} vs numeric {}", xs[i], ld[i], num[i].ln());
                if xs[i].abs() >= b {
                    tails += 1;
                    assert!(ys[i] == xs[i] && ld[i] == 0.0, "tail not the identity at {}", xs[i]);
                } else {
                    assert!(ys[i].abs() < b, "inside maps outside: {} -> {}", xs[i], ys[i]);
                }
            }
            assert!(tails > 20, "too few tail points tested: {tails}");
        }
    }

    #[test]
    fn spline_is_continuous_with_unit_slope_at_the_bounds() {
        let r = raw(1, 1, 5, 2.0, 3);
        for b in [-2.5f64, 2.5] {
            let at = |v: f64| rq_forward(&Tensor::from_vec(vec![v], (1, 1), &Device::Cpu).unwrap(), &r, 5, 2.5).unwrap();
            let (y_in, ld_in) = at(b - b.signum() * 1e-9);
            let y_in: f64 = y_in.flatten_all().unwrap().to_vec1::<f64>().unwrap()[0];
            let ld_in: f64 = ld_in.flatten_all().unwrap().to_vec1::<f64>().unwrap()[0];
            assert!((y_in - b).abs() < 1e-8 && ld_in.abs() < 1e-6, "at {b}: y {y_in}, ln g' {ld_in}");
        }
    }

    #[test]
    fn zero_parameters_give_the_identity() {
        let x = points(50, 2, 1.0, 4);
        let (y, ld) = rq_forward(&x, &Tensor::zeros((50, 2, 23), DType::F64, &Device::Cpu).unwrap(), 8, 3.0).unwrap();
        let err = (y - &x).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
        let l = ld.abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
        assert!(err < 1e-12 && l < 1e-12, "{err} {l}");
    }

    fn net_params(prefix: &str, sizes: &[usize], seed: u64) -> Params {
        let (mut v, mut s) = (HashMap::new(), HashMap::new());
        Mlp::init(&mut v, &mut s, prefix, sizes, &mut ChaCha8Rng::seed_from_u64(seed));
        let mut p = crate::params::to_tensors(&v, &s, &Device::Cpu).unwrap();
        perturb(&mut p, &[prefix], 0.35, seed + 1);
        p
    }

    #[test]
    fn spline_coupling_inverts_and_matches_finite_difference_jacobian() {
        let (d, bins) = (5, 6);
        for parity in 0..2 {
            let p = net_params("n", &[d, 16, 16, d * (3 * bins - 1)], 5 + parity as u64);
            let net = Mlp::load(&p, "n", 2, Activation::Tanh).unwrap();
            let layer = SplineCoupling::new(&parity_mask(d, parity), net, bins, 3.0, DType::F64, &Device::Cpu).unwrap();
            check_layer(&layer, &points(24, d, 1.8, 6), 8, 1e-5);
        }
    }

    #[test]
    fn autoregressive_spline_inverts_and_matches_finite_difference_jacobian() {
        let (d, bins) = (4, 5);
        for order in [vec![0, 1, 2, 3], vec![3, 1, 0, 2]] {
            let (mut v, mut s) = (HashMap::new(), HashMap::new());
            Made::init(&mut v, &mut s, "m", d, 3 * bins - 1, &[16, 16], &mut ChaCha8Rng::seed_from_u64(7));
            let mut p = crate::params::to_tensors(&v, &s, &Device::Cpu).unwrap();
            perturb(&mut p, &["m."], 0.6, 8);
            let made = Made::load(&p, "m", d, 3 * bins - 1, 2, Activation::Tanh, &order, DType::F64, &Device::Cpu).unwrap();
            let layer = SplineAutoregressive::new(made, bins, 3.0);
            check_layer(&layer, &points(24, d, 1.8, 9), 8, 1e-5);
        }
    }
}

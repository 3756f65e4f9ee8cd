//! The forward pass of the affine coupling on a block of rows: masked input →
//! network (activations kept when asked) → soft-clamped log-scale and shift →
//! `y` and `log|det|`.

use seqcal_vmath::Real;

use super::gemm::matmul;
use super::view::{CouplingView, Direction, Saved};
use crate::spec::Activation;

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

#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn coupling_block_impl<T: Real>(
    net: &CouplingView<'_, T>,
    dir: Direction,
    x: &[T],
    rows: usize,
    out: &mut [T],
    out_stride: usize,
    ld: Option<&mut [T]>,
    keep: bool,
) -> Saved<T> {
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
    let (mut u, mut es, mut tt) =
        if keep { (Vec::with_capacity(n_el), Vec::with_capacity(n_el), Vec::with_capacity(n_el)) } else { (Vec::new(), Vec::new(), Vec::new()) };
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

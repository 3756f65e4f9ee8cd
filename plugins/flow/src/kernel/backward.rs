//! The backward pass of [`super::coupling_block`]: gradients with respect to
//! the input rows and the flat network parameters, from the activations the
//! forward pass kept.

use seqcal_vmath::Real;

use super::gemm::matmul;
use super::view::{CouplingView, Direction, Saved};
use crate::spec::Activation;

#[inline(always)]
pub(super) fn coupling_block_backward_impl<T: Real>(
    net: &CouplingView<'_, T>,
    dir: Direction,
    sv: &Saved<T>,
    rows: usize,
    g: &[T],
    g_stride: usize,
    gx: &mut [T],
) -> Vec<T> {
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

//! MADE, a masked autoencoder whose outputs for coordinate `i` depend only on the
//! coordinates before `i` in a chosen order, and the masked affine autoregressive
//! layer (MAF) built on it.
//!
//! Degrees: input coordinate `order[r]` has degree `r + 1`; hidden unit `h` has
//! degree `1 + h mod (d - 1)`; a weight from a unit of degree `a` into a hidden
//! unit of degree `b` is kept when `b >= a`, into an output of coordinate degree
//! `b` when `b > a`. The masks follow from `(d, widths, order)` and are not stored.
//!
//! # Reference
//! Germain, Gregor, Murray & Larochelle (2015), *MADE: Masked autoencoder for
//! distribution estimation*, ICML; Papamakarios, Pavlakou & Murray (2017),
//! *Masked autoregressive flow for density estimation*, NeurIPS.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use rand::Rng;

use super::layer::Layer;
use super::mlp::{activate, Mlp};
use crate::error::{FlowError, Result};
use crate::params::{self, get, Params};
use crate::spec::Activation;

/// A masked MLP `d -> hidden... -> d·P` with the autoregressive property: output
/// column `i·P + p` (parameter `p` of coordinate `i`) depends only on the inputs
/// before `i` in the order. Weights `{prefix}.{j}.w` `(in, out)` and `{prefix}.{j}.b`.
#[derive(Debug)]
pub struct Made {
    layers: Vec<(Tensor, Tensor, Tensor)>,
    act: Activation,
    dim: usize,
    per_dim: usize,
}

impl Made {
    /// Degree of each input coordinate (`1..=d`) for an autoregressive `order`
    /// (`order[r]` is the `r`-th coordinate).
    pub fn input_degrees(order: &[usize]) -> Vec<usize> {
        let mut deg = vec![0; order.len()];
        for (r, &i) in order.iter().enumerate() {
            deg[i] = r + 1;
        }
        deg
    }

    /// The masks (row-major `(in, out)`, 1 = kept) of a MADE with hidden `widths`.
    pub fn masks(order: &[usize], per_dim: usize, widths: &[usize]) -> Vec<Vec<f64>> {
        let d = order.len();
        let input = Self::input_degrees(order);
        let hidden = |w: usize| -> Vec<usize> { (0..w).map(|h| 1 + h % d.saturating_sub(1).max(1)).collect() };
        let mut prev = input.clone();
        let mut out = Vec::new();
        for &w in widths {
            let next = hidden(w);
            out.push(prev.iter().flat_map(|&a| next.iter().map(move |&b| if b >= a { 1.0 } else { 0.0 })).collect());
            prev = next;
        }
        let last: Vec<usize> = input.iter().flat_map(|&g| std::iter::repeat_n(g, per_dim)).collect();
        out.push(prev.iter().flat_map(|&a| last.iter().map(move |&b| if b > a { 1.0 } else { 0.0 })).collect());
        out
    }

    /// Initial weights (as [`Mlp::init`]: uniform hidden layers, zero output layer,
    /// so that the layer built on it starts as the identity).
    pub fn init(
        values: &mut HashMap<String, Vec<f64>>,
        shapes: &mut HashMap<String, Vec<usize>>,
        prefix: &str,
        dim: usize,
        per_dim: usize,
        widths: &[usize],
        rng: &mut dyn Rng,
    ) {
        let mut sizes = vec![dim];
        sizes.extend(widths);
        sizes.push(dim * per_dim);
        Mlp::init(values, shapes, prefix, &sizes, rng);
    }

    /// Reads the weights for `depth` hidden layers and builds the masks for `order`.
    ///
    /// # Errors
    /// A missing tensor or weights of the wrong shape.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        params: &Params,
        prefix: &str,
        dim: usize,
        per_dim: usize,
        depth: usize,
        act: Activation,
        order: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        if order.len() != dim {
            return Err(FlowError::invalid(format!("MADE order has {} entries for {dim} coordinates", order.len())));
        }
        let mut ws = Vec::with_capacity(depth + 1);
        for j in 0..=depth {
            ws.push((get(params, &params::weight(prefix, j))?, get(params, &params::bias(prefix, j))?));
        }
        let widths: Vec<usize> = ws[..depth].iter().map(|(w, _)| w.dim(1)).collect::<candle_core::Result<_>>()?;
        let masks = Self::masks(order, per_dim, &widths);
        let mut layers = Vec::with_capacity(depth + 1);
        for ((w, b), m) in ws.into_iter().zip(masks) {
            let m = Tensor::from_vec(m, w.dims2()?, device)?.to_dtype(dtype)?;
            layers.push((w, b, m));
        }
        Ok(Made { layers, act, dim, per_dim })
    }

    /// The outputs for a batch `(n, d)`, shaped `(n, d, P)`.
    ///
    /// # Errors
    /// Shape mismatch.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let n = x.dim(0)?;
        let mut h = x.clone();
        for (j, (w, b, m)) in self.layers.iter().enumerate() {
            h = h.matmul(&(w * m)?)?.broadcast_add(b)?;
            if j + 1 < self.layers.len() {
                h = activate(self.act, &h)?;
            }
        }
        Ok(h.reshape((n, self.dim, self.per_dim))?)
    }

    /// Number of coordinates.
    pub fn dim(&self) -> usize {
        self.dim
    }
}

/// Masked affine autoregressive layer: in the data -> base (density) direction
/// `z_i = (x_i - t_i(x_<i))·exp(-s_i(x_<i))` in one pass of the network; the
/// base -> data direction `x_i = z_i·exp(s_i) + t_i` needs `d` passes, one per
/// coordinate in the order. The log-scale is soft-clamped, `s = c·tanh(s_raw/c)`.
///
/// # Reference
/// Papamakarios, Pavlakou & Murray (2017), *Masked autoregressive flow for density
/// estimation*, NeurIPS.
#[derive(Debug)]
pub struct MaskedAffine {
    made: Made,
    clamp: f64,
}

impl MaskedAffine {
    /// The layer on a MADE with two outputs per coordinate (raw log-scale, shift).
    pub fn new(made: Made, clamp: f64) -> Self {
        MaskedAffine { made, clamp }
    }

    fn scale_shift(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self.made.forward(x)?;
        let raw = h.narrow(2, 0, 1)?.squeeze(2)?;
        let s = ((raw / self.clamp)?.tanh()? * self.clamp)?;
        let t = h.narrow(2, 1, 1)?.squeeze(2)?;
        Ok((s, t))
    }
}

impl Layer for MaskedAffine {
    fn forward(&self, z: &Tensor) -> Result<(Tensor, Tensor)> {
        // After pass r the coordinates of degree <= r are exact; after d passes all are,
        // and the last pass's scales were computed from exact predecessors.
        let mut x = z.clone();
        let mut s = z.zeros_like()?;
        for _ in 0..self.made.dim() {
            let (si, t) = self.scale_shift(&x)?;
            x = ((z * si.exp()?)? + t)?;
            s = si;
        }
        Ok((x, s.sum(1)?))
    }

    fn inverse(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let (s, t) = self.scale_shift(x)?;
        let z = ((x - t)? * s.neg()?.exp()?)?;
        Ok((z, s.sum(1)?.neg()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{check_layer, fd_jacobian, perturb, points};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn made(d: usize, per_dim: usize, order: &[usize], seed: u64) -> Made {
        let (mut v, mut s) = (HashMap::new(), HashMap::new());
        Made::init(&mut v, &mut s, "m", d, per_dim, &[10, 9], &mut ChaCha8Rng::seed_from_u64(seed));
        let mut params = crate::params::to_tensors(&v, &s, &Device::Cpu).unwrap();
        perturb(&mut params, &["m."], 0.5, seed + 1);
        Made::load(&params, "m", d, per_dim, 2, Activation::Tanh, order, DType::F64, &Device::Cpu).unwrap()
    }

    #[test]
    fn outputs_depend_only_on_earlier_coordinates() {
        let order = [2, 0, 3, 1];
        let deg = Made::input_degrees(&order);
        assert_eq!(deg, vec![2, 4, 1, 3]);
        let m = made(4, 3, &order, 1);
        let x: Vec<f64> = points(1, 4, 1.0, 2).flatten_all().unwrap().to_vec1().unwrap();
        // Jacobian of the flattened outputs (12) w.r.t. the inputs (4).
        let f = |t: &Tensor| m.forward(t).unwrap().flatten_all().unwrap().unsqueeze(0).unwrap();
        let h = 1e-6;
        for j in 0..4 {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[j] += h;
            xm[j] -= h;
            let yp: Vec<f64> = f(&Tensor::from_vec(xp, (1, 4), &Device::Cpu).unwrap()).flatten_all().unwrap().to_vec1().unwrap();
            let ym: Vec<f64> = f(&Tensor::from_vec(xm, (1, 4), &Device::Cpu).unwrap()).flatten_all().unwrap().to_vec1().unwrap();
            for i in 0..4 {
                for p in 0..3 {
                    let g = (yp[i * 3 + p] - ym[i * 3 + p]) / (2.0 * h);
                    if deg[j] >= deg[i] {
                        assert_eq!(g, 0.0, "output {i}.{p} depends on input {j}");
                    } else {
                        // Connected: with random weights the derivative is not zero.
                        assert!(g.abs() > 1e-9, "output {i}.{p} does not depend on earlier input {j}");
                    }
                }
            }
        }
    }

    #[test]
    fn masked_affine_inverts_and_matches_finite_difference_jacobian() {
        for order in [vec![0, 1, 2, 3, 4], vec![4, 3, 2, 1, 0], vec![1, 3, 0, 4, 2]] {
            let layer = MaskedAffine::new(made(5, 2, &order, 3), 3.0);
            check_layer(&layer, &points(16, 5, 1.0, 4), 4, 1e-6);
            // The density direction is autoregressive: its Jacobian is triangular in the order.
            let x: Vec<f64> = points(1, 5, 1.0, 5).flatten_all().unwrap().to_vec1().unwrap();
            let jac = fd_jacobian(&|t: &Tensor| layer.inverse(t).unwrap().0, &x);
            let deg = Made::input_degrees(&order);
            for i in 0..5 {
                for j in 0..5 {
                    if deg[j] > deg[i] {
                        assert!(jac[i * 5 + j].abs() < 1e-9, "z_{i} depends on the later x_{j}");
                    }
                }
            }
        }
    }

    #[test]
    fn one_dimensional_made_is_a_learned_constant() {
        let layer = MaskedAffine::new(made(1, 2, &[0], 6), 3.0);
        check_layer(&layer, &points(8, 1, 1.0, 7), 4, 1e-6);
    }
}

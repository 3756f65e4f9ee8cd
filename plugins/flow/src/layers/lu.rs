//! An invertible linear layer in LU form, `W = P L (U + diag(s))`: `P` a fixed
//! permutation (the reversal of the coordinates), `L` unit lower triangular, `U`
//! strictly upper triangular, `s = exp(log_s) > 0`, so `W` is invertible for any
//! weights and `ln|det W| = Σ log_s`.
//!
//! Data -> base (the density direction, used in training): `z = W (x - b)`, one
//! matrix product. Base -> data: `x = (U + diag s)⁻¹ L⁻¹ Pᵀ z + b` by forward and
//! back substitution, one coordinate at a time, still on candle tensors.
//!
//! Initialized at `L = I`, `U = 0`, `s = 1`, `b = 0`: the layer starts as the
//! permutation `P`.
//!
//! # Reference
//! Kingma & Dhariwal (2018), *Glow: Generative flow with invertible 1x1
//! convolutions*, NeurIPS (the LU-decomposed parametrization).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use super::layer::Layer;
use crate::error::Result;
use crate::params::{self, get, Params};

/// LU-decomposed linear layer with parameters `{prefix}.lower` and
/// `{prefix}.upper` (`d × d`, only the strict triangles are used),
/// `{prefix}.log_s` and `{prefix}.bias` (each `(1, d)`).
#[derive(Debug)]
pub struct LuLinear {
    lower: Tensor,
    upper: Tensor,
    log_s: Tensor,
    bias: Tensor,
    strict_lower: Tensor,
    strict_upper: Tensor,
    eye: Tensor,
    perm: Tensor,
    dim: usize,
}

impl LuLinear {
    /// Initial values: zero triangles, zero `log_s` and bias.
    pub fn init(values: &mut HashMap<String, Vec<f64>>, shapes: &mut HashMap<String, Vec<usize>>, prefix: &str, dim: usize) {
        for (name, shape) in params::lu_parts(prefix, dim) {
            values.insert(name.clone(), vec![0.0; shape.iter().product()]);
            shapes.insert(name, shape);
        }
    }

    /// Reads the layer's tensors.
    ///
    /// # Errors
    /// A missing tensor or a candle failure building the masks.
    pub fn load(params: &Params, prefix: &str, dtype: DType, device: &Device) -> Result<Self> {
        let [lower, upper, log_s, bias] = params::lu_parts(prefix, 0).map(|(name, _)| get(params, &name));
        let lower = lower?;
        let dim = lower.dim(0)?;
        let mat = |f: &dyn Fn(usize, usize) -> bool| -> Result<Tensor> {
            let v: Vec<f64> = (0..dim * dim).map(|k| if f(k / dim, k % dim) { 1.0 } else { 0.0 }).collect();
            Ok(Tensor::from_vec(v, (dim, dim), device)?.to_dtype(dtype)?)
        };
        Ok(LuLinear {
            lower,
            upper: upper?,
            log_s: log_s?,
            bias: bias?,
            strict_lower: mat(&|i, j| i > j)?,
            strict_upper: mat(&|i, j| i < j)?,
            eye: mat(&|i, j| i == j)?,
            // P e_j = e_{d-1-j}: the reversal.
            perm: mat(&|i, j| i + j + 1 == dim)?,
            dim,
        })
    }

    fn l(&self) -> Result<Tensor> {
        Ok(((&self.lower * &self.strict_lower)? + &self.eye)?)
    }

    fn u_plus_s(&self) -> Result<Tensor> {
        Ok(((&self.upper * &self.strict_upper)? + self.eye.broadcast_mul(&self.log_s.exp()?)?)?)
    }

    /// `W = P L (U + diag s)` as a `d × d` tensor.
    ///
    /// # Errors
    /// A candle failure.
    pub fn weight(&self) -> Result<Tensor> {
        Ok(self.perm.matmul(&self.l()?)?.matmul(&self.u_plus_s()?)?)
    }

    fn logdet(&self, n: usize) -> Result<Tensor> {
        Ok(self.log_s.sum_all()?.broadcast_as((n,))?.contiguous()?)
    }
}

impl Layer for LuLinear {
    fn forward(&self, z: &Tensor) -> Result<(Tensor, Tensor)> {
        let n = z.dim(0)?;
        let d = self.dim;
        // Rows: v = z P (= (Pᵀ z)ᵀ for column vectors), then solve L u = v, (U + S) w = u.
        let v = z.matmul(&self.perm)?;
        let l = self.l()?;
        let mut u: Vec<Tensor> = Vec::with_capacity(d);
        for i in 0..d {
            let mut ui = v.narrow(1, i, 1)?;
            if i > 0 {
                let done = Tensor::cat(&u, 1)?;
                ui = (ui - done.matmul(&l.narrow(0, i, 1)?.narrow(1, 0, i)?.t()?)?)?;
            }
            u.push(ui);
        }
        let us = self.u_plus_s()?;
        let mut w: Vec<Tensor> = vec![Tensor::zeros((n, 1), z.dtype(), z.device())?; d];
        for i in (0..d).rev() {
            let mut wi = u[i].clone();
            if i + 1 < d {
                let done = Tensor::cat(&w[i + 1..], 1)?;
                wi = (wi - done.matmul(&us.narrow(0, i, 1)?.narrow(1, i + 1, d - i - 1)?.t()?)?)?;
            }
            w[i] = wi.broadcast_div(&us.narrow(0, i, 1)?.narrow(1, i, 1)?)?;
        }
        let x = Tensor::cat(&w, 1)?.broadcast_add(&self.bias)?;
        Ok((x, self.logdet(n)?.neg()?))
    }

    fn inverse(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let z = x.broadcast_sub(&self.bias)?.matmul(&self.weight()?.t()?)?;
        Ok((z, self.logdet(x.dim(0)?)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{check_layer, log_abs_det, perturb, points};

    fn layer(d: usize, sd: f64, seed: u64) -> LuLinear {
        let (mut v, mut s) = (HashMap::new(), HashMap::new());
        LuLinear::init(&mut v, &mut s, "lu0", d);
        let mut p = crate::params::to_tensors(&v, &s, &Device::Cpu).unwrap();
        if sd > 0.0 {
            perturb(&mut p, &["lu0."], sd, seed);
        }
        LuLinear::load(&p, "lu0", DType::F64, &Device::Cpu).unwrap()
    }

    #[test]
    fn inverts_and_matches_finite_difference_jacobian() {
        for d in [1, 2, 5] {
            let l = layer(d, 0.7, d as u64);
            check_layer(&l, &points(16, d, 1.0, 10 + d as u64), 4, 1e-6);
            // The determinant of the assembled matrix agrees with Σ log_s.
            let w: Vec<f64> = l.weight().unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let ls: f64 = l.log_s.sum_all().unwrap().to_scalar().unwrap();
            assert!((log_abs_det(w, d) - ls).abs() < 1e-10);
        }
    }

    #[test]
    fn starts_as_the_reversal() {
        let l = layer(3, 0.0, 0);
        let x = Tensor::from_vec(vec![1.0, 2.0, 3.0], (1, 3), &Device::Cpu).unwrap();
        let (z, ld) = l.inverse(&x).unwrap();
        assert_eq!(z.flatten_all().unwrap().to_vec1::<f64>().unwrap(), vec![3.0, 2.0, 1.0]);
        assert_eq!(ld.to_vec1::<f64>().unwrap(), vec![0.0]);
    }
}

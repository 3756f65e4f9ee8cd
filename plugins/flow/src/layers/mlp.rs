//! The networks inside the transforms: a plain multilayer perceptron.

use std::collections::HashMap;

use candle_core::Tensor;
use rand::{Rng, RngExt};

use crate::error::Result;
use crate::params::{self, Params};
use crate::spec::Activation;

/// `act(x)` on candle tensors.
///
/// # Errors
/// A candle failure.
pub fn activate(act: Activation, x: &Tensor) -> Result<Tensor> {
    Ok(match act {
        Activation::Tanh => x.tanh()?,
        Activation::Relu => x.relu()?,
        Activation::Silu => x.silu()?,
    })
}

/// A multilayer perceptron `x W_0 + b_0 → act → ... → x W_k + b_k` (weights stored `(in, out)`).
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<(Tensor, Tensor)>,
    act: Activation,
}

impl Mlp {
    /// Reads the weights [`params::weight`] / [`params::bias`] of `net` for `j < depth + 1`.
    ///
    /// # Errors
    /// A missing tensor.
    pub fn load(params: &Params, net: &str, depth: usize, act: Activation) -> Result<Self> {
        let layers = (0..=depth)
            .map(|j| Ok((params::get(params, &params::weight(net, j))?, params::get(params, &params::bias(net, j))?)))
            .collect::<Result<_>>()?;
        Ok(Mlp { layers, act })
    }

    /// Initial weights of a network with widths `sizes`: uniform `±1/sqrt(fan_in)`
    /// for hidden layers, zeros for the output layer (so that a transform starts as
    /// the identity). Draws from `rng` in a fixed order (layer by layer, weights then bias).
    pub fn init(values: &mut HashMap<String, Vec<f64>>, shapes: &mut HashMap<String, Vec<usize>>, net: &str, sizes: &[usize], rng: &mut dyn Rng) {
        for j in 0..sizes.len() - 1 {
            let (fan_in, fan_out) = (sizes[j], sizes[j + 1]);
            let last = j == sizes.len() - 2;
            let bound = 1.0 / (fan_in as f64).sqrt();
            let mut draw = |n: usize| -> Vec<f64> { (0..n).map(|_| if last { 0.0 } else { rng.random_range(-bound..bound) }).collect() };
            values.insert(params::weight(net, j), draw(fan_in * fan_out));
            shapes.insert(params::weight(net, j), vec![fan_in, fan_out]);
            values.insert(params::bias(net, j), draw(fan_out));
            shapes.insert(params::bias(net, j), vec![fan_out]);
        }
    }

    /// The linear maps `(W_j (in, out), b_j (out,))`, input side first.
    pub fn weights(&self) -> &[(Tensor, Tensor)] {
        &self.layers
    }

    /// The hidden nonlinearity.
    pub fn activation(&self) -> Activation {
        self.act
    }

    /// The network's output for a batch `(n, in)`.
    ///
    /// # Errors
    /// Shape mismatch.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (j, (w, b)) in self.layers.iter().enumerate() {
            h = h.matmul(w)?.broadcast_add(b)?;
            if j + 1 < self.layers.len() {
                h = activate(self.act, &h)?;
            }
        }
        Ok(h)
    }
}

//! Chains shared by the diagnostics tests.

use ndarray::Array3;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// iid standard-normal draws of the given `(steps, walkers, dim)` shape.
pub fn normal_chain(shape: (usize, usize, usize), seed: u64) -> Array3<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array3::from_shape_simple_fn(shape, || StandardNormal.sample(&mut rng))
}

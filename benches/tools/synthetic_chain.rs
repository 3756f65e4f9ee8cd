//! Writes a large synthetic chain for the `chain info` benchmark:
//! `cargo run --release --example synthetic_chain -- OUT.h5 ITERATIONS WALKERS DIM`.
//!
//! Each walker and parameter is an AR(1) series `x_t = 0.9 x_{t-1} + e_t`
//! with `e_t ~ N(0, 1)` and a per-parameter offset `j`, so the stationary mean of parameter `j`
//! is `j` and its sd `1 / sqrt(1 - 0.81) ≈ 2.294`; the summary can be checked
//! against those. Written through [`seqcal::chain::ChainWriter`] in blocks of
//! 4096 iterations.

use ndarray::{Array1, Array2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use seqcal::chain::{ChainLayout, ChainWriter, Column, Step};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, n, w, d] = args.as_slice() else {
        anyhow::bail!("usage: synthetic_chain OUT.h5 ITERATIONS WALKERS DIM");
    };
    let (n, w, d): (usize, usize, usize) = (n.parse()?, w.parse()?, d.parse()?);
    let names = seqcal::api::ParamSpace::default_names(d);
    let mut writer = ChainWriter::create(out.as_ref(), &ChainLayout::new(names, w), 4096)?;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let sd = 1.0 / (1.0f64 - 0.81).sqrt();
    let mut x = Array2::from_shape_fn((w, d), |_| {
        let z: f64 = StandardNormal.sample(&mut rng);
        sd * z
    });
    let mut lp: Array1<f64> = Array1::zeros(w);
    let mut shifted: Array2<f64> = Array2::zeros((w, d));
    for _ in 0..n {
        for v in x.iter_mut() {
            let e: f64 = StandardNormal.sample(&mut rng);
            *v = 0.9 * *v + e;
        }
        for ((k, j), v) in shifted.indexed_iter_mut() {
            *v = x[[k, j]] + j as f64;
        }
        for (k, l) in lp.iter_mut().enumerate() {
            *l = -0.5 * x.row(k).iter().map(|v: &f64| (v / sd).powi(2)).sum::<f64>();
        }
        writer.append(Step::new(shifted.view()).with(Column::LogProb, lp.view()))?;
    }
    writer.finish()?;
    Ok(())
}

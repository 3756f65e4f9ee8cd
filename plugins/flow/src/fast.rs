//! [`FastFlow`]: a trained RealNVP flow evaluated in plain Rust, in f64.
//!
//! The same layers as [`crate::model::Flow`], from the same plan and parameter
//! names ([`crate::build`], [`crate::params`]): couplings through the kernels of
//! [`crate::kernel`], the scale-and-shift layers directly, without candle's
//! per-op tensors: the log density of a batch and sampling run over fixed blocks
//! of rows in parallel (rayon). Each row's result is computed the same way
//! whatever the number of threads, and agrees with the candle flow in f64 to
//! rounding (tested).
//!
//! # Reference
//! Dinh, Sohl-Dickstein & Bengio (2017), *Density estimation using Real NVP*, ICLR.

use rayon::prelude::*;

use crate::build::{plan, Slot};
use crate::error::{FlowError, Result};
use crate::kernel::{coupling_block, CouplingView, Direction, BLOCK};
use crate::layers::parity_mask;
use crate::params::{self, values_f64, Params};
use crate::spec::{Activation, FlowKind, FlowSpec};

#[derive(Debug)]
enum FastLayer {
    Coupling { sizes: Vec<usize>, theta: Vec<f64>, mask: Vec<bool>, clamp: f64, act: Activation },
    Affine { loc: Vec<f64>, scale: Vec<f64>, inv_scale: Vec<f64>, log_det: f64 },
}

/// A flow of the RealNVP architecture `L ∘ (A_o ∘ A_e)^N` (optionally with ActNorm
/// after each pair) with f64 parameters, evaluated without candle.
#[derive(Debug)]
pub struct FastFlow {
    dim: usize,
    /// Base → data order.
    layers: Vec<FastLayer>,
}

impl FastFlow {
    /// Whether this evaluator covers the architecture of `spec`: RealNVP couplings,
    /// ActNorm and the final scale-and-shift layer, without LU layers. The other
    /// architectures evaluate through candle ([`crate::model::Flow`]).
    pub fn supports(spec: &FlowSpec) -> bool {
        spec.check().is_ok() && spec.kind == FlowKind::Realnvp && !spec.lu
    }

    /// Builds the evaluator from the architecture and its parameters (any float
    /// dtype), following the same plan and parameter names as [`crate::build`].
    ///
    /// # Errors
    /// An architecture it does not cover, a missing tensor or one of the wrong size.
    pub fn new(spec: &FlowSpec, params: &Params) -> Result<Self> {
        if !Self::supports(spec) {
            spec.check()?;
            return Err(FlowError::invalid(format!(
                "the f64 evaluator covers RealNVP without LU layers, not {}{}",
                spec.kind,
                if spec.lu { " with LU layers" } else { "" }
            )));
        }
        let d = spec.dim;
        let sizes = spec.net_sizes();
        let affine = |prefix: &str| -> Result<FastLayer> {
            let loc = values_f64(params, &params::loc(prefix))?;
            let ls = values_f64(params, &params::log_scale(prefix))?;
            if loc.len() != d || ls.len() != d {
                return Err(FlowError::invalid(format!("flow layer {prefix} has {} / {} entries for {d} parameters", loc.len(), ls.len())));
            }
            let log_det = ls.iter().sum();
            Ok(FastLayer::Affine { loc, scale: ls.iter().map(|v| v.exp()).collect(), inv_scale: ls.iter().map(|v| (-v).exp()).collect(), log_det })
        };
        let mut layers = Vec::new();
        for slot in plan(spec) {
            match slot {
                Slot::Transform(k) => {
                    let net = params::transform(spec.kind, k);
                    let mut theta = Vec::new();
                    for j in 0..=spec.depth {
                        let w = values_f64(params, &params::weight(&net, j))?;
                        let b = values_f64(params, &params::bias(&net, j))?;
                        if w.len() != sizes[j] * sizes[j + 1] || b.len() != sizes[j + 1] {
                            return Err(FlowError::invalid(format!(
                                "flow layer {net}.{j} does not have the sidecar's shape {} x {}",
                                sizes[j],
                                sizes[j + 1]
                            )));
                        }
                        theta.extend(w);
                        theta.extend(b);
                    }
                    let mask = parity_mask(d, k % 2).iter().map(|&m| m == 1.0).collect();
                    layers.push(FastLayer::Coupling { sizes: sizes.clone(), theta, mask, clamp: spec.clamp, act: spec.activation });
                }
                Slot::ActNorm(p) => layers.push(affine(&params::actnorm(p))?),
                Slot::Lu(_) => return Err(FlowError::invalid("the f64 evaluator has no LU layers")),
            }
        }
        layers.push(affine(params::OUTPUT)?);
        Ok(FastFlow { dim: d, layers })
    }

    /// Number of coordinates.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// One block through every layer in the direction `dir`: `v` (rows × d) is
    /// replaced by the image, and the log-determinants are added to `ld`.
    fn block(&self, v: &mut Vec<f64>, ld: &mut [f64], dir: Direction) {
        let d = self.dim;
        let rows = ld.len();
        let mut tmp = vec![0.0; rows * d];
        let mut lt = vec![0.0; rows];
        let apply = |layer: &FastLayer, v: &mut Vec<f64>, tmp: &mut Vec<f64>, lt: &mut Vec<f64>, ld: &mut [f64]| match layer {
            FastLayer::Coupling { sizes, theta, mask, clamp, act } => {
                let net = CouplingView { sizes, theta, mask, clamp: *clamp, act: *act };
                coupling_block(&net, dir, v, rows, tmp, d, Some(lt.as_mut_slice()), false);
                std::mem::swap(v, tmp);
                ld.iter_mut().zip(lt.iter()).for_each(|(a, b)| *a += b);
            }
            FastLayer::Affine { loc, scale, inv_scale, log_det } => {
                for r in v.chunks_exact_mut(d) {
                    for k in 0..d {
                        r[k] = match dir {
                            Direction::Forward => r[k] * scale[k] + loc[k],
                            Direction::Inverse => (r[k] - loc[k]) * inv_scale[k],
                        };
                    }
                }
                let l = if dir == Direction::Forward { *log_det } else { -*log_det };
                ld.iter_mut().for_each(|a| *a += l);
            }
        };
        match dir {
            Direction::Forward => self.layers.iter().for_each(|l| apply(l, v, &mut tmp, &mut lt, ld)),
            Direction::Inverse => self.layers.iter().rev().for_each(|l| apply(l, v, &mut tmp, &mut lt, ld)),
        }
    }

    /// Maps the rows of `x` (row-major, `dim` columns) in the direction `dir`,
    /// block by block in parallel; returns the images and `log|det|` per row.
    pub fn transform(&self, x: &[f64], dir: Direction) -> (Vec<f64>, Vec<f64>) {
        let d = self.dim;
        let n = x.len() / d;
        let mut out = x[..n * d].to_vec();
        let mut ld = vec![0.0; n];
        let run = |(o, l): (&mut [f64], &mut [f64])| {
            let mut v = o.to_vec();
            self.block(&mut v, l, dir);
            o.copy_from_slice(&v);
        };
        if n <= BLOCK {
            run((&mut out, &mut ld));
        } else {
            out.par_chunks_mut(BLOCK * d).zip(ld.par_chunks_mut(BLOCK)).for_each(run);
        }
        (out, ld)
    }

    /// Normalized log density of each row of `x` (the flow's coordinates).
    pub fn log_prob(&self, x: &[f64]) -> Vec<f64> {
        let d = self.dim;
        let c = -0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln();
        let (z, ld) = self.transform(x, Direction::Inverse);
        z.chunks_exact(d).zip(ld).map(|(r, l)| c - 0.5 * r.iter().map(|v| v * v).sum::<f64>() + l).collect()
    }

    /// Base → data: the images of base points `z` (row-major).
    pub fn sample_from_base(&self, z: &[f64]) -> Vec<f64> {
        self.transform(z, Direction::Forward).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Flow;
    use candle_core::{Device, Tensor};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    fn random(spec: &FlowSpec, seed: u64) -> Params {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let data: Vec<f64> = (0..300 * spec.dim).map(|_| StandardNormal.sample(&mut rng)).collect();
        let mut params = Flow::initial_params(spec, &data, &mut rng, &Device::Cpu).unwrap();
        for t in params.values_mut() {
            let v: Vec<f64> = (0..t.elem_count()).map(|_| 0.4 * Distribution::<f64>::sample(&StandardNormal, &mut rng)).collect();
            *t = Tensor::from_vec(v, t.shape(), &Device::Cpu).unwrap();
        }
        params
    }

    #[test]
    fn fast_flow_matches_the_candle_flow_in_f64() {
        for (act, actnorm) in [(Activation::Tanh, false), (Activation::Relu, true), (Activation::Silu, false)] {
            let spec = FlowSpec { pairs: 2, hidden: 12, activation: act, actnorm, ..FlowSpec::new(5) };
            let params = random(&spec, 4);
            let flow = Flow::new(&spec, &params).unwrap();
            let fast = FastFlow::new(&spec, &params).unwrap();
            let n = 3 * BLOCK + 11;
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            let x: Vec<f64> = (0..n * 5).map(|_| 2.0 * Distribution::<f64>::sample(&StandardNormal, &mut rng)).collect();
            let xt = Tensor::from_vec(x.clone(), (n, 5), &Device::Cpu).unwrap();
            let want: Vec<f64> = flow.log_prob(&xt).unwrap().to_vec1().unwrap();
            let got = fast.log_prob(&x);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-11 * (1.0 + b.abs()), "{act:?}: log_prob {a} vs candle {b}");
            }
            let (yt, _) = flow.forward(&xt).unwrap();
            let want: Vec<f64> = yt.flatten_all().unwrap().to_vec1().unwrap();
            let got = fast.sample_from_base(&x);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-11 * (1.0 + b.abs()), "{act:?}: forward {a} vs candle {b}");
            }
            // One row alone gives the same number as inside a batch.
            let (one, all) = (fast.log_prob(&x[5 * 200..5 * 201])[0], fast.log_prob(&x)[200]);
            assert!((one - all).abs() < 1e-12 * (1.0 + all.abs()), "{one} vs {all}");
        }
    }

    #[test]
    fn library_architectures_are_left_to_candle() {
        assert!(FastFlow::supports(&FlowSpec::new(3)));
        assert!(!FastFlow::supports(&FlowSpec { lu: true, ..FlowSpec::new(3) }));
        assert!(!FastFlow::supports(&FlowSpec { kind: FlowKind::Maf, ..FlowSpec::new(3) }));
        assert!(FastFlow::new(&FlowSpec { lu: true, ..FlowSpec::new(3) }, &Params::new()).is_err());
    }

    #[test]
    fn fast_flow_does_not_depend_on_the_number_of_threads() {
        let spec = FlowSpec { pairs: 3, hidden: 16, ..FlowSpec::new(7) };
        let fast = FastFlow::new(&spec, &random(&spec, 8)).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let x: Vec<f64> = (0..1000 * 7).map(|_| StandardNormal.sample(&mut rng)).collect();
        let run =
            |t: usize| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap().install(|| (fast.log_prob(&x), fast.sample_from_base(&x)));
        assert_eq!(run(1), run(4));
    }
}

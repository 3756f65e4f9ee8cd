//! [`FlowPrior`]: a trained flow as a normalized [`Prior`].
//!
//! # Reference
//! Roch & Shen, *Learning informed prior distributions with normalizing flows for
//! Bayesian analysis* (a flow trained on the posterior chain of one stage is the
//! prior of the next).

use std::path::Path;

use candle_core::{Device, Tensor};
use ndarray::{Array2, ArrayView2};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use seqcal_api::{ParamSpace, Prior};
use sha2::{Digest, Sha256};

use crate::bijector::DimTransform;
use crate::build::check_params;
use crate::error::{FlowError, Result};
use crate::fast::FastFlow;
use crate::io::{self, Sidecar, FORMAT};
use crate::model::Flow;
use crate::params::Params;
use crate::spec::FlowSpec;
use crate::train::{train, LatentData, TrainSettings};

/// Rows per batch when evaluating or sampling.
const CHUNK: usize = 4096;

/// Draws of a chain to train on: `n × d` values, optionally each draw's log
/// posterior density (up to a constant) and importance weight.
pub struct Draws<'a> {
    /// The draws, one per row.
    pub x: ArrayView2<'a, f64>,
    /// Log density of each draw (needed by the kl and jeffreys losses).
    pub log_prob: Option<&'a [f64]>,
    /// Importance weight of each draw.
    pub weights: Option<&'a [f64]>,
}

impl Draws<'_> {
    /// SHA-256 (hex) of the draws, log densities and weights as little-endian f64.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for v in self.x.iter() {
            h.update(v.to_le_bytes());
        }
        for part in [self.log_prob, self.weights] {
            h.update([part.is_some() as u8]);
            for v in part.unwrap_or(&[]) {
                h.update(v.to_le_bytes());
            }
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Whether `v` lies outside `(lower, upper)` by more than rounding: draws on a
/// bound, or past it by less than 1e-9 of the interval (or of the bound's
/// magnitude, for a one-sided support), are kept and moved just inside.
fn outside(v: f64, (lower, upper): (f64, f64)) -> bool {
    let slack = |b: f64| 1e-9 * if lower.is_finite() && upper.is_finite() { upper - lower } else { b.abs().max(1.0) };
    (lower.is_finite() && v < lower - slack(lower)) || (upper.is_finite() && v > upper + slack(upper))
}

/// A normalizing flow over a named parameter space, usable as a [`Prior`].
///
/// Bounded parameters go through a logit (both bounds) or log (one bound)
/// transform before the flow, and `log_prob` includes that Jacobian, so the
/// density is exactly zero outside the support and integrates to one.
pub struct FlowPrior {
    space: ParamSpace,
    flow: Flow,
    /// The same flow evaluated in plain Rust (log densities and sampling), for the
    /// architectures [`FastFlow`] supports; the others evaluate through candle.
    fast: Option<FastFlow>,
    params: Params,
    sidecar: Sidecar,
}

impl FlowPrior {
    /// Trains a flow on `draws` over `space`; `bounded` switches the logit/log
    /// transform of bounded parameters on (the default) or off.
    ///
    /// # Errors
    /// Dimension mismatch, non-finite draws or draws outside the space's bounds,
    /// settings out of range or too large for the memory, or a diverging run.
    pub fn train(space: ParamSpace, bounded: bool, draws: &Draws<'_>, spec: &FlowSpec, settings: &TrainSettings) -> Result<Self> {
        let d = space.dim();
        if draws.x.ncols() != d || spec.dim != d {
            return Err(FlowError::invalid(format!(
                "the chain has {} parameters but the prior space has {d} (flow dim {}): check the chain and the parameter names",
                draws.x.ncols(),
                spec.dim
            )));
        }
        let transforms: Vec<DimTransform> = space.bounds().iter().map(|&(l, u)| DimTransform::for_bounds(l, u, bounded)).collect();
        let n = draws.x.nrows();
        let mut x = Vec::with_capacity(n * d);
        let mut lp = draws.log_prob.map(|v| v.to_vec());
        for (i, row) in draws.x.rows().into_iter().enumerate() {
            for (j, (&v, t)) in row.iter().zip(&transforms).enumerate() {
                let name = &space.names()[j];
                let y = t.to_latent_clamped(v).ok_or_else(|| FlowError::invalid(format!("draw {i}, parameter {name:?}: value {v} is not finite")))?;
                let (l, u) = space.bounds()[j];
                if outside(v, (l, u)) {
                    return Err(FlowError::invalid(format!(
                        "draw {i}, parameter {name:?}: value {v} lies outside its bounds [{l}, {u}]: the draws do not come from the declared support; fix the chain's (or the stage's) bounds or drop those draws"
                    )));
                }
                if let Some(lp) = lp.as_mut() {
                    lp[i] -= t.log_jac_at_latent(y);
                }
                x.push(y);
            }
        }
        if let Some(lp) = &lp {
            if lp.len() != n {
                return Err(FlowError::invalid(format!("{} log densities for {n} draws", lp.len())));
            }
        }
        let data = LatentData { x, dim: d, log_prob: lp, weights: draws.weights.map(|w| w.to_vec()) };
        let (params, metrics) = train(spec, &data, settings)?;
        let sidecar = Sidecar {
            format: FORMAT.into(),
            spec: spec.clone(),
            names: space.names().to_vec(),
            bounds: Sidecar::bounds_json(space.bounds()),
            bounded,
            transforms,
            loss: Some(settings.loss),
            settings: Some(settings.clone()),
            metrics: Some(metrics),
            chain_hash: Some(draws.hash()),
            chain_source: None,
        };
        Self::from_parts(params, sidecar)
    }

    /// Builds the prior from f64 parameters and a sidecar.
    ///
    /// # Errors
    /// Parameters that do not match the architecture (missing, extra, misshapen
    /// or non-finite tensors), or an invalid space.
    pub fn from_parts(params: Params, sidecar: Sidecar) -> Result<Self> {
        let space = ParamSpace::new(sidecar.names.clone(), sidecar.bounds_f64()).map_err(|e| FlowError::invalid(e.to_string()))?;
        check_params(&sidecar.spec, &params)?;
        let flow = Flow::new(&sidecar.spec, &params)?;
        if flow.device().same_device(&Device::Cpu) && flow.dtype() != candle_core::DType::F64 {
            return Err(FlowError::invalid("flow priors evaluate in f64: cast the parameters first"));
        }
        // Check every tensor's shape by one evaluation.
        let probe = Tensor::zeros((1, space.dim()), flow.dtype(), flow.device())?;
        flow.log_prob(&probe)?;
        let fast = if FastFlow::supports(&sidecar.spec) { Some(FastFlow::new(&sidecar.spec, &params)?) } else { None };
        Ok(FlowPrior { space, flow, fast, params, sidecar })
    }

    /// Loads a model saved with [`save`](Self::save).
    ///
    /// # Errors
    /// Missing, truncated or malformed files, a sidecar that does not belong to
    /// the weights (see [`io::load`]).
    pub fn load(path: &Path) -> Result<Self> {
        let (params, sidecar) = io::load(path)?;
        Self::from_parts(params, sidecar)
    }

    /// Writes the weights to `path` (safetensors) and the sidecar next to it (`.json`).
    ///
    /// # Errors
    /// The files cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        io::save(path, &self.params, &self.sidecar)
    }

    /// The sidecar: architecture, loss, settings, metrics, training-chain hash.
    pub fn sidecar(&self) -> &Sidecar {
        &self.sidecar
    }

    /// Records where the training chain came from.
    pub fn set_chain_source(&mut self, source: impl Into<String>) {
        self.sidecar.chain_source = Some(source.into());
    }

    /// The underlying flow (in the transformed coordinates).
    pub fn flow(&self) -> &Flow {
        &self.flow
    }

    /// Log density of each row of `thetas`, like [`Prior::log_prob_batch`], but
    /// refusing to turn a density that is not a number inside the support into
    /// `-∞` (which [`Prior`] must do): what `seqcal prior eval` reports.
    ///
    /// # Errors
    /// A candle failure, or NaN at a point inside the support.
    pub fn log_prob_checked(&self, thetas: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
        let rows: Vec<Vec<f64>> = thetas.rows().into_iter().map(|r| r.to_vec()).collect();
        let (out, nan) = self.eval_rows_counting(&rows)?;
        if let Some(i) = nan {
            return Err(FlowError::invalid(format!(
                "the flow's log density is not a number at row {i}, inside its support: the model is numerically broken there; train it again"
            )));
        }
        Ok(out)
    }

    fn eval_rows(&self, rows: &[Vec<f64>]) -> Result<Vec<f64>> {
        Ok(self.eval_rows_counting(rows)?.0)
    }

    /// Log densities (NaN turned into `-∞`) and the first row that was NaN.
    fn eval_rows_counting(&self, rows: &[Vec<f64>]) -> Result<(Vec<f64>, Option<usize>)> {
        let d = self.space.dim();
        let mut out = vec![f64::NEG_INFINITY; rows.len()];
        let mut latent = Vec::with_capacity(rows.len() * d);
        let mut jac = Vec::with_capacity(rows.len());
        let mut idx = Vec::with_capacity(rows.len());
        'rows: for (i, r) in rows.iter().enumerate() {
            if r.len() != d {
                continue;
            }
            let mut lj = 0.0;
            let start = latent.len();
            for (&v, t) in r.iter().zip(&self.sidecar.transforms) {
                match t.to_latent(v) {
                    Some((y, l)) => {
                        latent.push(y);
                        lj += l;
                    }
                    None => {
                        latent.truncate(start);
                        continue 'rows;
                    }
                }
            }
            jac.push(lj);
            idx.push(i);
        }
        let mut nan = None;
        let mut put = |i: usize, v: f64| {
            if v.is_nan() {
                nan = nan.or(Some(i));
                out[i] = f64::NEG_INFINITY;
            } else {
                out[i] = v;
            }
        };
        if let Some(fast) = &self.fast {
            let lq = fast.log_prob(&latent);
            for ((&i, q), j) in idx.iter().zip(lq).zip(&jac) {
                put(i, q + j);
            }
        } else {
            for (c, chunk) in idx.chunks(CHUNK).enumerate() {
                let lat = latent[c * CHUNK * d..(c * CHUNK + chunk.len()) * d].to_vec();
                let t = Tensor::from_vec(lat, (chunk.len(), d), self.flow.device())?;
                let lq: Vec<f64> = self.flow.log_prob(&t)?.to_vec1()?;
                for (k, (&i, q)) in chunk.iter().zip(lq).enumerate() {
                    put(i, q + jac[c * CHUNK + k]);
                }
            }
        }
        Ok((out, nan))
    }

    /// Draws in the parameter space (fallible form of [`Prior::sample`]).
    ///
    /// # Errors
    /// A candle failure.
    pub fn try_sample(&self, rng: &mut dyn Rng, n: usize) -> Result<Array2<f64>> {
        let d = self.space.dim();
        let mut out = Array2::zeros((n, d));
        let mut filled = 0;
        let mut tries = 0;
        while filled < n && tries < 100 {
            tries += 1;
            let m = (n - filled).min(CHUNK);
            let z: Vec<f64> = (0..m * d).map(|_| StandardNormal.sample(rng)).collect();
            let x: Vec<f64> = match &self.fast {
                Some(fast) => fast.sample_from_base(&z),
                None => self.flow.forward(&Tensor::from_vec(z, (m, d), self.flow.device())?)?.0.flatten_all()?.to_vec1()?,
            };
            for row in x.chunks_exact(d) {
                let th: Vec<f64> = row.iter().zip(&self.sidecar.transforms).map(|(&y, t)| t.from_latent(y)).collect();
                // Reject only numerically degenerate draws (overflow, or rounding onto a bound).
                if self.space.contains(&th)
                    && th.iter().all(|v| v.is_finite())
                    && th.iter().zip(self.space.bounds()).all(|(v, b)| *v != b.0 && *v != b.1)
                {
                    out.row_mut(filled).iter_mut().zip(th).for_each(|(o, v)| *o = v);
                    filled += 1;
                }
            }
        }
        if filled < n {
            return Err(FlowError::invalid("the flow keeps producing non-finite draws: retrain it"));
        }
        Ok(out)
    }
}

impl Prior for FlowPrior {
    fn space(&self) -> &ParamSpace {
        &self.space
    }

    fn log_prob(&self, theta: &[f64]) -> f64 {
        self.eval_rows(&[theta.to_vec()]).map(|v| v[0]).unwrap_or(f64::NEG_INFINITY)
    }

    fn log_prob_batch(&self, thetas: ArrayView2<'_, f64>, out: &mut [f64]) {
        let rows: Vec<Vec<f64>> = thetas.rows().into_iter().map(|r| r.to_vec()).collect();
        match self.eval_rows(&rows) {
            Ok(v) => out.iter_mut().zip(v).for_each(|(o, v)| *o = v),
            Err(_) => out.iter_mut().for_each(|o| *o = f64::NEG_INFINITY),
        }
    }

    fn sample(&self, rng: &mut dyn Rng, n: usize) -> Array2<f64> {
        // Candle on the CPU with f64 parameters cannot fail on well-formed shapes;
        // a degenerate flow yields NaN rows rather than a panic.
        self.try_sample(rng, n).unwrap_or_else(|_| Array2::from_elem((n, self.space.dim()), f64::NAN))
    }

    fn describe(&self) -> String {
        let s = &self.sidecar.spec;
        let loss = self.sidecar.loss.map(|l| format!("{l:?}").to_lowercase()).unwrap_or_else(|| "?".into());
        let hash = self.sidecar.chain_hash.as_deref().map(|h| &h[..h.len().min(12)]).unwrap_or("?");
        let (arch, unit) = match s.kind {
            crate::spec::FlowKind::Realnvp => ("RealNVP".to_string(), "coupling"),
            crate::spec::FlowKind::Maf => ("MAF".to_string(), "layer"),
            k => (format!("{k}, {} bins on ±{}", s.bins, s.tail_bound), "layer"),
        };
        let lu = if s.lu { " + LU" } else { "" };
        format!(
            "flow ({arch}{lu}, {} {unit} pairs, hidden {}x{}, {:?}, bounded {}, loss {loss}, chain {hash})",
            s.pairs, s.depth, s.hidden, s.activation, self.sidecar.bounded
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::Loss;
    use ndarray::Array2;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn space2(bounds: Vec<(f64, f64)>) -> ParamSpace {
        ParamSpace::new(vec!["a".into(), "b".into()], bounds).unwrap()
    }

    fn quick(loss: Loss, steps: usize) -> (FlowSpec, TrainSettings) {
        let spec = FlowSpec { pairs: 2, hidden: 32, ..FlowSpec::new(2) };
        (
            spec,
            TrainSettings {
                loss,
                steps,
                batch: 256,
                lr: 3e-3,
                val_fraction: 0.1,
                eval_every: 50,
                patience: 100,
                seed: 7,
                quiet: true,
                ..Default::default()
            },
        )
    }

    /// Correlated Gaussian draws (sd 1 and 0.5, rho 0.8) with their exact log density.
    fn gaussian(n: usize, seed: u64, mean: [f64; 2]) -> (Array2<f64>, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (s1, s2, rho) = (1.0, 0.5, 0.8f64);
        let mut x = Array2::zeros((n, 2));
        let mut lp = Vec::with_capacity(n);
        for i in 0..n {
            let (u, v): (f64, f64) = (StandardNormal.sample(&mut rng), StandardNormal.sample(&mut rng));
            x[[i, 0]] = mean[0] + s1 * u;
            x[[i, 1]] = mean[1] + s2 * (rho * u + (1.0 - rho * rho).sqrt() * v);
            lp.push(-0.5 * (u * u + v * v) - (2.0 * std::f64::consts::PI).ln() - (s1 * s2 * (1.0 - rho * rho).sqrt()).ln());
        }
        (x, lp)
    }

    /// Mean of `ln p - ln q` over fresh truth draws: a Monte Carlo KL(p‖q) with its standard error.
    fn kl_to_truth(prior: &FlowPrior, mean: [f64; 2]) -> (f64, f64) {
        let (x, lp) = gaussian(20_000, 99, mean);
        let mut lq = vec![0.0; x.nrows()];
        prior.log_prob_batch(x.view(), &mut lq);
        let d: Vec<f64> = lp.iter().zip(&lq).map(|(p, q)| p - q).collect();
        let m = d.iter().sum::<f64>() / d.len() as f64;
        let sd = (d.iter().map(|v| (v - m).powi(2)).sum::<f64>() / d.len() as f64).sqrt();
        (m, sd / (d.len() as f64).sqrt())
    }

    #[test]
    fn all_three_losses_learn_a_correlated_gaussian() {
        let (x, lp) = gaussian(6000, 1, [0.5, -1.0]);
        for loss in [Loss::Nll, Loss::Kl, Loss::Jeffreys] {
            let (spec, s) = quick(loss, 600);
            let draws = Draws { x: x.view(), log_prob: Some(&lp), weights: None };
            let prior = FlowPrior::train(space2(vec![(f64::NEG_INFINITY, f64::INFINITY); 2]), true, &draws, &spec, &s).unwrap();
            let (kl, se) = kl_to_truth(&prior, [0.5, -1.0]);
            // An untrained flow (standardized marginals, no correlation) sits at KL = -ln(sqrt(1 - 0.64)) = 0.51.
            assert!(kl < 0.03 + 3.0 * se, "{loss:?}: KL to the truth {kl} ± {se}");
        }
    }

    #[test]
    fn importance_weights_are_honoured() {
        // Draws from N(0, 2^2) per coordinate, weighted to N(1, 0.5^2) x N(-1, 0.5^2).
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = 8000;
        let x = Array2::from_shape_fn((n, 2), |_| 2.0 * Distribution::<f64>::sample(&StandardNormal, &mut rng));
        let ln_n = |v: f64, m: f64, s: f64| -0.5 * ((v - m) / s).powi(2) - s.ln();
        let w: Vec<f64> = x
            .rows()
            .into_iter()
            .map(|r| (ln_n(r[0], 1.0, 0.5) + ln_n(r[1], -1.0, 0.5) - ln_n(r[0], 0.0, 2.0) - ln_n(r[1], 0.0, 2.0)).exp())
            .collect();
        let (spec, s) = quick(Loss::Nll, 400);
        let prior = FlowPrior::train(
            space2(vec![(f64::NEG_INFINITY, f64::INFINITY); 2]),
            true,
            &Draws { x: x.view(), log_prob: None, weights: Some(&w) },
            &spec,
            &s,
        )
        .unwrap();
        let draws = prior.sample(&mut ChaCha8Rng::seed_from_u64(4), 4000);
        let m0 = draws.column(0).mean().unwrap();
        let m1 = draws.column(1).mean().unwrap();
        // Unweighted, the means would be 0; effective sample size ~ 1000, so the error is well under 0.1.
        assert!((m0 - 1.0).abs() < 0.1 && (m1 + 1.0).abs() < 0.1, "weighted means {m0}, {m1}");
    }

    /// Draws in the box [0, 1] x [-1, 2]: a peak at the lower edge of `a` (Beta(1, 4))
    /// and `b` uniform-ish.
    fn boxed(n: usize, seed: u64) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((n, 2), |(_, j)| {
            let u: f64 = rand::RngExt::random(&mut rng);
            if j == 0 {
                1.0 - (1.0 - u).powf(0.25)
            } else {
                -1.0 + 3.0 * u.sqrt()
            }
        })
    }

    #[test]
    fn bounded_prior_has_no_mass_outside_and_integrates_to_one() {
        let x = boxed(6000, 5);
        let (spec, s) = quick(Loss::Nll, 500);
        let space = space2(vec![(0.0, 1.0), (-1.0, 2.0)]);
        let prior = FlowPrior::train(space, true, &Draws { x: x.view(), log_prob: None, weights: None }, &spec, &s).unwrap();
        for p in [[-0.01, 0.5], [1.01, 0.5], [0.5, 2.5], [0.0, 0.0], [f64::NAN, 0.0]] {
            assert_eq!(prior.log_prob(&p), f64::NEG_INFINITY, "{p:?}");
        }
        assert_eq!(prior.log_prob(&[0.5]), f64::NEG_INFINITY);
        // Importance sampling with the defensive proposal g = (q + u)/2 (u uniform on the box):
        // q/g <= 2, so the estimate of the integral of q has a small, computable error.
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let m = 40_000;
        let from_q = prior.sample(&mut rng, m / 2);
        let from_u = Array2::from_shape_fn((m / 2, 2), |(_, j)| {
            let u: f64 = rand::RngExt::random(&mut rng);
            if j == 0 {
                u
            } else {
                -1.0 + 3.0 * u
            }
        });
        let pts = ndarray::concatenate(ndarray::Axis(0), &[from_q.view(), from_u.view()]).unwrap();
        assert!(pts.rows().into_iter().all(|r| prior.space().contains(r.as_slice().unwrap())), "a draw left the box");
        let mut lq = vec![0.0; m];
        prior.log_prob_batch(pts.view(), &mut lq);
        let ratios: Vec<f64> = lq.iter().map(|&l| l.exp() / (0.5 * l.exp() + 0.5 / 3.0)).collect();
        let mean = ratios.iter().sum::<f64>() / m as f64;
        let se = (ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / m as f64).sqrt() / (m as f64).sqrt();
        assert!(se < 0.004, "standard error {se} too large to check 1%");
        assert!((mean - 1.0).abs() < 0.01, "integral of the prior over the box: {mean} ± {se}");
    }

    #[test]
    fn save_and_load_round_trip() {
        let x = boxed(2000, 8);
        let (spec, s) = quick(Loss::Nll, 60);
        let space = space2(vec![(0.0, 1.0), (-1.0, 2.0)]);
        let prior = FlowPrior::train(space, true, &Draws { x: x.view(), log_prob: None, weights: None }, &spec, &s).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prior.safetensors");
        prior.save(&path).unwrap();
        assert!(io::sidecar_path(&path).is_file());
        let back = FlowPrior::load(&path).unwrap();
        // JSON keeps floats to ~1 ulp only (serde_json without float_roundtrip): compare the
        // metrics by their counts, everything else exactly.
        let strip = |s: &Sidecar| Sidecar { metrics: None, ..s.clone() };
        assert_eq!(strip(back.sidecar()), strip(prior.sidecar()));
        assert_eq!(back.sidecar().metrics.as_ref().map(|m| m.steps), prior.sidecar().metrics.as_ref().map(|m| m.steps));
        for p in [[0.3, 0.1], [0.01, 1.9], [0.99, -0.9]] {
            let (a, b) = (prior.log_prob(&p), back.log_prob(&p));
            assert!((a - b).abs() < 1e-12 && a.is_finite(), "{a} vs {b}");
        }
        assert_eq!(back.sidecar().chain_hash.as_deref().map(str::len), Some(64));
        assert!(FlowPrior::load(&dir.path().join("missing.safetensors")).is_err());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let (spec, s) = quick(Loss::Kl, 10);
        let x = Array2::from_elem((100, 2), 0.5);
        let sp = || space2(vec![(0.0, 1.0), (0.0, 1.0)]);
        let e = FlowPrior::train(sp(), true, &Draws { x: x.view(), log_prob: None, weights: None }, &spec, &s).err().unwrap();
        assert!(e.to_string().contains("log_prob"), "{e}");
        let x3 = Array2::from_elem((100, 3), 0.5);
        assert!(FlowPrior::train(sp(), true, &Draws { x: x3.view(), log_prob: None, weights: None }, &spec, &s).is_err());
        let mut xn = x.clone();
        xn[[5, 1]] = f64::NAN;
        let e = FlowPrior::train(
            sp(),
            true,
            &Draws { x: xn.view(), log_prob: None, weights: None },
            &spec,
            &TrainSettings { loss: Loss::Nll, ..s.clone() },
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("not finite"), "{e}");
    }

    #[test]
    fn draws_outside_the_bounds_are_refused_and_rounding_past_them_is_not() {
        let (spec, s) = quick(Loss::Nll, 5);
        let sp = || space2(vec![(0.0, 1.0), (-1.0, 2.0)]);
        let mut x = boxed(200, 9);
        x[[17, 1]] = 2.0 + 1e-12;
        x[[18, 0]] = 0.0;
        assert!(FlowPrior::train(sp(), true, &Draws { x: x.view(), log_prob: None, weights: None }, &spec, &s).is_ok());
        x[[19, 1]] = 2.5;
        let e = FlowPrior::train(sp(), true, &Draws { x: x.view(), log_prob: None, weights: None }, &spec, &s).err().unwrap().to_string();
        assert!(e.contains("draw 19, parameter \"b\": value 2.5 lies outside its bounds [-1, 2]"), "{e}");
    }

    /// Correlated Gaussian draws (sd 1 and 0.5, rho 0.8) and their exact log density.
    fn gaussian_pts(n: usize, seed: u64) -> (ndarray::Array2<f64>, Vec<f64>) {
        let z = crate::testutil::points(n, 2, 1.0, seed).to_vec2::<f64>().unwrap();
        let rho = 0.8f64;
        let mut x = ndarray::Array2::zeros((n, 2));
        let mut lp = Vec::with_capacity(n);
        for (i, r) in z.iter().enumerate() {
            x[[i, 0]] = 1.0 + r[0];
            x[[i, 1]] = -2.0 + 0.5 * (rho * r[0] + (1.0 - rho * rho).sqrt() * r[1]);
            lp.push(-0.5 * (r[0] * r[0] + r[1] * r[1]) - (2.0 * std::f64::consts::PI).ln() - (0.5 * (1.0 - rho * rho).sqrt()).ln());
        }
        (x, lp)
    }

    #[test]
    fn every_kind_trains_saves_and_loads() {
        use crate::spec::FlowKind;
        let (x, lp) = gaussian_pts(4000, 11);
        let (xt, lpt) = gaussian_pts(20_000, 12);
        let space = ParamSpace::unbounded(vec!["a".into(), "b".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (kind, lu) in [(FlowKind::Maf, false), (FlowKind::NsfCoupling, false), (FlowKind::NsfAr, true), (FlowKind::Realnvp, true)] {
            let spec = FlowSpec { kind, lu, hidden: 32, pairs: 2, bins: 6, ..FlowSpec::new(2) };
            let s = TrainSettings {
                loss: Loss::Nll,
                steps: 300,
                batch: 256,
                lr: 3e-3,
                val_fraction: 0.1,
                eval_every: 50,
                patience: 100,
                seed: 3,
                quiet: true,
                ..Default::default()
            };
            let prior = FlowPrior::train(space.clone(), true, &Draws { x: x.view(), log_prob: Some(&lp), weights: None }, &spec, &s).unwrap();
            // Monte Carlo KL(p||q) on fresh truth draws; the untrained flow (standardized
            // marginals, no correlation) sits at -ln sqrt(1 - 0.64) = 0.51.
            let mut lq = vec![0.0; xt.nrows()];
            prior.log_prob_batch(xt.view(), &mut lq);
            let kl = lpt.iter().zip(&lq).map(|(p, q)| p - q).sum::<f64>() / lq.len() as f64;
            assert!(kl < 0.05, "{kind} (lu {lu}): KL to the truth {kl}");
            let path = dir.path().join(format!("{kind}.safetensors"));
            prior.save(&path).unwrap();
            let back = FlowPrior::load(&path).unwrap();
            assert_eq!(back.sidecar().spec, spec);
            for p in [[1.0, -2.0], [3.0, -1.0], [-0.5, -2.7]] {
                let (a, b) = (prior.log_prob(&p), back.log_prob(&p));
                assert!((a - b).abs() < 1e-9 && a.is_finite(), "{kind}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn non_finite_losses_are_skipped_and_finally_reported() {
        // Log densities beyond f32 range make every supervised batch loss infinite.
        let (x, _) = gaussian(500, 2, [0.0, 0.0]);
        let lp: Vec<f64> = (0..500).map(|i| if i % 2 == 0 { 1e39 } else { -1e39 }).collect();
        let (spec, s) = quick(Loss::Kl, 100);
        let e = FlowPrior::train(
            space2(vec![(f64::NEG_INFINITY, f64::INFINITY); 2]),
            true,
            &Draws { x: x.view(), log_prob: Some(&lp), weights: None },
            &spec,
            &s,
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("diverged"), "{e}");
    }
}

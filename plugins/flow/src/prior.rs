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
use crate::train::{train_with, LatentData, LatentLogDensity, Source, TrainSettings};

/// A log density (up to a constant) at rows of parameter values: the source
/// posterior of a flow trained `from` a pipeline stage.
pub type SourceLogDensity<'a> = dyn Fn(ArrayView2<'_, f64>) -> Vec<f64> + 'a;

/// Rows per batch when evaluating or sampling.
const CHUNK: usize = 4096;

/// Draws of a chain to train on: `n × d` values, optionally each draw's log
/// posterior density (up to a constant) and importance weight.
#[derive(Debug)]
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
#[derive(Debug)]
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
        Self::train_with(space, bounded, draws, spec, settings, None, None)
    }

    /// [`train`](Self::train) with the source posterior's log density at hand
    /// (`source`: at rows of parameter values, up to the constant of the draws'
    /// `log_prob`, and the draws of the flow per step), which the
    /// `jeffreys_reverse` loss evaluates at draws of the flow.
    ///
    /// # Errors
    /// As [`train`](Self::train); `jeffreys_reverse` without `source`.
    pub fn train_with_source(
        space: ParamSpace,
        bounded: bool,
        draws: &Draws<'_>,
        spec: &FlowSpec,
        settings: &TrainSettings,
        source: Option<(&SourceLogDensity<'_>, usize)>,
    ) -> Result<Self> {
        Self::train_with(space, bounded, draws, spec, settings, source, None)
    }

    /// [`train`](Self::train) with the flow's final scale-and-shift fixed at
    /// `anchor` (`loc`, `log_scale` per coordinate, in the latent coordinates
    /// the bounded transforms give), untrained: see
    /// [`crate::train::train_with`].
    ///
    /// # Errors
    /// As [`train`](Self::train); an anchor that does not fit the space.
    pub fn train_anchored(
        space: ParamSpace,
        bounded: bool,
        draws: &Draws<'_>,
        spec: &FlowSpec,
        settings: &TrainSettings,
        anchor: Option<(&[f64], &[f64])>,
    ) -> Result<Self> {
        Self::train_with(space, bounded, draws, spec, settings, None, anchor)
    }

    /// [`train`](Self::train) with both optional inputs of
    /// [`crate::train::train_with`]: the source posterior and the anchor.
    ///
    /// # Errors
    /// As [`train_with_source`](Self::train_with_source) and
    /// [`train_anchored`](Self::train_anchored).
    #[allow(clippy::too_many_arguments)]
    pub fn train_with(
        space: ParamSpace,
        bounded: bool,
        draws: &Draws<'_>,
        spec: &FlowSpec,
        settings: &TrainSettings,
        source: Option<(&SourceLogDensity<'_>, usize)>,
        anchor: Option<(&[f64], &[f64])>,
    ) -> Result<Self> {
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
        // The source posterior in the flow's coordinates: parameters mapped back, the
        // transforms' Jacobian as the draws' log densities carry it.
        let draws_per_step = source.map_or(0, |(_, n)| n);
        let latent = source.map(|(f, _)| {
            let transforms = &transforms;
            move |y: &[f64]| -> Vec<f64> {
                let rows = y.len() / d;
                let theta = Array2::from_shape_fn((rows, d), |(i, j)| transforms[j].from_latent(y[i * d + j]));
                let jac: Vec<f64> = (0..rows).map(|i| (0..d).map(|j| transforms[j].log_jac_at_latent(y[i * d + j])).sum()).collect();
                f(theta.view()).iter().zip(jac).map(|(v, j)| v - j).collect()
            }
        });
        let source = latent.as_ref().map(|f| Source { log_density: f as &LatentLogDensity<'_>, draws: draws_per_step });
        let (params, metrics) = train_with(spec, &data, settings, source, anchor)?;
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
            couplings: Some(2 * spec.pairs),
            arch_choice: None,
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

    /// Records how `arch = "auto"` chose the architecture.
    pub fn set_arch_choice(&mut self, why: Option<String>) {
        self.sidecar.arch_choice = why;
    }

    /// Records where the training chain came from.
    pub fn set_chain_source(&mut self, source: impl Into<String>) {
        self.sidecar.chain_source = Some(source.into());
    }

    /// The f64 parameters of the flow.
    pub fn params(&self) -> &Params {
        &self.params
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
mod tests;

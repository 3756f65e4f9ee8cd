//! The checks of a stage whose prior is a flow trained on an earlier stage
//! (`prior = { kind = "flow", from = "S", ... }`), run after its sampling:
//! the flow's fit to S's chain, the lost-mode detectors (which evaluate S's
//! prior and likelihood and the new data's likelihood), and for a defensive
//! mixture the importance weights written into the stage's chain.

use std::collections::{BTreeMap, BTreeSet};

use ndarray::{s, Array2, Array3, ArrayView2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqcal_api::{main_share, LogDensity, Prior, PriorFactory, StageContext};
use seqcal_flow::FlowPrior;

use super::context::RunContext;
use super::datasets::Likelihoods;
use crate::chain::{self, Chain};
use crate::diagnostics::{ess_fraction, flow_fit, lost_mode, DefensiveWeights, FitReference, FlowChecks, LostModeInputs};
use crate::likelihood::IndependentProduct;
use crate::prior::PriorRegistry;
use crate::Result;

/// Base-prior draws that stand for the new data's side when the pipeline has
/// no stage of the new data alone.
const BASE_DRAWS: usize = 20_000;

/// The draws of a chain after its burn-in, resampled by its importance
/// weights when it has them, so that the checks see the posterior the
/// weighted chain stands for.
pub(super) fn posterior_draws(chain: &Chain, burn: usize) -> Array2<f64> {
    let kept = chain.discard(burn);
    let x = kept.flat();
    match kept.weights.as_ref() {
        Some(w) => resample(&x, &w.iter().copied().collect::<Vec<_>>()),
        None => x,
    }
}

/// The rows of `x` resampled by the weights `w` (systematic resampling:
/// deterministic, as many rows as `x`); `x` itself when the weights do not fit.
pub(super) fn resample(x: &Array2<f64>, w: &[f64]) -> Array2<f64> {
    let total: f64 = w.iter().sum();
    if total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || w.len() != x.nrows() {
        return x.clone();
    }
    let n = x.nrows();
    let mut picks = Vec::with_capacity(n);
    let (mut cum, mut i) = (w[0] / total, 0);
    for k in 0..n {
        let u = (k as f64 + 0.5) / n as f64;
        while cum < u && i + 1 < n {
            i += 1;
            cum += w[i] / total;
        }
        picks.push(i);
    }
    x.select(Axis(0), &picks)
}

/// The draws `flow`'s training held out of `chain` (after `burn`), as the
/// reference of its fit, with the training draws for the floor; each resampled
/// by its importance weights. `None` for a flow trained without held-out draws
/// or on other draws than these (its sidecar's chain hash differs).
fn heldout_reference(flow: &FlowPrior, chain: &Chain, path: &std::path::Path, burn: usize) -> Option<FitReference> {
    let settings = flow.sidecar().settings.as_ref()?;
    let draws = crate::prior::chain_draws(&chain.discard(burn), "", path, burn);
    let usable = seqcal_flow::TrainingDraws::from_chain(&draws).ok()?;
    if flow.sidecar().chain_hash.as_deref() != Some(usable.draws().hash().as_str()) {
        return None;
    }
    let (val, train) = seqcal_flow::train::heldout_split(usable.x.nrows(), settings);
    if val.is_empty() {
        return None;
    }
    let pick = |rows: &[usize]| {
        let x = usable.x.select(Axis(0), rows);
        match &usable.weights {
            Some(w) => resample(&x, &rows.iter().map(|&i| w[i]).collect::<Vec<_>>()),
            None => x,
        }
    };
    Some(FitReference { reference: pick(&val), other: pick(&train), what: format!("the {} draws held out of the flow's training", val.len()) })
}

/// Stage `st`'s prior table with the pipeline's flow defaults merged (as the stage runs it).
pub(super) fn prior_table(p: &crate::config::Pipeline, st: &crate::config::Stage) -> toml::Table {
    let mut prior = st.prior.clone().unwrap_or_else(|| {
        let mut t = toml::Table::new();
        t.insert("kind".into(), "uniform".into());
        t
    });
    seqcal_flow::table::merge_defaults(&mut prior, &p.defaults.flow);
    prior
}

/// Whether a prior table trains or loads a flow anywhere inside it.
pub(super) fn has_flow(t: &toml::Table) -> bool {
    let mut found = false;
    let mut t = t.clone();
    let _ = seqcal_flow::table::for_each_flow(&mut t, &mut |_| -> std::result::Result<(), ()> {
        found = true;
        Ok(())
    });
    found
}

/// `Σ log L` of `datasets` at each row (NaN, a failed evaluation, is zero density).
pub(super) fn log_likelihood(lik: &IndependentProduct, x: ArrayView2<'_, f64>) -> Vec<f64> {
    lik.log_density_batch(x).unwrap_or_else(|_| vec![f64::NEG_INFINITY; x.nrows()])
}

pub(super) fn likelihood_of(likelihoods: &mut Likelihoods<'_>, datasets: &[String]) -> Result<IndependentProduct> {
    let mut parts: Vec<Box<dyn LogDensity>> = Vec::new();
    for d in datasets {
        parts.push(Box::new(likelihoods.get(d)?));
    }
    IndependentProduct::new(parts)
}

/// What the checks need of the stage.
pub(super) struct StageFlow<'a> {
    /// The run.
    pub inp: RunContext<'a>,
    /// The prior registry.
    pub registry: &'a PriorRegistry,
    /// The stage's index in the pipeline.
    pub index: usize,
    /// Its prior table as written (with the defaults), before training.
    pub written: &'a toml::Table,
    /// Its prior table after training (flows as `model`).
    pub built: &'a toml::Table,
    /// Its flows, with their labels.
    pub trained: &'a [(String, FlowPrior)],
    /// Finished stages and their burn-in.
    pub finished: &'a BTreeMap<String, usize>,
    /// The stage's seed.
    pub seed: u64,
}

impl StageFlow<'_> {
    fn ctx<'c>(&'c self, chains: &'c crate::prior::ChainFiles) -> StageContext<'c> {
        StageContext { space: Some(self.inp.space), base_dir: &self.inp.pipeline.base_dir, chains, factory: self.registry }
    }

    /// The importance weights of a defensive mixture `flow, epsilon, base` over
    /// every draw of the run (`iterations × walkers × dim`), and their summary
    /// over the kept draws; `None` for any other prior.
    pub(super) fn defensive_weights(&self, draws: &Array3<f64>, burn: usize) -> Result<Option<(Array2<f64>, DefensiveWeights)>> {
        let t = self.built;
        let (Some(eps), Some(base), Some((_, flow))) =
            (t.get("epsilon").and_then(toml::Value::as_float), t.get("base").and_then(toml::Value::as_table), self.trained.first())
        else {
            return Ok(None);
        };
        if t.get("kind").and_then(toml::Value::as_str) != Some("flow") {
            return Ok(None);
        }
        let chains = crate::prior::ChainFiles::new();
        let base = self.registry.build(base, &self.ctx(&chains)).map_err(|e| crate::Error::Usage(format!("base prior: {e}")))?;
        let (n, w, d) = draws.dim();
        let flat = draws.to_shape((n * w, d))?.to_owned();
        let (mut lq, mut lb) = (vec![0.0; n * w], vec![0.0; n * w]);
        flow.log_prob_batch(flat.view(), &mut lq);
        base.log_prob_batch(flat.view(), &mut lb);
        let weights: Vec<f64> = lq.iter().zip(&lb).map(|(q, b)| main_share(eps, *q, *b)).collect();
        let kept = &weights[burn * w..];
        let mean = kept.iter().sum::<f64>() / kept.len().max(1) as f64;
        let lw: Vec<f64> = kept.iter().map(|v| v.ln()).collect();
        let summary = DefensiveWeights { epsilon: eps, base_share: 1.0 - mean, ess_fraction: ess_fraction(&lw) };
        Ok(Some((Array2::from_shape_vec((n, w), weights)?, summary)))
    }

    /// The flow's fit and the lost-mode detectors.
    pub(super) fn checks(&self, likelihoods: &mut Likelihoods<'_>) -> Result<FlowChecks> {
        let mut out = FlowChecks::default();
        let p = self.inp.pipeline;
        let st = &p.stages[self.index];
        let Some((label, flow)) = self.trained.first() else { return Ok(out) };
        let from = if self.written.get("kind").and_then(toml::Value::as_str) == Some("flow") {
            self.written.get("from").and_then(toml::Value::as_str)
        } else {
            None
        };
        let Some(src_name) = from else {
            out.skipped.push("the flow's fit and the lost-mode check need a flow prior trained `from` a stage of this pipeline".into());
            return Ok(out);
        };
        let (Some(src_stage), Some(&src_burn)) = (p.stages.iter().find(|s| s.name == src_name), self.finished.get(src_name)) else {
            return Ok(out);
        };
        let src_path = self.inp.layout.chain(src_name);
        let src_chain = chain::read_hdf5(&src_path)?;
        let source = posterior_draws(&src_chain, src_burn);
        let reference = heldout_reference(flow, &src_chain, &src_path, src_burn).unwrap_or_else(|| FitReference::halves(source.view()));
        out.flow_fit = Some(flow_fit(flow, label, &reference, self.seed));
        let src_prior_table = prior_table(p, src_stage);
        if has_flow(&src_prior_table) {
            out.skipped.push(format!("lost-mode check: stage {src_name}'s own prior is a flow, whose source posterior seqcal does not evaluate"));
            return Ok(out);
        }
        let chains = crate::prior::ChainFiles::new();
        let pi0 =
            self.registry.build(&src_prior_table, &self.ctx(&chains)).map_err(|e| crate::Error::Usage(format!("stage {src_name}: prior: {e}")))?;
        let lik_src = likelihood_of(likelihoods, &src_stage.datasets)?;
        let lik_new = likelihood_of(likelihoods, &st.datasets)?;
        // The new data's side: a finished stage of exactly these data sets
        // under a prior without flows (their own posterior), else base-prior draws.
        let want: BTreeSet<&String> = st.datasets.iter().collect();
        let alone = p.stages.iter().find(|s| {
            s.name != st.name
                && self.finished.contains_key(&s.name)
                && s.datasets.iter().collect::<BTreeSet<_>>() == want
                && !has_flow(&prior_table(p, s))
        });
        let (new_side, new_label) = match alone {
            Some(s) => {
                let c = chain::read_hdf5(&self.inp.layout.chain(&s.name))?;
                (posterior_draws(&c, self.finished[&s.name]), format!("stage {} (data {} alone)", s.name, s.datasets.join(" + ")))
            }
            None => {
                let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x6261_7365);
                (pi0.sample(&mut rng, BASE_DRAWS), format!("{BASE_DRAWS} draws of stage {src_name}'s prior"))
            }
        };
        let log_source = |x: ArrayView2<'_, f64>| {
            let mut lp = vec![0.0; x.nrows()];
            pi0.log_prob_batch(x, &mut lp);
            lp.iter().zip(log_likelihood(&lik_src, x)).map(|(a, b)| a + b).collect()
        };
        let log_new = |x: ArrayView2<'_, f64>| log_likelihood(&lik_new, x);
        out.lost_mode = Some(lost_mode(&LostModeInputs {
            flow,
            label,
            source: source.view(),
            new_side: new_side.slice(s![.., ..]),
            new_side_label: &new_label,
            log_source: &log_source,
            log_new: &log_new,
            seed: self.seed,
        }));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_follows_the_weights() {
        let x = Array2::from_shape_fn((4, 1), |(i, _)| i as f64);
        let r = resample(&x, &[0.0, 3.0, 0.0, 1.0]);
        assert_eq!(r.column(0).to_vec(), [1.0, 1.0, 1.0, 3.0]);
        assert_eq!(resample(&x, &[0.0; 4]), x);
    }
}

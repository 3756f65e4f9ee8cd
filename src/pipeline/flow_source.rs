//! The posteriors of the stages a stage's flows train `from`, for the
//! `jeffreys_reverse` loss: each such stage's prior × its data sets'
//! likelihood, the density its sampler drew its chain from.

use std::collections::BTreeMap;

use ndarray::ArrayView2;
use seqcal_api::{Prior, PriorFactory, StageContext};
use seqcal_flow::table::{for_each_flow, FlowSource, FlowTable};
use seqcal_flow::{SourceLogDensity, SourcePosteriors};

use super::datasets::Likelihoods;
use super::flow_checks::{has_flow, likelihood_of, log_likelihood, prior_table};
use crate::config::StageKind;
use crate::likelihood::IndependentProduct;
use crate::prior::{ChainFiles, PriorRegistry};
use crate::Result;

/// The stages `jeffreys_reverse` flow tables of a prior train `from`.
fn wanted(prior: &toml::Table) -> Vec<String> {
    let mut out = Vec::new();
    let mut t = prior.clone();
    let _ = for_each_flow(&mut t, &mut |t| -> std::result::Result<(), ()> {
        if let Ok(FlowTable { source: FlowSource::Stage(s), options, .. }) = FlowTable::parse(t) {
            if options.loss.needs_source() && !out.contains(&s) {
                out.push(s);
            }
        }
        Ok(())
    });
    out
}

/// A stage's prior and likelihood: its log posterior, up to its chain's constant.
struct Posterior {
    prior: Box<dyn Prior>,
    likelihood: IndependentProduct,
}

impl Posterior {
    fn log_density(&self, x: ArrayView2<'_, f64>) -> Vec<f64> {
        let mut lp = vec![0.0; x.nrows()];
        self.prior.log_prob_batch(x, &mut lp);
        lp.iter().zip(log_likelihood(&self.likelihood, x)).map(|(a, b)| a + b).collect()
    }
}

/// The posteriors a stage's prior table needs, each built or with the reason it cannot be.
pub(super) struct StagePosteriors {
    posteriors: BTreeMap<String, std::result::Result<Box<SourceLogDensity<'static>>, String>>,
}

impl StagePosteriors {
    /// The posteriors of the stages the `jeffreys_reverse` flow tables of `prior`
    /// train `from` (none for any other table: nothing is built).
    ///
    /// # Errors
    /// A data set whose likelihood cannot be built.
    pub(super) fn for_prior(
        prior: &toml::Table,
        p: &crate::config::Pipeline,
        ctx: &StageContext<'_>,
        registry: &PriorRegistry,
        likelihoods: &mut Likelihoods<'_>,
    ) -> Result<Self> {
        let mut posteriors = BTreeMap::new();
        for name in wanted(prior) {
            let built = match p.stages.iter().find(|s| s.name == name) {
                None => Err("no stage has that name".to_string()),
                Some(st) if st.kind != StageKind::Sample => Err("it is a two-stage stage, whose posterior seqcal does not evaluate".to_string()),
                Some(st) => {
                    let table = prior_table(p, st);
                    if has_flow(&table) {
                        Err("its own prior is a flow, whose posterior seqcal does not evaluate".to_string())
                    } else {
                        let chains = ChainFiles::new();
                        let c = StageContext { space: ctx.space, base_dir: ctx.base_dir, chains: &chains, factory: registry };
                        match registry.build(&table, &c) {
                            Ok(prior) => {
                                let post = Posterior { prior, likelihood: likelihood_of(likelihoods, &st.datasets)? };
                                let f: Box<SourceLogDensity<'static>> = Box::new(move |x: ArrayView2<'_, f64>| post.log_density(x));
                                Ok(f)
                            }
                            Err(e) => Err(format!("its prior cannot be built ({e})")),
                        }
                    }
                }
            };
            posteriors.insert(name, built);
        }
        Ok(StagePosteriors { posteriors })
    }
}

impl SourcePosteriors for StagePosteriors {
    fn log_posterior(&self, stage: &str) -> std::result::Result<&SourceLogDensity<'_>, String> {
        match self.posteriors.get(stage) {
            Some(Ok(f)) => Ok(f.as_ref()),
            Some(Err(why)) => Err(why.clone()),
            None => Err("its posterior was not built".to_string()),
        }
    }
}

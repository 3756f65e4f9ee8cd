//! Training a flow prior from a chain, the one path every caller takes:
//! `seqcal prior train` and `prior scan` (through [`train_on_draws`] and
//! [`TrainingDraws`]), a `flow` table built by the prior registry
//! ([`crate::FlowPlugin`]), and the pipeline, which trains each stage's flow
//! tables once per run and keeps the models next to the stage's chain
//! ([`FlowTrainer`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use ndarray::{Array2, Axis};
use seqcal_api::{ChainDraws, ChainRef, ParamSpace, PriorError, StageContext};
use toml::{Table, Value};

use crate::error::{FlowError, Result};
use crate::options::CheckedFlowOptions;
use crate::prior::{Draws, FlowPrior, SourceLogDensity};
use crate::table::{for_each_flow, FlowSource, FlowTable, KIND};

/// The draws of a chain a flow trains on: importance weights checked (finite,
/// non-negative, not all zero), then draws of zero weight or with a
/// non-finite log density dropped.
#[derive(Debug, Clone)]
pub struct TrainingDraws {
    /// `n × d` draws.
    pub x: Array2<f64>,
    /// Log posterior density of each draw, when the chain has it.
    pub log_prob: Option<Vec<f64>>,
    /// Importance weights, when the chain has them.
    pub weights: Option<Vec<f64>>,
}

impl TrainingDraws {
    /// The usable draws of `chain`.
    ///
    /// # Errors
    /// A weight that is NaN, infinite or negative, or weights that are all zero.
    pub fn from_chain(chain: &ChainDraws) -> Result<Self> {
        let n = chain.x.nrows();
        if let Some(w) = &chain.weights {
            if w.len() != n {
                return Err(FlowError::invalid(format!("{} importance weights for {n} draws", w.len())));
            }
            if let Some((i, v)) = w.iter().enumerate().find(|(_, v)| !(v.is_finite() && **v >= 0.0)) {
                return Err(FlowError::invalid(format!("the importance weight of draw {i} is {v}: weights must be finite and non-negative")));
            }
            if w.iter().all(|v| *v == 0.0) {
                return Err(FlowError::invalid("every importance weight is zero: the chain carries no mass to train on"));
            }
        }
        let (lp, w) = (chain.log_prob.as_deref(), chain.weights.as_deref());
        let keep: Vec<usize> = (0..n).filter(|&i| lp.is_none_or(|lp| lp[i].is_finite()) && w.is_none_or(|w| w[i] > 0.0)).collect();
        let pick = |v: Option<&[f64]>| v.map(|v| keep.iter().map(|&i| v[i]).collect());
        Ok(TrainingDraws { x: chain.x.select(Axis(0), &keep), log_prob: pick(lp), weights: pick(w) })
    }

    /// The draws as [`FlowPrior::train`] takes them.
    pub fn draws(&self) -> Draws<'_> {
        Draws { x: self.x.view(), log_prob: self.log_prob.as_deref(), weights: self.weights.as_deref() }
    }
}

/// Trains a flow prior on a chain's draws. The prior is over `space` when
/// given (the chain's names must match it), else over the chain's names and
/// bounds; its sidecar records where the chain came from.
///
/// # Errors
/// Parameters that differ from the space's, bad weights, draws outside the
/// bounds, too few draws, settings too large for the memory, a diverging run;
/// each message starts with the chain's label.
pub fn train_on_draws(chain: &ChainDraws, space: Option<&ParamSpace>, opts: &CheckedFlowOptions) -> Result<FlowPrior> {
    train_on_draws_with(chain, space, opts, None)
}

/// [`train_on_draws`] with the chain's posterior at hand (`source`: its log
/// density at rows of parameter values, and the draws of the flow per step),
/// which the `jeffreys_reverse` loss evaluates at draws of the flow.
///
/// # Errors
/// As [`train_on_draws`]; `jeffreys_reverse` without `source`.
pub fn train_on_draws_with(
    chain: &ChainDraws,
    space: Option<&ParamSpace>,
    opts: &CheckedFlowOptions,
    source: Option<(&SourceLogDensity<'_>, usize)>,
) -> Result<FlowPrior> {
    let at = |e: FlowError| match e {
        FlowError::Invalid(m) => FlowError::Invalid(format!("{}: {m}", chain.label)),
        other => other,
    };
    let space = match space {
        Some(s) if s.names() != chain.names.as_slice() => {
            return Err(at(FlowError::invalid(format!(
                "the chain's parameters [{}] differ from the prior's [{}]: check the stage's parameters",
                chain.names.join(", "),
                s.names().join(", ")
            ))));
        }
        Some(s) => s.clone(),
        None => ParamSpace::new(chain.names.clone(), chain.bounds.clone()).map_err(|e| at(FlowError::invalid(e.to_string())))?,
    };
    // Unbounded: the flow's support is the whole space, for its density and its draws
    // alike (a box kept here would truncate the draws but not the density).
    let space = if opts.bounded {
        space
    } else {
        ParamSpace::new(space.names().to_vec(), vec![(f64::NEG_INFINITY, f64::INFINITY); space.dim()])
            .map_err(|e| at(FlowError::invalid(e.to_string())))?
    };
    let usable = TrainingDraws::from_chain(chain).map_err(at)?;
    let (spec, why) = opts.spec_for(space.dim());
    let mut prior = FlowPrior::train_with_source(space, opts.bounded, &usable.draws(), &spec, &opts.train, source).map_err(at)?;
    prior.set_chain_source(chain.source.clone());
    prior.set_arch_choice(why);
    Ok(prior)
}

/// The posteriors of a pipeline's stages, for the flows trained `from` them
/// with the `jeffreys_reverse` loss.
pub trait SourcePosteriors {
    /// Stage `stage`'s log posterior density (its prior × its likelihood, up to
    /// the constant of its chain's `log_prob`), or why it is not at hand.
    ///
    /// # Errors
    /// The reason, in words.
    fn log_posterior(&self, stage: &str) -> std::result::Result<&SourceLogDensity<'_>, String>;
}

/// No stage's posterior at hand.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSources;

impl SourcePosteriors for NoSources {
    fn log_posterior(&self, stage: &str) -> std::result::Result<&SourceLogDensity<'_>, String> {
        Err(format!("stage {stage:?}'s posterior is not at hand here"))
    }
}

/// Whether a table's loss can have what it needs: `jeffreys_reverse` evaluates
/// the posterior of the stage the flow is trained on, which only `from` names.
///
/// # Errors
/// `jeffreys_reverse` on a chain file (or a model), saying what to change.
pub fn check_source(table: &FlowTable) -> std::result::Result<(), PriorError> {
    if !table.options.loss.needs_source() {
        return Ok(());
    }
    match &table.source {
        FlowSource::Stage(_) => Ok(()),
        FlowSource::Chain(c) => Err(spec_err(format!(
            "loss = \"jeffreys_reverse\" evaluates the posterior of the stage the flow is trained on, which a chain file ({c:?}) does not carry: train `from` a stage of the pipeline, or use loss = \"jeffreys\" (its chain-only estimator)"
        ))),
        FlowSource::Model(_) => Ok(()),
    }
}

fn spec_err(e: impl std::fmt::Display) -> PriorError {
    PriorError::spec(KIND, e.to_string())
}

/// The flow of a parsed table: loaded (`model`) or trained on the chain it
/// names, through the context's chain source. The label names the flow in
/// messages.
///
/// # Errors
/// The model cannot be loaded, the chain cannot be provided, or training fails.
pub fn flow_of(table: &FlowTable, ctx: &StageContext<'_>) -> std::result::Result<(String, FlowPrior), PriorError> {
    if let FlowSource::Model(m) = &table.source {
        return Ok((m.clone(), FlowPrior::load(&ctx.resolve(m)).map_err(spec_err)?));
    }
    let opts = table.options.check().map_err(spec_err)?;
    let (chain, label) = chain_of(&table.source, ctx)?;
    Ok((label, train_on_draws(&chain, ctx.space, &opts).map_err(spec_err)?))
}

/// The draws a training table names, with its label (`stage A`, or the file as written).
fn chain_of(source: &FlowSource, ctx: &StageContext<'_>) -> std::result::Result<(ChainDraws, String), PriorError> {
    Ok(match source {
        FlowSource::Model(m) => return Err(spec_err(format!("model = {m:?} names a trained flow, not a chain"))),
        FlowSource::Chain(c) => (ctx.chains.draws(ChainRef::Path(&ctx.resolve(c)))?, c.clone()),
        FlowSource::Stage(s) => (ctx.chains.draws(ChainRef::Stage(s))?, format!("stage {s}")),
    })
}

/// Flow priors trained from the prior tables of one run. Two stages whose
/// tables train the same flow on the same draws (B → A with and without a
/// defensive mixture) share one training: training is seeded, so the copy is
/// exactly what a second training would give.
#[derive(Debug, Default)]
pub struct FlowTrainer {
    quiet: bool,
    /// Saved models by chain content hash, space and settings.
    trained: Mutex<BTreeMap<String, PathBuf>>,
}

impl FlowTrainer {
    /// A trainer for one run; `quiet` silences the training progress bars.
    pub fn new(quiet: bool) -> Self {
        FlowTrainer { quiet, trained: Mutex::new(BTreeMap::new()) }
    }

    /// Trains every `flow` table of a stage's prior (nested ones included) that
    /// names a chain (`from`, `chain`), or copies the model an identical table
    /// trained earlier in this run; saves each into `dir` as
    /// `flow_prior.safetensors`, `flow_prior_1.safetensors`, ... (with its
    /// sidecar) and rewrites the table to load it (`model = <absolute path>`),
    /// so that the registry then builds the stage's prior without training.
    /// Returns every flow of the prior (`model` tables too) with a label, in
    /// table order; `say` receives one line per training or reuse.
    ///
    /// # Errors
    /// A malformed table, a chain that cannot be provided, a failed training,
    /// or a model that cannot be written or read.
    pub fn train_tables(
        &self,
        prior: &mut Table,
        ctx: &StageContext<'_>,
        dir: &Path,
        say: &dyn Fn(String),
    ) -> std::result::Result<Vec<(String, FlowPrior)>, PriorError> {
        self.train_tables_with(prior, ctx, dir, say, &NoSources)
    }

    /// [`train_tables`](Self::train_tables) with the posteriors of the stages
    /// the flows train `from` (the `jeffreys_reverse` loss evaluates them).
    ///
    /// # Errors
    /// As [`train_tables`](Self::train_tables); `jeffreys_reverse` on a stage
    /// whose posterior `sources` does not have, saying why.
    pub fn train_tables_with(
        &self,
        prior: &mut Table,
        ctx: &StageContext<'_>,
        dir: &Path,
        say: &dyn Fn(String),
        sources: &dyn SourcePosteriors,
    ) -> std::result::Result<Vec<(String, FlowPrior)>, PriorError> {
        let mut flows = Vec::new();
        let mut k = 0;
        for_each_flow(prior, &mut |t| -> std::result::Result<(), PriorError> {
            let table = FlowTable::parse(t)?;
            if let FlowSource::Model(_) = table.source {
                flows.push(flow_of(&table, ctx)?);
                return Ok(());
            }
            let mut opts = table.options.check().map_err(spec_err)?;
            check_source(&table)?;
            let source = match (&table.source, opts.train.loss.needs_source()) {
                (FlowSource::Stage(s), true) => Some((sources.log_posterior(s).map_err(|why| {
                    spec_err(format!("loss = \"jeffreys_reverse\" evaluates stage {s:?}'s posterior at draws of the flow, and {why}: use loss = \"jeffreys\" (its chain-only estimator)"))
                })?, table.options.reverse_draws)),
                _ => None,
            };
            let (chain, label) = chain_of(&table.source, ctx)?;
            let path = dir.join(if k == 0 { "flow_prior.safetensors".to_string() } else { format!("flow_prior_{k}.safetensors") });
            k += 1;
            let space = ctx.space.map(|s| (s.names(), s.bounds()));
            let key =
                format!("{}|{}|{}", chain.hash, serde_json::to_string(&space).unwrap_or_default(), serde_json::to_string(&opts).unwrap_or_default());
            let earlier = self.trained.lock().map_err(|_| spec_err("a flow training panicked"))?.get(&key).cloned();
            let flow = match earlier {
                Some(src) => {
                    for (from, to) in [(src.clone(), path.clone()), (crate::io::sidecar_path(&src), crate::io::sidecar_path(&path))] {
                        std::fs::copy(&from, &to).map_err(|e| spec_err(format!("{}: {e}", to.display())))?;
                    }
                    say(format!("  the flow prior on {label} with these settings was trained earlier in this run: reusing {}", src.display()));
                    FlowPrior::load(&path).map_err(spec_err)?
                }
                None => {
                    say(format!(
                        "  training a flow prior on {label} ({} draws, loss {}, {} steps)",
                        chain.x.nrows(),
                        opts.train.loss,
                        opts.train.steps
                    ));
                    opts.train.quiet = self.quiet;
                    let t0 = Instant::now();
                    let flow = train_on_draws_with(&chain, ctx.space, &opts, source).map_err(spec_err)?;
                    flow.save(&path).map_err(spec_err)?;
                    let m = flow.sidecar().metrics.clone().unwrap_or_default();
                    let check = match (m.heldout_kl, m.heldout_floor) {
                        (Some(k), Some(f)) => format!(", held-out check {k:.4} (floor {f:.4})"),
                        _ => String::new(),
                    };
                    let stop = if m.stopped_at_floor {
                        ", stopped at the floor"
                    } else if m.stopped_on_plateau {
                        ", stopped when the check stopped improving"
                    } else {
                        ""
                    };
                    say(format!("  flow trained in {:.1} s ({} steps{stop}{check}) -> {}", t0.elapsed().as_secs_f64(), m.steps, path.display()));
                    self.trained.lock().map_err(|_| spec_err("a flow training panicked"))?.insert(key, path.clone());
                    flow
                }
            };
            for key in ["from", "chain"] {
                t.remove(key);
            }
            // Absolute: relative paths in tables resolve against the pipeline
            // file's folder, not the working directory `dir` may be relative to.
            let abs = std::path::absolute(&path).map_err(|e| spec_err(format!("{}: {e}", path.display())))?;
            t.insert("model".into(), Value::String(abs.display().to_string()));
            flows.push((label, flow));
            Ok(())
        })?;
        Ok(flows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seqcal_api::{ChainError, ChainSource, NoChains, PriorFactory};

    /// One stage, `A`: 400 draws on the box [0, 1] x [-1, 2].
    struct OneStage(ChainDraws);

    impl ChainSource for OneStage {
        fn draws(&self, chain: ChainRef<'_>) -> std::result::Result<ChainDraws, ChainError> {
            match chain {
                ChainRef::Stage("A") => Ok(self.0.clone()),
                other => NoChains.draws(other),
            }
        }
    }

    fn stage_a() -> OneStage {
        let x = Array2::from_shape_fn((400, 2), |(i, j)| {
            let u = ((i * 7919 + j * 31) % 397) as f64 / 397.0 * 0.98 + 0.01;
            if j == 0 {
                u
            } else {
                -1.0 + 3.0 * u * u
            }
        });
        OneStage(ChainDraws {
            label: "stage A".into(),
            source: "A.h5".into(),
            names: vec!["a".into(), "b".into()],
            bounds: vec![(0.0, 1.0), (-1.0, 2.0)],
            x,
            log_prob: None,
            weights: None,
            burn: 0,
            hash: "h".into(),
        })
    }

    /// No factory is needed: the tables below have no nested priors.
    struct NoFactory;

    impl PriorFactory for NoFactory {
        fn build(&self, _: &Table, _: &StageContext<'_>) -> std::result::Result<Box<dyn seqcal_api::Prior>, PriorError> {
            Err(PriorError::spec("?", "no nested priors here"))
        }
        fn kinds(&self) -> Vec<String> {
            Vec::new()
        }
    }

    /// `bounded = false` in a stage's table: the flow's support is the whole space for
    /// its density and its draws alike, not the stage's box (which would keep the draws
    /// inside while the density reaches past it); bounded, both stop at the box.
    #[test]
    fn an_unbounded_table_gives_one_support_to_density_and_draws() {
        use rand::SeedableRng;
        use seqcal_api::Prior;
        let dir = tempfile::tempdir().unwrap();
        let chains = stage_a();
        let space = ParamSpace::new(vec!["a".into(), "b".into()], vec![(0.0, 1.0), (-1.0, 2.0)]).unwrap();
        let ctx = StageContext { space: Some(&space), base_dir: dir.path(), chains: &chains, factory: &NoFactory };
        let table = "kind = \"flow\"\nfrom = \"A\"\nloss = \"nll\"\nlayers = 1\nhidden = 8\nsteps = 30\nbatch = 100\narch = \"realnvp\"";
        let outside = |x: &[f64]| !(0.0..=1.0).contains(&x[0]) || !(-1.0..=2.0).contains(&x[1]);
        for bounded in [false, true] {
            let mut t: Table = format!("{table}\nbounded = {bounded}").parse().unwrap();
            let (_, flow) = trainer_flow(&mut t, &ctx, dir.path());
            let x = flow.sample(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1), 4000);
            let mut lp = vec![0.0; x.nrows()];
            flow.log_prob_batch(x.view(), &mut lp);
            assert!(lp.iter().all(|v| v.is_finite()), "every draw lies where the density is positive");
            let out = x.rows().into_iter().filter(|r| outside(r.as_slice().unwrap())).count();
            let past = flow.log_prob(&[-0.5, 0.5]);
            if bounded {
                assert_eq!((out, past), (0, f64::NEG_INFINITY), "bounded: neither reaches past the box");
            } else {
                assert!(out > 40, "unbounded: {out} of 4000 draws past the box");
                assert!(past.is_finite(), "unbounded: density {past} past the box");
                assert!(flow.bounds().iter().all(|b| b.0 == f64::NEG_INFINITY && b.1 == f64::INFINITY), "{:?}", flow.bounds());
            }
        }
    }

    fn trainer_flow(t: &mut Table, ctx: &StageContext<'_>, dir: &Path) -> (String, FlowPrior) {
        FlowTrainer::new(true).train_tables(t, ctx, dir, &|_| {}).unwrap().remove(0)
    }

    /// Two stages training the same flow on the same draws share one training;
    /// each table then loads the model saved in its stage's folder.
    #[test]
    fn a_run_trains_each_flow_once_and_rewrites_the_tables_to_load_it() {
        let dir = tempfile::tempdir().unwrap();
        let chains = stage_a();
        let ctx = StageContext { space: None, base_dir: dir.path(), chains: &chains, factory: &NoFactory };
        let trainer = FlowTrainer::new(true);
        let table = "kind = \"flow\"\nfrom = \"A\"\nloss = \"nll\"\nlayers = 2\nhidden = 8\nsteps = 30\nbatch = 100";
        let said = std::cell::RefCell::new(Vec::new());
        let say = |m: String| said.borrow_mut().push(m);
        let mut runs = Vec::new();
        for stage in ["s1", "s2"] {
            let out = dir.path().join(stage);
            std::fs::create_dir_all(&out).unwrap();
            let mut t: Table = table.parse().unwrap();
            let flows = trainer.train_tables(&mut t, &ctx, &out, &say).unwrap();
            assert_eq!((flows.len(), flows[0].0.as_str()), (1, "stage A"));
            assert!(!t.contains_key("from"));
            let model = t["model"].as_str().unwrap();
            assert_eq!(Path::new(model), std::path::absolute(out.join("flow_prior.safetensors")).unwrap());
            runs.push(std::fs::read(model).unwrap());
        }
        assert_eq!(runs[0], runs[1], "the reused model is the trained one");
        let said = said.into_inner();
        assert!(said[0].contains("training a flow prior on stage A (400 draws"), "{said:?}");
        assert!(said.iter().any(|m| m.contains("trained earlier in this run: reusing")), "{said:?}");
        assert_eq!(said.iter().filter(|m| m.contains("training a flow prior")).count(), 1, "{said:?}");
        // Other settings train again.
        let mut t: Table = table.replace("steps = 30", "steps = 31").parse().unwrap();
        trainer.train_tables(&mut t, &ctx, dir.path(), &|_| {}).unwrap();
        let e = trainer.train_tables(&mut "kind = \"flow\"\nfrom = \"B\"".parse().unwrap(), &ctx, dir.path(), &|_| {}).err().unwrap().to_string();
        assert!(e.contains("stage \"B\" has no result"), "{e}");
    }
}

//! Prior kind `flow`: a normalizing flow trained on an earlier posterior chain
//! (see [`seqcal_flow`]), optionally mixed with the stage's base prior.
//!
//! ```toml
//! kind = "flow"
//! model = "prior.safetensors"        # a trained model (sidecar prior.json next to it), or
//! chain = "stage1.h5"                # train on a chain file, or
//! from = "stage1"                    # train on an earlier stage's chain
//! loss = "kl"                        # kl | jeffreys | nll (training settings, all optional)
//! layers = 6                         # coupling layers (even: N = layers / 2 pairs)
//! hidden = 64
//! arch = "realnvp"                   # realnvp | maf | nsf_coupling | nsf_ar
//! bins = 8                           # spline bins (nsf_*)
//! tail_bound = 5.0                   # splines on [-B, B] of the standardized coordinates (nsf_*)
//! lu = false                         # LU-decomposed linear layer between flow layers
//! steps = 5000
//! batch = 1000
//! lr = 1e-3
//! lr_schedule = "cosine"             # cosine (hold, then decay to zero) | constant
//! seed = 0
//! epsilon = 0.05                     # optional defensive mixture with `base`
//! base = { kind = "uniform", bounds = [[0, 1], [0, 1]] }
//! ```
//!
//! # Reference
//! Roch & Shen, *Learning informed prior distributions with normalizing flows for
//! Bayesian analysis*.

use std::path::Path;

use seqcal_api::{ParamSpace, Prior, PriorError, PriorPlugin, StageContext};
use seqcal_flow::prior::Draws;
use seqcal_flow::{Activation, FlowPrior, FlowSpec, Loss, LrSchedule, TrainSettings};

use super::{spec, DefensiveMixture};
use crate::chain::{read_any, Chain};
use crate::Error;

const KIND: &str = "flow";

/// Architecture and training settings of a flow prior, as the `flow` table and
/// `seqcal prior train` take them.
#[derive(Debug, Clone)]
pub struct FlowOptions {
    /// Architecture (its `dim` is set from the chain).
    pub spec: FlowSpec,
    /// Training settings.
    pub train: TrainSettings,
    /// Logit/log transform of bounded parameters (default on).
    pub bounded: bool,
}

impl Default for FlowOptions {
    fn default() -> Self {
        FlowOptions { spec: FlowSpec::new(1), train: TrainSettings::default(), bounded: true }
    }
}

impl FlowOptions {
    /// Sets the number of coupling layers (`2N`).
    ///
    /// # Errors
    /// An odd or zero number.
    pub fn set_layers(&mut self, layers: usize) -> Result<(), String> {
        if layers == 0 || layers % 2 != 0 {
            return Err(format!("layers = {layers}: the flow needs an even, positive number of coupling layers (pairs of even/odd couplings)"));
        }
        self.spec.pairs = layers / 2;
        Ok(())
    }
}

/// The draws of a chain (flattened, draws of zero weight or zero density dropped)
/// with their log densities and weights.
pub struct ChainDraws {
    /// `n × d` draws.
    pub x: ndarray::Array2<f64>,
    /// Log posterior density of each draw, when the chain has it.
    pub log_prob: Option<Vec<f64>>,
    /// Importance weights, when the chain has them.
    pub weights: Option<Vec<f64>>,
}

impl ChainDraws {
    /// Flattens `chain`.
    pub fn from_chain(chain: &Chain) -> Self {
        let flat = chain.flat();
        let lp = chain.log_prob.as_ref().map(|a| Chain::flat_column(a).to_vec());
        let w = chain.weights.as_ref().map(|a| Chain::flat_column(a).to_vec());
        let keep: Vec<usize> = (0..flat.nrows())
            .filter(|&i| lp.as_ref().is_none_or(|lp| lp[i].is_finite()) && w.as_ref().is_none_or(|w| w[i] > 0.0))
            .collect();
        let x = flat.select(ndarray::Axis(0), &keep);
        let pick = |v: Option<Vec<f64>>| v.map(|v| keep.iter().map(|&i| v[i]).collect());
        ChainDraws { x, log_prob: pick(lp), weights: pick(w) }
    }
}

/// Trains a flow prior on a chain. The prior is over `space` when given (the
/// chain's names must match it), else over the chain's names and bounds.
///
/// # Errors
/// Parameter mismatch, bad data or settings; messages say what to change.
pub fn train_on_chain(chain: &Chain, source: &Path, space: Option<&ParamSpace>, opts: &FlowOptions) -> Result<FlowPrior, Error> {
    let space = match space {
        Some(s) => {
            if s.names() != chain.names.as_slice() {
                return Err(Error::chain(
                    source,
                    format!("the chain's parameters [{}] differ from the prior's [{}]: check the stage's parameters", chain.names.join(", "), s.names().join(", ")),
                ));
            }
            s.clone()
        }
        None => ParamSpace::new(chain.names.clone(), chain.bounds.clone()).map_err(|e| Error::chain(source, e.to_string()))?,
    };
    let draws = ChainDraws::from_chain(chain);
    let mut fs = opts.spec.clone();
    fs.dim = space.dim();
    let d = Draws { x: draws.x.view(), log_prob: draws.log_prob.as_deref(), weights: draws.weights.as_deref() };
    let mut prior = FlowPrior::train(space, opts.bounded, &d, &fs, &opts.train).map_err(|e| Error::chain(source, e.to_string()))?;
    prior.set_chain_source(source.display().to_string());
    Ok(prior)
}

fn usize_key(t: &toml::Table, key: &str) -> Result<Option<usize>, PriorError> {
    match t.get(key) {
        None => Ok(None),
        Some(toml::Value::Integer(i)) if *i >= 0 => Ok(Some(*i as usize)),
        Some(v) => Err(PriorError::spec(KIND, format!("{key:?} must be a non-negative integer, got {v}"))),
    }
}

fn str_key<'t>(t: &'t toml::Table, key: &str) -> Result<Option<&'t str>, PriorError> {
    match t.get(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(PriorError::spec(KIND, format!("{key:?} must be a string, got {v}"))),
    }
}

/// Reads the training settings of a `flow` table.
///
/// # Errors
/// A key of the wrong type or out of range.
pub fn options_from_table(t: &toml::Table) -> Result<FlowOptions, PriorError> {
    let bad = |e: String| PriorError::spec(KIND, e);
    let mut o = FlowOptions::default();
    if let Some(l) = str_key(t, "loss")? {
        o.train.loss = Loss::parse(l).map_err(|e| bad(e.to_string()))?;
    }
    if let Some(l) = str_key(t, "lr_schedule")? {
        o.train.lr_schedule = LrSchedule::parse(l).map_err(|e| bad(e.to_string()))?;
    }
    if let Some(a) = str_key(t, "activation")? {
        o.spec.activation = Activation::parse(a).map_err(|e| bad(e.to_string()))?;
    }
    if let Some(l) = usize_key(t, "layers")? {
        o.set_layers(l).map_err(bad)?;
    }
    if let Some(h) = usize_key(t, "hidden")? {
        o.spec.hidden = h;
    }
    if let Some(h) = usize_key(t, "depth")? {
        o.spec.depth = h;
    }
    if let Some(v) = usize_key(t, "steps")? {
        o.train.steps = v;
    }
    if let Some(v) = usize_key(t, "batch")? {
        o.train.batch = v;
    }
    if let Some(v) = usize_key(t, "seed")? {
        o.train.seed = v as u64;
    }
    if let Some(v) = spec::f64_key(t, KIND, "lr")? {
        o.train.lr = v;
    }
    if let Some(v) = spec::f64_key(t, KIND, "val_fraction")? {
        o.train.val_fraction = v;
    }
    match t.get("bounded") {
        None => {}
        Some(toml::Value::Boolean(b)) => o.bounded = *b,
        Some(v) => return Err(bad(format!("\"bounded\" must be true or false, got {v}"))),
    }
    if let Some(a) = str_key(t, "arch")? {
        o.spec.kind = seqcal_flow::FlowKind::parse(a).map_err(|e| bad(e.to_string()))?;
    }
    if let Some(b) = usize_key(t, "bins")? {
        o.spec.bins = b;
    }
    if let Some(v) = spec::f64_key(t, KIND, "tail_bound")? {
        o.spec.tail_bound = v;
    }
    match t.get("lu") {
        None => {}
        Some(toml::Value::Boolean(b)) => o.spec.lu = *b,
        Some(v) => return Err(bad(format!("\"lu\" must be true or false, got {v}"))),
    }
    if let Some(b) = t.get("actnorm") {
        o.spec.actnorm = b.as_bool().ok_or_else(|| bad(format!("\"actnorm\" must be true or false, got {b}")))?;
    }
    o.spec.check().map_err(|e| bad(e.to_string()))?;
    o.train.check().map_err(|e| bad(e.to_string()))?;
    Ok(o)
}

/// The `flow` prior plugin.
pub struct FlowPlugin;

impl PriorPlugin for FlowPlugin {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn summary(&self) -> &'static str {
        "normalizing flow trained on a chain: model = \"f.safetensors\" | chain = \"c.h5\" | from = \"<stage>\"; loss, layers, hidden, arch (realnvp|maf|nsf_coupling|nsf_ar), bins, tail_bound, lu, steps, batch, lr, lr_schedule, seed; epsilon + base for a defensive mixture"
    }

    fn build(&self, t: &toml::Table, ctx: &StageContext<'_>) -> Result<Box<dyn Prior>, PriorError> {
        spec::check_keys(
            t,
            KIND,
            &["model", "chain", "from", "loss", "layers", "hidden", "depth", "activation", "actnorm", "arch", "bins", "tail_bound", "lu", "steps", "batch", "lr", "lr_schedule", "seed", "val_fraction", "bounded", "epsilon", "base"],
        )?;
        let sources = ["model", "chain", "from"].iter().filter(|k| t.contains_key(**k)).count();
        if sources != 1 {
            return Err(PriorError::spec(KIND, "give exactly one of model = \"prior.safetensors\", chain = \"file.h5\" or from = \"<stage>\""));
        }
        let epsilon = spec::f64_key(t, KIND, "epsilon")?;
        if epsilon.is_some() != t.contains_key("base") {
            return Err(PriorError::spec(KIND, "a defensive mixture needs both epsilon (e.g. 0.05) and base = { kind = ... } (the stage's base prior)"));
        }
        let flow: FlowPrior = if let Some(m) = str_key(t, "model")? {
            FlowPrior::load(&ctx.resolve(m)).map_err(|e| PriorError::spec(KIND, e.to_string()))?
        } else {
            let path = match (str_key(t, "chain")?, str_key(t, "from")?) {
                (Some(c), _) => ctx.resolve(c),
                (_, Some(stage)) => ctx.stage_chains.get(stage).cloned().ok_or_else(|| {
                    let known: Vec<&str> = ctx.stage_chains.keys().map(String::as_str).collect();
                    PriorError::spec(KIND, format!("from = {stage:?}: no earlier stage has that name (known: {})", if known.is_empty() { "none".into() } else { known.join(", ") }))
                })?,
                _ => return Err(PriorError::spec(KIND, "give exactly one of model, chain or from")),
            };
            let opts = options_from_table(t)?;
            let chain = read_any(&path).map_err(|e| PriorError::spec(KIND, e.to_string()))?;
            train_on_chain(&chain, &path, ctx.space, &opts).map_err(|e| PriorError::spec(KIND, e.to_string()))?
        };
        if let Some(space) = ctx.space {
            if flow.names() != space.names() {
                return Err(PriorError::spec(KIND, format!("the flow is over [{}] but the stage's parameters are [{}]", flow.names().join(", "), space.names().join(", "))));
            }
        }
        match epsilon {
            None => Ok(Box::new(flow)),
            Some(eps) => {
                let base = ctx.factory.build(spec::table(t, KIND, "base")?, ctx)?;
                Ok(Box::new(DefensiveMixture::new(Box::new(flow), base, eps)?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prior::PriorRegistry;
    use ndarray::Array3;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};
    use std::collections::BTreeMap;

    /// A bounded 2-D chain (40 steps x 50 walkers) of a Gaussian squeezed into [0, 1]^2.
    fn chain_file(dir: &Path) -> std::path::PathBuf {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let draws = Array3::from_shape_fn((40, 50, 2), |_| {
            let z: f64 = StandardNormal.sample(&mut rng);
            1.0 / (1.0 + (-(0.3 + 0.5 * z)).exp())
        });
        let mut chain = Chain::from_draws(draws);
        chain.names = vec!["a".into(), "b".into()];
        chain.bounds = vec![(0.0, 1.0); 2];
        let path = dir.join("stage1.h5");
        crate::chain::write_any(&chain, &path).unwrap();
        path
    }

    fn build(toml_text: &str, dir: &Path, stages: &BTreeMap<String, std::path::PathBuf>) -> Result<Box<dyn Prior>, PriorError> {
        let reg = PriorRegistry::builtin();
        let ctx = StageContext { space: None, base_dir: dir, stage_chains: stages, factory: &reg };
        seqcal_api::PriorFactory::build(&reg, &toml_text.parse().unwrap(), &ctx)
    }

    #[test]
    fn flow_kind_trains_on_a_chain_saves_and_mixes_with_a_base_prior() {
        let dir = tempfile::tempdir().unwrap();
        let path = chain_file(dir.path());
        let mut stages = BTreeMap::new();
        stages.insert("stage1".to_string(), path.clone());
        let settings = "loss = \"nll\"\nlayers = 2\nhidden = 16\nsteps = 150\nbatch = 200\nseed = 3\n";
        let p = build(&format!("kind = \"flow\"\nfrom = \"stage1\"\n{settings}"), dir.path(), &stages).unwrap();
        assert_eq!(p.names(), ["a", "b"]);
        assert_eq!(p.bounds(), [(0.0, 1.0), (0.0, 1.0)]);
        assert!(p.log_prob(&[0.57, 0.57]).is_finite() && p.log_prob(&[1.2, 0.5]) == f64::NEG_INFINITY);
        assert!(p.describe().contains("flow"));
        let q = build(&format!("kind = \"flow\"\nchain = \"stage1.h5\"\n{settings}"), dir.path(), &stages).unwrap();
        // Same chain, same seed: the same prior.
        assert_eq!(p.log_prob(&[0.3, 0.6]), q.log_prob(&[0.3, 0.6]));
        let m = build(&format!("kind = \"flow\"\nfrom = \"stage1\"\nepsilon = 0.1\nbase = {{ kind = \"uniform\", names = [\"a\", \"b\"], bounds = [[0, 1], [0, 1]] }}\n{settings}"), dir.path(), &stages).unwrap();
        let far = [0.01, 0.99];
        let expect = (0.9 * p.log_prob(&far).exp() + 0.1).ln();
        assert!((m.log_prob(&far) - expect).abs() < 1e-9, "{} vs {expect}", m.log_prob(&far));
    }

    #[test]
    fn architecture_keys_are_read_and_checked() {
        let t: toml::Table = "arch = \"nsf_ar\"\nbins = 4\ntail_bound = 3.0\nlu = true\n".parse().unwrap();
        let o = options_from_table(&t).unwrap();
        assert_eq!((o.spec.kind, o.spec.bins, o.spec.tail_bound, o.spec.lu), (seqcal_flow::FlowKind::NsfAr, 4, 3.0, true));
        let d = options_from_table(&toml::Table::new()).unwrap();
        assert_eq!((d.spec.kind, d.spec.lu), (seqcal_flow::FlowKind::Realnvp, false));
        for (text, expect) in [("arch = \"glow\"", "unknown flow architecture"), ("lu = 1", "\"lu\" must be"), ("bins = 0", "bins"), ("tail_bound = -1.0", "tail bound")] {
            let e = options_from_table(&text.parse().unwrap()).err().unwrap();
            assert!(e.to_string().contains(expect), "{text}: {e}");
        }
    }

    #[test]
    fn flow_kind_errors_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let stages = BTreeMap::new();
        let e = build("kind = \"flow\"\nfrom = \"nope\"", dir.path(), &stages).err().unwrap();
        assert!(e.to_string().contains("no earlier stage"), "{e}");
        let e = build("kind = \"flow\"", dir.path(), &stages).err().unwrap();
        assert!(e.to_string().contains("exactly one"), "{e}");
        let e = build("kind = \"flow\"\nchain = \"c.h5\"\nloss = \"mse\"", dir.path(), &stages).err().unwrap();
        assert!(e.to_string().contains("unknown loss"), "{e}");
        let e = build("kind = \"flow\"\nmodel = \"missing.safetensors\"", dir.path(), &stages).err().unwrap();
        assert!(e.to_string().contains("missing.safetensors"), "{e}");
        let e = build("kind = \"flow\"\nchain = \"c.h5\"\nlayers = 3", dir.path(), &stages).err().unwrap();
        assert!(e.to_string().contains("even"), "{e}");
        let e = build("kind = \"flow\"\nchain = \"c.h5\"\nepsilon = 0.1", dir.path(), &stages).err().unwrap();
        assert!(e.to_string().contains("base"), "{e}");
        let e = build("kind = \"flow\"\nchain = \"c.h5\"\nlr_schedule = \"step\"", dir.path(), &stages).err().unwrap();
        assert!(e.to_string().contains("constant or cosine"), "{e}");
    }

    #[test]
    fn flow_table_sets_the_learning_rate_schedule() {
        let t = |s: &str| options_from_table(&s.parse().unwrap()).unwrap().train.lr_schedule;
        assert_eq!(t(""), LrSchedule::Cosine);
        assert_eq!(t("lr_schedule = \"constant\""), LrSchedule::Constant);
        assert_eq!(t("lr_schedule = \"cosine\""), LrSchedule::Cosine);
    }
}

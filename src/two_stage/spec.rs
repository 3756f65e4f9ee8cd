//! The two-stage spec file: the coordinates of the composite target, its
//! sample-based components, its analytic terms, how they combine, and the
//! settings of both stages.
//!
//! ```toml
//! seed = 1
//! coordinates = ["theta1", "theta2", { name = "gamma", bounds = [-50, 50] }]
//! # or: names = ["theta1", "theta2", "gamma"] with optional bounds = [[lo, hi], ...]
//! combine = "product"                 # or { mixture = [0.5, 0.5] }, one weight per component
//!
//! [[component]]
//! label = "study 1"                   # optional; default "component 1", ...
//! chain = "software1.h5"              # HDF5 or CSV chain; or from = "<stage>" in a pipeline
//! names = ["theta"]                   # columns of the chain, in order
//! coords = ["theta1"]                 # the coordinates they are (default: the same names)
//! discard = 0                         # iterations of the chain to drop first
//! divide = { kind = "normal", mean = 0, sd = 0.5 }   # the software prior, divided out
//! stage1 = { steps = 3000 }           # this component's stage-1 keys over [stage1]
//!
//! [[term]]
//! kind = "hierarchical_normal"        # normal, lognormal, uniform, flat, hierarchical_normal
//! coords = ["theta1", "theta2", "gamma"]
//! tau = 2.0
//!
//! [stage1]                            # the keys of `seqcal prior train` (loss default nll)
//! layers = 4
//! steps = 4000
//!
//! [stage2]                            # the reverse-KL flow
//! layers = 4
//! steps = 3000
//! ```
//!
//! [`Spec::load`] parses the file and makes every check that needs no chain
//! and no term library: unknown keys, duplicate or unknown coordinates, a
//! coordinate no factor covers, names and coordinates of different lengths,
//! mixture weights, the settings of both stages. Chains are checked when they
//! are read (`load.rs`), terms when the target is built (`target.rs`); all of
//! it happens before any training.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use seqcal_flow::{Activation, Arch, CheckedFlowOptions, FlowOptions};
use serde::Deserialize;

use crate::{Error, Result};

/// One coordinate of the target: its name and support.
#[derive(Debug, Clone, PartialEq)]
pub struct Coordinate {
    /// Its name (unique).
    pub name: String,
    /// `(lower, upper)`; `±∞` where unbounded (the default).
    pub bounds: (f64, f64),
}

/// Where a component's draws come from.
#[derive(Debug, Clone, PartialEq)]
pub enum DrawSource {
    /// `chain = "file"`: an HDF5 or CSV chain file (resolved against the spec's folder).
    File(PathBuf),
    /// `from = "<stage>"`: an earlier stage of a pipeline, after its burn-in.
    Stage(String),
}

/// A sample-based component as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentFile {
    label: Option<String>,
    chain: Option<PathBuf>,
    from: Option<String>,
    names: Vec<String>,
    coords: Option<Vec<String>>,
    #[serde(default)]
    discard: usize,
    divide: Option<toml::Table>,
    stage1: Option<toml::Table>,
}

/// The keys of `[stage2]`: the reverse-KL flow's architecture and training.
/// Every key is optional; unset keys take the engine's documented defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage2Options {
    /// Architecture (`realnvp`, `maf`, `nsf_coupling`, `nsf_ar`, `auto`).
    pub arch: Option<Arch>,
    /// Pairs of transforms.
    pub layers: Option<usize>,
    /// Hidden width of each transform's network.
    pub hidden: Option<usize>,
    /// Hidden layers of each transform's network.
    pub depth: Option<usize>,
    /// `tanh`, `relu` or `silu`.
    pub activation: Option<Activation>,
    /// An ActNorm layer after each pair.
    pub actnorm: Option<bool>,
    /// Spline bins (`nsf_*`).
    pub bins: Option<usize>,
    /// Spline range `[-B, B]` (`nsf_*`).
    pub tail_bound: Option<f64>,
    /// An LU-decomposed linear layer between transforms.
    pub lu: Option<bool>,
    /// Adam steps.
    pub steps: Option<usize>,
    /// Draws from the flow per step.
    pub batch: Option<usize>,
    /// Learning rate.
    pub lr: Option<f64>,
    /// Draws for the final ESS and log Z estimates.
    pub eval_draws: Option<usize>,
}

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    #[serde(default)]
    seed: u64,
    coordinates: Option<Vec<toml::Value>>,
    names: Option<Vec<String>>,
    bounds: Option<Vec<[f64; 2]>>,
    #[serde(default)]
    component: Vec<ComponentFile>,
    #[serde(default)]
    term: Vec<toml::Table>,
    combine: Option<toml::Value>,
    #[serde(default)]
    stage1: toml::Table,
    #[serde(default)]
    stage2: Stage2Options,
}

/// A sample-based component, checked.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    /// Its label in messages and the report.
    pub label: String,
    /// Where its draws come from.
    pub source: DrawSource,
    /// Columns of the chain, in order.
    pub names: Vec<String>,
    /// Indices into the target's coordinates, one per name.
    pub coords: Vec<usize>,
    /// Iterations of the chain dropped first.
    pub discard: usize,
    /// The density divided out (its `kind` and keys), if any.
    pub divide: Option<(String, toml::Table)>,
    /// Stage-1 flow options of this component.
    pub stage1: CheckedFlowOptions,
}

/// An analytic term, checked as far as the spec can: its kind, coordinates
/// and remaining keys (which the term library checks).
#[derive(Debug, Clone)]
pub struct TermSpec {
    /// The term's kind.
    pub kind: String,
    /// Indices into the target's coordinates.
    pub coords: Vec<usize>,
    /// The term's other keys.
    pub table: toml::Table,
}

/// How the components combine.
#[derive(Debug, Clone, PartialEq)]
pub enum CombineSpec {
    /// The product of the components (the default).
    Product,
    /// A weighted mixture, one positive weight per component, normalized.
    Mixture(Vec<f64>),
}

/// A checked spec file.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The file (for messages).
    pub path: PathBuf,
    /// Its folder: relative chain paths resolve against it.
    pub base_dir: PathBuf,
    /// The seed of both stages (the command line's `--seed` replaces it).
    pub seed: u64,
    /// The coordinates of the target.
    pub coordinates: Vec<Coordinate>,
    /// The sample-based components.
    pub components: Vec<ComponentSpec>,
    /// The analytic terms.
    pub terms: Vec<TermSpec>,
    /// The combination of the components.
    pub combine: CombineSpec,
    /// The stage-2 settings as written.
    pub stage2: Stage2Options,
}

/// The stage-1 loss unless the spec sets one: maximum likelihood on the draws,
/// which needs no log density in the chain.
const STAGE1_DEFAULT_LOSS: &str = "nll";

impl Spec {
    /// Reads, parses and checks a spec file.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file and the first problem.
    pub fn load(path: &Path) -> Result<Spec> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, path, &base_dir)
    }

    /// Parses and checks spec text; `path` names it in messages, relative
    /// chain paths resolve against `base_dir`.
    ///
    /// # Errors
    /// [`Error::Config`] naming `path` and the first problem.
    pub fn parse(text: &str, path: &Path, base_dir: &Path) -> Result<Spec> {
        let bad = |m: String| Error::config(path, m);
        let f: SpecFile = toml::from_str(text).map_err(|e| bad(toml_error(text, &e)))?;
        let coordinates = match (&f.coordinates, &f.names) {
            (Some(c), None) if f.bounds.is_none() => parse_coordinates(c),
            (None, Some(n)) => names_and_bounds(n, f.bounds.as_deref()),
            (Some(_), None) => {
                Err("bounds goes with names = [...]; with coordinates, give each its own { name = ..., bounds = [lower, upper] }".into())
            }
            _ => {
                Err("give the target's coordinates once: names = [\"a\", \"b\"] (with optional bounds = [[lo, hi], ...]) or coordinates = [...]"
                    .into())
            }
        }
        .map_err(bad)?;
        let index = |what: &str, name: &str| -> Result<usize> {
            coordinates.iter().position(|c| c.name == name).ok_or_else(|| {
                let known: Vec<&str> = coordinates.iter().map(|c| c.name.as_str()).collect();
                bad(format!("{what}: {name:?} is not a coordinate; coordinates: {}", known.join(", ")))
            })
        };
        // The shared stage-1 settings first, so that their message names [stage1].
        stage1_options(&f.stage1, None).map_err(bad)?;
        if f.component.is_empty() && f.term.is_empty() {
            return Err(bad("the spec has no [[component]] and no [[term]]: the target needs at least one factor".into()));
        }
        let mut components = Vec::new();
        for (i, c) in f.component.iter().enumerate() {
            let label = c.label.clone().unwrap_or_else(|| format!("component {}", i + 1));
            let what = format!("[[component]] {label:?}");
            let source = match (&c.chain, &c.from) {
                (Some(p), None) => DrawSource::File(if p.is_absolute() { p.clone() } else { base_dir.join(p) }),
                (None, Some(s)) => DrawSource::Stage(s.clone()),
                _ => return Err(bad(format!("{what}: give exactly one of chain = \"file.h5\" (or .csv) and from = \"<stage>\""))),
            };
            if c.names.is_empty() {
                return Err(bad(format!("{what}: names is empty: list the chain's columns this component uses")));
            }
            if let Some(d) = first_duplicate(&c.names) {
                return Err(bad(format!("{what}: names lists {d:?} twice")));
            }
            let coord_names = c.coords.clone().unwrap_or_else(|| c.names.clone());
            if coord_names.len() != c.names.len() {
                return Err(bad(format!(
                    "{what}: names has {} entries but coords has {}: give one coordinate per column",
                    c.names.len(),
                    coord_names.len()
                )));
            }
            if let Some(d) = first_duplicate(&coord_names) {
                return Err(bad(format!("{what}: coords lists {d:?} twice")));
            }
            let coords = coord_names.iter().map(|n| index(&format!("{what}: coords"), n)).collect::<Result<Vec<_>>>()?;
            let divide = c.divide.as_ref().map(|t| split_kind(t, &format!("{what}: divide"))).transpose().map_err(bad)?;
            let stage1 = stage1_options(&f.stage1, c.stage1.as_ref()).map_err(|m| bad(format!("{what}: {m}")))?;
            components.push(ComponentSpec { label, source, names: c.names.clone(), coords, discard: c.discard, divide, stage1 });
        }
        if let Some(d) = first_duplicate(&components.iter().map(|c| c.label.clone()).collect::<Vec<_>>()) {
            return Err(bad(format!("two components are labelled {d:?}")));
        }
        let mut terms = Vec::new();
        for (i, t) in f.term.iter().enumerate() {
            let what = format!("[[term]] {}", i + 1);
            let (kind, mut table) = split_kind(t, &what).map_err(bad)?;
            let what = format!("[[term]] {} ({kind})", i + 1);
            let names: Vec<String> = match table.remove("coords") {
                Some(v) => v.try_into().map_err(|_| bad(format!("{what}: coords must be a list of coordinate names")))?,
                None => return Err(bad(format!("{what}: missing key \"coords\": the coordinates this term is on"))),
            };
            if names.is_empty() {
                return Err(bad(format!("{what}: coords is empty")));
            }
            if let Some(d) = first_duplicate(&names) {
                return Err(bad(format!("{what}: coords lists {d:?} twice")));
            }
            let coords = names.iter().map(|n| index(&format!("{what}: coords"), n)).collect::<Result<Vec<_>>>()?;
            terms.push(TermSpec { kind, coords, table });
        }
        let covered: BTreeSet<usize> =
            components.iter().flat_map(|c| c.coords.iter()).chain(terms.iter().flat_map(|t| t.coords.iter())).copied().collect();
        let uncovered: Vec<&str> = coordinates.iter().enumerate().filter(|(i, _)| !covered.contains(i)).map(|(_, c)| c.name.as_str()).collect();
        if !uncovered.is_empty() {
            return Err(bad(format!(
                "no component or term covers the coordinate{} {}: the target would be improper in {}; add a term (kind = \"flat\" keeps it flat, within bounds) or drop the coordinate",
                if uncovered.len() == 1 { "" } else { "s" },
                uncovered.join(", "),
                if uncovered.len() == 1 { "it" } else { "them" }
            )));
        }
        let combine = parse_combine(f.combine.as_ref(), components.len()).map_err(bad)?;
        stage2_check(&f.stage2).map_err(|m| bad(format!("[stage2]: {m}")))?;
        Ok(Spec {
            path: path.to_path_buf(),
            base_dir: base_dir.to_path_buf(),
            seed: f.seed,
            coordinates,
            components,
            terms,
            combine,
            stage2: f.stage2,
        })
    }

    /// The coordinates' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.coordinates.iter().map(|c| c.name.clone()).collect()
    }

    /// The coordinates' bounds, in order.
    pub fn bounds(&self) -> Vec<(f64, f64)> {
        self.coordinates.iter().map(|c| c.bounds).collect()
    }

    /// The stages the components read (`from = "<stage>"`), in order of first use.
    pub fn stages_used(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in &self.components {
            if let DrawSource::Stage(s) = &c.source {
                if !out.contains(s) {
                    out.push(s.clone());
                }
            }
        }
        out
    }

    /// The chain files the components read.
    pub fn files_used(&self) -> Vec<PathBuf> {
        self.components
            .iter()
            .filter_map(|c| match &c.source {
                DrawSource::File(p) => Some(p.clone()),
                DrawSource::Stage(_) => None,
            })
            .collect()
    }
}

/// A TOML error with its line.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let line = e.span().map_or(1, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    format!("line {line}: {}", e.message().trim())
}

fn first_duplicate(names: &[String]) -> Option<String> {
    let mut seen = BTreeSet::new();
    names.iter().find(|n| !seen.insert(n.as_str())).cloned()
}

/// `coordinates = ["a", { name = "b", bounds = [0, 1] }]`.
fn parse_coordinates(items: &[toml::Value]) -> std::result::Result<Vec<Coordinate>, String> {
    if items.is_empty() {
        return Err("coordinates is empty: name the coordinates of the target".into());
    }
    let mut out: Vec<Coordinate> = Vec::new();
    for (i, v) in items.iter().enumerate() {
        let c = match v {
            toml::Value::String(s) => Coordinate { name: s.clone(), bounds: (f64::NEG_INFINITY, f64::INFINITY) },
            toml::Value::Table(t) => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Full {
                    name: String,
                    bounds: Option<[f64; 2]>,
                }
                let full: Full =
                    toml::Value::Table(t.clone()).try_into().map_err(|e: toml::de::Error| format!("coordinates[{i}]: {}", e.message().trim()))?;
                let b = full.bounds.map_or((f64::NEG_INFINITY, f64::INFINITY), |b| (b[0], b[1]));
                if b.0.is_nan() || b.1.is_nan() || b.0 >= b.1 {
                    return Err(format!("coordinate {:?}: bounds [{}, {}] must have lower < upper", full.name, b.0, b.1));
                }
                Coordinate { name: full.name, bounds: b }
            }
            other => return Err(format!("coordinates[{i}]: expected a name or {{ name = ..., bounds = [lower, upper] }}, got {other}")),
        };
        if c.name.is_empty() {
            return Err(format!("coordinates[{i}]: the name is empty"));
        }
        if out.iter().any(|o| o.name == c.name) {
            return Err(format!("coordinates lists {:?} twice", c.name));
        }
        out.push(c);
    }
    Ok(out)
}

/// `names = ["a", "b"]` with optional `bounds = [[lo, hi], ...]`.
fn names_and_bounds(names: &[String], bounds: Option<&[[f64; 2]]>) -> std::result::Result<Vec<Coordinate>, String> {
    if let Some(b) = bounds.filter(|b| b.len() != names.len()) {
        return Err(format!("names has {} entries but bounds has {}: give one [lower, upper] per name", names.len(), b.len()));
    }
    let items: Vec<toml::Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| match bounds {
            None => toml::Value::String(n.clone()),
            Some(b) => {
                let mut t = toml::Table::new();
                t.insert("name".into(), n.clone().into());
                t.insert("bounds".into(), toml::Value::Array(vec![b[i][0].into(), b[i][1].into()]));
                toml::Value::Table(t)
            }
        })
        .collect();
    parse_coordinates(&items)
}

/// Splits `kind` off a table.
fn split_kind(t: &toml::Table, what: &str) -> std::result::Result<(String, toml::Table), String> {
    let mut t = t.clone();
    match t.remove("kind") {
        Some(toml::Value::String(k)) => Ok((k, t)),
        Some(other) => Err(format!("{what}: kind must be a string, got {other}")),
        None => Err(format!("{what}: missing key \"kind\"")),
    }
}

/// `combine = "product"` or `combine = { mixture = [w1, w2, ...] }`.
fn parse_combine(v: Option<&toml::Value>, components: usize) -> std::result::Result<CombineSpec, String> {
    const HOW: &str = "combine must be \"product\" or { mixture = [w1, w2, ...] } with one weight per component";
    match v {
        None => Ok(CombineSpec::Product),
        Some(toml::Value::String(s)) if s == "product" => Ok(CombineSpec::Product),
        Some(toml::Value::Table(t)) if t.len() == 1 && t.contains_key("mixture") => {
            let w: Vec<f64> = t["mixture"].clone().try_into().map_err(|_| format!("combine: mixture must be a list of numbers; {HOW}"))?;
            if w.len() != components {
                return Err(format!("combine: mixture has {} weights but the spec has {components} components", w.len()));
            }
            if components < 2 {
                return Err("combine: a mixture needs at least two components".into());
            }
            if let Some(x) = w.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
                return Err(format!("combine: mixture weight {x} must be positive and finite"));
            }
            let total: f64 = w.iter().sum();
            Ok(CombineSpec::Mixture(w.iter().map(|x| x / total).collect()))
        }
        Some(other) => Err(format!("{HOW}; got {other}")),
    }
}

/// `[stage1]` with a component's own keys over it, and `loss = "nll"`
/// unless set, parsed and checked as a flow prior's settings.
fn stage1_options(global: &toml::Table, own: Option<&toml::Table>) -> std::result::Result<CheckedFlowOptions, String> {
    let mut t = global.clone();
    let where_ = if own.is_some() { "stage1" } else { "[stage1]" };
    for (k, v) in own.into_iter().flatten() {
        t.insert(k.clone(), v.clone());
    }
    t.entry("loss").or_insert_with(|| STAGE1_DEFAULT_LOSS.into());
    let o: FlowOptions = toml::Value::Table(t).try_into().map_err(|e: toml::de::Error| format!("{where_}: {}", e.message().trim()))?;
    o.check().map_err(|e| format!("{where_}: {e}"))
}

/// The ranges of `[stage2]` that need no engine: positive sizes and a
/// positive, finite learning rate.
fn stage2_check(s: &Stage2Options) -> std::result::Result<(), String> {
    for (key, v) in [
        ("layers", s.layers),
        ("hidden", s.hidden),
        ("depth", s.depth),
        ("bins", s.bins),
        ("steps", s.steps),
        ("batch", s.batch),
        ("eval_draws", s.eval_draws),
    ] {
        if v == Some(0) {
            return Err(format!("{key} = 0: it must be at least 1"));
        }
    }
    if let Some(lr) = s.lr.filter(|lr| !(lr.is_finite() && *lr > 0.0)) {
        return Err(format!("lr = {lr}: the learning rate must be positive"));
    }
    if let Some(b) = s.tail_bound.filter(|b| !(b.is_finite() && *b > 0.0)) {
        return Err(format!("tail_bound = {b}: it must be positive"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<Spec, String> {
        Spec::parse(text, Path::new("spec.toml"), Path::new("/data")).map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"
seed = 3
coordinates = ["a", { name = "b", bounds = [0, 1] }, "g"]
combine = { mixture = [1, 3] }
[[component]]
chain = "c1.h5"
names = ["x"]
coords = ["a"]
divide = { kind = "normal", mean = 0, sd = 1 }
stage1 = { steps = 10 }
[[component]]
from = "A"
names = ["b", "g"]
[[term]]
kind = "flat"
coords = ["g"]
[stage1]
layers = 2
[stage2]
steps = 5
"#;

    #[test]
    fn a_complete_spec_parses() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.seed, 3);
        assert_eq!(s.names(), ["a", "b", "g"]);
        assert_eq!(s.coordinates[1].bounds, (0.0, 1.0));
        assert_eq!(s.components[0].source, DrawSource::File(PathBuf::from("/data/c1.h5")));
        assert_eq!(s.components[0].coords, [0]);
        assert_eq!(s.components[0].stage1.train.steps, 10);
        assert_eq!(s.components[0].stage1.spec.pairs, 2);
        assert_eq!(s.components[0].stage1.train.loss, seqcal_flow::Loss::Nll);
        assert_eq!(s.components[1].coords, [1, 2]);
        assert_eq!(s.components[1].label, "component 2");
        assert_eq!(s.divide_kind(0), Some("normal"));
        assert_eq!(s.combine, CombineSpec::Mixture(vec![0.25, 0.75]));
        assert_eq!(s.terms[0].coords, [2]);
        assert_eq!(s.stage2.steps, Some(5));
        assert_eq!(s.stages_used(), ["A"]);
    }

    impl Spec {
        fn divide_kind(&self, i: usize) -> Option<&str> {
            self.components[i].divide.as_ref().map(|(k, _)| k.as_str())
        }
    }

    #[test]
    fn names_with_bounds_are_coordinates_too() {
        let text = GOOD.replace(
            "coordinates = [\"a\", { name = \"b\", bounds = [0, 1] }, \"g\"]",
            "names = [\"a\", \"b\", \"g\"]\nbounds = [[-1, 1], [0, 1], [-5, 5]]",
        );
        let s = parse(&text).unwrap();
        assert_eq!(s.bounds(), [(-1.0, 1.0), (0.0, 1.0), (-5.0, 5.0)]);
        let e = parse(&text.replace("[-5, 5]]", "]")).unwrap_err();
        assert!(e.contains("names has 3 entries but bounds has 2"), "{e}");
    }

    #[test]
    fn each_mistake_has_its_message() {
        for (from, to, want) in [
            ("\"g\"]", "\"g\", \"h\"]", "no component or term covers the coordinate h"),
            ("coords = [\"a\"]\n", "coords = [\"a\", \"b\"]\n", "names has 1 entries but coords has 2"),
            ("coords = [\"a\"]\n", "coords = [\"zz\"]\n", "\"zz\" is not a coordinate"),
            ("chain = \"c1.h5\"\n", "chain = \"c1.h5\"\nfrom = \"B\"\n", "exactly one of chain"),
            ("seed = 3", "seed = 3\nsede = 4", "unknown field `sede`"),
            ("[stage2]\n", "[stage2]\nlayerz = 3\n", "unknown field `layerz`"),
            ("[stage1]\n", "[stage1]\nlayerz = 3\n", "[stage1]: unknown field `layerz`"),
            ("stage1 = { steps = 10 }", "stage1 = { stepz = 10 }", "stage1: unknown field `stepz`"),
            ("mixture = [1, 3]", "mixture = [1, 3, 4]", "mixture has 3 weights"),
            ("mixture = [1, 3]", "mixture = [1, -3]", "must be positive"),
            ("combine = { mixture = [1, 3] }", "combine = \"sum\"", "combine must be"),
            ("kind = \"flat\"\n", "", "missing key \"kind\""),
            ("[stage2]\n", "[stage2]\nlr = 0.0\n", "learning rate"),
            ("divide = { kind = \"normal\", mean = 0, sd = 1 }", "divide = { mean = 0 }", "divide: missing key \"kind\""),
            ("\"g\"]", "\"g\", \"a\"]", "lists \"a\" twice"),
            ("bounds = [0, 1]", "bounds = [1, 0]", "lower < upper"),
            ("coordinates = [", "names = [\"a\"]\ncoordinates = [", "give the target's coordinates once"),
            ("names = [\"b\", \"g\"]", "names = []\ncoords = []", "names is empty"),
        ] {
            assert!(GOOD.contains(from), "{from}");
            let e = parse(&GOOD.replacen(from, to, 1)).unwrap_err();
            assert!(e.contains(want), "{from:?} -> {to:?}: {e}");
            assert!(e.starts_with("spec.toml: "), "{e}");
        }
    }
}

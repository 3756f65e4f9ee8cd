//! The pipeline file: parameters, data sets, stages and comparisons.
//!
//! ```toml
//! name = "sequential"
//! seed = 1
//!
//! [parameters]
//! names = ["a", "b"]
//! bounds = [[0, 1], [0, 1]]
//!
//! [datasets.A]
//! data = "data/A.csv"            # experimental values: columns `value, error` (one row per observable)
//! covariance = "data/A_cov.csv"  # optional: full experimental covariance instead of `error`
//! design = "data/design.csv"     # model runs: inputs, one column per parameter, named as in [parameters] (any order)
//! outputs = "data/A_model.csv"   # model runs: outputs (one column per observable, in the data's row order)
//! # Any of these may be HDF5 instead: "runs.h5" (datasets design / outputs / data /
//! # covariance by default) or "runs.h5:/path/to/dataset"; column names from a
//! # `columns` attribute. CSV files start with a header line naming the columns.
//! emulator = { npc = 4, kernel = "matern52" }   # optional emulator settings:
//! # npc (or explained = 0.99), kernel = "se", restarts = 4, seed = the pipeline's seed
//!
//! [defaults.sampler]              # shared by every stage; a stage's own `sampler` overrides
//! kind = "ensemble"              # or "smc"; keys and defaults in `SamplerSettings`
//! walkers = 64
//! steps = 5000
//! burn = 1000                    # dropped from summaries, comparisons and flow training
//! moves = "stretch:0.6,de:0.3,de_jump:0.1"
//!
//! [defaults.flow]                 # training settings of every flow prior trained on a chain
//! loss = "nll"
//! layers = 5
//! steps = 5000
//!
//! [[stages]]
//! name = "A"
//! datasets = ["A"]
//! prior = { kind = "uniform" }   # any prior kind; bounds come from [parameters]
//! sampler = { walkers = 64, steps = 4000 }
//!
//! [[stages]]
//! name = "A_then_B"
//! datasets = ["B"]
//! prior = { kind = "flow", from = "A", epsilon = 0.05 }   # a flow prior trained on stage A's chain
//!
//! [[compare]]
//! a = "A_then_B"
//! b = "joint"
//! ```
//!
//! [`Pipeline::load`] parses the file; [`Pipeline::check`] validates the
//! whole stage graph before anything runs (unknown stage or data set, a
//! cycle, a dimension mismatch, a missing file) and orders the stages so
//! that every stage runs after the stages its prior is trained on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use seqcal_emulators::EmulatorSettings;

use super::{toml_error, SamplerTable};

use crate::{Error, Result};

/// The parameter space of every stage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    /// Parameter names.
    pub names: Vec<String>,
    /// `[lower, upper]` per parameter.
    pub bounds: Vec<[f64; 2]>,
}

/// One experimental data set and the model runs of its observables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    /// Experimental values and errors (CSV).
    pub data: PathBuf,
    /// Full experimental covariance (CSV), instead of the `error` column.
    pub covariance: Option<PathBuf>,
    /// Model inputs at the design points (CSV, one column per parameter).
    pub design: PathBuf,
    /// Model outputs at the design points (CSV, one column per observable).
    pub outputs: PathBuf,
    /// Emulator settings (`npc`, `explained`, `kernel`, `restarts`, `seed`;
    /// see [`EmulatorSettings`] for their defaults).
    #[serde(default)]
    pub emulator: EmulatorSettings,
}

/// What a stage does.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum StageKind {
    /// Sample `prior × Π likelihoods` (the default).
    #[default]
    #[serde(rename = "sample")]
    Sample,
    /// Two-stage flows on the composite target of a spec file
    /// (`spec = "combine.toml"`), whose components may come `from` earlier
    /// stages; its chain holds equal-weight draws of the result.
    #[serde(rename = "two-stage")]
    TwoStage,
}

/// One stage: which data sets, which prior, which sampler.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Unique name (also the folder of its outputs).
    pub name: String,
    /// `"sample"` (default) or `"two-stage"`.
    #[serde(default)]
    pub kind: StageKind,
    /// A two-stage stage's spec file.
    #[serde(default)]
    pub spec: Option<PathBuf>,
    /// Draws a two-stage stage writes to its chain (default 20 000).
    #[serde(default)]
    pub draws: Option<usize>,
    /// Data sets whose likelihoods multiply in this stage (none for a two-stage stage).
    #[serde(default)]
    pub datasets: Vec<String>,
    /// Prior table (`kind` and settings); default: uniform on the parameter box.
    #[serde(default)]
    pub prior: Option<toml::Table>,
    /// Sampler settings.
    #[serde(default)]
    pub sampler: SamplerTable,
}

/// `[defaults]`: settings shared by the stages.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Sampler keys a stage's `sampler` table leaves unset.
    #[serde(default)]
    pub sampler: SamplerTable,
    /// Training keys (`loss`, `layers`, `steps`, ...) every `flow` prior
    /// table that leaves them unset takes.
    #[serde(default)]
    pub flow: toml::Table,
}

/// Two stages whose posteriors are compared.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Compare {
    /// The stage under test (e.g. a sequential order).
    pub a: String,
    /// The reference stage (e.g. the joint calibration).
    pub b: String,
}

/// A pipeline file as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Name of the run (the folder under `runs/`).
    pub name: String,
    /// Base seed; each stage derives its own from it and its name.
    #[serde(default)]
    pub seed: u64,
    /// The parameter space.
    pub parameters: Parameters,
    /// Data sets by name.
    pub datasets: BTreeMap<String, Dataset>,
    /// Stages, in any order.
    pub stages: Vec<Stage>,
    /// Comparisons.
    #[serde(default)]
    pub compare: Vec<Compare>,
    /// Settings every stage takes unless it sets its own.
    #[serde(default)]
    pub defaults: Defaults,
    /// Folder of the file (relative paths resolve against it).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// A validated pipeline: the stages in an order where every stage comes
/// after the stages it depends on.
#[derive(Debug, Clone)]
pub struct CheckedPipeline {
    /// The pipeline, paths resolved.
    pub pipeline: Pipeline,
    /// Stage indices in run order.
    pub order: Vec<usize>,
    /// For each stage, the stages it depends on (by name).
    pub depends_on: Vec<BTreeSet<String>>,
}

/// Calls `f(key, value)` for every string value in a prior table, nested
/// tables (a mixture's components, a product's blocks) included.
fn visit_strings(t: &toml::Table, f: &mut impl FnMut(&str, &str)) {
    for (k, v) in t {
        match v {
            toml::Value::String(s) => f(k, s),
            toml::Value::Table(inner) => visit_strings(inner, f),
            toml::Value::Array(items) => {
                for it in items {
                    if let toml::Value::Table(inner) = it {
                        visit_strings(inner, f);
                    }
                }
            }
            _ => {}
        }
    }
}

impl Pipeline {
    /// Reads and parses a pipeline file.
    ///
    /// # Errors
    /// Unreadable file, malformed TOML or an unknown key; the message names the file and line.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut p: Pipeline = toml::from_str(&text).map_err(|e| Error::config(path, toml_error(&text, &e)))?;
        p.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for s in &p.stages {
            let table = crate::sampler::merge_tables(&s.sampler, &p.defaults.sampler);
            crate::sampler::SamplerSettings::from_table(&table)
                .map_err(|e| Error::config(path, super::sampler_error(&text, &format!("stage {:?}: sampler", s.name), e)))?;
        }
        Ok(p)
    }

    /// `path` resolved against the file's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// Validates the whole pipeline and orders its stages. `source` names
    /// the file in messages.
    ///
    /// # Errors
    /// The first problem found: bad parameters, an unknown data set or
    /// stage, duplicate stage names, a cycle, a missing file, a design whose
    /// column names differ from the parameters', a data file without the
    /// columns `value` and `error`, invalid emulator or sampler settings, a
    /// comparison of unknown stages.
    pub fn check(self, source: &Path) -> Result<CheckedPipeline> {
        let err = |m: String| Error::config(source, m);
        let params = &self.parameters;
        let bounds: Vec<(f64, f64)> = params.bounds.iter().map(|b| (b[0], b[1])).collect();
        seqcal_api::ParamSpace::new(params.names.clone(), bounds).map_err(|e| err(format!("[parameters]: {e}")))?;
        if self.name.trim().is_empty() || self.name.contains(['/', '\\']) {
            return Err(err(format!("name {:?} must be a non-empty folder name", self.name)));
        }
        for (name, d) in &self.datasets {
            let mut files = vec![("data", &d.data), ("design", &d.design), ("outputs", &d.outputs)];
            if let Some(c) = &d.covariance {
                files.push(("covariance", c));
            }
            for (what, f) in files {
                let p = crate::table::file_of(&self.resolve(f));
                if !p.is_file() {
                    return Err(err(format!("data set {name:?}: {what} file {} does not exist", p.display())));
                }
            }
            let in_set = |e: Error| err(format!("data set {name:?}: {e}"));
            d.emulator.check(self.seed).map_err(|e| err(format!("data set {name:?}: emulator: {e}")))?;
            // Design columns by name: the parameters, in any order.
            crate::table::read_table_as(&self.resolve(&d.design), &["design"])
                .and_then(|t| t.select(&params.names, "the pipeline's parameters"))
                .map_err(in_set)?;
            // The data: `value` and `error`, or `value` (and an unused `error`) with a covariance file.
            let data = crate::table::read_table_as(&self.resolve(&d.data), &["data"]).map_err(in_set)?;
            let (required, optional): (&[&str], &[&str]) = if d.covariance.is_some() { (&["value"], &["error"]) } else { (&["value", "error"], &[]) };
            data.check_columns(required, optional, "the data's columns").map_err(in_set)?;
        }
        let mut index = BTreeMap::new();
        for (i, s) in self.stages.iter().enumerate() {
            if s.name.trim().is_empty() || s.name.contains(['/', '\\']) {
                return Err(err(format!("stage name {:?} must be a non-empty folder name", s.name)));
            }
            if index.insert(s.name.clone(), i).is_some() {
                return Err(err(format!("two stages are named {:?}", s.name)));
            }
        }
        if self.stages.is_empty() {
            return Err(err("no [[stages]]".into()));
        }
        let mut depends_on = Vec::with_capacity(self.stages.len());
        for s in &self.stages {
            if s.kind == StageKind::TwoStage {
                let deps = self.check_two_stage(s, &index).map_err(|m| err(format!("stage {:?}: {m}", s.name)))?;
                depends_on.push(deps);
                continue;
            }
            if s.spec.is_some() || s.draws.is_some() {
                return Err(err(format!("stage {:?}: spec and draws belong to a stage of kind = \"two-stage\"", s.name)));
            }
            if s.datasets.is_empty() {
                return Err(err(format!("stage {:?} uses no data sets", s.name)));
            }
            for d in &s.datasets {
                if !self.datasets.contains_key(d) {
                    return Err(err(format!(
                        "stage {:?} uses data set {d:?}, which is not defined; data sets: {}",
                        s.name,
                        self.datasets.keys().cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
            }
            // `from = "<stage>"`: a prior trained on that stage's chain;
            // `chain = "..."` / `model = "..."`: files the prior reads.
            let mut deps = BTreeSet::new();
            let mut files = Vec::new();
            if let Some(p) = &s.prior {
                visit_strings(p, &mut |k, v| match k {
                    "from" => {
                        deps.insert(v.to_owned());
                    }
                    "chain" | "model" => files.push(v.to_owned()),
                    _ => {}
                });
            }
            for dep in &deps {
                if !index.contains_key(dep) {
                    return Err(err(format!("stage {:?} takes its prior from stage {dep:?}, which is not defined", s.name)));
                }
                if dep == &s.name {
                    return Err(err(format!("stage {:?} takes its prior from itself", s.name)));
                }
            }
            for f in files {
                let p = self.resolve(Path::new(&f));
                if !p.is_file() {
                    return Err(err(format!("stage {:?}: prior file {} does not exist", s.name, p.display())));
                }
            }
            let table = crate::sampler::merge_tables(&s.sampler, &self.defaults.sampler);
            crate::sampler::SamplerSettings::from_table(&table).map_err(|e| err(format!("stage {:?}: sampler: {}", s.name, super::usage_text(e))))?;
            depends_on.push(deps);
        }
        for c in &self.compare {
            for n in [&c.a, &c.b] {
                if !index.contains_key(n) {
                    return Err(err(format!("[[compare]] names stage {n:?}, which is not defined")));
                }
            }
        }
        let order = topological_order(&self.stages, &depends_on, &index).map_err(err)?;
        Ok(CheckedPipeline { pipeline: self, order, depends_on })
    }
}

impl Pipeline {
    /// Checks a two-stage stage: a spec file that loads, no data sets, prior
    /// or sampler, the pipeline's parameters as its coordinates, and the
    /// stages its components come from defined; returns those stages.
    fn check_two_stage(&self, s: &Stage, index: &BTreeMap<String, usize>) -> std::result::Result<BTreeSet<String>, String> {
        let Some(spec) = &s.spec else {
            return Err("a two-stage stage needs spec = \"file.toml\" (the composite target)".into());
        };
        if !s.datasets.is_empty() || s.prior.is_some() || !s.sampler.is_empty() {
            return Err("a two-stage stage takes no datasets, prior or sampler: its spec file says what it combines".into());
        }
        if s.draws == Some(0) {
            return Err("draws = 0: the stage's chain needs at least one draw".into());
        }
        let spec = crate::two_stage::Spec::load(&self.resolve(spec)).map_err(|e| e.to_string())?;
        if spec.names() != self.parameters.names {
            return Err(format!(
                "its spec's coordinates [{}] are not the pipeline's parameters [{}]",
                spec.names().join(", "),
                self.parameters.names.join(", ")
            ));
        }
        let mut deps = BTreeSet::new();
        for dep in spec.stages_used() {
            if !index.contains_key(&dep) {
                return Err(format!("a component comes from stage {dep:?}, which is not defined"));
            }
            if dep == s.name {
                return Err("a component comes from the stage itself".into());
            }
            deps.insert(dep);
        }
        Ok(deps)
    }
}

/// Kahn's algorithm, taking stages in file order among those ready; a
/// cycle is reported with the stages on it.
fn topological_order(stages: &[Stage], deps: &[BTreeSet<String>], index: &BTreeMap<String, usize>) -> std::result::Result<Vec<usize>, String> {
    let n = stages.len();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let ready = (0..n).find(|&i| !done[i] && deps[i].iter().all(|d| done[index[d]]));
        match ready {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => {
                let stuck: Vec<&str> = (0..n).filter(|&i| !done[i]).map(|i| stages[i].name.as_str()).collect();
                return Err(format!("the stages' priors form a cycle among: {}", stuck.join(", ")));
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(stages: &str, extra: &str) -> (tempfile::TempDir, Result<CheckedPipeline>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("design.csv"), "a,b\n0.1,0.2\n0.3,0.4\n").unwrap();
        std::fs::write(dir.path().join("design3.csv"), "a,b,c\n0.1,0.2,0.3\n").unwrap();
        std::fs::write(dir.path().join("nohead.csv"), "0.1,0.2\n0.3,0.4\n").unwrap();
        std::fs::write(dir.path().join("hash.csv"), "# value,error\n1,0.1\n").unwrap();
        for f in ["A.csv", "B.csv", "A_model.csv", "B_model.csv"] {
            std::fs::write(dir.path().join(f), "value,error\n1,0.1\n").unwrap();
        }
        let text = format!(
            "name = \"t\"\n[parameters]\nnames = [\"a\", \"b\"]\nbounds = [[0, 1], [0, 1]]\n\
             [datasets.A]\ndata = \"A.csv\"\ndesign = \"design.csv\"\noutputs = \"A_model.csv\"\n\
             [datasets.B]\ndata = \"B.csv\"\ndesign = \"design.csv\"\noutputs = \"B_model.csv\"\n{extra}\n{stages}"
        );
        let path = dir.path().join("pipeline.toml");
        std::fs::write(&path, text).unwrap();
        let r = Pipeline::load(&path).and_then(|p| p.check(&path));
        (dir, r)
    }

    const GOOD: &str = r#"
[[stages]]
name = "A_then_B"
datasets = ["B"]
prior = { kind = "mixture", epsilon = 0.05, main = { kind = "flow", from = "A" }, defensive = { kind = "uniform" } }
[[stages]]
name = "A"
datasets = ["A"]
[[stages]]
name = "joint"
datasets = ["A", "B"]
[[compare]]
a = "A_then_B"
b = "joint"
"#;

    #[test]
    fn orders_stages_after_their_sources() {
        let (_d, r) = setup(GOOD, "");
        let c = r.unwrap();
        let names: Vec<&str> = c.order.iter().map(|&i| c.pipeline.stages[i].name.as_str()).collect();
        assert_eq!(names, ["A", "A_then_B", "joint"]);
        assert!(c.depends_on[0].contains("A"));
    }

    fn error(stages: &str, extra: &str) -> String {
        setup(stages, extra).1.unwrap_err().to_string()
    }

    #[test]
    fn every_graph_error_is_named() {
        let e = error("[[stages]]\nname = \"x\"\ndatasets = [\"C\"]\n", "");
        assert!(e.contains("pipeline.toml") && e.contains("uses data set \"C\", which is not defined; data sets: A, B"), "{e}");
        let e = error("[[stages]]\nname = \"x\"\ndatasets = [\"A\"]\nprior = { kind = \"flow\", from = \"y\" }\n", "");
        assert!(e.contains("takes its prior from stage \"y\", which is not defined"), "{e}");
        let e = error(
            "[[stages]]\nname = \"x\"\ndatasets = [\"A\"]\nprior = { kind = \"flow\", from = \"y\" }\n[[stages]]\nname = \"y\"\ndatasets = [\"B\"]\nprior = { kind = \"flow\", from = \"x\" }\n",
            "",
        );
        assert!(e.contains("cycle among: x, y"), "{e}");
        let e = error("[[stages]]\nname = \"x\"\ndatasets = [\"A\"]\n[[stages]]\nname = \"x\"\ndatasets = [\"B\"]\n", "");
        assert!(e.contains("two stages are named \"x\""), "{e}");
        let e = error("[[stages]]\nname = \"x\"\ndatasets = [\"A\"]\nprior = { kind = \"flow\", chain = \"published.h5\" }\n", "");
        assert!(e.contains("prior file") && e.contains("published.h5 does not exist"), "{e}");
        let e = error("[[stages]]\nname = \"x\"\ndatasets = [\"A\"]\n[[compare]]\na = \"x\"\nb = \"z\"\n", "");
        assert!(e.contains("[[compare]] names stage \"z\""), "{e}");
        let e = error(
            "[[stages]]\nname = \"x\"\ndatasets = [\"D\"]\n",
            "[datasets.D]\ndata = \"A.csv\"\ndesign = \"design3.csv\"\noutputs = \"A_model.csv\"\n",
        );
        assert!(
            e.contains("data set \"D\"")
                && e.contains("unknown column \"c\": the pipeline's parameters are [a, b], in any order; the header has 3 columns [a, b, c]"),
            "{e}"
        );
        let e = error(
            "[[stages]]\nname = \"x\"\ndatasets = [\"D\"]\n",
            "[datasets.D]\ndata = \"hash.csv\"\ndesign = \"design.csv\"\noutputs = \"A_model.csv\"\n",
        );
        assert!(
            e.contains("hash.csv: no column \"value\", unknown column \"# value\": the data's columns are [value, error]")
                && e.contains("remove the '#'"),
            "{e}"
        );
        let e = error(
            "[[stages]]\nname = \"x\"\ndatasets = [\"D\"]\n",
            "[datasets.D]\ndata = \"A.csv\"\ndesign = \"nohead.csv\"\noutputs = \"A_model.csv\"\n",
        );
        assert!(e.contains("nohead.csv: line 1 looks like data, not a header"), "{e}");
        let e = error(
            "[[stages]]\nname = \"x\"\ndatasets = [\"D\"]\n",
            "[datasets.D]\ndata = \"A.csv\"\ndesign = \"design.csv\"\noutputs = \"A_model.csv\"\nemulator = { kernal = \"se\" }\n",
        );
        assert!(e.contains("unknown field `kernal`, expected one of `npc`, `explained`, `kernel`, `restarts`, `seed`"), "{e}");
        let e = error(
            "[[stages]]\nname = \"x\"\ndatasets = [\"D\"]\n",
            "[datasets.D]\ndata = \"A.csv\"\ndesign = \"design.csv\"\noutputs = \"A_model.csv\"\nemulator = { restarts = 5000 }\n",
        );
        assert!(e.contains("data set \"D\": emulator: restarts = 5000: at most 1000"), "{e}");
        let e = error(
            "[[stages]]\nname = \"x\"\ndatasets = [\"D\"]\n",
            "[datasets.D]\ndata = \"nope.csv\"\ndesign = \"design.csv\"\noutputs = \"A_model.csv\"\n",
        );
        assert!(e.contains("data file") && e.contains("nope.csv does not exist"), "{e}");
        let e = error("[[stages]]\nname = \"x\"\ndatasets = [\"A\"]\nsampler = { walkerz = 3 }\n", "");
        assert!(e.contains("unknown field `walkerz`"), "{e}");
    }
}

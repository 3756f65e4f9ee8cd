//! The prior kind `two-stage`: the stage-2 flow of a finished two-stage run
//! as a normalized prior for later stages.
//!
//! ```toml
//! prior = { kind = "two-stage", path = "out/" }   # the folder `seqcal two-stage run` wrote
//! ```
//!
//! The flow is read from `path`'s [`STAGE2_DIR`]; its coordinates (names and
//! bounds) are the run's, so a stage using it must have the same parameters.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2};
use rand::Rng;
use seqcal_api::{parse_table, KeyDoc, ParamSpace, Prior, PriorError, PriorPlugin, StageContext};
use serde::Deserialize;
use toml::{Table, Value};

use crate::stage2::ReverseFlow;

/// The prior kind this module registers.
pub const KIND: &str = "two-stage";

/// The folder of a run's output that holds the stage-2 flow.
pub const STAGE2_DIR: &str = "stage2";

/// The stage-2 flow's weights file in [`STAGE2_DIR`] ([`ReverseFlow::save`] writes it).
pub const STAGE2_WEIGHTS: &str = crate::stage2::FLOW_FILE;

/// The stage-2 flow of the run written into `out`.
///
/// # Errors
/// A folder that is not a finished two-stage run, or a flow that does not load.
pub fn load_run(out: &Path) -> crate::Result<ReverseFlow> {
    let dir = out.join(STAGE2_DIR);
    if !dir.is_dir() {
        return Err(crate::TwoStageError::invalid(format!(
            "{}: not the output of `seqcal two-stage run` (it has no {STAGE2_DIR}/ folder)",
            out.display()
        )));
    }
    ReverseFlow::load(&dir)
}

/// A stage-2 flow as a [`Prior`]: normalized on the run's coordinates, zero
/// outside their bounds.
#[derive(Debug)]
pub struct TwoStagePrior {
    flow: ReverseFlow,
    path: PathBuf,
}

impl TwoStagePrior {
    /// The prior of the run written into `out`.
    ///
    /// # Errors
    /// See [`load_run`].
    pub fn load(out: &Path) -> crate::Result<Self> {
        Ok(TwoStagePrior { flow: load_run(out)?, path: out.to_path_buf() })
    }

    /// The stage-2 flow.
    pub fn flow(&self) -> &ReverseFlow {
        &self.flow
    }
}

impl Prior for TwoStagePrior {
    fn space(&self) -> &ParamSpace {
        Prior::space(self.flow.prior())
    }

    fn log_prob(&self, theta: &[f64]) -> f64 {
        self.flow.prior().log_prob(theta)
    }

    fn log_prob_batch(&self, thetas: ArrayView2<'_, f64>, out: &mut [f64]) {
        self.flow.prior().log_prob_batch(thetas, out)
    }

    fn sample(&self, rng: &mut dyn Rng, n: usize) -> Array2<f64> {
        self.flow.prior().sample(rng, n)
    }

    fn describe(&self) -> String {
        format!("two-stage(path={})", self.path.display())
    }
}

/// The keys of a `two-stage` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TwoStageTable {
    /// The folder `seqcal two-stage run` wrote.
    path: String,
}

/// The `two-stage` prior plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct TwoStagePlugin;

impl PriorPlugin for TwoStagePlugin {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn summary(&self) -> &'static str {
        "the stage-2 flow of a two-stage run: path = \"out/\" (the folder `seqcal two-stage run` wrote)"
    }

    fn build(&self, spec: &Table, ctx: &StageContext<'_>) -> Result<Box<dyn Prior>, PriorError> {
        let t: TwoStageTable = parse_table(KIND, spec)?;
        let out = ctx.resolve(&t.path);
        let prior = TwoStagePrior::load(&out).map_err(|e| PriorError::spec(KIND, e.to_string()))?;
        if let Some(space) = ctx.space {
            if prior.names() != space.names() {
                return Err(PriorError::spec(
                    KIND,
                    format!(
                        "the two-stage result in {} is over [{}] but the parameters here are [{}]",
                        out.display(),
                        prior.names().join(", "),
                        space.names().join(", ")
                    ),
                ));
            }
        }
        Ok(Box::new(prior))
    }

    fn check(&self, spec: &Table) -> Result<(), PriorError> {
        parse_table::<TwoStageTable>(KIND, spec).map(|_| ())
    }

    fn input_files(&self, spec: &Table) -> Vec<String> {
        // The weights file: the sidecar's density-defining fields are digested into it.
        spec.get("path")
            .and_then(Value::as_str)
            .map(|p| Path::new(p).join(STAGE2_DIR).join(STAGE2_WEIGHTS).display().to_string())
            .into_iter()
            .collect()
    }

    fn keys(&self) -> Vec<KeyDoc> {
        vec![KeyDoc { name: "path".into(), default: None, help: "the output folder of `seqcal two-stage run`".into() }]
    }
}

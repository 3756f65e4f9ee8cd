//! What every part of a pipeline run reads: the pipeline, its file, the runs
//! folder, the parameter space and whether to print progress.

use std::path::Path;

use seqcal_api::ParamSpace;

use super::layout::{Layout, Say};
use crate::config::Pipeline;

/// The shared, read-only inputs of a run.
#[derive(Clone, Copy)]
pub(super) struct RunContext<'a> {
    /// The pipeline.
    pub pipeline: &'a Pipeline,
    /// The pipeline file (for messages).
    pub source: &'a Path,
    /// Where the results go.
    pub layout: &'a Layout,
    /// The parameter space.
    pub space: &'a ParamSpace,
    /// Progress lines.
    pub say: Say,
}

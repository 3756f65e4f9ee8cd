//! Prior plugins: building a [`Prior`] from a TOML table by its `kind`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{ParamSpace, Prior, PriorError};

/// A registry entry: knows one prior `kind` and builds it from its table.
pub trait PriorPlugin: Send + Sync {
    /// The `kind` string this plugin answers to (`"uniform"`, `"flow"`, ...).
    fn kind(&self) -> &'static str;

    /// One line for listings: what the prior is and its main keys.
    fn summary(&self) -> &'static str;

    /// Builds the prior from its TOML table (which includes the `kind` key).
    ///
    /// # Errors
    /// A missing or malformed key, or a space inconsistent with `ctx.space`.
    fn build(&self, spec: &toml::Table, ctx: &StageContext<'_>) -> Result<Box<dyn Prior>, PriorError>;
}

/// Builds any registered prior kind: what a plugin calls to build the priors
/// nested in its own table (a product's blocks, a mixture's components).
pub trait PriorFactory: Send + Sync {
    /// Builds the prior described by `spec` (dispatching on its `kind`).
    ///
    /// # Errors
    /// Unknown kind (the error lists the known ones) or the plugin's error.
    fn build(&self, spec: &toml::Table, ctx: &StageContext<'_>) -> Result<Box<dyn Prior>, PriorError>;

    /// The registered kinds, sorted.
    fn kinds(&self) -> Vec<String>;
}

/// What a plugin may use besides its own table.
#[derive(Clone, Copy)]
pub struct StageContext<'a> {
    /// The stage's parameter space, when the caller declares one. A leaf prior
    /// without `names` takes the names (and, where it needs them, bounds) from here.
    pub space: Option<&'a ParamSpace>,
    /// Directory against which relative file paths in the table resolve.
    pub base_dir: &'a Path,
    /// Chains of stages that already ran, by stage name (for flow priors with
    /// `from = "<stage>"`).
    pub stage_chains: &'a BTreeMap<String, PathBuf>,
    /// The registry, for nested priors.
    pub factory: &'a dyn PriorFactory,
}

impl<'a> StageContext<'a> {
    /// The same context without a declared space (for nested blocks that
    /// cover only part of the stage's parameters).
    pub fn without_space(&self) -> Self {
        StageContext { space: None, ..*self }
    }

    /// Resolves a path from the table against [`base_dir`](Self::base_dir).
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

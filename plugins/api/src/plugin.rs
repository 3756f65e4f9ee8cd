//! Prior plugins: building a [`Prior`] from a TOML table by its `kind`.

use std::path::{Path, PathBuf};

use crate::{ChainSource, KeyDoc, ParamSpace, Prior, PriorError};

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

    /// Checks the table's settings without building anything (no chains read,
    /// nothing trained), so that a pipeline can refuse a mistake in its last
    /// stage before the first one runs. The default accepts everything.
    ///
    /// # Errors
    /// As [`build`](PriorPlugin::build) would for the same settings.
    fn check(&self, spec: &toml::Table) -> Result<(), PriorError> {
        let _ = spec;
        Ok(())
    }

    /// Files named in the table (as written, relative paths against
    /// [`StageContext::base_dir`]) whose contents the prior depends on, so that
    /// a caller's cache key can cover them. Default: none.
    fn input_files(&self, spec: &toml::Table) -> Vec<String> {
        let _ = spec;
        Vec::new()
    }

    /// The keys of the table with their defaults, for listings (`seqcal prior
    /// list`). Default: none listed.
    fn keys(&self) -> Vec<KeyDoc> {
        Vec::new()
    }
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
#[derive(Debug, Clone, Copy)]
pub struct StageContext<'a> {
    /// The stage's parameter space, when the caller declares one. A leaf prior
    /// without `names` takes the names (and, where it needs them, bounds) from here.
    pub space: Option<&'a ParamSpace>,
    /// Directory against which relative file paths in the table resolve.
    pub base_dir: &'a Path,
    /// The chains a plugin may read: earlier stages by name (a flow prior's
    /// `from = "<stage>"`) and chain files by path (`chain = "file.h5"`, resolved
    /// with [`resolve`](Self::resolve)).
    pub chains: &'a dyn ChainSource,
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

/// A plugin shows its kind.
impl std::fmt::Debug for dyn PriorPlugin + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PriorPlugin").field("kind", &self.kind()).finish_non_exhaustive()
    }
}

/// A factory shows the kinds it builds.
impl std::fmt::Debug for dyn PriorFactory + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PriorFactory").field("kinds", &self.kinds()).finish()
    }
}

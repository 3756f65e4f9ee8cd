//! The prior registry: builds any registered kind from its TOML table.

use std::collections::BTreeMap;
use std::path::Path;

use seqcal_api::{KeyDoc, ParamSpace, Prior, PriorError, PriorFactory, PriorPlugin, StageContext};

use super::{ChainFiles, FlowPlugin, MixturePlugin, NormalPlugin, ProductPlugin, TruncatedNormalPlugin, UniformPlugin};

/// Prior plugins by kind. [`PriorRegistry::builtin`] holds seqcal's own; a
/// program with custom priors [`register`](PriorRegistry::register)s more.
#[derive(Debug)]
pub struct PriorRegistry {
    plugins: BTreeMap<&'static str, Box<dyn PriorPlugin>>,
}

impl Default for PriorRegistry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl PriorRegistry {
    /// A registry with no plugins.
    pub fn empty() -> Self {
        PriorRegistry { plugins: BTreeMap::new() }
    }

    /// The built-in kinds: `uniform`, `normal`, `truncated_normal`,
    /// `product`, `mixture`, `flow`, `two-stage`.
    pub fn builtin() -> Self {
        let mut r = Self::empty();
        r.register(Box::new(UniformPlugin));
        r.register(Box::new(NormalPlugin));
        r.register(Box::new(TruncatedNormalPlugin));
        r.register(Box::new(ProductPlugin));
        r.register(Box::new(MixturePlugin));
        r.register(Box::new(FlowPlugin));
        r.register(Box::new(seqcal_two_stage::TwoStagePlugin));
        r
    }

    /// Adds (or replaces) the plugin for its kind.
    pub fn register(&mut self, plugin: Box<dyn PriorPlugin>) {
        self.plugins.insert(plugin.kind(), plugin);
    }

    /// `(kind, summary)` of every registered plugin, sorted by kind.
    pub fn list(&self) -> Vec<(&'static str, &'static str)> {
        self.plugins.values().map(|p| (p.kind(), p.summary())).collect()
    }

    /// The keys of kind `kind`'s table with their defaults (empty for an unknown kind).
    pub fn keys(&self, kind: &str) -> Vec<KeyDoc> {
        self.plugins.get(kind).map(|p| p.keys()).unwrap_or_default()
    }

    /// Checks a prior table's kind and settings without building it (no chain
    /// read, nothing trained).
    ///
    /// # Errors
    /// An unknown kind, or the plugin's complaint about the settings.
    pub fn check(&self, spec: &toml::Table) -> Result<(), PriorError> {
        self.plugin_of(spec)?.check(spec)
    }

    /// Files a prior table names whose contents its prior depends on (for cache keys).
    pub fn input_files(&self, spec: &toml::Table) -> Vec<String> {
        self.plugin_of(spec).map(|p| p.input_files(spec)).unwrap_or_default()
    }

    fn plugin_of(&self, spec: &toml::Table) -> Result<&dyn PriorPlugin, PriorError> {
        let kind = match spec.get("kind") {
            Some(toml::Value::String(k)) => k.as_str(),
            Some(other) => return Err(PriorError::spec("?", format!("\"kind\" must be a string, got {other}"))),
            None => return Err(PriorError::spec("?", format!("missing key \"kind\"; known kinds: {}", self.kinds().join(", ")))),
        };
        self.plugins.get(kind).map(|p| p.as_ref()).ok_or_else(|| PriorError::UnknownKind { kind: kind.to_owned(), known: self.kinds() })
    }

    /// Builds a prior from a stand-alone table (no stage context): chain files
    /// by path are read (`chain = "c.h5"`), no stage has a chain; relative
    /// paths resolve against `base_dir`.
    ///
    /// # Errors
    /// See [`PriorFactory::build`].
    pub fn build_standalone(&self, spec: &toml::Table, space: Option<&ParamSpace>, base_dir: &Path) -> Result<Box<dyn Prior>, PriorError> {
        let chains = ChainFiles::new();
        let ctx = StageContext { space, base_dir, chains: &chains, factory: self };
        self.build(spec, &ctx)
    }
}

impl PriorFactory for PriorRegistry {
    fn build(&self, spec: &toml::Table, ctx: &StageContext<'_>) -> Result<Box<dyn Prior>, PriorError> {
        let plugin = self.plugin_of(spec)?;
        let kind = plugin.kind();
        let prior = plugin.build(spec, ctx)?;
        if let Some(space) = ctx.space {
            if prior.names() != space.names() {
                return Err(PriorError::spec(
                    kind,
                    format!("the prior is over [{}] but the stage's parameters are [{}]", prior.names().join(", "), space.names().join(", ")),
                ));
            }
        }
        Ok(prior)
    }

    fn kinds(&self) -> Vec<String> {
        self.plugins.keys().map(|k| k.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    fn build(s: &str) -> Result<Box<dyn Prior>, PriorError> {
        PriorRegistry::builtin().build_standalone(&parse(s), None, Path::new("."))
    }

    #[test]
    fn unknown_kind_lists_the_known_ones() {
        let err = build("kind = \"cauchy\"\nnames = [\"a\"]").err().unwrap().to_string();
        assert!(err.contains("unknown prior kind \"cauchy\""), "{err}");
        for k in ["mixture", "normal", "product", "truncated_normal", "uniform"] {
            assert!(err.contains(k), "{err}");
        }
    }

    #[test]
    fn builds_nested_priors() {
        let p = build(
            r#"
            kind = "mixture"
            epsilon = 0.05
            main = { kind = "product", blocks = [
                { kind = "uniform", names = ["a"], bounds = [[0, 1]] },
                { kind = "normal", names = ["b"], mean = 0, sd = 2 },
            ] }
            defensive = { kind = "product", blocks = [
                { kind = "uniform", names = ["a"], bounds = [[-1, 2]] },
                { kind = "truncated_normal", names = ["b"], mean = [0], sd = [5], bounds = [["-inf", 10]] },
            ] }
            "#,
        )
        .unwrap();
        assert_eq!(p.names(), ["a", "b"]);
        assert!(p.describe().starts_with("mixture"));
    }

    #[test]
    fn typos_and_bad_values_are_named() {
        let e = build("kind = \"normal\"\nnames = [\"a\"]\nmean = 0\nsigma = 1").err().unwrap().to_string();
        assert!(e.contains("unknown key \"sigma\""), "{e}");
        let e = build("kind = \"uniform\"\nnames = [\"a\", \"b\"]\nbounds = [[0, 1]]").err().unwrap().to_string();
        assert!(e.contains("2 parameter names but 1 bounds"), "{e}");
        let e = build("kind = \"uniform\"\nnames = [\"a\"]\nbounds = [[1, 0]]").err().unwrap().to_string();
        assert!(e.contains("lower bound must be below"), "{e}");
        let e = build("kind = \"normal\"\nnames = [\"a\"]\nmean = [0, 1]\nsd = 1").err().unwrap().to_string();
        assert!(e.contains("2 values but the prior has 1"), "{e}");
        let e = build("names = [\"a\"]").err().unwrap().to_string();
        assert!(e.contains("missing key \"kind\""), "{e}");
    }

    #[test]
    fn stage_space_supplies_names_and_is_enforced() {
        let space = ParamSpace::new(vec!["a".into(), "b".into()], vec![(0.0, 1.0), (0.0, 2.0)]).unwrap();
        let r = PriorRegistry::builtin();
        let p = r.build_standalone(&parse("kind = \"uniform\""), Some(&space), Path::new(".")).unwrap();
        assert_eq!(p.bounds(), space.bounds());
        let e = r
            .build_standalone(&parse("kind = \"normal\"\nnames = [\"b\", \"a\"]\nmean = 0\nsd = 1"), Some(&space), Path::new("."))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("stage's parameters are [a, b]"), "{e}");
    }
}

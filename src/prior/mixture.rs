//! Kind `mixture`: the defensive mixture `(1-ε)·P + ε·Q`
//! ([`DefensiveMixture`], from `seqcal-api` so that any plugin may build one).

use seqcal_api::{DefensiveMixture, PriorError, StageContext};
use serde::Deserialize;

use super::spec::builtin_plugin;

/// The table of `kind = "mixture"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixtureOptions {
    /// Weight of the defensive component, in `(0, 1)` (required).
    epsilon: Option<f64>,
    /// The main component, a prior table (required).
    main: Option<toml::Table>,
    /// The defensive component, a prior table (required).
    defensive: Option<toml::Table>,
}

impl MixtureOptions {
    /// The mixture, its components built by the registry.
    ///
    /// # Errors
    /// A missing key, an epsilon outside `(0, 1)`, components over different parameters.
    pub fn check(self, ctx: &StageContext<'_>) -> Result<DefensiveMixture, PriorError> {
        let eps =
            self.epsilon.ok_or_else(|| PriorError::spec("mixture", "missing key \"epsilon\" (weight of the defensive component, e.g. 0.05)"))?;
        let table = |t: Option<toml::Table>, key: &str| {
            t.ok_or_else(|| PriorError::spec("mixture", format!("missing table {key:?} (a prior with its own kind)")))
        };
        let main = ctx.factory.build(&table(self.main, "main")?, ctx)?;
        let def = ctx.factory.build(&table(self.defensive, "defensive")?, ctx)?;
        DefensiveMixture::new(main, def, eps)
    }
}

builtin_plugin!(
    /// Registry entry for `kind = "mixture"`.
    MixturePlugin,
    MixtureOptions,
    "mixture",
    "defensive mixture (1-epsilon) P + epsilon Q: epsilon, main = { kind = ... }, defensive = { kind = ... }",
    {
        "epsilon" => "weight of the defensive component, in (0, 1)",
        "main" => "the main component, a prior table",
        "defensive" => "the defensive component, a prior table",
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prior::testing::{check_moments, integrate};
    use crate::prior::{Normal, UniformBox};
    use seqcal_api::{ParamSpace, Prior};

    #[test]
    fn mixture_is_normalized_with_mixed_moments() {
        let names = vec!["a".to_string()];
        let main = Normal::new(names.clone(), vec![1.0], vec![0.2]).unwrap();
        let def = UniformBox::new(ParamSpace::new(names, vec![(-5.0, 5.0)]).unwrap()).unwrap();
        let eps = 0.1;
        let p = DefensiveMixture::new(Box::new(main), Box::new(def), eps).unwrap();
        let z = integrate(&p, &[(-6.0, 6.0)], 120_000);
        assert!((z - 1.0).abs() < 1e-4, "integral {z}");
        // Mixture moments: mean = Σ w m, var = Σ w (v + m²) - mean².
        let mean = (1.0 - eps) * 1.0 + eps * 0.0;
        let second = (1.0 - eps) * (0.04 + 1.0) + eps * (100.0 / 12.0);
        check_moments(&p, &[mean], &[second - mean * mean], 23);
        // The support is the union: the normal component makes it the real line.
        assert_eq!(p.bounds()[0], (f64::NEG_INFINITY, f64::INFINITY));
        // The batched path gives exactly the per-point values, outside the box too.
        let xs = ndarray::Array2::from_shape_fn((9, 1), |(i, _)| -8.0 + 2.0 * i as f64);
        let mut batch = vec![0.0; 9];
        p.log_prob_batch(xs.view(), &mut batch);
        for (i, b) in batch.iter().enumerate() {
            assert_eq!(*b, p.log_prob(&[xs[[i, 0]]]), "row {i}");
        }
    }

    #[test]
    fn mixture_rejects_bad_epsilon_and_mismatched_components() {
        let a = || Box::new(Normal::new(vec!["a".into()], vec![0.0], vec![1.0]).unwrap()) as Box<dyn Prior>;
        assert!(DefensiveMixture::new(a(), a(), 0.0).is_err());
        assert!(DefensiveMixture::new(a(), a(), 1.0).is_err());
        let b = Box::new(Normal::new(vec!["b".into()], vec![0.0], vec![1.0]).unwrap());
        assert!(DefensiveMixture::new(a(), b, 0.1).is_err());
    }
}

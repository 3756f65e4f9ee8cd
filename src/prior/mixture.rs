//! Defensive mixture `(1-ε)·P + ε·Q`.

use ndarray::{Array2, ArrayView2};
use rand::{Rng, RngExt};
use seqcal_api::{ParamSpace, Prior, PriorError, PriorPlugin, StageContext};

use super::spec;
use crate::math::log_add_exp;

/// `(1-ε)·P + ε·Q` for two priors over the same parameters.
///
/// The use in sequential calibration: `P` is an informed prior (a flow
/// trained on an earlier stage's posterior) and `Q` the stage's broad base
/// prior, so that the next stage can still reach regions `P` missed.
/// The mixture's support is the union of both, and its bounds the smallest
/// intervals holding both.
///
/// # Reference
/// Hesterberg (1995), *Weighted average importance sampling and defensive
/// mixture distributions*, Technometrics 37(2).
pub struct DefensiveMixture {
    space: ParamSpace,
    main: Box<dyn Prior>,
    defensive: Box<dyn Prior>,
    epsilon: f64,
    ln_main: f64,
    ln_def: f64,
}

impl DefensiveMixture {
    /// The mixture with weight `epsilon` on `defensive`.
    ///
    /// # Errors
    /// `epsilon` outside `(0, 1)`, or components over different parameters.
    pub fn new(main: Box<dyn Prior>, defensive: Box<dyn Prior>, epsilon: f64) -> Result<Self, PriorError> {
        let kind = "mixture";
        if !(epsilon > 0.0 && epsilon < 1.0) {
            return Err(PriorError::spec(kind, format!("epsilon = {epsilon}: the defensive weight must lie strictly between 0 and 1")));
        }
        if main.names() != defensive.names() {
            return Err(PriorError::spec(
                kind,
                format!("components are over different parameters: [{}] vs [{}]", main.names().join(", "), defensive.names().join(", ")),
            ));
        }
        let bounds = main.bounds().iter().zip(defensive.bounds()).map(|(a, b)| (a.0.min(b.0), a.1.max(b.1))).collect();
        let space = spec::space(kind, main.names().to_vec(), bounds)?;
        Ok(DefensiveMixture { space, main, defensive, epsilon, ln_main: (-epsilon).ln_1p(), ln_def: epsilon.ln() })
    }
}

impl Prior for DefensiveMixture {
    fn space(&self) -> &ParamSpace {
        &self.space
    }

    fn log_prob(&self, theta: &[f64]) -> f64 {
        log_add_exp(self.ln_main + self.main.log_prob(theta), self.ln_def + self.defensive.log_prob(theta))
    }

    fn log_prob_batch(&self, thetas: ArrayView2<'_, f64>, out: &mut [f64]) {
        // Both components in batches: a flow's batched path is many times
        // faster than one call per point.
        let mut def = vec![0.0; out.len()];
        self.main.log_prob_batch(thetas, out);
        self.defensive.log_prob_batch(thetas, &mut def);
        for (o, d) in out.iter_mut().zip(def) {
            *o = log_add_exp(self.ln_main + *o, self.ln_def + d);
        }
    }

    fn sample(&self, rng: &mut dyn Rng, n: usize) -> Array2<f64> {
        // Choose the component of every draw first, then draw each component
        // in one batch (flows sample much faster in batches).
        let from_def: Vec<bool> = (0..n).map(|_| rng.random::<f64>() < self.epsilon).collect();
        let n_def = from_def.iter().filter(|d| **d).count();
        let a = self.main.sample(rng, n - n_def);
        let b = self.defensive.sample(rng, n_def);
        let mut out = Array2::zeros((n, self.space.dim()));
        let (mut ia, mut ib) = (0, 0);
        for (mut row, d) in out.rows_mut().into_iter().zip(from_def) {
            if d {
                row.assign(&b.row(ib));
                ib += 1;
            } else {
                row.assign(&a.row(ia));
                ia += 1;
            }
        }
        out
    }

    fn describe(&self) -> String {
        format!("mixture: {} x [{}] + {} x [{}]", 1.0 - self.epsilon, self.main.describe(), self.epsilon, self.defensive.describe())
    }
}

/// Registry entry for `kind = "mixture"`.
pub struct MixturePlugin;

impl PriorPlugin for MixturePlugin {
    fn kind(&self) -> &'static str {
        "mixture"
    }
    fn summary(&self) -> &'static str {
        "defensive mixture (1-epsilon) P + epsilon Q: epsilon, main = { kind = ... }, defensive = { kind = ... }"
    }
    fn build(&self, t: &toml::Table, ctx: &StageContext<'_>) -> Result<Box<dyn Prior>, PriorError> {
        spec::check_keys(t, "mixture", &["epsilon", "main", "defensive"])?;
        let eps = spec::f64_key(t, "mixture", "epsilon")?.ok_or_else(|| PriorError::spec("mixture", "missing key \"epsilon\" (weight of the defensive component, e.g. 0.05)"))?;
        let main = ctx.factory.build(spec::table(t, "mixture", "main")?, ctx)?;
        let def = ctx.factory.build(spec::table(t, "mixture", "defensive")?, ctx)?;
        Ok(Box::new(DefensiveMixture::new(main, def, eps)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prior::testing::{check_moments, integrate};
    use crate::prior::{Normal, UniformBox};

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

//! `seqcal prior sample` and `seqcal prior list`.

use std::collections::BTreeMap;

use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::args::SampleArgs;
use crate::chain::{self, Chain};
use crate::prior::{load_prior_file, PriorRegistry};
use crate::Result;

pub(super) fn sample(a: &SampleArgs) -> Result<()> {
    let registry = PriorRegistry::builtin();
    let prior = load_prior_file(&a.config, &registry)?;
    let n = a.n as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let x = prior.sample(&mut rng, n);
    let mut lp = vec![0.0; n];
    prior.log_prob_batch(x.view(), &mut lp);
    let lp = Array2::from_shape_vec((n, 1), lp).expect("n log densities fill an n x 1 array");
    let mut attrs = BTreeMap::new();
    attrs.insert("sampler".into(), "prior (independent draws)".into());
    attrs.insert("prior".into(), prior.describe());
    attrs.insert("seed".into(), a.seed.to_string());
    attrs.insert("config".into(), a.config.display().to_string());
    // Independent draws: one walker, one draw per iteration, every draw "accepted".
    let c = Chain {
        names: prior.names().to_vec(),
        bounds: prior.bounds().to_vec(),
        draws: x.insert_axis(Axis(1)),
        log_prob: Some(lp.clone()),
        log_prior: Some(lp),
        log_likelihood: None,
        weights: None,
        accepted: Array1::from_elem(1, n as f64),
        attrs,
    };
    chain::write_any(&c, &a.output)?;
    eprintln!("wrote {n} draws of [{}] to {}", c.names.join(", "), a.output.display());
    Ok(())
}

pub(super) fn list() -> Result<()> {
    for (kind, summary) in PriorRegistry::builtin().list() {
        println!("{kind:<18} {summary}");
    }
    Ok(())
}

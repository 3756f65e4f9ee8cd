//! Two-stage flows end to end (stage 1 + stage 2) on the hierarchical
//! examples at small sizes: 3 000-draw pools, short trainings. The bound on
//! each mean error is not chosen: it is 4 standard deviations of what the
//! pool's sampling noise alone does to the efficient stage 1
//! (`floor_mean_sd`, first order) combined with the Monte Carlo error of the
//! stage-2 draws' mean. A stage 1 whose tails are wrong far out (case (a)) or
//! a stage 2 that misses the composite fails it.

use std::sync::Arc;

use rand::SeedableRng;
use seqcal_flow::FlowOptions;
use seqcal_two_stage::examples::hierarchical::{HierarchicalCase, REFERENCE_Y_A};
use seqcal_two_stage::examples::moment_errors;
use seqcal_two_stage::{fit_component, fit_reverse, DiffLogDensity, ReverseKlSettings};

const POOL: usize = 3000;
const DRAWS: usize = 20_000;

fn check(case: &HierarchicalCase, y: &[f64], stage1_steps: usize, stage2_steps: usize) {
    let exact = case.exact(y);
    let pools = case.pools(y, POOL, 5);
    let opts = FlowOptions { seed: 5, steps: stage1_steps, ..FlowOptions::default() }.check().unwrap();
    let comps: Vec<Arc<dyn DiffLogDensity>> =
        pools.iter().enumerate().map(|(i, p)| Arc::new(fit_component(p, &opts, 5 + i as u64).unwrap().prior) as Arc<dyn DiffLogDensity>).collect();
    let target = case.target(comps).unwrap();
    let s = ReverseKlSettings { steps: stage2_steps, batch: 500, eval_draws: 5000, seed: 5, ..ReverseKlSettings::default() };
    let fit = fit_reverse(&target, &s, &mut |_, _| {}).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
    let d = fit.flow.sample(&mut rng, DRAWS).unwrap();
    let e = moment_errors(d.view(), &exact);
    let floor = case.floor_mean_sd(y, POOL);
    eprintln!("J = {}: mean errors {:?}, sd errors {:?}, floor sd {floor:?}, ESS {:.0} of 5000", case.j, e.mean_err, e.sd_err, fit.ess);
    for (k, f) in floor.iter().enumerate() {
        let mc = e.sd[k] / (DRAWS as f64).sqrt();
        let bound = 4.0 * (f * f + mc * mc).sqrt();
        assert!(e.mean_err[k].abs() <= bound, "coordinate {k}: mean error {} above {bound}", e.mean_err[k]);
    }
    // The sds: the root mean square of the efficient stage 1's sd error over 200
    // pools of the same size, with the Monte Carlo error of a sample sd.
    let oracle: Vec<_> = case.floor_errors(y, POOL, 0..200).into_iter().flatten().collect();
    for (k, (sd, err)) in e.sd.iter().zip(&e.sd_err).enumerate() {
        let rms = (oracle.iter().map(|o| o.sd_err[k].powi(2)).sum::<f64>() / oracle.len() as f64).sqrt();
        let mc = sd / (2.0 * DRAWS as f64).sqrt();
        let bound = 4.0 * (rms * rms + mc * mc).sqrt();
        assert!(err.abs() <= bound, "coordinate {k}: sd error {err} above {bound}");
    }
}

/// Case (a): the result lives 8 pool-sds from the pools.
#[test]
fn case_a_small_is_within_the_floor_of_its_pools() {
    check(&HierarchicalCase::a(), &REFERENCE_Y_A, 600, 800);
}

/// Case (b): the pools cover the result. A stage 2 of this size does not
/// converge on its six strongly correlated coordinates (ESS 3 of 5000, every
/// sd 0.7-0.9 short), so this runs on demand until a small stage 2 does.
#[test]
#[ignore = "stage 2 of 800 steps of 500 draws does not converge on case (b) yet: ESS 3 of 5000, sds 0.7-0.9 short"]
fn case_b_small_is_within_the_floor_of_its_pools() {
    let c = HierarchicalCase::b();
    check(&c, &c.data(0), 600, 800);
}

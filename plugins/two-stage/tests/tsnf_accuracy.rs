//! Two-stage flows against the exact answers of the worked examples, with
//! TSFB beside them on the same pools.
//!
//! The stage-2 flow's moment errors are estimated by importance sampling from
//! the exact posterior (`weighted_moment_errors`): where the flow is close to
//! the truth that estimate's Monte Carlo error is far below the bounds
//! checked, which plain draws of the flow could not give for a covariance
//! (its sampling noise alone is above 0.01 at 10⁶ draws in case (b)). Each
//! test first checks that the standard error of the estimate is small enough
//! for the bound to mean something.
//!
//! With 30 000-draw pools these goals lie below the statistical floor of
//! most pools (`stage1_floor.rs`: even the efficient stage 1 meets case (a)'s
//! 0.05 on 4.8 % of pools and case (b)'s 0.01 on 1.5 %), so these full-size
//! runs measure rather than pass; `stage1_floor.rs` checks that stage 1 sits
//! at that floor.

use std::sync::Arc;

use seqcal_flow::FlowOptions;
use seqcal_two_stage::examples::hierarchical::{HierarchicalCase, REFERENCE_Y_A};
use seqcal_two_stage::examples::{joint, moment_errors, weighted_moment_errors, MomentErrors};
use seqcal_two_stage::tsfb::{run_tsfb, TsfbSettings};
use seqcal_two_stage::{fit_component, fit_reverse, DiffLogDensity, ReverseKlSettings, SampleComponent};

fn stage1(pools: &[SampleComponent], seed: u64) -> Vec<Arc<dyn DiffLogDensity>> {
    let opts = FlowOptions { seed, ..FlowOptions::default() }.check().unwrap();
    pools.iter().enumerate().map(|(i, p)| Arc::new(fit_component(p, &opts, seed + i as u64).unwrap().prior) as Arc<dyn DiffLogDensity>).collect()
}

/// TSNF's errors (importance-sampled, with their standard error) and TSFB's
/// (from its draws) on one hierarchical case.
fn both(case: &HierarchicalCase, y: &[f64], seed: u64) -> (MomentErrors, f64, MomentErrors) {
    let exact = case.exact(y);
    let pools = case.pools(y, 30_000, seed);
    let target = case.target(stage1(&pools, seed)).unwrap();
    let fit = fit_reverse(&target, &ReverseKlSettings { seed, ..ReverseKlSettings::default() }, &mut |_, _| {}).unwrap();
    let xs = case.exact_draws(y, 200_000, seed + 100);
    let lq = fit.flow.log_prob_f64(xs.view());
    let lp = case.exact_log_density(y, xs.view());
    let lw: Vec<f64> = lq.iter().zip(&lp).map(|(q, p)| q - p).collect();
    let (tsnf, se) = weighted_moment_errors(xs.view(), &lw, &exact);
    let tsfb = run_tsfb(&target, &pools, &TsfbSettings { seed, ..TsfbSettings::default() }).unwrap();
    (tsnf, se, moment_errors(tsfb.draws.view(), &exact))
}

#[test]
#[ignore = "stage 1 and stage 2 at full size: tens of CPU minutes; run with --ignored"]
fn case_b_is_within_0_01_of_the_exact_posterior_and_tsfb_is_not() {
    let case = HierarchicalCase::b();
    let (tsnf, se, tsfb) = both(&case, &case.data(0), 0);
    eprintln!("case (b) TSNF: {tsnf:?} (se {se:.4})\ncase (b) TSFB: {tsfb:?}");
    assert!(se < 0.003, "the estimate is too noisy to check a bound of 0.01: se {se}");
    assert!(tsnf.max_mean_err() <= 0.01, "mean errors {:?}", tsnf.mean_err);
    assert!(tsnf.max_sd_err() <= 0.01, "sd errors {:?}", tsnf.sd_err);
    assert!(tsnf.cov_frobenius <= 0.01, "covariance error {}", tsnf.cov_frobenius);
    assert!(tsfb.max_mean_err().max(tsfb.max_sd_err()) > tsnf.max_mean_err().max(tsnf.max_sd_err()));
}

#[test]
#[ignore = "stage 1 and stage 2 at full size: tens of CPU minutes; run with --ignored"]
fn case_a_is_within_0_05_of_the_exact_posterior_and_tsfb_is_not() {
    let case = HierarchicalCase::a();
    let (tsnf, se, tsfb) = both(&case, &REFERENCE_Y_A, 0);
    eprintln!("case (a) TSNF: {tsnf:?} (se {se:.4})\ncase (a) TSFB: {tsfb:?}");
    assert!(se < 0.015, "the estimate is too noisy to check a bound of 0.05: se {se}");
    assert!(tsnf.max_mean_err() <= 0.05, "mean errors {:?}", tsnf.mean_err);
    assert!(tsnf.max_sd_err() <= 0.05, "sd errors {:?}", tsnf.sd_err);
    assert!(tsfb.max_mean_err() > 0.05, "{tsfb:?}");
}

#[test]
#[ignore = "stage 1 and stage 2 at full size: tens of CPU minutes; run with --ignored"]
fn joint_marginals_are_within_0_01_of_the_truth() {
    let pools = joint::pools(30_000, 0);
    let comps = stage1(&pools, 0);
    let target = joint::target([comps[0].clone(), comps[1].clone()]).unwrap();
    let fit = fit_reverse(&target, &ReverseKlSettings::default(), &mut |_, _| {}).unwrap();
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let d = fit.flow.sample(&mut rng, 100_000).unwrap();
    let kl: Vec<f64> = (0..3).map(|k| joint::kl_to_truth(k, &d.column(k).to_vec())).collect();
    eprintln!("joint example: 1-D KL to the truth {kl:?}");
    // The smoothing bias of the histogram KL at 100 000 draws is about 2.5e-4.
    assert!(kl.iter().sum::<f64>() / 3.0 <= 0.01, "{kl:?}");
}

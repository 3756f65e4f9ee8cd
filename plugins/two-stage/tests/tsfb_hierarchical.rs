//! TSFB on the hierarchical examples against their exact posteriors: right
//! in case (b), where the software samples cover the posterior, and visibly
//! off in case (a), where the software prior puts them far from it.

use seqcal_two_stage::examples::hierarchical::{HierarchicalCase, REFERENCE_Y_A};
use seqcal_two_stage::examples::{moment_errors, MomentErrors};
use seqcal_two_stage::tsfb::{sweep, PoolBlock};

fn run(case: &HierarchicalCase, y: &[f64], pool_n: usize, iterations: usize, seed: u64) -> (MomentErrors, Vec<f64>) {
    let pools = case.pools(y, pool_n, seed);
    let blocks: Vec<PoolBlock<'_>> = pools.iter().enumerate().map(|(i, p)| PoolBlock { coords: vec![i], draws: p.draws.view() }).collect();
    let start = vec![0.0; case.j + 1];
    let log_h = |x: &[f64]| case.log_analytic(x);
    let out = sweep(&log_h, &start, &blocks, Some(&case.conjugate()), &[], iterations, iterations / 10, seed);
    (moment_errors(out.draws.view(), &case.exact(y)), out.acceptance)
}

#[test]
fn tsfb_is_right_where_the_pool_covers_the_posterior() {
    let case = HierarchicalCase::b();
    let y = case.data(0);
    let (e, acc) = run(&case, &y, 30_000, 60_000, 1);
    // Case (b)'s posterior sds are 1 to 2: with 54 000 correlated sweeps (acceptance
    // about 0.25, τ of tens) the Monte Carlo error of a mean is a few hundredths.
    assert!(e.max_mean_err() < 0.15, "{e:?}");
    assert!(e.max_sd_err() < 0.15, "{e:?}");
    assert!(acc.iter().all(|a| *a > 0.05 && *a < 0.9), "{acc:?}");
    eprintln!("TSFB case (b): {e:?}, acceptance {acc:?}");
}

#[test]
fn tsfb_misses_case_a_whose_pool_sits_far_from_the_posterior() {
    let case = HierarchicalCase::a();
    let (e, acc) = run(&case, &REFERENCE_Y_A, 30_000, 30_000, 0);
    // The composite's θ live about 8 software sds from the pool: only the pool's
    // extreme draws are accepted, so the means are off by far more than 0.05.
    assert!(e.max_mean_err() > 0.3, "{e:?}");
    assert!(acc.iter().all(|a| *a < 0.1), "{acc:?}");
    eprintln!("TSFB case (a): {e:?}, acceptance {acc:?}");
}

#[test]
fn tsfb_is_reproducible() {
    let case = HierarchicalCase::a();
    let pools = case.pools(&REFERENCE_Y_A, 1000, 3);
    let blocks: Vec<PoolBlock<'_>> = pools.iter().enumerate().map(|(i, p)| PoolBlock { coords: vec![i], draws: p.draws.view() }).collect();
    let log_h = |x: &[f64]| case.log_analytic(x);
    let a = sweep(&log_h, &[0.0; 4], &blocks, Some(&case.conjugate()), &[], 2000, 100, 9);
    let b = sweep(&log_h, &[0.0; 4], &blocks, Some(&case.conjugate()), &[], 2000, 100, 9);
    assert_eq!(a.draws, b.draws);
    let c = sweep(&log_h, &[0.0; 4], &blocks, Some(&case.conjugate()), &[], 2000, 100, 10);
    assert_ne!(a.draws, c.draws);
}

#[test]
fn run_tsfb_on_the_composite_draws_gamma_exactly_and_agrees_with_the_exact_posterior() {
    use seqcal_two_stage::tsfb::{run_tsfb, TsfbSettings};
    let case = HierarchicalCase::b();
    let y = case.data(0);
    let pools = case.pools(&y, 30_000, 1);
    let target = case.target(case.exact_components(&y)).unwrap();
    let r = run_tsfb(&target, &pools, &TsfbSettings { iterations: 60_000, burn: 6_000, seed: 1 }).unwrap();
    assert_eq!(r.conjugate.as_deref(), Some("gamma"));
    assert_eq!(r.moves, (1..=5).map(|i| format!("software_{i}")).collect::<Vec<_>>());
    let e = moment_errors(r.draws.view(), &case.exact(&y));
    // As the sweep on plain functions above: Monte Carlo error a few hundredths.
    assert!(e.max_mean_err() < 0.15 && e.max_sd_err() < 0.15, "{e:?}");
    let again = run_tsfb(&target, &pools, &TsfbSettings { iterations: 2_000, burn: 100, seed: 1 }).unwrap();
    let twice = run_tsfb(&target, &pools, &TsfbSettings { iterations: 2_000, burn: 100, seed: 1 }).unwrap();
    assert_eq!(again.draws, twice.draws);
}

#[test]
fn run_tsfb_refuses_overlapping_components_and_a_bad_burn_in() {
    use seqcal_two_stage::examples::joint;
    use seqcal_two_stage::terms::Normal;
    use seqcal_two_stage::tsfb::{run_tsfb, TsfbSettings};
    use seqcal_two_stage::DiffLogDensity;
    use std::sync::Arc;
    let g = || Arc::new(Normal { mean: vec![0.0, 0.0], sd: vec![1.0, 1.0] }) as Arc<dyn DiffLogDensity>;
    let target = joint::target([g(), g()]).unwrap();
    let pools = joint::pools(100, 0);
    let err = run_tsfb(&target, &pools, &TsfbSettings::default()).unwrap_err().to_string();
    assert!(err.contains("disjoint") && err.contains('x'), "{err}");
    let case = HierarchicalCase::b();
    let y = case.data(0);
    let t = case.target(case.exact_components(&y)).unwrap();
    let err = run_tsfb(&t, &case.pools(&y, 100, 0), &TsfbSettings { iterations: 10, burn: 10, seed: 0 }).unwrap_err().to_string();
    assert!(err.contains("burn-in"), "{err}");
}

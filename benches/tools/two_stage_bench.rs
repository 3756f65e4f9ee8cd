//! Two-stage flows and the TSFB baseline on the worked examples of
//! seqcal-two-stage, one JSON line per run: wall times of each stage, and the
//! errors against the exact answer (moment errors for the hierarchical and
//! white-dwarf examples, the average 1-D KL to the quadrature truth for the
//! joint example).
//!
//! `cargo run --release --example two_stage_bench -- WHAT CASE [SEED] [--y Y1,Y2,...] [--n POOL] [--steps1 N] [--steps2 N]`
//! - WHAT `tsnf` (stage 1 + stage 2), `tsfb`, `exact` (stage 2 on the exact
//!   components: the stage-2 error alone), `stage1` (hierarchical cases: stage
//!   1 alone, the composite on its flows by quadrature next to the Gaussian-MLE
//!   oracle of the same pool), `floor` (hierarchical cases: the oracle's errors
//!   over the pools of seeds 0..SEED, `--n` draws each, default 30 000), `smc`
//!   (seqcal's SMC sampler on the exact composite, `dwarfs` only), or
//!   `generate` (CASE's spec and pools into the folder given by `--out`).
//! - CASE `a`, `b` (the hierarchical cases; `a` runs on the reference data set
//!   of the normflows script unless `--y` gives another), `joint`, `dwarfs`.
//! - `--steps1`, `--steps2`: stage-1 / stage-2 steps instead of the defaults
//!   (shorter runs for profiling).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqcal::sampler::smc::{Smc, SmcSettings};
use seqcal::sampler::Posterior;
use seqcal_flow::FlowOptions;
use seqcal_two_stage::examples::dwarfs::DwarfExample;
use seqcal_two_stage::examples::floor::moments_error;
use seqcal_two_stage::examples::hierarchical::{HierarchicalCase, REFERENCE_Y_A};
use seqcal_two_stage::examples::{joint, moment_errors, write_csv, MomentErrors, Moments};
use seqcal_two_stage::tsfb::{run_tsfb, TsfbSettings};
use seqcal_two_stage::{fit_component, fit_reverse, CompositeTarget, DiffLogDensity, ReverseKlSettings, SampleComponent};
use serde_json::{json, Value};

/// Draws per software pool.
const POOL: usize = 30_000;
/// Draws of the stage-2 flow the errors are measured on.
const EVAL: usize = 100_000;

fn errors_json(e: &MomentErrors) -> Value {
    json!({ "max_mean_err": e.max_mean_err(), "max_sd_err": e.max_sd_err(), "cov_frobenius": e.cov_frobenius,
            "mean_err": e.mean_err, "sd_err": e.sd_err })
}

/// Stage 1 on every pool, with the stage-1 settings of the example.
fn stage1(pools: &[SampleComponent], opts: &FlowOptions, seed: u64) -> (Vec<Arc<dyn DiffLogDensity>>, f64, Vec<Value>) {
    let checked = opts.check().expect("stage-1 settings");
    let t = Instant::now();
    let mut out: Vec<Arc<dyn DiffLogDensity>> = Vec::new();
    let mut checks = Vec::new();
    for (i, p) in pools.iter().enumerate() {
        let f = fit_component(p, &checked, seed + i as u64).expect("stage 1");
        checks.push(json!({ "label": p.label, "kl_1d": f.check.kl_1d, "floor_1d": f.check.floor_1d,
                            "ks_max": f.check.ks.iter().map(|k| k.1).fold(0.0, f64::max) }));
        out.push(Arc::new(f.prior));
    }
    (out, t.elapsed().as_secs_f64(), checks)
}

/// Stage 2 on `target`; its draws and a JSON summary.
fn stage2(target: &CompositeTarget, s: &ReverseKlSettings) -> (Array2<f64>, Value) {
    let t = Instant::now();
    let r = fit_reverse(target, s, &mut |_, _| {}).expect("stage 2");
    let secs = t.elapsed().as_secs_f64();
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed + 1);
    let draws = r.flow.sample(&mut rng, EVAL).expect("stage-2 draws");
    let info = json!({ "stage2_s": secs, "steps": s.steps, "final_elbo": r.elbo.last(), "ess": r.ess,
                       "log_z": r.log_z, "log_z_err": r.log_z_err, "nonfinite": r.nonfinite });
    (draws, info)
}

/// Stage-1 steps when `--steps1` gives them (0: the default).
static STEPS1: AtomicUsize = AtomicUsize::new(0);
/// Stage-2 steps when `--steps2` gives them (0: the default).
static STEPS2: AtomicUsize = AtomicUsize::new(0);

/// The stage-1 settings of the examples (see examples/two-stage/README.md).
fn stage1_options(seed: u64) -> FlowOptions {
    let o = FlowOptions { seed, ..FlowOptions::default() };
    match STEPS1.load(Ordering::Relaxed) {
        0 => o,
        steps => FlowOptions { steps, ..o },
    }
}

/// The stage-2 settings of the examples.
fn stage2_settings(seed: u64) -> ReverseKlSettings {
    let s = ReverseKlSettings { seed, ..ReverseKlSettings::default() };
    match STEPS2.load(Ordering::Relaxed) {
        0 => s,
        steps => ReverseKlSettings { steps, ..s },
    }
}

/// The oracle's errors over the pools of seeds `0..k`: quantiles, the share
/// within the example's goal, and the first-order sd of each mean error.
fn floor(case: &HierarchicalCase, case_name: &str, y: &[f64], n: usize, k: u64) -> Value {
    let t = Instant::now();
    let errs: Vec<MomentErrors> = case.floor_errors(y, n, 0..k).into_iter().flatten().collect();
    let q = |f: &dyn Fn(&MomentErrors) -> f64| {
        let mut v: Vec<f64> = errs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        json!({ "p10": at(0.1), "median": at(0.5), "p90": at(0.9) })
    };
    let goal = if case_name == "a" { 0.05 } else { 0.01 };
    let within = |e: &MomentErrors| e.max_mean_err() <= goal && e.max_sd_err() <= goal && (case_name == "a" || e.cov_frobenius <= goal);
    json!({ "bench": "two_stage", "what": "floor", "case": case_name, "n": n, "pools": k, "proper": errs.len(), "y": y,
            "max_mean_err": q(&|e| e.max_mean_err()), "max_sd_err": q(&|e| e.max_sd_err()), "cov_frobenius": q(&|e| e.cov_frobenius),
            "goal": goal, "share_within_goal": errs.iter().filter(|e| within(e)).count() as f64 / errs.len() as f64,
            "mean_err_sd_first_order": case.floor_mean_sd(y, n), "time_s": t.elapsed().as_secs_f64() })
}

fn hierarchical(what: &str, case_name: &str, y: Option<Vec<f64>>, seed: u64, n: usize) -> Value {
    let case = if case_name == "a" { HierarchicalCase::a() } else { HierarchicalCase::b() };
    let y = y.unwrap_or_else(|| if case_name == "a" { REFERENCE_Y_A.to_vec() } else { case.data(0) });
    if what == "floor" {
        return floor(&case, case_name, &y, n, seed.max(1));
    }
    let exact = case.exact(&y);
    let pools = case.pools(&y, n, seed);
    let oracle = case.gaussian_oracle(&pools).map(|m| errors_json(&moments_error(&m, &exact)));
    let s2 = stage2_settings(seed);
    let mut line = json!({ "bench": "two_stage", "what": what, "case": case_name, "seed": seed, "y": y, "n": n, "oracle": oracle });
    match what {
        "tsfb" => {
            let comps = case.exact_components(&y);
            let target = case.target(comps).expect("target");
            let t = Instant::now();
            let r = run_tsfb(&target, &pools, &TsfbSettings { seed, ..TsfbSettings::default() }).expect("tsfb");
            line["time_s"] = json!(t.elapsed().as_secs_f64());
            line["acceptance"] = json!(r.acceptance);
            line["errors"] = errors_json(&moment_errors(r.draws.view(), &exact));
        }
        "exact" => {
            let target = case.target(case.exact_components(&y)).expect("target");
            let (d, info) = stage2(&target, &s2);
            line["stage2"] = info;
            line["errors"] = errors_json(&moment_errors(d.view(), &exact));
        }
        "stage1" => {
            let (comps, s1, checks) = stage1(&pools, &stage1_options(seed), seed);
            line["stage1_s"] = json!(s1);
            line["stage1_checks"] = json!(checks);
            let m = case.quadrature_moments(&comps, &exact).expect("quadrature");
            line["errors"] = errors_json(&moments_error(&m, &exact));
        }
        _ => {
            let (comps, s1, checks) = stage1(&pools, &stage1_options(seed), seed);
            let composite = case.quadrature_moments(&comps, &exact).map(|m| errors_json(&moments_error(&m, &exact))).ok();
            line["stage1_composite"] = json!(composite);
            let target = case.target(comps).expect("target");
            let (d, info) = stage2(&target, &s2);
            line["stage1_s"] = json!(s1);
            line["stage1_checks"] = json!(checks);
            line["stage2"] = info;
            line["errors"] = errors_json(&moment_errors(d.view(), &exact));
        }
    }
    line
}

fn joint_case(seed: u64) -> Value {
    let pools = joint::pools(POOL, seed);
    let (comps, s1, checks) = stage1(&pools, &stage1_options(seed), seed);
    let target = joint::target([comps[0].clone(), comps[1].clone()]).expect("target");
    let (d, info) = stage2(&target, &stage2_settings(seed));
    let kl: Vec<f64> = (0..3).map(|k| joint::kl_to_truth(k, &d.column(k).to_vec())).collect();
    json!({ "bench": "two_stage", "what": "tsnf", "case": "joint", "seed": seed, "stage1_s": s1, "stage1_checks": checks,
            "stage2": info, "kl_1d": kl, "avg_kl_1d": kl.iter().sum::<f64>() / 3.0 })
}

fn dwarfs(what: &str, seed: u64) -> Value {
    let ex = DwarfExample::new(0);
    let exact: Moments = ex.exact_moments(200_000, 1);
    let scaled = |e: &MomentErrors| {
        let m = e.mean_err.iter().zip(&exact.sd).map(|(a, s)| (a / s).abs()).fold(0.0, f64::max);
        let s = e.sd_err.iter().zip(&exact.sd).map(|(a, s)| (a / s).abs()).fold(0.0, f64::max);
        json!({ "max_mean_err_in_sd": m, "max_sd_err_in_sd": s, "cov_frobenius_ages_gamma": e.cov_frobenius })
    };
    let mut line = json!({ "bench": "two_stage", "what": what, "case": "dwarfs", "seed": seed });
    match what {
        "tsfb" => {
            let pools = ex.pools(POOL, seed);
            let target = ex.target(ex.exact_components()).expect("target");
            let t = Instant::now();
            let r = run_tsfb(&target, &pools, &TsfbSettings { seed, ..TsfbSettings::default() }).expect("tsfb");
            line["time_s"] = json!(t.elapsed().as_secs_f64());
            line["acceptance_min_max"] = json!([r.acceptance.iter().cloned().fold(1.0, f64::min), r.acceptance.iter().cloned().fold(0.0, f64::max)]);
            line["errors"] = scaled(&moment_errors(r.draws.view(), &exact));
        }
        "smc" => {
            let target = ex.target(ex.exact_components()).expect("target");
            let prior: Box<dyn seqcal::api::Prior> = Box::new(dwarf_box_prior(&ex));
            let post = Posterior::new(Some(prior), Box::new(target), 1.0);
            let t = Instant::now();
            let mut smc = Smc::new(&post, SmcSettings::default(), seed).expect("smc");
            smc.run(&post).expect("smc run");
            let o = smc.output().expect("smc output");
            line["time_s"] = json!(t.elapsed().as_secs_f64());
            line["calls"] = json!(o.likelihood_calls);
            line["particles"] = json!(o.particles.nrows());
            // The final particles are equally weighted (resampled, then moved).
            line["errors"] = scaled(&moment_errors(o.particles.view(), &exact));
        }
        _ => {
            let pools = ex.pools(POOL, seed);
            let (comps, s1, checks) = stage1(&pools, &stage1_options(seed), seed);
            let target = ex.target(comps).expect("target");
            let (d, info) = stage2(&target, &stage2_settings(seed));
            line["stage1_s"] = json!(s1);
            line["stage1_kl_max"] = json!(checks.iter().map(|c| c["kl_1d"].as_f64().unwrap_or(f64::NAN)).fold(0.0, f64::max));
            line["stage2"] = info;
            line["errors"] = scaled(&moment_errors(d.view(), &exact));
        }
    }
    line
}

/// A box around the exact composite's mass for SMC's initial particles.
fn dwarf_box_prior(ex: &DwarfExample) -> seqcal::prior::UniformBox {
    let m = ex.exact_moments(20_000, 9);
    let bounds: Vec<(f64, f64)> = m.mean.iter().zip(&m.sd).map(|(a, s)| (a - 8.0 * s, a + 8.0 * s)).collect();
    seqcal::prior::UniformBox::new(seqcal::api::ParamSpace::new(ex.names(), bounds).expect("space")).expect("box")
}

fn generate(case: &str, out: &PathBuf, seed: u64) {
    std::fs::create_dir_all(out).expect("output folder");
    let (spec, pools) = match case {
        "a" | "b" => {
            let c = if case == "a" { HierarchicalCase::a() } else { HierarchicalCase::b() };
            let y = if case == "a" { REFERENCE_Y_A.to_vec() } else { c.data(0) };
            (c.spec_toml(seed, ""), c.pools(&y, POOL, seed))
        }
        "dwarfs" => {
            let ex = DwarfExample::new(0);
            (ex.spec_toml(seed, ""), ex.pools(POOL, seed))
        }
        other => panic!("no spec file for {other}: the joint example needs a user term (Rust only)"),
    };
    std::fs::write(out.join("spec.toml"), spec).expect("spec");
    for p in &pools {
        write_csv(p, &out.join(format!("{}.csv", p.label))).expect("pool");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map(String::as_str).unwrap_or("tsnf");
    let case = args.get(1).map(String::as_str).unwrap_or("a");
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let n: usize = flag("--n").map(|v| v.parse().expect("--n: a count")).unwrap_or(POOL);
    let y = flag("--y").map(|v| v.split(',').map(|x| x.trim().parse::<f64>().expect("--y: numbers")).collect());
    if what == "generate" {
        generate(case, &PathBuf::from(flag("--out").expect("--out DIR")), seed);
        return;
    }
    if let Some(v) = flag("--steps2") {
        STEPS2.store(v.parse().expect("--steps2: a number"), Ordering::Relaxed);
    }
    if let Some(v) = flag("--steps1") {
        STEPS1.store(v.parse().expect("--steps1: a number"), Ordering::Relaxed);
    }
    let line = match case {
        "a" | "b" => hierarchical(what, case, y, seed, n),
        "joint" => joint_case(seed),
        "dwarfs" => dwarfs(what, seed),
        other => panic!("unknown case {other}: a, b, joint or dwarfs"),
    };
    println!("{line}");
}

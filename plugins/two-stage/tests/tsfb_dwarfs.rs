//! TSFB on the 151-D white-dwarf analogue against i.i.d. draws of the exact
//! composite: the software pools cover the posterior here (a uniform age
//! prior), so TSFB must agree with the exact draws within its Monte Carlo
//! error, which checks the exact sampler and TSFB against each other.

use seqcal_two_stage::examples::dwarfs::DwarfExample;
use seqcal_two_stage::examples::moment_errors;
use seqcal_two_stage::tsfb::{sweep, PoolBlock};

#[test]
fn tsfb_agrees_with_the_exact_composite() {
    let ex = DwarfExample::new(0);
    let exact = ex.exact_moments(20_000, 1);
    let pools = ex.pools(20_000, 2);
    let blocks: Vec<PoolBlock<'_>> =
        pools.iter().enumerate().map(|(i, p)| PoolBlock { coords: (5 * i..5 * i + 5).collect(), draws: p.draws.view() }).collect();
    let log_h = |x: &[f64]| ex.log_analytic(x);
    let out = sweep(&log_h, &vec![0.0; ex.dim()], &blocks, Some(&ex.conjugate()), &[], 22_000, 2_000, 3);
    let e = moment_errors(out.draws.view(), &exact);
    // Errors in units of the exact sd: the exact side's Monte Carlo error is
    // 1/√20000 ≈ 0.007 sd, TSFB's (acceptance 0.3-0.9, τ of a few sweeps) a few
    // hundredths of an sd; 0.15 sd is several times both.
    let worst_mean = e.mean_err.iter().zip(&exact.sd).map(|(m, s)| (m / s).abs()).fold(0.0, f64::max);
    let worst_sd = e.sd_err.iter().zip(&exact.sd).map(|(m, s)| (m / s).abs()).fold(0.0, f64::max);
    eprintln!(
        "TSFB on the 151-D example: worst |mean err|/sd {worst_mean:.4}, worst |sd err|/sd {worst_sd:.4}, acceptance {:.3}..{:.3}",
        out.acceptance.iter().cloned().fold(1.0, f64::min),
        out.acceptance.iter().cloned().fold(0.0, f64::max)
    );
    for (k, n) in exact.names.iter().enumerate() {
        if (e.sd_err[k] / exact.sd[k]).abs() > 0.05 {
            eprintln!("{n}: sd {} exact {} mean {} exact {}", e.sd[k], exact.sd[k], e.mean[k], exact.mean[k]);
        }
    }
    assert!(worst_mean < 0.15, "{worst_mean}");
    assert!(worst_sd < 0.15, "{worst_sd}");
}

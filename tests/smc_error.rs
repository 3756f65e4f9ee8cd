//! The SMC sampler's reported log Z error is honest: over 20 seeds on one
//! target, the spread of log Z matches the reported standard error within a
//! factor of 1.5, for the tempering path's estimate and for the reported
//! (combined) one, and the mean lies within 3 standard errors of the truth.
//!
//! Target: the standard normal in 2-D (log Z = 0) with the sampler's normal
//! reference, 500 particles, otherwise default settings.

use seqcal::sampler::smc::{Smc, SmcSettings};
use seqcal::sampler::Posterior;

fn spread(name: &str, v: &[(f64, f64)]) {
    let k = v.len() as f64;
    let mean = v.iter().map(|x| x.0).sum::<f64>() / k;
    let sd = (v.iter().map(|x| (x.0 - mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt();
    let reported = (v.iter().map(|x| x.1 * x.1).sum::<f64>() / k).sqrt();
    println!("{name}: mean {mean:.5}, sd over seeds {sd:.5}, reported {reported:.5}, ratio {:.3}", sd / reported);
    assert!(sd / reported < 1.5 && reported / sd < 1.5, "{name}: log Z varies by {sd} over seeds but the reported error is {reported}");
    assert!(mean.abs() < 3.0 * sd / k.sqrt(), "{name}: the mean log Z {mean} is off the exact 0 by more than 3 standard errors of the mean");
}

#[test]
fn the_reported_log_z_error_matches_the_spread_over_20_seeds() {
    let (mut path, mut combined) = (Vec::new(), Vec::new());
    for seed in 0..20 {
        let t = seqcal::targets::build("gaussian:dim=2").unwrap();
        let post = Posterior::new(t.prior, t.likelihood, 1.0);
        let mut smc = Smc::new(&post, SmcSettings { particles: 500, ..SmcSettings::default() }, seed).unwrap();
        smc.run(&post).unwrap();
        let o = smc.output().unwrap();
        path.push(o.log_z_path);
        combined.push((o.log_z, o.log_z_err));
    }
    spread("tempering path", &path);
    spread("reported", &combined);
}

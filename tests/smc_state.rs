//! The SMC sampler's state: a run restored from its bytes after any step
//! continues bit for bit as the uninterrupted run, whatever the number of
//! threads; bytes of another run or cut short are refused with a message.

use seqcal::sampler::smc::{Smc, SmcOutput, SmcSettings};
use seqcal::sampler::Posterior;

fn posterior() -> Posterior {
    let t = seqcal::targets::build("gaussian_shells").unwrap();
    Posterior::new(t.prior, t.likelihood, 1.0)
}

fn sampler(settings: &SmcSettings, seed: u64) -> Smc {
    Smc::new(&posterior(), settings.clone(), seed).unwrap()
}

fn settings() -> SmcSettings {
    SmcSettings { particles: 300, ..SmcSettings::default() }
}

fn bits(o: &SmcOutput) -> (Vec<u64>, Vec<u64>, Vec<u64>, u64, u64, u64) {
    let b = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    (b(o.particles.as_slice().unwrap()), b(&o.log_lik), b(&o.temperatures), o.log_z.to_bits(), o.log_z_err.to_bits(), o.likelihood_calls)
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

#[test]
fn a_restored_run_continues_bit_for_bit_whatever_the_thread_count() {
    let s = settings();
    let post = posterior();
    let full = in_pool(2, || {
        let mut smc = sampler(&s, 5);
        smc.run(&post).unwrap();
        smc.output().unwrap()
    });
    assert!(full.temperatures.len() > 4, "too few steps to test: {:?}", full.temperatures);
    // Stop after 1, 3 and 5 steps (the flow was fitted by then), restore in a
    // fresh sampler with another thread count, and finish.
    for stop in [1, 3, 5] {
        let bytes = in_pool(2, || {
            let mut smc = sampler(&s, 5);
            for _ in 0..stop {
                smc.step(&post).unwrap();
            }
            smc.state_bytes()
        });
        let resumed = in_pool(1, || {
            let mut smc = sampler(&s, 5);
            smc.restore(&bytes).unwrap();
            // The restored state writes the same bytes again.
            assert_eq!(smc.state_bytes(), bytes, "stop after {stop}");
            smc.run(&post).unwrap();
            smc.output().unwrap()
        });
        assert_eq!(bits(&resumed), bits(&full), "resumed after {stop} steps");
    }
}

#[test]
fn other_or_damaged_states_are_refused() {
    let s = settings();
    let post = posterior();
    let mut smc = sampler(&s, 5);
    smc.step(&post).unwrap();
    smc.step(&post).unwrap();
    let bytes = smc.state_bytes();
    let msg = |r: seqcal::Result<()>| r.unwrap_err().to_string();
    assert!(msg(sampler(&s, 6).restore(&bytes)).contains("another seed"));
    let other = SmcSettings { particles: 301, ..settings() };
    assert!(msg(sampler(&other, 5).restore(&bytes)).contains("other settings"));
    assert!(msg(sampler(&s, 5).restore(&bytes[..bytes.len() - 3])).contains("truncated"));
    assert!(msg(sampler(&s, 5).restore(b"not a state")).contains("not an SMC state"));
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(msg(sampler(&s, 5).restore(&longer)).contains("trailing"));
}

/// The same through the sampler contract the executor drives: a state
/// saved after any step and restored into a new sampler finishes as the
/// uninterrupted run, and the final output holds the weights, log Z and the
/// `smc` group.
#[test]
fn the_contract_adapter_resumes_bit_for_bit_and_reports() {
    use seqcal::sampler::smc::SmcSampler;
    use seqcal::sampler::{Sampler, SmcConfig};
    use std::collections::BTreeMap;

    let post = posterior();
    let config = SmcConfig { particles: 300, ..SmcConfig::default() };
    let x0 = ndarray::Array2::zeros((300, 2));
    let mut a = SmcSampler::start(&config, &post, x0.clone(), 9).unwrap();
    let mut saved = None;
    let mut k = 0;
    while !a.done() {
        k += 1;
        let r = a.step(&post, k).unwrap();
        assert_eq!(r.fields.iter().map(|f| f.0).collect::<Vec<_>>(), ["temperature", "ess", "calls", "acceptance", "log_z"]);
        if k == 3 {
            saved = Some(a.save(k));
        }
    }
    let fa = a.finish();
    let mut b = SmcSampler::restore(&config, &saved.unwrap(), 9, &BTreeMap::new()).unwrap();
    while !b.done() {
        k += 1;
        b.step(&post, k).unwrap();
    }
    let fb = b.finish();
    let (da, db) = (fa.draws.unwrap(), fb.draws.unwrap());
    assert_eq!(da.0, db.0);
    assert_eq!(fa.log_z, fb.log_z);
    let w = fa.weights.unwrap();
    assert_eq!(w.len(), 300);
    let extra = fa.extra.unwrap();
    assert_eq!(extra.name, "smc");
    let temps = &extra.arrays["temperatures"];
    assert_eq!((temps[0], *temps.last().unwrap()), (0.0, 1.0));
    assert_eq!(extra.arrays["ess"].len(), temps.len() - 1);
    assert_eq!(extra.scalars["log_z"], fa.log_z.unwrap().0);
    assert!(extra.scalars["likelihood_calls"] > 0.0);
    // A state of another sampler is refused.
    let mut other = a.save(k);
    other.kind = "ensemble-v1".into();
    assert!(SmcSampler::restore(&config, &other, 9, &BTreeMap::new()).unwrap_err().to_string().contains("not smc-v1"));
}

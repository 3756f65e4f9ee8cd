//! The SMC sampler's state: a run restored from its bytes after any step
//! continues bit for bit as the uninterrupted run, whatever the number of
//! threads; bytes of another run or cut short are refused with a message.

use seqcal::sampler::smc::{Smc, SmcOutput, SmcSettings};
use seqcal::sampler::Posterior;

fn sampler(settings: &SmcSettings, seed: u64) -> Smc {
    let t = seqcal::targets::build("gaussian_shells").unwrap();
    Smc::new(Posterior::new(t.prior, t.likelihood, 1.0), settings.clone(), seed).unwrap()
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
    let full = in_pool(2, || {
        let mut smc = sampler(&s, 5);
        smc.run().unwrap();
        smc.output().unwrap()
    });
    assert!(full.temperatures.len() > 4, "too few steps to test: {:?}", full.temperatures);
    // Stop after 1, 3 and 5 steps (the flow was fitted by then), restore in a
    // fresh sampler with another thread count, and finish.
    for stop in [1, 3, 5] {
        let bytes = in_pool(2, || {
            let mut smc = sampler(&s, 5);
            for _ in 0..stop {
                smc.step().unwrap();
            }
            smc.state_bytes()
        });
        let resumed = in_pool(1, || {
            let mut smc = sampler(&s, 5);
            smc.restore(&bytes).unwrap();
            // The restored state writes the same bytes again.
            assert_eq!(smc.state_bytes(), bytes, "stop after {stop}");
            smc.run().unwrap();
            smc.output().unwrap()
        });
        assert_eq!(bits(&resumed), bits(&full), "resumed after {stop} steps");
    }
}

#[test]
fn other_or_damaged_states_are_refused() {
    let s = settings();
    let mut smc = sampler(&s, 5);
    smc.step().unwrap();
    smc.step().unwrap();
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

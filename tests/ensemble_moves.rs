//! emcee's own statistical acceptance tests, for every move, plus
//! thread-count independence.
//!
//! From emcee's test suite (`src/emcee/tests/integration/test_proposal.py`):
//! standard normal target, ndim 1 or 3, 32 walkers, 2000 steps (8000 in
//! 3-D), walkers started from N(0, 1): every walker's acceptance fraction in
//! (0.1, 0.9), |mean| < 0.08, |sd - 1| < 0.05, and in 1-D a KS statistic
//! against N(0, 1) below 0.05. Started inside U(0, 1), the chain must leave
//! it: KS statistic against U(0, 1) above 0.1.

use ndarray::{Array2, Array3};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use seqcal::sampler::ensemble::{parse_moves, Ensemble, EnsembleSettings};
use seqcal::sampler::{Parallelism, Posterior};
use statrs::distribution::{ContinuousCDF, Normal};

const MOVES: [&str; 5] = ["stretch", "de", "snooker", "walk", "stretch:0.5,de:0.3,snooker:0.1,walk:0.1"];

fn posterior(dim: usize, par: Parallelism) -> Posterior {
    let t = seqcal::targets::build(&format!("gaussian:dim={dim}")).unwrap();
    Posterior::new(t.prior, t.likelihood, 1.0).with_parallelism(par)
}

/// Runs and returns (draws, acceptance fractions).
fn run(moves: &str, dim: usize, steps: usize, x0: Array2<f64>, seed: u64, par: Parallelism) -> (Array3<f64>, Vec<f64>) {
    let post = posterior(dim, par);
    let settings = EnsembleSettings { walkers: 32, moves: parse_moves(moves).unwrap() };
    let mut ens = Ensemble::new(x0, &post, &settings, seed).unwrap();
    let mut out = Array3::zeros((steps, 32, dim));
    let mut acc = vec![0.0; 32];
    for i in 0..steps {
        let r = ens.step(&post).unwrap();
        for (a, ok) in acc.iter_mut().zip(&r.accepted) {
            *a += *ok as u8 as f64 / steps as f64;
        }
        out.slice_mut(ndarray::s![i, .., ..]).assign(ens.positions());
    }
    (out, acc)
}

fn normal_start(dim: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((32, dim), |_| StandardNormal.sample(&mut rng))
}

fn ks(mut x: Vec<f64>, cdf: impl Fn(f64) -> f64) -> f64 {
    x.sort_by(f64::total_cmp);
    let n = x.len() as f64;
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let f = cdf(v);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max)
}

fn check_normal(moves: &str, dim: usize, steps: usize) {
    let (draws, acc) = run(moves, dim, steps, normal_start(dim, 42), 1234, Parallelism::Serial);
    for (k, a) in acc.iter().enumerate() {
        assert!(*a > 0.1 && *a < 0.9, "{moves}, {dim}-D: walker {k} acceptance {a}");
    }
    for j in 0..dim {
        let col: Vec<f64> = draws.slice(ndarray::s![.., .., j]).iter().copied().collect();
        let n = col.len() as f64;
        let mean = col.iter().sum::<f64>() / n;
        let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(mean.abs() < 0.08, "{moves}, {dim}-D, param {j}: mean {mean}");
        assert!((sd - 1.0).abs() < 0.05, "{moves}, {dim}-D, param {j}: sd {sd}");
        if dim == 1 {
            let n01 = Normal::new(0.0, 1.0).unwrap();
            let d = ks(col, |v| n01.cdf(v));
            assert!(d < 0.05, "{moves}: KS vs N(0,1) = {d}");
        }
    }
}

#[test]
fn every_move_samples_a_1d_normal() {
    for m in MOVES {
        check_normal(m, 1, 2000);
    }
}

#[test]
fn every_move_samples_a_3d_normal() {
    for m in MOVES {
        check_normal(m, 3, 8000);
    }
}

#[test]
fn every_move_leaves_a_uniform_start() {
    for m in MOVES {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let x0 = Array2::from_shape_fn((32, 1), |_| rand::RngExt::random::<f64>(&mut rng));
        let (draws, _) = run(m, 1, 2000, x0, 99, Parallelism::Serial);
        let d = ks(draws.iter().copied().collect(), |v| v.clamp(0.0, 1.0));
        assert!(d > 0.1, "{m}: KS vs U(0,1) = {d}: the chain did not leave its start");
    }
}

#[test]
fn same_seed_same_chain_whatever_the_threads() {
    for m in MOVES {
        let (a, _) = run(m, 3, 300, normal_start(3, 5), 77, Parallelism::Serial);
        let (b, _) = run(m, 3, 300, normal_start(3, 5), 77, Parallelism::Parallel);
        assert!(a == b, "{m}: serial and parallel chains differ");
        let (c, _) = run(m, 3, 300, normal_start(3, 5), 78, Parallelism::Serial);
        assert!(a != c, "{m}: the seed has no effect");
    }
}

#[test]
fn degenerate_or_small_ensembles_are_refused() {
    let post = posterior(3, Parallelism::Serial);
    let settings = EnsembleSettings { walkers: 32, moves: parse_moves("stretch").unwrap() };
    // All walkers on a line: a 1-D subspace of 3-D.
    let x0 = Array2::from_shape_fn((32, 3), |(k, j)| k as f64 * 0.01 * (j + 1) as f64);
    let err = Ensemble::new(x0, &post, &settings, 0).err().unwrap().to_string();
    assert!(err.contains("degenerate"), "{err}");
    let few = EnsembleSettings { walkers: 4, moves: parse_moves("stretch").unwrap() };
    let err = Ensemble::new(normal_start(3, 1).slice(ndarray::s![..4, ..]).to_owned(), &post, &few, 0).err().unwrap().to_string();
    assert!(err.contains("at least 2 x dim = 6"), "{err}");
}

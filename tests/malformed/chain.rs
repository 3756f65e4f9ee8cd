//! Chains: HDF5 files (emcee's and seqcal's layout, with a sampler state)
//! and CSV files.

use std::path::Path;

use ndarray::{Array1, Array2, Array3};
use proptest::prelude::*;
use proptest::sample::select;
use seqcal::chain::{read_any, read_csv, write_csv, write_hdf5, Chain, ChainReader, Summary};

use crate::h5ops::{self, H5Op};
use crate::mutate::{bytes, check, no_panic, show, text, Bytes, Text};
use crate::{at_the_cli, cases, fixtures_dir};

/// A chain with every optional array: 6 iterations × 4 walkers × 2 parameters.
fn full_chain() -> Chain {
    let draws = Array3::from_shape_fn((6, 4, 2), |(i, w, d)| 0.05 + (i * 8 + w * 2 + d) as f64 / 60.0);
    let mut c = Chain::from_draws(draws);
    c.names = vec!["a".into(), "b".into()];
    c.bounds = vec![(0.0, 1.0), (f64::NEG_INFINITY, f64::INFINITY)];
    let per = |k: f64| Some(Array2::from_shape_fn((6, 4), |(i, w)| -k * (1.0 + i as f64 + w as f64)));
    c.log_prob = per(1.0);
    c.log_prior = per(0.5);
    c.log_likelihood = per(0.5);
    c.weights = Some(Array2::from_elem((6, 4), 0.25));
    c.accepted = Array1::from_elem(4, 3.0);
    c.attrs.insert("seed".into(), "1".into());
    c
}

/// Everything `chain info`, `--resume` and the prior plugins read of a chain file.
fn read_hdf5_all(p: &Path) {
    show("hdf5 chain", &read_any(p));
    let r = ChainReader::open(p);
    show("hdf5 chain header", &r);
    if let Ok(r) = r {
        for b in r.blocks(4).flatten() {
            if b.rows() > 0 && b.draws.dim().1 > 0 {
                let _ = b.weight(0, 0);
            }
        }
        let _ = Summary::from_reader(&r, 1, 2, 3);
        let st = r.sampler_state();
        show("sampler state", &st);
        if let Ok(Some(st)) = st {
            show("sampler state check", &st.check_against(&r, None));
            let _ = st.check_against(&r, Some(&st.values.column(0).to_vec()));
        }
    }
}

const DATASETS: &[&str] = &[
    "mcmc",
    "mcmc/chain",
    "mcmc/log_prob",
    "mcmc/accepted",
    "mcmc/log_prior",
    "mcmc/log_likelihood",
    "mcmc/weights",
    "mcmc/sampler_state",
    "mcmc/sampler_state/positions",
    "mcmc/sampler_state/values",
    "mcmc/sampler_state/rng",
    "mcmc/sampler_state/accepted",
];
const ATTRS: &[(&str, &str)] = &[
    ("mcmc", "nwalkers"),
    ("mcmc", "ndim"),
    ("mcmc", "iteration"),
    ("mcmc", "has_log_prob"),
    ("mcmc", "complete"),
    ("mcmc", "version"),
    ("mcmc", "param_names"),
    ("mcmc", "bounds"),
    ("mcmc", "has_blobs"),
    ("mcmc", "seed"),
    ("mcmc/sampler_state", "kind"),
    ("mcmc/sampler_state", "iteration"),
    ("mcmc/sampler_state", "checksum"),
    ("mcmc/chain", "ndim"),
];

/// Valid chain files: one with every optional array, one written by `seqcal
/// sample` (with its sampler state).
fn valid_chains(dir: &Path) -> Vec<std::path::PathBuf> {
    let full = dir.join("full.h5");
    write_hdf5(&full_chain(), &full).unwrap();
    let sampled = dir.join("sampled.h5");
    let s = sampled.to_str().unwrap();
    crate::common::succeeds(&[
        "sample",
        "--target",
        "gaussian:dim=2",
        "--walkers",
        "6",
        "--steps",
        "9",
        "--checkpoint-every",
        "4",
        "--quiet",
        "-o",
        s,
    ]);
    vec![full, sampled]
}

#[test]
fn hdf5_chains_with_damaged_structure_never_panic() {
    let dir = fixtures_dir();
    let valid = valid_chains(dir.path());
    let p = dir.path().join("c.h5");
    let ops = prop::collection::vec(h5ops::op(DATASETS, ATTRS), 1..4);
    check("hdf5_chains_structure", cases(160), (0..valid.len(), ops), |(k, ops): (usize, Vec<H5Op>)| {
        std::fs::copy(&valid[k], &p).unwrap();
        ops.iter().for_each(|op| h5ops::apply(&p, op));
        no_panic("reading an HDF5 chain", || read_hdf5_all(&p))
    });
}

/// Damaged bytes are read by `seqcal chain info`, one process per case:
/// libhdf5 (1.10) can corrupt its own heap on some damaged files (seen as a
/// crash in a later, unrelated read of the same process), so each case gets a
/// fresh process, and a case that crashes that process fails the test.
#[test]
fn hdf5_chains_with_damaged_bytes_at_the_cli() {
    let dir = fixtures_dir();
    let valid: Vec<Vec<u8>> = valid_chains(dir.path()).iter().map(|p| std::fs::read(p).unwrap()).collect();
    let p = dir.path().join("c.h5");
    check("hdf5_chains_bytes", cases(64), (0..valid.len(), bytes()), |(k, m): (usize, Bytes)| {
        std::fs::write(&p, m.apply(&valid[k])).unwrap();
        at_the_cli(&["chain", "info", s(&p)], false)
    });
}

#[test]
fn csv_chains_never_panic() {
    let dir = fixtures_dir();
    let full = dir.path().join("full.csv");
    write_csv(&full_chain(), &full).unwrap();
    let mut valid = vec![std::fs::read_to_string(&full).unwrap()];
    valid.push("a,b\n0.1,0.2\n0.3,0.4\n0.5,0.6\n".into());
    valid.push("iteration,walker,x,log_prob,weight\n0,0,1,-1,1\n0,1,2,-inf,0.5\n1,0,3,-2,1\n1,1,4,-3,2\n".into());
    let p = dir.path().join("c.csv");
    check("csv_chains", cases(256), (select(valid), text()), |(v, m): (String, Text)| {
        std::fs::write(&p, m.apply(&v)).unwrap();
        no_panic("reading a CSV chain", || {
            let r = read_csv(&p);
            show("csv chain", &r);
            if let Ok(c) = r {
                let _ = (c.flat(), c.discard(1).thin(2), c.acceptance_fraction());
            }
        })
    });
}

/// A sampler state whose datasets claim shapes past any memory (nothing
/// written: the file is small) is refused as damaged before it is read.
#[test]
fn a_sampler_state_claiming_a_huge_shape_is_refused() {
    let dir = fixtures_dir();
    let p = valid_chains(dir.path()).pop().unwrap();
    h5ops::apply(&p, &H5Op::Dataset("mcmc/sampler_state/positions", h5ops::Ds::Sparse(vec![1 << 40, 2])));
    let r = ChainReader::open(&p).unwrap();
    let e = r.sampler_state().unwrap_err().to_string();
    assert!(e.contains("cannot resume: the stored sampler state is damaged") && e.contains("more than the memory available holds"), "{e}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `chain info` on damaged HDF5 and CSV chains, and `sample --resume` on
/// damaged sampler states: exit 0, or 2 with one message.
#[test]
fn malformed_chains_at_the_cli() {
    let dir = fixtures_dir();
    let valid = valid_chains(dir.path());
    let p = dir.path().join("c.h5");
    let ops = prop::collection::vec(h5ops::op(DATASETS, ATTRS), 1..4);
    check("hdf5_chains_cli", cases(16), (0..valid.len(), ops), |(k, ops): (usize, Vec<H5Op>)| {
        std::fs::copy(&valid[k], &p).unwrap();
        ops.iter().for_each(|op| h5ops::apply(&p, op));
        at_the_cli(&["chain", "info", s(&p)], read_any(&p).is_err())?;
        if k == 1 {
            let state = ChainReader::open(&p).and_then(|r| r.sampler_state()?.map_or(Ok(()), |st| st.check_against(&r, None)));
            let resume = ["sample", "--target", "gaussian:dim=2", "--walkers", "6", "--steps", "12", "--checkpoint-every", "4", "--quiet"];
            at_the_cli(&[&resume[..], &["--resume", "-o", s(&p)]].concat(), state.is_err())?;
        }
        Ok(())
    });
    let c = dir.path().join("c.csv");
    let csv_valid = "iteration,walker,x,log_prob,weight\n0,0,1,-1,1\n0,1,2,-inf,0.5\n1,0,3,-2,1\n1,1,4,-3,2\n";
    check("csv_chains_cli", cases(12), text(), |m: Text| {
        std::fs::write(&c, m.apply(csv_valid)).unwrap();
        at_the_cli(&["chain", "info", s(&c)], read_csv(&c).is_err())
    });
}

/// One flipped bit in an attribute message of group `mcmc` made `chain info`
/// crash inside libhdf5 while listing the attributes (case
/// `(0, Flip(Index(4568958399852134154), 1))` of
/// `hdf5_chains_with_damaged_bytes_at_the_cli`): now it is one message.
/// Another (`(1, Flip(Index(3567721930739429764), 16))`) made the hdf5
/// crate's attribute iteration panic: now the file is read.
#[test]
fn a_damaged_attribute_message_is_one_message_not_a_crash() {
    let dir = fixtures_dir();
    let valid = valid_chains(dir.path());
    let flip = |k: usize, index: u128, mask: u8| {
        let mut b = std::fs::read(&valid[k]).unwrap();
        let at = ((b.len() as u128 * index) >> 64) as usize;
        b[at] ^= mask;
        let p = dir.path().join(format!("c{k}.h5"));
        std::fs::write(&p, b).unwrap();
        p
    };
    let p = flip(1, 3567721930739429764, 16);
    at_the_cli(&["chain", "info", s(&p)], false).unwrap();
    let p = flip(0, 4568958399852134154, 1);
    at_the_cli(&["chain", "info", s(&p)], true).unwrap();
    let e = read_any(&p).unwrap_err().to_string();
    assert!(e.contains("c0.h5: cannot read the attributes of group 'mcmc': the file is damaged"), "{e}");
}

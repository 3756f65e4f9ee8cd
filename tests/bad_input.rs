//! Bad input through the real binary: one readable message naming the file
//! and the problem, exit status 2, no panic, and no output left behind that
//! looks complete.

mod common;

use std::path::{Path, PathBuf};

use common::{fails, fixture, listing};
use ndarray::{s, Array3};

fn copy_fixture(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy(fixture("emcee_small.h5"), &p).unwrap();
    p
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `prior sample` with a bad prior: the error names the file and the
/// problem, and no output file appears.
fn prior_fails(prior_toml: &str, expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "prior.toml", prior_toml);
    let out = dir.path().join("out.h5");
    let err = fails(&["prior", "sample", "--config", s(&cfg), "-n", "10", "-o", s(&out)]);
    assert!(err.contains("prior.toml") && err.contains(expect), "expected {expect:?} in: {err}");
    assert_eq!(listing(dir.path()), vec!["prior.toml"], "nothing may be written");
}

#[test]
fn unknown_prior_kind_lists_known_kinds() {
    prior_fails(
        "kind = \"lognormal\"\nnames = [\"a\"]",
        "unknown prior kind \"lognormal\"; known kinds: flow, mixture, normal, product, truncated_normal, two-stage, uniform",
    );
}

#[test]
fn wrong_dimensions_in_a_prior() {
    prior_fails("kind = \"normal\"\nnames = [\"a\", \"b\"]\nmean = [0, 1, 2]\nsd = 1", "\"mean\" has 3 values but the prior has 2 parameters");
    prior_fails("kind = \"uniform\"\nnames = [\"a\", \"b\"]\nbounds = [[0, 1]]", "2 parameter names but 1 bounds");
}

#[test]
fn bounds_with_lower_not_below_upper() {
    prior_fails("kind = \"uniform\"\nnames = [\"a\", \"b\"]\nbounds = [[0, 1], [2, 2]]", "parameter \"b\" has bounds [2, 2]");
    prior_fails("kind = \"truncated_normal\"\nnames = [\"a\"]\nmean = 0\nsd = 1\nbounds = [[3, -3]]", "lower bound must be below");
}

#[test]
fn malformed_toml_is_named() {
    prior_fails("kind = \"uniform\nnames = [", "prior.toml");
}

#[test]
fn nan_or_infinity_in_an_hdf5_chain() {
    for (bad, shown) in [(f64::NAN, "NaN"), (f64::INFINITY, "inf")] {
        let dir = tempfile::tempdir().unwrap();
        let p = copy_fixture(dir.path(), "nan.h5");
        {
            let f = hdf5::File::open_rw(&p).unwrap();
            let ds = f.dataset("mcmc/chain").unwrap();
            ds.write_slice(&Array3::from_elem((1, 1, 1), bad), s![17..18, 4..5, 1..2]).unwrap();
            drop(ds);
            f.close().unwrap();
        }
        let err = fails(&["chain", "info", s(&p)]);
        assert!(err.contains("nan.h5") && err.contains(&format!("iteration 17, walker 4, parameter \"x1\" is {shown}")), "{err}");
    }
}

#[test]
fn nan_in_a_csv_chain_and_no_half_written_output() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "in.csv", "a,b\n1,2\n3,NaN\n");
    let out = dir.path().join("out.h5");
    let err = fails(&["chain", "convert", s(&csv), s(&out)]);
    assert!(err.contains("in.csv: line 3") && err.contains("column \"b\" is NaN"), "{err}");
    assert_eq!(listing(dir.path()), vec!["in.csv"]);
}

#[test]
fn malformed_csv_row() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "bad.csv", "a,b,c\n1,2,3\n4,5\n");
    let err = fails(&["chain", "info", s(&csv)]);
    assert!(err.contains("bad.csv: line 3: expected 3 fields, found 2"), "{err}");
    let csv = write(dir.path(), "word.csv", "a,b\n1,2\n4,five\n");
    let err = fails(&["chain", "convert", s(&csv), s(&dir.path().join("o.h5"))]);
    assert!(err.contains("word.csv: line 3: column \"b\": \"five\" is not a number"), "{err}");
    assert!(!dir.path().join("o.h5").exists());
}

#[test]
fn missing_group() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("other.h5");
    {
        let f = hdf5::File::create(&p).unwrap();
        drop(f.create_group("samples").unwrap());
        f.close().unwrap();
    }
    let err = fails(&["chain", "info", s(&p)]);
    assert!(err.contains("other.h5: no group 'mcmc'") && err.contains("samples"), "{err}");
}

#[test]
fn missing_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let p = copy_fixture(dir.path(), "nolp.h5");
    {
        let f = hdf5::File::open_rw(&p).unwrap();
        f.group("mcmc").unwrap().unlink("log_prob").unwrap();
        f.close().unwrap();
    }
    let err = fails(&["chain", "info", s(&p)]);
    assert!(err.contains("nolp.h5: group 'mcmc' has no dataset 'log_prob'"), "{err}");
}

#[test]
fn truncated_hdf5_file() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("emcee_small.h5")).unwrap();
    let p = dir.path().join("cut.h5");
    std::fs::write(&p, &bytes[..bytes.len() / 3]).unwrap();
    let err = fails(&["chain", "info", s(&p)]);
    assert!(err.contains("cut.h5"), "{err}");
}

#[test]
fn not_an_hdf5_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "chain.h5", "iteration,walker,a\n0,0,1\n");
    let err = fails(&["chain", "info", s(&p)]);
    assert!(err.contains("chain.h5: not a readable HDF5 file"), "{err}");
    let err = fails(&["chain", "info", s(&dir.path().join("absent.h5"))]);
    assert!(err.contains("absent.h5: no such file"), "{err}");
}

#[test]
fn attributes_disagreeing_with_datasets() {
    let dir = tempfile::tempdir().unwrap();
    let p = copy_fixture(dir.path(), "lying.h5");
    {
        let f = hdf5::File::open_rw(&p).unwrap();
        f.group("mcmc").unwrap().attr("iteration").unwrap().write_scalar(&10_000i64).unwrap();
        f.close().unwrap();
    }
    let err = fails(&["chain", "info", s(&p)]);
    assert!(err.contains("says 10000 rows but dataset 'chain' holds only 240: the file is truncated"), "{err}");
}

#[test]
fn bad_arguments_exit_2() {
    let out = common::seqcal().args(["chain", "info"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = common::seqcal().args(["prior", "sample", "--config", "x.toml", "-n", "0", "-o", "o.h5"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let err = fails(&["chain", "convert", s(&fixture("emcee_small.h5")), s(&dir.path().join("no/such/dir/out.csv"))]);
    assert!(err.contains("out.csv"), "{err}");
}

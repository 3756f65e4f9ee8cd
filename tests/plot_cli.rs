//! `seqcal plot corner` through the real binary.

mod common;

use common::{fails, fixture, succeeds};

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn corner_png_and_svg_with_overlaid_chains() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.h5");
    succeeds(&["sample", "--target", "correlated_gaussian", "--steps", "1500", "--seed", "1", "-o", s(&a), "--quiet"]);
    let png = dir.path().join("c.png");
    succeeds(&["plot", "corner", s(&a), s(&fixture("emcee_small.h5")), "--labels", "seqcal run,emcee run", "--discard", "100", "-o", s(&png)]);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let svg = dir.path().join("c.svg");
    succeeds(&["plot", "corner", s(&a), s(&fixture("emcee_small.h5")), "--labels", "seqcal run,emcee run", "-o", s(&svg)]);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("seqcal run") && text.contains("emcee run") && text.contains("x2"), "legend or axis names missing");
    // Two chains x (3 lower panels x 3 levels): contour paths in both colours.
    assert!(text.matches("#1F77B4").count() > 20 && text.matches("#D62728").count() > 20);
    let listing = common::listing(dir.path());
    assert!(listing.iter().all(|f| !f.contains("partial")), "{listing:?}");
}

#[test]
fn corner_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("other.csv");
    std::fs::write(&csv, "p,q\n1,2\n2,1\n3,3\n").unwrap();
    let out = dir.path().join("x.png");
    let e = fails(&["plot", "corner", s(&fixture("emcee_small.h5")), s(&csv), "-o", s(&out)]);
    assert!(e.contains("other.csv: holds parameters [p, q], the first chain [x0, x1, x2]"), "{e}");
    let e = fails(&["plot", "corner", s(&fixture("emcee_small.h5")), "--params", "x0,y", "-o", s(&out)]);
    assert!(e.contains("has no parameter \"y\""), "{e}");
    let e = fails(&["plot", "corner", s(&fixture("emcee_small.h5")), "--labels", "a,b", "-o", s(&out)]);
    assert!(e.contains("2 labels for 1 chains"), "{e}");
    assert!(!out.exists());
}

#[test]
fn compare_says_same_and_different_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let run = |spec: &str, seed: &str, name: &str| {
        let p = dir.path().join(name);
        succeeds(&["sample", "--target", spec, "--steps", "3000", "--seed", seed, "-o", s(&p), "--quiet"]);
        p
    };
    let (a, b) = (run("correlated_gaussian", "1", "a.h5"), run("correlated_gaussian", "2", "b.h5"));
    let c = run("correlated_gaussian:rho=0.8", "3", "c.h5");
    let j: serde_json::Value = serde_json::from_str(&succeeds(&["compare", s(&a), s(&b), "--discard", "500", "--json"])).unwrap();
    assert!(j["verdict"].as_str().unwrap().starts_with("consistent"), "{j}");
    // Two independent chains of one law: KL near its floor, means within a few MCSE.
    assert!(j["mean_kl_1d_ab"].as_f64().unwrap() < 0.01 && j["mean_kl_2d_ba"].as_f64().unwrap() < 0.03, "{j}");
    // Same marginals, different correlation: only the 2-D measures and the covariance see it.
    let j: serde_json::Value = serde_json::from_str(&succeeds(&["compare", s(&a), s(&c), "--discard", "500", "--json"])).unwrap();
    assert!(j["verdict"].as_str().unwrap().starts_with("differ"), "{j}");
    assert!(j["mean_kl_2d_ab"].as_f64().unwrap() > 0.1 && j["cov_frobenius_rel"].as_f64().unwrap() > 0.1, "{j}");
    let f = run("funnel:dim=3", "4", "f.h5");
    let e = fails(&["compare", s(&a), s(&f)]);
    assert!(e.contains("holds parameters [x0, x1, x2] but") && e.contains("[v, x1, x2]"), "{e}");
}

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
    assert!(
        text.starts_with("<svg") && text.contains("seqcal run") && text.contains("emcee run") && text.contains("x2"),
        "legend or axis names missing"
    );
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

// ---- corner plots for print: boundary-corrected densities, ranges, ticks, truths, sizes ----

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqcal::report::{corner_layout, density_curve, panel_ranges, CornerOptions, DensityAxis, Edges, RangeMode, Samples};

/// Draws of f(x) = (1 + 2x) / 2 on [0, 1]: linear, 0.5 at the lower bound,
/// 1.5 at the upper (inverse CDF of F(x) = (x + x^2) / 2).
fn linear_draws(n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..n).map(|_| (-1.0 + (1.0 + 8.0 * rand::RngExt::random::<f64>(rng)).sqrt()) / 2.0).collect()
}

#[test]
fn density_at_a_hard_bound_is_the_true_density_within_monte_carlo_error() {
    // 20 independent batches; the mean curve and its standard error from the
    // spread between batches. A linear density is reproduced without bias by
    // the local-linear boundary correction, so the only error is Monte Carlo.
    let (batches, n) = (20, 50_000);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let axis = |bounded| DensityAxis { range: (0.0, 1.0), bins: 40, smooth: 1.0, bounded };
    let both = Edges { lower: true, upper: true };
    let mut curves = Vec::new();
    let mut plain = Vec::new();
    for _ in 0..batches {
        let x = linear_draws(n, &mut rng);
        curves.push(density_curve(&x, None, &axis(both)));
        plain.push(density_curve(&x, None, &axis(Edges::default())));
    }
    let stats = |cs: &[Vec<(f64, f64)>], i: usize| {
        let v: Vec<f64> = cs.iter().map(|c| c[i].1).collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
        (m, sd / (v.len() as f64).sqrt())
    };
    let points = curves[0].len();
    assert_eq!(points, 42, "both ends and 40 bin centres");
    assert_eq!((curves[0][0].0, curves[0][points - 1].0), (0.0, 1.0));
    for i in 0..points {
        let x = curves[0][i].0;
        let (m, se) = stats(&curves, i);
        let truth = 0.5 + x;
        assert!(se > 0.0 && se < 0.02, "standard error {se} at {x}");
        assert!((m - truth).abs() < 4.5 * se, "density at {x}: {m} +- {se}, true {truth}");
    }
    // Without the correction the density at each bound is pulled far down:
    // the check above can fail.
    let (m, se) = stats(&plain, points - 1);
    assert!(m < 1.5 - 20.0 * se, "uncorrected density at the upper bound {m} +- {se}");
    let (m, se) = stats(&plain, 0);
    assert!(m < 0.5 - 20.0 * se, "uncorrected density at the lower bound {m} +- {se}");
}

/// Samples of `dim` parameters: parameter j is uniform on [0, 1] for j = 0,
/// otherwise Gaussian with scale 10^(j - 3) around 3 * 10^(j - 3) (labels of
/// very different lengths).
fn synthetic(dim: usize, n: usize, seed: u64) -> Samples {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draws = Vec::with_capacity(n * dim);
    for _ in 0..n {
        for j in 0..dim {
            let u: f64 = rand::RngExt::random(&mut rng);
            if j == 0 {
                draws.push(u);
            } else {
                let z: f64 = rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut rng);
                let s = 10f64.powi(j as i32 - 3);
                draws.push(3.0 * s + s * z);
            }
        }
    }
    Samples { label: "synthetic".into(), draws, weights: None }
}

#[test]
fn range_prior_spans_the_bounds_and_data_range_the_draws() {
    let set = synthetic(3, 20_000, 3);
    let bounds = [(0.0, 1.0), (-1.0, 1.0), (f64::NEG_INFINITY, f64::INFINITY)];
    let prior = panel_ranges(std::slice::from_ref(&set), &bounds, RangeMode::Prior);
    // Bounded parameters: the density over the box, the axis 3% beyond it.
    assert_eq!(prior[0].density, (0.0, 1.0));
    assert!((prior[0].axis.0 + 0.03).abs() < 1e-12 && (prior[0].axis.1 - 1.03).abs() < 1e-12, "{:?}", prior[0]);
    assert_eq!(prior[1].density, (-1.0, 1.0));
    assert!(prior[1].bounded.lower && prior[1].bounded.upper);
    // No finite bound: the draws' range, as in the default mode.
    let data = panel_ranges(std::slice::from_ref(&set), &bounds, RangeMode::Data);
    assert_eq!(prior[2], data[2]);
    assert!(!data[2].bounded.lower && !data[2].bounded.upper);
    // Default: x1 ~ N(0.03, 0.01) spans about [0, 0.06], far inside its
    // bounds; x0 fills its box, so both bounds are drawn.
    assert!(data[1].axis.0 > -0.05 && data[1].axis.1 < 0.1 && !data[1].bounded.lower, "{:?}", data[1]);
    assert!(data[0].bounded.lower && data[0].bounded.upper && data[0].density == (0.0, 1.0));
    // The layout the plot draws uses these ranges.
    let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let opts = CornerOptions { range: RangeMode::Prior, ..Default::default() };
    let layout = corner_layout(std::slice::from_ref(&set), &names, &bounds, &opts).unwrap();
    assert_eq!(layout.ranges, prior);
}

#[test]
fn seven_parameter_layout_is_readable_at_column_width_and_labels_never_collide() {
    let dim = 7;
    let set = synthetic(dim, 5_000, 5);
    let names: Vec<String> = ["norm", "slope", "width", "center", "tail", "mix", "viscosity"].map(String::from).to_vec();
    let mut bounds = vec![(f64::NEG_INFINITY, f64::INFINITY); dim];
    bounds[0] = (0.0, 1.0);
    for titles in [false, true] {
        let opts = CornerOptions { titles, ..Default::default() };
        let l = corner_layout(std::slice::from_ref(&set), &names, &bounds, &opts).unwrap();
        // Printed 3.4 inch wide: tick labels at least 5 pt, names at least
        // 6 pt (the longest name shrinks to fit its panel, not below 5 pt).
        assert!(l.points(l.tick_em, 3.4) >= 5.0, "tick labels {} pt", l.points(l.tick_em, 3.4));
        for (k, &em) in l.name_em.iter().enumerate() {
            let want = if k == dim - 1 { 5.0 } else { 6.0 };
            assert!(l.points(em, 3.4) >= want, "{}: {} pt", names[k], l.points(em, 3.4));
        }
        let boxes = l.text_boxes();
        assert!(boxes.len() > 2 * dim, "{boxes:?}");
        for (i, a) in boxes.iter().enumerate() {
            assert!(a.x0 >= 0.0 && a.y0 >= 0.0 && a.x1 <= f64::from(l.width) && a.y1 <= f64::from(l.height), "outside the image: {a:?}");
            for b in &boxes[i + 1..] {
                assert!(!a.overlaps(b), "labels collide: {a:?} and {b:?}");
            }
        }
        // End ticks are pruned: a label stays within its panel (and half the
        // gap beside it), so it cannot meet a neighbour's.
        for (j, ticks) in l.ticks.iter().enumerate() {
            assert!(!ticks.is_empty(), "parameter {j} has no tick");
            let (x0, _, x1, _) = l.panel_rect(dim - 1, j);
            for t in ticks {
                let b = boxes.iter().find(|b| b.text == t.label && b.x0 <= l.x_px(j, t.value) && b.x1 >= l.x_px(j, t.value)).unwrap();
                assert!(b.x0 >= x0 - 0.5 * l.gap && b.x1 <= x1 + 0.5 * l.gap, "{b:?} leaves panel {j}");
            }
        }
    }
}

/// A chain of a 3-parameter Gaussian written by `seqcal sample`.
fn gaussian_chain(dir: &std::path::Path) -> std::path::PathBuf {
    let a = dir.join("a.h5");
    succeeds(&["sample", "--target", "correlated_gaussian", "--steps", "400", "--seed", "1", "-o", s(&a), "--quiet"]);
    a
}

#[test]
fn corner_truths_range_and_titles_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let a = gaussian_chain(dir.path());
    let truths = dir.path().join("truth.csv");
    std::fs::write(&truths, "x2,x0\n0.5,-0.25\n").unwrap();
    let svg = dir.path().join("c.svg");
    succeeds(&["plot", "corner", s(&a), "--truths", s(&truths), "--range", "prior", "--titles", "-o", s(&svg)]);
    let text = std::fs::read_to_string(&svg).unwrap();
    // Legend: each level named with its line style, the truth marker.
    for name in ["1\u{3c3} (39.3%)", "2\u{3c3} (86.5%)", "3\u{3c3} (98.9%)", "truth"] {
        assert!(text.contains(name), "legend lacks {name}");
    }
    // Titles: +/- parts above each diagonal panel.
    assert_eq!(text.lines().filter(|l| l.trim_start().starts_with('+')).count(), 3, "three titles");
    // Truths name parameters that the chain lacks, or repeat one: refused.
    for (content, wanted) in [
        ("x0,nope\n1,2\n", "column \"nope\" names no parameter of the chain (its parameters: x0, x1, x2)"),
        ("x0\n1\n2\n", "2 rows of values"),
        ("x0,x0\n1,2\n", "two columns are named \"x0\""),
    ] {
        std::fs::write(&truths, content).unwrap();
        let out = dir.path().join("bad.png");
        let e = fails(&["plot", "corner", s(&a), "--truths", s(&truths), "-o", s(&out)]);
        assert!(e.contains(wanted) && e.contains("truth.csv"), "{e}");
        assert!(!out.exists());
    }
    let e = fails(&["plot", "corner", s(&a), "--range", "box", "-o", s(&svg)]);
    assert!(e.contains("invalid value 'box'"), "{e}");
}

#[test]
fn corner_sizes_out_of_range_are_refused_before_reading_anything() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.png");
    // The chain does not exist: a size error must come first.
    let missing = dir.path().join("missing.h5");
    for (args, wanted) in [
        (vec!["--bins", "0"], "--bins 0 is out of range: use 5 to 1000"),
        (vec!["--bins", "1000000000000"], "--bins 1000000000000 is out of range"),
        (vec!["--bins", "18446744073709551615"], "out of range"),
        (vec!["--smooth", "NaN"], "--smooth NaN is out of range"),
        (vec!["--smooth=-1"], "--smooth -1 is out of range: use 0 (none) to 10 bins"),
        (vec!["--smooth", "1e12"], "--smooth 1000000000000 is out of range"),
        (vec!["--smooth", "inf"], "--smooth inf is out of range"),
        (vec!["--panel", "0"], "--panel 0 is out of range"),
    ] {
        let mut all = vec!["plot", "corner", s(&missing), "-o", s(&out)];
        all.extend(args.iter().copied());
        let e = fails(&all);
        assert!(e.contains(wanted), "{args:?}: {e}");
    }
    assert!(!out.exists());
}

#[test]
fn corner_png_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let a = gaussian_chain(dir.path());
    let (p1, p2) = (dir.path().join("1.png"), dir.path().join("2.png"));
    succeeds(&["plot", "corner", s(&a), "--titles", "-o", s(&p1)]);
    succeeds(&["plot", "corner", s(&a), "--titles", "-o", s(&p2)]);
    assert_eq!(std::fs::read(&p1).unwrap(), std::fs::read(&p2).unwrap());
}

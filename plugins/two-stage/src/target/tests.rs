//! The composite target against hand-computed values, and its checks.

use super::*;
use crate::terms::{term_from_table, Flat, HierarchicalNormal, Normal, Uniform};
use ndarray::array;

const LN_2PI: f64 = 1.837_877_066_409_345_5;

fn norm(x: f64, m: f64, s: f64) -> f64 {
    -0.5 * ((x - m) / s).powi(2) - s.ln() - 0.5 * LN_2PI
}

fn factor(label: &str, coords: Vec<usize>, density: impl DiffLogDensity + 'static, role: Role) -> Factor {
    Factor { label: label.into(), coords, density: Arc::new(density), role }
}

fn names(k: usize) -> Vec<String> {
    (0..k).map(|i| format!("y{i}")).collect()
}

/// a ~ N(1, 2²) analytic; (c, b) sampled (here a normal stands in for the flow) with a
/// uniform software prior on (-10, 10)² divided out.
fn product() -> CompositeTarget {
    CompositeTarget::new(
        names(3),
        vec![
            factor("h", vec![0], Normal { mean: vec![1.0], sd: vec![2.0] }, Role::Analytic),
            factor("g", vec![2, 1], Normal { mean: vec![0.5, -1.0], sd: vec![1.0, 0.5] }, Role::Sample { component: 0 }),
            factor("software prior", vec![2, 1], Uniform { lower: vec![-10.0; 2], upper: vec![10.0; 2] }, Role::Divide { component: 0 }),
        ],
        Combination::Product,
    )
    .unwrap()
}

#[test]
fn log_f_is_the_sum_of_the_terms_minus_the_divided_out_density() {
    let t = product();
    let x = array![[0.3, -0.7, 1.1], [2.0, 9.5, -9.0], [0.0, 10.5, 0.0]];
    let got = t.log_density_f64(x.view());
    for i in 0..2 {
        let (a, b, c) = (x[[i, 0]], x[[i, 1]], x[[i, 2]]);
        let want = norm(a, 1.0, 2.0) + norm(c, 0.5, 1.0) + norm(b, -1.0, 0.5) + 2.0 * 20f64.ln();
        assert!((got[i] - want).abs() < 1e-12, "row {i}: {} vs {want}", got[i]);
        let analytic = t.analytic_log_density_f64(x.slice(ndarray::s![i..i + 1, ..]));
        assert!((analytic[0] - (norm(a, 1.0, 2.0) + 2.0 * 20f64.ln())).abs() < 1e-12);
    }
    // Outside the divided-out density's support the target is outside its own support.
    assert_eq!(t.support()[1], (-10.0, 10.0));
    assert_eq!(got[2], f64::NEG_INFINITY);
    // seqcal's samplers see the same values.
    assert_eq!(LogDensity::log_density(&t, &[0.3, -0.7, 1.1]).unwrap(), got[0]);
    // f32 tensors give the same within f32 rounding, and gradients reach the input.
    let v = candle_core::Var::from_tensor(&Tensor::from_vec(vec![0.3f32, -0.7, 1.1], (1, 3), &Device::Cpu).unwrap()).unwrap();
    let lp = DiffLogDensity::log_density(&t, v.as_tensor()).unwrap();
    assert!((lp.to_vec1::<f32>().unwrap()[0] as f64 - got[0]).abs() < 1e-5);
    let g: Vec<f32> = lp.sum_all().unwrap().backward().unwrap().get(v.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let want = [-(0.3 - 1.0) / 4.0, -(-0.7 + 1.0) / 0.25, -(1.1 - 0.5)];
    for (a, b) in g.iter().zip(want) {
        assert!((*a as f64 - b).abs() < 1e-5, "{g:?} vs {want:?}");
    }
}

#[test]
fn a_mixture_is_the_log_sum_of_the_weighted_components() {
    let t = CompositeTarget::new(
        names(2),
        vec![
            factor("flat", vec![0, 1], Flat { dim: 2 }, Role::Analytic),
            factor("g0", vec![0], Normal { mean: vec![0.0], sd: vec![1.0] }, Role::Sample { component: 0 }),
            factor("g1", vec![0, 1], Normal { mean: vec![3.0, 1.0], sd: vec![1.0, 2.0] }, Role::Sample { component: 1 }),
        ],
        Combination::Mixture { weights: vec![1.0, 3.0] },
    )
    .unwrap();
    let (a, b) = (0.4, -0.2);
    let got = t.log_density_f64(array![[a, b]].view())[0];
    let want = (0.25 * norm(a, 0.0, 1.0).exp() + 0.75 * (norm(a, 3.0, 1.0) + norm(b, 1.0, 2.0)).exp()).ln();
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
}

#[test]
fn the_hierarchical_normal_sums_each_group_around_gamma() {
    let h = HierarchicalNormal { k: 3, tau: 2.0 };
    let x = Tensor::from_vec(vec![-4.0, -6.5, -5.0, -5.2], (1, 4), &Device::Cpu).unwrap();
    let got = h.log_density(&x).unwrap().to_vec1::<f64>().unwrap()[0];
    let want = norm(-4.0, -5.2, 2.0) + norm(-6.5, -5.2, 2.0) + norm(-5.0, -5.2, 2.0);
    assert!((got - want).abs() < 1e-12);
}

#[test]
fn bad_targets_are_refused_with_a_message_naming_the_problem() {
    let n = |m: f64| Normal { mean: vec![m], sd: vec![1.0] };
    let err = |names: Vec<String>, factors: Vec<Factor>, c: Combination| CompositeTarget::new(names, factors, c).unwrap_err().to_string();
    let e = err(names(2), vec![factor("h", vec![0], n(0.0), Role::Analytic)], Combination::Product);
    assert!(e.contains("\"y1\" is covered by no"), "{e}");
    // A divided-out density alone does not cover a coordinate.
    let e = err(
        names(2),
        vec![factor("g", vec![0], n(0.0), Role::Sample { component: 0 }), factor("d", vec![1], n(0.0), Role::Divide { component: 0 })],
        Combination::Product,
    );
    assert!(e.contains("other coordinates"), "{e}");
    let e = err(names(2), vec![factor("h", vec![0, 2], Flat { dim: 2 }, Role::Analytic)], Combination::Product);
    assert!(e.contains("factor \"h\": coordinate index 2 is out of range"), "{e}");
    let e = err(names(2), vec![factor("h", vec![0, 1], n(0.0), Role::Analytic)], Combination::Product);
    assert!(e.contains("has 1 coordinates but the factor covers 2 (y0, y1)"), "{e}");
    let e = err(
        names(2),
        vec![factor("h", vec![0, 1], Flat { dim: 2 }, Role::Analytic), factor("g", vec![0], n(0.0), Role::Sample { component: 1 })],
        Combination::Product,
    );
    assert!(e.contains("component 0 has no samples"), "{e}");
    let e = err(names(1), vec![factor("g", vec![0], n(0.0), Role::Sample { component: 0 })], Combination::Mixture { weights: vec![1.0, 1.0] });
    assert!(e.contains("2 weights for 1"), "{e}");
    let e = err(
        names(1),
        vec![
            factor("u", vec![0], Uniform { lower: vec![0.0], upper: vec![1.0] }, Role::Analytic),
            factor("v", vec![0], Uniform { lower: vec![2.0], upper: vec![3.0] }, Role::Analytic),
        ],
        Combination::Product,
    );
    assert!(e.contains("supports do not overlap"), "{e}");
}

#[test]
fn terms_from_tables_check_their_fields() {
    let table = |s: &str| s.parse::<toml::Table>().unwrap();
    let t = term_from_table("normal", &table("mean = [0, 1]\nsd = 2\ncoords = [\"a\", \"b\"]"), 2).unwrap();
    let x = Tensor::from_vec(vec![0.5, 0.5], (1, 2), &Device::Cpu).unwrap();
    let v = t.log_density(&x).unwrap().to_vec1::<f64>().unwrap()[0];
    assert!((v - norm(0.5, 0.0, 2.0) - norm(0.5, 1.0, 2.0)).abs() < 1e-12);
    let lx = term_from_table("log-normal", &table("mu = 0.0\nsigma = 1.0"), 1).unwrap();
    let v = lx.log_density(&Tensor::from_vec(vec![2.0, -1.0], (2, 1), &Device::Cpu).unwrap()).unwrap().to_vec1::<f64>().unwrap();
    assert!((v[0] - (norm(2f64.ln(), 0.0, 1.0) - 2f64.ln())).abs() < 1e-12 && v[1] == f64::NEG_INFINITY, "{v:?}");
    let h = term_from_table("hierarchical_normal", &table("tau = 1.5"), 4).unwrap();
    assert_eq!(h.dim(), 4);
    for (kind, body, dim, want) in [
        ("normal", "mean = 0", 1, "missing field \"sd\""),
        ("normal", "mean = 0\nsd = -1", 1, "sd must be positive"),
        ("normal", "mean = [0, 1, 2]\nsd = 1", 2, "mean has 3 values but the term covers 2"),
        ("normal", "mean = \"zero\"\nsd = 1", 1, "mean must be a number"),
        ("uniform", "lower = 1\nupper = 0", 1, "lower 1 must be below upper 0"),
        ("flat", "sd = 1", 1, "unknown field \"sd\""),
        ("hierarchical_normal", "tau = 1", 1, "at least two coordinates"),
        ("gamma", "", 1, "unknown term kind \"gamma\""),
    ] {
        let e = term_from_table(kind, &table(body), dim).err().unwrap().to_string();
        assert!(e.contains(want), "{kind} {body}: {e}");
    }
}

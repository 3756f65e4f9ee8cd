//! The tensor densities against the f64 ones, and their gradients against finite differences.

use super::*;
use crate::io::{Sidecar, FORMAT};
use crate::spec::{FlowKind, FlowSpec};
use crate::testutil::perturb;
use candle_core::{Device, Var};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqcal_api::Prior;

/// A flow prior of `kind` with random weights on a < a box (-2, 5), b > 1 and c unbounded.
fn random_prior(kind: FlowKind, seed: u64) -> FlowPrior {
    let spec = FlowSpec { kind, hidden: 8, pairs: 2, bins: 5, tail_bound: 3.0, ..FlowSpec::new(3) };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data: Vec<f64> = (0..900).map(|i| ((i * 7919) % 101) as f64 / 40.0 - 1.2 + (i % 3) as f64).collect();
    let mut params = Flow::initial_params(&spec, &data, &mut rng, &Device::Cpu).unwrap();
    perturb(&mut params, &["c", "maf", "nsf", "lu", "an", "L."], 0.3, seed + 1);
    let bounds = vec![(-2.0, 5.0), (1.0, f64::INFINITY), (f64::NEG_INFINITY, f64::INFINITY)];
    let sidecar = Sidecar {
        format: FORMAT.into(),
        spec,
        names: vec!["a".into(), "b".into(), "c".into()],
        bounds: Sidecar::bounds_json(&bounds),
        bounded: true,
        transforms: bounds.iter().map(|&(l, u)| DimTransform::for_bounds(l, u, true)).collect(),
        loss: None,
        settings: None,
        metrics: None,
        chain_hash: None,
        chain_source: None,
        couplings: None,
        arch_choice: None,
    };
    FlowPrior::from_parts(params, sidecar).unwrap()
}

/// Points inside the support, a few near its edges.
fn inside_points(n: usize) -> Array2<f64> {
    Array2::from_shape_fn((n, 3), |(i, j)| {
        let u = ((i * 37 + j * 11) % 97) as f64 / 97.0 + 0.004;
        match j {
            0 => -2.0 + 7.0 * u,
            1 => 1.0 + 6.0 * u * u,
            _ => 8.0 * (u - 0.5),
        }
    })
}

fn tensor(x: &Array2<f64>) -> Tensor {
    Tensor::from_vec(x.iter().copied().collect::<Vec<f64>>(), x.dim(), &Device::Cpu).unwrap()
}

#[test]
fn the_tensor_density_of_a_flow_prior_is_its_f64_log_prob_in_f64_and_f32() {
    for kind in FlowKind::ALL {
        let prior = random_prior(kind, 3);
        let x = inside_points(64);
        let mut want = vec![0.0; 64];
        prior.log_prob_batch(x.view(), &mut want);
        assert!(want.iter().all(|v| v.is_finite()), "{kind}");
        let got: Vec<f64> = prior.log_density(&tensor(&x)).unwrap().to_vec1().unwrap();
        // f32 input: compared with the f64 density at the point rounded to f32 (the points
        // near a bound move the density by more than 1e-5 when rounded).
        let x32 = x.mapv(|v| v as f32 as f64);
        let mut want32 = vec![0.0; 64];
        prior.log_prob_batch(x32.view(), &mut want32);
        let got32: Vec<f32> = prior.log_density(&tensor(&x32).to_dtype(DType::F32).unwrap()).unwrap().to_vec1().unwrap();
        for i in 0..64 {
            assert!((got[i] - want[i]).abs() < 1e-10, "{kind} row {i}: {} vs {}", got[i], want[i]);
            assert!((got32[i] as f64 - want32[i]).abs() < 1e-5 * (1.0 + want32[i].abs()), "{kind} row {i}: {} vs {}", got32[i], want32[i]);
        }
    }
}

#[test]
fn points_outside_the_support_and_nan_give_minus_infinity() {
    let prior = random_prior(FlowKind::Realnvp, 4);
    let x = Tensor::from_vec(
        vec![-2.0, 2.0, 0.0, 5.5, 2.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.5, 0.0, 1.0, 2.0, f64::NAN, 1.0, 2.0, f64::INFINITY, 1.0, 2.0, 0.0],
        (7, 3),
        &Device::Cpu,
    )
    .unwrap();
    let v: Vec<f64> = prior.log_density(&x).unwrap().to_vec1().unwrap();
    assert!(v[..6].iter().all(|v| *v == f64::NEG_INFINITY), "{v:?}");
    assert!(v[6].is_finite(), "{v:?}");
}

/// `d/dx Σ log p(x)` by autodiff against central differences of the f64 density.
fn check_gradient(d: &dyn DiffLogDensity, x: &Array2<f64>, tol: f64) {
    let v = Var::from_tensor(&tensor(x)).unwrap();
    let lp = d.log_density(v.as_tensor()).unwrap();
    let grads = lp.sum_all().unwrap().backward().unwrap();
    let g: Vec<f64> = grads.get(v.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let h = 1e-6;
    for (k, gk) in g.iter().enumerate() {
        let (mut up, mut down) = (x.clone(), x.clone());
        up.as_slice_mut().unwrap()[k] += h;
        down.as_slice_mut().unwrap()[k] -= h;
        let f = |a: &Array2<f64>| d.log_density(&tensor(a)).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap();
        let fd = (f(&up) - f(&down)) / (2.0 * h);
        assert!((fd - gk).abs() < tol * (1.0 + fd.abs()), "{}: entry {k}: autodiff {gk} vs finite differences {fd}", d.describe());
    }
}

#[test]
fn gradients_with_respect_to_the_point_match_finite_differences() {
    for kind in FlowKind::ALL {
        let prior = random_prior(kind, 5);
        check_gradient(&prior, &inside_points(6), 1e-5);
        check_gradient(prior.flow(), &inside_points(6).mapv(|v| v / 3.0), 1e-5);
    }
}

#[test]
fn from_latent_inverts_to_latent_with_the_opposite_log_jacobian() {
    let ts = [
        DimTransform::for_bounds(-2.0, 5.0, true),
        DimTransform::for_bounds(1.0, f64::INFINITY, true),
        DimTransform::for_bounds(f64::NEG_INFINITY, 3.0, true),
    ];
    let x = Tensor::from_vec(vec![-1.9, 1.01, 2.9, 4.99, 30.0, -40.0, 0.3, 2.0, 0.0], (3, 3), &Device::Cpu).unwrap();
    let (y, lj, mask) = to_latent(&ts, &x).unwrap();
    assert_eq!(mask.to_vec1::<u8>().unwrap(), [1, 1, 1]);
    let (back, lj_back) = from_latent(&ts, &y).unwrap();
    let (a, b): (Vec<f64>, Vec<f64>) = (x.flatten_all().unwrap().to_vec1().unwrap(), back.flatten_all().unwrap().to_vec1().unwrap());
    for (u, v) in a.iter().zip(&b) {
        assert!((u - v).abs() < 1e-12 * (1.0 + u.abs()), "{u} vs {v}");
    }
    let (l1, l2): (Vec<f64>, Vec<f64>) = (lj.to_vec1().unwrap(), lj_back.to_vec1().unwrap());
    for (p, q) in l1.iter().zip(&l2) {
        assert!((p + q).abs() < 1e-10, "{p} vs {q}");
    }
    // Each row's latent and log-Jacobian agree with the f64 transforms.
    let yv: Vec<Vec<f64>> = y.to_vec2().unwrap();
    for (i, row) in a.chunks(3).enumerate() {
        let want: f64 = row.iter().zip(&ts).map(|(&v, t)| t.to_latent(v).unwrap().1).sum();
        assert!((l1[i] - want).abs() < 1e-10);
        for j in 0..3 {
            assert!((yv[i][j] - ts[j].to_latent(row[j]).unwrap().0).abs() < 1e-10);
        }
    }
}

#[test]
fn the_f32_copy_of_a_flow_prior_follows_it_in_value_and_input_gradient() {
    for kind in FlowKind::ALL {
        let prior = random_prior(kind, 6);
        let frozen = FrozenF32::new(&prior).unwrap();
        assert_eq!((frozen.dim(), frozen.bounds()), (3, DiffLogDensity::bounds(&prior)));
        let x = inside_points(40).mapv(|v| v as f32 as f64);
        let grad = |d: &dyn DiffLogDensity, dtype: DType| -> (Vec<f64>, Vec<f64>) {
            let v = Var::from_tensor(&tensor(&x).to_dtype(dtype).unwrap()).unwrap();
            let lp = d.log_density(v.as_tensor()).unwrap();
            let g = lp.sum_all().unwrap().backward().unwrap();
            let g = g.get(v.as_tensor()).unwrap().to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            (lp.to_dtype(DType::F64).unwrap().to_vec1().unwrap(), g)
        };
        let (want, gwant) = grad(&prior, DType::F64);
        let (got, ggot) = grad(&frozen, DType::F32);
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{kind} row {i}: f32 {a} vs f64 {b}");
        }
        for (i, (a, b)) in ggot.iter().zip(&gwant).enumerate() {
            assert!((a - b).abs() < 2e-3 * (1.0 + b.abs()), "{kind} gradient {i}: f32 {a} vs f64 {b}");
        }
    }
    let frozen = FrozenF32::new(&random_prior(FlowKind::NsfCoupling, 7)).unwrap();
    let x = Tensor::from_vec(vec![-2.5f32, 2.0, 0.0, 1.0, 0.5, 0.0, 1.0, 2.0, f32::NAN, 1.0, 2.0, 0.5], (4, 3), &Device::Cpu).unwrap();
    let v: Vec<f32> = frozen.log_density(&x).unwrap().to_vec1().unwrap();
    assert!(v[..3].iter().all(|v| *v == f32::NEG_INFINITY) && v[3].is_finite(), "{v:?}");
}

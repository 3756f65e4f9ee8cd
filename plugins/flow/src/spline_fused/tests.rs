use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::kernel::BLOCK;
use crate::layers::{parity_mask, Layer, Mlp, SplineCoupling};
use crate::params::{self, Params};
use crate::spec::Activation;
use crate::testutil::{perturb, points};

/// Random network weights `d -> h -> h -> d(3K - 1)` under the prefix "n".
fn weights(d: usize, bins: usize, seed: u64) -> Params {
    let sizes = [d, 10, 10, d * (3 * bins - 1)];
    let (mut v, mut s) = (HashMap::new(), HashMap::new());
    Mlp::init(&mut v, &mut s, "n", &sizes, &mut ChaCha8Rng::seed_from_u64(seed));
    let mut p = params::to_tensors(&v, &s, &Device::Cpu).unwrap();
    perturb(&mut p, &["n"], 0.5, seed + 1);
    p
}

/// `(z, ld, dL/dx, dL/dθ per tensor)` of one coupling's inverse for the loss
/// `L = Σ c·z + Σ e·ld` with fixed coefficients.
fn run(layer_of: &dyn Fn(&Params) -> SplineCoupling, p: &Params, x: &Tensor) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<Vec<f64>>) {
    let mut names: Vec<&String> = p.keys().collect();
    names.sort();
    let vars: Vec<Var> = names.iter().map(|k| Var::from_tensor(&p[*k]).unwrap()).collect();
    let live: Params = names.iter().map(|k| k.to_string()).zip(vars.iter().map(|v| v.as_tensor().clone())).collect();
    let xv = Var::from_tensor(x).unwrap();
    let (z, ld) = layer_of(&live).inverse(xv.as_tensor()).unwrap();
    let (n, d) = x.dims2().unwrap();
    let c = points(n, d, 1.0, 77).to_dtype(x.dtype()).unwrap();
    let e = points(n, 1, 1.0, 78).squeeze(1).unwrap().to_dtype(x.dtype()).unwrap();
    let loss = ((&z * &c).unwrap().sum_all().unwrap() + (&ld * &e).unwrap().sum_all().unwrap()).unwrap();
    let g = loss.backward().unwrap();
    let flat = |t: &Tensor| t.flatten_all().unwrap().to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap();
    let gx = flat(g.get(xv.as_tensor()).unwrap());
    // No gradient (a parameter the output does not depend on, as the sizes of a single bin) is zero.
    let gt = vars.iter().map(|v| g.get(v.as_tensor()).map(flat).unwrap_or_else(|| vec![0.0; v.elem_count()])).collect();
    (flat(&z), flat(&ld), gx, gt)
}

fn layer(p: &Params, d: usize, parity: usize, bins: usize, act: Activation, fused: bool) -> SplineCoupling {
    let net = Mlp::load(p, "n", 2, act).unwrap();
    let dtype = p["n.0.w"].dtype();
    SplineCoupling::new(&parity_mask(d, parity), net, bins, 3.0, dtype, &Device::Cpu).unwrap().with_fused(fused)
}

fn close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{what}[{i}]: fused {x} vs candle {y}");
    }
}

#[test]
fn fused_inverse_matches_the_candle_ops_in_value_and_every_gradient() {
    for (d, bins, act) in
        [(1, 8, Activation::Tanh), (3, 1, Activation::Relu), (3, 2, Activation::Silu), (5, 8, Activation::Tanh), (4, 5, Activation::Relu)]
    {
        for parity in 0..2 {
            let p = weights(d, bins, 3 + d as u64 + bins as u64);
            // Scale 2.2 with bound 3: some points fall in the tails (the identity there).
            let x = points(300, d, 2.2, 9);
            let fused = run(&|q| layer(q, d, parity, bins, act, true), &p, &x);
            let plain = run(&|q| layer(q, d, parity, bins, act, false), &p, &x);
            let at = format!("d {d}, bins {bins}, {act:?}, parity {parity}");
            close(&fused.0, &plain.0, 1e-11, &format!("{at}: z"));
            close(&fused.1, &plain.1, 1e-10, &format!("{at}: log|det|"));
            close(&fused.2, &plain.2, 1e-9, &format!("{at}: dL/dx"));
            for (k, (a, b)) in fused.3.iter().zip(&plain.3).enumerate() {
                close(a, b, 1e-9, &format!("{at}: dL/dθ, tensor {k}"));
            }
        }
    }
}

#[test]
fn fused_input_gradient_matches_finite_differences() {
    let (d, bins) = (3, 6);
    let p = weights(d, bins, 21);
    let l = layer(&p, d, 1, bins, Activation::Tanh, true);
    let x: Vec<f64> = points(20, d, 1.5, 22).flatten_all().unwrap().to_vec1().unwrap();
    // L(x) = Σ_rows (Σ_k (k + 1) z_k + ld): its gradient row by row.
    let loss = |x: &[f64]| -> Vec<f64> {
        let (z, ld) = l.inverse(&Tensor::from_vec(x.to_vec(), (x.len() / d, d), &Device::Cpu).unwrap()).unwrap();
        let z: Vec<Vec<f64>> = z.to_vec2().unwrap();
        let ld: Vec<f64> = ld.to_vec1().unwrap();
        z.iter().zip(&ld).map(|(r, l)| r.iter().enumerate().map(|(k, v)| (k + 1) as f64 * v).sum::<f64>() + l).collect()
    };
    let xv = Var::from_tensor(&Tensor::from_vec(x.clone(), (20, d), &Device::Cpu).unwrap()).unwrap();
    let (z, ld) = l.inverse(xv.as_tensor()).unwrap();
    let w = Tensor::from_vec((1..=d).map(|k| k as f64).collect::<Vec<_>>(), (1, d), &Device::Cpu).unwrap();
    let total = (z.broadcast_mul(&w).unwrap().sum_all().unwrap() + ld.sum_all().unwrap()).unwrap();
    let g: Vec<f64> = total.backward().unwrap().get(xv.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let h = 1e-6;
    for i in 0..x.len() {
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp[i] += h;
        xm[i] -= h;
        let fd = (loss(&xp)[i / d] - loss(&xm)[i / d]) / (2.0 * h);
        assert!((fd - g[i]).abs() < 1e-5 * (1.0 + fd.abs()), "x[{i}]: gradient {} vs finite differences {fd}", g[i]);
    }
}

#[test]
fn fused_spline_does_not_depend_on_the_number_of_threads() {
    let (d, bins) = (4, 8);
    let p = weights(d, bins, 31);
    let x = points(5 * BLOCK + 17, d, 2.0, 32);
    let go = |t: usize| {
        rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap().install(|| run(&|q| layer(q, d, 0, bins, Activation::Tanh, true), &p, &x))
    };
    let (a, b) = (go(1), go(3));
    assert_eq!(a, b);
}

#[test]
fn fused_spline_in_f32_follows_f64() {
    let (d, bins) = (3, 8);
    let p = weights(d, bins, 41);
    let p32 = params::cast(&p, DType::F32).unwrap();
    let x = points(200, d, 1.5, 42);
    let a = run(&|q| layer(q, d, 1, bins, Activation::Tanh, true), &p32, &x.to_dtype(DType::F32).unwrap());
    let b = run(&|q| layer(q, d, 1, bins, Activation::Tanh, true), &p, &x);
    close(&a.0, &b.0, 1e-5, "z");
    close(&a.1, &b.1, 1e-4, "log|det|");
    close(&a.2, &b.2, 1e-3, "dL/dx");
}

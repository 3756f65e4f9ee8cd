//! Finite-difference Jacobians, random inputs and perturbed parameters for the
//! layer and flow tests.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::layers::layer::Layer;

/// `n × d` standard normal points times `scale` (f64, CPU).
pub fn points(n: usize, d: usize, scale: f64, seed: u64) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f64> = (0..n * d).map(|_| scale * Distribution::<f64>::sample(&StandardNormal, &mut rng)).collect();
    Tensor::from_vec(v, (n, d), &Device::Cpu).unwrap()
}

/// Replaces every parameter whose name starts with one of `prefixes` by
/// `sd`-scaled normal noise, so that no layer is the identity.
pub fn perturb(params: &mut HashMap<String, Tensor>, prefixes: &[&str], sd: f64, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut names: Vec<String> = params.keys().cloned().collect();
    names.sort();
    for name in names {
        if prefixes.iter().any(|p| name.starts_with(p)) {
            let t = &params[&name];
            let v: Vec<f64> = (0..t.elem_count()).map(|_| sd * Distribution::<f64>::sample(&StandardNormal, &mut rng)).collect();
            let nt = Tensor::from_vec(v, t.shape(), &Device::Cpu).unwrap();
            params.insert(name, nt);
        }
    }
}

/// `ln|det A|` of a dense `d × d` matrix (row-major) by LU with partial pivoting.
pub fn log_abs_det(mut a: Vec<f64>, d: usize) -> f64 {
    let mut s = 0.0;
    for k in 0..d {
        let p = (k..d).max_by(|&i, &j| a[i * d + k].abs().total_cmp(&a[j * d + k].abs())).unwrap();
        for c in 0..d {
            a.swap(k * d + c, p * d + c);
        }
        let piv = a[k * d + k];
        s += piv.abs().ln();
        for i in k + 1..d {
            let f = a[i * d + k] / piv;
            for c in k..d {
                a[i * d + c] -= f * a[k * d + c];
            }
        }
    }
    s
}

/// The Jacobian `∂f_i/∂x_j` at `x` by central differences (row-major `d × d`).
pub fn fd_jacobian(f: &dyn Fn(&Tensor) -> Tensor, x: &[f64]) -> Vec<f64> {
    let d = x.len();
    let h = 1e-5;
    let mut jac = vec![0.0; d * d];
    for j in 0..d {
        let (mut xp, mut xm) = (x.to_vec(), x.to_vec());
        xp[j] += h;
        xm[j] -= h;
        let yp: Vec<f64> = f(&Tensor::from_vec(xp, (1, d), &Device::Cpu).unwrap()).flatten_all().unwrap().to_vec1().unwrap();
        let ym: Vec<f64> = f(&Tensor::from_vec(xm, (1, d), &Device::Cpu).unwrap()).flatten_all().unwrap().to_vec1().unwrap();
        for i in 0..d {
            jac[i * d + j] = (yp[i] - ym[i]) / (2.0 * h);
        }
    }
    jac
}

/// Checks a layer on `x`: `inverse(forward(x)) = x` to `1e-5`, the two
/// log-determinants cancel, and both match the finite-difference Jacobian of
/// their direction to `tol` on the first `n_fd` rows.
pub fn check_layer(layer: &dyn Layer, x: &Tensor, n_fd: usize, tol: f64) {
    let (y, ld) = layer.forward(x).unwrap();
    let (x2, ld_inv) = layer.inverse(&y).unwrap();
    let err = (x2 - x).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
    assert!(err < 1e-5, "inverse(forward(x)) differs from x by {err}");
    let s = (ld.clone() + &ld_inv).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
    assert!(s < 1e-5, "forward and inverse log-determinants do not cancel: {s}");
    let d = x.dim(1).unwrap();
    let ld: Vec<f64> = ld.to_vec1().unwrap();
    let ld_inv: Vec<f64> = ld_inv.to_vec1().unwrap();
    let xs: Vec<Vec<f64>> = x.to_vec2().unwrap();
    let ys: Vec<Vec<f64>> = y.to_vec2().unwrap();
    for i in 0..n_fd.min(xs.len()) {
        let fd = log_abs_det(fd_jacobian(&|t: &Tensor| layer.forward(t).unwrap().0, &xs[i]), d);
        assert!((fd - ld[i]).abs() < tol, "row {i}: forward log|det J| {} vs finite differences {fd}", ld[i]);
        let fd = log_abs_det(fd_jacobian(&|t: &Tensor| layer.inverse(t).unwrap().0, &ys[i]), d);
        assert!((fd - ld_inv[i]).abs() < tol, "row {i}: inverse log|det J| {} vs finite differences {fd}", ld_inv[i]);
    }
}

/// Checks a named enum ([`crate::named`]): every name parses back to its
/// variant, in files (serde) and on the command line (`FromStr`, case
/// ignored), and `bad` is refused with the message `want`.
pub fn check_names<T>(all: &[T], bad: &str, want: &str)
where
    T: std::str::FromStr + std::fmt::Display + serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug + Copy,
    T::Err: std::fmt::Display,
{
    for &v in all {
        assert_eq!(v.to_string().parse::<T>().ok(), Some(v));
        assert_eq!(v.to_string().to_uppercase().parse::<T>().ok(), Some(v));
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, format!("\"{v}\""));
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), v);
    }
    let e = bad.parse::<T>().err().unwrap().to_string();
    assert_eq!(e, want);
    assert!(serde_json::from_str::<T>(&format!("\"{bad}\"")).unwrap_err().to_string().contains(want));
}

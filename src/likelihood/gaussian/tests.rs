use ndarray::{Array2, Array3};
use seqcal_api::{EmulatorError, Prediction};

use super::*;

/// Mean `(θ0, θ0 + θ1, θ1²)`, covariance `c(θ) = a·I + b·11ᵀ` with `a = 0.1 + θ0²`, `b = 0.05`;
/// NaN mean where θ0 > 100.
struct Toy;
impl Emulator for Toy {
    fn input_dim(&self) -> usize {
        2
    }
    fn output_dim(&self) -> usize {
        3
    }
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, EmulatorError> {
        let m = x.nrows();
        let mut mean = Array2::zeros((m, 3));
        let mut cov = Array3::zeros((m, 3, 3));
        for i in 0..m {
            let (a, b) = (x[(i, 0)], x[(i, 1)]);
            mean.row_mut(i).assign(&ndarray::arr1(&[if a > 100.0 { f64::NAN } else { a }, a + b, b * b]));
            for j in 0..3 {
                for k in 0..3 {
                    cov[(i, j, k)] = 0.05 + if j == k { 0.1 + a * a } else { 0.0 };
                }
            }
        }
        Ok(Prediction { mean, cov })
    }
}

/// The MVN log density by the textbook formula (explicit inverse and determinant).
fn direct(y: &[f64], mu: &[f64], s: &DMatrix<f64>) -> f64 {
    let r = DVector::from_iterator(y.len(), y.iter().zip(mu).map(|(a, b)| a - b));
    let inv = s.clone().try_inverse().unwrap();
    -0.5 * (r.transpose() * inv * &r)[(0, 0)] - 0.5 * s.determinant().ln() - 0.5 * y.len() as f64 * (2.0 * std::f64::consts::PI).ln()
}

fn sets() -> Vec<DataSet> {
    let full = DMatrix::from_row_slice(2, 2, &[0.04, 0.01, 0.01, 0.09]);
    vec![
        DataSet::with_errors("a", vec![0, 2], vec![0.3, 0.5], &[0.2, 0.1]).unwrap(),
        DataSet::with_cov("b", vec![1, 2], vec![0.9, 0.4], full).unwrap(),
    ]
}

#[test]
fn matches_direct_computation_block_by_block() {
    let like = GaussianLikelihood::new(Arc::new(Toy), sets()).unwrap();
    let th = [0.4, 0.7];
    let (m, a) = ([0.4, 1.1, 0.49], 0.1 + 0.16);
    let emu = |i: usize, j: usize| 0.05 + if i == j { a } else { 0.0 };
    let s1 = DMatrix::from_fn(2, 2, |r, c| emu([0, 2][r], [0, 2][c]) + if r == c { [0.04, 0.01][r] } else { 0.0 });
    let e1 = direct(&[0.3, 0.5], &[m[0], m[2]], &s1);
    let s2 = DMatrix::from_fn(2, 2, |r, c| emu([1, 2][r], [1, 2][c]) + [[0.04, 0.01], [0.01, 0.09]][r][c]);
    let e2 = direct(&[0.9, 0.4], &[m[1], m[2]], &s2);
    let got = like.log_density(&th).unwrap();
    assert!((got - (e1 + e2)).abs() < 1e-12, "{got} vs {}", e1 + e2);
    // A subset is just its own blocks.
    let only_b = like.subset(&["b"]).unwrap().log_density(&th).unwrap();
    assert!((only_b - e2).abs() < 1e-12);
    assert!(like.subset(&["c"]).is_err());
    // The batch agrees with single points; a NaN prediction rejects only its point.
    let pts = ndarray::arr2(&[[0.4, 0.7], [200.0, 0.0], [-0.3, 0.2]]);
    let batch = like.log_density_batch(pts.view()).unwrap();
    assert!((batch[0] - got).abs() < 1e-12 && batch[1].is_nan());
    assert!((batch[2] - like.log_density(&[-0.3, 0.2]).unwrap()).abs() < 1e-12);
    assert!(like.log_density(&[200.0, 0.0]).unwrap_err().is_recoverable());
    assert!(!like.log_density(&[1.0]).unwrap_err().is_recoverable());
}

#[test]
fn non_positive_definite_covariance_is_rejected() {
    // An experimental covariance with a negative eigenvalue larger than the emulator's variance.
    let bad = DMatrix::from_row_slice(2, 2, &[1.0, 3.0, 3.0, 1.0]);
    let like = GaussianLikelihood::new(Arc::new(Toy), vec![DataSet::with_cov("x", vec![0, 1], vec![0.0, 0.0], bad).unwrap()]).unwrap();
    let e = like.log_density(&[0.0, 0.0]).unwrap_err();
    assert!(e.is_recoverable() && e.to_string().contains("positive definite"), "{e}");
    assert!(DataSet::with_errors("x", vec![0], vec![1.0], &[0.0]).is_err());
    assert!(DataSet::with_cov("x", vec![0, 1], vec![0.0, 0.0], DMatrix::from_row_slice(2, 2, &[1.0, 0.5, 0.2, 1.0])).is_err());
    assert!(GaussianLikelihood::new(Arc::new(Toy), vec![DataSet::with_errors("x", vec![3], vec![1.0], &[1.0]).unwrap()]).is_err());
}

//! A small limited-memory BFGS minimizer with box bounds (projection), for GP
//! hyperparameters in log space.
//!
//! Directions come from the L-BFGS two-loop recursion restricted to the free
//! variables (those not held at a bound by their gradient); steps are
//! projected onto the box and accepted by an Armijo backtracking line search.
//!
//! # Reference
//! J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed., Springer
//! 2006, algorithm 7.4 (two-loop recursion) and section 3.1 (backtracking).

/// Result of [`minimize`].
#[derive(Debug, Clone)]
pub(crate) struct Minimum {
    /// Argument of the smallest value found.
    pub x: Vec<f64>,
    /// The value there.
    pub f: f64,
}

/// Minimizes `f` (value and gradient, `None` where it cannot be evaluated)
/// from `x0` within `[lo, hi]`, for at most `max_iter` iterations.
pub(crate) fn minimize(mut f: impl FnMut(&[f64]) -> Option<(f64, Vec<f64>)>, x0: &[f64], lo: &[f64], hi: &[f64], max_iter: usize) -> Option<Minimum> {
    let n = x0.len();
    let clamp = |x: &mut [f64]| {
        for i in 0..n {
            x[i] = x[i].clamp(lo[i], hi[i]);
        }
    };
    let mut x = x0.to_vec();
    clamp(&mut x);
    let (mut fx, mut g) = f(&x)?;
    if !fx.is_finite() {
        return None;
    }
    let mem = 8;
    let mut hist: Vec<(Vec<f64>, Vec<f64>, f64)> = Vec::with_capacity(mem);
    for _ in 0..max_iter {
        // Variables held at a bound by their gradient stay fixed this iteration.
        let free: Vec<bool> = (0..n).map(|i| !((x[i] <= lo[i] && g[i] > 0.0) || (x[i] >= hi[i] && g[i] < 0.0))).collect();
        let pg: f64 = (0..n).filter(|&i| free[i]).map(|i| g[i] * g[i]).sum::<f64>().sqrt();
        if pg < 1e-6 {
            break;
        }
        let mut d = two_loop(&g, &hist, &free);
        let slope: f64 = (0..n).map(|i| d[i] * g[i]).sum();
        if slope >= 0.0 || !slope.is_finite() {
            // Not a descent direction: forget the curvature pairs, take the projected gradient.
            hist.clear();
            d = (0..n).map(|i| if free[i] { -g[i] } else { 0.0 }).collect();
        }
        // First step of steepest descent: at most a unit move in log space.
        let mut t = if hist.is_empty() { (1.0 / pg).min(1.0) } else { 1.0 };
        let mut accepted = None;
        for _ in 0..40 {
            let mut xn: Vec<f64> = (0..n).map(|i| x[i] + t * d[i]).collect();
            clamp(&mut xn);
            let dec: f64 = (0..n).map(|i| g[i] * (xn[i] - x[i])).sum();
            if let Some((fnew, gnew)) = f(&xn) {
                if fnew.is_finite() && fnew <= fx + 1e-4 * dec.min(0.0) && gnew.iter().all(|v| v.is_finite()) {
                    accepted = Some((xn, fnew, gnew));
                    break;
                }
            }
            t *= 0.5;
        }
        let Some((xn, fnew, gnew)) = accepted else { break };
        let s: Vec<f64> = (0..n).map(|i| xn[i] - x[i]).collect();
        let y: Vec<f64> = (0..n).map(|i| gnew[i] - g[i]).collect();
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        if sy > 1e-12 {
            if hist.len() == mem {
                hist.remove(0);
            }
            hist.push((s, y, 1.0 / sy));
        }
        let converged = (fx - fnew).abs() <= 1e-10 * fx.abs().max(1.0);
        x = xn;
        fx = fnew;
        g = gnew;
        if converged {
            break;
        }
    }
    Some(Minimum { x, f: fx })
}

/// `−H g` by the two-loop recursion, zero on fixed variables.
fn two_loop(g: &[f64], hist: &[(Vec<f64>, Vec<f64>, f64)], free: &[bool]) -> Vec<f64> {
    let dot = |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).zip(free).filter(|(_, &f)| f).map(|((x, y), _)| x * y).sum() };
    let mut q: Vec<f64> = g.iter().zip(free).map(|(v, &f)| if f { *v } else { 0.0 }).collect();
    let mut alpha = vec![0.0; hist.len()];
    for (k, (s, y, rho)) in hist.iter().enumerate().rev() {
        alpha[k] = rho * dot(s, &q);
        for i in 0..q.len() {
            if free[i] {
                q[i] -= alpha[k] * y[i];
            }
        }
    }
    if let Some((s, y, _)) = hist.last() {
        let yy = dot(y, y);
        if yy > 0.0 {
            let gamma = dot(s, y) / yy;
            q.iter_mut().for_each(|v| *v *= gamma);
        }
    }
    for (k, (s, y, rho)) in hist.iter().enumerate() {
        let b = rho * dot(y, &q);
        for i in 0..q.len() {
            if free[i] {
                q[i] += (alpha[k] - b) * s[i];
            }
        }
    }
    q.iter().map(|v| -v).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rosenbrock_and_bounds() {
        let rosen = |x: &[f64]| {
            let f = (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
            let g = vec![-2.0 * (1.0 - x[0]) - 400.0 * x[0] * (x[1] - x[0] * x[0]), 200.0 * (x[1] - x[0] * x[0])];
            Some((f, g))
        };
        let m = minimize(rosen, &[-1.2, 1.0], &[-5.0, -5.0], &[5.0, 5.0], 500).unwrap();
        assert!((m.x[0] - 1.0).abs() < 1e-3 && (m.x[1] - 1.0).abs() < 1e-3, "{:?}", m.x);
        // The minimum (1, 1) is outside the box: the answer sits on the bound x0 = 0.5.
        let m = minimize(rosen, &[-1.2, 1.0], &[-5.0, -5.0], &[0.5, 5.0], 500).unwrap();
        assert!((m.x[0] - 0.5).abs() < 1e-9 && (m.x[1] - 0.25).abs() < 1e-3, "{:?}", m.x);
    }
}

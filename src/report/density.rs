//! Smoothed densities for corner plots: weighted histograms smoothed by a
//! Gaussian kernel, with a local-linear boundary correction at hard bounds.
//!
//! A plain kernel smoother treats the region beyond a prior bound as empty,
//! so next to a bound where the density is high it returns about half the
//! true value. At an end of the range flagged as a hard bound, the smoother
//! here uses only the kernel's mass inside the range and corrects the
//! first-order bias by local-linear weighting, which is exact for a density
//! that is linear near the bound.
//!
//! # Reference
//! M. C. Jones, "Simple boundary correction for kernel density estimation",
//! Statistics and Computing 3, 135-146 (1993).

use super::contour::Grid;

/// Which ends of a histogram's range are hard bounds of the distribution
/// (typically prior bounds): the smoothing is boundary-corrected there. At an
/// end that is not a bound, the density beyond the range is taken as zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Edges {
    /// The lower end of the range is a hard bound.
    pub lower: bool,
    /// The upper end of the range is a hard bound.
    pub upper: bool,
}

/// Binning and smoothing of one axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DensityAxis {
    /// Range covered by the bins.
    pub range: (f64, f64),
    /// Number of bins (at least 1).
    pub bins: usize,
    /// Standard deviation of the Gaussian kernel, in bins (0: no smoothing).
    pub smooth: f64,
    /// Which ends of `range` are hard bounds.
    pub bounded: Edges,
}

impl DensityAxis {
    fn width(&self) -> f64 {
        (self.range.1 - self.range.0) / self.bins as f64
    }

    /// Bin of `v`, or `None` outside the range (and for NaN).
    fn bin(&self, v: f64) -> Option<usize> {
        if v >= self.range.0 && v <= self.range.1 {
            Some((((v - self.range.0) / self.width()) as usize).min(self.bins - 1))
        } else {
            None
        }
    }
}

/// Linear smoother: for each output position, the bins it reads and their
/// weights (boundary correction included).
struct Smoother {
    rows: Vec<(usize, Vec<f64>)>,
}

impl Smoother {
    /// Weights for the estimator at positions `u` (in bins from the start of
    /// the range; bin `j`'s centre is at `j + 0.5`).
    fn new(axis: &DensityAxis, positions: &[f64]) -> Smoother {
        let n = axis.bins as i64;
        let s = axis.smooth;
        let rows = positions
            .iter()
            .map(|&u| {
                if s <= 0.0 {
                    let j = (u.floor() as i64).clamp(0, n - 1) as usize;
                    return (j, vec![1.0]);
                }
                let r = (4.0 * s).ceil() + 1.0;
                // Bins whose centres lie within r of u: a window symmetric about u.
                let (j0, j1) = ((u - 0.5 - r).ceil() as i64, (u - 0.5 + r).floor() as i64);
                let kern = |j: i64| (-0.5 * ((j as f64 + 0.5 - u) / s).powi(2)).exp();
                let z: f64 = (j0..=j1).map(kern).sum();
                let inside = |j: i64| (j >= 0 || !axis.bounded.lower) && (j < n || !axis.bounded.upper);
                // Kernel moments over the part of the window inside the support.
                let (mut a0, mut a1, mut a2) = (0.0, 0.0, 0.0);
                for j in (j0..=j1).filter(|&j| inside(j)) {
                    let (k, d) = (kern(j) / z, j as f64 + 0.5 - u);
                    a0 += k;
                    a1 += k * d;
                    a2 += k * d * d;
                }
                let truncated = (j0..=j1).any(|j| !inside(j));
                let det = a0 * a2 - a1 * a1;
                let (lo, hi) = (j0.max(0), j1.min(n - 1));
                if lo > hi {
                    return (0, Vec::new());
                }
                let weights = (lo..=hi)
                    .map(|j| {
                        let (k, d) = (kern(j) / z, j as f64 + 0.5 - u);
                        if !truncated {
                            k
                        } else if det > 1e-6 * a0 * a2 {
                            (a2 - a1 * d) * k / det
                        } else {
                            k / a0
                        }
                    })
                    .collect();
                (lo as usize, weights)
            })
            .collect();
        Smoother { rows }
    }

    fn apply(&self, h: &[f64]) -> Vec<f64> {
        self.rows.iter().map(|(j0, w)| w.iter().zip(&h[*j0..]).map(|(a, b)| a * b).sum::<f64>().max(0.0)).collect()
    }
}

fn centres(bins: usize) -> Vec<f64> {
    (0..bins).map(|j| j as f64 + 0.5).collect()
}

/// Normalized (unsmoothed) weighted histogram: density of the draws inside
/// the range, one value per bin.
fn raw_histogram(x: &[f64], w: Option<&[f64]>, axis: &DensityAxis) -> Vec<f64> {
    let mut h = vec![0.0; axis.bins];
    for (k, &v) in x.iter().enumerate() {
        if let Some(b) = axis.bin(v) {
            h[b] += w.map_or(1.0, |w| w[k]);
        }
    }
    let total: f64 = h.iter().sum::<f64>() * axis.width();
    if total > 0.0 {
        h.iter_mut().for_each(|v| *v /= total);
    }
    h
}

/// Weighted histogram of `x` over `axis`, normalized to a density of the
/// draws inside the range and smoothed (boundary-corrected at hard bounds):
/// one value per bin, at the bin centres.
pub fn histogram_1d(x: &[f64], w: Option<&[f64]>, axis: &DensityAxis) -> Vec<f64> {
    Smoother::new(axis, &centres(axis.bins)).apply(&raw_histogram(x, w, axis))
}

/// The smoothed density of [`histogram_1d`] as a curve over the whole range:
/// `(x, density)` at the lower end, at every bin centre and at the upper end.
/// At an end flagged as a hard bound the value is the boundary-corrected
/// estimate of the density at the bound itself.
pub fn density_curve(x: &[f64], w: Option<&[f64]>, axis: &DensityAxis) -> Vec<(f64, f64)> {
    let mut u = vec![0.0];
    u.extend(centres(axis.bins));
    u.push(axis.bins as f64);
    let y = Smoother::new(axis, &u).apply(&raw_histogram(x, w, axis));
    let width = axis.width();
    u.into_iter().zip(y).map(|(u, y)| (axis.range.0 + u * width, y)).collect()
}

/// Weighted 2-D histogram over `xa × ya`, smoothed separably (each axis
/// boundary-corrected at its hard bounds), normalized so that the cells'
/// values times the cell area sum to one before smoothing.
pub fn histogram_2d(x: &[f64], y: &[f64], w: Option<&[f64]>, xa: &DensityAxis, ya: &DensityAxis) -> Grid {
    let (nx, ny) = (xa.bins, ya.bins);
    let mut v = vec![0.0; nx * ny];
    for k in 0..x.len().min(y.len()) {
        if let (Some(i), Some(j)) = (xa.bin(x[k]), ya.bin(y[k])) {
            v[i * ny + j] += w.map_or(1.0, |w| w[k]);
        }
    }
    let total: f64 = v.iter().sum::<f64>() * xa.width() * ya.width();
    if total > 0.0 {
        v.iter_mut().for_each(|c| *c /= total);
    }
    // Along y for each x row, then along x for each y column.
    let sy = Smoother::new(ya, &centres(ny));
    for i in 0..nx {
        let row = sy.apply(&v[i * ny..(i + 1) * ny]);
        v[i * ny..(i + 1) * ny].copy_from_slice(&row);
    }
    let sx = Smoother::new(xa, &centres(nx));
    for j in 0..ny {
        let col: Vec<f64> = (0..nx).map(|i| v[i * ny + j]).collect();
        for (i, c) in sx.apply(&col).into_iter().enumerate() {
            v[i * ny + j] = c;
        }
    }
    Grid { v, nx, ny, x: xa.range, y: ya.range }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(bins: usize, smooth: f64, lower: bool, upper: bool) -> DensityAxis {
        DensityAxis { range: (0.0, 1.0), bins, smooth, bounded: Edges { lower, upper } }
    }

    #[test]
    fn histogram_is_a_normalized_density() {
        let x: Vec<f64> = (0..10_000).map(|i| (i as f64 + 0.5) / 10_000.0).collect();
        let h = histogram_1d(&x, None, &axis(20, 0.0, false, false));
        assert!(h.iter().all(|v| (v - 1.0).abs() < 1e-9), "{h:?}");
        // Smoothed with both ends bounded: a uniform density stays uniform,
        // up to the ends too.
        let c = density_curve(&x, None, &axis(20, 1.5, true, true));
        assert!(c.iter().all(|(_, v)| (v - 1.0).abs() < 1e-9), "{c:?}");
        // Without the correction the ends fall to about half.
        let c = density_curve(&x, None, &axis(20, 1.5, false, false));
        assert!(c[0].1 < 0.6 && c[c.len() - 1].1 < 0.6, "{c:?}");
    }

    #[test]
    fn boundary_correction_is_exact_for_a_linear_density() {
        // Bin masses of f(x) = 2x on [0, 1], as exact bin averages.
        let bins = 30;
        let a = axis(bins, 2.0, true, true);
        let h: Vec<f64> = (0..bins).map(|j| 2.0 * (j as f64 + 0.5) / bins as f64).collect();
        let mut u = vec![0.0];
        u.extend(centres(bins));
        u.push(bins as f64);
        let y = Smoother::new(&a, &u).apply(&h);
        for (u, y) in u.iter().zip(y) {
            assert!((y - 2.0 * u / bins as f64).abs() < 1e-9, "at {u}: {y}");
        }
    }

    #[test]
    fn smoothing_conserves_a_2d_uniform_density_at_bounds() {
        let n = 200;
        let x: Vec<f64> = (0..n * n).map(|k| ((k / n) as f64 + 0.5) / n as f64).collect();
        let y: Vec<f64> = (0..n * n).map(|k| ((k % n) as f64 + 0.5) / n as f64).collect();
        let g = histogram_2d(&x, &y, None, &axis(20, 1.0, true, true), &axis(20, 1.0, true, true));
        assert!(g.v.iter().all(|v| (v - 1.0).abs() < 1e-9));
    }
}

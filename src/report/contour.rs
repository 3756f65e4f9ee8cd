//! Density grids for corner plots: smoothed histograms, highest-density
//! levels, and contour lines by marching squares.
//!
//! Hand-written because no maintained crate offers weighted 2-D histograms
//! with Gaussian smoothing and iso-lines on them in a few hundred lines; the
//! methods are the textbook ones (Lorensen & Cline 1987 for marching
//! squares' 2-D form).

/// A `nx × ny` grid of values over `[x0, x1] × [y0, y1]`, cell centres at
/// `x0 + (i + 0.5) dx`.
#[derive(Debug, Clone)]
pub struct Grid {
    /// Values, row-major by x then y: `v[i * ny + j]`.
    pub v: Vec<f64>,
    /// Cells along x.
    pub nx: usize,
    /// Cells along y.
    pub ny: usize,
    /// x range.
    pub x: (f64, f64),
    /// y range.
    pub y: (f64, f64),
}

impl Grid {
    fn centre(&self, i: f64, j: f64) -> (f64, f64) {
        let dx = (self.x.1 - self.x.0) / self.nx as f64;
        let dy = (self.y.1 - self.y.0) / self.ny as f64;
        (self.x.0 + (i + 0.5) * dx, self.y.0 + (j + 0.5) * dy)
    }
}

/// Weighted histogram of `x` over `range` in `bins` bins, normalized to a
/// density, smoothed by a Gaussian of `smooth` bins' width (0 = none).
pub fn histogram_1d(x: &[f64], w: Option<&[f64]>, range: (f64, f64), bins: usize, smooth: f64) -> Vec<f64> {
    let mut h = vec![0.0; bins];
    let width = (range.1 - range.0) / bins as f64;
    for (k, &v) in x.iter().enumerate() {
        if v >= range.0 && v <= range.1 {
            let b = (((v - range.0) / width) as usize).min(bins - 1);
            h[b] += w.map_or(1.0, |w| w[k]);
        }
    }
    let h = gaussian_smooth_1d(&h, smooth);
    let total: f64 = h.iter().sum::<f64>() * width;
    if total > 0.0 {
        h.into_iter().map(|v| v / total).collect()
    } else {
        h
    }
}

fn kernel(smooth: f64) -> Vec<f64> {
    if smooth <= 0.0 {
        return vec![1.0];
    }
    let r = (3.0 * smooth).ceil() as i64;
    let k: Vec<f64> = (-r..=r).map(|i| (-0.5 * (i as f64 / smooth).powi(2)).exp()).collect();
    let s: f64 = k.iter().sum();
    k.into_iter().map(|v| v / s).collect()
}

fn gaussian_smooth_1d(h: &[f64], smooth: f64) -> Vec<f64> {
    let k = kernel(smooth);
    let r = (k.len() / 2) as i64;
    let n = h.len() as i64;
    (0..n)
        .map(|i| (-r..=r).filter(|o| (0..n).contains(&(i + o))).map(|o| h[(i + o) as usize] * k[(o + r) as usize]).sum())
        .collect()
}

/// Weighted 2-D histogram, smoothed separably by a Gaussian of `smooth` bins.
pub fn histogram_2d(x: &[f64], y: &[f64], w: Option<&[f64]>, xr: (f64, f64), yr: (f64, f64), bins: usize, smooth: f64) -> Grid {
    let mut v = vec![0.0; bins * bins];
    let (dx, dy) = ((xr.1 - xr.0) / bins as f64, (yr.1 - yr.0) / bins as f64);
    for k in 0..x.len() {
        if x[k] >= xr.0 && x[k] <= xr.1 && y[k] >= yr.0 && y[k] <= yr.1 {
            let i = (((x[k] - xr.0) / dx) as usize).min(bins - 1);
            let j = (((y[k] - yr.0) / dy) as usize).min(bins - 1);
            v[i * bins + j] += w.map_or(1.0, |w| w[k]);
        }
    }
    // Separable smoothing: along y for each x row, then along x for each y column.
    for i in 0..bins {
        let row = gaussian_smooth_1d(&v[i * bins..(i + 1) * bins], smooth);
        v[i * bins..(i + 1) * bins].copy_from_slice(&row);
    }
    for j in 0..bins {
        let col: Vec<f64> = (0..bins).map(|i| v[i * bins + j]).collect();
        for (i, c) in gaussian_smooth_1d(&col, smooth).into_iter().enumerate() {
            v[i * bins + j] = c;
        }
    }
    Grid { v, nx: bins, ny: bins, x: xr, y: yr }
}

/// Density thresholds enclosing each fraction of `levels` of the grid's
/// mass (highest-density regions): for level `p`, the value `t` such that the
/// cells with `v >= t` hold a fraction `p` of the total.
pub fn hdr_thresholds(g: &Grid, levels: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = g.v.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let total: f64 = sorted.iter().sum();
    levels
        .iter()
        .map(|&p| {
            let mut cum = 0.0;
            for &v in &sorted {
                cum += v;
                if cum >= p * total {
                    return v;
                }
            }
            sorted.last().copied().unwrap_or(0.0)
        })
        .collect()
}

/// Line segments of the iso-line `v = t`, by marching squares over the cell
/// centres; saddle cells are resolved by the centre average.
pub fn contour_segments(g: &Grid, t: f64) -> Vec<[(f64, f64); 2]> {
    let at = |i: usize, j: usize| g.v[i * g.ny + j];
    let mut out = Vec::new();
    if g.nx < 2 || g.ny < 2 {
        return out;
    }
    for i in 0..g.nx - 1 {
        for j in 0..g.ny - 1 {
            // Corners counter-clockwise: (i,j) (i+1,j) (i+1,j+1) (i,j+1).
            let c = [at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)];
            let idx = c.iter().enumerate().fold(0usize, |a, (k, &v)| a | (usize::from(v >= t) << k));
            if idx == 0 || idx == 15 {
                continue;
            }
            // Crossing point on edge e (between corner e and corner e+1).
            let corner = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)];
            let cross = |e: usize| {
                let (a, b) = (e, (e + 1) % 4);
                let f = if c[b] != c[a] { ((t - c[a]) / (c[b] - c[a])).clamp(0.0, 1.0) } else { 0.5 };
                let (pa, pb) = (corner[a], corner[b]);
                g.centre(i as f64 + pa.0 + f * (pb.0 - pa.0), j as f64 + pa.1 + f * (pb.1 - pa.1))
            };
            // Edges crossed: those whose corners differ.
            let edges: Vec<usize> = (0..4).filter(|&e| ((idx >> e) & 1) != ((idx >> ((e + 1) % 4)) & 1)).collect();
            match edges.as_slice() {
                [a, b] => out.push([cross(*a), cross(*b)]),
                [e0, e1, e2, e3] => {
                    // Saddle: pair edges so that the centre's side is respected.
                    let centre_in = c.iter().sum::<f64>() / 4.0 >= t;
                    let corner0_in = c[0] >= t;
                    if centre_in == corner0_in {
                        out.push([cross(*e0), cross(*e1)]);
                        out.push([cross(*e2), cross(*e3)]);
                    } else {
                        out.push([cross(*e3), cross(*e0)]);
                        out.push([cross(*e1), cross(*e2)]);
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hdr_of_a_gaussian_matches_the_chi2_radius() {
        // Density of N(0, I) on a fine grid: the p-HDR is a disc of radius
        // sqrt(-2 ln(1 - p)); its boundary contour must lie at that radius.
        let n = 200;
        let mut v = vec![0.0; n * n];
        let g0 = Grid { v: vec![], nx: n, ny: n, x: (-5.0, 5.0), y: (-5.0, 5.0) };
        for i in 0..n {
            for j in 0..n {
                let (x, y) = g0.centre(i as f64, j as f64);
                v[i * n + j] = (-0.5 * (x * x + y * y)).exp();
            }
        }
        let g = Grid { v, ..g0 };
        for p in [0.393, 0.865, 0.989] {
            let t = hdr_thresholds(&g, &[p])[0];
            let segs = contour_segments(&g, t);
            assert!(segs.len() > 20);
            let r_exact = (-2.0 * (1.0f64 - p).ln()).sqrt();
            for s in segs {
                for (x, y) in s {
                    let r = (x * x + y * y).sqrt();
                    assert!((r - r_exact).abs() < 0.06, "level {p}: contour point at radius {r}, expected {r_exact}");
                }
            }
        }
    }

    #[test]
    fn histogram_is_a_normalized_density() {
        let x: Vec<f64> = (0..10_000).map(|i| (i as f64 + 0.5) / 10_000.0).collect();
        let h = histogram_1d(&x, None, (0.0, 1.0), 20, 0.0);
        assert!(h.iter().all(|v| (v - 1.0).abs() < 1e-9), "{h:?}");
        let hs = histogram_1d(&x, None, (0.0, 1.0), 20, 1.5);
        assert!((hs.iter().sum::<f64>() / 20.0 - 1.0).abs() < 1e-9);
    }
}

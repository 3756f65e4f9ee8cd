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

/// A grid edge crossed by an iso-line: `(horizontal?, i, j)`, the edge from
/// node `(i, j)` to `(i + 1, j)` (horizontal) or to `(i, j + 1)` (vertical).
type EdgeKey = (bool, usize, usize);

/// Segments of the iso-line `v = t` by marching squares over the cell
/// centres, each as the two grid edges it joins; saddle cells are resolved
/// by the centre average.
fn segment_edges(g: &Grid, t: f64) -> Vec<[EdgeKey; 2]> {
    let at = |i: usize, j: usize| g.v[i * g.ny + j];
    let mut out = Vec::new();
    if g.nx < 2 || g.ny < 2 {
        return out;
    }
    for i in 0..g.nx - 1 {
        for j in 0..g.ny - 1 {
            // Corners counter-clockwise: (i,j) (i+1,j) (i+1,j+1) (i,j+1);
            // edge e joins corner e and corner e+1.
            let c = [at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)];
            let idx = c.iter().enumerate().fold(0usize, |a, (k, &v)| a | (usize::from(v >= t) << k));
            if idx == 0 || idx == 15 {
                continue;
            }
            let key = |e: usize| match e {
                0 => (true, i, j),
                1 => (false, i + 1, j),
                2 => (true, i, j + 1),
                _ => (false, i, j),
            };
            let edges: Vec<usize> = (0..4).filter(|&e| ((idx >> e) & 1) != ((idx >> ((e + 1) % 4)) & 1)).collect();
            match edges.as_slice() {
                [a, b] => out.push([key(*a), key(*b)]),
                [e0, e1, e2, e3] => {
                    // Saddle: pair edges so that the centre's side is respected.
                    let centre_in = c.iter().sum::<f64>() / 4.0 >= t;
                    if centre_in == (c[0] >= t) {
                        out.push([key(*e0), key(*e1)]);
                        out.push([key(*e2), key(*e3)]);
                    } else {
                        out.push([key(*e3), key(*e0)]);
                        out.push([key(*e1), key(*e2)]);
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Where the iso-line `v = t` crosses a grid edge (linear interpolation
/// between the edge's two nodes, the same from both cells that share it).
fn crossing(g: &Grid, t: f64, (horizontal, i, j): EdgeKey) -> (f64, f64) {
    let a = g.v[i * g.ny + j];
    let (b, di, dj) = if horizontal { (g.v[(i + 1) * g.ny + j], 1.0, 0.0) } else { (g.v[i * g.ny + j + 1], 0.0, 1.0) };
    let f = if b != a { ((t - a) / (b - a)).clamp(0.0, 1.0) } else { 0.5 };
    g.centre(i as f64 + f * di, j as f64 + f * dj)
}

/// Line segments of the iso-line `v = t`, by marching squares over the cell
/// centres; saddle cells are resolved by the centre average.
pub fn contour_segments(g: &Grid, t: f64) -> Vec<[(f64, f64); 2]> {
    segment_edges(g, t).into_iter().map(|[a, b]| [crossing(g, t, a), crossing(g, t, b)]).collect()
}

/// The iso-line `v = t` as polylines: the segments of [`contour_segments`]
/// joined end to end, open lines (ending at the grid's border) first, then
/// closed loops (first point repeated at the end). The order is a function of
/// the grid alone.
pub fn contour_lines(g: &Grid, t: f64) -> Vec<Vec<(f64, f64)>> {
    let segs = segment_edges(g, t);
    let mut at_edge: std::collections::HashMap<EdgeKey, Vec<usize>> = std::collections::HashMap::new();
    for (k, s) in segs.iter().enumerate() {
        for e in s {
            at_edge.entry(*e).or_default().push(k);
        }
    }
    let mut used = vec![false; segs.len()];
    let mut lines = Vec::new();
    // Walks from segment `k`, entering it through edge `from`.
    let walk = |k0: usize, from: EdgeKey, used: &mut [bool]| {
        let mut line = vec![crossing(g, t, from)];
        let (mut k, mut entry) = (k0, from);
        loop {
            used[k] = true;
            let exit = if segs[k][0] == entry { segs[k][1] } else { segs[k][0] };
            line.push(crossing(g, t, exit));
            match at_edge[&exit].iter().find(|&&n| !used[n]) {
                Some(&n) => (k, entry) = (n, exit),
                None => break,
            }
        }
        line
    };
    // Open lines start at an edge that only one segment touches.
    for k in 0..segs.len() {
        if used[k] {
            continue;
        }
        if let Some(&e) = segs[k].iter().find(|e| at_edge[e].len() == 1) {
            lines.push(walk(k, e, &mut used));
        }
    }
    for k in 0..segs.len() {
        if !used[k] {
            lines.push(walk(k, segs[k][0], &mut used));
        }
    }
    lines
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
    fn contour_lines_join_segments_into_loops_and_open_lines() {
        let n = 60;
        let g0 = Grid { v: vec![], nx: n, ny: n, x: (-3.0, 3.0), y: (-3.0, 3.0) };
        let mut v = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let (x, y) = g0.centre(i as f64, j as f64);
                v[i * n + j] = (-0.5 * (x * x + y * y)).exp();
            }
        }
        let g = Grid { v, ..g0 };
        let t = hdr_thresholds(&g, &[0.865])[0];
        let lines = contour_lines(&g, t);
        assert_eq!(lines.len(), 1, "one closed loop");
        let l = &lines[0];
        assert_eq!(l.first(), l.last());
        assert_eq!(l.len() - 1, contour_segments(&g, t).len());
        // Shifted off the grid's edge: the loop becomes one open line whose
        // ends lie on the border cells' centres.
        let g2 = Grid { x: (0.0, 6.0), ..g.clone() };
        let v2: Vec<f64> = (0..n * n).map(|k| g.v[(k / n + n / 2).min(n - 1) * n + k % n]).collect();
        let g2 = Grid { v: v2, ..g2 };
        let lines = contour_lines(&g2, t);
        assert_eq!(lines.len(), 1);
        assert_ne!(lines[0].first(), lines[0].last());
    }
}

//! Corner plots: 1-D marginals on the diagonal, 2-D highest-density contours
//! below it, several chains overlaid.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::contour::{contour_segments, hdr_thresholds, histogram_1d, histogram_2d};
use crate::{Error, Result};

/// One sample set to draw.
#[derive(Debug, Clone)]
pub struct Samples {
    /// Legend label.
    pub label: String,
    /// Draws, one row per draw (`n × dim`), row-major.
    pub draws: Vec<f64>,
    /// Optional weights, one per draw.
    pub weights: Option<Vec<f64>>,
}

impl Samples {
    fn n(&self, dim: usize) -> usize {
        self.draws.len() / dim.max(1)
    }
    fn column(&self, j: usize, dim: usize) -> Vec<f64> {
        (0..self.n(dim)).map(|i| self.draws[i * dim + j]).collect()
    }
}

/// Settings of a corner plot.
#[derive(Debug, Clone)]
pub struct CornerOptions {
    /// Histogram bins per axis.
    pub bins: usize,
    /// Gaussian smoothing of the histograms, in bins.
    pub smooth: f64,
    /// Probability mass inside each contour (default: the 1σ/2σ/3σ masses of a
    /// 2-D Gaussian, 39.3%, 86.5%, 98.9%).
    pub levels: Vec<f64>,
    /// Pixels per panel.
    pub panel: u32,
}

impl Default for CornerOptions {
    fn default() -> Self {
        CornerOptions { bins: 40, smooth: 1.0, levels: vec![0.393, 0.865, 0.989], panel: 220 }
    }
}

const COLOURS: [RGBColor; 6] = [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189), RGBColor(255, 127, 14), RGBColor(23, 190, 207)];

static FONT: Once = Once::new();
static mut FONT_OK: bool = false;

/// Registers a TrueType font for the labels, found among the system's fonts
/// (DejaVu, Liberation, Noto; `SEQCAL_FONT` names a file explicitly).
fn ensure_font() -> Result<()> {
    FONT.call_once(|| {
        let mut candidates: Vec<std::path::PathBuf> = std::env::var_os("SEQCAL_FONT").map(Into::into).into_iter().collect();
        for dir in ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF", "/usr/share/fonts/truetype/liberation", "/usr/share/fonts/truetype/noto", "/Library/Fonts", "/System/Library/Fonts/Supplemental"] {
            for name in ["DejaVuSans.ttf", "LiberationSans-Regular.ttf", "NotoSans-Regular.ttf", "Arial.ttf"] {
                candidates.push(Path::new(dir).join(name));
            }
        }
        for c in candidates {
            if let Ok(bytes) = std::fs::read(&c) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    // SAFETY: written once, inside call_once, before any read.
                    unsafe { FONT_OK = true };
                    return;
                }
            }
        }
    });
    // SAFETY: read after call_once has completed.
    if unsafe { FONT_OK } {
        Ok(())
    } else {
        Err(Error::Usage("no TrueType font found for plot labels: install fonts-dejavu-core (Debian/Ubuntu) or set SEQCAL_FONT=/path/to/font.ttf".into()))
    }
}

/// Axis range of parameter `j`: the 0.1%-99.9% span of all sets, padded by
/// 5%, clipped to the parameter's bounds.
fn axis_range(sets: &[Samples], j: usize, dim: usize, bound: (f64, f64)) -> (f64, f64) {
    let mut all: Vec<f64> = sets.iter().flat_map(|s| s.column(j, dim)).filter(|v| v.is_finite()).collect();
    if all.is_empty() {
        return (0.0, 1.0);
    }
    all.sort_by(f64::total_cmp);
    let q = |p: f64| all[((all.len() - 1) as f64 * p).round() as usize];
    let (lo, hi) = (q(0.001), q(0.999));
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 * lo.abs().max(1.0) };
    ((lo - pad).max(bound.0), (hi + pad).min(bound.1))
}

/// Draws a corner plot of `sets` over parameters `names` to `path`
/// (`.svg` as SVG, anything else as PNG).
///
/// # Errors
/// No sets, sets of different dimension, no font, or a failed write.
pub fn corner_plot(sets: &[Samples], names: &[String], bounds: &[(f64, f64)], path: &Path, opts: &CornerOptions) -> Result<()> {
    let dim = names.len();
    if sets.is_empty() || dim == 0 {
        return Err(Error::Usage("nothing to plot".into()));
    }
    if let Some(s) = sets.iter().find(|s| s.draws.len() % dim != 0 || s.n(dim) < 2) {
        return Err(Error::Usage(format!("sample set {:?} does not hold at least two draws of {dim} parameters", s.label)));
    }
    ensure_font()?;
    let side = opts.panel * dim as u32 + 40;
    let svg = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    crate::chain::write_atomically(path, |tmp| {
        let res = if svg {
            draw(SVGBackend::new(tmp, (side, side)).into_drawing_area(), sets, names, bounds, opts).map_err(|e| e.to_string())
        } else {
            draw(BitMapBackend::new(tmp, (side, side)).into_drawing_area(), sets, names, bounds, opts).map_err(|e| e.to_string())
        };
        res.map_err(|e| Error::Usage(format!("{}: drawing the corner plot failed: {e}", path.display())))
    })
}

type DrawResult<DB> = std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, sets: &[Samples], names: &[String], bounds: &[(f64, f64)], opts: &CornerOptions) -> DrawResult<DB> {
    let dim = names.len();
    root.fill(&WHITE)?;
    let area = root.margin(10, 10, 10, 30);
    let panels = area.split_evenly((dim, dim));
    let ranges: Vec<(f64, f64)> = (0..dim).map(|j| axis_range(sets, j, dim, bounds[j])).collect();
    let cols: Vec<Vec<Vec<f64>>> = sets.iter().map(|s| (0..dim).map(|j| s.column(j, dim)).collect()).collect();
    for row in 0..dim {
        for col in 0..dim {
            let panel = &panels[row * dim + col];
            if col > row {
                continue;
            }
            let (xr, yr0) = (ranges[col], ranges[row]);
            let label_x = if row == dim - 1 { 30 } else { 0 };
            let label_y = if col == 0 { 45 } else { 0 };
            if row == col {
                let hists: Vec<Vec<f64>> = sets.iter().enumerate().map(|(k, s)| histogram_1d(&cols[k][col], s.weights.as_deref(), xr, opts.bins, opts.smooth)).collect();
                let top = hists.iter().flatten().copied().fold(0.0, f64::max) * 1.1;
                let mut chart = ChartBuilder::on(panel).x_label_area_size(label_x).y_label_area_size(label_y).margin(4).build_cartesian_2d(xr.0..xr.1, 0.0..top.max(1e-300))?;
                let mut mesh = chart.configure_mesh();
                mesh.disable_mesh().y_labels(0).x_labels(if row == dim - 1 { 4 } else { 0 }).x_desc(if row == dim - 1 { names[col].as_str() } else { "" });
                mesh.draw()?;
                let width = (xr.1 - xr.0) / opts.bins as f64;
                for (k, h) in hists.iter().enumerate() {
                    let c = COLOURS[k % COLOURS.len()];
                    chart.draw_series(LineSeries::new(h.iter().enumerate().map(|(b, &v)| (xr.0 + (b as f64 + 0.5) * width, v)), c.stroke_width(2)))?;
                }
                for b in [bounds[col].0, bounds[col].1] {
                    if b > xr.0 && b < xr.1 {
                        chart.draw_series(LineSeries::new(vec![(b, 0.0), (b, top)], BLACK.mix(0.4)))?;
                    }
                }
            } else {
                let yr = yr0;
                let mut chart = ChartBuilder::on(panel).x_label_area_size(label_x).y_label_area_size(label_y).margin(4).build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)?;
                let mut mesh = chart.configure_mesh();
                mesh.disable_mesh()
                    .x_labels(if row == dim - 1 { 4 } else { 0 })
                    .y_labels(if col == 0 { 4 } else { 0 })
                    .x_desc(if row == dim - 1 { names[col].as_str() } else { "" })
                    .y_desc(if col == 0 { names[row].as_str() } else { "" });
                mesh.draw()?;
                for (k, s) in sets.iter().enumerate() {
                    let c = COLOURS[k % COLOURS.len()];
                    let g = histogram_2d(&cols[k][col], &cols[k][row], s.weights.as_deref(), xr, yr, opts.bins, opts.smooth);
                    for (li, t) in hdr_thresholds(&g, &opts.levels).into_iter().enumerate() {
                        let style = c.mix(1.0 - 0.25 * li as f64).stroke_width(if li == 0 { 2 } else { 1 });
                        chart.draw_series(contour_segments(&g, t).into_iter().map(|[a, b]| PathElement::new(vec![a, b], style)))?;
                    }
                }
            }
        }
    }
    // Legend, in the empty upper-right triangle.
    if dim > 1 || sets.len() > 1 {
        let legend = &panels[dim - 1];
        for (k, s) in sets.iter().enumerate() {
            let c = COLOURS[k % COLOURS.len()];
            let y = 10 + 22 * k as i32;
            legend.draw(&Rectangle::new([(10, y), (30, y + 12)], c.filled()))?;
            legend.draw(&Text::new(s.label.clone(), (36, y), ("sans-serif", 15).into_font()))?;
        }
        let y = 14 + 22 * sets.len() as i32;
        let text = format!("contours: {}", opts.levels.iter().map(|l| format!("{:.1}%", 100.0 * l)).collect::<Vec<_>>().join(", "));
        legend.draw(&Text::new(text, (10, y), ("sans-serif", 12).into_font()))?;
    }
    root.present()?;
    Ok(())
}

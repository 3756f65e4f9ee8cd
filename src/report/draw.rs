//! Rendering of a corner plot onto a plotters drawing area: panels, density
//! curves, contours in one line style per level, prior bounds, truths, ticks,
//! names, titles and the legend. Sizes come from [`CornerLayout`], in layout
//! pixels; `scale` maps them to the backend's pixels (a PNG is drawn at a
//! multiple of its size and averaged down, which anti-aliases every line).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;

use super::contour::{contour_lines, hdr_thresholds};
use super::density::{density_curve, histogram_2d, DensityAxis};
use super::inputs::{median_interval, CornerOptions, Samples};
use super::layout::{fixed, text_width, CornerLayout, CAP};

/// Colours of the sample sets, in order.
pub(super) const COLOURS: [RGBColor; 6] =
    [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189), RGBColor(255, 127, 14), RGBColor(23, 190, 207)];
const SHADE: RGBColor = RGBColor(232, 232, 232);
const BOUND: RGBColor = RGBColor(110, 110, 110);
const TRUTH: RGBColor = RGBColor(0, 0, 0);

/// Line style of the contour enclosing the `i`-th level: width in points and
/// dash pattern in points (on, off, ...; empty: solid). Solid, dashed,
/// dotted, dash-dotted, then repeating.
pub fn level_style(i: usize) -> (f64, &'static [f64]) {
    const STYLES: [(f64, &[f64]); 4] = [(1.0, &[]), (0.9, &[3.2, 1.6]), (0.9, &[0.9, 1.3]), (0.8, &[3.0, 1.2, 0.9, 1.2])];
    STYLES[i % STYLES.len()]
}

/// Legend name of a contour level: "1σ (39.3%)" for the 2-D Gaussian
/// masses of 1, 2 and 3 σ, the percentage otherwise.
pub fn level_name(p: f64) -> String {
    for k in 1..=3 {
        if (p - (1.0 - (-0.5 * f64::from(k * k)).exp())).abs() < 5e-4 {
            return format!("{k}\u{3c3} ({:.1}%)", 100.0 * p);
        }
    }
    format!("{:.1}%", 100.0 * p)
}

type R = std::result::Result<(), String>;

/// Everything a corner plot shows.
pub(super) struct Figure<'a> {
    pub sets: &'a [Samples],
    pub layout: &'a CornerLayout,
    pub opts: &'a CornerOptions,
}

struct Canvas<'a, DB: DrawingBackend> {
    area: &'a DrawingArea<DB, Shift>,
    scale: f64,
    svg: bool,
}

impl<DB: DrawingBackend> Canvas<'_, DB> {
    fn at(&self, (x, y): (f64, f64)) -> (i32, i32) {
        ((x * self.scale).round() as i32, (y * self.scale).round() as i32)
    }

    fn style(&self, c: RGBAColor, width: f64) -> ShapeStyle {
        ShapeStyle { color: c, filled: false, stroke_width: (width * self.scale).round().max(1.0) as u32 }
    }

    fn line(&self, pts: &[(f64, f64)], c: RGBAColor, width: f64) -> R {
        let mut path: Vec<(i32, i32)> = pts.iter().map(|&p| self.at(p)).collect();
        path.dedup();
        if path.len() < 2 {
            return Ok(());
        }
        self.area.draw(&PathElement::new(path, self.style(c, width))).map_err(|e| e.to_string())
    }

    /// A polyline dashed by `pattern` (lengths in pixels, on/off), the
    /// pattern's phase running on along the whole line.
    fn dashed(&self, pts: &[(f64, f64)], c: RGBAColor, width: f64, pattern: &[f64]) -> R {
        if pattern.is_empty() {
            return self.line(pts, c, width);
        }
        let (mut k, mut left, mut on) = (0usize, pattern[0], true);
        let mut piece = vec![pts[0]];
        for w in pts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
            let mut done = 0.0;
            while len - done > left {
                done += left;
                let p = (a.0 + (b.0 - a.0) * done / len, a.1 + (b.1 - a.1) * done / len);
                if on {
                    piece.push(p);
                    self.line(&piece, c, width)?;
                }
                piece = vec![p];
                on = !on;
                k = (k + 1) % pattern.len();
                left = pattern[k];
            }
            left -= len - done;
            piece.push(b);
        }
        if on {
            self.line(&piece, c, width)?;
        }
        Ok(())
    }

    fn fill(&self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: RGBAColor) -> R {
        self.area.draw(&Rectangle::new([self.at((x0, y0)), self.at((x1, y1))], c.filled())).map_err(|e| e.to_string())
    }

    /// Text with its baseline at `y`, anchored at `x` by `h`.
    fn text(&self, s: &str, x: f64, y: f64, em: f64, h: HPos) -> R {
        let (size, drop) = self.font(em);
        let style = ("sans-serif", size * self.scale).into_font().color(&BLACK).pos(Pos::new(h, VPos::Top));
        self.area.draw(&Text::new(s.to_string(), self.at((x, y - drop)), style)).map_err(|e| e.to_string())
    }

    /// Text reading upwards, centred on `y`, its baseline at `x`.
    fn text_up(&self, s: &str, x: f64, y: f64, em: f64) -> R {
        let (size, drop) = self.font(em);
        let style =
            ("sans-serif", size * self.scale).into_font().transform(FontTransform::Rotate270).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
        self.area.draw(&Text::new(s.to_string(), self.at((x - drop, y)), style)).map_err(|e| e.to_string())
    }

    /// Font size for an em of `em` pixels and the distance from the text's
    /// anchor to its baseline, for this backend.
    fn font(&self, em: f64) -> (f64, f64) {
        if self.svg {
            (1.24 * em, 0.76 * em)
        } else {
            (1.164 * em, 0.582 * em)
        }
    }
}

/// Draws the figure on `area` (`scale` backend pixels per layout pixel).
pub(super) fn render<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, scale: f64, svg: bool, f: &Figure<'_>) -> R {
    let cv = Canvas { area, scale, svg };
    area.fill(&WHITE).map_err(|e| e.to_string())?;
    let l = f.layout;
    let d = l.dim;
    let cols: Vec<Vec<Vec<f64>>> = f.sets.iter().map(|s| (0..d).map(|j| s.column(j, d)).collect()).collect();
    let axis = |j: usize| DensityAxis { range: l.ranges[j].density, bins: f.opts.bins, smooth: f.opts.smooth, bounded: l.ranges[j].bounded };
    for row in 0..d {
        for col in 0..=row {
            let (x0, y0, x1, y1) = l.panel_rect(row, col);
            shade(&cv, l, col, row, row != col)?;
            if row == col {
                let curves: Vec<Vec<(f64, f64)>> =
                    f.sets.iter().enumerate().map(|(k, s)| density_curve(&cols[k][col], s.weights.as_deref(), &axis(col))).collect();
                let top = 1.08 * curves.iter().flatten().map(|p| p.1).fold(0.0, f64::max);
                for (k, c) in curves.iter().enumerate() {
                    let pts: Vec<(f64, f64)> =
                        c.iter().map(|&(x, v)| (l.x_px(col, x), y1 - if top > 0.0 { v / top } else { 0.0 } * l.panel)).collect();
                    cv.line(&pts, COLOURS[k % COLOURS.len()].to_rgba(), l.lw(1.0))?;
                }
            } else {
                for (k, s) in f.sets.iter().enumerate() {
                    let g = histogram_2d(&cols[k][col], &cols[k][row], s.weights.as_deref(), &axis(col), &axis(row));
                    for (li, t) in hdr_thresholds(&g, &f.opts.levels).into_iter().enumerate() {
                        let (w, dash) = level_style(li);
                        let dash: Vec<f64> = dash.iter().map(|v| v * l.px_per_pt).collect();
                        for line in contour_lines(&g, t) {
                            let pts: Vec<(f64, f64)> = line.iter().map(|&(x, y)| (l.x_px(col, x), l.y_px(row, y))).collect();
                            cv.dashed(&pts, COLOURS[k % COLOURS.len()].to_rgba(), l.lw(w), &dash)?;
                        }
                    }
                }
            }
            bounds_and_truths(&cv, l, f.opts, col, row)?;
            let frame = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)];
            cv.line(&frame, BLACK.to_rgba(), l.lw(0.5))?;
            for t in &l.ticks[col] {
                let x = l.x_px(col, t.value);
                cv.line(&[(x, y1), (x, y1 - l.tick_len)], BLACK.to_rgba(), l.lw(0.5))?;
            }
            if row != col {
                for t in &l.ticks[row] {
                    let y = l.y_px(row, t.value);
                    cv.line(&[(x0, y), (x0 + l.tick_len, y)], BLACK.to_rgba(), l.lw(0.5))?;
                }
            }
        }
    }
    labels(&cv, l)?;
    if f.opts.titles {
        titles(&cv, f)?;
    }
    legend(&cv, f)
}

/// Shades the parts of a panel outside the parameters' bounds.
fn shade<DB: DrawingBackend>(cv: &Canvas<'_, DB>, l: &CornerLayout, col: usize, row: usize, two_d: bool) -> R {
    let (x0, y0, x1, y1) = l.panel_rect(row, col);
    let r = &l.ranges[col];
    if r.bounded.lower {
        cv.fill((x0, y0), (l.x_px(col, r.density.0), y1), SHADE.to_rgba())?;
    }
    if r.bounded.upper {
        cv.fill((l.x_px(col, r.density.1), y0), (x1, y1), SHADE.to_rgba())?;
    }
    if two_d {
        let r = &l.ranges[row];
        if r.bounded.lower {
            cv.fill((x0, l.y_px(row, r.density.0)), (x1, y1), SHADE.to_rgba())?;
        }
        if r.bounded.upper {
            cv.fill((x0, y0), (x1, l.y_px(row, r.density.1)), SHADE.to_rgba())?;
        }
    }
    Ok(())
}

/// Lines at the parameters' bounds, and the true values.
fn bounds_and_truths<DB: DrawingBackend>(cv: &Canvas<'_, DB>, l: &CornerLayout, o: &CornerOptions, col: usize, row: usize) -> R {
    let (x0, y0, x1, y1) = l.panel_rect(row, col);
    let inside = |j: usize, v: f64| v > l.ranges[j].axis.0 && v < l.ranges[j].axis.1;
    let vline = |x: f64, c: RGBAColor, w: f64| cv.line(&[(x, y0), (x, y1)], c, w);
    let hline = |y: f64, c: RGBAColor, w: f64| cv.line(&[(x0, y), (x1, y)], c, w);
    let r = &l.ranges[col];
    for (b, on) in [(r.density.0, r.bounded.lower), (r.density.1, r.bounded.upper)] {
        if on {
            vline(l.x_px(col, b), BOUND.to_rgba(), l.lw(0.6))?;
        }
    }
    if row != col {
        let r = &l.ranges[row];
        for (b, on) in [(r.density.0, r.bounded.lower), (r.density.1, r.bounded.upper)] {
            if on {
                hline(l.y_px(row, b), BOUND.to_rgba(), l.lw(0.6))?;
            }
        }
    }
    let truth = |j: usize| o.truths.get(j).copied().flatten().filter(|&v| inside(j, v));
    let tc = TRUTH.mix(0.8);
    if let Some(t) = truth(col) {
        vline(l.x_px(col, t), tc, l.lw(0.7))?;
    }
    if row != col {
        if let Some(t) = truth(row) {
            hline(l.y_px(row, t), tc, l.lw(0.7))?;
            if let Some(tx) = truth(col) {
                let (x, y, h) = (l.x_px(col, tx), l.y_px(row, t), 0.5 * l.lw(2.8));
                cv.fill((x - h, y - h), (x + h, y + h), TRUTH.to_rgba())?;
            }
        }
    }
    Ok(())
}

/// Tick labels and parameter names on the outer panels.
fn labels<DB: DrawingBackend>(cv: &Canvas<'_, DB>, l: &CornerLayout) -> R {
    let d = l.dim;
    for col in 0..d {
        for t in &l.ticks[col] {
            cv.text(&t.label, l.x_px(col, t.value), l.xtick_baseline(), l.tick_em, HPos::Center)?;
        }
        let (x0, _, x1, _) = l.panel_rect(d - 1, col);
        cv.text(&l.names[col], 0.5 * (x0 + x1), l.xname_baseline(col), l.name_em[col], HPos::Center)?;
    }
    for row in 1..d {
        for t in &l.ticks[row] {
            cv.text(&t.label, l.left - l.pad, l.y_px(row, t.value) + 0.5 * CAP * l.tick_em, l.tick_em, HPos::Right)?;
        }
        let (_, y0, _, y1) = l.panel_rect(row, 0);
        cv.text_up(&l.names[row], l.yname_baseline(row), 0.5 * (y0 + y1), l.name_em[row])?;
    }
    Ok(())
}

/// "name = median (+up, −down)" above each diagonal panel, from the first
/// sample set: the median and the central 68.3% interval.
fn titles<DB: DrawingBackend>(cv: &Canvas<'_, DB>, f: &Figure<'_>) -> R {
    let l = f.layout;
    let Some(set) = f.sets.first() else {
        return Ok(());
    };
    for j in 0..l.dim {
        let Some((lo, med, hi)) = median_interval(&set.column(j, l.dim), set.weights.as_deref()) else {
            continue;
        };
        let err = (med - lo).min(hi - med);
        let dec = if err > 0.0 && err.is_finite() { (1.0 - err.log10().floor()).clamp(0.0, 8.0) as usize } else { 3 };
        let fmt = |v: f64| fixed(v, dec);
        let (up, down) = (format!("+{}", fmt(hi - med)), format!("\u{2212}{}", fmt(med - lo)));
        let (x0, y0, x1, _) = l.panel_rect(j, j);
        let room = l.panel + 0.9 * l.gap;
        let width = |main: &str, em: f64| text_width(main, em) + 0.1 * em + text_width(&up, 0.7 * em).max(text_width(&down, 0.7 * em));
        let mut main = format!("{} = {}", l.names[j], fmt(med));
        if width(&main, l.title_em) > room {
            main = fmt(med);
        }
        let em = l.title_em * (room / width(&main, l.title_em)).min(1.0);
        let start = 0.5 * (x0 + x1) - 0.5 * width(&main, em);
        let base = y0 - l.pad - 0.25 * em;
        cv.text(&main, start, base, em, HPos::Left)?;
        let xs = start + text_width(&main, em) + 0.1 * em;
        cv.text(&up, xs, base - 0.45 * em, 0.7 * em, HPos::Left)?;
        cv.text(&down, xs, base + 0.25 * em, 0.7 * em, HPos::Left)?;
    }
    Ok(())
}

enum Swatch {
    Line(RGBAColor, f64, Vec<f64>),
    Shade,
}

/// The legend: sample sets by colour, contour levels by line style, truths,
/// the shading beyond the bounds. In the empty upper triangle, shrunk until
/// it fits there.
fn legend<DB: DrawingBackend>(cv: &Canvas<'_, DB>, f: &Figure<'_>) -> R {
    let l = f.layout;
    let d = l.dim;
    let mut items: Vec<(Swatch, String)> = Vec::new();
    for (k, s) in f.sets.iter().enumerate() {
        items.push((Swatch::Line(COLOURS[k % COLOURS.len()].to_rgba(), 1.2, vec![]), s.label.clone()));
    }
    if d > 1 {
        for (i, &p) in f.opts.levels.iter().enumerate() {
            let (w, dash) = level_style(i);
            items.push((Swatch::Line(BLACK.to_rgba(), w, dash.to_vec()), level_name(p)));
        }
    }
    if f.opts.truths.iter().any(Option::is_some) {
        items.push((Swatch::Line(TRUTH.mix(0.8), 0.7, vec![]), "truth".into()));
    }
    if l.ranges.iter().any(|r| r.bounded.lower || r.bounded.upper) {
        items.push((Swatch::Shade, "outside the bounds".into()));
    }
    let pitch = l.panel + l.gap;
    let (_, top, right, _) = l.panel_rect(0, d - 1);
    let size = |em: f64| (3.4 * em + items.iter().map(|(_, t)| text_width(t, em)).fold(0.0, f64::max), 1.5 * em * items.len() as f64);
    let fits = |em: f64| {
        let (w, h) = size(em);
        let x_left = right - w;
        let c_min = ((x_left - l.left - l.panel) / pitch).floor() + 1.0;
        if c_min < 1.0 {
            return false;
        }
        let (_, row_top, _, _) = l.panel_rect(c_min as usize, c_min as usize);
        let limit = row_top - if l.titles { l.pad + 1.4 * l.title_em } else { l.gap };
        top + h <= limit
    };
    let em0 = l.name_em.iter().copied().fold(0.0, f64::max);
    let mut em = em0;
    if d > 1 {
        while !fits(em) && em > 0.45 * em0 {
            em *= 0.92;
        }
    }
    let (w, h) = size(em);
    let (x, y) = if d > 1 { (right - w, top) } else { (right - w - 0.3 * em, top + 0.3 * em) };
    if d == 1 {
        cv.fill((x - 0.2 * em, y), (x + w, y + h), WHITE.mix(0.85))?;
    }
    for (i, (sw, text)) in items.iter().enumerate() {
        let yc = y + 1.5 * em * (i as f64 + 0.5);
        match sw {
            Swatch::Line(c, width, dash) => {
                let dash: Vec<f64> = dash.iter().map(|v| v * l.px_per_pt).collect();
                cv.dashed(&[(x, yc), (x + 2.6 * em, yc)], *c, l.lw(*width), &dash)?;
            }
            Swatch::Shade => {
                cv.fill((x, yc - 0.45 * em), (x + 2.6 * em, yc + 0.45 * em), SHADE.to_rgba())?;
                cv.line(&[(x + 2.6 * em, yc - 0.45 * em), (x + 2.6 * em, yc + 0.45 * em)], BOUND.to_rgba(), l.lw(0.6))?;
            }
        }
        cv.text(text, x + 3.4 * em, yc + 0.5 * CAP * em, em, HPos::Left)?;
    }
    Ok(())
}

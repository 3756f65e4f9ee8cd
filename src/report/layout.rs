//! Geometry of a corner plot: where the panels go, font sizes scaled to the
//! panels so that the figure stays readable when printed at a journal's
//! column width, and tick marks chosen so that no label crosses into a
//! neighbouring panel's labels.

use plotters::style::IntoFont;

use super::density::Edges;

/// A journal column, in points (3.4 inch): the print width the font sizes
/// are chosen for.
pub const COLUMN_PT: f64 = 3.4 * 72.0;

/// Height of digits and capitals, in em.
pub(super) const CAP: f64 = 0.73;
/// Depth of descenders below the baseline, in em.
pub(super) const DESCENT: f64 = 0.24;

/// Advance width of `text` at `em` pixels per em in the registered sans-serif
/// font (a slight overestimate for the bitmap renderer, exact for SVG).
pub(super) fn text_width(text: &str, em: f64) -> f64 {
    match ("sans-serif", em * 1.24).into_font().box_size(text) {
        Ok((w, _)) => f64::from(w),
        Err(_) => 0.62 * em * text.chars().count() as f64,
    }
}

/// What an axis of a corner plot spans.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PanelRange {
    /// Range shown on the axis.
    pub axis: (f64, f64),
    /// Range of the density estimates: the axis range cut to the parameter's
    /// bounds.
    pub density: (f64, f64),
    /// Which ends of `density` are the parameter's bounds (drawn, with the
    /// region beyond shaded, and where the smoothing is boundary-corrected).
    pub bounded: Edges,
}

/// A tick mark and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// Position, in the parameter's units.
    pub value: f64,
    /// Label as printed.
    pub label: String,
}

/// A piece of text on the figure and the box it occupies, in pixels
/// (`x0 < x1`, `y0 < y1`, y downwards).
#[derive(Debug, Clone, PartialEq)]
pub struct TextBox {
    /// The text.
    pub text: String,
    /// Left edge.
    pub x0: f64,
    /// Top edge.
    pub y0: f64,
    /// Right edge.
    pub x1: f64,
    /// Bottom edge.
    pub y1: f64,
}

impl TextBox {
    /// Whether two boxes overlap (touching edges do not count).
    pub fn overlaps(&self, o: &TextBox) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
}

/// Where everything of a corner plot goes, in pixels (y downwards).
#[derive(Debug, Clone)]
pub struct CornerLayout {
    /// Number of parameters.
    pub dim: usize,
    /// Parameter names.
    pub names: Vec<String>,
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Side of a panel.
    pub panel: f64,
    /// Space between panels.
    pub gap: f64,
    /// Left margin (y tick labels and names).
    pub left: f64,
    /// Top margin (titles).
    pub top: f64,
    /// Pixels per typographic point when the figure is printed
    /// [`COLUMN_PT`] wide.
    pub px_per_pt: f64,
    /// Em size of tick labels.
    pub tick_em: f64,
    /// Em size of each parameter's name (shrunk where a long name would not
    /// fit under its panel).
    pub name_em: Vec<f64>,
    /// Em size of titles (before a title is shrunk to its panel).
    pub title_em: f64,
    /// Length of tick marks.
    pub tick_len: f64,
    /// Distance from a panel's frame to its tick labels.
    pub pad: f64,
    /// Axis ranges, one per parameter.
    pub ranges: Vec<PanelRange>,
    /// Ticks, one list per parameter (the same on x and y axes).
    pub ticks: Vec<Vec<Tick>>,
    /// Room reserved above the diagonal panels for titles.
    pub titles: bool,
}

impl CornerLayout {
    /// Computes the layout of `names.len()` panels per side of `panel`
    /// pixels over `ranges`, with room for titles when `titles` is set.
    ///
    /// Fonts: tick labels at 0.17 of a panel and names at 0.21, capped at
    /// 7 pt and 8.5 pt at column width; for seven parameters that is 5.3 pt
    /// and 6.5 pt when the figure is printed 3.4 inch wide. Lines are sized
    /// in the same points.
    pub fn new(names: &[String], ranges: &[PanelRange], panel: u32, titles: bool) -> CornerLayout {
        let dim = names.len();
        let p = f64::from(panel);
        let px_per_pt = (dim as f64 + 0.9) * p / COLUMN_PT;
        let tick_em = (0.17 * p).min(7.0 * px_per_pt);
        let label_em = (0.21 * p).min(8.5 * px_per_pt);
        let gap = (0.05 * p).round();
        let pad = (0.35 * tick_em).max(0.5 * gap + 1.0);
        let name_em = names
            .iter()
            .map(|n| {
                let w = text_width(n, label_em);
                if w > 0.96 * (p + gap) {
                    label_em * 0.96 * (p + gap) / w
                } else {
                    label_em
                }
            })
            .collect::<Vec<f64>>();
        let ticks: Vec<Vec<Tick>> = ranges.iter().map(|r| choose_ticks(r.axis, p, gap, tick_em)).collect();
        let ytick_w = ticks.iter().skip(1).flatten().map(|t| text_width(&t.label, tick_em)).fold(0.0, f64::max);
        let name_h = name_em.iter().copied().fold(0.0, f64::max);
        let left = (pad + ytick_w + 0.5 * tick_em + (CAP + DESCENT) * name_h + 0.3 * tick_em).ceil();
        let title_em = 1.05 * tick_em;
        let top = if titles { (pad + 1.3 * title_em).ceil() } else { (0.4 * tick_em).ceil() };
        let bottom = (pad + CAP * tick_em + 0.55 * tick_em + (CAP + DESCENT) * name_h + 0.3 * tick_em).ceil();
        let right = (0.5 * gap + 0.3 * tick_em).ceil();
        let side = dim as f64 * p + (dim.max(1) - 1) as f64 * gap;
        CornerLayout {
            dim,
            names: names.to_vec(),
            width: (left + side + right) as u32,
            height: (top + side + bottom) as u32,
            panel: p,
            gap,
            left,
            top,
            px_per_pt,
            tick_em,
            name_em,
            title_em,
            tick_len: 0.3 * tick_em,
            pad,
            ranges: ranges.to_vec(),
            ticks,
            titles,
        }
    }

    /// Left, top, right, bottom of panel (`row`, `col`).
    pub fn panel_rect(&self, row: usize, col: usize) -> (f64, f64, f64, f64) {
        let x0 = self.left + col as f64 * (self.panel + self.gap);
        let y0 = self.top + row as f64 * (self.panel + self.gap);
        (x0, y0, x0 + self.panel, y0 + self.panel)
    }

    /// Horizontal pixel of value `v` of parameter `col` in its column.
    pub fn x_px(&self, col: usize, v: f64) -> f64 {
        let (a, b) = self.ranges[col].axis;
        self.panel_rect(0, col).0 + (v - a) / (b - a) * self.panel
    }

    /// Vertical pixel of value `v` of parameter `row` in its row.
    pub fn y_px(&self, row: usize, v: f64) -> f64 {
        let (a, b) = self.ranges[row].axis;
        self.panel_rect(row, 0).3 - (v - a) / (b - a) * self.panel
    }

    /// Point size of text of `em` pixels when the figure is printed
    /// `inches` wide.
    pub fn points(&self, em: f64, inches: f64) -> f64 {
        em * inches * 72.0 / f64::from(self.width)
    }

    /// A line width of `pt` points at column width, in pixels (at least 1).
    pub(super) fn lw(&self, pt: f64) -> f64 {
        (pt * self.px_per_pt).max(1.0)
    }

    /// Baseline of the x tick labels.
    pub(super) fn xtick_baseline(&self) -> f64 {
        self.panel_rect(self.dim - 1, 0).3 + self.pad + CAP * self.tick_em
    }

    /// Baseline of the x axis names.
    pub(super) fn xname_baseline(&self, col: usize) -> f64 {
        self.xtick_baseline() + 0.55 * self.tick_em + CAP * self.name_em[col]
    }

    /// Horizontal position of the (rotated) y axis names' baseline.
    pub(super) fn yname_baseline(&self, row: usize) -> f64 {
        0.3 * self.tick_em + CAP * self.name_em[row]
    }

    /// Every tick label and axis name, with the box it occupies.
    pub fn text_boxes(&self) -> Vec<TextBox> {
        let mut out = Vec::new();
        let d = self.dim;
        let base = self.xtick_baseline();
        for col in 0..d {
            for t in &self.ticks[col] {
                let (x, w) = (self.x_px(col, t.value), text_width(&t.label, self.tick_em));
                out.push(TextBox { text: t.label.clone(), x0: x - 0.5 * w, y0: base - CAP * self.tick_em, x1: x + 0.5 * w, y1: base });
            }
            let (x0, _, x1, _) = self.panel_rect(d - 1, col);
            let (em, b) = (self.name_em[col], self.xname_baseline(col));
            let (xc, w) = (0.5 * (x0 + x1), text_width(&self.names[col], em));
            out.push(TextBox { text: self.names[col].clone(), x0: xc - 0.5 * w, y0: b - CAP * em, x1: xc + 0.5 * w, y1: b + DESCENT * em });
        }
        for row in 1..d {
            let x1 = self.left - self.pad;
            for t in &self.ticks[row] {
                let (y, w) = (self.y_px(row, t.value), text_width(&t.label, self.tick_em));
                out.push(TextBox { text: t.label.clone(), x0: x1 - w, y0: y - 0.5 * CAP * self.tick_em, x1, y1: y + 0.5 * CAP * self.tick_em });
            }
        }
        for row in 1..d {
            let (_, y0, _, y1) = self.panel_rect(row, 0);
            let (em, b) = (self.name_em[row], self.yname_baseline(row));
            let (yc, w) = (0.5 * (y0 + y1), text_width(&self.names[row], em));
            out.push(TextBox { text: self.names[row].clone(), x0: b - CAP * em, y0: yc - 0.5 * w, x1: b + DESCENT * em, y1: yc + 0.5 * w });
        }
        out
    }
}

/// Labels of ticks at multiples of `step`: as few decimals as the step
/// needs, a true minus sign, no "-0".
fn tick_labels(values: &[f64], step: f64) -> Vec<String> {
    let big = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if big >= 1e5 || step < 1e-4 {
        let digits = ((big.log10().floor() - step.log10().floor()).max(0.0) as usize).min(6);
        return values.iter().map(|&v| if v == 0.0 { "0".to_string() } else { format!("{v:.digits$e}").replace('-', "\u{2212}") }).collect();
    }
    let decimals = (0..=8usize).find(|&d| {
        let s = step * 10f64.powi(d as i32);
        (s - s.round()).abs() < 1e-6 * s.max(1.0)
    });
    let d = decimals.unwrap_or(8);
    values.iter().map(|&v| fixed(v, d)).collect()
}

/// `v` with `d` decimals, a true minus sign, and no "-0".
pub(super) fn fixed(v: f64, d: usize) -> String {
    let s = format!("{v:.d$}");
    if s.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
        s.trim_start_matches('-').to_string()
    } else {
        s.replace('-', "\u{2212}")
    }
}

/// Ticks for an axis spanning `range` over `len` pixels: the finest "nice"
/// step (1, 2, 2.5, 5 × 10^k) whose labels, centred on their ticks, stay
/// within the panel (plus half the gap to the next one: end ticks whose
/// labels would reach a neighbour's are dropped) and are at least 0.8 em
/// apart, with two to five ticks; when no step gives two, the single tick of
/// the coarsest step that has one.
pub(super) fn choose_ticks(range: (f64, f64), len: f64, gap: f64, em: f64) -> Vec<Tick> {
    let (lo, hi) = range;
    let span = hi - lo;
    if !(span > 0.0 && span.is_finite()) {
        return Vec::new();
    }
    let px = |v: f64| (v - lo) / span * len;
    let e = span.log10().floor() as i32;
    let mut single: Option<Vec<Tick>> = None;
    for k in (e - 3)..=(e + 1) {
        for m in [1.0, 2.0, 2.5, 5.0] {
            let step = m * 10f64.powi(k);
            let (k0, k1) = ((lo / step - 1e-9).ceil(), (hi / step + 1e-9).floor());
            if k1 - k0 > 12.0 || k1 < k0 {
                continue;
            }
            let values: Vec<f64> = (k0 as i64..=k1 as i64).map(|i| i as f64 * step).collect();
            let labels = tick_labels(&values, step);
            let kept: Vec<(f64, f64, String)> = values
                .iter()
                .zip(labels)
                .filter_map(|(&v, l)| {
                    let (x, w) = (px(v), text_width(&l, em));
                    let half = 0.5 * w.max(CAP * em);
                    (x - half >= -0.5 * gap && x + half <= len + 0.5 * gap).then_some((v, w, l))
                })
                .collect();
            let spaced = kept.windows(2).all(|p| px(p[1].0) - px(p[0].0) >= 0.5 * (p[0].1 + p[1].1) + 0.8 * em);
            let ticks: Vec<Tick> = kept.into_iter().map(|(value, _, label)| Tick { value, label }).collect();
            if !spaced || ticks.len() > 5 {
                continue;
            }
            if ticks.len() >= 2 {
                return ticks;
            }
            if ticks.len() == 1 {
                // The coarsest step: the shortest label.
                single = Some(ticks);
            }
        }
    }
    single.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_use_the_decimals_the_step_needs() {
        assert_eq!(tick_labels(&[-0.5, 0.0, 0.5], 0.5), ["\u{2212}0.5", "0.0", "0.5"]);
        assert_eq!(tick_labels(&[0.25, 0.5], 0.25), ["0.25", "0.50"]);
        assert_eq!(tick_labels(&[100.0, 200.0], 100.0), ["100", "200"]);
        assert_eq!(tick_labels(&[-0.0], 0.1), ["0.0"]);
    }
}

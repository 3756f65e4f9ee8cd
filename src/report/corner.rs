//! Corner plots: 1-D marginals on the diagonal, 2-D highest-density contours
//! below it, several chains overlaid, sized to be read in print.
//!
//! Densities are smoothed histograms, boundary-corrected at the parameters'
//! bounds ([`super::density`]); the layout ([`CornerLayout`]) scales fonts
//! and lines to the panels and prunes end ticks so that labels never meet;
//! [`super::draw`] renders it. PNGs are drawn at three times their size and
//! averaged down, so lines and text are anti-aliased; output is
//! deterministic (same input, same bytes).

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use super::density::Edges;
use super::draw::{render, Figure};
use super::inputs::{human_bytes, CornerOptions, RangeMode, Samples};
use super::layout::{CornerLayout, PanelRange};
use crate::{Error, Result};

/// A PNG is drawn at this multiple of its size, then averaged down.
const SUPERSAMPLE: u32 = 3;

/// Refuses a figure whose pixel buffers would not fit in half the available
/// memory (2 GB assumed where that is unknown).
fn check_image_memory(dim: usize, panel: u32) -> Result<()> {
    let side = (dim as f64 + 1.2) * f64::from(panel);
    let need = side * side * 3.0 * f64::from(SUPERSAMPLE * SUPERSAMPLE + 1);
    let have = seqcal_api::available_bytes().map_or(4e9, |b| b as f64) / 2.0;
    if need > have || side > 60_000.0 {
        return Err(Error::Memory(format!(
            "a corner plot of {dim} parameters at {panel} pixels per panel is about {side:.0} pixels wide and needs {} of memory ({} available): plot fewer parameters with --params or pass a smaller --panel",
            human_bytes(need),
            human_bytes(have)
        )));
    }
    Ok(())
}

static FONT_OK: OnceLock<bool> = OnceLock::new();

/// Registers a TrueType font for the labels, found among the system's fonts
/// (DejaVu, Liberation, Noto; `SEQCAL_FONT` names a file explicitly).
fn ensure_font() -> Result<()> {
    let ok = *FONT_OK.get_or_init(|| {
        let mut candidates: Vec<std::path::PathBuf> = std::env::var_os("SEQCAL_FONT").map(Into::into).into_iter().collect();
        for dir in [
            "/usr/share/fonts/truetype/dejavu",
            "/usr/share/fonts/dejavu",
            "/usr/share/fonts/TTF",
            "/usr/share/fonts/truetype/liberation",
            "/usr/share/fonts/truetype/noto",
            "/Library/Fonts",
            "/System/Library/Fonts/Supplemental",
        ] {
            for name in ["DejaVuSans.ttf", "LiberationSans-Regular.ttf", "NotoSans-Regular.ttf", "Arial.ttf"] {
                candidates.push(Path::new(dir).join(name));
            }
        }
        candidates.into_iter().any(|c| match std::fs::read(&c) {
            Ok(bytes) => {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            }
            Err(_) => false,
        })
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(
            "no TrueType font found for plot labels: install fonts-dejavu-core (Debian/Ubuntu) or set SEQCAL_FONT=/path/to/font.ttf".into(),
        ))
    }
}

/// Padding beyond a drawn bound, as a fraction of the range.
const BOUND_PAD: f64 = 0.03;

/// Axis and density ranges of each parameter: the draws' span or the
/// bounds, by `mode` (see [`RangeMode`]). An end at a finite bound is
/// flagged (the smoothing is boundary-corrected there) and the axis runs
/// 3% beyond it, so the bound shows.
pub fn panel_ranges(sets: &[Samples], bounds: &[(f64, f64)], mode: RangeMode) -> Vec<PanelRange> {
    let dim = bounds.len();
    (0..dim)
        .map(|j| {
            let mut all: Vec<f64> = sets.iter().flat_map(|s| s.column(j, dim)).filter(|v| v.is_finite()).collect();
            all.sort_by(f64::total_cmp);
            let data = if all.is_empty() {
                (0.0, 1.0)
            } else {
                let q = |p: f64| all[((all.len() - 1) as f64 * p).round() as usize];
                let (lo, hi) = (q(0.001), q(0.999));
                let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 * lo.abs().max(1.0) };
                (lo - pad, hi + pad)
            };
            let (b0, b1) = bounds[j];
            let (lower, upper) = match mode {
                RangeMode::Data => (b0.is_finite() && data.0 <= b0, b1.is_finite() && data.1 >= b1),
                RangeMode::Prior => (b0.is_finite(), b1.is_finite()),
            };
            let density = (if lower { b0 } else { data.0 }, if upper { b1 } else { data.1 });
            if density.1.partial_cmp(&density.0) != Some(std::cmp::Ordering::Greater) {
                // Draws entirely outside the bounds: show the draws.
                return PanelRange { axis: data, density: data, bounded: Edges::default() };
            }
            let pad = BOUND_PAD * (density.1 - density.0);
            let axis = (density.0 - if lower { pad } else { 0.0 }, density.1 + if upper { pad } else { 0.0 });
            PanelRange { axis, density, bounded: Edges { lower, upper } }
        })
        .collect()
}

/// True values from a CSV file: a header naming parameters, one row of
/// values. Every column must name one of `known` (the chain's parameters);
/// the result has one entry per name of `plotted`, `None` where the file
/// gives none.
///
/// # Errors
/// An unreadable or malformed file, not exactly one row, a column naming no
/// known parameter, a parameter named twice.
pub fn read_truths(path: &Path, known: &[String], plotted: &[String]) -> Result<Vec<Option<f64>>> {
    let t = crate::table::read_table(path)?;
    if t.data.nrows() != 1 {
        return Err(Error::Csv {
            path: path.into(),
            line: 2,
            message: format!("{} rows of values: a truths file has a header naming parameters and one row of values", t.data.nrows()),
        });
    }
    for (k, name) in t.header.iter().enumerate() {
        if !known.contains(name) {
            return Err(Error::Csv {
                path: path.into(),
                line: 1,
                message: format!("column {name:?} names no parameter of the chain (its parameters: {})", known.join(", ")),
            });
        }
        if t.header[..k].contains(name) {
            return Err(Error::Csv { path: path.into(), line: 1, message: format!("parameter {name:?} is named twice") });
        }
    }
    Ok(plotted.iter().map(|p| t.header.iter().position(|h| h == p).map(|k| t.data[[0, k]])).collect())
}

/// The layout [`corner_plot`] would draw for these inputs: image size,
/// panels, axis ranges, ticks, fonts.
///
/// # Errors
/// As [`corner_plot`], except for writing.
pub fn corner_layout(sets: &[Samples], names: &[String], bounds: &[(f64, f64)], opts: &CornerOptions) -> Result<CornerLayout> {
    opts.validate()?;
    let dim = names.len();
    if sets.is_empty() || dim == 0 {
        return Err(Error::Usage("nothing to plot".into()));
    }
    if bounds.len() != dim {
        return Err(Error::Usage(format!("{} bounds for {dim} parameters", bounds.len())));
    }
    if !opts.truths.is_empty() && opts.truths.len() != dim {
        return Err(Error::Usage(format!("{} true values for {dim} parameters", opts.truths.len())));
    }
    if let Some(s) = sets.iter().find(|s| s.draws.len() % dim != 0 || s.n(dim) < 2 || s.weights.as_ref().is_some_and(|w| w.len() != s.n(dim))) {
        return Err(Error::Usage(format!("sample set {:?} does not hold at least two draws of {dim} parameters (and one weight per draw)", s.label)));
    }
    check_image_memory(dim, opts.panel)?;
    ensure_font()?;
    let ranges = panel_ranges(sets, bounds, opts.range);
    Ok(CornerLayout::new(names, &ranges, opts.panel, opts.titles))
}

/// Draws a corner plot of `sets` over parameters `names` to `path`
/// (`.svg` as SVG, anything else as PNG).
///
/// # Errors
/// Invalid options, no sets, sets of different dimension, an image too large
/// for memory, no font, or a failed write.
pub fn corner_plot(sets: &[Samples], names: &[String], bounds: &[(f64, f64)], path: &Path, opts: &CornerOptions) -> Result<()> {
    let layout = corner_layout(sets, names, bounds, opts)?;
    let fig = Figure { sets, layout: &layout, opts };
    let svg = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    let (w, h) = (layout.width, layout.height);
    let failed = |message: String| Error::Plot { path: path.to_path_buf(), what: "corner plot".into(), message };
    crate::chain::write_atomically(path, |tmp| {
        if svg {
            let root = SVGBackend::new(tmp, (w, h)).into_drawing_area();
            render(&root, 1.0, true, &fig).map_err(failed)?;
            root.present().map_err(|e| failed(e.to_string()))
        } else {
            let s = SUPERSAMPLE;
            let mut big = vec![255u8; (w * s) as usize * (h * s) as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut big, (w * s, h * s)).into_drawing_area();
                render(&root, f64::from(s), false, &fig).map_err(failed)?;
                root.present().map_err(|e| failed(e.to_string()))?;
            }
            let small = downsample(&big, w as usize, h as usize, s as usize);
            write_png(tmp, w, h, &small).map_err(|e| failed(e.to_string()))
        }
    })
}

/// Writes an RGB image as PNG, compressed as far as the encoder goes (the
/// figures are mostly white: about a third smaller than the fast default).
fn write_png(path: &Path, w: u32, h: u32, rgb: &[u8]) -> std::result::Result<(), png::EncodingError> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut enc = png::Encoder::new(file, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Best);
    enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    let mut writer = enc.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()
}

/// Averages `s × s` blocks of an RGB image `s` times the size `w × h`.
fn downsample(big: &[u8], w: usize, h: usize, s: usize) -> Vec<u8> {
    let mut out = vec![0u8; w * h * 3];
    let bw = w * s;
    let n = (s * s) as u32;
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let mut sum = 0u32;
                for dy in 0..s {
                    let row = (y * s + dy) * bw;
                    for dx in 0..s {
                        sum += u32::from(big[(row + x * s + dx) * 3 + c]);
                    }
                }
                out[(y * w + x) * 3 + c] = ((sum + n / 2) / n) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_too_large_for_memory_are_refused_with_the_size() {
        let e = check_image_memory(10_000, 220).unwrap_err().to_string();
        assert!(e.contains("10000 parameters at 220 pixels per panel") && e.contains("--params"), "{e}");
        assert!(check_image_memory(7, 220).is_ok());
    }

    #[test]
    fn downsampling_averages_blocks() {
        let big = [0u8, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255];
        assert_eq!(downsample(&big, 1, 1, 2), [191, 191, 191]);
    }
}

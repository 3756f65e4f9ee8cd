//! Reports: corner plots and comparisons of posterior samples, and what a
//! pipeline's stages did ([`StageRecord`], [`summary_md`]).
//!
//! [`corner_plot`] draws the figure this field reads and publishes: the
//! 1-D marginals of every parameter on the diagonal and 2-D contours
//! enclosing 39.3%, 86.5% and 98.9% of the mass (the 1σ/2σ/3σ levels of a 2-D
//! Gaussian, drawn solid, dashed and dotted) below it, several chains
//! overlaid in distinct colours, the prior bounds and true values marked.

mod compare;
mod compare_text;
mod contour;
mod corner;
mod density;
mod draw;
mod evidence;
mod flow_checks_md;
mod inputs;
mod layout;
mod stage;
mod summary;
mod verdict;

pub use compare::{
    effective_sizes, Comparison, Metric, PaperComparison, ParamDiff, SeqcalKl, Side, KL2_SAME, KL_SAME, MCSE_SAME, MEAN_RESOLVED, MEAN_SAME,
};

pub use contour::{contour_lines, contour_segments, hdr_thresholds, Grid};
pub use corner::{corner_layout, corner_plot, panel_ranges, read_truths};
pub use density::{density_curve, histogram_1d, histogram_2d, DensityAxis, Edges};
pub use draw::{level_name, level_style};
pub use evidence::{Evidence, SequentialCheck, StageEvidence, Tension};
pub use inputs::{median_interval, CornerOptions, RangeMode, Samples, MAX_BINS};
pub use layout::{CornerLayout, PanelRange, TextBox, Tick, COLUMN_PT};
pub use stage::StageRecord;
pub use summary::summary_md;

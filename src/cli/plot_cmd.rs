//! `seqcal plot corner`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::burn::{print_notes, DiscardArg};
use super::output::Io;
use crate::chain;
use crate::report::{corner_plot, read_truths, CornerOptions, RangeMode, Samples};
use crate::{Error, Result};

/// `seqcal plot ...`
#[derive(Debug, Subcommand)]
pub enum PlotCommand {
    /// Corner plot: 1-D marginals on the diagonal, 39.3/86.5/98.9% contours below, chains overlaid.
    #[command(
        after_help = "Examples:\n  seqcal plot corner run.h5 -o corner.png\n  seqcal plot corner seq.h5 joint.h5 --labels sequential,joint --discard 1000 -o compare.svg\n  seqcal plot corner stage.h5 --truths truth.csv --range prior --titles -o corner.png"
    )]
    Corner(CornerArgs),
}

/// Arguments of `seqcal plot corner`.
#[derive(Debug, Args)]
pub struct CornerArgs {
    /// Chain files (HDF5 or CSV), all over the same parameters.
    #[arg(required = true)]
    pub chains: Vec<PathBuf>,
    /// Output figure (.png or .svg).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Overwrite the figure if it exists.
    #[arg(long)]
    pub force: bool,
    /// Legend labels, comma-separated (default: the file names).
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<String>,
    /// Only these parameters, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub params: Vec<String>,
    /// Burn-in to drop.
    #[command(flatten)]
    pub discard: DiscardArg,
    /// Keep every K-th iteration.
    #[arg(long, default_value_t = 1)]
    pub thin: usize,
    /// Histogram bins per axis (5 to 1000).
    #[arg(long, default_value_t = 40)]
    pub bins: usize,
    /// Gaussian smoothing of the histograms, in bins (0 to a quarter of --bins); corrected at
    /// the parameters' bounds so that the density there is not pulled to zero.
    #[arg(long, default_value_t = 1.0)]
    pub smooth: f64,
    /// True values to mark: a CSV file with a header naming parameters and one row of values.
    #[arg(long, value_name = "FILE")]
    pub truths: Option<PathBuf>,
    /// Axis ranges: the draws' 0.1-99.9% span (data) or the chain's stored bounds, the prior
    /// box (prior). Bounds within the axes are drawn, the region beyond them shaded.
    #[arg(long, value_enum, default_value_t = PlotRange::Data)]
    pub range: PlotRange,
    /// Median and central 68% interval of the first chain above each diagonal panel.
    #[arg(long)]
    pub titles: bool,
    /// Pixels per panel side (40 to 2000); fonts and lines scale with it.
    #[arg(long, default_value_t = 220)]
    pub panel: u32,
}

/// What the axes of `seqcal plot corner` span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlotRange {
    /// The draws' 0.1%-99.9% span, padded by 5%, cut at the bounds.
    Data,
    /// The chain's stored bounds (the prior box).
    Prior,
}

pub(super) fn corner(a: &CornerArgs) -> Result<()> {
    if !a.labels.is_empty() && a.labels.len() != a.chains.len() {
        return Err(Error::Usage(format!("{} labels for {} chains", a.labels.len(), a.chains.len())));
    }
    let range = match a.range {
        PlotRange::Data => RangeMode::Data,
        PlotRange::Prior => RangeMode::Prior,
    };
    let mut opts = CornerOptions { bins: a.bins, smooth: a.smooth, panel: a.panel, range, titles: a.titles, ..Default::default() };
    // Settings first: a bad size is refused before any chain is read.
    opts.validate()?;
    Io::new().inputs(&a.chains).inputs(&a.truths).output(&a.output).check(a.force)?;
    let mut sets = Vec::new();
    let mut notes = Vec::new();
    let mut names: Option<Vec<String>> = None;
    let mut all_names = Vec::new();
    let mut bounds = Vec::new();
    for (k, path) in a.chains.iter().enumerate() {
        let c = chain::read_any(path)?;
        let (n, note) = a.discard.resolve(path, &c.attrs, c.iterations())?;
        notes.push(note);
        let c = c.discard(n).thin(a.thin);
        let wanted = if a.params.is_empty() { c.names.clone() } else { a.params.clone() };
        let idx: Vec<usize> = wanted
            .iter()
            .map(|n| {
                c.names
                    .iter()
                    .position(|m| m == n)
                    .ok_or_else(|| Error::chain(path, format!("has no parameter {n:?} (it has: {})", c.names.join(", "))))
            })
            .collect::<Result<_>>()?;
        match &names {
            None => {
                bounds = idx.iter().map(|&j| c.bounds[j]).collect();
                names = Some(wanted.clone());
                all_names = c.names.clone();
            }
            Some(n) if *n != wanted => {
                return Err(Error::chain(
                    path,
                    format!("holds parameters [{}], the first chain [{}]: pass --params to plot the common ones", wanted.join(", "), n.join(", ")),
                ));
            }
            Some(_) => {
                for (b, &j) in bounds.iter_mut().zip(&idx) {
                    *b = (b.0.min(c.bounds[j].0), b.1.max(c.bounds[j].1));
                }
            }
        }
        let flat = c.flat();
        if flat.nrows() < 2 {
            return Err(Error::chain(path, "fewer than two draws left after --discard/--thin"));
        }
        let draws: Vec<f64> = flat.rows().into_iter().flat_map(|r| idx.iter().map(move |&j| r[j])).collect();
        let weights = c.weights.as_ref().map(|w| w.iter().copied().collect());
        let label = a.labels.get(k).cloned().unwrap_or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
        sets.push(Samples { label, draws, weights });
    }
    let names = names.unwrap_or_default();
    if let Some(t) = &a.truths {
        opts.truths = read_truths(t, &all_names, &names)?;
    }
    corner_plot(&sets, &names, &bounds, &a.output, &opts)?;
    print_notes(&notes);
    eprintln!("wrote {}", a.output.display());
    Ok(())
}

//! `seqcal plot corner`.

use super::args::{CornerArgs, PlotRange};
use crate::chain;
use crate::report::{corner_plot, read_truths, CornerOptions, RangeMode, Samples};
use crate::{Error, Result};

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
    let mut sets = Vec::new();
    let mut names: Option<Vec<String>> = None;
    let mut all_names = Vec::new();
    let mut bounds = Vec::new();
    for (k, path) in a.chains.iter().enumerate() {
        let c = chain::read_any(path)?.discard(a.discard).thin(a.thin);
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
    eprintln!("wrote {}", a.output.display());
    Ok(())
}

//! `seqcal compare A B`: how far one posterior sample is from another.

use std::path::PathBuf;

use clap::Args;
use ndarray::Array2;

use super::box_arg::BoxArgs;
use super::burn::{print_notes, DiscardArg};
use crate::chain;
use crate::diagnostics::WeightedDraws;
use crate::prior::PriorRegistry;
use crate::report::{Comparison, Metric, Side};
use crate::{Error, Result};

/// Arguments of `seqcal compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The chain under test (e.g. a sequential calibration).
    pub a: PathBuf,
    /// The reference chain (e.g. the joint calibration).
    pub b: PathBuf,
    /// Burn-in to drop.
    #[command(flatten)]
    pub discard: DiscardArg,
    /// Keep every K-th iteration.
    #[arg(long, default_value_t = 1)]
    pub thin: usize,
    /// Metrics to show: paper (Roch & Shen's <D_KL>: 75 bins over the prior box, KL(B||A)),
    /// seqcal (50 bins, 20 x 20 per pair, both directions) or both; each beside its two-sample floor.
    #[arg(long, default_value = "both", value_parser = parse_metric)]
    pub metric: Metric,
    /// The prior box of the paper's metric, where the chains carry no bounds (else the range of both samples).
    #[command(flatten)]
    pub bx: BoxArgs,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn parse_metric(s: &str) -> std::result::Result<Metric, String> {
    s.parse()
}

/// A chain's draws after `--discard`/`--thin`, with its weights, walkers and bounds.
struct Loaded {
    names: Vec<String>,
    bounds: Vec<(f64, f64)>,
    x: Array2<f64>,
    w: Option<Vec<f64>>,
    walkers: usize,
    note: Option<String>,
}

fn load(path: &std::path::Path, discard: DiscardArg, thin: usize) -> Result<Loaded> {
    let c = chain::read_any(path)?;
    let (n, note) = discard.resolve(path, &c.attrs, c.iterations())?;
    let c = c.discard(n).thin(thin);
    let x = c.flat();
    if x.nrows() < 10 {
        return Err(Error::chain(path, format!("only {} draws left after --discard/--thin: too few to compare", x.nrows())));
    }
    let w: Option<Vec<f64>> = c.weights.as_ref().map(|w| w.iter().copied().collect());
    WeightedDraws::with_weights(x.view(), w.as_deref()).check().map_err(|e| Error::chain(path, format!("its weights: {e}")))?;
    Ok(Loaded { walkers: c.walkers(), names: c.names, bounds: c.bounds, x, w, note })
}

pub(super) fn compare(a: &CompareArgs, registry: &PriorRegistry) -> Result<()> {
    let la = load(&a.a, a.discard, a.thin)?;
    let lb = load(&a.b, a.discard, a.thin)?;
    if la.names != lb.names {
        return Err(Error::chain(&a.a, format!("holds parameters [{}] but {} holds [{}]", la.names.join(", "), a.b.display(), lb.names.join(", "))));
    }
    // The reference's bounds where finite, else A's; then the box given on the command line.
    let base: Vec<(f64, f64)> =
        lb.bounds.iter().zip(&la.bounds).map(|(&b, &o)| (if b.0.is_finite() { b.0 } else { o.0 }, if b.1.is_finite() { b.1 } else { o.1 })).collect();
    let bounds = a.bx.resolve(&lb.names, &base, registry)?;
    let (label_a, label_b) = (a.a.display().to_string(), a.b.display().to_string());
    let sa = Side { label: &label_a, draws: WeightedDraws::with_weights(la.x.view(), la.w.as_deref()), walkers: la.walkers };
    let sb = Side { label: &label_b, draws: WeightedDraws::with_weights(lb.x.view(), lb.w.as_deref()), walkers: lb.walkers };
    let out = Comparison::compute(sa, sb, &la.names, &bounds, a.metric);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", out.render());
    }
    print_notes([&la.note, &lb.note]);
    Ok(())
}

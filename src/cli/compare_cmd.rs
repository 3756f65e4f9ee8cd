//! `seqcal compare A B`: how far one posterior sample is from another.

use std::path::PathBuf;

use clap::Args;
use ndarray::Array2;

use super::burn::{print_notes, DiscardArg};
use crate::chain;
use crate::report::Comparison;
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
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn load(path: &std::path::Path, discard: DiscardArg, thin: usize) -> Result<(Vec<String>, Array2<f64>, Option<String>)> {
    let c = chain::read_any(path)?;
    let (n, note) = discard.resolve(path, &c.attrs, c.iterations())?;
    let c = c.discard(n).thin(thin);
    let flat = c.flat();
    if flat.nrows() < 10 {
        return Err(Error::chain(path, format!("only {} draws left after --discard/--thin: too few to compare", flat.nrows())));
    }
    Ok((c.names, flat, note))
}

pub(super) fn compare(a: &CompareArgs) -> Result<()> {
    let (names_a, xa, note_a) = load(&a.a, a.discard, a.thin)?;
    let (names_b, xb, note_b) = load(&a.b, a.discard, a.thin)?;
    if names_a != names_b {
        return Err(Error::chain(&a.a, format!("holds parameters [{}] but {} holds [{}]", names_a.join(", "), a.b.display(), names_b.join(", "))));
    }
    let out = Comparison::compute(&a.a.display().to_string(), xa.view(), &a.b.display().to_string(), xb.view(), &names_a);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", out.render());
    }
    print_notes([&note_a, &note_b]);
    Ok(())
}

//! `seqcal compare A B`: how far one posterior sample is from another.

use ndarray::Array2;

use super::args::CompareArgs;
use crate::chain;
use crate::report::Comparison;
use crate::{Error, Result};

fn load(path: &std::path::Path, discard: usize, thin: usize) -> Result<(Vec<String>, Array2<f64>)> {
    let c = chain::read_any(path)?.discard(discard).thin(thin);
    let flat = c.flat();
    if flat.nrows() < 10 {
        return Err(Error::chain(path, format!("only {} draws left after --discard/--thin: too few to compare", flat.nrows())));
    }
    Ok((c.names, flat))
}

pub(super) fn compare(a: &CompareArgs) -> Result<()> {
    let (names_a, xa) = load(&a.a, a.discard, a.thin)?;
    let (names_b, xb) = load(&a.b, a.discard, a.thin)?;
    if names_a != names_b {
        return Err(Error::chain(&a.a, format!("holds parameters [{}] but {} holds [{}]", names_a.join(", "), a.b.display(), names_b.join(", "))));
    }
    let out = Comparison::compute(&a.a.display().to_string(), xa.view(), &a.b.display().to_string(), xb.view(), &names_a);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", out.render());
    }
    Ok(())
}

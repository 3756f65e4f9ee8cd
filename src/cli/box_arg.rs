//! `--bounds NAME=LO:HI,...` and `--bounds-from PRIOR.toml`: the prior box of
//! a chain that does not carry it (every emcee-written chain), for
//! `seqcal prior train` and `seqcal compare`.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::prior::{load_prior_file, PriorRegistry};
use crate::{Error, Result};

/// The prior box, where the chain does not carry it.
#[derive(Debug, Args, Clone, Default)]
pub struct BoxArgs {
    /// Prior box of parameters the chain holds without bounds: NAME=LO:HI, comma-separated
    /// (e.g. x0=0:1,x1=-5:5); a side may be inf or -inf. Overrides the chain's and --bounds-from's.
    #[arg(long, value_delimiter = ',', value_parser = parse_bound, value_name = "NAME=LO:HI")]
    pub bounds: Vec<(String, f64, f64)>,
    /// A prior file (TOML, as `seqcal prior sample --config` reads) whose bounds give the box of
    /// the parameters it names.
    #[arg(long, value_name = "PRIOR.toml")]
    pub bounds_from: Option<PathBuf>,
}

fn parse_bound(s: &str) -> std::result::Result<(String, f64, f64), String> {
    let bad = || format!("'{s}': expected NAME=LO:HI, e.g. x0=0:1 or x1=-5:5");
    let (name, range) = s.split_once('=').ok_or_else(bad)?;
    let (lo, hi) = range.split_once(':').ok_or_else(bad)?;
    let num = |t: &str| t.trim().parse::<f64>().map_err(|_| format!("'{s}': '{t}' is not a number"));
    let (lo, hi) = (num(lo)?, num(hi)?);
    if lo.is_nan() || hi.is_nan() || lo >= hi {
        return Err(format!("'{s}': the lower bound must be below the upper"));
    }
    let name = name.trim();
    if name.is_empty() {
        return Err(bad());
    }
    Ok((name.to_string(), lo, hi))
}

impl BoxArgs {
    /// Whether a box was given.
    pub fn given(&self) -> bool {
        !self.bounds.is_empty() || self.bounds_from.is_some()
    }

    /// The input files these arguments read.
    pub fn inputs(&self) -> Option<&Path> {
        self.bounds_from.as_deref()
    }

    /// The box over `names`: `base` (the chain's bounds), then the prior file's
    /// bounds of the parameters it names, then `--bounds`.
    ///
    /// # Errors
    /// A name in `--bounds` or in the prior file that is not among `names`, or
    /// a prior file that cannot be read.
    pub fn resolve(&self, names: &[String], base: &[(f64, f64)], registry: &PriorRegistry) -> Result<Vec<(f64, f64)>> {
        let mut out = base.to_vec();
        let index = |n: &str, whence: &str| {
            names
                .iter()
                .position(|m| m == n)
                .ok_or_else(|| Error::Usage(format!("{whence} names \"{n}\", which is not among the chain's parameters [{}]", names.join(", "))))
        };
        if let Some(p) = &self.bounds_from {
            let prior = load_prior_file(p, registry)?;
            for (n, b) in prior.names().iter().zip(prior.bounds()) {
                out[index(n, &p.display().to_string())?] = *b;
            }
        }
        for (n, lo, hi) in &self.bounds {
            out[index(n, "--bounds")?] = (*lo, *hi);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_parse_and_override() {
        assert_eq!(parse_bound("x1=-5:5").unwrap(), ("x1".into(), -5.0, 5.0));
        assert_eq!(parse_bound("a=0:inf").unwrap(), ("a".into(), 0.0, f64::INFINITY));
        assert!(parse_bound("a=1:0").is_err() && parse_bound("a:0:1").is_err() && parse_bound("a=0:z").is_err());
        let names = vec!["a".to_string(), "b".to_string()];
        let base = vec![(f64::NEG_INFINITY, f64::INFINITY); 2];
        let args = BoxArgs { bounds: vec![("b".into(), 0.0, 2.0)], bounds_from: None };
        let r = args.resolve(&names, &base, &PriorRegistry::builtin()).unwrap();
        assert_eq!(r, vec![(f64::NEG_INFINITY, f64::INFINITY), (0.0, 2.0)]);
        let wrong = BoxArgs { bounds: vec![("c".into(), 0.0, 2.0)], bounds_from: None };
        let e = wrong.resolve(&names, &base, &PriorRegistry::builtin()).unwrap_err().to_string();
        assert!(e.contains("--bounds names \"c\"") && e.contains("[a, b]"), "{e}");
    }
}

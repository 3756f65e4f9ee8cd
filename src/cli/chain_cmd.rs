//! `seqcal chain info` and `seqcal chain convert`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde::Serialize;

use super::burn::{print_notes, DiscardArg};
use super::output::Io;
use crate::chain::{self, ChainReader, Columns, Summary};
use crate::{Error, Result};

/// `seqcal chain ...`
#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Shape, names, acceptance and per-parameter mean, sd and 5/50/95% quantiles.
    ///
    /// Streams the file block by block, so chains larger than memory work.
    #[command(after_help = "Example:\n  seqcal chain info run.h5 --discard 1000 --thin 5")]
    Info(InfoArgs),
    /// Convert between HDF5 and CSV (format from the extension: .csv or anything else = HDF5).
    #[command(after_help = "Examples:\n  seqcal chain convert run.h5 run.csv\n  seqcal chain convert published.csv published.h5")]
    Convert(ConvertArgs),
}

/// Arguments of `seqcal chain info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Chain file (HDF5 written by seqcal or emcee, or CSV).
    pub file: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Burn-in to drop from the statistics.
    #[command(flatten)]
    pub discard: DiscardArg,
    /// Keep every K-th iteration for the statistics.
    #[arg(long, default_value_t = 1, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    pub thin: u64,
}

/// Arguments of `seqcal chain convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Input chain (.h5 or .csv).
    pub input: PathBuf,
    /// Output chain (.h5 or .csv); written to a temporary file first, then renamed.
    pub output: PathBuf,
    /// Overwrite the output if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Iterations per block when streaming a file.
const BLOCK_ROWS: usize = 4096;

#[derive(Serialize)]
struct Acceptance {
    mean: f64,
    min: f64,
    max: f64,
}

#[derive(Serialize)]
struct Info<'a> {
    file: String,
    writer: Option<&'a str>,
    iterations: usize,
    walkers: usize,
    dim: usize,
    names: &'a [String],
    bounds: Vec<[Option<f64>; 2]>,
    complete: Option<bool>,
    acceptance: Acceptance,
    has_log_prob: bool,
    has_log_prior: bool,
    has_log_likelihood: bool,
    weighted: bool,
    discard: usize,
    thin: usize,
    attrs: &'a BTreeMap<String, String>,
    summary: Summary,
}

pub(super) fn info(a: &InfoArgs) -> Result<()> {
    let thin = a.thin as usize;
    if chain::is_csv(&a.file) {
        // CSV has no block reader: load it, store it as HDF5 in memory's
        // stead (a temporary file), and summarize that.
        let c = chain::read_csv(&a.file)?;
        let dir = tempfile::tempdir().map_err(|e| Error::io(&a.file, e))?;
        let tmp = dir.path().join("chain.h5");
        chain::write_hdf5(&c, &tmp)?;
        let reader = ChainReader::open(&tmp)?;
        let (discard, note) = a.discard.resolve(&a.file, &c.attrs, c.iterations())?;
        print_info(&reader, &a.file, a.json, discard, thin, true)?;
        print_notes([&note]);
        return Ok(());
    }
    let reader = ChainReader::open(&a.file)?;
    let h = reader.header();
    let (discard, note) = a.discard.resolve(&a.file, &h.attrs, h.iterations)?;
    print_info(&reader, &a.file, a.json, discard, thin, false)?;
    print_notes([&note]);
    Ok(())
}

fn print_info(reader: &ChainReader, shown: &Path, json: bool, discard: usize, thin: usize, from_csv: bool) -> Result<()> {
    let mut h = reader.header().clone();
    if from_csv {
        // The temporary HDF5 copy's own writer and status say nothing about the CSV.
        h.writer = Some("CSV table".into());
        h.complete = None;
    }
    let h = &h;
    let summary = Summary::from_reader(reader, discard, thin, BLOCK_ROWS)?;
    let acc = h.accepted.mapv(|x| x / h.iterations.max(1) as f64);
    let acceptance = Acceptance {
        mean: acc.mean().unwrap_or(f64::NAN),
        min: acc.iter().copied().fold(f64::INFINITY, f64::min),
        max: acc.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    };
    let Columns { log_prob, log_prior, log_likelihood, weights } = h.columns;
    if json {
        let finite = |v: f64| v.is_finite().then_some(v);
        let info = Info {
            file: shown.display().to_string(),
            writer: h.writer.as_deref(),
            iterations: h.iterations,
            walkers: h.walkers,
            dim: h.dim(),
            names: &h.names,
            bounds: h.bounds.iter().map(|(l, u)| [finite(*l), finite(*u)]).collect(),
            complete: h.complete,
            acceptance,
            has_log_prob: log_prob,
            has_log_prior: log_prior,
            has_log_likelihood: log_likelihood,
            weighted: weights,
            discard,
            thin,
            attrs: &h.attrs,
            summary,
        };
        let text = serde_json::to_string_pretty(&info)?;
        println!("{text}");
        return Ok(());
    }
    println!("file        {}", shown.display());
    if let Some(w) = &h.writer {
        println!("written by  {w}");
    }
    println!(
        "shape       {} iterations x {} walkers x {} parameters ({} draws{})",
        h.iterations,
        h.walkers,
        h.dim(),
        h.iterations * h.walkers,
        if discard > 0 || thin > 1 { format!("; {} after discard {discard}, thin {thin}", summary.draws) } else { String::new() }
    );
    match h.complete {
        Some(true) => println!("status      complete"),
        Some(false) => println!("status      INCOMPLETE: the run stopped before finishing; rows up to its last checkpoint are valid"),
        None => {}
    }
    println!("acceptance  mean {:.3} (min {:.3}, max {:.3})", acceptance.mean, acceptance.min, acceptance.max);
    let mut stored = vec![];
    for (on, n) in [(log_prob, "log_prob"), (log_prior, "log_prior"), (log_likelihood, "log_likelihood"), (weights, "weights")] {
        if on {
            stored.push(n);
        }
    }
    println!("stored      {}", if stored.is_empty() { "draws only".to_string() } else { stored.join(", ") });
    if let (Some(m), Some(x)) = (summary.log_prob_mean, summary.log_prob_max) {
        println!("log_prob    mean {m:.4}, max {x:.4}");
    }
    for (k, v) in &h.attrs {
        println!("{k:<11} {v}");
    }
    println!();
    let w = h.names.iter().map(|n| n.len()).max().unwrap_or(4).max(9);
    println!("{:<w$} {:>12} {:>12} {:>12} {:>12} {:>12}  bounds", "parameter", "mean", "sd", "5%", "50%", "95%");
    for (p, (l, u)) in summary.params.iter().zip(&h.bounds) {
        println!("{:<w$} {:>12} {:>12} {:>12} {:>12} {:>12}  [{l}, {u}]", p.name, fmt(p.mean), fmt(p.sd), fmt(p.q05), fmt(p.q50), fmt(p.q95));
    }
    if summary.weighted {
        println!("(statistics weighted by the stored importance weights)");
    }
    Ok(())
}

/// Six significant digits, switching to exponent form for very large or small values.
fn fmt(v: f64) -> String {
    if v == 0.0 || (1e-3..1e6).contains(&v.abs()) {
        format!("{:.6}", v).chars().take(if v < 0.0 { 9 } else { 8 }).collect::<String>().trim_end_matches('.').to_string()
    } else {
        format!("{v:.4e}")
    }
}

pub(super) fn convert(a: &ConvertArgs) -> Result<()> {
    Io::new().input(&a.input).output(&a.output).check(a.force)?;
    let c = chain::read_any(&a.input)?;
    chain::write_any(&c, &a.output)?;
    eprintln!("wrote {} ({} iterations x {} walkers x {} parameters)", a.output.display(), c.iterations(), c.walkers(), c.dim());
    Ok(())
}

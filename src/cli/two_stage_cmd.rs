//! `seqcal two-stage run | tsfb | sample`: two-stage flows on a composite
//! target described by a spec file (see `docs/two-stage.md`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::output::Io;
use crate::two_stage::run::{run, sample_flow, write_draws, RunOptions};
use crate::two_stage::Spec;
use crate::{Error, Result};

/// `seqcal two-stage ...`
#[derive(Debug, Subcommand)]
pub enum TwoStageCommand {
    /// Stage 1 (a flow per sample-based component, with fit checks), stage 2 (a reverse-KL flow on the composite), report.
    #[command(
        after_help = "Example:\n  seqcal two-stage run spec.toml -o out/ --seed 1\n\nWrites out/stage1/ (one flow per component), out/stage2/ (the result's flow), out/draws.h5 (equal-weight\ndraws, a seqcal chain file), out/result.json (fit checks, ELBO trace, ESS, log Z), out/summary.md and corner plots.\nUse the result as a prior: { kind = \"two-stage\", path = \"out/\" }. The spec file: docs/two-stage.md."
    )]
    Run(RunArgs),
    /// The two-stage fully Bayesian baseline (Metropolis-within-Gibbs recycling each component's draws as proposals).
    #[command(after_help = "Example:\n  seqcal two-stage tsfb spec.toml -o tsfb/ --iterations 30000 --burn 5000")]
    Tsfb(TsfbArgs),
    /// Draw from the result of `seqcal two-stage run` into a chain file.
    #[command(after_help = "Example:\n  seqcal two-stage sample out/ -n 100000 -o draws.h5 --seed 2")]
    Sample(SampleArgs),
}

/// Arguments of `seqcal two-stage run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The spec file (TOML).
    pub spec: PathBuf,
    /// Output folder (written whole at the end; refused if it exists, unless --force).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Seed of both stages (default: the spec's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Equal-weight draws of the result written to draws.h5.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub draws: u64,
    /// Print result.json on standard output.
    #[arg(long)]
    pub json: bool,
    /// No progress lines on standard error.
    #[arg(long, short)]
    pub quiet: bool,
    /// Replace the output folder if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `seqcal two-stage tsfb`.
#[derive(Debug, Args)]
pub struct TsfbArgs {
    /// The spec file (TOML).
    pub spec: PathBuf,
    /// Output folder (written whole at the end; refused if it exists, unless --force).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Gibbs sweeps, burn-in included.
    #[arg(long, default_value_t = 30_000)]
    pub iterations: usize,
    /// Sweeps dropped as burn-in.
    #[arg(long, default_value_t = 5_000)]
    pub burn: usize,
    /// Seed (default: the spec's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print result.json on standard output.
    #[arg(long)]
    pub json: bool,
    /// No progress lines on standard error.
    #[arg(long, short)]
    pub quiet: bool,
    /// Replace the output folder if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `seqcal two-stage sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// The output folder of `seqcal two-stage run`.
    pub run: PathBuf,
    /// Number of draws.
    #[arg(short = 'n', long, value_parser = clap::value_parser!(u64).range(1..))]
    pub draws: u64,
    /// Output chain file (.h5).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Overwrite the output if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `seqcal two-stage run`.
pub(super) fn run_cmd(a: &RunArgs) -> Result<()> {
    let spec = Spec::load(&a.spec)?;
    let opts = RunOptions { seed: a.seed, draws: a.draws as usize, progress: !a.quiet, force: a.force };
    let (result, dir) = run(&spec, &a.output, &opts, None)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    if !a.quiet {
        eprintln!("wrote {}", dir.display());
    }
    Ok(())
}

/// `seqcal two-stage tsfb`.
pub(super) fn tsfb_cmd(a: &TsfbArgs) -> Result<()> {
    if a.burn >= a.iterations {
        return Err(Error::Usage(format!("--burn {} is not below --iterations {}: lower --burn or raise --iterations", a.burn, a.iterations)));
    }
    let spec = Spec::load(&a.spec)?;
    let seed = a.seed.unwrap_or(spec.seed);
    let r = crate::two_stage::tsfb::run(&spec, &a.output, a.iterations, a.burn, seed, a.force, !a.quiet)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    }
    Ok(())
}

/// `seqcal two-stage sample`.
pub(super) fn sample_cmd(a: &SampleArgs) -> Result<()> {
    Io::new().output(&a.output).check(a.force)?;
    let flow = seqcal_two_stage::load_run(&a.run).map_err(|e| Error::Usage(e.to_string()))?;
    crate::memory::require(crate::memory::bytes(crate::memory::product(&[a.draws as usize, flow.names().len()]), 16), || {
        format!("{} draws", a.draws)
    })?;
    let x = sample_flow(&flow, a.draws as usize, a.seed)?;
    let log_q = flow.log_prob_f64(x.view());
    write_draws(&flow, &x, Some(&log_q), &a.output, a.seed, &a.run.display().to_string())
}

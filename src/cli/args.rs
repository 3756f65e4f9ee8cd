//! The clap definition of the `seqcal` command line.

use clap::{Parser, Subcommand};

use super::chain_cmd::ChainCommand;
use super::compare_cmd::CompareArgs;
use super::emulator_cmd::EmulatorCommand;
use super::plot_cmd::PlotCommand;
use super::prior_cmd::PriorCommand;
use super::run_cmd::{ExampleCommand, RunArgs};
use super::sample::{sample_help, SampleCmdArgs};
use super::two_stage_cmd::TwoStageCommand;

const AFTER_HELP: &str = "\
Examples:
  seqcal run examples/sequential/pipeline.toml  staged calibration; report in runs/sequential/report
  seqcal example generate -o ex                 write the shipped staged-calibration example
  seqcal chain info run.h5                      shape, acceptance, mean/sd/quantiles
  seqcal chain info run.h5 --json --discard 0   machine-readable, every iteration
  seqcal chain convert run.h5 run.csv           HDF5 -> CSV (and CSV -> HDF5)
  seqcal prior sample --config prior.toml -n 10000 -o draws.h5 --seed 1
  seqcal prior list                             the prior kinds this binary knows
  seqcal prior train chain.h5 --loss kl --steps 5000 -o prior.safetensors
  seqcal prior sample prior.safetensors -n 10000 -o draws.h5
  seqcal sample --target gaussian:dim=5 --steps 5000 -o chain.h5 --json
  seqcal sample --list-targets                  built-in test posteriors
  seqcal plot corner a.h5 b.h5 --labels A,B -o corner.png
  seqcal compare sequential.h5 joint.h5         average KL, moments, verdict
  seqcal emulator train --design d.csv --outputs y.csv --bounds b.csv -o emu.json
  seqcal two-stage run spec.toml -o out/        two-stage flows on a composite target (docs/two-stage.md)

Chain files are emcee-compatible HDF5: in Python,
  emcee.backends.HDFBackend(\"run.h5\", read_only=True).get_chain()";

/// Sequential Bayesian calibration: emulators, samplers, flow priors, chains.
#[derive(Debug, Parser)]
#[command(name = "seqcal", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a staged calibration: emulators, stages in dependency order, comparisons, report.
    #[command(
        after_help = "Examples:\n  seqcal run examples/sequential/pipeline.toml\n  seqcal run pipeline.toml --only joint\n  seqcal run pipeline.toml --force --runs-dir /scratch/runs\n\nA stage whose inputs and settings are unchanged is reused (content hash); --force reruns."
    )]
    Run(RunArgs),
    /// Shipped examples.
    #[command(subcommand)]
    Example(ExampleCommand),
    /// Inspect and convert chain files.
    #[command(subcommand)]
    Chain(ChainCommand),
    /// Build and sample priors.
    #[command(subcommand)]
    Prior(PriorCommand),
    /// Compare two posterior samples: seqcal's and the paper's KL beside their floors, moments, verdict.
    #[command(
        after_help = "Examples:\n  seqcal compare sequential.h5 joint.h5\n  seqcal compare a.h5 b.h5 --discard 1000 --json\n  seqcal compare stage.h5 joint.h5 --metric both --bounds-from prior.toml   # the paper's <D_KL> beside seqcal's KL"
    )]
    Compare(CompareArgs),
    /// Figures: corner plots of one or several chains.
    #[command(subcommand)]
    Plot(PlotCommand),
    /// Sample a posterior with the ensemble sampler.
    #[command(after_help = sample_help())]
    Sample(Box<SampleCmdArgs>),
    /// Train, validate and evaluate Gaussian-process emulators of model outputs.
    #[command(subcommand)]
    Emulator(EmulatorCommand),
    /// Two-stage flows: a posterior rebuilt from factors known by samples (chains) and by formulas.
    #[command(subcommand, name = "two-stage")]
    TwoStage(TwoStageCommand),
}

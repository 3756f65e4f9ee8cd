//! The `seqcal` command line: clap definitions in [`args`], one handler per
//! subcommand. [`run`] is what `main` calls.

pub mod args;
mod chain_cmd;
mod compare_cmd;
mod emulator_cmd;
mod plot_cmd;
mod prior_cmd;
mod run_cmd;
mod scan_cmd;
mod sample_cmd;

pub use args::Cli;

use crate::Result;

/// Runs a parsed command line.
///
/// # Errors
/// Whatever the subcommand reports; `main` prints it and exits with status 2.
pub fn run(cli: Cli) -> Result<()> {
    use args::{ChainCommand, Command, EmulatorCommand, ExampleCommand, PlotCommand, PriorCommand};
    match cli.command {
        Command::Run(a) => run_cmd::run(&a),
        Command::Example(ExampleCommand::Generate(a)) => run_cmd::generate(&a),
        Command::Chain(ChainCommand::Info(a)) => chain_cmd::info(&a),
        Command::Chain(ChainCommand::Convert(a)) => chain_cmd::convert(&a),
        Command::Prior(PriorCommand::Sample(a)) => prior_cmd::sample(&a),
        Command::Prior(PriorCommand::List) => prior_cmd::list(),
        Command::Prior(PriorCommand::Train(a)) => prior_cmd::train(&a),
        Command::Prior(PriorCommand::Eval(a)) => prior_cmd::eval(&a),
        Command::Prior(PriorCommand::Scan(a)) => scan_cmd::scan(&a),
        Command::Sample(a) => sample_cmd::sample(&a),
        Command::Plot(PlotCommand::Corner(a)) => plot_cmd::corner(&a),
        Command::Compare(a) => compare_cmd::compare(&a),
        Command::Emulator(EmulatorCommand::Train(a)) => emulator_cmd::train(&a),
        Command::Emulator(EmulatorCommand::Validate(a)) => emulator_cmd::validate(&a),
        Command::Emulator(EmulatorCommand::Predict(a)) => emulator_cmd::predict(&a),
        Command::Emulator(EmulatorCommand::Example(a)) => emulator_cmd::example(&a),
    }
}

//! The `seqcal` command line: clap definitions in [`args`], one handler per
//! subcommand. [`run`] is what `main` calls.

pub mod args;
mod chain_cmd;
mod prior_cmd;
mod scan_cmd;
mod sample_cmd;

pub use args::Cli;

use crate::Result;

/// Runs a parsed command line.
///
/// # Errors
/// Whatever the subcommand reports; `main` prints it and exits with status 2.
pub fn run(cli: Cli) -> Result<()> {
    use args::{ChainCommand, Command, PriorCommand};
    match cli.command {
        Command::Chain(ChainCommand::Info(a)) => chain_cmd::info(&a),
        Command::Chain(ChainCommand::Convert(a)) => chain_cmd::convert(&a),
        Command::Prior(PriorCommand::Sample(a)) => prior_cmd::sample(&a),
        Command::Prior(PriorCommand::List) => prior_cmd::list(),
        Command::Prior(PriorCommand::Train(a)) => prior_cmd::train(&a),
        Command::Prior(PriorCommand::Eval(a)) => prior_cmd::eval(&a),
        Command::Prior(PriorCommand::Scan(a)) => scan_cmd::scan(&a),
        Command::Sample(a) => sample_cmd::sample(&a),
    }
}

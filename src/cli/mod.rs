//! The `seqcal` command line: the top-level clap definition in [`args`], and
//! one module per subcommand holding its arguments beside its handler.
//! [`main_with`] is what `main` calls, with seqcal's built-in prior kinds; a
//! program with its own kinds calls it with a registry it extended (see
//! `examples/custom-prior`).

pub mod args;
mod box_arg;
mod burn;
mod chain_cmd;
mod compare_cmd;
mod emulator_cmd;
mod flow_args;
mod output;
mod plot_cmd;
mod prior_cmd;
mod run_cmd;
mod sample;
mod scan_cmd;
mod two_stage_cmd;

pub use args::Cli;

use std::process::ExitCode;

use clap::Parser;

use crate::prior::PriorRegistry;
use crate::{Error, Result};

/// Runs a parsed command line with seqcal's built-in prior kinds.
///
/// # Errors
/// Whatever the subcommand reports; `main` prints it and exits with status 2.
pub fn run(cli: Cli) -> Result<()> {
    run_with(cli, &PriorRegistry::builtin())
}

/// Runs a parsed command line; `seqcal run`, `seqcal sample` and `seqcal
/// prior` build priors from `registry`, so kinds a program registers there
/// work in pipeline stages, `--prior` files and `prior sample` alike.
///
/// # Errors
/// Whatever the subcommand reports.
pub fn run_with(cli: Cli, registry: &PriorRegistry) -> Result<()> {
    use args::Command;
    use chain_cmd::ChainCommand;
    use emulator_cmd::EmulatorCommand;
    use plot_cmd::PlotCommand;
    use prior_cmd::PriorCommand;
    use run_cmd::ExampleCommand;
    use two_stage_cmd::TwoStageCommand;
    match cli.command {
        Command::Run(a) => run_cmd::run(&a, registry),
        Command::Example(ExampleCommand::Generate(a)) => run_cmd::generate(&a),
        Command::Chain(ChainCommand::Info(a)) => chain_cmd::info(&a),
        Command::Chain(ChainCommand::Convert(a)) => chain_cmd::convert(&a),
        Command::Prior(PriorCommand::Sample(a)) => prior_cmd::sample(&a, registry),
        Command::Prior(PriorCommand::List) => prior_cmd::list(registry),
        Command::Prior(PriorCommand::Train(a)) => prior_cmd::train(&a, registry),
        Command::Prior(PriorCommand::Eval(a)) => prior_cmd::eval(&a),
        Command::Prior(PriorCommand::Scan(a)) => scan_cmd::scan(&a),
        Command::Sample(a) => sample::sample(&a, registry),
        Command::Plot(PlotCommand::Corner(a)) => plot_cmd::corner(&a),
        Command::Compare(a) => compare_cmd::compare(&a, registry),
        Command::Emulator(EmulatorCommand::Train(a)) => emulator_cmd::train(&a),
        Command::Emulator(EmulatorCommand::Validate(a)) => emulator_cmd::validate(&a),
        Command::Emulator(EmulatorCommand::Predict(a)) => emulator_cmd::predict(&a),
        Command::Emulator(EmulatorCommand::Example(a)) => emulator_cmd::example(&a),
        Command::TwoStage(TwoStageCommand::Run(a)) => two_stage_cmd::run_cmd(&a),
        Command::TwoStage(TwoStageCommand::Tsfb(a)) => two_stage_cmd::tsfb_cmd(&a),
        Command::TwoStage(TwoStageCommand::Sample(a)) => two_stage_cmd::sample_cmd(&a),
    }
}

/// The whole `seqcal` program: parses the command line, runs it with
/// `registry`, prints the error chain and returns the exit status (0; 2 for
/// an error; 130 after Ctrl-C). Output to a closed pipe (`seqcal chain info
/// x.h5 | head -1`) ends the process quietly, as for any Unix tool, and a
/// write past a file size limit is an error, not a crash.
pub fn main_with(registry: &PriorRegistry) -> ExitCode {
    #[cfg(unix)]
    // SAFETY: signal(2) with SIG_DFL or SIG_IGN installs no handler of ours, and
    // SIGPIPE and SIGXFSZ are valid signal numbers (each call's success asserted).
    unsafe {
        assert_ne!(libc::signal(libc::SIGPIPE, libc::SIG_DFL), libc::SIG_ERR, "signal(SIGPIPE) failed");
        assert_ne!(libc::signal(libc::SIGXFSZ, libc::SIG_IGN), libc::SIG_ERR, "signal(SIGXFSZ) failed");
    }
    let cli = Cli::parse();
    match run_with(cli, registry) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = format!("error: {e}");
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                let s_text = s.to_string();
                if !msg.contains(&s_text) {
                    msg.push_str(&format!("\n  caused by: {s_text}"));
                }
                src = s.source();
            }
            eprintln!("{msg}");
            ExitCode::from(if matches!(e, Error::Interrupted(_)) { 130 } else { 2 })
        }
    }
}

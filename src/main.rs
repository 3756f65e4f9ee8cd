//! The `seqcal` binary: seqcal's command line with its built-in prior kinds.

use std::process::ExitCode;

fn main() -> ExitCode {
    seqcal::cli::main_with(&seqcal::prior::PriorRegistry::builtin())
}

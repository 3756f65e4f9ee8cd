//! `seqcal-laplace`: seqcal's command line with one more prior kind,
//! `laplace`, registered by this program (see `laplace.rs`).

mod laplace;

use std::process::ExitCode;

use seqcal::prior::PriorRegistry;

fn main() -> ExitCode {
    let mut registry = PriorRegistry::builtin();
    registry.register(Box::new(laplace::LaplacePlugin));
    seqcal::cli::main_with(&registry)
}

//! Property-based tests of every reader of user input: generated malformed
//! input (valid files mutated: truncated, bytes flipped, lines deleted,
//! repeated or exchanged, values replaced by NaN, infinities, huge numbers,
//! other types; HDF5 files with missing or mistyped datasets and attributes
//! and huge claimed shapes; safetensors with missing, extra or misshapen
//! tensors; tampered sidecars; random bytes; empty files) must give `Ok` or
//! an error, never a panic, and never an allocation above 1 GiB
//! ([`alloc_guard`]); at the command line, exit status 2 and one message.
//!
//! Each property runs a fixed number of cases from a seed fixed by its name
//! (no persistence file is written), so a run is reproducible. Cases per
//! property (the whole file runs in about 2 s warm on two cores; the
//! protocol's parsers have their own properties inside the crate, in
//! `src/targets/external/protocol_props.rs`):
//!
//! | property | cases |
//! |---|---|
//! | `table::csv_tables_never_panic` | 256 |
//! | `table::hdf5_tables_never_panic_nor_believe_claimed_shapes` | 96 |
//! | `table::malformed_tables_at_the_cli` | 12 CSV, 12 HDF5 |
//! | `chain::hdf5_chains_with_damaged_structure_never_panic` | 160 |
//! | `chain::hdf5_chains_with_damaged_bytes_at_the_cli` | 64 |
//! | `chain::csv_chains_never_panic` | 256 |
//! | `chain::malformed_chains_at_the_cli` | 16 HDF5 (and `--resume`), 12 CSV |
//! | `config::prior_files_never_panic` | 256 |
//! | `config::stage_files_never_panic` | 128 |
//! | `config::pipeline_files_never_panic` | 128 |
//! | `config::malformed_toml_at_the_cli` | 12 priors, 12 stages, 12 pipelines |
//! | `flow::flow_models_never_panic` | 160 |
//! | `flow::malformed_flow_models_at_the_cli` | 16 |
//! | `emulator::emulator_files_never_panic` | 192 |
//! | `emulator::malformed_emulators_at_the_cli` | 16 |
//! | `protocol::malformed_handshakes_and_answers_at_the_cli` | 16 |
//!
//! `SEQCAL_PROPTEST_CASES=N` multiplies every count by N (a longer search);
//! `SEQCAL_PROPTEST_SHOW=1` prints every case and what the reader made of it
//! (run with `--nocapture`). A case a property found is kept as a plain test
//! next to it.

mod alloc_guard;
mod chain;
#[path = "../common/mod.rs"]
mod common;
mod config;
mod emulator;
mod flow;
mod h5ops;
mod mutate;
mod protocol;
mod table;

/// `n` cases, times `SEQCAL_PROPTEST_CASES` when set.
pub fn cases(n: u32) -> u32 {
    let k = std::env::var("SEQCAL_PROPTEST_CASES").ok().and_then(|v| v.parse::<u32>().ok()).unwrap_or(1).max(1);
    n.saturating_mul(k)
}

/// A fresh temporary folder for a property's files.
pub fn fixtures_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

/// Runs the real `seqcal` with `args`. It must exit with status 0, or 2
/// with one message on standard error (`error: ...`, at most three lines,
/// no panic); with `refused` (the library refused the input), it must exit 2.
pub fn at_the_cli(args: &[&str], refused: bool) -> Result<(), proptest::test_runner::TestCaseError> {
    use proptest::prop_assert;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_seqcal")).args(args).output().expect("seqcal runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    prop_assert!(code == Some(2) || (code == Some(0) && !refused), "{args:?}: exit {code:?}, stderr: {stderr}");
    if code == Some(2) {
        let lines = stderr.trim_end().lines().count();
        prop_assert!(stderr.starts_with("error: ") && stderr.len() > 8 && lines <= 3, "{args:?}: not one message: {stderr}");
        prop_assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{args:?}: {stderr}");
    }
    Ok(())
}

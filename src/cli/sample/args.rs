//! The arguments of `seqcal sample` and its help text.

use std::path::PathBuf;

use clap::Args;

use crate::sampler::ensemble::MOVES;

/// The examples and the moves (from the move parser's own table) after `seqcal sample --help`.
pub fn sample_help() -> String {
    let mut s = String::from(
        "\
Examples:
  seqcal sample --list-targets
  seqcal sample --target gaussian:dim=5 --walkers 32 --steps 5000 --seed 1 -o chain.h5
  seqcal sample --target correlated_gaussian --moves stretch:0.8,de:0.2 --steps 20000 --json
  seqcal sample --target gaussian_shells --sampler smc --particles 2000 -o shells.h5 --json   # log Z and its error
  seqcal sample --target arK --steps 4000 -o ark.h5 --checkpoint-every 200
  seqcal sample --target arK --steps 8000 -o ark.h5 --resume      # continue a killed or finished run
  seqcal sample --target 'cmd:python3 examples/external/gaussian_model.py' --prior n.toml -o ext.h5
  seqcal sample --config examples/stages/arK.toml -o ark.h5

Moves (--moves NAME:WEIGHT,...; the weights pick one move per step):
",
    );
    for m in MOVES {
        let aliases = if m.aliases.is_empty() { String::new() } else { format!(" (or {})", m.aliases.join(", ")) };
        s.push_str(&format!("  {:<9} {}{aliases}\n", m.name, m.help));
    }
    s.trim_end().to_string()
}

/// Arguments of `seqcal sample`.
#[derive(Debug, Args)]
pub struct SampleCmdArgs {
    /// Target: a built-in `NAME[:key=value,...]` or `cmd:COMMAND` for an external model.
    #[arg(long, short = 't', required_unless_present_any = ["list_targets", "config"])]
    pub target: Option<String>,
    /// Stage file (TOML): `target`, an optional `[prior]` table and a `[sampler]` table (the
    /// keys of a pipeline's sampler tables, docs/pipeline.md); flags given on the command line
    /// override it.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Seconds an external model (`cmd:`) may take to answer before it is killed.
    #[arg(long, default_value_t = 60.0)]
    pub target_timeout: f64,
    /// List the built-in targets and exit.
    #[arg(long)]
    pub list_targets: bool,
    /// Sampler: `ensemble` or `smc` [default: ensemble].
    #[arg(long)]
    pub sampler: Option<String>,
    /// SMC: number of particles mutated per temperature [default: 500].
    #[arg(long)]
    pub particles: Option<usize>,
    /// SMC: fraction of the stored particles the ESS of their weights keeps at each temperature [default: 0.9].
    #[arg(long)]
    pub target_ess: Option<f64>,
    /// Prior file (TOML) replacing the target's prior; for a `cmd:` model, multiplied into the model's density.
    #[arg(long)]
    pub prior: Option<PathBuf>,
    /// Start the walkers from this chain's last iteration (or its last draws): HDF5, or CSV with one column per parameter.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Moves with weights, e.g. `stretch:0.8,de:0.2` [default: stretch].
    #[arg(long)]
    pub moves: Option<String>,
    /// Number of walkers, at least twice the number of parameters [default: 32].
    #[arg(long, short = 'w')]
    pub walkers: Option<usize>,
    /// Total iterations in the chain (with --resume: including those already there) [default: 5000].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Random seed: the same seed gives the same chain, whatever the thread count [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Tempering exponent beta of the likelihood (posterior = prior x likelihood^beta) [default: 1].
    #[arg(long)]
    pub beta: Option<f64>,
    /// Output chain file (HDF5, emcee-compatible).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Continue the run stored in the output file.
    #[arg(long, requires = "output")]
    pub resume: bool,
    /// Overwrite an existing output file.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Flush the chain (and the sampler state) to disk every N iterations [default: 100].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: Option<u64>,
    /// Iterations dropped before the diagnostics (default: the first fifth); recorded in the chain
    /// file, so that `chain info`, `compare`, `plot corner` and `prior train` drop them too.
    #[arg(long)]
    pub burn: Option<usize>,
    /// During the first N iterations (burn-in), every 50 steps, move walkers stranded far
    /// below the ensemble in a minor mode onto other walkers. Not detailed balance: keep N
    /// within the iterations dropped by --burn. 0 = never [default: the burn-in (--burn, else
    /// the first fifth of --steps) of the run that created the file; a resumed run keeps it].
    #[arg(long, value_name = "N")]
    pub relocate_stuck: Option<usize>,
    /// Worker threads for parallel likelihood evaluation (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print one JSON summary object on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bar or messages.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Settings after merging the stage file and the command line.
pub(super) struct Resolved {
    pub(super) spec: String,
    pub(super) seed: u64,
    pub(super) settings: crate::sampler::SamplerSettings,
}

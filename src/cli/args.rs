//! The clap definition of the `seqcal` command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Examples:
  seqcal run examples/sequential/pipeline.toml  staged calibration; report in runs/sequential/report
  seqcal example generate -o ex                 write the shipped staged-calibration example
  seqcal chain info run.h5                      shape, acceptance, mean/sd/quantiles
  seqcal chain info run.h5 --json --discard 500 machine-readable, burn-in dropped
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
    /// Compare two posterior samples: average 1-D and 2-D KL both ways, moments, verdict.
    #[command(after_help = "Examples:\n  seqcal compare sequential.h5 joint.h5\n  seqcal compare a.h5 b.h5 --discard 1000 --json")]
    Compare(CompareArgs),
    /// Figures: corner plots of one or several chains.
    #[command(subcommand)]
    Plot(PlotCommand),
    /// Sample a posterior with the ensemble sampler.
    #[command(after_help = SAMPLE_HELP)]
    Sample(Box<SampleCmdArgs>),
    /// Train, validate and evaluate Gaussian-process emulators of model outputs.
    #[command(subcommand)]
    Emulator(EmulatorCommand),
}

/// `seqcal emulator ...`
#[derive(Debug, Subcommand)]
pub enum EmulatorCommand {
    /// Train a PCA + GP emulator on a design and its model outputs.
    #[command(
        after_help = "Example:\n  seqcal emulator example -o ex\n  seqcal emulator train --design ex/design.csv --outputs ex/outputs.csv --bounds ex/bounds.csv --npc 8 -o emu.json"
    )]
    Train(EmuTrainArgs),
    /// Score an emulator on held-out runs: per-output RMSE (in training sd) and 1/2-sd coverage.
    #[command(after_help = "Example:\n  seqcal emulator validate emu.json --design ex/design_val.csv --outputs ex/outputs_val.csv -o report.json")]
    Validate(EmuValidateArgs),
    /// Predict mean and sd (optionally the full covariance) of every output at the points of a CSV.
    #[command(after_help = "Example:\n  seqcal emulator predict emu.json points.csv -o pred.csv --cov")]
    Predict(EmuPredictArgs),
    /// Write a synthetic model's design, outputs, bounds and validation set (CSV or HDF5): the shipped
    /// 6-parameter example, or a 17-parameter, 110-output heavy-ion stand-in.
    Example(EmuExampleArgs),
}

/// Arguments of `seqcal emulator train`.
#[derive(Debug, Args)]
pub struct EmuTrainArgs {
    /// Design: CSV with a header row (one column per parameter, one row per model run), or
    /// HDF5 `FILE.h5[:DATASET]` (default dataset `design`; column names from its `columns` attribute).
    #[arg(long)]
    pub design: PathBuf,
    /// Model outputs: CSV with a header row (one column per observable, rows as in the design),
    /// or HDF5 `FILE.h5[:DATASET]` (default dataset `outputs`).
    #[arg(long)]
    pub outputs: PathBuf,
    /// Prior box: CSV with the header `lower,upper` and one row per parameter (in the design's
    /// column order), or HDF5
    /// `FILE.h5[:DATASET]` (default dataset `bounds`, p × 2).
    #[arg(long)]
    pub bounds: PathBuf,
    /// Known errors of the model runs: the sd of each output of each run (the outputs' columns,
    /// found by name, and rows; CSV, or HDF5 `FILE.h5[:DATASET]`, default dataset `output_errors`). They enter
    /// each component's GP as known per-run noise, next to the fitted white noise.
    #[arg(long, value_name = "FILE")]
    pub output_errors: Option<PathBuf>,
    /// Number of principal components.
    #[arg(long, conflicts_with = "explained")]
    pub npc: Option<usize>,
    /// Keep the fewest components explaining this fraction of the output variance [default: 0.99].
    #[arg(long)]
    pub explained: Option<f64>,
    /// Kernel: se, matern32 or matern52 [default: se].
    #[arg(long)]
    pub kernel: Option<seqcal_emulators::Kernel>,
    /// Random restarts of each component's hyperparameter fit, at most 1000 [default: 4].
    #[arg(long)]
    pub restarts: Option<usize>,
    /// Seed of the restarts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file (JSON).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also cross-validate: train K more emulators with the same settings, each without one
    /// fold of the runs, and report RMSE and coverage on the held-out folds.
    #[arg(long, value_name = "K")]
    pub kfold: Option<usize>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `seqcal emulator validate`.
#[derive(Debug, Args)]
pub struct EmuValidateArgs {
    /// Trained emulator (JSON).
    pub emulator: PathBuf,
    /// Held-out design (CSV with a header row naming the emulator's inputs, in any order, or HDF5 `FILE.h5[:DATASET]`, default dataset
    /// `design_val`, else `design`).
    #[arg(long)]
    pub design: PathBuf,
    /// Held-out model outputs (CSV with a header row naming the emulator's outputs, in any order, or HDF5 `FILE.h5[:DATASET]`, default
    /// dataset `outputs_val`, else `outputs`).
    #[arg(long)]
    pub outputs: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Arguments of `seqcal emulator predict`.
#[derive(Debug, Args)]
pub struct EmuPredictArgs {
    /// Trained emulator (JSON).
    pub emulator: PathBuf,
    /// Points: CSV with a header row naming the emulator's inputs (any order), or HDF5
    /// `FILE.h5[:DATASET]` (default dataset `points`, else `design`).
    pub points: PathBuf,
    /// Output CSV: `NAME_mean,NAME_sd` per output (and `cov_I_J` for I <= J with --cov).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also write the full predictive covariance of the outputs at each point.
    #[arg(long)]
    pub cov: bool,
}

/// Arguments of `seqcal emulator example`.
#[derive(Debug, Args)]
pub struct EmuExampleArgs {
    /// Directory to write into (created if missing).
    #[arg(short, long)]
    pub output: PathBuf,
    /// The model: `synthetic` (6 parameters, 24 outputs) or `heavy-ion` (a stand-in for a
    /// heavy-ion collision model: 17 parameters, 110 outputs across centrality bins, runs with
    /// statistical errors, written to output_errors).
    #[arg(long, default_value = "synthetic")]
    pub model: String,
    /// Write one HDF5 file (`runs.h5`: datasets design, outputs, bounds, design_val,
    /// outputs_val and for heavy-ion output_errors) instead of CSV files.
    #[arg(long)]
    pub hdf5: bool,
    /// Latin-hypercube design points [default: 300; heavy-ion 485].
    #[arg(long)]
    pub n_design: Option<usize>,
    /// Validation points (a separate Latin hypercube) [default: 200; heavy-ion 100].
    #[arg(long)]
    pub n_validation: Option<usize>,
    /// Seed of the design; the validation set uses seed + 1.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

const SAMPLE_HELP: &str = "\
Examples:
  seqcal sample --list-targets
  seqcal sample --target gaussian:dim=5 --walkers 32 --steps 5000 --seed 1 -o chain.h5
  seqcal sample --target correlated_gaussian --moves stretch:0.8,de:0.2 --steps 20000 --json
  seqcal sample --target arK --steps 4000 -o ark.h5 --checkpoint-every 200
  seqcal sample --target arK --steps 8000 -o ark.h5 --resume      # continue a killed or finished run
  seqcal sample --target 'cmd:python3 examples/external/gaussian_model.py' --prior n.toml -o ext.h5
  seqcal sample --config examples/stages/arK.toml -o ark.h5

Moves: stretch (a = 2), de (differential evolution), snooker (DE-snooker), walk (Gaussian with
the complementary walkers' covariance); weights pick one move per step.";

/// Arguments of `seqcal sample`.
#[derive(Debug, Args)]
pub struct SampleCmdArgs {
    /// Target: a built-in `NAME[:key=value,...]` or `cmd:COMMAND` for an external model.
    #[arg(long, short = 't', required_unless_present_any = ["list_targets", "config"])]
    pub target: Option<String>,
    /// Stage file (TOML): `target`, an optional `[prior]` table and `[sampler]` settings
    /// (`walkers`, `steps`, `moves`, `seed`, `beta`, `checkpoint_every`); flags given on the
    /// command line override it.
    #[arg(long, short = 'c')]
    pub config: Option<std::path::PathBuf>,
    /// Seconds an external model (`cmd:`) may take to answer before it is killed.
    #[arg(long, default_value_t = 60.0)]
    pub target_timeout: f64,
    /// List the built-in targets and exit.
    #[arg(long)]
    pub list_targets: bool,
    /// Sampler (only `ensemble` so far).
    #[arg(long)]
    pub sampler: Option<String>,
    /// Prior file (TOML) replacing the target's prior; for a `cmd:` model, multiplied into the model's density.
    #[arg(long)]
    pub prior: Option<std::path::PathBuf>,
    /// Start the walkers from this chain's last iteration (or its last draws): HDF5, or CSV with one column per parameter.
    #[arg(long)]
    pub init: Option<std::path::PathBuf>,
    /// Moves with weights, e.g. `stretch:0.8,de:0.2` [default: stretch].
    #[arg(long)]
    pub moves: Option<String>,
    /// Number of walkers, at least twice the number of parameters [default: 32].
    #[arg(long, short = 'w')]
    pub walkers: Option<usize>,
    /// Total iterations in the chain (with --resume: including those already there) [default: 5000].
    #[arg(long, short = 'n')]
    pub steps: Option<usize>,
    /// Random seed: the same seed gives the same chain, whatever the thread count [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Tempering exponent beta of the likelihood (posterior = prior x likelihood^beta) [default: 1].
    #[arg(long)]
    pub beta: Option<f64>,
    /// Output chain file (HDF5, emcee-compatible).
    #[arg(short, long)]
    pub output: Option<std::path::PathBuf>,
    /// Continue the run stored in the output file.
    #[arg(long, requires = "output")]
    pub resume: bool,
    /// Overwrite an existing output file.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Flush the chain (and the sampler state) to disk every N iterations [default: 100].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: Option<u64>,
    /// Iterations dropped before the diagnostics (default: the first 10%).
    #[arg(long)]
    pub burn: Option<usize>,
    /// During the first N iterations (burn-in), every 50 steps, move walkers stranded far
    /// below the ensemble in a minor mode onto other walkers. Not detailed balance: keep N
    /// within the iterations dropped by --burn. 0 = never [default: the burn-in (--burn, else
    /// the first 10% of --steps) of the run that created the file; a resumed run keeps it].
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
    /// Drop the first N iterations (burn-in) from the statistics.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub discard: usize,
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
}

/// Arguments of `seqcal run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
    /// Run only this stage; the stages its prior comes from must have up-to-date results.
    #[arg(long)]
    pub only: Option<String>,
    /// Rerun even stages whose inputs and settings are unchanged.
    #[arg(long)]
    pub force: bool,
    /// Folder of the runs: results go to RUNS_DIR/<name>/.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Worker threads (default: all cores); results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the report as JSON (stages and comparisons) instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `seqcal example ...`
#[derive(Debug, Subcommand)]
pub enum ExampleCommand {
    /// Write the staged-calibration example: design, model outputs and data of data sets A and B, pipeline.toml.
    #[command(after_help = "Example:\n  seqcal example generate -o examples/sequential\n  seqcal run examples/sequential/pipeline.toml")]
    Generate(ExampleGenerateArgs),
}

/// Arguments of `seqcal example generate`.
#[derive(Debug, Args)]
pub struct ExampleGenerateArgs {
    /// Output folder.
    #[arg(short, long, default_value = "examples/sequential")]
    pub output: PathBuf,
    /// Latin-hypercube design points.
    #[arg(long, default_value_t = 200)]
    pub design: usize,
    /// Seed of the design and of the experimental noise.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// Arguments of `seqcal compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The chain under test (e.g. a sequential calibration).
    pub a: PathBuf,
    /// The reference chain (e.g. the joint calibration).
    pub b: PathBuf,
    /// Drop the first N iterations of both chains.
    #[arg(long, default_value_t = 0)]
    pub discard: usize,
    /// Keep every K-th iteration.
    #[arg(long, default_value_t = 1)]
    pub thin: usize,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `seqcal plot ...`
#[derive(Debug, Subcommand)]
pub enum PlotCommand {
    /// Corner plot: 1-D marginals on the diagonal, 39.3/86.5/98.9% contours below, chains overlaid.
    #[command(
        after_help = "Examples:\n  seqcal plot corner run.h5 -o corner.png\n  seqcal plot corner seq.h5 joint.h5 --labels sequential,joint --discard 1000 -o compare.svg\n  seqcal plot corner stage.h5 --truths truth.csv --range prior --titles -o corner.png"
    )]
    Corner(CornerArgs),
}

/// Arguments of `seqcal plot corner`.
#[derive(Debug, Args)]
pub struct CornerArgs {
    /// Chain files (HDF5 or CSV), all over the same parameters.
    #[arg(required = true)]
    pub chains: Vec<PathBuf>,
    /// Output figure (.png or .svg).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Legend labels, comma-separated (default: the file names).
    #[arg(long, value_delimiter = ',')]
    pub labels: Vec<String>,
    /// Only these parameters, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub params: Vec<String>,
    /// Drop the first N iterations of every chain.
    #[arg(long, default_value_t = 0)]
    pub discard: usize,
    /// Keep every K-th iteration.
    #[arg(long, default_value_t = 1)]
    pub thin: usize,
    /// Histogram bins per axis (5 to 1000).
    #[arg(long, default_value_t = 40)]
    pub bins: usize,
    /// Gaussian smoothing of the histograms, in bins (0 to a quarter of --bins); corrected at
    /// the parameters' bounds so that the density there is not pulled to zero.
    #[arg(long, default_value_t = 1.0)]
    pub smooth: f64,
    /// True values to mark: a CSV file with a header naming parameters and one row of values.
    #[arg(long, value_name = "FILE")]
    pub truths: Option<PathBuf>,
    /// Axis ranges: the draws' 0.1-99.9% span (data) or the chain's stored bounds, the prior
    /// box (prior). Bounds within the axes are drawn, the region beyond them shaded.
    #[arg(long, value_enum, default_value_t = PlotRange::Data)]
    pub range: PlotRange,
    /// Median and central 68% interval of the first chain above each diagonal panel.
    #[arg(long)]
    pub titles: bool,
    /// Pixels per panel side (40 to 2000); fonts and lines scale with it.
    #[arg(long, default_value_t = 220)]
    pub panel: u32,
}

/// What the axes of `seqcal plot corner` span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlotRange {
    /// The draws' 0.1%-99.9% span, padded by 5%, cut at the bounds.
    Data,
    /// The chain's stored bounds (the prior box).
    Prior,
}

/// `seqcal prior ...`
#[derive(Debug, Subcommand)]
pub enum PriorCommand {
    /// Draw from a prior described in a TOML file and write the draws as a chain.
    #[command(
        after_help = "Example prior.toml:\n  kind = \"product\"\n  blocks = [\n    { kind = \"uniform\", names = [\"a\", \"b\"], bounds = [[0, 1], [-2, 2]] },\n    { kind = \"normal\", names = [\"c\"], mean = 0.5, sd = 0.1 },\n  ]\n\nThen:\n  seqcal prior sample --config prior.toml -n 10000 -o draws.h5 --seed 7"
    )]
    Sample(SampleArgs),
    /// List the prior kinds and their settings.
    List,
    /// Train a normalizing-flow prior on a posterior chain (RealNVP as in Roch & Shen; MAF and neural spline flows with --arch).
    #[command(
        after_help = "Example:\n  seqcal prior train stage1.h5 --loss kl --layers 6 --batch 1000 --lr 1e-3 --steps 5000 -o prior.safetensors\n  seqcal prior train stage1.h5 --arch nsf_coupling --bins 8 --tail-bound 5 --lu -o prior.safetensors\n\nWrites prior.safetensors (weights) and prior.json (architecture, bounds, metrics, chain hash).\nUse it as `kind = \"flow\", model = \"prior.safetensors\"` or with `seqcal prior sample prior.safetensors`."
    )]
    Train(TrainArgs),
    /// Evaluate a flow prior's log density at the points of a CSV file.
    Eval(EvalArgs),
    /// Train a grid of flow configurations, rank them by average KL against held-out draws, keep the best.
    #[command(
        after_help = "Example:\n  seqcal prior scan chain.h5 --arch realnvp,nsf_coupling --batch 500,1000 --layers 2,6 --lr 1e-3,5e-4 --loss kl,nll --steps 2000 -o scan/\n\nWrites scan/scan.json, scan/scan.md and the best model scan/best.safetensors (+ best.json)."
    )]
    Scan(ScanArgs),
}

/// Arguments of `seqcal prior scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Chain to train on (.h5 or .csv); 20% of its draws are held out for the ranking.
    pub chain: PathBuf,
    /// Output folder (created): scan.json, scan.md, best.safetensors, best.json.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Batch sizes to try.
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    pub batch: Vec<usize>,
    /// Architectures to try: realnvp, maf, nsf_coupling, nsf_ar.
    #[arg(long, value_delimiter = ',', default_value = "realnvp", value_parser = parse_arch)]
    pub arch: Vec<seqcal_flow::FlowKind>,
    /// Numbers of flow layers to try (even).
    #[arg(long, value_delimiter = ',', default_value = "6")]
    pub layers: Vec<usize>,
    /// Spline and LU settings.
    #[command(flatten)]
    pub layer: LayerArgs,
    /// Learning rates to try.
    #[arg(long, value_delimiter = ',', default_value = "1e-3")]
    pub lr: Vec<f64>,
    /// Losses to try (kl, jeffreys, nll).
    #[arg(long, value_delimiter = ',', default_value = "kl", value_parser = parse_loss)]
    pub loss: Vec<seqcal_flow::Loss>,
    /// Maximum training steps of each configuration.
    #[arg(long, default_value_t = 2000)]
    pub steps: usize,
    /// Hidden width of the coupling networks.
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    /// Random seed (split, weights, batches).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Iterations to drop from the start of the chain (burn-in).
    #[arg(long, default_value_t = 0)]
    pub discard: usize,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Spline and LU settings shared by `seqcal prior train` and `prior scan`.
#[derive(Debug, Args)]
pub struct LayerArgs {
    /// Spline bins (nsf_coupling, nsf_ar).
    #[arg(long, default_value_t = 8)]
    pub bins: usize,
    /// Splines act on [-B, B] of the standardized coordinates and are the identity outside (nsf_coupling, nsf_ar).
    #[arg(long, default_value_t = 5.0)]
    pub tail_bound: f64,
    /// An LU-decomposed linear layer between consecutive flow layers.
    #[arg(long)]
    pub lu: bool,
}

impl LayerArgs {
    /// Writes these settings into a flow prior's options.
    pub fn apply(&self, opts: &mut seqcal_flow::FlowOptions) {
        opts.bins = self.bins;
        opts.tail_bound = self.tail_bound;
        opts.lu = self.lu;
    }
}

/// Arguments of `seqcal prior train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Chain to train on (.h5 or .csv); its log_prob column is needed by the kl and jeffreys losses.
    pub chain: PathBuf,
    /// Output model (.safetensors); the sidecar is written next to it with extension .json.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Loss: kl, jeffreys (both need the chain's log_prob) or nll (draws only).
    #[arg(long, default_value = "kl", value_parser = parse_loss)]
    pub loss: seqcal_flow::Loss,
    /// Architecture: realnvp (affine couplings), maf (masked affine autoregressive), nsf_coupling or nsf_ar (rational-quadratic splines).
    #[arg(long, default_value = "realnvp", value_parser = parse_arch)]
    pub arch: seqcal_flow::FlowKind,
    /// Flow layers (even: pairs of even/odd couplings, or of natural/reversed autoregressive orders).
    #[arg(long, default_value_t = 6)]
    pub layers: usize,
    /// Spline and LU settings.
    #[command(flatten)]
    pub layer: LayerArgs,
    /// Hidden width of the coupling networks.
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    /// Hidden layers of each coupling network.
    #[arg(long, default_value_t = 2)]
    pub depth: usize,
    /// Activation: tanh, relu or silu.
    #[arg(long, default_value = "tanh", value_parser = parse_activation)]
    pub activation: seqcal_flow::Activation,
    /// Mini-batch size.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Adam learning rate (the base rate of the schedule).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Learning-rate schedule: cosine (base rate for the first half, then a cosine decay to zero) or constant.
    #[arg(long, default_value = "cosine", value_parser = parse_lr_schedule)]
    pub lr_schedule: seqcal_flow::LrSchedule,
    /// Maximum number of training steps.
    #[arg(long, default_value_t = 5000)]
    pub steps: usize,
    /// Fraction of the draws held out for validation and early stopping (0 = none).
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Random seed (initial weights, split, batches).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Iterations to drop from the start of the chain (burn-in).
    #[arg(long, default_value_t = 0)]
    pub discard: usize,
    /// Keep every k-th iteration.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub thin: u64,
    /// Do not map bounded parameters through logit/log (the flow may then leak outside the box).
    #[arg(long)]
    pub unbounded: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_loss(s: &str) -> Result<seqcal_flow::Loss, String> {
    s.parse().map_err(|e: seqcal_flow::FlowError| e.to_string())
}

fn parse_lr_schedule(s: &str) -> Result<seqcal_flow::LrSchedule, String> {
    s.parse().map_err(|e: seqcal_flow::FlowError| e.to_string())
}

fn parse_arch(s: &str) -> Result<seqcal_flow::FlowKind, String> {
    s.parse().map_err(|e: seqcal_flow::FlowError| e.to_string())
}

fn parse_activation(s: &str) -> Result<seqcal_flow::Activation, String> {
    s.parse().map_err(|e: seqcal_flow::FlowError| e.to_string())
}

/// Arguments of `seqcal prior eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Flow model (.safetensors with its .json sidecar).
    pub model: PathBuf,
    /// Points (CSV): a header with the model's parameter names (any order), one point per row.
    pub points: PathBuf,
    /// Write `log_prob` per row to this CSV instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Arguments of `seqcal prior sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Flow model (.safetensors with its .json sidecar), instead of --config.
    #[arg(required_unless_present = "config", conflicts_with = "config")]
    pub model: Option<PathBuf>,
    /// Prior file: a TOML table with `kind` (or a `[prior]` table).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Number of draws.
    #[arg(short = 'n', long = "draws", value_parser = clap::value_parser!(u64).range(1..))]
    pub n: u64,
    /// Output chain (.h5, or .csv).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Random seed; the same seed gives the same draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

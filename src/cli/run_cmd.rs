//! `seqcal run` and `seqcal example generate`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::output::{in_dir, Io};
use crate::config::Pipeline;
use crate::pipeline::{self, example, example_lost, RunOptions};
use crate::prior::PriorRegistry;
use crate::two_stage::example as two_stage_example;
use crate::Result;

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
    /// Which example: `sequential` (the staged calibration), `lost-mode`
    /// (the order of the data sets decides whether a mode is lost), or a
    /// two-stage example (a spec file and its software pools):
    /// `hierarchical-a`, `hierarchical-b`, `dwarfs`.
    #[arg(long, default_value = "sequential", value_parser = ["sequential", "lost-mode", "hierarchical-a", "hierarchical-b", "dwarfs"])]
    pub kind: String,
    /// Output folder (default: examples/sequential, examples/lost-mode, or the kind's name inside examples/two-stage).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Latin-hypercube design points.
    #[arg(long, default_value_t = 200)]
    pub design: usize,
    /// Seed of the design and of the experimental noise.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Overwrite the example's files if they exist.
    #[arg(long)]
    pub force: bool,
}

pub(super) fn run(a: &RunArgs, registry: &PriorRegistry) -> Result<()> {
    if let Some(n) = a.threads {
        // Only fails when a pool already exists (a second call in one process).
        let _ = rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global();
    }
    let checked = Pipeline::load(&a.pipeline)?.check(&a.pipeline)?;
    let opts = RunOptions { runs_dir: a.runs_dir.clone(), only: a.only.clone(), force: a.force, progress: !a.quiet && !a.json };
    let t = std::time::Instant::now();
    let report = pipeline::run(&checked, &a.pipeline, &opts, registry)?;
    if a.json {
        let stages: Vec<serde_json::Value> = report
            .stages
            .iter()
            .map(|(r, reused)| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                v["reused"] = (*reused).into();
                v
            })
            .collect();
        let j =
            serde_json::json!({"dir": report.dir, "wall_seconds": t.elapsed().as_secs_f64(), "stages": stages, "comparisons": report.comparisons});
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    if !a.quiet {
        println!();
        for c in &report.comparisons {
            println!("{} vs {}: {}", c.a, c.b, c.verdict);
        }
        for (r, _) in &report.stages {
            for w in &r.warnings {
                println!("WARNING stage {}: {w}", r.name);
            }
        }
        let rep = report.dir.join("report");
        println!("\nfinished in {:.1} s; report: {} (summary.md, compare.json, corner_*.png)", t.elapsed().as_secs_f64(), rep.display());
    }
    Ok(())
}

pub(super) fn generate(a: &ExampleGenerateArgs) -> Result<()> {
    if two_stage_example::KINDS.contains(&a.kind.as_str()) {
        let out = a.output.clone().unwrap_or_else(|| PathBuf::from("examples/two-stage").join(&a.kind));
        let (spec, pools) = two_stage_example::build(&a.kind, a.seed)?;
        let names = two_stage_example::files(&pools);
        Io::new().outputs(in_dir(&out, &names.iter().map(String::as_str).collect::<Vec<_>>())?).check(a.force)?;
        let path = two_stage_example::generate(&out, &spec, &pools)?;
        println!("wrote the two-stage example {} to {} (run it: seqcal two-stage run {} -o runs/{})", a.kind, out.display(), path.display(), a.kind);
        return Ok(());
    }
    let s = example::ExampleSettings { design: a.design, seed: a.seed };
    let lost = a.kind == "lost-mode";
    let out = a.output.clone().unwrap_or_else(|| PathBuf::from(if lost { "examples/lost-mode" } else { "examples/sequential" }));
    Io::new().outputs(in_dir(&out, if lost { example_lost::FILES } else { example::FILES })?).check(a.force)?;
    if lost {
        example_lost::generate(&out, &s)?;
    } else {
        example::generate(&out, &s)?;
    }
    let what = if lost { "lost-mode" } else { "staged-calibration" };
    println!("wrote the {what} example to {} (run it: seqcal run {})", out.display(), out.join("pipeline.toml").display());
    Ok(())
}

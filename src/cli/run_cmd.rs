//! `seqcal run` and `seqcal example generate`.

use super::args::{ExampleGenerateArgs, RunArgs};
use crate::config::Pipeline;
use crate::pipeline::{self, example, RunOptions};
use crate::prior::PriorRegistry;
use crate::Result;

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
    let s = example::ExampleSettings { design: a.design, seed: a.seed };
    example::generate(&a.output, &s)?;
    println!("wrote the staged-calibration example to {} (run it: seqcal run {})", a.output.display(), a.output.join("pipeline.toml").display());
    Ok(())
}

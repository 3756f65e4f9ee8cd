//! `seqcal emulator train | validate | predict | example`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use ndarray::Array2;

use seqcal_api::Emulator;
use seqcal_emulators::{synthetic, validate as val, EmulatorSettings, GpEmulator, TrainSettings};

use super::output::{in_dir, Io};
use crate::chain::write_atomically;
use crate::table::{file_of, read_table_as, write_hdf5_tables};
use crate::{Error, Result, ResultExt};

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
    /// Overwrite the output if it exists.
    #[arg(long)]
    pub force: bool,
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
    /// Overwrite the report if it exists.
    #[arg(long)]
    pub force: bool,
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
    /// Overwrite the output if it exists.
    #[arg(long)]
    pub force: bool,
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
    /// Overwrite the example's files if they exist.
    #[arg(long)]
    pub force: bool,
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomically(path, |tmp| std::fs::write(tmp, text).map_err(|e| Error::io(path, e)))
}

fn load(path: &Path) -> Result<GpEmulator> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    GpEmulator::from_json(&text).context_with(|| path.display().to_string())
}

fn csv_line(values: impl IntoIterator<Item = String>) -> String {
    let mut s = values.into_iter().collect::<Vec<_>>().join(",");
    s.push('\n');
    s
}

/// Training settings from the flags: the same defaults and checks as a pipeline's `emulator` table.
fn settings(a: &EmuTrainArgs) -> Result<TrainSettings> {
    let s = EmulatorSettings { npc: a.npc, explained: a.explained, kernel: a.kernel.unwrap_or_default(), restarts: a.restarts, seed: Some(a.seed) };
    Ok(s.check(0)?)
}

/// `seqcal emulator train`.
pub(super) fn train(a: &EmuTrainArgs) -> Result<()> {
    let settings = settings(a)?;
    let inputs = [&a.design, &a.outputs, &a.bounds].into_iter().chain(&a.output_errors).map(|p| file_of(p));
    Io::new().inputs(inputs).output(&a.output).check(a.force)?;
    let kernel = settings.kernel;
    let design = read_table_as(&a.design, &["design"])?;
    let outputs = read_table_as(&a.outputs, &["outputs"])?;
    let bounds_t = read_table_as(&a.bounds, &["bounds"])?;
    let bounds_lu = bounds_t.select(&["lower".to_string(), "upper".to_string()], "the bounds' columns")?;
    let errors = match &a.output_errors {
        Some(p) => {
            let t = read_table_as(p, &["output_errors"])?;
            let e = t.select(&outputs.header, &format!("the columns of {}", a.outputs.display()))?;
            if e.nrows() != outputs.data.nrows() {
                return Err(Error::Usage(format!(
                    "{}: the output errors have {} rows but {} has {}: one sd per output of each run",
                    p.display(),
                    e.nrows(),
                    a.outputs.display(),
                    outputs.data.nrows()
                )));
            }
            Some(e)
        }
        None => None,
    };
    let bounds: Vec<(f64, f64)> = bounds_lu.rows().into_iter().map(|r| (r[0], r[1])).collect();
    if design.data.nrows() != outputs.data.nrows() {
        return Err(Error::Usage(format!(
            "{} has {} runs but {} has {}: the rows must match",
            a.design.display(),
            design.data.nrows(),
            a.outputs.display(),
            outputs.data.nrows()
        )));
    }
    let t = std::time::Instant::now();
    let emu = GpEmulator::train_with_errors(design.data.view(), outputs.data.view(), errors.as_ref().map(|e| e.view()), &bounds, &settings)
        .context_with(|| format!("training on {} and {}", a.design.display(), a.outputs.display()))?
        .with_names(design.header, outputs.header);
    let fit_s = t.elapsed().as_secs_f64();
    let cv = match a.kfold {
        Some(k) => Some(val::kfold(design.data.view(), outputs.data.view(), &bounds, &settings, k).context_with(|| format!("--kfold {k}"))?),
        None => None,
    };
    write_text(&a.output, &emu.to_json()?)?;
    let comps = emu.components();
    if a.json {
        let j = serde_json::json!({"output": a.output, "fit_s": fit_s, "n_components": emu.n_components(), "explained": emu.explained_variance(), "kernel": kernel.name(), "components": comps, "kfold": cv});
        println!("{j}");
    } else {
        println!(
            "trained {} components ({:.4} of the variance), kernel {}, in {fit_s:.2} s -> {}",
            emu.n_components(),
            emu.explained_variance(),
            kernel.name(),
            a.output.display()
        );
        for (c, info) in comps.iter().enumerate() {
            let ls: Vec<String> = info.length_scales.iter().map(|l| format!("{l:.3}")).collect();
            println!(
                "  pc{:<3} length scales [{}]  signal {:.3}  noise {:.2e}  log ML {:.1}",
                c + 1,
                ls.join(", "),
                info.signal_variance,
                info.noise_variance,
                info.log_marginal_likelihood
            );
        }
        if let (Some(v), Some(k)) = (&cv, a.kfold) {
            println!(
                "{k}-fold cross-validation: rmse/sd {:.4}, 1-sd coverage {:.3}, 2-sd coverage {:.3} ({} runs)",
                v.rmse_std, v.coverage_1sd, v.coverage_2sd, v.n_points
            );
        }
    }
    Ok(())
}

/// Four significant digits: fixed-point in [0.001, 10⁴), else scientific, so a
/// small error does not print as zero.
fn four_digits(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if (1e-3..1e4).contains(&v.abs()) {
        format!("{v:.*}", (3 - v.abs().log10().floor() as i32).max(0) as usize)
    } else {
        format!("{v:.3e}")
    }
}

/// `seqcal emulator validate`.
pub(super) fn validate(a: &EmuValidateArgs) -> Result<()> {
    Io::new().input(&a.emulator).input(file_of(&a.design)).input(file_of(&a.outputs)).outputs(&a.output).check(a.force)?;
    let emu = load(&a.emulator)?;
    let design = read_table_as(&a.design, &["design_val", "design"])?.select(emu.input_names(), "the emulator's inputs")?;
    let outputs = read_table_as(&a.outputs, &["outputs_val", "outputs"])?.select(emu.output_names(), "the emulator's outputs")?;
    let v = val::holdout(&emu, design.view(), outputs.view()).context_with(|| format!("{} / {}", a.design.display(), a.outputs.display()))?;
    let json = serde_json::to_string_pretty(&v)?;
    if let Some(out) = &a.output {
        write_text(out, &json)?;
    }
    if a.json {
        println!("{json}");
        return Ok(());
    }
    let mut s = format!("{:<16} {:>10} {:>9} {:>9}\n", "output", "rmse/sd", "cover 1sd", "cover 2sd");
    for o in &v.outputs {
        let _ = writeln!(s, "{:<16} {:>10} {:>9.3} {:>9.3}", o.name, four_digits(o.rmse_std), o.coverage_1sd, o.coverage_2sd);
    }
    let _ = writeln!(
        s,
        "{:<16} {:>10} {:>9.3} {:>9.3}   ({} points; Gaussian: 0.683, 0.954)",
        "all",
        four_digits(v.rmse_std),
        v.coverage_1sd,
        v.coverage_2sd,
        v.n_points
    );
    print!("{s}");
    Ok(())
}

/// `seqcal emulator predict`.
pub(super) fn predict(a: &EmuPredictArgs) -> Result<()> {
    Io::new().input(&a.emulator).input(file_of(&a.points)).output(&a.output).check(a.force)?;
    let emu = load(&a.emulator)?;
    let pts = read_table_as(&a.points, &["points", "design"])?.select(emu.input_names(), "the emulator's inputs")?;
    let x = pts.view();
    let at = || a.points.display().to_string();
    let (mean, sd) = emu.predict_mean_sd(x).context_with(at)?;
    let names = emu.output_names();
    let o = names.len();
    let mut head: Vec<String> = names.iter().flat_map(|n| [format!("{n}_mean"), format!("{n}_sd")]).collect();
    let cov = if a.cov {
        head.extend((0..o).flat_map(|i| (i..o).map(move |j| format!("cov_{}_{}", i + 1, j + 1))));
        Some(emu.predict(x).context_with(at)?.cov)
    } else {
        None
    };
    let mut text = csv_line(head);
    for i in 0..x.nrows() {
        let mut row: Vec<String> = (0..o).flat_map(|j| [mean[(i, j)].to_string(), sd[(i, j)].to_string()]).collect();
        if let Some(c) = &cov {
            row.extend((0..o).flat_map(|j| (j..o).map(move |l| (j, l))).map(|(j, l)| c[(i, j, l)].to_string()));
        }
        text.push_str(&csv_line(row));
    }
    write_text(&a.output, &text)
}

/// `seqcal emulator example`.
pub(super) fn example(a: &EmuExampleArgs) -> Result<()> {
    use synthetic::heavy_ion;
    let heavy = match a.model.as_str() {
        "synthetic" => false,
        "heavy-ion" | "heavy_ion" => true,
        m => return Err(Error::Usage(format!("unknown model '{m}': use synthetic or heavy-ion"))),
    };
    let n_design = a.n_design.unwrap_or(if heavy { heavy_ion::N_DESIGN } else { 300 });
    let n_validation = a.n_validation.unwrap_or(if heavy { 100 } else { 200 });
    if n_design < 3 || n_validation < 1 {
        return Err(Error::Usage("need at least 3 design points and 1 validation point".into()));
    }
    let (p, o) = if heavy { (heavy_ion::PARAMS.len(), heavy_ion::OUTPUTS) } else { (synthetic::PARAMS.len(), synthetic::OUTPUTS) };
    // Inputs, outputs (noisy and true), errors, and the CSV text: ~40 bytes a value.
    let need = (n_design as u128 + n_validation as u128) * (p + o) as u128 * 40;
    seqcal_api::check_memory(format!("--n-design {n_design} and --n-validation {n_validation}"), need as f64, "ask for fewer points")
        .map_err(Error::from)?;
    let files: Vec<String> = if a.hdf5 {
        vec!["runs.h5".into()]
    } else {
        let mut t = vec!["design", "outputs", "design_val", "outputs_val", "bounds"];
        if heavy {
            t.push("output_errors");
        }
        t.iter().map(|n| format!("{n}.csv")).collect()
    };
    Io::new().outputs(in_dir(&a.output, &files.iter().map(String::as_str).collect::<Vec<_>>())?).check(a.force)?;
    std::fs::create_dir_all(&a.output).map_err(|e| Error::io(&a.output, e))?;
    let (pnames, onames, bounds_v): (Vec<String>, Vec<String>, Vec<(f64, f64)>) = if heavy {
        (heavy_ion::PARAMS.iter().map(|s| s.to_string()).collect(), heavy_ion::output_names(), heavy_ion::BOUNDS.to_vec())
    } else {
        (
            synthetic::PARAMS.iter().map(|s| s.to_string()).collect(),
            (1..=synthetic::OUTPUTS).map(|j| format!("y{j:02}")).collect(),
            synthetic::BOUNDS.to_vec(),
        )
    };
    let x = synthetic::latin_hypercube(n_design, &bounds_v, a.seed);
    let xv = synthetic::latin_hypercube(n_validation, &bounds_v, a.seed.wrapping_add(1));
    let bounds = Array2::from_shape_fn((bounds_v.len(), 2), |(d, k)| if k == 0 { bounds_v[d].0 } else { bounds_v[d].1 });
    // The heavy-ion runs carry statistical noise of known sd; its validation outputs are the noise-free truth.
    let (y, yv, err) = if heavy {
        let truth = heavy_ion::run(&x);
        let err = heavy_ion::errors(&truth);
        (heavy_ion::add_noise(&truth, &err, a.seed.wrapping_add(2)), heavy_ion::run(&xv), Some(err))
    } else {
        (synthetic::run(&x), synthetic::run(&xv), None)
    };
    let lu: Vec<String> = vec!["lower".into(), "upper".into()];
    let mut tables: Vec<(&str, &Array2<f64>, &[String])> = vec![
        ("design", &x, &pnames),
        ("outputs", &y, &onames),
        ("design_val", &xv, &pnames),
        ("outputs_val", &yv, &onames),
        ("bounds", &bounds, &lu),
    ];
    if let Some(e) = &err {
        tables.push(("output_errors", e, &onames));
    }
    if a.hdf5 {
        let path = a.output.join("runs.h5");
        write_hdf5_tables(&path, &tables)?;
        println!(
            "wrote {} with datasets {} ({n_design} runs, {n_validation} validation runs)",
            path.display(),
            tables.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")
        );
        return Ok(());
    }
    let table = |x: &Array2<f64>, head: &[String]| {
        let mut t = csv_line(head.iter().cloned());
        for r in x.rows() {
            t.push_str(&csv_line(r.iter().map(|v| format!("{v:.10}"))));
        }
        t
    };
    for (name, data, head) in &tables {
        write_text(&a.output.join(format!("{name}.csv")), &table(data, head))?;
    }
    println!(
        "wrote {} ({n_design} runs, {n_validation} validation runs) to {}",
        tables.iter().map(|t| format!("{}.csv", t.0)).collect::<Vec<_>>().join(", "),
        a.output.display()
    );
    Ok(())
}

//! `seqcal prior scan`: a grid of flow configurations ranked by the average KL
//! divergence between flow draws and held-out chain draws (Roch & Shen's
//! hyperparameter scan).

use std::path::{Path, PathBuf};

use clap::Args;
use ndarray::{Array2, Axis};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use seqcal_api::ParamSpace;
use seqcal_flow::prior::Draws;
use seqcal_flow::{FlowOptions, FlowPrior, TrainingDraws};

use super::burn::{print_notes, DiscardArg};
use super::flow_args::{parse_arch, parse_loss, LayerArgs};
use super::output::{in_dir, Io};
use crate::chain::{read_any, write_atomically};
use crate::diagnostics::KlSummary;
use crate::prior::chain_draws;
use crate::{Error, Result};

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
    /// Architectures to try: auto (nsf_coupling for one or two parameters, else realnvp), realnvp, maf, nsf_coupling, nsf_ar.
    #[arg(long, value_delimiter = ',', default_value = "auto", value_parser = parse_arch)]
    pub arch: Vec<seqcal_flow::Arch>,
    /// Numbers of flow layers to try, as pairs of even/odd couplings (the NF-prior paper's N).
    #[arg(long, value_delimiter = ',', default_value = "3")]
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
    /// Burn-in to drop.
    #[command(flatten)]
    pub discard: DiscardArg,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
    /// Overwrite the output folder's scan.json, scan.md and best model if they exist.
    #[arg(long)]
    pub force: bool,
}

/// One configuration's outcome.
#[derive(Debug, Serialize)]
struct Row {
    arch: String,
    loss: String,
    layers: usize,
    batch: usize,
    lr: f64,
    steps: usize,
    ms_per_step: f64,
    kl_1d: f64,
    kl_2d: f64,
    error: Option<String>,
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    write_atomically(path, |tmp| std::fs::write(tmp, text).map_err(|e| Error::io(path, e)))
}

pub(super) fn scan(a: &ScanArgs) -> Result<()> {
    // Every configuration of the grid, checked before anything is read or trained.
    let mut grid = Vec::new();
    for &arch in &a.arch {
        for &loss in &a.loss {
            for &layers in &a.layers {
                for &batch in &a.batch {
                    for &lr in &a.lr {
                        let mut o =
                            FlowOptions { arch, loss, layers, batch, lr, hidden: a.hidden, steps: a.steps, seed: a.seed, ..FlowOptions::default() };
                        a.layer.apply(&mut o);
                        grid.push(o.check()?);
                    }
                }
            }
        }
    }
    Io::new().input(&a.chain).outputs(in_dir(&a.output, &["scan.json", "scan.md", "best.safetensors", "best.json"])?).check(a.force)?;
    let full = read_any(&a.chain)?;
    let (discard, note) = a.discard.resolve(&a.chain, &full.attrs, full.iterations())?;
    if discard >= full.iterations() {
        return Err(Error::Usage(format!("--discard {discard} drops all {} iterations of {}", full.iterations(), a.chain.display())));
    }
    let chain = full.discard(discard);
    let space = ParamSpace::new(chain.names.clone(), chain.bounds.clone()).map_err(|e| Error::chain(&a.chain, e.to_string()))?;
    let d = TrainingDraws::from_chain(&chain_draws(&chain, a.chain.display().to_string(), &a.chain, discard))
        .map_err(|e| Error::chain(&a.chain, e.to_string()))?;
    let n = d.x.nrows();
    if n < 50 {
        return Err(Error::chain(&a.chain, format!("{n} usable draws: a scan needs at least 50")));
    }
    // Seeded split: 80% to train on, 20% held out (resampled by weight, if any) for the ranking.
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let (hold_idx, train_idx) = order.split_at(n / 5);
    let hold: Array2<f64> = match &d.weights {
        None => d.x.select(Axis(0), hold_idx),
        Some(w) => {
            let cum: Vec<f64> = hold_idx
                .iter()
                .scan(0.0, |acc, &i| {
                    *acc += w[i];
                    Some(*acc)
                })
                .collect();
            let total = cum.last().copied().unwrap_or(0.0);
            let picks: Vec<usize> = (0..hold_idx.len())
                .map(|_| hold_idx[cum.partition_point(|&c| c <= rng.random_range(0.0..total.max(f64::MIN_POSITIVE))).min(hold_idx.len() - 1)])
                .collect();
            d.x.select(Axis(0), &picks)
        }
    };
    let x = d.x.select(Axis(0), train_idx);
    let lp: Option<Vec<f64>> = d.log_prob.as_ref().map(|v| train_idx.iter().map(|&i| v[i]).collect());
    let w: Option<Vec<f64>> = d.weights.as_ref().map(|v| train_idx.iter().map(|&i| v[i]).collect());
    let draws = Draws { x: x.view(), log_prob: lp.as_deref(), weights: w.as_deref() };
    std::fs::create_dir_all(&a.output).map_err(|e| Error::io(&a.output, e))?;
    let mut rows = Vec::new();
    let mut best: Option<(f64, FlowPrior)> = None;
    let total = grid.len();
    for o in &grid {
        let (spec, why) = o.spec_for(space.dim());
        let loss = o.train.loss;
        let mut row = Row {
            arch: spec.kind.name().to_string(),
            loss: loss.name().to_string(),
            layers: spec.pairs,
            batch: o.train.batch,
            lr: o.train.lr,
            steps: 0,
            ms_per_step: f64::NAN,
            kl_1d: f64::NAN,
            kl_2d: f64::NAN,
            error: None,
        };
        match FlowPrior::train(space.clone(), o.bounded, &draws, &spec, &o.train) {
            Ok(mut prior) => {
                let m = prior.sidecar().metrics.clone().unwrap_or_default();
                let sample = prior.try_sample(&mut ChaCha8Rng::seed_from_u64(a.seed ^ 0x5eed), hold.nrows())?;
                let kl = KlSummary::compute(hold.view(), sample.view());
                (row.steps, row.ms_per_step, row.kl_1d, row.kl_2d) = (m.steps, m.ms_per_step, kl.mean_kl_1d, kl.mean_kl_2d);
                if best.as_ref().is_none_or(|(b, _)| kl.mean_kl_1d < *b) {
                    prior.set_chain_source(a.chain.display().to_string());
                    prior.set_arch_choice(why);
                    best = Some((kl.mean_kl_1d, prior));
                }
            }
            Err(e) => row.error = Some(e.to_string()),
        }
        if !a.quiet {
            eprintln!(
                "[{}/{total}] arch {}{} loss {} layers {} batch {} lr {:e}: KL 1-D {:.5}, 2-D {:.5}{}",
                rows.len() + 1,
                row.arch,
                if a.layer.lu { " + lu" } else { "" },
                row.loss,
                row.layers,
                row.batch,
                row.lr,
                row.kl_1d,
                row.kl_2d,
                row.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
            );
        }
        rows.push(row);
    }
    rows.sort_by(|p, q| p.kl_1d.total_cmp(&q.kl_1d).then(p.kl_2d.total_cmp(&q.kl_2d)));
    // NaN (failed) rows last.
    rows.sort_by_key(|r| r.kl_1d.is_nan());
    let floor = KlSummary::compute(hold.view(), x.slice(ndarray::s![..hold.nrows().min(x.nrows()), ..]).view());
    let json = serde_json::json!({ "chain": a.chain.display().to_string(), "held_out": hold.nrows(), "floor_kl_1d": floor.mean_kl_1d, "floor_kl_2d": floor.mean_kl_2d, "configurations": rows });
    let mut md = format!(
        "# Flow prior scan of {}\n\nRanked by average 1-D KL between flow draws and {} held-out draws (floor: 1-D {:.5}, 2-D {:.5}).\n\n| rank | arch | loss | layers | batch | lr | steps | ms/step | KL 1-D | KL 2-D | error |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
        a.chain.display(),
        hold.nrows(),
        floor.mean_kl_1d,
        floor.mean_kl_2d
    );
    for (i, r) in rows.iter().enumerate() {
        md.push_str(&format!(
            "| {} | {}{} | {} | {} | {} | {:e} | {} | {:.2} | {:.5} | {:.5} | {} |\n",
            i + 1,
            r.arch,
            if a.layer.lu { " + lu" } else { "" },
            r.loss,
            r.layers,
            r.batch,
            r.lr,
            r.steps,
            r.ms_per_step,
            r.kl_1d,
            r.kl_2d,
            r.error.as_deref().unwrap_or("")
        ));
    }
    let Some((_, prior)) = best else {
        let first = rows.first().and_then(|r| r.error.clone()).unwrap_or_default();
        return Err(Error::Flow { context: Some("no configuration trained".into()), source: seqcal_flow::FlowError::Invalid(first) });
    };
    prior.save(&a.output.join("best.safetensors"))?;
    write_atomic(&a.output.join("scan.json"), &serde_json::to_string_pretty(&json)?)?;
    write_atomic(&a.output.join("scan.md"), &md)?;
    print!("{md}");
    print_notes([&note]);
    Ok(())
}

//! `seqcal prior scan`: a grid of flow configurations ranked by the KL
//! divergence between flow draws and held-out chain draws, the paper's
//! `⟨D_KL⟩` or seqcal's average 1-D KL, each beside its two-sample floor
//! (Roch & Shen's hyperparameter scan, its table laid out as their Tables 2-3).

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
use crate::diagnostics::{paper_box, paper_kl, KlSummary, WeightedDraws};
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
    /// Architectures to try: auto (nsf_coupling for one parameter, else realnvp), realnvp, maf, nsf_coupling, nsf_ar.
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
    /// Rank by paper (Roch & Shen's <D_KL>: 75 bins over the prior box) or seqcal (average 1-D KL, then 2-D).
    #[arg(long, default_value = "paper", value_parser = parse_rank)]
    pub rank_by: RankBy,
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

/// The metric a scan ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RankBy {
    /// The paper's `⟨D_KL⟩`.
    Paper,
    /// seqcal's average 1-D KL (then 2-D).
    Seqcal,
}

fn parse_rank(s: &str) -> std::result::Result<RankBy, String> {
    match s {
        "paper" => Ok(RankBy::Paper),
        "seqcal" => Ok(RankBy::Seqcal),
        _ => Err(format!("unknown metric '{s}': paper or seqcal")),
    }
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
    /// seqcal's average 1-D KL.
    kl_1d: f64,
    /// seqcal's average 2-D KL (absent with one parameter).
    #[serde(skip_serializing_if = "Option::is_none")]
    kl_2d: Option<f64>,
    /// The paper's `⟨D_KL⟩`.
    d_kl: f64,
    /// The paper's mean 1-D KL.
    paper_kl_1d: f64,
    error: Option<String>,
}

impl Row {
    /// The number the scan ranks by (NaN for a configuration that failed).
    fn key(&self, by: RankBy) -> (f64, f64) {
        match by {
            RankBy::Paper => (self.d_kl, self.kl_1d),
            RankBy::Seqcal => (self.kl_1d, self.kl_2d.unwrap_or(0.0)),
        }
    }
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
    // The paper's box: the prior bounds, or the range of the chain's draws where there are none.
    let (bx, _) = paper_box(space.bounds(), &[WeightedDraws::new(d.x.view())]);
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
            kl_2d: None,
            d_kl: f64::NAN,
            paper_kl_1d: f64::NAN,
            error: None,
        };
        match FlowPrior::train(space.clone(), o.bounded, &draws, &spec, &o.train) {
            Ok(mut prior) => {
                let m = prior.sidecar().metrics.clone().unwrap_or_default();
                let sample = prior.try_sample(&mut ChaCha8Rng::seed_from_u64(a.seed ^ 0x5eed), hold.nrows())?;
                let kl = KlSummary::compute(hold.view(), sample.view());
                let paper = paper_kl(WeightedDraws::new(hold.view()), WeightedDraws::new(sample.view()), &bx);
                (row.steps, row.ms_per_step, row.kl_1d, row.kl_2d) = (m.steps, m.ms_per_step, kl.mean_kl_1d, kl.pairs_mean());
                (row.d_kl, row.paper_kl_1d) = (paper.d_kl, paper.mean_kl_1d);
                let key = row.key(a.rank_by).0;
                if best.as_ref().is_none_or(|(b, _)| key < *b) {
                    prior.set_chain_source(a.chain.display().to_string());
                    prior.set_arch_choice(why);
                    best = Some((key, prior));
                }
            }
            Err(e) => row.error = Some(e.to_string()),
        }
        if !a.quiet {
            eprintln!(
                "[{}/{total}] arch {}{} loss {} layers {} batch {} lr {:e}: <D_KL> {:.5}, KL 1-D {:.5}, 2-D {}{}",
                rows.len() + 1,
                row.arch,
                if a.layer.lu { " + lu" } else { "" },
                row.loss,
                row.layers,
                row.batch,
                row.lr,
                row.d_kl,
                row.kl_1d,
                absent(row.kl_2d),
                row.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
            );
        }
        rows.push(row);
    }
    let by = a.rank_by;
    rows.sort_by(|p, q| p.key(by).0.total_cmp(&q.key(by).0).then(p.key(by).1.total_cmp(&q.key(by).1)));
    // NaN (failed) rows last.
    rows.sort_by_key(|r| r.key(by).0.is_nan());
    // The floor: the same metrics between the held-out draws and as many training draws.
    let m = hold.nrows().min(x.nrows());
    let (xs, ws) = (x.slice(ndarray::s![..m, ..]), w.as_ref().map(|w| &w[..m]));
    let floor = KlSummary::compute_weighted(WeightedDraws::new(hold.view()), WeightedDraws::with_weights(xs, ws));
    let paper_floor = paper_kl(WeightedDraws::new(hold.view()), WeightedDraws::with_weights(xs, ws), &bx);
    let json = serde_json::json!({
        "chain": a.chain.display().to_string(),
        "held_out": hold.nrows(),
        "rank_by": by,
        "floor_kl_1d": floor.mean_kl_1d,
        "floor_kl_2d": floor.pairs_mean(),
        "floor_d_kl": paper_floor.d_kl,
        "paper_box": bx,
        "configurations": rows,
    });
    let md = scan_table(a, &rows, hold.nrows(), (floor.mean_kl_1d, floor.pairs_mean()), paper_floor.d_kl);
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

/// The scan's table, laid out as Roch & Shen's Tables 2-3 (layers, batch size,
/// learning rate, loss, `⟨D_KL⟩` and its floor), then seqcal's metric and the
/// rest, ranked by `a.rank_by`.
fn scan_table(a: &ScanArgs, rows: &[Row], held_out: usize, floor: (f64, Option<f64>), paper_floor: f64) -> String {
    let f2 = absent(floor.1);
    let mut md = format!(
        "# Flow prior scan of {}\n\nRanked by {} between flow draws and {held_out} held-out draws. \
         ⟨D_KL⟩: the paper's metric (75 bins per parameter, 75 x 75 per pair over the prior box, KL(held-out ‖ flow), (mean 1-D + mean 2-D) / 2); \
         floor: the same between the held-out draws and as many training draws (what sampling noise alone gives): ⟨D_KL⟩ {paper_floor:.5}, seqcal 1-D {:.5}, 2-D {f2}.\n\n\
         | rank | layers | batch | lr | loss | ⟨D_KL⟩ | floor | arch | steps | ms/step | KL 1-D | KL 2-D | error |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        a.chain.display(),
        match a.rank_by {
            RankBy::Paper => "the paper's ⟨D_KL⟩",
            RankBy::Seqcal => "seqcal's average 1-D KL",
        },
        floor.0,
    );
    for (i, r) in rows.iter().enumerate() {
        md.push_str(&format!(
            "| {} | {} | {} | {:e} | {} | {:.5} | {paper_floor:.5} | {}{} | {} | {:.2} | {:.5} | {} | {} |\n",
            i + 1,
            r.layers,
            r.batch,
            r.lr,
            r.loss,
            r.d_kl,
            r.arch,
            if a.layer.lu { " + lu" } else { "" },
            r.steps,
            r.ms_per_step,
            r.kl_1d,
            absent(r.kl_2d),
            r.error.as_deref().unwrap_or("")
        ));
    }
    md
}

/// A 2-D average to 5 decimals, or `absent` with one parameter.
fn absent(v: Option<f64>) -> String {
    v.map_or_else(|| "absent".into(), |v| format!("{v:.5}"))
}

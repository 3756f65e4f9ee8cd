//! `seqcal prior sample`, `list`, `train` and `eval`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use seqcal_api::{check_memory, Prior};
use seqcal_flow::{train_on_draws, FlowOptions, FlowPrior};

use super::box_arg::BoxArgs;
use super::burn::{print_notes, DiscardArg};
use super::flow_args::{parse_activation, parse_arch, parse_loss, parse_lr_schedule, LayerArgs};
use super::output::Io;
use super::scan_cmd::ScanArgs;
use crate::chain::{self, write_atomically, Chain};
use crate::prior::{chain_draws, load_prior_file, PriorRegistry};
use crate::{Error, Result, ResultExt};

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
        after_help = "Example:\n  seqcal prior train stage1.h5 --loss kl --layers 3 --batch 1000 --lr 1e-3 --steps 5000 -o prior.safetensors\n  seqcal prior train stage1.h5 --arch nsf_coupling --bins 8 --tail-bound 5 --lu -o prior.safetensors\n\nWrites prior.safetensors (weights) and prior.json (architecture, bounds, metrics, chain hash).\nUse it as `kind = \"flow\", model = \"prior.safetensors\"` or with `seqcal prior sample prior.safetensors`."
    )]
    Train(TrainArgs),
    /// Evaluate a flow prior's log density at the points of a CSV file.
    Eval(EvalArgs),
    /// Train a grid of flow configurations, rank them by average KL against held-out draws, keep the best.
    #[command(
        after_help = "Example:\n  seqcal prior scan chain.h5 --arch realnvp,nsf_coupling --batch 500,1000 --layers 1,3 --lr 1e-3,5e-4 --loss kl,nll --steps 2000 -o scan/\n\nWrites scan/scan.json, scan/scan.md and the best model scan/best.safetensors (+ best.json)."
    )]
    Scan(ScanArgs),
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
    /// Architecture: auto (nsf_coupling for one parameter, where RealNVP degenerates to one affine map; realnvp otherwise), realnvp (affine couplings), maf (masked affine autoregressive), nsf_coupling or nsf_ar (rational-quadratic splines).
    #[arg(long, default_value = "auto", value_parser = parse_arch)]
    pub arch: seqcal_flow::Arch,
    /// Flow layers N, as the NF-prior paper counts them: pairs of even/odd couplings (or of natural/reversed autoregressive orders), 2N transforms.
    #[arg(long, default_value_t = 3)]
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
    /// Stop when the held-out check (flow draws against held-out draws, average 1-D KL) reaches its two-sample floor or stops improving.
    #[arg(long)]
    pub stop_at_floor: bool,
    /// Random seed (initial weights, split, batches).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Burn-in to drop.
    #[command(flatten)]
    pub discard: DiscardArg,
    /// Keep every k-th iteration.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub thin: u64,
    /// The prior box, for a chain that does not carry it (every emcee-written chain): the flow then
    /// has no mass outside it.
    #[command(flatten)]
    pub bx: BoxArgs,
    /// Do not map bounded parameters through logit/log: the flow's support is then the whole space
    /// (its draws and its density both reach past the box, which the model does not keep).
    #[arg(long)]
    pub unbounded: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Overwrite the model and its sidecar if they exist.
    #[arg(long)]
    pub force: bool,
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
    /// Overwrite the output if it exists.
    #[arg(long)]
    pub force: bool,
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
    /// Overwrite the output if it exists.
    #[arg(long)]
    pub force: bool,
}

fn load_flow(path: &std::path::Path) -> Result<FlowPrior> {
    FlowPrior::load(path).context_with(|| "cannot load flow model".into())
}

pub(super) fn sample(a: &SampleArgs, registry: &PriorRegistry) -> Result<()> {
    let model_files = a.model.iter().flat_map(|m| [m.clone(), seqcal_flow::io::sidecar_path(m)]);
    Io::new().inputs(model_files).inputs(&a.config).output(&a.output).check(a.force)?;
    let (prior, source): (Box<dyn Prior>, String) = match (&a.model, &a.config) {
        (Some(m), None) => (Box::new(load_flow(m)?), m.display().to_string()),
        (None, Some(c)) => (load_prior_file(c, registry)?, c.display().to_string()),
        _ => return Err(Error::Usage("give either a flow MODEL or --config prior.toml, not both".into())),
    };
    let n = usize::try_from(a.n).unwrap_or(usize::MAX);
    // The draws, their log densities (twice) and the sampler's working copies.
    let bytes = a.n as f64 * (2.0 * prior.dim() as f64 + 4.0) * 8.0;
    check_memory(
        format!("{} draws of {} parameters", a.n, prior.dim()),
        bytes,
        "ask for fewer draws with -n, or draw several files with different --seed",
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let x = prior.sample(&mut rng, n);
    let mut lp = vec![0.0; n];
    prior.log_prob_batch(x.view(), &mut lp);
    let lp = Array2::from_shape_vec((n, 1), lp).expect("n log densities fill an n x 1 array");
    let mut attrs = BTreeMap::new();
    attrs.insert("sampler".into(), "prior (independent draws)".into());
    attrs.insert("prior".into(), prior.describe());
    attrs.insert("seed".into(), a.seed.to_string());
    attrs.insert("config".into(), source);
    // Independent draws: one walker, one draw per iteration, every draw "accepted".
    let c = Chain {
        names: prior.names().to_vec(),
        bounds: prior.bounds().to_vec(),
        draws: x.insert_axis(Axis(1)),
        log_prob: Some(lp.clone()),
        log_prior: Some(lp),
        log_likelihood: None,
        weights: None,
        accepted: Array1::from_elem(1, n as f64),
        attrs,
    };
    chain::write_any(&c, &a.output)?;
    eprintln!("wrote {n} draws of [{}] to {}", c.names.join(", "), a.output.display());
    Ok(())
}

pub(super) fn list(registry: &PriorRegistry) -> Result<()> {
    for (kind, summary) in registry.list() {
        println!("{kind:<18} {summary}");
        for k in registry.keys(kind) {
            let key = match &k.default {
                Some(d) => format!("{} = {d}", k.name),
                None => k.name.clone(),
            };
            println!("    {key:<26} {}", k.help);
        }
    }
    Ok(())
}

pub(super) fn train(a: &TrainArgs, registry: &PriorRegistry) -> Result<()> {
    if a.output.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        return Err(Error::Usage(format!(
            "{}: the model needs an extension other than .json (its sidecar is the .json), e.g. prior.safetensors",
            a.output.display()
        )));
    }
    Io::new().input(&a.chain).inputs(a.bx.inputs()).output(&a.output).output(seqcal_flow::io::sidecar_path(&a.output)).check(a.force)?;
    let mut opts = FlowOptions {
        loss: a.loss,
        layers: a.layers,
        hidden: a.hidden,
        depth: a.depth,
        activation: a.activation,
        arch: a.arch,
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        lr_schedule: a.lr_schedule,
        seed: a.seed,
        val_fraction: a.val_fraction,
        stop_at_floor: a.stop_at_floor,
        bounded: !a.unbounded,
        ..FlowOptions::default()
    };
    a.layer.apply(&mut opts);
    let mut checked = opts.check()?;
    checked.train.quiet = a.quiet;
    let full = chain::read_any(&a.chain)?;
    let (discard, note) = a.discard.resolve(&a.chain, &full.attrs, full.iterations())?;
    if discard >= full.iterations() {
        return Err(Error::Usage(format!("--discard {discard} drops all {} iterations of {}", full.iterations(), a.chain.display())));
    }
    let mut c = full.discard(discard).thin(usize::try_from(a.thin).unwrap_or(usize::MAX));
    let box_note = support(&mut c, a, registry)?;
    let draws = chain_draws(&c, a.chain.display().to_string(), &a.chain, discard);
    let prior = train_on_draws(&draws, None, &checked)?;
    prior.save(&a.output)?;
    let m = prior.sidecar().metrics.clone().unwrap_or_default();
    print_notes([&note, &box_note]);
    eprintln!(
        "trained on {} draws ({} held out): {} steps, {:.2} ms/step, best validation loss {}{}; wrote {} and {}",
        m.n_train,
        m.n_val,
        m.steps,
        m.ms_per_step,
        m.best_val_loss.map(|v| format!("{v:.5}")).unwrap_or_else(|| "-".into()),
        match (m.stopped_at_floor, m.stopped_on_plateau, m.stopped_early) {
            (true, _, _) => " (stopped: the held-out check reached its floor)".to_string(),
            (_, true, _) => " (stopped: the held-out check stopped improving)".to_string(),
            (_, _, true) => " (stopped early)".to_string(),
            _ => String::new(),
        } + &m.heldout_kl.zip(m.heldout_floor).map(|(k, f)| format!("; held-out check {k:.5}, floor {f:.5}")).unwrap_or_default(),
        a.output.display(),
        seqcal_flow::io::sidecar_path(&a.output).display()
    );
    Ok(())
}

/// Sets the chain's bounds to the support the flow is trained on: the box of
/// `--bounds`/`--bounds-from` over the chain's own, or the whole space with
/// `--unbounded`. Returns a note for the user where the flow's support is not
/// the chain's box.
///
/// # Errors
/// A draw outside the given box (the box or the chain is wrong: say which draw),
/// or a box naming parameters the chain does not hold.
fn support(c: &mut Chain, a: &TrainArgs, registry: &PriorRegistry) -> Result<Option<String>> {
    let bounds = a.bx.resolve(&c.names, &c.bounds, registry)?;
    let flat = c.flat();
    // Sides the command line changed (the chain's own bounds are checked by the training, with its messages);
    // draws past a side by rounding (1e-9 of the interval) are kept, as the training keeps them.
    for (j, ((&(lo, hi), name), &own)) in bounds.iter().zip(&c.names).zip(&c.bounds).enumerate() {
        if (lo, hi) == own {
            continue;
        }
        let slack = |b: f64| 1e-9 * if lo.is_finite() && hi.is_finite() { hi - lo } else { b.abs().max(1.0) };
        let (lo_cut, hi_cut) = (lo - slack(lo), hi + slack(hi));
        let col = flat.column(j);
        let out: Vec<(usize, f64)> = col.iter().copied().enumerate().filter(|(_, v)| *v < lo_cut || *v > hi_cut).collect();
        if let Some(&(i, v)) = out.first() {
            return Err(Error::chain(
                &a.chain,
                format!(
                    "{} of its {} draws of {name} lie outside the box [{lo}, {hi}] (the first: draw {i}, {v}): widen the box or drop those draws",
                    out.len(),
                    col.len()
                ),
            ));
        }
    }
    let open: Vec<&str> = bounds.iter().zip(&c.names).filter(|(b, _)| !b.0.is_finite() || !b.1.is_finite()).map(|(_, n)| n.as_str()).collect();
    c.bounds = bounds;
    if a.unbounded {
        let boxed = c.bounds.iter().any(|b| b.0.is_finite() || b.1.is_finite());
        c.bounds = vec![(f64::NEG_INFINITY, f64::INFINITY); c.dim()];
        return Ok(boxed.then(|| {
            "--unbounded: the flow's support is the whole space; its draws and its density reach past the box, which the model does not keep"
                .to_string()
        }));
    }
    Ok((!open.is_empty()).then(|| {
        format!(
            "the flow's support is unbounded in [{}] (the chain carries no bounds for them{}): give the prior box with --bounds or --bounds-from to keep the flow inside it",
            open.join(", "),
            if a.bx.given() { " and the box given does not name them" } else { "" }
        )
    }))
}

/// Reads points from a CSV with a header naming the model's parameters (any order).
fn read_points(path: &std::path::Path, names: &[String]) -> Result<Array2<f64>> {
    crate::table::read_table(path)?.select(names, "the model's parameters")
}

pub(super) fn eval(a: &EvalArgs) -> Result<()> {
    Io::new().input(&a.model).input(seqcal_flow::io::sidecar_path(&a.model)).input(&a.points).outputs(&a.output).check(a.force)?;
    let prior = load_flow(&a.model)?;
    let x = read_points(&a.points, prior.names())?;
    let lp = prior.log_prob_checked(x.view()).context_with(|| a.model.display().to_string())?;
    if lp.iter().all(|v| *v == f64::NEG_INFINITY) {
        eprintln!("warning: every point of {} lies outside the flow's support (its bounds: {})", a.points.display(), bounds_text(&prior));
    }
    let mut text = String::from("log_prob\n");
    for v in &lp {
        text.push_str(&format!("{v:e}\n"));
    }
    match &a.output {
        None => print!("{text}"),
        Some(out) => write_atomically(out, |tmp| std::fs::write(tmp, &text).map_err(|e| Error::io(out, e)))?,
    }
    Ok(())
}

fn bounds_text(prior: &FlowPrior) -> String {
    prior.names().iter().zip(prior.bounds()).map(|(n, (l, u))| format!("{n} in [{l}, {u}]")).collect::<Vec<_>>().join(", ")
}

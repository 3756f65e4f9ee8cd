//! The ensemble's state and one step of the sampler.

use nalgebra::DMatrix;
use ndarray::{s, Array2};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seqcal_api::DensityError;

use super::hyperparams::{EnsembleSettings, MoveKind};
use super::moves::{centered, log_uniform, propose, Complement};
use crate::chain::SamplerState;
use crate::sampler::posterior::{Evaluation, Posterior, Scratch};
use crate::{Error, Result};

/// `kind` of the [`SamplerState`] this sampler stores.
pub const STATE_KIND: &str = "ensemble-v1";

/// Walkers, their log densities and random streams.
#[derive(Debug)]
pub struct Ensemble {
    x: Array2<f64>,
    eval: Vec<Evaluation>,
    rngs: Vec<ChaCha8Rng>,
    master: ChaCha8Rng,
    weights: Vec<f64>,
    moves: Vec<MoveKind>,
    // Buffers reused every step.
    q: Array2<f64>,
    factor: Vec<f64>,
    centered: Array2<f64>,
    split: Vec<usize>,
    half_of: Vec<u8>,
    active: Vec<usize>,
    comp: Vec<usize>,
    scratch: Scratch,
    new_evals: Vec<Evaluation>,
}

/// What one step did.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// Which walkers accepted their proposal.
    pub accepted: Vec<bool>,
    /// Index of the move used (into the settings' list).
    pub move_index: usize,
}

fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

impl Ensemble {
    /// Starts an ensemble at `x0` (`walkers × dim`, sampler coordinates).
    ///
    /// # Errors
    /// Settings that fail their check, a degenerate ensemble (walkers in a
    /// lower-dimensional subspace: covariance condition number above 1e8, as
    /// emcee checks), a walker where the posterior is zero or cannot be
    /// evaluated, or a fatal density error.
    pub fn new(x0: Array2<f64>, posterior: &Posterior, settings: &EnsembleSettings, seed: u64) -> Result<Self> {
        let (w, d) = x0.dim();
        settings.check(d)?;
        if w != settings.walkers {
            return Err(Error::Usage(format!("{w} initial positions for {} walkers", settings.walkers)));
        }
        if d != posterior.dim() {
            return Err(Error::Usage(format!("initial positions have {d} parameters, the posterior {}", posterior.dim())));
        }
        if let Some(((k, j), v)) = x0.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::Usage(format!("initial position of walker {k}, parameter {j} is {v}")));
        }
        check_not_degenerate(&x0)?;
        let eval = posterior.evaluate(x0.view()).map_err(fatal)?;
        if let Some(k) = eval.iter().position(|e| !e.log_post.is_finite()) {
            let point: Vec<String> = x0.row(k).iter().map(|v| format!("{v:.6}")).collect();
            return Err(Error::Usage(format!(
                "walker {k} starts where the posterior is zero or cannot be evaluated (log prior {}, log likelihood {}) at [{}]: start the walkers inside the support",
                eval[k].log_prior,
                eval[k].log_lik,
                point.join(", ")
            )));
        }
        let rngs = (0..w as u64).map(|k| stream_rng(seed, k)).collect();
        let master = stream_rng(seed, w as u64);
        Ok(Self::assemble(x0, eval, rngs, master, settings))
    }

    fn assemble(x: Array2<f64>, eval: Vec<Evaluation>, rngs: Vec<ChaCha8Rng>, master: ChaCha8Rng, settings: &EnsembleSettings) -> Self {
        let (w, d) = x.dim();
        let total: f64 = settings.moves.iter().map(|m| m.weight).sum();
        Ensemble {
            x,
            eval,
            rngs,
            master,
            weights: settings.moves.iter().map(|m| m.weight / total).collect(),
            moves: settings.moves.iter().map(|m| m.kind).collect(),
            q: Array2::zeros((w.div_ceil(2), d)),
            factor: vec![0.0; w.div_ceil(2)],
            centered: Array2::zeros((0, d)),
            split: (0..w).collect(),
            half_of: vec![0; w],
            active: Vec::with_capacity(w),
            comp: Vec::with_capacity(w),
            scratch: Scratch::default(),
            new_evals: Vec::with_capacity(w),
        }
    }

    /// Walker positions (`walkers × dim`).
    pub fn positions(&self) -> &Array2<f64> {
        &self.x
    }

    /// Log densities of the walkers.
    pub fn evaluations(&self) -> &[Evaluation] {
        &self.eval
    }

    /// One step: choose a move, split the walkers at random into two halves,
    /// and update each half against the other.
    ///
    /// # Errors
    /// A fatal density error; the ensemble is then unchanged for the half
    /// that failed.
    pub fn step(&mut self, posterior: &Posterior) -> Result<StepReport> {
        let w = self.x.nrows();
        // Move choice and the random split come from the master stream.
        let u: f64 = self.master.random();
        let mut move_index = self.weights.len() - 1;
        let mut acc = 0.0;
        for (i, p) in self.weights.iter().enumerate() {
            acc += p;
            if u < acc {
                move_index = i;
                break;
            }
        }
        let kind = self.moves[move_index];
        // Fisher-Yates shuffle of the walker indices, from the identity each
        // step so that the split depends only on the random stream (a resumed
        // run must make the same splits); the first half is one set.
        for (i, v) in self.split.iter_mut().enumerate() {
            *v = i;
        }
        for i in (1..w).rev() {
            let j = self.master.random_range(0..=i);
            self.split.swap(i, j);
        }
        let half = w / 2;
        for (pos, &k) in self.split.iter().enumerate() {
            self.half_of[k] = u8::from(pos >= half);
        }
        let mut accepted = vec![false; w];
        for part in 0..2 {
            // Both sets in walker order: which walker sits where in a half
            // does not depend on the shuffle's details.
            self.active.clear();
            self.comp.clear();
            for k in 0..w {
                if (self.half_of[k] == 0) == (part == 0) {
                    self.active.push(k);
                } else {
                    self.comp.push(k);
                }
            }
            if let MoveKind::Walk = kind {
                centered(&self.x, &self.comp, &mut self.centered);
            }
            let n = self.active.len();
            {
                let c = Complement { x: &self.x, idx: &self.comp, centered: &self.centered };
                let d = self.x.ncols();
                let q = self.q.as_slice_mut().expect("the proposal buffer is a standard-layout array");
                let xs = self.x.as_slice().expect("walker positions are a standard-layout array");
                for (r, &k) in self.active.iter().enumerate() {
                    self.factor[r] = propose(kind, &xs[k * d..(k + 1) * d], &c, &mut self.rngs[k], &mut q[r * d..(r + 1) * d]);
                }
            }
            posterior.evaluate_into(self.q.slice(s![..n, ..]), &mut self.scratch, &mut self.new_evals).map_err(fatal)?;
            for (r, &k) in self.active.iter().enumerate() {
                let log_u = log_uniform(&mut self.rngs[k]);
                let new = self.new_evals[r];
                if new.log_post.is_finite() && self.factor[r] + new.log_post - self.eval[k].log_post > log_u {
                    let d = self.x.ncols();
                    let (xs, qs) = (self.x.as_slice_mut().expect("standard layout"), self.q.as_slice().expect("standard layout"));
                    xs[k * d..(k + 1) * d].copy_from_slice(&qs[r * d..(r + 1) * d]);
                    self.eval[k] = new;
                    accepted[k] = true;
                }
            }
        }
        Ok(StepReport { accepted, move_index })
    }

    /// Moves walkers stranded far below the ensemble onto other walkers.
    ///
    /// A walker whose log posterior lies more than `d/2 + 10 √(d/2) + 10`
    /// below the ensemble's median (far beyond what the χ²_d spread of a
    /// posterior allows) sits in a minor mode it cannot leave: stretch and
    /// DE moves only reach points on lines through other walkers. It is
    /// placed on a walker chosen at random (with its own random stream) among
    /// the others. This breaks detailed balance, so it is for burn-in only
    /// (`--relocate-stuck N` applies it every 50 steps of the first N).
    /// Returns how many walkers moved.
    pub fn relocate_stuck(&mut self) -> usize {
        let stranded = self.stranded();
        let w = self.x.nrows();
        let good: Vec<usize> = (0..w).filter(|k| !stranded.contains(k)).collect();
        if good.is_empty() {
            return 0;
        }
        for &k in &stranded {
            let j = good[self.rngs[k].random_range(0..good.len())];
            let row = self.x.row(j).to_owned();
            self.x.row_mut(k).assign(&row);
            self.eval[k] = self.eval[j];
        }
        stranded.len()
    }

    /// Walkers whose log posterior lies more than `d/2 + 10 √(d/2) + 10`
    /// below the ensemble's median: stranded in a minor mode.
    pub fn stranded(&self) -> Vec<usize> {
        let w = self.x.nrows();
        let d = self.x.ncols() as f64;
        let mut lp: Vec<f64> = self.eval.iter().map(|e| e.log_post).collect();
        lp.sort_by(f64::total_cmp);
        let cut = lp[w / 2] - (d / 2.0 + 10.0 * (d / 2.0).sqrt() + 10.0);
        (0..w).filter(|&k| self.eval[k].log_post < cut).collect()
    }

    /// The full state, for checkpoints (`iteration` and `accepted` are the
    /// caller's to fill).
    pub fn state(&self) -> SamplerState {
        let w = self.x.nrows();
        let values = Array2::from_shape_fn((w, 3), |(k, j)| match j {
            0 => self.eval[k].log_post,
            1 => self.eval[k].log_prior,
            _ => self.eval[k].log_lik,
        });
        let rng = Array2::from_shape_fn((w + 1, 3), |(k, j)| {
            let r = if k < w { &self.rngs[k] } else { &self.master };
            let pos = r.get_word_pos();
            match j {
                0 => r.get_stream(),
                1 => pos as u64,
                _ => (pos >> 64) as u64,
            }
        });
        SamplerState {
            kind: STATE_KIND.into(),
            positions: self.x.clone(),
            values,
            rng,
            iteration: 0,
            accepted: ndarray::Array1::zeros(w),
            blob: Vec::new(),
        }
    }

    /// Restores an ensemble from a checkpoint written with the same seed and settings.
    ///
    /// # Errors
    /// A state of another kind or shape.
    pub fn from_state(st: &SamplerState, settings: &EnsembleSettings, seed: u64) -> Result<Self> {
        let (w, _) = st.positions.dim();
        let refuse = |m: String| Err(Error::Usage(format!("cannot resume: the stored sampler state {m}; start over with --force")));
        if st.kind != STATE_KIND {
            return refuse(format!("was written by sampler {:?}, not by this ensemble sampler ({STATE_KIND})", st.kind));
        }
        if w != settings.walkers || st.values.dim() != (w, 3) || st.rng.dim() != (w + 1, 3) {
            return refuse(format!(
                "holds {w} walkers ({} x {} values, {} x {} random streams) but this run has {} walkers",
                st.values.nrows(),
                st.values.ncols(),
                st.rng.nrows(),
                st.rng.ncols(),
                settings.walkers
            ));
        }
        if (0..=w).any(|k| st.rng[[k, 0]] != k as u64) {
            return refuse("has random streams out of order (each walker has its own stream, numbered as the walker)".into());
        }
        let eval = (0..w).map(|k| Evaluation { log_post: st.values[[k, 0]], log_prior: st.values[[k, 1]], log_lik: st.values[[k, 2]] }).collect();
        let restore = |k: usize| {
            let mut r = stream_rng(seed, st.rng[[k, 0]]);
            r.set_word_pos(st.rng[[k, 1]] as u128 | ((st.rng[[k, 2]] as u128) << 64));
            r
        };
        let rngs = (0..w).map(restore).collect();
        let master = restore(w);
        Ok(Self::assemble(st.positions.clone(), eval, rngs, master, settings))
    }
}

fn fatal(e: DensityError) -> Error {
    Error::Density(e)
}

/// emcee's check: the walkers' covariance must be well conditioned, or the
/// affine-invariant moves cannot leave the subspace the walkers span.
fn check_not_degenerate(x: &Array2<f64>) -> Result<()> {
    let (w, d) = x.dim();
    let mean: Vec<f64> = (0..d).map(|j| x.column(j).sum() / w as f64).collect();
    let cov = DMatrix::from_fn(d, d, |i, j| (0..w).map(|k| (x[[k, i]] - mean[i]) * (x[[k, j]] - mean[j])).sum::<f64>() / (w as f64 - 1.0).max(1.0));
    if cov.iter().any(|v| !v.is_finite()) {
        return Err(Error::Usage(
            "the initial walkers are spread too widely (their covariance overflows to infinity): start them in a narrower range, or use a narrower prior".into(),
        ));
    }
    let sv = cov.singular_values();
    let (max, min) = (sv.max(), sv.min());
    if min.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || max / min > 1e8 {
        return Err(Error::Usage(format!(
            "the initial walkers are degenerate (they lie in a lower-dimensional subspace; covariance condition number {:.3e} > 1e8): start them spread in every parameter",
            if min > 0.0 { max / min } else { f64::INFINITY }
        )));
    }
    Ok(())
}

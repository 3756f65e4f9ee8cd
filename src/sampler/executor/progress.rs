//! The progress bar: steps (of the planned number, when known), the step's
//! named fields and, for a sampler that writes rows, a running
//! autocorrelation time.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::sampler::contract::Field;

/// A progress bar on standard error, or nothing when not on a terminal.
pub(super) struct Progress {
    bar: Option<ProgressBar>,
    steps: usize,
    last: bool,
}

impl Progress {
    /// `show` on a terminal only; `done` steps made before, `to_run` planned now.
    pub(super) fn new(show: bool, done: usize, to_run: Option<usize>) -> Self {
        let bar = (show && std::io::stderr().is_terminal()).then(|| {
            let (b, template) = match to_run {
                Some(n) => (
                    ProgressBar::new((done + n) as u64).with_position(done as u64),
                    "{elapsed_precise} [{bar:40}] {pos}/{len} steps ({per_sec}, eta {eta}) {msg}",
                ),
                None => (ProgressBar::new_spinner().with_position(done as u64), "{elapsed_precise} {spinner} step {pos} {msg}"),
            };
            b.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
            b
        });
        Progress { bar, steps: 0, last: false }
    }

    /// After a step: its fields, every 50 steps for a long run, and the rows so far.
    pub(super) fn step(&mut self, fields: &[Field], draws: Option<(&[f64], usize, usize, usize)>) {
        let Some(b) = &self.bar else { return };
        b.inc(1);
        let every = if b.length().is_some_and(|l| l > 500) { 50 } else { 1 };
        self.last = b.length().is_some_and(|l| b.position() >= l);
        if self.steps % every == 0 || self.last {
            let mut msg: Vec<String> = fields.iter().map(|(k, v)| format!("{k} {}", short(*v))).collect();
            if let Some((d, n, w, dim)) = draws {
                msg.extend(running_tau(d, n, w, dim));
            }
            b.set_message(msg.join(", "));
        }
        self.steps += 1;
    }

    /// Leaves the bar where it stopped (an interruption).
    pub(super) fn abandon(&mut self) {
        if let Some(b) = self.bar.take() {
            b.abandon();
        }
    }

    /// Clears the bar at the end.
    pub(super) fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// A number in a few characters: integers as integers, others with 3 significant digits.
fn short(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// "tau ~ 80 steps" from the draws so far (largest over parameters), once there are enough.
fn running_tau(draws: &[f64], n: usize, w: usize, d: usize) -> Option<String> {
    if n < 100 {
        return None;
    }
    let view = ndarray::ArrayView3::from_shape((n, w, d), &draws[..n * w * d]).ok()?;
    let t = crate::diagnostics::integrated_time(view, 5.0, 50.0);
    let max = t.tau.iter().copied().fold(0.0, f64::max);
    Some(format!("tau ~ {max:.1} steps{}", if t.too_short { " (chain < 50 tau)" } else { "" }))
}

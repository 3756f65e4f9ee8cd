//! TSFB on a [`CompositeTarget`]: its sample-based components' pools as
//! independence proposals, the conjugate population mean where the terms
//! give one, a random walk for every other coordinate.

use ndarray::Array2;

use super::mwg::{sweep, Conjugate, PoolBlock};
use super::native::{recognize, AnalyticPart, Known};
use super::TsfbSettings;
use crate::error::{Result, TwoStageError};
use crate::stage1::SampleComponent;
use crate::target::{Combination, CompositeTarget, Role};

/// What a TSFB run gives.
#[derive(Debug, Clone)]
pub struct TsfbResult {
    /// The draws after burn-in, one row per sweep, columns in the target's order.
    pub draws: Array2<f64>,
    /// Acceptance after burn-in of each move, named in `moves`.
    pub acceptance: Vec<f64>,
    /// The moves: one per sample-based component (its label), then one per
    /// random-walk coordinate (its name); a conjugate draw always accepts and
    /// is not listed.
    pub moves: Vec<String>,
    /// The coordinate drawn exactly from its conditional, if any.
    pub conjugate: Option<String>,
}

/// Runs TSFB on `target` with `pools[i]` the draws of sample-based
/// component `i` (columns named as target coordinates).
///
/// # Errors
/// A mixture combination, components on overlapping coordinates, a pool
/// missing, empty or with columns that are not its component's coordinates,
/// or `burn >= iterations`.
pub fn run_tsfb(target: &CompositeTarget, pools: &[SampleComponent], s: &TsfbSettings) -> Result<TsfbResult> {
    if let Combination::Mixture { .. } = target.combination() {
        return Err(TwoStageError::invalid("TSFB needs the product combination: a mixture of components has no Gibbs blocks"));
    }
    if s.burn >= s.iterations {
        return Err(TwoStageError::invalid(format!("TSFB: the burn-in ({}) must be below the iterations ({})", s.burn, s.iterations)));
    }
    let names = target.names();
    let dim = names.len();
    if pools.len() != target.components() {
        return Err(TwoStageError::invalid(format!("TSFB: {} pools given for {} sample-based components", pools.len(), target.components())));
    }
    let mut owner: Vec<Option<usize>> = vec![None; dim];
    let mut blocks = Vec::with_capacity(pools.len());
    let mut labels = Vec::new();
    for f in target.factors() {
        let Role::Sample { component } = f.role else { continue };
        let pool = &pools[component];
        if pool.draws.nrows() == 0 {
            return Err(TwoStageError::invalid(format!("TSFB: the pool of component {} is empty", pool.label)));
        }
        let mut coords = Vec::with_capacity(pool.names.len());
        for n in &pool.names {
            let Some(c) = names.iter().position(|m| m == n) else {
                return Err(TwoStageError::invalid(format!("TSFB: the pool of {} has a column {n} that is no coordinate of the target", pool.label)));
            };
            coords.push(c);
        }
        let mut want = f.coords.clone();
        let mut got = coords.clone();
        want.sort_unstable();
        got.sort_unstable();
        if want != got || pool.draws.ncols() != coords.len() {
            return Err(TwoStageError::invalid(format!("TSFB: the pool of {} does not hold exactly its component's coordinates", pool.label)));
        }
        for &c in &coords {
            if let Some(other) = owner[c] {
                return Err(TwoStageError::invalid(format!(
                    "TSFB needs components on disjoint coordinates: {} is in components {} and {}",
                    names[c], pools[other].label, pool.label
                )));
            }
            owner[c] = Some(component);
        }
        labels.push(pool.label.clone());
        blocks.push(PoolBlock { coords, draws: pool.draws.view() });
    }
    let conjugate = find_conjugate(target, &owner);
    let walk: Vec<usize> = (0..dim).filter(|&c| owner[c].is_none() && conjugate.as_ref().is_none_or(|g| g.gamma != c)).collect();
    let part = AnalyticPart::new(target);
    let mut buf = Vec::new();
    let cell = std::cell::RefCell::new(&mut buf);
    let log_h = |x: &[f64]| part.eval(x, &mut cell.borrow_mut());
    let start: Vec<f64> = target.support().iter().map(|&(l, u)| start_value(l, u)).collect();
    let out = sweep(&log_h, &start, &blocks, conjugate.as_ref(), &walk, s.iterations, s.burn, s.seed);
    let moves = labels.into_iter().chain(walk.iter().map(|&c| names[c].clone())).collect();
    Ok(TsfbResult { draws: out.draws, acceptance: out.acceptance, moves, conjugate: conjugate.map(|g| names[g.gamma].clone()) })
}

/// A start inside `(l, u)`: 0 where allowed, else near the finite end(s).
fn start_value(l: f64, u: f64) -> f64 {
    match (l.is_finite(), u.is_finite()) {
        (true, true) => 0.5 * (l + u),
        (true, false) => l.max(0.0) + 1.0,
        (false, true) => u.min(0.0) - 1.0,
        (false, false) => 0.0,
    }
}

/// The population mean of a hierarchical normal whose every other term is
/// a 1-D normal or flat term on it alone, and which no component covers.
fn find_conjugate(target: &CompositeTarget, owner: &[Option<usize>]) -> Option<Conjugate> {
    let factors = target.factors();
    for f in factors {
        if f.role != Role::Analytic {
            continue;
        }
        let Some(Known::Hierarchical(h)) = recognize(&f.density) else { continue };
        let gamma = *f.coords.last()?;
        if owner[gamma].is_some() {
            continue;
        }
        let mut prior = None;
        let mut ok = true;
        for g in factors.iter().filter(|g| !std::ptr::eq(*g, f) && g.coords.contains(&gamma)) {
            match (g.role, g.coords.len(), recognize(&g.density)) {
                (Role::Analytic, 1, Some(Known::Flat)) => {}
                (Role::Analytic, 1, Some(Known::Normal(n))) if prior.is_none() => prior = Some((n.mean[0], n.sd[0])),
                _ => ok = false,
            }
        }
        if ok {
            return Some(Conjugate { gamma, thetas: f.coords[..h.k].to_vec(), tau: h.tau, prior });
        }
    }
    None
}

//! The one builder of every flow architecture: from a [`FlowSpec`] it decides
//! the layers and their order ([`plan`]), the parameters and their shapes
//! ([`param_shapes`], names from [`crate::params`]), their initial values
//! ([`init`]) and the candle layers reading them ([`build`]). RealNVP is built
//! here like every other kind; the f64 evaluator [`crate::fast`] follows the
//! same plan.
//!
//! ```text
//! base -> T_0 [-> LU_0] -> T_1 [-> ActNorm_0] [-> LU_1] -> T_2 ... -> T_{2N-1} [-> ActNorm_{N-1}] -> L -> data
//! ```
//!
//! `T_k` is the kind's transform (even/odd masks or natural/reversed
//! autoregressive orders alternating with `k`), an LU layer sits between
//! consecutive transforms when `lu` is set, an ActNorm after each pair when
//! `actnorm` is set, and the final scale-and-shift `L` starts at the data's
//! mean and sd.
//!
//! A new architecture is a new [`FlowKind`], its transform in [`build_slot`]
//! and its networks' parameters in [`init`] and [`param_shapes`].

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use rand::Rng;

use crate::error::{FlowError, Result};
use crate::layers::{
    parity_mask, ActNorm, AffineCoupling, ElementwiseAffine, Layer, LuLinear, Made, MaskedAffine, Mlp, SplineAutoregressive, SplineCoupling,
};
use crate::params::{self, Params};
use crate::spec::{spline_params, FlowKind, FlowSpec};

/// One layer of the plan, base → data order (the final `L` is implicit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The kind's `k`-th transform.
    Transform(usize),
    /// LU layer after transform `k`.
    Lu(usize),
    /// ActNorm after pair `p`.
    ActNorm(usize),
}

/// The layers of `spec` in the base → data order, without the final `L`.
pub fn plan(spec: &FlowSpec) -> Vec<Slot> {
    let n = 2 * spec.pairs;
    let mut out = Vec::new();
    for k in 0..n {
        out.push(Slot::Transform(k));
        if spec.actnorm && k % 2 == 1 {
            out.push(Slot::ActNorm(k / 2));
        }
        if spec.lu && k + 1 < n {
            out.push(Slot::Lu(k));
        }
    }
    out
}

/// Autoregressive order of transform `k`: natural for even `k`, reversed for odd.
fn order(dim: usize, k: usize) -> Vec<usize> {
    if k % 2 == 0 {
        (0..dim).collect()
    } else {
        (0..dim).rev().collect()
    }
}

/// Every parameter of `spec` with its shape, in plan order (`L` last).
pub fn param_shapes(spec: &FlowSpec) -> Vec<(String, Vec<usize>)> {
    let d = spec.dim;
    let sizes = spec.net_sizes();
    let affine = |prefix: &str| [(params::loc(prefix), vec![1, d]), (params::log_scale(prefix), vec![1, d])];
    let mut out = Vec::new();
    for slot in plan(spec) {
        match slot {
            Slot::Transform(k) => {
                let net = params::transform(spec.kind, k);
                for (j, w) in sizes.windows(2).enumerate() {
                    out.push((params::weight(&net, j), vec![w[0], w[1]]));
                    out.push((params::bias(&net, j), vec![w[1]]));
                }
            }
            Slot::Lu(k) => out.extend(params::lu_parts(&params::lu(k), d)),
            Slot::ActNorm(p) => out.extend(affine(&params::actnorm(p))),
        }
    }
    out.extend(affine(params::OUTPUT));
    out
}

/// Checks that `params` are exactly the parameters of `spec`: no tensor
/// missing, none extra, each of its shape, every value finite. The count is
/// compared first, so a spec claiming absurd sizes is refused before anything
/// is allocated for it.
///
/// # Errors
/// What does not match, by tensor name.
pub fn check_params(spec: &FlowSpec, params: &Params) -> Result<()> {
    spec.check()?;
    let have: usize = params.values().map(|t| t.elem_count()).sum();
    if spec.n_params() != have as f64 {
        return Err(FlowError::invalid(format!(
            "the weights hold {have} numbers but the architecture in the sidecar ({} layers of {}, hidden {}x{}, {} parameters) has {}: the weights and the sidecar do not belong together",
            2 * spec.pairs,
            spec.kind,
            spec.depth,
            spec.hidden,
            spec.dim,
            spec.n_params()
        )));
    }
    let want = param_shapes(spec);
    for (name, shape) in &want {
        let t = params::get(params, name)?;
        if t.dims() != shape.as_slice() {
            return Err(FlowError::invalid(format!("flow tensor {name:?} has shape {:?} but the sidecar's architecture needs {shape:?}", t.dims())));
        }
    }
    if params.len() != want.len() {
        let mut extra: Vec<&String> = params.keys().filter(|k| !want.iter().any(|(n, _)| n == *k)).collect();
        extra.sort();
        return Err(FlowError::invalid(format!("the weights hold tensors the architecture does not have: {extra:?}")));
    }
    for (name, t) in params {
        let v: Vec<f64> = t.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
        if v.iter().any(|x| !x.is_finite()) {
            return Err(FlowError::invalid(format!(
                "flow tensor {name:?} holds non-finite values (NaN or inf): the model is broken; train it again"
            )));
        }
    }
    Ok(())
}

/// The candle layer of one slot.
fn build_slot(spec: &FlowSpec, params: &Params, slot: Slot, dtype: DType, device: &Device) -> Result<Box<dyn Layer>> {
    let d = spec.dim;
    Ok(match slot {
        Slot::ActNorm(p) => Box::new(ActNorm::load(params, &params::actnorm(p))?),
        Slot::Lu(k) => Box::new(LuLinear::load(params, &params::lu(k), dtype, device)?),
        Slot::Transform(k) => {
            let net = params::transform(spec.kind, k);
            match spec.kind {
                FlowKind::Realnvp => {
                    let mlp = Mlp::load(params, &net, spec.depth, spec.activation)?;
                    Box::new(AffineCoupling::new(&parity_mask(d, k % 2), mlp, spec.clamp, dtype, device)?)
                }
                FlowKind::Maf => {
                    let made = Made::load(params, &net, d, 2, spec.depth, spec.activation, &order(d, k), dtype, device)?;
                    Box::new(MaskedAffine::new(made, spec.clamp))
                }
                FlowKind::NsfCoupling => {
                    let mlp = Mlp::load(params, &net, spec.depth, spec.activation)?;
                    Box::new(SplineCoupling::new(&parity_mask(d, k % 2), mlp, spec.bins, spec.tail_bound, dtype, device)?)
                }
                FlowKind::NsfAr => {
                    let made = Made::load(params, &net, d, spline_params(spec.bins), spec.depth, spec.activation, &order(d, k), dtype, device)?;
                    Box::new(SplineAutoregressive::new(made, spec.bins, spec.tail_bound))
                }
            }
        }
    })
}

/// The layers of `spec` from `params` (all of one dtype: f32 to train, f64 to
/// evaluate), base → data order, `L` last.
///
/// # Errors
/// A missing tensor or a shape mismatch.
pub fn build(spec: &FlowSpec, params: &Params, dtype: DType, device: &Device) -> Result<Vec<Box<dyn Layer>>> {
    let mut layers = plan(spec).into_iter().map(|s| build_slot(spec, params, s, dtype, device)).collect::<Result<Vec<_>>>()?;
    layers.push(Box::new(ElementwiseAffine::load(params, params::OUTPUT)?));
    Ok(layers)
}

/// Initial parameters of `spec` (f64, on `device`): networks drawn from `rng`
/// with zero output layers (every transform starts as the identity), LU layers
/// at the fixed reversal permutation, `L` at the mean and sd of `data`
/// (row-major, `dim` columns, in the flow's unbounded coordinates; at most
/// 10 000 rows are used), ActNorms from the data pushed through the layers
/// below them (data → base order).
///
/// # Errors
/// Bad settings or fewer than two rows of data.
pub fn init(spec: &FlowSpec, data: &[f64], rng: &mut dyn Rng, device: &Device) -> Result<Params> {
    spec.check()?;
    let d = spec.dim;
    if data.len() < 2 * d || data.len() % d != 0 {
        return Err(FlowError::invalid("flow initialization needs at least two data points of the flow's dimension"));
    }
    let mut values: HashMap<String, Vec<f64>> = HashMap::new();
    let mut shapes: HashMap<String, Vec<usize>> = HashMap::new();
    let slots = plan(spec);
    let sizes = spec.net_sizes();
    let hidden = &sizes[1..sizes.len() - 1];
    for &slot in &slots {
        match slot {
            Slot::Transform(k) => {
                let net = params::transform(spec.kind, k);
                match spec.kind {
                    FlowKind::Realnvp | FlowKind::NsfCoupling => Mlp::init(&mut values, &mut shapes, &net, &sizes, rng),
                    FlowKind::Maf | FlowKind::NsfAr => Made::init(&mut values, &mut shapes, &net, d, spec.outputs_per_dim(), hidden, rng),
                }
            }
            Slot::Lu(k) => LuLinear::init(&mut values, &mut shapes, &params::lu(k), d),
            Slot::ActNorm(_) => {}
        }
    }
    let mut params = params::to_tensors(&values, &shapes, device)?;
    let n_init = (data.len() / d).min(10_000);
    let mut running = Tensor::from_vec(data[..n_init * d].to_vec(), (n_init, d), device)?;
    let flat: Vec<f64> = running.flatten_all()?.to_vec1()?;
    let (loc, ls) = ElementwiseAffine::data_init(&flat, d);
    params.insert(params::loc(params::OUTPUT), Tensor::from_vec(loc, (1, d), device)?);
    params.insert(params::log_scale(params::OUTPUT), Tensor::from_vec(ls, (1, d), device)?);
    running = ElementwiseAffine::load(&params, params::OUTPUT)?.inverse(&running)?.0;
    for &slot in slots.iter().rev() {
        if let Slot::ActNorm(p) = slot {
            ActNorm::data_init(&mut params, &params::actnorm(p), &running)?;
        }
        running = build_slot(spec, &params, slot, DType::F64, device)?.inverse(&running)?.0;
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn plan_places_lu_between_transforms_and_actnorm_after_pairs() {
        let s = FlowSpec { lu: true, actnorm: true, pairs: 2, ..FlowSpec::new(3) };
        use Slot::*;
        assert_eq!(plan(&s), vec![Transform(0), Lu(0), Transform(1), ActNorm(0), Lu(1), Transform(2), Lu(2), Transform(3), ActNorm(1)]);
        assert_eq!(plan(&FlowSpec { pairs: 2, ..FlowSpec::new(3) }), vec![Transform(0), Transform(1), Transform(2), Transform(3)]);
    }

    /// The shapes the initializer produces are the ones the loader checks, and
    /// their count is the spec's closed-form count, for every kind.
    #[test]
    fn init_shapes_and_counts_agree_for_every_kind() {
        let data: Vec<f64> = (0..300).map(|i| ((i * 7919) % 101) as f64 / 30.0).collect();
        for kind in FlowKind::ALL {
            for (lu, actnorm) in [(false, false), (true, true)] {
                let s = FlowSpec { kind, lu, actnorm, hidden: 8, pairs: 2, bins: 4, ..FlowSpec::new(3) };
                let p = init(&s, &data, &mut ChaCha8Rng::seed_from_u64(1), &Device::Cpu).unwrap();
                let shapes = param_shapes(&s);
                assert_eq!(p.len(), shapes.len(), "{kind}");
                for (name, shape) in &shapes {
                    assert_eq!(p[name].dims(), shape.as_slice(), "{kind}: {name}");
                }
                check_params(&s, &p).unwrap();
                let mut extra = p.clone();
                extra.insert("zz.extra".into(), Tensor::zeros(1, DType::F64, &Device::Cpu).unwrap());
                assert!(check_params(&s, &extra).is_err());
            }
        }
    }

    #[test]
    fn foreign_missing_misshapen_or_broken_weights_are_refused() {
        let s = FlowSpec { hidden: 8, pairs: 1, ..FlowSpec::new(2) };
        let data: Vec<f64> = (0..100).map(|i| i as f64 * 0.37 % 3.0).collect();
        let p = init(&s, &data, &mut ChaCha8Rng::seed_from_u64(2), &Device::Cpu).unwrap();
        let msg = |p: &Params, s: &FlowSpec| check_params(s, p).unwrap_err().to_string();
        assert!(msg(&p, &FlowSpec { hidden: 9, ..s.clone() }).contains("do not belong together"));
        assert!(msg(&p, &FlowSpec { dim: 3, ..s.clone() }).contains("do not belong together"));
        assert!(msg(&p, &FlowSpec { hidden: usize::MAX / 4, pairs: usize::MAX / 4, ..s.clone() }).contains("do not belong together"));
        let mut missing = p.clone();
        let w = missing.remove("c0.net.0.w").unwrap();
        missing.insert("c9.net.0.w".into(), w);
        assert!(msg(&missing, &s).contains("lack tensor \"c0.net.0.w\""));
        let mut reshaped = p.clone();
        let t = reshaped["c1.net.0.w"].clone();
        reshaped.insert("c1.net.0.w".into(), t.reshape((8, 2)).unwrap());
        assert!(msg(&reshaped, &s).contains("shape [8, 2]"));
        let mut nan = p.clone();
        let t = nan["L.loc"].clone();
        nan.insert("L.loc".into(), (t * f64::NAN).unwrap());
        assert!(msg(&nan, &s).contains("non-finite"));
    }
}

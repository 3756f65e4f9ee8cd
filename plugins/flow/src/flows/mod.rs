//! The flow layer library beyond RealNVP: ActNorm, masked autoregressive affine
//! layers (MAF on a MADE network), rational-quadratic spline layers (coupling and
//! autoregressive) and an LU-decomposed invertible linear map, each a [`Layer`]
//! with forward, inverse and `log|det J|` on candle tensors, so that every
//! architecture trains with the crate's losses and Adam.
//!
//! [`FlowKind`] selects the architecture of a [`FlowSpec`]; the RealNVP default
//! without LU layers is built by [`crate::model`] itself, everything else here:
//!
//! ```text
//! base -> T_0 [-> LU_0] -> T_1 [-> ActNorm_0] [-> LU_1] -> T_2 ... -> T_{2N-1} [-> ActNorm_{N-1}] -> L -> data
//! ```
//!
//! with `T_k` the kind's transform (even/odd masks or natural/reversed
//! autoregressive orders alternating with `k`), an LU layer between consecutive
//! transforms when `lu` is set, an ActNorm after each pair when `actnorm` is
//! set, and the final scale-and-shift `L` at the data's mean and sd.
//!
//! # Reference
//! Papamakarios, Pavlakou & Murray (2017), *Masked autoregressive flow for density
//! estimation*, NeurIPS; Germain, Gregor, Murray & Larochelle (2015), *MADE*, ICML;
//! Durkan, Bekasov, Murray & Papamakarios (2019), *Neural spline flows*, NeurIPS;
//! Kingma & Dhariwal (2018), *Glow*, NeurIPS (ActNorm, LU-decomposed linear layers).

pub mod actnorm;
pub mod lu;
pub mod made;
pub mod spline;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{FlowError, Result};
use crate::layers::{parity_mask, AffineCoupling, ElementwiseAffine, Layer, Mlp, Params};
use crate::model::FlowSpec;

pub use actnorm::ActNorm;
pub use lu::LuLinear;
pub use made::{Made, MaskedAffine};
pub use spline::{SplineAutoregressive, SplineCoupling};

/// The architecture of a flow's transforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    /// RealNVP affine couplings with even/odd masks (the NF-prior paper's default).
    #[default]
    Realnvp,
    /// Masked autoregressive flow: affine autoregressive layers on MADE networks.
    Maf,
    /// Neural spline flow, coupling version: rational-quadratic splines of half the
    /// coordinates conditioned on the other half.
    NsfCoupling,
    /// Neural spline flow, autoregressive version: rational-quadratic splines on MADE networks.
    NsfAr,
}

impl FlowKind {
    /// All kinds, in the order of the documentation.
    pub const ALL: [FlowKind; 4] = [FlowKind::Realnvp, FlowKind::Maf, FlowKind::NsfCoupling, FlowKind::NsfAr];

    /// Parses `realnvp`, `maf`, `nsf_coupling` or `nsf_ar` (`-` for `_` accepted).
    ///
    /// # Errors
    /// Any other name.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "realnvp" => Ok(FlowKind::Realnvp),
            "maf" => Ok(FlowKind::Maf),
            "nsf_coupling" => Ok(FlowKind::NsfCoupling),
            "nsf_ar" => Ok(FlowKind::NsfAr),
            other => Err(FlowError::invalid(format!("unknown flow architecture {other:?}: use realnvp, maf, nsf_coupling or nsf_ar"))),
        }
    }

    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FlowKind::Realnvp => "realnvp",
            FlowKind::Maf => "maf",
            FlowKind::NsfCoupling => "nsf_coupling",
            FlowKind::NsfAr => "nsf_ar",
        }
    }
}

impl std::fmt::Display for FlowKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// True when `spec` is built by this module (anything but plain RealNVP).
pub(crate) fn uses_library(spec: &FlowSpec) -> bool {
    spec.kind != FlowKind::Realnvp || spec.lu
}

/// One layer of the plan, base -> data order (the final `L` is implicit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// The kind's `k`-th transform.
    Transform(usize),
    /// LU layer after transform `k`.
    Lu(usize),
    /// ActNorm after pair `p`.
    ActNorm(usize),
}

fn plan(spec: &FlowSpec) -> Vec<Slot> {
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

fn hidden_sizes(spec: &FlowSpec) -> Vec<usize> {
    std::iter::repeat_n(spec.hidden, spec.depth).collect()
}

/// Spline parameters per coordinate: `K` widths, `K` heights, `K - 1` inner derivatives.
pub(crate) fn spline_params(bins: usize) -> usize {
    3 * bins - 1
}

fn prefix(kind: FlowKind, k: usize) -> String {
    match kind {
        FlowKind::Realnvp => format!("c{k}.net"),
        FlowKind::Maf => format!("maf{k}.net"),
        FlowKind::NsfCoupling => format!("nsf{k}.net"),
        FlowKind::NsfAr => format!("nsfar{k}.net"),
    }
}

pub(crate) fn get(params: &Params, name: &str) -> Result<Tensor> {
    params.get(name).cloned().ok_or_else(|| FlowError::invalid(format!("flow weights lack tensor {name:?}: the model file does not match its sidecar")))
}

pub(crate) fn to_tensors(values: &HashMap<String, Vec<f64>>, shapes: &HashMap<String, Vec<usize>>, device: &Device) -> Result<Params> {
    let mut out = Params::new();
    for (name, v) in values {
        let shape = shapes.get(name).cloned().unwrap_or_else(|| vec![v.len()]);
        out.insert(name.clone(), Tensor::from_vec(v.clone(), shape, device)?);
    }
    Ok(out)
}

fn build_slot(spec: &FlowSpec, params: &Params, slot: Slot, dtype: DType, device: &Device) -> Result<Box<dyn Layer>> {
    let d = spec.dim;
    Ok(match slot {
        Slot::ActNorm(p) => Box::new(ActNorm::load(params, &format!("an{p}"))?),
        Slot::Lu(k) => Box::new(LuLinear::load(params, &format!("lu{k}"), dtype, device)?),
        Slot::Transform(k) => {
            let pre = prefix(spec.kind, k);
            match spec.kind {
                FlowKind::Realnvp => {
                    let net = Mlp::load(params, &pre, spec.depth, spec.activation)?;
                    Box::new(AffineCoupling::new(&parity_mask(d, k % 2), net, spec.clamp, dtype, device)?)
                }
                FlowKind::Maf => {
                    let made = Made::load(params, &pre, d, 2, spec.depth, spec.activation, &order(d, k), dtype, device)?;
                    Box::new(MaskedAffine::new(made, spec.clamp))
                }
                FlowKind::NsfCoupling => {
                    let net = Mlp::load(params, &pre, spec.depth, spec.activation)?;
                    Box::new(SplineCoupling::new(&parity_mask(d, k % 2), net, spec.bins, spec.tail_bound, dtype, device)?)
                }
                FlowKind::NsfAr => {
                    let made = Made::load(params, &pre, d, spline_params(spec.bins), spec.depth, spec.activation, &order(d, k), dtype, device)?;
                    Box::new(SplineAutoregressive::new(made, spec.bins, spec.tail_bound))
                }
            }
        }
    })
}

/// The layers of `spec` from `params`, base -> data order, `L` last.
///
/// # Errors
/// A missing tensor or a shape mismatch.
pub(crate) fn build(spec: &FlowSpec, params: &Params, dtype: DType, device: &Device) -> Result<Vec<Box<dyn Layer>>> {
    let mut layers = plan(spec).into_iter().map(|s| build_slot(spec, params, s, dtype, device)).collect::<Result<Vec<_>>>()?;
    layers.push(Box::new(ElementwiseAffine::load(params, "L")?));
    Ok(layers)
}

/// Initial parameters of `spec` (f64, on `device`): networks drawn from `rng` with
/// zero output layers (every transform starts as the identity), LU layers at the
/// fixed reversal permutation, `L` at the mean and sd of `data`, ActNorms from
/// the data pushed through the layers below them (data -> base order).
///
/// # Errors
/// Bad settings or data too short (checked by the caller).
pub(crate) fn init(spec: &FlowSpec, data: &[f64], rng: &mut dyn Rng, device: &Device) -> Result<Params> {
    let d = spec.dim;
    let mut values: HashMap<String, Vec<f64>> = HashMap::new();
    let mut shapes: HashMap<String, Vec<usize>> = HashMap::new();
    let hidden = hidden_sizes(spec);
    let slots = plan(spec);
    for &slot in &slots {
        match slot {
            Slot::Transform(k) => {
                let pre = prefix(spec.kind, k);
                let sizes = |out: usize| -> Vec<usize> {
                    let mut s = vec![d];
                    s.extend(&hidden);
                    s.push(out);
                    s
                };
                match spec.kind {
                    FlowKind::Realnvp => Mlp::init(&mut values, &mut shapes, &pre, &sizes(2 * d), rng),
                    FlowKind::NsfCoupling => Mlp::init(&mut values, &mut shapes, &pre, &sizes(d * spline_params(spec.bins)), rng),
                    FlowKind::Maf => Made::init(&mut values, &mut shapes, &pre, d, 2, &hidden, rng),
                    FlowKind::NsfAr => Made::init(&mut values, &mut shapes, &pre, d, spline_params(spec.bins), &hidden, rng),
                }
            }
            Slot::Lu(k) => LuLinear::init(&mut values, &mut shapes, &format!("lu{k}"), d),
            Slot::ActNorm(_) => {}
        }
    }
    let mut params = to_tensors(&values, &shapes, device)?;
    let n_init = (data.len() / d).min(10_000);
    let mut running = Tensor::from_vec(data[..n_init * d].to_vec(), (n_init, d), device)?;
    let flat: Vec<f64> = running.flatten_all()?.to_vec1()?;
    let (loc, ls) = ElementwiseAffine::data_init(&flat, d);
    params.insert("L.loc".into(), Tensor::from_vec(loc, (1, d), device)?);
    params.insert("L.log_scale".into(), Tensor::from_vec(ls, (1, d), device)?);
    running = ElementwiseAffine::load(&params, "L")?.inverse(&running)?.0;
    for &slot in slots.iter().rev() {
        if let Slot::ActNorm(p) = slot {
            ActNorm::data_init(&mut params, &format!("an{p}"), &running)?;
        }
        running = build_slot(spec, &params, slot, DType::F64, device)?.inverse(&running)?.0;
    }
    Ok(params)
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Finite-difference Jacobians and random inputs for the layer tests.
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    /// `n × d` standard normal points times `scale` (f64, CPU).
    pub fn points(n: usize, d: usize, scale: f64, seed: u64) -> Tensor {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let v: Vec<f64> = (0..n * d).map(|_| scale * Distribution::<f64>::sample(&StandardNormal, &mut rng)).collect();
        Tensor::from_vec(v, (n, d), &Device::Cpu).unwrap()
    }

    /// Replaces every parameter whose name starts with one of `prefixes` by
    /// `sd`-scaled normal noise, so that no layer is the identity.
    pub fn perturb(params: &mut Params, prefixes: &[&str], sd: f64, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut names: Vec<String> = params.keys().cloned().collect();
        names.sort();
        for name in names {
            if prefixes.iter().any(|p| name.starts_with(p)) {
                let t = &params[&name];
                let v: Vec<f64> = (0..t.elem_count()).map(|_| sd * Distribution::<f64>::sample(&StandardNormal, &mut rng)).collect();
                let nt = Tensor::from_vec(v, t.shape(), &Device::Cpu).unwrap();
                params.insert(name, nt);
            }
        }
    }

    /// `ln|det A|` of a dense `d × d` matrix (row-major) by LU with partial pivoting.
    pub fn log_abs_det(mut a: Vec<f64>, d: usize) -> f64 {
        let mut s = 0.0;
        for k in 0..d {
            let p = (k..d).max_by(|&i, &j| a[i * d + k].abs().total_cmp(&a[j * d + k].abs())).unwrap();
            for c in 0..d {
                a.swap(k * d + c, p * d + c);
            }
            let piv = a[k * d + k];
            s += piv.abs().ln();
            for i in k + 1..d {
                let f = a[i * d + k] / piv;
                for c in k..d {
                    a[i * d + c] -= f * a[k * d + c];
                }
            }
        }
        s
    }

    /// The Jacobian `∂f_i/∂x_j` at `x` by central differences (row-major `d × d`).
    pub fn fd_jacobian(f: &dyn Fn(&Tensor) -> Tensor, x: &[f64]) -> Vec<f64> {
        let d = x.len();
        let h = 1e-5;
        let mut jac = vec![0.0; d * d];
        for j in 0..d {
            let (mut xp, mut xm) = (x.to_vec(), x.to_vec());
            xp[j] += h;
            xm[j] -= h;
            let yp: Vec<f64> = f(&Tensor::from_vec(xp, (1, d), &Device::Cpu).unwrap()).flatten_all().unwrap().to_vec1().unwrap();
            let ym: Vec<f64> = f(&Tensor::from_vec(xm, (1, d), &Device::Cpu).unwrap()).flatten_all().unwrap().to_vec1().unwrap();
            for i in 0..d {
                jac[i * d + j] = (yp[i] - ym[i]) / (2.0 * h);
            }
        }
        jac
    }

    /// Checks a layer on `x`: `inverse(forward(x)) = x` to `1e-5`, the two
    /// log-determinants cancel, and both match the finite-difference Jacobian of
    /// their direction to `tol` on the first `n_fd` rows.
    pub fn check_layer(layer: &dyn Layer, x: &Tensor, n_fd: usize, tol: f64) {
        let (y, ld) = layer.forward(x).unwrap();
        let (x2, ld_inv) = layer.inverse(&y).unwrap();
        let err = (x2 - x).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
        assert!(err < 1e-5, "inverse(forward(x)) differs from x by {err}");
        let s = (ld.clone() + &ld_inv).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
        assert!(s < 1e-5, "forward and inverse log-determinants do not cancel: {s}");
        let d = x.dim(1).unwrap();
        let ld: Vec<f64> = ld.to_vec1().unwrap();
        let ld_inv: Vec<f64> = ld_inv.to_vec1().unwrap();
        let xs: Vec<Vec<f64>> = x.to_vec2().unwrap();
        let ys: Vec<Vec<f64>> = y.to_vec2().unwrap();
        for i in 0..n_fd.min(xs.len()) {
            let fd = log_abs_det(fd_jacobian(&|t: &Tensor| layer.forward(t).unwrap().0, &xs[i]), d);
            assert!((fd - ld[i]).abs() < tol, "row {i}: forward log|det J| {} vs finite differences {fd}", ld[i]);
            let fd = log_abs_det(fd_jacobian(&|t: &Tensor| layer.inverse(t).unwrap().0, &ys[i]), d);
            assert!((fd - ld_inv[i]).abs() < tol, "row {i}: inverse log|det J| {} vs finite differences {fd}", ld_inv[i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use crate::layers::Activation;
    use crate::model::Flow;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn spec(kind: FlowKind, lu: bool, actnorm: bool, dim: usize) -> FlowSpec {
        FlowSpec { kind, lu, actnorm, hidden: 12, pairs: 2, bins: 6, tail_bound: 3.0, ..FlowSpec::new(dim) }
    }

    /// A flow of `spec` with every network, LU and affine parameter redrawn.
    fn random_flow(spec: &FlowSpec, seed: u64) -> Flow {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let data = points(300, spec.dim, 1.5, seed + 100).flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let mut params = spec.init(&data, &mut rng, &Device::Cpu).unwrap();
        perturb(&mut params, &["c", "maf", "nsf", "lu", "an", "L."], 0.3, seed + 1);
        Flow::new(spec, &params).unwrap()
    }

    struct W(Flow);
    impl Layer for W {
        fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
            self.0.forward(x)
        }
        fn inverse(&self, y: &Tensor) -> Result<(Tensor, Tensor)> {
            self.0.inverse(y)
        }
    }

    #[test]
    fn every_kind_with_and_without_lu_inverts_and_matches_finite_differences() {
        for kind in FlowKind::ALL {
            for (lu, actnorm) in [(false, false), (true, true)] {
                let s = spec(kind, lu, actnorm, 4);
                let flow = random_flow(&s, 7);
                assert_eq!(flow.spec().kind, kind);
                // Scale 2 puts some points in the spline tails (bound 3) too.
                check_layer(&W(flow), &points(32, 4, 2.0, 8), 6, 1e-5);
            }
        }
    }

    #[test]
    fn plan_places_lu_between_transforms_and_actnorm_after_pairs() {
        let s = FlowSpec { lu: true, actnorm: true, pairs: 2, ..FlowSpec::new(3) };
        let p = plan(&s);
        use Slot::*;
        assert_eq!(p, vec![Transform(0), Lu(0), Transform(1), ActNorm(0), Lu(1), Transform(2), Lu(2), Transform(3), ActNorm(1)]);
        assert!(!uses_library(&FlowSpec::new(3)) && uses_library(&s));
    }

    #[test]
    fn init_starts_every_kind_at_the_standardizing_affine_map() {
        // With zero output layers every transform is the identity and every LU a
        // permutation: the flow's inverse standardizes the data's columns (up to order).
        for kind in FlowKind::ALL {
            let s = FlowSpec { kind, lu: true, actnorm: true, hidden: 8, ..FlowSpec::new(3) };
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            let data: Vec<f64> = (0..3000).map(|i| (i % 3) as f64 * 2.0 + ((i * 7919) % 101) as f64 / 30.0).collect();
            let params = s.init(&data, &mut rng, &Device::Cpu).unwrap();
            let flow = Flow::new(&s, &params).unwrap();
            let x = Tensor::from_vec(data, (1000, 3), &Device::Cpu).unwrap();
            let z: Vec<Vec<f64>> = flow.inverse(&x).unwrap().0.to_vec2().unwrap();
            for j in 0..3 {
                let m = z.iter().map(|r| r[j]).sum::<f64>() / 1000.0;
                let v = z.iter().map(|r| (r[j] - m).powi(2)).sum::<f64>() / 1000.0;
                assert!(m.abs() < 1e-9 && (v - 1.0).abs() < 1e-9, "{kind}: column {j}: mean {m}, var {v}");
            }
        }
    }

    /// Correlated Gaussian draws (sd 1 and 0.5, rho 0.8) and their exact log density.
    fn gaussian(n: usize, seed: u64) -> (ndarray::Array2<f64>, Vec<f64>) {
        let z = points(n, 2, 1.0, seed).to_vec2::<f64>().unwrap();
        let rho = 0.8f64;
        let mut x = ndarray::Array2::zeros((n, 2));
        let mut lp = Vec::with_capacity(n);
        for (i, r) in z.iter().enumerate() {
            x[[i, 0]] = 1.0 + r[0];
            x[[i, 1]] = -2.0 + 0.5 * (rho * r[0] + (1.0 - rho * rho).sqrt() * r[1]);
            lp.push(-0.5 * (r[0] * r[0] + r[1] * r[1]) - (2.0 * std::f64::consts::PI).ln() - (0.5 * (1.0 - rho * rho).sqrt()).ln());
        }
        (x, lp)
    }

    #[test]
    fn every_kind_trains_saves_and_loads() {
        use crate::prior::{Draws, FlowPrior};
        use crate::train::{Loss, TrainSettings};
        use seqcal_api::{ParamSpace, Prior};
        let (x, lp) = gaussian(4000, 11);
        let (xt, lpt) = gaussian(20_000, 12);
        let space = ParamSpace::unbounded(vec!["a".into(), "b".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (kind, lu) in [(FlowKind::Maf, false), (FlowKind::NsfCoupling, false), (FlowKind::NsfAr, true), (FlowKind::Realnvp, true)] {
            let spec = FlowSpec { kind, lu, hidden: 32, pairs: 2, bins: 6, ..FlowSpec::new(2) };
            let s = TrainSettings { loss: Loss::Nll, steps: 300, batch: 256, lr: 3e-3, val_fraction: 0.1, eval_every: 50, patience: 100, seed: 3, quiet: true, ..Default::default() };
            let prior = FlowPrior::train(space.clone(), true, &Draws { x: x.view(), log_prob: Some(&lp), weights: None }, &spec, &s).unwrap();
            // Monte Carlo KL(p||q) on fresh truth draws; the untrained flow (standardized
            // marginals, no correlation) sits at -ln sqrt(1 - 0.64) = 0.51.
            let mut lq = vec![0.0; xt.nrows()];
            prior.log_prob_batch(xt.view(), &mut lq);
            let kl = lpt.iter().zip(&lq).map(|(p, q)| p - q).sum::<f64>() / lq.len() as f64;
            assert!(kl < 0.05, "{kind} (lu {lu}): KL to the truth {kl}");
            let path = dir.path().join(format!("{kind}.safetensors"));
            prior.save(&path).unwrap();
            let back = FlowPrior::load(&path).unwrap();
            assert_eq!(back.sidecar().spec, spec);
            for p in [[1.0, -2.0], [3.0, -1.0], [-0.5, -2.7]] {
                let (a, b) = (prior.log_prob(&p), back.log_prob(&p));
                assert!((a - b).abs() < 1e-9 && a.is_finite(), "{kind}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn sidecars_without_the_new_keys_load_as_realnvp() {
        let mut v = serde_json::to_value(FlowSpec::new(3)).unwrap();
        for k in ["kind", "lu", "bins", "tail_bound"] {
            v.as_object_mut().unwrap().remove(k);
        }
        let s: FlowSpec = serde_json::from_value(v).unwrap();
        assert_eq!(s, FlowSpec::new(3));
        assert_eq!((s.kind, s.lu, s.bins, s.tail_bound), (FlowKind::Realnvp, false, 8, 5.0));
    }

    #[test]
    fn kinds_parse_and_print() {
        for k in FlowKind::ALL {
            assert_eq!(FlowKind::parse(k.name()).unwrap(), k);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.name()));
        }
        assert_eq!(FlowKind::parse("NSF-AR").unwrap(), FlowKind::NsfAr);
        assert!(FlowKind::parse("glow").is_err());
        let _ = Activation::Tanh;
    }
}

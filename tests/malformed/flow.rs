//! Flow models: safetensors weights and their JSON sidecar.
//!
//! A sidecar changed by hand is refused by its digest before anything else
//! is looked at; to reach the checks behind it, some cases also sign the
//! changed sidecar (store its new digest in the weights' metadata), as a
//! forger would.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use proptest::prelude::*;
use proptest::sample::Index;
use rand::SeedableRng;
use seqcal::chain::{write_hdf5, Chain};
use seqcal_flow::io::{sidecar_digest, sidecar_path, Sidecar, DIGEST_KEY};
use seqcal_flow::FlowPrior;
use serde_json::Value;

use crate::mutate::{bytes, check, json, no_panic, show, Bytes, Json};
use crate::{at_the_cli, cases, fixtures_dir};

/// The header (JSON) and the data of a safetensors file.
pub fn split_safetensors(b: &[u8]) -> (Value, Vec<u8>) {
    let n = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
    (serde_json::from_slice(&b[8..8 + n]).unwrap(), b[8 + n..].to_vec())
}

/// A safetensors file from a header and data.
pub fn join_safetensors(header: &Value, data: &[u8]) -> Vec<u8> {
    let mut h = serde_json::to_vec(header).unwrap();
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    out
}

/// Stores the digest of `sidecar` (JSON text) in the weights' metadata, when
/// the text is a sidecar at all.
fn sign(weights: &[u8], sidecar: &[u8]) -> Vec<u8> {
    let Ok(s) = serde_json::from_slice::<Sidecar>(sidecar) else { return weights.to_vec() };
    let Ok(d) = sidecar_digest(&s) else { return weights.to_vec() };
    let (mut h, data) = split_safetensors(weights);
    h["__metadata__"][DIGEST_KEY] = Value::String(d);
    join_safetensors(&h, &data)
}

/// Trains two small flows (RealNVP, evaluated by the f64 fast path; a spline
/// coupling flow with LU layers, evaluated by candle) on a chain with a
/// bounded and an unbounded parameter; returns the weights files.
fn valid_models(dir: &Path) -> Vec<PathBuf> {
    let draws = ndarray::Array3::from_shape_fn((50, 4, 2), |(i, w, d)| {
        let u = ((i * 37 + w * 11 + d * 5) % 97) as f64 / 97.0 + 0.004;
        if d == 0 {
            u
        } else {
            4.0 * u - 2.0
        }
    });
    let mut c = Chain::from_draws(draws);
    c.names = vec!["a".into(), "b".into()];
    c.bounds = vec![(0.0, 1.0), (f64::NEG_INFINITY, f64::INFINITY)];
    let chain = dir.join("train.h5");
    write_hdf5(&c, &chain).unwrap();
    let common = ["--loss", "nll", "--steps", "5", "--hidden", "4", "--layers", "2", "--batch", "32", "--quiet"];
    let mut out = Vec::new();
    for (name, extra) in [("realnvp", vec![]), ("nsf", vec!["--arch", "nsf_coupling", "--lu", "--bins", "3"])] {
        let m = dir.join(format!("{name}.safetensors"));
        let mut args = vec!["prior", "train", chain.to_str().unwrap(), "-o", m.to_str().unwrap()];
        args.extend(common);
        args.extend(extra);
        crate::common::succeeds(&args);
        out.push(m);
    }
    out
}

/// Everything `prior eval`, `prior sample` and a flow prior in a stage do with a model.
fn use_model(p: &Path) {
    let r = FlowPrior::load(p);
    show("flow model", &r);
    if let Ok(f) = r {
        let pts = Array2::from_shape_fn((3, f.sidecar().names.len()), |(i, j)| 0.2 + 0.3 * i as f64 - 0.1 * j as f64);
        show("flow log_prob", &f.log_prob_checked(pts.view()));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let _ = f.try_sample(&mut rng, 4);
    }
}

/// A change to a density-defining field of a sidecar, keeping its type (so
/// that the sidecar still parses and, signed, reaches the checks behind the digest).
#[derive(Debug, Clone)]
enum Edit {
    /// A size of the architecture (`dim`, `pairs`, `hidden`, `depth`, `bins`).
    Size(&'static str, usize),
    /// A float of the architecture (`clamp`, `tail_bound`).
    Float(&'static str, f64),
    /// A name of the architecture (`kind`, `activation`).
    Word(&'static str, &'static str),
    /// A switch (`spec.actnorm`, `spec.lu`, `bounded`).
    Switch(&'static str, bool),
    /// One end of one parameter's bounds (`None`: infinite).
    Bound(Index, bool, Option<f64>),
    /// The parameter names.
    Names(Vec<&'static str>),
    /// One parameter's transform.
    Transform(Index, Value),
    /// The format tag.
    Format(&'static str),
}

const SIZES: &[usize] = &[0, 1, 2, 3, 4, 8, 1000, 1001, 1 << 20, 1 << 40, usize::MAX];

fn edit() -> impl Strategy<Value = Edit> {
    use prop::sample::select;
    let transform = prop_oneof![
        Just(serde_json::json!({"kind": "identity"})),
        Just(serde_json::json!({"kind": "logit", "lower": 0.0, "upper": 1.0})),
        Just(serde_json::json!({"kind": "logit", "lower": 1.0, "upper": 1.0})),
        Just(serde_json::json!({"kind": "log_lower", "lower": 0.0})),
        Just(serde_json::json!({"kind": "log_upper", "upper": -1e308})),
    ];
    prop_oneof![
        3 => (select(&["dim", "pairs", "hidden", "depth", "bins"][..]), select(SIZES)).prop_map(|(k, v)| Edit::Size(k, v)),
        1 => (select(&["clamp", "tail_bound"][..]), select(&[0.0, -1.0, 1e-300, 1e308, 3.0][..])).prop_map(|(k, v)| Edit::Float(k, v)),
        1 => (select(&["kind", "activation"][..]), select(&["realnvp", "maf", "nsf_coupling", "nsf_ar", "tanh", "relu", "silu"][..]))
            .prop_map(|(k, v)| Edit::Word(k, v)),
        1 => (select(&["actnorm", "lu", "bounded"][..]), any::<bool>()).prop_map(|(k, v)| Edit::Switch(k, v)),
        2 => (any::<Index>(), any::<bool>(), prop::option::of(select(&[0.0, 1.0, -1.0, 0.5, 1e308, -1e308][..])))
            .prop_map(|(i, upper, v)| Edit::Bound(i, upper, v)),
        1 => prop::collection::vec(select(&["a", "b", "", "c", "a "][..]), 0..4).prop_map(Edit::Names),
        2 => (any::<Index>(), transform).prop_map(|(i, t)| Edit::Transform(i, t)),
        1 => select(&["seqcal-flow/2", "", "seqcal-flow/1"][..]).prop_map(Edit::Format),
    ]
}

fn apply_edit(v: &mut Value, e: &Edit) {
    let pick = |a: &mut Value, i: &Index| -> Option<usize> { a.as_array().filter(|a| !a.is_empty()).map(|a| i.index(a.len())) };
    match e {
        Edit::Size(k, n) => v["spec"][*k] = serde_json::json!(n),
        Edit::Float(k, x) => v["spec"][*k] = serde_json::json!(x),
        Edit::Word(k, w) => v["spec"][*k] = serde_json::json!(w),
        Edit::Switch("bounded", b) => v["bounded"] = serde_json::json!(b),
        Edit::Switch(k, b) => v["spec"][*k] = serde_json::json!(b),
        Edit::Bound(i, upper, x) => {
            if let Some(j) = pick(&mut v["bounds"], i) {
                v["bounds"][j][usize::from(*upper)] = serde_json::json!(x);
            }
        }
        Edit::Names(n) => v["names"] = serde_json::json!(n),
        Edit::Transform(i, t) => {
            if let Some(j) = pick(&mut v["transforms"], i) {
                v["transforms"][j] = t.clone();
            }
        }
        Edit::Format(f) => v["format"] = serde_json::json!(f),
    }
}

/// A change to a model: to its sidecar (signed or not) by edits that keep
/// it parsing or by any JSON change, to its weights' header (the tensors'
/// names, dtypes, shapes and offsets), or to the weights' bytes.
#[derive(Debug, Clone)]
enum ModelOp {
    Edits(Vec<Edit>, bool),
    Sidecar(Json, bool),
    Header(Json),
    Weights(Bytes),
}

fn model_op() -> impl Strategy<Value = ModelOp> {
    prop_oneof![
        3 => (prop::collection::vec(edit(), 1..3), any::<bool>()).prop_map(|(e, signed)| ModelOp::Edits(e, signed)),
        2 => (json(), any::<bool>()).prop_map(|(j, signed)| ModelOp::Sidecar(j, signed)),
        2 => json().prop_map(ModelOp::Header),
        1 => bytes().prop_map(ModelOp::Weights),
    ]
}

#[test]
fn flow_models_never_panic() {
    let dir = fixtures_dir();
    let valid: Vec<(Vec<u8>, String)> =
        valid_models(dir.path()).iter().map(|m| (std::fs::read(m).unwrap(), std::fs::read_to_string(sidecar_path(m)).unwrap())).collect();
    let p = dir.path().join("m.safetensors");
    check("flow_models", cases(160), (0..valid.len(), model_op()), |(k, op): (usize, ModelOp)| {
        let (w, s) = &valid[k];
        let (w, s) = match &op {
            ModelOp::Edits(edits, signed) => {
                let mut v: Value = serde_json::from_str(s).unwrap();
                edits.iter().for_each(|e| apply_edit(&mut v, e));
                let s = serde_json::to_vec_pretty(&v).unwrap();
                (if *signed { sign(w, &s) } else { w.clone() }, s)
            }
            ModelOp::Sidecar(j, signed) => {
                let s = j.apply(s);
                (if *signed { sign(w, &s) } else { w.clone() }, s)
            }
            ModelOp::Header(j) => {
                let (h, data) = split_safetensors(w);
                let hs = j.apply(&h.to_string());
                let mut b = (hs.len() as u64).to_le_bytes().to_vec();
                b.extend(hs);
                b.extend(data);
                (b, s.clone().into_bytes())
            }
            ModelOp::Weights(b) => (b.apply(w), s.clone().into_bytes()),
        };
        std::fs::write(&p, w).unwrap();
        std::fs::write(sidecar_path(&p), s).unwrap();
        no_panic("loading a flow model", || use_model(&p))
    });
}

/// `prior eval` on damaged models: exit 0, or 2 with one message.
#[test]
fn malformed_flow_models_at_the_cli() {
    let dir = fixtures_dir();
    let valid = &valid_models(dir.path())[0];
    let (w, side) = (std::fs::read(valid).unwrap(), std::fs::read_to_string(sidecar_path(valid)).unwrap());
    let p = dir.path().join("m.safetensors");
    let points = dir.path().join("points.csv");
    std::fs::write(&points, "a,b\n0.5,0.1\n0.2,-0.3\n").unwrap();
    check("flow_models_cli", cases(16), (prop::collection::vec(edit(), 1..3), any::<bool>(), bytes()), |(edits, signed, b)| {
        let mut v: Value = serde_json::from_str(&side).unwrap();
        edits.iter().for_each(|e| apply_edit(&mut v, e));
        let s = serde_json::to_vec_pretty(&v).unwrap();
        let w = if signed { sign(&w, &s) } else { b.apply(&w) };
        std::fs::write(&p, w).unwrap();
        std::fs::write(sidecar_path(&p), s).unwrap();
        at_the_cli(&["prior", "eval", p.to_str().unwrap(), points.to_str().unwrap()], FlowPrior::load(&p).is_err())
    });
}

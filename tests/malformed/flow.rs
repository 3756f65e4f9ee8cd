//! Flow models: safetensors weights and their JSON sidecar.
//!
//! A sidecar changed by hand is refused by its digest before anything else
//! is looked at; to reach the checks behind it, some cases also sign the
//! changed sidecar (store its new digest in the weights' metadata), as a
//! forger would.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use proptest::prelude::*;
use rand::SeedableRng;
use seqcal::chain::{write_hdf5, Chain};
use seqcal_flow::io::{sidecar_digest, sidecar_path, Sidecar, DIGEST_KEY};
use seqcal_flow::FlowPrior;
use serde_json::Value;

use crate::mutate::{bytes, check, json, no_panic, show, Bytes, Json};
use crate::{cases, fixtures_dir};

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

/// A change to a model: to its sidecar (signed or not), to its weights'
/// header (the tensors' names, dtypes, shapes and offsets), or to the weights' bytes.
#[derive(Debug, Clone)]
enum ModelOp {
    Sidecar(Json, bool),
    Header(Json),
    Weights(Bytes),
}

fn model_op() -> impl Strategy<Value = ModelOp> {
    prop_oneof![
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

//! Save and load: safetensors for the weights, a JSON sidecar (same stem,
//! `.json`) for everything else. Both are written to temporary files (with the
//! user's umask) and renamed, so that a failed save leaves no half-written model.
//!
//! The weights file carries, in its safetensors metadata, a SHA-256 of the
//! sidecar's density-defining fields (format, architecture, names, bounds,
//! transforms, training-chain hash). Loading recomputes it, so a sidecar edited
//! by hand or taken from another model is refused instead of silently changing
//! the density; the tensors are then checked against the architecture
//! ([`crate::build::check_params`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bijector::DimTransform;
use crate::error::{FlowError, Result};
use crate::params::{cast, Params};
use crate::spec::FlowSpec;
use crate::train::{Loss, TrainMetrics, TrainSettings};

/// Key of the sidecar digest in the weights file's safetensors metadata.
pub const DIGEST_KEY: &str = "seqcal-flow-sidecar-sha256";

/// Format tag written into every sidecar.
pub const FORMAT: &str = "seqcal-flow/1";

/// The JSON sidecar of a saved flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    /// [`FORMAT`].
    pub format: String,
    /// Architecture.
    pub spec: FlowSpec,
    /// Parameter names, in order.
    pub names: Vec<String>,
    /// Support of each parameter, `null` for an infinite end.
    pub bounds: Vec<(Option<f64>, Option<f64>)>,
    /// Whether bounded parameters were transformed (logit / log) before the flow.
    pub bounded: bool,
    /// The per-parameter transforms.
    pub transforms: Vec<DimTransform>,
    /// Training loss, if trained here.
    pub loss: Option<Loss>,
    /// Training settings.
    pub settings: Option<TrainSettings>,
    /// Training metrics.
    pub metrics: Option<TrainMetrics>,
    /// SHA-256 of the training draws, log densities and weights (little-endian f64).
    pub chain_hash: Option<String>,
    /// Where the training chain came from, if known.
    pub chain_source: Option<String>,
    /// The number of coupling (or autoregressive) transforms, `2 × spec.pairs`:
    /// `spec.pairs` is the `layers` setting, the NF-prior paper's `N`. Absent
    /// from sidecars written before `layers` counted pairs (their `spec.pairs`
    /// means the same).
    #[serde(default)]
    pub couplings: Option<usize>,
    /// How the architecture was chosen, when `arch = "auto"` chose it for the
    /// number of parameters.
    #[serde(default)]
    pub arch_choice: Option<String>,
}

impl Sidecar {
    /// Bounds with infinities restored.
    pub fn bounds_f64(&self) -> Vec<(f64, f64)> {
        self.bounds.iter().map(|(l, u)| (l.unwrap_or(f64::NEG_INFINITY), u.unwrap_or(f64::INFINITY))).collect()
    }

    /// Bounds with infinities as `None` (JSON has no infinity).
    pub fn bounds_json(bounds: &[(f64, f64)]) -> Vec<(Option<f64>, Option<f64>)> {
        bounds.iter().map(|&(l, u)| (l.is_finite().then_some(l), u.is_finite().then_some(u))).collect()
    }
}

/// The fields of a sidecar that define the density, in a fixed order.
#[derive(Serialize)]
struct Defining<'a> {
    format: &'a str,
    spec: &'a FlowSpec,
    names: &'a [String],
    bounds: &'a [(Option<f64>, Option<f64>)],
    bounded: bool,
    transforms: &'a [DimTransform],
    chain_hash: &'a Option<String>,
}

/// SHA-256 (hex) of the sidecar's density-defining fields.
///
/// # Errors
/// The fields cannot be encoded.
pub fn sidecar_digest(s: &Sidecar) -> Result<String> {
    let d = Defining {
        format: &s.format,
        spec: &s.spec,
        names: &s.names,
        bounds: &s.bounds,
        bounded: s.bounded,
        transforms: &s.transforms,
        chain_hash: &s.chain_hash,
    };
    let bytes = serde_json::to_vec(&d).map_err(|e| FlowError::invalid(format!("cannot encode sidecar: {e}")))?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// The sidecar path of a weights file: same stem, extension `json`.
pub fn sidecar_path(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

fn tmp_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

fn io_err(path: &Path, source: std::io::Error) -> FlowError {
    FlowError::Io { path: path.display().to_string(), source }
}

/// Writes the weights (as f32, with the sidecar's digest) and the sidecar.
///
/// # Errors
/// The directory is not writable, or the model path ends in `.json`.
pub fn save(path: &Path, params: &Params, sidecar: &Sidecar) -> Result<()> {
    let side = sidecar_path(path);
    if side == path {
        return Err(FlowError::invalid(format!("{}: the model file needs an extension other than .json (e.g. .safetensors)", path.display())));
    }
    let json = serde_json::to_string_pretty(sidecar).map_err(|e| FlowError::invalid(format!("cannot encode sidecar: {e}")))?;
    // The digest of the sidecar as it will be read back (JSON may round floats).
    let written: Sidecar = serde_json::from_str(&json).map_err(|e| FlowError::invalid(format!("cannot re-read the sidecar just encoded: {e}")))?;
    let meta = HashMap::from([(DIGEST_KEY.to_string(), sidecar_digest(&written)?)]);
    let f32s = cast(params, DType::F32)?;
    let bytes =
        safetensors::serialize(f32s.iter(), Some(meta)).map_err(|e| FlowError::invalid(format!("{}: cannot encode weights: {e}", path.display())))?;
    let (tw, ts) = (tmp_path(path), tmp_path(&side));
    let result = (|| -> Result<()> {
        std::fs::write(&tw, bytes).map_err(|e| io_err(path, e))?;
        std::fs::write(&ts, json).map_err(|e| io_err(&side, e))?;
        std::fs::rename(&tw, path).map_err(|e| io_err(path, e))?;
        std::fs::rename(&ts, &side).map_err(|e| io_err(&side, e))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tw);
        let _ = std::fs::remove_file(&ts);
    }
    result
}

/// Reads the weights (as f64) and the sidecar, and checks that they belong
/// together: the sidecar's digest matches the one stored with the weights, its
/// format, lengths and transforms are consistent, and the tensors are exactly
/// those of its architecture.
///
/// # Errors
/// A missing, truncated or malformed file, a sidecar that was edited or belongs
/// to other weights, or weights that do not match the architecture.
pub fn load(path: &Path) -> Result<(Params, Sidecar)> {
    let side = sidecar_path(path);
    if !path.is_file() {
        return Err(FlowError::invalid(format!("{}: no such flow model file", path.display())));
    }
    let bad = |message: String| FlowError::Sidecar { path: side.display().to_string(), message };
    let text = std::fs::read_to_string(&side).map_err(|e| io_err(&side, e))?;
    let sidecar: Sidecar = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if sidecar.format != FORMAT {
        return Err(bad(format!("format {:?}, expected {FORMAT:?}", sidecar.format)));
    }
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
    let weights_err = |e: &dyn std::fmt::Display| FlowError::invalid(format!("{}: cannot read weights: {e}", path.display()));
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| weights_err(&e))?;
    let stored = meta.metadata().as_ref().and_then(|m| m.get(DIGEST_KEY)).ok_or_else(|| {
        FlowError::invalid(format!(
            "{}: the weights carry no digest of their sidecar (not written by this version of seqcal): train the flow again",
            path.display()
        ))
    })?;
    if *stored != sidecar_digest(&sidecar)? {
        return Err(bad(format!(
            "it does not match the weights {} was saved with (its architecture, names, bounds, transforms or chain hash were changed, or it belongs to another model): restore the original sidecar or train the flow again",
            path.display()
        )));
    }
    if let Some(c) = sidecar.couplings.filter(|&c| c != 2 * sidecar.spec.pairs) {
        return Err(bad(format!("couplings = {c} but spec.pairs = {} (each pair is two couplings)", sidecar.spec.pairs)));
    }
    let d = sidecar.spec.dim;
    if sidecar.names.len() != d || sidecar.bounds.len() != d || sidecar.transforms.len() != d {
        return Err(bad(format!("names, bounds and transforms must each have {d} entries")));
    }
    let expected: Vec<DimTransform> = sidecar.bounds_f64().iter().map(|&(l, u)| DimTransform::for_bounds(l, u, sidecar.bounded)).collect();
    if expected != sidecar.transforms {
        return Err(bad("the transforms do not follow from the bounds".into()));
    }
    let params = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| weights_err(&e))?;
    let params = cast(&params, DType::F64)?;
    crate::build::check_params(&sidecar.spec, &params).map_err(|e| FlowError::invalid(format!("{}: {e}", path.display())))?;
    Ok((params, sidecar))
}

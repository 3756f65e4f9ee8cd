//! Save and load: safetensors for the weights, a JSON sidecar (same stem,
//! `.json`) for everything else. Both are written to temporary files and renamed,
//! so that a failed save leaves no half-written model.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use serde::{Deserialize, Serialize};

use crate::bijector::DimTransform;
use crate::error::{FlowError, Result};
use crate::layers::Params;
use crate::model::{cast, FlowSpec};
use crate::train::{Loss, TrainMetrics, TrainSettings};

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

/// Writes the weights (as f32) and the sidecar.
///
/// # Errors
/// The directory is not writable.
pub fn save(path: &Path, params: &Params, sidecar: &Sidecar) -> Result<()> {
    let side = sidecar_path(path);
    if side == path {
        return Err(FlowError::invalid(format!("{}: the model file needs an extension other than .json (e.g. .safetensors)", path.display())));
    }
    let json = serde_json::to_string_pretty(sidecar).map_err(|e| FlowError::invalid(format!("cannot encode sidecar: {e}")))?;
    let (tw, ts) = (tmp_path(path), tmp_path(&side));
    let f32s = cast(params, DType::F32)?;
    let result = (|| -> Result<()> {
        candle_core::safetensors::save(&f32s, &tw).map_err(|e| FlowError::invalid(format!("{}: cannot write weights: {e}", path.display())))?;
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

/// Reads the weights (as f64) and the sidecar.
///
/// # Errors
/// A missing or malformed file, or weights that do not match the sidecar.
pub fn load(path: &Path) -> Result<(Params, Sidecar)> {
    let side = sidecar_path(path);
    if !path.is_file() {
        return Err(FlowError::invalid(format!("{}: no such flow model file", path.display())));
    }
    let text = std::fs::read_to_string(&side).map_err(|e| io_err(&side, e))?;
    let sidecar: Sidecar = serde_json::from_str(&text).map_err(|e| FlowError::Sidecar { path: side.display().to_string(), message: e.to_string() })?;
    if sidecar.format != FORMAT {
        return Err(FlowError::Sidecar { path: side.display().to_string(), message: format!("format {:?}, expected {FORMAT:?}", sidecar.format) });
    }
    let d = sidecar.spec.dim;
    if sidecar.names.len() != d || sidecar.bounds.len() != d || sidecar.transforms.len() != d {
        return Err(FlowError::Sidecar { path: side.display().to_string(), message: format!("names, bounds and transforms must each have {d} entries") });
    }
    let params = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| FlowError::invalid(format!("{}: cannot read weights: {e}", path.display())))?;
    Ok((cast(&params, DType::F64)?, sidecar))
}

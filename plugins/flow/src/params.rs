//! A flow's parameters by name, and the names themselves: defined here once,
//! used by the layers that read them, the initializer ([`crate::build`]), the
//! f64 evaluator ([`crate::fast`]) and the loader's checks.
//!
//! ```text
//! c{k}.net.{j}.w / .b      network of transform k (RealNVP; maf{k}, nsf{k}, nsfar{k} for the other kinds),
//!                          linear map j: weights (in, out) and bias (out,)
//! lu{k}.lower / .upper     LU layer after transform k: d × d
//! lu{k}.log_s / .bias      (1, d)
//! an{p}.loc / .log_scale   ActNorm after pair p: (1, d)
//! L.loc / L.log_scale      the final scale-and-shift: (1, d)
//! ```

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use crate::error::{FlowError, Result};
use crate::spec::FlowKind;

/// Parameters of a flow by name (`c0.net.1.w`, `L.loc`, ...).
pub type Params = HashMap<String, Tensor>;

/// Prefix of the final scale-and-shift layer `L`.
pub const OUTPUT: &str = "L";

/// Prefix of the network of transform `k`.
pub fn transform(kind: FlowKind, k: usize) -> String {
    match kind {
        FlowKind::Realnvp => format!("c{k}.net"),
        FlowKind::Maf => format!("maf{k}.net"),
        FlowKind::NsfCoupling => format!("nsf{k}.net"),
        FlowKind::NsfAr => format!("nsfar{k}.net"),
    }
}

/// Weights `(in, out)` of linear map `j` of the network `net`.
pub fn weight(net: &str, j: usize) -> String {
    format!("{net}.{j}.w")
}

/// Bias `(out,)` of linear map `j` of the network `net`.
pub fn bias(net: &str, j: usize) -> String {
    format!("{net}.{j}.b")
}

/// Prefix of the ActNorm layer after pair `p`.
pub fn actnorm(p: usize) -> String {
    format!("an{p}")
}

/// Prefix of the LU layer after transform `k`.
pub fn lu(k: usize) -> String {
    format!("lu{k}")
}

/// Shift `(1, d)` of a per-dimension affine layer.
pub fn loc(prefix: &str) -> String {
    format!("{prefix}.loc")
}

/// Log-scale `(1, d)` of a per-dimension affine layer.
pub fn log_scale(prefix: &str) -> String {
    format!("{prefix}.log_scale")
}

/// The parts of an LU layer, with their shapes for `d` coordinates.
pub fn lu_parts(prefix: &str, d: usize) -> [(String, Vec<usize>); 4] {
    [
        (format!("{prefix}.lower"), vec![d, d]),
        (format!("{prefix}.upper"), vec![d, d]),
        (format!("{prefix}.log_s"), vec![1, d]),
        (format!("{prefix}.bias"), vec![1, d]),
    ]
}

/// The tensor `name`.
///
/// # Errors
/// It is missing: the weights do not match the architecture.
pub fn get(params: &Params, name: &str) -> Result<Tensor> {
    params
        .get(name)
        .cloned()
        .ok_or_else(|| FlowError::invalid(format!("flow weights lack tensor {name:?}: the model file does not match its sidecar")))
}

/// The tensor `name` as f64 values, row-major.
///
/// # Errors
/// It is missing, or candle cannot convert it.
pub fn values_f64(params: &Params, name: &str) -> Result<Vec<f64>> {
    Ok(get(params, name)?.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?)
}

/// Tensors (f64, on `device`) from values and shapes by name.
///
/// # Errors
/// A shape that does not hold its values.
pub fn to_tensors(values: &HashMap<String, Vec<f64>>, shapes: &HashMap<String, Vec<usize>>, device: &Device) -> Result<Params> {
    let mut out = Params::new();
    for (name, v) in values {
        let shape = shapes.get(name).cloned().unwrap_or_else(|| vec![v.len()]);
        out.insert(name.clone(), Tensor::from_vec(v.clone(), shape, device)?);
    }
    Ok(out)
}

/// Converts every parameter to `dtype` (f32 to train, f64 to evaluate).
///
/// # Errors
/// Candle conversion failure.
pub fn cast(params: &Params, dtype: DType) -> Result<Params> {
    params.iter().map(|(k, v)| Ok((k.clone(), v.to_dtype(dtype)?))).collect()
}

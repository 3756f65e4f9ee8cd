//! The log-density contract.

use ndarray::ArrayView2;

use crate::DensityError;

/// Any unnormalized log density on `R^dim`: a likelihood, a composite target,
/// a test target, an external model.
///
/// Evaluation is batched through [`log_density_batch`](LogDensity::log_density_batch)
/// so that an implementation can vectorize, parallelize, or ship the batch to
/// another process; samplers call the batched form.
pub trait LogDensity: Send + Sync {
    /// Number of parameters.
    fn dim(&self) -> usize;

    /// Log density at `theta`.
    ///
    /// # Errors
    /// [`DensityError::Reject`] for a point that cannot be evaluated (the
    /// sampler rejects it), [`DensityError::Fatal`] to stop the run.
    fn log_density(&self, theta: &[f64]) -> Result<f64, DensityError>;

    /// [`log_density_batch`](LogDensity::log_density_batch) into a caller's
    /// buffer (`out.len() == thetas.nrows()`), so that a sampler's inner loop
    /// allocates nothing. Implementations with a cheap per-point density
    /// override this; the default calls `log_density_batch`.
    ///
    /// # Errors
    /// As [`log_density_batch`](LogDensity::log_density_batch).
    fn log_density_into(&self, thetas: ArrayView2<'_, f64>, out: &mut [f64]) -> Result<(), DensityError> {
        let v = self.log_density_batch(thetas)?;
        if v.len() != out.len() {
            return Err(DensityError::Fatal(format!("the density returned {} values for {} points", v.len(), out.len())));
        }
        out.copy_from_slice(&v);
        Ok(())
    }

    /// Whether batches may be evaluated from several threads at once to gain
    /// speed. `false` for densities that serialize internally (a model in an
    /// external process): callers then send one batch at a time, as large as
    /// they can. Default `true`.
    fn concurrent(&self) -> bool {
        true
    }

    /// Log density of each row of `thetas`.
    ///
    /// A point whose evaluation was [rejected](DensityError::Reject) comes back
    /// as `NaN`, so that callers can count failed evaluations apart from
    /// `-∞` (zero density); samplers never accept a non-finite value.
    ///
    /// # Errors
    /// The first fatal error; the whole batch is then void.
    fn log_density_batch(&self, thetas: ArrayView2<'_, f64>) -> Result<Vec<f64>, DensityError> {
        let mut out = Vec::with_capacity(thetas.nrows());
        for row in thetas.rows() {
            let owned;
            let theta = match row.as_slice() {
                Some(s) => s,
                None => {
                    owned = row.to_vec();
                    &owned
                }
            };
            out.push(match self.log_density(theta) {
                Ok(v) => v,
                Err(e) if e.is_recoverable() => f64::NAN,
                Err(e) => return Err(e),
            });
        }
        Ok(out)
    }
}

/// A log density shows its dimension.
impl std::fmt::Debug for dyn LogDensity + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogDensity").field("dim", &self.dim()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Rejects negative first coordinates, fails fatally on 99.
    struct Picky;
    impl LogDensity for Picky {
        fn dim(&self) -> usize {
            2
        }
        fn log_density(&self, theta: &[f64]) -> Result<f64, DensityError> {
            if theta[0] == 99.0 {
                Err(DensityError::Fatal("model crashed".into()))
            } else if theta[0] < 0.0 {
                Err(DensityError::Reject("negative".into()))
            } else {
                Ok(-theta[0] - theta[1])
            }
        }
    }

    #[test]
    fn batch_maps_rejections_to_nan_and_stops_on_fatal() {
        let out = Picky.log_density_batch(array![[1.0, 2.0], [-1.0, 0.0]].view()).unwrap();
        assert_eq!(out[0], -3.0);
        assert!(out[1].is_nan());
        // Column-major rows are not contiguous: the default must still work.
        let t = array![[1.0, 3.0], [2.0, 4.0]].reversed_axes();
        assert_eq!(Picky.log_density_batch(t.view()).unwrap(), vec![-3.0, -7.0]);
        let err = Picky.log_density_batch(array![[99.0, 0.0]].view()).unwrap_err();
        assert!(!err.is_recoverable());
    }
}

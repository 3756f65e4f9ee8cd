//! The per-draw columns a chain may store beside its draws, and the one
//! container that holds a value for each of them.
//!
//! [`PerDraw<T>`] is used for every shape of per-draw data: which columns a
//! file stores ([`Columns`] = `PerDraw<bool>`), a block of rows read from a
//! file (`PerDraw<Option<Array2<f64>>>`), one iteration appended to a writer
//! (`PerDraw<Option<ArrayView1<f64>>>`), the writer's buffers
//! (`PerDraw<Vec<f64>>`). Code that treats the columns alike iterates over
//! [`Column::ALL`] instead of spelling out four fields.

/// One of the per-draw arrays of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Column {
    /// Log posterior (emcee's `log_prob`).
    LogProb,
    /// Log prior.
    LogPrior,
    /// Log likelihood.
    LogLikelihood,
    /// Importance weight (unnormalized).
    Weights,
}

impl Column {
    /// Every column, in file order.
    pub const ALL: [Column; 4] = [Column::LogProb, Column::LogPrior, Column::LogLikelihood, Column::Weights];

    /// The column's dataset name in a chain file.
    pub fn name(self) -> &'static str {
        match self {
            Column::LogProb => "log_prob",
            Column::LogPrior => "log_prior",
            Column::LogLikelihood => "log_likelihood",
            Column::Weights => "weights",
        }
    }

    /// Whether a value is allowed: log densities may be `-∞` (zero density)
    /// but never NaN or `+∞`; weights must be finite and non-negative.
    pub fn valid(self, v: f64) -> bool {
        match self {
            Column::Weights => v.is_finite() && v >= 0.0,
            _ => !(v.is_nan() || v == f64::INFINITY),
        }
    }
}

/// A value for each per-draw column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PerDraw<T> {
    /// Log posterior.
    pub log_prob: T,
    /// Log prior.
    pub log_prior: T,
    /// Log likelihood.
    pub log_likelihood: T,
    /// Importance weights.
    pub weights: T,
}

/// Which per-draw arrays a chain or file holds.
pub type Columns = PerDraw<bool>;

impl<T> PerDraw<T> {
    /// Builds each column's value with `f`.
    pub fn from_fn(mut f: impl FnMut(Column) -> T) -> Self {
        PerDraw {
            log_prob: f(Column::LogProb),
            log_prior: f(Column::LogPrior),
            log_likelihood: f(Column::LogLikelihood),
            weights: f(Column::Weights),
        }
    }

    /// The value of column `c`.
    pub fn get(&self, c: Column) -> &T {
        match c {
            Column::LogProb => &self.log_prob,
            Column::LogPrior => &self.log_prior,
            Column::LogLikelihood => &self.log_likelihood,
            Column::Weights => &self.weights,
        }
    }

    /// The value of column `c`, mutably.
    pub fn get_mut(&mut self, c: Column) -> &mut T {
        match c {
            Column::LogProb => &mut self.log_prob,
            Column::LogPrior => &mut self.log_prior,
            Column::LogLikelihood => &mut self.log_likelihood,
            Column::Weights => &mut self.weights,
        }
    }

    /// Applies `f` to every column's value.
    pub fn map<U>(self, mut f: impl FnMut(Column, T) -> U) -> PerDraw<U> {
        PerDraw {
            log_prob: f(Column::LogProb, self.log_prob),
            log_prior: f(Column::LogPrior, self.log_prior),
            log_likelihood: f(Column::LogLikelihood, self.log_likelihood),
            weights: f(Column::Weights, self.weights),
        }
    }

    /// References to the values.
    pub fn as_ref(&self) -> PerDraw<&T> {
        PerDraw { log_prob: &self.log_prob, log_prior: &self.log_prior, log_likelihood: &self.log_likelihood, weights: &self.weights }
    }

    /// `(column, value)` for every column, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (Column, &T)> {
        Column::ALL.into_iter().map(move |c| (c, self.get(c)))
    }
}

impl<T> PerDraw<Option<T>> {
    /// Which columns hold a value.
    pub fn present(&self) -> Columns {
        self.as_ref().map(|_, v| v.is_some())
    }

    /// `(column, value)` for the columns that hold one.
    pub fn present_iter(&self) -> impl Iterator<Item = (Column, &T)> {
        self.iter().filter_map(|(c, v)| v.as_ref().map(|v| (c, v)))
    }
}

impl Columns {
    /// Names of the columns present, in file order.
    pub fn names(&self) -> Vec<&'static str> {
        self.iter().filter(|(_, on)| **on).map(|(c, _)| c.name()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_map_and_name() {
        let c = Columns { log_prob: true, weights: true, ..Default::default() };
        assert_eq!(c.names(), ["log_prob", "weights"]);
        let v = PerDraw::from_fn(|c| c.name().len());
        assert_eq!(*v.get(Column::LogLikelihood), "log_likelihood".len());
        let o: PerDraw<Option<u8>> = PerDraw { log_prior: Some(1), ..Default::default() };
        assert_eq!(o.present(), Columns { log_prior: true, ..Default::default() });
        assert!(!Column::Weights.valid(-1.0) && Column::LogProb.valid(f64::NEG_INFINITY) && !Column::LogPrior.valid(f64::NAN));
    }
}

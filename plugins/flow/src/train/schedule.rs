//! The learning-rate schedule.

use crate::named::named_enum;

/// How the learning rate changes over the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LrSchedule {
    /// The base learning rate throughout.
    Constant,
    /// The base rate for the first half of the steps, then a cosine decay that would
    /// reach zero one step after the last (the default: the late small steps settle
    /// the fine structure).
    ///
    /// # Reference
    /// Loshchilov & Hutter (2017), *SGDR: Stochastic gradient descent with warm
    /// restarts*, ICLR (cosine annealing).
    #[default]
    Cosine,
}

named_enum!(LrSchedule, "learning-rate schedule", [Constant => "constant", Cosine => "cosine"]);

impl LrSchedule {
    /// The factor applied to the base learning rate at `step` (1-based) of `steps`.
    pub fn factor(self, step: usize, steps: usize) -> f64 {
        match self {
            LrSchedule::Constant => 1.0,
            LrSchedule::Cosine => {
                let hold = steps / 2;
                if step <= hold + 1 {
                    1.0
                } else {
                    let frac = (step - hold - 1) as f64 / (steps - hold) as f64;
                    0.5 * (1.0 + (std::f64::consts::PI * frac.min(1.0)).cos())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_and_print_by_name() {
        crate::testutil::check_names(&LrSchedule::ALL, "step", "unknown learning-rate schedule \"step\": use constant or cosine");
    }

    #[test]
    fn cosine_schedule_holds_then_decays_to_zero() {
        let c = LrSchedule::Cosine;
        assert_eq!(c.factor(1, 1000), 1.0);
        assert_eq!(c.factor(500, 1000), 1.0);
        assert_eq!(c.factor(501, 1000), 1.0);
        assert!((c.factor(751, 1000) - 0.5).abs() < 1e-12);
        let last = c.factor(1000, 1000);
        assert!(last > 0.0 && last < 1e-4, "{last}");
        assert!(c.factor(502, 1000) < 1.0 && c.factor(502, 1000) > 0.999);
        assert_eq!(c.factor(1, 1), 1.0);
        assert_eq!(LrSchedule::Constant.factor(1000, 1000), 1.0);
    }
}

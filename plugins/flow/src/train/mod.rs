//! Training a flow on draws: the losses ([`Loss`]), the learning-rate schedule
//! ([`LrSchedule`]), the settings and metrics ([`TrainSettings`],
//! [`TrainMetrics`]), the data in the flow's coordinates ([`LatentData`]) and
//! the loop ([`train`]: Adam on weighted mini-batches, validation split, early
//! stopping, seeded, non-finite losses guarded, sizes checked against memory
//! first).
//!
//! # Reference
//! Roch & Shen, *Learning informed prior distributions with normalizing flows for
//! Bayesian analysis*; Kingma & Ba (2015), *Adam*, ICLR.

mod data;
mod fit;
mod heldout;
mod loss;
mod schedule;
mod settings;

pub use data::LatentData;
pub use fit::{heldout_split, memory_needed, train, train_anchored, MAX_VAL_ROWS};
pub use heldout::HeldOutCheck;
pub use loss::Loss;
pub use schedule::LrSchedule;
pub use settings::{TrainMetrics, TrainSettings};

//! Two-stage flows from a spec file (`seqcal two-stage`): the spec
//! ([`spec`]), the components' draws ([`load`]), the run of both stages and
//! its output folder ([`run`]), and its report ([`report`]). The engine (terms,
//! the composite target, both stages, the TSFB baseline) is in
//! `seqcal-two-stage`.

pub mod example;
pub mod extrapolation;
pub mod load;
pub mod outdir;
pub mod report;
pub mod run;
pub mod spec;
pub mod target;
pub mod tsfb;

pub use spec::{CombineSpec, ComponentSpec, Coordinate, DrawSource, Spec, Stage2Options, TermSpec};

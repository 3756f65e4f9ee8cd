//! Small tensor helpers shared by the terms and the composite target.

pub(crate) use seqcal_flow::density::{const_row as row, inside, or_neg_inf, or_safe};

//! # seqcal-emulators: Gaussian-process emulators of model outputs
//!
//! A few hundred model runs at design points stand in for an expensive model
//! everywhere in the prior box: inputs scaled to the unit box, outputs
//! standardized and reduced by PCA, one Gaussian process per principal
//! component (friedrich, with ARD kernels), and a full predictive covariance
//! mapped back to observable space, implementing [`seqcal_api::Emulator`].
//!
//! It is empty until the emulator work lands.
#![warn(missing_docs)]

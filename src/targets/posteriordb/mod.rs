//! Five posteriors of the Stan posterior database (posteriordb), written by
//! hand from their Stan models: `eight_schools_noncentered`, `arK`,
//! `kidiq_interaction`, `low_dim_gauss_mix` and `gp_regr`.
//!
//! The data in `posteriordb/data/` are posteriordb's, copied unchanged from
//! `stan-dev/posteriordb` (BSD-3-Clause, see `posteriordb/data/LICENCE.md`)
//! and embedded in the binary.
//!
//! # Scales
//!
//! Each target is sampled on an unconstrained scale, as Stan does: a positive
//! parameter as its log, one in (0, 1) as its logit, `ordered[2] mu` as
//! `(mu[1], log(mu[2] - mu[1]))`. [`Target::likelihood`](crate::targets::Target::likelihood) is the full log
//! posterior in those coordinates, log-Jacobian of the constraining transform
//! included, [`Target::prior`](crate::targets::Target::prior) is `None`, and [`Target::transform`](crate::targets::Target::transform) maps the
//! sampler's coordinates to the parameters stored in the chain, named and
//! ordered as the columns of posteriordb's `reference_draws.csv.gz`. Walkers
//! start uniformly in (-2, 2) on every sampler coordinate, as Stan's chains do.
//!
//! # Constants
//!
//! Stan's `~` statements drop constants; these densities keep them (they cost
//! nothing: they are summed once at construction). Every term is the
//! normalized log density of its distribution, a half-normal or half-Cauchy
//! prior on a positive parameter counting twice its full density on the
//! half-line, so that for the models with proper priors (all but
//! `kidiq_interaction`, whose coefficients have a flat prior) the target is
//! the log of prior × likelihood. The normalizing constant of the posterior
//! (the evidence) is not known: `log_z` is `None`, and the densities are
//! unnormalized posteriors.
//!
//! # Bad points
//!
//! A non-finite coordinate or a non-finite result is a
//! [`DensityError::Reject`](seqcal_api::DensityError::Reject), never a silent NaN; a point of zero prior density
//! reached by overflow (a scale of `e^800`) is `-inf`; a GP covariance that is
//! not numerically positive definite is a [`DensityError::Reject`](seqcal_api::DensityError::Reject).

mod ark;
mod eight_schools;
mod gauss_mix;
mod gp_regr;
mod kidiq;
mod model;
#[cfg(test)]
mod tests;

use super::target::TargetEntry;

/// seqcal's targets of this database, by name.
pub(super) fn entries() -> Vec<TargetEntry> {
    vec![
        TargetEntry {
            name: "eight_schools_noncentered",
            help: "posteriordb eight_schools-eight_schools_noncentered: 8 school effects theta = mu + tau theta_trans, tau ~ half-Cauchy(0, 5); \
                   funnel-like coupling of tau and theta_trans (tau from 3e-4 to 33 in the reference draws); sampled as (theta_trans[1..8], mu, log_tau)",
            build: eight_schools::build,
        },
        TargetEntry {
            name: "arK",
            help: "posteriordb arK-arK: AR(5) model of a 200-point series, N(0, 10) coefficients, sigma ~ half-Cauchy(0, 2.5); \
                   neighbouring lag coefficients correlated down to -0.63; sampled as (alpha, beta[1..5], log_sigma)",
            build: ark::build,
        },
        TargetEntry {
            name: "kidiq_interaction",
            help: "posteriordb kidiq-kidscore_interaction: regression of 434 kid scores on mom_hs, mom_iq and their product, flat prior on beta, \
                   sigma ~ half-Cauchy(0, 2.5); coefficients correlated up to |0.99| with scales 0.1 to 20; sampled as (beta[1..4], log_sigma)",
            build: kidiq::build,
        },
        TargetEntry {
            name: "low_dim_gauss_mix",
            help: "posteriordb low_dim_gauss_mix-low_dim_gauss_mix: two-component normal mixture of 1000 points with ordered means, \
                   theta ~ beta(5, 5); log_mix likelihood and the ordering constraint; sampled as (mu[1], log(mu[2]-mu[1]), log_sigma[1..2], logit_theta)",
            build: gauss_mix::build,
        },
        TargetEntry {
            name: "gp_regr",
            help: "posteriordb gp_pois_regr-gp_regr: exact GP marginal likelihood of 11 points, squared-exponential kernel plus sigma (not sigma^2) \
                   on the diagonal, rho ~ gamma(25, 4), alpha ~ N+(0, 2), sigma ~ N+(0, 1); an 11x11 Cholesky per evaluation; sampled as (log_rho, log_alpha, log_sigma)",
            build: gp_regr::build,
        },
    ]
}

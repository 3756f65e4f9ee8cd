//! Flow layers on candle: each maps a batch `(n, d)` forward (base → data) and
//! inverse (data → base) and returns `log|det J|` of that direction per row
//! ([`Layer`]), differentiably, so that every architecture trains with the
//! crate's losses and Adam and gives a log density on candle tensors.
//!
//! - [`AffineCoupling`] (RealNVP) and [`ElementwiseAffine`] (the final `L`);
//! - [`ActNorm`]: a data-initialized per-dimension affine layer;
//! - [`Made`] and [`MaskedAffine`] (MAF);
//! - [`SplineCoupling`] and [`SplineAutoregressive`] (neural spline flows);
//! - [`LuLinear`]: an LU-decomposed invertible linear map;
//! - [`Mlp`]: the networks inside the transforms.
//!
//! Which layers make up a flow, in which order and under which parameter names
//! is decided in one place, [`crate::build`].
//!
//! # Reference
//! Dinh, Sohl-Dickstein & Bengio (2017), *Density estimation using Real NVP*, ICLR;
//! Papamakarios, Pavlakou & Murray (2017), *Masked autoregressive flow for density
//! estimation*, NeurIPS; Germain, Gregor, Murray & Larochelle (2015), *MADE*, ICML;
//! Durkan, Bekasov, Murray & Papamakarios (2019), *Neural spline flows*, NeurIPS;
//! Kingma & Dhariwal (2018), *Glow*, NeurIPS (ActNorm, LU-decomposed linear layers).

mod actnorm;
pub(crate) mod affine;
pub(crate) mod layer;
mod lu;
mod made;
mod mlp;
mod spline;

pub use actnorm::ActNorm;
pub use affine::{parity_mask, AffineCoupling, ElementwiseAffine};
pub use layer::Layer;
pub use lu::LuLinear;
pub use made::{Made, MaskedAffine};
pub use mlp::{activate, Mlp};
pub use spline::{rq_forward, rq_inverse, SplineAutoregressive, SplineCoupling};

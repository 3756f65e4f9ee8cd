//! Product of independent blocks.

use ndarray::{s, Array2};
use rand::Rng;
use seqcal_api::{ParamSpace, Prior, PriorError, StageContext};
use serde::Deserialize;

use super::spec::builtin_plugin;

/// `p(θ) = Π_k p_k(θ_k)`: independent priors over disjoint blocks of
/// parameters, concatenated in the order given.
#[derive(Debug)]
pub struct Product {
    space: ParamSpace,
    blocks: Vec<Box<dyn Prior>>,
    /// Start column of each block.
    offsets: Vec<usize>,
}

impl Product {
    /// The product of `blocks`.
    ///
    /// # Errors
    /// No blocks, or a parameter name used by two blocks.
    pub fn new(blocks: Vec<Box<dyn Prior>>) -> Result<Self, PriorError> {
        if blocks.is_empty() {
            return Err(PriorError::spec("product", "needs at least one block"));
        }
        let space = ParamSpace::concat(blocks.iter().map(|b| b.space())).map_err(|e| PriorError::spec("product", e.to_string()))?;
        let mut offsets = Vec::with_capacity(blocks.len());
        let mut at = 0;
        for b in &blocks {
            offsets.push(at);
            at += b.dim();
        }
        Ok(Product { space, blocks, offsets })
    }
}

impl Prior for Product {
    fn space(&self) -> &ParamSpace {
        &self.space
    }

    fn log_prob(&self, theta: &[f64]) -> f64 {
        if theta.len() != self.space.dim() {
            return f64::NEG_INFINITY;
        }
        let mut total = 0.0;
        for (b, &o) in self.blocks.iter().zip(&self.offsets) {
            total += b.log_prob(&theta[o..o + b.dim()]);
            if total == f64::NEG_INFINITY {
                break;
            }
        }
        total
    }

    fn sample(&self, rng: &mut dyn Rng, n: usize) -> Array2<f64> {
        let mut out = Array2::zeros((n, self.space.dim()));
        for (b, &o) in self.blocks.iter().zip(&self.offsets) {
            out.slice_mut(s![.., o..o + b.dim()]).assign(&b.sample(rng, n));
        }
        out
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self.blocks.iter().map(|b| format!("[{}]", b.describe())).collect();
        format!("product: {}", parts.join(" x "))
    }
}

/// The table of `kind = "product"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductOptions {
    /// The blocks, each a prior table with its own `kind` and `names` (required).
    blocks: Option<Vec<toml::Table>>,
}

impl ProductOptions {
    /// The product of the blocks, each built by the registry.
    ///
    /// # Errors
    /// No blocks, a block without its own names, a block's own error, or a
    /// name used by two blocks.
    pub fn check(self, ctx: &StageContext<'_>) -> Result<Product, PriorError> {
        let blocks = self.blocks.ok_or_else(|| PriorError::spec("product", "missing key \"blocks\" (a list of prior tables)"))?;
        let inner = ctx.without_space();
        let built = blocks
            .iter()
            .enumerate()
            .map(|(i, table)| {
                if !table.contains_key("names") {
                    return Err(PriorError::spec("product", format!("block {i} needs its own \"names\"")));
                }
                ctx.factory.build(table, &inner)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Product::new(built)
    }
}

builtin_plugin!(
    /// Registry entry for `kind = "product"`.
    ProductPlugin,
    ProductOptions,
    "product",
    "independent blocks: blocks = [ { kind = ..., names = [...], ... }, ... ]",
    {
        "blocks" => "a list of prior tables, each with its own kind and names",
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prior::testing::{check_moments, integrate};
    use crate::prior::{Normal, UniformBox};

    #[test]
    fn product_is_normalized_with_block_moments() {
        let u = UniformBox::new(ParamSpace::new(vec!["a".into()], vec![(0.0, 2.0)]).unwrap()).unwrap();
        let n = Normal::new(vec!["b".into()], vec![5.0], vec![0.3]).unwrap();
        let p = Product::new(vec![Box::new(u), Box::new(n)]).unwrap();
        assert_eq!(p.names(), ["a", "b"]);
        assert_eq!(p.bounds()[0], (0.0, 2.0));
        assert_eq!(p.bounds()[1].1, f64::INFINITY);
        let z = integrate(&p, &[(-1.0, 3.0), (2.0, 8.0)], 800);
        assert!((z - 1.0).abs() < 1e-2, "integral {z}");
        check_moments(&p, &[1.0, 5.0], &[4.0 / 12.0, 0.09], 19);
        assert_eq!(p.log_prob(&[3.0, 5.0]), f64::NEG_INFINITY);
    }

    #[test]
    fn product_rejects_shared_names() {
        let a = Normal::new(vec!["a".into()], vec![0.0], vec![1.0]).unwrap();
        let b = Normal::new(vec!["a".into()], vec![0.0], vec![1.0]).unwrap();
        assert!(Product::new(vec![Box::new(a), Box::new(b)]).is_err());
    }
}

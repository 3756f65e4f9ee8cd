//! The white-dwarf analogue as a composite target: each star's software
//! density on candle tensors (so the exact composite can be sampled, or a
//! stage-2 fit run against the exact components), the composite builder and
//! the spec file.

use std::sync::Arc;

use candle_core::Tensor;

use super::{DwarfExample, Star, AGE_BOX, GAMMA_PRIOR, RHO, TAU};
use crate::error::Result;
use crate::target::{Combination, CompositeTarget, Factor, Role};
use crate::terms::{HierarchicalNormal, Normal};
use crate::DiffLogDensity;

const LN_2PI: f64 = 1.8378770664093453;

fn col(x: &Tensor, k: usize) -> candle_core::Result<Tensor> {
    x.narrow(1, k, 1)?.squeeze(1)
}

impl DiffLogDensity for Star {
    fn dim(&self) -> usize {
        5
    }

    fn log_density(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (age, mass, dist, feh, av) = (col(x, 0)?, col(x, 1)?, col(x, 2)?, col(x, 3)?, col(x, 4)?);
        let inside = age.gt(AGE_BOX.0)?.mul(&age.lt(AGE_BOX.1)?)?.mul(&av.gt(0.0)?)?;
        let av = inside.where_cond(&av, &av.ones_like()?)?;
        let z0 = ((age - self.age.0)? / self.age.1)?;
        let z1 = ((((mass - self.mass.0)? - ((z0.sqr()? - 1.0)? * self.mass.2)?)?) / self.mass.1)?;
        let s = (1.0 - RHO * RHO).sqrt();
        let z2 = ((((dist - self.dist.0)? / self.dist.1)? - (&z0 * RHO)?)? / s)?;
        let w = ((feh - self.feh.0)? * (0.5 / self.feh.1))?;
        let w2p1 = (w.sqr()? + 1.0)?;
        let asinh = (&w + w2p1.sqrt()?)?.log()?;
        let z3 = ((asinh * 2.0)? - (&z1 * 0.5)?)?;
        let lav = av.log()?;
        let z4 = (((&lav - self.log_av)? - (&z0 * 0.2)?)? / 0.3)?;
        let quad = ((((z0.sqr()? + z1.sqr()?)? + z2.sqr()?)? + z3.sqr()?)? + z4.sqr()?)?;
        let c = -2.5 * LN_2PI - (self.age.1.ln() + self.mass.1.ln() + (self.dist.1 * s).ln() + self.feh.1.ln() + 0.3f64.ln());
        let v = ((((quad * -0.5)? - (w2p1.log()? * 0.5)?)? - lav)? + c)?;
        inside.where_cond(&v, &(v.zeros_like()? + f64::NEG_INFINITY)?)
    }

    fn describe(&self) -> String {
        format!("software density of a star (log age {:.3} ± {:.3} before the cut to {:?})", self.age.0, self.age.1, AGE_BOX)
    }

    fn bounds(&self) -> Vec<(f64, f64)> {
        vec![
            AGE_BOX,
            (f64::NEG_INFINITY, f64::INFINITY),
            (f64::NEG_INFINITY, f64::INFINITY),
            (f64::NEG_INFINITY, f64::INFINITY),
            (0.0, f64::INFINITY),
        ]
    }
}

impl DwarfExample {
    /// The composite with `components[i]` standing for star `i`'s software
    /// density (its stage-1 flow, or the star itself for the exact
    /// composite), the hierarchical normal on the ages and `γ`, and `γ`'s
    /// prior. The software's uniform age prior is constant inside the box
    /// the components live in, so dividing it out changes nothing but a
    /// constant; it is left out.
    ///
    /// # Errors
    /// As [`CompositeTarget::new`].
    pub fn target(&self, components: Vec<Arc<dyn DiffLogDensity>>) -> Result<CompositeTarget> {
        let n = self.stars.len();
        let mut factors: Vec<Factor> = components
            .into_iter()
            .enumerate()
            .map(|(i, g)| Factor {
                label: format!("star_{:02}", i + 1),
                coords: (5 * i..5 * i + 5).collect(),
                density: g,
                role: Role::Sample { component: i },
            })
            .collect();
        let mut pop: Vec<usize> = (0..n).map(|i| 5 * i).collect();
        pop.push(5 * n);
        factors.push(Factor {
            label: "population".into(),
            coords: pop,
            density: Arc::new(HierarchicalNormal { k: n, tau: TAU }),
            role: Role::Analytic,
        });
        let prior = Normal { mean: vec![GAMMA_PRIOR.0], sd: vec![GAMMA_PRIOR.1] };
        factors.push(Factor { label: "gamma prior".into(), coords: vec![5 * n], density: Arc::new(prior), role: Role::Analytic });
        CompositeTarget::new(self.names(), factors, Combination::Product)
    }

    /// The stars themselves as components: with them [`target`](Self::target)
    /// is the exact composite.
    pub fn exact_components(&self) -> Vec<Arc<dyn DiffLogDensity>> {
        self.stars.iter().map(|s| Arc::new(s.clone()) as Arc<dyn DiffLogDensity>).collect()
    }

    /// The spec file (`seqcal two-stage run`), the pools in `star_<i>.csv`
    /// beside it; `settings` appended verbatim.
    pub fn spec_toml(&self, seed: u64, settings: &str) -> String {
        let names = self.names();
        let n = self.stars.len();
        let coords: Vec<String> = names
            .iter()
            .map(|c| {
                if c.starts_with("age_") {
                    format!("{{ name = \"{c}\", bounds = [{:?}, {:?}] }}", AGE_BOX.0, AGE_BOX.1)
                } else {
                    format!("\"{c}\"")
                }
            })
            .collect();
        let mut s = String::from("# A 151-dimensional analogue of a white-dwarf age study: 30 stars x 5 parameters + gamma.\n");
        s += "# The software's uniform prior on each age is constant inside the age bounds: nothing to divide out.\n";
        s += &format!("seed = {seed}\ncoordinates = [\n  {}\n]\ncombine = \"product\"\n", coords.join(",\n  "));
        for i in 1..=n {
            let cols = &names[5 * (i - 1)..5 * i];
            s += &format!(
                "\n[[component]]\nlabel = \"star_{i:02}\"\nchain = \"star_{i:02}.csv\"\nnames = [{}]\n",
                cols.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ")
            );
        }
        let mut pop: Vec<String> = (0..n).map(|i| format!("\"{}\"", names[5 * i])).collect();
        pop.push("\"gamma\"".into());
        s += &format!("\n[[term]]\nkind = \"hierarchical_normal\"\ncoords = [{}]\ntau = {TAU:?}\n", pop.join(", "));
        s += &format!("\n[[term]]\nkind = \"normal\"\ncoords = [\"gamma\"]\nmean = {:?}\nsd = {:?}\n", GAMMA_PRIOR.0, GAMMA_PRIOR.1);
        if !settings.is_empty() {
            s += "\n";
            s += settings;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn the_candle_density_matches_the_f64_one() {
        let ex = DwarfExample::new(0);
        let p = ex.pools(50, 4);
        let s = &ex.stars[7];
        let d = &p[7].draws;
        let mut rows: Vec<f64> = d.iter().copied().collect();
        // A point outside the box and one with a negative extinction.
        rows.extend([7.0, 0.6, 9.0, 0.0, 0.1, 9.0, 0.6, 9.0, 0.0, -0.1]);
        let t = Tensor::from_vec(rows.clone(), (52, 5), &Device::Cpu).unwrap().to_dtype(DType::F64).unwrap();
        let got: Vec<f64> = s.log_density(&t).unwrap().to_vec1().unwrap();
        for (k, g) in got.iter().enumerate() {
            let want = s.log_density_f64(&rows[5 * k..5 * k + 5]);
            assert!((g - want).abs() < 1e-9 || (g.is_infinite() && want.is_infinite() && *g < 0.0), "row {k}: {g} vs {want}");
        }
    }
}

//! [`Smc::state_bytes`] and [`Smc::restore`].

use ndarray::Array2;

use super::mutate::{Adapt, Population};
use super::persist::Generation;
use super::precond::Precond;
use super::space::{Densities, Space};
use super::{Iteration, Reader, Smc, SmcSettings, Writer, MAGIC};
use crate::{Error, Result};

impl Smc {
    /// The full state: every temperature's particles and densities, temperature, evidence, step
    /// sizes, the flow's parameters, the random stream's position and every
    /// step's report, with the settings and seed they belong to.
    pub fn state_bytes(&self) -> Vec<u8> {
        let mut w = Writer(MAGIC.to_vec());
        w.str(&serde_json::to_string(&self.settings).expect("settings serialize"));
        w.u64(self.seed);
        w.str(&serde_json::to_string(&self.space).expect("space serializes"));
        w.f64(self.beta_final);
        w.u128(self.rng.get_word_pos());
        w.f64(self.beta);
        w.f64(self.log_z);
        w.f64(self.log_z_var);
        w.f64(self.adapt.walk_scale);
        w.f64(self.adapt.rho);
        w.u64(self.calls());
        w.u64(self.gens.len() as u64);
        for g in &self.gens {
            w.f64(g.beta);
            w.f64(g.log_z);
            w.u64(g.pop.y.ncols() as u64);
            w.f64s(g.pop.y.as_slice().expect("standard layout"));
            w.f64s(&g.pop.dens.log_ref);
            w.f64s(&g.pop.dens.ell);
        }
        match &self.flow {
            None => w.u64(0),
            Some(f) => {
                w.u64(1);
                w.str(&serde_json::to_string(&f.spec).expect("spec serializes"));
                w.f64(f.mismatch_at_fit);
                w.u64(f.params.len() as u64);
                for (name, shape, v) in &f.params {
                    w.str(name);
                    w.u64(shape.len() as u64);
                    shape.iter().for_each(|s| w.u64(*s as u64));
                    w.f64s(v);
                }
            }
        }
        match self.is_estimate {
            None => w.u64(0),
            Some((z, e)) => {
                w.u64(1);
                w.f64(z);
                w.f64(e);
            }
        }
        w.u64(self.history.len() as u64);
        for h in &self.history {
            w.f64s(&[h.beta, h.ess, h.log_z, h.accept, h.correlation]);
            w.u64(h.calls);
            w.u64(h.sweeps as u64);
            w.u64(h.flow as u64 | (h.refit as u64) << 1);
        }
        w.0
    }

    /// A sampler continued from `bytes` written by
    /// [`state_bytes`](Self::state_bytes) with the same settings and seed
    /// (the problem's coordinates are read from them).
    ///
    /// # Errors
    /// As [`restore`](Self::restore).
    pub fn from_state_bytes(settings: SmcSettings, seed: u64, bytes: &[u8]) -> Result<Self> {
        settings.check()?;
        let mut r = Reader::new(bytes)?;
        let (_, _) = (r.str()?, r.u64()?);
        let space: Space = serde_json::from_str(&r.str()?).map_err(|e| Error::Usage(format!("cannot resume: the stored SMC state: {e}")))?;
        let beta_final = r.f64()?;
        let mut smc = Smc::blank(settings, seed, space, beta_final);
        smc.restore(bytes)?;
        Ok(smc)
    }

    /// Continues from `bytes` written by [`state_bytes`](Self::state_bytes)
    /// of a run with the same settings, seed and posterior.
    ///
    /// # Errors
    /// Bytes that are not such a state, or one of other settings, seed or
    /// dimension.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<()> {
        let refuse = |m: String| Err(Error::Usage(format!("cannot resume: the stored SMC state {m}; start over with --force")));
        let mut r = Reader::new(bytes)?;
        let settings = r.str()?;
        if settings != serde_json::to_string(&self.settings).expect("settings serialize") {
            return refuse(format!("was made with other settings ({settings})"));
        }
        if r.u64()? != self.seed {
            return refuse("was made with another seed".into());
        }
        let space = r.str()?;
        let beta_final = r.f64()?;
        if space != serde_json::to_string(&self.space).expect("space serializes") || beta_final.to_bits() != self.beta_final.to_bits() {
            return refuse("was made for another problem (other parameters, bounds or tempering exponent)".into());
        }
        let word = r.u128()?;
        let (beta, log_z, log_z_var, walk_scale, rho) = (r.f64()?, r.f64()?, r.f64()?, r.f64()?, r.f64()?);
        let calls = r.u64()?;
        let d = self.space.dim();
        let k = r.len()?;
        let mut gens = Vec::with_capacity(k);
        for _ in 0..k {
            let (g_beta, g_log_z) = (r.f64()?, r.f64()?);
            let cols = r.u64()? as usize;
            let y = r.f64s()?;
            let (log_ref, ell) = (r.f64s()?, r.f64s()?);
            let n = ell.len();
            let sizes = [self.settings.active_particles(), self.settings.particles];
            if cols != d || !sizes.contains(&n) || y.len() != n * d || log_ref.len() != n {
                return refuse(format!("holds particles of another shape than {} or {} x {d}", sizes[0], sizes[1]));
            }
            let y = Array2::from_shape_vec((n, d), y).expect("checked shape");
            gens.push(Generation { pop: Population { y, dens: Densities { log_ref, ell } }, beta: g_beta, log_z: g_log_z });
        }
        let flow = match r.u64()? {
            0 => None,
            _ => {
                let spec = serde_json::from_str(&r.str()?).map_err(|e| Error::Usage(format!("cannot resume: the stored flow: {e}")))?;
                let mismatch = r.f64()?;
                let k = r.len()?;
                let mut params = Vec::with_capacity(k);
                for _ in 0..k {
                    let name = r.str()?;
                    let rank = r.len()?;
                    let shape = (0..rank).map(|_| r.u64().map(|v| v as usize)).collect::<Result<Vec<_>>>()?;
                    params.push((name, shape, r.f64s()?));
                }
                Some(Precond::from_parts(spec, params, mismatch)?)
            }
        };
        let is_estimate = match r.u64()? {
            0 => None,
            _ => Some((r.f64()?, r.f64()?)),
        };
        let k = r.len()?;
        let mut history = Vec::with_capacity(k);
        for _ in 0..k {
            let v = r.f64s()?;
            if v.len() != 5 {
                return refuse("has a malformed step report".into());
            }
            let (calls, sweeps, flags) = (r.u64()?, r.u64()? as usize, r.u64()?);
            history.push(Iteration {
                beta: v[0],
                ess: v[1],
                log_z: v[2],
                accept: v[3],
                correlation: v[4],
                calls,
                sweeps,
                flow: flags & 1 == 1,
                refit: flags & 2 == 2,
            });
        }
        r.finish()?;
        self.rng.set_word_pos(word);
        self.gens = gens;
        self.flow = flow;
        self.history = history;
        self.is_estimate = is_estimate;
        (self.beta, self.log_z, self.log_z_var) = (beta, log_z, log_z_var);
        self.adapt = Adapt { walk_scale, rho };
        self.calls = calls;
        Ok(())
    }
}

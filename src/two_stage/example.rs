//! `seqcal example generate --kind hierarchical-a | hierarchical-b | dwarfs`:
//! a worked two-stage example's spec file and its software pools (CSV), so
//! that `seqcal two-stage run` and `tsfb` can be tried on a composite whose
//! exact answer is known (examples/two-stage/README.md).

use std::path::{Path, PathBuf};

use seqcal_two_stage::examples::dwarfs::DwarfExample;
use seqcal_two_stage::examples::hierarchical::{HierarchicalCase, REFERENCE_Y_A};
use seqcal_two_stage::examples::write_csv;
use seqcal_two_stage::SampleComponent;

use crate::{Error, Result};

/// The two-stage kinds `seqcal example generate` knows.
pub const KINDS: [&str; 3] = ["hierarchical-a", "hierarchical-b", "dwarfs"];

/// Draws per software pool.
pub const POOL: usize = 30_000;

/// The spec's text and the pools of `kind` with seed `seed`.
///
/// # Errors
/// An unknown kind.
pub fn build(kind: &str, seed: u64) -> Result<(String, Vec<SampleComponent>)> {
    Ok(match kind {
        "hierarchical-a" | "hierarchical-b" => {
            let a = kind == "hierarchical-a";
            let c = if a { HierarchicalCase::a() } else { HierarchicalCase::b() };
            let y = if a { REFERENCE_Y_A.to_vec() } else { c.data(0) };
            (c.spec_toml(seed, ""), c.pools(&y, POOL, seed))
        }
        "dwarfs" => {
            let ex = DwarfExample::new(0);
            (ex.spec_toml(seed, ""), ex.pools(POOL, seed))
        }
        other => return Err(Error::Usage(format!("--kind {other}: the two-stage examples are {}", KINDS.join(", ")))),
    })
}

/// The files [`generate`] writes for `pools`: `spec.toml`, then one CSV per pool.
pub fn files(pools: &[SampleComponent]) -> Vec<String> {
    std::iter::once("spec.toml".to_string()).chain(pools.iter().map(|p| format!("{}.csv", p.label))).collect()
}

/// Writes the pools and then the spec file (from [`build`]) into `dir`;
/// returns the spec's path.
///
/// # Errors
/// A failed write.
pub fn generate(dir: &Path, spec: &str, pools: &[SampleComponent]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for p in pools {
        let path = dir.join(format!("{}.csv", p.label));
        write_csv(p, &path).map_err(|e| Error::io(&path, e))?;
    }
    let path = dir.join("spec.toml");
    std::fs::write(&path, spec).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

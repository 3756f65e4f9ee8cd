//! Writes the 7-D test chains of the flow accuracy benchmarks:
//! `cargo run --release --example make_test_chains [-- OUT_DIR]` (default `chains/testdata`).
//!
//! - `bounded7d_train.h5`: 85 000 exact draws of [`seqcal_flow::testdata::bounded_7d`]
//!   with seed 1, to train on;
//! - `bounded7d_truth.h5`: 85 000 more with seed 2, held out as the truth.
//!
//! The density has peaks at the box boundary, long tails, correlations and one
//! bimodal parameter (see `bounded_7d`'s documentation); each draw's `log_prob` is
//! its exact normalized log density. The draws are independent, so each file is
//! one walker of 85 000 iterations with every draw counted as accepted. Both are
//! written through seqcal's chain writer in the emcee-compatible layout of
//! `chains/README.md`; `tests/test_chains.rs` checks the shipped files against
//! this generator.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ndarray::Array1;
use seqcal::chain::{ChainLayout, ChainWriter, Column, Columns, Step};
use seqcal_flow::testdata::{bounded_7d, names, BOUNDED_7D_BOX};

/// Draws per file.
const N: usize = 85_000;
/// Rows per flush, and so per HDF5 chunk: 5 full chunks, no padding in the file.
const FLUSH: usize = 17_000;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("chains/testdata"));
    std::fs::create_dir_all(&dir)?;
    for (file, seed, role) in [("bounded7d_train.h5", 1u64, "training draws"), ("bounded7d_truth.h5", 2, "held-out truth")] {
        let (x, lp) = bounded_7d(N, seed);
        let attrs = BTreeMap::from([
            ("generator".to_string(), "seqcal_flow::testdata::bounded_7d".to_string()),
            ("seed".to_string(), seed.to_string()),
            ("sampler".to_string(), "exact independent draws".to_string()),
            ("role".to_string(), role.to_string()),
        ]);
        let layout =
            ChainLayout::new(names(), 1).bounds(BOUNDED_7D_BOX.to_vec()).columns(Columns { log_prob: true, ..Default::default() }).attrs(attrs);
        let path = dir.join(file);
        let mut w = ChainWriter::create(&path, &layout, FLUSH)?;
        for (i, &lp_i) in lp.iter().enumerate().take(N) {
            let row = x.slice(ndarray::s![i..i + 1, ..]);
            let l = Array1::from_elem(1, lp_i);
            w.append(Step::new(row).with(Column::LogProb, l.view()).accepted(&[true]))?;
        }
        w.finish()?;
        println!("wrote {} ({N} draws, seed {seed}, {} bytes)", path.display(), std::fs::metadata(&path)?.len());
    }
    Ok(())
}

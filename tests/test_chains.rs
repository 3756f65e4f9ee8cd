//! The shipped 7-D test chains (`chains/testdata/bounded7d_{train,truth}.h5`, written by
//! `cargo run --release --example make_test_chains`) are exactly what the seeded
//! generator `seqcal_flow::testdata::bounded_7d` produces, and each draw's
//! `log_prob` is the density's exact log density.

use std::path::Path;

use seqcal::chain::read_hdf5;
use seqcal_flow::testdata::{bounded_7d, bounded_7d_log_density, names, BOUNDED_7D_BOX};

fn check(file: &str, seed: u64) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("chains/testdata").join(file);
    let chain = read_hdf5(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(chain.names, names());
    assert_eq!(chain.bounds, BOUNDED_7D_BOX.to_vec());
    assert_eq!((chain.iterations(), chain.walkers(), chain.dim()), (85_000, 1, 7));
    assert_eq!(chain.attrs.get("seed").map(String::as_str), Some(seed.to_string().as_str()));
    let lp = chain.log_prob.as_ref().expect("the test chains carry log_prob");
    let (x, lp_gen) = bounded_7d(85_000, seed);
    let mut worst_draw = 0f64;
    let mut worst_lp = 0f64;
    for i in 0..85_000 {
        let row: Vec<f64> = chain.draws.slice(ndarray::s![i, 0, ..]).to_vec();
        for (a, b) in row.iter().zip(x.row(i)) {
            worst_draw = worst_draw.max((a - b).abs() / b.abs().max(1.0));
        }
        let exact = bounded_7d_log_density(&row);
        assert!(exact.is_finite(), "{file}: draw {i} lies outside the box");
        worst_lp = worst_lp.max((lp[[i, 0]] - exact).abs()).max((lp[[i, 0]] - lp_gen[i]).abs());
    }
    // Same seed, same draws (bit for bit on one platform; 1e-12 allows another libm).
    assert!(worst_draw < 1e-12, "{file}: draws differ from the generator's by {worst_draw}");
    assert!(worst_lp < 1e-9, "{file}: log_prob differs from the exact log density by {worst_lp}");
}

#[test]
fn shipped_training_chain_matches_the_generator() {
    check("bounded7d_train.h5", 1);
}

#[test]
fn shipped_truth_chain_matches_the_generator() {
    check("bounded7d_truth.h5", 2);
}

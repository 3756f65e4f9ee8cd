//! `seqcal prior scan`: ranked by either metric, its table read as the
//! paper's Tables 2-3 (layers, batch, lr, loss, ⟨D_KL⟩, floor).

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::succeeds;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn scan_ranks_by_either_metric_beside_its_floor() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut text = String::from("u,v\n");
    for _ in 0..3000 {
        let (a, b): (f64, f64) = (StandardNormal.sample(&mut rng), StandardNormal.sample(&mut rng));
        let _ = writeln!(text, "{:.17e},{:.17e}", a, 0.6 * a + 0.8 * b);
    }
    let chain = dir.path().join("chain.csv");
    std::fs::write(&chain, text).unwrap();
    let scan = |by: &str| -> (String, Value) {
        let out = dir.path().join(by);
        let mut args = vec!["prior", "scan", s(&chain), "-o", s(&out), "-q", "--rank-by", by];
        args.extend(["--loss", "nll", "--steps", "40", "--hidden", "8", "--batch", "100,300", "--lr", "1e-3,1e-2"]);
        let md = succeeds(&args);
        (md, serde_json::from_str(&std::fs::read_to_string(out.join("scan.json")).unwrap()).unwrap())
    };
    for (by, key) in [("paper", "d_kl"), ("seqcal", "kl_1d")] {
        let (md, j) = scan(by);
        assert_eq!(j["rank_by"], by);
        let rows = j["configurations"].as_array().unwrap();
        assert_eq!(rows.len(), 4);
        let v: Vec<f64> = rows.iter().map(|r| r[key].as_f64().unwrap()).collect();
        assert!(v.windows(2).all(|w| w[0] <= w[1]), "{by}: not ranked by {key}: {v:?}");
        assert!(j["floor_d_kl"].as_f64().unwrap() > 0.0 && j["floor_kl_1d"].as_f64().unwrap() > 0.0, "{j}");
        let header = md.lines().find(|l| l.starts_with("| rank")).unwrap();
        assert!(header.starts_with("| rank | layers | batch | lr | loss | ⟨D_KL⟩ | floor |"), "{md}");
    }
}

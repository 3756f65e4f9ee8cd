//! The fit's dense algebra, hand-written blocked routines against faer's, at
//! the benchmark sizes: `cargo run --release -p seqcal-emulators --features
//! faer-bench --example linalg_bench [REPS]`. One JSON line per size,
//! milliseconds per call (median of REPS, default 21), hand-written / faer.
use seqcal_emulators::linalg_bench::measure;

fn main() {
    let reps = std::env::args().nth(1).and_then(|r| r.parse().ok()).unwrap_or(21);
    // 300: the shipped synthetic example; 485: the heavy-ion stand-in; 500: the likelihood benchmark.
    for n in [300, 485, 500] {
        let t = measure(n, reps);
        let ms = |(a, b): (f64, f64)| format!("[{:.3}, {:.3}]", a * 1e3, b * 1e3);
        println!(
            "{{\"n\": {n}, \"cholesky_ms\": {}, \"tri_inverse_ms\": {}, \"inverse_product_ms\": {}, \"predict_product_256_ms\": {}, \"max_rel_diff\": {:.1e}, \"load\": \"{}\"}}",
            ms(t.cholesky),
            ms(t.tri_inverse),
            ms(t.inverse_product),
            ms(t.predict_product),
            t.max_rel_diff,
            std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').next().unwrap_or("?")
        );
    }
}

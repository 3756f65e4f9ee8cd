//! `seqcal two-stage run`, `sample` and the `two-stage` prior kind end to end
//! on a target with a known answer: the product of two Gaussian sample-based
//! components on (x0, x1), whose product is the Gaussian with precision
//! `Λ = Σa⁻¹ + Σb⁻¹` and mean `Λ⁻¹ (Σa⁻¹ ma + Σb⁻¹ mb)`.

mod common;

use std::path::Path;

use common::{fails, succeeds};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Draws per component.
const POOL: usize = 4000;
/// Draws of the result written by the run.
const DRAWS: usize = 20_000;

/// A 2-D Gaussian: mean and covariance.
struct Gauss {
    m: [f64; 2],
    s: [[f64; 2]; 2],
}

fn inv(a: [[f64; 2]; 2]) -> [[f64; 2]; 2] {
    let d = a[0][0] * a[1][1] - a[0][1] * a[1][0];
    [[a[1][1] / d, -a[0][1] / d], [-a[1][0] / d, a[0][0] / d]]
}

fn mul(a: [[f64; 2]; 2], v: [f64; 2]) -> [f64; 2] {
    [a[0][0] * v[0] + a[0][1] * v[1], a[1][0] * v[0] + a[1][1] * v[1]]
}

const A: Gauss = Gauss { m: [0.0, 1.0], s: [[1.0, 0.6], [0.6, 2.25]] };
const B: Gauss = Gauss { m: [1.0, -1.0], s: [[4.0, 0.0], [0.0, 1.0]] };

/// The product of A and B, and the matrices `Λ⁻¹ Σa⁻¹`, `Λ⁻¹ Σb⁻¹` that carry
/// each component's mean into the product's.
fn product() -> (Gauss, [[[f64; 2]; 2]; 2]) {
    let (pa, pb) = (inv(A.s), inv(B.s));
    let lam = [[pa[0][0] + pb[0][0], pa[0][1] + pb[0][1]], [pa[1][0] + pb[1][0], pa[1][1] + pb[1][1]]];
    let cov = inv(lam);
    let (ma, mb) = (mul(pa, A.m), mul(pb, B.m));
    let m = mul(cov, [ma[0] + mb[0], ma[1] + mb[1]]);
    let carry = |p: [[f64; 2]; 2]| {
        let mut c = [[0.0; 2]; 2];
        for i in 0..2 {
            for j in 0..2 {
                c[i][j] = cov[i][0] * p[0][j] + cov[i][1] * p[1][j];
            }
        }
        c
    };
    (Gauss { m, s: cov }, [carry(pa), carry(pb)])
}

fn write_pool(path: &Path, g: &Gauss, cols: [&str; 2], seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let l00 = g.s[0][0].sqrt();
    let l10 = g.s[1][0] / l00;
    let l11 = (g.s[1][1] - l10 * l10).sqrt();
    let mut text = format!("{},{}\n", cols[0], cols[1]);
    for _ in 0..POOL {
        let (z0, z1): (f64, f64) = (StandardNormal.sample(&mut rng), StandardNormal.sample(&mut rng));
        text.push_str(&format!("{},{}\n", g.m[0] + l00 * z0, g.m[1] + l10 * z0 + l11 * z1));
    }
    std::fs::write(path, text).unwrap();
}

const SPEC: &str = r#"
seed = 7
coordinates = ["x0", "x1"]

[[component]]
label = "A"
chain = "a.csv"
names = ["p", "q"]
coords = ["x0", "x1"]

[[component]]
label = "B"
chain = "b.csv"
names = ["x0", "x1"]

[stage1]
arch = "realnvp"
layers = 2
hidden = 16
steps = 800
batch = 500
lr = 3e-3
val_fraction = 0

[stage2]
layers = 2
hidden = 16
steps = 800
batch = 500
lr = 3e-3
eval_draws = 20000
"#;

fn moments(x: &ndarray::Array2<f64>) -> (Vec<f64>, Vec<f64>) {
    let m = x.mean_axis(ndarray::Axis(0)).unwrap().to_vec();
    let s = x.std_axis(ndarray::Axis(0), 0.0).to_vec();
    (m, s)
}

#[test]
fn a_product_of_two_gaussian_components_has_the_exact_moments_and_is_a_prior() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pool(&d.join("a.csv"), &A, ["p", "q"], 1);
    write_pool(&d.join("b.csv"), &B, ["x0", "x1"], 2);
    std::fs::write(d.join("spec.toml"), SPEC).unwrap();
    let out = d.join("out");
    let spec = d.join("spec.toml");
    let stdout = succeeds(&["two-stage", "run", spec.to_str().unwrap(), "-o", out.to_str().unwrap(), "--json", "--draws", &DRAWS.to_string()]);
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for f in ["stage1/1.safetensors", "stage1/2.safetensors", "draws.h5", "result.json", "summary.md", "corner.png", "stage1_1.png", "stage1_2.png"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert_eq!(std::fs::read_to_string(out.join("result.json")).unwrap().trim(), stdout.trim());
    assert_eq!(r["stage1"].as_array().unwrap().len(), 2);
    assert_eq!(r["stage2"]["elbo"].as_array().unwrap().len(), 800);

    // The exact answer, and the Monte Carlo error a perfect two-stage fit
    // still has: each component's mean is known from POOL draws (carried into
    // the product's mean by Λ⁻¹Σ⁻¹), and the result's moments from DRAWS draws.
    let (exact, carry) = product();
    let x = seqcal::chain::read_hdf5(&out.join("draws.h5")).unwrap().flat();
    assert_eq!(x.dim(), (DRAWS, 2));
    let (mean, sd) = moments(&x);
    for j in 0..2 {
        let sd_j = exact.s[j][j].sqrt();
        let pool_var: f64 = [(&carry[0], &A), (&carry[1], &B)]
            .iter()
            .map(|(c, g)| {
                let row = [c[j][0], c[j][1]];
                (row[0] * row[0] * g.s[0][0] + 2.0 * row[0] * row[1] * g.s[0][1] + row[1] * row[1] * g.s[1][1]) / POOL as f64
            })
            .sum();
        let se_mean = (pool_var + exact.s[j][j] / DRAWS as f64).sqrt();
        // The sd of a Gaussian from n draws has standard error sd / sqrt(2n); the pools' and the result's.
        let se_sd = sd_j * (1.0 / (2.0 * POOL as f64) + 1.0 / (2.0 * DRAWS as f64)).sqrt();
        eprintln!(
            "x{j}: mean {:.4} (exact {:.4}, 5 SE {:.4}), sd {:.4} (exact {sd_j:.4}, 5 SE {:.4})",
            mean[j],
            exact.m[j],
            5.0 * se_mean,
            sd[j],
            5.0 * se_sd
        );
        assert!((mean[j] - exact.m[j]).abs() < 5.0 * se_mean, "x{j}: mean {} vs exact {} (5 SE = {})", mean[j], exact.m[j], 5.0 * se_mean);
        assert!((sd[j] - sd_j).abs() < 5.0 * se_sd, "x{j}: sd {} vs exact {sd_j} (5 SE = {})", sd[j], 5.0 * se_sd);
        assert!((r["mean"][j].as_f64().unwrap() - mean[j]).abs() < 1e-12);
    }
    let ess = r["stage2"]["ess"].as_f64().unwrap();
    assert!(ess > 0.5 * 20000.0, "a Gaussian target is easy for the stage-2 flow: ESS {ess}");

    // `two-stage sample`: more draws of the same flow, another seed.
    let more = d.join("more.h5");
    succeeds(&["two-stage", "sample", out.to_str().unwrap(), "-n", "20000", "-o", more.to_str().unwrap(), "--seed", "3"]);
    let y = seqcal::chain::read_hdf5(&more).unwrap().flat();
    let (m2, _) = moments(&y);
    for j in 0..2 {
        let se = sd[j] * (2.0 / DRAWS as f64).sqrt();
        assert!((m2[j] - mean[j]).abs() < 5.0 * se, "x{j}: {} vs {}", m2[j], mean[j]);
    }
    assert!(fails(&["two-stage", "sample", out.to_str().unwrap(), "-n", "10", "-o", more.to_str().unwrap()]).contains("--force"));

    // The result as a prior: `seqcal prior sample` draws it, `seqcal sample` uses it.
    let prior = d.join("prior.toml");
    std::fs::write(&prior, format!("kind = \"two-stage\"\npath = {:?}\n", out.display().to_string())).unwrap();
    let pdraws = d.join("prior.h5");
    succeeds(&["prior", "sample", "--config", prior.to_str().unwrap(), "-n", "20000", "-o", pdraws.to_str().unwrap(), "--seed", "5"]);
    let z = seqcal::chain::read_hdf5(&pdraws).unwrap().flat();
    let (m3, s3) = moments(&z);
    for j in 0..2 {
        let se = sd[j] * (2.0 / DRAWS as f64).sqrt();
        assert!((m3[j] - mean[j]).abs() < 5.0 * se, "prior draws x{j}: {} vs {}", m3[j], mean[j]);
        assert!((s3[j] - sd[j]).abs() < 5.0 * sd[j] / (DRAWS as f64).sqrt(), "prior draws x{j}: sd {} vs {}", s3[j], sd[j]);
    }
    let chain = d.join("post.h5");
    succeeds(&[
        "sample",
        "--target",
        "gaussian:dim=2",
        "--prior",
        prior.to_str().unwrap(),
        "--walkers",
        "16",
        "--steps",
        "300",
        "--seed",
        "1",
        "-o",
        chain.to_str().unwrap(),
    ]);
    let c = seqcal::chain::read_hdf5(&chain).unwrap();
    assert!(c.attrs.get("prior").is_some_and(|p| p.contains("two-stage")), "{:?}", c.attrs.get("prior"));
    let bad = d.join("bad.toml");
    std::fs::write(&bad, format!("kind = \"two-stage\"\npath = {:?}\nlayers = 3\n", out.display().to_string())).unwrap();
    let e = fails(&["prior", "sample", "--config", bad.to_str().unwrap(), "-n", "10", "-o", d.join("x.h5").to_str().unwrap()]);
    assert!(e.contains("unknown key \"layers\""), "{e}");
}

#[test]
fn tsfb_runs_on_a_spec_and_refuses_overlapping_components() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pool(&d.join("a.csv"), &A, ["p", "q"], 1);
    write_pool(&d.join("b.csv"), &B, ["x0", "x1"], 2);
    let spec = d.join("spec.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let out = d.join("tsfb");
    let e = fails(&["two-stage", "tsfb", spec.to_str().unwrap(), "-o", out.to_str().unwrap(), "--iterations", "200", "--burn", "50", "-q"]);
    assert!(e.contains("TSFB"), "{e}");
    assert!(!out.exists());
    // One component on x0 and a normal term on x1: TSFB proposes x0 from the pool, x1 by a random walk.
    let one = "seed = 2\nnames = [\"x0\", \"x1\"]\n[[component]]\nchain = \"a.csv\"\nnames = [\"p\"]\ncoords = [\"x0\"]\n[[term]]\nkind = \"normal\"\ncoords = [\"x0\", \"x1\"]\nmean = [0, 3]\nsd = [2, 0.5]\n";
    std::fs::write(&spec, one).unwrap();
    let stdout = succeeds(&[
        "two-stage",
        "tsfb",
        spec.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--iterations",
        "3000",
        "--burn",
        "500",
        "--json",
        "-q",
    ]);
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(r["moves"].as_array().unwrap().len(), 2, "{r}");
    let x = seqcal::chain::read_hdf5(&out.join("draws.h5")).unwrap().flat();
    assert_eq!(x.dim(), (2500, 2));
    assert!(out.join("summary.md").is_file());
    assert!(fails(&["two-stage", "tsfb", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]).contains("--force"));
}

#[test]
fn a_pipeline_stage_of_kind_two_stage_feeds_a_later_two_stage_stage() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pool(&d.join("a.csv"), &A, ["p", "q"], 1);
    write_pool(&d.join("b.csv"), &B, ["x0", "x1"], 2);
    let small = SPEC.replace("steps = 800", "steps = 150");
    std::fs::write(d.join("combine.toml"), &small).unwrap();
    let later = "names = [\"x0\", \"x1\"]\n[[component]]\nfrom = \"combined\"\nnames = [\"x0\", \"x1\"]\n[[term]]\nkind = \"normal\"\ncoords = [\"x0\"]\nmean = 0\nsd = 1\n[stage1]\nsteps = 150\n[stage2]\nsteps = 150\neval_draws = 2000\n";
    std::fs::write(d.join("later.toml"), later).unwrap();
    let pipeline = "name = \"ts\"\n[parameters]\nnames = [\"x0\", \"x1\"]\nbounds = [[-30, 30], [-30, 30]]\n[datasets]\n\
        [[stages]]\nname = \"combined\"\nkind = \"two-stage\"\nspec = \"combine.toml\"\ndraws = 3000\n\
        [[stages]]\nname = \"later\"\nkind = \"two-stage\"\nspec = \"later.toml\"\ndraws = 2000\n";
    let p = d.join("pipeline.toml");
    std::fs::write(&p, pipeline).unwrap();
    let runs = d.join("runs");
    succeeds(&["run", p.to_str().unwrap(), "--runs-dir", runs.to_str().unwrap()]);
    let c = seqcal::chain::read_hdf5(&runs.join("ts/combined/chain.h5")).unwrap();
    assert_eq!(c.flat().dim(), (3000, 2));
    assert!(runs.join("ts/combined/two-stage/result.json").is_file());
    let later_result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(runs.join("ts/later/two-stage/result.json")).unwrap()).unwrap();
    assert_eq!(later_result["stage1"][0]["source"], "stage combined");
    assert_eq!(later_result["stage1"][0]["draws"], 3000);
    // A stage from a stage that is not defined is refused before anything runs.
    std::fs::write(d.join("later.toml"), later.replace("from = \"combined\"", "from = \"nope\"")).unwrap();
    let e = fails(&["run", p.to_str().unwrap(), "--runs-dir", runs.to_str().unwrap()]);
    assert!(e.contains("stage \"later\": a component comes from stage \"nope\", which is not defined"), "{e}");
}

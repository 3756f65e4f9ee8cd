//! `seqcal prior train`, `prior sample MODEL` and `prior eval` with the real binary.

mod common;

use std::path::Path;

use common::{fails, listing, seqcal, succeeds};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A 2-D chain of independent prior draws (with log_prob) in `dir/c.h5`.
fn chain(dir: &Path) -> std::path::PathBuf {
    let cfg = dir.join("p.toml");
    std::fs::write(&cfg, "kind = \"product\"\nblocks = [\n { kind = \"normal\", names = [\"a\"], mean = 0.3, sd = 0.1 },\n { kind = \"uniform\", names = [\"b\"], bounds = [[-1, 2]] },\n]\n").unwrap();
    let out = dir.join("c.h5");
    succeeds(&["prior", "sample", "--config", s(&cfg), "-n", "3000", "-o", s(&out), "--seed", "2"]);
    out
}

/// `seqcal prior train` of chain `c` with `settings`, quietly, to model `m`.
fn train_with(c: &Path, m: &Path, settings: &[&str]) {
    let mut args = vec!["prior", "train", s(c)];
    args.extend_from_slice(settings);
    args.extend(["-o", s(m), "-q"]);
    succeeds(&args);
}

fn train(dir: &Path, c: &Path) -> std::path::PathBuf {
    let m = dir.join("m.safetensors");
    train_with(c, &m, &["--loss", "kl", "--layers", "2", "--hidden", "16", "--steps", "150", "--batch", "200", "--seed", "4"]);
    m
}

#[test]
fn train_sample_and_eval_a_flow_prior() {
    let dir = tempfile::tempdir().unwrap();
    let c = chain(dir.path());
    let m = train(dir.path(), &c);
    let side: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.json")).unwrap()).unwrap();
    assert_eq!(side["names"], serde_json::json!(["a", "b"]));
    assert_eq!(side["loss"], "kl");
    assert_eq!(side["chain_hash"].as_str().map(str::len), Some(64));
    assert!(side["metrics"]["steps"].as_u64().unwrap() > 0);
    assert_eq!(side["settings"]["lr_schedule"], "cosine", "the default schedule");
    assert_eq!(side["bounds"][1], serde_json::json!([-1.0, 2.0]));
    let d = dir.path().join("d.h5");
    succeeds(&["prior", "sample", s(&m), "-n", "500", "-o", s(&d), "--seed", "1"]);
    let info = succeeds(&["chain", "info", s(&d), "--json"]);
    assert!(info.contains("\"a\""), "{info}");
    let pts = dir.path().join("pts.csv");
    std::fs::write(&pts, "b,a\n0.5,0.3\n3.0,0.3\n").unwrap();
    let out = succeeds(&["prior", "eval", s(&m), s(&pts)]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "log_prob");
    let v: f64 = lines[1].parse().unwrap();
    // At the mode of a: ln N(0.3 | 0.3, 0.1) + ln(1/3) = 0.285; a 150-step flow is within 0.5 of it.
    assert!((v - 0.285).abs() < 0.5, "log_prob at the mode {v}");
    assert_eq!(lines[2], "-inf", "b = 3 is outside [-1, 2]");
    // The same model through a prior file.
    let cfg = dir.path().join("flow.toml");
    std::fs::write(&cfg, "kind = \"flow\"\nmodel = \"m.safetensors\"\n").unwrap();
    succeeds(&["prior", "sample", "--config", s(&cfg), "-n", "100", "-o", s(&dir.path().join("e.h5"))]);
}

#[test]
fn constant_learning_rate_schedule_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let c = chain(dir.path());
    let m = dir.path().join("k.safetensors");
    train_with(&c, &m, &["--layers", "2", "--hidden", "8", "--steps", "40", "--batch", "100", "--lr-schedule", "constant"]);
    let side: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("k.json")).unwrap()).unwrap();
    assert_eq!(side["settings"]["lr_schedule"], "constant");
    assert!((side["metrics"]["final_lr"].as_f64().unwrap() - 1e-3).abs() < 1e-12, "constant rate at the end: {}", side["metrics"]["final_lr"]);
}

#[test]
fn training_is_reproducible_with_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let c = chain(dir.path());
    let m = train(dir.path(), &c);
    let first = std::fs::read(&m).unwrap();
    // A model and its sidecar are not overwritten without --force.
    std::fs::remove_file(&m).unwrap();
    std::fs::remove_file(m.with_extension("json")).unwrap();
    train(dir.path(), &c);
    assert!(first == std::fs::read(&m).unwrap(), "same seed, different weights");
}

#[test]
fn bad_flow_input_fails_cleanly_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = chain(dir.path());
    let before = listing(dir.path());
    let m = dir.path().join("m.safetensors");
    let e = fails(&["prior", "train", s(&c), "--loss", "mse", "-o", s(&m)]);
    assert!(e.contains("unknown loss"), "{e}");
    let e = fails(&["prior", "train", s(&dir.path().join("missing.h5")), "-o", s(&m)]);
    assert!(e.contains("missing.h5"), "{e}");
    let e = fails(&["prior", "train", s(&c), "--layers", "3", "-o", s(&m)]);
    assert!(e.contains("even"), "{e}");
    let e = fails(&["prior", "train", s(&c), "--lr", "0", "-o", s(&m), "-q"]);
    assert!(e.contains("learning rate"), "{e}");
    let e = fails(&["prior", "train", s(&c), "--lr-schedule", "step", "-o", s(&m), "-q"]);
    assert!(e.contains("constant or cosine"), "{e}");
    assert_eq!(listing(dir.path()), before, "nothing may be written");
    let e = fails(&["prior", "sample", s(&m), "-n", "10", "-o", s(&dir.path().join("x.h5"))]);
    assert!(e.contains("m.safetensors"), "{e}");
    let model = train(dir.path(), &c);
    let pts = dir.path().join("pts.csv");
    for (csv, expect) in [
        ("a,b,c\n0.1,0.2,0.3\n", "3 columns"),
        ("a\n0.1\n", "no column \"b\""),
        ("a,c\n0.1,0.2\n", "no column \"b\""),
        ("a,b\n0.1,NaN\n", "finite"),
        ("a,b\n0.1,x\n", "not a number"),
    ] {
        std::fs::write(&pts, csv).unwrap();
        let e = fails(&["prior", "eval", s(&model), s(&pts)]);
        assert!(e.contains(expect), "{csv:?}: expected {expect:?} in {e}");
    }
    let out = seqcal().args(["prior", "sample", s(&model), "--config", s(&pts), "-n", "5", "-o", "x.h5"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn scan_ranks_configurations_and_keeps_the_best() {
    let dir = tempfile::tempdir().unwrap();
    let c = chain(dir.path());
    let out = dir.path().join("scan");
    let md = succeeds(&[
        "prior",
        "scan",
        s(&c),
        "--layers",
        "2",
        "--batch",
        "100,200",
        "--loss",
        "kl,nll",
        "--steps",
        "60",
        "--hidden",
        "8",
        "-o",
        s(&out),
        "-q",
    ]);
    assert_eq!(md.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| rank")).count(), 4, "{md}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("scan.json")).unwrap()).unwrap();
    let rows = json["configurations"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    // Ranked by the paper's <D_KL> (the default), each beside the floor.
    let kls: Vec<f64> = rows.iter().map(|r| r["d_kl"].as_f64().unwrap()).collect();
    assert!(kls.windows(2).all(|w| w[0] <= w[1]), "not ranked: {kls:?}");
    assert!(json["floor_d_kl"].as_f64().unwrap() > 0.0 && md.contains("| rank | layers | batch | lr | loss | ⟨D_KL⟩ | floor |"), "{md}");
    assert!(out.join("best.safetensors").is_file() && out.join("best.json").is_file());
    let e = fails(&["prior", "scan", s(&c), "--layers", "3", "-o", s(&out)]);
    assert!(e.contains("even"), "{e}");
}

#[test]
fn architectures_train_from_the_cli_and_the_sidecar_records_them() {
    let dir = tempfile::tempdir().unwrap();
    let c = chain(dir.path());
    let m = dir.path().join("nsf.safetensors");
    train_with(
        &c,
        &m,
        &["--arch", "nsf_coupling", "--bins", "4", "--tail-bound", "3", "--lu", "--layers", "2", "--hidden", "16", "--steps", "60", "--batch", "200"],
    );
    let side: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("nsf.json")).unwrap()).unwrap();
    assert_eq!(side["spec"]["kind"], "nsf_coupling");
    assert_eq!(side["spec"]["bins"], 4);
    assert_eq!(side["spec"]["tail_bound"], 3.0);
    assert_eq!(side["spec"]["lu"], true);
    // The saved model loads and samples.
    succeeds(&["prior", "sample", s(&m), "-n", "200", "-o", s(&dir.path().join("d.h5")), "--seed", "1"]);
    let e = fails(&["prior", "train", s(&c), "--arch", "glow", "-o", s(&m)]);
    assert!(e.contains("unknown flow architecture"), "{e}");
    let out = dir.path().join("scan");
    let md = succeeds(&[
        "prior",
        "scan",
        s(&c),
        "--arch",
        "realnvp,maf,nsf_ar",
        "--layers",
        "2",
        "--steps",
        "40",
        "--hidden",
        "8",
        "--batch",
        "100",
        "-o",
        s(&out),
        "-q",
    ]);
    for arch in ["realnvp", "maf", "nsf_ar"] {
        assert!(md.contains(&format!("| {arch} |")), "{arch} missing in {md}");
    }
}

/// A 2-D chain on the box [0, 1] x [-1, 2] (bounds recorded), 40 iterations x
/// 10 walkers, with `edit` applied to the draws first.
fn boxed_chain(dir: &Path, name: &str, edit: impl Fn(&mut ndarray::Array3<f64>)) -> std::path::PathBuf {
    let mut draws = ndarray::Array3::from_shape_fn((40, 10, 2), |(i, w, j)| {
        let u = ((i * 10 + w) * 7919 % 397) as f64 / 397.0 * 0.98 + 0.01;
        if j == 0 {
            u
        } else {
            -1.0 + 3.0 * u * u
        }
    });
    edit(&mut draws);
    let mut c = seqcal::chain::Chain::from_draws(draws);
    c.names = vec!["a".into(), "b".into()];
    c.bounds = vec![(0.0, 1.0), (-1.0, 2.0)];
    let path = dir.join(name);
    seqcal::chain::write_any(&c, &path).unwrap();
    path
}

#[test]
fn draws_outside_the_declared_bounds_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = boxed_chain(dir.path(), "out.h5", |d| d[[30, 4, 1]] = 7.5);
    let before = listing(dir.path());
    let m = dir.path().join("m.safetensors");
    let e = fails(&["prior", "train", s(&c), "--loss", "nll", "--steps", "20", "--batch", "50", "-o", s(&m), "-q"]);
    assert!(e.contains("out.h5") && e.contains("parameter \"b\": value 7.5 lies outside its bounds [-1, 2]"), "{e}");
    assert_eq!(listing(dir.path()), before, "nothing may be written");
    // Inside the box (draws on a bound included) the same chain trains.
    let ok = boxed_chain(dir.path(), "in.h5", |d| d[[30, 4, 1]] = 2.0);
    succeeds(&["prior", "train", s(&ok), "--loss", "nll", "--layers", "2", "--hidden", "8", "--steps", "20", "--batch", "50", "-o", s(&m), "-q"]);
}

/// Rewrites the JSON sidecar of model `m` with `edit` applied.
fn edit_sidecar(m: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let side = m.with_extension("json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&side).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&side, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

#[test]
fn a_tampered_sidecar_or_broken_weights_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = boxed_chain(dir.path(), "c.h5", |_| {});
    let m = dir.path().join("m.safetensors");
    succeeds(&["prior", "train", s(&c), "--loss", "nll", "--layers", "2", "--hidden", "8", "--steps", "20", "--batch", "50", "-o", s(&m), "-q"]);
    let pts = dir.path().join("pts.csv");
    std::fs::write(&pts, "a,b\n0.5,0.5\n").unwrap();
    succeeds(&["prior", "eval", s(&m), s(&pts)]);
    let original = std::fs::read(m.with_extension("json")).unwrap();
    type Edit = (&'static str, fn(&mut serde_json::Value));
    let edits: [Edit; 6] = [
        ("activation", |v| v["spec"]["activation"] = "relu".into()),
        ("bounds", |v| v["bounds"][1] = serde_json::json!([-1.0, 3.0])),
        ("dim", |v| v["spec"]["dim"] = 3.into()),
        ("names", |v| v["names"] = serde_json::json!(["b", "a"])),
        ("chain hash", |v| v["chain_hash"] = "0".repeat(64).into()),
        ("transforms", |v| v["transforms"][0]["lower"] = (-0.5).into()),
    ];
    for (what, edit) in edits {
        std::fs::write(m.with_extension("json"), &original).unwrap();
        edit_sidecar(&m, edit);
        for args in [vec!["prior", "eval", s(&m), s(&pts)], vec!["prior", "sample", s(&m), "-n", "5", "-o", s(&dir.path().join("x.h5"))]] {
            let e = fails(&args);
            assert!(e.contains("m.json") && e.contains("does not match the weights"), "{what}: {e}");
        }
    }
    std::fs::write(m.with_extension("json"), &original).unwrap();
    edit_sidecar(&m, |v| v["format"] = "seqcal-flow/0".into());
    assert!(fails(&["prior", "eval", s(&m), s(&pts)]).contains("format \"seqcal-flow/0\""));
    std::fs::write(m.with_extension("json"), &original).unwrap();
    let weights = std::fs::read(&m).unwrap();
    for cut in [4, 40, weights.len() / 2, weights.len() - 1] {
        std::fs::write(&m, &weights[..cut]).unwrap();
        let e = fails(&["prior", "eval", s(&m), s(&pts)]);
        assert!(e.contains("cannot read weights"), "cut at {cut}: {e}");
    }
    assert!(!dir.path().join("x.h5").exists());
}

/// Weights files with the right digest but tensors that are not the sidecar's
/// architecture: clear errors, never a panic in the evaluators.
#[test]
fn weights_that_do_not_fit_the_architecture_are_refused() {
    use seqcal_flow::io;
    let dir = tempfile::tempdir().unwrap();
    let c = boxed_chain(dir.path(), "c.h5", |_| {});
    let m = dir.path().join("m.safetensors");
    succeeds(&["prior", "train", s(&c), "--loss", "nll", "--layers", "2", "--hidden", "8", "--steps", "20", "--batch", "50", "-o", s(&m), "-q"]);
    let (params, sidecar) = io::load(&m).unwrap();
    let pts = dir.path().join("pts.csv");
    std::fs::write(&pts, "a,b\n0.5,0.5\n").unwrap();
    type Case = (&'static str, Box<dyn Fn(&mut seqcal_flow::params::Params)>);
    let cases: [Case; 4] = [
        (
            "lack tensor \"c1.net.2.b\"",
            Box::new(|p| {
                let t = p.remove("c1.net.2.b").unwrap();
                p.insert("c7.net.2.b".into(), t);
            }),
        ),
        (
            "shape [8, 2]",
            Box::new(|p| {
                let t = p["c0.net.0.w"].reshape((8, 2)).unwrap();
                p.insert("c0.net.0.w".into(), t);
            }),
        ),
        (
            "do not belong together",
            Box::new(|p| {
                let t = p["L.loc"].clone();
                p.insert("extra".into(), t);
            }),
        ),
        (
            "non-finite",
            Box::new(|p| {
                let t = (p["L.log_scale"].clone() * f64::NAN).unwrap();
                p.insert("L.log_scale".into(), t);
            }),
        ),
    ];
    for (want, edit) in cases {
        let mut p = params.clone();
        edit(&mut p);
        io::save(&m, &p, &sidecar).unwrap();
        let e = fails(&["prior", "eval", s(&m), s(&pts)]);
        assert!(e.contains(want), "expected {want:?}: {e}");
    }
}

#[test]
fn importance_weights_are_checked_and_huge_ones_train() {
    let dir = tempfile::tempdir().unwrap();
    let base = chain(dir.path());
    let csv = dir.path().join("c.csv");
    succeeds(&["chain", "convert", s(&base), s(&csv)]);
    let text = std::fs::read_to_string(&csv).unwrap();
    let with_weights = |w: &dyn Fn(usize) -> String| -> String {
        let mut lines = text.lines();
        let mut out = format!("{},weight\n", lines.next().unwrap());
        for (i, l) in lines.enumerate() {
            out.push_str(&format!("{l},{}\n", w(i)));
        }
        out
    };
    let m = dir.path().join("m.safetensors");
    let train = |name: &str, w: &dyn Fn(usize) -> String| -> std::process::Output {
        let p = dir.path().join(name);
        std::fs::write(&p, with_weights(w)).unwrap();
        seqcal()
            .args(["prior", "train", s(&p), "--loss", "nll", "--layers", "2", "--hidden", "8", "--steps", "20", "--batch", "100", "-o", s(&m), "-q"])
            .output()
            .unwrap()
    };
    let zero = train("zero.csv", &|_| "0".into());
    assert_eq!(zero.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&zero.stderr).contains("every importance weight is zero"));
    for bad in ["nan", "-1"] {
        let out = train("bad.csv", &|i| if i == 7 { bad.into() } else { "1".into() });
        let e = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.code() == Some(2) && !e.contains("panicked") && e.contains("iteration 7"), "{bad}: {e}");
    }
    // Weights whose sum overflows f64 are rescaled, not a crash.
    let huge = train("huge.csv", &|i| format!("{}e307", 5 + i % 5));
    assert!(huge.status.success() && m.exists(), "{}", String::from_utf8_lossy(&huge.stderr));
}

#[test]
fn sizes_too_large_for_the_memory_are_refused_with_the_amount() {
    let dir = tempfile::tempdir().unwrap();
    let c = chain(dir.path());
    let m = dir.path().join("m.safetensors");
    let before = listing(dir.path());
    for flag in [["--hidden", "100000000"], ["--depth", "100000000"], ["--layers", "200000000"], ["--batch", "10000000000"]] {
        let e = fails(&["prior", "train", s(&c), "--loss", "nll", flag[0], flag[1], "-o", s(&m), "-q"]);
        assert!(e.contains("would need about") && e.contains("GiB") && e.contains("available"), "{flag:?}: {e}");
    }
    let e = fails(&["prior", "sample", "--config", s(&dir.path().join("p.toml")), "-n", "100000000000", "-o", s(&dir.path().join("d.h5"))]);
    assert!(e.contains("100000000000 draws") && e.contains("would need about"), "{e}");
    assert_eq!(listing(dir.path()), before, "nothing may be written");
}

#[test]
fn prior_list_shows_every_flow_key_with_its_default() {
    let out = succeeds(&["prior", "list"]);
    let defaults = seqcal_flow::FlowOptions::default_values();
    for key in seqcal_flow::FlowTable::keys() {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{key} ")) || l.trim_start() == key)
            .unwrap_or_else(|| panic!("no line for {key}: {out}"));
        if let Some(d) = defaults.get(key) {
            assert!(line.contains(&format!("{key} = {d}")), "{key}: {line}");
        }
    }
}

#[cfg(unix)]
#[test]
fn model_files_are_written_with_the_users_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let c = chain(dir.path());
    let bin = assert_cmd::cargo::cargo_bin("seqcal");
    for (umask, mode) in [("022", 0o644), ("077", 0o600)] {
        let m = dir.path().join(format!("m{umask}.safetensors"));
        let cmd = format!(
            "umask {umask} && '{}' prior train '{}' --loss nll --layers 2 --hidden 8 --steps 10 --batch 100 -o '{}' -q",
            bin.display(),
            s(&c),
            s(&m)
        );
        let out = std::process::Command::new("sh").args(["-c", &cmd]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for f in [m.clone(), m.with_extension("json")] {
            assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, mode, "{} under umask {umask}", f.display());
        }
    }
}

//! `seqcal emulator` through the real binary: train, validate, predict on a
//! slice of the shipped synthetic example, the example generator, and bad
//! input (one message, exit 2, no file left behind).

mod common;

use std::path::{Path, PathBuf};

use common::{example, fails, listing, succeeds};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The first `n` lines (header included) of a shipped example file, written to `dir/name`.
fn head(dir: &Path, file: &str, n: usize, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(example("emulator").join(file)).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text.lines().take(n).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    p
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

struct Small {
    dir: tempfile::TempDir,
    design: PathBuf,
    outputs: PathBuf,
    bounds: PathBuf,
}

impl Small {
    /// `seqcal emulator train` on this slice, with `extra` settings, writing `emu`.
    fn train<'a>(&'a self, emu: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["emulator", "train", "--design", s(&self.design), "--outputs", s(&self.outputs), "--bounds", s(&self.bounds)];
        args.extend_from_slice(extra);
        args.extend(["-o", s(emu)]);
        args
    }
}

fn small() -> Small {
    let dir = tempfile::tempdir().unwrap();
    let design = head(dir.path(), "design.csv", 61, "d.csv");
    let outputs = head(dir.path(), "outputs.csv", 61, "y.csv");
    let bounds = head(dir.path(), "bounds.csv", 100, "b.csv");
    Small { dir, design, outputs, bounds }
}

#[test]
fn train_validate_predict() {
    let w = small();
    let emu = w.dir.path().join("emu.json");
    let out = succeeds(&w.train(&emu, &["--npc", "10", "--restarts", "0", "--kernel", "matern52", "--json"]));
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["n_components"], 10);
    assert_eq!(j["components"][0]["length_scales"].as_array().unwrap().len(), 6);

    let report = w.dir.path().join("report.json");
    let dv = head(w.dir.path(), "design_val.csv", 41, "dv.csv");
    let yv = head(w.dir.path(), "outputs_val.csv", 41, "yv.csv");
    let table = succeeds(&["emulator", "validate", s(&emu), "--design", s(&dv), "--outputs", s(&yv), "-o", s(&report)]);
    assert!(table.contains("y24") && table.contains("all"), "{table}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(v["n_points"], 40);
    assert_eq!(v["outputs"].as_array().unwrap().len(), 24);
    let rmse = v["rmse_std"].as_f64().unwrap();
    assert!(rmse > 0.0 && rmse < 0.3, "{rmse}");

    // At a training point the runs lie within the predictive sd (which includes the variance of
    // the dropped components), and sd² is the covariance's diagonal.
    let pts = head(w.dir.path(), "design.csv", 3, "pts.csv");
    let pred = w.dir.path().join("pred.csv");
    succeeds(&["emulator", "predict", s(&emu), s(&pts), "-o", s(&pred), "--cov"]);
    let text = std::fs::read_to_string(&pred).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    let head_cols: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(head_cols.len(), 48 + 24 * 25 / 2);
    assert_eq!(head_cols[0], "y01_mean");
    let truth: Vec<f64> = std::fs::read_to_string(&w.outputs).unwrap().lines().nth(1).unwrap().split(',').map(|v| v.parse().unwrap()).collect();
    let row: Vec<f64> = lines[1].split(',').map(|v| v.parse().unwrap()).collect();
    for j in 0..24 {
        assert!((row[2 * j] - truth[j]).abs() < 3.0 * row[2 * j + 1], "output {j}: {} +- {} vs {}", row[2 * j], row[2 * j + 1], truth[j]);
    }
    let c11 = row[48];
    assert!((c11 - row[1] * row[1]).abs() < 1e-9 * (1.0 + c11), "{c11} vs {}", row[1]);
}

#[test]
fn kfold_cross_validation() {
    let w = small();
    let emu = w.dir.path().join("emu.json");
    let out = succeeds(&w.train(&emu, &["--npc", "6", "--restarts", "0", "--kfold", "3", "--json"]));
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["kfold"]["n_points"], 60);
    let r = j["kfold"]["rmse_std"].as_f64().unwrap();
    assert!(r > 0.0 && r < 0.3, "{r}");
    let err = fails(&w.train(&w.dir.path().join("e2.json"), &["--kfold", "1"]));
    assert!(err.contains("k-fold needs 2 <= k"), "{err}");
    assert!(!w.dir.path().join("e2.json").exists());
}

#[test]
fn example_generator_reproduces_the_shipped_files() {
    let dir = tempfile::tempdir().unwrap();
    succeeds(&["emulator", "example", "-o", s(dir.path())]);
    for f in ["design.csv", "outputs.csv", "design_val.csv", "outputs_val.csv", "bounds.csv"] {
        let a = std::fs::read_to_string(dir.path().join(f)).unwrap();
        let b = std::fs::read_to_string(example("emulator").join(f)).unwrap();
        assert!(a == b, "{f} differs from examples/emulator/{f}");
    }
}

/// `emulator train` on bad input: the message names the problem, nothing is written.
fn train_fails(edit: impl FnOnce(&Small) -> Vec<String>, expect: &str) {
    let w = small();
    let emu = w.dir.path().join("emu.json");
    let mut args: Vec<String> = ["emulator", "train", "--restarts", "0", "--npc", "2", "-o", s(&emu)].iter().map(|v| v.to_string()).collect();
    args.extend(edit(&w));
    let before = listing(w.dir.path());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = fails(&refs);
    assert!(err.contains(expect), "expected {expect:?} in: {err}");
    assert_eq!(listing(w.dir.path()), before, "nothing may be written");
}

fn files(d: &Path, y: &Path, b: &Path) -> Vec<String> {
    vec!["--design".into(), s(d).into(), "--outputs".into(), s(y).into(), "--bounds".into(), s(b).into()]
}

#[test]
fn bad_training_input() {
    train_fails(|w| files(&w.design, &w.dir.path().join("none.csv"), &w.bounds), "none.csv");
    train_fails(|w| files(&w.design, &head(w.dir.path(), "outputs.csv", 31, "short.csv"), &w.bounds), "must match");
    train_fails(
        |w| {
            let text = std::fs::read_to_string(&w.outputs).unwrap();
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            lines[5] = format!("NaN,{}", lines[5].split_once(',').unwrap().1);
            let t = lines.join("\n");
            files(&w.design, &write(w.dir.path(), "nan.csv", &t), &w.bounds)
        },
        "not a finite number",
    );
    train_fails(
        |w| files(&w.design, &w.outputs, &write(w.dir.path(), "b2.csv", "lower,upper\n2,0.5\n0.2,3\n0.5,2\n0,1.5\n-1,1\n0.1,0.5\n")),
        "lower < upper",
    );
    train_fails(
        |w| files(&w.design, &w.outputs, &write(w.dir.path(), "b3.csv", "lower,upper\n0.5,2\n0.2,0.3\n0.5,2\n0,1.5\n-1,1\n0.1,0.5\n")),
        "outside the bounds",
    );
    train_fails(|w| files(&w.design, &w.outputs, &write(w.dir.path(), "b4.csv", "lower,upper\n0.5,2\n")), "1 rows but the design has 6");
    train_fails(|w| files(&w.design, &w.outputs, &write(w.dir.path(), "b5.csv", "lower,upper\n0.5,2,3\n")), "expected 2 fields");
    train_fails(
        |w| files(&w.design, &w.outputs, &write(w.dir.path(), "b6.csv", "lo,hi\n0.5,2\n")),
        "no column \"lower\", no column \"upper\", unknown column \"lo\"",
    );
    // Tables without a header line (numpy.savetxt's default): refused, not read one run short.
    let no_header = |w: &Small, f: &Path, name: &str| {
        let text = std::fs::read_to_string(f).unwrap();
        write(w.dir.path(), name, text.split_once('\n').unwrap().1)
    };
    train_fails(|w| files(&no_header(w, &w.design, "dn.csv"), &w.outputs, &w.bounds), "dn.csv: line 1 looks like data, not a header: 1.");
    train_fails(|w| files(&w.design, &no_header(w, &w.outputs, "yn.csv"), &w.bounds), "yn.csv: line 1 looks like data, not a header");
    // A size a user can type: refused at once, with the limit, before any file is read.
    let w = small();
    let out = w.dir.path().join("e.json");
    let err = fails(&[
        "emulator",
        "train",
        "--design",
        "nowhere.csv",
        "--outputs",
        s(&w.outputs),
        "--bounds",
        s(&w.bounds),
        "--restarts",
        "18446744073709551615",
        "-o",
        s(&out),
    ]);
    assert!(err.contains("restarts = 18446744073709551615: at most 1000"), "{err}");
    assert!(!out.exists());
    train_fails(
        |w| {
            let mut v = files(&w.design, &w.outputs, &w.bounds);
            v.extend(["--kernel".into(), "cubic".into()]);
            v
        },
        "unknown kernel",
    );
}

#[test]
fn bad_emulator_or_points() {
    let w = small();
    let junk = write(w.dir.path(), "junk.json", "{\"format\": \"x\"}");
    let err = fails(&["emulator", "predict", s(&junk), s(&w.design), "-o", s(&w.dir.path().join("p.csv"))]);
    assert!(err.contains("junk.json") && err.contains("not a seqcal emulator"), "{err}");
    let emu = w.dir.path().join("emu.json");
    succeeds(&w.train(&emu, &["--npc", "2", "--restarts", "0"]));
    let err = fails(&["emulator", "predict", s(&emu), s(&w.bounds), "-o", s(&w.dir.path().join("p.csv"))]);
    assert!(
        err.contains("b.csv: no columns \"amp\", \"decay\", \"freq\" and 3 more, unknown column \"lower\", unknown column \"upper\"")
            && err
                .contains("the emulator's inputs are [amp, decay, freq, phase, curv, width], in any order; the header has 2 columns [lower, upper]"),
        "{err}"
    );
    let err = fails(&["emulator", "validate", s(&emu), "--design", s(&w.design), "--outputs", s(&w.bounds)]);
    assert!(err.contains("no columns \"y01\", \"y02\", \"y03\" and 21 more") && err.contains("the emulator's outputs are [y01, y02,"), "{err}");
    // A point file missing a parameter, or with one more column.
    let short = write(w.dir.path(), "short.csv", "amp,decay,freq,phase,curv\n1,1,1,1,0\n");
    let err = fails(&["emulator", "predict", s(&emu), s(&short), "-o", s(&w.dir.path().join("p.csv"))]);
    assert!(err.contains("no column \"width\": the emulator's inputs are") && err.contains("the header has 5 columns"), "{err}");
    let long = write(w.dir.path(), "long.csv", "amp,decay,freq,phase,curv,width,extra\n1,1,1,1,0,0.2,3\n");
    let err = fails(&["emulator", "predict", s(&emu), s(&long), "-o", s(&w.dir.path().join("p.csv"))]);
    assert!(err.contains("unknown column \"extra\""), "{err}");
    assert!(!w.dir.path().join("p.csv").exists());
}

#[test]
fn heavy_ion_example_in_hdf5_with_output_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = succeeds(&["emulator", "example", "--model", "heavy-ion", "--hdf5", "--n-design", "60", "--n-validation", "20", "-o", s(d)]);
    assert!(out.contains("output_errors"), "{out}");
    let h5 = d.join("runs.h5");
    let emu = d.join("emu.json");
    // Default dataset names: design, outputs, bounds, output_errors.
    let out = succeeds(&[
        "emulator",
        "train",
        "--design",
        s(&h5),
        "--outputs",
        s(&h5),
        "--bounds",
        s(&h5),
        "--output-errors",
        s(&h5),
        "--npc",
        "3",
        "--restarts",
        "0",
        "-o",
        s(&emu),
        "--json",
    ]);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["n_components"], 3);
    assert_eq!(j["components"][0]["length_scales"].as_array().unwrap().len(), 17);
    // validate reads design_val / outputs_val by default, or the datasets named; names come from the file.
    let table = succeeds(&["emulator", "validate", s(&emu), "--design", s(&h5), "--outputs", &format!("{}:outputs_val", s(&h5))]);
    assert!(table.contains("dNch_c02.5") && table.contains("(20 points"), "{table}");
    // Bad input: a missing dataset, errors of the wrong shape.
    let base = |errors: String| -> Vec<String> {
        [
            "emulator",
            "train",
            "--design",
            s(&h5),
            "--outputs",
            s(&h5),
            "--bounds",
            s(&h5),
            "--npc",
            "2",
            "--restarts",
            "0",
            "-o",
            s(&d.join("bad.json")),
            "--output-errors",
        ]
        .iter()
        .map(|v| v.to_string())
        .chain([errors])
        .collect()
    };
    let run_fail = |args: Vec<String>| fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let err = run_fail(base(format!("{}:nope", s(&h5))));
    assert!(err.contains("no dataset 'nope'") && err.contains("output_errors"), "{err}");
    let err = run_fail(base(format!("{}:design", s(&h5))));
    assert!(
        err.contains("runs.h5:design: no columns \"dN_pi_c02.5\", \"dN_pi_c07.5\", \"dN_pi_c15.0\" and 107 more, unknown columns \"norm\""),
        "{err}"
    );
    assert!(err.contains("(110 in all)]") && err.contains("the header has 17 columns [norm, trento_p,"), "{err}");
    assert!(!d.join("bad.json").exists());
    // The CSV form of the same example, errors included.
    let c = d.join("csv");
    succeeds(&["emulator", "example", "--model", "heavy-ion", "--n-design", "30", "--n-validation", "5", "-o", s(&c)]);
    let errs = std::fs::read_to_string(c.join("output_errors.csv")).unwrap();
    assert_eq!(errs.lines().count(), 31);
    assert_eq!(errs.lines().next().unwrap().split(',').count(), 110);
}

/// `text` (a CSV) with its columns in the order `perm` (headers and values together).
fn permute(text: &str, perm: &[usize]) -> String {
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            perm.iter().map(|&i| f[i]).collect::<Vec<_>>().join(",") + "\n"
        })
        .collect()
}

#[test]
fn reordered_columns_are_matched_by_name() {
    let w = small();
    let d = w.dir.path();
    let emu = d.join("emu.json");
    succeeds(&w.train(&emu, &["--npc", "6", "--restarts", "0"]));
    let dv = head(d, "design_val.csv", 41, "dv.csv");
    let yv = head(d, "outputs_val.csv", 41, "yv.csv");
    let dperm = [3, 0, 5, 1, 4, 2];
    let yperm: Vec<usize> = (0..24).rev().collect();
    let dv_r = write(d, "dv_r.csv", &permute(&std::fs::read_to_string(&dv).unwrap(), &dperm));
    let yv_r = write(d, "yv_r.csv", &permute(&std::fs::read_to_string(&yv).unwrap(), &yperm));
    let plain: serde_json::Value =
        serde_json::from_str(&succeeds(&["emulator", "validate", s(&emu), "--design", s(&dv), "--outputs", s(&yv), "--json"])).unwrap();
    let reordered: serde_json::Value =
        serde_json::from_str(&succeeds(&["emulator", "validate", s(&emu), "--design", s(&dv_r), "--outputs", s(&yv_r), "--json"])).unwrap();
    assert_eq!(plain, reordered);
    assert!(plain["rmse_std"].as_f64().unwrap() < 0.3, "{plain}");
    // Predictions at reordered points: the same file.
    let (p1, p2) = (d.join("p1.csv"), d.join("p2.csv"));
    succeeds(&["emulator", "predict", s(&emu), s(&dv), "-o", s(&p1)]);
    succeeds(&["emulator", "predict", s(&emu), s(&dv_r), "-o", s(&p2)]);
    assert_eq!(std::fs::read(&p1).unwrap(), std::fs::read(&p2).unwrap());
    // Errors of the runs are matched to the outputs by name too.
    let errs = |name: &str, perm: &[usize]| {
        let text: String = std::fs::read_to_string(&w.outputs)
            .unwrap()
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i == 0 {
                    l.to_string() + "\n"
                } else {
                    l.split(',').map(|v| format!("{}", 1e-3 * (1.0 + v.parse::<f64>().unwrap().abs()))).collect::<Vec<_>>().join(",") + "\n"
                }
            })
            .collect();
        write(d, name, &permute(&text, perm))
    };
    let id: Vec<usize> = (0..24).collect();
    let (e1, e2) = (errs("e1.csv", &id), errs("e2.csv", &yperm));
    let (m1, m2) = (d.join("m1.json"), d.join("m2.json"));
    for (e, m) in [(&e1, &m1), (&e2, &m2)] {
        succeeds(&[
            "emulator",
            "train",
            "--design",
            s(&w.design),
            "--outputs",
            s(&w.outputs),
            "--bounds",
            s(&w.bounds),
            "--output-errors",
            s(e),
            "--npc",
            "3",
            "--restarts",
            "0",
            "-o",
            s(m),
        ]);
    }
    assert_eq!(std::fs::read(&m1).unwrap(), std::fs::read(&m2).unwrap());
}

#[test]
fn validation_table_shows_what_the_json_holds() {
    // Outputs linear in the inputs: the emulator is nearly exact, errors far below 10⁻⁴ sd.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let table = |n: usize, seed: u64| {
        let (mut x, mut y) = ("a,b\n".to_string(), "u,v,w\n".to_string());
        for i in 0..n {
            let a = ((i as f64 + 0.5) / n as f64 + 0.37 * seed as f64).fract();
            let b = ((i as f64 * 0.618_034 + 0.1 * seed as f64) % 1.0).abs();
            x += &format!("{a},{b}\n");
            y += &format!("{},{},{}\n", a + 2.0 * b, 3.0 * a - b, 1.0 + a + b);
        }
        (x, y)
    };
    let (x, y) = table(40, 0);
    let (xv, yv) = table(10, 1);
    let (x, y, xv, yv, b) = (
        write(d, "x.csv", &x),
        write(d, "y.csv", &y),
        write(d, "xv.csv", &xv),
        write(d, "yv.csv", &yv),
        write(d, "b.csv", "lower,upper\n0,1\n0,1\n"),
    );
    let emu = d.join("emu.json");
    succeeds(&["emulator", "train", "--design", s(&x), "--outputs", s(&y), "--bounds", s(&b), "--npc", "2", "--restarts", "0", "-o", s(&emu)]);
    let j: serde_json::Value =
        serde_json::from_str(&succeeds(&["emulator", "validate", s(&emu), "--design", s(&xv), "--outputs", s(&yv), "--json"])).unwrap();
    let text = succeeds(&["emulator", "validate", s(&emu), "--design", s(&xv), "--outputs", s(&yv)]);
    let rows: Vec<(&str, f64)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0], f[1].parse().unwrap())
        })
        .collect();
    let outputs = j["outputs"].as_array().unwrap();
    assert_eq!(rows.len(), outputs.len() + 1, "{text}");
    let mut tiny = 0;
    for (o, (name, shown)) in outputs.iter().zip(&rows) {
        let want = o["rmse_std"].as_f64().unwrap();
        assert_eq!(o["name"].as_str().unwrap(), *name);
        tiny += usize::from(want < 5e-5);
        // Four significant digits.
        assert!(want > 0.0 && (shown - want).abs() <= 5e-4 * want, "{name}: table {shown}, JSON {want}\n{text}");
    }
    let all = j["rmse_std"].as_f64().unwrap();
    assert!((rows[outputs.len()].1 - all).abs() <= 5e-4 * all, "{text}");
    // The case that printed 0.0000 before: an error under half the last fixed digit.
    assert!(tiny > 0, "no output with rmse/sd < 5e-5: the test does not reach small errors\n{text}");
}

#[test]
fn huge_example_sizes_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(&["emulator", "example", "--n-design", "1000000000000000", "-o", s(&dir.path().join("ex"))]);
    assert!(err.contains("--n-design 1000000000000000 and --n-validation 200 would need about") && err.contains("GiB of memory"), "{err}");
    assert!(!dir.path().join("ex").exists());
}

//! Trained emulators (JSON).

use ndarray::Array2;
use seqcal_api::Emulator;
use seqcal_emulators::{EmulatorSettings, GpEmulator};

use crate::cases;
use crate::mutate::{check, json, no_panic, show, Json};

/// A small emulator: 12 runs of 2 inputs in the box [0, 1] × [-1, 1], 3 outputs.
pub fn valid_emulator() -> String {
    let x = Array2::from_shape_fn((12, 2), |(i, j)| if j == 0 { (i as f64 + 0.5) / 12.0 } else { ((i * 7) % 12) as f64 / 6.0 - 0.95 });
    let y = Array2::from_shape_fn((12, 3), |(i, k)| (x[[i, 0]] * (k + 1) as f64).sin() + x[[i, 1]] * x[[i, 1]] * k as f64);
    let settings = EmulatorSettings { npc: Some(2), restarts: Some(0), ..Default::default() }.check(0).unwrap();
    let e = GpEmulator::train(x.view(), y.view(), &[(0.0, 1.0), (-1.0, 1.0)], &settings).unwrap();
    e.with_names(vec!["a".into(), "b".into()], vec!["y1".into(), "y2".into(), "y3".into()]).to_json().unwrap()
}

/// Loads an emulator and uses it as [`use_emulator`] does.
fn load_and_use(text: &str) {
    let r = GpEmulator::from_json(text);
    show("emulator", &r);
    if let Ok(e) = r {
        use_emulator(&e);
    }
}

/// Everything `emulator predict`, `emulator validate` and a pipeline stage do with a loaded emulator.
fn use_emulator(e: &GpEmulator) {
    {
        let p = e.input_dim();
        let x = Array2::from_shape_fn((3, p), |(i, j)| 0.1 * (i + j) as f64);
        show("emulator predict", &e.predict_mean_sd(x.view()));
        let _ = e.predict(x.view());
        let _ = (e.components(), e.explained_variance(), e.bounds(), e.output_sd().len());
        let _ = e.to_json();
    }
}

#[test]
fn emulator_files_never_panic() {
    let valid = valid_emulator();
    check("emulator_files", cases(192), json(), |m: Json| {
        let text = String::from_utf8_lossy(&m.apply(&valid)).into_owned();
        no_panic("loading an emulator", || load_and_use(&text))
    });
}

/// An emulator file listing more model runs than the memory available can
/// refactor (n × n covariances) is refused before anything is allocated for them.
#[test]
fn an_emulator_of_too_many_runs_is_refused() {
    let mut v: serde_json::Value = serde_json::from_str(&valid_emulator()).unwrap();
    let n = 200_000;
    v["inputs_unit"] = serde_json::json!(vec![[0.5, 0.5]; n]);
    for c in v["scores"].as_array_mut().unwrap() {
        *c = serde_json::json!(vec![0.0; n]);
    }
    let e = GpEmulator::from_json(&v.to_string()).unwrap_err().to_string();
    assert!(e.contains("loading an emulator of 200000 model runs and 2 components would need about") && e.contains("memory"), "{e}");
}

/// A consistent emulator file without inputs, outputs or runs, or with a
/// box whose lower end is not below its upper end, is refused as damaged:
/// predicting with it would divide by zero widths.
#[test]
fn an_emulator_without_inputs_outputs_runs_or_box_is_refused() {
    let valid: serde_json::Value = serde_json::from_str(&valid_emulator()).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = valid.clone();
        f(&mut v);
        let r = no_panic("loading an emulator", || GpEmulator::from_json(&v.to_string()).map(|e| use_emulator(&e)));
        r.unwrap().err().map(|e| e.to_string()).unwrap_or_default()
    };
    let no_inputs = edit(&|v| {
        for k in ["lower", "upper", "input_names"] {
            v[k] = serde_json::json!([]);
        }
        v["inputs_unit"] = serde_json::json!(vec![Vec::<f64>::new(); 12]);
        v["log_params"] = serde_json::json!([[0.0, -9.0], [0.0, -9.0]]);
    });
    assert!(no_inputs.contains("no inputs"), "{no_inputs}");
    let no_runs = edit(&|v| {
        v["inputs_unit"] = serde_json::json!([]);
        v["scores"] = serde_json::json!([[], []]);
    });
    assert!(no_runs.contains("no model runs"), "{no_runs}");
    let flat_box = edit(&|v| v["upper"][1] = serde_json::json!(-1.0));
    assert!(flat_box.contains("the box of input 2 is [-1, -1]"), "{flat_box}");
}

/// `emulator predict` with damaged emulator files: exit 0, or 2 with one message.
#[test]
fn malformed_emulators_at_the_cli() {
    let dir = crate::fixtures_dir();
    let valid = valid_emulator();
    let (emu, points, out) = (dir.path().join("emu.json"), dir.path().join("points.csv"), dir.path().join("out.csv"));
    std::fs::write(&points, "a,b\n0.5,0.1\n0.2,-0.3\n").unwrap();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    check("emulator_files_cli", cases(16), json(), |m: Json| {
        let text = m.apply(&valid);
        std::fs::write(&emu, &text).unwrap();
        let _ = std::fs::remove_file(&out);
        let refused = GpEmulator::from_json(&String::from_utf8_lossy(&text)).is_err();
        crate::at_the_cli(&["emulator", "predict", &s(&emu), &s(&points), "-o", &s(&out)], refused)
    });
}

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

/// Everything `emulator predict`, `emulator validate` and a pipeline stage do with a loaded emulator.
fn use_emulator(text: &str) {
    let r = GpEmulator::from_json(text);
    show("emulator", &r);
    if let Ok(e) = r {
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
        no_panic("loading an emulator", || use_emulator(&text))
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

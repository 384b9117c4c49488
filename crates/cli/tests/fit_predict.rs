//! A user's path without Rust: `kymo dataset` writes a built-in set as
//! CSV, `kymo fit` trains a spec with a setup file beside it and writes the
//! best checkpoint with its preprocessing, and `kymo predict` on the test
//! CSV reproduces the test RMSE that `fit` reported, in the target's units.

use std::path::Path;
use std::process::Command;

fn kymo(args: &[&str]) -> (String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_kymo"))
        .args(args)
        .output()
        .expect("kymo runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(output.status.success(), "kymo {args:?} failed:\n{stderr}");
    (stdout, stderr)
}

/// The number after `label` in `text`.
fn figure(text: &str, label: &str) -> String {
    let start = text
        .find(label)
        .unwrap_or_else(|| panic!("no `{label}` in:\n{text}"))
        + label.len();
    text[start..]
        .split_whitespace()
        .next()
        .expect("a figure follows")
        .to_string()
}

const MODEL: &str = r#"
[input]
channels = 1
length = 700

[[layers]]
type = "Conv1D"
filters = 4
kernel_size = 5
padding = "same"

[[layers]]
type = "ELU"

[[layers]]
type = "MaxPooling1D"
pool_size = 4

[[layers]]
type = "Flatten"

[[layers]]
type = "Dense"
units = 1
"#;

const SETUP: &str = r#"
optimizer = "AdamW"
learning_rate = 0.001
batch_size = 4
epochs = 3
early_stopping = true
weight_decay = 0.01
preprocessing = "snv,savgol:15:2:1,standardize"
"#;

#[test]
fn predict_reproduces_the_test_rmse_fit_reported_with_the_saved_preprocessing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    kymo(&["dataset", "corn", "--out", &path("corn")]);
    std::fs::create_dir_all(dir.path().join("rx")).expect("folder");
    std::fs::write(dir.path().join("rx/model.toml"), MODEL).expect("writes");
    std::fs::write(dir.path().join("rx/setup.toml"), SETUP).expect("writes");
    let calibration = path("corn/calibration.csv");
    let test = path("corn/test.csv");
    let (fitted, _) = kymo(&[
        "fit",
        "--model",
        &path("rx/model.toml"),
        "--data",
        &calibration,
        "--target",
        "target",
        "--test",
        &test,
        "--out",
        &path("run"),
    ]);
    assert!(Path::new(&path("run/best.kymo")).exists());
    assert!(Path::new(&path("run/history.csv")).exists());
    let (predictions, stderr) = kymo(&[
        "predict",
        &path("run/best.kymo"),
        &test,
        "--target",
        "target",
    ]);
    assert_eq!(
        figure(&fitted, "test RMSE"),
        figure(&stderr, "RMSE against `target`:")
    );
    let lines: Vec<&str> = predictions.lines().collect();
    assert_eq!(lines.len(), 21, "a header and one line per test row");
    // Oil content in % by weight: predictions back in the target's units.
    let first: f64 = lines[1].parse().expect("a number");
    assert!((1.0..6.0).contains(&first), "{first}");
}

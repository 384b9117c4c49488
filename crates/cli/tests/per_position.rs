//! A Dense after a Conv1D with no Flatten between them predicts at every
//! position (Keras maps only the last axis): `kymo doctor` names it and
//! prescribes the model with the Flatten, and `kymo fit` refuses to train
//! it with the same fix rather than fail on the first batch. A head of
//! another width than the targets is named too, and verified around.

mod common;
use common::{kymo, small_model};

const LENGTH: usize = 32;

/// 60 rows of `LENGTH` points with a target column: the target is the
/// mean of the row's first 8 points.
fn data_csv() -> String {
    let mut text: String = (0..LENGTH).map(|i| format!("x{i},")).collect();
    text.push_str("y\n");
    let mut state = 3u64;
    for _ in 0..60 {
        let row: Vec<f32> = (0..LENGTH)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect();
        let target = row[..8].iter().sum::<f32>() / 8.0;
        for v in &row {
            text.push_str(&format!("{v},"));
        }
        text.push_str(&format!("{target}\n"));
    }
    text
}

/// Writes `spec` as `model.toml` and [`data_csv`] as `data.csv` in `dir`;
/// their paths.
fn model_and_data(dir: &tempfile::TempDir, spec: &str) -> (String, String) {
    let (model, csv) = (dir.path().join("model.toml"), dir.path().join("data.csv"));
    std::fs::write(&model, spec).expect("writes");
    std::fs::write(&csv, data_csv()).expect("writes");
    let path = |p: std::path::PathBuf| p.to_str().expect("path").to_string();
    (path(model), path(csv))
}

/// `kymo doctor MODEL --data CSV --target y --probe-epochs 1`, then `extra`.
fn doctor(model: &str, csv: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["doctor", model, "--data", csv, "--target", "y"];
    args.extend_from_slice(&["--probe-epochs", "1"]);
    args.extend_from_slice(extra);
    kymo(&args)
}

#[test]
fn the_doctor_names_a_head_without_flatten_and_fit_refuses_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The small model without its Flatten: Dense(1) maps each of the 8
    // pooled positions.
    let spec = small_model(LENGTH, "ReLU").replace("[[layers]]\ntype = \"Flatten\"\n\n", "");
    assert!(!spec.contains("Flatten"), "{spec}");
    let (model, csv) = model_and_data(&dir, &spec);
    let (rx, run) = (dir.path().join("rx"), dir.path().join("run"));
    let (model, csv, rx, run) = (
        model.as_str(),
        csv.as_str(),
        rx.to_str().expect("path"),
        run.to_str().expect("path"),
    );
    let (stdout, _) = doctor(model, csv, &["--prescribe", rx]);
    assert!(stdout.contains("[per-position-output]"), "{stdout}");
    assert!(stdout.contains("at each of the 8 positions"), "{stdout}");
    assert!(stdout.contains("add Flatten() before"), "{stdout}");
    // The prescription has the Flatten.
    let prescribed = std::fs::read_to_string(format!("{rx}/model.toml")).expect("prescribed");
    assert!(prescribed.contains("Flatten"), "{prescribed}");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kymo"))
        .args([
            "fit", "--model", model, "--data", csv, "--target", "y", "--out", run,
        ])
        .output()
        .expect("kymo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "fit trained a per-position head");
    assert!(stderr.contains("predicts at every position"), "{stderr}");
    assert!(stderr.contains("add Flatten() before"), "{stderr}");
}

/// A classifier's head, `Dense(3, softmax)`, on one regression target:
/// the doctor names it, does not probe a model that cannot train on these
/// targets, and `--verify` measures the prescription alone (each fix would
/// be measured against that model) instead of failing.
#[test]
fn the_doctor_names_a_head_wider_than_the_targets_and_verifies_the_prescription() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = small_model(LENGTH, "ReLU").replace(
        "type = \"Dense\"\nunits = 1\n",
        "type = \"Dense\"\nunits = 3\nactivation = \"softmax\"\n",
    );
    assert!(spec.contains("units = 3"), "{spec}");
    let (model, csv) = model_and_data(&dir, &spec);
    let (model, csv) = (model.as_str(), csv.as_str());
    let verify = ["--verify", "--verify-seeds", "1", "--verify-epochs", "1"];
    let (stdout, stderr) = doctor(model, csv, &verify);
    assert!(
        stdout.contains("3 outputs for 1 regression target "),
        "{stdout}"
    );
    assert!(stdout.contains("[head-loss-mismatch]"), "{stdout}");
    assert!(
        stderr.contains("cannot train on these data (head-loss-mismatch)"),
        "{stderr}"
    );
    assert!(stderr.contains("verifying: the prescription"), "{stderr}");
}

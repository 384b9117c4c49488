//! Rows cut from one recording by an overlapping sliding window and then
//! shuffled, as scikit-learn's `train_test_split` would leave them: the
//! doctor names the leak, and `kymo fit` validates on rows that share no
//! point with its training rows.

mod common;
use common::{kymo, small_model};

const LENGTH: usize = 64;
const STEP: usize = 4;
const ROWS: usize = 240;

const SETUP: &str = r#"
optimizer = "Adam"
learning_rate = 0.001
batch_size = 16
epochs = 1
"#;

/// A noisy oscillation: each point a fixed function of its index.
fn recording(points: usize) -> Vec<f32> {
    let mut state = 11u64;
    (0..points)
        .map(|t| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            (t as f32 * 0.05).sin() + 0.3 * noise
        })
        .collect()
}

/// The windows as CSV rows in a shuffled order, each with the mean of the
/// 8 points after it as the target (a forecast).
fn shuffled_windows_csv() -> String {
    let walk = recording(ROWS * STEP + LENGTH + 8);
    let mut order: Vec<usize> = (0..ROWS).collect();
    // A fixed permutation: multiplying by a unit modulo ROWS.
    order.sort_by_key(|&row| (row * 97) % ROWS);
    let mut csv = String::from("y");
    for point in 0..LENGTH {
        csv.push_str(&format!(",p{point}"));
    }
    csv.push('\n');
    for row in order {
        let start = row * STEP;
        let future = &walk[start + LENGTH..start + LENGTH + 8];
        let target = future.iter().sum::<f32>() / 8.0;
        csv.push_str(&format!("{target}"));
        for value in &walk[start..start + LENGTH] {
            csv.push_str(&format!(",{value}"));
        }
        csv.push('\n');
    }
    csv
}

#[test]
fn shuffled_overlapping_windows_are_named_a_leak_and_fit_splits_them_apart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    std::fs::write(path("windows.csv"), shuffled_windows_csv()).expect("writes");
    std::fs::create_dir_all(path("rx")).expect("folder");
    std::fs::write(path("rx/model.toml"), small_model(LENGTH, "ReLU")).expect("writes");
    std::fs::write(path("rx/recipe.toml"), SETUP).expect("writes");

    kymo(&[
        "doctor",
        &path("rx/model.toml"),
        "--data",
        &path("windows.csv"),
        "--target",
        "y",
        "--probe-epochs",
        "0",
        "--json",
        &path("diagnosis.json"),
        "--prescribe",
        &path("prescribed"),
    ]);
    // The Keras script's rows: the same split `kymo fit` makes below.
    let split: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(path("prescribed/split.json")).expect("written"),
    )
    .expect("JSON");
    assert_eq!(split["rows"], ROWS);
    assert_eq!(split["validation"].as_array().expect("rows").len(), 48);
    assert_eq!(split["train"].as_array().expect("rows").len(), 180);
    let script = std::fs::read_to_string(path("prescribed/train_keras.py")).expect("written");
    assert!(script.contains("split.json"), "{script}");
    let diagnosis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("diagnosis.json")).expect("written"))
            .expect("JSON");
    let finding = diagnosis["findings"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|f| f["id"] == "overlapping-windows")
        .unwrap_or_else(|| panic!("no overlapping-windows in {diagnosis}"));
    assert_eq!(finding["severity"], "high", "{finding}");
    let measured = finding["measured"].as_str().expect("text");
    assert!(
        measured.contains(&format!("a step of {STEP} ")),
        "{measured}"
    );

    let (_, stderr) = kymo(&[
        "fit",
        "--model",
        &path("rx/model.toml"),
        "--data",
        &path("windows.csv"),
        "--target",
        "y",
        "--out",
        &path("run"),
    ]);
    assert!(stderr.contains("overlapping windows"), "{stderr}");
    // kymo puts the shuffled windows back in recording order; the last 48
    // there validate, and the 12 windows before them, which share 16 or
    // more of their 64 points with the first of them, leave training.
    let split = stderr
        .lines()
        .find(|line| line.contains(" train / "))
        .unwrap_or_else(|| panic!("no split line in:\n{stderr}"));
    assert!(split.contains("(180 train / 48 validation"), "{split}");
}

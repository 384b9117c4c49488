//! A classification user's path: a multichannel UCR/UEA `.ts` file in,
//! `kymo fit` with a built-in model (which gets the data's channels and a
//! softmax head), and `kymo predict` printing each case's label and class
//! probabilities, with the accuracy `fit` reported. A CSV with string
//! labels takes the same path with `--classes`.

mod common;
use common::kymo;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// Class `k` of three: channel 0 a sine of `k + 1` periods, channel 1 its
/// negation, with a little deterministic jitter per case.
fn value(case: usize, class: usize, channel: usize, point: usize) -> f64 {
    let angle =
        (class + 1) as f64 * std::f64::consts::TAU * point as f64 / 24.0 + case as f64 * 0.37;
    let jitter = ((case * 31 + point * 17) % 13) as f64 / 60.0;
    (if channel == 0 { 1.0 } else { -1.0 }) * angle.sin() + jitter
}

const NAMES: [&str; 3] = ["slow", "medium", "fast"];

fn write_ts(path: &Path, cases: usize, offset: usize) {
    let mut text = String::from(
        "@problemName Waves\n@timeStamps false\n@missing false\n@univariate false\n@dimensions 2\n@equalLength true\n@seriesLength 24\n@classLabel true slow medium fast\n@data\n",
    );
    for case in 0..cases {
        let class = case % 3;
        let channels: Vec<String> = (0..2)
            .map(|c| {
                (0..24)
                    .map(|p| format!("{:.4}", value(case + offset, class, c, p)))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        writeln!(text, "{}:{}", channels.join(":"), NAMES[class]).expect("string");
    }
    std::fs::write(path, text).expect("writes");
}

#[test]
fn a_multichannel_ts_file_trains_a_classifier_whose_predictions_name_the_classes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (train, test) = (dir.path().join("train.ts"), dir.path().join("test.ts"));
    write_ts(&train, 60, 0);
    write_ts(&test, 30, 1000);
    let recipe = dir.path().join("recipe.toml");
    std::fs::write(
        &recipe,
        "batch_size = 8\nepochs = 30\nlearning_rate = 0.003\n",
    )
    .expect("writes");
    let out = dir.path().join("run");
    let path = |p: &Path| p.to_str().expect("UTF-8 path").to_string();
    let (stdout, stderr) = kymo(&[
        "fit",
        "--model",
        "fcn",
        "--recipe",
        &path(&recipe),
        "--data",
        &path(&train),
        "--test",
        &path(&test),
        "--out",
        &path(&out),
    ]);
    assert!(stderr.contains("3 classes: slow, medium, fast"), "{stderr}");
    assert!(
        stderr.contains("sparse_categorical_crossentropy"),
        "{stderr}"
    );
    let reported: f64 = stdout
        .split("test accuracy ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|figure| figure.parse().ok())
        .unwrap_or_else(|| panic!("a test accuracy in:\n{stdout}"));
    assert!(reported >= 0.9, "test accuracy {reported}");
    let (predictions, stderr) = kymo(&["predict", &path(&out.join("best.kymo")), &path(&test)]);
    let mut lines = predictions.lines();
    assert_eq!(lines.next(), Some("label,p(slow),p(medium),p(fast)"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 30);
    let correct = rows
        .iter()
        .enumerate()
        .filter(|(case, row)| row.starts_with(&format!("{},", NAMES[case % 3])))
        .count();
    // predict's accuracy is fit's.
    assert!(
        (correct as f64 / 30.0 - reported).abs() < 1e-9,
        "{correct}/30 vs {reported}"
    );
    assert!(
        stderr.contains(&format!("accuracy {reported:.4}")),
        "{stderr}"
    );
}

#[test]
fn a_csv_with_string_labels_trains_with_classes_and_unknown_test_labels_are_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = |cases: usize, offset: usize, extra: Option<&str>| {
        let mut text = String::from("kind");
        for p in 0..24 {
            write!(text, ",p{p}").expect("string");
        }
        text.push('\n');
        for case in 0..cases {
            let class = case % 3;
            text.push_str(NAMES[class]);
            for p in 0..24 {
                write!(text, ",{:.4}", value(case + offset, class, 0, p)).expect("string");
            }
            text.push('\n');
        }
        if let Some(label) = extra {
            text.push_str(label);
            text.push_str(&",0".repeat(24));
            text.push('\n');
        }
        text
    };
    let (train, test) = (dir.path().join("train.csv"), dir.path().join("test.csv"));
    std::fs::write(&train, csv(60, 0, None)).expect("writes");
    std::fs::write(&test, csv(6, 500, Some("sideways"))).expect("writes");
    let recipe = dir.path().join("recipe.toml");
    std::fs::write(&recipe, "batch_size = 8\nepochs = 3\n").expect("writes");
    let path = |p: &Path| p.to_str().expect("UTF-8 path").to_string();
    let out = dir.path().join("run");
    let (_, stderr) = kymo(&[
        "fit",
        "--model",
        "answer",
        "--recipe",
        &path(&recipe),
        "--data",
        &path(&train),
        "--target",
        "kind",
        "--classes",
        "--out",
        &path(&out),
    ]);
    // Classes sorted as text.
    assert!(stderr.contains("3 classes: fast, medium, slow"), "{stderr}");
    let failed = Command::new(env!("CARGO_BIN_EXE_kymo"))
        .args([
            "predict",
            &path(&out.join("best.kymo")),
            &path(&test),
            "--target",
            "kind",
        ])
        .output()
        .expect("kymo runs");
    assert!(!failed.status.success());
    let message = String::from_utf8_lossy(&failed.stderr);
    assert!(
        message.contains("row 8") && message.contains("`sideways`"),
        "{message}"
    );
}

#[test]
fn the_doctor_names_a_regression_head_on_labels_and_prescribes_a_softmax_classifier() {
    let dir = tempfile::tempdir().expect("temp dir");
    let train = dir.path().join("train.ts");
    // Sorted by class: Keras's tail split validates on `fast` only.
    write_ts(&train, 30, 0);
    let sorted: Vec<String> = {
        let text = std::fs::read_to_string(&train).expect("reads");
        let (header, cases) = text.split_at(text.find("@data\n").expect("data") + 6);
        let mut lines: Vec<&str> = cases.lines().collect();
        lines.sort_by_key(|line| NAMES.iter().position(|n| line.ends_with(&format!(":{n}"))));
        vec![header.to_string(), lines.join("\n") + "\n"]
    };
    std::fs::write(&train, sorted.concat()).expect("writes");
    let path = |p: &Path| p.to_str().expect("UTF-8 path").to_string();
    let rx = dir.path().join("rx");
    let (stdout, _) = kymo(&[
        "doctor",
        "answer",
        "--data",
        &path(&train),
        "--batch-size",
        "8",
        "--early-stopping",
        "--checkpoint-best",
        "--probe-epochs",
        "0",
        "--prescribe",
        &path(&rx),
    ]);
    assert!(
        stdout.contains("[head-loss-mismatch]") && stdout.contains("regression loss (mse)"),
        "{stdout}"
    );
    assert!(stdout.contains("[split-misses-class]"), "{stdout}");
    let model = std::fs::read_to_string(rx.join("model.toml")).expect("prescribed");
    assert!(
        model.contains("activation = \"softmax\"") && model.contains("units = 3"),
        "{model}"
    );
    let recipe = std::fs::read_to_string(rx.join("recipe.toml")).expect("prescribed");
    assert!(
        recipe.contains("sparse_categorical_crossentropy") && recipe.contains("monitor = \"loss\""),
        "{recipe}"
    );
}

/// `--memory lean` recomputes and checkpoints every residual block a
/// ResNet can replay, `--memory fast` keeps everything: the same weights,
/// so the same predictions to the last digit.
#[test]
fn fit_trains_the_same_weights_whatever_it_keeps_for_backward() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (train, test) = (dir.path().join("train.ts"), dir.path().join("test.ts"));
    write_ts(&train, 30, 0);
    write_ts(&test, 9, 1000);
    let recipe = dir.path().join("recipe.toml");
    std::fs::write(&recipe, "batch_size = 8\nepochs = 2\n").expect("writes");
    let path = |p: &Path| p.to_str().expect("UTF-8 path").to_string();
    let predictions = |memory: &str| {
        let out = dir.path().join(memory);
        kymo(&[
            "fit",
            "--model",
            "resnet",
            "--recipe",
            &path(&recipe),
            "--data",
            &path(&train),
            "--memory",
            memory,
            "--out",
            &path(&out),
        ]);
        kymo(&["predict", &path(&out.join("best.kymo")), &path(&test)]).0
    };
    let lean = predictions("lean");
    assert_eq!(lean.lines().count(), 10, "{lean}");
    assert_eq!(lean, predictions("fast"));
}

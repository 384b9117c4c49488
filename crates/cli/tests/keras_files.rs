//! A Keras user's own files: `kymo predict model.keras data.csv` prints
//! what Keras predicted, and `kymo doctor model.keras` judges the model
//! with the loss, optimizer and learning rate the file was compiled with.
//! Fixtures: `tests/fixtures/keras_files/` (written by Keras 3.15).

mod common;
use common::kymo;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/keras_files")
        .join(name)
        .to_str()
        .expect("UTF-8 path")
        .to_string()
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).expect("fixture"))
        .expect("json")
}

/// The fixtures' input rows as a CSV with a leading `label` column.
fn write_csv(path: &Path, labels: &[&str]) {
    let expected = expected();
    let rows = expected["x"].as_array().expect("rows");
    let mut text = String::from("label");
    for p in 0..64 {
        write!(text, ",p{p}").expect("string");
    }
    text.push('\n');
    for (row, label) in rows.iter().cycle().zip(labels) {
        text.push_str(label);
        for v in row.as_array().expect("row") {
            write!(text, ",{}", v.as_f64().expect("number")).expect("string");
        }
        text.push('\n');
    }
    std::fs::write(path, text).expect("writes");
}

/// Holds `kymo predict`'s regression output (a header, then one number
/// per row) to Keras's predictions `want` (the first column of each row),
/// within float32's reach: 1e-5 relative, floored at a tenth of the
/// largest prediction (an output near zero is a difference of larger
/// terms, and carries their rounding); `what` names the case.
fn assert_predicts(stdout: &str, want: &[f64], what: &str) {
    let got: Vec<f64> = stdout
        .lines()
        .skip(1)
        .map(|l| l.parse().expect("a number"))
        .collect();
    assert_eq!(got.len(), want.len(), "{what}");
    let floor = want.iter().fold(0.01f64, |m, w| m.max(0.1 * w.abs()));
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(floor),
            "{what}: kymo {g}, Keras {w}"
        );
    }
}

/// The first column of the rows Keras predicted for fixture model `name`.
fn keras_predicted(name: &str) -> Vec<f64> {
    expected()["models"][name]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r[0].as_f64().expect("number"))
        .collect()
}

/// The first column of what Keras predicted for `make_layer_files.py`'s
/// model `name` (`expected_<name>.json`).
fn keras_predicted_in(name: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(fixture(&format!("expected_{name}.json"))).expect("fixture");
    let rows: Vec<Vec<f64>> = serde_json::from_str(&text).expect("json");
    rows.iter().map(|row| row[0]).collect()
}

#[test]
fn predict_reads_keras_files_and_prints_what_keras_predicted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("x.csv");
    write_csv(&csv, &["0.5", "1.5", "2.5", "3.5"]);
    for file in ["question.keras", "resnet.h5"] {
        let (stdout, _) = kymo(&[
            "predict",
            &fixture(file),
            csv.to_str().expect("path"),
            "--target",
            "label",
        ]);
        let name = file.split('.').next().expect("name");
        assert_predicts(&stdout, &keras_predicted(name), file);
    }
}

#[test]
fn layers_beyond_the_seeds_predict_what_keras_predicted() {
    // make_layer_files.py: selu, swish, gelu and softplus; GaussianNoise,
    // a strided Conv1D, SpatialDropout1D, and regularizers between Flatten
    // and Dense; causal padding (dilated and strided) and a leaky ReLU
    // layer; ZeroPadding1D and Cropping1D; a variable-length input
    // (`Input(shape=(None, 1))`), read at the data's length; Multiply,
    // Subtract, Average, Maximum and Minimum in one functional model; a
    // Dense on a signal, mapping each position before a Flatten; a
    // squeeze-and-excitation block (Reshape((1, C)), a broadcast Multiply),
    // and the same with global pools that keep their axis; Permute((2, 1))
    // between two convolutions.
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("x.csv");
    write_csv(&csv, &["0", "0", "0", "0"]);
    let csv = csv.to_str().expect("path");
    for name in [
        "smooth",
        "regularized",
        "causal",
        "edges",
        "varlen",
        "merges",
        "per_step",
        "squeeze_excite",
        "squeeze_excite_keepdims",
        "permute",
    ] {
        let model = fixture(&format!("{name}.keras"));
        let (stdout, _) = kymo(&["predict", &model, csv, "--target", "label"]);
        assert_predicts(&stdout, &keras_predicted_in(name), name);
    }
}

#[test]
fn the_doctor_takes_the_files_compile_settings_and_judges_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("two.csv");
    // Two classes for a model compiled with three outputs.
    let labels: Vec<&str> = (0..40)
        .map(|i| if i % 2 == 0 { "a" } else { "b" })
        .collect();
    write_csv(&csv, &labels);
    let (stdout, stderr) = kymo(&[
        "doctor",
        &fixture("classifier.keras"),
        "--data",
        csv.to_str().expect("path"),
        "--target",
        "label",
        "--classes",
        "--batch-size",
        "8",
        "--early-stopping",
        "--checkpoint-best",
    ]);
    assert!(
        stderr.contains("compiled with loss sparse_categorical_crossentropy, optimizer Adam"),
        "{stderr}"
    );
    // The file's loss is the one judged: no `regression loss` finding, but
    // a head of 3 outputs for 2 classes.
    assert!(stdout.contains("3 outputs for 2 classes"), "{stdout}");
    assert!(!stdout.contains("regression loss"), "{stdout}");
}

#[test]
fn the_doctor_looks_at_the_trained_weights_on_the_users_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("far.csv");
    // Targets around 8 for a model trained 2 epochs on targets around 0;
    // its BatchNormalization statistics are those of 8 training steps.
    let labels: Vec<String> = (0..40).map(|i| (5 + i % 7).to_string()).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    write_csv(&csv, &labels);
    let (stdout, _) = kymo(&[
        "doctor",
        &fixture("answer_bn.keras"),
        "--data",
        csv.to_str().expect("path"),
        "--target",
        "label",
        "--probe-epochs",
        "0",
        "--batch-size",
        "8",
        "--early-stopping",
        "--checkpoint-best",
        "--prescribe",
        dir.path().join("rx").to_str().expect("path"),
    ]);
    // The prescription for Keras: the model and the script that trains it
    // with the prescribed recipe.
    let script = std::fs::read_to_string(dir.path().join("rx/train_keras.py")).expect("written");
    let recipe = std::fs::read_to_string(dir.path().join("rx/recipe.toml")).expect("written");
    let batch = recipe
        .lines()
        .find_map(|line| line.strip_prefix("batch_size = "))
        .expect("a batch size");
    assert!(script.contains("keras.models.load_model"), "{script}");
    assert!(script.contains(&format!("batch_size={batch},")), "{script}");
    assert!(dir.path().join("rx/model.keras").exists());
    assert!(stdout.contains("[worse-than-mean]"), "{stdout}");
    // `kymo fit` on the file trains with its compile settings (MAE,
    // RMSprop) where no recipe file is given.
    let (_, stderr) = kymo(&[
        "fit",
        "--model",
        &fixture("answer_bn.keras"),
        "--data",
        csv.to_str().expect("path"),
        "--target",
        "label",
        "--out",
        dir.path().join("run").to_str().expect("path"),
    ]);
    assert!(
        stderr.contains("optimizer = \"RMSprop\"") && stderr.contains("loss = \"mae\""),
        "{stderr}"
    );
    assert!(
        stdout.contains("[batchnorm-statistics-mismatch]"),
        "{stdout}"
    );
}

/// A Keras file does not keep the batch size `fit` ran with: without
/// `--batch-size` the doctor judges Keras's default, 32, and says so,
/// instead of the question's batch of 1; a batch the user gives is judged.
#[test]
fn the_doctor_judges_a_keras_files_setup_at_keras_default_batch_size() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("targets.csv");
    let labels: Vec<String> = (0..40)
        .map(|i| format!("{:.2}", 0.1 * (i % 9) as f64))
        .collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    write_csv(&csv, &labels);
    let (model, data) = (fixture("answer_bn.keras"), csv.to_str().expect("path"));
    let run = |extra: &[&str]| {
        let mut args = vec!["doctor", model.as_str(), "--data", data];
        args.extend_from_slice(&["--target", "label", "--probe-epochs", "0"]);
        args.extend_from_slice(extra);
        kymo(&args)
    };
    let (stdout, stderr) = run(&[]);
    assert!(stderr.contains("judging Keras's default, 32"), "{stderr}");
    assert!(stderr.contains("batch_size = 32"), "{stderr}");
    assert!(!stdout.contains("[batch-one]"), "{stdout}");
    let (stdout, stderr) = run(&["--batch-size", "1"]);
    assert!(!stderr.contains("judging Keras's default"), "{stderr}");
    assert!(stdout.contains("[batch-one]"), "{stdout}");
}

/// The fixtures' input rows, repeated to `rows`, as an `x.npy` in Keras's
/// order `(samples, points, 1)`.
fn write_keras_npy(path: &Path, rows: usize) {
    let expected = expected();
    let values: Vec<f32> = expected["x"]
        .as_array()
        .expect("rows")
        .iter()
        .cycle()
        .take(rows)
        .flat_map(|row| row.as_array().expect("row").clone())
        .map(|v| v.as_f64().expect("number") as f32)
        .collect();
    let x = ndarray::Array3::from_shape_vec((rows, 64, 1), values).expect("shape");
    ndarray_npy::write_npy(path, &x).expect("writes");
}

#[test]
fn npy_files_in_keras_order_with_integer_labels_are_read_as_keras_reads_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let x = dir.path().join("x.npy");
    write_keras_npy(&x, 4);
    let x = x.to_str().expect("path");
    let (stdout, stderr) = kymo(&["predict", &fixture("question.keras"), x]);
    assert!(stderr.contains("Keras's order"), "{stderr}");
    assert_predicts(&stdout, &keras_predicted("question"), "x.npy");
    // Integer labels, and no --classes: the file's cross-entropy says
    // they are classes.
    let x = dir.path().join("x40.npy");
    write_keras_npy(&x, 40);
    let y = dir.path().join("y.npy");
    let labels = ndarray::Array1::<i64>::from_shape_fn(40, |i| (i % 2) as i64);
    ndarray_npy::write_npy(&y, &labels).expect("writes");
    let (stdout, _) = kymo(&[
        "doctor",
        &fixture("classifier.keras"),
        "--data",
        x.to_str().expect("path"),
        "--target",
        y.to_str().expect("path"),
        "--probe-epochs",
        "0",
    ]);
    assert!(stdout.contains("3 outputs for 2 classes"), "{stdout}");
    // A Keras classifier predicts labels, its output columns by index, as
    // `np.argmax` reads them, and is scored on integer labels.
    let (stdout, stderr) = kymo(&[
        "predict",
        &fixture("classifier.keras"),
        x.to_str().expect("path"),
        "--target",
        y.to_str().expect("path"),
    ]);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("label,p(0),p(1),p(2)"), "{stdout}");
    for line in lines {
        let cells: Vec<f64> = line
            .split(',')
            .map(|cell| cell.parse().expect("a number"))
            .collect();
        let best = (1..4)
            .max_by(|&a, &b| cells[a].total_cmp(&cells[b]))
            .expect("three columns");
        assert_eq!(cells[0], (best - 1) as f64, "{line}");
    }
    assert!(stderr.contains("accuracy"), "{stderr}");
}

#[test]
fn layer_normalization_over_two_channels_predicts_what_keras_predicted() {
    // make_layer_files.py: LayerNormalization over a signal's channels and
    // over flat features, on two channels (the fixture rows, and each row
    // reversed) in Keras's order.
    let rows: Vec<Vec<f32>> = expected()["x"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_f64().expect("number") as f32)
                .collect()
        })
        .collect();
    let x = ndarray::Array3::from_shape_fn((rows.len(), 64, 2), |(s, p, c)| {
        rows[s][if c == 0 { p } else { 63 - p }]
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let npy = dir.path().join("x.npy");
    ndarray_npy::write_npy(&npy, &x).expect("writes");
    let (stdout, _) = kymo(&[
        "predict",
        &fixture("normalized.keras"),
        npy.to_str().expect("path"),
        "--layout",
        "channels-last",
    ]);
    assert_predicts(&stdout, &keras_predicted_in("normalized"), "normalized");
}

#[test]
fn export_takes_a_keras_files_trained_weights_to_pytorch_and_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("export");
    let out = out.to_str().expect("path");
    kymo(&["export", &fixture("causal.keras"), "--out", out]);
    let python = std::fs::read_to_string(dir.path().join("export/model.py")).expect("model.py");
    // The causal convolution pads its span less one on the left only.
    assert!(
        python.contains("nn.ConstantPad1d((4, 0), 0.0), nn.Conv1d(1, 6, 3"),
        "{python}"
    );
    // The exported model.keras holds the file's trained weights, not fresh
    // ones: it predicts what Keras predicted with the original.
    let csv = dir.path().join("x.csv");
    write_csv(&csv, &["0", "0", "0", "0"]);
    let exported = dir.path().join("export/model.keras");
    let (stdout, _) = kymo(&[
        "predict",
        exported.to_str().expect("path"),
        csv.to_str().expect("path"),
        "--target",
        "label",
    ]);
    assert_predicts(
        &stdout,
        &keras_predicted_in("causal"),
        "exported causal.keras",
    );
}

/// `fixture(name)` copied to `path` with its `compile_config`'s optimizer
/// and loss replaced by `optimizer` and `loss`: the same model as a user
/// compiled it otherwise.
fn recompiled(name: &str, path: &Path, optimizer: serde_json::Value, loss: serde_json::Value) {
    use std::io::{Read, Write};
    let source = std::fs::File::open(fixture(name)).expect("fixture");
    let mut archive = zip::ZipArchive::new(source).expect("a zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(path).expect("creates"));
    let options = zip::write::SimpleFileOptions::default();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).expect("an entry");
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("reads");
        if entry.name() == "config.json" {
            let mut config: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
            config["compile_config"]["optimizer"] = optimizer.clone();
            config["compile_config"]["loss"] = loss.clone();
            bytes = serde_json::to_vec(&config).expect("json");
        }
        writer
            .start_file(entry.name(), options)
            .expect("starts an entry");
        writer.write_all(&bytes).expect("writes");
    }
    writer.finish().expect("finishes");
}

#[test]
fn fit_trains_with_the_files_optimizer_options_and_says_what_it_leaves_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("rows.csv");
    let labels: Vec<String> = (0..40)
        .map(|i| format!("{}", (i % 7) as f64 * 0.5))
        .collect();
    write_csv(&csv, &labels.iter().map(String::as_str).collect::<Vec<_>>());
    let fit = |model: &Path, out: &str| {
        kymo(&[
            "fit",
            "--model",
            model.to_str().expect("path"),
            "--data",
            csv.to_str().expect("path"),
            "--target",
            "label",
            "--out",
            dir.path().join(out).to_str().expect("path"),
        ])
        .1
    };
    // RMSprop as Keras 3 stores it, with options kymo has.
    let options = dir.path().join("options.keras");
    let rmsprop = serde_json::json!({"module": "keras.optimizers", "class_name": "RMSprop",
        "config": {"learning_rate": {"class_name": "ExponentialDecay", "config":
                       {"initial_learning_rate": 0.002, "decay_steps": 10, "decay_rate": 0.5}},
                   "rho": 0.8, "centered": true, "epsilon": 1e-7,
                   "clipnorm": 1.0, "global_clipnorm": null, "clipvalue": null}});
    recompiled("answer_bn.keras", &options, rmsprop, "mse".into());
    let stderr = fit(&options, "options");
    for line in [
        "optimizer = \"RMSprop\"",
        "rho = 0.8",
        "centered = true",
        "clipnorm = 1.0",
        "type = \"exponential\"",
    ] {
        assert!(stderr.contains(line), "{line}: {stderr}");
    }
    assert!(!stderr.contains("left out of"), "{stderr}");
    // An optimizer, a schedule and a loss kymo lacks: each is named, and
    // the schedule's initial rate stands.
    let gaps = dir.path().join("gaps.keras");
    let nadam = serde_json::json!({"class_name": "Nadam", "config": {"learning_rate":
        {"class_name": "CosineDecayRestarts", "config": {"initial_learning_rate": 0.01, "first_decay_steps": 100}}}});
    recompiled("answer_bn.keras", &gaps, nadam, "log_cosh".into());
    let stderr = fit(&gaps, "gaps");
    for gap in [
        "optimizer Nadam",
        "schedule CosineDecayRestarts",
        "loss log_cosh",
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains("left out of") && l.contains(gap)),
            "{gap}: {stderr}"
        );
    }
    assert!(stderr.contains("learning_rate = 0.01"), "{stderr}");
}

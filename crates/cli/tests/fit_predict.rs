//! A user's path without Rust: `kymo dataset` writes a built-in set as
//! CSV, `kymo fit` trains a spec with a setup file beside it and writes the
//! best checkpoint with its preprocessing, and `kymo predict` on the test
//! CSV reproduces the test RMSE that `fit` reported, in the target's units.

mod common;
use common::{kymo, small_model};

use std::path::Path;
use std::process::Command;

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

const SETUP: &str = r#"
optimizer = "AdamW"
learning_rate = 0.001
batch_size = 4
epochs = 3
early_stopping = true
weight_decay = 0.01
preprocessing = "snv,savgol:15:2:1,standardize"
"#;

/// The corn set as CSV in `dir/corn` and a small model with its recipe in
/// `dir/rx`, as `doctor --prescribe` would leave them.
fn corn_with_prescription(dir: &Path) {
    let corn = dir.join("corn").to_string_lossy().into_owned();
    kymo(&["dataset", "corn", "--out", &corn]);
    std::fs::create_dir_all(dir.join("rx")).expect("folder");
    std::fs::write(dir.join("rx/model.toml"), small_model(700, "ELU")).expect("writes");
    std::fs::write(dir.join("rx/recipe.toml"), SETUP).expect("writes");
}

#[test]
fn predict_reproduces_the_test_rmse_fit_reported_with_the_saved_preprocessing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    corn_with_prescription(dir.path());
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

#[test]
fn an_ensemble_fit_writes_its_members_and_predict_averages_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    corn_with_prescription(dir.path());
    let test = path("corn/test.csv");
    let (fitted, _) = kymo(&[
        "fit",
        "--model",
        &path("rx/model.toml"),
        "--data",
        &path("corn/calibration.csv"),
        "--target",
        "target",
        "--test",
        &test,
        "--ensemble",
        "2",
        "--out",
        &path("run"),
    ]);
    assert!(fitted.contains("trained 2 networks, averaged"), "{fitted}");
    for file in ["best.kymo", "best-2.kymo", "history-2.csv", "ensemble.toml"] {
        assert!(Path::new(&path(&format!("run/{file}"))).exists(), "{file}");
    }
    let predict =
        |checkpoint: &str| kymo(&["predict", &path(checkpoint), &test, "--target", "target"]);
    let (averaged, stderr) = predict("run/ensemble.toml");
    assert_eq!(
        figure(&fitted, "test RMSE"),
        figure(&stderr, "RMSE against `target`:")
    );
    // The run's folder stands for its ensemble.
    assert_eq!(predict("run").0, averaged);
    // Each row is the mean of the two members' predictions.
    let column = |text: &str| -> Vec<f64> {
        text.lines()
            .skip(1)
            .map(|l| l.parse().expect("a number"))
            .collect()
    };
    let (first, second) = (predict("run/best.kymo").0, predict("run/best-2.kymo").0);
    let (first, second, averaged) = (column(&first), column(&second), column(&averaged));
    assert_ne!(first, second, "seeds 0 and 1 train different networks");
    for ((a, b), mean) in first.iter().zip(&second).zip(&averaged) {
        assert!(
            (mean - (a + b) / 2.0).abs() < 1e-4 * (1.0 + mean.abs()),
            "{a} {b} {mean}"
        );
    }
}

#[test]
fn a_search_fit_writes_its_trials_and_the_chosen_setup_retrains_the_same_network() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    corn_with_prescription(dir.path());
    let data = path("corn/calibration.csv");
    let fit = |model: &str, recipe: &str, extra: &[&str], out: &str| {
        let mut args = vec![
            "fit", "--model", model, "--recipe", recipe, "--data", &data, "--target", "target",
            "--seed", "3", "--out", out,
        ];
        args.extend_from_slice(extra);
        kymo(&args)
    };
    let (searched, log) = fit(
        &path("rx/model.toml"),
        &path("rx/recipe.toml"),
        &["--search", "4"],
        &path("searched"),
    );
    let trials = std::fs::read_to_string(path("searched/search.csv")).expect("search.csv");
    let rows: Vec<&str> = trials.lines().skip(1).collect();
    assert!((3..=4).contains(&rows.len()), "{trials}");
    assert_eq!(
        rows.iter().filter(|r| r.contains(",true,")).count(),
        1,
        "{trials}"
    );
    assert!(log.contains("kymo fit: chose"), "{log}");
    // The chosen setup, trained again without a search, is the same network.
    let chosen_recipe = std::fs::read_to_string(path("searched/chosen-recipe.toml")).expect("toml");
    assert!(!chosen_recipe.contains("[search]"), "{chosen_recipe}");
    let (again, _) = fit(
        &path("searched/chosen-model.toml"),
        &path("searched/chosen-recipe.toml"),
        &[],
        &path("again"),
    );
    assert_eq!(
        figure(&searched, "validation RMSE"),
        figure(&again, "validation RMSE")
    );
}

/// Runs `kymo` expecting failure; returns its exit code and stderr.
fn kymo_fails(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_kymo"))
        .args(args)
        .output()
        .expect("kymo runs");
    assert!(!output.status.success(), "kymo {args:?} should have failed");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_recipe_naming_an_unknown_optimizer_or_key_exits_1_with_the_accepted_values() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    kymo(&["dataset", "corn", "--out", &path("corn")]);
    std::fs::write(dir.path().join("model.toml"), small_model(700, "ELU")).expect("writes");
    for (recipe, named) in [
        (
            "optimizer = \"Adamm\"\n",
            ["Adamm", "AdamW", "SGD", "RMSprop"],
        ),
        (
            "optimizer = \"rmsprop\"\n",
            ["rmsprop", "Adam", "SGD", "RMSprop"],
        ),
        (
            "learning_rat = 0.01\n",
            ["learning_rat", "learning_rate", "batch_size", "optimizer"],
        ),
    ] {
        std::fs::write(dir.path().join("bad.toml"), recipe).expect("writes");
        let (code, stderr) = kymo_fails(&[
            "fit",
            "--model",
            &path("model.toml"),
            "--recipe",
            &path("bad.toml"),
            "--data",
            &path("corn/calibration.csv"),
            "--target",
            "target",
            "--out",
            &path("run"),
        ]);
        assert_eq!(code, Some(1), "{stderr}");
        for word in named {
            assert!(stderr.contains(word), "`{word}` not in:\n{stderr}");
        }
        assert!(stderr.contains("bad.toml"), "the file is named:\n{stderr}");
    }
}

const PLATEAU_RECIPE: &str = r#"
optimizer = "Adam"
learning_rate = 0.003
batch_size = 16
epochs = 30
early_stopping = true
early_stopping_patience = 30
reduce_lr_patience = 2
"#;

/// Weights and per-epoch losses and rates of a checkpoint, bit for bit
/// (wall times left out).
fn end_state(path: &str) -> (Vec<u32>, Vec<(u64, u64)>) {
    let checkpoint = kymo_train::Checkpoint::load(Path::new(path)).expect("loads");
    let weights = checkpoint
        .weights
        .iter()
        .flat_map(|w| w.values.iter().map(|v| v.to_bits()))
        .collect();
    let epochs = checkpoint
        .history
        .epochs
        .iter()
        .map(|e| (e.loss.to_bits(), e.learning_rate.to_bits()))
        .collect();
    (weights, epochs)
}

#[test]
fn fit_resume_after_a_kill_ends_on_the_uninterrupted_runs_bits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    kymo(&["dataset", "tablet", "--out", &path("tablet")]);
    let model = small_model(597, "ELU");
    std::fs::write(dir.path().join("model.toml"), model).expect("writes");
    std::fs::write(dir.path().join("recipe.toml"), PLATEAU_RECIPE).expect("writes");
    let fit = |out: &str| {
        vec![
            "fit".to_string(),
            "--model".into(),
            path("model.toml"),
            "--data".into(),
            path("tablet/calibration.csv"),
            "--target".into(),
            "target".into(),
            "--out".into(),
            path(out),
        ]
    };
    let whole: Vec<String> = fit("whole");
    kymo(&whole.iter().map(String::as_str).collect::<Vec<_>>());

    // Killed with SIGKILL once its backup holds a few epochs.
    let killed = fit("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kymo"))
        .args(&killed)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    let state = dir.path().join("killed/backup/state.kymo");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let epochs_at_kill = loop {
        assert!(std::time::Instant::now() < deadline, "no backup was saved");
        let done = kymo_train::Checkpoint::load(&state).map_or(0, |c| c.history.epochs.len());
        if done >= 6 {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
            break kymo_train::Checkpoint::load(&state).map_or(0, |c| c.history.epochs.len());
        }
        assert!(
            child.try_wait().expect("polls").is_none(),
            "ended before the kill"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    assert!(
        epochs_at_kill < 30,
        "killed after the last epoch: nothing to resume"
    );

    // Without --resume it refuses to overwrite the interrupted run.
    let (code, stderr) = kymo_fails(&killed.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--resume"), "{stderr}");
    let mut resumed = killed.clone();
    resumed.push("--resume".into());
    let (_, stderr) = kymo(&resumed.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(stderr.contains("resuming"), "{stderr}");
    assert!(end_state(&path("killed/best.kymo")) == end_state(&path("whole/best.kymo")),
        "the resumed run must end on the uninterrupted run's bits (killed after {epochs_at_kill} epochs)");
    let rates: Vec<u64> = end_state(&path("whole/best.kymo"))
        .1
        .iter()
        .map(|e| e.1)
        .collect();
    assert!(
        rates.windows(2).any(|w| w[1] < w[0]),
        "the plateau schedule never acted"
    );
    assert!(!state.exists(), "a finished run keeps no backup");
}

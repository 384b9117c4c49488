//! One run: a variant trained with one seed, measured and saved.

use anyhow::Context as _;
use std::path::{Path, PathBuf};

use kymo_layers::{ArchitectureSpec, NamedArray};

use kymo_train::{
    BackupAndRestore, Callback, EpochLog, FitFiles, Metric, Recipe, ResumePoint, Stability,
    TrainError, Trainer,
};
use serde::{Deserialize, Serialize};

use super::config::Variant;
use super::data::Prepared;

/// One epoch of a run, as the per-run CSV holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRow {
    /// 0-based epoch.
    pub epoch: usize,
    /// Training loss.
    #[serde(with = "super::nullable")]
    pub loss: f64,
    /// Validation loss.
    #[serde(with = "super::nullable")]
    pub val_loss: f64,
    /// Learning rate.
    pub learning_rate: f64,
    /// Wall seconds.
    pub seconds: f64,
    /// Training samples per second.
    pub samples_per_second: f64,
}

/// What one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// Variant name.
    pub variant: String,
    /// Seed.
    pub seed: u64,
    /// Hash of the configuration it ran under (reruns skip matching results).
    pub config_hash: u32,
    /// Per-epoch figures.
    pub epochs: Vec<EpochRow>,
    /// Test MSE of the weights at the end of training (after any restore).
    #[serde(with = "super::nullable")]
    pub test_mse_final: f64,
    /// Test MSE of the weights of the best validation epoch.
    #[serde(with = "super::nullable")]
    pub test_mse_best: f64,
    /// Test RMSE of the best-validation weights, in the target's units.
    #[serde(default, with = "super::nullable")]
    pub test_rmse_best: f64,
    /// The best validation epoch.
    pub best_epoch: usize,
    /// Epochs whose validation loss exceeded predicting the mean.
    pub absurd_epochs: usize,
    /// RMS of `log10(val_loss[t] / val_loss[t-1])`: epoch-to-epoch swings.
    #[serde(with = "super::nullable")]
    pub volatility: f64,
    /// Whether any epoch's validation loss went non-finite or above ten
    /// times that of predicting the mean.
    pub blew_up: bool,
    /// The epoch EarlyStopping stopped at, if it did.
    pub stopped_epoch: Option<usize>,
    /// Wall seconds of the run.
    pub seconds: f64,
}

/// Keeps the weights of the best validation epoch in memory, so every run
/// can report the test error a best-weights checkpoint would have given.
#[derive(Default)]
struct BestWeights {
    best: Option<(f64, usize, Vec<NamedArray<f32>>)>,
}

impl Callback for BestWeights {
    /// Takes the best epoch of the resumed history, by the same rule, with
    /// its weights from the backup's best file.
    fn on_resume(&mut self, trainer: &mut Trainer, point: &ResumePoint) -> Result<(), TrainError> {
        self.best = None;
        for log in &trainer.history.epochs {
            let Some(val) = log.val_loss.filter(|v| v.is_finite()) else {
                continue;
            };
            if self.best.as_ref().is_none_or(|(b, _, _)| val < *b) {
                self.best = Some((val, log.epoch, Vec::new()));
            }
        }
        if let Some((_, epoch, weights)) = self.best.as_mut() {
            *weights = point
                .weights_of(*epoch)
                .ok_or(TrainError::Resume {
                    callback: "BestWeights",
                    reason: format!("the weights of epoch {} were not kept", *epoch + 1),
                })?
                .to_vec();
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, trainer: &mut Trainer, log: &EpochLog) -> Result<(), TrainError> {
        let Some(val) = log.val_loss.filter(|v| v.is_finite()) else {
            return Ok(());
        };
        if self.best.as_ref().is_none_or(|(b, _, _)| val < *b) {
            self.best = Some((val, log.epoch, trainer.model.get_weights()));
        }
        Ok(())
    }
}

/// Where a run's files go.
pub fn run_paths(out: &Path, variant: &str, seed: u64) -> (PathBuf, PathBuf, PathBuf) {
    let dir = out.join("runs").join(variant);
    (
        dir.join(format!("seed{seed}.json")),
        dir.join(format!("seed{seed}.csv")),
        dir.join(format!("seed{seed}-best.kymo")),
    )
}

fn test_mse(trainer: &mut Trainer, data: &Prepared) -> Result<f64, TrainError> {
    // `data.test` is already preprocessed.
    let predictions = trainer.predict_preprocessed(&data.test)?;
    Ok(Metric::Mse.compute(predictions.view(), data.test.targets()))
}

/// Trains `variant` (built from `model`) with its `recipe` and `seed`
/// into `out`, and measures it.
pub fn run(
    out: &Path,
    data: &Prepared,
    variant: &Variant,
    recipe: &Recipe,
    model: &ArchitectureSpec,
    seed: u64,
    config_hash: u32,
) -> anyhow::Result<RunResult> {
    let started = std::time::Instant::now();
    let (json_path, csv_path, checkpoint_path) = run_paths(out, &variant.name, seed);
    let backup_dir = backup_dir(out, &variant.name, seed, config_hash);
    let attempt = || {
        train(
            data,
            variant,
            recipe,
            model,
            seed,
            &checkpoint_path,
            &backup_dir,
        )
    };
    let trained = match attempt() {
        // A backup the callbacks cannot pick up (an EarlyStopping whose
        // best epoch was never kept): the run starts over.
        Err(TrainError::Resume { callback, reason }) => {
            eprintln!(
                "{} seed {seed}: starting over ({callback}: {reason})",
                variant.name
            );
            let _ = std::fs::remove_dir_all(&backup_dir);
            attempt()?
        }
        other => other?,
    };
    let Trained {
        mut trainer,
        mut best,
        stopped_epoch,
    } = trained;
    let test_mse_final = test_mse(&mut trainer, data)?;
    let (test_mse_best, best_epoch) = match best.best.take() {
        Some((_, epoch, weights)) => {
            trainer.model.set_weights(&weights)?;
            (test_mse(&mut trainer, data)?, epoch)
        }
        None => (f64::NAN, 0),
    };
    let epochs: Vec<EpochRow> = trainer
        .history
        .epochs
        .iter()
        .map(|e| EpochRow {
            epoch: e.epoch,
            loss: e.loss,
            val_loss: e.val_loss.unwrap_or(f64::NAN),
            learning_rate: e.learning_rate,
            seconds: e.seconds,
            samples_per_second: e.samples_per_second,
        })
        .collect();
    let val: Vec<f64> = epochs.iter().map(|e| e.val_loss).collect();
    let Stability {
        absurd_epochs,
        blew_up,
        volatility,
        ..
    } = Stability::of(&val, data.mean_val_mse);
    let result = RunResult {
        variant: variant.name.clone(),
        seed,
        config_hash,
        epochs,
        test_mse_final,
        test_mse_best,
        test_rmse_best: data.rmse_in_units(test_mse_best),
        best_epoch,
        absurd_epochs,
        volatility,
        blew_up,
        stopped_epoch,
        seconds: started.elapsed().as_secs_f64(),
    };
    save(&result, &json_path, &csv_path)?;
    // The run is done: its backup has served.
    let _ = std::fs::remove_dir_all(&backup_dir);
    Ok(result)
}

/// A trained run: the trainer, the best validation epoch's weights, and
/// where EarlyStopping stopped.
struct Trained {
    trainer: Trainer,
    best: BestWeights,
    stopped_epoch: Option<usize>,
}

/// Trains one run from scratch, or from the backup a killed run left in
/// `backup_dir`: the recipe's callbacks (ReduceLROnPlateau, EarlyStopping,
/// the best-only checkpoint) with BackupAndRestore last, so every callback
/// resumes to the uninterrupted run's bits.
fn train(
    data: &Prepared,
    variant: &Variant,
    recipe: &Recipe,
    model: &ArchitectureSpec,
    seed: u64,
    checkpoint_path: &Path,
    backup_dir: &Path,
) -> Result<Trained, TrainError> {
    let mut best = BestWeights::default();
    let mut trainer = Trainer::new(
        model.build::<f32>(seed)?,
        recipe.optimizer(),
        recipe.fit_config(seed),
    );
    // Checkpoints carry the preprocessing, so `predict` repeats it.
    trainer.preprocessor = Some(data.preprocessor.clone());
    let backup = BackupAndRestore::new(backup_dir);
    // Read once more than BackupAndRestore needs, for the log line.
    if let Ok(state) = kymo_train::Checkpoint::load(&backup.state_path()) {
        eprintln!(
            "{} seed {seed}: resuming after epoch {}",
            variant.name,
            state.history.epochs.len()
        );
    }
    let files = FitFiles {
        checkpoint: Some(checkpoint_path.to_path_buf()),
        backup: Some(backup_dir.to_path_buf()),
        callbacks: vec![&mut best],
    };
    let stopped_epoch = recipe.fit_with(&mut trainer, &data.train, &data.validation, files)?;
    Ok(Trained {
        trainer,
        best,
        stopped_epoch,
    })
}

/// Where a run keeps its backup: named by the run's configuration hash, so
/// a backup left by another configuration is never resumed.
pub fn backup_dir(out: &Path, variant: &str, seed: u64, config_hash: u32) -> PathBuf {
    out.join("runs")
        .join(variant)
        .join(format!("seed{seed}-{config_hash:08x}.backup"))
}

fn save(result: &RunResult, json_path: &Path, csv_path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = json_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    }
    let mut writer =
        csv::Writer::from_path(csv_path).with_context(|| format!("{}", csv_path.display()))?;
    for row in &result.epochs {
        writer
            .serialize(row)
            .with_context(|| format!("{}", csv_path.display()))?;
    }
    writer
        .flush()
        .with_context(|| format!("{}", csv_path.display()))?;
    let text = serde_json::to_string_pretty(result)?;
    // Written last and atomically: its presence marks the run as done.
    let temporary = json_path.with_extension("json.tmp");
    std::fs::write(&temporary, text).with_context(|| format!("{}", temporary.display()))?;
    std::fs::rename(&temporary, json_path).with_context(|| format!("{}", json_path.display()))
}

/// A finished run's result, if one exists for this configuration.
pub fn load_done(json_path: &Path, config_hash: u32) -> Option<RunResult> {
    let text = std::fs::read_to_string(json_path).ok()?;
    let result: RunResult = serde_json::from_str(&text).ok()?;
    (result.config_hash == config_hash).then_some(result)
}

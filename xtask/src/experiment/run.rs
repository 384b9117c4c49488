//! One run: a variant trained with one seed, measured and saved.

use anyhow::Context as _;
use std::path::{Path, PathBuf};

use kymo_layers::{ArchitectureSpec, NamedArray};
use kymo_optim::{Adam, AnyOptimizer};
use kymo_train::{
    Callback, Checkpoint, EarlyStopping, EpochLog, FitConfig, Metric, ModelCheckpoint,
    ReduceLROnPlateau, Stability, TrainError, Trainer,
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

/// Saves the whole run after every epoch, and the run at its best
/// validation epoch beside it, so a run killed mid-way resumes from its
/// last epoch (see [`resume`]). Placed last among the callbacks, so the
/// state it saves has every other callback's view of the epoch.
struct RunState {
    state: PathBuf,
    state_best: PathBuf,
    best: Option<f64>,
}

impl Callback for RunState {
    fn on_epoch_end(&mut self, trainer: &mut Trainer, log: &EpochLog) -> Result<(), TrainError> {
        let checkpoint = trainer.checkpoint();
        checkpoint.save(&self.state)?;
        // The same rule as BestWeights; saved after the state, so a kill in
        // between leaves the best epoch as the state's own last epoch.
        if let Some(val) = log.val_loss.filter(|v| v.is_finite()) {
            if self.best.is_none_or(|b| val < b) {
                self.best = Some(val);
                checkpoint.save(&self.state_best)?;
            }
        }
        Ok(())
    }
}

/// What a resumed run picks up: the trainer at its last saved epoch and
/// the best validation epoch's weights.
struct Resumed {
    trainer: Trainer,
    best: Option<(f64, usize, Vec<NamedArray<f32>>)>,
}

/// The weights of `epoch` from the saved state, or from the best-epoch
/// state when that is the epoch it holds.
fn weights_of(
    epoch: usize,
    state: &Checkpoint,
    state_best: Option<&Checkpoint>,
) -> Option<Vec<NamedArray<f32>>> {
    let last = |c: &Checkpoint| c.history.epochs.last().map(|e| e.epoch);
    [Some(state), state_best]
        .into_iter()
        .flatten()
        .find(|c| last(c) == Some(epoch))
        .and_then(|c| c.named_weights().ok())
}

/// Loads the state a killed run of this configuration left, if it is whole
/// and consistent; anything else means the run starts over.
fn resume(state_path: &Path, state_best_path: &Path) -> Option<Resumed> {
    let state = Checkpoint::load(state_path).ok()?;
    let state_best = Checkpoint::load(state_best_path).ok();
    let trainer = Trainer::from_checkpoint(&state).ok()?;
    let mut best: Option<(f64, usize)> = None;
    for log in &state.history.epochs {
        if let Some(val) = log.val_loss.filter(|v| v.is_finite()) {
            if best.is_none_or(|(b, _)| val < b) {
                best = Some((val, log.epoch));
            }
        }
    }
    let best = match best {
        Some((val, epoch)) => Some((val, epoch, weights_of(epoch, &state, state_best.as_ref())?)),
        None => None,
    };
    Some(Resumed { trainer, best })
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
    let predictions = trainer.predict(&data.test)?;
    Ok(Metric::Mse.compute(predictions.view(), data.test.targets()))
}

/// What every run of one experiment shares.
pub struct Shared<'a> {
    /// Epochs per run.
    pub epochs: usize,
    /// The experiment's learning rate.
    pub learning_rate: f64,
    /// Output folder.
    pub out: &'a Path,
}

/// Trains `variant` (built from `model`) with `seed` and measures it.
pub fn run(
    shared: &Shared<'_>,
    data: &Prepared,
    variant: &Variant,
    model: &ArchitectureSpec,
    seed: u64,
    config_hash: u32,
) -> anyhow::Result<RunResult> {
    let Shared {
        epochs,
        learning_rate,
        out,
    } = *shared;
    let started = std::time::Instant::now();
    let (json_path, csv_path, checkpoint_path) = run_paths(out, &variant.name, seed);
    let (state_path, state_best_path) = state_paths(out, &variant.name, seed, config_hash);
    let mut best = BestWeights::default();
    let mut stopper = variant
        .early_stopping_patience
        .map(|p| EarlyStopping::restoring_best("val_loss", p));
    let mut plateau = variant.reduce_lr_patience.map(|patience| {
        let start = variant.learning_rate.unwrap_or(learning_rate);
        ReduceLROnPlateau::new(0.5, patience, 0.01 * start)
    });
    let epochs = variant.epochs.unwrap_or(epochs);
    let mut checkpoint = variant
        .checkpoint_best
        .then(|| ModelCheckpoint::best_only(&checkpoint_path));
    let resumed = resume(&state_path, &state_best_path).filter(|r| {
        // Every callback must pick up where the killed run was.
        let stored = r.best.as_ref().map(|(_, e, w)| (*e, w.clone()));
        stopper.as_mut().is_none_or(|s| {
            s.resume(&r.trainer.history, |epoch| {
                stored.filter(|(e, _)| *e == epoch).map(|(_, w)| w)
            })
        })
    });
    let mut trainer = match resumed {
        Some(Resumed {
            mut trainer,
            best: resumed_best,
        }) => {
            eprintln!(
                "{} seed {seed}: resuming after epoch {}",
                variant.name,
                trainer.epochs_done()
            );
            if let Some(c) = checkpoint.as_mut() {
                for log in &trainer.history.epochs {
                    if let Some(val) = log.get(&c.monitor.name) {
                        c.monitor.update(val);
                    }
                }
            }
            if let Some(p) = plateau.as_mut() {
                p.replay(&trainer.history);
            }
            if stopper.as_ref().is_some_and(|s| s.stopped_epoch.is_some()) {
                // It had stopped early: train no further epochs.
                trainer.config.epochs = trainer.epochs_done();
            }
            best.best = resumed_best;
            trainer
        }
        None => {
            let model = model.build::<f32>(seed)?;
            let config = FitConfig {
                epochs,
                batch_size: variant.batch_size,
                seed,
                ..Default::default()
            };
            let optimizer = AnyOptimizer::Adam(Adam {
                weight_decay: variant.weight_decay,
                ..Adam::new(variant.learning_rate.unwrap_or(learning_rate))
            });
            let mut trainer = Trainer::new(model, optimizer, config);
            // Checkpoints carry the preprocessing, so `predict` repeats it.
            trainer.preprocessor = Some(data.preprocessor.clone());
            trainer
        }
    };
    let mut state = RunState {
        state: state_path.clone(),
        state_best: state_best_path.clone(),
        best: best.best.as_ref().map(|(v, _, _)| *v),
    };
    {
        let mut callbacks: Vec<&mut dyn Callback> = vec![&mut best];
        if let Some(c) = checkpoint.as_mut() {
            callbacks.push(c);
        }
        if let Some(p) = plateau.as_mut() {
            callbacks.push(p);
        }
        if let Some(s) = stopper.as_mut() {
            callbacks.push(s);
        }
        callbacks.push(&mut state);
        trainer.fit(&data.train, Some(&data.validation), &mut callbacks)?;
    }
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
        stopped_epoch: stopper.and_then(|s| s.stopped_epoch),
        seconds: started.elapsed().as_secs_f64(),
    };
    save(&result, &json_path, &csv_path)?;
    // The run is done: its resume state has served.
    let _ = std::fs::remove_file(&state_path);
    let _ = std::fs::remove_file(&state_best_path);
    Ok(result)
}

/// Where a run keeps its resume state: named by the run's configuration
/// hash, so a state left by another configuration is never resumed.
pub fn state_paths(out: &Path, variant: &str, seed: u64, config_hash: u32) -> (PathBuf, PathBuf) {
    let dir = out.join("runs").join(variant);
    (
        dir.join(format!("seed{seed}-{config_hash:08x}.state.kymo")),
        dir.join(format!("seed{seed}-{config_hash:08x}.state-best.kymo")),
    )
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

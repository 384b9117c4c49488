//! `EarlyStopping`, as Keras 3 implements it.

use kymo_layers::NamedArray;

use crate::callbacks::{Callback, Monitor, MonitorMode};
use crate::{EpochLog, ResumePoint, TrainError, Trainer};

/// Stops training when the monitored value has not improved for `patience`
/// epochs. With `restore_best_weights`, the weights of the best epoch are put
/// back when training ends — as in Keras 3, whether or not it stopped early.
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    /// What is watched (default `val_loss`, `min_delta` 0).
    pub monitor: Monitor,
    /// Epochs without improvement before stopping (default 0).
    pub patience: usize,
    /// Restore the best epoch's weights at the end (default false).
    pub restore_best_weights: bool,
    /// Epochs to ignore at the start (default 0).
    pub start_from_epoch: usize,
    /// Stop unless the value beats this (default none).
    pub baseline: Option<f64>,
    wait: usize,
    /// The epoch training was stopped at, if it was.
    pub stopped_epoch: Option<usize>,
    /// The best epoch so far.
    pub best_epoch: Option<usize>,
    best_weights: Option<Vec<NamedArray<f32>>>,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self {
            monitor: Monitor::new("val_loss", MonitorMode::Auto, 0.0),
            patience: 0,
            restore_best_weights: false,
            start_from_epoch: 0,
            baseline: None,
            wait: 0,
            stopped_epoch: None,
            best_epoch: None,
            best_weights: None,
        }
    }
}

impl EarlyStopping {
    /// Watches `monitor` with this patience, Keras's defaults otherwise.
    pub fn new(monitor: &str, patience: usize) -> Self {
        Self {
            monitor: Monitor::new(monitor, MonitorMode::Auto, 0.0),
            patience,
            ..Self::default()
        }
    }

    /// The same, restoring the best epoch's weights when training ends.
    pub fn restoring_best(monitor: &str, patience: usize) -> Self {
        Self {
            restore_best_weights: true,
            ..Self::new(monitor, patience)
        }
    }
}

impl EarlyStopping {
    fn reset(&mut self) {
        self.wait = 0;
        self.stopped_epoch = None;
        self.best_epoch = None;
        self.best_weights = None;
        self.monitor.best = None;
    }

    /// The rule on one epoch, without the weights: whether the epoch
    /// became the best one to keep, and whether training should stop.
    fn observe(&mut self, log: &EpochLog) -> (bool, bool) {
        let Some(current) = log.get(&self.monitor.name) else {
            return (false, false);
        };
        if log.epoch < self.start_from_epoch {
            return (false, false);
        }
        // Keras keeps the first watched epoch's weights when it restores
        // them, improvement or not (a NaN first epoch included).
        let first = self.restore_best_weights && self.best_epoch.is_none();
        if first {
            self.best_epoch = Some(log.epoch);
        }
        self.wait += 1;
        if self.monitor.update(current) {
            self.best_epoch = Some(log.epoch);
            if self.baseline.is_none() || self.monitor.is_improvement(current, self.baseline) {
                self.wait = 0;
            }
            return (true, false);
        }
        if self.wait >= self.patience && log.epoch > 0 {
            self.stopped_epoch = Some(log.epoch);
            return (first, true);
        }
        (first, false)
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _trainer: &mut Trainer) -> Result<(), TrainError> {
        self.reset();
        Ok(())
    }

    /// Replays the rule over the resumed epochs (the value watched, the
    /// wait, the best epoch, whether it stopped) and, when it restores
    /// weights, takes the best epoch's from `point`. A run that had already
    /// stopped trains no further epochs.
    fn on_resume(&mut self, trainer: &mut Trainer, point: &ResumePoint) -> Result<(), TrainError> {
        for log in &trainer.history.epochs {
            self.observe(log);
        }
        if self.restore_best_weights {
            if let Some(epoch) = self.best_epoch {
                let weights = point.weights_of(epoch).ok_or(TrainError::Resume {
                    callback: "EarlyStopping",
                    reason: format!(
                        "it restores the best epoch's weights, and the weights of epoch {} were not kept",
                        epoch + 1
                    ),
                })?;
                self.best_weights = Some(weights.to_vec());
            }
        }
        if self.stopped_epoch.is_some() {
            trainer.stop_training = true;
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, trainer: &mut Trainer, log: &EpochLog) -> Result<(), TrainError> {
        let (keep_weights, stop) = self.observe(log);
        if keep_weights && self.restore_best_weights {
            self.best_weights = Some(trainer.model.get_weights());
        }
        if stop {
            trainer.stop_training = true;
        }
        Ok(())
    }

    fn on_train_end(&mut self, trainer: &mut Trainer) -> Result<(), TrainError> {
        if self.restore_best_weights {
            if let Some(weights) = &self.best_weights {
                trainer.model.set_weights(weights)?;
            }
        }
        Ok(())
    }
}

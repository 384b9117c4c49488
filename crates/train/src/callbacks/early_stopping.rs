//! `EarlyStopping`, as Keras 3 implements it.

use kymo_layers::NamedArray;

use crate::callbacks::{Callback, Monitor, MonitorMode};
use crate::{EpochLog, TrainError, Trainer};

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

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _trainer: &mut Trainer) -> Result<(), TrainError> {
        self.wait = 0;
        self.stopped_epoch = None;
        self.best_epoch = None;
        self.best_weights = None;
        self.monitor.best = None;
        Ok(())
    }

    fn on_epoch_end(&mut self, trainer: &mut Trainer, log: &EpochLog) -> Result<(), TrainError> {
        let Some(current) = log.get(&self.monitor.name) else {
            return Ok(());
        };
        if log.epoch < self.start_from_epoch {
            return Ok(());
        }
        if self.restore_best_weights && self.best_weights.is_none() {
            self.best_weights = Some(trainer.model.get_weights());
            self.best_epoch = Some(log.epoch);
        }
        self.wait += 1;
        if self.monitor.update(current) {
            self.best_epoch = Some(log.epoch);
            if self.restore_best_weights {
                self.best_weights = Some(trainer.model.get_weights());
            }
            if self.baseline.is_none() || self.monitor.is_improvement(current, self.baseline) {
                self.wait = 0;
            }
            return Ok(());
        }
        if self.wait >= self.patience && log.epoch > 0 {
            self.stopped_epoch = Some(log.epoch);
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

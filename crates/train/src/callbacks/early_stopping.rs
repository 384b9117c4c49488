//! `EarlyStopping`, as Keras 3 implements it.

use kymo_layers::NamedArray;

use crate::callbacks::{Callback, Monitor, MonitorMode};
use crate::{EpochLog, History, TrainError, Trainer};

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
    /// Set by [`EarlyStopping::resume`]: the next `on_train_begin` keeps the
    /// replayed state instead of resetting it.
    resumed: bool,
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
            resumed: false,
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
    /// Picks up a run resumed from a checkpoint as if it had never stopped:
    /// replays the rule over the epochs in `history` (the value watched,
    /// the wait, the best epoch, whether it stopped) and, when the callback
    /// restores weights, asks `weights_of` for the best epoch's. The next
    /// `fit`'s `on_train_begin` keeps this state instead of resetting it.
    ///
    /// Returns false, leaving the callback reset, when the best epoch's
    /// weights are needed and `weights_of` has none: the run cannot resume.
    pub fn resume(
        &mut self,
        history: &History,
        weights_of: impl FnOnce(usize) -> Option<Vec<NamedArray<f32>>>,
    ) -> bool {
        self.reset();
        for log in &history.epochs {
            self.observe(log);
        }
        if self.restore_best_weights {
            if let Some(epoch) = self.best_epoch {
                match weights_of(epoch) {
                    Some(weights) => self.best_weights = Some(weights),
                    None => {
                        self.reset();
                        return false;
                    }
                }
            }
        }
        self.resumed = true;
        true
    }

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
        if std::mem::take(&mut self.resumed) {
            return Ok(());
        }
        self.reset();
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

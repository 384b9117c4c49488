//! `ReduceLROnPlateau`, as Keras 3 implements it.

use kymo_optim::Optimizer;

use crate::callbacks::{Callback, Monitor, MonitorMode};
use crate::{EpochLog, ResumePoint, TrainError, Trainer};

/// Multiplies the learning rate by `factor` after `patience` epochs without
/// improvement, then waits `cooldown` epochs.
#[derive(Debug, Clone)]
pub struct ReduceLROnPlateau {
    /// What is watched (default `val_loss`, `min_delta` 1e-4).
    pub monitor: Monitor,
    /// Multiplier (default 0.1).
    pub factor: f64,
    /// Epochs without improvement before reducing (default 10).
    pub patience: usize,
    /// Epochs to wait after a reduction (default 0).
    pub cooldown: usize,
    /// Lower bound of the rate (default 0).
    pub min_lr: f64,
    wait: usize,
    cooldown_counter: usize,
}

impl Default for ReduceLROnPlateau {
    fn default() -> Self {
        Self {
            monitor: Monitor::new("val_loss", MonitorMode::Auto, 1e-4),
            factor: 0.1,
            patience: 10,
            cooldown: 0,
            min_lr: 0.0,
            wait: 0,
            cooldown_counter: 0,
        }
    }
}

impl ReduceLROnPlateau {
    /// Watches `val_loss` with Keras's other defaults.
    pub fn new(factor: f64, patience: usize, min_lr: f64) -> Self {
        Self {
            factor,
            patience,
            min_lr,
            ..Self::default()
        }
    }

    /// Whether a reduction from `old` would change the rate; at the floor
    /// Keras neither reduces nor cools down.
    fn above_floor(&self, old: f64) -> bool {
        old > f64::from(self.min_lr as f32)
    }

    /// Updates the counters for one epoch; true when the rate is due to drop.
    fn count(&mut self, current: f64) -> bool {
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.wait = 0;
        }
        if self.monitor.update(current) {
            self.wait = 0;
        } else if self.cooldown_counter == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                self.cooldown_counter = self.cooldown;
                self.wait = 0;
                return true;
            }
        }
        false
    }
}

impl Callback for ReduceLROnPlateau {
    /// Replays the resumed epochs' monitored values through the counters,
    /// as if it had watched them, with each epoch's logged rate for the
    /// floor rule. The learning rate is not touched: the resumed optimizer
    /// already carries its reductions.
    fn on_resume(&mut self, trainer: &mut Trainer, _point: &ResumePoint) -> Result<(), TrainError> {
        for log in &trainer.history.epochs {
            let Some(current) = log.get(&self.monitor.name) else {
                continue;
            };
            if self.count(current) && !self.above_floor(log.learning_rate) {
                self.cooldown_counter = 0;
            }
        }
        Ok(())
    }

    fn on_train_begin(&mut self, _trainer: &mut Trainer) -> Result<(), TrainError> {
        self.monitor.best = None;
        self.wait = 0;
        self.cooldown_counter = 0;
        Ok(())
    }

    fn on_epoch_end(&mut self, trainer: &mut Trainer, log: &EpochLog) -> Result<(), TrainError> {
        let Some(current) = log.get(&self.monitor.name) else {
            return Ok(());
        };
        if self.count(current) {
            let old = trainer.optimizer.learning_rate();
            if self.above_floor(old) {
                trainer
                    .optimizer
                    .set_learning_rate((old * self.factor).max(self.min_lr));
            } else {
                // Already at the floor: Keras neither reduces nor cools down.
                self.cooldown_counter = 0;
            }
        }
        Ok(())
    }
}

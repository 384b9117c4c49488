//! `ModelCheckpoint`: writes a full training checkpoint every epoch, or only
//! when the monitored value improves.

use std::path::PathBuf;

use crate::callbacks::{Callback, Monitor, MonitorMode};
use crate::{Checkpoint, EpochLog, ResumePoint, TrainError, Trainer};

/// Saves [`crate::Checkpoint`]s. `{epoch}` in the path is replaced by the
/// 1-based epoch number, as Keras formats `filepath`.
#[derive(Debug, Clone)]
pub struct ModelCheckpoint {
    /// Where to write.
    pub path: PathBuf,
    /// What is watched (default `val_loss`).
    pub monitor: Monitor,
    /// Write only on strict improvement (default false).
    pub save_best_only: bool,
    /// The epochs (0-based) a checkpoint was written for.
    pub saved_epochs: Vec<usize>,
}

impl ModelCheckpoint {
    /// Saves to `path` every epoch, watching `val_loss`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            monitor: Monitor::new("val_loss", MonitorMode::Auto, 0.0),
            save_best_only: false,
            saved_epochs: Vec::new(),
        }
    }

    /// Saves only when `val_loss` improves.
    pub fn best_only(path: impl Into<PathBuf>) -> Self {
        Self {
            save_best_only: true,
            ..Self::new(path)
        }
    }

    fn path_for(&self, epoch: usize) -> PathBuf {
        let text = self
            .path
            .to_string_lossy()
            .replace("{epoch}", &format!("{:02}", epoch + 1));
        PathBuf::from(text)
    }
}

impl Callback for ModelCheckpoint {
    /// Removes what a killed earlier run's save to this path left behind:
    /// a run killed during its last epoch's save resumes with no epoch, and
    /// so no save, left to clean up after it. (A path with `{epoch}` names a
    /// new file each epoch; its temporaries are cleaned by that file's save.)
    fn on_train_begin(&mut self, _trainer: &mut Trainer) -> Result<(), TrainError> {
        if !self.path.to_string_lossy().contains("{epoch}") {
            Checkpoint::remove_interrupted_saves(&self.path);
        }
        Ok(())
    }

    /// Replays the resumed epochs' monitored values, so a best-only
    /// checkpoint saves again only when the resumed run beats them.
    fn on_resume(&mut self, trainer: &mut Trainer, _point: &ResumePoint) -> Result<(), TrainError> {
        for log in &trainer.history.epochs {
            if let Some(current) = log.get(&self.monitor.name) {
                self.monitor.update(current);
            }
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, trainer: &mut Trainer, log: &EpochLog) -> Result<(), TrainError> {
        if self.save_best_only {
            // Keras falls back to saving every epoch when the value is missing.
            if let Some(current) = log.get(&self.monitor.name) {
                if !self.monitor.update(current) {
                    return Ok(());
                }
            }
        }
        trainer.checkpoint().save(&self.path_for(log.epoch))?;
        self.saved_epochs.push(log.epoch);
        Ok(())
    }
}

//! Callbacks with Keras's names, parameters and defaults.

mod backup_and_restore;
mod csv_logger;
mod early_stopping;
mod model_checkpoint;
mod monitor;
mod progress;
mod reduce_lr_on_plateau;
mod terminate_on_nan;

pub use backup_and_restore::BackupAndRestore;
pub use csv_logger::CsvLogger;
pub use early_stopping::EarlyStopping;
pub use model_checkpoint::ModelCheckpoint;
pub use monitor::{Monitor, MonitorMode};
pub use progress::Progress;
pub use reduce_lr_on_plateau::ReduceLROnPlateau;
pub use terminate_on_nan::TerminateOnNaN;

use crate::{EpochLog, ResumePoint, TrainError, Trainer};

/// Hooks into the fit loop, as Keras's `Callback`. Each receives the whole
/// [`Trainer`], so it can read or set weights, change the learning rate,
/// write checkpoints or set `stop_training`.
///
/// A callback that keeps state across epochs implements
/// [`Callback::on_resume`], so that a run resumed from a checkpoint (by
/// [`BackupAndRestore`] or [`Trainer::resume_from`]) ends on the bits an
/// uninterrupted run would have.
pub trait Callback {
    /// Before the first epoch of a `fit` call.
    fn on_train_begin(&mut self, _trainer: &mut Trainer) -> Result<(), TrainError> {
        Ok(())
    }
    /// When `fit` continues a resumed run, after every callback's
    /// `on_train_begin`: catch up with the epochs already in
    /// `trainer.history` as if this callback had watched them, asking
    /// `point` for any earlier epoch's weights it keeps.
    fn on_resume(
        &mut self,
        _trainer: &mut Trainer,
        _point: &ResumePoint,
    ) -> Result<(), TrainError> {
        Ok(())
    }
    /// After each optimizer step, with that batch's loss.
    fn on_batch_end(
        &mut self,
        _trainer: &mut Trainer,
        _batch: usize,
        _loss: f64,
    ) -> Result<(), TrainError> {
        Ok(())
    }
    /// After each epoch (the log is already in the trainer's history).
    fn on_epoch_end(&mut self, _trainer: &mut Trainer, _log: &EpochLog) -> Result<(), TrainError> {
        Ok(())
    }
    /// After the last epoch.
    fn on_train_end(&mut self, _trainer: &mut Trainer) -> Result<(), TrainError> {
        Ok(())
    }
}

//! `BackupAndRestore`, as Keras has it: a run killed at any point resumes
//! from its last finished epoch, and ends on the uninterrupted run's bits.

use std::path::{Path, PathBuf};

use crate::callbacks::{Callback, Monitor, MonitorMode};
use crate::{Checkpoint, CheckpointError, EpochLog, TrainError, Trainer};

/// Saves the whole run (weights, optimizer state, shuffling stream,
/// history) into `backup_dir` after every epoch, and the run at its best
/// epoch beside it; when training begins and a backup is there, the run
/// resumes from it: the trainer takes its state and every callback catches
/// up through [`Callback::on_resume`] (EarlyStopping gets the best epoch's
/// weights from the second file).
///
/// Put it **last** among the callbacks: what it saves must include every
/// other callback's doing at the end of the epoch (a learning rate
/// ReduceLROnPlateau just lowered, a stop EarlyStopping just asked for).
/// Saves are atomic, so a kill during one leaves the previous epoch's.
#[derive(Debug, Clone)]
pub struct BackupAndRestore {
    /// The folder of the backup files.
    pub backup_dir: PathBuf,
    /// What "best" means for the second file (default `val_loss`, as
    /// EarlyStopping's default).
    pub monitor: Monitor,
    /// Remove the backup when training ends normally (Keras's default).
    pub delete_checkpoint: bool,
}

impl BackupAndRestore {
    /// Backs up into `backup_dir`, deleting the backup when training ends.
    pub fn new(backup_dir: impl Into<PathBuf>) -> Self {
        Self {
            backup_dir: backup_dir.into(),
            monitor: Monitor::new("val_loss", MonitorMode::Auto, 0.0),
            delete_checkpoint: true,
        }
    }

    /// The file of the last finished epoch's state.
    pub fn state_path(&self) -> PathBuf {
        self.backup_dir.join("state.kymo")
    }

    /// The file of the best epoch's state.
    pub fn best_path(&self) -> PathBuf {
        self.backup_dir.join("best.kymo")
    }

    fn io(&self, path: &Path, source: std::io::Error) -> TrainError {
        TrainError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl Callback for BackupAndRestore {
    fn on_train_begin(&mut self, trainer: &mut Trainer) -> Result<(), TrainError> {
        let (state_path, best_path) = (self.state_path(), self.best_path());
        Checkpoint::remove_interrupted_saves(&state_path);
        Checkpoint::remove_interrupted_saves(&best_path);
        self.monitor.best = None;
        let state = match Checkpoint::load(&state_path) {
            Ok(state) => state,
            Err(CheckpointError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(());
            }
            Err(error) => return Err(error.into()),
        };
        // The best file is written after the state of the same epoch, so a
        // kill between the two leaves a best file of an earlier epoch: still
        // the best one up to the state's last epoch.
        let best = match Checkpoint::load(&best_path) {
            Ok(best) => Some(best),
            Err(CheckpointError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                None
            }
            Err(error) => return Err(error.into()),
        };
        trainer.resume_from(&state, &best.iter().collect::<Vec<_>>())?;
        for log in &trainer.history.epochs {
            if let Some(current) = log.get(&self.monitor.name).filter(|v| v.is_finite()) {
                self.monitor.update(current);
            }
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, trainer: &mut Trainer, log: &EpochLog) -> Result<(), TrainError> {
        std::fs::create_dir_all(&self.backup_dir).map_err(|e| self.io(&self.backup_dir, e))?;
        let checkpoint = trainer.checkpoint();
        checkpoint.save(&self.state_path())?;
        // A non-finite value is never the best one to keep.
        if let Some(current) = log.get(&self.monitor.name).filter(|v| v.is_finite()) {
            if self.monitor.update(current) {
                checkpoint.save(&self.best_path())?;
            }
        }
        Ok(())
    }

    fn on_train_end(&mut self, _trainer: &mut Trainer) -> Result<(), TrainError> {
        if !self.delete_checkpoint {
            return Ok(());
        }
        for path in [self.state_path(), self.best_path()] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io(&path, e)),
            }
        }
        // The folder goes too when nothing else is in it.
        let _ = std::fs::remove_dir(&self.backup_dir);
        Ok(())
    }
}

//! `CSVLogger`: one row per epoch.

use std::fs::File;
use std::path::PathBuf;

use crate::callbacks::Callback;
use crate::{EpochLog, ResumePoint, TrainError, Trainer};

/// Writes `epoch, loss, val_loss, <metrics...>, learning_rate, seconds` to a
/// CSV file, flushing after every epoch so a crash loses nothing written.
pub struct CsvLogger {
    path: PathBuf,
    writer: Option<csv::Writer<File>>,
    columns: Vec<String>,
}

impl CsvLogger {
    /// Logs to `path` (overwritten when training begins; a resumed run
    /// writes its earlier epochs' rows again first).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            writer: None,
            columns: Vec::new(),
        }
    }

    fn io(&self, source: std::io::Error) -> TrainError {
        TrainError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn csv_error(&self, error: csv::Error) -> TrainError {
        self.io(std::io::Error::other(error.to_string()))
    }
}

impl Callback for CsvLogger {
    fn on_train_begin(&mut self, _trainer: &mut Trainer) -> Result<(), TrainError> {
        let file = File::create(&self.path).map_err(|e| self.io(e))?;
        self.writer = Some(csv::Writer::from_writer(file));
        self.columns.clear();
        Ok(())
    }

    /// Writes the resumed epochs' rows first, so the file reads as an
    /// uninterrupted run's.
    fn on_resume(&mut self, trainer: &mut Trainer, _point: &ResumePoint) -> Result<(), TrainError> {
        for log in &trainer.history.epochs {
            self.write_row(log)?;
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, _trainer: &mut Trainer, log: &EpochLog) -> Result<(), TrainError> {
        self.write_row(log)
    }
}

impl CsvLogger {
    /// One epoch's row, after the header when it is the first.
    fn write_row(&mut self, log: &EpochLog) -> Result<(), TrainError> {
        if self.columns.is_empty() {
            self.columns = ["epoch", "loss", "val_loss"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            self.columns.extend(log.metrics.keys().cloned());
            self.columns
                .extend(["learning_rate", "seconds"].iter().map(|s| s.to_string()));
            let header = self.columns.clone();
            if let Some(w) = self.writer.as_mut() {
                w.write_record(&header)
                    .map_err(|e| std::io::Error::other(e.to_string()))
                    .map_err(|e| self.io(e))?;
            }
        }
        let row: Vec<String> = self
            .columns
            .iter()
            .map(|c| match c.as_str() {
                "epoch" => log.epoch.to_string(),
                "seconds" => format!("{:.4}", log.seconds),
                name => log.get(name).map(|v| v.to_string()).unwrap_or_default(),
            })
            .collect();
        let result = match self.writer.as_mut() {
            Some(w) => w
                .write_record(&row)
                .and_then(|_| w.flush().map_err(csv::Error::from)),
            None => Ok(()),
        };
        result.map_err(|e| self.csv_error(e))
    }
}

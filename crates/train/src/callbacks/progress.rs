//! A progress bar with loss and ETA on a terminal; plain epoch lines
//! otherwise (logs, CI).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::callbacks::Callback;
use crate::{EpochLog, TrainError, Trainer};

/// Keras's progress output.
#[derive(Default)]
pub struct Progress {
    bar: Option<ProgressBar>,
    batches_per_epoch: u64,
    loss_sum: f64,
    seen: u64,
}

impl Progress {
    /// A progress reporter; `batches_per_epoch` sizes the bar.
    pub fn new(batches_per_epoch: usize) -> Self {
        Self {
            batches_per_epoch: batches_per_epoch as u64,
            ..Self::default()
        }
    }
}

impl Callback for Progress {
    fn on_batch_end(
        &mut self,
        trainer: &mut Trainer,
        batch: usize,
        loss: f64,
    ) -> Result<(), TrainError> {
        if !std::io::stderr().is_terminal() {
            return Ok(());
        }
        if batch == 0 {
            let bar = ProgressBar::new(self.batches_per_epoch);
            let style =
                ProgressStyle::with_template("Epoch {prefix} {bar:30} {pos}/{len} {msg} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(format!(
                "{}/{}",
                trainer.epochs_done() + 1,
                trainer.config.epochs
            ));
            self.bar = Some(bar);
            self.loss_sum = 0.0;
            self.seen = 0;
        }
        self.loss_sum += loss;
        self.seen += 1;
        if let Some(bar) = &self.bar {
            bar.set_message(format!("loss: {:.4}", self.loss_sum / self.seen as f64));
            bar.inc(1);
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, trainer: &mut Trainer, log: &EpochLog) -> Result<(), TrainError> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let val = log
            .val_loss
            .map(|v| format!(" - val_loss: {v:.4}"))
            .unwrap_or_default();
        eprintln!(
            "Epoch {}/{} - {:.1}s - loss: {:.4}{val} - lr: {:.2e}",
            log.epoch + 1,
            trainer.config.epochs,
            log.seconds,
            log.loss,
            log.learning_rate
        );
        Ok(())
    }
}

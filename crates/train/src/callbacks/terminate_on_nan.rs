//! `TerminateOnNaN`: stops as soon as a batch's loss is NaN or infinite.

use crate::callbacks::Callback;
use crate::{TrainError, Trainer};

/// Stops training at the first non-finite batch loss.
#[derive(Debug, Clone, Default)]
pub struct TerminateOnNaN {
    /// `(epoch, batch)` where it stopped training, if it did.
    pub terminated_at: Option<(usize, usize)>,
}

impl Callback for TerminateOnNaN {
    fn on_batch_end(
        &mut self,
        trainer: &mut Trainer,
        batch: usize,
        loss: f64,
    ) -> Result<(), TrainError> {
        if !loss.is_finite() {
            self.terminated_at = Some((trainer.epochs_done(), batch));
            trainer.stop_training = true;
        }
        Ok(())
    }
}

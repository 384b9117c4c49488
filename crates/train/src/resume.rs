//! Resuming a run where it stopped: the trainer takes a checkpoint's whole
//! state, and every stateful callback catches up through
//! [`Callback::on_resume`](crate::Callback::on_resume), so a killed run
//! ends on the bits of one never interrupted.

use kymo_layers::NamedArray;

use crate::{Checkpoint, TrainError, Trainer};

/// What a resumed run hands its callbacks: the weights of the epochs whose
/// checkpoints were kept (the last one, and usually the best one), for the
/// callbacks that hold an earlier epoch's weights (EarlyStopping with
/// `restore_best_weights`).
#[derive(Debug, Clone, Default)]
pub struct ResumePoint {
    /// (0-based epoch, its weights), one per kept checkpoint.
    epochs: Vec<(usize, Vec<NamedArray<f32>>)>,
}

impl ResumePoint {
    /// The point of `checkpoints`: each one's weights, under the last epoch
    /// in its history (a checkpoint without an epoch holds none).
    pub fn of(checkpoints: &[&Checkpoint]) -> Result<Self, TrainError> {
        let mut epochs = Vec::with_capacity(checkpoints.len());
        for checkpoint in checkpoints {
            if let Some(last) = checkpoint.history.epochs.last() {
                epochs.push((last.epoch, checkpoint.named_weights()?));
            }
        }
        Ok(Self { epochs })
    }

    /// The weights at the end of `epoch` (0-based), if a checkpoint of it
    /// was kept.
    pub fn weights_of(&self, epoch: usize) -> Option<&[NamedArray<f32>]> {
        self.epochs
            .iter()
            .find(|(kept, _)| *kept == epoch)
            .map(|(_, weights)| weights.as_slice())
    }
}

impl Trainer {
    /// Continues the run saved in `state`: the model's weights and random
    /// streams, the optimizer with its state, the shuffling stream, the
    /// history and the preprocessing come from it; the settings
    /// (`self.config`, the runtime) stay this trainer's. `kept` are other
    /// checkpoints of the same run whose weights a callback may ask for
    /// (the best epoch's). The next [`Trainer::fit`] calls every callback's
    /// `on_resume` and trains from the epoch after the last one stored.
    ///
    /// Refused when `state` holds another architecture than this trainer's
    /// model.
    pub fn resume_from(
        &mut self,
        state: &Checkpoint,
        kept: &[&Checkpoint],
    ) -> Result<(), TrainError> {
        let ours = self.model.architecture().to_json();
        if state.model_spec_json != ours {
            return Err(TrainError::Resume {
                callback: "Trainer",
                reason: "the checkpoint holds another model than the one being trained".into(),
            });
        }
        self.model = state.model()?;
        self.optimizer = state.optimizer.clone();
        self.shuffle_rng = state.shuffle_rng.clone();
        self.history = state.history.clone();
        if let Some(preprocessor) = state.preprocessor()? {
            self.preprocessor = Some(preprocessor);
        }
        let mut all = vec![state];
        all.extend_from_slice(kept);
        self.resume_point = Some(ResumePoint::of(&all)?);
        Ok(())
    }
}

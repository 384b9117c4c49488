//! Step recorders: a look inside each optimizer step of the real
//! [`Trainer`](crate::Trainer), for tools that must see what `fit` does
//! (the doctor's probe records gradient norms and update sizes this way,
//! so it trains exactly as `fit` does: same batches, clipping and steps).

use kymo_layers::Model;

/// Sees each optimizer step from inside it, on the trainer's runtime.
/// Set one as `trainer.recorder`; it is not saved in checkpoints.
pub trait StepRecorder: Send {
    /// After backward and clipping, before the optimizer's update: `model`
    /// holds this batch's gradients; `batch` is the batch's sample count.
    fn after_backward(&mut self, model: &dyn Model<f32>, batch: usize);
    /// After the optimizer's update.
    fn after_update(&mut self, model: &dyn Model<f32>);
}

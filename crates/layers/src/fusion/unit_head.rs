//! A `Flatten` and the one-unit `Dense` head after it (the question's and
//! the answer's `Dense(1)` on 133,120 features), and the hand-off of its
//! input gradient to the max pool before it.
//!
//! The head's input gradient is `dy[b] · w[i]`: one factor per sample and
//! one per feature. Written out, it is as large as the pool's output (17 MB
//! at batch 32 for the answer's model); the pool's backward pass then reads
//! it back from memory, the first to read it. Handed over as its two
//! factors, the pool makes each row where it reads it, from the kernel
//! (half a megabyte, in cache): one pass over a batch-sized array, the
//! head's write of the gradient over its kept input, and the pool's read of
//! it are gone, and the kept input is freed before the pool's backward
//! pass. The values are the head's own products, so the bits are the same.

use kymo_tensor::Float;
use ndarray::ArrayD;

use super::Stage;
use crate::layers::{Dense, Flatten};
use crate::{Layer, LayerError, Mode, Shape};

/// A `Flatten` and the one-unit `Dense` that reads it.
pub(crate) struct UnitHead<T> {
    pub(super) flatten: Flatten,
    pub(super) dense: Dense<T>,
}

impl<T: Float> UnitHead<T> {
    pub(super) fn output_shape(&self) -> Shape {
        Layer::<T>::output_shape(&self.dense)
    }

    pub(super) fn forward(&mut self, x: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        let features = Layer::<T>::forward(&mut self.flatten, x, mode)?;
        self.dense.forward(features, mode)
    }

    pub(super) fn backward(&mut self, grad: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let grad = self.dense.backward(grad)?;
        Layer::<T>::backward(&mut self.flatten, grad)
    }

    /// The pending backward, up to the input gradient, which it hands to
    /// `pool` as its factors (`pool` must take them,
    /// [`Stage::takes_rank_one_gradient`]); returns `pool`'s input
    /// gradient.
    fn backward_through(
        &mut self,
        grad: ArrayD<T>,
        pool: &mut Stage<T>,
    ) -> Result<ArrayD<T>, LayerError> {
        self.flatten.take_pending_batch()?;
        let (scale, weights) = self.dense.backward_factors(grad)?;
        pool.backward_rank_one(&scale, weights)
    }
}

/// The backward pass of a stack of `stages`, last to first: each unit head
/// hands its input gradient to a max pool right before it as factors
/// where the pool takes them, and each other stage runs its own backward.
pub(crate) fn backward<T: Float>(
    stages: &mut [Stage<T>],
    mut grad: ArrayD<T>,
) -> Result<ArrayD<T>, LayerError> {
    let mut end = stages.len();
    while let Some((stage, before)) = stages[..end].split_last_mut() {
        match (stage, before.last_mut()) {
            (Stage::UnitHead(head), Some(pool)) if pool.takes_rank_one_gradient() => {
                grad = head.backward_through(grad, pool)?;
                end -= 2;
            }
            (stage, _) => {
                grad = stage.backward(grad)?;
                end -= 1;
            }
        }
    }
    Ok(grad)
}

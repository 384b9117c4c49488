//! The `Model` trait: what a trainer, a checkpoint, the doctor and an
//! exporter need from a model, whether it is a stack ([`crate::Sequential`])
//! or a graph with branches ([`crate::Graph`]).

use kymo_tensor::{Float, SeededRng};
use ndarray::ArrayD;

use crate::{ArchitectureSpec, Layer, LayerError, Mode, NamedArray, Parameter, Shape, Summary};

/// A trainable model over batches `[B, channels, length]`.
///
/// Parameters come in a fixed order (layer order, then Keras's weight order
/// within a layer) that optimizers and checkpoints rely on; their full names
/// are `layer/weight`, as Keras's `get_weights` lists them.
pub trait Model<T: Float>: Send {
    /// The spec that rebuilds this model, every layer name resolved.
    fn architecture(&self) -> ArchitectureSpec;
    /// The per-sample input shape.
    fn input_shape(&self) -> Shape;
    /// The per-sample output shape.
    fn output_shape(&self) -> Shape;
    /// Forward pass over a batch.
    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError>;
    /// Backward pass from the loss gradient with respect to the output:
    /// accumulates every parameter gradient and returns the input gradient.
    /// Needs a training-mode forward first.
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError>;
    /// The single-input layers that hold state (weights, statistics, random
    /// streams), in parameter order. Merge nodes (`Add`, `Concatenate`) hold
    /// none and are not listed.
    fn layers(&self) -> Vec<&dyn Layer<T>>;
    /// Mutable access to [`Model::layers`], in the same order.
    fn layers_mut(&mut self) -> Vec<&mut dyn Layer<T>>;
    /// A Keras-like summary table with receptive fields.
    fn summary(&self) -> Summary;

    /// When a training step recomputes in backward the inputs of its
    /// convolutions that cheap layers produce instead of keeping them:
    /// when that saves at least `bytes` in the step (`None`: never,
    /// `Some(0)`: always). A graph's choice, by default
    /// [`crate::RECOMPUTE_ABOVE`]; the same bits either way. A Sequential
    /// has nothing to recompute and ignores it.
    fn set_recompute_above(&mut self, _bytes: Option<usize>) {}

    /// When a training step checkpoints: frees what the layers of a
    /// segment between two checkpoints keep after the forward pass, and
    /// runs the segment forward again from its checkpoint before its
    /// backward pass, when that frees at least `bytes` (`None`: never,
    /// `Some(0)`: always). A graph's choice, by default
    /// [`crate::CHECKPOINT_ABOVE`]; the same bits either way, for a
    /// forward pass more of each segment. A Sequential ignores it.
    fn set_checkpoint_above(&mut self, _bytes: Option<usize>) {}

    /// Whether an inference pass runs each convolution together with the
    /// layers after it that read only its output and map each channel's
    /// values on their own (BatchNormalization, activations, Dropout): the
    /// convolution applies them to its output rows while they are in
    /// cache ([`crate::channel_maps`]), and a graph's layers that read a
    /// value another node reads later read it in place instead of a copy.
    /// On by default; the bits are the same either way, so turning it off
    /// is for measuring what it saves.
    fn set_inference_fusion(&mut self, _fuse: bool) {}

    /// Whether a training pass runs each BatchNormalization, and a
    /// graph's each `Add`, together with the ReLU or LeakyReLU that alone
    /// reads its output, the activation inside their passes (a graph's
    /// blocks; see `graph::training_pairs`). On by default; the bits are
    /// the same either way, so turning it off is for measuring what it
    /// saves.
    fn set_training_fusion(&mut self, _fuse: bool) {}

    /// A copy of this model for inference on another thread: the same
    /// architecture and weights (moving statistics included), buffers of
    /// its own. `None`, the default, for a model that its architecture and
    /// weights do not rebuild (an embedder's own `Model`): inference then
    /// never splits its samples across copies
    /// (`kymo_train::predict_on`).
    fn inference_copy(&self) -> Result<Option<Box<dyn Model<T>>>, LayerError> {
        Ok(None)
    }

    /// The loss term of the layers' activity penalties
    /// ([`crate::layers::ActivityRegularization`]) from their forward
    /// passes in `mode` since it was last taken: each layer's penalty per
    /// sample, summed over layers, as Keras adds each layer's penalty over
    /// its batch size to the loss (0 for a model without them).
    fn take_activity_penalty(&mut self, mode: Mode) -> f64 {
        self.layers_mut()
            .into_iter()
            .map(|layer| layer.take_activity_penalty(mode).per_sample())
            .sum()
    }

    /// Every parameter, in layer order then Keras's weight order.
    fn parameters(&self) -> Vec<&Parameter<T>> {
        self.layers()
            .into_iter()
            .flat_map(|l| l.parameters())
            .collect()
    }

    /// Mutable access to every parameter, in the order of [`Model::parameters`].
    fn parameters_mut(&mut self) -> Vec<&mut Parameter<T>> {
        self.layers_mut()
            .into_iter()
            .flat_map(|l| l.parameters_mut())
            .collect()
    }

    /// Full names (`layer/weight`) of [`Model::parameters`], in order.
    fn parameter_names(&self) -> Vec<String> {
        self.layers()
            .into_iter()
            .flat_map(|l| {
                l.parameters()
                    .into_iter()
                    .map(move |p| format!("{}/{}", l.name(), p.name))
            })
            .collect()
    }

    /// Resets every gradient to zero.
    fn zero_grad(&mut self) {
        for p in self.parameters_mut() {
            p.zero_grad();
        }
    }

    /// Number of scalars in every weight, trainable or not (Keras's
    /// `count_params`).
    fn count_params(&self) -> usize {
        self.parameters().iter().map(|p| p.value.len()).sum()
    }

    /// Number of trainable scalars.
    fn count_trainable_params(&self) -> usize {
        self.parameters()
            .iter()
            .filter(|p| p.trainable)
            .map(|p| p.value.len())
            .sum()
    }

    /// Copies of every weight, named (Keras's `get_weights`).
    fn get_weights(&self) -> Vec<NamedArray<T>> {
        self.parameter_names()
            .into_iter()
            .zip(self.parameters())
            .map(|(name, p)| NamedArray {
                name,
                array: p.value.clone(),
            })
            .collect()
    }

    /// Replaces every weight (Keras's `set_weights`). All are checked before
    /// any is written: on error the model is unchanged.
    fn set_weights(&mut self, weights: &[NamedArray<T>]) -> Result<(), LayerError> {
        let names = self.parameter_names();
        for w in weights {
            if !names.contains(&w.name) {
                return Err(LayerError::UnknownWeight {
                    name: w.name.clone(),
                });
            }
        }
        let mut ordered = Vec::with_capacity(names.len());
        for (name, p) in names.iter().zip(self.parameters()) {
            let w = weights
                .iter()
                .find(|w| &w.name == name)
                .ok_or_else(|| LayerError::MissingWeight { name: name.clone() })?;
            if w.array.shape() != p.value.shape() {
                return Err(LayerError::WeightShape {
                    name: name.clone(),
                    expected: p.value.shape().to_vec(),
                    found: w.array.shape().to_vec(),
                });
            }
            ordered.push(w);
        }
        for (p, w) in self.parameters_mut().into_iter().zip(ordered) {
            p.value.assign(&w.array);
        }
        Ok(())
    }

    /// The random generators of layers that draw at run time, in layer order
    /// (for checkpoints).
    fn rngs_mut(&mut self) -> Vec<&mut SeededRng> {
        self.layers_mut()
            .into_iter()
            .filter_map(|l| l.rng_mut())
            .collect()
    }
}

/// `model` built again from its architecture, given its weights and its
/// inference fusion setting `fuse`: [`Model::inference_copy`] for the
/// models kymo builds.
pub(crate) fn inference_copy_of<T: Float>(
    model: &dyn Model<T>,
    fuse: bool,
) -> Result<Option<Box<dyn Model<T>>>, LayerError> {
    // The seed only draws initial weights, which the model's replace.
    let mut copy = model.architecture().build::<T>(0)?;
    copy.set_weights(&model.get_weights())?;
    copy.set_inference_fusion(fuse);
    Ok(Some(copy))
}

/// Boxes any model, so that APIs taking `impl Into<Box<dyn Model<T>>>`
/// accept a `Sequential`, a `Graph` or an already boxed model alike.
macro_rules! boxes_into_model {
    ($($model:ident),*) => {
        $(
            impl<T: Float> From<crate::$model<T>> for Box<dyn Model<T>> {
                fn from(model: crate::$model<T>) -> Self {
                    Box::new(model)
                }
            }
        )*
    };
}

boxes_into_model!(Sequential, Graph);

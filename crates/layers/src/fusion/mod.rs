//! Fusions, chosen once when a `Sequential` is built: the plan turns its
//! layer specs into stages, each one layer or a private fused pair that
//! runs two layers in one pass with the same bits as running them one by
//! one. A `Layer` says what it can run inside its own passes
//! (`Layer::fuses_activation`, `Layer::fuses_maps`); the plan decides
//! which pairs run fused, and knows the concrete layers it pairs.
//!
//! Three fusions of pairs. `LeakyReLU` then `MaxPooling1D`: the pool reads
//! each activated row from a scratch row instead of the whole activated
//! batch from memory (1-2% of the answer's batch-32 training step), and its
//! backward returns the gradient with respect to the LeakyReLU's input.
//! A small stride-1 pool keeps a byte per output (its winning tap) and one
//! per input (its side of the kink) instead of the activation's input, so
//! backward neither reads that input again nor activates and pools it a
//! second time. `LeakyReLU` then `BatchNormalization` (the answer's
//! model with BatchNormalization): the normalization activates each value
//! wherever its passes read it, keeps the activation's input as it came
//! (its backward computes the activation, `x̂` and the derivative again
//! from it), and neither an activated copy of the batch nor the
//! activation's mask is written, kept or read again
//! (`kymo_tensor::batch_norm::Before`). `BatchNormalization` then `ReLU`
//! or `LeakyReLU` (the common Conv1D, BatchNormalization, ReLU stack):
//! the normalization applies the activation as it writes its output, and
//! its backward finds each element's side of the kink from the input it
//! keeps, so the activation's passes and mask go
//! (`kymo_tensor::batch_norm::After`; graphs pair them the same way).
//!
//! A fourth hands a gradient between stages: a `Flatten` and a one-unit
//! `Dense` head ([`unit_head`]) give their input gradient to the max pool
//! before them as its two factors, so it is never written out.
//!
//! In inference, a convolution also runs the single layers after it that
//! map each channel's values on their own (BatchNormalization,
//! activations, Dropout) in its own pass ([`inference_chain`],
//! `crate::channel_maps`).

mod unit_head;

use kymo_tensor::Float;
use ndarray::ArrayD;

use crate::activation::kink_slope;
use crate::layers::{
    ActivationLayer, BatchNormalization, Dense, DenseSpec, Flatten, Pooling1D, Reduction,
};
use crate::spec::init_rng;
use crate::{Activation, ChannelMaps, ChannelwiseMap, Layer, LayerError, LayerSpec, Mode, Shape};
pub(crate) use unit_head::backward;
use unit_head::UnitHead;

/// One step of a planned model.
pub(crate) enum Stage<T> {
    /// A layer on its own.
    Single(Box<dyn Layer<T>>),
    /// A LeakyReLU and the MaxPooling1D after it (boxed: the pair is
    /// large beside a pointer).
    LeakyReluMaxPool(Box<LeakyReluMaxPool<T>>),
    /// A LeakyReLU and the BatchNormalization after it.
    LeakyReluBatchNorm(Box<LeakyReluBatchNorm<T>>),
    /// A BatchNormalization and the ReLU or LeakyReLU after it.
    BatchNormActivation(Box<BatchNormActivation<T>>),
    /// A max pool on its own, before a [`Stage::UnitHead`].
    MaxPool(Box<Pooling1D<T>>),
    /// A Flatten and the one-unit Dense after it.
    UnitHead(Box<UnitHead<T>>),
}

/// A LeakyReLU and the max pool that reads it, run as one pass.
pub(crate) struct LeakyReluMaxPool<T> {
    activation: ActivationLayer<T>,
    pool: Pooling1D<T>,
    negative_slope: f64,
}

/// A LeakyReLU and the BatchNormalization that reads it, run as one pass.
pub(crate) struct LeakyReluBatchNorm<T> {
    activation: ActivationLayer<T>,
    norm: BatchNormalization<T>,
    negative_slope: f64,
}

/// A BatchNormalization and the ReLU or LeakyReLU that reads it, run as
/// one pass.
pub(crate) struct BatchNormActivation<T> {
    norm: BatchNormalization<T>,
    activation_layer: ActivationLayer<T>,
    activation: Activation,
}

impl<T: Float> Stage<T> {
    /// The layers of this stage, in order.
    pub(crate) fn layers(&self) -> Vec<&dyn Layer<T>> {
        match self {
            Stage::Single(layer) => vec![layer.as_ref()],
            Stage::LeakyReluMaxPool(pair) => vec![&pair.activation as &dyn Layer<T>, &pair.pool],
            Stage::LeakyReluBatchNorm(pair) => {
                vec![&pair.activation as &dyn Layer<T>, &pair.norm]
            }
            Stage::BatchNormActivation(pair) => {
                vec![&pair.norm as &dyn Layer<T>, &pair.activation_layer]
            }
            Stage::MaxPool(pool) => vec![pool.as_ref() as &dyn Layer<T>],
            Stage::UnitHead(head) => vec![&head.flatten as &dyn Layer<T>, &head.dense],
        }
    }

    /// Mutable access to [`Stage::layers`].
    pub(crate) fn layers_mut(&mut self) -> Vec<&mut dyn Layer<T>> {
        match self {
            Stage::Single(layer) => vec![layer.as_mut()],
            Stage::LeakyReluMaxPool(pair) => vec![&mut pair.activation, &mut pair.pool],
            Stage::LeakyReluBatchNorm(pair) => vec![&mut pair.activation, &mut pair.norm],
            Stage::BatchNormActivation(pair) => vec![&mut pair.norm, &mut pair.activation_layer],
            Stage::MaxPool(pool) => vec![pool.as_mut()],
            Stage::UnitHead(head) => vec![&mut head.flatten, &mut head.dense],
        }
    }

    pub(crate) fn output_shape(&self) -> Shape {
        match self {
            Stage::Single(layer) => layer.output_shape(),
            Stage::LeakyReluMaxPool(pair) => Layer::<T>::output_shape(&pair.pool),
            Stage::LeakyReluBatchNorm(pair) => Layer::<T>::output_shape(&pair.norm),
            Stage::BatchNormActivation(pair) => Layer::<T>::output_shape(&pair.activation_layer),
            Stage::MaxPool(pool) => Layer::<T>::output_shape(pool.as_ref()),
            Stage::UnitHead(head) => head.output_shape(),
        }
    }

    pub(crate) fn forward(&mut self, x: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        match self {
            Stage::Single(layer) => layer.forward(x, mode),
            Stage::LeakyReluMaxPool(pair) => {
                pair.pool
                    .forward_after_leaky_relu(x, pair.negative_slope, mode)
            }
            Stage::LeakyReluBatchNorm(pair) => {
                pair.norm
                    .forward_after_leaky_relu(x, pair.negative_slope, mode)
            }
            Stage::BatchNormActivation(pair) => {
                pair.norm.forward_then_activation(x, pair.activation, mode)
            }
            Stage::MaxPool(pool) => pool.forward(x, mode),
            Stage::UnitHead(head) => head.forward(x, mode),
        }
    }

    pub(crate) fn backward(&mut self, grad: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        match self {
            Stage::Single(layer) => layer.backward(grad),
            // The pool's cache says how it ran: fused, its backward covers
            // both layers; one by one (through `layers_mut`), each its own.
            Stage::LeakyReluMaxPool(pair) if pair.pool.pending_backward_is_fused() => {
                pair.pool.backward(grad)
            }
            Stage::LeakyReluMaxPool(pair) => {
                let grad = pair.pool.backward(grad)?;
                pair.activation.backward(grad)
            }
            Stage::LeakyReluBatchNorm(pair) if pair.norm.pending_backward_is_fused() => {
                pair.norm.backward(grad)
            }
            Stage::LeakyReluBatchNorm(pair) => {
                let grad = pair.norm.backward(grad)?;
                pair.activation.backward(grad)
            }
            Stage::BatchNormActivation(pair) if pair.norm.pending_backward_runs_after() => {
                pair.norm.backward(grad)
            }
            Stage::BatchNormActivation(pair) => {
                let grad = pair.activation_layer.backward(grad)?;
                pair.norm.backward(grad)
            }
            Stage::MaxPool(pool) => pool.backward(grad),
            Stage::UnitHead(head) => head.backward(grad),
        }
    }

    /// Whether the pending backward can take its output gradient as the
    /// two factors of a unit head's input gradient: a max pool's that
    /// kept its taps.
    fn takes_rank_one_gradient(&self) -> bool {
        match self {
            Stage::LeakyReluMaxPool(pair) => pair.pool.takes_rank_one_gradient(),
            Stage::MaxPool(pool) => pool.takes_rank_one_gradient(),
            _ => false,
        }
    }

    /// The pending backward from the output gradient `scale[b] ·
    /// weights[i]` (for a stage that [`Stage::takes_rank_one_gradient`]).
    fn backward_rank_one(&mut self, scale: &[T], weights: &[T]) -> Result<ArrayD<T>, LayerError> {
        match self {
            Stage::LeakyReluMaxPool(pair) if pair.pool.pending_backward_is_fused() => {
                pair.pool.backward_rank_one(scale, weights)
            }
            Stage::LeakyReluMaxPool(pair) => {
                let grad = pair.pool.backward_rank_one(scale, weights)?;
                pair.activation.backward(grad)
            }
            Stage::MaxPool(pool) => pool.backward_rank_one(scale, weights),
            stage => Err(LayerError::Config {
                layer: stage
                    .layers()
                    .first()
                    .map_or_else(String::new, |l| l.name().into()),
                kind: "MaxPooling1D",
                field: "gradient",
                reason: "only a max pool takes its output gradient as factors".into(),
            }),
        }
    }

    /// The maps of each channel's values this stage's layers make in
    /// inference, in order; `None` when one of them is not such a map.
    fn inference_maps(&self) -> Option<Vec<ChannelwiseMap<T>>> {
        self.layers()
            .into_iter()
            .map(|layer| layer.inference_map())
            .collect()
    }

    /// Whether this stage runs a fused pair.
    #[cfg(test)]
    pub(crate) fn is_fused(&self) -> bool {
        !matches!(self, Stage::Single(_) | Stage::MaxPool(_))
    }
}

/// Builds the stages of a stack of `specs` named `names` on an `input`:
/// each layer as `LayerSpec::build` builds it (layer `i` draws from the
/// streams of index `i`), with every LeakyReLU that a MaxPooling1D or a
/// BatchNormalization reads paired with it, and every BatchNormalization
/// with the ReLU or LeakyReLU that reads it.
pub(crate) fn plan<T: Float>(
    specs: &[LayerSpec],
    names: Vec<String>,
    input: Shape,
    seed: u64,
) -> Result<Vec<Stage<T>>, LayerError> {
    let mut stages = Vec::with_capacity(specs.len());
    let mut shape = input;
    let mut names = names.into_iter();
    let mut index = 0;
    while index < specs.len() {
        // Invariant: `names` has one name per spec (resolved from them).
        let name = names.next().unwrap_or_default();
        let (stage, specs_taken) = match (&specs[index], specs.get(index + 1)) {
            (LayerSpec::LeakyReLU(leaky), Some(LayerSpec::MaxPooling1D(pool))) => {
                let pool_name = names.next().unwrap_or_default();
                let pair = LeakyReluMaxPool {
                    activation: leaky_relu(leaky.negative_slope, name, shape),
                    pool: Pooling1D::build(pool.clone(), Reduction::Max, pool_name, shape)?,
                    negative_slope: leaky.negative_slope,
                };
                (Stage::LeakyReluMaxPool(Box::new(pair)), 2)
            }
            (LayerSpec::LeakyReLU(leaky), Some(LayerSpec::BatchNormalization(norm))) => {
                let norm_name = names.next().unwrap_or_default();
                let pair = LeakyReluBatchNorm {
                    activation: leaky_relu(leaky.negative_slope, name, shape),
                    norm: BatchNormalization::build(norm.clone(), norm_name, shape)?,
                    negative_slope: leaky.negative_slope,
                };
                (Stage::LeakyReluBatchNorm(Box::new(pair)), 2)
            }
            (LayerSpec::BatchNormalization(norm), Some(next)) => match kink_of(next) {
                Some(activation) => {
                    let activation_name = names.next().unwrap_or_default();
                    let norm = BatchNormalization::build(norm.clone(), name, shape)?;
                    let activation_layer =
                        ActivationLayer::new(activation, next.kind(), activation_name, shape);
                    let pair = BatchNormActivation {
                        norm,
                        activation_layer,
                        activation,
                    };
                    (Stage::BatchNormActivation(Box::new(pair)), 2)
                }
                None => (
                    Stage::Single(specs[index].build::<T>(name, shape, seed, index)?),
                    1,
                ),
            },
            (LayerSpec::MaxPooling1D(pool), _) if unit_head_at(specs, index + 1) => {
                let pool = Pooling1D::build(pool.clone(), Reduction::Max, name, shape)?;
                (Stage::MaxPool(Box::new(pool)), 1)
            }
            (LayerSpec::Flatten(_), Some(LayerSpec::Dense(dense)))
                if unit_head_at(specs, index) =>
            {
                let flatten = Flatten::build(name, shape);
                let dense_name = names.next().unwrap_or_default();
                let features = Layer::<T>::output_shape(&flatten);
                let mut init = init_rng(seed, index + 1);
                let dense = Dense::build(dense.clone(), dense_name, features, &mut init)?;
                (Stage::UnitHead(Box::new(UnitHead { flatten, dense })), 2)
            }
            (spec, _) => (Stage::Single(spec.build::<T>(name, shape, seed, index)?), 1),
        };
        shape = stage.output_shape();
        stages.push(stage);
        index += specs_taken;
    }
    Ok(stages)
}

/// Whether `specs[index..]` opens with a Flatten and a one-unit Dense: a
/// [`Stage::UnitHead`].
fn unit_head_at(specs: &[LayerSpec], index: usize) -> bool {
    matches!(
        specs.get(index..index + 2),
        Some([
            LayerSpec::Flatten(_),
            LayerSpec::Dense(DenseSpec { units: 1, .. })
        ])
    )
}

/// The activation a BatchNormalization can run inside its passes
/// ([`BatchNormalization::fuses_activation`]: a kink, `kink_slope`) when
/// `spec` is one: ReLU or LeakyReLU, as its own layer or as `Activation`.
fn kink_of(spec: &LayerSpec) -> Option<Activation> {
    let activation = match spec {
        LayerSpec::ReLU(_) => Activation::Relu,
        LayerSpec::LeakyReLU(leaky) => Activation::LeakyRelu {
            negative_slope: leaky.negative_slope,
        },
        LayerSpec::Activation(spec) => spec.activation,
        _ => return None,
    };
    kink_slope(activation).map(|_| activation)
}

/// The LeakyReLU layer of a fused pair, as `LayerSpec::build` makes it.
fn leaky_relu<T: Float>(negative_slope: f64, name: String, shape: Shape) -> ActivationLayer<T> {
    ActivationLayer::new(
        Activation::LeakyRelu { negative_slope },
        "LeakyReLU",
        name,
        shape,
    )
}

/// The inference chain headed by `stages[head]`: where it ends
/// (exclusive) and its followers' maps, when the head is a single layer
/// that fuses maps ([`Layer::fuses_maps`]) and at least one single layer
/// after it is a map of each channel's values in inference; `None`
/// otherwise. Each follower's map is read once.
pub(crate) fn inference_chain<T: Float>(
    stages: &[Stage<T>],
    head: usize,
) -> Option<(usize, ChannelMaps<T>)> {
    if !matches!(&stages[head], Stage::Single(layer) if layer.fuses_maps()) {
        return None;
    }
    let mut maps: Vec<ChannelwiseMap<T>> = Vec::new();
    let mut end = head + 1;
    while let Some(stage_maps) = stages.get(end).and_then(Stage::inference_maps) {
        maps.extend(stage_maps);
        end += 1;
    }
    (end > head + 1).then(|| (end, ChannelMaps::from(maps)))
}

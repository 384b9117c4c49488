//! `Sequential`: a stack of layers built and checked from a [`ModelSpec`].

use kymo_tensor::{Float, SeededRng};
use ndarray::ArrayD;

use crate::{InputSpec, Layer, LayerError, Mode, ModelSpec, Parameter, Shape, Summary};

/// A named weight array, as Keras's `get_weights`/`set_weights` hand them
/// out: `ConvLayer1/kernel`, `ConvLayer1/bias`, ...
#[derive(Debug, Clone, PartialEq)]
pub struct NamedArray<T> {
    /// `layer/weight`.
    pub name: String,
    /// The values.
    pub array: ArrayD<T>,
}

/// A sequential model.
///
/// Every layer's input shape is checked when the model is built, so a model
/// that builds never meets a shape it cannot take at run time (except a
/// wrongly shaped batch from the caller, which is an error naming the first
/// layer).
pub struct Sequential<T> {
    input: InputSpec,
    layers: Vec<Box<dyn Layer<T>>>,
}

impl<T: Float> Sequential<T> {
    /// Builds `spec` with initial weights drawn from `seed`.
    pub fn new(spec: &ModelSpec, seed: u64) -> Result<Self, LayerError> {
        let names = spec.resolved_names()?;
        let mut shape = Shape::Signal {
            channels: spec.input.channels,
            length: spec.input.length,
        };
        if spec.input.channels == 0 || spec.input.length == 0 {
            return Err(LayerError::Spec {
                origin: "model spec".into(),
                reason: format!("input {shape} has no points"),
            });
        }
        let mut layers = Vec::with_capacity(spec.layers.len());
        for (index, (layer_spec, name)) in spec.layers.iter().zip(names).enumerate() {
            let layer = layer_spec.build::<T>(name, shape, seed, index)?;
            shape = layer.output_shape();
            layers.push(layer);
        }
        Ok(Self {
            input: spec.input,
            layers,
        })
    }

    /// The spec that rebuilds this model, with every layer's resolved name.
    pub fn spec(&self) -> ModelSpec {
        ModelSpec {
            input: self.input,
            layers: self.layers.iter().map(|l| l.spec()).collect(),
        }
    }

    /// The per-sample input shape.
    pub fn input_shape(&self) -> Shape {
        Shape::Signal {
            channels: self.input.channels,
            length: self.input.length,
        }
    }

    /// The per-sample output shape.
    pub fn output_shape(&self) -> Shape {
        self.layers
            .last()
            .map_or(self.input_shape(), |l| l.output_shape())
    }

    /// The layers, first to last.
    pub fn layers(&self) -> &[Box<dyn Layer<T>>] {
        &self.layers
    }

    /// Mutable access to the layers.
    pub fn layers_mut(&mut self) -> &mut [Box<dyn Layer<T>>] {
        &mut self.layers
    }

    /// Forward pass over a batch `[B, channels, length]`.
    pub fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        self.layers
            .iter_mut()
            .try_fold(input, |x, layer| layer.forward(x, mode))
    }

    /// Backward pass from the loss gradient with respect to the output;
    /// accumulates every parameter gradient and returns the input gradient.
    pub fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        self.layers
            .iter_mut()
            .rev()
            .try_fold(grad_output, |g, layer| layer.backward(g))
    }

    /// Resets every gradient to zero.
    pub fn zero_grad(&mut self) {
        for p in self.parameters_mut() {
            p.zero_grad();
        }
    }

    /// Every parameter, in layer order then Keras's weight order.
    pub fn parameters(&self) -> Vec<&Parameter<T>> {
        self.layers.iter().flat_map(|l| l.parameters()).collect()
    }

    /// Mutable access to every parameter, in the order of [`Self::parameters`].
    pub fn parameters_mut(&mut self) -> Vec<&mut Parameter<T>> {
        self.layers
            .iter_mut()
            .flat_map(|l| l.parameters_mut())
            .collect()
    }

    /// Full names (`layer/weight`) of [`Self::parameters`], in order.
    pub fn parameter_names(&self) -> Vec<String> {
        self.layers
            .iter()
            .flat_map(|l| {
                l.parameters()
                    .into_iter()
                    .map(move |p| format!("{}/{}", l.name(), p.name))
            })
            .collect()
    }

    /// Number of scalars in every weight, trainable or not (Keras's
    /// `count_params`).
    pub fn count_params(&self) -> usize {
        self.parameters().iter().map(|p| p.value.len()).sum()
    }

    /// Number of trainable scalars.
    pub fn count_trainable_params(&self) -> usize {
        self.parameters()
            .iter()
            .filter(|p| p.trainable)
            .map(|p| p.value.len())
            .sum()
    }

    /// Copies of every weight, named (Keras's `get_weights`).
    pub fn get_weights(&self) -> Vec<NamedArray<T>> {
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
    pub fn set_weights(&mut self, weights: &[NamedArray<T>]) -> Result<(), LayerError> {
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
    pub fn rngs_mut(&mut self) -> Vec<&mut SeededRng> {
        self.layers.iter_mut().filter_map(|l| l.rng_mut()).collect()
    }

    /// A Keras-like summary table with receptive fields.
    pub fn summary(&self) -> Summary {
        Summary::of(self)
    }
}

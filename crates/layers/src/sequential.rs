//! `Sequential`: a stack of layers built and checked from a [`ModelSpec`].

use kymo_tensor::Float;
use ndarray::ArrayD;

use crate::{
    ArchitectureSpec, BuildLimits, InputSpec, Layer, LayerError, Mode, Model, ModelSpec, Shape,
    Summary,
};

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
    /// Per layer, whether the last forward pass ran it inside the next
    /// layer's pass (a `LeakyReLU` absorbed by a `MaxPooling1D`), so that
    /// backward skips it: the next layer's backward covers both.
    absorbed: Vec<bool>,
}

impl<T: Float> Sequential<T> {
    /// Builds `spec` with initial weights drawn from `seed`, within the
    /// default [`BuildLimits`] (2^31 parameters, 4 GiB of activations per
    /// sample).
    pub fn new(spec: &ModelSpec, seed: u64) -> Result<Self, LayerError> {
        Self::with_limits(spec, seed, &BuildLimits::default())
    }

    /// Builds `spec` if it fits `limits`: the whole spec is sized with
    /// checked arithmetic first ([`crate::limits::plan`]), so a spec with
    /// absurd sizes is an error naming the layer and the size, before any
    /// weight is allocated.
    pub fn with_limits(
        spec: &ModelSpec,
        seed: u64,
        limits: &BuildLimits,
    ) -> Result<Self, LayerError> {
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
        crate::limits::plan(spec, limits, std::mem::size_of::<T>())?;
        let mut layers = Vec::with_capacity(spec.layers.len());
        for (index, (layer_spec, name)) in spec.layers.iter().zip(names).enumerate() {
            let layer = layer_spec.build::<T>(name, shape, seed, index)?;
            shape = layer.output_shape();
            layers.push(layer);
        }
        Ok(Self {
            input: spec.input,
            absorbed: vec![false; layers.len()],
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

    /// The layers, first to last.
    pub fn layers(&self) -> &[Box<dyn Layer<T>>] {
        &self.layers
    }

    /// Mutable access to the layers.
    pub fn layers_mut(&mut self) -> &mut [Box<dyn Layer<T>>] {
        &mut self.layers
    }
}

impl<T: Float> Model<T> for Sequential<T> {
    fn architecture(&self) -> ArchitectureSpec {
        ArchitectureSpec::Sequential(self.spec())
    }

    fn input_shape(&self) -> Shape {
        Shape::Signal {
            channels: self.input.channels,
            length: self.input.length,
        }
    }

    fn output_shape(&self) -> Shape {
        self.layers
            .last()
            .map_or(Model::input_shape(self), |l| l.output_shape())
    }

    /// Forward pass over a batch `[B, channels, length]`.
    ///
    /// A `LeakyReLU` followed by a layer that absorbs it (`MaxPooling1D`)
    /// runs inside that layer's pass: the pool reads each activated row
    /// from a scratch row instead of the whole activated batch from memory
    /// (1-2% of the answer's batch-32 training step). The results are the
    /// same bits as running the layers one by one.
    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        self.absorbed.fill(false);
        let mut x = input;
        let mut index = 0;
        while let Some((layer, rest)) = self.layers[index..].split_first_mut() {
            let slope = layer.leaky_relu_slope();
            match (slope, rest.first_mut()) {
                (Some(slope), Some(next)) if next.absorbs_leaky_relu() => {
                    x = next.forward_after_leaky_relu(x, slope, mode)?;
                    self.absorbed[index] = true;
                    index += 2;
                }
                _ => {
                    x = layer.forward(x, mode)?;
                    index += 1;
                }
            }
        }
        Ok(x)
    }

    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        self.layers
            .iter_mut()
            .zip(&self.absorbed)
            .rev()
            .filter(|(_, &absorbed)| !absorbed)
            .try_fold(grad_output, |g, (layer, _)| layer.backward(g))
    }

    fn layers(&self) -> Vec<&dyn Layer<T>> {
        self.layers
            .iter()
            .map(|l| l.as_ref() as &dyn Layer<T>)
            .collect()
    }

    fn layers_mut(&mut self) -> Vec<&mut dyn Layer<T>> {
        self.layers
            .iter_mut()
            .map(|l| l.as_mut() as &mut dyn Layer<T>)
            .collect()
    }

    fn summary(&self) -> Summary {
        Summary::of(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoo;

    fn bits(values: &ArrayD<f32>) -> Vec<u32> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    /// Output, input gradient and weight gradients of one training step
    /// through `forward`/`backward` (which fuse each LeakyReLU into the
    /// max pool after it) and through the layers one by one (which do not).
    fn step_both_ways(spec: &ModelSpec, batch: usize) -> [Vec<Vec<u32>>; 2] {
        let length = spec.input.length;
        let x = ArrayD::from_shape_fn(vec![batch, 1, length], |i| {
            ((i[0] * 31 + i[2] * 7) as f64 * 0.37).sin() as f32
        });
        let mut results = Vec::new();
        for fused in [true, false] {
            let mut model = Sequential::<f32>::new(spec, 7).expect("builds");
            let mut y = x.clone();
            if fused {
                y = model.forward(y, Mode::Train).expect("forward");
            } else {
                for layer in model.layers_mut() {
                    y = layer.forward(y, Mode::Train).expect("forward");
                }
            }
            let gy = y.mapv(|v| v - 0.25);
            let gx = if fused {
                model.backward(gy).expect("backward")
            } else {
                model
                    .layers_mut()
                    .iter_mut()
                    .rev()
                    .try_fold(gy, |g, layer| layer.backward(g))
                    .expect("backward")
            };
            let mut all = vec![bits(&y), bits(&gx)];
            all.extend(model.parameters().iter().map(|p| bits(&p.grad)));
            results.push(all);
        }
        let unfused = results.pop().expect("two runs");
        let fused = results.pop().expect("two runs");
        [fused, unfused]
    }

    #[test]
    fn fused_leaky_relu_and_pool_match_the_layers_one_by_one() {
        for spec in [zoo::answer(64), zoo::original(120), zoo::doctor(64)] {
            let [fused, unfused] = step_both_ways(&spec, 3);
            assert_eq!(fused, unfused);
        }
    }

    #[test]
    fn forward_fuses_only_a_leaky_relu_before_a_max_pool() {
        let mut model = Sequential::<f32>::new(&zoo::answer(64), 7).expect("builds");
        let x = ArrayD::zeros(vec![2, 1, 64]);
        model.forward(x, Mode::Train).expect("forward");
        let absorbed: Vec<&str> = model
            .layers()
            .iter()
            .zip(&model.absorbed)
            .filter(|(_, &absorbed)| absorbed)
            .map(|(layer, _)| layer.name())
            .collect();
        assert_eq!(absorbed, ["leaky_re_lu", "leaky_re_lu_1", "leaky_re_lu_2"]);
    }
}

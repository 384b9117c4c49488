//! `Sequential`: a stack of layers built and checked from a [`ModelSpec`].

use kymo_tensor::Float;
use ndarray::ArrayD;

use crate::fusion::{self, Stage};
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
    /// The layers as the fusion plan runs them (`crate::fusion`).
    stages: Vec<Stage<T>>,
    /// Whether inference runs convolutions with the maps after them.
    fuse_inference: bool,
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
        let shape = Shape::Signal {
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
        Ok(Self {
            input: spec.input,
            stages: fusion::plan(&spec.layers, names, shape, seed)?,
            fuse_inference: true,
        })
    }

    /// The spec that rebuilds this model, with every layer's resolved name.
    pub fn spec(&self) -> ModelSpec {
        ModelSpec {
            input: self.input,
            layers: self.layers().iter().map(|l| l.spec()).collect(),
        }
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
        self.stages
            .last()
            .map_or(Model::input_shape(self), |s| s.output_shape())
    }

    /// Forward pass over a batch `[B, channels, length]`, stage by stage:
    /// a fused pair (a `LeakyReLU` and the `MaxPooling1D` that reads it)
    /// runs in one pass, with the same bits as its layers one by one.
    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        if mode == Mode::Train || !self.fuse_inference {
            return self
                .stages
                .iter_mut()
                .try_fold(input, |x, stage| stage.forward(x, mode));
        }
        // Inference: each convolution with the channelwise maps after it in
        // one pass (`crate::channel_maps`), the same bits as one by one.
        let mut x = input;
        let mut head = 0;
        while head < self.stages.len() {
            let chain = fusion::inference_chain(&self.stages, head);
            (x, head) = match (chain, &mut self.stages[head]) {
                (Some((end, maps)), Stage::Single(layer)) => {
                    (layer.forward_inference_then(x, &maps)?, end)
                }
                (_, stage) => (stage.forward(x, mode)?, head + 1),
            };
        }
        Ok(x)
    }

    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        fusion::backward(&mut self.stages, grad_output)
    }

    fn set_inference_fusion(&mut self, fuse: bool) {
        self.fuse_inference = fuse;
    }

    fn inference_copy(&self) -> Result<Option<Box<dyn Model<T>>>, LayerError> {
        crate::model::inference_copy_of(self, self.fuse_inference)
    }

    fn layers(&self) -> Vec<&dyn Layer<T>> {
        self.stages.iter().flat_map(|s| s.layers()).collect()
    }

    /// The layers, to run one by one; a fused pair's next backward through
    /// the model then runs its two layers' backward passes one by one too.
    fn layers_mut(&mut self) -> Vec<&mut dyn Layer<T>> {
        self.stages
            .iter_mut()
            .flat_map(|s| s.layers_mut())
            .collect()
    }

    fn summary(&self) -> Summary {
        Summary::of(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{zoo, Activation, LayerSpec};

    fn bits(values: &ArrayD<f32>) -> Vec<u32> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    /// Output, input gradient, weight gradients and weights (with the
    /// moving statistics a step updates) after one training step three
    /// ways: `forward`/`backward` (the plan's fused stages, and a unit
    /// head's gradient in factors); the layers' forward passes one by one,
    /// then the model's `backward` (which runs each pair one by one, and
    /// still hands the unit head's gradient over in factors); and every
    /// layer's own passes one by one, every gradient written out.
    fn step_three_ways(spec: &ModelSpec, batch: usize) -> [Vec<Vec<u32>>; 3] {
        let length = spec.input.length;
        let x = ArrayD::from_shape_fn(vec![batch, 1, length], |i| {
            ((i[0] * 31 + i[2] * 7) as f64 * 0.37).sin() as f32
        });
        [(true, true), (false, true), (false, false)].map(|(fused_forward, fused_backward)| {
            let mut model = Sequential::<f32>::new(spec, 7).expect("builds");
            let mut y = x.clone();
            if fused_forward {
                y = model.forward(y, Mode::Train).expect("forward");
            } else {
                for layer in model.layers_mut() {
                    y = layer.forward(y, Mode::Train).expect("forward");
                }
            }
            let gy = y.mapv(|v| v - 0.25);
            let gx = if fused_backward {
                model.backward(gy).expect("backward")
            } else {
                let mut g = gy;
                for layer in model.layers_mut().into_iter().rev() {
                    g = layer.backward(g).expect("backward");
                }
                g
            };
            let mut all = vec![bits(&y), bits(&gx)];
            all.extend(model.parameters().iter().map(|p| bits(&p.grad)));
            all.extend(model.parameters().iter().map(|p| bits(&p.value)));
            all
        })
    }

    #[test]
    fn fused_pairs_match_the_layers_one_by_one() {
        // answer_bn at 1,500 points: rows longer than a block of the
        // separate activation's pass, and 3 samples a channel.
        for spec in [
            zoo::answer(64),
            zoo::original(120),
            zoo::doctor(64),
            zoo::answer_bn(64),
            zoo::answer_bn(1500),
            normalized_then_activated(1500, None),
            normalized_then_activated(64, Some(Activation::Relu)),
        ] {
            let [fused, mixed, unfused] = step_three_ways(&spec, 3);
            assert_eq!(fused, unfused, "fused against one by one");
            assert_eq!(mixed, unfused, "the model's backward after one by one");
        }
    }

    #[test]
    fn inference_gives_the_bits_of_the_layers_one_by_one() {
        // answer_bn: each Conv1D runs its LeakyReLU and BatchNormalization
        // in its pass; answer: each LeakyReLU stays paired with its pool.
        // The answer's 3-tap layers go by F(4, 3) through the balanced
        // points in inference, whole rows mapped; the doctor's 5-tap
        // layer by F(2, 3), each block's stretch of every row mapped apart.
        for spec in [
            zoo::answer_bn(64),
            zoo::answer(64),
            zoo::doctor(64),
            zoo::answer_bn(1500),
            zoo::answer(1500),
            normalized_then_activated(1500, None),
            normalized_then_activated(64, Some(Activation::Relu)),
        ] {
            let length = spec.input.length;
            let mut model = Sequential::<f32>::new(&spec, 7).expect("builds");
            for (k, parameter) in model.parameters_mut().into_iter().enumerate() {
                parameter
                    .value
                    .mapv_inplace(|v| v + (0.3 * (k as f32 + 0.37).sin()));
            }
            let x = ArrayD::from_shape_fn(vec![3, 1, length], |i| {
                ((i[0] * 31 + i[2] * 7) as f64 * 0.37).sin() as f32
            });
            let fused = model.forward(x.clone(), Mode::Inference).expect("forward");
            let mut y = x;
            for layer in model.layers_mut() {
                y = layer.forward(y, Mode::Inference).expect("forward");
            }
            assert_eq!(bits(&fused), bits(&y), "{length} points");
        }
        let model = Sequential::<f32>::new(&zoo::answer_bn(64), 7).expect("builds");
        let ends: Vec<usize> = (0..model.stages.len())
            .map(|head| fusion::inference_chain(&model.stages, head).map_or(head + 1, |c| c.0))
            .collect();
        // Conv1D, the LeakyReLU and BatchNormalization pair, MaxPooling1D,
        // three times: the chain from each Conv1D takes in the pair.
        assert_eq!(&ends[..4], &[2, 2, 3, 5]);
    }

    /// The answer's model with BatchNormalization, without its pools and
    /// with each BatchNormalization before its LeakyReLU (the Conv1D,
    /// BatchNormalization, activation stack), each LeakyReLU replaced by
    /// `activation` when one is given.
    fn normalized_then_activated(length: usize, activation: Option<Activation>) -> ModelSpec {
        let mut spec = zoo::answer_bn(length);
        spec.layers
            .retain(|layer| !matches!(layer, LayerSpec::MaxPooling1D(_)));
        for i in 0..spec.layers.len() - 1 {
            if matches!(
                (&spec.layers[i], &spec.layers[i + 1]),
                (LayerSpec::LeakyReLU(_), LayerSpec::BatchNormalization(_))
            ) {
                spec.layers.swap(i, i + 1);
            }
        }
        if let Some(activation) = activation {
            for layer in &mut spec.layers {
                if matches!(layer, LayerSpec::LeakyReLU(_)) {
                    *layer = LayerSpec::Activation(crate::layers::ActivationSpec {
                        activation,
                        name: None,
                    });
                }
            }
        }
        spec
    }

    #[test]
    fn the_plan_fuses_a_leaky_relu_before_a_max_pool_or_a_batch_normalization() {
        // Each of these models ends in Flatten and Dense(1): a unit head.
        let three = vec!["leaky_re_lu", "leaky_re_lu_1", "leaky_re_lu_2", "flatten"];
        // BatchNormalization before each activation: the normalization
        // runs a ReLU or LeakyReLU after it, not a smooth activation.
        let norms = vec![
            "batch_normalization",
            "batch_normalization_1",
            "batch_normalization_2",
            "flatten",
        ];
        for (spec, fused) in [
            (zoo::answer(64), three.clone()),
            (zoo::answer_bn(64), three.clone()),
            (normalized_then_activated(64, None), norms.clone()),
            (normalized_then_activated(64, Some(Activation::Relu)), norms),
            (
                normalized_then_activated(64, Some(Activation::Tanh)),
                vec!["flatten"],
            ),
            // Dense(32) after the Flatten: no unit head.
            (
                zoo::doctor(64),
                vec![
                    "leaky_re_lu",
                    "leaky_re_lu_1",
                    "leaky_re_lu_2",
                    "leaky_re_lu_3",
                ],
            ),
        ] {
            let model = Sequential::<f32>::new(&spec, 7).expect("builds");
            let names: Vec<&str> = model
                .stages
                .iter()
                .filter(|s| s.is_fused())
                .map(|s| s.layers()[0].name())
                .collect();
            assert_eq!(names, fused);
        }
        // answer_bn's last pool stands alone, as the stage that takes the
        // unit head's gradient in factors.
        let model = Sequential::<f32>::new(&zoo::answer_bn(64), 7).expect("builds");
        let last_two: Vec<bool> = model.stages[model.stages.len() - 2..]
            .iter()
            .map(|stage| matches!(stage, Stage::MaxPool(_)))
            .collect();
        assert_eq!(last_two, [true, false]);
    }

    #[test]
    fn parameters_touched_between_forward_and_backward_leave_the_plan_intact() {
        // zero_grad walks every parameter (through `layers_mut`) between a
        // forward and its backward, as the parity tests do.
        let spec = zoo::answer(64);
        let x = ArrayD::from_shape_fn(vec![2, 1, 64], |i| (i[2] as f32 * 0.3).sin());
        let mut plain = Sequential::<f32>::new(&spec, 7).expect("builds");
        let mut touched = Sequential::<f32>::new(&spec, 7).expect("builds");
        let y = plain.forward(x.clone(), Mode::Train).expect("forward");
        touched.forward(x, Mode::Train).expect("forward");
        touched.zero_grad();
        let want = plain.backward(y.clone()).expect("backward");
        let got = touched.backward(y).expect("backward after zero_grad");
        assert_eq!(bits(&got), bits(&want));
    }

    #[test]
    fn the_planned_model_lists_every_layer_of_its_spec() {
        let spec = zoo::answer(64);
        let model = Sequential::<f32>::new(&spec, 7).expect("builds");
        let rebuilt = model.spec();
        assert_eq!(rebuilt.layers.len(), spec.layers.len());
        assert_eq!(rebuilt.resolved_names().ok(), spec.resolved_names().ok());
    }
}

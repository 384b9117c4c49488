//! Build limits: a model spec is sized before anything is allocated for it.
//!
//! A spec may come from a file someone sent, the spec inside a checkpoint or
//! an imported Keras JSON. Sizes in the billions, or near `usize::MAX`, must
//! be an error that names the layer and the size, not an allocation that
//! aborts the process. [`plan`] walks the spec with checked arithmetic, shape
//! by shape, and counts the parameters and the per-sample activations the
//! built model would hold; [`crate::Sequential::with_limits`] refuses a spec
//! over its [`BuildLimits`] before the first weight is drawn.

use crate::{LayerError, LayerSpec, ModelSpec, Shape};

/// The most a model spec may ask for, checked before anything is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildLimits {
    /// Most trainable and non-trainable parameters in the whole model.
    pub max_parameters: u64,
    /// Most bytes of activations one sample may need: every layer's output
    /// (training keeps them all), plus each sliding window's padded input.
    pub max_activation_bytes: u64,
}

impl Default for BuildLimits {
    /// 2^31 parameters and 4 GiB of activations per sample: far above any
    /// 1D CNN people train (the question's model has 607,585 parameters and
    /// about 1 MB per sample), far below what aborts a process.
    fn default() -> Self {
        Self {
            max_parameters: 1 << 31,
            max_activation_bytes: 4 << 30,
        }
    }
}

/// What one layer of a spec will hold once built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerPlan {
    /// The layer's per-sample output shape.
    pub output: Shape,
    /// Its parameter count.
    pub parameters: u64,
    /// Scalars one sample needs in it: its output, plus a window's padded
    /// input where it slides one.
    pub activations: u64,
}

pub(crate) fn too_large(
    layer: &str,
    kind: &'static str,
    field: &'static str,
    what: String,
) -> LayerError {
    LayerError::Config {
        layer: layer.to_string(),
        kind,
        field,
        reason: what,
    }
}

/// Checked product of sizes, or an error naming the layer and field.
pub(crate) fn product(
    layer: &str,
    kind: &'static str,
    field: &'static str,
    factors: &[usize],
) -> Result<u64, LayerError> {
    factors
        .iter()
        .try_fold(1u64, |acc, &f| acc.checked_mul(f as u64))
        .ok_or_else(|| {
            too_large(
                layer,
                kind,
                field,
                format!("size {factors:?} overflows 64 bits"),
            )
        })
}

/// The `(channels, length)` of a signal input, or the error a layer that
/// slides along the signal raises for flat features.
pub(crate) fn signal_input(
    name: &str,
    kind: &'static str,
    input: Shape,
) -> Result<(usize, usize), LayerError> {
    match input {
        Shape::Signal { channels, length } => Ok((channels, length)),
        Shape::Features(_) => Err(LayerError::InputShape {
            layer: name.to_string(),
            kind,
            expected: "a signal (None, channels, length)".into(),
            found: input.to_string(),
        }),
    }
}

impl LayerPlan {
    /// A layer's plan: `output`, `parameters`, and the per-sample scalars
    /// of its output plus `window_input` (a sliding window's padded input),
    /// with checked arithmetic.
    pub(crate) fn sized(
        name: &str,
        kind: &'static str,
        output: Shape,
        parameters: u64,
        window_input: u64,
    ) -> Result<Self, LayerError> {
        let out = product(name, kind, "output", &shape_factors(output))?;
        Ok(Self {
            output,
            parameters,
            activations: out.saturating_add(window_input),
        })
    }
}

/// Sizes one layer for `input` without allocating: its output shape,
/// parameters and per-sample scalars, all with checked arithmetic. Each
/// layer's shape rule lives in its own file (its `plan`), which its
/// `build` uses too.
pub fn plan_layer(spec: &LayerSpec, name: &str, input: Shape) -> Result<LayerPlan, LayerError> {
    use crate::layers::{
        conv1d_plan, dense_plan, flatten_plan, global_pooling_plan, length_edges_plan,
        pooling1d_plan, EdgeChange,
    };
    let kind = spec.kind();
    match spec {
        LayerSpec::Conv1D(s) => conv1d_plan(s, name, input),
        LayerSpec::MaxPooling1D(s) | LayerSpec::AveragePooling1D(s) => {
            pooling1d_plan(s, kind, name, input)
        }
        LayerSpec::Dense(s) => dense_plan(s, name, input),
        LayerSpec::Flatten(_) => flatten_plan(name, input),
        LayerSpec::Reshape(s) => crate::layers::reshape_plan(s, name, input),
        LayerSpec::Permute(s) => crate::layers::permute_plan(s, name, input),
        LayerSpec::ZeroPadding1D(s) => length_edges_plan(s, EdgeChange::Pad, name, input),
        LayerSpec::Cropping1D(s) => length_edges_plan(s, EdgeChange::Crop, name, input),
        LayerSpec::GlobalAveragePooling1D(s) | LayerSpec::GlobalMaxPooling1D(s) => {
            global_pooling_plan(kind, s, name, input)
        }
        crate::spec::merge_layer!() => plan_merge(spec, name, &[input]),
        // gamma and beta.
        LayerSpec::LayerNormalization(_) => LayerPlan::sized(
            name,
            kind,
            input,
            product(name, kind, "input", &[input.channels(), 2])?,
            0,
        ),
        // gamma, beta, moving mean and moving variance.
        LayerSpec::BatchNormalization(_) => LayerPlan::sized(
            name,
            kind,
            input,
            product(name, kind, "input", &[input.channels(), 4])?,
            0,
        ),
        LayerSpec::Dropout(_)
        | LayerSpec::SpatialDropout1D(_)
        | LayerSpec::GaussianNoise(_)
        | LayerSpec::ActivityRegularization(_)
        | LayerSpec::LeakyReLU(_)
        | LayerSpec::ReLU(_)
        | LayerSpec::ELU(_)
        | LayerSpec::Tanh(_)
        | LayerSpec::Activation(_)
        | LayerSpec::Sigmoid(_) => LayerPlan::sized(name, kind, input, 0, 0),
    }
}

/// A shape's sizes, for checked products.
pub(crate) fn shape_factors(shape: Shape) -> Vec<usize> {
    match shape {
        Shape::Signal { channels, length } => vec![channels, length],
        Shape::Features(n) => vec![n],
    }
}

/// `length + left + right`, or an error naming the layer.
pub(crate) fn padded_length(
    name: &str,
    kind: &'static str,
    length: usize,
    left: usize,
    right: usize,
) -> Result<usize, LayerError> {
    length
        .checked_add(left)
        .and_then(|l| l.checked_add(right))
        .ok_or_else(|| {
            too_large(
                name,
                kind,
                "padding",
                format!("{length} + {left} + {right} overflows"),
            )
        })
}

/// Sizes a merge layer (`Add`, `Concatenate`) of a graph for its inputs.
/// A merge holds no weights and allocates nothing to be built, so building
/// it is how its shapes are checked.
pub fn plan_merge(spec: &LayerSpec, name: &str, inputs: &[Shape]) -> Result<LayerPlan, LayerError> {
    let merge = crate::merge::build_merge::<f32>(spec, name.to_string(), inputs)?;
    let output = merge.output_shape();
    Ok(LayerPlan {
        output,
        parameters: 0,
        activations: product(name, spec.kind(), "output", &shape_factors(output))?,
    })
}

/// What a model built so far holds, against its limits: each layer's plan
/// is charged in turn, and the first one over a limit is named.
pub(crate) struct Budget<'a> {
    limits: &'a BuildLimits,
    element_bytes: u64,
    parameters: u64,
    activation_bytes: u64,
}

impl<'a> Budget<'a> {
    /// A budget holding the model's input.
    pub(crate) fn start(
        limits: &'a BuildLimits,
        element_bytes: usize,
        input: Shape,
    ) -> Result<Self, LayerError> {
        let element_bytes = element_bytes as u64;
        let input_scalars = product("input", "Input", "length", &shape_factors(input))?;
        let activation_bytes = input_scalars.saturating_mul(element_bytes);
        if activation_bytes > limits.max_activation_bytes {
            return Err(LayerError::Spec {
                origin: "model spec".into(),
                reason: format!(
                    "input {input} needs {activation_bytes} bytes per sample, over the limit of {}",
                    limits.max_activation_bytes
                ),
            });
        }
        Ok(Self {
            limits,
            element_bytes,
            parameters: 0,
            activation_bytes,
        })
    }

    /// Adds layer `name`'s plan, or says which limit it breaks.
    pub(crate) fn charge(
        &mut self,
        name: &str,
        kind: &'static str,
        layer_plan: &LayerPlan,
    ) -> Result<(), LayerError> {
        self.parameters = self.parameters.saturating_add(layer_plan.parameters);
        if self.parameters > self.limits.max_parameters {
            return Err(too_large(
                name,
                kind,
                "parameters",
                format!(
                    "{} parameters here bring the model to {}, over the limit of {}",
                    layer_plan.parameters, self.parameters, self.limits.max_parameters
                ),
            ));
        }
        let bytes = layer_plan.activations.saturating_mul(self.element_bytes);
        self.activation_bytes = self.activation_bytes.saturating_add(bytes);
        if self.activation_bytes > self.limits.max_activation_bytes {
            return Err(too_large(
                name,
                kind,
                "output",
                format!(
                    "output {} ({bytes} bytes per sample with its window) brings one sample's \
                     activations to {} bytes, over the limit of {}",
                    layer_plan.output, self.activation_bytes, self.limits.max_activation_bytes
                ),
            ));
        }
        Ok(())
    }
}

/// Sizes a whole spec against `limits`, before anything is allocated:
/// `element_bytes` is the size of one scalar (4 for f32).
///
/// Returns each layer's plan; the first layer that takes the model over a
/// limit is named in the error with the size it asks for.
pub fn plan(
    spec: &ModelSpec,
    limits: &BuildLimits,
    element_bytes: usize,
) -> Result<Vec<LayerPlan>, LayerError> {
    let names = spec.resolved_names()?;
    let mut shape = Shape::Signal {
        channels: spec.input.channels,
        length: spec.input.length,
    };
    let mut budget = Budget::start(limits, element_bytes, shape)?;
    let mut plans = Vec::with_capacity(spec.layers.len());
    for (layer, name) in spec.layers.iter().zip(&names) {
        let layer_plan = plan_layer(layer, name, shape)?;
        budget.charge(name, layer.kind(), &layer_plan)?;
        shape = layer_plan.output;
        plans.push(layer_plan);
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{zoo, Conv1DSpec, DenseSpec, InputSpec, NameOnlySpec, Pooling1DSpec};
    use kymo_tensor::Padding;

    fn spec(length: usize, layers: Vec<LayerSpec>) -> ModelSpec {
        ModelSpec {
            input: InputSpec {
                channels: 1,
                length,
            },
            layers,
        }
    }

    #[test]
    fn the_seed_models_plan_to_their_keras_parameter_counts() {
        for (model, count) in [
            (zoo::original(1040), 607_585u64),
            (zoo::answer(1040), 164_129),
        ] {
            let plans = plan(&model, &BuildLimits::default(), 4).expect("seed models fit");
            assert_eq!(plans.iter().map(|p| p.parameters).sum::<u64>(), count);
        }
    }

    #[test]
    fn sizes_over_the_limits_name_the_layer_and_field() {
        let cases: Vec<(ModelSpec, &str, &str)> = vec![
            (
                spec(64, vec![LayerSpec::Conv1D(Conv1DSpec::new(1 << 40, 3))]),
                "conv1d",
                "parameters",
            ),
            (
                spec(
                    64,
                    vec![
                        LayerSpec::Flatten(NameOnlySpec::default()),
                        LayerSpec::Dense(DenseSpec::new(usize::MAX)),
                    ],
                ),
                "dense",
                "units",
            ),
            (
                spec(
                    64,
                    vec![LayerSpec::MaxPooling1D(Pooling1DSpec {
                        pool_size: 1 << 40,
                        strides: Some(1),
                        padding: Padding::Same,
                        name: None,
                    })],
                ),
                "max_pooling1d",
                "output",
            ),
        ];
        for (model, layer, field) in cases {
            let error = plan(&model, &BuildLimits::default(), 4).expect_err("over the limits");
            match &error {
                LayerError::Config {
                    layer: l, field: f, ..
                } => assert_eq!((l.as_str(), *f), (layer, field), "{error}"),
                other => panic!("expected a Config error, got {other}"),
            }
        }
    }

    #[test]
    fn a_wrapping_window_is_an_error_not_a_wrapped_size() {
        let mut conv = Conv1DSpec::new(1, (1usize << 63) + 1);
        conv.dilation_rate = 2;
        let error = plan(
            &spec(64, vec![LayerSpec::Conv1D(conv)]),
            &BuildLimits::default(),
            4,
        )
        .expect_err("overflowing window");
        assert!(error.to_string().contains("overflows"), "{error}");
    }

    #[test]
    fn sequential_refuses_a_huge_same_pool_before_its_forward_allocates() {
        // The fuzzer's reproducer: it built, then its forward pass asked for
        // 8 bytes per tap of the window and aborted.
        let model = spec(
            64,
            vec![LayerSpec::MaxPooling1D(Pooling1DSpec {
                pool_size: 1 << 40,
                strides: Some(1),
                padding: Padding::Same,
                name: None,
            })],
        );
        let error = match crate::Sequential::<f32>::new(&model, 0) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("must be refused"),
        };
        assert!(
            error.starts_with("layer 'max_pooling1d' (MaxPooling1D)"),
            "{error}"
        );
        let tight = BuildLimits {
            max_parameters: 100,
            max_activation_bytes: 1 << 20,
        };
        let answer = crate::zoo::answer(64);
        assert!(crate::Sequential::<f32>::with_limits(&answer, 0, &tight).is_err());
        assert!(crate::Sequential::<f32>::with_limits(&answer, 0, &BuildLimits::default()).is_ok());
    }

    #[test]
    fn silly_but_representable_sizes_are_refused_before_any_weight_is_drawn() {
        // The question's model on 10^8-point signals: its first Conv1D's
        // output alone is 12.8 GB per sample.
        let error = plan(
            &crate::zoo::original(100_000_000),
            &BuildLimits::default(),
            4,
        )
        .expect_err("over the activation limit");
        assert!(
            error.to_string().contains("'ConvLayer1' (Conv1D)"),
            "{error}"
        );
    }

    #[test]
    fn a_huge_input_is_refused_before_any_layer() {
        let error = plan(&spec(1 << 40, vec![]), &BuildLimits::default(), 4)
            .expect_err("input over the activation limit");
        assert!(error.to_string().contains("over the limit"), "{error}");
    }
}

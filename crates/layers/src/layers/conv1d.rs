//! `Conv1D`: Keras's 1D convolution layer (PyTorch: `nn.Conv1d`, with
//! Keras's `same` padding, which PyTorch only matches for odd kernels).
//!
//! The kernel is stored as `[filters, in_channels, kernel_size]` (PyTorch's
//! layout); Keras stores `[kernel_size, in_channels, filters]`.

use kymo_tensor::{
    conv1d_backward_in_place, conv1d_forward_into, conv1d_forward_then, Conv1dConfig,
    Conv1dWorkspace, Fans, Float, Initializer, Padding, RowEpilogue, RowStretch, SeededRng,
};
use ndarray::{Array3, ArrayD, ArrayView3, Ix3};
use serde::{Deserialize, Serialize};

use crate::activation::InPlaceActivation;
use crate::buffers;
use crate::channel_maps::apply_by_rows;
use crate::layer::{check_input, config_error, fixed, standard, take_cache, view_as, view_mut_as};
use crate::limits::{padded_length, product, LayerPlan};
use crate::{
    Activation, ChannelMaps, ChannelwiseMap, Constraint, Layer, LayerError, LayerSpec, Mode,
    Parameter, Reach, Regularizer, Shape,
};

const KIND: &str = "Conv1D";

/// Configuration of a `Conv1D` layer, with Keras's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv1DSpec {
    /// Number of output channels.
    pub filters: usize,
    /// Taps per kernel.
    pub kernel_size: usize,
    /// Step between output positions (default 1).
    #[serde(default = "one")]
    pub strides: usize,
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// Gap between taps (default 1).
    #[serde(default = "one")]
    pub dilation_rate: usize,
    /// Activation applied to the output (default linear).
    #[serde(default)]
    pub activation: Activation,
    /// Whether to add a bias (default true).
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// Kernel initializer (default `glorot_uniform`).
    #[serde(default)]
    pub kernel_initializer: Initializer,
    /// Bias initializer (default `zeros`).
    #[serde(default = "zeros_init")]
    pub bias_initializer: Initializer,
    /// Penalty on the kernel (Keras's `kernel_regularizer`; default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_regularizer: Option<Regularizer>,
    /// Projection of the kernel after each step (Keras's
    /// `kernel_constraint`, its axes in Keras's layout; default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_constraint: Option<Constraint>,
    /// Projection of the bias after each step (Keras's `bias_constraint`;
    /// default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_constraint: Option<Constraint>,
    /// Penalty on the bias (Keras's `bias_regularizer`; default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_regularizer: Option<Regularizer>,
    /// Optional layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn zeros_init() -> Initializer {
    Initializer::Zeros
}

impl Conv1DSpec {
    /// A convolution with Keras's defaults for everything but the two
    /// required arguments.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Self {
            filters,
            kernel_size,
            strides: 1,
            padding: Padding::Valid,
            dilation_rate: 1,
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            kernel_constraint: None,
            bias_constraint: None,
            bias_regularizer: None,
            name: None,
        }
    }

    /// The kernel geometry.
    pub fn config(&self) -> Conv1dConfig {
        Conv1dConfig {
            stride: self.strides,
            dilation: self.dilation_rate,
            padding: self.padding,
        }
    }
}

/// A 1D convolution layer.
pub struct Conv1D<T: Float> {
    spec: Conv1DSpec,
    name: String,
    input: Shape,
    output: Shape,
    kernel: Parameter<T>,
    bias: Option<Parameter<T>>,
    /// The input a training-mode forward keeps; backward overwrites it
    /// with the input gradient.
    input_cache: Option<Array3<T>>,
    /// The activation, applied in place, with the derivative it keeps.
    activation: InPlaceActivation<T>,
    /// Storage for the next forward's output.
    workspace: Conv1dWorkspace<T>,
}

/// Sizes a Conv1D for `input` without allocating: `filters` channels of
/// the window's output length; the kernel, the bias, and the padded input
/// the window slides over.
pub(crate) fn plan(spec: &Conv1DSpec, name: &str, input: Shape) -> Result<LayerPlan, LayerError> {
    let (channels, length) = crate::limits::signal_input(name, KIND, input)?;
    let window = spec
        .config()
        .window(length, spec.kernel_size)
        .map_err(|source| LayerError::Kernel {
            layer: name.to_string(),
            source,
        })?;
    let kernel = product(
        name,
        KIND,
        "kernel_size",
        &[spec.filters, channels, spec.kernel_size],
    )?;
    let bias = if spec.use_bias {
        spec.filters as u64
    } else {
        0
    };
    let padded = padded_length(
        name,
        KIND,
        window.input_length,
        window.pad_left,
        window.pad_right,
    )?;
    LayerPlan::sized(
        name,
        KIND,
        Shape::Signal {
            channels: spec.filters,
            length: window.output_length,
        },
        kernel.saturating_add(bias),
        product(name, KIND, "kernel_size", &[channels, padded])?,
    )
}

impl<T: Float> Conv1D<T> {
    /// Builds the layer for `input`, drawing its initial weights from `rng`.
    pub fn build(
        spec: Conv1DSpec,
        name: String,
        input: Shape,
        rng: &mut SeededRng,
    ) -> Result<Self, LayerError> {
        let output = plan(&spec, &name, input)?.output;
        let (channels, _) = crate::limits::signal_input(&name, KIND, input)?;
        if spec.filters == 0 {
            return Err(config_error(&name, KIND, "filters", "must be at least 1"));
        }
        let k = spec.kernel_size;
        let fans = Fans {
            fan_in: k * channels,
            fan_out: k * spec.filters,
        };
        let kernel = Parameter::trainable(
            "kernel",
            spec.kernel_initializer
                .sample(&[spec.filters, channels, k], fans, rng),
        )
        .regularized(spec.kernel_regularizer)
        .constrained(spec.kernel_constraint.as_ref(), &[2, 1, 0], (&name, KIND))?;
        let bias = spec
            .use_bias
            .then(|| {
                Parameter::trainable(
                    "bias",
                    spec.bias_initializer.sample(&[spec.filters], fans, rng),
                )
                .regularized(spec.bias_regularizer)
                .constrained(spec.bias_constraint.as_ref(), &[0], (&name, KIND))
            })
            .transpose()?;
        let activation = InPlaceActivation::new(spec.activation);
        Ok(Self {
            output,
            spec,
            name,
            input,
            kernel,
            bias,
            input_cache: None,
            activation,
            workspace: Conv1dWorkspace::new(),
        })
    }
}

impl<T: Float> Conv1D<T> {
    /// The convolution and its bias, before the activation, with
    /// `epilogue` (inference only) on the output rows while they are in
    /// cache. Training keeps the input for backward.
    fn convolve(
        &mut self,
        input: ArrayD<T>,
        mode: Mode,
        epilogue: Option<RowEpilogue<'_, T>>,
    ) -> Result<Array3<T>, LayerError> {
        check_input(&self.name, KIND, self.input, &input)?;
        let x = standard(fixed::<T, Ix3>(&self.name, KIND, input)?);
        let z = self.convolve_view(x.view(), mode, epilogue)?;
        if mode == Mode::Train {
            self.input_cache = Some(x);
        } else {
            // Inference keeps nothing: the input's storage takes the next
            // layer's output instead of a fresh allocation.
            self.input_cache = None;
            buffers::give_back(x);
        }
        Ok(z)
    }

    /// The inference pass of `x` (checked by the caller) with the layer's
    /// own activation and then `maps` in the convolution's epilogue, as
    /// the unfused layers apply them; keeps nothing.
    fn convolve_mapped(
        &mut self,
        x: ArrayView3<'_, T>,
        maps: &ChannelMaps<T>,
    ) -> Result<ArrayD<T>, LayerError> {
        let own = ChannelwiseMap::Activation(self.activation.activation());
        let maps = ChannelMaps::after(own, maps);
        let epilogue = |stretch: RowStretch, values: &mut [T]| maps.apply(stretch.channel, values);
        self.input_cache = None;
        Ok(self
            .convolve_view(x, Mode::Inference, Some(&epilogue))?
            .into_dyn())
    }

    /// The convolution of `x` (checked against the layer's input shape by
    /// the caller), into a pooled buffer; keeps nothing.
    fn convolve_view(
        &mut self,
        x: ArrayView3<'_, T>,
        mode: Mode,
        epilogue: Option<RowEpilogue<'_, T>>,
    ) -> Result<Array3<T>, LayerError> {
        let bias = match &self.bias {
            Some(b) => Some(view_as(&self.name, KIND, "bias", &b.value)?),
            None => None,
        };
        let kernel = view_as(&self.name, KIND, "kernel", &self.kernel.value)?;
        let out_shape = self.output.with_batch(x.dim().0);
        let mut z = buffers::array(Ix3(out_shape[0], out_shape[1], out_shape[2]));
        self.workspace.set_inference(mode == Mode::Inference);
        let config = self.spec.config();
        let workspace = &mut self.workspace;
        match epilogue {
            Some(epilogue) => {
                conv1d_forward_then(x, kernel, bias, config, workspace, z.view_mut(), epilogue)
            }
            None => conv1d_forward_into(x, kernel, bias, config, workspace, z.view_mut()),
        }
        .map_err(|source| LayerError::Kernel {
            layer: self.name.clone(),
            source,
        })?;
        Ok(z)
    }
}

impl<T: Float> Layer<T> for Conv1D<T> {
    fn name(&self) -> &str {
        &self.name
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::Conv1D(Conv1DSpec {
            name: Some(self.name.clone()),
            ..self.spec.clone()
        })
    }
    fn input_shape(&self) -> Shape {
        self.input
    }
    fn output_shape(&self) -> Shape {
        self.output
    }

    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        let z = self.convolve(input, mode, None)?;
        Ok(self.activation.forward(z.into_dyn(), mode == Mode::Train))
    }

    fn fuses_maps(&self) -> bool {
        self.activation.activation() != Activation::Softmax
    }

    fn forward_inference_then(
        &mut self,
        input: ArrayD<T>,
        maps: &ChannelMaps<T>,
    ) -> Result<ArrayD<T>, LayerError> {
        if !self.fuses_maps() {
            // Softmax mixes a position's channels: it cannot run per row.
            let z = self.forward(input, Mode::Inference)?;
            return apply_by_rows(z, self.output, maps);
        }
        check_input(&self.name, KIND, self.input, &input)?;
        let x = standard(fixed::<T, Ix3>(&self.name, KIND, input)?);
        let y = self.convolve_mapped(x.view(), maps);
        // The input's storage takes the next layer's output.
        buffers::give_back(x);
        y
    }

    fn forward_inference_borrowed(
        &mut self,
        input: &ArrayD<T>,
        maps: &ChannelMaps<T>,
    ) -> Result<ArrayD<T>, LayerError> {
        check_input(&self.name, KIND, self.input, input)?;
        match input.view().into_dimensionality::<Ix3>() {
            Ok(x) if self.fuses_maps() && x.is_standard_layout() => self.convolve_mapped(x, maps),
            // Softmax, or an input not laid out in rows: on a copy.
            _ => self.forward_inference_then(buffers::copy_of(input), maps),
        }
    }

    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let grad = self.activation.backward(&self.name, KIND, grad_output)?;
        let mut input = take_cache(&self.name, &mut self.input_cache)?;
        let grad = fixed::<T, Ix3>(&self.name, KIND, grad)?;
        let config = self.spec.config();
        let kernel = view_as(&self.name, KIND, "kernel", &self.kernel.value)?;
        let grad_kernel = view_mut_as(&self.name, KIND, "kernel", &mut self.kernel.grad)?;
        let grad_bias = match &mut self.bias {
            Some(b) => Some(view_mut_as(&self.name, KIND, "bias", &mut b.grad)?),
            None => None,
        };
        conv1d_backward_in_place(
            input.view_mut(),
            kernel,
            grad.view(),
            config,
            grad_kernel,
            grad_bias,
            &mut self.workspace,
        )
        .map_err(|source| LayerError::Kernel {
            layer: self.name.clone(),
            source,
        })?;
        buffers::give_back(grad);
        Ok(input.into_dyn())
    }

    fn parameters(&self) -> Vec<&Parameter<T>> {
        std::iter::once(&self.kernel)
            .chain(self.bias.as_ref())
            .collect()
    }
    fn parameters_mut(&mut self) -> Vec<&mut Parameter<T>> {
        std::iter::once(&mut self.kernel)
            .chain(self.bias.as_mut())
            .collect()
    }
    fn replays(&self) -> bool {
        true
    }
    fn reach(&self) -> Option<Reach> {
        Some(Reach {
            size: (self.spec.kernel_size - 1) * self.spec.dilation_rate + 1,
            stride: self.spec.strides,
        })
    }
    fn keeps_input(&self) -> bool {
        true
    }
    fn take_kept_input(&mut self) -> Option<ArrayD<T>> {
        self.input_cache.take().map(|x| x.into_dyn())
    }
    fn restore_kept_input(&mut self, input: ArrayD<T>) -> Result<(), LayerError> {
        check_input(&self.name, KIND, self.input, &input)?;
        self.input_cache = Some(standard(fixed::<T, Ix3>(&self.name, KIND, input)?));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_layer, GradCheck};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Every gradient of Conv1D, over strides, dilations, the three paddings,
        /// even and odd kernels, with and without bias and activation.
        #[test]
        fn gradients_match_finite_differences(
            channels in 1usize..4,
            filters in 1usize..4,
            length in 4usize..14,
            kernel_size in 1usize..6,
            strides in 1usize..4,
            dilation_rate in 1usize..3,
            padding in prop_oneof![Just(Padding::Valid), Just(Padding::Same), Just(Padding::Causal)],
            use_bias in any::<bool>(),
            tanh in any::<bool>(),
            batch in 1usize..3,
            seed in any::<u64>(),
        ) {
            prop_assume!(padding != Padding::Valid || (kernel_size - 1) * dilation_rate < length);
            let spec = Conv1DSpec {
                strides,
                dilation_rate,
                padding,
                use_bias,
                activation: if tanh { Activation::Tanh } else { Activation::Linear },
                bias_initializer: Initializer::GlorotUniform,
                ..Conv1DSpec::new(filters, kernel_size)
            };
            let input = Shape::Signal { channels, length };
            let mut layer = Conv1D::<f64>::build(spec, "c".into(), input, &mut SeededRng::new(seed, 0))
                .expect("geometry was filtered to fit");
            let report = check_layer(&mut layer, batch, Mode::Train, seed, GradCheck::smooth())
                .map_err(TestCaseError::fail)?;
            prop_assert!(report.checked > 0);
        }
    }

    #[test]
    fn the_seed_layer_has_keras_parameter_counts_and_shape() {
        let spec = Conv1DSpec {
            padding: Padding::Same,
            ..Conv1DSpec::new(64, 70)
        };
        let layer = Conv1D::<f32>::build(
            spec,
            "ConvLayer2".into(),
            Shape::Signal {
                channels: 32,
                length: 1040,
            },
            &mut SeededRng::new(0, 0),
        )
        .expect("fits");
        let count: usize = layer.parameters().iter().map(|p| p.value.len()).sum();
        assert_eq!(count, 143_424);
        assert_eq!(
            layer.output_shape(),
            Shape::Signal {
                channels: 64,
                length: 1040
            }
        );
    }

    #[test]
    fn features_input_is_refused_at_build_time_naming_the_layer() {
        let err = Conv1D::<f32>::build(
            Conv1DSpec::new(4, 3),
            "late_conv".into(),
            Shape::Features(100),
            &mut SeededRng::new(0, 0),
        )
        .err()
        .expect("a flat input cannot be convolved");
        let text = err.to_string();
        assert!(
            text.contains("late_conv") && text.contains("(None, 100)"),
            "{text}"
        );
    }
}

//! `Dense`: Keras's fully connected layer (PyTorch: `nn.Linear`).
//!
//! The kernel is stored as `[units, in_features]` (PyTorch's layout); Keras
//! stores `[in_features, units]`.
//!
//! On a signal (no Flatten before it) Keras's Dense acts on the last axis,
//! the channels, at each position: `(batch, steps, channels)` in,
//! `(batch, steps, units)` out, one kernel shared by every step (PyTorch:
//! `nn.Conv1d(channels, units, 1)`). kymo does the same, so a Keras model
//! written that way loads as the model Keras runs, and the doctor can say
//! what its per-position output means for a per-signal target.

use kymo_tensor::{
    matmul, single_unit_backward_in_place, single_unit_forward, single_unit_kernel_gradient, Fans,
    Float, Initializer, MatRef, SeededRng,
};
use ndarray::{Array2, ArrayD, Ix2};
use serde::{Deserialize, Serialize};

use crate::activation::InPlaceActivation;
use crate::layer::{check_input, config_error, fixed, standard, take_cache};
use crate::limits::{product, LayerPlan};
use crate::{
    Activation, Constraint, Layer, LayerError, LayerSpec, Mode, Parameter, Reach, Regularizer,
    Shape,
};

const KIND: &str = "Dense";

/// Configuration of a `Dense` layer, with Keras's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseSpec {
    /// Number of outputs.
    pub units: usize,
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

fn yes() -> bool {
    true
}
fn zeros_init() -> Initializer {
    Initializer::Zeros
}

impl DenseSpec {
    /// A Dense layer with Keras's defaults.
    pub fn new(units: usize) -> Self {
        Self {
            units,
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
}

/// A fully connected layer.
pub struct Dense<T> {
    spec: DenseSpec,
    name: String,
    in_features: usize,
    /// The positions of a signal input, each mapped on its own; `None`
    /// for flat features.
    steps: Option<usize>,
    kernel: Parameter<T>,
    bias: Option<Parameter<T>>,
    /// The input a training-mode forward keeps; backward overwrites it
    /// with the input gradient.
    input_cache: Option<Array2<T>>,
    /// The activation, applied in place, with the derivative it keeps.
    activation: InPlaceActivation<T>,
}

/// Sizes a Dense layer for `input` without allocating: flat features in,
/// `units` out (a signal: its channels in and `units` channels out at each
/// position), the kernel and the bias.
pub(crate) fn plan(spec: &DenseSpec, name: &str, input: Shape) -> Result<LayerPlan, LayerError> {
    let (features, output) = match input {
        Shape::Features(features) => (features, Shape::Features(spec.units)),
        Shape::Signal { channels, length } => (
            channels,
            Shape::Signal {
                channels: spec.units,
                length,
            },
        ),
    };
    let kernel = product(name, KIND, "units", &[spec.units, features])?;
    let bias = if spec.use_bias { spec.units as u64 } else { 0 };
    LayerPlan::sized(name, KIND, output, kernel.saturating_add(bias), 0)
}

impl<T: Float> Dense<T> {
    /// Builds the layer for a flat input (or a signal, mapped position by
    /// position), drawing weights from `rng`.
    pub fn build(
        spec: DenseSpec,
        name: String,
        input: Shape,
        rng: &mut SeededRng,
    ) -> Result<Self, LayerError> {
        plan(&spec, &name, input)?;
        let (in_features, steps) = match input {
            Shape::Features(features) => (features, None),
            Shape::Signal { channels, length } => (channels, Some(length)),
        };
        if spec.units == 0 {
            return Err(config_error(&name, KIND, "units", "must be at least 1"));
        }
        let fans = Fans {
            fan_in: in_features,
            fan_out: spec.units,
        };
        let kernel = Parameter::trainable(
            "kernel",
            spec.kernel_initializer
                .sample(&[spec.units, in_features], fans, rng),
        )
        .regularized(spec.kernel_regularizer)
        .constrained(spec.kernel_constraint.as_ref(), &[1, 0], (&name, KIND))?;
        let bias = spec
            .use_bias
            .then(|| {
                Parameter::trainable(
                    "bias",
                    spec.bias_initializer.sample(&[spec.units], fans, rng),
                )
                .regularized(spec.bias_regularizer)
                .constrained(spec.bias_constraint.as_ref(), &[0], (&name, KIND))
            })
            .transpose()?;
        Ok(Self {
            activation: InPlaceActivation::new(spec.activation),
            spec,
            name,
            in_features,
            steps,
            kernel,
            bias,
            input_cache: None,
        })
    }

    fn kernel_slice(&self) -> Result<&[T], LayerError> {
        self.kernel
            .value
            .as_slice()
            .ok_or_else(|| config_error(&self.name, KIND, "kernel", "kernel is not contiguous"))
    }
}

impl<T: Float> Layer<T> for Dense<T> {
    fn name(&self) -> &str {
        &self.name
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::Dense(DenseSpec {
            name: Some(self.name.clone()),
            ..self.spec.clone()
        })
    }
    fn input_shape(&self) -> Shape {
        match self.steps {
            None => Shape::Features(self.in_features),
            Some(length) => Shape::Signal {
                channels: self.in_features,
                length,
            },
        }
    }
    fn output_shape(&self) -> Shape {
        match self.steps {
            None => Shape::Features(self.spec.units),
            Some(length) => Shape::Signal {
                channels: self.spec.units,
                length,
            },
        }
    }

    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        let batch = check_input(&self.name, KIND, self.input_shape(), &input)?;
        let Some(steps) = self.steps else {
            let x = standard(fixed::<T, Ix2>(&self.name, KIND, input)?);
            return self.forward_rows(x, batch, mode);
        };
        // [B, C, L] -> rows of channels [B * L, C], mapped, -> [B, U, L].
        let rows = to_rows(&self.name, input, self.in_features)?;
        let out = self.forward_rows(rows, batch * steps, mode)?;
        from_rows(&self.name, out, batch, steps)
    }

    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let Some(steps) = self.steps else {
            return self.backward_rows(grad_output);
        };
        let batch = grad_output.shape().first().copied().unwrap_or(0);
        let rows = to_rows(&self.name, grad_output, self.spec.units)?;
        let grad = self.backward_rows(rows.into_dyn())?;
        from_rows(&self.name, grad, batch, steps)
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
        None
    }
}

/// `[B, C, L]` as `[B * L, C]`: each position's channels, one row each.
fn to_rows<T: Float>(
    name: &str,
    signal: ArrayD<T>,
    channels: usize,
) -> Result<Array2<T>, LayerError> {
    let signal = fixed::<T, ndarray::Ix3>(name, KIND, signal)?;
    let (batch, _, steps) = signal.dim();
    let rows = signal
        .permuted_axes([0, 2, 1])
        .as_standard_layout()
        .into_owned();
    rows.into_shape_with_order((batch * steps, channels))
        .map_err(|_| config_error(name, KIND, "input", format!("expected {channels} channels")))
}

/// `[B * L, U]` rows back as the signal `[B, U, L]`.
fn from_rows<T: Float>(
    name: &str,
    rows: ArrayD<T>,
    batch: usize,
    steps: usize,
) -> Result<ArrayD<T>, LayerError> {
    let units = rows.len() / (batch * steps).max(1);
    let rows = standard(rows)
        .into_shape_with_order((batch, steps, units))
        .map_err(|_| config_error(name, KIND, "output", "rows do not fill the signal"))?;
    Ok(rows
        .permuted_axes([0, 2, 1])
        .as_standard_layout()
        .into_owned()
        .into_dyn())
}

impl<T: Float> Dense<T> {
    /// The map of `x`, `batch` rows of features, with its activation; kept
    /// for backward in training.
    fn forward_rows(
        &mut self,
        x: Array2<T>,
        batch: usize,
        mode: Mode,
    ) -> Result<ArrayD<T>, LayerError> {
        let units = self.spec.units;
        let mut z = Array2::<T>::zeros((batch, units));
        if let Some(bias) = &self.bias {
            for mut row in z.rows_mut() {
                row.assign(
                    &bias
                        .value
                        .view()
                        .into_shape_with_order(units)
                        .map_err(|_| {
                            config_error(
                                &self.name,
                                KIND,
                                "bias",
                                format!("expected {units} values"),
                            )
                        })?,
                );
            }
        }
        let x_mat = MatRef::row_major(
            x.as_slice()
                .expect("invariant: standard layout is contiguous"),
            batch,
            self.in_features,
        );
        let w = self.kernel_slice()?;
        let out = z
            .as_slice_mut()
            .expect("invariant: fresh arrays are contiguous");
        let accumulate = self.bias.is_some();
        // One unit: a matrix times a vector, split across threads by rows.
        let product = if units == 1 {
            single_unit_forward(x_mat.data, w, out, accumulate)
        } else {
            let w_mat = MatRef::row_major(w, units, self.in_features);
            matmul(out, x_mat, w_mat.t(), accumulate)
        };
        product.map_err(|source| LayerError::Kernel {
            layer: self.name.clone(),
            source,
        })?;
        let train = mode == Mode::Train;
        if train {
            self.input_cache = Some(x);
        } else {
            // Inference keeps nothing: the input goes back to the pool, so
            // the next batch's activations reuse it instead of faulting in
            // and zeroing a new buffer (3% of the answer's inference).
            self.input_cache = None;
            crate::buffers::give_back(x);
        }
        Ok(self.activation.forward(z.into_dyn(), train))
    }

    /// The pending backward of a one-unit layer on features, but for its
    /// input gradient: adds the kernel's and the bias's gradients, and
    /// returns the gradient of the pre-activation output, one per sample
    /// (`dy`), and the kernel (`w`), whose products `dy[b] · w[i]` are the
    /// input gradient [`Layer::backward`] would return, for a caller that
    /// makes them where it reads them (`crate::fusion`'s unit head).
    pub(crate) fn backward_factors(
        &mut self,
        grad_output: ArrayD<T>,
    ) -> Result<(Vec<T>, &[T]), LayerError> {
        if self.spec.units != 1 || self.steps.is_some() {
            return Err(config_error(
                &self.name,
                KIND,
                "units",
                "only a one-unit layer on features has a rank-one input gradient",
            ));
        }
        let (grad, input) = self.backward_start(grad_output)?;
        let dy = grad
            .as_slice()
            .expect("invariant: standard layout is contiguous");
        let x = input
            .as_slice()
            .expect("invariant: the cached input is standard layout");
        let grad_kernel = self.kernel.grad.as_slice_mut().ok_or_else(|| {
            config_error(&self.name, KIND, "kernel", "gradient is not contiguous")
        })?;
        single_unit_kernel_gradient(x, dy, grad_kernel).map_err(|source| LayerError::Kernel {
            layer: self.name.clone(),
            source,
        })?;
        let dy = dy.to_vec();
        crate::buffers::give_back(input);
        Ok((dy, self.kernel_slice()?))
    }

    /// What every backward pass starts with: the gradient through the
    /// activation (standard layout), the input the forward pass kept, and
    /// the bias's gradient added.
    fn backward_start(
        &mut self,
        grad_output: ArrayD<T>,
    ) -> Result<(ArrayD<T>, Array2<T>), LayerError> {
        let grad = self.activation.backward(&self.name, KIND, grad_output)?;
        let input = take_cache(&self.name, &mut self.input_cache)?;
        let (batch, units) = (input.dim().0, self.spec.units);
        let grad = standard(grad);
        let dy = grad
            .as_slice()
            .expect("invariant: standard layout is contiguous");
        if let Some(bias) = &mut self.bias {
            for (j, g) in bias.grad.iter_mut().enumerate() {
                *g += (0..batch).map(|b| dy[b * units + j]).sum::<T>();
            }
        }
        Ok((grad, input))
    }

    /// The gradient of [`Self::forward_rows`]'s input from its output's.
    fn backward_rows(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let (grad, mut input) = self.backward_start(grad_output)?;
        let batch = input.dim().0;
        let units = self.spec.units;
        let dy = grad
            .as_slice()
            .expect("invariant: standard layout is contiguous");
        let dy_mat = MatRef::row_major(dy, batch, units);
        let kernel_error = |source| LayerError::Kernel {
            layer: self.name.clone(),
            source,
        };
        let grad_kernel = self.kernel.grad.as_slice_mut().ok_or_else(|| {
            config_error(&self.name, KIND, "kernel", "gradient is not contiguous")
        })?;
        let x = input
            .as_slice_mut()
            .expect("invariant: the cached input is standard layout");
        let w =
            self.kernel.value.as_slice().ok_or_else(|| {
                config_error(&self.name, KIND, "kernel", "kernel is not contiguous")
            })?;
        if units == 1 {
            // Both products in one pass over X, which it overwrites.
            single_unit_backward_in_place(x, dy, w, grad_kernel).map_err(kernel_error)?;
            return Ok(input.into_dyn());
        }
        // dW[units, in] += dYᵀ[units, B] · X[B, in], before X is overwritten.
        matmul(
            grad_kernel,
            dy_mat.t(),
            MatRef::row_major(x, batch, self.in_features),
            true,
        )
        .map_err(kernel_error)?;
        // dX[B, in] = dY[B, units] · W[units, in], into the input's storage.
        let w_mat = MatRef::row_major(w, units, self.in_features);
        matmul(x, dy_mat, w_mat, false).map_err(kernel_error)?;
        Ok(input.into_dyn())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_layer, GradCheck};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn gradients_match_finite_differences(
            in_features in 1usize..12,
            units in 1usize..6,
            batch in 1usize..4,
            use_bias in any::<bool>(),
            sigmoid in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let spec = DenseSpec {
                use_bias,
                activation: if sigmoid { Activation::Sigmoid } else { Activation::Linear },
                bias_initializer: Initializer::GlorotUniform,
                ..DenseSpec::new(units)
            };
            let mut layer = Dense::<f64>::build(spec, "d".into(), Shape::Features(in_features), &mut SeededRng::new(seed, 1))
                .expect("valid");
            check_layer(&mut layer, batch, Mode::Train, seed, GradCheck::smooth()).map_err(TestCaseError::fail)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn on_a_signal_gradients_match_finite_differences(
            channels in 1usize..4,
            length in 1usize..6,
            units in 1usize..4,
            batch in 1usize..3,
            use_bias in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let spec = DenseSpec { use_bias, activation: Activation::Tanh, ..DenseSpec::new(units) };
            let input = Shape::Signal { channels, length };
            let mut layer = Dense::<f64>::build(spec, "d".into(), input, &mut SeededRng::new(seed, 1))
                .expect("valid");
            prop_assert_eq!(layer.output_shape(), Shape::Signal { channels: units, length });
            check_layer(&mut layer, batch, Mode::Train, seed, GradCheck::smooth()).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn on_a_signal_each_position_is_mapped_by_the_same_kernel() {
        // Two channels, three positions; the kernel sums the channels and
        // the bias is 10: position t gives x[0, t] + x[1, t] + 10.
        let input = Shape::Signal {
            channels: 2,
            length: 3,
        };
        let mut layer = Dense::<f64>::build(
            DenseSpec::new(1),
            "d".into(),
            input,
            &mut SeededRng::new(0, 0),
        )
        .expect("valid");
        layer.kernel.value.fill(1.0);
        if let Some(bias) = &mut layer.bias {
            bias.value.fill(10.0);
        }
        let x = ArrayD::from_shape_vec(vec![1, 2, 3], vec![1.0, 2.0, 3.0, 40.0, 50.0, 60.0])
            .expect("shape");
        let y = layer.forward(x, Mode::Inference).expect("maps");
        assert_eq!(y.shape(), [1, 1, 3]);
        assert_eq!(y.as_slice().expect("standard"), [51.0, 62.0, 73.0]);
    }

    #[test]
    fn computes_x_times_kernel_transposed_plus_bias() {
        let mut layer = Dense::<f64>::build(
            DenseSpec::new(2),
            "d".into(),
            Shape::Features(3),
            &mut SeededRng::new(0, 0),
        )
        .expect("valid");
        let mut params = layer.parameters_mut();
        params[0].value =
            ArrayD::from_shape_vec(vec![2, 3], vec![1.0, 2.0, 3.0, -1.0, 0.0, 1.0]).expect("shape");
        params[1].value = ArrayD::from_shape_vec(vec![2], vec![0.5, -0.5]).expect("shape");
        let x = ArrayD::from_shape_vec(vec![1, 3], vec![1.0, 1.0, 2.0]).expect("shape");
        let y = layer.forward(x, Mode::Inference).expect("fits");
        assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![9.5, 0.5]);
    }

    /// An inference pass hands its input's storage back to the buffer
    /// pool, where the next activations of its size find it; training keeps
    /// it for backward. (f64 and an odd length: no other test gives such a
    /// buffer back. The pool is the process's, so a test running beside
    /// this one may take or evict the buffer between the give-back and the
    /// take: inference gets five tries, any one of which shows it.)
    #[test]
    fn inference_gives_its_input_back_to_the_pool() {
        const FEATURES: usize = 12_347;
        let mut layer = Dense::<f64>::build(
            DenseSpec::new(1),
            "d".into(),
            Shape::Features(FEATURES),
            &mut SeededRng::new(0, 0),
        )
        .expect("valid");
        // Each buffer taken stays taken, so the pool holds only what the
        // layer gave back.
        let mut taken = Vec::new();
        let mut pass_then_take = |mode: Mode| {
            layer
                .forward(ArrayD::from_elem(vec![1, FEATURES], 0.5), mode)
                .expect("fits");
            // A pooled buffer keeps its old values; a new one is zeros
            // (the allocator may well hand back the freed address).
            let next = crate::buffers::array::<f64, _>(ndarray::Ix2(1, FEATURES));
            let reused = next.iter().all(|&v| v == 0.5);
            taken.push(next);
            reused
        };
        assert!(
            (0..5).any(|_| pass_then_take(Mode::Inference)),
            "inference gave its input back"
        );
        assert!(!pass_then_take(Mode::Train), "training keeps its input");
    }
}

//! `Dense`: Keras's fully connected layer (PyTorch: `nn.Linear`).
//!
//! The kernel is stored as `[units, in_features]` (PyTorch's layout); Keras
//! stores `[in_features, units]`.

use kymo_tensor::{
    matmul, single_unit_backward_in_place, single_unit_forward, Fans, Float, Initializer, MatRef,
    SeededRng,
};
use ndarray::{Array2, ArrayD, Ix2};
use serde::{Deserialize, Serialize};

use crate::activation::InPlaceActivation;
use crate::layer::{check_input, config_error, fixed, standard, take_cache};
use crate::limits::{product, LayerPlan};
use crate::{Activation, Layer, LayerError, LayerSpec, Mode, Parameter, Reach, Regularizer, Shape};

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
    kernel: Parameter<T>,
    bias: Option<Parameter<T>>,
    /// The input a training-mode forward keeps; backward overwrites it
    /// with the input gradient.
    input_cache: Option<Array2<T>>,
    /// The activation, applied in place, with the derivative it keeps.
    activation: InPlaceActivation<T>,
}

/// Sizes a Dense layer for `input` without allocating: flat features in,
/// `units` out, the kernel and the bias.
pub(crate) fn plan(spec: &DenseSpec, name: &str, input: Shape) -> Result<LayerPlan, LayerError> {
    let Shape::Features(features) = input else {
        return Err(LayerError::InputShape {
            layer: name.to_string(),
            kind: KIND,
            expected: "flat features (None, n): add a Flatten or a global pooling before Dense"
                .into(),
            found: input.to_string(),
        });
    };
    let kernel = product(name, KIND, "units", &[spec.units, features])?;
    let bias = if spec.use_bias { spec.units as u64 } else { 0 };
    LayerPlan::sized(
        name,
        KIND,
        Shape::Features(spec.units),
        kernel.saturating_add(bias),
        0,
    )
}

impl<T: Float> Dense<T> {
    /// Builds the layer for a flat input, drawing weights from `rng`.
    pub fn build(
        spec: DenseSpec,
        name: String,
        input: Shape,
        rng: &mut SeededRng,
    ) -> Result<Self, LayerError> {
        plan(&spec, &name, input)?;
        let in_features = input.size();
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
        .regularized(spec.kernel_regularizer);
        let bias = spec.use_bias.then(|| {
            Parameter::trainable(
                "bias",
                spec.bias_initializer.sample(&[spec.units], fans, rng),
            )
            .regularized(spec.bias_regularizer)
        });
        Ok(Self {
            activation: InPlaceActivation::new(spec.activation),
            spec,
            name,
            in_features,
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
        Shape::Features(self.in_features)
    }
    fn output_shape(&self) -> Shape {
        Shape::Features(self.spec.units)
    }

    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        let batch = check_input(&self.name, KIND, self.input_shape(), &input)?;
        let x = standard(fixed::<T, Ix2>(&self.name, KIND, input)?);
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
        self.input_cache = train.then_some(x);
        Ok(self.activation.forward(z.into_dyn(), train))
    }

    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let grad = self.activation.backward(&self.name, KIND, grad_output)?;
        let mut input = take_cache(&self.name, &mut self.input_cache)?;
        let batch = input.dim().0;
        let units = self.spec.units;
        let grad = standard(grad);
        let dy = grad
            .as_slice()
            .expect("invariant: standard layout is contiguous");
        let dy_mat = MatRef::row_major(dy, batch, units);
        let kernel_error = |source| LayerError::Kernel {
            layer: self.name.clone(),
            source,
        };
        if let Some(bias) = &mut self.bias {
            for (j, g) in bias.grad.iter_mut().enumerate() {
                *g += (0..batch).map(|b| dy[b * units + j]).sum::<T>();
            }
        }
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
}

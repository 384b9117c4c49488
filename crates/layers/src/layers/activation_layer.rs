//! The elementwise activation layers `ReLU`, `LeakyReLU`, `ELU`, `Tanh` and
//! `Sigmoid` (PyTorch: `nn.ReLU`, `nn.LeakyReLU`, ...): one layer type, since
//! they differ only in the function, which [`Activation`] holds.
//!
//! Keras 3's `LeakyReLU` defaults `negative_slope` to 0.3 (PyTorch: 0.01);
//! the seed's `alpha=0.1` is Keras 2's name for the same argument.

use kymo_tensor::Float;
use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

use crate::activation::InPlaceActivation;
use crate::layer::check_input;
use crate::{Activation, ChannelwiseMap, Layer, LayerError, LayerSpec, Mode, Recompute, Shape};

/// Spec of a layer with no configuration but its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NameOnlySpec {
    /// Optional layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Spec of `LeakyReLU`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeakyReLUSpec {
    /// Slope below zero (Keras 3 default 0.3; Keras 2 called it `alpha`).
    #[serde(default = "default_negative_slope", alias = "alpha")]
    pub negative_slope: f64,
    /// Optional layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn default_negative_slope() -> f64 {
    0.3
}

impl Default for LeakyReLUSpec {
    fn default() -> Self {
        Self {
            negative_slope: default_negative_slope(),
            name: None,
        }
    }
}

/// Spec of `ELU`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ELUSpec {
    /// Scale of the negative part (Keras default 1.0).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Optional layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn default_alpha() -> f64 {
    1.0
}

impl Default for ELUSpec {
    fn default() -> Self {
        Self {
            alpha: default_alpha(),
            name: None,
        }
    }
}

/// Spec of Keras's `Activation(name)` layer: the function by its
/// `activation=` spelling (`relu`, `tanh`, `linear`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationSpec {
    /// The function.
    pub activation: Activation,
    /// Optional layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An elementwise activation layer.
pub struct ActivationLayer<T> {
    kind: &'static str,
    name: String,
    shape: Shape,
    /// Applies the function in place and keeps its derivative for backward.
    function: InPlaceActivation<T>,
}

impl<T: Float> ActivationLayer<T> {
    /// Builds the layer for `spec`, which must be one of the activation specs.
    pub fn build(spec: &LayerSpec, name: String, shape: Shape) -> Option<Self> {
        let (activation, kind) = match spec {
            LayerSpec::ReLU(_) => (Activation::Relu, "ReLU"),
            LayerSpec::LeakyReLU(s) => (
                Activation::LeakyRelu {
                    negative_slope: s.negative_slope,
                },
                "LeakyReLU",
            ),
            LayerSpec::ELU(s) => (Activation::Elu { alpha: s.alpha }, "ELU"),
            LayerSpec::Tanh(_) => (Activation::Tanh, "Tanh"),
            LayerSpec::Sigmoid(_) => (Activation::Sigmoid, "Sigmoid"),
            LayerSpec::Activation(s) => (s.activation, "Activation"),
            _ => return None,
        };
        Some(Self::new(activation, kind, name, shape))
    }

    /// The layer of `activation`, reported as Keras class `kind`.
    pub(crate) fn new(
        activation: Activation,
        kind: &'static str,
        name: String,
        shape: Shape,
    ) -> Self {
        Self {
            kind,
            name,
            shape,
            function: InPlaceActivation::new(activation),
        }
    }
}

impl<T: Float> Layer<T> for ActivationLayer<T> {
    fn name(&self) -> &str {
        &self.name
    }
    fn inference_map(&self) -> Option<ChannelwiseMap<T>> {
        // Softmax mixes a position's channels: no map of one channel.
        let activation = self.function.activation();
        (activation != Activation::Softmax).then_some(ChannelwiseMap::Activation(activation))
    }
    fn spec(&self) -> LayerSpec {
        let name = Some(self.name.clone());
        if self.kind == "Activation" {
            return LayerSpec::Activation(ActivationSpec {
                activation: self.function.activation(),
                name,
            });
        }
        match self.function.activation() {
            Activation::LeakyRelu { negative_slope } => LayerSpec::LeakyReLU(LeakyReLUSpec {
                negative_slope,
                name,
            }),
            Activation::Elu { alpha } => LayerSpec::ELU(ELUSpec { alpha, name }),
            Activation::Tanh => LayerSpec::Tanh(NameOnlySpec { name }),
            Activation::Sigmoid => LayerSpec::Sigmoid(NameOnlySpec { name }),
            Activation::Relu | Activation::Linear => LayerSpec::ReLU(NameOnlySpec { name }),
            // Softmax has no layer of its own here: Keras's `Softmax()` and
            // `Activation('softmax')` both read as this.
            other @ (Activation::Softmax
            | Activation::Selu
            | Activation::Silu
            | Activation::Gelu
            | Activation::Softplus) => LayerSpec::Activation(ActivationSpec {
                activation: other,
                name,
            }),
        }
    }
    fn input_shape(&self) -> Shape {
        self.shape
    }
    fn output_shape(&self) -> Shape {
        self.shape
    }
    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        check_input(&self.name, self.kind, self.shape, &input)?;
        Ok(self.function.forward(input, mode == Mode::Train))
    }
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        self.function.backward(&self.name, self.kind, grad_output)
    }
    fn drop_kept(&mut self) -> bool {
        self.function.drop_mask()
    }
    fn restore_kept_input(&mut self, input: ArrayD<T>) -> Result<(), LayerError> {
        check_input(&self.name, self.kind, self.shape, &input)?;
        self.function.rebuild_mask(input);
        Ok(())
    }
    fn replays(&self) -> bool {
        true
    }
    fn recompute(&self) -> Recompute {
        if self.function.reapplies() {
            Recompute::FromInput
        } else {
            Recompute::Never
        }
    }
    fn recompute_output(&self, input: Option<ArrayD<T>>) -> Result<ArrayD<T>, LayerError> {
        let missing = || LayerError::Recompute {
            layer: self.name.clone(),
            reason: "a softmax's output is not recomputed, and others need their input",
        };
        let input = input.ok_or_else(missing)?;
        check_input(&self.name, self.kind, self.shape, &input)?;
        self.function.reapply(input).ok_or_else(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_layer, GradCheck, InputDraw};
    use proptest::prelude::*;

    fn all_specs(slope: f64, alpha: f64) -> Vec<LayerSpec> {
        vec![
            LayerSpec::ReLU(NameOnlySpec::default()),
            LayerSpec::LeakyReLU(LeakyReLUSpec {
                negative_slope: slope,
                name: None,
            }),
            LayerSpec::ELU(ELUSpec { alpha, name: None }),
            LayerSpec::Tanh(NameOnlySpec::default()),
            LayerSpec::Sigmoid(NameOnlySpec::default()),
            LayerSpec::Activation(ActivationSpec {
                activation: Activation::Elu { alpha },
                name: None,
            }),
            LayerSpec::Activation(ActivationSpec {
                activation: Activation::Linear,
                name: None,
            }),
            LayerSpec::Activation(ActivationSpec {
                activation: Activation::Selu,
                name: None,
            }),
            LayerSpec::Activation(ActivationSpec {
                activation: Activation::Silu,
                name: None,
            }),
            LayerSpec::Activation(ActivationSpec {
                activation: Activation::Gelu,
                name: None,
            }),
            LayerSpec::Activation(ActivationSpec {
                activation: Activation::Softplus,
                name: None,
            }),
            LayerSpec::Activation(ActivationSpec {
                activation: Activation::Softmax,
                name: None,
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn gradients_match_finite_differences(
            channels in 1usize..4,
            length in 1usize..10,
            slope in 0.01f64..0.5,
            alpha in 0.1f64..2.0,
            seed in any::<u64>(),
        ) {
            for spec in all_specs(slope, alpha) {
                let shape = Shape::Signal { channels, length };
                let mut layer = ActivationLayer::<f64>::build(&spec, "a".into(), shape).expect("activation spec");
                // Keep inputs 0.01 from the kink of ReLU-like functions.
                check_layer(&mut layer, 2, Mode::Train, seed, GradCheck::with_draw(InputDraw::AwayFromZero(0.01)))
                    .map_err(|e| TestCaseError::fail(format!("{spec:?}: {e}")))?;
            }
        }
    }

    #[test]
    fn activation_by_name_round_trips_its_spec() {
        let spec: LayerSpec =
            serde_json::from_str(r#"{"type":"Activation","activation":"relu","name":"act"}"#)
                .expect("Keras spelling");
        let layer = ActivationLayer::<f32>::build(&spec, "act".into(), Shape::Features(3))
            .expect("activation spec");
        assert_eq!(Layer::<f32>::spec(&layer), spec);
    }

    #[test]
    fn softmax_normalizes_over_channels_at_each_position() {
        let spec = LayerSpec::Activation(ActivationSpec {
            activation: Activation::Softmax,
            name: None,
        });
        let shape = Shape::Signal {
            channels: 3,
            length: 2,
        };
        let mut layer = ActivationLayer::<f64>::build(&spec, "s".into(), shape).expect("builds");
        // Position 0 holds logits 0, 1, 2; position 1 holds 1000 three
        // times (no overflow: the maximum is subtracted first).
        let input =
            ArrayD::from_shape_vec(vec![1, 3, 2], vec![0.0, 1000.0, 1.0, 1000.0, 2.0, 1000.0])
                .expect("shape");
        let output = layer.forward(input, Mode::Inference).expect("runs");
        let total = 1.0 + 1f64.exp() + 2f64.exp();
        for (k, expected) in [1.0 / total, 1f64.exp() / total, 2f64.exp() / total]
            .iter()
            .enumerate()
        {
            assert!((output[[0, k, 0]] - expected).abs() < 1e-15);
            assert!((output[[0, k, 1]] - 1.0 / 3.0).abs() < 1e-15);
        }
    }

    #[test]
    fn leaky_relu_defaults_to_keras_three_slope() {
        let spec: LeakyReLUSpec = serde_json::from_str("{}").expect("all fields default");
        assert_eq!(spec.negative_slope, 0.3);
        let keras2: LeakyReLUSpec = serde_json::from_str(r#"{"alpha":0.1}"#).expect("Keras 2 name");
        assert_eq!(keras2.negative_slope, 0.1);
    }
}

//! `LayerNormalization` over the channel axis, Keras's default `axis=-1`:
//! each sample's values at one position (a signal's channels, or a flat
//! input's features) are normalized by their own mean and biased variance,
//! then scaled by `gamma` and shifted by `beta`, one of each per channel.
//! Unlike BatchNormalization it has no batch statistics, so training and
//! inference compute the same thing. Keras's epsilon default is 1e-3
//! (PyTorch's `nn.LayerNorm` 1e-5, and it normalizes the trailing axes,
//! which in NCL is the length: an exported model refuses it on a signal).
//!
//! Each position's mean and variance are summed in f64 and rounded once,
//! as BatchNormalization's are.

use kymo_tensor::Float;
use ndarray::{s, Array2, Array3, ArrayD};
use serde::{Deserialize, Serialize};

use crate::layer::{
    channels_by_length, check_grad, check_input, config_error, in_layer_shape, take_cache,
};
use crate::{Layer, LayerError, LayerSpec, Mode, Parameter, Shape};

const KIND: &str = "LayerNormalization";

/// Configuration of a `LayerNormalization` layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerNormalizationSpec {
    /// Added to the variance before the square root (default 1e-3).
    #[serde(default = "default_epsilon")]
    pub epsilon: f64,
    /// Optional layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn default_epsilon() -> f64 {
    1e-3
}

impl Default for LayerNormalizationSpec {
    fn default() -> Self {
        Self {
            epsilon: default_epsilon(),
            name: None,
        }
    }
}

/// What backward needs: the normalized input and each position's
/// `1 / sqrt(variance + epsilon)`.
struct Cache<T> {
    normalized: Array3<T>,
    inv_std: Array2<T>,
}

/// Layer normalization with learned scale (`gamma`) and shift (`beta`).
pub struct LayerNormalization<T> {
    spec: LayerNormalizationSpec,
    name: String,
    shape: Shape,
    gamma: Parameter<T>,
    beta: Parameter<T>,
    cache: Option<Cache<T>>,
}

impl<T: Float> LayerNormalization<T> {
    /// Builds the layer: one `gamma` and `beta` per channel (or feature).
    pub fn build(
        spec: LayerNormalizationSpec,
        name: String,
        shape: Shape,
    ) -> Result<Self, LayerError> {
        if spec.epsilon.is_nan() || spec.epsilon <= 0.0 {
            return Err(config_error(
                &name,
                KIND,
                "epsilon",
                format!("{} must be positive", spec.epsilon),
            ));
        }
        let channels = shape.channels();
        Ok(Self {
            spec,
            name,
            shape,
            gamma: Parameter::trainable("gamma", ArrayD::ones(vec![channels])),
            beta: Parameter::trainable("beta", ArrayD::zeros(vec![channels])),
            cache: None,
        })
    }

    /// The input as `[B, C, L]` (a flat input is `L = 1`).
    fn as_ncl(&self, input: ArrayD<T>) -> Result<Array3<T>, LayerError> {
        channels_by_length(&self.name, KIND, self.shape, input)
    }

    /// `array` (`[B, C, L]`) in the layer's own shape again.
    fn in_layer_shape(&self, array: Array3<T>) -> Result<ArrayD<T>, LayerError> {
        let batch = array.dim().0;
        in_layer_shape(&self.name, KIND, self.shape, array.into_dyn(), batch)
    }
}

impl<T: Float> Layer<T> for LayerNormalization<T> {
    fn name(&self) -> &str {
        &self.name
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::LayerNormalization(LayerNormalizationSpec {
            name: Some(self.name.clone()),
            ..self.spec.clone()
        })
    }
    fn input_shape(&self) -> Shape {
        self.shape
    }
    fn output_shape(&self) -> Shape {
        self.shape
    }
    fn parameters(&self) -> Vec<&Parameter<T>> {
        vec![&self.gamma, &self.beta]
    }
    fn parameters_mut(&mut self) -> Vec<&mut Parameter<T>> {
        vec![&mut self.gamma, &mut self.beta]
    }

    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        check_input(&self.name, KIND, self.shape, &input)?;
        let mut x = self.as_ncl(input)?;
        let (batch, channels, length) = x.dim();
        let epsilon = self.spec.epsilon;
        let mut inv_std = Array2::zeros((batch, length));
        for b in 0..batch {
            for l in 0..length {
                let column = x.slice(s![b, .., l]);
                let mean =
                    column.iter().map(|v| v.to_f64_lossless()).sum::<f64>() / channels as f64;
                let variance = column
                    .iter()
                    .map(|v| (v.to_f64_lossless() - mean).powi(2))
                    .sum::<f64>()
                    / channels as f64;
                let inv = 1.0 / (variance + epsilon).sqrt();
                inv_std[[b, l]] = T::from_f64_lossy(inv);
                let (mean, inv) = (T::from_f64_lossy(mean), T::from_f64_lossy(inv));
                x.slice_mut(s![b, .., l]).mapv_inplace(|v| (v - mean) * inv);
            }
        }
        // Training keeps x̂ for backward and scales a copy; inference
        // scales x̂ in place.
        let (mut y, cache) = match mode {
            Mode::Train => (
                x.clone(),
                Some(Cache {
                    normalized: x,
                    inv_std,
                }),
            ),
            Mode::Inference => (x, None),
        };
        for (c, (&gamma, &beta)) in self.gamma.value.iter().zip(&self.beta.value).enumerate() {
            y.slice_mut(s![.., c, ..])
                .mapv_inplace(|v| v * gamma + beta);
        }
        self.cache = cache;
        self.in_layer_shape(y)
    }

    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let cache = take_cache(&self.name, &mut self.cache)?;
        let (batch, channels, length) = cache.normalized.dim();
        check_grad(
            &self.name,
            KIND,
            &self.shape.with_batch(batch),
            &grad_output,
        )?;
        let dy = self.as_ncl(grad_output)?;
        let xhat = &cache.normalized;
        // dγ = Σ dy·x̂ and dβ = Σ dy over samples and positions.
        let gradients = self.gamma.grad.iter_mut().zip(self.beta.grad.iter_mut());
        for (c, (gamma_grad, beta_grad)) in gradients.enumerate() {
            let (dy, xhat) = (dy.slice(s![.., c, ..]), xhat.slice(s![.., c, ..]));
            let dot: f64 = dy
                .iter()
                .zip(xhat.iter())
                .map(|(&g, &h)| g.to_f64_lossless() * h.to_f64_lossless())
                .sum();
            let sum: f64 = dy.iter().map(|g| g.to_f64_lossless()).sum();
            *gamma_grad += T::from_f64_lossy(dot);
            *beta_grad += T::from_f64_lossy(sum);
        }
        // dx = inv · (g − mean(g) − x̂ · mean(g·x̂)) with g = dy·γ, the
        // means over the channels of one position.
        let gamma: Vec<f64> = self
            .gamma
            .value
            .iter()
            .map(|g| g.to_f64_lossless())
            .collect();
        let mut dx = Array3::<T>::zeros((batch, channels, length));
        for b in 0..batch {
            for l in 0..length {
                let scaled: Vec<f64> = (0..channels)
                    .map(|c| dy[[b, c, l]].to_f64_lossless() * gamma[c])
                    .collect();
                let mean = scaled.iter().sum::<f64>() / channels as f64;
                let mean_dot = scaled
                    .iter()
                    .enumerate()
                    .map(|(c, g)| g * xhat[[b, c, l]].to_f64_lossless())
                    .sum::<f64>()
                    / channels as f64;
                let inv = cache.inv_std[[b, l]].to_f64_lossless();
                for (c, g) in scaled.iter().enumerate() {
                    let h = xhat[[b, c, l]].to_f64_lossless();
                    dx[[b, c, l]] = T::from_f64_lossy(inv * (g - mean - h * mean_dot));
                }
            }
        }
        self.in_layer_shape(dx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_layer, GradCheck};
    use proptest::prelude::*;

    #[test]
    fn each_position_is_normalized_over_its_channels() {
        let shape = Shape::Signal {
            channels: 3,
            length: 2,
        };
        let mut layer =
            LayerNormalization::<f64>::build(LayerNormalizationSpec::default(), "ln".into(), shape)
                .expect("builds");
        // Position 0 holds 1, 2, 3 (mean 2, variance 2/3); position 1 is constant.
        let x = ndarray::arr3(&[[[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]]]).into_dyn();
        let y = layer.forward(x, Mode::Inference).expect("forward");
        let scale = 1.0 / (2.0f64 / 3.0 + 1e-3).sqrt();
        assert!((y[[0, 0, 0]] + scale).abs() < 1e-12);
        assert!(y[[0, 1, 0]].abs() < 1e-12);
        assert!((y[[0, 2, 0]] - scale).abs() < 1e-12);
        // A constant position normalizes to zero, not NaN.
        assert!((0..3).all(|c| y[[0, c, 1]] == 0.0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn gradients_match_finite_differences(
            channels in 2usize..5,
            length in 1usize..5,
            flat in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let shape = if flat {
                Shape::Features(channels)
            } else {
                Shape::Signal { channels, length }
            };
            let mut layer = LayerNormalization::<f64>::build(LayerNormalizationSpec::default(), "ln".into(), shape)
                .expect("builds");
            // Weights away from their initial ones and zero, so that every
            // gradient term is exercised.
            for (i, g) in layer.gamma.value.iter_mut().enumerate() {
                *g = 0.5 + 0.3 * i as f64;
            }
            for (i, b) in layer.beta.value.iter_mut().enumerate() {
                *b = 0.1 - 0.2 * i as f64;
            }
            let report = check_layer(&mut layer, 2, Mode::Train, seed, GradCheck::smooth())
                .map_err(TestCaseError::fail)?;
            prop_assert!(report.checked > 0);
        }
    }
}

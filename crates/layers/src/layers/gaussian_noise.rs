//! `GaussianNoise` (Keras's layer; PyTorch has none): in training, adds
//! zero-mean normal noise of standard deviation `stddev` to every element,
//! a regularizer common on spectra; in inference, the identity. The noise
//! does not depend on the input, so the gradient passes through unchanged.

use kymo_tensor::{Float, SeededRng};
use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

use crate::layer::{check_grad, check_input, config_error, take_cache};
use crate::{ChannelwiseMap, Layer, LayerError, LayerSpec, Mode, Shape};

const KIND: &str = "GaussianNoise";

/// Configuration of a `GaussianNoise` layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaussianNoiseSpec {
    /// Standard deviation of the noise, at least 0.
    pub stddev: f64,
    /// Seed of the noise stream; by default derived from the model's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Optional layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Additive normal noise in training.
pub struct GaussianNoise {
    spec: GaussianNoiseSpec,
    name: String,
    shape: Shape,
    rng: SeededRng,
    /// The shape of the last training batch, for backward's check.
    cache: Option<Vec<usize>>,
}

impl GaussianNoise {
    /// Builds the layer; `rng` is its noise stream.
    pub fn build(
        spec: GaussianNoiseSpec,
        name: String,
        shape: Shape,
        rng: SeededRng,
    ) -> Result<Self, LayerError> {
        if !(spec.stddev.is_finite() && spec.stddev >= 0.0) {
            return Err(config_error(
                &name,
                KIND,
                "stddev",
                format!("{} is not a finite value of at least 0", spec.stddev),
            ));
        }
        let rng = match spec.seed {
            Some(seed) => SeededRng::new(seed, 0),
            None => rng,
        };
        Ok(Self {
            spec,
            name,
            shape,
            rng,
            cache: None,
        })
    }
}

impl<T: Float> Layer<T> for GaussianNoise {
    fn name(&self) -> &str {
        &self.name
    }
    fn inference_map(&self) -> Option<ChannelwiseMap<T>> {
        Some(ChannelwiseMap::Identity)
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::GaussianNoise(GaussianNoiseSpec {
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
    fn forward(&mut self, mut input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        check_input(&self.name, KIND, self.shape, &input)?;
        self.cache = (mode == Mode::Train).then(|| input.shape().to_vec());
        if mode == Mode::Train && self.spec.stddev > 0.0 {
            let (rng, stddev) = (&mut self.rng, self.spec.stddev);
            input.mapv_inplace(|v| v + T::from_f64_lossy(stddev * rng.normal()));
        }
        Ok(input)
    }
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let shape = take_cache(&self.name, &mut self.cache)?;
        check_grad(&self.name, KIND, &shape, &grad_output)?;
        Ok(grad_output)
    }
    fn rng_mut(&mut self) -> Option<&mut SeededRng> {
        Some(&mut self.rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(stddev: f64) -> GaussianNoise {
        let spec = GaussianNoiseSpec {
            stddev,
            seed: None,
            name: None,
        };
        GaussianNoise::build(
            spec,
            "noise".into(),
            Shape::Features(4000),
            SeededRng::new(5, 0),
        )
        .expect("valid stddev")
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
        /// Central finite differences through the same noise (the check
        /// restarts the layer's draws at every forward pass).
        #[test]
        fn gradients_match_finite_differences(
            stddev in 0.0f64..2.0,
            channels in 1usize..5,
            length in 1usize..9,
            seed in proptest::prelude::any::<u64>(),
        ) {
            let spec = GaussianNoiseSpec { stddev, seed: None, name: None };
            let shape = Shape::Signal { channels, length };
            let mut layer = GaussianNoise::build(spec, "n".into(), shape, SeededRng::new(seed, 1))
                .expect("valid stddev");
            crate::gradcheck::check_layer(&mut layer, 3, Mode::Train, seed, crate::gradcheck::GradCheck::smooth())
                .map_err(proptest::test_runner::TestCaseError::fail)?;
        }
    }

    #[test]
    fn training_adds_noise_of_the_given_spread_and_passes_the_gradient() {
        let mut noise = layer(0.3);
        let x = ArrayD::from_elem(vec![1, 4000], 2.0);
        let y = Layer::<f64>::forward(&mut noise, x, Mode::Train).expect("fits");
        let mean = y.mean().expect("values") - 2.0;
        let spread = (y.mapv(|v| (v - 2.0 - mean).powi(2)).sum() / 4000.0).sqrt();
        assert!(
            mean.abs() < 0.03 && (spread - 0.3).abs() < 0.03,
            "mean {mean}, sd {spread}"
        );
        let g = ArrayD::from_shape_fn(vec![1, 4000], |i| i[1] as f64);
        assert_eq!(
            Layer::<f64>::backward(&mut noise, g.clone()).expect("fits"),
            g
        );
        let x = ArrayD::from_elem(vec![1, 4000], 2.0);
        assert_eq!(
            Layer::<f64>::forward(&mut noise, x.clone(), Mode::Inference).expect("fits"),
            x
        );
    }

    #[test]
    fn a_negative_spread_is_refused_naming_the_field() {
        let spec = GaussianNoiseSpec {
            stddev: -1.0,
            seed: None,
            name: None,
        };
        let error =
            GaussianNoise::build(spec, "n".into(), Shape::Features(2), SeededRng::new(0, 0))
                .err()
                .expect("negative");
        assert!(error.to_string().contains("`stddev`"), "{error}");
    }
}

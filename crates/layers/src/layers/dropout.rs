//! `Dropout` (PyTorch: `nn.Dropout`): in training, zeroes each element with
//! probability `rate` and scales the survivors by `1 / (1 - rate)`
//! (inverted dropout); in inference, the identity. `SpatialDropout1D`
//! (PyTorch: `nn.Dropout1d`) draws one decision per sample and channel and
//! drops or keeps the channel's whole length: neighbouring points of a
//! signal are so alike that dropping them one by one regularizes little.

use kymo_tensor::{Float, SeededRng};
use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

use crate::layer::{check_grad, check_input, config_error, take_cache};
use crate::{ChannelwiseMap, Layer, LayerError, LayerSpec, Mode, Shape};

/// Configuration of a `Dropout` layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropoutSpec {
    /// Fraction of elements dropped, in `[0, 1)`.
    pub rate: f64,
    /// Seed of the mask stream; by default derived from the model's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Optional layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Inverted dropout, of elements or of whole channels.
pub struct Dropout<T> {
    spec: DropoutSpec,
    /// Whole channels (`SpatialDropout1D`) rather than elements.
    spatial: bool,
    name: String,
    shape: Shape,
    rng: SeededRng,
    /// The scaled mask of the last training forward.
    cache: Option<ArrayD<T>>,
}

impl<T: Float> Dropout<T> {
    /// Builds the layer; `rng` is its mask stream.
    pub fn build(
        spec: DropoutSpec,
        name: String,
        shape: Shape,
        rng: SeededRng,
    ) -> Result<Self, LayerError> {
        Self::with_kind(spec, false, name, shape, rng)
    }

    /// Builds a `SpatialDropout1D`, which takes a signal.
    pub fn build_spatial(
        spec: DropoutSpec,
        name: String,
        shape: Shape,
        rng: SeededRng,
    ) -> Result<Self, LayerError> {
        if let Shape::Features(_) = shape {
            return Err(config_error(
                &name,
                "SpatialDropout1D",
                "input",
                format!("{shape} has no channels to drop: SpatialDropout1D takes a signal"),
            ));
        }
        Self::with_kind(spec, true, name, shape, rng)
    }

    fn with_kind(
        spec: DropoutSpec,
        spatial: bool,
        name: String,
        shape: Shape,
        rng: SeededRng,
    ) -> Result<Self, LayerError> {
        let kind = if spatial {
            "SpatialDropout1D"
        } else {
            "Dropout"
        };
        if !(0.0..1.0).contains(&spec.rate) {
            return Err(config_error(
                &name,
                kind,
                "rate",
                format!("{} is not in [0, 1)", spec.rate),
            ));
        }
        let rng = match spec.seed {
            Some(seed) => SeededRng::new(seed, 0),
            None => rng,
        };
        Ok(Self {
            spec,
            spatial,
            name,
            shape,
            rng,
            cache: None,
        })
    }
}

impl<T> Dropout<T> {
    fn kind(&self) -> &'static str {
        if self.spatial {
            "SpatialDropout1D"
        } else {
            "Dropout"
        }
    }
}

impl<T: Float> Layer<T> for Dropout<T> {
    fn name(&self) -> &str {
        &self.name
    }
    fn inference_map(&self) -> Option<ChannelwiseMap<T>> {
        Some(ChannelwiseMap::Identity)
    }
    fn spec(&self) -> LayerSpec {
        let spec = DropoutSpec {
            name: Some(self.name.clone()),
            ..self.spec.clone()
        };
        if self.spatial {
            LayerSpec::SpatialDropout1D(spec)
        } else {
            LayerSpec::Dropout(spec)
        }
    }
    fn input_shape(&self) -> Shape {
        self.shape
    }
    fn output_shape(&self) -> Shape {
        self.shape
    }
    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        check_input(&self.name, self.kind(), self.shape, &input)?;
        if mode == Mode::Inference || self.spec.rate == 0.0 {
            self.cache = (mode == Mode::Train).then(|| ArrayD::ones(input.raw_dim()));
            return Ok(input);
        }
        let rate = self.spec.rate;
        let scale = T::from_f64_lossy(1.0 / (1.0 - rate));
        let rng = &mut self.rng;
        let draw = || {
            if rng.uniform() < rate {
                T::zero()
            } else {
                scale
            }
        };
        let mask = if self.spatial {
            // One draw per sample and channel, over the channel's length
            // (the input is `[batch, channels, length]`, checked above).
            let (batch, channels) = (input.shape()[0], input.shape()[1]);
            let decisions = ndarray::Array2::from_shape_simple_fn((batch, channels), draw);
            decisions
                .insert_axis(ndarray::Axis(2))
                .broadcast(input.raw_dim())
                .map(|view| view.to_owned())
                .expect("invariant: [batch, channels, 1] broadcasts to the checked input")
        } else {
            ArrayD::from_shape_simple_fn(input.raw_dim(), draw)
        };
        let output = &input * &mask;
        self.cache = Some(mask);
        Ok(output)
    }
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let mask = take_cache(&self.name, &mut self.cache)?;
        check_grad(&self.name, self.kind(), mask.shape(), &grad_output)?;
        Ok(grad_output * mask)
    }
    fn rng_mut(&mut self) -> Option<&mut SeededRng> {
        Some(&mut self.rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn layer(rate: f64, seed: u64) -> Dropout<f64> {
        let spec = DropoutSpec {
            rate,
            seed: None,
            name: None,
        };
        Dropout::build(
            spec,
            "drop".into(),
            Shape::Features(2000),
            SeededRng::new(seed, 0),
        )
        .expect("valid rate")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// Central finite differences through the same mask (the check
        /// restarts the layer's draws at every forward pass).
        #[test]
        fn gradients_match_finite_differences(
            rate in 0.05f64..0.9,
            channels in 1usize..5,
            length in 1usize..9,
            seed in any::<u64>(),
            spatial in any::<bool>(),
        ) {
            let spec = DropoutSpec { rate, seed: None, name: None };
            let shape = Shape::Signal { channels, length };
            let rng = SeededRng::new(seed, 1);
            let mut layer = if spatial {
                Dropout::<f64>::build_spatial(spec, "d".into(), shape, rng)
            } else {
                Dropout::<f64>::build(spec, "d".into(), shape, rng)
            }
            .expect("valid rate");
            crate::gradcheck::check_layer(&mut layer, 3, Mode::Train, seed, crate::gradcheck::GradCheck::smooth())
                .map_err(TestCaseError::fail)?;
        }

        /// The gradient is the mask the forward pass applied: zero where an
        /// element was dropped, `1 / (1 - rate)` where it survived.
        #[test]
        fn gradient_is_the_scaled_mask(rate in 0.05f64..0.9, seed in any::<u64>()) {
            let mut d = layer(rate, seed);
            let x = ArrayD::from_elem(vec![1, 2000], 1.0);
            let y = d.forward(x, Mode::Train).expect("fits");
            let g = d.backward(ArrayD::from_elem(vec![1, 2000], 1.0)).expect("fits");
            prop_assert_eq!(&y, &g);
            let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / 2000.0;
            prop_assert!((kept - (1.0 - rate)).abs() < 0.06, "kept {}", kept);
            prop_assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / (1.0 - rate)).abs() < 1e-12));
        }
    }

    #[test]
    fn spatial_dropout_keeps_or_drops_whole_channels() {
        let spec = DropoutSpec {
            rate: 0.5,
            seed: None,
            name: None,
        };
        let shape = Shape::Signal {
            channels: 64,
            length: 9,
        };
        let mut d =
            Dropout::<f64>::build_spatial(spec.clone(), "s".into(), shape, SeededRng::new(3, 0))
                .expect("a signal");
        let y = d
            .forward(ArrayD::from_elem(vec![2, 64, 9], 1.0), Mode::Train)
            .expect("fits");
        let mut dropped = 0;
        for sample in 0..2 {
            for channel in 0..64 {
                let first = y[[sample, channel, 0]];
                assert!(first == 0.0 || first == 2.0, "{first}");
                assert!((0..9).all(|t| y[[sample, channel, t]] == first));
                dropped += usize::from(first == 0.0);
            }
        }
        assert!(
            (32..=96).contains(&dropped),
            "{dropped} of 128 channels dropped"
        );
        assert_eq!(
            d.backward(ArrayD::from_elem(vec![2, 64, 9], 1.0))
                .expect("fits"),
            y
        );
        let features = Dropout::<f64>::build_spatial(
            spec,
            "s".into(),
            Shape::Features(4),
            SeededRng::new(3, 0),
        );
        assert!(features.is_err());
    }

    #[test]
    fn identity_in_inference() {
        let mut d = layer(0.5, 1);
        let x = ArrayD::from_shape_fn(vec![1, 2000], |i| i[1] as f64);
        assert_eq!(d.forward(x.clone(), Mode::Inference).expect("fits"), x);
    }

    #[test]
    fn rate_of_one_is_refused_naming_the_field() {
        let spec = DropoutSpec {
            rate: 1.0,
            seed: None,
            name: None,
        };
        let err = Dropout::<f32>::build(
            spec,
            "drop".into(),
            Shape::Features(3),
            SeededRng::new(0, 0),
        )
        .err()
        .expect("rate 1 drops everything");
        assert!(err.to_string().contains("`rate`"));
    }
}

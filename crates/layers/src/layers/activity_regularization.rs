//! `ActivityRegularization` (Keras's layer, and what a Keras layer's
//! `activity_regularizer` adds after it): the identity, whose output adds
//! `(l1·Σ|y| + l2·Σy²) / batch` to the loss. Keras adds that term on every
//! call, training and evaluation alike, divided by the batch's size
//! (`Layer.__call__` in Keras 3), so in training its gradient
//! `(l1·sign(y) + 2·l2·y) / batch` joins the output gradient, and an
//! evaluation's loss carries the penalty of every sample over their
//! number. PyTorch has no such term: an export runs it as `nn.Identity()`.

use kymo_tensor::Float;
use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

use crate::layer::{check_grad, check_input, config_error, standard, take_cache};
use crate::{buffers, Layer, LayerError, LayerSpec, Mode, Regularizer, Shape};

const KIND: &str = "ActivityRegularization";

/// Configuration of an `ActivityRegularization` layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityRegularizationSpec {
    /// The coefficient of `Σ|y|` (0: none).
    #[serde(default)]
    pub l1: f64,
    /// The coefficient of `Σy²` (0: none).
    #[serde(default)]
    pub l2: f64,
    /// Optional layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The penalty a layer's forward passes added to the loss, as
/// [`Layer::take_activity_penalty`] hands it over.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ActivityPenalty {
    /// `l1·Σ|y| + l2·Σy²` over every sample of the passes, in f64.
    pub sum: f64,
    /// The samples those passes saw: the loss carries `sum / samples`.
    pub samples: usize,
}

impl ActivityPenalty {
    /// The term the loss carries: the penalty per sample (0 without samples).
    pub fn per_sample(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            self.sum / self.samples as f64
        }
    }
}

/// The identity with an L1/L2 penalty on its values.
pub struct ActivityRegularization<T> {
    spec: ActivityRegularizationSpec,
    name: String,
    shape: Shape,
    /// The last training batch's values, for backward's gradient.
    cache: Option<ArrayD<T>>,
    /// The last training pass's penalty (a graph's replay of a segment
    /// runs it again on the same values and sets the same figure).
    training: ActivityPenalty,
    /// The inference passes' penalties since they were last taken.
    inference: ActivityPenalty,
}

impl<T: Float> ActivityRegularization<T> {
    /// Builds the layer; the coefficients must be finite and at least 0.
    pub fn build(
        spec: ActivityRegularizationSpec,
        name: String,
        shape: Shape,
    ) -> Result<Self, LayerError> {
        for (field, value) in [("l1", spec.l1), ("l2", spec.l2)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(config_error(
                    &name,
                    KIND,
                    field,
                    format!("{value} is not a finite coefficient of at least 0"),
                ));
            }
        }
        Ok(Self {
            spec,
            name,
            shape,
            cache: None,
            training: ActivityPenalty::default(),
            inference: ActivityPenalty::default(),
        })
    }

    /// The coefficients as Keras's `L1L2` regularizer.
    fn regularizer(&self) -> Regularizer {
        Regularizer {
            l1: self.spec.l1,
            l2: self.spec.l2,
        }
    }
}

impl<T: Float> Layer<T> for ActivityRegularization<T> {
    fn name(&self) -> &str {
        &self.name
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::ActivityRegularization(ActivityRegularizationSpec {
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
    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        let batch = check_input(&self.name, KIND, self.shape, &input)?;
        let penalty = ActivityPenalty {
            sum: self.regularizer().penalty(input.iter()),
            samples: batch,
        };
        if let Some(old) = self.cache.take() {
            buffers::give_back(old);
        }
        match mode {
            Mode::Train => {
                self.training = penalty;
                self.cache = Some(buffers::copy_of(&input));
            }
            Mode::Inference => {
                self.inference.sum += penalty.sum;
                self.inference.samples += penalty.samples;
            }
        }
        Ok(input)
    }
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let values = take_cache(&self.name, &mut self.cache)?;
        check_grad(&self.name, KIND, values.shape(), &grad_output)?;
        let batch = values.shape().first().copied().unwrap_or(1).max(1) as f64;
        // The penalty `(l1·Σ|y| + l2·Σy²) / batch` is a weight penalty's
        // with its coefficients over the batch size, and so is its gradient.
        let scaled = Regularizer {
            l1: self.spec.l1 / batch,
            l2: self.spec.l2 / batch,
        };
        let mut grad = standard(grad_output);
        // Both are standard layout (`standard` above; the cache is a
        // pooled copy) and of one shape (`check_grad`).
        scaled.add_gradient(
            values
                .as_slice()
                .expect("invariant: standard layout is contiguous"),
            grad.as_slice_mut()
                .expect("invariant: standard layout is contiguous"),
        );
        buffers::give_back(values);
        Ok(grad)
    }
    fn take_activity_penalty(&mut self, mode: Mode) -> ActivityPenalty {
        match mode {
            Mode::Train => std::mem::take(&mut self.training),
            Mode::Inference => std::mem::take(&mut self.inference),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    fn layer(l1: f64, l2: f64, shape: Shape) -> ActivityRegularization<f64> {
        let spec = ActivityRegularizationSpec { l1, l2, name: None };
        ActivityRegularization::build(spec, "activity".into(), shape).expect("valid coefficients")
    }

    /// Values away from 0, where `|y|` has a derivative.
    fn values(shape: &[usize], seed: u64) -> ArrayD<f64> {
        let mut rng = kymo_tensor::SeededRng::new(seed, 0);
        ArrayD::from_shape_fn(IxDyn(shape), |_| {
            let v = rng.uniform_in(0.1, 1.0);
            if rng.uniform_in(0.0, 1.0) < 0.5 {
                -v
            } else {
                v
            }
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
        /// The input gradient of `Σ y·r + penalty / batch` against central
        /// finite differences of that loss.
        #[test]
        fn gradients_match_finite_differences_of_the_loss_with_its_penalty(
            l1 in 0.0f64..0.5,
            l2 in 0.0f64..0.5,
            batch in 1usize..4,
            channels in 1usize..4,
            length in 1usize..6,
            seed in proptest::prelude::any::<u64>(),
        ) {
            let shape = Shape::Signal { channels, length };
            let dims = [batch, channels, length];
            let (x, r) = (values(&dims, seed), values(&dims, seed ^ 1));
            let mut layer = layer(l1, l2, shape);
            let mut loss = |x: &ArrayD<f64>| {
                let y = layer.forward(x.clone(), Mode::Train).expect("fits");
                let penalty = Layer::<f64>::take_activity_penalty(&mut layer, Mode::Train);
                (&y * &r).sum() + penalty.per_sample()
            };
            let step = 1e-6;
            let mut numeric = ArrayD::zeros(IxDyn(&dims));
            for (i, slot) in numeric.iter_mut().enumerate() {
                let (mut plus, mut minus) = (x.clone(), x.clone());
                plus.as_slice_mut().expect("standard")[i] += step;
                minus.as_slice_mut().expect("standard")[i] -= step;
                *slot = (loss(&plus) - loss(&minus)) / (2.0 * step);
            }
            layer.forward(x.clone(), Mode::Train).expect("fits");
            let analytic = layer.backward(r.clone()).expect("cached");
            for (a, n) in analytic.iter().zip(&numeric) {
                proptest::prop_assert!((a - n).abs() < 1e-6, "{a} against {n}");
            }
        }
    }

    #[test]
    fn the_penalty_is_keras_s_per_sample_and_evaluation_sums_every_batch() {
        let shape = Shape::Features(3);
        let mut layer = layer(0.01, 0.02, shape);
        let x = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0, -2.0, 0.5, 0.0, 3.0, -1.0])
            .expect("six values");
        let y = layer.forward(x.clone(), Mode::Train).expect("fits");
        assert_eq!(y, x, "the identity");
        // Keras: (0.01·Σ|x| + 0.02·Σx²) / 2 = (0.01·7.5 + 0.02·15.25) / 2.
        let expected = (0.01 * 7.5 + 0.02 * 15.25) / 2.0;
        let penalty = Layer::<f64>::take_activity_penalty(&mut layer, Mode::Train);
        assert!((penalty.per_sample() - expected).abs() < 1e-15);
        assert_eq!(
            Layer::<f64>::take_activity_penalty(&mut layer, Mode::Train),
            ActivityPenalty::default(),
            "taken once"
        );
        // Inference passes add up until taken: two batches of 2 and 1.
        layer.forward(x.clone(), Mode::Inference).expect("fits");
        let third = x.slice(ndarray::s![..1, ..]).to_owned().into_dyn();
        layer.forward(third, Mode::Inference).expect("fits");
        let evaluation = Layer::<f64>::take_activity_penalty(&mut layer, Mode::Inference);
        assert_eq!(evaluation.samples, 3);
        let first_row = 0.01 * 3.5 + 0.02 * 5.25;
        assert!((evaluation.sum - (expected * 2.0 + first_row)).abs() < 1e-15);
    }

    #[test]
    fn negative_or_infinite_coefficients_are_refused_by_field() {
        for (l1, l2, field) in [(-0.1, 0.0, "l1"), (0.0, f64::INFINITY, "l2")] {
            let spec = ActivityRegularizationSpec { l1, l2, name: None };
            let error = ActivityRegularization::<f32>::build(spec, "a".into(), Shape::Features(2))
                .err()
                .expect("refused");
            assert!(error.to_string().contains(field), "{error}");
        }
    }
}

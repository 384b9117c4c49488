//! `Flatten`: `[B, C, L] -> [B, C * L]` (PyTorch: `nn.Flatten`).
//!
//! kymo is NCL, so features come out channel-major (`c * L + l`), as in
//! PyTorch. Keras is NLC and flattens length-major (`l * C + c`): a Dense
//! kernel imported from Keras must have its rows permuted.

use kymo_tensor::Float;
use ndarray::ArrayD;

use crate::layer::{check_grad, check_input, take_cache};
use crate::limits::{product, shape_factors, too_large, LayerPlan};
use crate::{Layer, LayerError, LayerSpec, Mode, NameOnlySpec, Reach, Shape};

const KIND: &str = "Flatten";

/// Flattens each sample into a feature vector.
pub struct Flatten {
    name: String,
    input: Shape,
    cache: Option<usize>,
}

/// Sizes a Flatten for `input`: one feature per input scalar, refused
/// when their count overflows.
pub(crate) fn plan(name: &str, input: Shape) -> Result<LayerPlan, LayerError> {
    let size = product(name, KIND, "input", &shape_factors(input))?;
    let features = usize::try_from(size)
        .map_err(|_| too_large(name, KIND, "input", format!("{size} features")))?;
    LayerPlan::sized(name, KIND, Shape::Features(features), 0, 0)
}

impl Flatten {
    /// Builds the layer for any input shape (its size checked by
    /// `plan` when it is built from a spec).
    pub fn build(name: String, input: Shape) -> Self {
        Self {
            name,
            input,
            cache: None,
        }
    }
}

impl Flatten {
    /// Ends the pending backward pass without a gradient to reshape (the
    /// fusion plan's unit head hands the `Dense`'s input gradient past it
    /// as factors): the batch the forward pass saw.
    pub(crate) fn take_pending_batch(&mut self) -> Result<usize, LayerError> {
        take_cache(&self.name, &mut self.cache)
    }
}

impl<T: Float> Layer<T> for Flatten {
    fn name(&self) -> &str {
        &self.name
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::Flatten(NameOnlySpec {
            name: Some(self.name.clone()),
        })
    }
    fn input_shape(&self) -> Shape {
        self.input
    }
    fn output_shape(&self) -> Shape {
        // `plan`'s rule, whose overflow check ran before this layer was built.
        Shape::Features(self.input.size())
    }
    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        let batch = check_input(&self.name, KIND, self.input, &input)?;
        self.cache = (mode == Mode::Train).then_some(batch);
        reshape(&self.name, input, &[batch, self.input.size()])
    }
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let batch = take_cache(&self.name, &mut self.cache)?;
        check_grad(&self.name, KIND, &[batch, self.input.size()], &grad_output)?;
        reshape(&self.name, grad_output, &self.input.with_batch(batch))
    }
    fn replays(&self) -> bool {
        true
    }
    fn reach(&self) -> Option<Reach> {
        None
    }
}

fn reshape<T: Float>(
    layer: &str,
    array: ArrayD<T>,
    shape: &[usize],
) -> Result<ArrayD<T>, LayerError> {
    let found = format!("{:?}", array.shape());
    // A standard-layout array (every array kymo's layers make) is reshaped
    // without copying.
    crate::layer::standard(array)
        .into_shape_with_order(shape.to_vec())
        .map_err(|_| LayerError::InputShape {
            layer: layer.to_string(),
            kind: KIND,
            expected: format!("{shape:?}"),
            found,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_layer, GradCheck};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn gradients_match_finite_differences(channels in 1usize..4, length in 1usize..12, seed in any::<u64>()) {
            let mut layer = Flatten::build("f".into(), Shape::Signal { channels, length });
            check_layer(&mut layer, 2, Mode::Train, seed, GradCheck::smooth()).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn flattens_channel_major_and_back() {
        let mut layer = Flatten::build(
            "f".into(),
            Shape::Signal {
                channels: 2,
                length: 3,
            },
        );
        let x = ArrayD::from_shape_vec(vec![1, 2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
            .expect("shape");
        let y = Layer::<f64>::forward(&mut layer, x.clone(), Mode::Train).expect("fits");
        assert_eq!(y.shape(), &[1, 6]);
        assert_eq!(
            y.iter().copied().collect::<Vec<_>>(),
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        let g = Layer::<f64>::backward(&mut layer, y).expect("fits");
        assert_eq!(g, x);
    }
}

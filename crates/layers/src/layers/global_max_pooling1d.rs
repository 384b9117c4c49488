//! `GlobalMaxPooling1D`: the maximum over the length axis, `[B, C, L] ->
//! [B, C]` (PyTorch: `nn.AdaptiveMaxPool1d(1)` then flatten), or `[B, C,
//! 1]` with `keepdims`.
//!
//! Ties go to the first maximum, as PyTorch's and TensorFlow's max
//! reductions route the gradient; a NaN wins, so it propagates.

use kymo_tensor::Float;
use ndarray::{Array2, Array3, ArrayD, Ix3};

use super::global_average_pooling1d::{pooled_grad, pooled_output, pooled_shape};
use crate::layer::{check_input, fixed, take_cache};
use crate::{GlobalPoolingSpec, Layer, LayerError, LayerSpec, Mode, Reach, Shape};

const KIND: &str = "GlobalMaxPooling1D";

/// Global max pooling over the length axis.
pub struct GlobalMaxPooling1D {
    name: String,
    channels: usize,
    length: usize,
    keepdims: bool,
    /// Per sample and channel, the position of the winner (training only).
    winners: Option<Array2<usize>>,
}

impl GlobalMaxPooling1D {
    /// Builds the layer for a signal input; `keepdims` keeps the length
    /// axis as one step.
    pub fn build(name: String, input: Shape, keepdims: bool) -> Result<Self, LayerError> {
        let (channels, length) = crate::limits::signal_input(&name, KIND, input)?;
        Ok(Self {
            name,
            channels,
            length,
            keepdims,
            winners: None,
        })
    }
}

/// The first position of the largest value of `row` (a NaN counts as
/// larger than anything).
fn argmax<T: Float>(row: ndarray::ArrayView1<'_, T>) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        let current = row[best];
        if current.is_nan() {
            break;
        }
        if v > current || v.is_nan() {
            best = i;
        }
    }
    best
}

impl<T: Float> Layer<T> for GlobalMaxPooling1D {
    fn name(&self) -> &str {
        &self.name
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::GlobalMaxPooling1D(GlobalPoolingSpec {
            name: Some(self.name.clone()),
            keepdims: self.keepdims,
        })
    }
    fn input_shape(&self) -> Shape {
        Shape::Signal {
            channels: self.channels,
            length: self.length,
        }
    }
    fn output_shape(&self) -> Shape {
        pooled_shape(self.channels, self.keepdims)
    }
    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        check_input(&self.name, KIND, Layer::<T>::input_shape(self), &input)?;
        let x = fixed::<T, Ix3>(&self.name, KIND, input)?;
        let winners = x.map_axis(ndarray::Axis(2), argmax);
        let output = Array2::from_shape_fn(winners.raw_dim(), |(b, c)| x[[b, c, winners[[b, c]]]]);
        self.winners = (mode == Mode::Train).then_some(winners);
        // The input is done with: its storage goes back to the pool.
        crate::buffers::give_back(x);
        Ok(pooled_output(output, self.keepdims))
    }
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let winners = take_cache(&self.name, &mut self.winners)?;
        let (batch, channels) = winners.dim();
        let shape = (batch, channels, self.keepdims);
        let grad = pooled_grad((&self.name, KIND), shape, grad_output)?;
        let mut grad_input = Array3::zeros((batch, channels, self.length));
        for ((b, c), &at) in winners.indexed_iter() {
            grad_input[[b, c, at]] = grad[[b, c]];
        }
        Ok(grad_input.into_dyn())
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
    use crate::gradcheck::{check_layer, GradCheck, InputDraw};
    use proptest::prelude::*;

    #[test]
    fn takes_the_first_maximum_of_each_channel() {
        let mut layer = GlobalMaxPooling1D::build(
            "g".into(),
            Shape::Signal {
                channels: 2,
                length: 4,
            },
            false,
        )
        .expect("signal");
        let x = ndarray::arr3(&[[[1.0f64, 3.0, 3.0, -1.0], [-4.0, -2.0, -3.0, -5.0]]]).into_dyn();
        let y = layer.forward(x, Mode::Train).expect("forward");
        assert_eq!(y, ndarray::arr2(&[[3.0, -2.0]]).into_dyn());
        let g = layer
            .backward(ndarray::arr2(&[[10.0, 20.0]]).into_dyn())
            .expect("backward");
        let expected = ndarray::arr3(&[[[0.0, 10.0, 0.0, 0.0], [0.0, 20.0, 0.0, 0.0]]]);
        assert_eq!(g, expected.into_dyn());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn gradients_match_finite_differences(channels in 1usize..4, length in 1usize..12, keepdims in any::<bool>(), seed in any::<u64>()) {
            let mut layer = GlobalMaxPooling1D::build("g".into(), Shape::Signal { channels, length }, keepdims).expect("signal");
            // Distinct inputs: no tie flips its winner under a nudge.
            check_layer(&mut layer, 2, Mode::Train, seed, GradCheck::with_draw(InputDraw::Distinct)).map_err(TestCaseError::fail)?;
        }
    }
}

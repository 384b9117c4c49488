//! `GlobalAveragePooling1D`: the mean over the length axis, `[B, C, L] ->
//! [B, C]` (PyTorch: `nn.AdaptiveAvgPool1d(1)` then flatten).

use kymo_tensor::{global_avg_pool1d_backward_into, global_avg_pool1d_forward, Float};
use ndarray::{ArrayD, Ix2, Ix3};

use crate::buffers;
use crate::layer::{check_grad, check_input, fixed, take_cache};
use crate::limits::LayerPlan;
use crate::{Layer, LayerError, LayerSpec, Mode, NameOnlySpec, Reach, Shape};

const KIND: &str = "GlobalAveragePooling1D";

/// Global average pooling over the length axis.
pub struct GlobalAveragePooling1D {
    name: String,
    channels: usize,
    length: usize,
    cache: Option<usize>,
}

/// Sizes a global pooling layer (`kind`: average or max) for `input`: a
/// signal in, one feature per channel out.
pub(crate) fn plan(kind: &'static str, name: &str, input: Shape) -> Result<LayerPlan, LayerError> {
    let (channels, _) = crate::limits::signal_input(name, kind, input)?;
    LayerPlan::sized(name, kind, Shape::Features(channels), 0, 0)
}

impl GlobalAveragePooling1D {
    /// Builds the layer for a signal input.
    pub fn build(name: String, input: Shape) -> Result<Self, LayerError> {
        let (channels, length) = crate::limits::signal_input(&name, KIND, input)?;
        Ok(Self {
            name,
            channels,
            length,
            cache: None,
        })
    }
}

impl<T: Float> Layer<T> for GlobalAveragePooling1D {
    fn name(&self) -> &str {
        &self.name
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::GlobalAveragePooling1D(NameOnlySpec {
            name: Some(self.name.clone()),
        })
    }
    fn input_shape(&self) -> Shape {
        Shape::Signal {
            channels: self.channels,
            length: self.length,
        }
    }
    fn output_shape(&self) -> Shape {
        Shape::Features(self.channels)
    }
    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        let batch = check_input(&self.name, KIND, Layer::<T>::input_shape(self), &input)?;
        let x = fixed::<T, Ix3>(&self.name, KIND, input)?;
        self.cache = (mode == Mode::Train).then_some(batch);
        let means = global_avg_pool1d_forward(x.view());
        // The input is done with: its storage can take the input gradient.
        buffers::give_back(x);
        Ok(means.into_dyn())
    }
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let batch = take_cache(&self.name, &mut self.cache)?;
        check_grad(&self.name, KIND, &[batch, self.channels], &grad_output)?;
        let grad = fixed::<T, Ix2>(&self.name, KIND, grad_output)?;
        let mut grad_input = buffers::array(Ix3(batch, self.channels, self.length));
        global_avg_pool1d_backward_into(grad.view(), grad_input.view_mut());
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
    use crate::gradcheck::{check_layer, GradCheck};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn gradients_match_finite_differences(channels in 1usize..4, length in 1usize..12, seed in any::<u64>()) {
            let mut layer = GlobalAveragePooling1D::build("g".into(), Shape::Signal { channels, length }).expect("signal");
            check_layer(&mut layer, 2, Mode::Train, seed, GradCheck::smooth()).map_err(TestCaseError::fail)?;
        }
    }
}

//! `GlobalAveragePooling1D`: the mean over the length axis, `[B, C, L] ->
//! [B, C]` (PyTorch: `nn.AdaptiveAvgPool1d(1)` then flatten), or with
//! Keras's `keepdims=True` `[B, C, 1]`, a signal of one step (what a
//! squeeze-and-excitation gate multiplies back onto the signal).

use kymo_tensor::{global_avg_pool1d_backward_into, global_avg_pool1d_forward, Float};
use ndarray::{ArrayD, Ix2, Ix3, IxDyn};
use serde::{Deserialize, Serialize};

use crate::buffers;
use crate::layer::{check_grad, check_input, fixed, take_cache};
use crate::limits::LayerPlan;
use crate::{Layer, LayerError, LayerSpec, Mode, Reach, Shape};

const KIND: &str = "GlobalAveragePooling1D";

/// Spec of `GlobalAveragePooling1D` and `GlobalMaxPooling1D`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GlobalPoolingSpec {
    /// Optional layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Keras's `keepdims`: keep the length axis, as one step (default
    /// false: one feature per channel).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keepdims: bool,
}

/// What a global pool over `channels` gives: one feature per channel, or
/// with `keepdims` a signal of one step.
pub(crate) fn pooled_shape(channels: usize, keepdims: bool) -> Shape {
    if keepdims {
        Shape::Signal {
            channels,
            length: 1,
        }
    } else {
        Shape::Features(channels)
    }
}

/// Sizes a global pooling layer (`kind`: average or max) for `input`: a
/// signal in, one value per channel out.
pub(crate) fn plan(
    kind: &'static str,
    spec: &GlobalPoolingSpec,
    name: &str,
    input: Shape,
) -> Result<LayerPlan, LayerError> {
    let (channels, _) = crate::limits::signal_input(name, kind, input)?;
    LayerPlan::sized(name, kind, pooled_shape(channels, spec.keepdims), 0, 0)
}

/// A gradient for a global pool's output (`[B, C]`, or `[B, C, 1]` with
/// `keepdims`) as `[B, C]`, checked against `batch` and `channels`.
pub(crate) fn pooled_grad<T: Float>(
    (name, kind): (&str, &'static str),
    (batch, channels, keepdims): (usize, usize, bool),
    grad_output: ArrayD<T>,
) -> Result<ndarray::Array2<T>, LayerError> {
    let grad_output = if keepdims {
        check_grad(name, kind, &[batch, channels, 1], &grad_output)?;
        grad_output
            .into_shape_with_order(IxDyn(&[batch, channels]))
            .map_err(|e| LayerError::Config {
                layer: name.to_string(),
                kind,
                field: "keepdims",
                reason: e.to_string(),
            })?
    } else {
        check_grad(name, kind, &[batch, channels], &grad_output)?;
        grad_output
    };
    fixed::<T, Ix2>(name, kind, grad_output)
}

/// A global pool's `[B, C]` result as its output: unchanged, or with
/// `keepdims` as `[B, C, 1]`.
pub(crate) fn pooled_output<T: Float>(pooled: ndarray::Array2<T>, keepdims: bool) -> ArrayD<T> {
    if keepdims {
        pooled.insert_axis(ndarray::Axis(2)).into_dyn()
    } else {
        pooled.into_dyn()
    }
}

/// Global average pooling over the length axis.
pub struct GlobalAveragePooling1D {
    name: String,
    channels: usize,
    length: usize,
    keepdims: bool,
    cache: Option<usize>,
}

impl GlobalAveragePooling1D {
    /// Builds the layer for a signal input; `keepdims` keeps the length
    /// axis as one step.
    pub fn build(name: String, input: Shape, keepdims: bool) -> Result<Self, LayerError> {
        let (channels, length) = crate::limits::signal_input(&name, KIND, input)?;
        Ok(Self {
            name,
            channels,
            length,
            keepdims,
            cache: None,
        })
    }
}

impl<T: Float> Layer<T> for GlobalAveragePooling1D {
    fn name(&self) -> &str {
        &self.name
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::GlobalAveragePooling1D(GlobalPoolingSpec {
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
        let batch = check_input(&self.name, KIND, Layer::<T>::input_shape(self), &input)?;
        let x = fixed::<T, Ix3>(&self.name, KIND, input)?;
        self.cache = (mode == Mode::Train).then_some(batch);
        let means = global_avg_pool1d_forward(x.view());
        // The input is done with: its storage can take the input gradient.
        buffers::give_back(x);
        Ok(pooled_output(means, self.keepdims))
    }
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let batch = take_cache(&self.name, &mut self.cache)?;
        let shape = (batch, self.channels, self.keepdims);
        let grad = pooled_grad((&self.name, KIND), shape, grad_output)?;
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
        fn gradients_match_finite_differences(channels in 1usize..4, length in 1usize..12, keepdims in any::<bool>(), seed in any::<u64>()) {
            let mut layer = GlobalAveragePooling1D::build("g".into(), Shape::Signal { channels, length }, keepdims).expect("signal");
            check_layer(&mut layer, 2, Mode::Train, seed, GradCheck::smooth()).map_err(TestCaseError::fail)?;
        }
    }
}

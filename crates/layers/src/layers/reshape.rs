//! `Reshape`: Keras's reshape of each sample, `target_shape` in Keras's
//! channels-last terms: `(steps, channels)` for a signal, `(n,)` for
//! features. The squeeze-and-excitation block's `Reshape((1, C))` after a
//! global pooling is the common use.
//!
//! Keras keeps its row-major order across a reshape, and its order is
//! channels-last (`t * C + c`) where kymo's is channels-first (`c * L + t`):
//! the layer is a fixed permutation of each sample's values, built once,
//! gathered forward and scattered back. Where one side has a single
//! channel or a single step the permutation is the identity (PyTorch:
//! `nn.Unflatten` / `nn.Flatten`).

use kymo_tensor::Float;
use ndarray::{Array2, ArrayD};
use serde::{Deserialize, Serialize};

use crate::layer::{check_grad, check_input, config_error, take_cache};
use crate::limits::LayerPlan;
use crate::{Layer, LayerError, LayerSpec, Mode, Reach, Shape};

const KIND: &str = "Reshape";

/// Spec of `Reshape`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReshapeSpec {
    /// Keras's `target_shape` without the batch axis: `[steps, channels]`
    /// for a signal, `[n]` for features.
    pub target_shape: Vec<usize>,
    /// Optional layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The per-sample shape `target` stands for, if it has `size` values.
fn target(spec: &ReshapeSpec, name: &str, size: usize) -> Result<Shape, LayerError> {
    let shape = match spec.target_shape[..] {
        [features] => Shape::Features(features),
        [length, channels] => Shape::Signal { channels, length },
        _ => {
            return Err(config_error(
                name,
                KIND,
                "target_shape",
                format!(
                    "{:?}: a 1D model's samples are (steps, channels) or (n,)",
                    spec.target_shape
                ),
            ))
        }
    };
    if shape.size() != size || size == 0 {
        return Err(config_error(
            name,
            KIND,
            "target_shape",
            format!(
                "{:?} holds {} values, the input {size}",
                spec.target_shape,
                shape.size()
            ),
        ));
    }
    Ok(shape)
}

/// Sizes a Reshape for `input`: the same values, rearranged.
pub(crate) fn plan(spec: &ReshapeSpec, name: &str, input: Shape) -> Result<LayerPlan, LayerError> {
    let output = target(spec, name, input.size())?;
    LayerPlan::sized(name, KIND, output, 0, 0)
}

/// Position in Keras's row-major, channels-last order of kymo's element
/// `index` of a sample of `shape`.
fn keras_position(shape: Shape, index: usize) -> usize {
    match shape {
        Shape::Features(_) => index,
        Shape::Signal { channels, length } => {
            let (c, t) = (index / length, index % length);
            t * channels + c
        }
    }
}

/// Reshapes each sample as Keras does.
pub struct Reshape {
    spec: ReshapeSpec,
    name: String,
    input: Shape,
    output: Shape,
    /// For each output element (kymo's order), the input element it takes.
    source: Vec<usize>,
    /// The batch a training forward pass saw.
    cache: Option<usize>,
}

impl Reshape {
    /// Builds the layer for `input`.
    pub fn build(spec: ReshapeSpec, name: String, input: Shape) -> Result<Self, LayerError> {
        let output = target(&spec, &name, input.size())?;
        let size = input.size();
        // Keras position -> kymo input index, then each output element's
        // Keras position picks its source.
        let mut by_keras = vec![0; size];
        for index in 0..size {
            by_keras[keras_position(input, index)] = index;
        }
        let source = (0..size)
            .map(|index| by_keras[keras_position(output, index)])
            .collect();
        Ok(Self {
            spec,
            name,
            input,
            output,
            source,
            cache: None,
        })
    }

    /// Whether the permutation is the identity (a plain reshape).
    pub fn is_plain(&self) -> bool {
        self.source.iter().enumerate().all(|(i, &s)| i == s)
    }

    /// `array` of `batch` samples of `from`, rearranged sample by sample
    /// into `to`: gathered through `source` forward, or scattered back.
    fn rearrange<T: Float>(
        &self,
        array: ArrayD<T>,
        batch: usize,
        to: Shape,
        forward: bool,
    ) -> Result<ArrayD<T>, LayerError> {
        let size = self.input.size();
        let rows = crate::layer::standard(array)
            .into_shape_with_order((batch, size))
            .map_err(|_| config_error(&self.name, KIND, "input", "not a batch of samples"))?;
        let mut out = Array2::<T>::zeros((batch, size));
        for (row, mut target) in rows.outer_iter().zip(out.outer_iter_mut()) {
            for (j, &i) in self.source.iter().enumerate() {
                if forward {
                    target[j] = row[i];
                } else {
                    target[i] = row[j];
                }
            }
        }
        out.into_shape_with_order(to.with_batch(batch))
            .map_err(|_| config_error(&self.name, KIND, "output", "shape mismatch"))
    }
}

impl<T: Float> Layer<T> for Reshape {
    fn name(&self) -> &str {
        &self.name
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::Reshape(ReshapeSpec {
            name: Some(self.name.clone()),
            ..self.spec.clone()
        })
    }
    fn input_shape(&self) -> Shape {
        self.input
    }
    fn output_shape(&self) -> Shape {
        self.output
    }
    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        let batch = check_input(&self.name, KIND, self.input, &input)?;
        self.cache = (mode == Mode::Train).then_some(batch);
        self.rearrange(input, batch, self.output, true)
    }
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let batch = take_cache(&self.name, &mut self.cache)?;
        check_grad(
            &self.name,
            KIND,
            &self.output.with_batch(batch),
            &grad_output,
        )?;
        self.rearrange(grad_output, batch, self.input, false)
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

    fn spec(target_shape: &[usize]) -> ReshapeSpec {
        ReshapeSpec {
            target_shape: target_shape.to_vec(),
            name: None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn gradients_match_finite_differences(steps in 1usize..5, channels in 1usize..4, seed in any::<u64>()) {
            // Features to a signal, and a signal to another signal.
            let mut to_signal = Reshape::build(spec(&[steps, channels]), "r".into(), Shape::Features(steps * channels))
                .expect("sizes match");
            check_layer(&mut to_signal, 2, Mode::Train, seed, GradCheck::smooth()).map_err(TestCaseError::fail)?;
            let mut swapped = Reshape::build(spec(&[channels, steps]), "r".into(), Shape::Signal { channels, length: steps })
                .expect("sizes match");
            check_layer(&mut swapped, 2, Mode::Train, seed, GradCheck::smooth()).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn keeps_kerass_channels_last_order() {
        // Keras: features [0, 1, 2, 3, 4, 5] reshaped to (3 steps, 2
        // channels) are steps [0, 1], [2, 3], [4, 5]; kymo holds channel 0
        // as [0, 2, 4] and channel 1 as [1, 3, 5].
        let mut layer =
            Reshape::build(spec(&[3, 2]), "r".into(), Shape::Features(6)).expect("6 values");
        let x =
            ArrayD::from_shape_vec(vec![1, 6], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).expect("shape");
        let y = layer.forward(x, Mode::Inference).expect("reshapes");
        assert_eq!(y.shape(), [1, 2, 3]);
        assert_eq!(
            y.as_slice().expect("standard"),
            [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]
        );
        assert!(!layer.is_plain());
        // (1, C) after a global pooling: the identity.
        let squeeze =
            Reshape::build(spec(&[1, 4]), "r".into(), Shape::Features(4)).expect("4 values");
        assert!(squeeze.is_plain());
        let error = Reshape::build(spec(&[4, 4]), "r".into(), Shape::Features(4))
            .err()
            .expect("16 is not 4");
        assert!(error.to_string().contains("holds 16 values"), "{error}");
    }
}

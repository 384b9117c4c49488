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
//!
//! `Permute((2, 1))` is the same machinery with another permutation: it
//! swaps a signal's steps and channels (what a model written for
//! channels-first data puts first), `(steps, channels) -> (channels,
//! steps)`; `Permute((1, 2))` is the identity.

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

/// Spec of `Permute`: Keras's `dims`, the input axes (counted from 1,
/// without the batch) in their new order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermuteSpec {
    /// `[2, 1]` swaps steps and channels; `[1, 2]` (or `[1]` for
    /// features) keeps them.
    pub dims: Vec<usize>,
    /// Optional layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What a Permute of `input` gives, and whether it swaps the axes.
fn permuted(spec: &PermuteSpec, name: &str, input: Shape) -> Result<(Shape, bool), LayerError> {
    match (input, &spec.dims[..]) {
        (Shape::Signal { channels, length }, [2, 1]) => Ok((
            Shape::Signal {
                channels: length,
                length: channels,
            },
            true,
        )),
        (Shape::Signal { .. }, [1, 2]) | (Shape::Features(_), [1]) => Ok((input, false)),
        _ => Err(config_error(
            name,
            "Permute",
            "dims",
            format!(
                "{:?} is not a permutation of a 1D model's sample axes ((2, 1) or (1, 2) for (steps, channels))",
                spec.dims
            ),
        )),
    }
}

/// Sizes a Permute for `input`: the same values, the axes swapped or kept.
pub(crate) fn permute_plan(
    spec: &PermuteSpec,
    name: &str,
    input: Shape,
) -> Result<LayerPlan, LayerError> {
    let (output, _) = permuted(spec, name, input)?;
    LayerPlan::sized(name, "Permute", output, 0, 0)
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

/// Reshapes (or permutes) each sample as Keras does.
pub struct Reshape {
    /// The layer's spec: a `Reshape` or a `Permute`.
    spec: LayerSpec,
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
            spec: LayerSpec::Reshape(spec),
            name,
            input,
            output,
            source,
            cache: None,
        })
    }

    /// Builds a `Permute` for `input`: with `dims` `(2, 1)`, output
    /// element (channel `t`, step `c`) takes input (channel `c`, step `t`).
    pub fn permute(spec: PermuteSpec, name: String, input: Shape) -> Result<Self, LayerError> {
        let (output, swaps) = permuted(&spec, &name, input)?;
        let source = match (swaps, input) {
            (true, Shape::Signal { channels, length }) => (0..input.size())
                .map(|index| {
                    // Output (channel t, step c) of `length` channels and
                    // `channels` steps, from input (channel c, step t).
                    let (t, c) = (index / channels, index % channels);
                    c * length + t
                })
                .collect(),
            _ => (0..input.size()).collect(),
        };
        Ok(Self {
            spec: LayerSpec::Permute(spec),
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
        let kind = self.spec.kind();
        let rows = crate::layer::standard(array)
            .into_shape_with_order((batch, size))
            .map_err(|_| config_error(&self.name, kind, "input", "not a batch of samples"))?;
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
            .map_err(|_| config_error(&self.name, kind, "output", "shape mismatch"))
    }
}

impl<T: Float> Layer<T> for Reshape {
    fn name(&self) -> &str {
        &self.name
    }
    fn spec(&self) -> LayerSpec {
        let name = Some(self.name.clone());
        match &self.spec {
            LayerSpec::Permute(spec) => LayerSpec::Permute(PermuteSpec {
                name,
                ..spec.clone()
            }),
            LayerSpec::Reshape(spec) => LayerSpec::Reshape(ReshapeSpec {
                name,
                ..spec.clone()
            }),
            other => other.clone(),
        }
    }
    fn input_shape(&self) -> Shape {
        self.input
    }
    fn output_shape(&self) -> Shape {
        self.output
    }
    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        let batch = check_input(&self.name, self.spec.kind(), self.input, &input)?;
        self.cache = (mode == Mode::Train).then_some(batch);
        self.rearrange(input, batch, self.output, true)
    }
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let batch = take_cache(&self.name, &mut self.cache)?;
        check_grad(
            &self.name,
            self.spec.kind(),
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn permute_gradients_match_finite_differences(steps in 1usize..5, channels in 1usize..4, seed in any::<u64>()) {
            let spec = PermuteSpec { dims: vec![2, 1], name: None };
            let mut swap = Reshape::permute(spec, "p".into(), Shape::Signal { channels, length: steps })
                .expect("a signal");
            check_layer(&mut swap, 2, Mode::Train, seed, GradCheck::smooth()).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn permute_swaps_steps_and_channels_and_refuses_other_dims() {
        // Keras: (3 steps, 2 channels) [[0, 1], [2, 3], [4, 5]] permuted
        // is (2 steps, 3 channels) [[0, 2, 4], [1, 3, 5]]. kymo holds the
        // input as channels [0, 2, 4] and [1, 3, 5], and the output as
        // channels [0, 1], [2, 3], [4, 5].
        let spec = PermuteSpec {
            dims: vec![2, 1],
            name: None,
        };
        let input = Shape::Signal {
            channels: 2,
            length: 3,
        };
        let mut layer = Reshape::permute(spec, "p".into(), input).expect("a signal");
        let x = ArrayD::from_shape_vec(vec![1, 2, 3], vec![0.0, 2.0, 4.0, 1.0, 3.0, 5.0])
            .expect("shape");
        let y = layer.forward(x, Mode::Inference).expect("permutes");
        assert_eq!(y.shape(), [1, 3, 2]);
        assert_eq!(
            y.iter().copied().collect::<Vec<f64>>(),
            [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        );
        let odd = PermuteSpec {
            dims: vec![2, 3],
            name: None,
        };
        let error = Reshape::permute(odd, "p".into(), input)
            .err()
            .expect("refused");
        assert!(error.to_string().contains("dims"), "{error}");
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

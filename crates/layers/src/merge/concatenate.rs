//! `Concatenate`: inputs joined along the channel axis, the join of an
//! Inception module's branches (PyTorch: `torch.cat(xs, dim=1)`).

use kymo_tensor::elementwise::copy_pairs;
use kymo_tensor::Float;
use ndarray::{ArrayD, Axis};
use serde::{Deserialize, Serialize};

use super::{check_inputs, Merge};
use crate::buffers;
use crate::{LayerError, LayerSpec, Mode, Shape};

const KIND: &str = "Concatenate";

/// Spec of `Concatenate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcatenateSpec {
    /// The axis in Keras's terms (channels last, batch axis 0): `-1`
    /// (Keras's default), or `2` for a signal and `1` for features, is the
    /// channel axis, the only one supported.
    #[serde(default = "default_axis")]
    pub axis: i64,
    /// Optional layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn default_axis() -> i64 {
    -1
}

impl Default for ConcatenateSpec {
    fn default() -> Self {
        Self {
            axis: default_axis(),
            name: None,
        }
    }
}

/// Concatenation along the channel axis.
pub struct Concatenate {
    name: String,
    axis: i64,
    shapes: Vec<Shape>,
    output: Shape,
}

impl Concatenate {
    /// Builds the layer: signals must share their length, and the output
    /// has the sum of their channels (features: the sum of their widths).
    pub fn build(
        spec: &ConcatenateSpec,
        name: String,
        shapes: &[Shape],
    ) -> Result<Self, LayerError> {
        let first = shapes.first().copied().ok_or_else(|| LayerError::Config {
            layer: name.clone(),
            kind: KIND,
            field: "inputs",
            reason: "no inputs".into(),
        })?;
        let channel_axis = match first {
            Shape::Signal { .. } => 2,
            Shape::Features(_) => 1,
        };
        if spec.axis != -1 && spec.axis != channel_axis {
            return Err(LayerError::Config {
                layer: name,
                kind: KIND,
                field: "axis",
                reason: format!(
                    "axis {} is not the channel axis (-1 or {channel_axis} in Keras's \
                     channels-last terms); only channels can be concatenated",
                    spec.axis
                ),
            });
        }
        let mismatch = |found: Shape| LayerError::InputShape {
            layer: name.clone(),
            kind: KIND,
            expected: format!("inputs that differ from {first} only in channels"),
            found: found.to_string(),
        };
        let mut total = 0usize;
        for &shape in shapes {
            let channels = match (first, shape) {
                (
                    Shape::Signal { length, .. },
                    Shape::Signal {
                        channels,
                        length: l,
                    },
                ) if l == length => channels,
                (Shape::Features(_), Shape::Features(n)) => n,
                _ => return Err(mismatch(shape)),
            };
            total = total.checked_add(channels).ok_or_else(|| mismatch(shape))?;
        }
        let output = match first {
            Shape::Signal { length, .. } => Shape::Signal {
                channels: total,
                length,
            },
            Shape::Features(_) => Shape::Features(total),
        };
        Ok(Self {
            name,
            axis: spec.axis,
            shapes: shapes.to_vec(),
            output,
        })
    }
}

impl<T: Float> Merge<T> for Concatenate {
    fn name(&self) -> &str {
        &self.name
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::Concatenate(ConcatenateSpec {
            axis: self.axis,
            name: Some(self.name.clone()),
        })
    }
    fn output_shape(&self) -> Shape {
        self.output
    }
    fn forward(&mut self, inputs: Vec<ArrayD<T>>, _mode: Mode) -> Result<ArrayD<T>, LayerError> {
        let batch = check_inputs(&self.name, KIND, &self.shapes, &inputs)?;
        // Written in standard layout into a reused buffer: `ndarray::concatenate`
        // allocated a fresh array every step, laid out channel-major, which the
        // BatchNormalization after an Inception module then copied again.
        let mut output = buffers::array(ndarray::IxDyn(&self.output.with_batch(batch)));
        if !join_blocks(&mut output, &inputs, batch) {
            let mut start = 0;
            // NCL: the channel axis is 1, for signals and features alike.
            for input in &inputs {
                let end = start + input.shape().get(1).copied().unwrap_or(0);
                output
                    .slice_axis_mut(Axis(1), ndarray::Slice::from(start..end))
                    .assign(input);
                start = end;
            }
        }
        inputs.into_iter().for_each(buffers::give_back);
        Ok(output)
    }
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<Vec<ArrayD<T>>, LayerError> {
        let batch = grad_output.shape().first().copied().unwrap_or(0);
        crate::layer::check_grad(
            &self.name,
            KIND,
            &self.output.with_batch(batch),
            &grad_output,
        )?;
        let mut parts: Vec<ArrayD<T>> = self
            .shapes
            .iter()
            .map(|shape| buffers::array(ndarray::IxDyn(&shape.with_batch(batch))))
            .collect();
        if !split_blocks(&grad_output, &mut parts, batch) {
            let mut start = 0;
            for part in &mut parts {
                let end = start + part.shape().get(1).copied().unwrap_or(0);
                part.assign(&grad_output.slice_axis(Axis(1), ndarray::Slice::from(start..end)));
                start = end;
            }
        }
        buffers::give_back(grad_output);
        Ok(parts)
    }
}

/// Elements per sample of each part: `C_k x L` of a `[B, C_k, L]` array
/// (`C_k` of a `[B, C_k]` one).
fn widths<T>(parts: &[ArrayD<T>], batch: usize) -> Vec<usize> {
    parts.iter().map(|part| part.len() / batch.max(1)).collect()
}

/// Copies every sample's block of each part into its place in `joined`
/// (NCL, standard layout: sample `s`'s channels of part `k` follow those of
/// the parts before it), split across threads; false, with nothing
/// written, when an array is not contiguous.
fn join_blocks<T: Float>(joined: &mut ArrayD<T>, parts: &[ArrayD<T>], batch: usize) -> bool {
    let widths = widths(parts, batch);
    let total: usize = widths.iter().sum();
    let sources: Option<Vec<&[T]>> = parts.iter().map(|part| part.as_slice()).collect();
    let (Some(target), Some(sources)) = (joined.as_slice_mut(), sources) else {
        return false;
    };
    let mut pairs = Vec::with_capacity(batch * parts.len());
    // In bounds: `check_inputs` gave every part `batch` samples of its
    // width, and `joined` was shaped to `batch` samples of their sum.
    for (sample, mut rest) in target.chunks_mut(total.max(1)).enumerate() {
        for (source, &width) in sources.iter().zip(&widths) {
            let (block, tail) = rest.split_at_mut(width);
            rest = tail;
            pairs.push((block, &source[sample * width..][..width]));
        }
    }
    copy_pairs(pairs).is_ok()
}

/// The inverse of [`join_blocks`]: each part's samples from their places
/// in `joined`; false, with nothing written, when an array is not
/// contiguous.
fn split_blocks<T: Float>(joined: &ArrayD<T>, parts: &mut [ArrayD<T>], batch: usize) -> bool {
    let widths = widths(parts, batch);
    let total: usize = widths.iter().sum();
    let targets: Option<Vec<&mut [T]>> = parts.iter_mut().map(|part| part.as_slice_mut()).collect();
    let (Some(source), Some(targets)) = (joined.as_slice(), targets) else {
        return false;
    };
    let mut pairs = Vec::with_capacity(batch * widths.len());
    // In bounds: `check_grad` gave `joined` `batch` samples of the summed
    // width, and each part was shaped to `batch` samples of its own.
    let mut offset = 0;
    for (target, &width) in targets.into_iter().zip(&widths) {
        for (sample, block) in target.chunks_mut(width.max(1)).enumerate() {
            pairs.push((block, &source[sample * total + offset..][..width]));
        }
        offset += width;
    }
    copy_pairs(pairs).is_ok()
}

#[cfg(test)]
mod tests {
    use super::super::test_graphs::two_branches;
    use super::*;
    use crate::gradcheck::{check_model, GradCheck};
    use crate::Mode;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        #[test]
        fn gradients_match_finite_differences(
            channels in 1usize..3,
            length in 2usize..9,
            widths in (1usize..4, 1usize..4),
            with_input in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let spec = two_branches(LayerSpec::Concatenate(ConcatenateSpec::default()), channels, length, [widths.0, widths.1], with_input);
            let mut model = spec.build::<f64>(seed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(model.output_shape(), Shape::Signal { channels: widths.0 + widths.1 + if with_input { channels } else { 0 }, length });
            check_model(model.as_mut(), 2, Mode::Train, seed, GradCheck::smooth()).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn puts_each_input_s_channels_in_order() {
        let mut layer = Concatenate::build(
            &ConcatenateSpec::default(),
            "c".into(),
            &[
                Shape::Signal {
                    channels: 1,
                    length: 2,
                },
                Shape::Signal {
                    channels: 2,
                    length: 2,
                },
            ],
        )
        .expect("same length");
        let a = ndarray::arr3(&[[[1.0f64, 2.0]]]).into_dyn();
        let b = ndarray::arr3(&[[[3.0, 4.0], [5.0, 6.0]]]).into_dyn();
        // Pooled buffers of stale values: the output and the split
        // overwrite them.
        for _ in 0..3 {
            kymo_tensor::give_buffer(vec![f64::NAN; 8]);
        }
        let inputs = vec![a.clone(), b.clone()];
        let y = Merge::<f64>::forward(&mut layer, inputs, Mode::Train).expect("forward");
        assert_eq!(
            y,
            ndarray::arr3(&[[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]]).into_dyn()
        );
        assert!(y.is_standard_layout());
        let grads = Merge::<f64>::backward(&mut layer, y).expect("backward");
        assert_eq!(grads, vec![a, b]);
    }

    /// Contiguous inputs take the split block copies, strided ones
    /// ndarray's slices: the same joined array and the same split
    /// gradients, over several samples.
    #[test]
    fn contiguous_and_strided_inputs_join_and_split_alike() {
        let signal = |channels, length| Shape::Signal { channels, length };
        let mut layer = Concatenate::build(
            &ConcatenateSpec::default(),
            "c".into(),
            &[signal(2, 5), signal(3, 5)],
        )
        .expect("same length");
        let input = |channels: usize, offset: f64| {
            ndarray::Array3::from_shape_fn((3, channels, 5), |(b, c, l)| {
                offset + (b * 100 + c * 10 + l) as f64
            })
        };
        // The same values, laid out length-major.
        let strided = |a: &ndarray::Array3<f64>| {
            let mut t = ndarray::Array3::zeros((5, a.dim().1, 3));
            t.assign(&a.view().permuted_axes([2, 1, 0]));
            t.permuted_axes([2, 1, 0]).into_dyn()
        };
        let (a, b) = (input(2, 0.0), input(3, 0.5));
        let contiguous = vec![a.clone().into_dyn(), b.clone().into_dyn()];
        let y =
            Merge::<f64>::forward(&mut layer, contiguous.clone(), Mode::Train).expect("forward");
        let (sa, sb) = (strided(&a), strided(&b));
        assert!(sa.as_slice().is_none());
        let y_strided =
            Merge::<f64>::forward(&mut layer, vec![sa, sb], Mode::Train).expect("forward");
        assert_eq!(y, y_strided);
        // Sample 1's third channel is `b`'s first.
        assert_eq!(y[[1, 2, 3]], b[[1, 0, 3]]);
        let grads = Merge::<f64>::backward(&mut layer, y.clone()).expect("backward");
        assert_eq!(grads, contiguous);
        let y_strided = strided(&y.into_dimensionality().expect("three axes"));
        let grads_strided = Merge::<f64>::backward(&mut layer, y_strided).expect("backward");
        assert_eq!(grads_strided, contiguous);
    }

    #[test]
    fn refuses_another_axis_and_other_lengths() {
        let signal = |channels, length| Shape::Signal { channels, length };
        let spec = ConcatenateSpec {
            axis: 1,
            name: None,
        };
        assert!(Concatenate::build(&spec, "c".into(), &[signal(1, 4), signal(1, 4)]).is_err());
        let error = Concatenate::build(
            &ConcatenateSpec::default(),
            "c".into(),
            &[signal(1, 4), signal(1, 5)],
        )
        .err()
        .expect("lengths differ");
        assert!(error.to_string().contains("'c'"), "{error}");
    }
}

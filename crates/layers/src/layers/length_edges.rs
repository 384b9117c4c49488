//! `ZeroPadding1D` and `Cropping1D`: zeros added to, or points cut from,
//! the two ends of the length axis, `[B, C, L] -> [B, C, left + L + right]`
//! or `[B, C, L - left - right]` (PyTorch: `nn.ConstantPad1d((left, right),
//! 0)`, and with negative counts for a crop). One type: each is the other's
//! backward pass.

use kymo_tensor::Float;
use ndarray::{s, Array3, ArrayD, Ix3};
use serde::{Deserialize, Serialize};

use crate::layer::{check_grad, check_input, config_error, fixed};
use crate::limits::{padded_length, LayerPlan};
use crate::{Layer, LayerError, LayerSpec, Mode, Shape};

/// Points added (`ZeroPadding1D`) or cut (`Cropping1D`) at each end of
/// the length axis; Keras's `padding` / `cropping` of `(left, right)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LengthEdgesSpec {
    /// Points at the start of the signal.
    pub left: usize,
    /// Points at its end.
    pub right: usize,
    /// Optional layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Whether the edges are added or cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeChange {
    /// `ZeroPadding1D`: zeros added.
    Pad,
    /// `Cropping1D`: points cut.
    Crop,
}

impl EdgeChange {
    fn kind(self) -> &'static str {
        match self {
            EdgeChange::Pad => "ZeroPadding1D",
            EdgeChange::Crop => "Cropping1D",
        }
    }
}

/// Zero padding or cropping of the length axis.
pub struct LengthEdges {
    spec: LengthEdgesSpec,
    change: EdgeChange,
    name: String,
    channels: usize,
    length: usize,
    output_length: usize,
}

/// The padded or cropped length of a `length`-point signal, refused when
/// cropping leaves no point or padding overflows.
fn output_length(
    spec: &LengthEdgesSpec,
    change: EdgeChange,
    name: &str,
    length: usize,
) -> Result<usize, LayerError> {
    let kind = change.kind();
    match change {
        EdgeChange::Pad => padded_length(name, kind, length, spec.left, spec.right),
        EdgeChange::Crop => spec
            .left
            .checked_add(spec.right)
            .and_then(|cut| length.checked_sub(cut))
            .filter(|&kept| kept > 0)
            .ok_or_else(|| {
                config_error(
                    name,
                    kind,
                    "cropping",
                    format!(
                        "cutting {} + {} points leaves none of a {length}-point signal",
                        spec.left, spec.right
                    ),
                )
            }),
    }
}

/// Sizes the layer for `input`: the same channels at [`output_length`].
pub(crate) fn plan(
    spec: &LengthEdgesSpec,
    change: EdgeChange,
    name: &str,
    input: Shape,
) -> Result<LayerPlan, LayerError> {
    let kind = change.kind();
    let (channels, length) = crate::limits::signal_input(name, kind, input)?;
    let output = Shape::Signal {
        channels,
        length: output_length(spec, change, name, length)?,
    };
    LayerPlan::sized(name, kind, output, 0, 0)
}

impl LengthEdges {
    /// Builds the layer for a signal input.
    pub fn build(
        spec: LengthEdgesSpec,
        change: EdgeChange,
        name: String,
        input: Shape,
    ) -> Result<Self, LayerError> {
        let (channels, length) = crate::limits::signal_input(&name, change.kind(), input)?;
        let output_length = output_length(&spec, change, &name, length)?;
        Ok(Self {
            spec,
            change,
            name,
            channels,
            length,
            output_length,
        })
    }

    /// `values` (`[B, C, L]`) at the length `to`: with `pad`, placed
    /// `left` points in and zeros around them (`to` is longer); without,
    /// the `to` points from `left` on (`to` is shorter).
    fn moved<T: Float>(&self, values: Array3<T>, to: usize, pad: bool) -> ArrayD<T> {
        let (batch, channels, _) = values.dim();
        let mut out = Array3::zeros((batch, channels, to));
        let left = self.spec.left;
        if pad {
            out.slice_mut(s![.., .., left..left + values.dim().2])
                .assign(&values);
        } else {
            out.assign(&values.slice(s![.., .., left..left + to]));
        }
        out.into_dyn()
    }
}

impl<T: Float> Layer<T> for LengthEdges {
    fn name(&self) -> &str {
        &self.name
    }
    fn spec(&self) -> LayerSpec {
        let spec = LengthEdgesSpec {
            name: Some(self.name.clone()),
            ..self.spec.clone()
        };
        match self.change {
            EdgeChange::Pad => LayerSpec::ZeroPadding1D(spec),
            EdgeChange::Crop => LayerSpec::Cropping1D(spec),
        }
    }
    fn input_shape(&self) -> Shape {
        Shape::Signal {
            channels: self.channels,
            length: self.length,
        }
    }
    fn output_shape(&self) -> Shape {
        Shape::Signal {
            channels: self.channels,
            length: self.output_length,
        }
    }
    fn forward(&mut self, input: ArrayD<T>, _mode: Mode) -> Result<ArrayD<T>, LayerError> {
        let kind = self.change.kind();
        check_input(&self.name, kind, Layer::<T>::input_shape(self), &input)?;
        let x = fixed::<T, Ix3>(&self.name, kind, input)?;
        Ok(self.moved(x, self.output_length, self.change == EdgeChange::Pad))
    }
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let kind = self.change.kind();
        let batch = grad_output.shape().first().copied().unwrap_or(0);
        let expected = Layer::<T>::output_shape(self).with_batch(batch);
        check_grad(&self.name, kind, &expected, &grad_output)?;
        let grad = fixed::<T, Ix3>(&self.name, kind, grad_output)?;
        // The adjoint of padding is cropping, and the other way round.
        Ok(self.moved(grad, self.length, self.change == EdgeChange::Crop))
    }
    fn replays(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_layer, GradCheck};
    use proptest::prelude::*;

    fn layer(change: EdgeChange, left: usize, right: usize, length: usize) -> LengthEdges {
        let spec = LengthEdgesSpec {
            left,
            right,
            name: None,
        };
        let input = Shape::Signal {
            channels: 2,
            length,
        };
        LengthEdges::build(spec, change, "e".into(), input).expect("fits")
    }

    #[test]
    fn padding_adds_zeros_and_cropping_cuts_points_at_each_end() {
        let x = ndarray::arr3(&[[[1.0f64, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]]).into_dyn();
        let mut pad = layer(EdgeChange::Pad, 2, 1, 4);
        let y = pad.forward(x.clone(), Mode::Train).expect("forward");
        let want = ndarray::arr3(&[[
            [0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0],
            [0.0, 0.0, 5.0, 6.0, 7.0, 8.0, 0.0],
        ]]);
        assert_eq!(y, want.into_dyn());
        assert_eq!(pad.backward(y).expect("backward"), x);
        let mut crop = layer(EdgeChange::Crop, 1, 2, 4);
        let y = crop.forward(x, Mode::Train).expect("forward");
        assert_eq!(y, ndarray::arr3(&[[[2.0], [6.0]]]).into_dyn());
        let g = crop.backward(y).expect("backward");
        let want = ndarray::arr3(&[[[0.0, 2.0, 0.0, 0.0], [0.0, 6.0, 0.0, 0.0]]]);
        assert_eq!(g, want.into_dyn());
    }

    #[test]
    fn cropping_every_point_is_an_error_naming_the_layer() {
        let spec = LengthEdgesSpec {
            left: 3,
            right: 2,
            name: None,
        };
        let input = Shape::Signal {
            channels: 1,
            length: 5,
        };
        let error = LengthEdges::build(spec, EdgeChange::Crop, "cut".into(), input)
            .err()
            .expect("nothing left");
        assert!(error.to_string().contains("cut"), "{error}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn gradients_match_finite_differences(
            crop in any::<bool>(),
            left in 0usize..3,
            right in 0usize..3,
            length in 6usize..10,
            seed in any::<u64>(),
        ) {
            let change = if crop { EdgeChange::Crop } else { EdgeChange::Pad };
            let mut layer = layer(change, left, right, length);
            check_layer(&mut layer, 2, Mode::Train, seed, GradCheck::smooth()).map_err(TestCaseError::fail)?;
        }
    }
}

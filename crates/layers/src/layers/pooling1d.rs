//! `MaxPooling1D` and `AveragePooling1D` (PyTorch: `nn.MaxPool1d`,
//! `nn.AvgPool1d`): one layer type over the two reductions, which share
//! their spec and geometry.
//!
//! Keras defaults: `pool_size` 2, `strides` = `pool_size`, `valid`. Keras's
//! `same` average pooling divides by the real elements in each window
//! (PyTorch's `count_include_pad=False`).

use kymo_tensor::{
    avg_pool1d_backward, avg_pool1d_forward, leaky_max_pool1d_backward_from_taps,
    leaky_max_pool1d_backward_in_place, leaky_max_pool1d_forward_into,
    leaky_max_pool1d_forward_keeping_taps, max_pool1d_backward_from_taps,
    max_pool1d_backward_in_place, max_pool1d_forward_into, max_pool1d_forward_keeping_taps,
    max_pool1d_keeps_taps, Float, Padding, Pool1dConfig, PooledGradient,
};
use ndarray::{Array3, ArrayD, ArrayView3, Ix3};
use serde::{Deserialize, Serialize};

use crate::buffers;
use crate::channel_maps::apply_by_rows;
use crate::layer::{check_grad, check_input, fixed, standard, take_cache};
use crate::limits::{padded_length, product, LayerPlan};
use crate::{ChannelMaps, Layer, LayerError, LayerSpec, Mode, Reach, Recompute, Shape};

/// Configuration of a 1D pooling layer, with Keras's names and defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pooling1DSpec {
    /// Window size (default 2).
    #[serde(default = "two")]
    pub pool_size: usize,
    /// Step between windows (default: `pool_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strides: Option<usize>,
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// Optional layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn two() -> usize {
    2
}

impl Default for Pooling1DSpec {
    fn default() -> Self {
        Self {
            pool_size: 2,
            strides: None,
            padding: Padding::Valid,
            name: None,
        }
    }
}

impl Pooling1DSpec {
    /// The kernel geometry, with Keras's `strides = pool_size` default.
    pub fn config(&self) -> Pool1dConfig {
        Pool1dConfig {
            pool_size: self.pool_size,
            stride: self.strides.unwrap_or(self.pool_size),
            padding: self.padding,
        }
    }
}

/// Which reduction a pooling layer applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// `MaxPooling1D`.
    Max,
    /// `AveragePooling1D`.
    Average,
}

impl Reduction {
    fn kind(self) -> &'static str {
        match self {
            Reduction::Max => "MaxPooling1D",
            Reduction::Average => "AveragePooling1D",
        }
    }
}

/// What a training-mode forward keeps for backward.
enum Cache<T> {
    /// Max pooling that keeps no taps (strided, or wider than 16) keeps its
    /// input: backward writes the input gradient over it (finding the
    /// winners again for pools of at most [`RECOMPUTE_LIMIT`]). With a
    /// leaky ReLU absorbed (its slope in `kink`), the input is the
    /// activation's.
    Max {
        input: Array3<T>,
        kink: Option<T>,
    },
    /// A small stride-1 max pool in training keeps each output's winning
    /// tap, one byte, in the layer's `taps` (with an absorbed LeakyReLU,
    /// its slope here and which side of the kink each input was on, one
    /// byte, in `positive`), and gives its input back: backward writes the
    /// input gradient into a pooled buffer.
    MaxTaps {
        batch: usize,
        kink: Option<T>,
    },
    Average {
        batch: usize,
    },
}

/// A 1D pooling layer.
pub struct Pooling1D<T> {
    spec: Pooling1DSpec,
    reduction: Reduction,
    name: String,
    input: Shape,
    output: Shape,
    cache: Option<Cache<T>>,
    /// Each output's winner, kept by forward for pools larger than
    /// [`RECOMPUTE_LIMIT`]; reused from step to step.
    winners: Vec<u32>,
    /// Each output's winning tap, kept by forward for the pools of
    /// `Cache::MaxTaps`; reused from step to step.
    taps: Vec<u8>,
    /// For `Cache::MaxTaps` after an absorbed LeakyReLU: whether each
    /// input was above the kink; reused from step to step.
    positive: Vec<u8>,
}

/// Pools up to this size let backward find the winners again from the
/// input (a few comparisons per output are cheaper than writing and reading
/// a `u32` per output); larger ones keep them.
const RECOMPUTE_LIMIT: usize = 4;

/// Sizes a pooling layer (`kind`: max or average) for `input` without
/// allocating: the same channels at the window's output length, and one
/// padded row of scratch per channel.
pub(crate) fn plan(
    spec: &Pooling1DSpec,
    kind: &'static str,
    name: &str,
    input: Shape,
) -> Result<LayerPlan, LayerError> {
    let (channels, length) = crate::limits::signal_input(name, kind, input)?;
    let window = spec
        .config()
        .window(length)
        .map_err(|source| LayerError::Kernel {
            layer: name.to_string(),
            source,
        })?;
    let padded = match spec.padding {
        Padding::Valid => length,
        // `window` refused a causal pool above; sized as padded anyway.
        Padding::Same | Padding::Causal => {
            padded_length(name, kind, length, window.pad_left, window.pad_right)?
        }
    };
    // A pool keeps one window of scratch per row: bounded with the padded
    // row, so a pool_size in the billions is refused here.
    let scratch = padded.max(spec.pool_size);
    LayerPlan::sized(
        name,
        kind,
        Shape::Signal {
            channels,
            length: window.output_length,
        },
        0,
        product(name, kind, "pool_size", &[channels, scratch])?,
    )
}

impl<T: Float> Pooling1D<T> {
    /// Builds the layer for `input`.
    pub fn build(
        spec: Pooling1DSpec,
        reduction: Reduction,
        name: String,
        input: Shape,
    ) -> Result<Self, LayerError> {
        let output = plan(&spec, reduction.kind(), &name, input)?.output;
        Ok(Self {
            output,
            spec,
            reduction,
            name,
            input,
            cache: None,
            winners: Vec::new(),
            taps: Vec::new(),
            positive: Vec::new(),
        })
    }
}

impl<T: Float> Pooling1D<T> {
    /// A `LeakyReLU` of `negative_slope` then this max pool, in one pass,
    /// with the same bits as the two layers one after the other; the next
    /// `backward` returns the gradient with respect to the `LeakyReLU`'s
    /// input. For the fusion plan (`crate::fusion`), which pairs only max
    /// pools.
    pub(crate) fn forward_after_leaky_relu(
        &mut self,
        input: ArrayD<T>,
        negative_slope: f64,
        mode: Mode,
    ) -> Result<ArrayD<T>, LayerError> {
        if self.reduction != Reduction::Max {
            return Err(crate::layer::config_error(
                &self.name,
                self.reduction.kind(),
                "negative_slope",
                "only a max pool can run a LeakyReLU before it in its own pass",
            ));
        }
        self.forward_with(input, Some(T::from_f64_lossy(negative_slope)), mode)
    }

    /// Whether the pending backward is that of a fused forward
    /// ([`Pooling1D::forward_after_leaky_relu`]): it then returns the
    /// gradient with respect to the LeakyReLU's input.
    pub(crate) fn pending_backward_is_fused(&self) -> bool {
        matches!(
            &self.cache,
            Some(Cache::Max { kink: Some(_), .. } | Cache::MaxTaps { kink: Some(_), .. })
        )
    }

    /// Whether the pending backward can take its output gradient as two
    /// factors ([`Pooling1D::backward_rank_one`]): a max pool that kept
    /// its taps.
    pub(crate) fn takes_rank_one_gradient(&self) -> bool {
        matches!(&self.cache, Some(Cache::MaxTaps { .. }))
    }

    /// The pending backward, with the output gradient `scale[b] ·
    /// weights[c · L_out + p]` (a one-unit `Dense` head's, through a
    /// `Flatten`) made row by row where it is read rather than given as
    /// values: the same bits as [`Layer::backward`] on those values. For a
    /// pool that [`Pooling1D::takes_rank_one_gradient`]; with an absorbed
    /// LeakyReLU, the gradient with respect to its input.
    pub(crate) fn backward_rank_one(
        &mut self,
        scale: &[T],
        weights: &[T],
    ) -> Result<ArrayD<T>, LayerError> {
        let kind = self.reduction.kind();
        let Some(Cache::MaxTaps { batch, kink }) = self.cache.take() else {
            return Err(crate::layer::config_error(
                &self.name,
                kind,
                "cache",
                "a gradient in factors needs a max pool that kept its taps",
            ));
        };
        let grad = PooledGradient::RankOne { scale, weights };
        Ok(self.backward_from_taps(batch, kink, grad)?.into_dyn())
    }

    /// The input gradient of a batch of `batch` from the taps (and with a
    /// kink, the sides) the forward pass kept.
    fn backward_from_taps(
        &self,
        batch: usize,
        kink: Option<T>,
        grad: PooledGradient<'_, T>,
    ) -> Result<Array3<T>, LayerError> {
        let shape = self.input.with_batch(batch);
        let mut grad_input = buffers::array(Ix3(shape[0], shape[1], shape[2]));
        let outputs = self.output.with_batch(batch).iter().product::<usize>();
        // The forward pass that left the cache sized the taps to its
        // output, this batch's (and with a kink, the sides to its input).
        let taps = self.taps.get(..outputs).unwrap_or(&self.taps);
        let (target, config) = (grad_input.view_mut(), self.spec.config());
        match kink {
            // The kernel refuses sides or taps of any other length by name.
            Some(slope) => {
                let kept = (taps, &self.positive[..]);
                leaky_max_pool1d_backward_from_taps(target, grad, slope, config, kept)
            }
            None => max_pool1d_backward_from_taps(target, grad, config, taps),
        }
        .map_err(|source| LayerError::Kernel {
            layer: self.name.clone(),
            source,
        })?;
        Ok(grad_input)
    }

    /// Forward, after a leaky ReLU of slope `kink` when given (max only).
    fn forward_with(
        &mut self,
        input: ArrayD<T>,
        kink: Option<T>,
        mode: Mode,
    ) -> Result<ArrayD<T>, LayerError> {
        let kind = self.reduction.kind();
        let batch = check_input(&self.name, kind, self.input, &input)?;
        let x = fixed::<T, Ix3>(&self.name, kind, input)?;
        let kernel_error = |source| LayerError::Kernel {
            layer: self.name.clone(),
            source,
        };
        let train = mode == Mode::Train;
        let (output, cache) = match self.reduction {
            Reduction::Max if train && max_pool1d_keeps_taps(&self.spec.config()) => {
                let shape = self.output.with_batch(batch);
                let mut y = buffers::array(Ix3(shape[0], shape[1], shape[2]));
                self.taps.resize(y.len(), 0);
                let config = self.spec.config();
                match kink {
                    Some(slope) => {
                        self.positive.resize(x.len(), 0);
                        let kept = (&mut self.taps[..], &mut self.positive[..]);
                        leaky_max_pool1d_forward_keeping_taps(
                            x.view(),
                            slope,
                            config,
                            y.view_mut(),
                            kept,
                        )
                    }
                    None => max_pool1d_forward_keeping_taps(
                        x.view(),
                        config,
                        y.view_mut(),
                        &mut self.taps,
                    ),
                }
                .map_err(kernel_error)?;
                // The bytes are all backward needs: the input goes back now.
                buffers::give_back(x);
                (y, Cache::MaxTaps { batch, kink })
            }
            Reduction::Max => {
                let x = standard(x);
                let y = self.max_pooled(x.view(), kink, train)?;
                (y, Cache::Max { input: x, kink })
            }
            Reduction::Average => (
                avg_pool1d_forward(x.view(), self.spec.config()).map_err(kernel_error)?,
                Cache::Average { batch },
            ),
        };
        self.cache = match cache {
            cache if train => Some(cache),
            // Inference keeps nothing: the input goes back to the pool.
            Cache::Max { input, .. } => {
                buffers::give_back(input);
                None
            }
            _ => None,
        };
        Ok(output.into_dyn())
    }
}

impl<T: Float> Pooling1D<T> {
    /// The max pool of `x` (checked by the caller), after a leaky ReLU of
    /// slope `kink` when given, into a pooled buffer; the winners go to
    /// the layer's `winners` when `train` and the pool is too wide for
    /// backward to find them again.
    fn max_pooled(
        &mut self,
        x: ArrayView3<'_, T>,
        kink: Option<T>,
        train: bool,
    ) -> Result<Array3<T>, LayerError> {
        let shape = self.output.with_batch(x.dim().0);
        let mut y = buffers::array(Ix3(shape[0], shape[1], shape[2]));
        // Inference has no backward to keep winners for.
        let winners = if train && self.spec.pool_size > RECOMPUTE_LIMIT {
            self.winners.resize(y.len(), 0);
            Some(&mut self.winners[..])
        } else {
            None
        };
        let config = self.spec.config();
        match kink {
            Some(slope) => leaky_max_pool1d_forward_into(x, slope, config, y.view_mut(), winners),
            None => max_pool1d_forward_into(x, config, y.view_mut(), winners),
        }
        .map_err(|source| LayerError::Kernel {
            layer: self.name.clone(),
            source,
        })?;
        Ok(y)
    }
}

impl<T: Float> Layer<T> for Pooling1D<T> {
    fn name(&self) -> &str {
        &self.name
    }
    fn spec(&self) -> LayerSpec {
        let spec = Pooling1DSpec {
            name: Some(self.name.clone()),
            ..self.spec.clone()
        };
        match self.reduction {
            Reduction::Max => LayerSpec::MaxPooling1D(spec),
            Reduction::Average => LayerSpec::AveragePooling1D(spec),
        }
    }
    fn input_shape(&self) -> Shape {
        self.input
    }
    fn output_shape(&self) -> Shape {
        self.output
    }
    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        self.forward_with(input, None, mode)
    }

    fn forward_inference_borrowed(
        &mut self,
        input: &ArrayD<T>,
        maps: &ChannelMaps<T>,
    ) -> Result<ArrayD<T>, LayerError> {
        check_input(&self.name, self.reduction.kind(), self.input, input)?;
        let x = match input.view().into_dimensionality::<Ix3>() {
            Ok(x) if self.reduction == Reduction::Max => x,
            _ => return self.forward_inference_then(buffers::copy_of(input), maps),
        };
        let y = self.max_pooled(x, None, false)?;
        self.cache = None;
        apply_by_rows(y.into_dyn(), self.output, maps)
    }

    fn replays(&self) -> bool {
        true
    }
    fn release_kept(&mut self) {
        if let Some(Cache::Max { input, .. }) = self.cache.take() {
            buffers::give_back(input);
        }
    }
    fn recompute(&self) -> Recompute {
        Recompute::FromInput
    }

    fn recompute_output(&self, input: Option<ArrayD<T>>) -> Result<ArrayD<T>, LayerError> {
        let kind = self.reduction.kind();
        let input = input.ok_or_else(|| LayerError::Recompute {
            layer: self.name.clone(),
            reason: "a pool's output is recomputed from its input, and none was given",
        })?;
        let batch = check_input(&self.name, kind, self.input, &input)?;
        let x = standard(fixed::<T, Ix3>(&self.name, kind, input)?);
        let kernel_error = |source| LayerError::Kernel {
            layer: self.name.clone(),
            source,
        };
        // The maxima and means the training pass computed: a maximum is one
        // of its inputs whichever way it is found, and the mean is the same
        // kernel.
        let output = match self.reduction {
            Reduction::Max => {
                let shape = self.output.with_batch(batch);
                let mut y = buffers::array(Ix3(shape[0], shape[1], shape[2]));
                max_pool1d_forward_into(x.view(), self.spec.config(), y.view_mut(), None)
                    .map_err(kernel_error)?;
                y
            }
            Reduction::Average => {
                avg_pool1d_forward(x.view(), self.spec.config()).map_err(kernel_error)?
            }
        };
        buffers::give_back(x);
        Ok(output.into_dyn())
    }

    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let kind = self.reduction.kind();
        let cache = take_cache(&self.name, &mut self.cache)?;
        let batch = match &cache {
            Cache::Max { input, .. } => input.dim().0,
            Cache::MaxTaps { batch, .. } | Cache::Average { batch } => *batch,
        };
        check_grad(
            &self.name,
            kind,
            &self.output.with_batch(batch),
            &grad_output,
        )?;
        let grad = fixed::<T, Ix3>(&self.name, kind, grad_output)?;
        let kernel_error = |source| LayerError::Kernel {
            layer: self.name.clone(),
            source,
        };
        let grad_input = match cache {
            Cache::Max { mut input, kink } => {
                // The forward pass that left this cache sized the winners.
                let winners = (self.spec.pool_size > RECOMPUTE_LIMIT).then_some(&self.winners[..]);
                let (x, config) = (input.view_mut(), self.spec.config());
                match kink {
                    Some(slope) => {
                        leaky_max_pool1d_backward_in_place(x, grad.view(), slope, config, winners)
                    }
                    None => max_pool1d_backward_in_place(x, grad.view(), config, winners),
                }
                .map_err(kernel_error)?;
                buffers::give_back(grad);
                input
            }
            Cache::MaxTaps { kink, .. } => {
                let grad_input = self.backward_from_taps(batch, kink, grad.view().into())?;
                buffers::give_back(grad);
                grad_input
            }
            Cache::Average { .. } => {
                let length = self.input.with_batch(batch)[2];
                avg_pool1d_backward(grad.view(), length, self.spec.config())
                    .map_err(kernel_error)?
            }
        };
        Ok(grad_input.into_dyn())
    }
    fn reach(&self) -> Option<Reach> {
        let config = self.spec.config();
        Some(Reach {
            size: config.pool_size,
            stride: config.stride,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_layer, GradCheck, InputDraw};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn gradients_match_finite_differences(
            channels in 1usize..3,
            length in 2usize..16,
            pool_size in 1usize..6,
            strides in proptest::option::of(1usize..4),
            same in any::<bool>(),
            max in any::<bool>(),
            seed in any::<u64>(),
        ) {
            prop_assume!(same || pool_size <= length);
            let spec = Pooling1DSpec {
                pool_size,
                strides,
                padding: if same { Padding::Same } else { Padding::Valid },
                name: None,
            };
            let reduction = if max { Reduction::Max } else { Reduction::Average };
            let mut layer = Pooling1D::build(spec, reduction, "p".into(), Shape::Signal { channels, length })
                .expect("geometry was filtered to fit");
            // Distinct inputs 0.05 apart: no max-pool window ties.
            check_layer(&mut layer, 2, Mode::Train, seed, GradCheck::with_draw(InputDraw::Distinct))
                .map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn strides_default_to_pool_size() {
        let spec: Pooling1DSpec = serde_json::from_str(r#"{"pool_size": 3}"#).expect("parses");
        assert_eq!(spec.config().stride, 3);
        let layer = Pooling1D::build(
            spec,
            Reduction::Max,
            "p".into(),
            Shape::Signal {
                channels: 1,
                length: 10,
            },
        )
        .expect("fits");
        assert_eq!(
            Layer::<f32>::output_shape(&layer),
            Shape::Signal {
                channels: 1,
                length: 3
            }
        );
    }
}

//! `BatchNormalization` over the channel axis (PyTorch: `nn.BatchNorm1d`).
//!
//! Keras semantics: momentum 0.99, epsilon 1e-3; training normalizes with
//! the batch mean and the *biased* batch variance (over batch and length)
//! and folds both into the moving statistics as
//! `moving = moving * momentum + batch * (1 - momentum)`; inference uses the
//! moving statistics. PyTorch differs: its `momentum=0.1` weighs the batch
//! (Keras's 0.99 is PyTorch's 0.01), epsilon 1e-5, and it folds the
//! *unbiased* variance into `running_var`.

use kymo_tensor::batch_norm::{
    batch_norm_backward, batch_norm_forward, batch_norm_inference_in_place,
    batch_norm_output_from_input, After, Before, ChannelMap, Fused, Ncl, Statistics,
};
use kymo_tensor::Float;
use ndarray::{Array3, ArrayD, Ix1, Zip};
use serde::{Deserialize, Serialize};

use crate::buffers;
use crate::channel_maps::apply_by_rows;
use crate::layer::{
    channels_by_length, check_grad, check_input, config_error, in_layer_shape, take_cache,
    view_mut_as,
};
use crate::{
    Activation, ChannelMaps, ChannelwiseMap, Layer, LayerError, LayerSpec, Mode, Parameter,
    Recompute, Shape,
};

const KIND: &str = "BatchNormalization";

/// Configuration of a `BatchNormalization` layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNormalizationSpec {
    /// Weight of the old moving statistics in each update (default 0.99).
    #[serde(default = "default_momentum")]
    pub momentum: f64,
    /// Added to the variance before the square root (default 1e-3).
    #[serde(default = "default_epsilon")]
    pub epsilon: f64,
    /// Optional layer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn default_momentum() -> f64 {
    0.99
}
fn default_epsilon() -> f64 {
    1e-3
}

impl Default for BatchNormalizationSpec {
    fn default() -> Self {
        Self {
            momentum: default_momentum(),
            epsilon: default_epsilon(),
            name: None,
        }
    }
}

/// What a training pass keeps for backward: its input as it came (the
/// kernels compute `x̂` again from it, with the same bits) and the batch's
/// statistics.
struct Cache<T> {
    input: Array3<T>,
    mean: Vec<T>,
    inv_std: Vec<T>,
    /// The activations the pass ran around the normalization: a fused
    /// LeakyReLU before ([`BatchNormalization::forward_after_leaky_relu`]),
    /// a ReLU or LeakyReLU after ([`Layer::forward_then_activation`]), or
    /// nothing.
    fused: Fused<T>,
}

impl<T: Float> Cache<T> {
    /// The kept input, flat.
    fn input(&self) -> &[T] {
        self.input
            .as_slice()
            .expect("invariant: the cache holds a standard-layout array")
    }

    /// The kept input's geometry.
    fn shape(&self) -> Ncl {
        let (batch, channels, length) = self.input.dim();
        Ncl {
            batch,
            channels,
            length,
        }
    }
}

/// Batch normalization with learned scale (`gamma`) and shift (`beta`).
pub struct BatchNormalization<T> {
    spec: BatchNormalizationSpec,
    name: String,
    shape: Shape,
    gamma: Parameter<T>,
    beta: Parameter<T>,
    moving_mean: Parameter<T>,
    moving_variance: Parameter<T>,
    cache: Option<Cache<T>>,
}

impl<T: Float> BatchNormalization<T> {
    /// Builds the layer; statistics are per channel (or per feature).
    pub fn build(
        spec: BatchNormalizationSpec,
        name: String,
        shape: Shape,
    ) -> Result<Self, LayerError> {
        if !(0.0..=1.0).contains(&spec.momentum) {
            return Err(config_error(
                &name,
                KIND,
                "momentum",
                format!("{} is not in [0, 1]", spec.momentum),
            ));
        }
        if spec.epsilon.is_nan() || spec.epsilon <= 0.0 {
            return Err(config_error(
                &name,
                KIND,
                "epsilon",
                format!("{} must be positive", spec.epsilon),
            ));
        }
        let c = shape.channels();
        let ones = || ArrayD::ones(vec![c]);
        let zeros = || ArrayD::zeros(vec![c]);
        Ok(Self {
            spec,
            name,
            shape,
            gamma: Parameter::trainable("gamma", ones()),
            beta: Parameter::trainable("beta", zeros()),
            moving_mean: Parameter::frozen("moving_mean", zeros()),
            moving_variance: Parameter::frozen("moving_variance", ones()),
            cache: None,
        })
    }

    /// The error for a weight (`field`) that is not contiguous.
    fn not_contiguous(&self, field: &'static str) -> LayerError {
        config_error(&self.name, KIND, field, "weights must be contiguous")
    }

    /// γ and β as slices; an error names the one that is not contiguous.
    fn affine(&self) -> Result<(&[T], &[T]), LayerError> {
        let gamma = self.gamma.value.as_slice();
        let beta = self.beta.value.as_slice();
        Ok((
            gamma.ok_or_else(|| self.not_contiguous("gamma"))?,
            beta.ok_or_else(|| self.not_contiguous("beta"))?,
        ))
    }

    /// The inference pass as one map per channel, from the moving
    /// statistics and the affine weights.
    fn normalization(&self) -> ChannelwiseMap<T> {
        let eps = T::from_f64_lossy(self.spec.epsilon);
        let maps = self
            .moving_mean
            .value
            .iter()
            .zip(self.moving_variance.value.iter())
            .zip(self.gamma.value.iter().zip(self.beta.value.iter()))
            .map(|((&mean, &variance), (&gamma, &beta))| {
                ChannelMap::new(mean, variance, eps, gamma, beta)
            })
            .collect();
        ChannelwiseMap::Normalize(maps)
    }

    /// [`in_layer_shape`] for this layer.
    fn in_layer_shape(&self, normalized: ArrayD<T>, batch: usize) -> Result<ArrayD<T>, LayerError> {
        in_layer_shape(&self.name, KIND, self.shape, normalized, batch)
    }

    /// The input as `[B, C, L]` (features are `L = 1`).
    fn as_ncl(&self, input: ArrayD<T>) -> Result<Array3<T>, LayerError> {
        channels_by_length(&self.name, KIND, self.shape, input)
    }

    /// A LeakyReLU of `negative_slope` then this layer, with the
    /// activation inside the normalization's passes (`LeakyReLU` then
    /// `BatchNormalization`, as in the answer's model with
    /// BatchNormalization): `input` is the activation's input, which
    /// training keeps as it is, and the next backward returns the gradient
    /// with respect to it. The same bits as the two layers one by one.
    pub(crate) fn forward_after_leaky_relu(
        &mut self,
        input: ArrayD<T>,
        negative_slope: f64,
        mode: Mode,
    ) -> Result<ArrayD<T>, LayerError> {
        let before = Before::LeakyRelu(T::from_f64_lossy(negative_slope));
        self.forward_with(input, Fused::before(before), mode)
    }

    /// Whether the pending backward is that of a forward fused with the
    /// activation before ([`BatchNormalization::forward_after_leaky_relu`]).
    pub(crate) fn pending_backward_is_fused(&self) -> bool {
        self.cache
            .as_ref()
            .is_some_and(|cache| cache.fused.before != Before::Nothing)
    }

    /// Whether the pending backward is that of a forward fused with the
    /// activation after ([`Layer::forward_then_activation`]): it takes the
    /// gradient with respect to the activation's output.
    pub(crate) fn pending_backward_runs_after(&self) -> bool {
        self.cache
            .as_ref()
            .is_some_and(|cache| cache.fused.after != After::Nothing)
    }

    /// Forward, with the activations `fused` around the normalization.
    fn forward_with(
        &mut self,
        input: ArrayD<T>,
        fused: Fused<T>,
        mode: Mode,
    ) -> Result<ArrayD<T>, LayerError> {
        let batch = check_input(&self.name, KIND, self.shape, &input)?;
        let mut x = self.as_ncl(input)?;
        let kernel_error = |source| LayerError::Kernel {
            layer: self.name.clone(),
            source,
        };
        let (gamma, beta) = self.affine()?;
        let eps = T::from_f64_lossy(self.spec.epsilon);
        let (_, channels, length) = x.dim();
        let shape = Ncl {
            batch,
            channels,
            length,
        };
        let values = x
            .as_slice_mut()
            .expect("invariant: as_ncl returns a standard-layout array");
        if mode == Mode::Inference {
            // Nothing is kept for a backward pass: normalize the input's
            // own buffer (the same bits as the training kernel's output)
            // instead of filling a fresh one.
            if let Before::LeakyRelu(slope) = fused.before {
                kymo_tensor::elementwise::kink_in_place(values, slope);
            }
            // The moving statistics as the parameters hold them, not copied.
            let mean = self.moving_mean.value.as_slice();
            let variance = self.moving_variance.value.as_slice();
            let statistics = (
                mean.ok_or_else(|| self.not_contiguous("moving_mean"))?,
                variance.ok_or_else(|| self.not_contiguous("moving_variance"))?,
            );
            batch_norm_inference_in_place(shape, values, statistics, eps, gamma, beta)
                .map_err(kernel_error)?;
            match fused.after {
                After::Nothing => {}
                After::Relu => crate::activation::apply_in_place(Activation::Relu, values, true),
                After::LeakyRelu(slope) => kymo_tensor::elementwise::kink_in_place(values, slope),
            }
            self.cache = None;
            return self.in_layer_shape(x.into_dyn(), batch);
        }
        let mut output = buffers::array(ndarray::IxDyn(&self.shape.with_batch(batch)));
        let output_values = output
            .as_slice_mut()
            .expect("invariant: a pooled array is standard layout");
        let affine = (gamma, beta);
        let used = batch_norm_forward(
            shape,
            values,
            fused,
            Statistics::Batch,
            eps,
            affine,
            output_values,
        )
        .map_err(kernel_error)?;
        let momentum = T::from_f64_lossy(self.spec.momentum);
        let rest = T::one() - momentum;
        for (parameter, field, batch_values) in [
            (&mut self.moving_mean, "moving_mean", &used.mean),
            (&mut self.moving_variance, "moving_variance", &used.variance),
        ] {
            let mut moving = view_mut_as::<T, Ix1>(&self.name, KIND, field, &mut parameter.value)?;
            Zip::from(&mut moving)
                .and(&ndarray::ArrayView1::from(&batch_values[..]))
                .for_each(|m, &b| *m = *m * momentum + b * rest);
        }
        self.cache = Some(Cache {
            input: x,
            mean: used.mean,
            inv_std: used.inv_std,
            fused,
        });
        Ok(output)
    }
}

impl<T: Float> Layer<T> for BatchNormalization<T> {
    fn name(&self) -> &str {
        &self.name
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::BatchNormalization(BatchNormalizationSpec {
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
        self.forward_with(input, Fused::none(), mode)
    }

    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let cache = take_cache(&self.name, &mut self.cache)?;
        let shape = cache.shape();
        check_grad(
            &self.name,
            KIND,
            &self.shape.with_batch(shape.batch),
            &grad_output,
        )?;
        let mut dy = self.as_ncl(grad_output)?;
        let grads = dy
            .as_slice_mut()
            .expect("invariant: as_ncl returns a standard-layout array");
        let (sum_dy, sum_dy_xhat) = batch_norm_backward(
            shape,
            grads,
            (cache.input(), cache.fused),
            (&cache.mean, &cache.inv_std),
            self.affine()?,
        )
        .map_err(|source| LayerError::Kernel {
            layer: self.name.clone(),
            source,
        })?;
        for (g, s) in self.gamma.grad.iter_mut().zip(&sum_dy_xhat) {
            *g += *s;
        }
        for (g, s) in self.beta.grad.iter_mut().zip(&sum_dy) {
            *g += *s;
        }
        // The kept input is done with: its storage takes the next
        // forward's output.
        buffers::give_back(cache.input);
        let dx = dy;
        dx.into_shape_with_order(self.shape.with_batch(shape.batch))
            .map(|a| a.into_dyn())
            .map_err(|_| {
                config_error(
                    &self.name,
                    KIND,
                    "shape",
                    "gradient does not fit the layer's shape",
                )
            })
    }

    fn fuses_activation(&self, activation: Activation) -> bool {
        matches!(activation, Activation::Relu | Activation::LeakyRelu { .. })
    }

    fn forward_then_activation(
        &mut self,
        input: ArrayD<T>,
        activation: Activation,
        mode: Mode,
    ) -> Result<ArrayD<T>, LayerError> {
        let after = match activation {
            Activation::Relu => After::Relu,
            Activation::LeakyRelu { negative_slope } => {
                After::LeakyRelu(T::from_f64_lossy(negative_slope))
            }
            other => {
                buffers::give_back(input);
                return Err(config_error(
                    &self.name,
                    KIND,
                    "activation",
                    format!("cannot run {other:?} inside the normalization's passes"),
                ));
            }
        };
        self.forward_with(input, Fused::after(after), mode)
    }

    fn inference_map(&self) -> Option<ChannelwiseMap<T>> {
        Some(self.normalization())
    }

    fn fuses_maps(&self) -> bool {
        true
    }

    /// Its own map and `maps` in one pass over the input's buffer (an
    /// InceptionTime module's Concatenate, then BatchNormalization and
    /// ReLU), instead of one pass per layer.
    fn forward_inference_then(
        &mut self,
        input: ArrayD<T>,
        maps: &ChannelMaps<T>,
    ) -> Result<ArrayD<T>, LayerError> {
        let batch = check_input(&self.name, KIND, self.shape, &input)?;
        let x = self.as_ncl(input)?.into_dyn();
        let maps = ChannelMaps::after(self.normalization(), maps);
        let output = apply_by_rows(x, self.shape, &maps)?;
        self.in_layer_shape(output, batch)
    }

    fn replays(&self) -> bool {
        true
    }
    fn release_kept(&mut self) {
        if let Some(cache) = self.cache.take() {
            buffers::give_back(cache.input);
        }
    }
    fn recompute(&self) -> Recompute {
        Recompute::FromKept
    }

    fn recompute_output(&self, input: Option<ArrayD<T>>) -> Result<ArrayD<T>, LayerError> {
        if let Some(input) = input {
            buffers::give_back(input);
        }
        let cache = self
            .cache
            .as_ref()
            .ok_or_else(|| LayerError::NoForwardCache {
                layer: self.name.clone(),
            })?;
        let shape = cache.shape();
        let (gamma, beta) = self.affine()?;
        let mut output = buffers::array(ndarray::IxDyn(&self.shape.with_batch(shape.batch)));
        let output_values = output
            .as_slice_mut()
            .expect("invariant: a pooled array is standard layout");
        batch_norm_output_from_input(
            shape,
            (cache.input(), cache.fused),
            (&cache.mean, &cache.inv_std),
            (gamma, beta),
            output_values,
        )
        .map_err(|source| LayerError::Kernel {
            layer: self.name.clone(),
            source,
        })?;
        Ok(output)
    }

    fn parameters(&self) -> Vec<&Parameter<T>> {
        vec![
            &self.gamma,
            &self.beta,
            &self.moving_mean,
            &self.moving_variance,
        ]
    }
    fn parameters_mut(&mut self) -> Vec<&mut Parameter<T>> {
        vec![
            &mut self.gamma,
            &mut self.beta,
            &mut self.moving_mean,
            &mut self.moving_variance,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_layer, GradCheck};
    use proptest::prelude::*;

    fn randomize_affine(layer: &mut BatchNormalization<f64>, seed: u64) {
        let mut rng = kymo_tensor::SeededRng::new(seed, 9);
        for p in layer.parameters_mut().into_iter().take(2) {
            p.value.mapv_inplace(|_| rng.uniform_in(0.5, 1.5));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Training-mode gradients over signals and flat features; a biased
        /// versus unbiased variance mix-up is off by N/(N-1), far outside
        /// the tolerance.
        #[test]
        fn gradients_match_finite_differences(
            channels in 1usize..4,
            length in 1usize..6,
            features in any::<bool>(),
            batch in 2usize..5,
            seed in any::<u64>(),
        ) {
            let shape = if features { Shape::Features(channels) } else { Shape::Signal { channels, length } };
            let mut layer = BatchNormalization::<f64>::build(BatchNormalizationSpec::default(), "bn".into(), shape)
                .expect("valid");
            randomize_affine(&mut layer, seed);
            check_layer(&mut layer, batch, Mode::Train, seed, GradCheck::smooth()).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn training_folds_the_biased_variance_into_moving_statistics() {
        let mut layer = BatchNormalization::<f64>::build(
            BatchNormalizationSpec::default(),
            "bn".into(),
            Shape::Features(1),
        )
        .expect("valid");
        let x = ArrayD::from_shape_vec(vec![4, 1], vec![1.0, 2.0, 3.0, 6.0]).expect("shape");
        let y = layer.forward(x, Mode::Train).expect("fits");
        // mean 3, biased variance (4 + 1 + 0 + 9) / 4 = 3.5 (unbiased would be 4.667).
        let params = layer.parameters();
        assert!((params[2].value[[0]] - 0.03).abs() < 1e-12);
        assert!((params[3].value[[0]] - (0.99 + 0.01 * 3.5)).abs() < 1e-12);
        assert!((y[[3, 0]] - 3.0 / (3.5f64 + 1e-3).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn inference_uses_moving_statistics() {
        let mut layer = BatchNormalization::<f64>::build(
            BatchNormalizationSpec::default(),
            "bn".into(),
            Shape::Features(2),
        )
        .expect("valid");
        {
            let mut p = layer.parameters_mut();
            p[0].value = ArrayD::from_shape_vec(vec![2], vec![2.0, 1.0]).expect("shape");
            p[1].value = ArrayD::from_shape_vec(vec![2], vec![0.5, 0.0]).expect("shape");
            p[2].value = ArrayD::from_shape_vec(vec![2], vec![1.0, -1.0]).expect("shape");
            p[3].value = ArrayD::from_shape_vec(vec![2], vec![4.0, 0.25]).expect("shape");
        }
        let x = ArrayD::from_shape_vec(vec![1, 2], vec![3.0, 0.0]).expect("shape");
        let y = layer.forward(x, Mode::Inference).expect("fits");
        assert!((y[[0, 0]] - (2.0 * 2.0 / (4.001f64).sqrt() + 0.5)).abs() < 1e-12);
        assert!((y[[0, 1]] - (1.0 / (0.251f64).sqrt())).abs() < 1e-12);
        // Inference leaves the moving statistics alone.
        assert_eq!(layer.parameters()[2].value[[0]], 1.0);
    }
}

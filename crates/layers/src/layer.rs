//! The `Layer` trait every layer implements, and helpers they share.

use kymo_tensor::{Float, SeededRng};
use ndarray::{ArrayD, Dimension};

use crate::layers::ActivityPenalty;
use crate::{Activation, ChannelMaps, ChannelwiseMap, LayerError, LayerSpec, Parameter, Shape};

/// Whether a forward pass is for training (batch statistics, dropout, caches
/// for backward) or for inference (moving statistics, identity dropout, no
/// caches), as Keras's `training=` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Training: layers keep what `backward` needs.
    Train,
    /// Inference: deterministic, nothing kept.
    Inference,
}

/// How far one output position of a layer reaches into its input: `size`
/// points, consecutive outputs `stride` points apart. Layers that see the
/// whole input (Dense after Flatten) report `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// Input points one output reads.
    pub size: usize,
    /// Input points between consecutive outputs.
    pub stride: usize,
}

/// A layer of a model: what the layer is, and nothing of how a model
/// schedules it (fusions are the model's plan, `crate::fusion`).
///
/// A layer is built for one input shape (checked at build time); its forward
/// pass takes a batch `[B, ...input_shape]`, and its backward pass takes the
/// gradient of the loss with respect to its output, accumulates its
/// parameters' gradients, and returns the gradient with respect to its input.
pub trait Layer<T: Float>: Send {
    /// The layer's name (`ConvLayer1`, or Keras's default such as `conv1d_1`).
    fn name(&self) -> &str;
    /// The spec that rebuilds this layer.
    fn spec(&self) -> LayerSpec;
    /// The per-sample input shape it was built for.
    fn input_shape(&self) -> Shape;
    /// The per-sample output shape.
    fn output_shape(&self) -> Shape;
    /// Forward pass over a batch.
    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError>;
    /// Backward pass: adds into parameter gradients, returns the input gradient.
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError>;
    /// The layer's weights (trainable or not), in Keras's order.
    fn parameters(&self) -> Vec<&Parameter<T>> {
        Vec::new()
    }
    /// Mutable access to the layer's weights.
    fn parameters_mut(&mut self) -> Vec<&mut Parameter<T>> {
        Vec::new()
    }
    /// The layer's random generator, for layers that draw at run time
    /// (Dropout), so checkpoints can save and restore it.
    fn rng_mut(&mut self) -> Option<&mut SeededRng> {
        None
    }
    /// The reach of one output into this layer's input, or `None` when each
    /// output sees all of it.
    fn reach(&self) -> Option<Reach> {
        Some(Reach { size: 1, stride: 1 })
    }
    /// Whether, and from what, [`Layer::recompute_output`] can give this
    /// layer's last training output again.
    fn recompute(&self) -> Recompute {
        Recompute::Never
    }
    /// The output of the last training forward pass again, with its bits,
    /// changing nothing the layer keeps: from the layer's own backward
    /// cache for [`Recompute::FromKept`] (`input` is `None`), from `input`
    /// (that pass's input, recomputed) for [`Recompute::FromInput`].
    fn recompute_output(&self, input: Option<ArrayD<T>>) -> Result<ArrayD<T>, LayerError> {
        if let Some(input) = input {
            crate::buffers::give_back(input);
        }
        Err(LayerError::Recompute {
            layer: self.name().to_string(),
            reason: "this layer's output cannot be recomputed",
        })
    }
    /// Whether a training forward pass keeps the layer's input for
    /// backward, to be handed over with [`Layer::take_kept_input`].
    fn keeps_input(&self) -> bool {
        false
    }
    /// Hands over the input a training forward pass kept for backward, so
    /// that a model can keep one copy for several readers or recompute it
    /// (`None`: the layer keeps no input of its own). Before backward the
    /// model gives it back with [`Layer::restore_kept_input`].
    fn take_kept_input(&mut self) -> Option<ArrayD<T>> {
        None
    }
    /// Frees what a training forward pass kept for backward, when the layer
    /// can rebuild it from its input (`true`: ReLU's mask); the model then
    /// gives the input, recomputed, to [`Layer::restore_kept_input`] before
    /// backward. `false`: nothing was freed.
    fn drop_kept(&mut self) -> bool {
        false
    }
    /// Whether a model may run this layer's training forward pass again on
    /// the same input before backward, to rebuild what
    /// [`Layer::release_kept`] freed: the layer draws nothing at random and
    /// changes no state but its non-trainable weights (BatchNormalization's
    /// moving statistics), which the model restores after the second pass.
    /// A graph checkpoints only segments of such layers.
    fn replays(&self) -> bool {
        false
    }
    /// Frees everything a training forward pass kept for backward, before
    /// the model runs that pass again ([`Layer::replays`]). By default the
    /// input [`Layer::take_kept_input`] hands over and the mask
    /// [`Layer::drop_kept`] drops; layers that keep more free it too.
    fn release_kept(&mut self) {
        self.drop_kept();
        if let Some(input) = self.take_kept_input() {
            crate::buffers::give_back(input);
        }
    }
    /// What this layer does in inference when that is a map of each
    /// channel's values on their own (BatchNormalization, the elementwise
    /// activations; Dropout and GaussianNoise, the identity), which the
    /// convolution before it can apply while its output is in cache
    /// ([`Layer::forward_inference_then`]); `None` for other layers.
    fn inference_map(&self) -> Option<ChannelwiseMap<T>> {
        None
    }
    /// Whether [`Layer::forward_inference_then`] applies the maps inside
    /// the layer's own pass (a convolution's epilogue), not afterwards.
    fn fuses_maps(&self) -> bool {
        false
    }
    /// An inference forward pass followed by `maps` on each channel's
    /// values, the same bits as this layer's inference pass and then the
    /// layers the maps came from, each on its own. A convolution applies
    /// them to its output while it is in cache; by default they run on the
    /// whole output afterwards, channel by channel.
    fn forward_inference_then(
        &mut self,
        input: ArrayD<T>,
        maps: &ChannelMaps<T>,
    ) -> Result<ArrayD<T>, LayerError> {
        let output = self.forward(input, Mode::Inference)?;
        crate::channel_maps::apply_by_rows(output, self.output_shape(), maps)
    }
    /// [`Layer::forward_inference_then`] on an `input` another layer reads
    /// after this one, which is left as it is: a graph hands a value that
    /// forks to its earlier readers this way. A convolution and a max pool
    /// read it in place; by default the layer runs on a copy.
    fn forward_inference_borrowed(
        &mut self,
        input: &ArrayD<T>,
        maps: &ChannelMaps<T>,
    ) -> Result<ArrayD<T>, LayerError> {
        self.forward_inference_then(crate::buffers::copy_of(input), maps)
    }
    /// Whether [`Layer::forward_then_activation`] runs `activation` inside
    /// this layer's own passes (BatchNormalization: ReLU and LeakyReLU).
    fn fuses_activation(&self, _activation: Activation) -> bool {
        false
    }
    /// A forward pass in `mode` followed by `activation`, run inside the
    /// layer's own passes: the output is the activation's, nothing of the
    /// activation is kept or written on its own, and the next backward
    /// takes the gradient with respect to the activation's output. The
    /// same bits as this layer and then the activation's layer, one by
    /// one. Graphs and stacks run a BatchNormalization and the ReLU that
    /// alone reads it this way. An activation that
    /// [`Layer::fuses_activation`] refuses is an error naming the layer.
    fn forward_then_activation(
        &mut self,
        input: ArrayD<T>,
        activation: Activation,
        _mode: Mode,
    ) -> Result<ArrayD<T>, LayerError> {
        crate::buffers::give_back(input);
        Err(LayerError::Config {
            layer: self.name().to_string(),
            kind: self.spec().kind(),
            field: "activation",
            reason: format!("cannot run {activation:?} inside this layer's passes"),
        })
    }
    /// The activity penalty ([`crate::layers::ActivityRegularization`])
    /// this layer's forward passes in `mode` added to the loss since it was
    /// last taken, and no more until the next pass: the last training
    /// pass's, or every inference pass's. Other layers add none.
    fn take_activity_penalty(&mut self, _mode: Mode) -> ActivityPenalty {
        ActivityPenalty::default()
    }
    /// Gives back the input [`Layer::take_kept_input`] handed over (or
    /// that [`Layer::drop_kept`] rebuilds from), with its bits, before
    /// backward.
    fn restore_kept_input(&mut self, input: ArrayD<T>) -> Result<(), LayerError> {
        crate::buffers::give_back(input);
        Err(LayerError::Recompute {
            layer: self.name().to_string(),
            reason: "this layer keeps no input to restore",
        })
    }
}

/// How a layer's training output can be had again in backward without
/// being kept (see [`Layer::recompute_output`]): a graph then keeps neither
/// the output nor the copies its readers would keep of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recompute {
    /// It cannot: readers keep what they need.
    Never,
    /// From what the layer keeps for its own backward pass anyway
    /// (BatchNormalization: `x̂·γ + β` from its kept input and statistics).
    FromKept,
    /// By running the layer again on its input, cheap and exact (an
    /// activation, a max pool).
    FromInput,
}

/// Checks that `input` is a batch of `expected`; returns the batch size.
pub(crate) fn check_input<T>(
    layer: &str,
    kind: &'static str,
    expected: Shape,
    input: &ArrayD<T>,
) -> Result<usize, LayerError> {
    let batch = input.shape().first().copied().unwrap_or(0);
    if input.shape() != expected.with_batch(batch).as_slice() {
        return Err(LayerError::InputShape {
            layer: layer.to_string(),
            kind,
            expected: expected.to_string(),
            found: format!("{:?}", input.shape()),
        });
    }
    Ok(batch)
}

/// Converts a checked dynamic array into a fixed rank.
pub(crate) fn fixed<T, D: Dimension>(
    layer: &str,
    kind: &'static str,
    array: ArrayD<T>,
) -> Result<ndarray::Array<T, D>, LayerError> {
    let found = format!("{:?}", array.shape());
    array
        .into_dimensionality::<D>()
        .map_err(|_| LayerError::InputShape {
            layer: layer.to_string(),
            kind,
            expected: format!("an array of rank {}", D::NDIM.unwrap_or(0)),
            found,
        })
}

/// `array` itself when it is in standard layout, else a standard copy.
pub(crate) fn standard<T: Clone, D: Dimension>(
    array: ndarray::Array<T, D>,
) -> ndarray::Array<T, D> {
    if array.is_standard_layout() {
        array
    } else {
        array.as_standard_layout().into_owned()
    }
}

/// Takes the cache a training-mode forward left, or says it is missing.
pub(crate) fn take_cache<C>(layer: &str, cache: &mut Option<C>) -> Result<C, LayerError> {
    cache.take().ok_or_else(|| LayerError::NoForwardCache {
        layer: layer.to_string(),
    })
}

/// A batch of `shape` (`input`) as `[B, C, L]`, a flat input's features
/// as channels of length 1: what the normalizations work on. A
/// standard-layout input is reshaped in place, anything else copied once.
pub(crate) fn channels_by_length<T: Clone>(
    layer: &str,
    kind: &'static str,
    shape: Shape,
    input: ArrayD<T>,
) -> Result<ndarray::Array3<T>, LayerError> {
    let dims = input.shape().to_vec();
    let (batch, channels) = (dims.first().copied().unwrap_or(0), shape.channels());
    let length = shape.size() / channels.max(1);
    let input = if input.is_standard_layout() {
        input
    } else {
        input.as_standard_layout().into_owned()
    };
    input
        .into_shape_with_order((batch, channels, length))
        .map_err(|_| LayerError::InputShape {
            layer: layer.to_string(),
            kind,
            expected: shape.to_string(),
            found: format!("{dims:?}"),
        })
}

/// A `[B, C, L]` batch from [`channels_by_length`] in the layer's own
/// `shape` again (`[B, F]` for features): a standard-layout buffer is only
/// relabelled.
pub(crate) fn in_layer_shape<T>(
    layer: &str,
    kind: &'static str,
    shape: Shape,
    array: ArrayD<T>,
    batch: usize,
) -> Result<ArrayD<T>, LayerError> {
    let output_shape = ndarray::IxDyn(&shape.with_batch(batch));
    array.into_shape_with_order(output_shape).map_err(|_| {
        config_error(
            layer,
            kind,
            "output",
            "the batch could not take the layer's shape",
        )
    })
}

/// The config error for `field` of layer `layer`.
pub(crate) fn config_error(
    layer: &str,
    kind: &'static str,
    field: &'static str,
    reason: impl Into<String>,
) -> LayerError {
    LayerError::Config {
        layer: layer.to_string(),
        kind,
        field,
        reason: reason.into(),
    }
}

/// The gradient shape check every backward pass makes.
pub(crate) fn check_grad<T>(
    layer: &str,
    kind: &'static str,
    expected: &[usize],
    grad: &ArrayD<T>,
) -> Result<(), LayerError> {
    if grad.shape() != expected {
        return Err(LayerError::InputShape {
            layer: layer.to_string(),
            kind,
            expected: format!("gradient of shape {expected:?}"),
            found: format!("{:?}", grad.shape()),
        });
    }
    Ok(())
}

/// Views a parameter array at a fixed rank, or says which weight is off.
pub(crate) fn view_as<'a, T, D: Dimension>(
    layer: &str,
    kind: &'static str,
    field: &'static str,
    array: &'a ArrayD<T>,
) -> Result<ndarray::ArrayView<'a, T, D>, LayerError> {
    array
        .view()
        .into_dimensionality::<D>()
        .map_err(|_| rank_error(layer, kind, field, array.ndim(), D::NDIM))
}

/// Mutable counterpart of [`view_as`].
pub(crate) fn view_mut_as<'a, T, D: Dimension>(
    layer: &str,
    kind: &'static str,
    field: &'static str,
    array: &'a mut ArrayD<T>,
) -> Result<ndarray::ArrayViewMut<'a, T, D>, LayerError> {
    let ndim = array.ndim();
    array
        .view_mut()
        .into_dimensionality::<D>()
        .map_err(|_| rank_error(layer, kind, field, ndim, D::NDIM))
}

fn rank_error(
    layer: &str,
    kind: &'static str,
    field: &'static str,
    found: usize,
    expected: Option<usize>,
) -> LayerError {
    config_error(
        layer,
        kind,
        field,
        format!(
            "weight has rank {found}, expected {}",
            expected.unwrap_or(0)
        ),
    )
}

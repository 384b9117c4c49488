//! Inference's fusion of a convolution with the layers after it that map
//! each channel's values on their own (BatchNormalization with its moving
//! statistics, elementwise activations, and Dropout and GaussianNoise,
//! which are the identity in inference): the convolution applies them to
//! its output rows while they are still in cache
//! ([`kymo_tensor::RowEpilogue`]), instead of each layer reading and
//! writing the whole batch again.
//!
//! Each map runs the per-element arithmetic of the layer's own inference
//! pass, so a fused chain gives the same bits as its layers one by one
//! (tested in `graph/tests.rs` and `sequential.rs`). Training never fuses:
//! BatchNormalization's batch statistics need the whole output first, and
//! backward needs each layer's own cache.

use kymo_tensor::batch_norm::ChannelMap;
use kymo_tensor::parallel::{for_each_block, BLOCK_ELEMENTS};
use kymo_tensor::Float;
use ndarray::ArrayD;

use crate::layer::standard;
use crate::{Activation, Layer, LayerError, Shape};

/// What one layer does to each channel's values in inference.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelwiseMap<T> {
    /// Nothing (Dropout, GaussianNoise, a linear activation).
    Identity,
    /// BatchNormalization with its moving statistics: one map per channel.
    Normalize(Vec<ChannelMap<T>>),
    /// An elementwise activation (never softmax, which mixes channels).
    Activation(Activation),
}

impl<T: Float> ChannelwiseMap<T> {
    /// Applies the map to `values`, a stretch of `channel`'s row.
    fn apply(&self, channel: usize, values: &mut [T]) {
        match self {
            ChannelwiseMap::Identity => {}
            ChannelwiseMap::Normalize(maps) => {
                // Invariant: a chain only takes a BatchNormalization built
                // on the convolution's output, one map per output channel.
                if let Some(map) = maps.get(channel) {
                    map.apply(values);
                }
            }
            ChannelwiseMap::Activation(activation) => {
                crate::activation::apply_in_place(*activation, values, false);
            }
        }
    }
}

/// The maps of a chain's followers, in order, applied to each stretch of a
/// convolution's output row.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelMaps<T> {
    maps: Vec<ChannelwiseMap<T>>,
}

impl<T: Float> ChannelMaps<T> {
    /// The maps of `layers`, or `None` when one of them is not a channelwise
    /// map in inference.
    pub(crate) fn of<'a>(layers: impl IntoIterator<Item = &'a dyn Layer<T>>) -> Option<Self>
    where
        T: 'a,
    {
        let maps = layers
            .into_iter()
            .map(|layer| layer.inference_map())
            .collect::<Option<Vec<_>>>()?;
        Some(Self { maps })
    }

    /// `first`, then these maps.
    pub(crate) fn after(first: ChannelwiseMap<T>, maps: &Self) -> Self {
        let mut all = Vec::with_capacity(maps.maps.len() + 1);
        all.push(first);
        all.extend(maps.maps.iter().cloned());
        Self { maps: all }
    }

    /// Whether there are no maps to apply.
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// Applies every map, in order, to `values`, a stretch of `channel`'s
    /// row.
    pub fn apply(&self, channel: usize, values: &mut [T]) {
        for map in &self.maps {
            map.apply(channel, values);
        }
    }
}

impl<T> Default for ChannelMaps<T> {
    /// No maps: the layer's own output.
    fn default() -> Self {
        Self { maps: Vec::new() }
    }
}

impl<T> From<Vec<ChannelwiseMap<T>>> for ChannelMaps<T> {
    /// The maps of a chain's followers, in order.
    fn from(maps: Vec<ChannelwiseMap<T>>) -> Self {
        Self { maps }
    }
}

/// Whether `layer` takes part in a chain after a convolution: a map of
/// each channel's values in inference.
pub(crate) fn follows_in_chain<T: Float>(layer: &dyn Layer<T>) -> bool {
    layer.inference_map().is_some()
}

/// `maps` applied to a layer's whole inference `output` of per-sample
/// `shape`, row by row: the unfused way, for layers that cannot apply them
/// in their own pass.
pub(crate) fn apply_by_rows<T: Float>(
    output: ArrayD<T>,
    shape: Shape,
    maps: &ChannelMaps<T>,
) -> Result<ArrayD<T>, LayerError> {
    if maps.is_empty() {
        return Ok(output);
    }
    let mut output = standard(output);
    let channels = shape.channels().max(1);
    let length = (shape.size() / channels).max(1);
    let values = output
        .as_slice_mut()
        .expect("invariant: a standard-layout array is contiguous");
    // Blocks of whole rows across threads: each row's arithmetic is its
    // own, so the bits do not depend on the split.
    let rows_per_block = BLOCK_ELEMENTS.div_ceil(length).max(1);
    let work = values.len();
    let blocks: Vec<_> = values
        .chunks_mut(rows_per_block * length)
        .enumerate()
        .collect();
    for_each_block(
        work,
        blocks,
        || (),
        |_, (block, values)| {
            for (index, row) in values.chunks_mut(length).enumerate() {
                maps.apply((block * rows_per_block + index) % channels, row);
            }
        },
    );
    Ok(output)
}

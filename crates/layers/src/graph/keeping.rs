//! What a graph keeps between a training forward pass and its backward
//! pass, beyond what each layer keeps for itself.
//!
//! A convolution keeps its input for its kernel gradient. Left to itself,
//! every convolution keeps its own copy, also of a value it shares with
//! other readers (a residual block's input, an Inception module's
//! bottleneck output), and of values that are cheap to compute again: a
//! BatchNormalization's output is `x̂·γ + β` from the input and statistics
//! that layer keeps anyway, and a ReLU, a max pool or an `Add` after it costs one pass over
//! memory. So, after each training forward, the graph takes the input a
//! convolution kept ([`Layer::take_kept_input`]):
//! - a value that can be recomputed from what layers keep
//!   ([`Layer::recompute`], [`Merge::recomputes`]) is dropped, and computed
//!   again, with its bits, just before that convolution's backward;
//! - any other value is kept once, whatever the number of its readers.
//!
//! When a step recomputes, a ReLU whose input is recomputed drops its
//! one-byte mask too ([`Layer::drop_kept`]) and rebuilds it from that
//! input before its backward pass.
//!
//! In ResNet, FCN and InceptionTime this leaves BatchNormalization's input
//! and the few values no cheap layer produces: at 16k points and batch 8
//! a ResNet step peaks at 1054 MiB instead of 1458, an InceptionTime one
//! at 1294 instead of 2096 (docs/performance.md), for a few elementwise
//! passes in backward (about 6% of a ResNet step). So a step recomputes
//! only when that saves at least [`RECOMPUTE_ABOVE`] bytes (long signals,
//! large batches), reckoned from the shapes before the forward pass; below
//! it, the values are kept, still once each. The gradients are the same
//! bits either way.
//!
//! A step that checkpoints ([`super::segments`]) keeps none of this for a
//! checkpointed segment's nodes until its replay hands it over, and it
//! keeps rather than recomputes a segment's input and output, whose
//! producers' caches are freed until their segment's replay.
//!
//! [`Layer::take_kept_input`]: crate::Layer::take_kept_input
//! [`Layer::drop_kept`]: crate::Layer::drop_kept
//! [`Layer::recompute`]: crate::Layer::recompute
//! [`Merge::recomputes`]: crate::Merge::recomputes

use kymo_tensor::Float;
use ndarray::ArrayD;

use super::segments::{self, Segment};
use super::{Node, Operation};
use crate::{buffers, LayerError, Recompute};

/// A step recomputes the values it can when that saves at least this many
/// bytes (256 MiB): ResNet (3.5 KB per point and sample) at batch 8 from
/// about 9,400 points, at batch 32 from about 2,300. Below it, the
/// elementwise passes cost more time than the memory they save is worth.
pub const RECOMPUTE_ABOVE: usize = 256 << 20;

/// The graph's plan and what it keeps during one training step.
pub(super) struct Keeping<T> {
    /// A step recomputes when that saves at least this many bytes
    /// (`None`: never).
    pub(super) recompute_above: Option<usize>,
    /// Elements per sample that recomputing saves: each recomputable
    /// value's size once per reader that keeps its input.
    saved_per_sample: usize,
    /// Whether this step recomputes.
    pub(super) recomputing: bool,
    /// Per value (0: the model's input, `i + 1`: node `i`'s output):
    /// whether backward can compute it again from what layers keep.
    recomputable: Vec<bool>,
    /// Per value: the one copy kept for readers that handed theirs over.
    kept: Vec<Option<ArrayD<T>>>,
    /// Per value: readers that handed their input over and have not had
    /// it back yet.
    pending: Vec<usize>,
    /// Per node: whether it handed its kept input over in this step.
    handed: Vec<bool>,
    /// A step checkpoints its segments when that frees at least this many
    /// bytes (`None`: never).
    pub(super) checkpoint_above: Option<usize>,
    /// The segments a checkpointing step replays ([`segments`]).
    segments: Vec<Segment>,
    /// Elements per sample that checkpointing frees.
    freed_per_sample: usize,
    /// Whether this step checkpoints.
    pub(super) checkpointing: bool,
    /// Per node: the index of the checkpointed segment it belongs to.
    segment_of: Vec<Option<usize>>,
    /// Per value: whether a checkpointing step recomputes it (never a
    /// segment's input or output).
    recomputable_checkpointing: Vec<bool>,
    /// Per segment: the copy of its input a checkpointing step keeps.
    checkpoints: Vec<Option<ArrayD<T>>>,
}

impl<T: Float> Keeping<T> {
    /// The plan for `nodes`, in node order: a value is recomputable when its
    /// node recomputes from what it keeps, or runs again cheaply on inputs
    /// that are themselves recomputable.
    pub(super) fn plan(nodes: &[Node<T>], input_size: usize) -> Self {
        let mut recomputable = vec![false; nodes.len() + 1];
        let mut saved_per_sample = 0;
        for (i, node) in nodes.iter().enumerate() {
            let inputs_recomputable = node.inputs.iter().all(|&v| recomputable[v]);
            recomputable[i + 1] = recomputes(node, inputs_recomputable);
            if let Operation::Layer(layer) = &node.operation {
                if layer.keeps_input() && inputs_recomputable {
                    saved_per_sample += layer.input_shape().size();
                }
            }
        }
        let value_sizes: Vec<usize> = std::iter::once(input_size)
            .chain(nodes.iter().map(|node| match &node.operation {
                Operation::Layer(layer) => layer.output_shape().size(),
                Operation::Merge(merge) => merge.output_shape().size(),
            }))
            .collect();
        let (segments, freed_per_sample) = segments::plan(nodes, &value_sizes, &recomputable);
        let mut segment_of = vec![None; nodes.len()];
        for (index, segment) in segments.iter().enumerate() {
            segment_of[segment.first..=segment.last].fill(Some(index));
        }
        // A segment's input and output are kept for the readers that hand
        // theirs over: the caches they would be recomputed from are freed
        // until the segment's replay (and the input is the replay's start).
        let bounds: Vec<usize> = segments
            .iter()
            .flat_map(|segment| [segment.input(), segment.last + 1])
            .collect();
        let mut recomputable_checkpointing = vec![false; nodes.len() + 1];
        for (i, node) in nodes.iter().enumerate() {
            let inputs_recomputable = node.inputs.iter().all(|&v| recomputable_checkpointing[v]);
            recomputable_checkpointing[i + 1] =
                !bounds.contains(&(i + 1)) && recomputes(node, inputs_recomputable);
        }
        Self {
            recompute_above: Some(RECOMPUTE_ABOVE),
            saved_per_sample,
            recomputing: false,
            recomputable,
            kept: (0..=nodes.len()).map(|_| None).collect(),
            pending: vec![0; nodes.len() + 1],
            handed: vec![false; nodes.len()],
            checkpoint_above: Some(segments::CHECKPOINT_ABOVE),
            checkpoints: vec![None; segments.len()],
            segments,
            freed_per_sample,
            checkpointing: false,
            segment_of,
            recomputable_checkpointing,
        }
    }

    /// The checkpointed segment node `index` belongs to, in a step that
    /// checkpoints, with its index.
    pub(super) fn segment_of(&self, index: usize) -> Option<(usize, Segment)> {
        if !self.checkpointing {
            return None;
        }
        let segment = self.segment_of[index]?;
        Some((segment, self.segments[segment]))
    }

    /// The segments a checkpointing step replays.
    #[cfg(test)]
    pub(super) fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Keeps `input`, the input of segment `segment`, until its backward.
    pub(super) fn keep_checkpoint(&mut self, segment: usize, input: ArrayD<T>) {
        if let Some(old) = self.checkpoints[segment].replace(input) {
            buffers::give_back(old);
        }
    }

    /// Segment `segment`'s kept input, for its replay.
    pub(super) fn take_checkpoint(&mut self, segment: usize) -> Option<ArrayD<T>> {
        self.checkpoints[segment].take()
    }

    /// Whether `value` can be recomputed in backward.
    #[cfg(test)]
    pub(super) fn is_recomputable(&self, value: usize) -> bool {
        self.recomputable[value]
    }

    /// Whether this step recomputes `value` rather than keeping it.
    fn recomputed(&self, value: usize) -> bool {
        let plan = if self.checkpointing {
            &self.recomputable_checkpointing
        } else {
            &self.recomputable
        };
        self.recomputing && plan[value]
    }

    /// Before a forward pass of `batch` samples of `element_bytes` each:
    /// gives back whatever an earlier training pass left without a
    /// backward pass, and decides whether this step recomputes.
    pub(super) fn start_forward(&mut self, batch: usize, element_bytes: usize) {
        let saved = self
            .saved_per_sample
            .saturating_mul(batch)
            .saturating_mul(element_bytes);
        self.recomputing = self.recompute_above.is_some_and(|above| saved >= above);
        let freed = self
            .freed_per_sample
            .saturating_mul(batch)
            .saturating_mul(element_bytes);
        self.checkpointing =
            !self.segments.is_empty() && self.checkpoint_above.is_some_and(|above| freed >= above);
        for kept in self.kept.iter_mut().chain(&mut self.checkpoints) {
            if let Some(value) = kept.take() {
                buffers::give_back(value);
            }
        }
        self.pending.iter_mut().for_each(|p| *p = 0);
        self.handed.iter_mut().for_each(|h| *h = false);
    }

    /// After node `index` ran forward: takes the input its layer kept, and
    /// drops it (recomputable) or keeps one copy of it per value.
    pub(super) fn after_forward(&mut self, index: usize, node: &mut Node<T>) {
        let Operation::Layer(layer) = &mut node.operation else {
            return;
        };
        if self.recompute_above.is_none() {
            return;
        }
        let value = node.inputs[0];
        let recomputed = self.recomputed(value);
        // A ReLU's mask is dropped and rebuilt from the recomputed input;
        // a convolution's input is handed over.
        let input = if recomputed && layer.drop_kept() {
            None
        } else {
            match layer.take_kept_input() {
                Some(input) => Some(input),
                None => return,
            }
        };
        self.handed[index] = true;
        self.pending[value] += 1;
        match input {
            // Either computed again in backward, or the same bits as the
            // copy already kept.
            Some(input) if recomputed || self.kept[value].is_some() => buffers::give_back(input),
            Some(input) => self.kept[value] = Some(input),
            None => {}
        }
    }

    /// Before node `index` runs backward: gives its layer back the input it
    /// handed over, recomputed, copied from the kept value, or (for the
    /// value's last such reader) the kept value itself.
    pub(super) fn before_backward(
        &mut self,
        nodes: &mut [Node<T>],
        index: usize,
    ) -> Result<(), LayerError> {
        if !std::mem::take(&mut self.handed[index]) {
            return Ok(());
        }
        let value = nodes[index].inputs[0];
        self.pending[value] -= 1;
        let input = if self.recomputed(value) {
            recompute(nodes, value)?
        } else if self.pending[value] == 0 {
            self.kept[value]
                .take()
                .ok_or_else(|| missing(nodes, index))?
        } else {
            let kept = self.kept[value]
                .as_ref()
                .ok_or_else(|| missing(nodes, index))?;
            buffers::copy_of(kept)
        };
        match &mut nodes[index].operation {
            Operation::Layer(layer) => layer.restore_kept_input(input),
            Operation::Merge(_) => Err(missing(nodes, index)),
        }
    }
}

/// Whether `node`'s output can be had again in backward, given whether its
/// inputs can: from what its layer keeps, or by running it again on them.
fn recomputes<T: Float>(node: &Node<T>, inputs_recomputable: bool) -> bool {
    match &node.operation {
        Operation::Layer(layer) => match layer.recompute() {
            Recompute::Never => false,
            Recompute::FromKept => true,
            Recompute::FromInput => inputs_recomputable,
        },
        Operation::Merge(merge) => merge.recomputes() && inputs_recomputable,
    }
}

/// The error for a node whose handed-over input is gone (a backward pass
/// without the forward pass that kept it).
fn missing<T: Float>(nodes: &[Node<T>], index: usize) -> LayerError {
    let layer = match &nodes[index].operation {
        Operation::Layer(layer) => layer.name().to_string(),
        Operation::Merge(merge) => merge.name().to_string(),
    };
    LayerError::NoForwardCache { layer }
}

/// Value `value` (a node's output, planned recomputable) computed again
/// from what the layers that lead to it keep, with its forward bits.
fn recompute<T: Float>(nodes: &[Node<T>], value: usize) -> Result<ArrayD<T>, LayerError> {
    let Some(node) = value.checked_sub(1).map(|i| &nodes[i]) else {
        return Err(LayerError::Recompute {
            layer: "input".into(),
            reason: "the model's input is kept, not recomputed",
        });
    };
    match &node.operation {
        Operation::Layer(layer) => match layer.recompute() {
            Recompute::FromKept => layer.recompute_output(None),
            Recompute::FromInput => {
                let input = recompute(nodes, node.inputs[0])?;
                layer.recompute_output(Some(input))
            }
            Recompute::Never => layer.recompute_output(None),
        },
        Operation::Merge(merge) => {
            let inputs = node
                .inputs
                .iter()
                .map(|&v| recompute(nodes, v))
                .collect::<Result<Vec<_>, _>>()?;
            merge.recompute_output(inputs)
        }
    }
}

//! Checkpointed segments: the runs of nodes whose training state a step
//! frees after its forward pass and rebuilds, by running them forward
//! again, just before their backward pass.
//!
//! Recomputing cheap values ([`super::keeping`]) leaves what no cheap
//! layer gives again: BatchNormalization's kept input, one per convolution in
//! ResNet, FCN and InceptionTime, which at 64k points and batch 8 is
//! 2.5 GiB of a ResNet step's 4. Only running the convolutions again frees
//! it (Chen et al., "Training deep nets with sublinear memory cost", 2016;
//! PyTorch's `torch.utils.checkpoint`, which a user places by hand). A
//! graph places the checkpoints itself, at *cuts*: values that every later
//! node reads, if it reads anything earlier, through them (a residual
//! block's output; inside a block the shortcut spans the cut). Between two
//! cuts, a segment's nodes read only its input and each other's outputs,
//! so one kept copy of that input is all its replay needs.
//!
//! Consecutive pieces between cuts are joined until what their layers keep
//! is at least twice the segment's input (a chain of Conv–BN–ReLU triples
//! keeps as much as its input per triple, and checkpointing one triple
//! would save nothing). The last segment is not checkpointed: its backward
//! pass comes first, so what it keeps would be rebuilt at once. A segment
//! with a layer that cannot run twice to the same effect (Dropout draws
//! at random: [`crate::Layer::replays`]) is not checkpointed either.
//!
//! A replay costs a forward pass of every checkpointed segment: a ResNet
//! step at 16k points and batch 8 took a sixth to a fifth longer for 26%
//! less memory (docs/performance.md). So a step checkpoints only when that
//! frees at least [`CHECKPOINT_ABOVE`] bytes. The replay gives the forward bits
//! (the same input and the same kernels), and BatchNormalization's moving
//! statistics are restored after it, so the gradients and the weights are
//! the same bits either way.

use kymo_tensor::Float;

use super::{Node, Operation};
use crate::Recompute;

/// A step checkpoints when that frees at least this many bytes (1 GiB):
/// ResNet frees 2.8 KB per point and sample (its first two blocks' kept
/// BatchNormalization inputs, less their checkpoints), so at batch 8 from
/// about 48,000 points, at batch 32 from about 12,000. Below it, the
/// replay's time is worth more than the memory.
pub const CHECKPOINT_ABOVE: usize = 1 << 30;

/// A run of nodes `first..=last` that reads nothing before value `first`
/// (its input, node `first`'s only input) and whose values other than
/// value `last + 1` (its output) only its own nodes read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Segment {
    /// The first node; it reads value `first`, the segment's input.
    pub(super) first: usize,
    /// The last node; its output is the segment's.
    pub(super) last: usize,
}

impl Segment {
    /// The value the segment reads: its checkpoint.
    pub(super) fn input(&self) -> usize {
        self.first
    }
}

/// The checkpointed segments of `nodes` (in node order) and the elements
/// per sample they free, given each value's elements per sample
/// (`value_sizes`, value 0 the model's input) and whether each value is
/// recomputed rather than kept when the step recomputes (`recomputable`).
pub(super) fn plan<T: Float>(
    nodes: &[Node<T>],
    value_sizes: &[usize],
    recomputable: &[bool],
) -> (Vec<Segment>, usize) {
    let count = nodes.len();
    // The earliest value read by node `j` or any node after it.
    let mut earliest_read = vec![usize::MAX; count + 1];
    for j in (0..count).rev() {
        let reads = nodes[j].inputs.iter().copied().min().unwrap_or(usize::MAX);
        earliest_read[j] = earliest_read[j + 1].min(reads);
    }
    // Value `v` is a cut when the nodes after it (from node `v` on) read
    // nothing older.
    let is_cut = |v: usize| earliest_read[v] >= v;
    let mut segments = Vec::new();
    let (mut start, mut replays) = (0, true);
    for (j, node) in nodes.iter().enumerate() {
        replays &= match &node.operation {
            Operation::Layer(layer) => layer.replays(),
            // Merges draw nothing; those that keep their inputs for
            // backward (Multiply, Maximum, Minimum) keep them again on replay.
            Operation::Merge(_) => true,
        };
        let value = j + 1;
        if !is_cut(value) {
            continue;
        }
        let kept = kept_by(&nodes[start..=j], value_sizes, recomputable);
        if replays && kept > 0 && kept >= 2 * value_sizes[start] {
            segments.push(Segment {
                first: start,
                last: j,
            });
        } else if replays {
            // Too little kept yet: the segment grows to a later cut.
            continue;
        }
        (start, replays) = (value, true);
    }
    segments.pop();
    let freed = segments
        .iter()
        .map(|segment| {
            let kept = kept_by(
                &nodes[segment.first..=segment.last],
                value_sizes,
                recomputable,
            );
            kept.saturating_sub(value_sizes[segment.input()])
        })
        .sum();
    (segments, freed)
}

/// Elements per sample `nodes` keep for backward in a recomputing step:
/// BatchNormalization's kept input (the size of its output), and once each the
/// inputs of convolutions that nothing cheap gives again.
fn kept_by<T: Float>(nodes: &[Node<T>], value_sizes: &[usize], recomputable: &[bool]) -> usize {
    let mut kept_inputs: Vec<usize> = Vec::new();
    let mut kept = 0;
    for node in nodes {
        let Operation::Layer(layer) = &node.operation else {
            continue;
        };
        let input = node.inputs[0];
        if layer.recompute() == Recompute::FromKept {
            kept += layer.output_shape().size();
        } else if layer.keeps_input() && !recomputable[input] && !kept_inputs.contains(&input) {
            kept_inputs.push(input);
            kept += value_sizes[input];
        }
    }
    kept
}

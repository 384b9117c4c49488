//! Which nodes of a graph run fused in training: a node that can run an
//! activation inside its own passes and the ReLU or LeakyReLU that alone
//! reads its output, as in every block of ResNet, FCN and InceptionTime.
//! - A BatchNormalization ([`Layer::fuses_activation`]) writes, keeps and
//!   reads no copy of the normalized batch and no mask of the activation:
//!   its passes apply the activation forward, and its backward finds each
//!   element's side of the kink from the input it keeps anyway.
//! - An `Add` ([`Merge::fuses_activation`]; a residual block's join)
//!   applies the activation as it adds its last input, keeping the mask,
//!   and its backward writes the masked gradient to both inputs in one
//!   pass.
//!
//! The same bits as the nodes one by one.
//!
//! [`Layer::fuses_activation`]: crate::Layer::fuses_activation
//! [`Merge::fuses_activation`]: crate::Merge::fuses_activation

use kymo_tensor::Float;

use super::{layer_of, readers_of, Node, Operation};
use crate::{Activation, ChannelwiseMap};

/// Whether `node` can run `activation` inside its own passes.
fn fuses_activation<T: Float>(node: &Node<T>, activation: Activation) -> bool {
    match &node.operation {
        Operation::Layer(layer) => layer.fuses_activation(activation),
        Operation::Merge(merge) => merge.fuses_activation(activation),
    }
}

/// The pairs of one graph, planned once when it is built.
pub(super) struct TrainingPairs {
    /// For each node, the activation its training pass runs inside its
    /// own passes (`None`: none).
    activation_after: Vec<Option<Activation>>,
    /// Whether each node is an activation run inside the pass of the node
    /// it reads.
    absorbed: Vec<bool>,
}

impl TrainingPairs {
    /// Plans the pairs of `nodes`: node `i` and the one node that reads
    /// its output, when that node reads nothing else, is an elementwise
    /// activation ([`ChannelwiseMap::Activation`]), and node `i` runs that
    /// activation in its passes. The graph's output may be the
    /// activation's, never the normalization's.
    pub(super) fn plan<T: Float>(nodes: &[Node<T>], output: usize) -> Self {
        let readers = readers_of(nodes);
        let mut activation_after = vec![None; nodes.len()];
        let mut absorbed = vec![false; nodes.len()];
        for (index, node) in nodes.iter().enumerate() {
            let value = index + 1;
            let [reader] = readers[value][..] else {
                continue;
            };
            if value == output || nodes[reader].inputs != [value] || absorbed[index] {
                continue;
            }
            let activation = layer_of(&nodes[reader])
                .and_then(|follower| follower.inference_map())
                .and_then(|map| match map {
                    ChannelwiseMap::Activation(activation) => Some(activation),
                    _ => None,
                })
                .filter(|&activation| fuses_activation(node, activation));
            if let Some(activation) = activation {
                activation_after[index] = Some(activation);
                absorbed[reader] = true;
            }
        }
        Self {
            activation_after,
            absorbed,
        }
    }

    /// The activation node `index` runs inside its training pass.
    pub(super) fn activation_after(&self, index: usize) -> Option<Activation> {
        self.activation_after[index]
    }

    /// Whether node `index` is an activation run inside the pass of the
    /// node it reads.
    pub(super) fn is_absorbed(&self, index: usize) -> bool {
        self.absorbed[index]
    }
}

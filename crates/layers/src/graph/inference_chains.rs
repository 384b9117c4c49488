//! Which nodes of a graph run fused in inference: a layer whose pass can
//! apply maps to its output in cache (a convolution,
//! [`Layer::fuses_maps`]), followed by the layers that read only its
//! output, one after another, each a map of each channel's values in
//! inference (BatchNormalization, an activation, Dropout; see
//! `crate::channel_maps`). The chain's intermediate values have no other
//! reader and are not the graph's output, so nobody misses them.

use kymo_tensor::Float;

use super::{layer_of, readers_of, Node};
use crate::channel_maps::follows_in_chain;

/// The chains of one graph, planned once when it is built.
pub(super) struct InferenceChains {
    /// For each node, the nodes fused after it (empty: none).
    followers: Vec<Vec<usize>>,
    /// Whether each node runs inside an earlier node's chain.
    absorbed: Vec<bool>,
}

impl InferenceChains {
    /// Plans the chains of `nodes`, whose value `output` is the graph's.
    pub(super) fn plan<T: Float>(nodes: &[Node<T>], output: usize) -> Self {
        let readers = readers_of(nodes);
        let mut followers = vec![Vec::new(); nodes.len()];
        let mut absorbed = vec![false; nodes.len()];
        for head in 0..nodes.len() {
            if absorbed[head] || !layer_of(&nodes[head]).is_some_and(|layer| layer.fuses_maps()) {
                continue;
            }
            let mut last = head;
            // Value `last + 1` is node `last`'s output.
            while last + 1 != output {
                let [reader] = readers[last + 1][..] else {
                    break;
                };
                let follows = nodes[reader].inputs == [last + 1]
                    && layer_of(&nodes[reader]).is_some_and(follows_in_chain);
                if !follows {
                    break;
                }
                followers[head].push(reader);
                absorbed[reader] = true;
                last = reader;
            }
        }
        Self {
            followers,
            absorbed,
        }
    }

    /// The nodes fused after node `index`, in order (empty: it runs alone).
    pub(super) fn followers(&self, index: usize) -> &[usize] {
        &self.followers[index]
    }

    /// Whether node `index` runs inside an earlier node's chain.
    pub(super) fn is_absorbed(&self, index: usize) -> bool {
        self.absorbed[index]
    }
}

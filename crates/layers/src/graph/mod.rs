//! `Graph`: a model of named nodes wired by a [`GraphSpec`], for residual
//! joins (`Add`) and parallel branches (`Concatenate`), as Keras's
//! functional API builds them.

mod inference_chains;
mod keeping;
mod segments;
mod spec;
mod summary;
mod training_pairs;

pub use keeping::RECOMPUTE_ABOVE;
pub use segments::CHECKPOINT_ABOVE;
pub use spec::{ArchitectureSpec, GraphSpec, NodeSpec};

use std::collections::HashMap;

use kymo_tensor::Float;
use ndarray::ArrayD;

use self::inference_chains::InferenceChains;
use self::keeping::Keeping;
use self::segments::Segment;
use self::training_pairs::TrainingPairs;
use crate::buffers;
use crate::limits::{plan_layer, plan_merge, Budget};
use crate::merge::{build_merge, Merge};
use crate::spec::resolve_names;
use crate::{BuildLimits, ChannelMaps, InputSpec, Layer, LayerError, Mode, Model, Shape, Summary};

/// The layer node `node` runs, if it runs a layer (not a merge).
fn layer_of<T>(node: &Node<T>) -> Option<&dyn Layer<T>> {
    match &node.operation {
        Operation::Layer(layer) => Some(layer.as_ref()),
        Operation::Merge(_) => None,
    }
}

/// The nodes reading each value (0: the model's input, `i + 1`: node
/// `i`'s output), in node order.
fn readers_of<T>(nodes: &[Node<T>]) -> Vec<Vec<usize>> {
    let mut readers = vec![Vec::new(); nodes.len() + 1];
    for (index, node) in nodes.iter().enumerate() {
        for &value in &node.inputs {
            readers[value].push(index);
        }
    }
    readers
}

/// What a node runs.
enum Operation<T> {
    /// A layer of one input.
    Layer(Box<dyn Layer<T>>),
    /// A merge of several inputs.
    Merge(Box<dyn Merge<T>>),
}

/// One built node: what it runs and the values it reads. Value 0 is the
/// model's input; value `i + 1` is node `i`'s output.
struct Node<T> {
    operation: Operation<T>,
    inputs: Vec<usize>,
}

/// A graph model with one input and one output.
///
/// Nodes run in the spec's order (each after every node it reads). In
/// training, each node's output is kept until its last reader has run; in
/// backward, the gradient of an output read by several nodes is the sum of
/// what each reader sends back, added in reverse node order. Copies for
/// extra readers, merges and gradient sums draw on and give back to the
/// process's pooled buffers ([`kymo_tensor::take_buffer`]), so after the
/// first step the graph allocates nothing large.
pub struct Graph<T> {
    input: InputSpec,
    input_name: String,
    nodes: Vec<Node<T>>,
    /// The value the model returns.
    output: usize,
    /// The value each node produces, by name, for the spec.
    names: Vec<String>,
    /// Whether the spec named its output (kept so the spec round-trips).
    named_output: bool,
    /// What a training step keeps for backward beyond each layer's own.
    keeping: Keeping<T>,
    /// The nodes an inference pass runs fused with the one before.
    chains: InferenceChains,
    /// Whether inference runs the chains fused (the default).
    fuse_inference: bool,
    /// The nodes a training pass runs as one (a BatchNormalization and
    /// the ReLU after it).
    pairs: TrainingPairs,
    /// Whether training runs the pairs fused (the default).
    fuse_training: bool,
    /// Whether the last training forward pass ran them fused: not when it
    /// recomputed or checkpointed, whose plans replay the layers one by
    /// one. Its backward pass follows it.
    fused_step: bool,
}

fn wiring_error(node: &str, kind: &'static str, reason: String) -> LayerError {
    LayerError::Config {
        layer: node.to_string(),
        kind,
        field: "inputs",
        reason,
    }
}

impl<T: Float> Graph<T> {
    /// Builds `spec` with initial weights drawn from `seed`, within the
    /// default [`BuildLimits`].
    pub fn new(spec: &GraphSpec, seed: u64) -> Result<Self, LayerError> {
        Self::with_limits(spec, seed, &BuildLimits::default())
    }

    /// Builds `spec` if it fits `limits`. The wiring is checked first
    /// (every input names the model's input or an earlier node, every node
    /// leads to the output), then every node is sized with checked
    /// arithmetic, and only then are weights drawn. Node `i` draws its
    /// weights from the stream `(seed, "init", i)`, as layer `i` of a
    /// Sequential does.
    pub fn with_limits(
        spec: &GraphSpec,
        seed: u64,
        limits: &BuildLimits,
    ) -> Result<Self, LayerError> {
        let input_shape = Shape::Signal {
            channels: spec.input.channels,
            length: spec.input.length,
        };
        if spec.input.channels == 0 || spec.input.length == 0 {
            return Err(LayerError::Spec {
                origin: "graph spec".into(),
                reason: format!("input {input_shape} has no points"),
            });
        }
        let names = resolve_names(spec.nodes.iter().map(|n| &n.layer))?;
        let wiring = wire(spec, &names)?;
        let output = match &spec.output {
            None if spec.nodes.is_empty() => {
                return Err(LayerError::Spec {
                    origin: "graph spec".into(),
                    reason: "a graph needs at least one node".into(),
                })
            }
            None => spec.nodes.len(),
            Some(name) => {
                value_of(&names, &spec.input_name, name).ok_or_else(|| LayerError::Spec {
                    origin: "graph spec".into(),
                    reason: format!("output '{name}' is not a node of the graph"),
                })?
            }
        };
        check_all_lead_to(output, &wiring, &names, spec)?;

        let mut shapes = vec![input_shape];
        let mut budget = Budget::start(limits, std::mem::size_of::<T>(), input_shape)?;
        for ((node, name), inputs) in spec.nodes.iter().zip(&names).zip(&wiring) {
            let input_shapes: Vec<Shape> = inputs.iter().map(|&v| shapes[v]).collect();
            let plan = if node.layer.is_merge() {
                plan_merge(&node.layer, name, &input_shapes)?
            } else {
                let [single] = input_shapes[..] else {
                    return Err(wiring_error(
                        name,
                        node.layer.kind(),
                        format!("takes one input, {} given", input_shapes.len()),
                    ));
                };
                plan_layer(&node.layer, name, single)?
            };
            budget.charge(name, node.layer.kind(), &plan)?;
            shapes.push(plan.output);
        }

        let mut nodes = Vec::with_capacity(spec.nodes.len());
        for (index, ((node, name), inputs)) in spec.nodes.iter().zip(&names).zip(wiring).enumerate()
        {
            let operation = if node.layer.is_merge() {
                let input_shapes: Vec<Shape> = inputs.iter().map(|&v| shapes[v]).collect();
                Operation::Merge(build_merge(&node.layer, name.clone(), &input_shapes)?)
            } else {
                let shape = shapes[inputs[0]];
                Operation::Layer(node.layer.build::<T>(name.clone(), shape, seed, index)?)
            };
            nodes.push(Node { operation, inputs });
        }
        Ok(Self {
            input: spec.input,
            input_name: spec.input_name.clone(),
            keeping: Keeping::plan(&nodes, shapes[0].size()),
            chains: InferenceChains::plan(&nodes, output),
            fuse_inference: true,
            pairs: TrainingPairs::plan(&nodes, output),
            fuse_training: true,
            fused_step: false,
            nodes,
            output,
            names,
            named_output: spec.output.is_some(),
        })
    }

    /// The spec that rebuilds this graph, every name resolved.
    pub fn spec(&self) -> GraphSpec {
        let value_name = |v: usize| match v {
            0 => self.input_name.clone(),
            v => self.names[v - 1].clone(),
        };
        GraphSpec {
            input: self.input,
            input_name: self.input_name.clone(),
            nodes: self
                .nodes
                .iter()
                .map(|node| NodeSpec {
                    inputs: node.inputs.iter().map(|&v| value_name(v)).collect(),
                    layer: match &node.operation {
                        Operation::Layer(l) => l.spec(),
                        Operation::Merge(m) => m.spec(),
                    },
                })
                .collect(),
            output: self.named_output.then(|| value_name(self.output)),
        }
    }
}

impl<T: Float> Graph<T> {
    /// The last node reading each value: after it, the value is moved
    /// rather than copied, and dropped.
    fn last_readers(&self) -> Vec<Option<usize>> {
        let mut last_reader = vec![None; self.nodes.len() + 1];
        for (i, node) in self.nodes.iter().enumerate() {
            for &v in &node.inputs {
                last_reader[v] = Some(i);
            }
        }
        last_reader
    }

    /// Runs node `i` forward on its inputs from `values`: moved out by
    /// their last reader, copied for the others.
    fn run_node(
        &mut self,
        i: usize,
        values: &mut [Option<ArrayD<T>>],
        last_reader: &[Option<usize>],
        mode: Mode,
    ) -> Result<ArrayD<T>, LayerError> {
        // Unfused inference is the reference the fused one is held to: it
        // copies a forked value for each reader but the last.
        if mode == Mode::Inference && self.fuse_inference {
            if let Some(output) = self.run_forked(i, values, last_reader, &ChannelMaps::default()) {
                return output;
            }
        }
        let fused_activation = match mode {
            Mode::Train if self.fused_step => self.pairs.activation_after(i),
            _ => None,
        };
        let mut arguments = self.arguments(i, values, last_reader)?;
        match &mut self.nodes[i].operation {
            Operation::Layer(layer) => {
                let x = arguments.pop().ok_or_else(|| LayerError::NoForwardCache {
                    layer: self.names[i].clone(),
                })?;
                match fused_activation {
                    Some(activation) => layer.forward_then_activation(x, activation, mode),
                    None => layer.forward(x, mode),
                }
            }
            Operation::Merge(merge) => match fused_activation {
                Some(activation) => merge.forward_then_activation(arguments, activation, mode),
                None => merge.forward(arguments, mode),
            },
        }
    }

    /// Runs layer `i` in inference on its one input, then `maps`, in place
    /// when a later node reads that input too (a fork: the layer borrows
    /// it instead of taking a copy, [`Layer::forward_inference_borrowed`]);
    /// `None` when node `i` takes its input instead.
    fn run_forked(
        &mut self,
        i: usize,
        values: &[Option<ArrayD<T>>],
        last_reader: &[Option<usize>],
        maps: &ChannelMaps<T>,
    ) -> Option<Result<ArrayD<T>, LayerError>> {
        let node = &mut self.nodes[i];
        let (Operation::Layer(layer), &[v]) = (&mut node.operation, node.inputs.as_slice()) else {
            return None;
        };
        if last_reader[v] == Some(i) && v != self.output {
            return None;
        }
        // Invariant: values are produced in node order and taken only by
        // their last reader, so an earlier value is still here.
        let Some(input) = values[v].as_ref() else {
            return Some(Err(LayerError::NoForwardCache {
                layer: self.names[i].clone(),
            }));
        };
        Some(layer.forward_inference_borrowed(input, maps))
    }

    /// Runs node `i` in inference with the maps of `followers`, the
    /// layers that read only its output, applied in its own pass
    /// ([`InferenceChains`]); the result is the last follower's output.
    fn run_chain(
        &mut self,
        i: usize,
        followers: &[usize],
        values: &mut [Option<ArrayD<T>>],
        last_reader: &[Option<usize>],
    ) -> Result<ArrayD<T>, LayerError> {
        let layer = |j: usize| match &self.nodes[j].operation {
            Operation::Layer(layer) => Some(layer.as_ref()),
            Operation::Merge(_) => None,
        };
        let followers_layers: Option<Vec<&dyn Layer<T>>> =
            followers.iter().map(|&j| layer(j)).collect();
        let maps = followers_layers
            .and_then(ChannelMaps::of)
            .filter(|_| layer(i).is_some());
        let maps = match maps {
            Some(maps) => maps,
            // Invariant: the plan makes chains of a layer and layers with
            // maps only; should that ever change, run them one by one.
            None => {
                let mut output = self.run_node(i, values, last_reader, Mode::Inference)?;
                let mut producer = i;
                for &j in followers {
                    values[producer + 1] = Some(output);
                    output = self.run_node(j, values, last_reader, Mode::Inference)?;
                    producer = j;
                }
                return Ok(output);
            }
        };
        if let Some(output) = self.run_forked(i, values, last_reader, &maps) {
            return output;
        }
        let mut arguments = self.arguments(i, values, last_reader)?;
        let x = arguments.pop().ok_or_else(|| LayerError::NoForwardCache {
            layer: self.names[i].clone(),
        })?;
        match &mut self.nodes[i].operation {
            Operation::Layer(layer) => layer.forward_inference_then(x, &maps),
            // Checked above: the head is a layer.
            Operation::Merge(_) => Err(LayerError::Spec {
                origin: "graph".into(),
                reason: format!("merge '{}' cannot head an inference chain", self.names[i]),
            }),
        }
    }

    /// Node `i`'s inputs from `values`: moved out by their last reader,
    /// copied for the others.
    fn arguments(
        &self,
        i: usize,
        values: &mut [Option<ArrayD<T>>],
        last_reader: &[Option<usize>],
    ) -> Result<Vec<ArrayD<T>>, LayerError> {
        let node = &self.nodes[i];
        let mut arguments = Vec::with_capacity(node.inputs.len());
        for (position, &v) in node.inputs.iter().enumerate() {
            let read_again = node.inputs[position + 1..].contains(&v);
            let last = last_reader[v] == Some(i) && v != self.output && !read_again;
            let value = if last {
                values[v].take()
            } else {
                values[v].as_ref().map(buffers::copy_of)
            };
            // Invariant: values are produced in node order and taken only
            // by their last reader, so an earlier value is still here.
            arguments.push(value.ok_or_else(|| LayerError::NoForwardCache {
                layer: self.names[i].clone(),
            })?);
        }
        Ok(arguments)
    }

    /// Runs checkpointed segment `index` forward again from its kept
    /// input (which it consumes), so that its layers keep what their backward passes need
    /// (handed over as in the first pass), then restores the non-trainable
    /// weights (moving statistics) the second pass moved. The segment's
    /// output is dropped: backward has its gradient already.
    fn replay(&mut self, index: usize, segment: Segment) -> Result<(), LayerError> {
        let nodes = segment.first..=segment.last;
        let frozen: Vec<Vec<ArrayD<T>>> = self.nodes[nodes.clone()]
            .iter()
            .map(|node| match &node.operation {
                Operation::Layer(layer) => layer
                    .parameters()
                    .into_iter()
                    .filter(|p| !p.trainable)
                    .map(|p| p.value.clone())
                    .collect(),
                Operation::Merge(_) => Vec::new(),
            })
            .collect();
        let last_reader = self.last_readers();
        let mut values: Vec<Option<ArrayD<T>>> = vec![None; self.nodes.len() + 1];
        let input = self.keeping.take_checkpoint(index);
        values[segment.input()] = Some(input.ok_or_else(|| LayerError::NoForwardCache {
            layer: self.names[segment.first].clone(),
        })?);
        for i in nodes.clone() {
            let output = self.run_node(i, &mut values, &last_reader, Mode::Train)?;
            self.keeping.after_forward(i, &mut self.nodes[i]);
            values[i + 1] = Some(output);
        }
        for value in values.into_iter().flatten() {
            buffers::give_back(value);
        }
        for (node, frozen) in self.nodes[nodes].iter_mut().zip(frozen) {
            if let Operation::Layer(layer) = &mut node.operation {
                let parameters = layer.parameters_mut().into_iter().filter(|p| !p.trainable);
                for (parameter, value) in parameters.zip(frozen) {
                    parameter.value = value;
                }
            }
        }
        Ok(())
    }
}

/// The batch size of the model's input, value 0 (0 when it is missing).
fn input_batch<T>(values: &[Option<ArrayD<T>>]) -> usize {
    values
        .first()
        .and_then(Option::as_ref)
        .and_then(|x| x.shape().first().copied())
        .unwrap_or(0)
}

/// The value a name refers to: 0 for the input, `i + 1` for node `i`.
fn value_of(names: &[String], input_name: &str, name: &str) -> Option<usize> {
    if name == input_name {
        return Some(0);
    }
    names.iter().position(|n| n == name).map(|i| i + 1)
}

/// Each node's input values, checked to name the input or an earlier node.
fn wire(spec: &GraphSpec, names: &[String]) -> Result<Vec<Vec<usize>>, LayerError> {
    let mut earlier = HashMap::<&str, usize>::new();
    earlier.insert(spec.input_name.as_str(), 0);
    let mut wiring = Vec::with_capacity(spec.nodes.len());
    for (i, (node, name)) in spec.nodes.iter().zip(names).enumerate() {
        if name == &spec.input_name {
            return Err(wiring_error(
                name,
                node.layer.kind(),
                "a node may not take the input's name".into(),
            ));
        }
        if node.inputs.is_empty() {
            return Err(wiring_error(name, node.layer.kind(), "no inputs".into()));
        }
        let values = node
            .inputs
            .iter()
            .map(|input| {
                earlier.get(input.as_str()).copied().ok_or_else(|| {
                    wiring_error(
                        name,
                        node.layer.kind(),
                        format!(
                            "reads '{input}', which is neither the input '{}' nor a node \
                             listed before this one",
                            spec.input_name
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        earlier.insert(name.as_str(), i + 1);
        wiring.push(values);
    }
    Ok(wiring)
}

/// Refuses a node whose output never reaches the model's output: it would
/// train nothing and never see a gradient.
fn check_all_lead_to(
    output: usize,
    wiring: &[Vec<usize>],
    names: &[String],
    spec: &GraphSpec,
) -> Result<(), LayerError> {
    let mut used = vec![false; wiring.len() + 1];
    used[output] = true;
    for node in (0..wiring.len()).rev() {
        if used[node + 1] {
            for &v in &wiring[node] {
                used[v] = true;
            }
        }
    }
    match (0..wiring.len()).find(|&node| !used[node + 1]) {
        Some(node) => Err(wiring_error(
            &names[node],
            spec.nodes[node].layer.kind(),
            "this node's output does not lead to the model's output".into(),
        )),
        None => Ok(()),
    }
}

impl<T: Float> Model<T> for Graph<T> {
    fn architecture(&self) -> ArchitectureSpec {
        ArchitectureSpec::Graph(self.spec())
    }

    fn input_shape(&self) -> Shape {
        Shape::Signal {
            channels: self.input.channels,
            length: self.input.length,
        }
    }

    fn output_shape(&self) -> Shape {
        match self.output.checked_sub(1).map(|i| &self.nodes[i].operation) {
            Some(Operation::Layer(l)) => l.output_shape(),
            Some(Operation::Merge(m)) => m.output_shape(),
            None => Model::input_shape(self),
        }
    }

    fn forward(&mut self, input: ArrayD<T>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        let last_reader = self.last_readers();
        let mut values: Vec<Option<ArrayD<T>>> = vec![None; self.nodes.len() + 1];
        values[0] = Some(input);
        let batch = input_batch(&values);
        self.keeping.start_forward(batch, std::mem::size_of::<T>());
        if mode == Mode::Train {
            self.fused_step =
                self.fuse_training && !self.keeping.recomputing && !self.keeping.checkpointing;
        }
        for i in 0..self.nodes.len() {
            if mode == Mode::Train && self.fused_step && self.pairs.is_absorbed(i) {
                // Its activation ran inside the pass of the node it reads,
                // whose output has no other reader.
                let read = self.nodes[i].inputs[0];
                values[i + 1] = values[read].take();
                continue;
            }
            if mode == Mode::Inference && self.fuse_inference {
                if self.chains.is_absorbed(i) {
                    continue;
                }
                let followers = self.chains.followers(i).to_vec();
                if let Some(&last) = followers.last() {
                    let output = self.run_chain(i, &followers, &mut values, &last_reader)?;
                    values[last + 1] = Some(output);
                    continue;
                }
            }
            let segment = match mode {
                Mode::Train => self.keeping.segment_of(i),
                Mode::Inference => None,
            };
            if let Some((index, segment)) = segment.filter(|(_, s)| s.first == i) {
                // Invariant: a segment's input is a cut, read first by the
                // segment's first node, so it is still here.
                let input =
                    values[segment.input()]
                        .as_ref()
                        .ok_or_else(|| LayerError::NoForwardCache {
                            layer: self.names[i].clone(),
                        })?;
                self.keeping.keep_checkpoint(index, buffers::copy_of(input));
            }
            let output = self.run_node(i, &mut values, &last_reader, mode)?;
            if mode == Mode::Train {
                let node = &mut self.nodes[i];
                match (&mut node.operation, segment) {
                    // Freed now, rebuilt by the segment's replay.
                    (Operation::Layer(layer), Some(_)) => layer.release_kept(),
                    (_, Some(_)) => {}
                    (_, None) => self.keeping.after_forward(i, node),
                }
            }
            values[i + 1] = Some(output);
        }
        values[self.output]
            .take()
            .ok_or_else(|| LayerError::NoForwardCache {
                layer: "output".into(),
            })
    }

    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<ArrayD<T>, LayerError> {
        let mut grads: Vec<Option<ArrayD<T>>> = vec![None; self.nodes.len() + 1];
        grads[self.output] = Some(grad_output);
        for i in (0..self.nodes.len()).rev() {
            // Every node leads to the output (checked at build), so its
            // readers, all later, have sent their gradients by now.
            let grad = grads[i + 1]
                .take()
                .ok_or_else(|| LayerError::NoForwardCache {
                    layer: self.names[i].clone(),
                })?;
            if self.fused_step && self.pairs.is_absorbed(i) {
                // The node it reads takes this gradient through both.
                let read = self.nodes[i].inputs[0];
                grads[read] = Some(grad);
                continue;
            }
            let segment = self.keeping.segment_of(i);
            if let Some((index, segment)) = segment.filter(|(_, s)| s.last == i) {
                self.replay(index, segment)?;
            }
            self.keeping.before_backward(&mut self.nodes, i)?;
            let node = &mut self.nodes[i];
            let input_grads = match &mut node.operation {
                Operation::Layer(layer) => vec![layer.backward(grad)?],
                Operation::Merge(merge) => merge.backward(grad)?,
            };
            for (&v, g) in node.inputs.iter().zip(input_grads) {
                grads[v] = Some(match grads[v].take() {
                    Some(mut sum) => {
                        buffers::add_assign(&mut sum, &g);
                        buffers::give_back(g);
                        sum
                    }
                    None => g,
                });
            }
        }
        grads[0].take().ok_or_else(|| LayerError::NoForwardCache {
            layer: self.input_name.clone(),
        })
    }

    fn layers(&self) -> Vec<&dyn Layer<T>> {
        self.nodes
            .iter()
            .filter_map(|node| match &node.operation {
                Operation::Layer(l) => Some(l.as_ref() as &dyn Layer<T>),
                Operation::Merge(_) => None,
            })
            .collect()
    }

    fn layers_mut(&mut self) -> Vec<&mut dyn Layer<T>> {
        self.nodes
            .iter_mut()
            .filter_map(|node| match &mut node.operation {
                Operation::Layer(l) => Some(l.as_mut() as &mut dyn Layer<T>),
                Operation::Merge(_) => None,
            })
            .collect()
    }

    fn summary(&self) -> Summary {
        summary::of(self)
    }

    /// Recomputes in backward the convolutions' inputs that cheap layers
    /// produce (BatchNormalization, activations, pools, `Add`) when that
    /// saves at least `bytes` in a step (see the `keeping` module).
    fn set_inference_fusion(&mut self, fuse: bool) {
        self.fuse_inference = fuse;
    }

    fn set_training_fusion(&mut self, fuse: bool) {
        self.fuse_training = fuse;
    }

    fn inference_copy(&self) -> Result<Option<Box<dyn Model<T>>>, LayerError> {
        crate::model::inference_copy_of(self, self.fuse_inference)
    }

    fn set_recompute_above(&mut self, bytes: Option<usize>) {
        self.keeping.recompute_above = bytes;
    }

    /// Checkpoints the graph's segments (frees what their layers keep after
    /// the forward pass and runs them forward again before backward) when
    /// that frees at least `bytes` in a step (see the `segments` module).
    fn set_checkpoint_above(&mut self, bytes: Option<usize>) {
        self.keeping.checkpoint_above = bytes;
    }
}

#[cfg(test)]
mod tests;

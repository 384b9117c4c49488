//! Merge layers: the nodes of a graph model that take several inputs
//! (`Add`, `Concatenate`, and `Subtract`, `Multiply`, `Average`,
//! `Maximum`, `Minimum`). They hold no weights; a [`crate::Graph`] wires
//! them, so they have a trait of their own beside [`crate::Layer`].

mod add;
mod concatenate;
mod elementwise;

pub use add::Add;
pub use concatenate::{Concatenate, ConcatenateSpec};
pub use elementwise::{Elementwise, ElementwiseOp};

use kymo_tensor::Float;
use ndarray::ArrayD;

use crate::{Activation, LayerError, LayerSpec, Mode, Shape};

/// A layer of several inputs and one output.
pub trait Merge<T: Float>: Send {
    /// The layer's name.
    fn name(&self) -> &str;
    /// The spec that rebuilds this layer.
    fn spec(&self) -> LayerSpec;
    /// The per-sample output shape.
    fn output_shape(&self) -> Shape;
    /// Forward pass over one batch per input, in the order of the node's
    /// inputs; `mode` says whether a backward pass follows (what a merge
    /// keeps for it is kept in training only).
    fn forward(&mut self, inputs: Vec<ArrayD<T>>, mode: Mode) -> Result<ArrayD<T>, LayerError>;
    /// The gradient with respect to each input, from the gradient with
    /// respect to the output.
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<Vec<ArrayD<T>>, LayerError>;
    /// Whether [`Merge::recompute_output`] can merge recomputed inputs
    /// again.
    fn recomputes(&self) -> bool {
        false
    }
    /// The last forward pass's output again, with its bits, from its
    /// inputs recomputed, changing nothing the layer keeps.
    fn recompute_output(&self, inputs: Vec<ArrayD<T>>) -> Result<ArrayD<T>, LayerError> {
        inputs.into_iter().for_each(crate::buffers::give_back);
        Err(LayerError::Recompute {
            layer: self.name().to_string(),
            reason: "this merge's output cannot be recomputed",
        })
    }
    /// Whether [`Merge::forward_then_activation`] runs `activation` inside
    /// this merge's own pass (`Add`: ReLU and LeakyReLU).
    fn fuses_activation(&self, _activation: Activation) -> bool {
        false
    }
    /// A forward pass in `mode` followed by `activation` in the merge's
    /// own pass: the output is the activation's, and the next backward
    /// takes the gradient with respect to it. The same bits as the merge
    /// and then the activation's layer, one by one (a graph runs a
    /// residual block's `Add` and its ReLU this way in training). An
    /// activation that [`Merge::fuses_activation`] refuses is an error
    /// naming the layer.
    fn forward_then_activation(
        &mut self,
        inputs: Vec<ArrayD<T>>,
        activation: Activation,
        _mode: Mode,
    ) -> Result<ArrayD<T>, LayerError> {
        inputs.into_iter().for_each(crate::buffers::give_back);
        Err(LayerError::Config {
            layer: self.name().to_string(),
            kind: self.spec().kind(),
            field: "activation",
            reason: format!("cannot run {activation:?} inside this merge's pass"),
        })
    }
}

/// Builds the merge layer `spec` for inputs of `shapes`; an error names the
/// layer when the spec is not a merge or the shapes cannot be merged.
pub fn build_merge<T: Float>(
    spec: &LayerSpec,
    name: String,
    shapes: &[Shape],
) -> Result<Box<dyn Merge<T>>, LayerError> {
    if shapes.len() < 2 {
        return Err(LayerError::Config {
            layer: name,
            kind: spec.kind(),
            field: "inputs",
            reason: format!("a merge needs at least 2 inputs, found {}", shapes.len()),
        });
    }
    match spec {
        LayerSpec::Add(_) if shapes.iter().all(|s| *s == shapes[0]) => {
            Ok(Box::new(Add::build(name, shapes)?))
        }
        // Keras's Add broadcasts an axis of 1, as the other merges do.
        LayerSpec::Add(_) => Ok(Box::new(Elementwise::build(
            crate::ElementwiseOp::Add,
            name,
            shapes,
        )?)),
        LayerSpec::Concatenate(s) => Ok(Box::new(Concatenate::build(s, name, shapes)?)),
        other => match other.elementwise_op() {
            Some(op) => Ok(Box::new(Elementwise::build(op, name, shapes)?)),
            None => Err(LayerError::Config {
                layer: name,
                kind: other.kind(),
                field: "inputs",
                reason: "this layer takes one input".into(),
            }),
        },
    }
}

/// Checks that each of `inputs` is a batch of the matching `shapes`, all of
/// one batch size; returns it.
fn check_inputs<T>(
    layer: &str,
    kind: &'static str,
    shapes: &[Shape],
    inputs: &[ArrayD<T>],
) -> Result<usize, LayerError> {
    let batch = inputs
        .first()
        .and_then(|x| x.shape().first().copied())
        .unwrap_or(0);
    if inputs.len() != shapes.len() {
        return Err(LayerError::InputShape {
            layer: layer.to_string(),
            kind,
            expected: format!("{} inputs", shapes.len()),
            found: format!("{} inputs", inputs.len()),
        });
    }
    for (shape, input) in shapes.iter().zip(inputs) {
        if input.shape() != shape.with_batch(batch).as_slice() {
            return Err(LayerError::InputShape {
                layer: layer.to_string(),
                kind,
                expected: shape.to_string(),
                found: format!("{:?}", input.shape()),
            });
        }
    }
    Ok(batch)
}

#[cfg(test)]
pub(crate) mod test_graphs {
    //! Small graphs for the merge layers' gradient checks.

    use crate::{ArchitectureSpec, GraphSpec, InputSpec, LayerSpec, NodeSpec};

    /// `input -> conv a`, `input -> conv b` (another width when `widths`
    /// differ), `merge(a, b, input?)`, then a global average pool: every
    /// path into the merge carries weights, and with `with_input` the raw
    /// input joins too.
    pub fn two_branches(
        merge: LayerSpec,
        channels: usize,
        length: usize,
        widths: [usize; 2],
        with_input: bool,
    ) -> ArchitectureSpec {
        let conv = |name: &str, filters: usize, kernel: usize| NodeSpec {
            inputs: vec!["input".into()],
            layer: LayerSpec::Conv1D(crate::Conv1DSpec {
                name: Some(name.into()),
                padding: kymo_tensor::Padding::Same,
                bias_initializer: kymo_tensor::Initializer::GlorotUniform,
                ..crate::Conv1DSpec::new(filters, kernel)
            }),
        };
        let mut merged = vec!["a".to_string(), "b".to_string()];
        if with_input {
            merged.push("input".into());
        }
        ArchitectureSpec::Graph(GraphSpec {
            input: InputSpec { channels, length },
            input_name: "input".into(),
            nodes: vec![
                conv("a", widths[0], 3),
                conv("b", widths[1], 2),
                NodeSpec {
                    inputs: merged,
                    layer: merge,
                },
            ],
            output: None,
        })
    }
}

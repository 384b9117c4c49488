//! Keras's other elementwise merges of inputs of one shape: `Subtract`
//! (`a - b`), `Multiply` (gates, attention), `Average` (an ensemble of
//! branches), `Maximum` and `Minimum`. `Add`, the residual join, has a file
//! of its own.

use kymo_tensor::Float;
use ndarray::{ArrayD, Zip};

use super::{check_inputs, Merge};
use crate::buffers;
use crate::layer::standard;
use crate::{LayerError, LayerSpec, Mode, NameOnlySpec, Shape};

/// Which elementwise merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementwiseOp {
    /// The sum of inputs of different shapes, one broadcast along an
    /// axis of 1 (`Add` of equal shapes is [`crate::merge::Add`], which
    /// sums in place).
    Add,
    /// `a - b`, of exactly two inputs.
    Subtract,
    /// The product of the inputs.
    Multiply,
    /// Their mean.
    Average,
    /// Their largest value; a tie sends the gradient to the first input
    /// holding it (TensorFlow's `x >= y`, folded left).
    Maximum,
    /// Their smallest value; a tie as for `Maximum`.
    Minimum,
}

impl ElementwiseOp {
    /// The Keras class name.
    pub fn kind(self) -> &'static str {
        match self {
            ElementwiseOp::Add => "Add",
            ElementwiseOp::Subtract => "Subtract",
            ElementwiseOp::Multiply => "Multiply",
            ElementwiseOp::Average => "Average",
            ElementwiseOp::Maximum => "Maximum",
            ElementwiseOp::Minimum => "Minimum",
        }
    }

    /// The spec of this merge named `name`.
    pub fn spec(self, name: Option<String>) -> LayerSpec {
        let s = NameOnlySpec { name };
        match self {
            ElementwiseOp::Add => LayerSpec::Add(s),
            ElementwiseOp::Subtract => LayerSpec::Subtract(s),
            ElementwiseOp::Multiply => LayerSpec::Multiply(s),
            ElementwiseOp::Average => LayerSpec::Average(s),
            ElementwiseOp::Maximum => LayerSpec::Maximum(s),
            ElementwiseOp::Minimum => LayerSpec::Minimum(s),
        }
    }

    /// The PyTorch expression of the merge of `inputs` (Python names).
    pub fn python(self, inputs: &[String]) -> String {
        let fold = |function: &str| {
            inputs[1..].iter().fold(inputs[0].clone(), |acc, x| {
                format!("torch.{function}({acc}, {x})")
            })
        };
        match self {
            ElementwiseOp::Add => inputs.join(" + "),
            ElementwiseOp::Subtract => inputs.join(" - "),
            ElementwiseOp::Multiply => inputs.join(" * "),
            ElementwiseOp::Average => format!("({}) / {}", inputs.join(" + "), inputs.len()),
            ElementwiseOp::Maximum => fold("maximum"),
            ElementwiseOp::Minimum => fold("minimum"),
        }
    }
}

/// The shape `a` and `b` broadcast to, if they do: per axis equal, or 1
/// against any size.
fn broadcast(a: Shape, b: Shape) -> Option<Shape> {
    let axis = |x: usize, y: usize| match (x, y) {
        (x, y) if x == y => Some(x),
        (1, y) => Some(y),
        (x, 1) => Some(x),
        _ => None,
    };
    match (a, b) {
        (Shape::Features(x), Shape::Features(y)) => axis(x, y).map(Shape::Features),
        (
            Shape::Signal {
                channels: c1,
                length: l1,
            },
            Shape::Signal {
                channels: c2,
                length: l2,
            },
        ) => Some(Shape::Signal {
            channels: axis(c1, c2)?,
            length: axis(l1, l2)?,
        }),
        _ => None,
    }
}

/// An elementwise merge of inputs of one shape, or of shapes that
/// broadcast (an axis of 1 against any size, as Keras broadcasts: the
/// squeeze-and-excitation gate `(1, channels)` times the signal).
pub struct Elementwise<T> {
    name: String,
    op: ElementwiseOp,
    /// The output's shape.
    shape: Shape,
    /// Each input's shape.
    shapes: Vec<Shape>,
    inputs: usize,
    /// The last training forward pass's inputs, for the backward pass of
    /// the merges whose gradient depends on them (`Multiply`, `Maximum`,
    /// `Minimum`).
    kept: Vec<ArrayD<T>>,
}

impl<T: Float> Elementwise<T> {
    /// Builds the merge; every input must have the same shape, and a
    /// `Subtract` exactly two (as Keras requires).
    pub fn build(op: ElementwiseOp, name: String, shapes: &[Shape]) -> Result<Self, LayerError> {
        let kind = op.kind();
        let shape = shapes.first().copied().ok_or_else(|| LayerError::Config {
            layer: name.clone(),
            kind,
            field: "inputs",
            reason: "no inputs".into(),
        })?;
        if op == ElementwiseOp::Subtract && shapes.len() != 2 {
            return Err(LayerError::Config {
                layer: name,
                kind,
                field: "inputs",
                reason: format!("Subtract takes exactly 2 inputs, found {}", shapes.len()),
            });
        }
        let mut output = shape;
        for other in &shapes[1..] {
            output = broadcast(output, *other).ok_or_else(|| LayerError::InputShape {
                layer: name.clone(),
                kind,
                expected: format!(
                    "inputs of shape {shape}, or of shapes that broadcast (an axis of 1)"
                ),
                found: other.to_string(),
            })?;
        }
        Ok(Self {
            name,
            op,
            shape: output,
            shapes: shapes.to_vec(),
            inputs: shapes.len(),
            kept: Vec::new(),
        })
    }

    /// `grad`, of the output's shape, summed over the axes that input `i`
    /// was broadcast along.
    fn reduce(&self, mut grad: ArrayD<T>, i: usize) -> ArrayD<T> {
        let own = self.shapes[i];
        if own == self.shape {
            return grad;
        }
        let batch = grad.shape().first().copied().unwrap_or(0);
        let target = own.with_batch(batch);
        for (axis, &size) in target.iter().enumerate().skip(1) {
            if size == 1 && grad.shape()[axis] != 1 {
                grad = grad
                    .sum_axis(ndarray::Axis(axis))
                    .insert_axis(ndarray::Axis(axis));
            }
        }
        grad
    }

    /// The error for an input that does not broadcast to the output.
    fn not_broadcast(&self, x: &ArrayD<T>) -> LayerError {
        LayerError::InputShape {
            layer: self.name.clone(),
            kind: self.op.kind(),
            expected: format!("an input that broadcasts to {}", self.shape),
            found: format!("{:?}", x.shape()),
        }
    }

    /// The merge of `inputs` at the output's shape, folded left to right
    /// as Keras folds them, into a new array (the first input broadcast).
    fn merge(&self, inputs: &[ArrayD<T>]) -> Result<ArrayD<T>, LayerError> {
        let batch = check_inputs(&self.name, self.op.kind(), &self.shapes, inputs)?;
        let full = self.shape.with_batch(batch);
        let first = inputs[0]
            .broadcast(full.clone())
            .ok_or_else(|| self.not_broadcast(&inputs[0]))?;
        let mut out = standard(first.to_owned());
        for x in &inputs[1..] {
            let x = x
                .broadcast(full.clone())
                .ok_or_else(|| self.not_broadcast(x))?;
            let zip = Zip::from(&mut out).and(&x);
            match self.op {
                ElementwiseOp::Subtract => zip.for_each(|o, &v| *o -= v),
                ElementwiseOp::Multiply => zip.for_each(|o, &v| *o *= v),
                ElementwiseOp::Add | ElementwiseOp::Average => zip.for_each(|o, &v| *o += v),
                ElementwiseOp::Maximum => zip.for_each(|o, &v| *o = if *o >= v { *o } else { v }),
                ElementwiseOp::Minimum => zip.for_each(|o, &v| *o = if *o <= v { *o } else { v }),
            }
        }
        if self.op == ElementwiseOp::Average {
            // Keras divides the sum by the count, as here.
            let count = T::from_f64_lossy(self.inputs as f64);
            out.mapv_inplace(|v| v / count);
        }
        Ok(out)
    }
}

impl<T: Float> Merge<T> for Elementwise<T> {
    fn name(&self) -> &str {
        &self.name
    }
    fn spec(&self) -> LayerSpec {
        self.op.spec(Some(self.name.clone()))
    }
    fn output_shape(&self) -> Shape {
        self.shape
    }
    fn forward(&mut self, inputs: Vec<ArrayD<T>>, mode: Mode) -> Result<ArrayD<T>, LayerError> {
        let out = self.merge(&inputs)?;
        // A product's or a selection's backward pass reads the inputs;
        // inference has none, so its inputs' storage goes back at once.
        let needs_inputs = mode == Mode::Train
            && matches!(
                self.op,
                ElementwiseOp::Multiply | ElementwiseOp::Maximum | ElementwiseOp::Minimum
            );
        self.kept.drain(..).for_each(buffers::give_back);
        if needs_inputs {
            self.kept = inputs;
        } else {
            inputs.into_iter().for_each(buffers::give_back);
        }
        Ok(out)
    }
    fn recomputes(&self) -> bool {
        // The inputs must be kept for the backward pass of a product or a
        // selection, so recomputing saves nothing there.
        matches!(
            self.op,
            ElementwiseOp::Add | ElementwiseOp::Subtract | ElementwiseOp::Average
        )
    }
    fn recompute_output(&self, inputs: Vec<ArrayD<T>>) -> Result<ArrayD<T>, LayerError> {
        let out = self.merge(&inputs);
        inputs.into_iter().for_each(buffers::give_back);
        out
    }
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<Vec<ArrayD<T>>, LayerError> {
        let batch = grad_output.shape().first().copied().unwrap_or(0);
        crate::layer::check_grad(
            &self.name,
            self.op.kind(),
            &self.shape.with_batch(batch),
            &grad_output,
        )?;
        let needs_inputs = matches!(
            self.op,
            ElementwiseOp::Multiply | ElementwiseOp::Maximum | ElementwiseOp::Minimum
        );
        if needs_inputs && self.kept.len() != self.inputs {
            return Err(LayerError::Recompute {
                layer: self.name.clone(),
                reason: "backward before a training forward pass",
            });
        }
        let kept = std::mem::take(&mut self.kept);
        let full = grad_output.raw_dim();
        // Inputs at the output's shape (views: a broadcast input repeats).
        let views: Vec<ndarray::ArrayViewD<'_, T>> = kept
            .iter()
            .map(|x| {
                x.broadcast(full.clone())
                    .ok_or_else(|| self.not_broadcast(x))
            })
            .collect::<Result<_, _>>()?;
        let grads: Vec<ArrayD<T>> = match self.op {
            ElementwiseOp::Add => (0..self.inputs).map(|_| grad_output.clone()).collect(),
            ElementwiseOp::Subtract => {
                let negative = grad_output.mapv(|g| -g);
                vec![grad_output, negative]
            }
            ElementwiseOp::Average => {
                let count = T::from_f64_lossy(self.inputs as f64);
                let share = grad_output.mapv(|g| g / count);
                (0..self.inputs).map(|_| share.clone()).collect()
            }
            ElementwiseOp::Multiply => (0..self.inputs)
                .map(|i| {
                    // The product of the other inputs, in Keras's order.
                    let mut grad = grad_output.clone();
                    for (j, x) in views.iter().enumerate() {
                        if j != i {
                            Zip::from(&mut grad).and(x).for_each(|g, &v| *g *= v);
                        }
                    }
                    grad
                })
                .collect(),
            ElementwiseOp::Maximum | ElementwiseOp::Minimum => {
                let maximum = self.op == ElementwiseOp::Maximum;
                // Per element, the first input holding the winning value.
                let mut best = views[0].to_owned();
                let mut winner = ArrayD::<usize>::zeros(grad_output.raw_dim());
                for (j, x) in views.iter().enumerate().skip(1) {
                    Zip::from(&mut best)
                        .and(&mut winner)
                        .and(x)
                        .for_each(|b, w, &v| {
                            if (maximum && v > *b) || (!maximum && v < *b) {
                                *b = v;
                                *w = j;
                            }
                        });
                }
                (0..self.inputs)
                    .map(|i| {
                        Zip::from(&grad_output).and(&winner).map_collect(|&g, &w| {
                            if w == i {
                                g
                            } else {
                                T::zero()
                            }
                        })
                    })
                    .collect()
            }
        };
        drop(views);
        kept.into_iter().for_each(buffers::give_back);
        Ok(grads
            .into_iter()
            .enumerate()
            .map(|(i, grad)| self.reduce(grad, i))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_graphs::two_branches;
    use super::*;
    use crate::gradcheck::{check_model, GradCheck};
    use crate::Mode;
    use proptest::prelude::*;

    const OPS: [ElementwiseOp; 6] = [
        ElementwiseOp::Add,
        ElementwiseOp::Subtract,
        ElementwiseOp::Multiply,
        ElementwiseOp::Average,
        ElementwiseOp::Maximum,
        ElementwiseOp::Minimum,
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        #[test]
        fn gradients_match_finite_differences(
            op in 0usize..6,
            channels in 1usize..3,
            length in 2usize..9,
            with_input in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let op = OPS[op];
            // A Subtract takes two inputs only; with the raw input joining,
            // the branches keep its width.
            let with_input = with_input && op != ElementwiseOp::Subtract;
            let width = if with_input { channels } else { 3 };
            let spec = two_branches(op.spec(None), channels, length, [width, width], with_input);
            let mut model = spec.build::<f64>(seed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            check_model(model.as_mut(), 2, Mode::Train, seed, GradCheck::smooth()).map_err(TestCaseError::fail)?;
        }
    }

    /// A squeeze-and-excitation block: a conv's channels averaged over
    /// the length, reshaped to one step, gated by a per-step Dense with a
    /// sigmoid, and multiplied back onto the conv's output (the gate of
    /// length 1 broadcast along the signal).
    fn squeeze_excitation(merge: &str, channels: usize, length: usize) -> crate::ArchitectureSpec {
        crate::ArchitectureSpec::from_toml_str(&format!(
            r#"
            input = {{ channels = 1, length = {length} }}
            [[nodes]]
            inputs = ["input"]
            type = "Conv1D"
            name = "conv"
            filters = {channels}
            kernel_size = 3
            padding = "same"
            bias_initializer = "glorot_uniform"
            [[nodes]]
            inputs = ["conv"]
            type = "GlobalAveragePooling1D"
            name = "squeeze"
            [[nodes]]
            inputs = ["squeeze"]
            type = "Reshape"
            name = "step"
            target_shape = [1, {channels}]
            [[nodes]]
            inputs = ["step"]
            type = "Dense"
            name = "excite"
            units = {channels}
            activation = "sigmoid"
            [[nodes]]
            inputs = ["conv", "excite"]
            type = "{merge}"
            name = "scaled"
            [[nodes]]
            inputs = ["scaled"]
            type = "Flatten"
            name = "flat"
            "#
        ))
        .expect("a valid graph")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]
        #[test]
        fn a_broadcast_gate_passes_the_gradient_check(
            op in 0usize..6,
            channels in 1usize..4,
            length in 2usize..7,
            seed in any::<u64>(),
        ) {
            let spec = squeeze_excitation(OPS[op].kind(), channels, length);
            let mut model = spec.build::<f64>(seed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(model.output_shape(), Shape::Features(channels * length));
            check_model(model.as_mut(), 2, Mode::Train, seed, GradCheck::smooth()).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn shapes_that_do_not_broadcast_are_refused_by_name() {
        let signal = |channels, length| Shape::Signal { channels, length };
        let error = Elementwise::<f32>::build(
            ElementwiseOp::Multiply,
            "gate".into(),
            &[signal(4, 8), signal(4, 3)],
        )
        .err()
        .expect("8 and 3 steps");
        assert!(error.to_string().contains("'gate'"), "{error}");
        let ok = Elementwise::<f32>::build(
            ElementwiseOp::Multiply,
            "gate".into(),
            &[signal(4, 8), signal(4, 1)],
        )
        .expect("a gate of one step");
        assert_eq!(Merge::<f32>::output_shape(&ok), signal(4, 8));
        // Keras's Add broadcasts as well: a one-step signal onto a longer one.
        let add = crate::merge::build_merge::<f32>(
            &ElementwiseOp::Add.spec(None),
            "sum".into(),
            &[signal(4, 8), signal(4, 1)],
        )
        .expect("Add broadcasts");
        assert_eq!(add.output_shape(), signal(4, 8));
    }

    #[test]
    fn products_and_selections_keep_their_inputs_for_training_only() {
        let shape = Shape::Signal {
            channels: 1,
            length: 3,
        };
        let a = ArrayD::from_shape_vec(vec![1, 1, 3], vec![1.0, 2.0, -1.0]).expect("shape");
        for op in [
            ElementwiseOp::Multiply,
            ElementwiseOp::Maximum,
            ElementwiseOp::Minimum,
        ] {
            let mut merge =
                Elementwise::<f64>::build(op, "m".into(), &[shape, shape]).expect("builds");
            let inference = merge
                .forward(vec![a.clone(), a.clone()], Mode::Inference)
                .expect("merges");
            assert!(merge.kept.is_empty(), "{op:?} kept its inputs in inference");
            let training = merge
                .forward(vec![a.clone(), a.clone()], Mode::Train)
                .expect("merges");
            assert_eq!(inference, training, "{op:?}");
            assert_eq!(merge.kept.len(), 2, "{op:?}");
            merge
                .backward(ArrayD::ones(vec![1, 1, 3]))
                .expect("backward after training");
        }
    }

    #[test]
    fn each_merge_computes_what_keras_does_and_ties_go_to_the_first_input() {
        let shape = Shape::Signal {
            channels: 1,
            length: 3,
        };
        let a = ArrayD::from_shape_vec(vec![1, 1, 3], vec![1.0, 2.0, 5.0]).expect("shape");
        let b = ArrayD::from_shape_vec(vec![1, 1, 3], vec![4.0, 2.0, -1.0]).expect("shape");
        for (op, want) in [
            (ElementwiseOp::Add, [5.0, 4.0, 4.0]),
            (ElementwiseOp::Subtract, [-3.0, 0.0, 6.0]),
            (ElementwiseOp::Multiply, [4.0, 4.0, -5.0]),
            (ElementwiseOp::Average, [2.5, 2.0, 2.0]),
            (ElementwiseOp::Maximum, [4.0, 2.0, 5.0]),
            (ElementwiseOp::Minimum, [1.0, 2.0, -1.0]),
        ] {
            let mut merge =
                Elementwise::<f64>::build(op, "m".into(), &[shape, shape]).expect("builds");
            let out = merge
                .forward(vec![a.clone(), b.clone()], Mode::Train)
                .expect("merges");
            assert_eq!(out.as_slice().expect("standard"), want, "{op:?}");
            let grads = merge
                .backward(ArrayD::ones(vec![1, 1, 3]))
                .expect("backward");
            if op == ElementwiseOp::Maximum {
                // Position 1 ties: its gradient goes to the first input.
                assert_eq!(grads[0].as_slice().expect("standard"), [0.0, 1.0, 1.0]);
                assert_eq!(grads[1].as_slice().expect("standard"), [1.0, 0.0, 0.0]);
            }
        }
        let error = Elementwise::<f64>::build(ElementwiseOp::Subtract, "s".into(), &[shape; 3])
            .err()
            .expect("three inputs");
        assert!(error.to_string().contains("exactly 2"), "{error}");
    }
}

//! Keras's other elementwise merges of inputs of one shape: `Subtract`
//! (`a - b`), `Multiply` (gates, attention), `Average` (an ensemble of
//! branches), `Maximum` and `Minimum`. `Add`, the residual join, has a file
//! of its own.

use kymo_tensor::Float;
use ndarray::{ArrayD, Zip};

use super::{check_inputs, Merge};
use crate::buffers;
use crate::layer::standard;
use crate::{LayerError, LayerSpec, NameOnlySpec, Shape};

/// Which elementwise merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementwiseOp {
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
            ElementwiseOp::Subtract => inputs.join(" - "),
            ElementwiseOp::Multiply => inputs.join(" * "),
            ElementwiseOp::Average => format!("({}) / {}", inputs.join(" + "), inputs.len()),
            ElementwiseOp::Maximum => fold("maximum"),
            ElementwiseOp::Minimum => fold("minimum"),
        }
    }
}

/// An elementwise merge of inputs of one shape.
pub struct Elementwise<T> {
    name: String,
    op: ElementwiseOp,
    shape: Shape,
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
        if let Some(other) = shapes.iter().find(|s| **s != shape) {
            return Err(LayerError::InputShape {
                layer: name,
                kind,
                expected: format!("every input of shape {shape}"),
                found: other.to_string(),
            });
        }
        Ok(Self {
            name,
            op,
            shape,
            inputs: shapes.len(),
            kept: Vec::new(),
        })
    }

    /// The merge of `inputs`, folded left to right as Keras folds them,
    /// into the first one's storage.
    fn merge(&self, inputs: &[ArrayD<T>]) -> Result<ArrayD<T>, LayerError> {
        let shapes = vec![self.shape; self.inputs];
        check_inputs(&self.name, self.op.kind(), &shapes, inputs)?;
        let mut out = standard(buffers::copy_of(&inputs[0]));
        for x in &inputs[1..] {
            let zip = Zip::from(&mut out).and(x);
            match self.op {
                ElementwiseOp::Subtract => zip.for_each(|o, &v| *o -= v),
                ElementwiseOp::Multiply => zip.for_each(|o, &v| *o *= v),
                ElementwiseOp::Average => zip.for_each(|o, &v| *o += v),
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
    fn forward(&mut self, inputs: Vec<ArrayD<T>>) -> Result<ArrayD<T>, LayerError> {
        let out = self.merge(&inputs)?;
        let needs_inputs = matches!(
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
        matches!(self.op, ElementwiseOp::Subtract | ElementwiseOp::Average)
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
        let grads = match self.op {
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
                    for (j, x) in kept.iter().enumerate() {
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
                let mut best = kept[0].clone();
                let mut winner = ArrayD::<usize>::zeros(grad_output.raw_dim());
                for (j, x) in kept.iter().enumerate().skip(1) {
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
        kept.into_iter().for_each(buffers::give_back);
        Ok(grads)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_graphs::two_branches;
    use super::*;
    use crate::gradcheck::{check_model, GradCheck};
    use crate::Mode;
    use proptest::prelude::*;

    const OPS: [ElementwiseOp; 5] = [
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
            op in 0usize..5,
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

    #[test]
    fn each_merge_computes_what_keras_does_and_ties_go_to_the_first_input() {
        let shape = Shape::Signal {
            channels: 1,
            length: 3,
        };
        let a = ArrayD::from_shape_vec(vec![1, 1, 3], vec![1.0, 2.0, 5.0]).expect("shape");
        let b = ArrayD::from_shape_vec(vec![1, 1, 3], vec![4.0, 2.0, -1.0]).expect("shape");
        for (op, want) in [
            (ElementwiseOp::Subtract, [-3.0, 0.0, 6.0]),
            (ElementwiseOp::Multiply, [4.0, 4.0, -5.0]),
            (ElementwiseOp::Average, [2.5, 2.0, 2.0]),
            (ElementwiseOp::Maximum, [4.0, 2.0, 5.0]),
            (ElementwiseOp::Minimum, [1.0, 2.0, -1.0]),
        ] {
            let mut merge =
                Elementwise::<f64>::build(op, "m".into(), &[shape, shape]).expect("builds");
            let out = merge.forward(vec![a.clone(), b.clone()]).expect("merges");
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

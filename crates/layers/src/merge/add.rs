//! `Add`: the elementwise sum of inputs of one shape, the join of a
//! residual block (PyTorch: `a + b` in a `forward`).

use kymo_tensor::Float;
use ndarray::ArrayD;

use super::{check_inputs, Merge};
use crate::buffers;
use crate::layer::standard;
use crate::{LayerError, LayerSpec, Mode, NameOnlySpec, Shape};

const KIND: &str = "Add";

/// Elementwise sum of its inputs.
pub struct Add {
    name: String,
    shape: Shape,
    inputs: usize,
}

impl Add {
    /// Builds the layer; every input must have the same shape (Keras's
    /// `Add` also broadcasts a batch axis of 1, which no model of a single
    /// input needs).
    pub fn build(name: String, shapes: &[Shape]) -> Result<Self, LayerError> {
        let shape = shapes.first().copied().ok_or_else(|| LayerError::Config {
            layer: name.clone(),
            kind: KIND,
            field: "inputs",
            reason: "no inputs".into(),
        })?;
        if let Some(other) = shapes.iter().find(|s| **s != shape) {
            return Err(LayerError::InputShape {
                layer: name,
                kind: KIND,
                expected: format!("every input of shape {shape}"),
                found: other.to_string(),
            });
        }
        Ok(Self {
            name,
            shape,
            inputs: shapes.len(),
        })
    }
}

impl Add {
    /// The sum of `inputs`, left to right, into the first one's storage:
    /// forward and recompute share it, so they give the same bits.
    fn sum<T: Float>(&self, inputs: Vec<ArrayD<T>>) -> Result<ArrayD<T>, LayerError> {
        let shapes = vec![self.shape; self.inputs];
        check_inputs(&self.name, KIND, &shapes, &inputs)?;
        let mut inputs = inputs.into_iter();
        let first = inputs.next().ok_or_else(|| LayerError::InputShape {
            layer: self.name.clone(),
            kind: KIND,
            expected: format!("{} inputs", self.inputs),
            found: "none".into(),
        })?;
        // Summed left to right, as Keras's Add and PyTorch's `a + b + c` do,
        // into the first input's storage.
        let mut sum = standard(first);
        for x in inputs {
            buffers::add_assign(&mut sum, &x);
            buffers::give_back(x);
        }
        Ok(sum)
    }
}

impl<T: Float> Merge<T> for Add {
    fn name(&self) -> &str {
        &self.name
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::Add(NameOnlySpec {
            name: Some(self.name.clone()),
        })
    }
    fn output_shape(&self) -> Shape {
        self.shape
    }
    fn forward(&mut self, inputs: Vec<ArrayD<T>>, _mode: Mode) -> Result<ArrayD<T>, LayerError> {
        self.sum(inputs)
    }
    fn recomputes(&self) -> bool {
        true
    }
    fn recompute_output(&self, inputs: Vec<ArrayD<T>>) -> Result<ArrayD<T>, LayerError> {
        self.sum(inputs)
    }
    fn backward(&mut self, grad_output: ArrayD<T>) -> Result<Vec<ArrayD<T>>, LayerError> {
        let batch = grad_output.shape().first().copied().unwrap_or(0);
        crate::layer::check_grad(
            &self.name,
            KIND,
            &self.shape.with_batch(batch),
            &grad_output,
        )?;
        // Every input gets the output's gradient: the first that array
        // itself, the others copies.
        let mut grads: Vec<ArrayD<T>> = (1..self.inputs)
            .map(|_| buffers::copy_of(&grad_output))
            .collect();
        grads.insert(0, grad_output);
        Ok(grads)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_graphs::two_branches;
    use crate::gradcheck::{check_model, GradCheck};
    use crate::{LayerSpec, Mode, NameOnlySpec};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        #[test]
        fn gradients_match_finite_differences(
            channels in 1usize..3,
            length in 2usize..9,
            with_input in any::<bool>(),
            seed in any::<u64>(),
        ) {
            // With the raw input joining, the branches keep its width.
            let width = if with_input { channels } else { 3 };
            let spec = two_branches(LayerSpec::Add(NameOnlySpec::default()), channels, length, [width, width], with_input);
            let mut model = spec.build::<f64>(seed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            check_model(model.as_mut(), 2, Mode::Train, seed, GradCheck::smooth()).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn refuses_inputs_of_different_shapes() {
        let spec = two_branches(LayerSpec::Add(NameOnlySpec::default()), 1, 8, [2, 3], false);
        let error = spec
            .build::<f32>(0)
            .err()
            .expect("2 and 3 channels cannot be added");
        assert!(error.to_string().contains("'add'"), "{error}");
    }
}

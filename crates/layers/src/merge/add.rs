//! `Add`: the elementwise sum of inputs of one shape, the join of a
//! residual block (PyTorch: `a + b` in a `forward`).

use kymo_tensor::Float;
use ndarray::ArrayD;

use super::{check_inputs, Merge};
use crate::activation::{apply_in_place, kink_slope};
use crate::buffers;
use crate::layer::standard;
use crate::{Activation, LayerError, LayerSpec, Mode, NameOnlySpec, Shape};

const KIND: &str = "Add";

/// Elementwise sum of its inputs.
pub struct Add {
    name: String,
    shape: Shape,
    inputs: usize,
    /// Whether each sum was above zero, when a training pass ran a ReLU or
    /// LeakyReLU after the sum ([`Merge::forward_then_activation`]); the
    /// buffer lives as long as the layer.
    positive: Vec<u8>,
    /// The slope below zero of that activation, until its backward.
    pending_kink: Option<f64>,
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
            positive: Vec::new(),
            pending_kink: None,
        })
    }
}

impl Add {
    /// The sum of `inputs`, left to right, into the first one's storage:
    /// forward and recompute share it, so they give the same bits.
    fn sum<T: Float>(&self, inputs: Vec<ArrayD<T>>) -> Result<ArrayD<T>, LayerError> {
        let shapes = vec![self.shape; self.inputs];
        check_inputs(&self.name, KIND, &shapes, &inputs)?;
        self.sum_checked(inputs)
    }

    /// [`Add::sum`] of inputs already checked.
    fn sum_checked<T: Float>(&self, inputs: Vec<ArrayD<T>>) -> Result<ArrayD<T>, LayerError> {
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

    /// The sum with the kink of `slope` (`None`: a ReLU) applied as the
    /// last input is added, each element's side of the kink kept: the
    /// arithmetic of the sum and then the activation's training pass.
    fn sum_then_kink<T: Float>(
        &mut self,
        inputs: Vec<ArrayD<T>>,
        slope: Option<T>,
    ) -> Result<ArrayD<T>, LayerError> {
        let shapes = vec![self.shape; self.inputs];
        check_inputs(&self.name, KIND, &shapes, &inputs)?;
        let mut inputs = inputs;
        // Invariant: `build_merge` builds an Add of two inputs or more, and
        // their count was checked above.
        let last = standard(
            inputs
                .pop()
                .expect("invariant: an Add has two inputs or more"),
        );
        let mut sum = self.sum_checked(inputs)?;
        let values = sum
            .as_slice_mut()
            .expect("invariant: the sum is in standard layout");
        self.positive.resize(values.len(), 0);
        let addend = last
            .as_slice()
            .expect("invariant: `standard` returns a contiguous array");
        let kernel = match slope {
            None => kymo_tensor::elementwise::zip_in_place_saving(
                values,
                addend,
                &mut self.positive,
                |a, b| kymo_tensor::elementwise::rectify(a + b),
            ),
            Some(slope) => kymo_tensor::elementwise::zip_in_place_saving(
                values,
                addend,
                &mut self.positive,
                |a, b| kymo_tensor::elementwise::kink(a + b, slope),
            ),
        };
        buffers::give_back(last);
        kernel.map_err(|source| LayerError::Kernel {
            layer: self.name.clone(),
            source,
        })?;
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
        self.pending_kink = None;
        self.sum(inputs)
    }
    fn fuses_activation(&self, activation: Activation) -> bool {
        kink_slope(activation).is_some()
    }
    /// The last addition and the activation in one pass: the sum's
    /// elements pass the activation as they are written, and training
    /// keeps the activation's mask (a byte per element), not the sum.
    fn forward_then_activation(
        &mut self,
        inputs: Vec<ArrayD<T>>,
        activation: Activation,
        mode: Mode,
    ) -> Result<ArrayD<T>, LayerError> {
        self.pending_kink = None;
        let Some(slope) = kink_slope(activation) else {
            inputs.into_iter().for_each(buffers::give_back);
            return Err(LayerError::Config {
                layer: self.name.clone(),
                kind: KIND,
                field: "activation",
                reason: format!("cannot run {activation:?} inside the sum's pass"),
            });
        };
        if mode == Mode::Inference {
            // Nothing kept: the sum, then the activation's inference pass.
            let mut sum = self.sum(inputs)?;
            let values = sum
                .as_slice_mut()
                .expect("invariant: the sum is in standard layout");
            apply_in_place(activation, values, true);
            return Ok(sum);
        }
        // ReLU's value is `z + 0` or `0`; LeakyReLU's the kink's product.
        let kink = (activation != Activation::Relu).then(|| T::from_f64_lossy(slope));
        let sum = self.sum_then_kink(inputs, kink)?;
        self.pending_kink = Some(slope);
        Ok(sum)
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
        // itself, the others copies. After a fused activation, the first
        // copy is written in the activation's backward pass.
        let mut grad_output = grad_output;
        let mut copies = Vec::with_capacity(self.inputs);
        if let Some(slope) = self.pending_kink.take() {
            grad_output = standard(grad_output);
            let mut copy = buffers::array(grad_output.raw_dim());
            let grad = grad_output
                .as_slice_mut()
                .expect("invariant: `standard` returns a contiguous array");
            let target = copy
                .as_slice_mut()
                .expect("invariant: a pooled array is standard layout");
            // A mask shorter than the gradient: the forward pass was of
            // another batch.
            let positive =
                self.positive
                    .get(..grad.len())
                    .ok_or_else(|| LayerError::NoForwardCache {
                        layer: self.name.clone(),
                    })?;
            let slope = T::from_f64_lossy(slope);
            kymo_tensor::elementwise::kink_backward_copying(grad, target, positive, slope)
                .map_err(|source| LayerError::Kernel {
                    layer: self.name.clone(),
                    source,
                })?;
            copies.push(copy);
        }
        while copies.len() + 1 < self.inputs {
            copies.push(buffers::copy_of(&grad_output));
        }
        let mut grads = vec![grad_output];
        grads.extend(copies);
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

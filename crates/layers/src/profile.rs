//! Where a model spends its time: wall-clock forward and backward time of
//! every layer, and the multiply-adds of the layers that do products, so
//! that a benchmark can say how fast the convolutions themselves run.

use std::time::Instant;

use kymo_tensor::Float;
use ndarray::ArrayD;

use crate::{Layer, LayerError, LayerSpec, Mode, Model, Sequential, Shape};

/// One layer's share of a training step, per step.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerTiming {
    /// The layer's name.
    pub name: String,
    /// Mean seconds of its training-mode forward pass.
    pub forward_seconds: f64,
    /// Mean seconds of its backward pass.
    pub backward_seconds: f64,
    /// Multiply-adds of its forward pass over the whole batch, counted as
    /// [`forward_multiply_adds`] does.
    pub multiply_adds: f64,
}

/// Multiply-adds of one sample's forward pass through `layer`, as the
/// direct method would do them: `C_in x K x filters x L_out` for a Conv1D,
/// `inputs x units` for a Dense, zero for the others (their work is
/// elementwise). Faster methods (Winograd, FFT) do fewer, so a rate computed
/// from this count is an effective one. The backward pass of either layer
/// does two products of the same size.
pub fn forward_multiply_adds<T: Float>(layer: &dyn Layer<T>) -> f64 {
    let count = match (layer.spec(), layer.input_shape(), layer.output_shape()) {
        (LayerSpec::Conv1D(c), Shape::Signal { channels, .. }, Shape::Signal { length, .. }) => {
            channels * c.kernel_size * c.filters * length
        }
        (LayerSpec::Dense(d), input, _) => input.size() * d.units,
        _ => 0,
    };
    count as f64
}

/// Times every layer of `model` over `steps` forward and backward passes
/// of `input` in training mode, after `warm_up` untimed ones (the first
/// passes allocate the layers' buffers). The backward pass starts from a
/// gradient of one hundredth of the output; no optimizer step runs, so the
/// parameters do not change. With zero `steps` every time is zero.
/// Layers run one by one, so a `LeakyReLU` that
/// [`Sequential::forward`](crate::Sequential::forward) would run inside the
/// next max pool's pass is timed as a pass of its own here.
pub fn time_layers<T: Float>(
    model: &mut Sequential<T>,
    input: &ArrayD<T>,
    warm_up: usize,
    steps: usize,
) -> Result<Vec<LayerTiming>, LayerError> {
    let count = model.layers().len();
    let (mut forward, mut backward) = (vec![0.0f64; count], vec![0.0f64; count]);
    let hundredth = T::from_f64_lossy(0.01);
    for step in 0..warm_up + steps {
        let timed = step >= warm_up;
        // As a training step runs (`Trainer::train_on_batch`): with the
        // other workers awake.
        kymo_tensor::with_warm_workers(|| {
            let mut activations = input.clone();
            for (i, layer) in model.layers_mut().iter_mut().enumerate() {
                let started = Instant::now();
                activations = layer.forward(activations, Mode::Train)?;
                if timed {
                    forward[i] += started.elapsed().as_secs_f64();
                }
            }
            let mut gradient = activations.mapv(|v| v * hundredth);
            for (i, layer) in model.layers_mut().iter_mut().enumerate().rev() {
                let started = Instant::now();
                gradient = layer.backward(gradient)?;
                if timed {
                    backward[i] += started.elapsed().as_secs_f64();
                }
            }
            Ok::<(), LayerError>(())
        })?;
    }
    model.zero_grad();
    let per_step = steps.max(1) as f64;
    let batch = input.shape().first().copied().unwrap_or(0) as f64;
    Ok(model
        .layers()
        .iter()
        .enumerate()
        .map(|(i, layer)| LayerTiming {
            name: layer.name().to_string(),
            forward_seconds: forward[i] / per_step,
            backward_seconds: backward[i] / per_step,
            multiply_adds: forward_multiply_adds(*layer) * batch,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoo;

    #[test]
    fn counts_the_products_of_convolutions_and_dense_layers_only() {
        let model = Sequential::<f32>::new(&zoo::answer(1040), 0).unwrap();
        let counts: Vec<f64> = model
            .layers()
            .iter()
            .map(|layer| forward_multiply_adds(*layer))
            .collect();
        // ConvLayer1: 1 channel x kernel 2 x 32 filters x 1040 points.
        assert_eq!(counts[0], (2 * 32 * 1040) as f64);
        // ConvLayer3: 64 x 3 x 128 x 1040.
        assert_eq!(counts[6], (64 * 3 * 128 * 1040) as f64);
        // The Dense head: 128 x 1040 inputs, one unit.
        assert_eq!(counts[10], (128 * 1040) as f64);
        let elementwise = [1, 2, 4, 5, 7, 8, 9];
        assert!(elementwise.iter().all(|&i| counts[i] == 0.0));
    }

    #[test]
    fn times_every_layer_and_leaves_no_gradient_behind() {
        let spec = zoo::seed_structure([2, 3, 4], [3, 3, 3], [2, 2, 2], true, 24);
        let mut model = Sequential::<f32>::new(&spec, 0).unwrap();
        let input = ArrayD::from_shape_fn(vec![3, 1, 24], |i| (i[2] as f32 * 0.3).sin());
        let timings = time_layers(&mut model, &input, 1, 2).unwrap();
        assert_eq!(timings.len(), model.layers().len());
        assert!(timings
            .iter()
            .all(|t| t.forward_seconds > 0.0 && t.backward_seconds > 0.0));
        assert_eq!(timings[0].multiply_adds, (3 * 3 * 2 * 24) as f64);
        let untouched = model
            .parameters()
            .iter()
            .all(|p| p.grad.iter().all(|&g| g == 0.0));
        assert!(untouched, "time_layers must leave zeroed gradients");
    }
}

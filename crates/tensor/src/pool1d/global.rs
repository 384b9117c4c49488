//! Global average pooling: the mean over the whole length axis.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut3, Axis};

use crate::sum::lane_total;
use crate::Float;

/// Global average pooling: `[B, C, L] -> [B, C]`.
///
/// Each row is summed in lanes (`sum::lane_total`), as BatchNormalization's
/// statistics are: one running f32 sum of 1040 points drifted four times
/// further from the f64 mean than PyTorch's vectorized sum, which put
/// FCN's output outside twice PyTorch's f32 distance
/// (tests/parity/graph_f32_accuracy.rs).
pub fn global_avg_pool1d_forward<T: Float>(x: ArrayView3<'_, T>) -> Array2<T> {
    let length = T::from_usize(x.dim().2.max(1)).unwrap_or_else(T::one);
    x.map_axis(Axis(2), |row| {
        let total = match row.as_slice() {
            Some(values) => lane_total(values),
            None => lane_total(&row.to_vec()),
        };
        total / length
    })
}

/// Global average pooling backward: `[B, C] -> [B, C, L]`.
pub fn global_avg_pool1d_backward<T: Float>(
    grad_output: ArrayView2<'_, T>,
    input_length: usize,
) -> Array3<T> {
    let (batch, channels) = grad_output.dim();
    let mut grad_input = Array3::zeros((batch, channels, input_length));
    global_avg_pool1d_backward_into(grad_output, grad_input.view_mut());
    grad_input
}

/// [`global_avg_pool1d_backward`] into a caller's `grad_input`
/// (`[B, C, L]`, the batch and channels of `grad_output`), every element
/// of which is overwritten: a layer passes a buffer it reuses.
pub fn global_avg_pool1d_backward_into<T: Float>(
    grad_output: ArrayView2<'_, T>,
    mut grad_input: ArrayViewMut3<'_, T>,
) {
    let input_length = grad_input.dim().2;
    let scale = T::one() / T::from_usize(input_length.max(1)).unwrap_or_else(T::one);
    for (mut rows, grads) in grad_input.outer_iter_mut().zip(grad_output.outer_iter()) {
        for (mut row, &g) in rows.outer_iter_mut().zip(grads.iter()) {
            row.fill(g * scale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_average_backward_spreads_evenly() {
        let x = Array3::from_shape_vec((1, 1, 4), vec![1.0, 2.0, 3.0, 6.0]).expect("shape");
        let y = global_avg_pool1d_forward(x.view());
        assert_eq!(y[[0, 0]], 3.0);
        let g = global_avg_pool1d_backward(y.view(), 4);
        assert!(g.iter().all(|&v| v == 0.75));
    }
}

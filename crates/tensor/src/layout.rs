//! Checks on the buffers kernels write into or work on in place.

use ndarray::{ArrayViewMut, Dimension};

use crate::TensorError;

/// The backing slice of `array`, which must have `shape` and standard
/// (row-major, contiguous) layout; otherwise an error naming `kernel` and
/// `argument`.
pub(crate) fn standard_slice_mut<'a, T, D: Dimension>(
    kernel: &'static str,
    argument: &'static str,
    shape: &[usize],
    array: &'a mut ArrayViewMut<'_, T, D>,
) -> Result<&'a mut [T], TensorError> {
    if array.shape() != shape {
        return Err(TensorError::Shape {
            kernel,
            argument,
            expected: shape.to_vec(),
            found: array.shape().to_vec(),
        });
    }
    array
        .as_slice_mut()
        .ok_or(TensorError::Layout { kernel, argument })
}

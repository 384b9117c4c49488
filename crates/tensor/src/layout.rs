//! Checks on the buffers kernels write into or work on in place, and on
//! the lengths of vector arguments.

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

/// An error naming `kernel` and `argument` unless a vector argument has the
/// `expected` number of elements.
pub(crate) fn check_length(
    kernel: &'static str,
    argument: &'static str,
    expected: usize,
    found: usize,
) -> Result<(), TensorError> {
    if expected == found {
        Ok(())
    } else {
        Err(TensorError::Shape {
            kernel,
            argument,
            expected: vec![expected],
            found: vec![found],
        })
    }
}

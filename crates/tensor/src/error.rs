//! Errors raised by the numeric kernels.

use thiserror::Error;

/// What went wrong in a kernel: always a shape or configuration the caller
/// handed in, named with the argument and the numbers involved.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TensorError {
    /// An argument's shape does not fit the kernel's geometry.
    #[error("{kernel}: `{argument}` has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The kernel that refused it, such as `conv1d_forward`.
        kernel: &'static str,
        /// The argument's name.
        argument: &'static str,
        /// The shape the kernel expected.
        expected: Vec<usize>,
        /// The shape it was given.
        found: Vec<usize>,
    },
    /// A configuration value is out of range (a zero stride, a kernel longer
    /// than its padded input, ...).
    #[error("{kernel}: invalid `{field}`: {reason}")]
    Config {
        /// The kernel or geometry that refused it.
        kernel: &'static str,
        /// The configuration field.
        field: &'static str,
        /// Why it is invalid, with the numbers.
        reason: String,
    },
    /// A buffer a kernel writes into, or works on in place, is not
    /// contiguous in standard (row-major) layout.
    #[error("{kernel}: `{argument}` must be contiguous in standard layout")]
    Layout {
        /// The kernel that refused it.
        kernel: &'static str,
        /// The argument's name.
        argument: &'static str,
    },
}

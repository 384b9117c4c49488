//! The scalar types kymo computes in.

use std::fmt::{Debug, Display};
use std::iter::Sum;

/// A floating-point scalar that every kernel and layer is generic over.
///
/// Training runs in `f32`; gradient checks run the very same code in `f64`,
/// which is what lets them catch an off-by-one index or a biased variance
/// that f32 round-off would hide.
pub trait Float:
    num_traits::Float
    + num_traits::FromPrimitive
    + ndarray::ScalarOperand
    + ndarray::LinalgScalar
    + Sum
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + std::ops::DivAssign
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + realfft::FftNum
    + 'static
{
    /// Converts from `f64`, rounding to the nearest representable value.
    fn from_f64_lossy(value: f64) -> Self;
    /// Converts to `f64` exactly (both implementors widen losslessly).
    fn to_f64_lossless(self) -> f64;
}

impl Float for f32 {
    fn from_f64_lossy(value: f64) -> Self {
        value as f32
    }
    fn to_f64_lossless(self) -> f64 {
        f64::from(self)
    }
}

impl Float for f64 {
    fn from_f64_lossy(value: f64) -> Self {
        value
    }
    fn to_f64_lossless(self) -> f64 {
        self
    }
}

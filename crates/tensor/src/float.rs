//! The scalar types kymo computes in.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::sync::Arc;

use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// A forward and an inverse real FFT of one length.
pub type RealFftPair<T> = (Arc<dyn RealToComplex<T>>, Arc<dyn ComplexToReal<T>>);

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
    /// Plans the forward and inverse real FFTs of `n` points.
    ///
    /// A method of the two concrete impls rather than a generic call at the
    /// use site so that rustfft's planner and its algorithms (more than half
    /// the machine code of a crate that trains a model) are compiled once, in
    /// this crate, instead of again in every crate and test binary that picks
    /// `T = f32` or `f64`.
    fn plan_real_fft(n: usize) -> RealFftPair<Self>;
}

/// The planning both impls share, instantiated in this crate by them.
fn plan_real_fft<T: realfft::FftNum>(n: usize) -> RealFftPair<T> {
    let mut planner = RealFftPlanner::<T>::new();
    (planner.plan_fft_forward(n), planner.plan_fft_inverse(n))
}

impl Float for f32 {
    fn from_f64_lossy(value: f64) -> Self {
        value as f32
    }
    fn to_f64_lossless(self) -> f64 {
        f64::from(self)
    }
    fn plan_real_fft(n: usize) -> RealFftPair<Self> {
        plan_real_fft(n)
    }
}

impl Float for f64 {
    fn from_f64_lossy(value: f64) -> Self {
        value
    }
    fn to_f64_lossless(self) -> f64 {
        self
    }
    fn plan_real_fft(n: usize) -> RealFftPair<Self> {
        plan_real_fft(n)
    }
}

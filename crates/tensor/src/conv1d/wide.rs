//! The forward pass of long f32 kernels, computed in f64.
//!
//! A forward pass feeds discrete decisions: a LeakyReLU's sign, a max
//! pool's winner. In f32 the overlap-save FFT rounds relative to the largest
//! values of a whole tile, and a 100-tap direct sum carries 100 roundings;
//! near a tie either flips signs and pool winners that the f64 result does
//! not, and the gradient then flows through other positions. The question's
//! model's conv gradients landed 3-6x further from the f64 result than
//! PyTorch's own f32 (tests/parity/f32_accuracy.rs). Measured there, the
//! backward passes' own f32 rounding was not the cause: widening them
//! changed no distance.
//!
//! So in f32 a convolution with a long kernel (stride and dilation 1, at
//! least `MIN_KERNEL` taps) computes its forward pass through the spectral
//! method in f64 and rounds once at the end: each output is within half an
//! ulp of the exact sum. Its backward pass keeps the method its geometry
//! picks. docs/performance.md records the cost in speed.

use super::spectral::{self, Shapes, SpectralWorkspace};
use crate::{Float, TensorError, Window};

/// The f64 copies and plans the widened method reuses from call to call.
#[derive(Debug, Default)]
pub(super) struct Wide {
    workspace: SpectralWorkspace<f64>,
    input: Vec<f64>,
    weight: Vec<f64>,
    bias: Vec<f64>,
    output: Vec<f64>,
}

/// Whether a forward pass of `T` data through `window` is computed here:
/// `T` narrower than f64 and a long, undilated, stride-1 kernel.
pub(super) fn applies<T: Float>(window: &Window) -> bool {
    std::mem::size_of::<T>() < std::mem::size_of::<f64>()
        && window.stride == 1
        && window.dilation == 1
        && window.size >= spectral::MIN_KERNEL
}

fn widen<T: Float>(from: &[T], to: &mut Vec<f64>) {
    to.clear();
    to.extend(from.iter().map(|v| v.to_f64_lossless()));
}

fn narrow<T: Float>(from: &[f64], to: &mut [T]) {
    for (t, f) in to.iter_mut().zip(from) {
        *t = T::from_f64_lossy(*f);
    }
}

/// [`spectral::forward`] on f64 copies, rounded once into `output`.
pub(super) fn forward<T: Float>(
    x: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    shapes: Shapes,
    window: &Window,
    wide: &mut Wide,
    output: &mut [T],
) -> Result<(), TensorError> {
    widen(x, &mut wide.input);
    widen(weight, &mut wide.weight);
    if let Some(bias) = bias {
        widen(bias, &mut wide.bias);
    }
    // Grown, never shrunk: every element the call reads, it writes first.
    if wide.output.len() < output.len() {
        wide.output.resize(output.len(), 0.0);
    }
    let wide_output = &mut wide.output[..output.len()];
    spectral::forward(
        &wide.input,
        &wide.weight,
        bias.map(|_| wide.bias.as_slice()),
        shapes,
        window,
        &mut wide.workspace,
        wide_output,
    )?;
    narrow(wide_output, output);
    Ok(())
}

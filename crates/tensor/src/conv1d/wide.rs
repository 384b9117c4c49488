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
//! ulp of the exact sum. Kernels of up to 32 taps that Fourier tiles take
//! (`conv1d/fourier`, InceptionTime's 20-tap layers) stay in f32: a tile
//! of 64 inputs rounds like the direct GEMM, not relative to a whole
//! signal's tile, and InceptionTime's gradients stay far within the
//! accuracy tests' bounds. Its backward pass keeps the method its geometry
//! picks. docs/performance.md records the cost in speed. Inference, which
//! feeds no gradient through those decisions, widens only the kernels the
//! spectral method would not take (`forward_into` in `conv1d/mod.rs`).

use super::spectral::{self, Shapes, SpectralWorkspace};
use crate::elementwise::zip_in_place;
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

/// `to` becomes `from` in f64, split across threads as an elementwise
/// pass (on the calling thread alone, a batch's conversions left the
/// second core idle).
fn widen<T: Float>(from: &[T], to: &mut Vec<f64>) {
    to.resize(from.len(), 0.0);
    // Invariant: the lengths were just made equal.
    let _ = zip_in_place(to, from, |_, v| v.to_f64_lossless());
}

/// `to` becomes `from` rounded to `T`, as [`widen`] splits it; `to` is
/// `from`'s length or shorter.
fn narrow<T: Float>(from: &[f64], to: &mut [T]) {
    let from = &from[..to.len().min(from.len())];
    let to_len = from.len();
    // Invariant: both are `to_len` long.
    let _ = zip_in_place(&mut to[..to_len], from, |_, f| T::from_f64_lossy(f));
}

/// The f64 scratch one group of samples may take: its input and output
/// copies and its spectra. A batch of long signals runs in groups of
/// samples under it (InceptionTime at 64k points: 170 MB a sample, where
/// the whole batch of 8 took 1.4 GB); a batch under it runs whole, as
/// before.
const GROUP_BYTES: usize = 128 << 20;

/// The f64 bytes one sample of `(C_in, L)` to `C_out` outputs takes
/// through the widened path, at most: its copies (8 bytes a value) and
/// the spectra of its tiles (16 bytes a bin, at most two bins per point
/// with FFTs of at least twice the kernel).
fn bytes_per_sample(in_channels: usize, out_channels: usize, points: usize) -> usize {
    (in_channels + out_channels) * points * (8 + 2 * 16)
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
    forward_in_groups(x, (weight, bias), shapes, window, wide, output, GROUP_BYTES)
}

/// [`forward`] over groups of samples whose scratch stays under
/// `group_bytes`. Every output depends on its own sample alone, and each
/// group is tiled as the whole batch would be, so the bits are those of
/// one pass over the batch.
fn forward_in_groups<T: Float>(
    x: &[T],
    (weight, bias): (&[T], Option<&[T]>),
    shapes: Shapes,
    window: &Window,
    wide: &mut Wide,
    output: &mut [T],
    group_bytes: usize,
) -> Result<(), TensorError> {
    let (batch, in_channels, length) = shapes.input;
    let out_channels = shapes.weight.0;
    let (sample_in, sample_out) = (in_channels * length, out_channels * window.output_length);
    let per_sample = bytes_per_sample(in_channels, out_channels, length + shapes.weight.2);
    let group = (group_bytes / per_sample.max(1)).clamp(1, batch.max(1));
    widen(weight, &mut wide.weight);
    if let Some(bias) = bias {
        widen(bias, &mut wide.bias);
    }
    for (index, out_group) in output.chunks_mut(group * sample_out.max(1)).enumerate() {
        let samples = out_group.len() / sample_out.max(1);
        widen(
            &x[index * group * sample_in..][..samples * sample_in],
            &mut wide.input,
        );
        // Grown, never shrunk: every element the call reads, it writes first.
        if wide.output.len() < out_group.len() {
            wide.output.resize(out_group.len(), 0.0);
        }
        let wide_output = &mut wide.output[..out_group.len()];
        let group_shapes = Shapes {
            input: (samples, in_channels, length),
            weight: shapes.weight,
        };
        spectral::forward(
            &wide.input,
            &wide.weight,
            bias.map(|_| wide.bias.as_slice()),
            (group_shapes, batch),
            window,
            &mut wide.workspace,
            wide_output,
        )?;
        narrow(wide_output, out_group);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch run one sample at a time gives the bits of the whole batch
    /// at once.
    #[test]
    fn groups_of_samples_give_the_bits_of_the_whole_batch() {
        let (batch, in_channels, out_channels, length, size) = (5, 3, 4, 90, 20);
        let values =
            |n: usize, step: f32| -> Vec<f32> { (0..n).map(|i| (i as f32 * step).sin()).collect() };
        let x = values(batch * in_channels * length, 0.37);
        let weight = values(out_channels * in_channels * size, 0.71);
        let bias = values(out_channels, 1.3);
        let window = crate::Conv1dConfig {
            padding: crate::Padding::Same,
            ..Default::default()
        }
        .window(length, size)
        .expect("valid geometry");
        let shapes = || Shapes {
            input: (batch, in_channels, length),
            weight: (out_channels, in_channels, size),
        };
        let run = |group_bytes: usize| {
            let mut output = vec![f32::NAN; batch * out_channels * window.output_length];
            let mut wide = Wide::default();
            let operands = (weight.as_slice(), Some(bias.as_slice()));
            forward_in_groups(
                &x,
                operands,
                shapes(),
                &window,
                &mut wide,
                &mut output,
                group_bytes,
            )
            .expect("runs");
            output
        };
        let whole = run(usize::MAX);
        let per_sample = bytes_per_sample(in_channels, out_channels, length + size);
        for group_bytes in [0, per_sample, 2 * per_sample + 1] {
            assert_eq!(run(group_bytes), whole, "groups of {group_bytes} bytes");
        }
        assert!(whole.iter().all(|v| v.is_finite()));
    }
}

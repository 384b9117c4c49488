//! Long kernels in the frequency domain: overlap-save FFT convolution.
//!
//! A direct convolution costs `C_in * C_out * K` multiply-adds per output
//! position: for the seed's kernels of 70 and 40 that is 143k and 328k.
//! Transformed, a correlation is a product per frequency, so the cost per
//! position falls to `C_in * C_out` complex multiply-adds times the
//! overhead of the tiling (about 1.2–1.5 bins per position), plus the
//! transforms, which grow with `C_in + C_out`, not their product.
//!
//! Overlap-save: the signal is cut into tiles of `n` points (a power of
//! two) that overlap by `K - 1`; each tile yields `m = n - K + 1` outputs
//! that its circular correlation computes without wrap-around. Spectra are
//! stored `[signal][tile][bin]`, so each real FFT writes one contiguous
//! run; the per-frequency products read them through strides (one complex
//! GEMM per bin, all columns of the batch at once), and the inverse gathers
//! each output tile's bins back.
//!
//! With `x` the input, `w` the kernel, `dy` the output gradient and `^`
//! the transform of a zero-padded tile:
//! - forward: `ŷ = conj(ŵ) · x̂`, summed over input channels;
//! - input gradient: `dx̂ = ŵ · dŷ` (a convolution: the kernel runs
//!   backwards), summed over output channels, over tiles of `dy` shifted
//!   by `K - 1`;
//! - kernel gradient: `dŵ = conj(dŷ) · x̂`, summed over every tile of every
//!   sample before one inverse per (output, input) channel pair.
//!
//! Every sum runs in a fixed order and every parallel split is over
//! independent outputs, so the bits do not depend on the thread count. The
//! rounding differs from the direct GEMM's (relative error about 1e-6 in
//! `f32`); the tests hold the two methods to each other in `f64`.

use std::fmt;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealToComplex};

use crate::matmul::{complex_matmul_on, MatRef};
use crate::parallel::try_for_each_block;
use crate::{Float, TensorError, Window};

mod transforms;

#[cfg(test)]
use transforms::InverseScratch;
use transforms::{accumulate_inverse, inverse_tiles, transform_tiles};

/// Kernels at least this long go through the frequency domain (when the
/// stride and dilation are 1). Below it the direct GEMM wins: its cost
/// grows with `K`, the spectral one does not.
pub(super) const MIN_KERNEL: usize = 16;

/// The spectral products cost `C_in * C_out` per position, its transforms
/// `C_in + C_out` (times a log); the direct GEMM `K * C_in * C_out`. With
/// few channels the transforms dominate: the seed's first layer (1 input
/// channel, 32 filters of 100 taps) ran 3–5x slower spectrally. It pays
/// once `C_in * C_out` is this many times `C_in + C_out`.
const MIN_CHANNEL_RATIO: usize = 8;

/// Whether a convolution of `in_channels` to `out_channels` through
/// `window` is one the spectral method computes, and large enough to pay.
pub(super) fn applies(window: &Window, in_channels: usize, out_channels: usize) -> bool {
    window.stride == 1
        && window.dilation == 1
        && window.size >= MIN_KERNEL
        && in_channels * out_channels >= MIN_CHANNEL_RATIO * (in_channels + out_channels)
}

/// What the kernel's own spectrum costs per frequency, in columns of the
/// per-frequency products: transforming the kernel and streaming its
/// spectrum (one `C_out x C_in` block per bin) weigh like this many more
/// tiles. Fitted on the seed's layers (kernels 70 and 40, batch 1, 8 and
/// 32): it makes batch 1 prefer fewer bins (FFTs of 128 for the kernel of
/// 40) and batch 32 fewer tiles (256), as measured.
const KERNEL_COLUMNS: usize = 32;

/// Overlap-save geometry for one pass.
#[derive(Debug, Clone, Copy)]
struct Tiling {
    /// FFT length.
    n: usize,
    /// Outputs per tile: `n - K + 1`.
    m: usize,
    /// Tiles per signal.
    tiles: usize,
    /// Frequencies of a real FFT of `n` points: `n / 2 + 1`.
    bins: usize,
}

impl Tiling {
    /// The FFT length for `outputs` positions of a `size`-tap kernel over
    /// `batch` samples: the power of two, at least `2 * size` (so that a
    /// tile's overlap wastes at most half of it), that minimises
    /// `bins * (tiles * batch + KERNEL_COLUMNS)`; on a tie, the shorter.
    fn new(size: usize, outputs: usize, batch: usize) -> Self {
        let cost = |t: &Self| t.bins * (t.tiles * batch + KERNEL_COLUMNS);
        let mut n = (2 * size).next_power_of_two();
        let largest = (outputs + size - 1).next_power_of_two().max(n);
        let mut best = Self::with(n, size, outputs);
        while n < largest {
            n *= 2;
            let candidate = Self::with(n, size, outputs);
            if cost(&candidate) < cost(&best) {
                best = candidate;
            }
        }
        best
    }

    fn with(n: usize, size: usize, outputs: usize) -> Self {
        let m = n - size + 1;
        Self {
            n,
            m,
            tiles: outputs.div_ceil(m),
            bins: n / 2 + 1,
        }
    }

    /// The same FFT length, one tile per signal: for the kernel itself.
    fn single(self) -> Self {
        Self { tiles: 1, ..self }
    }

    /// `1 / n`: the inverse FFT is unnormalized.
    fn scale<T: Float>(&self) -> T {
        T::one() / T::from_f64_lossy(self.n as f64)
    }
}

/// A forward and an inverse real FFT of one length.
struct Plans<T: Float> {
    n: usize,
    forward: Arc<dyn RealToComplex<T>>,
    inverse: Arc<dyn ComplexToReal<T>>,
}

impl<T: Float> Clone for Plans<T> {
    fn clone(&self) -> Self {
        Self {
            n: self.n,
            forward: Arc::clone(&self.forward),
            inverse: Arc::clone(&self.inverse),
        }
    }
}

/// Buffers and FFT plans the spectral method reuses from call to call.
pub(super) struct SpectralWorkspace<T: Float> {
    plans: Vec<Plans<T>>,
    kernel: Vec<Complex<T>>,
    signal: Vec<Complex<T>>,
    other: Vec<Complex<T>>,
    product: Vec<Complex<T>>,
}

impl<T: Float> Default for SpectralWorkspace<T> {
    fn default() -> Self {
        Self {
            plans: Vec::new(),
            kernel: Vec::new(),
            signal: Vec::new(),
            other: Vec::new(),
            product: Vec::new(),
        }
    }
}

impl<T: Float> fmt::Debug for SpectralWorkspace<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lengths: Vec<usize> = self.plans.iter().map(|p| p.n).collect();
        f.debug_struct("SpectralWorkspace")
            .field("fft_lengths", &lengths)
            .finish_non_exhaustive()
    }
}

impl<T: Float> SpectralWorkspace<T> {
    /// The plans for FFTs of `n` points, made once.
    fn plans(&mut self, n: usize) -> Plans<T> {
        if let Some(plans) = self.plans.iter().find(|p| p.n == n) {
            return plans.clone();
        }
        let (forward, inverse) = T::plan_real_fft(n);
        let plans = Plans {
            n,
            forward,
            inverse,
        };
        self.plans.push(plans.clone());
        plans
    }
}

/// The shapes of one convolution: `(batch, C_in, L)` and `(C_out, C_in, K)`.
pub(super) struct Shapes {
    pub(super) input: (usize, usize, usize),
    pub(super) weight: (usize, usize, usize),
}

/// Forward pass into `output` (`[B, C_out, L_out]`, every element
/// written), tiled as for a batch of `tiled_for` samples (a caller running
/// a batch in groups passes the whole batch's size, so that every group is
/// tiled, and rounded, alike).
pub(super) fn forward<T: Float>(
    x: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    (shapes, tiled_for): (Shapes, usize),
    window: &Window,
    workspace: &mut SpectralWorkspace<T>,
    output: &mut [T],
) -> Result<(), TensorError> {
    let (batch, in_channels, length) = shapes.input;
    let (out_channels, _, size) = shapes.weight;
    let out_len = window.output_length;
    let tiling = Tiling::new(size, out_len, tiled_for);
    let plans = workspace.plans(tiling.n);
    let (bins, cols) = (tiling.bins, batch * tiling.tiles);
    let pairs = out_channels * in_channels;
    let kernel = kernel_spectra(&plans, tiling, (weight, pairs, size), &mut workspace.kernel);
    let signal = sized(&mut workspace.signal, in_channels * cols * bins);
    let lead = -(window.pad_left as isize);
    let input = (x, batch, in_channels, length);
    transform_tiles(&plans, tiling, input, lead, tiling.n, signal);
    let signal = &*signal;
    let product = sized(&mut workspace.product, bins * out_channels * cols);
    per_frequency(product, out_channels * cols, in_channels, |f, y| {
        let w = strided(
            kernel,
            f,
            (out_channels, in_channels),
            (in_channels * bins, bins),
        );
        let x = strided(signal, f, (in_channels, cols), (cols * bins, bins));
        complex_matmul_on(1, y, w, true, x, false)
    })?;
    let scale = tiling.scale();
    let rows: Vec<_> = output.chunks_mut(out_len).enumerate().collect();
    let product = &*product;
    inverse_tiles(
        &plans,
        tiling,
        product,
        rows,
        |row, j| {
            let (b, o) = (row / out_channels, row % out_channels);
            (
                o * cols + b * tiling.tiles + j,
                bias.map_or(T::zero(), |bias| bias[o]),
            )
        },
        0,
        scale,
    );
    Ok(())
}

/// Backward pass: adds the kernel gradient to `grad_weight`
/// (`[C_out, C_in, K]`) and overwrites `input` with the input gradient.
pub(super) fn backward<T: Float>(
    input: &mut [T],
    weight: &[T],
    dy: &[T],
    shapes: Shapes,
    window: &Window,
    workspace: &mut SpectralWorkspace<T>,
    grad_weight: &mut [T],
) -> Result<(), TensorError> {
    let (batch, in_channels, length) = shapes.input;
    let (out_channels, _, size) = shapes.weight;
    let out_len = window.output_length;
    let lead = window.pad_left as isize;

    // Kernel gradient, from the forward pass's tiles of x and tiles of dy
    // holding only the m outputs each x tile produced.
    let tiling = Tiling::new(size, out_len, batch);
    let plans = workspace.plans(tiling.n);
    let (bins, cols) = (tiling.bins, batch * tiling.tiles);
    let signal = sized(&mut workspace.signal, in_channels * cols * bins);
    transform_tiles(
        &plans,
        tiling,
        (&*input, batch, in_channels, length),
        -lead,
        tiling.n,
        signal,
    );
    let gradient = sized(&mut workspace.other, out_channels * cols * bins);
    transform_tiles(
        &plans,
        tiling,
        (dy, batch, out_channels, out_len),
        0,
        tiling.m,
        gradient,
    );
    let (signal, gradient) = (&*signal, &*gradient);
    let product = sized(&mut workspace.product, bins * out_channels * in_channels);
    per_frequency(product, out_channels * in_channels, cols, |f, dw| {
        let dy = strided(gradient, f, (out_channels, cols), (cols * bins, bins));
        let xt = strided(signal, f, (cols, in_channels), (bins, cols * bins));
        complex_matmul_on(1, dw, dy, true, xt, false)
    })?;
    let scale = tiling.scale();
    let rows: Vec<_> = grad_weight.chunks_mut(size).enumerate().collect();
    let pairs = out_channels * in_channels;
    accumulate_inverse(&plans, bins, &*product, pairs, rows, scale);

    // Input gradient: the kernel convolved with tiles of dy that start
    // K - 1 - pad_left before each tile of x.
    let tiling = Tiling::new(size, length, batch);
    let plans = workspace.plans(tiling.n);
    let (bins, cols) = (tiling.bins, batch * tiling.tiles);
    let kernel = kernel_spectra(&plans, tiling, (weight, pairs, size), &mut workspace.kernel);
    let gradient = sized(&mut workspace.other, out_channels * cols * bins);
    let shift = lead - (size as isize - 1);
    let dy_tiles = (dy, batch, out_channels, out_len);
    transform_tiles(&plans, tiling, dy_tiles, shift, tiling.n, gradient);
    let gradient = &*gradient;
    let product = sized(&mut workspace.product, bins * in_channels * cols);
    per_frequency(product, in_channels * cols, out_channels, |f, dx| {
        let wt = strided(
            kernel,
            f,
            (in_channels, out_channels),
            (bins, in_channels * bins),
        );
        let dy = strided(gradient, f, (out_channels, cols), (cols * bins, bins));
        complex_matmul_on(1, dx, wt, false, dy, false)
    })?;
    let product = &*product;
    let rows: Vec<_> = input.chunks_mut(length).enumerate().collect();
    inverse_tiles(
        &plans,
        tiling,
        product,
        rows,
        |row, j| {
            let (b, c) = (row / in_channels, row % in_channels);
            (c * cols + b * tiling.tiles + j, T::zero())
        },
        size - 1,
        scale,
    );
    Ok(())
}

/// The spectra `[pair][bin]` of the `(weight, pairs, size)` kernel's
/// `C_out * C_in` filters (one tile each) at `tiling`'s FFT length, in
/// `buffer`.
fn kernel_spectra<'a, T: Float>(
    plans: &Plans<T>,
    tiling: Tiling,
    (weight, pairs, size): (&[T], usize, usize),
    buffer: &'a mut Vec<Complex<T>>,
) -> &'a [Complex<T>] {
    let spectra = sized(buffer, pairs * tiling.bins);
    transform_tiles(
        plans,
        tiling.single(),
        (weight, 1, pairs, size),
        0,
        size,
        spectra,
    );
    spectra
}

/// Fills `product`, `[bin][block]`, by `task(bin, block)` for every
/// frequency: one GEMM each, summing over `inner`, frequencies split
/// across threads (each GEMM on one), so no sum depends on the split.
fn per_frequency<T: Float>(
    product: &mut [Complex<T>],
    block: usize,
    inner: usize,
    task: impl Fn(usize, &mut [Complex<T>]) -> Result<(), TensorError> + Sync + Send,
) -> Result<(), TensorError> {
    // These GEMMs are narrow (a few tiles wide at batch 1) and run far
    // below the GEMM's peak: a complex multiply-add costs about as much
    // as an element pass.
    let work = product.len() * inner;
    let blocks: Vec<_> = product.chunks_mut(block).enumerate().collect();
    try_for_each_block(work, blocks, |(bin, values)| task(bin, values))
}

/// Element passes of transforming `values` complex points: a real FFT of
/// the seed's tile sizes (256 to 2048 points) takes several nanoseconds per
/// point, some thirty times an elementwise pass.
fn fft_work(values: usize) -> usize {
    32 * values
}

/// The first `len` elements of `buffer`, grown if shorter (contents
/// unspecified; callers overwrite; never shrunk, as `chunks::sized` says).
fn sized<T: Float>(buffer: &mut Vec<Complex<T>>, len: usize) -> &mut [Complex<T>] {
    if buffer.len() < len {
        buffer.resize(len, Complex::new(T::zero(), T::zero()));
    }
    &mut buffer[..len]
}

/// Frequency `bin`'s `rows x cols` matrix inside spectra laid out with the
/// given strides.
fn strided<T>(
    spectra: &[Complex<T>],
    bin: usize,
    (rows, cols): (usize, usize),
    (row_stride, col_stride): (usize, usize),
) -> MatRef<'_, Complex<T>> {
    MatRef {
        data: &spectra[bin..],
        rows,
        cols,
        row_stride,
        col_stride,
    }
}

#[cfg(test)]
mod tests;

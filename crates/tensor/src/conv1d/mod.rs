//! 1D convolution (cross-correlation, as Keras and PyTorch compute it) in NCL
//! layout, forward and backward, as GEMMs over a column matrix.
//!
//! Per sample, the input `[C_in, L]` is lowered to a column matrix
//! `[C_in * K, L_out]` (one row per tap and input channel, one column per
//! output position; [`lowering`] says how it is read without being
//! materialized), so that the forward pass is one GEMM
//! `W[C_out, C_in*K] · cols`. The backward pass is two more GEMMs:
//! `dW += dY · colsᵀ` and `dcols = Wᵀ · dY`, then `dcols` is folded back onto
//! the input ([`columns`]). The lowering is redone in backward rather than
//! kept from forward, as it costs one copy of the input.

mod channel_blocks;
mod columns;
mod lowering;
mod spectral;
mod wide;
mod winograd;

use ndarray::{Array3, ArrayView1, ArrayView3, ArrayViewMut1, ArrayViewMut3};
use serde::{Deserialize, Serialize};

use crate::layout::{check_length, standard_slice_mut};
use crate::matmul::{matmul_on, MatRef};
use crate::parallel::threads_for_multiply_adds;
use crate::sum::lane_total;

use crate::{Float, Padding, TensorError, Window};
use columns::col2im;
use lowering::Lowering;
use spectral::{Shapes, SpectralWorkspace};

/// Stride, dilation and padding of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv1dConfig {
    /// Step between output positions.
    pub stride: usize,
    /// Gap between kernel taps.
    pub dilation: usize,
    /// Keras padding mode.
    pub padding: Padding,
}

impl Default for Conv1dConfig {
    /// Keras's defaults: stride 1, dilation 1, `valid`.
    fn default() -> Self {
        Self {
            stride: 1,
            dilation: 1,
            padding: Padding::Valid,
        }
    }
}

impl Conv1dConfig {
    /// The window geometry for an input of `input_length` and a kernel of
    /// `kernel_size` taps.
    pub fn window(&self, input_length: usize, kernel_size: usize) -> Result<Window, TensorError> {
        Window::new(
            "conv1d",
            input_length,
            kernel_size,
            self.stride,
            self.dilation,
            self.padding,
        )
    }
}

/// Scratch buffers, kept by the caller (a Conv1D layer keeps one) so that
/// each step reuses them: the lowered samples and column gradients of the
/// GEMM methods, and the FFT plans and spectra of the frequency-domain one
/// (tens of MB at batch 32 for the seed's largest layer; a fresh allocation
/// per call costs a page fault per 4 KB).
#[derive(Debug)]
pub struct Conv1dWorkspace<T: Float> {
    chunks: Vec<ChunkScratch<T>>,
    /// The weight in the lowering's column order, when that is not its own.
    weight_matrix: Vec<T>,
    /// Plans and spectra of the frequency-domain method for long kernels.
    spectral: SpectralWorkspace<T>,
    /// The same in f64, with f64 copies, for f32 data (`wide.rs`).
    wide: Box<wide::Wide>,
    /// A lowering tests impose instead of the one the geometry picks.
    forced: Option<Lowering>,
    /// A method tests impose instead of the one the geometry picks.
    forced_method: Option<Method>,
}

/// How a call computes its convolution: a fixed function of the layer's
/// shapes (never of the thread count), so a model's bits do not depend on
/// how many threads run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// GEMMs over the lowered columns (any geometry).
    Direct,
    /// Overlap-save FFTs, for long kernels.
    Spectral,
    /// Winograd's F(4, 3), for kernels of three taps.
    Winograd,
}

impl<T: Float> Default for Conv1dWorkspace<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// One task's buffers: its lowered sample (or transformed tiles), its
/// column gradient (or transformed products), its partial kernel and bias
/// gradients, and one padded row.
#[derive(Debug, Default)]
struct ChunkScratch<T> {
    lowered: Vec<T>,
    dcols: Vec<T>,
    partial: Vec<T>,
    partial_bias: Vec<T>,
    row: Vec<T>,
}

impl<T: Float> Conv1dWorkspace<T> {
    /// An empty workspace; buffers grow on first use.
    pub fn new() -> Self {
        Self {
            chunks: Vec::new(),
            weight_matrix: Vec::new(),
            spectral: SpectralWorkspace::default(),
            wide: Box::default(),
            forced: None,
            forced_method: None,
        }
    }

    /// The method for this call: the forced one when it can compute this
    /// geometry, else the one that pays.
    fn method(&self, window: &Window, in_channels: usize, out_channels: usize) -> Method {
        let undilated = window.stride == 1 && window.dilation == 1;
        match self.forced_method {
            Some(Method::Spectral) if undilated => Method::Spectral,
            Some(Method::Winograd) if undilated && window.size == 3 => Method::Winograd,
            Some(_) => Method::Direct,
            None if spectral::applies(window, in_channels, out_channels) => Method::Spectral,
            None if winograd::applies(window, in_channels, out_channels) => Method::Winograd,
            None => Method::Direct,
        }
    }

    /// The lowering for this call: the forced one, else the geometry's.
    fn lowering(&self, channels: usize, window: &Window) -> Lowering {
        let chosen = Lowering::for_window::<T>(channels, window);
        match self.forced {
            // Channels-last cannot read dilated taps.
            Some(Lowering::ChannelsLast) if window.dilation != 1 => chosen,
            Some(forced) => forced,
            None => chosen,
        }
    }
}

/// The first `count` chunk scratches, grown as needed. A free function, not
/// a method, so that it borrows only the chunks and leaves the workspace's
/// weight matrix free to be read alongside.
fn chunk_scratch<T: Float>(
    chunks: &mut Vec<ChunkScratch<T>>,
    count: usize,
) -> &mut [ChunkScratch<T>] {
    if chunks.len() < count {
        chunks.resize_with(count, ChunkScratch::default);
    }
    &mut chunks[..count]
}

/// Samples per task. Fixed, not derived from the thread count: the kernel
/// gradient is summed per chunk and then over chunks in order, so the same
/// chunks give the same bits on 1 thread or many.
const CHUNK: usize = 4;

/// Runs `task(chunk index, scratch, gemm threads)` for every chunk of a
/// pass of `multiply_adds` GEMM multiply-adds in all: across threads when
/// there are several chunks and threads to spare (each GEMM then on one
/// thread), else in order with the GEMMs threaded. A pass too small to pay
/// for waking a thread runs on the calling one
/// ([`threads_for_multiply_adds`]).
fn for_each_chunk<T: Float, S: Send>(
    multiply_adds: usize,
    scratch: &mut [ChunkScratch<T>],
    slices: Vec<S>,
    task: impl Fn(usize, &mut ChunkScratch<T>, S, usize) -> Result<(), TensorError> + Sync,
) -> Result<(), TensorError> {
    use rayon::prelude::*;
    let threads = threads_for_multiply_adds(multiply_adds);
    if threads > 1 && slices.len() > 1 {
        scratch
            .par_iter_mut()
            .zip(slices)
            .enumerate()
            .try_for_each(|(index, (scratch, slice))| task(index, scratch, slice, 1))
    } else {
        scratch
            .iter_mut()
            .zip(slices)
            .enumerate()
            .try_for_each(|(index, (scratch, slice))| task(index, scratch, slice, threads))
    }
}

/// `buffer` resized to `len` (contents unspecified; callers overwrite).
fn sized<T: Float>(buffer: &mut Vec<T>, len: usize) -> &mut [T] {
    buffer.resize(len, T::zero());
    &mut buffer[..len]
}

fn check_weight<T>(
    kernel: &'static str,
    x: &ArrayView3<'_, T>,
    weight: &ArrayView3<'_, T>,
) -> Result<(), TensorError> {
    if weight.dim().1 != x.dim().1 {
        return Err(TensorError::Shape {
            kernel,
            argument: "weight",
            expected: vec![weight.dim().0, x.dim().1, weight.dim().2],
            found: weight.shape().to_vec(),
        });
    }
    Ok(())
}

/// Forward pass: `x [B, C_in, L]`, `weight [C_out, C_in, K]`, optional
/// `bias [C_out]`; returns `[B, C_out, L_out]`.
pub fn conv1d_forward<T: Float>(
    x: ArrayView3<'_, T>,
    weight: ArrayView3<'_, T>,
    bias: Option<ArrayView1<'_, T>>,
    config: Conv1dConfig,
    workspace: &mut Conv1dWorkspace<T>,
) -> Result<Array3<T>, TensorError> {
    check_weight("conv1d_forward", &x, &weight)?;
    let window = config.window(x.dim().2, weight.dim().2)?;
    let mut output = Array3::<T>::zeros((x.dim().0, weight.dim().0, window.output_length));
    conv1d_forward_into(x, weight, bias, config, workspace, output.view_mut())?;
    Ok(output)
}

/// [`conv1d_forward`] into a caller's `output` (`[B, C_out, L_out]`, standard
/// layout), every element of which is overwritten: a layer passes a buffer
/// it reuses from step to step.
pub fn conv1d_forward_into<T: Float>(
    x: ArrayView3<'_, T>,
    weight: ArrayView3<'_, T>,
    bias: Option<ArrayView1<'_, T>>,
    config: Conv1dConfig,
    workspace: &mut Conv1dWorkspace<T>,
    mut output: ArrayViewMut3<'_, T>,
) -> Result<(), TensorError> {
    check_weight("conv1d_forward", &x, &weight)?;
    let (batch, in_channels, length) = x.dim();
    let (out_channels, _, kernel_size) = weight.dim();
    if let Some(b) = &bias {
        check_length("conv1d_forward", "bias", out_channels, b.len())?;
    }
    let window = config.window(length, kernel_size)?;
    let out_len = window.output_length;
    let expected_out = [batch, out_channels, out_len];
    let output = standard_slice_mut("conv1d_forward", "output", &expected_out, &mut output)?;
    let x = x.as_standard_layout();
    let weight = weight.as_standard_layout();
    let (x, w) = (contiguous(&x), contiguous(&weight));
    if workspace.forced_method.is_none() && wide::applies::<T>(&window) {
        let shapes = Shapes {
            input: (batch, in_channels, length),
            weight: weight.dim(),
        };
        let bias = bias.as_ref().map(|b| b.to_vec());
        let wide = &mut workspace.wide;
        return wide::forward(x, w, bias.as_deref(), shapes, &window, wide, output);
    }
    match workspace.method(&window, in_channels, out_channels) {
        Method::Spectral => {
            let shapes = Shapes {
                input: (batch, in_channels, length),
                weight: weight.dim(),
            };
            let bias = bias.as_ref().map(|b| b.to_vec());
            let spectral = &mut workspace.spectral;
            return spectral::forward(x, w, bias.as_deref(), shapes, &window, spectral, output);
        }
        Method::Winograd => {
            let operands = winograd::Operands {
                x,
                weight: w,
                window: &window,
                in_channels,
                out_channels,
            };
            let bias = bias.as_ref().map(|b| b.to_vec());
            let (chunks, kernel) = (&mut workspace.chunks, &mut workspace.weight_matrix);
            return winograd::forward(operands, bias.as_deref(), chunks, kernel, output);
        }
        Method::Direct => {}
    }
    let lowering = workspace.lowering(in_channels, &window);
    let lowered_len = lowering.buffer_len(in_channels, &window);
    let shape = weight.dim();
    let w_mat = lowering.weight_matrix(w, shape, &mut workspace.weight_matrix);
    let sample_in = in_channels * length;
    let sample_out = out_channels * out_len;
    let out_slices: Vec<&mut [T]> = output.chunks_mut(CHUNK * sample_out).collect();
    let chunks = chunk_scratch(&mut workspace.chunks, out_slices.len());
    let multiply_adds = batch * out_channels * in_channels * weight.dim().2 * out_len;
    for_each_chunk(
        multiply_adds,
        chunks,
        out_slices,
        |index, scratch, out_chunk, threads| {
            let buffer = sized(&mut scratch.lowered, lowered_len);
            for (i, out_slice) in out_chunk.chunks_exact_mut(sample_out).enumerate() {
                let b = index * CHUNK + i;
                let sample = &x[b * sample_in..][..sample_in];
                let cols = lowering.lower(sample, in_channels, &window, buffer, threads);
                if let Some(bias) = &bias {
                    for (row, &bias_c) in out_slice.chunks_exact_mut(out_len).zip(bias.iter()) {
                        row.fill(bias_c);
                    }
                }
                matmul_on(threads, out_slice, w_mat, cols, bias.is_some())?;
            }
            Ok(())
        },
    )
}

/// Gradients of [`conv1d_forward`].
///
/// Adds `∂loss/∂weight` into `grad_weight` and `∂loss/∂bias` into
/// `grad_bias` (accumulating, as parameter gradients do across a batch), and
/// returns `∂loss/∂x`.
pub fn conv1d_backward<T: Float>(
    x: ArrayView3<'_, T>,
    weight: ArrayView3<'_, T>,
    grad_output: ArrayView3<'_, T>,
    config: Conv1dConfig,
    grad_weight: ArrayViewMut3<'_, T>,
    grad_bias: Option<ArrayViewMut1<'_, T>>,
    workspace: &mut Conv1dWorkspace<T>,
) -> Result<Array3<T>, TensorError> {
    let mut input = x.as_standard_layout().into_owned();
    conv1d_backward_in_place(
        input.view_mut(),
        weight,
        grad_output,
        config,
        grad_weight,
        grad_bias,
        workspace,
    )?;
    Ok(input)
}

/// [`conv1d_backward`] that overwrites the forward input `input`
/// (`[B, C_in, L]`, standard layout) with `∂loss/∂x`: each sample is
/// unfolded into columns before its gradient is written, so the layer's
/// cached input becomes its input gradient without a new array.
pub fn conv1d_backward_in_place<T: Float>(
    mut input: ArrayViewMut3<'_, T>,
    weight: ArrayView3<'_, T>,
    grad_output: ArrayView3<'_, T>,
    config: Conv1dConfig,
    mut grad_weight: ArrayViewMut3<'_, T>,
    grad_bias: Option<ArrayViewMut1<'_, T>>,
    workspace: &mut Conv1dWorkspace<T>,
) -> Result<(), TensorError> {
    check_weight("conv1d_backward", &input.view(), &weight)?;
    let (batch, in_channels, length) = input.dim();
    let (out_channels, _, kernel_size) = weight.dim();
    let window = config.window(length, kernel_size)?;
    let out_len = window.output_length;
    let expected_out = [batch, out_channels, out_len];
    if grad_output.shape() != expected_out {
        return Err(TensorError::Shape {
            kernel: "conv1d_backward",
            argument: "grad_output",
            expected: expected_out.to_vec(),
            found: grad_output.shape().to_vec(),
        });
    }
    if grad_weight.shape() != weight.shape() || !grad_weight.is_standard_layout() {
        return Err(TensorError::Shape {
            kernel: "conv1d_backward",
            argument: "grad_weight",
            expected: weight.shape().to_vec(),
            found: grad_weight.shape().to_vec(),
        });
    }
    if let Some(grad_bias) = &grad_bias {
        check_length(
            "conv1d_backward",
            "grad_bias",
            out_channels,
            grad_bias.len(),
        )?;
    }
    let input_shape = [batch, in_channels, length];
    let data = standard_slice_mut("conv1d_backward", "input", &input_shape, &mut input)?;
    let weight = weight.as_standard_layout();
    let grad_output = grad_output.as_standard_layout();
    let (w, dy) = (contiguous(&weight), contiguous(&grad_output));
    let rows = in_channels * kernel_size;
    let grad_w = grad_weight
        .as_slice_mut()
        .expect("invariant: checked standard layout above");
    let method = workspace.method(&window, in_channels, out_channels);
    if method == Method::Winograd {
        let operands = winograd::Operands {
            x: &[],
            weight: w,
            window: &window,
            in_channels,
            out_channels,
        };
        let (chunks, kernel) = (&mut workspace.chunks, &mut workspace.weight_matrix);
        return winograd::backward(operands, data, dy, chunks, kernel, grad_w, grad_bias);
    }
    if method == Method::Spectral {
        if let Some(mut grad_bias) = grad_bias {
            // Sample by sample, in order.
            for sample in dy.chunks_exact(out_channels * out_len) {
                for (g, row) in grad_bias.iter_mut().zip(sample.chunks_exact(out_len)) {
                    *g += lane_total(row);
                }
            }
        }
        let shapes = Shapes {
            input: (batch, in_channels, length),
            weight: weight.dim(),
        };
        let spectral = &mut workspace.spectral;
        return spectral::backward(data, w, dy, shapes, &window, spectral, grad_w);
    }
    // The column gradient is folded back by col2im, which reads the
    // weight's own (channel-major) row order whatever the lowering.
    let w_mat = MatRef::row_major(w, out_channels, rows);
    let lowering = workspace.lowering(in_channels, &window);
    let lowered_len = lowering.buffer_len(in_channels, &window);
    let sample_in = in_channels * length;
    let sample_out = out_channels * out_len;
    let wants_bias = grad_bias.is_some();
    let sample_slices: Vec<&mut [T]> = data.chunks_mut(CHUNK * sample_in).collect();
    let chunks = chunk_scratch(&mut workspace.chunks, sample_slices.len());
    // The weight and the input gradient: two products.
    let multiply_adds = 2 * batch * out_channels * rows * out_len;
    for_each_chunk(
        multiply_adds,
        chunks,
        sample_slices,
        |index, scratch, samples, threads| {
            let buffer = sized(&mut scratch.lowered, lowered_len);
            let dcols = sized(&mut scratch.dcols, rows * out_len);
            let partial = sized(&mut scratch.partial, out_channels * rows);
            let partial_bias = sized(&mut scratch.partial_bias, out_channels);
            partial_bias.fill(T::zero());
            for (i, sample) in samples.chunks_exact_mut(sample_in).enumerate() {
                let b = index * CHUNK + i;
                let dy_sample = &dy[b * sample_out..][..sample_out];
                if wants_bias {
                    for (g, row) in partial_bias.iter_mut().zip(dy_sample.chunks_exact(out_len)) {
                        *g += lane_total(row);
                    }
                }
                let dy_b = MatRef::row_major(dy_sample, out_channels, out_len);
                let cols_t = lowering
                    .lower(sample, in_channels, &window, buffer, threads)
                    .t();
                // The chunk's first sample initialises its partial gradient.
                let kernel_gradient =
                    |partial: &mut [T], threads| matmul_on(threads, partial, dy_b, cols_t, i > 0);
                let column_gradient =
                    |dcols: &mut [T], threads| matmul_on(threads, dcols, w_mat.t(), dy_b, false);
                if threads > 1 {
                    // This chunk has the threads to itself (a batch of one chunk):
                    // the two products are independent, and two one-thread GEMMs
                    // side by side beat two two-thread GEMMs in a row (a GEMM
                    // splits its output, never its sum, so the bits are the same).
                    let (a, b) =
                        rayon::join(|| kernel_gradient(partial, 1), || column_gradient(dcols, 1));
                    a?;
                    b?;
                } else {
                    kernel_gradient(partial, 1)?;
                    column_gradient(dcols, 1)?;
                }
                // The sample's values now live in the lowered buffer: its slot
                // takes the gradient.
                sample.fill(T::zero());
                col2im(dcols, in_channels, &window, sample, threads);
            }
            Ok(())
        },
    )?;
    // Chunks in order, whatever ran them.
    let shape = weight.dim();
    for scratch in workspace.chunks.iter().take(batch.div_ceil(CHUNK)) {
        lowering.add_kernel_gradient(&scratch.partial[..out_channels * rows], shape, grad_w);
    }
    if let Some(grad_bias) = grad_bias {
        add_partial_bias(&workspace.chunks, batch.div_ceil(CHUNK), grad_bias);
    }
    Ok(())
}

/// Adds the first `count` chunks' partial bias gradients to `grad_bias`,
/// chunk after chunk, whatever thread computed them.
fn add_partial_bias<T: Float>(
    chunks: &[ChunkScratch<T>],
    count: usize,
    mut grad_bias: ArrayViewMut1<'_, T>,
) {
    for scratch in chunks.iter().take(count) {
        for (g, &p) in grad_bias.iter_mut().zip(&scratch.partial_bias) {
            *g += p;
        }
    }
}

/// The backing slice of an array that `as_standard_layout` made contiguous.
fn contiguous<'a, T>(array: &'a ndarray::CowArray<'_, T, ndarray::Ix3>) -> &'a [T] {
    array
        .as_slice()
        .expect("invariant: as_standard_layout returns a contiguous array")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array1;

    /// Direct definition: y[b,o,p] = bias[o] + Σ_c Σ_k w[o,c,k] x[b,c,p*s+k*d-pad_left].
    fn reference(
        x: &Array3<f64>,
        w: &Array3<f64>,
        bias: &Array1<f64>,
        cfg: Conv1dConfig,
    ) -> Array3<f64> {
        let (batch, cin, len) = x.dim();
        let (cout, _, k) = w.dim();
        let window = cfg.window(len, k).expect("valid geometry");
        let mut y = Array3::zeros((batch, cout, window.output_length));
        for b in 0..batch {
            for o in 0..cout {
                for p in 0..window.output_length {
                    let mut s = bias[o];
                    for c in 0..cin {
                        for t in 0..k {
                            if let Some(i) = window.input_index(p, t) {
                                s += w[[o, c, t]] * x[[b, c, i]];
                            }
                        }
                    }
                    y[[b, o, p]] = s;
                }
            }
        }
        y
    }

    fn filled(shape: (usize, usize, usize), salt: f64) -> Array3<f64> {
        Array3::from_shape_fn(shape, |(a, b, c)| {
            ((a * 31 + b * 7 + c) as f64 * 0.37 + salt).sin()
        })
    }

    #[test]
    fn forward_matches_the_definition() {
        for (len, k, stride, dilation, padding) in [
            (12, 3, 1, 1, Padding::Same),
            (12, 4, 1, 1, Padding::Same),
            (13, 4, 3, 2, Padding::Same),
            (13, 3, 2, 1, Padding::Valid),
            (5, 8, 1, 1, Padding::Same),
        ] {
            let cfg = Conv1dConfig {
                stride,
                dilation,
                padding,
            };
            let x = filled((2, 3, len), 0.1);
            let w = filled((4, 3, k), 0.7);
            let bias = Array1::from_vec(vec![0.1, -0.2, 0.3, 0.0]);
            let got = conv1d_forward(
                x.view(),
                w.view(),
                Some(bias.view()),
                cfg,
                &mut Conv1dWorkspace::new(),
            )
            .expect("fits");
            let want = reference(&x, &w, &bias, cfg);
            assert_eq!(got.dim(), want.dim());
            for (g, w) in got.iter().zip(want.iter()) {
                assert!((g - w).abs() < 1e-12, "{g} vs {w} for {cfg:?} k={k}");
            }
        }
    }

    #[test]
    fn even_kernel_same_padding_puts_the_extra_zero_on_the_right() {
        // Kernel [1, 0] picks the left tap: with pad_left = 0 the output equals x.
        // Kernel [0, 1] picks the right tap: the last output reads the right pad.
        let x = Array3::from_shape_vec((1, 1, 4), vec![1.0, 2.0, 3.0, 4.0]).expect("shape");
        let cfg = Conv1dConfig {
            padding: Padding::Same,
            ..Default::default()
        };
        let left = Array3::from_shape_vec((1, 1, 2), vec![1.0, 0.0]).expect("shape");
        let right = Array3::from_shape_vec((1, 1, 2), vec![0.0, 1.0]).expect("shape");
        let y = conv1d_forward(
            x.view(),
            left.view(),
            None,
            cfg,
            &mut Conv1dWorkspace::new(),
        )
        .expect("fits");
        assert_eq!(
            y.iter().copied().collect::<Vec<f64>>(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
        let y = conv1d_forward(
            x.view(),
            right.view(),
            None,
            cfg,
            &mut Conv1dWorkspace::new(),
        )
        .expect("fits");
        assert_eq!(
            y.iter().copied().collect::<Vec<f64>>(),
            vec![2.0, 3.0, 4.0, 0.0]
        );
    }

    #[test]
    fn a_misshapen_output_or_input_buffer_is_an_error() {
        let x = Array3::<f32>::zeros((2, 3, 10));
        let w = Array3::<f32>::zeros((4, 3, 3));
        let config = Conv1dConfig::default();
        let mut workspace = Conv1dWorkspace::new();
        let mut short = Array3::<f32>::zeros((2, 4, 7));
        let err = conv1d_forward_into(
            x.view(),
            w.view(),
            None,
            config,
            &mut workspace,
            short.view_mut(),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            TensorError::Shape {
                argument: "output",
                ..
            }
        ));
        // An input that is not in standard layout cannot take its gradient in place.
        let mut fortran = Array3::<f32>::zeros((10, 3, 2));
        let mut input = fortran.view_mut();
        input.swap_axes(0, 2);
        let dy = Array3::<f32>::zeros((2, 4, 8));
        let mut dw = Array3::<f32>::zeros((4, 3, 3));
        let err = conv1d_backward_in_place(
            input,
            w.view(),
            dy.view(),
            config,
            dw.view_mut(),
            None,
            &mut workspace,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            TensorError::Layout {
                argument: "input",
                ..
            }
        ));
    }

    #[test]
    fn mismatched_channels_are_an_error() {
        let x = Array3::<f32>::zeros((1, 2, 10));
        let w = Array3::<f32>::zeros((4, 3, 3));
        let err = conv1d_forward(
            x.view(),
            w.view(),
            None,
            Conv1dConfig::default(),
            &mut Conv1dWorkspace::new(),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            TensorError::Shape {
                argument: "weight",
                ..
            }
        ));
    }

    /// The gradient checks and the definition test run at sizes whose
    /// columns fit in cache, so they exercise the materialized columns; the
    /// channels-last view must give the same forward pass and gradients
    /// (to rounding: the sums run in another order). Six samples: a full
    /// chunk and a partial one.
    #[test]
    fn channels_last_view_agrees_with_materialized_columns() {
        for (len, k, stride, padding) in [
            (12, 3, 1, Padding::Same),
            (12, 4, 1, Padding::Same),
            (13, 4, 3, Padding::Same),
            (13, 3, 2, Padding::Valid),
            (14, 5, 1, Padding::Valid),
            (5, 8, 1, Padding::Same),
        ] {
            let config = Conv1dConfig {
                stride,
                dilation: 1,
                padding,
            };
            let x = filled((6, 3, len), 0.2);
            let w = filled((4, 3, k), 0.9);
            let bias = Array1::from_vec(vec![0.3, -0.1, 0.2, 0.5]);
            let window = config.window(len, k).expect("valid geometry");
            let dy = filled((6, 4, window.output_length), 1.3);
            let with = |lowering| {
                move |ws: &mut Conv1dWorkspace<f64>| {
                    ws.forced = Some(lowering);
                    ws.forced_method = Some(Method::Direct);
                }
            };
            let view = pass(&x, &w, &bias, &dy, config, with(Lowering::ChannelsLast));
            let columns = pass(&x, &w, &bias, &dy, config, with(Lowering::Columns));
            assert_close(&view, &columns, 1e-12, &format!("{config:?} k={k}"));
            // Left to itself the geometry picks the columns at these sizes:
            // forcing the view is what makes this test see it.
            assert_eq!(Lowering::for_window::<f64>(3, &window), Lowering::Columns);
        }
    }

    /// Forward pass and every gradient of one convolution, with the
    /// workspace set up by `force`.
    fn pass<T: Float>(
        x: &Array3<T>,
        w: &Array3<T>,
        bias: &Array1<T>,
        dy: &Array3<T>,
        config: Conv1dConfig,
        force: impl Fn(&mut Conv1dWorkspace<T>),
    ) -> [Array3<T>; 4] {
        let mut workspace = Conv1dWorkspace::new();
        force(&mut workspace);
        let y = conv1d_forward(
            x.view(),
            w.view(),
            Some(bias.view()),
            config,
            &mut workspace,
        )
        .expect("fits");
        let mut dw = Array3::<T>::zeros(w.dim());
        let mut db = Array1::<T>::zeros(bias.len());
        let dx = conv1d_backward(
            x.view(),
            w.view(),
            dy.view(),
            config,
            dw.view_mut(),
            Some(db.view_mut()),
            &mut workspace,
        )
        .expect("fits");
        let db = db
            .into_shape_with_order((1, 1, bias.len()))
            .expect("same count");
        [y, dw, db, dx]
    }

    fn assert_close(a: &[Array3<f64>; 4], b: &[Array3<f64>; 4], tolerance: f64, what: &str) {
        for (a, b) in a.iter().zip(b) {
            assert_eq!(a.dim(), b.dim(), "{what}");
            for (p, q) in a.iter().zip(b.iter()) {
                assert!((p - q).abs() <= tolerance, "{p} vs {q}: {what}");
            }
        }
    }

    /// `method` computes what the direct GEMM does (to 1e-10 in f64) for a
    /// batch of `batch` signals of `len` points through a `k`-tap kernel.
    fn agrees_with_direct(method: Method, batch: usize, len: usize, k: usize, padding: Padding) {
        let config = Conv1dConfig {
            padding,
            ..Default::default()
        };
        let window = config.window(len, k).expect("valid geometry");
        let x = filled((batch, 3, len), 0.4);
        let w = filled((5, 3, k), 1.7);
        let bias = Array1::from_vec(vec![0.3, -0.1, 0.2, 0.5, -0.4]);
        let dy = filled((batch, 5, window.output_length), 2.1);
        let direct = pass(&x, &w, &bias, &dy, config, |ws| {
            ws.forced_method = Some(Method::Direct)
        });
        let other = pass(&x, &w, &bias, &dy, config, |ws| {
            ws.forced_method = Some(method)
        });
        let what = format!("{method:?}: batch {batch}, length {len}, kernel {k}, {padding:?}");
        assert_close(&other, &direct, 1e-10, &what);
    }

    /// The frequency-domain method computes what the direct GEMM does, for
    /// both paddings, odd and even kernels, kernels longer than the signal,
    /// several tiles per signal and several samples.
    #[test]
    fn spectral_method_agrees_with_the_direct_one() {
        for (batch, len, k, padding) in [
            (3, 40, 16, Padding::Same),
            (2, 100, 17, Padding::Same),
            (6, 90, 20, Padding::Valid),
            (1, 300, 70, Padding::Same),
            (2, 12, 30, Padding::Same),
            (2, 50, 3, Padding::Valid),
        ] {
            agrees_with_direct(Method::Spectral, batch, len, k, padding);
        }
    }

    /// Winograd's F(4, 3) computes what the direct GEMM does: both
    /// paddings, signals whose outputs fill the last tile or not, signals
    /// shorter than a tile, several chunks of samples.
    #[test]
    fn winograd_method_agrees_with_the_direct_one() {
        for (batch, len, padding) in [
            (3, 40, Padding::Same),
            (2, 13, Padding::Same),
            (6, 23, Padding::Valid),
            (1, 2, Padding::Same),
            (9, 7, Padding::Valid),
        ] {
            agrees_with_direct(Method::Winograd, batch, len, 3, padding);
        }
    }

    /// The seed models' layers pick the method their shapes pay for.
    #[test]
    fn each_geometry_gets_the_method_that_pays() {
        let workspace = Conv1dWorkspace::<f32>::new();
        let method = |length, kernel, cin, cout| {
            let config = Conv1dConfig {
                padding: Padding::Same,
                ..Default::default()
            };
            let window = config.window(length, kernel).expect("valid geometry");
            workspace.method(&window, cin, cout)
        };
        // The question's model: 1 -> 32 (100 taps), 32 -> 64 (70), 64 -> 128 (40).
        assert_eq!(method(1040, 100, 1, 32), Method::Direct);
        assert_eq!(method(1040, 70, 32, 64), Method::Spectral);
        assert_eq!(method(1040, 40, 64, 128), Method::Spectral);
        // The answer's: 1 -> 32 (2 taps), 32 -> 64 (3), 64 -> 128 (3).
        assert_eq!(method(1040, 2, 1, 32), Method::Direct);
        assert_eq!(method(1040, 3, 32, 64), Method::Winograd);
        assert_eq!(method(1040, 3, 64, 128), Method::Winograd);
    }

    /// Chunks of samples run on separate threads when 2 are allowed; the
    /// kernel gradient is still summed chunk by chunk in order, so every bit
    /// matches the single-threaded run (9 samples: two full chunks and a
    /// partial one). One sample: its channels are unfolded across threads.
    /// Each way of lowering the columns, and the frequency-domain and
    /// Winograd methods, whose transforms and per-point products split
    /// across threads.
    #[test]
    fn one_and_two_threads_give_identical_bits() {
        for batch in [9, 1] {
            for lowering in [Lowering::Columns, Lowering::ChannelsLast] {
                same_bits_on_one_and_two_threads(batch, lowering, Method::Direct, 4);
            }
            same_bits_on_one_and_two_threads(batch, Lowering::Columns, Method::Spectral, 4);
            same_bits_on_one_and_two_threads(batch, Lowering::Columns, Method::Winograd, 3);
        }
    }

    fn same_bits_on_one_and_two_threads(
        batch: usize,
        lowering: Lowering,
        method: Method,
        kernel: usize,
    ) {
        let x = filled((batch, 3, 50), 0.3).mapv(|v| v as f32);
        let w = filled((5, 3, kernel), 0.7).mapv(|v| v as f32);
        let bias = Array1::from_vec(vec![0.3f32, -0.1, 0.2, 0.5, -0.4]);
        let dy = filled((batch, 5, 50), 1.1).mapv(|v| v as f32);
        let config = Conv1dConfig {
            padding: Padding::Same,
            ..Default::default()
        };
        let run = |threads| {
            crate::set_threads(threads);
            let outputs = pass(&x, &w, &bias, &dy, config, |ws| {
                ws.forced = Some(lowering);
                ws.forced_method = Some(method);
            });
            crate::set_threads(1);
            outputs.map(|a| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        };
        assert_eq!(run(1), run(2), "{method:?}, batch {batch}");
    }
}

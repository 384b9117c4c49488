//! The direct method: per sample, one GEMM over the input lowered to a
//! column matrix `[C_in * K, L_out]` ([`super::lowering`] says how it is
//! read); backward, two more, `dW += dY · colsᵀ` and `dcols = Wᵀ · dY`,
//! then `dcols` folded back onto the input ([`super::columns`]). Any
//! geometry; samples in fixed chunks across threads.

use ndarray::{ArrayView1, ArrayViewMut1};

use super::chunks::{add_partial_bias, chunk_scratch, for_each_chunk, sized, CHUNK};
use super::columns::col2im;
use super::spectral::Shapes;
use super::{finish_samples, Conv1dWorkspace, RowEpilogue};
use crate::matmul::{matmul_on, MatRef};
use crate::sum::lane_total;
use crate::{Float, TensorError, Window};

/// The weight and the output gradient of a backward pass.
pub(super) struct Operands<'a, T> {
    /// The weight, `[C_out, C_in, K]` row-major.
    pub(super) w: &'a [T],
    /// The output gradient, `[B, C_out, L_out]` row-major.
    pub(super) dy: &'a [T],
}

/// Forward pass into `output` (`[B, C_out, L_out]`, every element written),
/// each sample's rows finished by `epilogue` once its GEMM is done.
pub(super) fn forward<T: Float>(
    x: &[T],
    w: &[T],
    shapes: Shapes,
    (bias, epilogue): (Option<ArrayView1<'_, T>>, Option<RowEpilogue<'_, T>>),
    window: &Window,
    workspace: &mut Conv1dWorkspace<T>,
    output: &mut [T],
) -> Result<(), TensorError> {
    let (batch, in_channels, length) = shapes.input;
    let (out_channels, _, _) = shapes.weight;
    let out_len = window.output_length;
    let window = *window;
    let lowering = workspace.lowering(in_channels, &window);
    let lowered_len = lowering.buffer_len(in_channels, &window);
    let shape = shapes.weight;
    let w_mat = lowering.weight_matrix(w, shape, &mut workspace.buffers.weight_matrix);
    let sample_in = in_channels * length;
    let sample_out = out_channels * out_len;
    let out_slices: Vec<&mut [T]> = output.chunks_mut(CHUNK * sample_out).collect();
    let chunks = chunk_scratch(&mut workspace.buffers.chunks, out_slices.len());
    let multiply_adds = batch * out_channels * in_channels * shapes.weight.2 * out_len;
    let scratch_bytes = lowered_len * std::mem::size_of::<T>();
    for_each_chunk(
        multiply_adds,
        scratch_bytes,
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
                finish_samples(out_slice, (b, out_channels, out_len), epilogue);
            }
            Ok(())
        },
    )
}

/// Backward pass: overwrites `data` (the forward input, `[B, C_in, L]`)
/// with its gradient, and adds into `grad_w` and `grad_bias`.
pub(super) fn backward<T: Float>(
    data: &mut [T],
    operands: Operands<'_, T>,
    shapes: Shapes,
    window: &Window,
    workspace: &mut Conv1dWorkspace<T>,
    grad_w: &mut [T],
    grad_bias: Option<ArrayViewMut1<'_, T>>,
) -> Result<(), TensorError> {
    let Operands { w, dy } = operands;
    let (batch, in_channels, length) = shapes.input;
    let (out_channels, _, kernel_size) = shapes.weight;
    let out_len = window.output_length;
    let rows = in_channels * kernel_size;
    let window = *window;
    // The column gradient is folded back by col2im, which reads the
    // weight's own (channel-major) row order whatever the lowering.
    let w_mat = MatRef::row_major(w, out_channels, rows);
    let lowering = workspace.lowering(in_channels, &window);
    let lowered_len = lowering.buffer_len(in_channels, &window);
    let sample_in = in_channels * length;
    let sample_out = out_channels * out_len;
    let wants_bias = grad_bias.is_some();
    let sample_slices: Vec<&mut [T]> = data.chunks_mut(CHUNK * sample_in).collect();
    let chunks = chunk_scratch(&mut workspace.buffers.chunks, sample_slices.len());
    // The weight and the input gradient: two products.
    let multiply_adds = 2 * batch * out_channels * rows * out_len;
    let scratch_bytes = (lowered_len + rows * out_len) * std::mem::size_of::<T>();
    for_each_chunk(
        multiply_adds,
        scratch_bytes,
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
    let shape = shapes.weight;
    for scratch in workspace.buffers.chunks.iter().take(batch.div_ceil(CHUNK)) {
        lowering.add_kernel_gradient(&scratch.partial[..out_channels * rows], shape, grad_w);
    }
    if let Some(grad_bias) = grad_bias {
        add_partial_bias(&workspace.buffers.chunks, batch.div_ceil(CHUNK), grad_bias);
    }
    Ok(())
}

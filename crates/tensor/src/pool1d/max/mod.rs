//! Max pooling that reuses the caller's buffers: forward writes into a
//! given output, backward overwrites the kept input with its gradient. Each
//! also comes fused with a leaky ReLU before the pool
//! (`LeakyReLU` then `MaxPooling1D`, as in the seed's models): the pool
//! then reads the activated row from a per-thread scratch row instead of
//! from an activated copy of the whole batch in memory, and backward
//! applies the activation's derivative to the row it just wrote. The
//! scratch row is made by the same function as
//! [`crate::elementwise::kink_forward_in_place`] and the derivative by the
//! one of [`crate::elementwise::kink_backward_in_place`], so the fused pair
//! gives the same bits as the two passes.

use ndarray::{ArrayView3, ArrayViewMut3};

mod rows;
mod small_windows;
mod taps;

use crate::elementwise::{kink_backward_block, kink_forward_into};
use crate::layout::{check_length, standard_slice_mut};
use crate::parallel::{for_each_block, rows_per_block};
use crate::{Float, TensorError};
use rows::{
    gradient_from_taps, max_pool_row, max_pool_row_taps, max_pool_row_values, max_pool_window,
    pool_work, scatter_to_winners, RowScratch, SCAN_LIMIT,
};

use super::Pool1dConfig;
pub use taps::{
    leaky_max_pool1d_backward_from_taps, leaky_max_pool1d_forward_keeping_taps,
    max_pool1d_backward_from_taps, max_pool1d_forward_keeping_taps, max_pool1d_keeps_taps,
    PooledGradient,
};

/// Max pooling forward into a caller's `output` (`[B, C, L_out]`, standard
/// layout, every element overwritten). The winners go into `winners` (one
/// per output) when given; without them [`max_pool1d_backward_in_place`]
/// finds them again from the input, which saves writing and reading a `u32`
/// per output when the pool is small enough that finding them is cheap.
pub fn max_pool1d_forward_into<T: Float>(
    x: ArrayView3<'_, T>,
    config: Pool1dConfig,
    output: ArrayViewMut3<'_, T>,
    winners: Option<&mut [u32]>,
) -> Result<(), TensorError> {
    forward_into(x, None, config, output, winners)
}

/// A leaky ReLU with `negative_slope` (`x` if `x > 0`, else
/// `x * negative_slope`) then [`max_pool1d_forward_into`], in one pass over
/// memory: `x` is the activation's input and is not changed. The same bits
/// as [`crate::elementwise::kink_forward_in_place`] on `x` followed by
/// [`max_pool1d_forward_into`].
pub fn leaky_max_pool1d_forward_into<T: Float>(
    x: ArrayView3<'_, T>,
    negative_slope: T,
    config: Pool1dConfig,
    output: ArrayViewMut3<'_, T>,
    winners: Option<&mut [u32]>,
) -> Result<(), TensorError> {
    forward_into(x, Some(negative_slope), config, output, winners)
}

/// Max pooling backward that overwrites the forward input `input`
/// (`[B, C, L]`, standard layout) with `∂loss/∂x`: each row's winners are
/// taken from `winners` when forward kept them, else found again (the same
/// scan as forward, so the same winners, ties to the left and NaN first);
/// then the row is cleared and each output gradient added at its winner.
pub fn max_pool1d_backward_in_place<T: Float>(
    input: ArrayViewMut3<'_, T>,
    grad_output: ArrayView3<'_, T>,
    config: Pool1dConfig,
    winners: Option<&[u32]>,
) -> Result<(), TensorError> {
    backward_in_place(input, grad_output, None, config, winners)
}

/// The backward pass of [`leaky_max_pool1d_forward_into`]: overwrites the
/// leaky ReLU's input `input` with `∂loss/∂input`, the pool's gradient
/// times the activation's derivative (1 above zero, `negative_slope`
/// elsewhere). The same bits as [`max_pool1d_backward_in_place`] followed
/// by [`crate::elementwise::kink_backward_in_place`].
pub fn leaky_max_pool1d_backward_in_place<T: Float>(
    input: ArrayViewMut3<'_, T>,
    grad_output: ArrayView3<'_, T>,
    negative_slope: T,
    config: Pool1dConfig,
    winners: Option<&[u32]>,
) -> Result<(), TensorError> {
    backward_in_place(input, grad_output, Some(negative_slope), config, winners)
}

/// Forward with an optional leaky ReLU (its slope) before the pool.
fn forward_into<T: Float>(
    x: ArrayView3<'_, T>,
    kink: Option<T>,
    config: Pool1dConfig,
    mut output: ArrayViewMut3<'_, T>,
    winners: Option<&mut [u32]>,
) -> Result<(), TensorError> {
    let (batch, channels, length) = x.dim();
    let window = max_pool_window("max_pool1d_forward", length, config)?;
    let out = window.output_length;
    let y = standard_slice_mut(
        "max_pool1d_forward",
        "output",
        &[batch, channels, out],
        &mut output,
    )?;
    let x = x.as_standard_layout();
    let x = x
        .as_slice()
        .expect("invariant: as_standard_layout returns a contiguous array");
    let rows = rows_per_block(length);
    let kept = kept_blocks("max_pool1d_forward", winners, y.len(), rows * out)?;
    let blocks: Vec<_> = x
        .chunks(rows * length)
        .zip(y.chunks_mut(rows * out))
        .zip(kept)
        .collect();
    for_each_block(
        // The kink adds a pass over a row in cache, not a pass over memory:
        // counting it would send the answer's batch-1 pools to a second
        // thread, whose wake-up costs more than the pool (13% of a step).
        pool_work(x.len(), &config),
        blocks,
        || RowScratch::new(config.pool_size, length, out, kink.is_some()),
        |scratch: &mut RowScratch<T>, ((x, y), mut kept)| {
            let RowScratch {
                queue,
                winners,
                activated,
                positive,
                ..
            } = scratch;
            for (r, (row, y)) in x
                .chunks_exact(length)
                .zip(y.chunks_exact_mut(out))
                .enumerate()
            {
                let row = activate(row, kink, &mut activated[..], positive);
                match kept.as_deref_mut() {
                    Some(kept) => {
                        let idx = &mut kept[r * out..][..out];
                        max_pool_row(row, &window, y, idx, queue);
                    }
                    // Nobody keeps the winners: small stride-1 pools take
                    // maxima only, half the loads and stores.
                    None if window.stride == 1 && window.size <= SCAN_LIMIT => {
                        max_pool_row_values(row, &window, y)
                    }
                    None => max_pool_row(row, &window, y, winners, queue),
                }
            }
        },
    );
    Ok(())
}

/// Backward with an optional leaky ReLU (its slope) before the pool.
fn backward_in_place<T: Float>(
    mut input: ArrayViewMut3<'_, T>,
    grad_output: ArrayView3<'_, T>,
    kink: Option<T>,
    config: Pool1dConfig,
    winners: Option<&[u32]>,
) -> Result<(), TensorError> {
    let (batch, channels, length) = input.dim();
    let window = max_pool_window("max_pool1d_backward", length, config)?;
    let out = window.output_length;
    if grad_output.shape() != [batch, channels, out] {
        return Err(TensorError::Shape {
            kernel: "max_pool1d_backward",
            argument: "grad_output",
            expected: vec![batch, channels, out],
            found: grad_output.shape().to_vec(),
        });
    }
    let x = standard_slice_mut(
        "max_pool1d_backward",
        "input",
        &[batch, channels, length],
        &mut input,
    )?;
    let grad_output = grad_output.as_standard_layout();
    let gy = grad_output
        .as_slice()
        .expect("invariant: as_standard_layout returns a contiguous array");
    let rows = rows_per_block(length);
    if let Some(winners) = winners {
        check_length("max_pool1d_backward", "winners", gy.len(), winners.len())?;
    }
    let kept: Vec<Option<&[u32]>> = match winners {
        Some(winners) => winners.chunks(rows * out).map(Some).collect(),
        None => vec![None; gy.len().div_ceil(rows * out)],
    };
    let blocks: Vec<_> = x
        .chunks_mut(rows * length)
        .zip(gy.chunks(rows * out))
        .zip(kept)
        .collect();
    for_each_block(
        pool_work(gy.len(), &config),
        blocks,
        || RowScratch::new(config.pool_size, length, out, kink.is_some()),
        |scratch: &mut RowScratch<T>, ((x, gy), kept)| {
            let RowScratch {
                queue,
                winners,
                values,
                activated,
                positive,
            } = scratch;
            for (r, (row, gy)) in x
                .chunks_exact_mut(length)
                .zip(gy.chunks_exact(out))
                .enumerate()
            {
                // The row forward pooled: the input, or its activation.
                let pooled = activate(row, kink, &mut activated[..], positive);
                match kept {
                    Some(kept) => {
                        row.fill(T::zero());
                        scatter_to_winners(row, gy, &kept[r * out..][..out], &window);
                    }
                    None if window.stride == 1 && window.size <= SCAN_LIMIT => {
                        max_pool_row_taps(pooled, &window, values, winners);
                        gradient_from_taps(row, gy, winners, &window);
                    }
                    None => {
                        max_pool_row(pooled, &window, values, winners, queue);
                        row.fill(T::zero());
                        scatter_to_winners(row, gy, winners, &window);
                    }
                }
                if let Some(slope) = kink {
                    kink_backward_block(row, positive, slope);
                }
            }
        },
    );
    Ok(())
}

/// The row a pool reads: `row` itself, or with a leaky ReLU of `slope`
/// before the pool, its activation written to `activated` (and which side
/// of the kink each input was on to `positive`, for backward).
fn activate<'a, T: Float>(
    row: &'a [T],
    kink: Option<T>,
    activated: &'a mut [T],
    positive: &mut [u8],
) -> &'a [T] {
    match kink {
        Some(slope) => {
            kink_forward_into(row, activated, positive, slope);
            activated
        }
        None => row,
    }
}

/// `winners` cut into one piece per block of `block` outputs, or no pieces
/// (`None` per block) when the caller keeps no winners.
fn kept_blocks<'a>(
    kernel: &'static str,
    winners: Option<&'a mut [u32]>,
    outputs: usize,
    block: usize,
) -> Result<Vec<Option<&'a mut [u32]>>, TensorError> {
    match winners {
        Some(winners) => {
            check_length(kernel, "winners", outputs, winners.len())?;
            Ok(winners.chunks_mut(block).map(Some).collect())
        }
        None => Ok((0..outputs.div_ceil(block)).map(|_| None).collect()),
    }
}

#[cfg(test)]
mod tests;

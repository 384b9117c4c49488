//! The materialized column matrix (im2col) and its adjoint (col2im).
//!
//! Row `c * K + k` of a sample's columns holds tap `k` of channel `c` at
//! every output position. The forward pass and the kernel gradient read the
//! columns this way only when the taps are dilated (see
//! [`super::lowering`]); the input gradient always folds its column
//! gradient back through [`col2im`].

use crate::parallel::for_each_block_on;
use crate::{Float, Window};

/// Unfolds one sample `[C_in, L]` (row-major slice) into `cols`
/// (`[C_in * K, L_out]`, row-major), zero where a tap reads padding.
/// Channels fill disjoint rows, so with `threads > 1` they are split across
/// threads without changing a bit.
pub(super) fn im2col<T: Float>(
    sample: &[T],
    channels: usize,
    window: &Window,
    cols: &mut [T],
    threads: usize,
) {
    let length = window.input_length;
    let block = window.size * window.output_length;
    let channel_blocks: Vec<_> = sample[..channels * length]
        .chunks_exact(length)
        .zip(cols[..channels * block].chunks_exact_mut(block))
        .collect();
    for_each_block_on(
        threads,
        channel_blocks,
        || (),
        |_, (source, block)| im2col_channel(source, window, block),
    );
}

/// [`im2col`] for one channel: its `K` rows of columns.
fn im2col_channel<T: Float>(source: &[T], window: &Window, rows: &mut [T]) {
    let out = window.output_length;
    for tap in 0..window.size {
        let row = &mut rows[tap * out..][..out];
        let valid = window.valid_positions(tap);
        row[..valid.start].fill(T::zero());
        row[valid.end..].fill(T::zero());
        if valid.is_empty() {
            continue;
        }
        let first = valid.start * window.stride + tap * window.dilation - window.pad_left;
        if window.stride == 1 {
            row[valid.clone()].copy_from_slice(&source[first..first + valid.len()]);
        } else {
            for (i, slot) in row[valid.clone()].iter_mut().enumerate() {
                *slot = source[first + i * window.stride];
            }
        }
    }
}

/// Adds `cols` (`[C_in * K, L_out]`) back onto one sample's input gradient:
/// the adjoint of [`im2col`]. Each channel writes only its own row, so
/// channels split across threads as in [`im2col`].
pub(super) fn col2im<T: Float>(
    cols: &[T],
    channels: usize,
    window: &Window,
    sample: &mut [T],
    threads: usize,
) {
    let length = window.input_length;
    let block = window.size * window.output_length;
    let channel_blocks: Vec<_> = sample[..channels * length]
        .chunks_exact_mut(length)
        .zip(cols[..channels * block].chunks_exact(block))
        .collect();
    for_each_block_on(
        threads,
        channel_blocks,
        || (),
        |_, (target, block)| col2im_channel(block, window, target),
    );
}

/// [`col2im`] for one channel.
fn col2im_channel<T: Float>(rows: &[T], window: &Window, target: &mut [T]) {
    let out = window.output_length;
    for tap in 0..window.size {
        let row = &rows[tap * out..][..out];
        let valid = window.valid_positions(tap);
        if valid.is_empty() {
            continue;
        }
        let first = valid.start * window.stride + tap * window.dilation - window.pad_left;
        if window.stride == 1 {
            // Contiguous on both sides: a loop the compiler vectorizes.
            let len = valid.len();
            for (t, &g) in target[first..first + len].iter_mut().zip(&row[valid]) {
                *t += g;
            }
        } else {
            for (i, &g) in row[valid].iter().enumerate() {
                target[first + i * window.stride] += g;
            }
        }
    }
}

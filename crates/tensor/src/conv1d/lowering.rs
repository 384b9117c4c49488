//! How one sample's column matrix reaches the GEMM.
//!
//! The forward pass is `W · cols` and the kernel gradient `dY · colsᵀ`,
//! where `cols` has one row per (tap, input channel) and one column per
//! output position. Materializing it (im2col) writes `K` copies of the
//! input: 9–10 MB per sample for the seed's kernels of 70 and 40, streamed
//! through memory twice per pass.
//!
//! With undilated taps there is no need to: copy the sample once into a
//! padded channels-last buffer `xt[q * C + c]` (`q` the padded position), and
//! the entry of row `k * C + c`, column `t` is `xt[t * stride * C + k * C + c]`
//! — a strided view with row stride 1 and column stride `stride * C`. The
//! rows overlap in memory, which a GEMM reading through strides does not
//! mind, and the buffer is `K` times smaller than the columns (140 KB for the
//! seed's largest layer, which stays in L2 while the GEMM packs from it).
//! Rows come out tap-major, so the weight is permuted to `[C_out, K, C_in]`
//! to match, and the kernel gradient permuted back.
//!
//! Dilated taps break the single stride, so they keep the materialized
//! columns of [`super::columns`], channel-major. So do columns small enough
//! to stay in cache (the seed's kernels of 2–3): there the copy is cheap and
//! the GEMM packs contiguous rows faster than overlapping ones. Measured on
//! the seed's models (docs/performance.md): the view cut the question's
//! conv2 and conv3 time; on the answer's kernels of 3 it was no faster, and
//! slower for its one-channel first layer.

use crate::matmul::MatRef;
use crate::{Float, Window};

use super::columns::im2col;

/// Columns up to this size are materialized: half the 2 MB L2 of the
/// machine kymo is tuned on, leaving room for the weight and the output.
const CACHED_COLUMNS_BYTES: usize = 1 << 20;

/// Where a sample's column matrix comes from, and so in which order its
/// rows (and the weight's columns) run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lowering {
    /// A strided view over a padded channels-last copy; rows `k * C + c`.
    ChannelsLast,
    /// Materialized im2col; rows `c * K + k`, the weight's own order.
    Columns,
    /// The sample itself: a kernel of one tap, stride 1, no padding (an
    /// InceptionTime bottleneck, a residual shortcut) has the input as its
    /// column matrix, so nothing is copied.
    Identity,
}

impl Lowering {
    /// The lowering for `channels` inputs through `window`: the
    /// channels-last view when the taps are undilated and the columns would
    /// not fit in cache.
    pub(super) fn for_window<T: Float>(channels: usize, window: &Window) -> Self {
        if window.size == 1 && window.stride == 1 && window.pad_left == 0 {
            return Self::Identity;
        }
        let columns_bytes =
            channels * window.size * window.output_length * std::mem::size_of::<T>();
        if window.dilation == 1 && columns_bytes > CACHED_COLUMNS_BYTES {
            Self::ChannelsLast
        } else {
            Self::Columns
        }
    }

    /// Elements of the per-sample buffer [`Lowering::lower`] fills.
    pub(super) fn buffer_len(self, channels: usize, window: &Window) -> usize {
        match self {
            Self::ChannelsLast => padded_span(window) * channels,
            Self::Columns => channels * window.size * window.output_length,
            Self::Identity => 0,
        }
    }

    /// Fills `buffer` from one sample `[C_in, L]` and returns the
    /// `[C_in * K, L_out]` column matrix over it, rows in this lowering's
    /// order. `threads` is what the caller may spend on the copy.
    pub(super) fn lower<'a, T: Float>(
        self,
        sample: &'a [T],
        channels: usize,
        window: &Window,
        buffer: &'a mut [T],
        threads: usize,
    ) -> MatRef<'a, T> {
        let rows = channels * window.size;
        match self {
            Self::ChannelsLast => {
                let length = window.input_length;
                let span = padded_span(window);
                transpose_shifted(sample, channels, length, window.pad_left, span, buffer);
                MatRef {
                    data: buffer,
                    rows,
                    cols: window.output_length,
                    row_stride: 1,
                    col_stride: window.stride * channels,
                }
            }
            Self::Columns => {
                im2col(sample, channels, window, buffer, threads);
                MatRef::row_major(buffer, rows, window.output_length)
            }
            Self::Identity => MatRef::row_major(sample, rows, window.output_length),
        }
    }

    /// The weight `[C_out, C_in, K]` as the `[C_out, C_in * K]` matrix whose
    /// columns match [`Lowering::lower`]'s rows: the weight itself, or its
    /// tap-major copy written into `scratch`.
    pub(super) fn weight_matrix<'a, T: Float>(
        self,
        weight: &'a [T],
        shape: (usize, usize, usize),
        scratch: &'a mut Vec<T>,
    ) -> MatRef<'a, T> {
        let (out_channels, in_channels, size) = shape;
        let rows = in_channels * size;
        match self {
            Self::Columns | Self::Identity => MatRef::row_major(weight, out_channels, rows),
            Self::ChannelsLast => {
                scratch.resize(weight.len(), T::zero());
                for (from, to) in weight
                    .chunks_exact(rows)
                    .zip(scratch.chunks_exact_mut(rows))
                {
                    for (c, taps) in from.chunks_exact(size).enumerate() {
                        for (k, &w) in taps.iter().enumerate() {
                            to[k * in_channels + c] = w;
                        }
                    }
                }
                MatRef::row_major(scratch, out_channels, rows)
            }
        }
    }

    /// Adds a kernel gradient computed in this lowering's column order
    /// (`[C_out, C_in * K]`) to `grad_weight` in the weight's order
    /// `[C_out, C_in, K]`.
    pub(super) fn add_kernel_gradient<T: Float>(
        self,
        partial: &[T],
        shape: (usize, usize, usize),
        grad_weight: &mut [T],
    ) {
        let (_, in_channels, size) = shape;
        let rows = in_channels * size;
        match self {
            Self::Columns | Self::Identity => {
                for (g, &p) in grad_weight.iter_mut().zip(partial) {
                    *g += p;
                }
            }
            Self::ChannelsLast => {
                for (to, from) in grad_weight
                    .chunks_exact_mut(rows)
                    .zip(partial.chunks_exact(rows))
                {
                    for (c, taps) in to.chunks_exact_mut(size).enumerate() {
                        for (k, g) in taps.iter_mut().enumerate() {
                            *g += from[k * in_channels + c];
                        }
                    }
                }
            }
        }
    }
}

/// Padded positions the windows cover: `(L_out - 1) * stride + K`.
fn padded_span(window: &Window) -> usize {
    (window.output_length - 1) * window.stride + window.size
}

/// Copies `source` (`[C, length]`, row-major) into `target[q * C + c]` for
/// the positions `q` in `0..positions`, reading `source[c, q - lead]`, and
/// zero where that index falls outside `0..length`: a padded, channels-last
/// copy.
fn transpose_shifted<T: Float>(
    source: &[T],
    channels: usize,
    length: usize,
    lead: usize,
    positions: usize,
    target: &mut [T],
) {
    let target = &mut target[..positions * channels];
    let first = lead.min(positions);
    let end = (lead + length).min(positions);
    target[..first * channels].fill(T::zero());
    target[end * channels..].fill(T::zero());
    let inside = &mut target[first * channels..end * channels];
    // Eight positions at a time: each channel's eight values are one
    // contiguous read, and the block written (8 x C) stays in L1.
    const BLOCK: usize = 8;
    for (block_index, block) in inside.chunks_mut(BLOCK * channels).enumerate() {
        let start = first + block_index * BLOCK - lead;
        let count = block.len() / channels;
        for (c, row) in source[..channels * length].chunks_exact(length).enumerate() {
            for (i, &value) in row[start..start + count].iter().enumerate() {
                block[i * channels + c] = value;
            }
        }
    }
}

//! Max pooling that keeps one byte per output instead of its input: for a
//! small stride-1 pool (InceptionTime's 3-wide one), forward records which
//! tap of each window won, and backward writes the input gradient into a
//! buffer of the caller's from those bytes alone. A layer then gives its
//! input back as soon as forward is done: a quarter of the memory the
//! kept input took, where the input (an Inception module's) is also kept
//! by the module's bottleneck convolution.
//!
//! After a leaky ReLU (the answer's `LeakyReLU` then `MaxPooling1D`
//! pair), forward also keeps which side of the kink each input was on, a
//! byte per input, and backward multiplies by the activation's derivative
//! from those bytes: backward then neither reads the activation's input
//! again nor activates and pools it a second time.
//!
//! The winners are those [`super::max_pool1d_backward_in_place`] finds
//! again from the input (the same scan), and the gradient is summed in
//! the same order, so the two paths give the same bits.

use ndarray::{ArrayView3, ArrayViewMut3};

use super::rows::{
    gradient_from_taps, max_pool_row_taps, max_pool_window, pool_work, RowScratch, SCAN_LIMIT,
};
use super::Pool1dConfig;
use crate::elementwise::{kink_backward_block, kink_forward_into};
use crate::layout::{check_length, standard_slice_mut};
use crate::parallel::{for_each_block, rows_per_block};
use crate::{Float, TensorError};

/// Whether a pool of `config` can keep taps: stride 1 and at most
/// 16 wide (the pools whose windows are scanned), so that every tap fits
/// a byte.
pub fn max_pool1d_keeps_taps(config: &Pool1dConfig) -> bool {
    config.stride == 1 && config.pool_size <= SCAN_LIMIT
}

fn check_taps(kernel: &'static str, config: &Pool1dConfig) -> Result<(), TensorError> {
    if max_pool1d_keeps_taps(config) {
        Ok(())
    } else {
        Err(TensorError::Config {
            kernel,
            field: "pool_size",
            reason: format!(
                "taps are kept for stride-1 pools of at most {SCAN_LIMIT}; this one is {} \
                 wide with stride {}",
                config.pool_size, config.stride
            ),
        })
    }
}

/// Max pooling forward into a caller's `output` (`[B, C, L_out]`, standard
/// layout, every element overwritten), the winning tap of each output in
/// `taps` (one byte per output).
pub fn max_pool1d_forward_keeping_taps<T: Float>(
    x: ArrayView3<'_, T>,
    config: Pool1dConfig,
    output: ArrayViewMut3<'_, T>,
    taps: &mut [u8],
) -> Result<(), TensorError> {
    forward_keeping_taps(x, None, config, output, taps)
}

/// A leaky ReLU of `negative_slope` then [`max_pool1d_forward_keeping_taps`]
/// (`LeakyReLU` then `MaxPooling1D`, as in the answer's model): besides the
/// winning taps, which side of the kink each input was on goes to
/// `positive` (one byte per input, as long as `x`). Backward
/// ([`leaky_max_pool1d_backward_from_taps`]) needs those bytes only, so the
/// activation's input can go back at once instead of being kept, read
/// again and activated again. The same outputs as
/// [`super::leaky_max_pool1d_forward_into`].
pub fn leaky_max_pool1d_forward_keeping_taps<T: Float>(
    x: ArrayView3<'_, T>,
    negative_slope: T,
    config: Pool1dConfig,
    output: ArrayViewMut3<'_, T>,
    (taps, positive): (&mut [u8], &mut [u8]),
) -> Result<(), TensorError> {
    forward_keeping_taps(x, Some((negative_slope, positive)), config, output, taps)
}

/// Forward keeping taps, after a leaky ReLU (its slope, and the input's
/// side of the kink to keep) when given.
fn forward_keeping_taps<T: Float>(
    x: ArrayView3<'_, T>,
    kink: Option<(T, &mut [u8])>,
    config: Pool1dConfig,
    mut output: ArrayViewMut3<'_, T>,
    taps: &mut [u8],
) -> Result<(), TensorError> {
    // Errors name the public kernel the caller called.
    let kernel = match &kink {
        Some(_) => "leaky_max_pool1d_forward_keeping_taps",
        None => "max_pool1d_forward_keeping_taps",
    };
    check_taps(kernel, &config)?;
    let (batch, channels, length) = x.dim();
    let window = max_pool_window(kernel, length, config)?;
    let out = window.output_length;
    let y = standard_slice_mut(kernel, "output", &[batch, channels, out], &mut output)?;
    check_length(kernel, "taps", y.len(), taps.len())?;
    if let Some((_, positive)) = &kink {
        check_length(kernel, "positive", x.len(), positive.len())?;
    }
    let x = x.as_standard_layout();
    let x = x
        .as_slice()
        .expect("invariant: as_standard_layout returns a contiguous array");
    let rows = rows_per_block(length);
    let slope = kink.as_ref().map(|(slope, _)| *slope);
    let sides: Vec<Option<&mut [u8]>> = match kink {
        Some((_, positive)) => positive.chunks_mut(rows * length).map(Some).collect(),
        None => (0..x.len().div_ceil(rows * length)).map(|_| None).collect(),
    };
    let blocks: Vec<_> = x
        .chunks(rows * length)
        .zip(y.chunks_mut(rows * out))
        .zip(taps.chunks_mut(rows * out))
        .zip(sides)
        .collect();
    for_each_block(
        pool_work(x.len(), &config),
        blocks,
        || RowScratch::<T>::new(config.pool_size, length, out, slope.is_some()),
        |scratch: &mut RowScratch<T>, (((x, y), taps), mut sides)| {
            for (r, ((row, y), taps)) in x
                .chunks_exact(length)
                .zip(y.chunks_exact_mut(out))
                .zip(taps.chunks_exact_mut(out))
                .enumerate()
            {
                let pooled = match (slope, sides.as_deref_mut()) {
                    (Some(slope), Some(sides)) => {
                        let positive = &mut sides[r * length..][..length];
                        kink_forward_into(row, &mut scratch.activated, positive, slope);
                        &scratch.activated[..]
                    }
                    _ => row,
                };
                max_pool_row_taps(pooled, &window, y, &mut scratch.winners);
                for (byte, &tap) in taps.iter_mut().zip(&scratch.winners) {
                    // Invariant: a tap is below the pool size, at most SCAN_LIMIT.
                    *byte = tap as u8;
                }
            }
        },
    );
    Ok(())
}

/// The gradient with respect to a pool's output, as a backward pass from
/// taps reads it.
#[derive(Debug, Clone, Copy)]
pub enum PooledGradient<'a, T> {
    /// The values, `[B, C, L_out]`.
    Values(ArrayView3<'a, T>),
    /// `∂loss/∂y[b, c, p] = scale[b] · weights[c · L_out + p]`: what a
    /// one-unit dense layer on the flattened output hands back (its output
    /// gradient times its kernel). Backward makes each row where it reads
    /// it, the same products, so the `B · C · L_out` values are never
    /// written to memory and read back (the answer's and the question's
    /// `Dense(1)` heads on 133,120 features).
    RankOne {
        /// One factor per sample, `[B]`.
        scale: &'a [T],
        /// One factor per output of a sample, `[C · L_out]`.
        weights: &'a [T],
    },
}

impl<'a, T> From<ArrayView3<'a, T>> for PooledGradient<'a, T> {
    fn from(values: ArrayView3<'a, T>) -> Self {
        PooledGradient::Values(values)
    }
}

/// Max pooling backward from the taps [`max_pool1d_forward_keeping_taps`]
/// kept: overwrites `grad_input` (`[B, C, L]`, standard layout) with
/// `∂loss/∂x`.
pub fn max_pool1d_backward_from_taps<'a, T: Float>(
    grad_input: ArrayViewMut3<'_, T>,
    grad_output: impl Into<PooledGradient<'a, T>>,
    config: Pool1dConfig,
    taps: &[u8],
) -> Result<(), TensorError> {
    backward_from_taps(grad_input, grad_output.into(), None, config, taps)
}

/// The backward pass of [`leaky_max_pool1d_forward_keeping_taps`] from the
/// bytes it kept: overwrites `grad_input` (`[B, C, L]`, standard layout)
/// with the gradient with respect to the leaky ReLU's input, the same bits
/// as [`super::leaky_max_pool1d_backward_in_place`].
pub fn leaky_max_pool1d_backward_from_taps<'a, T: Float>(
    grad_input: ArrayViewMut3<'_, T>,
    grad_output: impl Into<PooledGradient<'a, T>>,
    negative_slope: T,
    config: Pool1dConfig,
    (taps, positive): (&[u8], &[u8]),
) -> Result<(), TensorError> {
    backward_from_taps(
        grad_input,
        grad_output.into(),
        Some((negative_slope, positive)),
        config,
        taps,
    )
}

/// The output gradient's values as one standard-layout slice, or its two
/// factors, after checking them against the pool's output `[B, C, out]`.
enum OutputGradient<'a, T: Float> {
    Values(std::borrow::Cow<'a, [T]>),
    RankOne { scale: &'a [T], weights: &'a [T] },
}

impl<'a, T: Float> OutputGradient<'a, T> {
    fn checked(
        kernel: &'static str,
        source: PooledGradient<'a, T>,
        [batch, channels, out]: [usize; 3],
    ) -> Result<Self, TensorError> {
        match source {
            PooledGradient::Values(values) => {
                if values.shape() != [batch, channels, out] {
                    return Err(TensorError::Shape {
                        kernel,
                        argument: "grad_output",
                        expected: vec![batch, channels, out],
                        found: values.shape().to_vec(),
                    });
                }
                let values = match values.to_slice() {
                    Some(slice) => std::borrow::Cow::Borrowed(slice),
                    None => std::borrow::Cow::Owned(values.iter().copied().collect()),
                };
                Ok(OutputGradient::Values(values))
            }
            PooledGradient::RankOne { scale, weights } => {
                check_length(kernel, "scale", batch, scale.len())?;
                check_length(kernel, "weights", channels * out, weights.len())?;
                Ok(OutputGradient::RankOne { scale, weights })
            }
        }
    }

    /// Row `row` (sample `row / channels`, channel `row % channels`) of
    /// `out` values: a slice of the values, or made in `buffer`.
    fn row<'b>(&'b self, row: usize, channels: usize, out: usize, buffer: &'b mut [T]) -> &'b [T] {
        match self {
            OutputGradient::Values(values) => &values[row * out..][..out],
            OutputGradient::RankOne { scale, weights } => {
                let (sample, channel) = (row / channels, row % channels);
                let factor = scale[sample];
                let buffer = &mut buffer[..out];
                for (value, &weight) in buffer.iter_mut().zip(&weights[channel * out..][..out]) {
                    // The dense layer's own product, `dy · w`.
                    *value = factor * weight;
                }
                buffer
            }
        }
    }
}

/// Backward from taps, times a leaky ReLU's derivative (its slope, and
/// which inputs were above the kink) when given.
fn backward_from_taps<T: Float>(
    mut grad_input: ArrayViewMut3<'_, T>,
    grad_output: PooledGradient<'_, T>,
    kink: Option<(T, &[u8])>,
    config: Pool1dConfig,
    taps: &[u8],
) -> Result<(), TensorError> {
    // Errors name the public kernel the caller called.
    let kernel = match &kink {
        Some(_) => "leaky_max_pool1d_backward_from_taps",
        None => "max_pool1d_backward_from_taps",
    };
    check_taps(kernel, &config)?;
    if let Some((_, positive)) = &kink {
        check_length(kernel, "positive", grad_input.len(), positive.len())?;
    }
    let (batch, channels, length) = grad_input.dim();
    let window = max_pool_window(kernel, length, config)?;
    let out = window.output_length;
    let gy = OutputGradient::checked(kernel, grad_output, [batch, channels, out])?;
    let dx = standard_slice_mut(
        kernel,
        "grad_input",
        &[batch, channels, length],
        &mut grad_input,
    )?;
    check_length(kernel, "taps", batch * channels * out, taps.len())?;
    let rows = rows_per_block(length);
    let sides: Vec<Option<&[u8]>> = match kink {
        Some((_, positive)) => positive.chunks(rows * length).map(Some).collect(),
        None => vec![None; dx.len().div_ceil(rows * length)],
    };
    let slope = kink.map(|(slope, _)| slope);
    let blocks: Vec<_> = dx
        .chunks_mut(rows * length)
        .zip(taps.chunks(rows * out))
        .zip(sides)
        .enumerate()
        .collect();
    for_each_block(
        pool_work(batch * channels * out, &config),
        blocks,
        || RowScratch::<T>::new(config.pool_size, length, out, false),
        |scratch: &mut RowScratch<T>, (block, ((dx, taps), sides))| {
            let RowScratch {
                winners, values, ..
            } = scratch;
            for (r, (row, taps)) in dx
                .chunks_exact_mut(length)
                .zip(taps.chunks_exact(out))
                .enumerate()
            {
                for (tap, &byte) in winners.iter_mut().zip(taps) {
                    *tap = u32::from(byte);
                }
                let gy = gy.row(block * rows + r, channels, out, values);
                gradient_from_taps(row, gy, &winners[..out], &window);
                if let (Some(slope), Some(sides)) = (slope, sides) {
                    kink_backward_block(row, &sides[r * length..][..length], slope);
                }
            }
        },
    );
    Ok(())
}

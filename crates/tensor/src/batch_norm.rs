//! Batch normalization over the channels of a contiguous `[B, C, L]` buffer:
//! per-channel statistics, the normalizing pass and the backward sums.
//!
//! Sums run in eight interleaved lanes per row so that they vectorize, in a
//! fixed order (rows in batch order, lanes folded left to right), and the
//! channels are split across threads only as whole channels: the result is
//! the same bits for any thread count.

use rayon::prelude::*;

use crate::layout::check_length;
use crate::parallel::for_each_block;
use crate::sum::lane_sum;
use crate::{Float, TensorError};

/// Geometry of the buffer: `batch` samples of `channels` rows of `length`.
#[derive(Debug, Clone, Copy)]
pub struct Ncl {
    /// Samples.
    pub batch: usize,
    /// Channels (normalized separately).
    pub channels: usize,
    /// Elements per channel row.
    pub length: usize,
}

impl Ncl {
    fn row<'a, T>(&self, data: &'a [T], b: usize, c: usize) -> &'a [T] {
        &data[(b * self.channels + c) * self.length..][..self.length]
    }
    fn count(&self) -> usize {
        self.batch * self.length
    }
}

/// Per channel, `Σ_b Σ_l f(a, b)` over the rows of that channel.
fn channel_sums<T: Float>(
    shape: Ncl,
    a: &[T],
    b: &[T],
    f: impl Fn(usize, T, T) -> T + Sync,
) -> Vec<T> {
    let channel = |c: usize| {
        (0..shape.batch).fold(T::zero(), |s, n| {
            s + lane_sum(shape.row(a, n, c), shape.row(b, n, c), |x, y| f(c, x, y))
        })
    };
    if crate::threads() > 1 && shape.channels > 1 {
        (0..shape.channels).into_par_iter().map(channel).collect()
    } else {
        (0..shape.channels).map(channel).collect()
    }
}

/// The batch mean and biased variance of every channel.
pub fn batch_statistics<T: Float>(shape: Ncl, x: &[T]) -> (Vec<T>, Vec<T>) {
    let count = T::from_usize(shape.count()).unwrap_or_else(T::one);
    let mean: Vec<T> = channel_sums(shape, x, x, |_, v, _| v)
        .into_iter()
        .map(|s| s / count)
        .collect();
    let variance = channel_sums(shape, x, x, |c, v, _| (v - mean[c]) * (v - mean[c]))
        .into_iter()
        .map(|s| s / count)
        .collect();
    (mean, variance)
}

/// Writes `x̂ = (x − mean)·inv_std` into `x` in place and `γ·x̂ + β` into
/// `output` (as long as `x`; callers reuse it from step to step).
pub fn normalize<T: Float>(
    shape: Ncl,
    x: &mut [T],
    mean: &[T],
    inv_std: &[T],
    gamma: &[T],
    beta: &[T],
    output: &mut [T],
) -> Result<(), TensorError> {
    check_length("batch_norm", "output", x.len(), output.len())?;
    let length = shape.length.max(1);
    let rows: Vec<_> = x
        .chunks_mut(length)
        .zip(output.chunks_mut(length))
        .enumerate()
        .collect();
    for_each_block(
        rows,
        || (),
        |_, (index, (xhat, out))| {
            let c = index % shape.channels;
            for (h, o) in xhat.iter_mut().zip(out.iter_mut()) {
                *h = (*h - mean[c]) * inv_std[c];
                *o = *h * gamma[c] + beta[c];
            }
        },
    );
    Ok(())
}

/// Backward: returns `(Σdy, Σdy·x̂)` per channel, and turns `dy` into
/// `dx = γ·inv_std/N · (N·dy − Σdy − x̂·Σ(dy·x̂))` in place.
pub fn batch_norm_backward<T: Float>(
    shape: Ncl,
    dy: &mut [T],
    xhat: &[T],
    gamma: &[T],
    inv_std: &[T],
) -> (Vec<T>, Vec<T>) {
    let sum_dy = channel_sums(shape, dy, dy, |_, g, _| g);
    let sum_dy_xhat = channel_sums(shape, dy, xhat, |_, g, h| g * h);
    let count = T::from_usize(shape.count()).unwrap_or_else(T::one);
    let row = |(index, (g, h)): (usize, (&mut [T], &[T]))| {
        let c = index % shape.channels;
        let scale = gamma[c] * inv_std[c] / count;
        for (g, &h) in g.iter_mut().zip(h) {
            *g = scale * (count * *g - sum_dy[c] - h * sum_dy_xhat[c]);
        }
    };
    let length = shape.length.max(1);
    if crate::threads() > 1 && shape.batch * shape.channels > 1 {
        dy.par_chunks_mut(length)
            .zip(xhat.par_chunks(length))
            .enumerate()
            .for_each(row);
    } else {
        dy.chunks_mut(length)
            .zip(xhat.chunks(length))
            .enumerate()
            .for_each(row);
    }
    (sum_dy, sum_dy_xhat)
}

//! Max, average and global average pooling over the length axis of NCL
//! arrays, forward and backward.
//!
//! `same` padding follows Keras: max pooling pads with values that never win
//! (padding is skipped), and average pooling divides by the number of real
//! elements in each window, not by the pool size.
//!
//! The row kernels live here; `in_place` holds the buffer-reusing max pool
//! (and its fusion with a leaky ReLU), `small_windows` the one-pass scan of
//! small stride-1 windows.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis, Zip};
use serde::{Deserialize, Serialize};

use crate::parallel::{for_each_block, rows_per_block};
use crate::{Float, Padding, TensorError, Window};

mod in_place;
mod small_windows;

pub use in_place::{
    leaky_max_pool1d_backward_in_place, leaky_max_pool1d_forward_into,
    max_pool1d_backward_in_place, max_pool1d_forward_into,
};

/// Pool size, stride and padding of a 1D pooling layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool1dConfig {
    /// Window size.
    pub pool_size: usize,
    /// Step between windows (Keras defaults it to `pool_size`).
    pub stride: usize,
    /// Keras padding mode.
    pub padding: Padding,
}

impl Pool1dConfig {
    /// The window geometry for an input of `input_length`.
    pub fn window(&self, input_length: usize) -> Result<Window, TensorError> {
        Window::new(
            "pool1d",
            input_length,
            self.pool_size,
            self.stride,
            1,
            self.padding,
        )
    }
}

/// Whether `candidate` beats the current maximum `best`: strictly greater,
/// or NaN over a number (so NaN propagates). Ties keep the earlier element.
#[inline]
fn beats<T: Float>(candidate: T, best: T) -> bool {
    candidate > best || (candidate.is_nan() && !best.is_nan())
}

/// Pools up to this size scan each window directly; larger ones use the
/// monotonic deque, whose bookkeeping only pays off for long windows.
const SCAN_LIMIT: usize = 16;

/// The index in `row` of window `p`'s maximum, scanning the window in
/// order (ties keep the earlier element; see [`beats`]).
fn window_winner<T: Float>(row: &[T], window: &Window, p: usize) -> usize {
    let span = window_span(window, p);
    let mut best = span.start;
    for i in span.start + 1..span.end {
        if beats(row[i], row[best]) {
            best = i;
        }
    }
    best
}

/// The stride-1 output positions `start..end` whose windows lie wholly
/// inside the row: there, tap `t` of output `p` reads `p + t - pad_left`.
fn interior(window: &Window, out: usize) -> (usize, usize) {
    let start = window.pad_left.min(out);
    let end = (window.input_length + window.pad_left + 1)
        .saturating_sub(window.size)
        .clamp(start, out);
    (start, end)
}

/// One row of max pooling by scanning every window: `O(L * pool)`, but on
/// contiguous memory and vectorized for stride 1, which wins for small pools.
fn max_pool_row_scan<T: Float>(row: &[T], window: &Window, y: &mut [T], idx: &mut [u32]) {
    let out = y.len();
    // Stride-1 windows that lie wholly inside the row are done tap by tap
    // over the whole run of positions: simple loops the compiler vectorizes.
    let (interior_start, interior_end) = if window.stride == 1 {
        interior(window, out)
    } else {
        (out, out)
    };
    for p in (0..interior_start).chain(interior_end..out) {
        let best = window_winner(row, window, p);
        y[p] = row[best];
        // Lengths were checked to fit u32 by the caller.
        idx[p] = best as u32;
    }
    if interior_start == interior_end {
        return;
    }
    let first = interior_start - window.pad_left;
    let count = interior_end - interior_start;
    let ys = &mut y[interior_start..interior_end];
    let is = &mut idx[interior_start..interior_end];
    ys.copy_from_slice(&row[first..first + count]);
    for (j, slot) in is.iter_mut().enumerate() {
        *slot = (first + j) as u32;
    }
    for tap in 1..window.size {
        let candidates = &row[first + tap..first + tap + count];
        for (j, ((best, slot), &value)) in
            ys.iter_mut().zip(is.iter_mut()).zip(candidates).enumerate()
        {
            let better = beats(value, *best);
            *best = if better { value } else { *best };
            *slot = if better {
                (first + tap + j) as u32
            } else {
                *slot
            };
        }
    }
}

/// [`max_pool_row_scan`] for stride 1 without the winners: the same
/// comparisons in the same order, so the same maxima.
fn max_pool_row_values<T: Float>(row: &[T], window: &Window, y: &mut [T]) {
    let out = y.len();
    let (start, end) = interior(window, out);
    for p in (0..start).chain(end..out) {
        let span = window_span(window, p);
        let mut best = row[span.start];
        for &value in &row[span.start + 1..span.end] {
            if beats(value, best) {
                best = value;
            }
        }
        y[p] = best;
    }
    if start == end {
        return;
    }
    let first = start - window.pad_left;
    let count = end - start;
    let ys = &mut y[start..end];
    if small_windows::window_maxima(&row[first..], window.size, ys) {
        return;
    }
    ys.copy_from_slice(&row[first..first + count]);
    for tap in 1..window.size {
        for (best, &value) in ys.iter_mut().zip(&row[first + tap..first + tap + count]) {
            *best = if beats(value, *best) { value } else { *best };
        }
    }
}

/// [`max_pool_row_scan`] for stride 1, keeping for each output the tap of
/// its window that won (`0..size`) rather than the input's index: the
/// same comparisons in the same order, with 32-bit lanes throughout.
fn max_pool_row_taps<T: Float>(row: &[T], window: &Window, y: &mut [T], taps: &mut [u32]) {
    let out = y.len();
    let (start, end) = interior(window, out);
    for p in (0..start).chain(end..out) {
        let best = window_winner(row, window, p);
        y[p] = row[best];
        // Input `best` is tap `best + pad_left - p` of window `p`; taps are
        // below the pool size, which fits u32 as the row length does.
        taps[p] = (best + window.pad_left - p) as u32;
    }
    if start == end {
        return;
    }
    let first = start - window.pad_left;
    let count = end - start;
    let (ys, ts) = (&mut y[start..end], &mut taps[start..end]);
    ys.copy_from_slice(&row[first..first + count]);
    ts.fill(0);
    for tap in 1..window.size {
        let code = tap as u32;
        let candidates = &row[first + tap..first + tap + count];
        for ((best, slot), &value) in ys.iter_mut().zip(ts.iter_mut()).zip(candidates) {
            let better = beats(value, *best);
            *best = if better { value } else { *best };
            *slot = if better { code } else { *slot };
        }
    }
}

/// One row of max pooling with a monotonic deque of candidate indices:
/// windows move right, so each element enters and leaves the deque once and
/// a row costs `O(L)` whatever the pool size.
fn max_pool_row_deque<T: Float>(
    row: &[T],
    window: &Window,
    y: &mut [T],
    idx: &mut [u32],
    queue: &mut std::collections::VecDeque<usize>,
) {
    queue.clear();
    let mut next = 0;
    for (p, (y, idx)) in y.iter_mut().zip(idx.iter_mut()).enumerate() {
        let span = window_span(window, p);
        while next < span.end {
            while queue.back().is_some_and(|&b| beats(row[next], row[b])) {
                queue.pop_back();
            }
            queue.push_back(next);
            next += 1;
        }
        while queue.front().is_some_and(|&f| f < span.start) {
            queue.pop_front();
        }
        // Every window holds at least one real element, so the queue is
        // non-empty here; fall back to the window start.
        let best = queue.front().copied().unwrap_or(span.start);
        *y = row[best];
        // Lengths were checked to fit u32 by the caller.
        *idx = best as u32;
    }
}

/// Which input element won each max-pool window: what backward routes the
/// gradient to. Indices are positions along the length axis.
#[derive(Debug, Clone)]
pub struct MaxPoolIndices {
    winners: Array3<u32>,
    input_length: usize,
}

/// Max pooling forward: returns the pooled `[B, C, L_out]` and the winners.
///
/// Ties go to the first (leftmost) maximum. A NaN in a window wins it, so a
/// NaN is propagated, not hidden.
pub fn max_pool1d_forward<T: Float>(
    x: ArrayView3<'_, T>,
    config: Pool1dConfig,
) -> Result<(Array3<T>, MaxPoolIndices), TensorError> {
    let (batch, channels, length) = x.dim();
    let window = max_pool_window("max_pool1d_forward", length, config)?;
    let out = window.output_length;
    let x = x.as_standard_layout();
    let x = x
        .as_slice()
        .expect("invariant: as_standard_layout returns a contiguous array");
    let mut output = Array3::<T>::zeros((batch, channels, out));
    let mut winners = Array3::<u32>::zeros((batch, channels, out));
    let output_rows = output
        .as_slice_mut()
        .expect("invariant: a fresh array is contiguous");
    let winner_rows = winners
        .as_slice_mut()
        .expect("invariant: a fresh array is contiguous");
    // Rows are independent, so splitting them across threads changes no bit.
    let rows = rows_per_block(length);
    let blocks: Vec<_> = x
        .chunks(rows * length)
        .zip(output_rows.chunks_mut(rows * out))
        .zip(winner_rows.chunks_mut(rows * out))
        .collect();
    for_each_block(
        pool_work(x.len(), &config),
        blocks,
        || RowScratch::new(config.pool_size, length, out, false),
        |scratch: &mut RowScratch<T>, ((x, y), idx)| {
            for ((row, y), idx) in x
                .chunks_exact(length)
                .zip(y.chunks_exact_mut(out))
                .zip(idx.chunks_exact_mut(out))
            {
                max_pool_row(row, &window, y, idx, &mut scratch.queue);
            }
        },
    );
    Ok((
        output,
        MaxPoolIndices {
            winners,
            input_length: length,
        },
    ))
}

/// Max pooling backward: routes each output gradient to its window's winner.
pub fn max_pool1d_backward<T: Float>(
    grad_output: ArrayView3<'_, T>,
    indices: &MaxPoolIndices,
) -> Result<Array3<T>, TensorError> {
    if grad_output.shape() != indices.winners.shape() {
        return Err(TensorError::Shape {
            kernel: "max_pool1d_backward",
            argument: "grad_output",
            expected: indices.winners.shape().to_vec(),
            found: grad_output.shape().to_vec(),
        });
    }
    let (batch, channels, out) = grad_output.dim();
    let length = indices.input_length;
    let grad_output = grad_output.as_standard_layout();
    let gy = grad_output
        .as_slice()
        .expect("invariant: as_standard_layout returns a contiguous array");
    let winners = indices
        .winners
        .as_slice()
        .expect("invariant: winners are built contiguous");
    let mut grad_x = Array3::<T>::zeros((batch, channels, length));
    let gx_rows = grad_x
        .as_slice_mut()
        .expect("invariant: a fresh array is contiguous")
        .chunks_exact_mut(length);
    for ((gx, gy), idx) in gx_rows
        .zip(gy.chunks_exact(out))
        .zip(winners.chunks_exact(out))
    {
        for (&g, &i) in gy.iter().zip(idx) {
            gx[i as usize] += g;
        }
    }
    Ok(grad_x)
}

/// Adds each output gradient `gy[p]` at its winner `winners[p]` (an index
/// into `row`) in `row`.
fn scatter_to_winners<T: Float>(row: &mut [T], gy: &[T], winners: &[u32], window: &Window) {
    if window.stride != 1 || window.size > SCAN_LIMIT {
        for (&g, &i) in gy.iter().zip(winners) {
            row[i as usize] += g;
        }
        return;
    }
    // Lengths were checked to fit u32 by the caller.
    scatter_tap_by_tap(row, gy, winners, window, |_, input| input as u32);
}

/// Adds each output gradient `gy[p]` in `row` at the input its window's
/// tap `taps[p]` reads: a stride-1 pool (see [`max_pool_row_taps`]).
fn scatter_to_taps<T: Float>(row: &mut [T], gy: &[T], taps: &[u32], window: &Window) {
    scatter_tap_by_tap(row, gy, taps, window, |tap, _| tap as u32);
}

/// The scatter of a small stride-1 pool, tap by tap: for tap `t`, output
/// `p` can only have won input `p + t - pad_left`, so each tap is one
/// contiguous, vectorizable pass that adds `gy[p]` where `winners[p]`
/// equals `code(t, p + t - pad_left)` and zero elsewhere. Taps run from the
/// last to the first so that each input receives its outputs' gradients in
/// increasing `p`, the order of a plain scatter.
fn scatter_tap_by_tap<T: Float>(
    row: &mut [T],
    gy: &[T],
    winners: &[u32],
    window: &Window,
    code: impl Fn(usize, usize) -> u32,
) {
    let (length, pad) = (window.input_length, window.pad_left);
    for tap in (0..window.size).rev() {
        // Outputs whose tap `tap` reads a real input: 0 <= p + tap - pad < length.
        let start = pad.saturating_sub(tap).min(gy.len());
        let end = (length + pad).saturating_sub(tap).clamp(start, gy.len());
        if start == end {
            continue;
        }
        let first = start + tap - pad;
        let targets = &mut row[first..first + (end - start)];
        for (j, ((target, &g), &winner)) in targets
            .iter_mut()
            .zip(&gy[start..end])
            .zip(&winners[start..end])
            .enumerate()
        {
            let won = winner == code(tap, first + j);
            *target += if won { g } else { T::zero() };
        }
    }
}

/// The window of a max pool over rows of `length`, which must fit the `u32`
/// winner indices.
fn max_pool_window(
    kernel: &'static str,
    length: usize,
    config: Pool1dConfig,
) -> Result<Window, TensorError> {
    if u32::try_from(length).is_err() {
        return Err(TensorError::Config {
            kernel,
            field: "input_length",
            reason: format!("{length} exceeds u32::MAX"),
        });
    }
    config.window(length)
}

/// One row of max pooling: `y` gets each window's maximum and `idx` the
/// position of its winner. Small pools scan, large ones keep a deque.
fn max_pool_row<T: Float>(
    row: &[T],
    window: &Window,
    y: &mut [T],
    idx: &mut [u32],
    queue: &mut std::collections::VecDeque<usize>,
) {
    if window.size <= SCAN_LIMIT {
        max_pool_row_scan(row, window, y, idx);
    } else {
        max_pool_row_deque(row, window, y, idx, queue);
    }
}

/// Element passes of pooling `elements` inputs: the window scans compare
/// each input with about `pool_size` others (the long windows keep a
/// monotone queue, which costs as much in branches and stores).
fn pool_work(elements: usize, config: &Pool1dConfig) -> usize {
    elements * config.pool_size.max(1)
}

/// A thread's buffers for pooling rows: the deque of large pools, one row
/// of winners and maxima for the passes that do not keep them, and, for a
/// pool fused with a leaky ReLU before it, the activated input row and
/// which side of the kink each input was on.
struct RowScratch<T> {
    queue: std::collections::VecDeque<usize>,
    winners: Vec<u32>,
    values: Vec<T>,
    activated: Vec<T>,
    positive: Vec<u8>,
}

impl<T: Float> RowScratch<T> {
    /// Buffers for rows of `length` inputs and `out` outputs; the
    /// activated row only when `activated` (a fused leaky ReLU).
    fn new(pool_size: usize, length: usize, out: usize, activated: bool) -> Self {
        let length = if activated { length } else { 0 };
        Self {
            queue: std::collections::VecDeque::with_capacity(pool_size),
            winners: vec![0; out],
            values: vec![T::zero(); out],
            activated: vec![T::zero(); length],
            positive: vec![0; length],
        }
    }
}

/// The range of real (non-padding) input elements window `p` covers.
#[inline(always)]
fn window_span(window: &Window, p: usize) -> std::ops::Range<usize> {
    let start = (p * window.stride).saturating_sub(window.pad_left);
    let end = (p * window.stride + window.size)
        .saturating_sub(window.pad_left)
        .min(window.input_length);
    start..end
}

/// Average pooling forward, dividing by each window's count of real elements.
pub fn avg_pool1d_forward<T: Float>(
    x: ArrayView3<'_, T>,
    config: Pool1dConfig,
) -> Result<Array3<T>, TensorError> {
    let (batch, channels, length) = x.dim();
    let window = config.window(length)?;
    let out = window.output_length;
    let mut output = Array3::<T>::zeros((batch, channels, out));
    Zip::from(output.lanes_mut(Axis(2)))
        .and(x.lanes(Axis(2)))
        .for_each(|mut y, row| {
            for p in 0..out {
                let span = window_span(&window, p);
                let count = T::from_usize(span.len()).unwrap_or_else(T::one);
                let sum: T = span.map(|i| row[i]).sum();
                y[p] = sum / count;
            }
        });
    Ok(output)
}

/// Average pooling backward: each window's gradient is spread evenly over
/// its real elements.
pub fn avg_pool1d_backward<T: Float>(
    grad_output: ArrayView3<'_, T>,
    input_length: usize,
    config: Pool1dConfig,
) -> Result<Array3<T>, TensorError> {
    let (batch, channels, out) = grad_output.dim();
    let window = config.window(input_length)?;
    if out != window.output_length {
        return Err(TensorError::Shape {
            kernel: "avg_pool1d_backward",
            argument: "grad_output",
            expected: vec![batch, channels, window.output_length],
            found: grad_output.shape().to_vec(),
        });
    }
    let mut grad_x = Array3::<T>::zeros((batch, channels, input_length));
    Zip::from(grad_x.lanes_mut(Axis(2)))
        .and(grad_output.lanes(Axis(2)))
        .for_each(|mut gx, gy| {
            for (p, &g) in gy.iter().enumerate() {
                let span = window_span(&window, p);
                let share = g / T::from_usize(span.len()).unwrap_or_else(T::one);
                for i in span {
                    gx[i] += share;
                }
            }
        });
    Ok(grad_x)
}

/// Global average pooling: `[B, C, L] -> [B, C]`.
pub fn global_avg_pool1d_forward<T: Float>(x: ArrayView3<'_, T>) -> Array2<T> {
    let length = T::from_usize(x.dim().2.max(1)).unwrap_or_else(T::one);
    x.map_axis(Axis(2), |row| row.iter().copied().sum::<T>() / length)
}

/// Global average pooling backward: `[B, C] -> [B, C, L]`.
pub fn global_avg_pool1d_backward<T: Float>(
    grad_output: ArrayView2<'_, T>,
    input_length: usize,
) -> Array3<T> {
    let (batch, channels) = grad_output.dim();
    let scale = T::one() / T::from_usize(input_length.max(1)).unwrap_or_else(T::one);
    Array3::from_shape_fn((batch, channels, input_length), |(b, c, _)| {
        grad_output[[b, c]] * scale
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[f64]) -> Array3<f64> {
        Array3::from_shape_vec((1, 1, values.len()), values.to_vec()).expect("shape")
    }

    #[test]
    fn same_max_pool_never_lets_padding_win() {
        let x = row(&[-5.0, -4.0, -3.0, -2.0]);
        let cfg = Pool1dConfig {
            pool_size: 3,
            stride: 1,
            padding: Padding::Same,
        };
        let (y, _) = max_pool1d_forward(x.view(), cfg).expect("fits");
        // A zero pad would win every window of negatives.
        assert_eq!(
            y.iter().copied().collect::<Vec<_>>(),
            vec![-4.0, -3.0, -2.0, -2.0]
        );
    }

    #[test]
    fn same_avg_pool_divides_by_real_elements() {
        let x = row(&[1.0, 2.0, 3.0, 4.0]);
        let cfg = Pool1dConfig {
            pool_size: 3,
            stride: 1,
            padding: Padding::Same,
        };
        let y = avg_pool1d_forward(x.view(), cfg).expect("fits");
        assert_eq!(
            y.iter().copied().collect::<Vec<_>>(),
            vec![1.5, 2.0, 3.0, 3.5]
        );
    }

    #[test]
    fn valid_pool_with_default_stride() {
        let x = row(&[1.0, 5.0, 2.0, 0.0, 7.0]);
        let cfg = Pool1dConfig {
            pool_size: 2,
            stride: 2,
            padding: Padding::Valid,
        };
        let (y, idx) = max_pool1d_forward(x.view(), cfg).expect("fits");
        assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![5.0, 2.0]);
        let g = max_pool1d_backward(row(&[1.0, 10.0]).view(), &idx).expect("shapes agree");
        assert_eq!(
            g.iter().copied().collect::<Vec<_>>(),
            vec![0.0, 1.0, 10.0, 0.0, 0.0]
        );
    }

    /// The deque must agree with the definition: the leftmost maximum of
    /// each window's real elements.
    #[test]
    fn sliding_max_matches_a_direct_scan() {
        let values: Vec<f64> = (0..37).map(|i| ((i * 7919) % 13) as f64).collect();
        let x = row(&values);
        for (pool_size, stride, padding) in [
            (1, 1, Padding::Valid),
            (4, 1, Padding::Same),
            (5, 2, Padding::Same),
            (3, 3, Padding::Valid),
            (40, 1, Padding::Same),
            (9, 1, Padding::Same),
            (16, 1, Padding::Same),
            (2, 1, Padding::Valid),
            (37, 1, Padding::Same),
            (10, 4, Padding::Same),
        ] {
            let cfg = Pool1dConfig {
                pool_size,
                stride,
                padding,
            };
            let (y, idx) = max_pool1d_forward(x.view(), cfg).expect("fits");
            let window = cfg.window(values.len()).expect("fits");
            for p in 0..window.output_length {
                let span = window_span(&window, p);
                let mut best = span.start;
                for i in span.clone() {
                    if values[i] > values[best] {
                        best = i;
                    }
                }
                assert_eq!(
                    idx.winners[[0, 0, p]] as usize,
                    best,
                    "{cfg:?} position {p}"
                );
                assert_eq!(y[[0, 0, p]], values[best]);
            }
        }
    }

    #[test]
    fn nan_wins_the_max() {
        let x = row(&[1.0, f64::NAN, 2.0]);
        let cfg = Pool1dConfig {
            pool_size: 3,
            stride: 3,
            padding: Padding::Valid,
        };
        let (y, _) = max_pool1d_forward(x.view(), cfg).expect("fits");
        assert!(y[[0, 0, 0]].is_nan());
    }

    #[test]
    fn global_average_backward_spreads_evenly() {
        let x = row(&[1.0, 2.0, 3.0, 6.0]);
        let y = global_avg_pool1d_forward(x.view());
        assert_eq!(y[[0, 0]], 3.0);
        let g = global_avg_pool1d_backward(y.view(), 4);
        assert!(g.iter().all(|&v| v == 0.75));
    }
}

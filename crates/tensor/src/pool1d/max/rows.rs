//! The row kernels of max pooling: each window's winner (ties to the
//! left, NaN wins) by a direct scan for small pools or a monotone deque
//! for large ones, and the scatter of output gradients onto winners.

use super::super::{window_span, Pool1dConfig};
use super::small_windows;
use crate::{Float, TensorError, Window};

/// Whether `candidate` beats the current maximum `best`: strictly greater,
/// or NaN over a number (so NaN propagates). Ties keep the earlier element.
#[inline]
pub(super) fn beats<T: Float>(candidate: T, best: T) -> bool {
    candidate > best || (candidate.is_nan() && !best.is_nan())
}

/// Pools up to this size scan each window directly; larger ones use the
/// monotonic deque, whose bookkeeping only pays off for long windows.
pub(super) const SCAN_LIMIT: usize = 16;

/// The index in `row` of window `p`'s maximum, scanning the window in
/// order (ties keep the earlier element; see [`beats`]).
pub(super) fn window_winner<T: Float>(row: &[T], window: &Window, p: usize) -> usize {
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
pub(super) fn interior(window: &Window, out: usize) -> (usize, usize) {
    let start = window.pad_left.min(out);
    let end = (window.input_length + window.pad_left + 1)
        .saturating_sub(window.size)
        .clamp(start, out);
    (start, end)
}

/// One row of max pooling by scanning every window: `O(L * pool)`, but on
/// contiguous memory and vectorized for stride 1, which wins for small pools.
pub(super) fn max_pool_row_scan<T: Float>(
    row: &[T],
    window: &Window,
    y: &mut [T],
    idx: &mut [u32],
) {
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
    let plain = without_nan(row, first, count, window.size);
    for tap in 1..window.size {
        let candidates = &row[first + tap..first + tap + count];
        for (j, ((best, slot), &value)) in
            ys.iter_mut().zip(is.iter_mut()).zip(candidates).enumerate()
        {
            let better = better_of(plain, value, *best);
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
pub(super) fn max_pool_row_values<T: Float>(row: &[T], window: &Window, y: &mut [T]) {
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
    let plain = without_nan(row, first, count, window.size);
    for tap in 1..window.size {
        for (best, &value) in ys.iter_mut().zip(&row[first + tap..first + tap + count]) {
            *best = if better_of(plain, value, *best) {
                value
            } else {
                *best
            };
        }
    }
}

/// Whether the inputs the interior's windows read, `count` windows of
/// `size` from `first`, hold no NaN: the tap-by-tap loops then compare
/// with a plain `>` ([`better_of`]; see `small_windows`).
fn without_nan<T: Float>(row: &[T], first: usize, count: usize, size: usize) -> bool {
    !small_windows::may_hold_nan(&row[first..first + count + size - 1])
}

/// Whether `value` beats `best`: `>` when `plain` (no NaN among the
/// inputs, where the two agree), else [`beats`]. `plain` is the same for
/// a whole loop, which the compiler then runs as two loops, each
/// vectorized.
#[inline(always)]
fn better_of<T: Float>(plain: bool, value: T, best: T) -> bool {
    if plain {
        value > best
    } else {
        beats(value, best)
    }
}

/// [`max_pool_row_scan`] for stride 1, keeping for each output the tap of
/// its window that won (`0..size`) rather than the input's index: the
/// same comparisons in the same order, with 32-bit lanes throughout.
pub(super) fn max_pool_row_taps<T: Float>(
    row: &[T],
    window: &Window,
    y: &mut [T],
    taps: &mut [u32],
) {
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
    if small_windows::window_winners(&row[first..], window.size, ys, ts) {
        return;
    }
    ys.copy_from_slice(&row[first..first + count]);
    ts.fill(0);
    let plain = without_nan(row, first, count, window.size);
    for tap in 1..window.size {
        let code = tap as u32;
        let candidates = &row[first + tap..first + tap + count];
        for ((best, slot), &value) in ys.iter_mut().zip(ts.iter_mut()).zip(candidates) {
            let better = better_of(plain, value, *best);
            *best = if better { value } else { *best };
            *slot = if better { code } else { *slot };
        }
    }
}

/// One row of max pooling with a monotonic deque of candidate indices:
/// windows move right, so each element enters and leaves the deque once and
/// a row costs `O(L)` whatever the pool size.
pub(super) fn max_pool_row_deque<T: Float>(
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

/// Adds each output gradient `gy[p]` at its winner `winners[p]` (an index
/// into `row`) in `row`.
pub(super) fn scatter_to_winners<T: Float>(
    row: &mut [T],
    gy: &[T],
    winners: &[u32],
    window: &Window,
) {
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
pub(super) fn scatter_to_taps<T: Float>(row: &mut [T], gy: &[T], taps: &[u32], window: &Window) {
    scatter_tap_by_tap(row, gy, taps, window, |tap, _| tap as u32);
}

/// Overwrites `row` with the input gradient of a small stride-1 pool
/// from each output's winning tap (see [`max_pool_row_taps`]): the sums
/// of [`scatter_to_taps`] onto a cleared row, in their order, so the same
/// bits. The inputs every tap of whose windows lie in the output go in one
/// pass (`small_windows::gather_by_taps`); the few at the edges, and pools
/// wider than it takes, by clearing and scattering.
pub(super) fn gradient_from_taps<T: Float>(row: &mut [T], gy: &[T], taps: &[u32], window: &Window) {
    let (size, pad) = (window.size, window.pad_left);
    // Input i is read by windows i + pad - t for taps t in 0..size: all of
    // them outputs when size - 1 - pad <= i < out - pad.
    let start = size.saturating_sub(1 + pad).min(row.len());
    let outputs = gy.len().min(taps.len());
    let end = outputs.saturating_sub(pad).clamp(start, row.len());
    // Below `end`, start + pad >= size - 1: the first window is an output.
    let first_window = (start + pad + 1).saturating_sub(size);
    if start == end
        || !small_windows::gather_by_taps(gy, taps, size, &mut row[start..end], first_window)
    {
        row.fill(T::zero());
        scatter_to_taps(row, gy, taps, window);
        return;
    }
    for i in (0..start).chain(end..row.len()) {
        let mut total = T::zero();
        for tap in (0..size).rev() {
            let Some(p) = (i + pad).checked_sub(tap) else {
                continue;
            };
            if p < outputs && taps[p] == tap as u32 {
                total += gy[p];
            }
        }
        row[i] = total;
    }
}

/// The scatter of a small stride-1 pool, tap by tap: for tap `t`, output
/// `p` can only have won input `p + t - pad_left`, so each tap is one
/// contiguous, vectorizable pass that adds `gy[p]` where `winners[p]`
/// equals `code(t, p + t - pad_left)` and zero elsewhere. Taps run from the
/// last to the first so that each input receives its outputs' gradients in
/// increasing `p`, the order of a plain scatter.
pub(super) fn scatter_tap_by_tap<T: Float>(
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
pub(super) fn max_pool_window(
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
pub(super) fn max_pool_row<T: Float>(
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
pub(super) fn pool_work(elements: usize, config: &Pool1dConfig) -> usize {
    elements * config.pool_size.max(1)
}

/// A thread's buffers for pooling rows: the deque of large pools, one row
/// of winners and maxima for the passes that do not keep them (backward
/// from taps makes a row of the output gradient in the maxima's), and, for a
/// pool fused with a leaky ReLU before it, the activated input row and
/// which side of the kink each input was on.
pub(super) struct RowScratch<T> {
    pub(super) queue: std::collections::VecDeque<usize>,
    pub(super) winners: Vec<u32>,
    pub(super) values: Vec<T>,
    pub(super) activated: Vec<T>,
    pub(super) positive: Vec<u8>,
}

impl<T: Float> RowScratch<T> {
    /// Buffers for rows of `length` inputs and `out` outputs; the
    /// activated row only when `activated` (a fused leaky ReLU).
    pub(super) fn new(pool_size: usize, length: usize, out: usize, activated: bool) -> Self {
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

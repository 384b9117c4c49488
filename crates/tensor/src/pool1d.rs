//! Max, average and global average pooling over the length axis of NCL
//! arrays, forward and backward.
//!
//! `same` padding follows Keras: max pooling pads with values that never win
//! (padding is skipped), and average pooling divides by the number of real
//! elements in each window, not by the pool size.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis, Zip};
use serde::{Deserialize, Serialize};

use crate::{Float, Padding, TensorError, Window};

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

/// One row of max pooling by scanning every window: `O(L * pool)`, but on
/// contiguous memory and vectorized for stride 1, which wins for small pools.
fn max_pool_row_scan<T: Float>(row: &[T], window: &Window, y: &mut [T], idx: &mut [u32]) {
    let out = y.len();
    // Stride-1 windows that lie wholly inside the row are done tap by tap
    // over the whole run of positions: simple loops the compiler vectorizes.
    let (interior_start, interior_end) = if window.stride == 1 {
        let start = window.pad_left.min(out);
        let end = (window.input_length + window.pad_left + 1)
            .saturating_sub(window.size)
            .clamp(start, out);
        (start, end)
    } else {
        (out, out)
    };
    for p in (0..interior_start).chain(interior_end..out) {
        let span = window_span(window, p);
        let mut best = span.start;
        for i in span.start + 1..span.end {
            if beats(row[i], row[best]) {
                best = i;
            }
        }
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
    if u32::try_from(length).is_err() {
        return Err(TensorError::Config {
            kernel: "max_pool1d_forward",
            field: "input_length",
            reason: format!("{length} exceeds u32::MAX"),
        });
    }
    let window = config.window(length)?;
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
    let pool_row = |queue: &mut std::collections::VecDeque<usize>,
                    ((row, y), idx): ((&[T], &mut [T]), &mut [u32])| {
        if config.pool_size <= SCAN_LIMIT {
            max_pool_row_scan(row, &window, y, idx);
        } else {
            max_pool_row_deque(row, &window, y, idx, queue);
        }
    };
    // Rows are independent, so splitting them across threads changes no bit.
    if crate::threads() > 1 && batch * channels > 1 {
        use rayon::prelude::*;
        x.par_chunks_exact(length)
            .zip(output_rows.par_chunks_exact_mut(out))
            .zip(winner_rows.par_chunks_exact_mut(out))
            .for_each_init(
                || std::collections::VecDeque::with_capacity(config.pool_size),
                pool_row,
            );
    } else {
        let mut queue = std::collections::VecDeque::with_capacity(config.pool_size);
        x.chunks_exact(length)
            .zip(output_rows.chunks_exact_mut(out))
            .zip(winner_rows.chunks_exact_mut(out))
            .for_each(|rows| pool_row(&mut queue, rows));
    }
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

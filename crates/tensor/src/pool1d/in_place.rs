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

use super::{
    max_pool_row, max_pool_row_taps, max_pool_row_values, max_pool_window, pool_work,
    scatter_to_taps, scatter_to_winners, RowScratch, SCAN_LIMIT,
};
use crate::elementwise::{kink_backward_block, kink_forward_into};
use crate::layout::{check_length, standard_slice_mut};
use crate::parallel::{for_each_block, rows_per_block};
use crate::{Float, TensorError};

use super::Pool1dConfig;

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
                        row.fill(T::zero());
                        scatter_to_taps(row, gy, winners, &window);
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
mod tests {
    use super::*;
    use crate::elementwise::{kink_backward_in_place, kink_forward_in_place};
    use crate::pool1d::{max_pool1d_backward, max_pool1d_forward};
    use crate::Padding;
    use ndarray::Array3;

    /// Rows with ties, a NaN and zeros of both signs.
    fn tricky_input() -> Array3<f32> {
        Array3::from_shape_fn((3, 5, 41), |(b, c, i)| {
            match ((b * 7 + c * 3 + i) % 6, i % 2) {
                _ if (b, c, i) == (1, 2, 7) => f32::NAN,
                // Zeros of both signs tie with each other.
                (0, 1) => -0.0,
                (value, _) => value as f32 - 2.5,
            }
        })
    }

    /// Output gradients of both signs, zeros among them.
    fn output_gradient(out: usize) -> Array3<f32> {
        Array3::from_shape_fn((3, 5, out), |(b, c, p)| {
            ((b + c + p) % 5) as f32 * 0.5 - 1.0
        })
    }

    fn bits(a: &Array3<f32>) -> Vec<u32> {
        a.iter().map(|v| v.to_bits()).collect()
    }

    /// Small and large pools, both paddings, strides 1 and 2.
    const CONFIGS: [(usize, usize, Padding); 12] = [
        (3, 1, Padding::Same),
        (2, 1, Padding::Same),
        (4, 1, Padding::Same),
        (3, 1, Padding::Valid),
        (2, 1, Padding::Valid),
        (5, 1, Padding::Same),
        (10, 1, Padding::Same),
        (4, 1, Padding::Valid),
        (20, 1, Padding::Same),
        (4, 2, Padding::Valid),
        (2, 2, Padding::Same),
        (3, 2, Padding::Same),
    ];

    fn config((pool_size, stride, padding): (usize, usize, Padding)) -> Pool1dConfig {
        Pool1dConfig {
            pool_size,
            stride,
            padding,
        }
    }

    /// The buffer-reusing pair (no winners kept, winners found again in
    /// backward) gives the same bits as the pair that keeps them: ties,
    /// a NaN, scanned and deque windows, many rows across threads.
    #[test]
    fn in_place_pooling_matches_the_pooling_that_keeps_winners() {
        let x = tricky_input();
        for threads in [1, 2] {
            crate::set_threads(threads);
            for cfg in CONFIGS.map(config) {
                let (want_y, winners) = max_pool1d_forward(x.view(), cfg).expect("fits");
                let dy = output_gradient(want_y.dim().2);
                let want_dx = max_pool1d_backward(dy.view(), &winners).expect("fits");
                // Winners found again in backward, and winners kept by forward.
                for keep in [false, true] {
                    let mut kept = vec![7u32; want_y.len()];
                    let mut y = Array3::from_elem(want_y.dim(), 9.0f32);
                    let slot = keep.then_some(&mut kept[..]);
                    max_pool1d_forward_into(x.view(), cfg, y.view_mut(), slot).expect("fits");
                    assert_eq!(bits(&y), bits(&want_y), "{cfg:?}");
                    let mut dx = x.clone();
                    let slot = keep.then_some(&kept[..]);
                    max_pool1d_backward_in_place(dx.view_mut(), dy.view(), cfg, slot)
                        .expect("fits");
                    assert_eq!(bits(&dx), bits(&want_dx), "{cfg:?} keep={keep}");
                }
            }
        }
        crate::set_threads(1);
    }

    #[test]
    fn in_place_pooling_refuses_a_misshapen_buffer() {
        let x = Array3::<f32>::zeros((1, 2, 8));
        let cfg = Pool1dConfig {
            pool_size: 2,
            stride: 2,
            padding: Padding::Valid,
        };
        let mut wrong = Array3::<f32>::zeros((1, 2, 5));
        let err = max_pool1d_forward_into(x.view(), cfg, wrong.view_mut(), None).unwrap_err();
        assert!(matches!(
            err,
            TensorError::Shape {
                argument: "output",
                ..
            }
        ));
        let mut transposed = Array3::<f32>::zeros((1, 4, 2));
        let mut view = transposed.view_mut();
        view.swap_axes(1, 2);
        let err = max_pool1d_forward_into(x.view(), cfg, view, None).unwrap_err();
        assert!(matches!(
            err,
            TensorError::Layout {
                argument: "output",
                ..
            }
        ));
    }

    /// A leaky ReLU fused into the pool gives the same bits as the
    /// activation's own pass followed by the pool, forward and backward,
    /// with winners kept or found again, on 1 and 2 threads.
    #[test]
    fn fused_leaky_relu_matches_the_two_passes() {
        let z = tricky_input();
        let slope = 0.1f32;
        for threads in [1, 2] {
            crate::set_threads(threads);
            for cfg in CONFIGS.map(config) {
                let mut activated = z.clone();
                let mut positive = vec![0u8; z.len()];
                let values = activated.as_slice_mut().expect("fresh array");
                kink_forward_in_place(values, &mut positive, slope).expect("same lengths");
                let out = cfg.window(41).expect("fits").output_length;
                let dy = output_gradient(out);
                for keep in [false, true] {
                    let mut want_y = Array3::zeros((3, 5, out));
                    let mut kept = vec![0u32; want_y.len()];
                    let slot = keep.then_some(&mut kept[..]);
                    max_pool1d_forward_into(activated.view(), cfg, want_y.view_mut(), slot)
                        .expect("fits");
                    let mut want_dz = activated.clone();
                    let slot = keep.then_some(&kept[..]);
                    max_pool1d_backward_in_place(want_dz.view_mut(), dy.view(), cfg, slot)
                        .expect("fits");
                    let grad = want_dz.as_slice_mut().expect("fresh array");
                    kink_backward_in_place(grad, &positive, slope).expect("same lengths");

                    let mut y = Array3::from_elem((3, 5, out), 9.0f32);
                    let mut fused_kept = vec![7u32; y.len()];
                    let slot = keep.then_some(&mut fused_kept[..]);
                    leaky_max_pool1d_forward_into(z.view(), slope, cfg, y.view_mut(), slot)
                        .expect("fits");
                    assert_eq!(bits(&y), bits(&want_y), "{cfg:?} keep={keep}");
                    let mut dz = z.clone();
                    let slot = keep.then_some(&fused_kept[..]);
                    leaky_max_pool1d_backward_in_place(dz.view_mut(), dy.view(), slope, cfg, slot)
                        .expect("fits");
                    assert_eq!(bits(&dz), bits(&want_dz), "{cfg:?} keep={keep}");
                }
            }
        }
        crate::set_threads(1);
    }
}

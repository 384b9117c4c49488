//! The products of a Dense layer with one unit: the seed's `Dense(1)` head
//! over 133,120 inputs is a matrix times a vector, forward and backward.
//!
//! A GEMM library runs such thin products on one thread, and backward
//! takes two passes over the layer's input (the kernel gradient reads it,
//! the input gradient writes over it). They are bound by memory, not by
//! arithmetic, so here they split across threads by rows (forward) or by
//! columns (backward), and backward reads each input element once and
//! writes its gradient in its place. Each sum runs in an order fixed by the
//! shapes: rows in order for the kernel gradient, [`crate::sum`]'s lanes
//! for a row's dot product, so the bits do not depend on the thread count.

use crate::layout::check_length;
use crate::parallel::{for_each_block, BLOCK_ELEMENTS};
use crate::sum::lane_sum;
use crate::{Float, TensorError};

/// `y[b] = Σ_i x[b, i] · w[i]` for every row `b` of `x` (`[y.len(),
/// w.len()]`, row-major), added to `y[b]` when `accumulate` (a bias put
/// there first).
pub fn single_unit_forward<T: Float>(
    x: &[T],
    w: &[T],
    y: &mut [T],
    accumulate: bool,
) -> Result<(), TensorError> {
    check_length("single_unit_forward", "x", y.len() * w.len(), x.len())?;
    if w.is_empty() {
        // No features: every dot product is an empty sum.
        if !accumulate {
            y.fill(T::zero());
        }
        return Ok(());
    }
    let features = w.len();
    let blocks: Vec<_> = x.chunks(features).zip(y.iter_mut()).collect();
    for_each_block(
        x.len(),
        blocks,
        || (),
        |_, (row, y)| {
            let dot = lane_sum(row, w, |a, b| a * b);
            *y = if accumulate { *y + dot } else { dot };
        },
    );
    Ok(())
}

/// The backward pass of [`single_unit_forward`] given `dy = ∂loss/∂y`:
/// adds `Σ_b dy[b] · x[b, i]` (rows in order) to `grad_w[i]`, and
/// overwrites `x` with `∂loss/∂x[b, i] = dy[b] · w[i]`, in one pass.
pub fn single_unit_backward_in_place<T: Float>(
    x: &mut [T],
    dy: &[T],
    w: &[T],
    grad_w: &mut [T],
) -> Result<(), TensorError> {
    let kernel = "single_unit_backward";
    check_length(kernel, "x", dy.len() * w.len(), x.len())?;
    check_length(kernel, "grad_w", w.len(), grad_w.len())?;
    let (work, features) = (x.len(), w.len().max(1));
    let columns = columns_per_block(dy.len(), features);
    let mut pieces: Vec<Vec<&mut [T]>> = (0..features.div_ceil(columns))
        .map(|_| Vec::with_capacity(dy.len()))
        .collect();
    for row in x.chunks_mut(features) {
        for (piece, block) in row.chunks_mut(columns).zip(&mut pieces) {
            block.push(piece);
        }
    }
    let blocks: Vec<_> = pieces
        .into_iter()
        .zip(w.chunks(columns))
        .zip(grad_w.chunks_mut(columns))
        .collect();
    for_each_block(
        work,
        blocks,
        || (),
        |_, ((rows, w), grad_w)| {
            for (piece, &g) in rows.into_iter().zip(dy) {
                backward_piece(piece, g, w, grad_w);
            }
        },
    );
    Ok(())
}

/// The kernel gradient of [`single_unit_backward_in_place`] alone: adds
/// `Σ_b dy[b] · x[b, i]` (rows in order, the same bits) to `grad_w[i]`,
/// reading `x` once. For a caller that makes the input gradient
/// `dy[b] · w[i]` where it is read instead of storing it
/// (`PooledGradient::RankOne`).
pub fn single_unit_kernel_gradient<T: Float>(
    x: &[T],
    dy: &[T],
    grad_w: &mut [T],
) -> Result<(), TensorError> {
    let kernel = "single_unit_kernel_gradient";
    check_length(kernel, "x", dy.len() * grad_w.len(), x.len())?;
    let features = grad_w.len().max(1);
    let columns = columns_per_block(dy.len(), features);
    let blocks: Vec<_> = grad_w
        .chunks_mut(columns)
        .enumerate()
        .map(|(k, grad_w)| (k * columns, grad_w))
        .collect();
    for_each_block(
        x.len(),
        blocks,
        || (),
        |_, (first, grad_w)| {
            for (row, &g) in x.chunks(features).zip(dy) {
                for (grad_w, &x) in grad_w.iter_mut().zip(&row[first..]) {
                    *grad_w += g * x;
                }
            }
        },
    );
    Ok(())
}

/// Columns per block of the backward passes: each block's kernel gradient
/// stays in cache while every row's piece of it streams through.
fn columns_per_block(rows: usize, features: usize) -> usize {
    (BLOCK_ELEMENTS / rows.max(1)).max(64).min(features)
}

/// One row's piece of [`single_unit_backward_in_place`]: a function of its
/// own so that its slices are known not to overlap, which lets it
/// vectorize.
fn backward_piece<T: Float>(x: &mut [T], g: T, w: &[T], grad_w: &mut [T]) {
    for ((x, &w), grad_w) in x.iter_mut().zip(w).zip(grad_w) {
        *grad_w += g * *x;
        *x = g * w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(rows: usize, features: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let x = (0..rows * features)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
            .collect();
        let w = (0..features)
            .map(|i| ((i * 13 % 29) as f32 - 14.0) / 9.0)
            .collect();
        let dy = (0..rows).map(|b| b as f32 * 0.25 - 1.0).collect();
        (x, w, dy)
    }

    #[test]
    fn products_match_a_plain_loop_in_f64() {
        // Many column blocks, and fewer features than one block.
        for (rows, features) in [(5, 3001), (2, 11)] {
            check_products(rows, features);
        }
    }

    fn check_products(rows: usize, features: usize) {
        let (x, w, dy) = inputs(rows, features);
        let mut y = vec![0.5f32; rows];
        single_unit_forward(&x, &w, &mut y, true).expect("shapes fit");
        let mut grad_w = vec![1.0f32; features];
        let mut gx = x.clone();
        single_unit_backward_in_place(&mut gx, &dy, &w, &mut grad_w).expect("shapes fit");
        for b in 0..rows {
            let want: f64 = 0.5
                + (0..features)
                    .map(|i| f64::from(x[b * features + i]) * f64::from(w[i]))
                    .sum::<f64>();
            assert!(
                (f64::from(y[b]) - want).abs() < 1e-3 * want.abs().max(1.0),
                "row {b}"
            );
            for i in 0..features {
                assert_eq!(gx[b * features + i], dy[b] * w[i]);
            }
        }
        for i in 0..features {
            let want: f64 = 1.0
                + (0..rows)
                    .map(|b| f64::from(dy[b]) * f64::from(x[b * features + i]))
                    .sum::<f64>();
            assert!((f64::from(grad_w[i]) - want).abs() < 1e-5 * want.abs().max(1.0));
        }
    }

    #[test]
    fn one_and_two_threads_give_the_same_bits() {
        let (rows, features) = (9, 70_001);
        let (x, w, dy) = inputs(rows, features);
        let run = |threads| {
            crate::Runtime::new(threads)
                .expect("threads start")
                .run(|| {
                    let mut y = vec![0.0f32; rows];
                    single_unit_forward(&x, &w, &mut y, false).expect("shapes fit");
                    let mut grad_w = vec![0.0f32; features];
                    let mut gx = x.clone();
                    single_unit_backward_in_place(&mut gx, &dy, &w, &mut grad_w)
                        .expect("shapes fit");
                    let mut kernel_only = vec![0.0f32; features];
                    single_unit_kernel_gradient(&x, &dy, &mut kernel_only).expect("shapes fit");
                    let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    // The kernel gradient alone has the bits of the pass that
                    // also writes the input gradient.
                    assert_eq!(bits(&kernel_only), bits(&grad_w));
                    (bits(&y), bits(&grad_w), bits(&gx))
                })
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn misshapen_operands_are_refused() {
        let (x, w, dy) = inputs(3, 10);
        let mut y = vec![0.0f32; 4];
        let err = single_unit_forward(&x, &w, &mut y, false).unwrap_err();
        assert!(
            matches!(err, TensorError::Shape { argument: "x", .. }),
            "{err}"
        );
        let (mut gx, mut grad_w) = (x.clone(), vec![0.0f32; 9]);
        let err = single_unit_backward_in_place(&mut gx, &dy, &w, &mut grad_w).unwrap_err();
        assert!(
            matches!(
                err,
                TensorError::Shape {
                    argument: "grad_w",
                    ..
                }
            ),
            "{err}"
        );
        let err = single_unit_kernel_gradient(&x, &dy[1..], &mut grad_w).unwrap_err();
        assert!(
            matches!(err, TensorError::Shape { argument: "x", .. }),
            "{err}"
        );
    }
}

//! Batch normalization over the channels of a contiguous `[B, C, L]` buffer:
//! per-channel statistics, the normalizing pass and the backward sums.
//!
//! Sums run in interleaved lanes per row so that they vectorize
//! (`sum::lane_sum`), in a fixed order (rows in batch order, lanes folded
//! left to right), and the channels are split across threads only as whole
//! channels: the result is the same bits for any thread count.
//!
//! Every sum over a channel (a training batch's mean and variance,
//! backward's `Σdy` and `Σdy·x̂`) is accumulated in f64 whatever the
//! element type, as PyTorch's CPU kernels accumulate them, and rounded to
//! the element type once. In f32 they put FCN's float32 output 2.3 times
//! as far from float64 as PyTorch's, and ResNet's gradients 2.6–3.1 times
//! with the GEMM's AVX2 kernels (`tests/parity/graph_f32_accuracy.rs`,
//! with ELU). For f64 data the sums are the same as before, in the same
//! order: the same bits.

use crate::layout::check_length;
use crate::parallel::for_each_block;
use crate::sum::lane_sum_in;
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
    fn count(&self) -> usize {
        self.batch * self.length
    }
}

/// Each channel's rows in batch order: `grouped[c][b]` is row `(b, c)` of a
/// `[B, C, L]` buffer cut into rows.
fn rows_by_channel<R>(shape: Ncl, rows: impl Iterator<Item = R>) -> Vec<Vec<R>> {
    let mut grouped: Vec<Vec<R>> = (0..shape.channels)
        .map(|_| Vec::with_capacity(shape.batch))
        .collect();
    for (index, row) in rows.enumerate() {
        grouped[index % shape.channels].push(row);
    }
    grouped
}

/// `Σ_rows Σ_l f(a, b)` accumulated in f64: lane sums per row, added in
/// batch order.
fn rows_sum<'a, T: Float + 'a>(
    rows: impl Iterator<Item = (&'a [T], &'a [T])>,
    f: impl Fn(T, T) -> f64 + Copy,
) -> f64 {
    rows.fold(0.0, |total, (a, b)| total + lane_sum_in(a, b, f))
}

/// Where a forward pass takes its statistics from.
#[derive(Debug, Clone, Copy)]
pub enum Statistics<'a, T> {
    /// The batch's own mean and biased variance (training).
    Batch,
    /// Given per-channel mean and variance (inference: the moving ones).
    Given {
        /// Mean of every channel.
        mean: &'a [T],
        /// Variance of every channel.
        variance: &'a [T],
    },
}

/// Per-channel results of a forward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelStatistics<T> {
    /// The mean used.
    pub mean: Vec<T>,
    /// The variance used.
    pub variance: Vec<T>,
    /// `1 / sqrt(variance + epsilon)`.
    pub inv_std: Vec<T>,
}

/// Forward pass: writes `x̂ = (x − mean)·inv_std` into `x` in place and
/// `γ·x̂ + β` into `output` (as long as `x`; callers reuse it from step to
/// step), and returns the statistics it used.
///
/// Channel by channel: a channel's rows (`B x L` values, 133 KB for the
/// seed's batch of 32) are read from memory once for the mean and stay in
/// cache for the variance and the normalizing pass.
pub fn batch_norm_forward<T: Float>(
    shape: Ncl,
    x: &mut [T],
    statistics: Statistics<'_, T>,
    epsilon: T,
    gamma: &[T],
    beta: &[T],
    output: &mut [T],
) -> Result<ChannelStatistics<T>, TensorError> {
    check_length("batch_norm", "output", x.len(), output.len())?;
    for (argument, values) in [("gamma", gamma), ("beta", beta)] {
        check_length("batch_norm", argument, shape.channels, values.len())?;
    }
    if let Statistics::Given { mean, variance } = statistics {
        check_length("batch_norm", "mean", shape.channels, mean.len())?;
        check_length("batch_norm", "variance", shape.channels, variance.len())?;
    }
    let length = shape.length.max(1);
    let mut results = vec![(T::zero(), T::zero(), T::zero()); shape.channels];
    let channels: Vec<_> = rows_by_channel(shape, x.chunks_mut(length))
        .into_iter()
        .zip(rows_by_channel(shape, output.chunks_mut(length)))
        .zip(results.iter_mut())
        .enumerate()
        .collect();
    for_each_block(
        shape.channels * shape.count(),
        channels,
        || (),
        |_, (c, ((mut xs, mut outs), result))| {
            let (mean, variance) = match statistics {
                Statistics::Batch => {
                    // Two passes over rows in cache, in f64 (see the
                    // module's comment), rounded to `T` once.
                    let n = shape.count().max(1) as f64;
                    let rows = || xs.iter().map(|r| (&**r, &**r));
                    let mean = rows_sum(rows(), |v: T, _| v.to_f64_lossless()) / n;
                    let squares = |v: T, _| {
                        let centred = v.to_f64_lossless() - mean;
                        centred * centred
                    };
                    let variance = rows_sum(rows(), squares) / n;
                    (T::from_f64_lossy(mean), T::from_f64_lossy(variance))
                }
                Statistics::Given { mean, variance } => (mean[c], variance[c]),
            };
            let inv_std = T::one() / (variance + epsilon).sqrt();
            let affine = (gamma[c], beta[c]);
            for (xhat, out) in xs.iter_mut().zip(outs.iter_mut()) {
                normalize_row(xhat, out, mean, inv_std, affine);
            }
            *result = (mean, variance, inv_std);
        },
    );
    Ok(ChannelStatistics {
        mean: results.iter().map(|r| r.0).collect(),
        variance: results.iter().map(|r| r.1).collect(),
        inv_std: results.iter().map(|r| r.2).collect(),
    })
}

/// Inference in place: `x ← γ·(x − mean)·inv_std + β` with given
/// per-channel statistics, the same operations in the same order as
/// [`batch_norm_forward`] with [`Statistics::Given`] (so the same bits),
/// without the normalized copy training keeps: one buffer read and
/// written once, no output to allocate.
pub fn batch_norm_inference_in_place<T: Float>(
    shape: Ncl,
    x: &mut [T],
    (mean, variance): (&[T], &[T]),
    epsilon: T,
    gamma: &[T],
    beta: &[T],
) -> Result<(), TensorError> {
    check_length("batch_norm", "x", shape.channels * shape.count(), x.len())?;
    for (argument, values) in [
        ("gamma", gamma),
        ("beta", beta),
        ("mean", mean),
        ("variance", variance),
    ] {
        check_length("batch_norm", argument, shape.channels, values.len())?;
    }
    let length = shape.length.max(1);
    let channels: Vec<_> = rows_by_channel(shape, x.chunks_mut(length))
        .into_iter()
        .enumerate()
        .collect();
    for_each_block(
        shape.channels * shape.count(),
        channels,
        || (),
        |_, (c, rows)| {
            let map = ChannelMap::new(mean[c], variance[c], epsilon, gamma[c], beta[c]);
            for row in rows {
                map.apply(row);
            }
        },
    );
    Ok(())
}

/// One channel's inference map, `x ← γ·(x − mean)·inv_std + β`, with
/// [`batch_norm_inference_in_place`]'s operations in its order: applied to
/// a convolution's output rows while they are in cache
/// ([`crate::RowEpilogue`]), it gives the same bits as the layer's own
/// pass over the whole batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelMap<T> {
    mean: T,
    inv_std: T,
    gamma: T,
    beta: T,
}

impl<T: Float> ChannelMap<T> {
    /// The map of a channel with moving statistics `mean` and `variance`
    /// and affine weights `gamma` and `beta`.
    pub fn new(mean: T, variance: T, epsilon: T, gamma: T, beta: T) -> Self {
        Self {
            mean,
            inv_std: T::one() / (variance + epsilon).sqrt(),
            gamma,
            beta,
        }
    }

    /// Normalizes `values` in place.
    pub fn apply(&self, values: &mut [T]) {
        for v in values.iter_mut() {
            let xhat = (*v - self.mean) * self.inv_std;
            *v = xhat * self.gamma + self.beta;
        }
    }
}

/// Backward: returns `(Σdy, Σdy·x̂)` per channel, and turns `dy` into
/// `dx = γ·inv_std/N · (N·dy − Σdy − x̂·Σ(dy·x̂))` in place, channel by
/// channel so that each channel's rows are read from memory once.
pub fn batch_norm_backward<T: Float>(
    shape: Ncl,
    dy: &mut [T],
    xhat: &[T],
    gamma: &[T],
    inv_std: &[T],
) -> (Vec<T>, Vec<T>) {
    let length = shape.length.max(1);
    let count = T::from_usize(shape.count()).unwrap_or_else(T::one);
    let mut sums = vec![(T::zero(), T::zero()); shape.channels];
    let channels: Vec<_> = rows_by_channel(shape, dy.chunks_mut(length))
        .into_iter()
        .zip(rows_by_channel(shape, xhat.chunks(length)))
        .zip(sums.iter_mut())
        .enumerate()
        .collect();
    for_each_block(
        shape.channels * shape.count(),
        channels,
        || (),
        |_, (c, ((mut gs, hs), result))| {
            let sum_dy = rows_sum(gs.iter().map(|g| (&**g, &**g)), |g: T, _| {
                g.to_f64_lossless()
            });
            let pairs = gs.iter().zip(&hs).map(|(g, h)| (&**g, *h));
            let sum_dy_xhat = rows_sum(pairs, |g: T, h: T| {
                g.to_f64_lossless() * h.to_f64_lossless()
            });
            let (sum_dy, sum_dy_xhat) = (T::from_f64_lossy(sum_dy), T::from_f64_lossy(sum_dy_xhat));
            let scale = gamma[c] * inv_std[c] / count;
            for (g, h) in gs.iter_mut().zip(&hs) {
                input_gradient_row(g, h, scale, count, (sum_dy, sum_dy_xhat));
            }
            *result = (sum_dy, sum_dy_xhat);
        },
    );
    (
        sums.iter().map(|s| s.0).collect(),
        sums.iter().map(|s| s.1).collect(),
    )
}

/// One row of the forward pass: `x̂ = (x − mean)·inv_std` in place and
/// `out = x̂·γ + β`. A function rather than a loop inside the channel's
/// closure: as arguments the two rows are known not to overlap, and γ and β
/// are values, so the loop vectorizes (inside the closure it reloaded γ and
/// β per element and ran scalar).
fn normalize_row<T: Float>(xhat: &mut [T], out: &mut [T], mean: T, inv_std: T, affine: (T, T)) {
    let (gamma, beta) = affine;
    for (h, o) in xhat.iter_mut().zip(out.iter_mut()) {
        *h = (*h - mean) * inv_std;
        *o = scale_and_shift(*h, gamma, beta);
    }
}

/// `x̂·γ + β`: one expression for the forward pass and
/// [`batch_norm_output_from_normalized`], so the two give the same bits.
#[inline(always)]
fn scale_and_shift<T: Float>(xhat: T, gamma: T, beta: T) -> T {
    xhat * gamma + beta
}

/// The training forward pass's output again from the normalized input
/// `xhat` it kept: `output ← x̂·γ + β`, with the bits
/// [`batch_norm_forward`] gave (the same expression), so a model can
/// recompute the output in backward instead of keeping it.
pub fn batch_norm_output_from_normalized<T: Float>(
    shape: Ncl,
    xhat: &[T],
    gamma: &[T],
    beta: &[T],
    output: &mut [T],
) -> Result<(), TensorError> {
    let values = shape.channels * shape.count();
    check_length("batch_norm", "xhat", values, xhat.len())?;
    check_length("batch_norm", "output", values, output.len())?;
    for (argument, affine) in [("gamma", gamma), ("beta", beta)] {
        check_length("batch_norm", argument, shape.channels, affine.len())?;
    }
    let length = shape.length.max(1);
    // Row r of the standard-layout [B, C, L] batch is channel r % C.
    let channels = shape.channels;
    let rows: Vec<_> = xhat
        .chunks(length)
        .zip(output.chunks_mut(length))
        .enumerate()
        .collect();
    for_each_block(
        values,
        rows,
        || (),
        |_, (r, (xs, outs))| {
            scale_and_shift_row(xs, outs, gamma[r % channels], beta[r % channels]);
        },
    );
    Ok(())
}

/// One row of [`batch_norm_output_from_normalized`] (a function so the
/// loop vectorizes, as [`normalize_row`]).
fn scale_and_shift_row<T: Float>(xhat: &[T], out: &mut [T], gamma: T, beta: T) {
    for (o, &h) in out.iter_mut().zip(xhat) {
        *o = scale_and_shift(h, gamma, beta);
    }
}

/// One row of the input gradient, `dy ← scale·(N·dy − Σdy − x̂·Σ(dy·x̂))`
/// in place; a function for the same reason as [`normalize_row`].
fn input_gradient_row<T: Float>(dy: &mut [T], xhat: &[T], scale: T, count: T, sums: (T, T)) {
    let (sum_dy, sum_dy_xhat) = sums;
    for (g, &h) in dy.iter_mut().zip(xhat) {
        *g = scale * (count * *g - sum_dy - h * sum_dy_xhat);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    /// Whether `got` is `exact` rounded to f32 (within half an ulp, with
    /// a hair for the f64 sum's own rounding).
    fn correctly_rounded(got: f32, exact: f64) -> bool {
        let ulp = f64::from(got.abs().max(f32::MIN_POSITIVE)) * f64::from(f32::EPSILON);
        (f64::from(got) - exact).abs() <= 0.500_001 * ulp
    }

    #[test]
    fn batch_statistics_and_backward_sums_in_f32_are_the_f64_sums_rounded_once() {
        // An offset far above the spread, over 33,280 values a channel (the
        // answer's batch of 32 at 1040 points): f32 lane sums of these
        // drift by many ulps; f64 ones, rounded once, do not.
        let shape = Ncl {
            batch: 32,
            channels: 2,
            length: 1040,
        };
        let mut rng = SeededRng::new(9, 0);
        let x: Vec<f32> = (0..shape.batch * shape.channels * shape.length)
            .map(|_| 1000.0 + rng.normal() as f32 * 0.25)
            .collect();
        let dy: Vec<f32> = x.iter().map(|v| (v - 999.0) * 3.0).collect();
        let (gamma, beta) = ([1.0f32, 2.0], [0.0f32, 0.5]);
        let mut xhat = x.clone();
        let mut output = vec![0.0f32; x.len()];
        let statistics = batch_norm_forward(
            shape,
            &mut xhat,
            Statistics::Batch,
            1e-3,
            &gamma,
            &beta,
            &mut output,
        )
        .unwrap();
        let channel = |values: &[f32], c: usize| -> Vec<f64> {
            values
                .chunks(shape.length)
                .enumerate()
                .filter(|(row, _)| row % shape.channels == c)
                .flat_map(|(_, row)| row.iter().map(|&v| f64::from(v)))
                .collect()
        };
        let mut grad = dy.clone();
        let (sum_dy, sum_dy_xhat) =
            batch_norm_backward(shape, &mut grad, &xhat, &gamma, &statistics.inv_std);
        for c in 0..shape.channels {
            let values = channel(&x, c);
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            assert!(correctly_rounded(statistics.mean[c], mean), "mean {c}");
            assert!(
                correctly_rounded(statistics.variance[c], variance),
                "variance {c}"
            );
            let (dys, xhats) = (channel(&dy, c), channel(&xhat, c));
            let exact_dy: f64 = dys.iter().sum();
            let exact_dy_xhat: f64 = dys.iter().zip(&xhats).map(|(g, h)| g * h).sum();
            assert!(correctly_rounded(sum_dy[c], exact_dy), "Σdy {c}");
            assert!(
                correctly_rounded(sum_dy_xhat[c], exact_dy_xhat),
                "Σdy·x̂ {c}"
            );
        }
    }

    #[test]
    fn inference_in_place_gives_the_bits_of_the_forward_pass_with_given_statistics() {
        let shape = Ncl {
            batch: 3,
            channels: 4,
            length: 37,
        };
        let mut rng = SeededRng::new(5, 0);
        let mut values = |n: usize, offset: f32| -> Vec<f32> {
            (0..n).map(|_| rng.normal() as f32 + offset).collect()
        };
        let x = values(shape.batch * shape.channels * shape.length, 0.5);
        let (mean, variance) = (values(4, 0.0), values(4, 3.0));
        let variance: Vec<f32> = variance.iter().map(|v| v.abs()).collect();
        let (gamma, beta) = (values(4, 1.0), values(4, 0.0));
        let mut normalized = x.clone();
        let mut expected = vec![0.0f32; x.len()];
        let statistics = Statistics::Given {
            mean: &mean,
            variance: &variance,
        };
        batch_norm_forward(
            shape,
            &mut normalized,
            statistics,
            1e-3,
            &gamma,
            &beta,
            &mut expected,
        )
        .unwrap();
        let mut in_place = x.clone();
        batch_norm_inference_in_place(
            shape,
            &mut in_place,
            (&mean, &variance),
            1e-3,
            &gamma,
            &beta,
        )
        .unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&in_place), bits(&expected));
        assert_ne!(in_place, x, "the buffer was rewritten");
    }

    #[test]
    fn the_output_from_the_kept_normalized_input_has_the_forward_bits() {
        let shape = Ncl {
            batch: 3,
            channels: 5,
            length: 41,
        };
        let mut rng = SeededRng::new(9, 0);
        let mut values = |n: usize, offset: f32| -> Vec<f32> {
            (0..n).map(|_| rng.normal() as f32 + offset).collect()
        };
        let mut normalized = values(shape.batch * shape.channels * shape.length, 0.7);
        let (gamma, beta) = (values(5, 1.0), values(5, 0.0));
        let mut expected = vec![0.0f32; normalized.len()];
        batch_norm_forward(
            shape,
            &mut normalized,
            Statistics::Batch,
            1e-3,
            &gamma,
            &beta,
            &mut expected,
        )
        .unwrap();
        let mut again = vec![f32::NAN; normalized.len()];
        batch_norm_output_from_normalized(shape, &normalized, &gamma, &beta, &mut again).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&again), bits(&expected));
        let error =
            batch_norm_output_from_normalized(shape, &normalized, &gamma[..4], &beta, &mut again);
        assert!(error.is_err(), "a gamma of the wrong length is refused");
    }

    #[test]
    fn inference_in_place_refuses_statistics_of_the_wrong_length() {
        let shape = Ncl {
            batch: 1,
            channels: 2,
            length: 3,
        };
        let mut x = vec![0.0f32; 6];
        let error = batch_norm_inference_in_place(
            shape,
            &mut x,
            (&[0.0], &[1.0, 1.0]),
            1e-3,
            &[1.0, 1.0],
            &[0.0, 0.0],
        )
        .unwrap_err();
        assert!(error.to_string().contains("mean"), "{error}");
    }
}

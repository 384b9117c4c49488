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
use crate::prefetch::prefetch_following;
use crate::sum::{lane_sum_in, lane_sums_in};
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

/// `body(c, a_rows, b_rows, result)` for each channel `c` of two
/// `[B, C, L]` buffers cut into rows (`a` and `b`, each channel's rows in
/// batch order), with that channel's slot of `results`; whole channels to
/// a thread, so the bits do not depend on the thread count.
fn for_each_channel<A: Send, B: Send, R: Send>(
    shape: Ncl,
    (a, b): (impl Iterator<Item = A>, impl Iterator<Item = B>),
    results: &mut [R],
    body: impl Fn(usize, Vec<A>, Vec<B>, &mut R) + Sync + Send,
) {
    let channels: Vec<_> = rows_by_channel(shape, a)
        .into_iter()
        .zip(rows_by_channel(shape, b))
        .zip(results.iter_mut())
        .enumerate()
        .collect();
    for_each_block(
        shape.channels * shape.count(),
        channels,
        || (),
        |_, (c, ((a, b), result))| body(c, a, b, result),
    );
}

/// `Σ_rows Σ_l f(a, b)` accumulated in f64: lane sums per row, added in
/// batch order.
fn rows_sum<'a, T: Float + 'a>(
    rows: impl Iterator<Item = (&'a [T], &'a [T])>,
    f: impl Fn(T, T) -> f64 + Copy,
) -> f64 {
    rows.fold(0.0, |total, (a, b)| total + lane_sum_in(a, b, f))
}

/// Two such sums in one pass over the rows: the bits of two
/// [`rows_sum`] calls.
fn rows_sums<'a, T: Float + 'a>(
    rows: impl Iterator<Item = (&'a [T], &'a [T])>,
    f: impl Fn(T, T) -> (f64, f64) + Copy,
) -> (f64, f64) {
    rows.fold((0.0, 0.0), |(p, q), (a, b)| {
        let (row_p, row_q) = lane_sums_in(a, b, f);
        (p + row_p, q + row_q)
    })
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

/// What runs just before the normalization, fused into its passes: its
/// input is then the activation's input, and no activated copy of the
/// batch is written, kept or read again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Before<T> {
    /// Nothing: the input is normalized as it is.
    Nothing,
    /// A leaky ReLU of this negative slope (`x` above zero, else
    /// `x · slope`), as [`crate::elementwise::kink_forward_in_place`]
    /// computes it.
    LeakyRelu(T),
}

/// What runs just after the normalization, fused into its passes: the
/// output is then the activation's output, no normalized copy of the
/// batch is written, kept or read again, and backward takes the gradient
/// with respect to the activation's output (it computes the normalized
/// value again from the kept input to find each element's side of the
/// kink). Graphs run a BatchNormalization and the ReLU after it this way
/// in training (ResNet, FCN, InceptionTime).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum After<T> {
    /// Nothing: the output is the normalized value.
    Nothing,
    /// A ReLU (`y` above zero, else zero), with the bits and mask of a
    /// ReLU layer's own training passes.
    Relu,
    /// A leaky ReLU of this negative slope, as [`Before::LeakyRelu`]
    /// computes it.
    LeakyRelu(T),
}

/// The activations fused into a normalization's passes, before and after
/// it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fused<T> {
    /// The activation whose output the normalization reads.
    pub before: Before<T>,
    /// The activation that reads the normalization's output.
    pub after: After<T>,
}

impl<T> Fused<T> {
    /// No activation on either side: the plain normalization.
    pub fn none() -> Self {
        Self {
            before: Before::Nothing,
            after: After::Nothing,
        }
    }

    /// Only `before`, nothing after.
    pub fn before(before: Before<T>) -> Self {
        Self {
            before,
            after: After::Nothing,
        }
    }

    /// Only `after`, nothing before.
    pub fn after(after: After<T>) -> Self {
        Self {
            before: Before::Nothing,
            after,
        }
    }
}

/// The activations of [`Before`] and [`After`] as the passes use them,
/// one type per case so that each pass is compiled, and vectorized, for
/// each.
trait Activation<T>: Copy + Send + Sync {
    /// The activation's value at `z`.
    fn value(self, z: T) -> T;
    /// The gradient `g` with respect to its output as one with respect to
    /// its input `z`.
    fn gradient(self, g: T, z: T) -> T;
}

/// Binds `$before` and `$after` to the activation types of the
/// [`Fused`] value `$fused` and evaluates `$body`: one copy of the body
/// per pair of cases, each compiled for its types.
macro_rules! with_activations {
    ($fused:expr, |$before:ident, $after:ident| $body:expr) => {{
        let fused: Fused<_> = $fused;
        match fused.after {
            After::Nothing => with_activations!(@before fused.before, $before, $after = Plain, $body),
            After::Relu => with_activations!(@before fused.before, $before, $after = Rectifier, $body),
            After::LeakyRelu(slope) => {
                with_activations!(@before fused.before, $before, $after = Leaky(slope), $body)
            }
        }
    }};
    (@before $before_value:expr, $before:ident, $after:ident = $after_value:expr, $body:expr) => {{
        let $after = $after_value;
        match $before_value {
            Before::Nothing => {
                let $before = Plain;
                $body
            }
            Before::LeakyRelu(slope) => {
                let $before = Leaky(slope);
                $body
            }
        }
    }};
}

/// [`Before::Nothing`].
#[derive(Clone, Copy)]
struct Plain;

impl<T: Float> Activation<T> for Plain {
    #[inline(always)]
    fn value(self, z: T) -> T {
        z
    }
    #[inline(always)]
    fn gradient(self, g: T, _: T) -> T {
        g
    }
}

/// [`Before::LeakyRelu`]: the products of the kink's own passes
/// ([`crate::elementwise::kink_forward_in_place`] and
/// [`crate::elementwise::kink_backward_in_place`], whose mask is `z > 0`),
/// so the same bits.
#[derive(Clone, Copy)]
struct Leaky<T>(T);

impl<T: Float> Activation<T> for Leaky<T> {
    #[inline(always)]
    fn value(self, z: T) -> T {
        crate::elementwise::kink(z, self.0).0
    }
    #[inline(always)]
    fn gradient(self, g: T, z: T) -> T {
        g * if z > T::zero() { T::one() } else { self.0 }
    }
}

/// [`After::Relu`]: the value of a ReLU layer's own passes
/// ([`crate::elementwise::rectify`]) and their gradient, times 1 or 0 by
/// the mask `z > 0` (the kink's with a zero slope), so the same bits.
#[derive(Clone, Copy)]
struct Rectifier;

impl<T: Float> Activation<T> for Rectifier {
    #[inline(always)]
    fn value(self, z: T) -> T {
        crate::elementwise::rectify(z).0
    }
    #[inline(always)]
    fn gradient(self, g: T, z: T) -> T {
        Leaky(T::zero()).gradient(g, z)
    }
}

/// Forward pass: `h(γ·x̂ + β)` into `output`, where `x̂ = (a − mean)·inv_std`,
/// `a` is `x` after `fused.before` and `h` is `fused.after`, and returns
/// the statistics it used. `x` is not changed: training keeps it, and
/// backward computes `a`, `x̂` and `γ·x̂ + β` again from it
/// ([`batch_norm_backward`]), with the same bits, where writing `x̂` over
/// it would send the whole batch back to memory.
///
/// Channel by channel: a channel's rows (`B x L` values, 133 KB for the
/// seed's batch of 32) are read from memory once for the mean and stay in
/// cache for the variance and the normalizing pass.
pub fn batch_norm_forward<T: Float>(
    shape: Ncl,
    x: &[T],
    fused: Fused<T>,
    statistics: Statistics<'_, T>,
    epsilon: T,
    (gamma, beta): (&[T], &[T]),
    output: &mut [T],
) -> Result<ChannelStatistics<T>, TensorError> {
    check_length("batch_norm", "x", shape.channels * shape.count(), x.len())?;
    check_length("batch_norm", "output", x.len(), output.len())?;
    for (argument, values) in [("gamma", gamma), ("beta", beta)] {
        check_length("batch_norm", argument, shape.channels, values.len())?;
    }
    if let Statistics::Given { mean, variance } = statistics {
        check_length("batch_norm", "mean", shape.channels, mean.len())?;
        check_length("batch_norm", "variance", shape.channels, variance.len())?;
    }
    let pass = ForwardPass {
        shape,
        statistics,
        epsilon,
        gamma,
        beta,
    };
    Ok(with_activations!(fused, |before, after| pass.run(
        x,
        (before, after),
        output
    )))
}

/// The arguments of [`batch_norm_forward`] that every channel reads.
struct ForwardPass<'a, T> {
    shape: Ncl,
    statistics: Statistics<'a, T>,
    epsilon: T,
    gamma: &'a [T],
    beta: &'a [T],
}

impl<T: Float> ForwardPass<'_, T> {
    /// The pass, with the activations `(before, after)` around it.
    fn run<A: Activation<T>, B: Activation<T>>(
        &self,
        x: &[T],
        (before, after): (A, B),
        output: &mut [T],
    ) -> ChannelStatistics<T> {
        let shape = self.shape;
        let length = shape.length.max(1);
        let mut results = vec![(T::zero(), T::zero(), T::zero()); shape.channels];
        let rows = (x.chunks(length), output.chunks_mut(length));
        for_each_channel(shape, rows, &mut results, |c, xs, mut outs, result| {
            let (mean, variance) = match self.statistics {
                Statistics::Batch => {
                    // Two passes over rows in cache, in f64 (see the
                    // module's comment), rounded to `T` once.
                    let n = shape.count().max(1) as f64;
                    let rows = || xs.iter().map(|r| (*r, *r));
                    let wide = |z: T| before.value(z).to_f64_lossless();
                    let mean = rows_sum(rows(), |z: T, _| wide(z)) / n;
                    let squares = |z: T, _| {
                        let centred = wide(z) - mean;
                        centred * centred
                    };
                    let variance = rows_sum(rows(), squares) / n;
                    (T::from_f64_lossy(mean), T::from_f64_lossy(variance))
                }
                Statistics::Given { mean, variance } => (mean[c], variance[c]),
            };
            let inv_std = T::one() / (variance + self.epsilon).sqrt();
            let map = RowMap {
                before,
                after,
                mean,
                inv_std,
                gamma: self.gamma[c],
                beta: self.beta[c],
            };
            for (x, out) in xs.iter().zip(outs.iter_mut()) {
                map.output_row(x, out);
                // The next channel's row of this sample, for its first
                // read while this one's are in cache (`prefetch`).
                prefetch_following(x);
            }
            *result = (mean, variance, inv_std);
        });
        ChannelStatistics {
            mean: results.iter().map(|r| r.0).collect(),
            variance: results.iter().map(|r| r.1).collect(),
            inv_std: results.iter().map(|r| r.2).collect(),
        }
    }
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

/// Backward: returns `(Σdy, Σdy·x̂)` per channel, and turns `dy` into the
/// gradient with respect to the input of [`batch_norm_forward`]:
/// `dx̂ = γ·inv_std/N · (N·dy − Σdy − x̂·Σ(dy·x̂))`, times the derivative
/// of the activation `fused.before` at `x`. With an activation
/// `fused.after`, `dy` is the gradient with respect to its output, and
/// `dy` above stands for it times that activation's derivative at
/// `γ·x̂ + β` (`beta` is read only then). `x̂` is computed again from `x`
/// and the forward pass's `mean` and `inv_std`, with the forward pass's
/// bits. Channel by channel, so that each channel's rows are read from
/// memory once.
pub fn batch_norm_backward<T: Float>(
    shape: Ncl,
    dy: &mut [T],
    (x, fused): (&[T], Fused<T>),
    (mean, inv_std): (&[T], &[T]),
    (gamma, beta): (&[T], &[T]),
) -> Result<(Vec<T>, Vec<T>), TensorError> {
    check_length("batch_norm", "dy", shape.channels * shape.count(), dy.len())?;
    check_length("batch_norm", "x", dy.len(), x.len())?;
    for (argument, values) in [
        ("mean", mean),
        ("inv_std", inv_std),
        ("gamma", gamma),
        ("beta", beta),
    ] {
        check_length("batch_norm", argument, shape.channels, values.len())?;
    }
    let statistics = (mean, inv_std, gamma, beta);
    Ok(with_activations!(fused, |before, after| backward(
        shape,
        dy,
        x,
        (before, after),
        statistics
    )))
}

/// [`batch_norm_backward`] with the activations `(before, after)` around
/// the normalization.
fn backward<T: Float, A: Activation<T>, B: Activation<T>>(
    shape: Ncl,
    dy: &mut [T],
    x: &[T],
    (before, after): (A, B),
    (mean, inv_std, gamma, beta): (&[T], &[T], &[T], &[T]),
) -> (Vec<T>, Vec<T>) {
    let length = shape.length.max(1);
    let count = T::from_usize(shape.count()).unwrap_or_else(T::one);
    let mut sums = vec![(T::zero(), T::zero()); shape.channels];
    let rows = (dy.chunks_mut(length), x.chunks(length));
    for_each_channel(shape, rows, &mut sums, |c, mut gs, xs, result| {
        let map = RowMap {
            before,
            after,
            mean: mean[c],
            inv_std: inv_std[c],
            gamma: gamma[c],
            beta: beta[c],
        };
        // Both sums in one pass over the channel's rows.
        let pairs = gs.iter().zip(&xs).map(|(g, x)| (&**g, *x));
        let (sum_dy, sum_dy_xhat) = rows_sums(pairs, |g: T, z: T| {
            let g = map.gradient(g, z).to_f64_lossless();
            (g, g * map.normalized(z).to_f64_lossless())
        });
        let (sum_dy, sum_dy_xhat) = (T::from_f64_lossy(sum_dy), T::from_f64_lossy(sum_dy_xhat));
        let scale = gamma[c] * inv_std[c] / count;
        for (g, x) in gs.iter_mut().zip(&xs) {
            map.input_gradient_row(g, x, scale, count, (sum_dy, sum_dy_xhat));
            // The next channel's rows, for its sums' first read.
            prefetch_following(g);
            prefetch_following(x);
        }
        *result = (sum_dy, sum_dy_xhat);
    });
    (
        sums.iter().map(|s| s.0).collect(),
        sums.iter().map(|s| s.1).collect(),
    )
}

/// One channel's forward map, `x ↦ h(γ·x̂ + β)` with
/// `x̂ = (a(x) − mean)·inv_std` for the activations `a` before and `h`
/// after: one expression for the forward pass, backward's `x̂` and
/// [`batch_norm_output_from_input`], so all three give the same bits. Its
/// row loops are methods rather than loops inside the channels' closures:
/// as arguments the rows are known not to overlap and the weights are
/// values, so the loops vectorize (inside a closure they reloaded γ and β
/// per element and ran scalar).
#[derive(Clone, Copy)]
struct RowMap<T, A, B> {
    before: A,
    after: B,
    mean: T,
    inv_std: T,
    gamma: T,
    beta: T,
}

impl<T: Float, A: Activation<T>, B: Activation<T>> RowMap<T, A, B> {
    /// `x̂` of an input `z`.
    #[inline(always)]
    fn normalized(&self, z: T) -> T {
        (self.before.value(z) - self.mean) * self.inv_std
    }

    /// `γ·x̂ + β` of an input `z`: the activation `after`'s input.
    #[inline(always)]
    fn affine(&self, z: T) -> T {
        self.normalized(z) * self.gamma + self.beta
    }

    /// The gradient `g` with respect to the output at input `z` as one
    /// with respect to `γ·x̂ + β` (`g` itself when nothing is after: then
    /// the unused `γ·x̂ + β` is compiled away).
    #[inline(always)]
    fn gradient(&self, g: T, z: T) -> T {
        self.after.gradient(g, self.affine(z))
    }

    /// `out ← h(γ·x̂ + β)` for a row of inputs `x`.
    fn output_row(&self, x: &[T], out: &mut [T]) {
        for (o, &z) in out.iter_mut().zip(x) {
            *o = self.after.value(self.affine(z));
        }
    }

    /// One row of the input gradient, `dy ← a'(x)·scale·(N·dy − Σdy −
    /// x̂·Σ(dy·x̂))` in place, `dy` first taken through `h'`.
    fn input_gradient_row(&self, dy: &mut [T], x: &[T], scale: T, count: T, sums: (T, T)) {
        let (sum_dy, sum_dy_xhat) = sums;
        for (g, &z) in dy.iter_mut().zip(x) {
            let g_affine = self.gradient(*g, z);
            let dxhat = scale * (count * g_affine - sum_dy - self.normalized(z) * sum_dy_xhat);
            *g = self.before.gradient(dxhat, z);
        }
    }
}

/// The training forward pass's output again from the input `x` it kept
/// and the statistics it used: `output ← h(γ·x̂ + β)`, with the bits
/// [`batch_norm_forward`] gave (the same expression), so a model can
/// recompute the output in backward instead of keeping it.
pub fn batch_norm_output_from_input<T: Float>(
    shape: Ncl,
    (x, fused): (&[T], Fused<T>),
    (mean, inv_std): (&[T], &[T]),
    (gamma, beta): (&[T], &[T]),
    output: &mut [T],
) -> Result<(), TensorError> {
    let values = shape.channels * shape.count();
    check_length("batch_norm", "x", values, x.len())?;
    check_length("batch_norm", "output", values, output.len())?;
    for (argument, per_channel) in [
        ("mean", mean),
        ("inv_std", inv_std),
        ("gamma", gamma),
        ("beta", beta),
    ] {
        check_length("batch_norm", argument, shape.channels, per_channel.len())?;
    }
    let per_channel = (mean, inv_std, gamma, beta);
    with_activations!(fused, |before, after| output_from_input(
        shape,
        x,
        (before, after),
        per_channel,
        output
    ));
    Ok(())
}

/// [`batch_norm_output_from_input`] with the activations
/// `(before, after)`.
fn output_from_input<T: Float, A: Activation<T>, B: Activation<T>>(
    shape: Ncl,
    x: &[T],
    (before, after): (A, B),
    (mean, inv_std, gamma, beta): (&[T], &[T], &[T], &[T]),
    output: &mut [T],
) {
    let length = shape.length.max(1);
    // Row r of the standard-layout [B, C, L] batch is channel r % C.
    let channels = shape.channels;
    let rows: Vec<_> = x
        .chunks(length)
        .zip(output.chunks_mut(length))
        .enumerate()
        .collect();
    for_each_block(
        channels * shape.count(),
        rows,
        || (),
        |_, (r, (xs, outs))| {
            let c = r % channels;
            let map = RowMap {
                before,
                after,
                mean: mean[c],
                inv_std: inv_std[c],
                gamma: gamma[c],
                beta: beta[c],
            };
            map.output_row(xs, outs);
        },
    );
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
        let (_, statistics) = train_forward(shape, &x, Fused::none(), (&gamma, &beta));
        // x̂ as the kernel computes it, in f32.
        let xhat: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = (i / shape.length) % shape.channels;
                (v - statistics.mean[c]) * statistics.inv_std[c]
            })
            .collect();
        let channel = |values: &[f32], c: usize| -> Vec<f64> {
            values
                .chunks(shape.length)
                .enumerate()
                .filter(|(row, _)| row % shape.channels == c)
                .flat_map(|(_, row)| row.iter().map(|&v| f64::from(v)))
                .collect()
        };
        let mut grad = dy.clone();
        let (sum_dy, sum_dy_xhat) = batch_norm_backward(
            shape,
            &mut grad,
            (&x, Fused::none()),
            (&statistics.mean, &statistics.inv_std),
            (&gamma, &beta),
        )
        .unwrap();
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
        let mut expected = vec![0.0f32; x.len()];
        let statistics = Statistics::Given {
            mean: &mean,
            variance: &variance,
        };
        batch_norm_forward(
            shape,
            &x,
            Fused::none(),
            statistics,
            1e-3,
            (&gamma, &beta),
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

    /// A batch with values of both signs, a few exact zeros, and
    /// per-channel weights.
    fn signed_batch(shape: Ncl, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
        let mut rng = SeededRng::new(seed, 0);
        let mut values = |n: usize, offset: f32| -> Vec<f32> {
            (0..n).map(|_| rng.normal() as f32 + offset).collect()
        };
        let mut x = values(shape.batch * shape.channels * shape.length, 0.2);
        x.iter_mut().step_by(17).for_each(|v| *v = 0.0);
        let dy = values(x.len(), 0.1);
        let (gamma, beta) = (values(shape.channels, 1.0), values(shape.channels, 0.0));
        (x, dy, gamma, beta)
    }

    fn bits(values: &[f32]) -> Vec<u32> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    /// A training forward pass of `x` with `fused`, epsilon 1e-3: its
    /// output and the statistics it used.
    fn train_forward(
        shape: Ncl,
        x: &[f32],
        fused: Fused<f32>,
        (gamma, beta): (&[f32], &[f32]),
    ) -> (Vec<f32>, ChannelStatistics<f32>) {
        let mut output = vec![0.0f32; x.len()];
        let used = batch_norm_forward(
            shape,
            x,
            fused,
            Statistics::Batch,
            1e-3,
            (gamma, beta),
            &mut output,
        )
        .unwrap();
        (output, used)
    }

    #[test]
    fn the_output_from_the_kept_input_has_the_forward_bits() {
        let shape = Ncl {
            batch: 3,
            channels: 5,
            length: 41,
        };
        let (x, _, gamma, beta) = signed_batch(shape, 9);
        let both = Fused {
            before: Before::LeakyRelu(0.1),
            after: After::LeakyRelu(0.3),
        };
        for fused in [
            Fused::none(),
            Fused::before(Before::LeakyRelu(0.1)),
            Fused::after(After::Relu),
            both,
        ] {
            let (expected, used) = train_forward(shape, &x, fused, (&gamma, &beta));
            let mut again = vec![f32::NAN; x.len()];
            let statistics = (&used.mean[..], &used.inv_std[..]);
            batch_norm_output_from_input(
                shape,
                (&x, fused),
                statistics,
                (&gamma, &beta),
                &mut again,
            )
            .unwrap();
            assert_eq!(bits(&again), bits(&expected), "{fused:?}");
            let error = batch_norm_output_from_input(
                shape,
                (&x, fused),
                statistics,
                (&gamma[..4], &beta),
                &mut again,
            );
            assert!(error.is_err(), "a gamma of the wrong length is refused");
        }
    }

    #[test]
    fn a_leaky_relu_before_gives_the_bits_of_its_own_passes_around_the_normalization() {
        // Rows longer than the kink's lane blocks, with a tail; exact
        // zeros, which the kink sends to the slope's side.
        let shape = Ncl {
            batch: 3,
            channels: 4,
            length: 45,
        };
        let (z, dy, gamma, beta) = signed_batch(shape, 3);
        let slope = 0.1f32;
        // The two layers one by one: the kink's pass, then the plain
        // normalization of its output, and backward in reverse.
        let mut activated = z.clone();
        let mut mask = vec![0u8; z.len()];
        crate::elementwise::kink_forward_in_place(&mut activated, &mut mask, slope).unwrap();
        let (want, plain) = train_forward(shape, &activated, Fused::none(), (&gamma, &beta));
        let mut want_dz = dy.clone();
        let want_sums = batch_norm_backward(
            shape,
            &mut want_dz,
            (&activated, Fused::none()),
            (&plain.mean, &plain.inv_std),
            (&gamma, &beta),
        )
        .unwrap();
        crate::elementwise::kink_backward_in_place(&mut want_dz, &mask, slope).unwrap();
        // Fused: the kink inside the normalization's passes.
        let (got, fused) = train_forward(
            shape,
            &z,
            Fused::before(Before::LeakyRelu(slope)),
            (&gamma, &beta),
        );
        assert_eq!(fused, plain);
        assert_eq!(bits(&got), bits(&want));
        let mut got_dz = dy.clone();
        let got_sums = batch_norm_backward(
            shape,
            &mut got_dz,
            (&z, Fused::before(Before::LeakyRelu(slope))),
            (&fused.mean, &fused.inv_std),
            (&gamma, &beta),
        )
        .unwrap();
        assert_eq!(got_sums, want_sums);
        assert_eq!(bits(&got_dz), bits(&want_dz));
        assert_ne!(got_dz, dy, "the gradient was rewritten");
    }

    #[test]
    fn an_activation_after_gives_the_bits_of_its_own_passes_around_the_normalization() {
        // Rows longer than the lane blocks, with a tail; exact zeros in
        // the input, and a β that puts many outputs below zero.
        let shape = Ncl {
            batch: 3,
            channels: 4,
            length: 45,
        };
        let (x, dy, gamma, mut beta) = signed_batch(shape, 11);
        beta[1] = -0.7;
        let relu_value = |z: f32| if z > 0.0 { z + 0.0 } else { 0.0 };
        let cases = [
            (Before::Nothing, After::Relu, 0.0f32),
            (Before::LeakyRelu(0.1), After::Relu, 0.0),
            (Before::Nothing, After::LeakyRelu(0.3), 0.3),
        ];
        for (before, after, slope) in cases {
            // The normalization on its own, then the activation's passes
            // on its output (a ReLU layer's value is `z + 0` or `0`, its
            // mask `z > 0`; a leaky one's is the kink's).
            let (mut want, used) = train_forward(shape, &x, Fused::before(before), (&gamma, &beta));
            let mut mask = vec![0u8; x.len()];
            match after {
                After::Relu => {
                    for (v, m) in want.iter_mut().zip(&mut mask) {
                        *m = u8::from(*v > 0.0);
                        *v = relu_value(*v);
                    }
                }
                _ => {
                    crate::elementwise::kink_forward_in_place(&mut want, &mut mask, slope).unwrap()
                }
            }
            let mut want_dx = dy.clone();
            crate::elementwise::kink_backward_in_place(&mut want_dx, &mask, slope).unwrap();
            let statistics = (&used.mean[..], &used.inv_std[..]);
            let want_sums = batch_norm_backward(
                shape,
                &mut want_dx,
                (&x, Fused::before(before)),
                statistics,
                (&gamma, &beta),
            )
            .unwrap();
            // Fused: the activation inside the normalization's passes.
            let fused = Fused { before, after };
            let (got, got_used) = train_forward(shape, &x, fused, (&gamma, &beta));
            assert_eq!(got_used, used, "{fused:?}");
            assert_eq!(bits(&got), bits(&want), "{fused:?}");
            assert!(got.iter().any(|&v| v <= 0.0), "some below the kink");
            let mut got_dx = dy.clone();
            let got_sums =
                batch_norm_backward(shape, &mut got_dx, (&x, fused), statistics, (&gamma, &beta))
                    .unwrap();
            assert_eq!(got_sums, want_sums, "{fused:?}");
            assert_eq!(bits(&got_dx), bits(&want_dx), "{fused:?}");
        }
    }

    #[test]
    fn backward_refuses_a_kept_input_or_statistics_of_the_wrong_length() {
        let shape = Ncl {
            batch: 2,
            channels: 2,
            length: 3,
        };
        let (x, gamma, beta) = (vec![0.5f32; 12], [1.0f32, 1.0], [0.0f32, 0.0]);
        let (mean, inv_std) = ([0.0f32, 0.0], [1.0f32, 1.0]);
        let mut dy = vec![1.0f32; 12];
        let short_input = batch_norm_backward(
            shape,
            &mut dy,
            (&x[..11], Fused::none()),
            (&mean, &inv_std),
            (&gamma, &beta),
        )
        .unwrap_err();
        assert!(
            matches!(short_input, TensorError::Shape { argument: "x", .. }),
            "{short_input}"
        );
        let short_statistics = batch_norm_backward(
            shape,
            &mut dy,
            (&x, Fused::before(Before::LeakyRelu(0.1))),
            (&mean, &inv_std[..1]),
            (&gamma, &beta),
        )
        .unwrap_err();
        assert!(
            matches!(
                short_statistics,
                TensorError::Shape {
                    argument: "inv_std",
                    ..
                }
            ),
            "{short_statistics}"
        );
        assert_eq!(dy, vec![1.0f32; 12], "a refused call writes nothing");
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

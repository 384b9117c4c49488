//! Kernels of three taps by Winograd's minimal filtering, F(4, 3).
//!
//! A direct convolution spends 3 multiply-adds per output position, input
//! channel and filter. Winograd's F(4, 3) computes 4 outputs of a 3-tap
//! correlation from a tile of 6 inputs with 6 products instead of 12: the
//! tile is transformed (`Bᵀ d`), multiplied point by point with the
//! transformed kernel (`G g`), and transformed back (`Aᵀ m`). Across
//! channels, the point-by-point products become one GEMM per point:
//! `M[ξ] = U[ξ] · V[ξ]`, `C_out x C_in` times `C_in x tiles`. That halves
//! the GEMM work of the answer's second and third convolutions (kernels of
//! 3, 32→64 and 64→128 channels), which is most of that model's step.
//!
//! The matrices are Lavin and Gray's (interpolation points 0, ±1, ±2, ∞).
//! The backward passes are their adjoints:
//! - input gradient: `Z[ξ] = U[ξ]ᵀ · E[ξ]` with `E = A · dy` per output
//!   tile, then `B · z` added back onto the 6 inputs of each tile (tiles
//!   overlap by 2, added in tile order);
//! - kernel gradient: `dU[ξ] = E[ξ] · V[ξ]ᵀ`, summed over samples, then
//!   `Gᵀ dU` per filter pair.
//!
//! Work runs sample by sample, so each sample's transformed tiles (400 KB
//! for the answer's third layer) stay in cache between the transforms and
//! the GEMMs. Every sum runs in a fixed order; the only parallel split is
//! over chunks of samples (summed in order) or over the 6 points (each its
//! own GEMM), so the bits do not depend on the thread count. The rounding
//! differs from the direct GEMM's (the transforms scale by up to 8 and
//! 1/24); the tests hold the two methods to each other in `f64`.

use ndarray::ArrayViewMut1;
use rayon::prelude::*;

use super::channel_blocks::{for_channel_blocks, ChannelBlock, Transformed, POINTS};
use super::chunks::{add_partial_bias, chunk_scratch, for_each_chunk, sized, ChunkScratch, CHUNK};
use crate::matmul::{matmul_on, MatRef};
use crate::sum::lane_total;
use crate::{Float, TensorError, Window};

/// Outputs per tile.
const OUTPUTS: usize = 4;
/// Kernel taps this method computes.
const TAPS: usize = 3;

/// The transforms cost `C_in + C_out` per position, the GEMMs save
/// `C_in * C_out`: below this ratio the saving does not pay for them.
const MIN_CHANNEL_RATIO: usize = 8;

/// Whether a convolution of `in_channels` to `out_channels` through
/// `window` is one this method computes, and large enough to pay.
pub(super) fn applies(window: &Window, in_channels: usize, out_channels: usize) -> bool {
    window.stride == 1
        && window.dilation == 1
        && window.size == TAPS
        && in_channels * out_channels >= MIN_CHANNEL_RATIO * (in_channels + out_channels)
}

/// One sample's tiling.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    in_channels: usize,
    out_channels: usize,
    length: usize,
    out_len: usize,
    pad_left: usize,
    /// Output tiles per row: `ceil(out_len / 4)`.
    tiles: usize,
}

impl Geometry {
    fn new(window: &Window, in_channels: usize, out_channels: usize) -> Self {
        Self {
            in_channels,
            out_channels,
            length: window.input_length,
            out_len: window.output_length,
            pad_left: window.pad_left,
            tiles: window.output_length.div_ceil(OUTPUTS),
        }
    }

    /// The phases of a row of inputs: `tiles + 1` each, since each tile
    /// reads 2 inputs of the next.
    fn phase_len(&self) -> usize {
        self.tiles + 1
    }

    /// Multiply-adds of one pass's per-point products over an input of
    /// `input_len` elements (`[B, C_in, L]`).
    fn multiply_adds(&self, input_len: usize) -> usize {
        let batch = input_len / (self.in_channels * self.length).max(1);
        batch * POINTS * self.out_channels * self.in_channels * self.tiles
    }

    /// Transformed tiles of `channels` rows: `[point][channel][tile]`.
    fn points(&self, channels: usize) -> usize {
        POINTS * channels * self.tiles
    }
}

/// Row `row` (of `len` elements) of each plane.
fn rows<'a, T>(
    planes: &'a mut [&mut [T]; POINTS],
    row: usize,
    len: usize,
) -> [&'a mut [T]; POINTS] {
    planes
        .each_mut()
        .map(|plane| &mut plane[row * len..][..len])
}

/// `constant` in `T`.
fn c<T: Float>(constant: f64) -> T {
    T::from_f64_lossy(constant)
}

/// Four rows of `n` elements in one buffer of at least `4 * n`: the
/// phases of a signal cut into tiles of 4 (phase `r` holds the tiles'
/// `r`-th elements), so that the transforms read and write contiguous
/// rows, which vectorize, instead of strided tiles, which do not.
fn phase_rows<T>(buffer: &mut [T], n: usize) -> [&mut [T]; OUTPUTS] {
    let (p0, rest) = buffer.split_at_mut(n);
    let (p1, rest) = rest.split_at_mut(n);
    let (p2, rest) = rest.split_at_mut(n);
    [p0, p1, p2, &mut rest[..n]]
}

/// `phases[r][t] = x[4t + r - lead]`, zero where that is outside `x`.
fn split_phases<T: Float>(x: &[T], lead: usize, phases: [&mut [T]; OUTPUTS]) {
    let [p0, p1, p2, p3] = phases;
    for phase in [&mut *p0, &mut *p1, &mut *p2, &mut *p3] {
        phase.fill(T::zero());
    }
    // Whole tiles of x: from the first tile boundary at or after `lead`.
    let first = lead.div_ceil(OUTPUTS);
    let start = (OUTPUTS * first - lead).min(x.len());
    let body = x[start..].chunks_exact(OUTPUTS);
    let tail = start + OUTPUTS * body.len();
    let rows = p0
        .iter_mut()
        .zip(p1.iter_mut())
        .zip(p2.iter_mut().zip(p3.iter_mut()));
    for (((a, b), (c, d)), x) in rows.skip(first).zip(body) {
        (*a, *b, *c, *d) = (x[0], x[1], x[2], x[3]);
    }
    let phases = [p0, p1, p2, p3];
    for j in (0..start).chain(tail..x.len()) {
        let i = j + lead;
        if let Some(slot) = phases[i % OUTPUTS].get_mut(i / OUTPUTS) {
            *slot = x[j];
        }
    }
}

/// `y[j] = phases[r][t]` with `4t + r = j + lead`: the inverse of
/// [`split_phases`] (the phases must cover `y.len() + lead` elements).
fn merge_phases<T: Float>(phases: [&[T]; OUTPUTS], lead: usize, y: &mut [T]) {
    let first = lead.div_ceil(OUTPUTS);
    let start = (OUTPUTS * first - lead).min(y.len());
    let len = y.len();
    for (j, y) in y[..start].iter_mut().enumerate() {
        let i = j + lead;
        *y = phases[i % OUTPUTS][i / OUTPUTS];
    }
    let tiles = (len - start) / OUTPUTS;
    let [p0, p1, p2, p3] = phases.map(|phase| &phase[first..first + tiles]);
    let body = &mut y[start..start + OUTPUTS * tiles];
    // Eight tiles at a time, written as one run of 32: a transpose the
    // compiler does with shuffles (a plain interleaving loop stays scalar).
    const BLOCK: usize = 8;
    let mut blocks = body.chunks_exact_mut(OUTPUTS * BLOCK);
    for (k, y) in (&mut blocks).enumerate() {
        let at = k * BLOCK;
        let (a, b) = (&p0[at..at + BLOCK], &p1[at..at + BLOCK]);
        let (c, d) = (&p2[at..at + BLOCK], &p3[at..at + BLOCK]);
        for i in 0..BLOCK {
            y[OUTPUTS * i] = a[i];
            y[OUTPUTS * i + 1] = b[i];
            y[OUTPUTS * i + 2] = c[i];
            y[OUTPUTS * i + 3] = d[i];
        }
    }
    let done = tiles - tiles % BLOCK;
    for (i, y) in blocks
        .into_remainder()
        .chunks_exact_mut(OUTPUTS)
        .enumerate()
    {
        let t = done + i;
        (y[0], y[1], y[2], y[3]) = (p0[t], p1[t], p2[t], p3[t]);
    }
    let tail = start + OUTPUTS * tiles;
    for (j, y) in y.iter_mut().enumerate().skip(tail) {
        let i = j + lead;
        *y = phases[i % OUTPUTS][i / OUTPUTS];
    }
}

/// `V = Bᵀ d` for every tile of one input row, given as its phases
/// (`tiles + 1` each: a tile's last two inputs are the next one's first).
fn transform_input<T: Float>(
    phases: [&[T]; OUTPUTS],
    [v0, v1, v2, v3, v4, v5]: [&mut [T]; POINTS],
) {
    let (two, four, five) = (c::<T>(2.0), c::<T>(4.0), c::<T>(5.0));
    let tiles = v0.len();
    let [p0, p1, p2, p3] = phases;
    let (d0, d1, d2, d3) = (&p0[..tiles], &p1[..tiles], &p2[..tiles], &p3[..tiles]);
    let (d4, d5) = (&p0[1..=tiles], &p1[1..=tiles]);
    let (v1, v2, v3, v4, v5) = (
        &mut v1[..tiles],
        &mut v2[..tiles],
        &mut v3[..tiles],
        &mut v4[..tiles],
        &mut v5[..tiles],
    );
    for t in 0..tiles {
        v0[t] = four * d0[t] - five * d2[t] + d4[t];
        v1[t] = d3[t] + d4[t] - four * (d1[t] + d2[t]);
        v2[t] = d4[t] - d3[t] + four * (d1[t] - d2[t]);
        v3[t] = d4[t] - d2[t] + two * (d3[t] - d1[t]);
        v4[t] = d4[t] - d2[t] + two * (d1[t] - d3[t]);
        v5[t] = four * d1[t] - five * d3[t] + d5[t];
    }
}

/// `y = Aᵀ m` (plus `bias`) for every tile of one output row, into its
/// phases (`tiles` each).
fn transform_output<T: Float>(
    [m0, m1, m2, m3, m4, m5]: [&mut [T]; POINTS],
    bias: T,
    [y0, y1, y2, y3]: [&mut [T]; OUTPUTS],
) {
    let (two, four, eight) = (c::<T>(2.0), c::<T>(4.0), c::<T>(8.0));
    let tiles = m0.len();
    let (m1, m2, m3, m4, m5) = (
        &m1[..tiles],
        &m2[..tiles],
        &m3[..tiles],
        &m4[..tiles],
        &m5[..tiles],
    );
    let (y0, y1, y2, y3) = (
        &mut y0[..tiles],
        &mut y1[..tiles],
        &mut y2[..tiles],
        &mut y3[..tiles],
    );
    for t in 0..tiles {
        let (plus, minus) = (m1[t] + m2[t], m1[t] - m2[t]);
        let (plus2, minus2) = (m3[t] + m4[t], m3[t] - m4[t]);
        y0[t] = bias + m0[t] + plus + plus2;
        y1[t] = bias + minus + two * minus2;
        y2[t] = bias + plus + four * plus2;
        y3[t] = bias + minus + eight * minus2 + m5[t];
    }
}

/// `E = A · dy` for every tile of one output-gradient row, given as its
/// phases (`tiles` each, zeros past the outputs).
fn transform_gradient<T: Float>(
    phases: [&[T]; OUTPUTS],
    [e0, e1, e2, e3, e4, e5]: [&mut [T]; POINTS],
) {
    let (two, four, eight) = (c::<T>(2.0), c::<T>(4.0), c::<T>(8.0));
    let tiles = e0.len();
    let [g0, g1, g2, g3] = phases.map(|phase| &phase[..tiles]);
    let (e1, e2, e3, e4, e5) = (
        &mut e1[..tiles],
        &mut e2[..tiles],
        &mut e3[..tiles],
        &mut e4[..tiles],
        &mut e5[..tiles],
    );
    for t in 0..tiles {
        let (even, odd) = (g0[t] + g2[t], g1[t] + g3[t]);
        let (even4, odd2) = (g0[t] + four * g2[t], two * g1[t] + eight * g3[t]);
        e0[t] = g0[t];
        e1[t] = even + odd;
        e2[t] = even - odd;
        e3[t] = even4 + odd2;
        e4[t] = even4 - odd2;
        e5[t] = g3[t];
    }
}

/// `dd = B · z` for every tile of one input-gradient row, into its phases
/// (`tiles + 1` each). Tiles overlap by 2: a position's gradient is its
/// own tile's term plus the previous tile's (`dd4`, `dd5`).
fn input_gradient<T: Float>(
    [z0, z1, z2, z3, z4, z5]: [&mut [T]; POINTS],
    phases: [&mut [T]; OUTPUTS],
) {
    let (two, four, five) = (c::<T>(2.0), c::<T>(4.0), c::<T>(5.0));
    let tiles = z0.len();
    let (z1, z2, z3, z4, z5) = (
        &z1[..tiles],
        &z2[..tiles],
        &z3[..tiles],
        &z4[..tiles],
        &z5[..tiles],
    );
    let [r0, r1, r2, r3] = phases;
    let (r0, r1, r2, r3) = (
        &mut r0[..=tiles],
        &mut r1[..=tiles],
        &mut r2[..=tiles],
        &mut r3[..=tiles],
    );
    for t in 0..tiles {
        let (sum12, diff12) = (z1[t] + z2[t], z2[t] - z1[t]);
        let (sum34, diff34) = (z3[t] + z4[t], z4[t] - z3[t]);
        r0[t] = four * z0[t];
        r1[t] = four * (diff12 + z5[t]) + two * diff34;
        r2[t] = -(five * z0[t] + four * sum12 + sum34);
        r3[t] = -(diff12 + two * diff34 + five * z5[t]);
    }
    (r0[tiles], r1[tiles], r2[tiles], r3[tiles]) = (T::zero(), T::zero(), T::zero(), T::zero());
    for t in 0..tiles {
        r0[t + 1] += z0[t] + (z1[t] + z2[t]) + (z3[t] + z4[t]);
        r1[t + 1] += z5[t];
    }
}

/// `U = G g` for every filter pair: `[point][out][in]` from `[out][in][3]`.
fn transform_kernel<'a, T: Float>(weight: &[T], pairs: usize, u: &'a mut Vec<T>) -> &'a [T] {
    u.resize(POINTS * pairs, T::zero());
    let (quarter, sixth, twelfth, twentyfourth) = (
        c::<T>(0.25),
        c::<T>(1.0 / 6.0),
        c::<T>(1.0 / 12.0),
        c::<T>(1.0 / 24.0),
    );
    for (pair, g) in weight.chunks_exact(TAPS).enumerate() {
        let (outer, odd) = (g[0] + g[2], g[1]);
        u[pair] = quarter * g[0];
        u[pairs + pair] = -sixth * (outer + odd);
        u[2 * pairs + pair] = -sixth * (outer - odd);
        let (even, odd) = (twentyfourth * g[0] + sixth * g[2], twelfth * g[1]);
        u[3 * pairs + pair] = even + odd;
        u[4 * pairs + pair] = even - odd;
        u[5 * pairs + pair] = g[2];
    }
    &u[..POINTS * pairs]
}

/// `dg += Gᵀ dU` for every filter pair: the adjoint of [`transform_kernel`].
fn add_kernel_gradient<T: Float>(du: &[T], pairs: usize, grad_weight: &mut [T]) {
    let (quarter, sixth, twelfth, twentyfourth) = (
        c::<T>(0.25),
        c::<T>(1.0 / 6.0),
        c::<T>(1.0 / 12.0),
        c::<T>(1.0 / 24.0),
    );
    for (pair, g) in grad_weight.chunks_exact_mut(TAPS).enumerate() {
        let point = |p: usize| du[p * pairs + pair];
        let (sum12, diff12) = (point(1) + point(2), point(2) - point(1));
        let (sum34, diff34) = (point(3) + point(4), point(3) - point(4));
        g[0] += quarter * point(0) - sixth * sum12 + twentyfourth * sum34;
        g[1] += sixth * diff12 + twelfth * diff34;
        g[2] += sixth * (sum34 - sum12) + point(5);
    }
}

/// Runs `task(point, plane)` on each of the 6 planes of `buffer`: across
/// threads when this sample has `threads > 1` to itself (each GEMM then on
/// one thread, and never split along its sum), else in order.
fn per_point<T: Float>(
    threads: usize,
    buffer: &mut [T],
    task: impl Fn(usize, &mut [T]) -> Result<(), TensorError> + Sync + Send,
) -> Result<(), TensorError> {
    let plane = buffer.len() / POINTS;
    if threads > 1 {
        let planes: Vec<_> = buffer.chunks_exact_mut(plane).enumerate().collect();
        planes.into_par_iter().try_for_each(|(p, out)| task(p, out))
    } else {
        buffer
            .chunks_exact_mut(plane)
            .enumerate()
            .try_for_each(|(p, out)| task(p, out))
    }
}

/// Point `p`'s `rows x cols` matrix in a `[point][row][col]` buffer.
fn plane<T>(buffer: &[T], p: usize, rows: usize, cols: usize) -> MatRef<'_, T> {
    MatRef::row_major(&buffer[p * rows * cols..][..rows * cols], rows, cols)
}

/// Transforms one sample's `[C_in, L]` input into `v`, through `phases`,
/// channels split over `threads`.
fn transform_sample<T: Float>(
    threads: usize,
    sample: &[T],
    g: &Geometry,
    phases: &mut Vec<T>,
    v: &mut [T],
) {
    let phase_len = g.phase_len();
    for_channel_blocks(
        threads,
        Transformed {
            buffer: v,
            channels: g.in_channels,
            tiles: g.tiles,
        },
        phases,
        OUTPUTS * phase_len,
        |per_block| sample.chunks(per_block * g.length),
        |block: ChannelBlock<'_, T, &[T]>| {
            let (mut v, phases) = (block.planes, block.scratch);
            for (channel, row) in block.companion.chunks_exact(g.length).enumerate() {
                split_phases(row, g.pad_left, phase_rows(phases, phase_len));
                let [p0, p1, p2, p3] = phase_rows(phases, phase_len);
                transform_input(
                    [p0, p1, p2, p3].map(|p| &*p),
                    rows(&mut v, channel, g.tiles),
                );
            }
        },
    );
}

/// The input, weight and (optional) bias of one call, with its geometry.
pub(super) struct Operands<'a, T> {
    pub(super) x: &'a [T],
    pub(super) weight: &'a [T],
    pub(super) window: &'a Window,
    pub(super) in_channels: usize,
    pub(super) out_channels: usize,
}

/// Forward pass into `output` (`[B, C_out, L_out]`, every element written).
pub(super) fn forward<T: Float>(
    operands: Operands<'_, T>,
    bias: Option<&[T]>,
    chunks: &mut Vec<ChunkScratch<T>>,
    kernel: &mut Vec<T>,
    output: &mut [T],
) -> Result<(), TensorError> {
    let g = Geometry::new(operands.window, operands.in_channels, operands.out_channels);
    let (cin, cout, tiles) = (g.in_channels, g.out_channels, g.tiles);
    let u = transform_kernel(operands.weight, cout * cin, kernel);
    let (sample_in, sample_out) = (cin * g.length, cout * g.out_len);
    let x = operands.x;
    let out_slices: Vec<&mut [T]> = output.chunks_mut(CHUNK * sample_out).collect();
    let chunks = chunk_scratch(chunks, out_slices.len());
    let multiply_adds = g.multiply_adds(operands.x.len());
    for_each_chunk(
        multiply_adds,
        chunks,
        out_slices,
        |index, scratch, out_chunk, threads| {
            let v = sized(&mut scratch.lowered, g.points(cin));
            let m = sized(&mut scratch.dcols, g.points(cout));
            for (i, y) in out_chunk.chunks_exact_mut(sample_out).enumerate() {
                let b = index * CHUNK + i;
                let x = &x[b * sample_in..][..sample_in];
                transform_sample(threads, x, &g, &mut scratch.row, v);
                let v = &*v;
                per_point(threads, m, |p, m| {
                    let u = plane(u, p, cout, cin);
                    matmul_on(1, m, u, plane(v, p, cin, tiles), false)
                })?;
                for_channel_blocks(
                    threads,
                    Transformed {
                        buffer: m,
                        channels: cout,
                        tiles,
                    },
                    &mut scratch.row,
                    OUTPUTS * tiles,
                    |per_block| y.chunks_mut(per_block * g.out_len),
                    |block: ChannelBlock<'_, T, &mut [T]>| {
                        let (mut m, phases) = (block.planes, block.scratch);
                        for (k, y) in block.companion.chunks_exact_mut(g.out_len).enumerate() {
                            let bias = bias.map_or(T::zero(), |bias| bias[block.first + k]);
                            let phase = phase_rows(phases, tiles);
                            transform_output(rows(&mut m, k, tiles), bias, phase);
                            let [p0, p1, p2, p3] = phase_rows(phases, tiles);
                            merge_phases([p0, p1, p2, p3].map(|p| &*p), 0, y);
                        }
                    },
                );
            }
            Ok(())
        },
    )
}

/// Backward pass: adds the kernel gradient to `grad_weight`
/// (`[C_out, C_in, 3]`) and the bias gradient to `grad_bias`, and
/// overwrites `input` with the input gradient.
pub(super) fn backward<T: Float>(
    operands: Operands<'_, T>,
    input: &mut [T],
    dy: &[T],
    chunks: &mut Vec<ChunkScratch<T>>,
    kernel: &mut Vec<T>,
    grad_weight: &mut [T],
    grad_bias: Option<ArrayViewMut1<'_, T>>,
) -> Result<(), TensorError> {
    let g = Geometry::new(operands.window, operands.in_channels, operands.out_channels);
    let (cin, cout, tiles) = (g.in_channels, g.out_channels, g.tiles);
    let pairs = cout * cin;
    let u = transform_kernel(operands.weight, pairs, kernel);
    let (sample_in, sample_out) = (cin * g.length, cout * g.out_len);
    let wants_bias = grad_bias.is_some();
    // The kernel and the input gradient: two products.
    let multiply_adds = 2 * g.multiply_adds(input.len());
    let slices: Vec<&mut [T]> = input.chunks_mut(CHUNK * sample_in).collect();
    let count = slices.len();
    let scratch = chunk_scratch(chunks, count);
    for_each_chunk(
        multiply_adds,
        scratch,
        slices,
        |index, scratch, samples, threads| {
            let v = sized(&mut scratch.lowered, g.points(cin));
            let e = sized(&mut scratch.dcols, g.points(cout));
            let du = sized(&mut scratch.partial, POINTS * pairs);
            let partial_bias = sized(&mut scratch.partial_bias, cout);
            partial_bias.fill(T::zero());
            for (i, sample) in samples.chunks_exact_mut(sample_in).enumerate() {
                let b = index * CHUNK + i;
                let dy = &dy[b * sample_out..][..sample_out];
                transform_sample(threads, sample, &g, &mut scratch.row, v);
                for_channel_blocks(
                    threads,
                    Transformed {
                        buffer: e,
                        channels: cout,
                        tiles,
                    },
                    &mut scratch.row,
                    OUTPUTS * tiles,
                    |per_block| {
                        let dy = dy.chunks(per_block * g.out_len);
                        dy.zip(partial_bias.chunks_mut(per_block))
                    },
                    |block: ChannelBlock<'_, T, (&[T], &mut [T])>| {
                        let (mut e, phases) = (block.planes, block.scratch);
                        let (dy, partial_bias) = block.companion;
                        for (k, dy) in dy.chunks_exact(g.out_len).enumerate() {
                            if wants_bias {
                                partial_bias[k] += lane_total(dy);
                            }
                            split_phases(dy, 0, phase_rows(phases, tiles));
                            let [p0, p1, p2, p3] = phase_rows(phases, tiles);
                            let e = rows(&mut e, k, tiles);
                            transform_gradient([p0, p1, p2, p3].map(|p| &*p), e);
                        }
                    },
                );
                let e = &*e;
                // The chunk's first sample initialises its partial gradient.
                per_point(threads, du, |p, du| {
                    let xt = plane(v, p, cin, tiles).t();
                    matmul_on(1, du, plane(e, p, cout, tiles), xt, i > 0)
                })?;
                // The input's tiles are spent: their buffer takes Z.
                per_point(threads, v, |p, z| {
                    let ut = plane(u, p, cout, cin).t();
                    matmul_on(1, z, ut, plane(e, p, cout, tiles), false)
                })?;
                let phase_len = g.phase_len();
                for_channel_blocks(
                    threads,
                    Transformed {
                        buffer: v,
                        channels: cin,
                        tiles,
                    },
                    &mut scratch.row,
                    OUTPUTS * phase_len,
                    |per_block| sample.chunks_mut(per_block * g.length),
                    |block: ChannelBlock<'_, T, &mut [T]>| {
                        let (mut z, phases) = (block.planes, block.scratch);
                        for (k, dx) in block.companion.chunks_exact_mut(g.length).enumerate() {
                            input_gradient(rows(&mut z, k, tiles), phase_rows(phases, phase_len));
                            let [p0, p1, p2, p3] = phase_rows(phases, phase_len);
                            merge_phases([p0, p1, p2, p3].map(|p| &*p), g.pad_left, dx);
                        }
                    },
                );
            }
            Ok(())
        },
    )?;
    // Chunks in order, whatever ran them.
    for scratch in chunks.iter().take(count) {
        add_kernel_gradient(&scratch.partial[..POINTS * pairs], pairs, grad_weight);
    }
    if let Some(grad_bias) = grad_bias {
        add_partial_bias(chunks, count, grad_bias);
    }
    Ok(())
}

#[cfg(test)]
mod tests;

//! Kernels of 4 to 32 taps through Fourier tiles: a small DFT per tile,
//! taken as real point-by-point products ([`matrices`] says how).
//!
//! A direct convolution spends `K` multiply-adds per output position,
//! input channel and filter. A tile of `n` inputs (16 for ResNet's and
//! FCN's 5- and 8-tap kernels; 22 for ResNet's 8-tap ones in inference,
//! [`tiling`]) gives `m = n - K + 1` outputs through
//! `P = 2 + 3 (n / 2 - 1)` products: 23 per 9 outputs of an 8-tap kernel
//! (2.6 per output against 8), 23 per 12 of a 5-tap one (1.9 against 5).
//! Across channels the products become one GEMM per point,
//! `M[p] = U[p] · V[p]` (`C_out x C_in` times `C_in x tiles`), as in
//! Winograd's algorithms (`conv1d/winograd`); the transforms around them
//! are GEMMs too, with the small matrices of [`matrices`]:
//! - forward: `V = Bᵀ · X` over every tile of every input row (the tiles
//!   are read in place, `n` inputs every `m`), `M[p] = U[p] · V[p]`, and
//!   the outputs `Mᵀ · A`, which lands each output row in order;
//! - input gradient: `E = A · dY` per output tile, `Z[p] = U[p]ᵀ · E[p]`,
//!   then `Zᵀ · Bᵀ` gives each tile's `n` input gradients, added onto the
//!   row in tile order (tiles overlap by `K - 1`);
//! - kernel gradient: `dU[p] = E[p] · V[p]ᵀ`, summed over the passes of
//!   a chunk, then `dUᵀ · G` per chunk, added in chunk order.
//!
//! The DFT's points are the roots of unity, so the float32 outputs round
//! about as far from the exact sum as the direct GEMM's, where Winograd's
//! F(4, 3) rounds 2–3 times as far: this method can take the training
//! forward pass. Work runs two samples at a time within a chunk (one on
//! long signals, [`PASS`]), every sum in a fixed order, and the only
//! parallel splits are over chunks of samples (summed in order), over
//! points, or within a GEMM's output, so the bits do not depend on the
//! thread count.

use ndarray::ArrayViewMut1;

mod matrices;
mod tiling;

use super::chunks::{add_partial_bias, chunk_scratch, for_each_chunk, sized, ChunkScratch, CHUNK};
use super::winograd::{per_point, plane, Operands};
use super::{RowEpilogue, RowStretch};
use crate::matmul::{matmul_column_major_on, matmul_on, MatRef};
use crate::parallel::{for_each_block_on, for_each_row_on};
use crate::prefetch::prefetch_row;
use crate::sum::lane_total;
use crate::{Float, TensorError, Window};
use matrices::TileMatrices;
pub(super) use tiling::Pass;
use tiling::{power_of_two_tile, tile_inputs};

/// The shortest kernel this method takes: 3 taps go by Winograd's F(4, 3)
/// with fewer products (1.5 per output against 1.8 here).
const MIN_KERNEL: usize = 4;

/// The longest kernel this method computes (tiles of 64 inputs); longer
/// ones go by the overlap-save FFT (`conv1d/spectral`), whose cost does
/// not grow with the kernel.
const MAX_KERNEL: usize = 32;

/// The transforms run at about half the rate of the per-point products
/// (their sums are 9 to 32 long, the products' `C_in`): a convolution
/// takes this method when the multiply-adds it saves are at least this
/// many times what its transforms cost.
const TRANSFORM_WEIGHT: usize = 2;

/// Samples whose tiles one pass transforms and multiplies together,
/// within a chunk of [`CHUNK`]: two (each GEMM's columns twice as many;
/// measured against one and four, `docs/performance.md`), or one when two
/// samples' scratch would pass [`PASS_SCRATCH_BYTES`] (long signals: the
/// scratch of one pass is what a step adds to its peak).
const PASS: usize = 2;

/// The scratch two samples' pass may hold; ResNet's and FCN's layers at
/// 1,040 points take under 10 MB.
const PASS_SCRATCH_BYTES: usize = 16 << 20;

/// Whether this method can compute a convolution through `window`:
/// stride and dilation 1, 1 to [`MAX_KERNEL`] taps.
pub(super) fn computes(window: &Window) -> bool {
    window.stride == 1 && window.dilation == 1 && (1..=MAX_KERNEL).contains(&window.size)
}

/// Whether a convolution of `in_channels` to `out_channels` through
/// `window` is one this method takes: [`MIN_KERNEL`] to [`MAX_KERNEL`]
/// taps, and channels enough for the products to pay for the transforms.
/// Per output position, the products save `(K - P / m) C_in C_out`
/// multiply-adds against the direct GEMM; the forward transforms are
/// counted as dense matrices, `n P / m` per input channel and `P` per
/// output channel (the input's costs less: `n` of its `P` rows are a
/// GEMM, the rest sums), for the power-of-two tile ([`tiling`] may
/// widen it per pass). ResNet's and
/// FCN's 5- and 8-tap layers (64 to 256 channels) save 8 to 13 times
/// their transforms; the doctor's 16 -> 32, 5-tap layer 1.3 times, too
/// little at the transforms' rate.
pub(super) fn applies(window: &Window, in_channels: usize, out_channels: usize) -> bool {
    if !computes(window) || window.size < MIN_KERNEL {
        return false;
    }
    let n = power_of_two_tile(window.size);
    let (m, points) = (n - window.size + 1, matrices::points(n));
    // Everything times m, to stay in integers.
    let saving = (window.size * m).saturating_sub(points) * in_channels * out_channels;
    let transforms = n * points * in_channels + points * m * out_channels;
    saving >= TRANSFORM_WEIGHT * transforms
}

/// One sample's tiling.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    in_channels: usize,
    out_channels: usize,
    length: usize,
    out_len: usize,
    pad_left: usize,
    /// Inputs per tile.
    n: usize,
    /// Outputs per tile.
    m: usize,
    /// Real points per tile.
    points: usize,
    /// Tiles per padded row: enough that the last output tile's `n`
    /// inputs lie within its row. The columns past the last output tile
    /// are computed and never read (their output gradients are zero).
    row_tiles: usize,
}

impl Geometry {
    fn new<T>(
        window: &Window,
        in_channels: usize,
        out_channels: usize,
        t: &TileMatrices<T>,
    ) -> Self {
        let tiles = window.output_length.div_ceil(t.outputs);
        Self {
            in_channels,
            out_channels,
            length: window.input_length,
            out_len: window.output_length,
            pad_left: window.pad_left,
            n: t.n,
            m: t.outputs,
            points: t.points,
            row_tiles: tiles + (t.n - t.outputs).div_ceil(t.outputs),
        }
    }

    /// A padded row's length: `row_tiles` tiles of `m`.
    fn row_len(&self) -> usize {
        self.row_tiles * self.m
    }

    /// The padded input of `samples` samples (`[C_in][sample][row]`), then
    /// `n` zeros, so that the last row's unread tiles stay within it.
    fn padded_input_len(&self, samples: usize) -> usize {
        self.in_channels * samples * self.row_len() + self.n
    }

    /// Transformed tiles of `channels` rows of `samples` samples:
    /// `[point][channel][sample][tile]`.
    fn transformed_len(&self, channels: usize, samples: usize) -> usize {
        self.points * channels * samples * self.row_tiles
    }

    /// The buffer that holds a chunk's rows of outputs, or its padded
    /// output gradient and then its tiles of input gradient.
    fn spare_len(&self, samples: usize) -> usize {
        let rows = self.out_channels * samples * self.row_len();
        rows.max(self.in_channels * samples * self.row_tiles * self.n)
    }

    /// Bytes of the large scratch of a pass over `samples` samples.
    fn pass_bytes<T>(&self, samples: usize) -> usize {
        let elements = self.transformed_len(self.in_channels, samples)
            + self.transformed_len(self.out_channels, samples)
            + self.padded_input_len(samples)
            + self.spare_len(samples);
        elements * std::mem::size_of::<T>()
    }

    /// Samples per pass: [`PASS`], or one on long signals.
    fn pass_samples<T>(&self) -> usize {
        if self.pass_bytes::<T>(PASS) <= PASS_SCRATCH_BYTES {
            PASS
        } else {
            1
        }
    }

    /// Bytes of one chunk's large scratch: one pass's.
    fn scratch_bytes<T>(&self) -> usize {
        self.pass_bytes::<T>(self.pass_samples::<T>())
    }

    /// Multiply-adds of one pass's per-point products over `batch` samples.
    fn multiply_adds(&self, batch: usize) -> usize {
        batch * self.points * self.out_channels * self.in_channels * self.row_tiles
    }

    /// Copies a chunk's samples (`[sample][C_in][L]`) into `padded`
    /// (`[C_in][sample][row]`), each row at its lead in a zeroed row of
    /// [`Self::row_len`].
    fn pad<T: Float>(&self, threads: usize, samples: &[T], padded: &mut [T]) {
        let row_len = self.row_len();
        let count = samples.len() / (self.in_channels * self.length).max(1);
        let copied = self.length.min(row_len.saturating_sub(self.pad_left));
        // Only the padding is zeroed: the rows are written over.
        let (rows, tail) = padded.split_at_mut(self.in_channels * count * row_len);
        tail.fill(T::zero());
        for_each_row_on(threads, rows, row_len, |index, padded| {
            // Padded row `channel · count + s` holds sample `s`'s row `channel`.
            let (channel, s) = (index / count, index % count);
            let row = &samples[(s * self.in_channels + channel) * self.length..][..self.length];
            // The next sample's row of this channel, a page or more away
            // (`prefetch`), while this one is copied.
            prefetch_row(samples, (s + 1) * self.in_channels + channel, self.length);
            let (lead, rest) = padded.split_at_mut(self.pad_left.min(row_len));
            lead.fill(T::zero());
            rest[..copied].copy_from_slice(&row[..copied]);
            rest[copied..].fill(T::zero());
        });
    }

    /// `V = Bᵀ · X` over the tiles of a padded chunk (`[C_in][sample]
    /// [row]`) into `v` (`[point][C_in][sample][tile]`). The tiles are read
    /// in place, `n` inputs every `m` (a row is a whole number of tiles,
    /// so one stride walks every row's tiles in turn). One GEMM takes the
    /// real DFT, `Bᵀ`'s first `n` rows, written column-major as the
    /// product of the tiles' transpose and the DFT's (a product of 16
    /// rows spent a fifth of a forward pass in the GEMM's edge
    /// microkernel); the last points are sums of two of those
    /// ([`TileMatrices::sums`]), added plane by plane.
    fn transform_input<T: Float>(
        &self,
        threads: usize,
        t: &TileMatrices<T>,
        padded: &[T],
        samples: usize,
        v: &mut [T],
    ) -> Result<(), TensorError> {
        let columns = self.in_channels * samples * self.row_tiles;
        let tiles = MatRef {
            data: padded,
            rows: columns,
            cols: self.n,
            row_stride: self.m,
            col_stride: 1,
        };
        let dft = MatRef::row_major(&t.input[..self.n * self.n], self.n, self.n).t();
        let (transformed, sums) = v.split_at_mut(self.n * columns);
        matmul_column_major_on(threads, transformed, tiles, dft, false)?;
        combine_pairs(threads, t, transformed, sums, columns, |x, y| x + y);
        Ok(())
    }

    /// `E = A · dY` over the tiles of a padded output gradient
    /// (`[C_out][sample][row]`) into `e` (`[point][C_out][sample][tile]`):
    /// one GEMM for the first `n` points, the last ones differences of
    /// two of those ([`TileMatrices::sums`]).
    fn transform_gradient<T: Float>(
        &self,
        threads: usize,
        t: &TileMatrices<T>,
        padded_dy: &[T],
        samples: usize,
        e: &mut [T],
    ) -> Result<(), TensorError> {
        let columns = self.out_channels * samples * self.row_tiles;
        // Column-major, as the tiles' transpose times `Aᵀ`'s first `n`
        // columns (see `transform_input`).
        let tiles = MatRef {
            data: padded_dy,
            rows: columns,
            cols: self.m,
            row_stride: self.m,
            col_stride: 1,
        };
        let adjoint = MatRef {
            data: &t.output,
            rows: self.m,
            cols: self.n,
            row_stride: self.points,
            col_stride: 1,
        };
        let (transformed, differences) = e.split_at_mut(self.n * columns);
        matmul_column_major_on(threads, transformed, tiles, adjoint, false)?;
        combine_pairs(threads, t, transformed, differences, columns, |x, y| x - y);
        Ok(())
    }
}

/// The last points' planes (`rest`, `columns` each), each
/// `combine(x, y)` of two of the first `n` planes (`transformed`), as
/// [`TileMatrices::sums`] pairs them.
fn combine_pairs<T: Float>(
    threads: usize,
    t: &TileMatrices<T>,
    transformed: &[T],
    rest: &mut [T],
    columns: usize,
    combine: impl Fn(T, T) -> T + Sync + Send,
) {
    let (_, a, b) = t.sums();
    for_each_row_on(threads, rest, columns, |k, plane| {
        let x = &transformed[(a + k) * columns..][..columns];
        let y = &transformed[(b + k) * columns..][..columns];
        for ((p, &x), &y) in plane.iter_mut().zip(x).zip(y) {
            *p = combine(x, y);
        }
    });
}

/// The transformed kernel `U = G · W` (`[point][C_out][C_in]`) of the
/// `[C_out, C_in, K]` weight, into `u`.
fn transform_kernel<'a, T: Float>(
    t: &TileMatrices<T>,
    weight: &[T],
    u: &'a mut Vec<T>,
) -> Result<&'a [T], TensorError> {
    let filters = weight.len() / t.taps;
    let u = sized(u, t.points * filters);
    let taps = MatRef {
        data: weight,
        rows: t.taps,
        cols: filters,
        row_stride: 1,
        col_stride: t.taps,
    };
    let kernel = MatRef::row_major(&t.kernel, t.points, t.taps);
    matmul_on(1, u, kernel, taps, false)?;
    Ok(u)
}

/// A call's tile matrices, geometry and transformed kernel (into
/// `kernel`).
fn prepare<'a, T: Float>(
    operands: &Operands<'_, T>,
    pass: Pass,
    kernel: &'a mut Vec<T>,
) -> Result<(TileMatrices<T>, Geometry, &'a [T]), TensorError> {
    let size = operands.window.size;
    let n = tile_inputs(size, operands.in_channels, operands.out_channels, pass);
    let t = TileMatrices::<T>::new(n, size);
    let g = Geometry::new(
        operands.window,
        operands.in_channels,
        operands.out_channels,
        &t,
    );
    let u = transform_kernel(&t, operands.weight, kernel)?;
    Ok((t, g, u))
}

/// Forward pass into `output` (`[B, C_out, L_out]`, every element
/// written), through the tiles [`tiling`] chooses for `pass`.
pub(super) fn forward<T: Float>(
    pass: Pass,
    operands: Operands<'_, T>,
    bias: Option<&[T]>,
    chunks: &mut Vec<ChunkScratch<T>>,
    kernel: &mut Vec<T>,
    output: &mut [T],
    epilogue: Option<RowEpilogue<'_, T>>,
) -> Result<(), TensorError> {
    let (t, g, u) = prepare(&operands, pass, kernel)?;
    let (cin, cout) = (g.in_channels, g.out_channels);
    let per_pass = g.pass_samples::<T>();
    let (sample_in, sample_out) = (cin * g.length, cout * g.out_len);
    if sample_out == 0 {
        return Ok(());
    }
    let x = operands.x;
    let batch = output.len() / sample_out;
    let out_slices: Vec<&mut [T]> = output.chunks_mut(CHUNK * sample_out).collect();
    let chunks = chunk_scratch(chunks, out_slices.len());
    let row_len = g.row_len();
    let outputs = MatRef::row_major(&t.output, g.m, g.points).t();
    for_each_chunk(
        g.multiply_adds(batch),
        g.scratch_bytes::<T>(),
        chunks,
        out_slices,
        |index, scratch, out_chunk, threads| {
            for (pass, out_chunk) in out_chunk.chunks_mut(per_pass * sample_out).enumerate() {
                let samples = out_chunk.len() / sample_out;
                let first = index * CHUNK + pass * per_pass;
                let columns = samples * g.row_tiles;
                let padded = sized(&mut scratch.row, g.padded_input_len(samples));
                g.pad(
                    threads,
                    &x[first * sample_in..][..samples * sample_in],
                    padded,
                );
                let v = sized(&mut scratch.lowered, g.transformed_len(cin, samples));
                g.transform_input(threads, &t, padded, samples, v)?;
                let v = &*v;
                let products = sized(&mut scratch.dcols, g.transformed_len(cout, samples));
                per_point(threads, g.points, products, |p, products| {
                    let u = plane(u, p, cout, cin);
                    matmul_on(1, products, u, plane(v, p, cin, columns), false)
                })?;
                // Row-major `(C_out · samples · tiles) x m`: each output row
                // in order, `[C_out][sample][row]`.
                let rows = sized(&mut scratch.spare, cout * samples * row_len);
                let by_tile = MatRef {
                    data: &*products,
                    rows: cout * columns,
                    cols: g.points,
                    row_stride: 1,
                    col_stride: cout * columns,
                };
                matmul_on(threads, rows, by_tile, outputs, false)?;
                let rows = &*rows;
                for_each_row_on(threads, out_chunk, g.out_len, |index, y| {
                    // Output row `index` is sample `s`'s channel `channel`.
                    let (s, channel) = (index / cout, index % cout);
                    let row = &rows[(channel * samples + s) * row_len..][..g.out_len];
                    let bias = bias.map_or(T::zero(), |bias| bias[channel]);
                    for (y, &r) in y.iter_mut().zip(row) {
                        *y = r + bias;
                    }
                    if let Some(epilogue) = epilogue {
                        let stretch = RowStretch {
                            sample: first + s,
                            channel,
                            start: 0,
                        };
                        epilogue(stretch, y);
                    }
                });
            }
            Ok(())
        },
    )
}

/// Backward pass: adds the kernel gradient to `grad_weight`
/// (`[C_out, C_in, K]`) and the bias gradient to `grad_bias`, and
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
    let (t, g, u) = prepare(&operands, Pass::Training, kernel)?;
    let (size, cin, cout) = (t.taps, g.in_channels, g.out_channels);
    let per_pass = g.pass_samples::<T>();
    let (sample_in, sample_out) = (cin * g.length, cout * g.out_len);
    if sample_in == 0 {
        return Ok(());
    }
    if sample_out == 0 {
        input.fill(T::zero());
        return Ok(());
    }
    let batch = input.len() / sample_in;
    let wants_bias = grad_bias.is_some();
    let pairs = cout * cin;
    let row_len = g.row_len();
    let slices: Vec<&mut [T]> = input.chunks_mut(CHUNK * sample_in).collect();
    let count = slices.len();
    let scratch = chunk_scratch(chunks, count);
    let inputs = MatRef::row_major(&t.input, g.points, g.n);
    for_each_chunk(
        2 * g.multiply_adds(batch),
        g.scratch_bytes::<T>(),
        scratch,
        slices,
        |index, scratch, chunk, threads| {
            sized(&mut scratch.partial_bias, cout).fill(T::zero());
            // The chunk's first pass initialises its partial kernel gradient.
            for (pass, chunk) in chunk.chunks_mut(per_pass * sample_in).enumerate() {
                let samples = chunk.len() / sample_in;
                let first = index * CHUNK + pass * per_pass;
                let columns = samples * g.row_tiles;
                let dy = &dy[first * sample_out..][..samples * sample_out];
                let padded = sized(&mut scratch.row, g.padded_input_len(samples));
                g.pad(threads, chunk, padded);
                let v = sized(&mut scratch.lowered, g.transformed_len(cin, samples));
                g.transform_input(threads, &t, padded, samples, v)?;
                // The output gradient in padded rows of whole tiles,
                // `[C_out][sample][row]`.
                let spare = sized(&mut scratch.spare, g.spare_len(samples));
                let padded_dy = &mut spare[..cout * samples * row_len];
                let partial_bias = &mut scratch.partial_bias[..cout];
                // Channel by channel (its rows are one stretch of
                // `padded_dy`), each channel's samples in order.
                let channels: Vec<_> = padded_dy
                    .chunks_exact_mut(samples * row_len)
                    .zip(partial_bias.iter_mut())
                    .enumerate()
                    .collect();
                for_each_block_on(
                    threads,
                    channels,
                    || (),
                    |_, (channel, (rows, bias))| {
                        for (s, row) in rows.chunks_exact_mut(row_len).enumerate() {
                            // The next sample's row, far away (`prefetch`).
                            prefetch_row(dy, (s + 1) * cout + channel, g.out_len);
                            let dy = &dy[(s * cout + channel) * g.out_len..][..g.out_len];
                            // Written over; only the tail past the outputs is zeroed.
                            let (outputs, tail) = row.split_at_mut(g.out_len);
                            outputs.copy_from_slice(dy);
                            tail.fill(T::zero());
                            if wants_bias {
                                *bias += lane_total(dy);
                            }
                        }
                    },
                );
                let e = sized(&mut scratch.dcols, g.transformed_len(cout, samples));
                g.transform_gradient(threads, &t, padded_dy, samples, e)?;
                let e = &*e;
                let du = sized(&mut scratch.partial, g.points * pairs);
                per_point(threads, g.points, du, |p, du| {
                    let vt = plane(v, p, cin, columns).t();
                    matmul_on(1, du, plane(e, p, cout, columns), vt, pass > 0)
                })?;
                // The input's tiles are spent: their buffer takes Z.
                per_point(threads, g.points, v, |p, z| {
                    let ut = plane(u, p, cout, cin).t();
                    matmul_on(1, z, ut, plane(e, p, cout, columns), false)
                })?;
                let by_tile = MatRef {
                    data: &*v,
                    rows: cin * columns,
                    cols: g.points,
                    row_stride: 1,
                    col_stride: cin * columns,
                };
                let tile_gradients = &mut spare[..cin * columns * g.n];
                matmul_on(threads, tile_gradients, by_tile, inputs, false)?;
                add_tiles(threads, &g, tile_gradients, samples, chunk);
            }
            Ok(())
        },
    )?;
    // Chunks in order, whatever ran them: `dW += dUᵀ · G`.
    let kernel_matrix = MatRef::row_major(&t.kernel, g.points, size);
    for scratch in chunks.iter().take(count) {
        let by_pair = MatRef {
            data: &scratch.partial[..g.points * pairs],
            rows: pairs,
            cols: g.points,
            row_stride: 1,
            col_stride: pairs,
        };
        matmul_on(1, grad_weight, by_pair, kernel_matrix, true)?;
    }
    if let Some(grad_bias) = grad_bias {
        add_partial_bias(chunks, count, grad_bias);
    }
    Ok(())
}

/// Adds each tile's `n` input gradients (`[C_in][sample][tile][n]`) onto
/// the chunk's rows (`[sample][C_in][L]`, overwritten), tile after tile:
/// tile `t`'s input `j` is padded position `t m + j`, input
/// `t m + j - pad_left`.
fn add_tiles<T: Float>(
    threads: usize,
    g: &Geometry,
    tile_gradients: &[T],
    samples: usize,
    chunk: &mut [T],
) {
    let per_row = g.row_tiles * g.n;
    // Only tiles that hold outputs carry gradient.
    let tiles = g.out_len.div_ceil(g.m);
    for_each_row_on(threads, chunk, g.length, |index, dx| {
        // Input row `index` is sample `s`'s channel `channel`, whose tiles
        // are row `channel · samples + s` of the tile gradients.
        let (s, channel) = (index / g.in_channels, index % g.in_channels);
        let row_tiles = &tile_gradients[(channel * samples + s) * per_row..][..per_row];
        dx.fill(T::zero());
        for (tile, values) in row_tiles.chunks_exact(g.n).take(tiles).enumerate() {
            let start = tile * g.m;
            // Padded positions [start, start + n) hold inputs from
            // `start - pad_left`; those before 0 or past L are padding.
            let first = g.pad_left.saturating_sub(start);
            let end = (g.length + g.pad_left).saturating_sub(start).min(g.n);
            if first >= end {
                continue;
            }
            // Slices, not indices: the adds vectorize.
            let to = &mut dx[start + first - g.pad_left..][..end - first];
            for (d, &v) in to.iter_mut().zip(&values[first..end]) {
                *d += v;
            }
        }
    });
}

#[cfg(test)]
mod tests;

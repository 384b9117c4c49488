//! The forward pass in inference of kernels of 4 to 15 taps by
//! Winograd's F(2, 3), over groups of 3 taps (it computes 3 taps too,
//! when forced).
//!
//! F(2, 3) computes 2 outputs of a 3-tap correlation from a tile of 4
//! inputs with 4 products instead of 6. Grouped as F(4, 3) is (the parent
//! module), a kernel of `K` taps costs `4 G` products per 2 outputs, with
//! `G = ceil(K / 3)`, where the direct GEMM spends `2 K`: 12 against 16
//! for ResNet's and FCN's kernels of 8, 8 against 10 for their kernels of
//! 5. F(4, 3) spends fewer (9 and 6 per 2 outputs), but its transforms
//! scale by up to 8 and 1/24, and its float32 outputs land 2.5–3 times
//! further from the exact sum than the direct GEMM's. F(2, 3)'s
//! transforms only add, subtract and halve (interpolation points 0, 1, -1
//! and ∞), and its outputs land 1.1–1.3 times as far. Inference takes
//! F(2, 3) (`Conv1dWorkspace::set_inference`); a training forward pass
//! stays direct, which F(2, 3) passes the graph accuracy tests
//! (`tests/parity/graph_f32_accuracy.rs`) without making faster.
//!
//! With `d` a tile of 4 inputs and `g` 3 taps, the matrices are Lavin
//! and Gray's:
//! - `Bᵀ d = (d0 - d2, d1 + d2, d2 - d1, d1 - d3)`,
//! - `G g = (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2)`,
//! - `Aᵀ m = (m0 + m1 + m2, m1 - m2 - m3)`.
//!
//! Across input channels and groups the point-by-point products are one
//! GEMM per point, `C_out x G C_in` times `G C_in x tiles`. Each channel's
//! row is split once into its even and odd elements, from which every
//! group's tiles are contiguous reads (a group shifts the row by `3 g`, so
//! odd groups swap the two rows). Samples run in fixed chunks, each GEMM on
//! one thread, and the transforms split by channels, so the bits do not
//! depend on the thread count; blocks of tiles keep a block's transformed
//! input and products in a core's cache. Backward passes keep F(4, 3):
//! gradients feed no discrete decision. Kernels of 3 taps (one group) go
//! by F(4, 3) in inference too, through the balanced points
//! ([`super::Points::Balanced`]): Lavin and Gray's put the answer's model
//! with BatchNormalization 2.5 times as far from float64 as PyTorch's
//! float32, the balanced ones 1.5 times, and they spend 3 products per 2
//! outputs where F(2, 3) spends 4.

use std::ops::Range;

use super::{
    computes, groups, per_point, plane, rows, Geometry, Operands, MIN_CHANNEL_RATIO, TAPS,
};
use crate::conv1d::channel_blocks::split_planes;
use crate::conv1d::chunks::{chunk_scratch, for_each_chunk, sized, ChunkScratch, CHUNK};
use crate::conv1d::{RowEpilogue, RowStretch};
use crate::matmul::matmul_on;
use crate::parallel::for_each_block_on;
use crate::{Float, TensorError, Window};

/// Outputs per tile.
const OUTPUTS: usize = 2;
/// Interpolation points: planes of a transformed buffer.
const POINTS: usize = 4;
/// Bytes of a block's transformed input and products: half the 2 MiB
/// second-level cache of a core of `docs/performance.md`'s machine. A
/// whole sample's (4 MB for ResNet's widest layer) spilled to the shared
/// cache between the transforms and the GEMMs; blocks of 512 KiB made the
/// GEMMs' last, narrow columns a tenth of the time (1 MiB: 128 tiles at
/// ResNet's widest layer, 4 blocks and a remainder of 8 for 1040 points).
const BLOCK_BYTES: usize = 1 << 20;

/// Whether the forward pass of a convolution of `in_channels` to
/// `out_channels` through `window` can go by F(2, 3): at least a fifth
/// fewer products than the direct GEMM (`4 G <= 0.8 x 2 K`: kernels of 3,
/// 5, 6, 8 and more taps, not 1, 2, 4 or 7), and channels enough to pay
/// for the transforms.
pub(in crate::conv1d) fn applies(window: &Window, in_channels: usize, out_channels: usize) -> bool {
    let size = window.size;
    computes(window)
        && 5 * POINTS * groups(size) <= 4 * OUTPUTS * size
        && in_channels * out_channels >= MIN_CHANNEL_RATIO * (in_channels + out_channels)
}

/// F(2, 3)'s blocks of tiles, on the parent module's tiling (tiles of 2
/// outputs here).
impl Geometry {
    /// Elements of a channel's even (and of its odd) row for a block of
    /// `tiles` tiles: the last group's last tile reads padded position
    /// `2 tiles + 3 G - 2` from the block's start.
    fn half_len(&self, tiles: usize) -> usize {
        (OUTPUTS * tiles + TAPS * self.groups).div_ceil(2) + 1
    }

    /// Tiles of one block: as many as keep a block's transformed input and
    /// products within [`BLOCK_BYTES`] of f32 (a multiple of 16, at least
    /// 16), so that the GEMMs read what the transforms wrote from the core's
    /// cache. A function of the shapes only, never of the thread count.
    fn tile_block(&self) -> usize {
        let per_tile = POINTS * (self.input_rows() + self.out_channels) * 4;
        let fitting = (BLOCK_BYTES / per_tile.max(1)) / 16 * 16;
        fitting.max(16).min(self.tiles.max(1))
    }

    /// Bytes of one block's transformed input and products: a chunk's
    /// large scratch.
    fn block_scratch_bytes<T>(&self) -> usize {
        let block = self.tile_block();
        POINTS * (self.input_rows() + self.out_channels) * block * std::mem::size_of::<T>()
    }
}

/// The 4 planes of a `[point][row][col]` buffer, each cut into blocks of
/// `block_len`: one `[plane; 4]` per block, in order.
fn plane_blocks<T>(buffer: &mut [T], block_len: usize) -> Vec<[&mut [T]; POINTS]> {
    let plane_len = buffer.len() / POINTS;
    let mut planes: Vec<_> = buffer
        .chunks_exact_mut(plane_len.max(1))
        .map(|plane| plane.chunks_mut(block_len.max(1)))
        .collect();
    let mut blocks = Vec::new();
    loop {
        let next: Vec<&mut [T]> = planes.iter_mut().filter_map(Iterator::next).collect();
        let Ok(block) = <[&mut [T]; POINTS]>::try_from(next) else {
            return blocks;
        };
        blocks.push(block);
    }
}

/// `U = G g` for every filter, input channel and group:
/// `[point][out channel][in channel][group]`, the taps past the kernel's
/// `size` zero.
fn transform_kernel<'a, T: Float>(
    weight: &[T],
    size: usize,
    groups: usize,
    u: &'a mut Vec<T>,
) -> &'a [T] {
    let pairs = weight.len() / size * groups;
    let u = sized(u, POINTS * pairs);
    let half = T::from_f64_lossy(0.5);
    let tap = |kernel: &[T], i: usize| kernel.get(i).copied().unwrap_or_else(T::zero);
    for (filter, kernel) in weight.chunks_exact(size).enumerate() {
        for group in 0..groups {
            let at = filter * groups + group;
            let first = TAPS * group;
            let (g0, g1, g2) = (
                tap(kernel, first),
                tap(kernel, first + 1),
                tap(kernel, first + 2),
            );
            let outer = g0 + g2;
            u[at] = g0;
            u[pairs + at] = (outer + g1) * half;
            u[2 * pairs + at] = (outer - g1) * half;
            u[3 * pairs + at] = g2;
        }
    }
    u
}

/// Splits a channel's row into its even and odd elements of the padded
/// row (`padded[s] = row[s - pad_left]`, zero outside the row).
fn split_even_odd<T: Float>(row: &[T], pad_left: usize, even: &mut [T], odd: &mut [T]) {
    even.fill(T::zero());
    odd.fill(T::zero());
    // Padded position `pad_left + j` holds row[j]: with an even lead,
    // row[2k] is even[lead / 2 + k]; with an odd one it is odd's.
    let half = pad_left / 2;
    let even_lead = pad_left.is_multiple_of(2);
    let (first, second, start) = if even_lead {
        (&mut *even, &mut *odd, half)
    } else {
        (&mut *odd, &mut *even, half)
    };
    let second_start = if even_lead { half } else { half + 1 };
    let pairs = row.chunks_exact(2);
    let last = pairs.remainder().first().copied();
    let count = pairs.len();
    let first_span = first.len().saturating_sub(start).min(count);
    let second_span = second.len().saturating_sub(second_start).min(count);
    let span = first_span.min(second_span);
    for ((a, b), pair) in first[start..start + span]
        .iter_mut()
        .zip(&mut second[second_start..second_start + span])
        .zip(pairs)
    {
        (*a, *b) = (pair[0], pair[1]);
    }
    // Elements past the span (a row longer than the tiles read): the
    // remaining whole pairs and an odd last element, where they fall
    // inside the split rows.
    for k in span..count {
        if let Some(slot) = first.get_mut(start + k) {
            *slot = row[2 * k];
        }
        if let Some(slot) = second.get_mut(second_start + k) {
            *slot = row[2 * k + 1];
        }
    }
    if let (Some(value), Some(slot)) = (last, first.get_mut(start + count)) {
        *slot = value;
    }
}

/// `V = Bᵀ d` for every tile of one group, from the group's two rows: the
/// tile at `t` is `(a[t], b[t], a[t + 1], b[t + 1])`.
fn transform_input<T: Float>(a: &[T], b: &[T], [v0, v1, v2, v3]: [&mut [T]; POINTS]) {
    let tiles = v0.len();
    let (a0, a1, b0, b1) = (&a[..tiles], &a[1..=tiles], &b[..tiles], &b[1..=tiles]);
    let (v1, v2, v3) = (&mut v1[..tiles], &mut v2[..tiles], &mut v3[..tiles]);
    for t in 0..tiles {
        v0[t] = a0[t] - a1[t];
        v1[t] = b0[t] + a1[t];
        v2[t] = a1[t] - b0[t];
        v3[t] = b0[t] - b1[t];
    }
}

/// `y = Aᵀ m + bias` for every tile of one output row.
fn transform_output<T: Float>([m0, m1, m2, m3]: [&[T]; POINTS], bias: T, y: &mut [T]) {
    let whole = y.len() / OUTPUTS;
    let mut pairs = y.chunks_exact_mut(OUTPUTS);
    // Zipped slices of the exact length, not indexing: no bounds checks,
    // so the loop vectorizes (it was a sixth of the answer's inference).
    let products = m0[..whole]
        .iter()
        .zip(&m1[..whole])
        .zip(m2[..whole].iter().zip(&m3[..whole]));
    for (pair, ((&p0, &p1), (&p2, &p3))) in (&mut pairs).zip(products) {
        pair[0] = bias + (p0 + p1 + p2);
        pair[1] = bias + (p1 - p2 - p3);
    }
    if let Some(last) = pairs.into_remainder().first_mut() {
        *last = bias + (m0[whole] + m1[whole] + m2[whole]);
    }
}

/// Transforms tiles `tiles` of one sample's `[C_in, L]` input into `v`
/// (`[point][channel][group][tile of the block]`), channels split over
/// `threads` (each with its own even and odd rows; on one thread the
/// chunk's `row` buffer holds them).
fn transform_sample<T: Float>(
    threads: usize,
    sample: &[T],
    g: &Geometry,
    tiles: Range<usize>,
    row_buffer: &mut Vec<T>,
    v: &mut [T],
) {
    let count = tiles.len();
    let half_len = g.half_len(count);
    let group_tiles = g.groups * count;
    // The block starts at padded position `2 t0`, input position
    // `2 t0 - pad_left` (an even shift, so the parities stay).
    let start = (OUTPUTS * tiles.start) as isize - g.pad_left as isize;
    let (skip, lead) = (start.max(0).unsigned_abs(), (-start).max(0).unsigned_abs());
    let span = (2 * half_len).saturating_sub(lead);
    let per_block = g.in_channels.div_ceil(threads.max(1)).max(1);
    let transform_block =
        |scratch: &mut Vec<T>, (mut planes, rows_in): ([&mut [T]; POINTS], &[T])| {
            let (even, odd) = sized(scratch, 2 * half_len).split_at_mut(half_len);
            for (channel, row) in rows_in.chunks_exact(g.length).enumerate() {
                let read = row.get(skip..).unwrap_or_default();
                split_even_odd(&read[..span.min(read.len())], lead, even, odd);
                let mut groups = rows(&mut planes, channel, group_tiles);
                for group in 0..g.groups {
                    // Group `group` reads the padded row from `3 group` on.
                    let shift = TAPS * group;
                    let (a, b) = if shift.is_multiple_of(2) {
                        (&even[shift / 2..], &odd[shift / 2..])
                    } else {
                        (&odd[shift / 2..], &even[shift / 2 + 1..])
                    };
                    transform_input(a, b, rows(&mut groups, group, count));
                }
            }
        };
    if threads <= 1 {
        // One block of every channel, on the chunk's own scratch row: a
        // batch's chunks run side by side on one thread each, and this runs
        // per block of tiles, sample and layer, so nothing is allocated.
        transform_block(row_buffer, (split_planes(v), sample));
        return;
    }
    let blocks: Vec<_> = plane_blocks(v, per_block * group_tiles)
        .into_iter()
        .zip(sample.chunks(per_block * g.length))
        .collect();
    for_each_block_on(threads, blocks, Vec::new, transform_block);
}

/// Transforms one block's products `m` (tiles `tiles`) back into those
/// outputs of one sample's `[C_out, L_out]` output `y`, output channels
/// split over `threads`.
fn transform_products<T: Float>(
    threads: usize,
    m: &mut [T],
    g: &Geometry,
    tiles: Range<usize>,
    (bias, epilogue, sample): (Option<&[T]>, Option<RowEpilogue<'_, T>>, usize),
    y: &mut [T],
) {
    let count = tiles.len();
    let outputs = OUTPUTS * tiles.start..(OUTPUTS * tiles.end).min(g.out_len);
    let per_block = g.out_channels.div_ceil(threads.max(1)).max(1);
    let transform_block = |first: usize, planes: [&mut [T]; POINTS], y: &mut [T]| {
        for (k, y) in y.chunks_exact_mut(g.out_len).enumerate() {
            let bias = bias.map_or(T::zero(), |bias| bias[first + k]);
            let products = planes.each_ref().map(|plane| &plane[k * count..][..count]);
            let y = &mut y[outputs.clone()];
            transform_output(products, bias, y);
            if let Some(epilogue) = epilogue {
                let stretch = RowStretch {
                    sample,
                    channel: first + k,
                    start: outputs.start,
                };
                epilogue(stretch, y);
            }
        }
    };
    if threads <= 1 {
        // As in `transform_sample`: one block, nothing allocated.
        transform_block(0, split_planes(m), y);
        return;
    }
    let blocks: Vec<_> = plane_blocks(m, per_block * count)
        .into_iter()
        .zip(y.chunks_mut(per_block * g.out_len))
        .enumerate()
        .collect();
    for_each_block_on(
        threads,
        blocks,
        || (),
        |_, (index, (planes, y))| transform_block(index * per_block, planes, y),
    );
}

/// Forward pass into `output` (`[B, C_out, L_out]`, every element written).
pub(in crate::conv1d) fn forward<T: Float>(
    operands: Operands<'_, T>,
    bias: Option<&[T]>,
    chunks: &mut Vec<ChunkScratch<T>>,
    kernel: &mut Vec<T>,
    output: &mut [T],
    epilogue: Option<RowEpilogue<'_, T>>,
) -> Result<(), TensorError> {
    let g = Geometry::tiled(
        operands.window,
        operands.in_channels,
        operands.out_channels,
        OUTPUTS,
    );
    let (cout, tiles, inner) = (g.out_channels, g.tiles, g.input_rows());
    let u = transform_kernel(operands.weight, operands.window.size, g.groups, kernel);
    let (sample_in, sample_out) = (g.in_channels * g.length, cout * g.out_len);
    let batch = operands.x.len() / sample_in.max(1);
    let multiply_adds = batch * POINTS * cout * inner * tiles;
    let x = operands.x;
    let out_slices: Vec<&mut [T]> = output.chunks_mut(CHUNK * sample_out.max(1)).collect();
    let chunks = chunk_scratch(chunks, out_slices.len());
    let block = g.tile_block();
    for_each_chunk(
        multiply_adds,
        g.block_scratch_bytes::<T>(),
        chunks,
        out_slices,
        |index, scratch, out_chunk, threads| {
            let v_block = sized(&mut scratch.lowered, POINTS * inner * block);
            let m_block = sized(&mut scratch.dcols, POINTS * cout * block);
            for (i, y) in out_chunk.chunks_exact_mut(sample_out).enumerate() {
                let b = index * CHUNK + i;
                let x = &x[b * sample_in..][..sample_in];
                for first in (0..tiles).step_by(block) {
                    let range = first..(first + block).min(tiles);
                    let count = range.len();
                    let v = &mut v_block[..POINTS * inner * count];
                    let m = &mut m_block[..POINTS * cout * count];
                    transform_sample(threads, x, &g, range.clone(), &mut scratch.row, v);
                    let v = &*v;
                    per_point(threads, POINTS, m, |p, m| {
                        let u = plane(u, p, cout, inner);
                        matmul_on(1, m, u, plane(v, p, inner, count), false)
                    })?;
                    transform_products(threads, m, &g, range, (bias, epilogue, b), y);
                }
            }
            Ok(())
        },
    )
}

//! Kernels of up to 15 taps by Winograd's minimal filtering, F(4, 3),
//! over groups of 3 taps.
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
//! A longer kernel of `K` taps is `G = ceil(K / 3)` groups of 3 (the last
//! padded with zero taps), group `g` a 3-tap correlation of the input
//! shifted by `3 g`: each input channel is transformed once per group, and
//! one GEMM per point sums over channels and groups together
//! (`C_out x G C_in`). That is `6 G` products per 4 outputs where the
//! direct GEMM spends `4 K`: 12 against 20 for ResNet's and FCN's kernels
//! of 5, 18 against 32 for their kernels of 8. Each group alone is
//! F(4, 3), so its rounding is that of F(4, 3); `conv1d/mod.rs` keeps the
//! forward pass of grouped kernels direct, for the reason it gives.
//!
//! The training passes use Lavin and Gray's matrices (interpolation
//! points 0, ±1, ±2, ∞); inference forward passes of 3-tap kernels use
//! the points 0, 1, −1, 2, −1/2, ∞ ([`Points::Balanced`]), whose outputs
//! round about two thirds as far.
//! The backward passes are the adjoints of Lavin and Gray's:
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

mod pairs;
mod transforms;

pub(super) use pairs::{applies as pairs_apply, forward as forward_by_pairs};

use super::chunks::{add_partial_bias, chunk_scratch, for_each_chunk, sized, ChunkScratch, CHUNK};
use super::{RowEpilogue, RowStretch};
use crate::matmul::{matmul_on, MatRef};
use crate::sum::lane_total;
use crate::{Float, TensorError, Window};
pub(super) use transforms::Points;
use transforms::{
    add_kernel_gradient, input_gradient, merge_phases, phase_rows, split_phases, transform_gradient,
};

/// Outputs per tile.
const OUTPUTS: usize = 4;
/// Kernel taps of one F(4, 3) group.
const TAPS: usize = 3;

/// The longest kernel this method computes (as groups of 3 taps); from
/// 16 taps on the spectral method's cost no longer grows with `K`.
const MAX_KERNEL: usize = 15;

/// The transforms cost `C_in + C_out` per position, the GEMMs save
/// `C_in * C_out`: below this ratio the saving does not pay for them.
const MIN_CHANNEL_RATIO: usize = 8;

/// Groups of 3 taps that cover a `size`-tap kernel (the last one padded
/// with zero taps).
fn groups(size: usize) -> usize {
    size.div_ceil(TAPS)
}

/// Whether this method can compute a convolution through `window`:
/// stride and dilation 1, 1 to [`MAX_KERNEL`] taps.
pub(super) fn computes(window: &Window) -> bool {
    window.stride == 1 && window.dilation == 1 && (1..=MAX_KERNEL).contains(&window.size)
}

/// Whether a convolution of `in_channels` to `out_channels` through
/// `window` is one this method computes, and large enough to pay: the
/// direct GEMM spends `4 K` multiply-adds per 4 outputs and channel pair,
/// the groups `6 G`; below a third fewer the transforms and the GEMMs'
/// lower rate eat the saving (kernels of 4 taps: 16 against 12).
pub(super) fn applies(window: &Window, in_channels: usize, out_channels: usize) -> bool {
    let size = window.size;
    computes(window)
        && 2 * OUTPUTS * size >= 3 * POINTS * groups(size)
        && in_channels * out_channels >= MIN_CHANNEL_RATIO * (in_channels + out_channels)
}

/// One sample's tiling, with the kernel's groups of 3 taps (the module
/// documentation says how they are summed).
#[derive(Debug, Clone, Copy)]
struct Geometry {
    in_channels: usize,
    out_channels: usize,
    length: usize,
    out_len: usize,
    pad_left: usize,
    /// Groups of 3 taps.
    groups: usize,
    /// Output tiles per row: `ceil(out_len / 4)` for F(4, 3),
    /// `ceil(out_len / 2)` for F(2, 3) (`pairs.rs`).
    tiles: usize,
}

impl Geometry {
    /// F(4, 3)'s tiling: tiles of 4 outputs.
    fn new(window: &Window, in_channels: usize, out_channels: usize) -> Self {
        Self::tiled(window, in_channels, out_channels, OUTPUTS)
    }

    /// The tiling of tiles of `outputs` outputs.
    fn tiled(window: &Window, in_channels: usize, out_channels: usize, outputs: usize) -> Self {
        Self {
            in_channels,
            out_channels,
            length: window.input_length,
            out_len: window.output_length,
            pad_left: window.pad_left,
            groups: groups(window.size),
            tiles: window.output_length.div_ceil(outputs),
        }
    }

    /// Group `g`'s lead (the input position of its first tile's first
    /// point is `-lead`), made non-negative by `skip` whole tiles of 4:
    /// `(lead + 4 skip, skip)`. Its phases are read from index `skip` on.
    fn lead(&self, group: usize) -> (usize, usize) {
        let lead = self.pad_left as isize - (TAPS * group) as isize;
        let skip = (-lead).max(0).unsigned_abs().div_ceil(OUTPUTS);
        ((lead + (OUTPUTS * skip) as isize).unsigned_abs(), skip)
    }

    /// The phases of a row of inputs: long enough for each group's tiles
    /// (`tiles + 1` after its skip, since each tile reads 2 inputs of the
    /// next) and for every input position (`L + lead`).
    fn phase_len(&self) -> usize {
        (0..self.groups)
            .map(|group| {
                let (lead, skip) = self.lead(group);
                (self.tiles + 1 + skip).max((self.length + lead).div_ceil(OUTPUTS))
            })
            .max()
            .unwrap_or(self.tiles + 1)
    }

    /// Scratch per channel block: a row's phases, and (with several
    /// groups) a row of input gradient to add each group's onto.
    fn row_scratch(&self) -> usize {
        let gradient_row = if self.groups > 1 { self.length } else { 0 };
        OUTPUTS * self.phase_len() + gradient_row
    }

    /// Multiply-adds of one pass's per-point products over an input of
    /// `input_len` elements (`[B, C_in, L]`).
    fn multiply_adds(&self, input_len: usize) -> usize {
        let batch = input_len / (self.in_channels * self.length).max(1);
        batch * POINTS * self.out_channels * self.in_channels * self.groups * self.tiles
    }

    /// Transformed tiles of `channels` rows: `[point][channel][tile]`.
    fn points(&self, channels: usize) -> usize {
        POINTS * channels * self.tiles
    }

    /// Bytes of one sample's transformed input and products (or
    /// transformed output gradient): a chunk's large scratch.
    fn scratch_bytes<T>(&self) -> usize {
        (self.points(self.input_rows()) + self.points(self.out_channels)) * std::mem::size_of::<T>()
    }

    /// Rows of the transformed input: one per input channel and group,
    /// `[point][channel][group][tile]`.
    fn input_rows(&self) -> usize {
        self.in_channels * self.groups
    }
}

/// Row `row` (of `len` elements) of each plane (6 for F(4, 3), 4 for
/// F(2, 3)).
fn rows<'a, T, const PLANES: usize>(
    planes: &'a mut [&mut [T]; PLANES],
    row: usize,
    len: usize,
) -> [&'a mut [T]; PLANES] {
    planes
        .each_mut()
        .map(|plane| &mut plane[row * len..][..len])
}

/// Runs `task(point, plane)` on each of the `points` planes of `buffer`:
/// across threads when this sample has `threads > 1` to itself (each GEMM
/// then on one thread, and never split along its sum), else in order.
pub(super) fn per_point<T: Float>(
    threads: usize,
    points: usize,
    buffer: &mut [T],
    task: impl Fn(usize, &mut [T]) -> Result<(), TensorError> + Sync + Send,
) -> Result<(), TensorError> {
    let plane = buffer.len() / points;
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
pub(super) fn plane<T>(buffer: &[T], p: usize, rows: usize, cols: usize) -> MatRef<'_, T> {
    MatRef::row_major(&buffer[p * rows * cols..][..rows * cols], rows, cols)
}

/// Transforms one sample's `[C_in, L]` input into `v`
/// (`[point][channel][group][tile]`), through `phases`, channels split
/// over `threads`.
fn transform_sample<T: Float>(
    threads: usize,
    sample: &[T],
    g: &Geometry,
    points: Points,
    phases: &mut Vec<T>,
    v: &mut [T],
) {
    let phase_len = g.phase_len();
    let group_tiles = g.groups * g.tiles;
    for_channel_blocks(
        threads,
        Transformed {
            buffer: v,
            channels: g.in_channels,
            tiles: group_tiles,
        },
        phases,
        g.row_scratch(),
        |per_block| sample.chunks(per_block * g.length),
        |block: ChannelBlock<'_, T, &[T]>| {
            let (mut v, phases) = (block.planes, block.scratch);
            for (channel, row) in block.companion.chunks_exact(g.length).enumerate() {
                let mut groups = rows(&mut v, channel, group_tiles);
                for group in 0..g.groups {
                    let (lead, skip) = g.lead(group);
                    split_phases(row, lead, phase_rows(phases, phase_len));
                    let [p0, p1, p2, p3] = phase_rows(phases, phase_len);
                    points.transform_input(
                        [p0, p1, p2, p3].map(|p| &p[skip..]),
                        rows(&mut groups, group, g.tiles),
                    );
                }
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

/// Forward pass through `points`' transforms into `output` (`[B, C_out,
/// L_out]`, every element written): Lavin and Gray's in training, the
/// balanced ones in inference.
pub(super) fn forward<T: Float>(
    points: Points,
    operands: Operands<'_, T>,
    bias: Option<&[T]>,
    chunks: &mut Vec<ChunkScratch<T>>,
    kernel: &mut Vec<T>,
    output: &mut [T],
    epilogue: Option<RowEpilogue<'_, T>>,
) -> Result<(), TensorError> {
    let g = Geometry::new(operands.window, operands.in_channels, operands.out_channels);
    let (cin, cout, tiles) = (g.in_channels, g.out_channels, g.tiles);
    let inner = g.input_rows();
    let size = operands.window.size;
    let u = transformed_kernel(operands.weight, size, g.groups, points, kernel);
    let (sample_in, sample_out) = (cin * g.length, cout * g.out_len);
    let x = operands.x;
    let out_slices: Vec<&mut [T]> = output.chunks_mut(CHUNK * sample_out).collect();
    let chunks = chunk_scratch(chunks, out_slices.len());
    let multiply_adds = g.multiply_adds(operands.x.len());
    for_each_chunk(
        multiply_adds,
        g.scratch_bytes::<T>(),
        chunks,
        out_slices,
        |index, scratch, out_chunk, threads| {
            let v = sized(&mut scratch.lowered, g.points(inner));
            let m = sized(&mut scratch.dcols, g.points(cout));
            for (i, y) in out_chunk.chunks_exact_mut(sample_out).enumerate() {
                let b = index * CHUNK + i;
                let x = &x[b * sample_in..][..sample_in];
                transform_sample(threads, x, &g, points, &mut scratch.row, v);
                let v = &*v;
                per_point(threads, POINTS, m, |p, m| {
                    let u = plane(u, p, cout, inner);
                    matmul_on(1, m, u, plane(v, p, inner, tiles), false)
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
                            points.transform_output(rows(&mut m, k, tiles), bias, phase);
                            let [p0, p1, p2, p3] = phase_rows(phases, tiles);
                            merge_phases([p0, p1, p2, p3].map(|p| &*p), 0, y);
                            if let Some(epilogue) = epilogue {
                                let stretch = RowStretch {
                                    sample: b,
                                    channel: block.first + k,
                                    start: 0,
                                };
                                epilogue(stretch, y);
                            }
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
    let inner = g.input_rows();
    let pairs = cout * inner;
    let size = operands.window.size;
    let u = transformed_kernel(operands.weight, size, g.groups, Points::Lavin, kernel);
    let (sample_in, sample_out) = (cin * g.length, cout * g.out_len);
    let wants_bias = grad_bias.is_some();
    // The kernel and the input gradient: two products.
    let multiply_adds = 2 * g.multiply_adds(input.len());
    let slices: Vec<&mut [T]> = input.chunks_mut(CHUNK * sample_in).collect();
    let count = slices.len();
    let scratch = chunk_scratch(chunks, count);
    for_each_chunk(
        multiply_adds,
        g.scratch_bytes::<T>(),
        scratch,
        slices,
        |index, scratch, samples, threads| {
            let v = sized(&mut scratch.lowered, g.points(inner));
            let e = sized(&mut scratch.dcols, g.points(cout));
            let du = sized(&mut scratch.partial, POINTS * pairs);
            let partial_bias = sized(&mut scratch.partial_bias, cout);
            partial_bias.fill(T::zero());
            for (i, sample) in samples.chunks_exact_mut(sample_in).enumerate() {
                let b = index * CHUNK + i;
                let dy = &dy[b * sample_out..][..sample_out];
                transform_sample(threads, sample, &g, Points::Lavin, &mut scratch.row, v);
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
                per_point(threads, POINTS, du, |p, du| {
                    let xt = plane(v, p, inner, tiles).t();
                    matmul_on(1, du, plane(e, p, cout, tiles), xt, i > 0)
                })?;
                // The input's tiles are spent: their buffer takes Z.
                per_point(threads, POINTS, v, |p, z| {
                    let ut = plane(u, p, cout, inner).t();
                    matmul_on(1, z, ut, plane(e, p, cout, tiles), false)
                })?;
                for_channel_blocks(
                    threads,
                    Transformed {
                        buffer: v,
                        channels: cin,
                        tiles: g.groups * tiles,
                    },
                    &mut scratch.row,
                    g.row_scratch(),
                    |per_block| sample.chunks_mut(per_block * g.length),
                    |block: ChannelBlock<'_, T, &mut [T]>| {
                        let (mut z, scratch) = (block.planes, block.scratch);
                        for (k, dx) in block.companion.chunks_exact_mut(g.length).enumerate() {
                            let z = rows(&mut z, k, g.groups * tiles);
                            input_gradient_of_groups(&g, z, scratch, dx);
                        }
                    },
                );
            }
            Ok(())
        },
    )?;
    // Chunks in order, whatever ran them.
    let size = operands.window.size;
    if g.groups * TAPS == size {
        for scratch in chunks.iter().take(count) {
            add_kernel_gradient(&scratch.partial[..POINTS * pairs], pairs, grad_weight);
        }
    } else {
        // The kernel gradient of the padded filters, from the pool.
        let mut padded = crate::take_buffer::<T>(pairs * TAPS);
        padded.fill(T::zero());
        for scratch in chunks.iter().take(count) {
            add_kernel_gradient(&scratch.partial[..POINTS * pairs], pairs, &mut padded);
        }
        let filters = padded.chunks_exact(g.groups * TAPS);
        for (filter, padded) in grad_weight.chunks_exact_mut(size).zip(filters) {
            for (w, &p) in filter.iter_mut().zip(padded) {
                *w += p;
            }
        }
        crate::give_buffer(padded);
    }
    if let Some(grad_bias) = grad_bias {
        add_partial_bias(chunks, count, grad_bias);
    }
    Ok(())
}

/// The transformed kernel (`G g`, into `u`) of the `[C_out, C_in, K]`
/// weight with each filter padded with zero taps to `3 G`
/// (`[C_out, C_in, G, 3]`: one 3-tap filter per channel and group). The
/// padded copy comes from the buffer pool and goes back to it.
fn transformed_kernel<'a, T: Float>(
    weight: &[T],
    size: usize,
    groups: usize,
    points: Points,
    u: &'a mut Vec<T>,
) -> &'a [T] {
    let padded_size = groups * TAPS;
    let filters = weight.len() / size;
    if padded_size == size {
        return points.transform_kernel(weight, filters * groups, u);
    }
    let mut padded = crate::take_buffer::<T>(filters * padded_size);
    for (to, from) in padded
        .chunks_exact_mut(padded_size)
        .zip(weight.chunks_exact(size))
    {
        to[..size].copy_from_slice(from);
        to[size..].fill(T::zero());
    }
    points.transform_kernel(&padded, filters * groups, u);
    crate::give_buffer(padded);
    &u[..POINTS * filters * groups]
}

/// One input channel's gradient into `dx` from its transformed rows `z`
/// (`G` runs of `tiles` per plane): each group's tiles back onto its
/// phases, merged at its lead; groups after the first are merged into a
/// scratch row and added, in group order.
fn input_gradient_of_groups<T: Float>(
    g: &Geometry,
    mut z: [&mut [T]; POINTS],
    scratch: &mut [T],
    dx: &mut [T],
) {
    let phase_len = g.phase_len();
    let (phases, gradient_row) = scratch.split_at_mut(OUTPUTS * phase_len);
    for group in 0..g.groups {
        let (lead, skip) = g.lead(group);
        phases.fill(T::zero());
        let [p0, p1, p2, p3] = phase_rows(phases, phase_len);
        let z = rows(&mut z, group, g.tiles);
        input_gradient(z, [p0, p1, p2, p3].map(|p| &mut p[skip..]));
        let [p0, p1, p2, p3] = phase_rows(phases, phase_len);
        let phases = [p0, p1, p2, p3].map(|p| &*p);
        if group == 0 {
            merge_phases(phases, lead, dx);
        } else {
            let row = &mut gradient_row[..dx.len()];
            merge_phases(phases, lead, row);
            for (d, &r) in dx.iter_mut().zip(row.iter()) {
                *d += r;
            }
        }
    }
}

#[cfg(test)]
mod tests;

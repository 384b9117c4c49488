//! Winograd's transforms, split by channels across threads.
//!
//! At batch 1 the answer's convolutions are one sample each: the per-point
//! GEMMs split across threads, but the transforms around them ran on one
//! thread, about a quarter of the layers' time. Each channel's row is
//! transformed on its own, so contiguous ranges of channels can run on
//! different threads with the same code, and the bits do not depend on
//! the split.

use crate::parallel::for_each_block_on;
use crate::Float;

/// Interpolation points of F(4, 3): planes of a transformed buffer.
pub(super) const POINTS: usize = 6;

/// One range of channels: the first channel's index, the range's rows of
/// each of the 6 planes, a scratch row of its own, and the caller's
/// `companion` (its slices of the input or output rows).
pub(super) struct ChannelBlock<'a, T, R> {
    pub(super) first: usize,
    pub(super) planes: [&'a mut [T]; POINTS],
    pub(super) scratch: &'a mut [T],
    pub(super) companion: R,
}

/// A transformed buffer, `[point][channel][tile]`.
pub(super) struct Transformed<'a, T> {
    pub(super) buffer: &'a mut [T],
    pub(super) channels: usize,
    pub(super) tiles: usize,
}

/// Runs `task` on `threads` ranges of the channels of `transformed`, in
/// order on one thread when `threads` is 1. `scratch` is grown to give
/// each range `scratch_len` elements. `companions(channels per range)`
/// gives each range its companion, in order (one per range). On one
/// thread nothing is allocated: batch-32 steps call this 4 times per
/// sample and layer.
pub(super) fn for_channel_blocks<'a, T: Float, R: Send, C: IntoIterator<Item = R>>(
    threads: usize,
    transformed: Transformed<'a, T>,
    scratch: &'a mut Vec<T>,
    scratch_len: usize,
    companions: impl FnOnce(usize) -> C,
    task: impl Fn(ChannelBlock<'a, T, R>) + Sync + Send,
) {
    let Transformed {
        buffer,
        channels,
        tiles,
    } = transformed;
    let per_block = channels.div_ceil(threads.clamp(1, channels.max(1))).max(1);
    let count = channels.div_ceil(per_block);
    if scratch.len() < count * scratch_len {
        scratch.resize(count * scratch_len, T::zero());
    }
    let mut plane_blocks =
        split_planes::<T, POINTS>(buffer).map(|plane| plane.chunks_mut(per_block * tiles));
    let mut scratches = scratch.chunks_mut(scratch_len.max(1));
    let blocks = companions(per_block)
        .into_iter()
        .enumerate()
        .take(count)
        .map_while(|(index, companion)| {
            let next = plane_blocks.each_mut().map(|blocks| blocks.next());
            let (Some(scratch), [Some(p0), Some(p1), Some(p2), Some(p3), Some(p4), Some(p5)]) =
                (scratches.next(), next)
            else {
                return None;
            };
            Some(ChannelBlock {
                first: index * per_block,
                planes: [p0, p1, p2, p3, p4, p5],
                scratch,
                companion,
            })
        });
    if count > 1 {
        for_each_block_on(threads, blocks.collect(), || (), |_, block| task(block));
    } else {
        blocks.for_each(task);
    }
}

/// The `PLANES` equal planes `[channel][tile]` of a `[point][channel][tile]`
/// buffer (6 for F(4, 3), 4 for F(2, 3)), without allocating.
pub(super) fn split_planes<T, const PLANES: usize>(buffer: &mut [T]) -> [&mut [T]; PLANES] {
    let plane = buffer.len() / PLANES;
    let mut planes = buffer.chunks_mut(plane.max(1));
    // Every plane exists when the buffer holds `PLANES` of them; an empty
    // buffer gives empty planes.
    std::array::from_fn(|_| planes.next().unwrap_or_default())
}

//! Work split into fixed chunks of samples, each with its own scratch
//! buffers, shared by the GEMM methods (direct and Winograd): a chunk's
//! partial gradients are added in chunk order, whatever thread ran it, so
//! the bits do not depend on the thread count.

use ndarray::ArrayViewMut1;

use crate::parallel::threads_for_multiply_adds;
use crate::{Float, TensorError};

/// One task's buffers: its lowered sample (or transformed tiles), its
/// column gradient (or transformed products), its partial kernel and bias
/// gradients, and one padded row.
#[derive(Debug, Default)]
pub(super) struct ChunkScratch<T> {
    pub(super) lowered: Vec<T>,
    pub(super) dcols: Vec<T>,
    pub(super) partial: Vec<T>,
    pub(super) partial_bias: Vec<T>,
    pub(super) row: Vec<T>,
}

/// The first `count` chunk scratches, grown as needed. A free function, not
/// a method, so that it borrows only the chunks and leaves the workspace's
/// weight matrix free to be read alongside.
pub(super) fn chunk_scratch<T: Float>(
    chunks: &mut Vec<ChunkScratch<T>>,
    count: usize,
) -> &mut [ChunkScratch<T>] {
    if chunks.len() < count {
        chunks.resize_with(count, ChunkScratch::default);
    }
    &mut chunks[..count]
}

/// Samples per task. Fixed, not derived from the thread count: the kernel
/// gradient is summed per chunk and then over chunks in order, so the same
/// chunks give the same bits on 1 thread or many.
pub(super) const CHUNK: usize = 4;

/// Runs `task(chunk index, scratch, gemm threads)` for every chunk of a
/// pass of `multiply_adds` GEMM multiply-adds in all: across threads when
/// there are several chunks and threads to spare (each GEMM then on one
/// thread), else in order with the GEMMs threaded. A pass too small to pay
/// for waking a thread runs on the calling one
/// ([`threads_for_multiply_adds`]).
pub(super) fn for_each_chunk<T: Float, S: Send>(
    multiply_adds: usize,
    scratch: &mut [ChunkScratch<T>],
    slices: Vec<S>,
    task: impl Fn(usize, &mut ChunkScratch<T>, S, usize) -> Result<(), TensorError> + Sync,
) -> Result<(), TensorError> {
    use rayon::prelude::*;
    let threads = threads_for_multiply_adds(multiply_adds);
    if threads > 1 && slices.len() > 1 {
        scratch
            .par_iter_mut()
            .zip(slices)
            .enumerate()
            .try_for_each(|(index, (scratch, slice))| task(index, scratch, slice, 1))
    } else {
        scratch
            .iter_mut()
            .zip(slices)
            .enumerate()
            .try_for_each(|(index, (scratch, slice))| task(index, scratch, slice, threads))
    }
}

/// The first `len` elements of `buffer`, grown if shorter (contents
/// unspecified; callers overwrite). Never shrunk: the buffers are lent to
/// layers of every size in turn, and shrinking then growing again would
/// zero the difference at every call.
pub(super) fn sized<T: Float>(buffer: &mut Vec<T>, len: usize) -> &mut [T] {
    if buffer.len() < len {
        buffer.resize(len, T::zero());
    }
    &mut buffer[..len]
}

/// Adds the first `count` chunks' partial bias gradients to `grad_bias`,
/// chunk after chunk, whatever thread computed them.
pub(super) fn add_partial_bias<T: Float>(
    chunks: &[ChunkScratch<T>],
    count: usize,
    mut grad_bias: ArrayViewMut1<'_, T>,
) {
    for scratch in chunks.iter().take(count) {
        for (g, &p) in grad_bias.iter_mut().zip(&scratch.partial_bias) {
            *g += p;
        }
    }
}

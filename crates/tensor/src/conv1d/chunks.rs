//! Work split into fixed chunks of samples, each with its own scratch
//! buffers, shared by the GEMM methods (direct and Winograd): a chunk's
//! partial gradients are added in chunk order, whatever thread ran it, so
//! the bits do not depend on the thread count.

use ndarray::ArrayViewMut1;

use crate::parallel::threads_for_multiply_adds;
use crate::{Float, TensorError};

/// One task's buffers: its lowered sample (or transformed tiles), its
/// column gradient (or transformed products), its partial kernel and bias
/// gradients, one padded row (or padded sample), and a spare buffer the
/// Fourier tiles lay rows of outputs or gradients out in.
#[derive(Debug, Default)]
pub(super) struct ChunkScratch<T> {
    pub(super) lowered: Vec<T>,
    pub(super) dcols: Vec<T>,
    pub(super) partial: Vec<T>,
    pub(super) partial_bias: Vec<T>,
    pub(super) row: Vec<T>,
    pub(super) spare: Vec<T>,
}

impl<T> ChunkScratch<T> {
    /// Swaps the large buffers (lowered sample, column gradient, padded
    /// row, spare) with `other`'s: lends them to a chunk that runs after this
    /// one, and a second call takes them back. The partial gradients stay
    /// each chunk's own.
    fn lend_large(&mut self, other: &mut Self) {
        std::mem::swap(&mut self.lowered, &mut other.lowered);
        std::mem::swap(&mut self.dcols, &mut other.dcols);
        std::mem::swap(&mut self.row, &mut other.row);
        std::mem::swap(&mut self.spare, &mut other.spare);
    }
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

/// Bytes of large scratch (a lowered or transformed sample, its column
/// gradient or products) one chunk may hold while the chunks run side by
/// side. Above it, the chunks run one after another with the threads
/// inside each, and share one set of those buffers: on long signals two
/// chunks' transformed samples are a tenth of a step's peak (100 MB of a
/// ResNet's 1 GB at 16k points, batch 8), while a chunk's work is then
/// large enough to split within it. The bits are the same either way
/// ([`for_each_chunk`]).
pub(super) const SIDE_BY_SIDE_SCRATCH_BYTES: usize = 16 << 20;

/// Runs `task(chunk index, scratch, gemm threads)` for every chunk of a
/// pass of `multiply_adds` GEMM multiply-adds in all, each chunk holding
/// `scratch_bytes` of large buffers: across threads when there are
/// several chunks, threads to spare, and scratch under
/// [`SIDE_BY_SIDE_SCRATCH_BYTES`] (each GEMM then on one thread); else in
/// order with the GEMMs threaded, every chunk lent the first one's large
/// buffers. A pass too small to pay for waking a thread runs on the
/// calling one ([`threads_for_multiply_adds`]). Either way each chunk's
/// partial sums are its own and every GEMM splits only its output, so the
/// bits do not depend on the choice.
pub(super) fn for_each_chunk<T: Float, S: Send>(
    multiply_adds: usize,
    scratch_bytes: usize,
    scratch: &mut [ChunkScratch<T>],
    slices: Vec<S>,
    task: impl Fn(usize, &mut ChunkScratch<T>, S, usize) -> Result<(), TensorError> + Sync,
) -> Result<(), TensorError> {
    use rayon::prelude::*;
    let threads = threads_for_multiply_adds(multiply_adds);
    if threads > 1 && slices.len() > 1 && scratch_bytes <= SIDE_BY_SIDE_SCRATCH_BYTES {
        return scratch
            .par_iter_mut()
            .zip(slices)
            .enumerate()
            .try_for_each(|(index, (scratch, slice))| task(index, scratch, slice, 1));
    }
    let Some((first, rest)) = scratch.split_first_mut() else {
        return Ok(());
    };
    let mut slices = slices.into_iter();
    if let Some(slice) = slices.next() {
        task(0, first, slice, threads)?;
    }
    for (index, (scratch, slice)) in rest.iter_mut().zip(slices).enumerate() {
        first.lend_large(scratch);
        let done = task(index + 1, scratch, slice, threads);
        first.lend_large(scratch);
        done?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What each chunk's task saw: its index, where its lowered buffer and
    /// partial gradient live, and the GEMM threads it was given.
    fn seen(scratch_bytes: usize) -> Vec<(usize, usize, usize, usize)> {
        let seen = std::sync::Mutex::new(Vec::new());
        crate::Runtime::new(2).expect("threads start").run(|| {
            let mut chunks: Vec<ChunkScratch<f32>> = Vec::new();
            let scratch = chunk_scratch(&mut chunks, 3);
            for chunk in scratch.iter_mut() {
                chunk.partial = vec![0.0; 4];
            }
            scratch[0].lowered = vec![0.0; 8];
            let slices = vec![(); 3];
            for_each_chunk(
                1 << 30,
                scratch_bytes,
                scratch,
                slices,
                |index, chunk, (), threads| {
                    let address = |buffer: &Vec<f32>| buffer.as_ptr() as usize;
                    let record = (
                        index,
                        address(&chunk.lowered),
                        address(&chunk.partial),
                        threads,
                    );
                    seen.lock().expect("no task panics").push(record);
                    Ok(())
                },
            )
            .expect("no task fails");
            // The first chunk holds its large buffers again.
            assert_eq!(chunks[0].lowered.len(), 8);
            assert!(chunks[1..].iter().all(|chunk| chunk.lowered.is_empty()));
        });
        let mut seen = seen.into_inner().expect("no task panics");
        seen.sort_by_key(|record| record.0);
        seen
    }

    #[test]
    fn large_scratch_runs_the_chunks_in_order_on_the_first_one_s_buffers() {
        let seen = seen(SIDE_BY_SIDE_SCRATCH_BYTES + 1);
        assert_eq!(seen.len(), 3);
        assert!(seen.iter().all(|&(_, lowered, _, _)| lowered == seen[0].1));
        assert!(seen.iter().all(|&(_, _, _, threads)| threads == 2));
        assert!(
            seen[0].2 != seen[1].2 && seen[1].2 != seen[2].2,
            "partials are each chunk's"
        );
    }

    #[test]
    fn small_scratch_runs_the_chunks_side_by_side_on_their_own_buffers() {
        let seen = seen(SIDE_BY_SIDE_SCRATCH_BYTES);
        assert_eq!(seen.len(), 3);
        assert!(seen[1..]
            .iter()
            .all(|&(_, lowered, _, _)| lowered != seen[0].1));
        assert!(seen.iter().all(|&(_, _, _, threads)| threads == 1));
    }
}

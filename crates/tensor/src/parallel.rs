//! How kernels spread independent pieces of work over threads.
//!
//! A kernel cuts its buffers into blocks whose results do not depend on one
//! another (rows of a pool, samples of a convolution) and hands them here:
//! they run across rayon's threads when [`threads`](crate::threads) allows
//! more than one, else in order on the calling thread. Each block is
//! computed by the same code either way, so the bits do not depend on the
//! thread count.
//!
//! Small kernels stay on the calling thread whatever the setting: between
//! two kernels rayon's workers fall asleep, and waking them costs more than
//! a pass over a few hundred thousand elements. On the 2-core machine of
//! `docs/performance.md` a parallel LeakyReLU over 133,120 elements took
//! 0.15 ms against 0.02 ms on one thread, and the answer's model trained
//! faster at batch 1 on one thread than on two. Each kernel states its work
//! and the crate's gate decides (`threads_for`). Inside
//! [`with_warm_workers`](crate::with_warm_workers) the workers do not
//! sleep, and the threshold is 32 times lower. Where a kernel splits never
//! changes its bits.

use rayon::prelude::*;

/// Elements a block should hold at least, so that it outweighs the cost of
/// handing it to a thread.
pub const BLOCK_ELEMENTS: usize = 1 << 15;

/// Work, in passes over one element, below which a kernel runs on the
/// calling thread: about the time it takes to wake a sleeping worker.
#[cfg(not(test))]
pub(crate) const SERIAL_WORK: usize = 1 << 19;

/// In this crate's unit tests every kernel that can split its work does,
/// so that the tests comparing one and two threads exercise the split on
/// their small shapes. (Integration tests and users get the real gate.)
#[cfg(test)]
pub(crate) const SERIAL_WORK: usize = 0;

/// [`SERIAL_WORK`] inside [`with_warm_workers`](crate::with_warm_workers):
/// the other workers are spinning, so handing them a block costs about a
/// cache miss, not a wake.
#[cfg(not(test))]
pub(crate) const WARM_SERIAL_WORK: usize = 1 << 14;

/// In the unit tests every kernel splits, warm or not.
#[cfg(test)]
pub(crate) const WARM_SERIAL_WORK: usize = 0;

/// Multiply-adds a GEMM does in the time of one element pass of a
/// memory-bound loop (a fused multiply-add kernel does 32 per cycle and
/// core, an elementwise pass about one element).
pub(crate) const MULTIPLY_ADDS_PER_PASS: usize = 32;

/// Threads worth using for `work` element passes: one below
/// [`SERIAL_WORK`], else the global setting.
// In the unit tests SERIAL_WORK is zero and the comparison always false.
#[cfg_attr(test, allow(clippy::absurd_extreme_comparisons))]
pub(crate) fn threads_for(work: usize) -> usize {
    let serial = if crate::warm::is_warm() {
        WARM_SERIAL_WORK
    } else {
        SERIAL_WORK
    };
    if work < serial {
        1
    } else {
        crate::threads()
    }
}

/// [`threads_for`] a kernel of `multiply_adds` GEMM multiply-adds.
pub(crate) fn threads_for_multiply_adds(multiply_adds: usize) -> usize {
    threads_for(multiply_adds / MULTIPLY_ADDS_PER_PASS)
}

/// How many rows of `row_length` elements make a block.
pub(crate) fn rows_per_block(row_length: usize) -> usize {
    (BLOCK_ELEMENTS / row_length.max(1)).max(1)
}

/// Runs `task(scratch, block)` on every block, with one `scratch` per
/// thread (made by `scratch`): across [`threads`](crate::threads) threads
/// when `work` (element passes: one per element a plain loop touches) is
/// at least 2^19, or 2^14 inside
/// [`with_warm_workers`](crate::with_warm_workers); else in order on the
/// calling thread. The blocks must not depend on one another.
///
/// Public for kernels outside this crate (the optimizers' updates), so that
/// they follow the same thread setting and the same gate.
///
/// ```
/// use kymo_tensor::parallel::{for_each_block, BLOCK_ELEMENTS};
///
/// let mut values = vec![1.0f32; 100_000];
/// let blocks: Vec<&mut [f32]> = values.chunks_mut(BLOCK_ELEMENTS).collect();
/// for_each_block(100_000, blocks, || (), |_, block| block.iter_mut().for_each(|v| *v *= 2.0));
/// assert!(values.iter().all(|&v| v == 2.0));
/// ```
pub fn for_each_block<B: Send, S>(
    work: usize,
    blocks: Vec<B>,
    scratch: impl Fn() -> S + Sync + Send,
    task: impl Fn(&mut S, B) + Sync + Send,
) {
    for_each_block_on(threads_for(work), blocks, scratch, task);
}

/// [`for_each_block`] on `threads` threads instead of the global setting
/// (a kernel whose callers already run on separate threads passes 1).
pub(crate) fn for_each_block_on<B: Send, S>(
    threads: usize,
    blocks: Vec<B>,
    scratch: impl Fn() -> S + Sync + Send,
    task: impl Fn(&mut S, B) + Sync + Send,
) {
    if threads > 1 && blocks.len() > 1 {
        blocks.into_par_iter().for_each_init(scratch, task);
    } else {
        let mut scratch = scratch();
        blocks
            .into_iter()
            .for_each(|block| task(&mut scratch, block));
    }
}

/// `task(index, row)` on each `len`-long row of `buffer` (a trailing
/// partial row is left alone), across `threads` threads as
/// [`for_each_block_on`] runs blocks: for passes whose rows are
/// independent, so the bits do not depend on the split.
pub(crate) fn for_each_row_on<T: Send>(
    threads: usize,
    buffer: &mut [T],
    len: usize,
    task: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    let rows: Vec<_> = buffer.chunks_exact_mut(len.max(1)).enumerate().collect();
    for_each_block_on(threads, rows, || (), |_, (index, row)| task(index, row));
}

/// [`for_each_block`] for tasks that can fail: stops at the first error
/// and returns it.
pub(crate) fn try_for_each_block<B: Send, E: Send>(
    work: usize,
    blocks: Vec<B>,
    task: impl Fn(B) -> Result<(), E> + Sync + Send,
) -> Result<(), E> {
    if threads_for(work) > 1 && blocks.len() > 1 {
        blocks.into_par_iter().try_for_each(task)
    } else {
        blocks.into_iter().try_for_each(task)
    }
}

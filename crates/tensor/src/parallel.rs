//! How kernels spread independent pieces of work over threads.
//!
//! A kernel cuts its buffers into blocks whose results do not depend on one
//! another (rows of a pool, samples of a convolution) and hands them here:
//! they run across rayon's threads when [`threads`](crate::threads) allows
//! more than one, else in order on the calling thread. Each block is
//! computed by the same code either way, so the bits do not depend on the
//! thread count.

use rayon::prelude::*;

/// Elements a block should hold at least, so that it outweighs the cost of
/// handing it to a thread.
pub(crate) const BLOCK_ELEMENTS: usize = 1 << 15;

/// How many rows of `row_length` elements make a block.
pub(crate) fn rows_per_block(row_length: usize) -> usize {
    (BLOCK_ELEMENTS / row_length.max(1)).max(1)
}

/// Runs `task(scratch, block)` on every block, with one `scratch` per
/// thread (made by `scratch`), on the threads [`threads`](crate::threads)
/// allows.
pub(crate) fn for_each_block<B: Send, S>(
    blocks: Vec<B>,
    scratch: impl Fn() -> S + Sync + Send,
    task: impl Fn(&mut S, B) + Sync + Send,
) {
    for_each_block_on(crate::threads(), blocks, scratch, task);
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

/// [`for_each_block`] for tasks that can fail: stops at the first error
/// and returns it.
pub(crate) fn try_for_each_block<B: Send, E: Send>(
    blocks: Vec<B>,
    task: impl Fn(B) -> Result<(), E> + Sync + Send,
) -> Result<(), E> {
    if crate::threads() > 1 && blocks.len() > 1 {
        blocks.into_par_iter().try_for_each(task)
    } else {
        blocks.into_iter().try_for_each(task)
    }
}

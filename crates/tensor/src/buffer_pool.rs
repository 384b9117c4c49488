//! Large buffers shared by every layer in the process: what one layer is
//! done with (an output its reader consumed, a cache its backward pass
//! used up), the next takes, whatever model or node it belongs to.
//!
//! Training passes arrays by value, and every array a step frees, a later
//! step needs again at the same size. Freed to the system allocator, they
//! cost a page fault per 4 KB when allocated again and fragmented glibc's
//! heap until the process held hundreds of MB it did not use
//! (InceptionTime at batch 32: 1.35 GB resident for 0.67 GB live). Kept
//! per layer, each layer held its buffer between steps even while another
//! layer could have used it. Kept here, they are reused by size, best fit
//! first, by any layer: after the first step training allocates nothing
//! large, and the peak is what is live at once.
//!
//! A buffer's contents are unspecified when taken: every taker overwrites
//! all of it, so which buffer a call gets never changes a result's bits.

use std::any::Any;
use std::sync::{Mutex, PoisonError};

use crate::Float;

/// Buffers kept at most; past it, the smallest is freed. A step keeps as
/// many as it takes, so the pool does not grow from step to step; this
/// bounds it all the same.
pub const KEPT_BUFFERS: usize = 256;

/// The buffers not in use, of every element type.
static POOL: Mutex<Vec<Box<dyn Any + Send>>> = Mutex::new(Vec::new());

fn pool() -> std::sync::MutexGuard<'static, Vec<Box<dyn Any + Send>>> {
    // A panic cannot happen while the lock is held (only scans, pushes and
    // removals run under it), so a poisoned pool is still whole.
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A buffer of exactly `len` elements whose values are unspecified (a
/// kept buffer's old contents, or zeros): the smallest kept buffer that
/// holds `len`, else a new one. The caller overwrites every element.
pub fn take_buffer<T: Float>(len: usize) -> Vec<T> {
    let taken = {
        let mut pool = pool();
        let fitting = pool
            .iter()
            .enumerate()
            .filter_map(|(index, kept)| {
                let buffer = kept.downcast_ref::<Vec<T>>()?;
                (buffer.capacity() >= len).then_some((index, buffer.capacity()))
            })
            .min_by_key(|&(_, capacity)| capacity)
            .map(|(index, _)| index);
        fitting.map(|index| pool.swap_remove(index))
    };
    let mut buffer = taken
        .and_then(|kept| kept.downcast::<Vec<T>>().ok())
        .map_or_else(Vec::new, |buffer| *buffer);
    // Within capacity this only sets the length (zeroing what it adds);
    // a new buffer allocates once.
    buffer.resize(len, T::zero());
    buffer
}

/// Keeps `buffer` for a later [`take_buffer`].
pub fn give_buffer<T: Float>(buffer: Vec<T>) {
    if buffer.capacity() == 0 {
        return;
    }
    let mut pool = pool();
    pool.push(Box::new(buffer));
    if pool.len() > KEPT_BUFFERS {
        let smallest = pool
            .iter()
            .enumerate()
            .min_by_key(|(_, kept)| capacity_of(kept.as_ref()))
            .map(|(index, _)| index);
        if let Some(index) = smallest {
            pool.swap_remove(index);
        }
    }
}

/// The capacity in bytes of a kept buffer of either element type.
fn capacity_of(kept: &(dyn Any + Send)) -> usize {
    if let Some(buffer) = kept.downcast_ref::<Vec<f32>>() {
        buffer.capacity() * 4
    } else if let Some(buffer) = kept.downcast_ref::<Vec<f64>>() {
        buffer.capacity() * 8
    } else {
        0
    }
}

/// Frees every kept buffer.
pub(crate) fn release() {
    drop(std::mem::take(&mut *pool()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f64 buffers of these odd lengths: no other test gives such back.
    #[test]
    fn takes_the_smallest_kept_buffer_that_fits() {
        let lengths = [100_003, 30_011, 7];
        let pointers: Vec<*const f64> = lengths
            .iter()
            .map(|&len| {
                let buffer = vec![1.5f64; len];
                let pointer = buffer.as_ptr();
                give_buffer(buffer);
                pointer
            })
            .collect();
        let taken = take_buffer::<f64>(20_000);
        assert_eq!(taken.len(), 20_000);
        assert_eq!(taken.as_ptr(), pointers[1], "the 30,011-element buffer");
        // An f32 request never takes an f64 buffer.
        let other = take_buffer::<f32>(10);
        assert_ne!(other.as_ptr() as *const f64, pointers[2]);
        assert_eq!(other.len(), 10);
    }
}

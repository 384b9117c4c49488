//! Scratch buffers shared by every kernel call in the process, lent for one
//! call at a time.
//!
//! A convolution's scratch (lowered columns, FFT spectra, the f64 copies of
//! the widened method) is tens of MB at batch 32 and is dead between calls.
//! Kept per layer, it cost InceptionTime's 24 convolutions over 1 GB held
//! from step to step, the sum of every layer's scratch; lent from one pool,
//! it costs the largest layer's. Layers run one after another, so a single
//! set is reused by all of them; calls that run at once (models trained on
//! several threads) each take a set of their own, and the pool keeps as
//! many sets as ever ran at once.
//!
//! What a set holds never reaches a result: every kernel overwrites the part
//! of a buffer it reads (the tests run a large layer's call, then a small
//! one's, against a fresh set, bit for bit). So which set a call gets does
//! not change its bits.

use std::any::Any;
use std::sync::{Mutex, PoisonError};

/// The sets not lent out, of every type.
static POOL: Mutex<Vec<Box<dyn Any + Send>>> = Mutex::new(Vec::new());

/// A set of `S` from the pool (the one returned last), or a fresh one.
pub(crate) fn lend<S: Any + Send + Default>() -> Box<S> {
    // A panic cannot happen while the lock is held (only a push or a
    // removal runs under it), so a poisoned pool is still whole.
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    let found = pool.iter().rposition(|set| set.is::<S>());
    found
        .map(|index| pool.swap_remove(index))
        .and_then(|set| set.downcast::<S>().ok())
        .unwrap_or_default()
}

/// Gives a set back for the next call.
pub(crate) fn give_back<S: Any + Send>(set: Box<S>) {
    POOL.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(set);
}

/// Frees every scratch set and every pooled buffer
/// ([`crate::take_buffer`]) not in use: kernels and layers allocate again,
/// once, on their next call. For a program that trains a model and goes on
/// to other work; training itself never needs it.
pub fn release_scratch() {
    release_sets();
    crate::buffer_pool::release();
}

/// Frees the scratch sets not lent out.
fn release_sets() {
    let sets = std::mem::take(&mut *POOL.lock().unwrap_or_else(PoisonError::into_inner));
    drop(sets);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A type no other test lends, so no other thread takes its sets.
    #[derive(Default)]
    struct Marked(Vec<u8>);

    #[test]
    fn a_set_given_back_is_lent_again_until_the_sets_are_released() {
        let mut set = lend::<Marked>();
        assert!(set.0.is_empty(), "a fresh set");
        set.0 = vec![7; 3];
        give_back(set);
        let again = lend::<Marked>();
        assert_eq!(again.0, vec![7; 3], "the set given back");
        give_back(again);
        // Other kernels' sets go too; they allocate again on their next call.
        // (Not `release_scratch`: the buffer pool's test counts on its
        // buffers staying.)
        release_sets();
        assert!(lend::<Marked>().0.is_empty(), "released: a fresh set");
    }
}

//! Elementwise passes over contiguous buffers, split across threads when
//! [`threads`](crate::threads) allows. Each element is computed by the same
//! code whatever the split, so results are bit-identical for any thread
//! count.

use rayon::prelude::*;

use crate::{Float, TensorError};

/// Elements per task: large enough that a task outweighs its scheduling.
const GRAIN: usize = 1 << 15;

fn parallel(len: usize) -> bool {
    crate::threads() > 1 && len >= 2 * GRAIN
}

/// `f` applied to every element of `input`, into a new buffer.
pub fn map<T: Float>(input: &[T], f: impl Fn(T) -> T + Sync) -> Vec<T> {
    let mut output = vec![T::zero(); input.len()];
    if parallel(input.len()) {
        output
            .par_chunks_mut(GRAIN)
            .zip(input.par_chunks(GRAIN))
            .for_each(|(o, i)| o.iter_mut().zip(i).for_each(|(o, &i)| *o = f(i)));
    } else {
        output.iter_mut().zip(input).for_each(|(o, &i)| *o = f(i));
    }
    output
}

/// `target[i] = f(target[i], other[i])` for every element; an error if the
/// lengths differ.
pub fn zip_in_place<T: Float>(
    target: &mut [T],
    other: &[T],
    f: impl Fn(T, T) -> T + Sync,
) -> Result<(), TensorError> {
    if target.len() != other.len() {
        return Err(TensorError::Shape {
            kernel: "zip_in_place",
            argument: "other",
            expected: vec![target.len()],
            found: vec![other.len()],
        });
    }
    if parallel(target.len()) {
        target
            .par_chunks_mut(GRAIN)
            .zip(other.par_chunks(GRAIN))
            .for_each(|(t, o)| t.iter_mut().zip(o).for_each(|(t, &o)| *t = f(*t, o)));
    } else {
        target
            .iter_mut()
            .zip(other)
            .for_each(|(t, &o)| *t = f(*t, o));
    }
    Ok(())
}

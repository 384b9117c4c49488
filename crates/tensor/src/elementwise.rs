//! Elementwise passes over contiguous buffers, split across threads when
//! [`threads`](crate::threads) allows. Each element is computed by the same
//! code whatever the split, so results are bit-identical for any thread
//! count.

use crate::layout::check_length;
use crate::parallel::{for_each_block, BLOCK_ELEMENTS};
use crate::{Float, TensorError};

/// `values[i] = f(values[i])` for every element, in place.
pub fn map_in_place<T: Float>(values: &mut [T], f: impl Fn(T) -> T + Sync) {
    let blocks: Vec<_> = values.chunks_mut(BLOCK_ELEMENTS).collect();
    for_each_block(
        blocks,
        || (),
        |_, block| block.iter_mut().for_each(|v| *v = f(*v)),
    );
}

/// `(values[i], saved[i]) = f(values[i])` for every element: a function
/// applied in place together with a second result kept aside (an
/// activation and its derivative, or a byte saying which side of a kink
/// the input was on, in one pass over memory); an error if the lengths
/// differ.
pub fn map_in_place_saving<T: Float, S: Copy + Send + Sync>(
    values: &mut [T],
    saved: &mut [S],
    f: impl Fn(T) -> (T, S) + Sync,
) -> Result<(), TensorError> {
    check_length("map_in_place_saving", "saved", values.len(), saved.len())?;
    let blocks: Vec<_> = values
        .chunks_mut(BLOCK_ELEMENTS)
        .zip(saved.chunks_mut(BLOCK_ELEMENTS))
        .collect();
    for_each_block(
        blocks,
        || (),
        |_, (values, saved)| {
            for (v, s) in values.iter_mut().zip(saved.iter_mut()) {
                (*v, *s) = f(*v);
            }
        },
    );
    Ok(())
}

/// `target[i] = f(target[i], other[i])` for every element; an error if the
/// lengths differ.
pub fn zip_in_place<T: Float, O: Copy + Send + Sync>(
    target: &mut [T],
    other: &[O],
    f: impl Fn(T, O) -> T + Sync,
) -> Result<(), TensorError> {
    check_length("zip_in_place", "other", target.len(), other.len())?;
    let blocks: Vec<_> = target
        .chunks_mut(BLOCK_ELEMENTS)
        .zip(other.chunks(BLOCK_ELEMENTS))
        .collect();
    for_each_block(
        blocks,
        || (),
        |_, (target, other)| {
            for (t, &o) in target.iter_mut().zip(other) {
                *t = f(*t, o);
            }
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saving_map_writes_both_results_at_any_thread_count() {
        let input: Vec<f32> = (0..3 * BLOCK_ELEMENTS)
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        let run = |threads| {
            crate::set_threads(threads);
            let mut values = input.clone();
            let mut saved = vec![0.0f32; input.len()];
            map_in_place_saving(&mut values, &mut saved, |v| (v * 2.0, v + 1.0))
                .expect("same lengths");
            crate::set_threads(1);
            (values, saved)
        };
        let (values, saved) = run(2);
        for ((&x, &v), &s) in input.iter().zip(&values).zip(&saved) {
            assert_eq!(v, x * 2.0);
            assert_eq!(s, x + 1.0);
        }
        assert_eq!(run(1), (values, saved));
    }

    #[test]
    fn saving_map_refuses_a_short_buffer() {
        let mut values = vec![1.0f64; 4];
        let mut saved = vec![0.0f64; 3];
        let err = map_in_place_saving(&mut values, &mut saved, |v| (v, v)).unwrap_err();
        assert!(matches!(
            err,
            TensorError::Shape {
                argument: "saved",
                ..
            }
        ));
        assert_eq!(values, vec![1.0; 4], "nothing written on refusal");
    }
}
